//! Identifier and value rules shared by every API family: Aadhaar (Verhoeff), ABHA number (Luhn),
//! mobile, OTP, pincode, e-mail and password policies. Each returns the broken [`Rule`]; the caller
//! names the field (`checks::otp(v).bad("otp")`).

use crate::error::Rule;

/// Aadhaar: 12 digits, not starting with 0 or 1, with a valid Verhoeff check digit.
pub fn aadhaar(value: &str) -> Result<(), Rule> {
    if value.len() != 12 || !all_digits(value) {
        return Err(Rule::new("aadhaar-format", "must be exactly 12 digits"));
    }
    if value.starts_with(['0', '1']) {
        return Err(Rule::new("aadhaar-format", "must not start with 0 or 1"));
    }
    if !verhoeff_valid(value) {
        return Err(Rule::new("verhoeff", "check digit is wrong (Verhoeff)"));
    }
    Ok(())
}

/// A 10-digit Indian mobile number, not starting with 0 (ABHA's `[1-9]\d{9}`).
pub fn mobile(value: &str) -> Result<(), Rule> {
    if value.len() == 10 && all_digits(value) && !value.starts_with('0') {
        Ok(())
    } else {
        Err(Rule::new("mobile-format", "must be a 10-digit mobile number not starting with 0"))
    }
}

/// OTPs are 6 digits.
pub fn otp(value: &str) -> Result<(), Rule> {
    if value.len() == 6 && all_digits(value) {
        Ok(())
    } else {
        Err(Rule::new("otp-format", "must be 6 digits"))
    }
}

/// Pincode: 6 digits, the first 1–9.
pub fn pincode(value: &str) -> Result<(), Rule> {
    if value.len() == 6 && all_digits(value) && !value.starts_with('0') {
        Ok(())
    } else {
        Err(Rule::new("pincode-format", "must be 6 digits not starting with 0"))
    }
}

/// The HPR password rule: at least 8 characters with an upper-case letter, a lower-case letter,
/// a digit and a symbol, and no white space.
pub fn hpr_password(value: &str) -> Result<(), Rule> {
    let missing: Vec<&str> = [
        (value.chars().count() >= 8, "at least 8 characters"),
        (value.chars().any(|c| c.is_ascii_uppercase()), "an upper-case letter"),
        (value.chars().any(|c| c.is_ascii_lowercase()), "a lower-case letter"),
        (value.chars().any(|c| c.is_ascii_digit()), "a digit"),
        (value.chars().any(|c| !c.is_alphanumeric() && !c.is_whitespace()), "a symbol"),
        (!value.chars().any(char::is_whitespace), "no white space"),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Rule::new("password-policy", format!("password needs {}", missing.join(", "))))
    }
}

/// An e-mail address: one `@`, a local part, a dotted domain, no white space.
pub fn email(email: &str) -> Result<(), Rule> {
    let mut parts = email.split('@');
    let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let ok = parts.next().is_none()
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Rule::new("email-format", format!("{email:?} is not an e-mail address")))
    }
}

/// True for a non-empty string of ASCII digits.
pub fn all_digits(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
}

/// Masks all but the last `keep` characters: `XXXXXXXX0128`.
pub fn mask(value: &str, keep: usize) -> String {
    let n = value.chars().count();
    value.chars().enumerate().map(|(i, c)| if i + keep < n { 'X' } else { c }).collect()
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 0, 7, 8, 6],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// Verhoeff: folding the digits right to left with `c = d[c][p[i mod 8][digit]]` ends at 0.
pub fn verhoeff_valid(digits: &str) -> bool {
    all_digits(digits)
        && digits
            .bytes()
            .rev()
            .enumerate()
            .fold(0u8, |c, (i, b)| VERHOEFF_D[c as usize][VERHOEFF_P[i % 8][(b - b'0') as usize] as usize])
            == 0
}

/// Luhn: double every second digit from the right (minus 9 above 9); the sum is ≡ 0 mod 10.
/// Sandbox ABHA numbers satisfy it (dashes are ignored).
pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u8> = number.bytes().filter(|b| *b != b'-').collect();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            match (i % 2 == 1, d * 2) {
                (true, x) if x > 9 => x - 9,
                (true, x) => x,
                (false, _) => d,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `91-2345-6789-0129` from 14 digits (or the dashed form unchanged).
pub fn dashed14(digits: &str) -> String {
    let d: String = digits.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 14 {
        return digits.to_string();
    }
    format!("{}-{}-{}-{}", &d[0..2], &d[2..6], &d[6..10], &d[10..14])
}

/// The HI types a consent may name (v3 adds `Invoice`).
pub const HI_TYPES: [&str; 9] = [
    "OPConsultation",
    "Prescription",
    "DischargeSummary",
    "DiagnosticReport",
    "ImmunizationRecord",
    "HealthDocumentRecord",
    "WellnessRecord",
    "Invoice",
    "SnomedCodes",
];
/// The HI types of health records (the first seven of [`HI_TYPES`]): what a patient's care
/// contexts hold, and what the Carestack SDK's `HealthInformationTypes` lists.
pub const RECORD_HI_TYPES: &[&str] = HI_TYPES.split_at(7).0;
/// Purposes: code and text.
pub const PURPOSES: [(&str, &str); 6] = [
    ("CAREMGT", "Care Management"),
    ("BTG", "Break the Glass"),
    ("PUBHLTH", "Public Health"),
    ("HPAYMT", "Healthcare Payment"),
    ("DSRCH", "Disease Specific Healthcare Research"),
    ("PATRQT", "Self Requested"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verhoeff_known_values() {
        // The textbook example: 236 has check digit 3.
        assert!(verhoeff_valid("2363"));
        assert!(!verhoeff_valid("2364"));
        assert!(aadhaar("234567890127").is_ok());
        assert_eq!(aadhaar("234567890128").unwrap_err().name, "verhoeff");
        assert_eq!(aadhaar("134567890127").unwrap_err().name, "aadhaar-format");
        assert_eq!(aadhaar("23456789012").unwrap_err().name, "aadhaar-format");
    }

    #[test]
    fn luhn_known_sandbox_numbers() {
        for n in ["91-6285-4575-5116", "91-5408-0214-0264", "43-4221-5105-6749"] {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("91-6285-4575-5117"));
    }

    #[test]
    fn password_policy_lists_what_is_missing() {
        assert!(hpr_password("Sandbox@2024").is_ok());
        let msg = hpr_password("sandbox").unwrap_err().message;
        assert!(msg.contains("at least 8") && msg.contains("upper-case") && msg.contains("symbol"));
        assert!(hpr_password("Sand box@2024").is_err());
    }

    #[test]
    fn masking_keeps_the_tail() {
        assert_eq!(mask("234567890127", 4), "XXXXXXXX0127");
        assert_eq!(dashed14("71123456789012"), "71-1234-5678-9012");
    }
}
