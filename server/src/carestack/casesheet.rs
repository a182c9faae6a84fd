//! Reading case sheets, the input of the AI services. A file is a data URL or bare base64 (text,
//! or a PDF whose text is not compressed), or a link the sandbox cannot fetch offline. Its text
//! is read as headed sections (`Diagnosis: ...`, or a heading line followed by its lines and
//! bullets); common headings map to the SDK's section keys (`chiefComplaints`,
//! `prescribedMedications`, ...). Everything built here (discharge summaries, radiology reports,
//! care plans, insurance plans) is derived from those sections and nothing else: a deterministic
//! stand-in for the real service's model output.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// The section keys that hold lists.
const LISTS: [&str; 10] = [
    "chiefComplaints",
    "medicalHistory",
    "prescribedMedications",
    "allergies",
    "advisoryNotes",
    "followUp",
    "investigations",
    "procedures",
    "immunizations",
    "goals",
];

/// Headings (lower case, the start of the heading) and the section they fill.
const HEADINGS: [(&str, &str); 36] = [
    ("patient name", "patientName"),
    ("patient", "patientName"),
    ("name", "patientName"),
    ("age", "age"),
    ("sex", "gender"),
    ("gender", "gender"),
    ("chief complaint", "chiefComplaints"),
    ("presenting complaint", "chiefComplaints"),
    ("complaint", "chiefComplaints"),
    ("history of present illness", "presentIllness"),
    ("past medical history", "medicalHistory"),
    ("past history", "medicalHistory"),
    ("medical history", "medicalHistory"),
    ("family history", "familyHistory"),
    ("physical examination", "physicalExamination"),
    ("on examination", "physicalExamination"),
    ("vitals", "physicalExamination"),
    ("final diagnosis", "diagnosis"),
    ("provisional diagnosis", "diagnosis"),
    ("diagnosis", "diagnosis"),
    ("investigation", "investigations"),
    ("lab", "investigations"),
    ("procedure", "procedures"),
    ("surgery", "procedures"),
    ("discharge medication", "prescribedMedications"),
    ("medication", "prescribedMedications"),
    ("prescription", "prescribedMedications"),
    ("treatment", "prescribedMedications"),
    ("allerg", "allergies"),
    ("advice", "advisoryNotes"),
    ("instruction", "advisoryNotes"),
    ("follow", "followUp"),
    ("immuni", "immunizations"),
    ("vaccin", "immunizations"),
    ("goal", "goals"),
    ("doctor", "doctor"),
];

/// One file of a request.
#[derive(Debug, Clone)]
pub struct Sheet {
    /// A name for it: the link, or `file N`.
    pub name: String,
    /// Its text, when it could be read.
    pub text: Option<String>,
}

/// The text in an uncompressed PDF's `(...) Tj` strings, one line each.
fn pdf_text(bytes: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(bytes);
    let parts: Vec<&str> = s.split(") Tj").collect();
    let shown = &parts[..parts.len().saturating_sub(1)];
    let lines: Vec<String> = shown
        .iter()
        // A string opens after white space; an escaped parenthesis inside it follows a backslash.
        .filter_map(|part| part.rfind("\n(").max(part.rfind(" (")).map(|start| &part[start + 2..]))
        .map(|t| t.replace("\\(", "(").replace("\\)", ")").replace("\\\\", "\\"))
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// A file's text: a data URL or bare base64 of text or a PDF; `None` for a link or a binary.
fn read_one(item: &str) -> Option<String> {
    let data = match item.strip_prefix("data:").and_then(|r| r.split_once(";base64,")) {
        Some((_, data)) => data,
        None if !item.is_empty()
            && item.len().is_multiple_of(4)
            && item.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) =>
        {
            item
        }
        None => return None,
    };
    let bytes = STANDARD.decode(data.trim()).ok()?;
    if bytes.starts_with(b"%PDF") {
        return pdf_text(&bytes);
    }
    String::from_utf8(bytes).ok().filter(|t| !t.trim().is_empty())
}

/// The files of a decrypted AI input (`{"files": [...]}`), each read if it can be.
pub fn read(files: &[Value]) -> Vec<Sheet> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let item = f.as_str().unwrap_or("");
            let name = if item.starts_with("data:") || read_one(item).is_some() {
                format!("file {}", i + 1)
            } else {
                item.to_string()
            };
            Sheet { name, text: read_one(item) }
        })
        .collect()
}

/// `Blood pressure` → `bloodPressure`.
fn camel(heading: &str) -> String {
    let mut out = String::new();
    for (i, w) in heading.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).enumerate() {
        let w = w.to_lowercase();
        if i == 0 {
            out.push_str(&w);
        } else {
            let mut c = w.chars();
            out.extend(c.next().map(|f| f.to_ascii_uppercase()));
            out.push_str(c.as_str());
        }
    }
    out
}

/// The section key of a heading.
pub fn key(heading: &str) -> String {
    let h = heading.trim().to_lowercase();
    HEADINGS
        .iter()
        .find(|(start, _)| h.starts_with(start))
        .map(|(_, k)| k.to_string())
        .unwrap_or_else(|| camel(heading))
}

/// Whether a line opens a section: `Heading: rest` or `Heading:`.
fn heading(line: &str) -> Option<(&str, &str)> {
    let (h, rest) = line.split_once(':')?;
    let ok = !h.trim().is_empty()
        && h.len() <= 40
        && h.chars().all(|c| c.is_alphabetic() || " /()&-'".contains(c))
        && h.chars().next().is_some_and(char::is_alphabetic);
    ok.then(|| (h.trim(), rest.trim()))
}

