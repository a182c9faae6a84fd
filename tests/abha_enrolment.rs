//! ABHA enrolment by Aadhaar OTP over HTTP, on ABHA v3's own paths (`/abha/api/v3`) and on the
//! Carestack ABHA routes (`/carestack/patient/registration/abha`), with every encrypted field
//! encrypted here, as a client does, with the key from the certificate endpoint: the happy paths
//! (Aadhaar-linked mobile, another mobile verified by OTP, e-mail verification, existing accounts),
//! a refusal for every rule, the v3 headers and the user token.

mod common;

// The tests, one file a behaviour, under tests/abha_enrolment/.
#[path = "abha_enrolment/address.rs"]
mod address;
#[path = "abha_enrolment/carestack.rs"]
mod carestack;
#[path = "abha_enrolment/flows.rs"]
mod flows;
#[path = "abha_enrolment/headers.rs"]
mod headers;
#[path = "abha_enrolment/otp_rules.rs"]
mod otp_rules;
#[path = "abha_enrolment/requests.rs"]
mod requests;

use std::time::Duration;

use common::abha::*;
use common::*;
use rstest::rstest;
use serde_json::{json, Value};

// The fixture people (fixtures/default.json). Sunil and Priya have no ABHA yet; Asha has one.
const SUNIL: &str = "876543210988";
const SUNIL_MOBILE: &str = "9765432101";
const SUNIL_OTP: &str = "456789";
const PRIYA: &str = "912345678092";
const PRIYA_MOBILE: &str = "9654321012";
const PRIYA_OTP: &str = "567890";
const ASHA: &str = "234567890127";
const ASHA_ABHA: &str = "91-2345-6789-0129";
/// A mobile that is nobody's Aadhaar-linked one.
const NEW_MOBILE: &str = "9000012345";
/// Verhoeff-valid, but a professional's Aadhaar, not a person's.
const NOT_A_PERSON: &str = "567890123458";
const UNKNOWN_TXN: &str = "6f1c8a34-3c44-4d5e-9d0a-0b8d8f6d2a10";

// ---- helpers ---------------------------------------------------------------------------------

/// Luhn over the digits (dashes ignored), as sandbox ABHA numbers satisfy it.
fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> =
        number.chars().filter(|c| *c != '-').map(|c| c.to_digit(10).unwrap_or(99)).collect();
    if digits.is_empty() || digits.iter().any(|d| *d > 9) {
        return false;
    }
    // Every second digit from the right is doubled; a doubled digit counts by its digit sum.
    let sum: u32 =
        digits.iter().rev().enumerate().map(|(i, d)| d * (1 + (i as u32 % 2))).map(|x| x / 10 + x % 10).sum();
    sum.is_multiple_of(10)
}

/// `NN-NNNN-NNNN-NNNN` with a valid Luhn check digit.
fn assert_abha_number(number: &Value) -> String {
    let n = number.as_str().unwrap_or_else(|| panic!("ABHA number is not a string: {number}"));
    let groups: Vec<&str> = n.split('-').collect();
    let shape = groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [2, 4, 4, 4]
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    assert!(shape, "{n} is not NN-NNNN-NNNN-NNNN");
    assert!(luhn_valid(n), "{n} fails the Luhn check");
    n.to_string()
}

/// ABHA v3's address rule (local part): 8–18 characters, letters and digits with at most one `.`
/// and one `_`, neither first, last or next to the other, and not 14 digits alone.
fn v3_address_ok(local: &str) -> bool {
    let b = local.as_bytes();
    (8..=18).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'_')
        && local.matches('.').count() <= 1
        && local.matches('_').count() <= 1
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !local.contains("._")
        && !local.contains("_.")
        && !(b.len() == 14 && b.iter().all(u8::is_ascii_digit))
}

/// The types the Carestack SDK's `AbhaProfile` model requires (pydantic, `patient/abha/abha_dto.py`).
fn assert_sdk_profile(p: &Value) {
    for key in [
        "firstName",
        "lastName",
        "middleName",
        "gender",
        "mobile",
        "address",
        "abhaType",
        "stateName",
        "districtName",
        "ABHANumber",
        "abhaStatus",
    ] {
        assert!(p[key].is_string(), "ABHAProfile.{key} must be a string (null fails the SDK): {p}");
    }
    for key in [
        "preferredAddress",
        "dob",
        "photo",
        "email",
        "districtCode",
        "stateCode",
        "pinCode",
        "kycPhoto",
        "monthOfBirth",
        "name",
        "subDistrictCode",
        "subdistrictName",
        "townCode",
        "townName",
        "verificationStatus",
        "verificationType",
        "villageCode",
        "villageName",
        "wardCode",
        "wardName",
        "yearOfBirth",
    ] {
        assert!(p[key].is_null() || p[key].is_string(), "ABHAProfile.{key} must be a string or absent: {p}");
    }
    for key in ["mobileVerified", "emailVerified", "kycVerified"] {
        assert!(
            p[key].is_null() || p[key].is_boolean(),
            "ABHAProfile.{key} must be a boolean or absent: {p}"
        );
    }
    let list_of_strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    assert!(p["phrAddress"].is_null() || list_of_strings(&p["phrAddress"]), "phrAddress: {p}");
    let map_of_strings = |v: &Value| v.as_object().is_some_and(|m| m.values().all(Value::is_string));
    assert!(p["tags"].is_null() || map_of_strings(&p["tags"]), "tags: {p}");
    let methods = ["AADHAAR_OTP", "MOBILE_OTP", "PASSWORD", "DEMOGRAPHICS", "AADHAAR_BIO", "EMAIL_OTP"];
    let auth = &p["authMethods"];
    assert!(
        auth.is_null() || auth.as_str().is_some_and(|m| methods.contains(&m)),
        "authMethods must be absent or one AuthMethodV2 string (the SDK refuses an array): {auth}"
    );
}

/// The enrolment answer in the shape both ABHA v3 clients and the Carestack SDK read.
fn assert_enrolment_shape(e: &Value) {
    assert!(e["message"].is_string() && e["txnId"].is_string() && e["isNew"].is_boolean(), "{e}");
    let t = &e["tokens"];
    assert!(t["token"].as_str().is_some_and(|s| !s.is_empty()), "tokens.token: {e}");
    assert!(t["refreshToken"].as_str().is_some_and(|s| !s.is_empty()), "tokens.refreshToken: {e}");
    assert_eq!(t["expiresIn"], json!(1800), "tokens.expiresIn: {e}");
    assert!(t["refreshExpiresIn"].as_u64().is_some_and(|s| s > 1800), "tokens.refreshExpiresIn: {e}");
    assert_sdk_profile(&e["ABHAProfile"]);
}
