//! A fixtures file with many HPR professionals, so that every measured HPR flow runs through
//! create (one professional can have one account only).

use std::path::Path;

use serde_json::Value;

/// The built-in fixtures, the base of the generated file.
const DEFAULT_FIXTURES: &str = include_str!("../../fixtures/default.json");
/// The built-in professional the generated ones copy: she gives a mobile other than her Aadhaar
/// one, so her flow takes all 8 steps.
pub const TEMPLATE_AADHAAR: &str = "789012345674";
/// Her scripted OTP and the mobile she gives.
pub const OTP: &str = "333333";
pub const MOBILE: &str = "9811122334";

/// The Verhoeff check digit of `digits`: the one the sandbox's own check accepts.
fn verhoeff_digit(digits: &str) -> u8 {
    (0..10u8)
        .find(|d| abdm_server::checks::verhoeff_valid(&format!("{digits}{d}")))
        .expect("one digit always fits")
}

/// The Aadhaar number of generated professional `i`: `55`, nine digits of `i`, a Verhoeff check
/// digit (no built-in identity starts with 55).
pub fn aadhaar(i: usize) -> String {
    let body = format!("55{:09}", i % 1_000_000_000);
    let check = verhoeff_digit(&body);
    format!("{body}{check}")
}

/// The built-in fixtures plus `count` professionals copied from the template.
pub fn generate(count: usize) -> Result<Value, String> {
    let mut f: Value = serde_json::from_str(DEFAULT_FIXTURES).map_err(|e| e.to_string())?;
    let pros = f["professionals"].as_array_mut().ok_or("fixtures: no professionals")?;
    let template = pros
        .iter()
        .find(|p| p["aadhaar"] == TEMPLATE_AADHAAR)
        .cloned()
        .ok_or("fixtures: the template professional is missing")?;
    if template["otp"] != OTP || template["mobile"] != MOBILE || template["aadhaarMobile"] == MOBILE {
        return Err("fixtures: the template professional changed (OTP or mobiles)".into());
    }
    pros.reserve(count);
    for i in 0..count {
        let mut p = template.clone();
        p["aadhaar"] = Value::String(aadhaar(i));
        pros.push(p);
    }
    Ok(f)
}

pub fn write(count: usize, out: &Path) -> Result<(), String> {
    let f = generate(count)?;
    let text = serde_json::to_string(&f).map_err(|e| e.to_string())?;
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits_match_the_sandbox_rule() {
        for i in [0, 1, 9, 10, 12_345, 999_999_999] {
            let a = aadhaar(i);
            assert_eq!(a.len(), 12);
            assert!(abdm_server::checks::aadhaar(&a).is_ok(), "{a}");
        }
        assert_eq!(verhoeff_digit("236"), 3);
    }

    #[test]
    fn generated_fixtures_load() {
        let f = generate(50).unwrap();
        let loaded = abdm_server::Fixtures::parse(&f.to_string()).unwrap();
        assert_eq!(loaded.professionals.len(), 3 + 50);
    }
}