/// The sections a text gives, by key: lists for the list keys, text for the others.
pub fn sections(text: &str) -> Map<String, Value> {
    let mut raw: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let item = line.trim_start_matches(['-', '*', '•']).trim();
        match heading(line) {
            Some((h, rest)) if !line.starts_with(['-', '*', '•']) => {
                let k = key(h);
                let mut values = Vec::new();
                if !rest.is_empty() {
                    values.push(rest.to_string());
                }
                match raw.iter_mut().find(|(x, _)| *x == k) {
                    Some((_, v)) => v.extend(values),
                    None => raw.push((k, values)),
                }
            }
            _ => match raw.last_mut() {
                Some((_, v)) => v.push(item.to_string()),
                None => raw.push(("notes".to_string(), vec![item.to_string()])),
            },
        }
    }
    let mut out = Map::new();
    for (k, values) in raw {
        let value = if LISTS.contains(&k.as_str()) {
            let items: Vec<String> = values
                .iter()
                .flat_map(|v| v.split(';'))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            json!(items)
        } else {
            json!(values.join(" "))
        };
        out.insert(k, value);
    }
    out
}

/// The sections of every readable sheet, merged (lists joined, texts joined), and the names of
/// the sheets that could not be read.
pub fn merged(sheets: &[Sheet]) -> (Map<String, Value>, Vec<String>) {
    let mut out = Map::new();
    let mut unread = Vec::new();
    for s in sheets {
        let Some(text) = &s.text else {
            unread.push(s.name.clone());
            continue;
        };
        for (k, v) in sections(text) {
            match (out.get_mut(&k), v) {
                (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
                (Some(Value::String(a)), Value::String(b)) => {
                    a.push(' ');
                    a.push_str(&b);
                }
                (_, v) => {
                    out.insert(k, v);
                }
            }
        }
    }
    (out, unread)
}

/// Why nothing could be read, for a refusal or a failed job.
pub fn unreadable(unread: &[String]) -> String {
    format!(
        "no text could be read from {}: the sandbox reads case sheets given as base64 text or PDF (data:text/plain;base64,...), it fetches no links",
        unread.join(", ")
    )
}

fn text_of(m: &Map<String, Value>, k: &str) -> Option<String> {
    m.get(k).map(|v| super::generate::lines(v).join(", ")).filter(|s| !s.is_empty())
}

/// A discharge (or OP consultation) summary from the sections: what they say, in sentences.
pub fn summary(m: &Map<String, Value>, case_type: &str) -> Value {
    let name = text_of(m, "patientName").unwrap_or_else(|| "The patient".to_string());
    let mut sentences = Vec::new();
    if let Some(c) = text_of(m, "chiefComplaints") {
        sentences.push(format!("{name} presented with {c}."));
    }
    if let Some(d) = text_of(m, "diagnosis") {
        sentences.push(format!("Diagnosis: {d}."));
    }
    if let Some(p) = text_of(m, "procedures") {
        sentences.push(format!("Procedures: {p}."));
    }
    if let Some(r) = text_of(m, "prescribedMedications") {
        sentences.push(format!("Medications: {r}."));
    }
    if let Some(f) = text_of(m, "followUp") {
        sentences.push(format!("Follow-up: {f}."));
    }
    let mut out = json!({"caseType": case_type, "summary": sentences.join(" ")});
    for (k, as_key) in [
        ("patientName", "patientName"),
        ("diagnosis", "diagnosis"),
        ("prescribedMedications", "medications"),
        ("advisoryNotes", "advice"),
        ("followUp", "followUp"),
        ("investigations", "investigations"),
    ] {
        if let Some(v) = m.get(k) {
            out[as_key] = v.clone();
        }
    }
    out
}

/// A radiology report from the sections: modality, region, findings, impression, and the LOINC
/// code of the study when the terminology table knows it.
pub fn radiology(m: &Map<String, Value>) -> Value {
    let get = |keys: &[&str]| keys.iter().find_map(|k| text_of(m, k));
    let modality = get(&["modality", "study", "examination"]);
    let region = get(&["bodyPart", "region"]);
    let study = [modality.clone(), region.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let code = super::lookup::search("radiology_imaging", &study)
        .into_iter()
        .next()
        .map(|(code, display, _)| json!({"system": "http://loinc.org", "code": code, "display": display}));
    json!({"reportType": "Radiology Report", "modality": modality, "bodyPart": region,
        "indication": get(&["indication", "clinicalHistory"]), "technique": get(&["technique"]),
        "findings": get(&["findings"]), "impression": get(&["impression", "conclusion", "diagnosis"]), "code": code})
}

/// A care plan from the sections: goals (given, else one per diagnosis), activities (medications,
/// advice, procedures), follow-up.
pub fn care_plan(m: &Map<String, Value>) -> Value {
    let list = |k: &str| m.get(k).map(super::generate::lines).unwrap_or_default();
    let diagnoses = list("diagnosis");
    let mut goals = list("goals");
    if goals.is_empty() {
        goals = diagnoses.iter().map(|d| format!("Control of {d}")).collect();
    }
    let activities: Vec<String> =
        ["prescribedMedications", "advisoryNotes", "procedures"].iter().flat_map(|k| list(k)).collect();
    json!({"carePlan": {"title": format!("Care plan{}", diagnoses.first().map(|d| format!(" for {d}")).unwrap_or_default()),
        "status": "active", "intent": "plan", "patientName": text_of(m, "patientName"), "conditions": diagnoses,
        "goals": goals, "activities": activities, "followUp": list("followUp")}})
}
