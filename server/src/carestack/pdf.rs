//! A minimal PDF (1.4, uncompressed, Helvetica): a title and lines of text over as many A4 pages
//! as they need. What the discharge-summary preview returns.

/// Lines per page.
const PER_PAGE: usize = 48;

/// A PDF string literal's escapes.
fn escape(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .flat_map(|c| match c {
            '(' | ')' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

/// The PDF of a title and lines.
pub fn render(title: &str, lines: &[String]) -> Vec<u8> {
    let mut pages: Vec<Vec<String>> = lines.chunks(PER_PAGE).map(<[String]>::to_vec).collect();
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    let count = pages.len();
    // Objects: 1 catalog, 2 pages, 3 font, then per page its page object and its content.
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {count} >>",
            (0..count).map(|i| format!("{} 0 R", 4 + 2 * i)).collect::<Vec<_>>().join(" ")
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    for (i, page) in pages.iter().enumerate() {
        let mut text = String::from("BT /F1 11 Tf 50 800 Td 14 TL\n");
        if i == 0 {
            text.push_str(&format!("/F1 14 Tf ({}) Tj T* T* /F1 11 Tf\n", escape(title)));
        }
        for line in page {
            text.push_str(&format!("({}) Tj T*\n", escape(line)));
        }
        text.push_str("ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()));
    }
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for o in offsets {
        out.push_str(&format!("{o:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pdf_with_its_text_and_xref() {
        let lines: Vec<String> = (0..60).map(|i| format!("line {i} (x)")).collect();
        let pdf = String::from_utf8(render("Discharge summary", &lines)).unwrap();
        assert!(pdf.starts_with("%PDF-1.4") && pdf.ends_with("%%EOF\n"));
        assert!(pdf.contains("/Count 2") && pdf.contains("(line 59 \\(x\\)) Tj"));
        let xref: usize = pdf.rsplit("startxref\n").next().unwrap().lines().next().unwrap().parse().unwrap();
        assert!(pdf[xref..].starts_with("xref"));
    }
}
