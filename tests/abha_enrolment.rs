//! ABHA enrolment by Aadhaar OTP over HTTP, on ABHA v3's own paths (`/abha/api/v3`) and on the
//! Carestack ABHA routes (`/carestack/patient/registration/abha`), with every encrypted field
//! encrypted here, as a client does, with the key from the certificate endpoint: the happy paths
//! (Aadhaar-linked mobile, another mobile verified by OTP, e-mail verification, existing accounts),
//! a refusal for every rule, the v3 headers and the user token.

mod common;

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

// ---- certificate -----------------------------------------------------------------------------

#[tokio::test]
async fn the_certificate_serves_an_oaep_key_without_any_header() {
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;

    let ts = TestSandbox::start().await;
    let cert = ts.get(CERTIFICATE).await;
    let cert = cert.ok();
    assert_eq!(cert["encryptionAlgorithm"], ALGORITHM);
    let b64 = cert["publicKey"].as_str().expect("publicKey is a string");
    let der = base64::engine::general_purpose::STANDARD.decode(b64).expect("publicKey is base64");
    let key = rsa::RsaPublicKey::from_public_key_der(&der).expect("publicKey is DER SubjectPublicKeyInfo");
    assert_eq!(key.size() * 8, 4096, "a 4096-bit key, as the real one");
}

// ---- v3 happy paths --------------------------------------------------------------------------

#[tokio::test]
async fn a_new_person_enrols_and_chooses_an_abha_address() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;

    let sent = abha.request_aadhaar_otp(SUNIL).await;
    let message = sent.ok()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("2101") && !message.contains(SUNIL_MOBILE), "masked mobile in {message:?}");
    let txn = sent.txn();
    let last = ts.last_sent(&txn).await;
    assert_eq!(
        (last["to"].as_str(), last["purpose"].as_str()),
        (Some("XXXXXX2101"), Some("abha-aadhaar-otp"))
    );
    let otp = ts.otp(&txn).await;
    assert_eq!(otp, SUNIL_OTP, "the fixture's scripted OTP");

    let enrolled = abha.enrol(&txn, &otp, SUNIL_MOBILE).await;
    let e = enrolled.ok().clone();
    assert_enrolment_shape(&e);
    assert_eq!(e["message"], "Account created successfully");
    assert_eq!(e["isNew"], true);
    assert_eq!(e["txnId"], json!(txn));
    let p = &e["ABHAProfile"];
    let number = assert_abha_number(&p["ABHANumber"]);
    assert_eq!(p["middleName"], "", "an absent middle name is \"\", never null");
    assert_eq!((p["firstName"].as_str(), p["lastName"].as_str()), (Some("Sunil"), Some("Das")));
    assert_eq!(p["mobile"], SUNIL_MOBILE, "the mobile given, being the Aadhaar-linked one");
    assert_eq!((p["abhaType"].as_str(), p["abhaStatus"].as_str()), (Some("STANDARD"), Some("ACTIVE")));
    assert_eq!(p["dob"], "30-08-1979");
    let default_address = format!("{}@sbx", number.replace('-', ""));
    assert_eq!(p["phrAddress"], json!([default_address]), "the default address is <14 digits>@sbx");

    let suggested = abha.suggestions(&txn).await;
    let s = suggested.ok();
    assert_eq!(s["txnId"], json!(txn));
    let list: Vec<String> = serde_json::from_value(s["abhaAddressList"].clone()).expect("a list of strings");
    assert!(!list.is_empty(), "no suggestions: {s}");
    for a in &list {
        assert!(v3_address_ok(a), "suggestion {a:?} breaks the v3 address rule");
        assert!(a.contains("sunil") || a.contains("das"), "suggestion {a:?} is not from the name");
    }

    let created = abha.create_address(&txn, &list[0]).await;
    let c = created.ok();
    let preferred = format!("{}@sbx", list[0]);
    assert_eq!(c["txnId"], json!(txn));
    assert_eq!(c["healthIdNumber"], json!(number));
    assert_eq!(c["preferredAbhaAddress"], json!(preferred));

    let profile = abha.profile_of(&e).await;
    assert_eq!(profile["ABHANumber"], json!(number));
    assert_eq!(profile["preferredAbhaAddress"], json!(preferred));
    let addresses = profile["phrAddress"].as_array().unwrap();
    assert!(
        addresses.contains(&json!(preferred)) && addresses.contains(&json!(default_address)),
        "{profile}"
    );
}

#[tokio::test]
async fn enrolling_the_same_aadhaar_again_finds_the_account() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let first = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let number = first["ABHAProfile"]["ABHANumber"].clone();
    let txn = first["txnId"].as_str().unwrap().to_string();
    abha.create_address(&txn, "sunil.das79").await.ok();

    let again = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    assert_enrolment_shape(&again);
    assert_eq!(again["isNew"], false);
    assert_eq!(again["message"], "This account already exist");
    assert_eq!(again["ABHAProfile"]["ABHANumber"], number);
    assert!(again["ABHAProfile"]["phrAddress"].as_array().unwrap().contains(&json!("sunil.das79@sbx")));
    assert_ne!(again["tokens"]["token"], first["tokens"]["token"], "every enrolment issues its own token");
}

#[tokio::test]
async fn a_person_who_has_an_abha_enrols_as_existing() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(ASHA, "9876543210").await;
    assert_enrolment_shape(&e);
    assert_eq!(e["isNew"], false);
    assert_eq!(e["message"], "This account already exist");
    assert_eq!(e["ABHAProfile"]["ABHANumber"], ASHA_ABHA);
    assert_abha_number(&e["ABHAProfile"]["ABHANumber"]);
    assert!(!luhn_valid("91-2345-6789-0128"), "the Luhn check refuses a wrong check digit");
    assert_eq!(e["ABHAProfile"]["phrAddress"], json!(["asha.verma@sbx"]));
    let profile = abha.profile_of(&e).await;
    assert_eq!(profile["preferredAbhaAddress"], "asha.verma@sbx");
}

// ---- another mobile, e-mail ------------------------------------------------------------------

#[tokio::test]
async fn another_mobile_is_linked_only_after_its_otp() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(PRIYA, NEW_MOBILE).await;
    assert_eq!(e["isNew"], true);
    assert_eq!(
        e["ABHAProfile"]["mobile"], PRIYA_MOBILE,
        "the account keeps the Aadhaar-linked mobile until the given one is verified"
    );
    assert_eq!(abha.profile_of(&e).await["mobile"], PRIYA_MOBILE);
    let txn = e["txnId"].as_str().unwrap().to_string();
    let number = e["ABHAProfile"]["ABHANumber"].clone();

    let sent = abha.contact_otp(&txn, Contact::Mobile, NEW_MOBILE).await;
    assert_eq!(sent.ok()["txnId"], json!(txn));
    let message = sent.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("2345") && !message.contains(NEW_MOBILE), "{message:?}");
    let last = ts.last_sent(&txn).await;
    assert_eq!(last["to"], "XXXXXX2345", "the OTP goes to the new mobile");
    assert_eq!(last["purpose"], "abha-mobile-otp");

    let otp = ts.otp(&txn).await;
    assert_eq!(otp, PRIYA_OTP);
    let verified = abha.verify_contact(&txn, Contact::Mobile, &otp).await;
    let v = verified.ok();
    assert_eq!(v["authResult"], "success");
    assert_eq!(v["txnId"], json!(txn));
    assert_eq!(v["accounts"][0]["ABHANumber"], number);
    assert_eq!(abha.profile_of(&e).await["mobile"], NEW_MOBILE);

    // The enrolment goes on to the address as usual.
    let list = abha.suggestions(&txn).await.ok()["abhaAddressList"].clone();
    let first = list[0].as_str().unwrap();
    let created = abha.create_address(&txn, first).await;
    assert_eq!(created.ok()["healthIdNumber"], number);
}

#[tokio::test]
async fn a_wrong_mobile_otp_answers_failure_and_the_fifth_locks() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(PRIYA, NEW_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap().to_string();
    abha.contact_otp(&txn, Contact::Mobile, NEW_MOBILE).await.ok();
    for left in (1..=4).rev() {
        let reply = abha.verify_contact(&txn, Contact::Mobile, "000000").await;
        let body = reply.ok();
        assert_eq!(body["authResult"], "failure", "{body}");
        assert_eq!(body["rule"], "otp-mismatch", "{body}");
        assert!(body["message"].as_str().unwrap().contains("valid OTP"), "{body}");
        assert!(body["detail"].as_str().unwrap().contains(&format!("{left} attempts left")), "{body}");
    }
    abha.verify_contact(&txn, Contact::Mobile, "000000").await.refused(
        429,
        "authData.otp.otpValue",
        "otp-locked",
    );
    // Locked: the right OTP and a new OTP request are refused, and the mobile stays unlinked.
    abha.verify_contact(&txn, Contact::Mobile, PRIYA_OTP).await.refused_by(429, "otp-locked");
    abha.contact_otp(&txn, Contact::Mobile, NEW_MOBILE).await.refused(429, "txnId", "otp-locked");
    assert_eq!(abha.profile_of(&e).await["mobile"], PRIYA_MOBILE);
}

#[tokio::test]
async fn an_expired_mobile_otp_answers_failure() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(PRIYA, NEW_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap().to_string();
    abha.contact_otp(&txn, Contact::Mobile, NEW_MOBILE).await.ok();
    ts.advance(600).await;
    let reply = abha.verify_contact(&txn, Contact::Mobile, PRIYA_OTP).await;
    assert_eq!(
        (reply.ok()["authResult"].as_str(), reply.body["rule"].as_str()),
        (Some("failure"), Some("otp-expired"))
    );
}

#[tokio::test]
async fn an_email_is_verified_by_otp_like_a_mobile() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    assert_eq!(e["ABHAProfile"]["email"], "");
    let txn = e["txnId"].as_str().unwrap().to_string();
    let email = "sunil.das@example.org";

    abha.contact_otp(&txn, Contact::Email, email).await.ok();
    let last = ts.last_sent(&txn).await;
    assert_eq!(last["purpose"], "abha-email-otp");
    assert!(last["to"].as_str().unwrap().ends_with(".org") && last["to"] != email, "masked: {last}");

    // The pending OTP is for the e-mail: verifying it as a mobile is a malformed request.
    abha.verify_contact(&txn, Contact::Mobile, SUNIL_OTP).await.refused(400, "scope", "scope");
    let verified = abha.verify_contact(&txn, Contact::Email, SUNIL_OTP).await;
    assert_eq!(verified.ok()["authResult"], "success");
    assert_eq!(abha.profile_of(&e).await["email"], email);
}

#[rstest]
#[case::mobile_in_email_scope(Contact::Email, "9000012345", "email-format")]
#[case::email_in_mobile_scope(Contact::Mobile, "sunil@example.org", "mobile-format")]
#[case::mobile_starting_with_zero(Contact::Mobile, "0900012345", "mobile-format")]
#[tokio::test]
async fn the_contact_to_verify_is_checked(#[case] contact: Contact, #[case] value: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    abha.contact_otp(txn, contact, value).await.refused(400, "loginId", rule);
}

// ---- OTP rules -------------------------------------------------------------------------------

#[tokio::test]
async fn the_aadhaar_otp_is_resent_only_after_sixty_seconds() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    abha.resend_aadhaar_otp(SUNIL, &txn).await.refused(429, "txnId", "otp-resend-too-soon");
    ts.advance(59).await;
    abha.resend_aadhaar_otp(SUNIL, &txn).await.refused(429, "txnId", "otp-resend-too-soon");
    ts.advance(1).await;
    let resent = abha.resend_aadhaar_otp(SUNIL, &txn).await;
    assert_eq!(resent.ok()["txnId"], json!(txn), "a resend keeps the transaction");
    assert_eq!(ts.outbox(Some(&txn)).await.len(), 2);
    // The resent OTP enrols.
    let e = abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await;
    assert_eq!(e.ok()["isNew"], true);
}

#[tokio::test]
async fn the_aadhaar_otp_is_resent_at_most_three_times() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    for _ in 0..3 {
        ts.advance(60).await;
        abha.resend_aadhaar_otp(SUNIL, &txn).await.ok();
    }
    ts.advance(60).await;
    abha.resend_aadhaar_otp(SUNIL, &txn).await.refused(429, "txnId", "otp-resend-limit");
}

#[tokio::test]
async fn a_resend_must_name_the_same_aadhaar() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    ts.advance(60).await;
    abha.resend_aadhaar_otp(PRIYA, &txn).await.refused(422, "loginId", "txn-mismatch");
}

#[rstest]
#[case::just_in_time(599, None)]
#[case::expired(600, Some("otp-expired"))]
#[tokio::test]
async fn the_aadhaar_otp_is_valid_for_ten_minutes(#[case] after: u64, #[case] refusal: Option<&str>) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    ts.advance(after).await;
    let reply = abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await;
    match refusal {
        None => assert_eq!(reply.ok()["isNew"], true),
        Some(rule) => {
            reply.refused(422, "authData.otp.otpValue", rule);
        }
    }
}

#[tokio::test]
async fn five_wrong_aadhaar_otps_lock_the_transaction() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    for left in (1..=4).rev() {
        let reply = abha.enrol(&txn, "000000", SUNIL_MOBILE).await;
        let body = reply.refused(422, "authData.otp.otpValue", "otp-mismatch");
        assert!(body["message"].as_str().unwrap().contains(&format!("{left} attempts left")), "{body}");
    }
    abha.enrol(&txn, "000000", SUNIL_MOBILE).await.refused(429, "authData.otp.otpValue", "otp-locked");
    // Locked: the right OTP, a resend and the later steps are all refused.
    abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await.refused_by(429, "otp-locked");
    ts.advance(60).await;
    abha.resend_aadhaar_otp(SUNIL, &txn).await.refused(429, "txnId", "otp-locked");
    abha.suggestions(&txn).await.refused(429, "TRANSACTION_ID", "otp-locked");
}

#[tokio::test]
async fn an_aadhaar_otp_enrols_only_once() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await.ok();
    abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await.refused(422, "txnId", "step-order");
}

// ---- request checks --------------------------------------------------------------------------

#[rstest]
#[case::code(json!({"code": "abha-enrolment", "version": "1.4"}), "consent.code", "consent")]
#[case::code_case(json!({"code": "ABHA-ENROLLMENT", "version": "1.4"}), "consent.code", "consent")]
#[case::version(json!({"code": "abha-enrollment", "version": "1.3"}), "consent.version", "consent")]
#[case::version_missing(json!({"code": "abha-enrollment"}), "consent.version", "required")]
#[case::missing(Value::Null, "consent", "required")]
#[tokio::test]
async fn consent_must_be_abha_enrollment_version_1_4(
    #[case] consent: Value,
    #[case] field: &str,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    let mut body = enrol_body(&txn, &abha.enc(SUNIL_OTP), SUNIL_MOBILE);
    body["consent"] = consent;
    abha.post(BY_AADHAAR, body).await.refused(400, field, rule);
    // The refusal cost nothing: the OTP still enrols.
    abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await.ok();
}

#[rstest]
#[case::password(json!(["password"]), "auth-methods")]
#[case::two(json!(["otp", "demo"]), "auth-methods")]
#[case::none(json!([]), "auth-methods")]
#[case::upper_case(json!(["OTP"]), "auth-methods")]
#[case::a_string(json!("otp"), "type")]
#[tokio::test]
async fn auth_methods_must_be_otp_alone(#[case] methods: Value, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    let mut body = enrol_body(&txn, &abha.enc(SUNIL_OTP), SUNIL_MOBILE);
    body["authData"]["authMethods"] = methods.clone();
    abha.post(BY_AADHAAR, body).await.refused(400, "authData.authMethods", rule);
    // auth/byAbdm reads the same block.
    let e = abha.enrolled(PRIYA, NEW_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    let body = json!({"scope": ["abha-enrol", "mobile-verify"],
        "authData": {"authMethods": methods, "otp": {"txnId": txn, "otpValue": abha.enc(PRIYA_OTP)}}});
    abha.post(BY_ABDM, body).await.refused(400, "authData.authMethods", rule);
}

/// How a test value is put into an encrypted field.
#[derive(Debug, Clone, Copy)]
enum Cipher {
    /// Sent as is.
    Plain,
    /// RSA-OAEP SHA-1, as required.
    Oaep,
    /// RSA PKCS#1 v1.5 with the right key: the wrong padding.
    Pkcs1,
}

impl Cipher {
    fn apply(self, abha: &Abha<'_>, text: &str) -> String {
        match self {
            Cipher::Plain => text.to_string(),
            Cipher::Oaep => abha.enc(text),
            Cipher::Pkcs1 => crypto::pkcs1(&abha.key, text),
        }
    }
}

#[rstest]
#[case::plaintext(Cipher::Plain, SUNIL, "not-encrypted")]
#[case::plaintext_letters(Cipher::Plain, "abcdefgh", "not-encrypted")]
#[case::not_base64(Cipher::Plain, "c2Vj*cmV0+!!", "not-base64")]
#[case::not_a_ciphertext(Cipher::Plain, "c2VjcmV0IHRleHQ=", "decrypt-failed")]
#[case::pkcs1_padding(Cipher::Pkcs1, SUNIL, "decrypt-failed")]
#[case::verhoeff(Cipher::Oaep, "876543210989", "verhoeff")]
#[case::eleven_digits(Cipher::Oaep, "87654321098", "aadhaar-format")]
#[case::starts_with_one(Cipher::Oaep, "176543210988", "aadhaar-format")]
#[case::empty(Cipher::Plain, "", "required")]
#[tokio::test]
async fn the_encrypted_aadhaar_is_checked(#[case] cipher: Cipher, #[case] text: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let body = aadhaar_otp_body(&cipher.apply(&abha, text));
    abha.post(REQUEST_OTP, body).await.refused(400, "loginId", rule);
    assert_eq!(ts.outbox(None).await, Vec::<Value>::new(), "no OTP is sent for a refused Aadhaar");
}

#[rstest]
#[case::plaintext(Cipher::Plain, SUNIL_OTP, "not-encrypted")]
#[case::pkcs1_padding(Cipher::Pkcs1, SUNIL_OTP, "decrypt-failed")]
#[case::five_digits(Cipher::Oaep, "45678", "otp-format")]
#[case::seven_digits(Cipher::Oaep, "4567890", "otp-format")]
#[case::letters(Cipher::Oaep, "45678a", "otp-format")]
#[tokio::test]
async fn the_encrypted_otp_is_checked(#[case] cipher: Cipher, #[case] text: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    let body = enrol_body(&txn, &cipher.apply(&abha, text), SUNIL_MOBILE);
    abha.post(BY_AADHAAR, body).await.refused(400, "authData.otp.otpValue", rule);
    // A malformed OTP is not a wrong one: no attempt is used up.
    let reply = abha.enrol(&txn, "000000", SUNIL_MOBILE).await;
    let body = reply.refused(422, "authData.otp.otpValue", "otp-mismatch");
    assert!(body["message"].as_str().unwrap().contains("4 attempts left"), "{body}");
}

#[rstest]
#[case::short("976543210", "mobile-format")]
#[case::leading_zero("0765432101", "mobile-format")]
#[case::missing("", "required")]
#[tokio::test]
async fn the_enrolment_mobile_is_checked(#[case] mobile: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    abha.enrol(&txn, SUNIL_OTP, mobile).await.refused(400, "authData.otp.mobile", rule);
}

#[tokio::test]
async fn an_aadhaar_outside_the_fixtures_is_unknown() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    abha.request_aadhaar_otp(NOT_A_PERSON).await.refused(422, "loginId", "aadhaar-unknown");
    assert_eq!(ts.outbox(None).await, Vec::<Value>::new());
}

#[rstest]
#[case::login_scope(json!({"scope": ["abha-login"]}), "scope", "scope")]
#[case::scope_string(json!({"scope": "abha-enrol"}), "scope", "type")]
#[case::scope_missing(json!({"scope": null}), "scope", "required")]
#[case::enrol_by_mobile(json!({"loginHint": "mobile"}), "loginHint", "scope")]
#[case::enrol_by_abdm_otp(json!({"otpSystem": "abdm"}), "otpSystem", "scope")]
#[case::mobile_verify_by_aadhaar(json!({"scope": ["abha-enrol", "mobile-verify"]}), "loginHint", "scope")]
#[case::mobile_verify_aadhaar_otp(json!({"scope": ["abha-enrol", "mobile-verify"], "loginHint": "mobile"}), "otpSystem", "scope")]
#[case::email_verify_by_mobile(json!({"scope": ["abha-enrol", "email-verify"], "loginHint": "mobile", "otpSystem": "abdm"}), "loginHint", "scope")]
#[case::mobile_verify_without_txn(json!({"scope": ["abha-enrol", "mobile-verify"], "loginHint": "mobile", "otpSystem": "abdm"}), "txnId", "required")]
#[case::resend_txn_not_uuid(json!({"txnId": "12345"}), "txnId", "uuid")]
#[tokio::test]
async fn scope_login_hint_and_otp_system_must_agree(
    #[case] patch: Value,
    #[case] field: &str,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let body = patched(aadhaar_otp_body(&abha.enc(SUNIL)), &patch);
    abha.post(REQUEST_OTP, body).await.refused(400, field, rule);
}

#[rstest]
#[case::enrol_only(json!(["abha-enrol"]))]
#[case::login(json!(["abha-login", "mobile-verify"]))]
#[case::reversed(json!(["mobile-verify", "abha-enrol"]))]
#[tokio::test]
async fn auth_by_abdm_takes_only_the_verify_scopes(#[case] scope: Value) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(PRIYA, NEW_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    abha.contact_otp(txn, Contact::Mobile, NEW_MOBILE).await.ok();
    let body = json!({"scope": scope,
        "authData": {"authMethods": ["otp"], "otp": {"txnId": txn, "otpValue": abha.enc(PRIYA_OTP)}}});
    abha.post(BY_ABDM, body).await.refused(400, "scope", "scope");
}

/// ABHA answers an unknown transaction with 401.
#[tokio::test]
async fn unknown_transactions_are_unauthorized() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    abha.resend_aadhaar_otp(SUNIL, UNKNOWN_TXN).await.refused(401, "txnId", "txn-unknown");
    abha.contact_otp(UNKNOWN_TXN, Contact::Mobile, NEW_MOBILE).await.refused(401, "txnId", "txn-unknown");
    abha.enrol(UNKNOWN_TXN, SUNIL_OTP, SUNIL_MOBILE).await.refused_by(401, "txn-unknown");
    abha.verify_contact(UNKNOWN_TXN, Contact::Mobile, SUNIL_OTP).await.refused_by(401, "txn-unknown");
    abha.suggestions(UNKNOWN_TXN).await.refused(401, "TRANSACTION_ID", "txn-unknown");
    abha.create_address(UNKNOWN_TXN, "sunil.das79").await.refused(401, "txnId", "txn-unknown");
    // A malformed id is a malformed request, not an unknown transaction.
    abha.suggestions("12345").await.refused(400, "TRANSACTION_ID", "uuid");
    let no_header = abha.send(reqwest::Method::GET, SUGGESTION, None, &[]).await;
    no_header.refused(400, "TRANSACTION_ID", "required");
}

#[tokio::test]
async fn a_transaction_expires_thirty_minutes_after_its_last_step() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    ts.advance(31 * 60).await;
    abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await.refused_by(401, "txn-expired");

    // Each step renews the lifetime.
    let e = abha.enrolled(PRIYA, PRIYA_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap().to_string();
    ts.advance(29 * 60).await;
    abha.suggestions(&txn).await.ok();
    ts.advance(29 * 60).await;
    abha.suggestions(&txn).await.ok();
    ts.advance(31 * 60).await;
    abha.create_address(&txn, "priya.nair95").await.refused(401, "txnId", "txn-expired");
    abha.suggestions(&txn).await.refused(401, "TRANSACTION_ID", "txn-expired");
}

// ---- headers ---------------------------------------------------------------------------------

/// What to do to one of the three v3 headers.
#[derive(Debug, Clone, Copy)]
enum HeaderChange {
    Drop(&'static str),
    Set(&'static str, &'static str),
    /// TIMESTAMP this many minutes from the sandbox's time.
    TimestampOff(i64),
}

#[rstest]
#[case::no_authorization(HeaderChange::Drop("Authorization"), 401, "Authorization", "bearer")]
#[case::basic_authorization(
    HeaderChange::Set("Authorization", "Basic dXNlcjpwYXNz"),
    401,
    "Authorization",
    "bearer"
)]
#[case::empty_bearer(HeaderChange::Set("Authorization", "Bearer "), 401, "Authorization", "bearer")]
#[case::not_a_session_token(
    HeaderChange::Set("Authorization", "Bearer test-session-token"),
    401,
    "Authorization",
    "session-token"
)]
#[case::no_request_id(HeaderChange::Drop("REQUEST-ID"), 400, "REQUEST-ID", "required")]
#[case::request_id_not_uuid(HeaderChange::Set("REQUEST-ID", "req-0001"), 400, "REQUEST-ID", "uuid")]
#[case::no_timestamp(HeaderChange::Drop("TIMESTAMP"), 400, "TIMESTAMP", "required")]
#[case::garbled_timestamp(HeaderChange::Set("TIMESTAMP", "26/11/2025 10:00"), 400, "TIMESTAMP", "timestamp")]
#[case::fifteen_minutes_ahead(HeaderChange::TimestampOff(15), 400, "TIMESTAMP", "timestamp-skew")]
#[case::fifteen_minutes_behind(HeaderChange::TimestampOff(-15), 400, "TIMESTAMP", "timestamp-skew")]
#[tokio::test]
async fn v3_calls_need_their_three_headers(
    #[values(REQUEST_OTP, SUGGESTION, PROFILE)] path: &str,
    #[case] change: HeaderChange,
    #[case] status: u16,
    #[case] field: &str,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let mut headers = abha.headers().await;
    match change {
        HeaderChange::Drop(name) => headers.retain(|(k, _)| k != name),
        HeaderChange::Set(name, value) => {
            headers.retain(|(k, _)| k != name);
            headers.push((name.into(), value.into()));
        }
        HeaderChange::TimestampOff(minutes) => {
            let at = ts.now().await + chrono::Duration::minutes(minutes);
            headers.retain(|(k, _)| k != "TIMESTAMP");
            headers.push(("TIMESTAMP".into(), at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        }
    }
    let reply = if path == REQUEST_OTP {
        let body = aadhaar_otp_body(&abha.enc(SUNIL));
        abha.send_with(reqwest::Method::POST, path, Some(&body), &headers).await
    } else {
        headers.push(("TRANSACTION_ID".into(), UNKNOWN_TXN.into()));
        abha.send_with(reqwest::Method::GET, path, None, &headers).await
    };
    reply.refused(status, field, rule);
    assert_eq!(ts.outbox(None).await, Vec::<Value>::new(), "nothing happens without the headers");
}

#[rstest]
#[case::nine_minutes_ahead(9)]
#[case::nine_minutes_behind(-9)]
#[case::same_instant_written_in_ist(0)]
#[tokio::test]
async fn a_timestamp_within_ten_minutes_is_accepted(#[case] minutes: i64) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let mut headers = abha.headers().await;
    let at = ts.now().await + chrono::Duration::minutes(minutes);
    // The same instant written with a +05:30 offset is the same time.
    let stamp = if minutes == 0 {
        at.with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap()).to_rfc3339()
    } else {
        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    headers.retain(|(k, _)| k != "TIMESTAMP");
    headers.push(("TIMESTAMP".into(), stamp));
    let body = aadhaar_otp_body(&abha.enc(SUNIL));
    abha.send_with(reqwest::Method::POST, REQUEST_OTP, Some(&body), &headers).await.ok();
}

#[rstest]
#[case::eleven_minutes_behind(Some(-11), None, "timestamp-skew")]
#[case::eleven_minutes_ahead(Some(11), None, "timestamp-skew")]
#[case::iso_with_t(None, Some("2025-11-26T10:00:00"), "timestamp")]
#[case::date_only(None, Some("2025-11-26"), "timestamp")]
#[tokio::test]
async fn the_otp_time_stamp_is_checked(
    #[case] minutes: Option<i64>,
    #[case] text: Option<&str>,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    let stamp = match (minutes, text) {
        (Some(m), _) => {
            (ts.now().await + chrono::Duration::minutes(m)).format("%Y-%m-%d %H:%M:%S").to_string()
        }
        (None, Some(t)) => t.to_string(),
        (None, None) => unreachable!(),
    };
    let mut body = enrol_body(&txn, &abha.enc(SUNIL_OTP), SUNIL_MOBILE);
    body["authData"]["otp"]["timeStamp"] = json!(stamp);
    abha.post(BY_AADHAAR, body).await.refused(400, "authData.otp.timeStamp", rule);
    // Within ten minutes it is accepted.
    let near = (ts.now().await - chrono::Duration::minutes(5)).format("%Y-%m-%d %H:%M:%S").to_string();
    let mut body = enrol_body(&txn, &abha.enc(SUNIL_OTP), SUNIL_MOBILE);
    body["authData"]["otp"]["timeStamp"] = json!(near);
    abha.post(BY_AADHAAR, body).await.ok();
}

// ---- ABHA address ----------------------------------------------------------------------------

#[rstest]
#[case::too_short("sunil79")]
#[case::too_long("sunildas1979sunildas")]
#[case::two_dots("sunil.das.79")]
#[case::two_underscores("sunil_das_79")]
#[case::leading_dot(".sunildas79")]
#[case::trailing_underscore("sunildas79_")]
#[case::dot_next_to_underscore("sunil._das79")]
#[case::fourteen_digits("91234567890123")]
#[case::with_domain("sunil.das@sbx")]
#[case::hyphen("sunil-das79")]
#[case::space("sunil das79")]
#[tokio::test]
async fn the_abha_address_follows_the_v3_rule(#[case] address: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    abha.create_address(txn, address).await.refused(400, "abhaAddress", "abha-address-policy");
    // The refusal leaves the enrolment where it was.
    let created = abha.create_address(txn, "sunil.das79").await;
    assert_eq!(created.ok()["preferredAbhaAddress"], "sunil.das79@sbx");
}

#[rstest]
#[case::as_is("ravi.kumar")]
#[case::other_case("RAVI.Kumar")]
#[case::second_address("ravik1985")]
#[tokio::test]
async fn a_taken_abha_address_is_refused(#[case] address: &str) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    abha.create_address(txn, address).await.refused(422, "abhaAddress", "abha-address-taken");
    abha.create_address(txn, "sunil.das79").await.ok();
}

#[tokio::test]
async fn suggestions_never_offer_a_taken_address() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let sunil = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let sunil_txn = sunil["txnId"].as_str().unwrap();
    let before: Vec<String> =
        serde_json::from_value(abha.suggestions(sunil_txn).await.ok()["abhaAddressList"].clone()).unwrap();

    // Priya takes Sunil's first suggestion.
    let priya = abha.enrolled(PRIYA, PRIYA_MOBILE).await;
    abha.create_address(priya["txnId"].as_str().unwrap(), &before[0]).await.ok();

    let after: Vec<String> =
        serde_json::from_value(abha.suggestions(sunil_txn).await.ok()["abhaAddressList"].clone()).unwrap();
    assert!(!after.contains(&before[0]), "{after:?} offers the taken {}", before[0]);
    assert_eq!(after.len(), before.len(), "a taken suggestion is replaced: {after:?}");
    assert!(after.iter().all(|a| v3_address_ok(a)), "{after:?}");
    abha.create_address(sunil_txn, &before[0]).await.refused(422, "abhaAddress", "abha-address-taken");
}

#[rstest]
#[case::two(json!(2))]
#[case::negative(json!(-1))]
#[case::a_word(json!("yes"))]
#[tokio::test]
async fn preferred_is_zero_or_one(#[case] preferred: Value) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    let bad = json!({"txnId": txn, "abhaAddress": "sunil.das79", "preferred": preferred});
    abha.post(ABHA_ADDRESS, bad).await.refused(400, "preferred", "type");
    let good = json!({"txnId": txn, "abhaAddress": "sunil.das79", "preferred": 1});
    abha.post(ABHA_ADDRESS, good).await.ok();
}

// ---- step order ------------------------------------------------------------------------------

#[tokio::test]
async fn nothing_but_enrolment_follows_the_aadhaar_otp() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    let suggestion = abha.suggestions(&txn).await;
    let body = suggestion.refused(422, "TRANSACTION_ID", "step-order");
    assert!(body["message"].as_str().unwrap().contains("not yet enrolled"), "{body}");
    abha.create_address(&txn, "sunil.das79").await.refused(422, "txnId", "step-order");
    abha.contact_otp(&txn, Contact::Mobile, NEW_MOBILE).await.refused(422, "txnId", "step-order");
    abha.verify_contact(&txn, Contact::Mobile, SUNIL_OTP).await.refused_by(422, "step-order");
    // None of that used up the OTP.
    abha.enrol(&txn, SUNIL_OTP, SUNIL_MOBILE).await.ok();
}

#[tokio::test]
async fn a_completed_enrolment_takes_no_second_address() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap();
    // An OTP check with no OTP requested is out of order.
    abha.verify_contact(txn, Contact::Mobile, SUNIL_OTP).await.refused_by(422, "step-order");
    abha.create_address(txn, "sunil.das79").await.ok();
    abha.create_address(txn, "sunil_das30").await.refused(422, "txnId", "step-order");
    abha.suggestions(txn).await.refused(422, "TRANSACTION_ID", "step-order");
    let profile = abha.profile_of(&e).await;
    assert!(!profile["phrAddress"].as_array().unwrap().contains(&json!("sunil_das30@sbx")), "{profile}");
}

// ---- X-token ---------------------------------------------------------------------------------

#[rstest]
#[case::missing(None, 401, "x-token")]
#[case::bare_token(Some("{token}"), 400, "x-token")]
#[case::other_scheme(Some("Basic {token}"), 400, "x-token")]
#[case::not_issued_here(Some("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"), 401, "x-token")]
#[case::unknown(Some("Bearer sbx-abha.00000000000040008000000000000000"), 401, "x-token-unknown")]
#[tokio::test]
async fn the_profile_needs_a_bearer_x_token(
    #[case] template: Option<&str>,
    #[case] status: u16,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let token = e["tokens"]["token"].as_str().unwrap();
    let header = template.map(|t| t.replace("{token}", token));
    abha.profile(header.as_deref()).await.refused(status, "X-token", rule);
}

#[tokio::test]
async fn the_x_token_expires_after_1800_seconds() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let header = format!("Bearer {}", e["tokens"]["token"].as_str().unwrap());
    ts.advance(1790).await;
    abha.profile(Some(&header)).await.ok();
    ts.advance(10).await;
    abha.profile(Some(&header)).await.refused(401, "X-token", "x-token-expired");
}

// ---- Carestack ABHA routes -------------------------------------------------------------------

#[rstest]
#[case::aadhaar_mobile(SUNIL, SUNIL_MOBILE, SUNIL_MOBILE, "sunil")]
#[case::other_mobile(PRIYA, NEW_MOBILE, PRIYA_MOBILE, "priya")]
#[tokio::test]
async fn carestack_creates_an_abha_the_way_the_sdk_does(
    #[case] aadhaar: &str,
    #[case] mobile: &str,
    #[case] linked: &str,
    #[case] name: &str,
) {
    let ts = TestSandbox::start().await;
    let cs = Carestack::new(&ts).await;
    let sent = cs.post(CS_REQUEST_OTP, json!({"aadhaar": cs.enc(aadhaar)})).await;
    assert!(sent.ok()["message"].is_string(), "{}", sent.body);
    let txn = sent.txn();
    let otp = ts.otp(&txn).await;

    let enrolled = cs.post(CS_ENROLL, json!({"otp": cs.enc(&otp), "txnId": txn, "mobile": mobile})).await;
    let e = enrolled.ok().clone();
    assert_enrolment_shape(&e);
    assert_eq!(e["isNew"], true);
    let number = assert_abha_number(&e["ABHAProfile"]["ABHANumber"]);
    // The SDK compares ABHAProfile.mobile with the mobile it sent: equal skips the mobile update.
    assert_eq!(e["ABHAProfile"]["mobile"], linked);
    let txn = e["txnId"].as_str().unwrap().to_string();

    if mobile != linked {
        let sent = cs.post(CS_MOBILE_OTP, json!({"updateValue": cs.enc(mobile), "txnId": txn})).await;
        let s = sent.ok();
        assert!(s["txnId"].is_string() && s["message"].is_string(), "{s}");
        let last = ts.last_sent(&txn).await;
        assert_eq!(last["to"], format!("XXXXXX{}", &mobile[6..]));
        let otp = ts.otp(&txn).await;
        let verified = cs.post(CS_MOBILE_VERIFY, json!({"otp": cs.enc(&otp), "txnId": txn})).await;
        let v = verified.ok();
        assert!(v["message"].is_string() && v["txnId"] == json!(txn), "{v}");
        assert_eq!(v["authResult"], "success");
    }

    let suggested = cs.suggestions(&txn).await;
    let s = suggested.ok();
    assert_eq!(s["txnId"], json!(txn));
    let list: Vec<String> = serde_json::from_value(s["abhaAddressList"].clone()).expect("a list of strings");
    assert!(!list.is_empty() && list.iter().all(|a| v3_address_ok(a) && a.contains(name)), "{list:?}");

    let created = cs.post(CS_ABHA_ADDRESS, json!({"abhaAddress": list[0], "txnId": txn})).await;
    let c = created.ok();
    assert_eq!(c["txnId"], json!(txn));
    assert_eq!(c["healthIdNumber"], json!(number));
    assert_eq!(c["preferredAbhaAddress"], json!(format!("{}@sbx", list[0])));

    // The same account through ABHA v3: the verified mobile and the chosen address.
    let abha = Abha::new(&ts).await;
    let profile = abha.profile_of(&e).await;
    assert_eq!(profile["mobile"], mobile);
    assert_eq!(profile["preferredAbhaAddress"], json!(format!("{}@sbx", list[0])));
}

#[tokio::test]
async fn carestack_enrolment_of_an_existing_account_keeps_a_verified_mobile() {
    let ts = TestSandbox::start().await;
    let cs = Carestack::new(&ts).await;
    let enrol =
        |otp: String, txn: String, mobile: &str| json!({"otp": cs.enc(&otp), "txnId": txn, "mobile": mobile});
    let txn = cs.post(CS_REQUEST_OTP, json!({"aadhaar": cs.enc(PRIYA)})).await.txn();
    cs.post(CS_ENROLL, enrol(PRIYA_OTP.into(), txn.clone(), NEW_MOBILE)).await.ok();
    cs.post(CS_MOBILE_OTP, json!({"updateValue": cs.enc(NEW_MOBILE), "txnId": txn})).await.ok();
    cs.post(CS_MOBILE_VERIFY, json!({"otp": cs.enc(PRIYA_OTP), "txnId": txn})).await.ok();

    // Enrolling again with the now-verified mobile needs no second verification.
    let txn = cs.post(CS_REQUEST_OTP, json!({"aadhaar": cs.enc(PRIYA)})).await.txn();
    let again = cs.post(CS_ENROLL, enrol(PRIYA_OTP.into(), txn, NEW_MOBILE)).await;
    assert_eq!(again.ok()["isNew"], false);
    assert_eq!(again.body["ABHAProfile"]["mobile"], NEW_MOBILE);
}

#[tokio::test]
async fn carestack_refuses_bad_input_naming_its_own_fields() {
    let ts = TestSandbox::start().await;
    let cs = Carestack::new(&ts).await;
    cs.post(CS_REQUEST_OTP, json!({"aadhaar": SUNIL})).await.refused(400, "aadhaar", "not-encrypted");
    cs.post(CS_REQUEST_OTP, json!({"aadhaar": cs.enc("876543210989")}))
        .await
        .refused(400, "aadhaar", "verhoeff");
    cs.post(CS_REQUEST_OTP, json!({"aadhaar": cs.enc(NOT_A_PERSON)})).await.refused(
        422,
        "aadhaar",
        "aadhaar-unknown",
    );
    cs.post(CS_REQUEST_OTP, json!({})).await.refused(400, "aadhaar", "required");

    let txn = cs.post(CS_REQUEST_OTP, json!({"aadhaar": cs.enc(SUNIL)})).await.txn();
    // The Aadhaar OTP resend, Carestack's way: the same call with the txnId.
    let resend = json!({"aadhaar": cs.enc(SUNIL), "txnId": txn});
    cs.post(CS_REQUEST_OTP, resend).await.refused(429, "txnId", "otp-resend-too-soon");
    let plain = json!({"otp": SUNIL_OTP, "txnId": txn, "mobile": SUNIL_MOBILE});
    cs.post(CS_ENROLL, plain).await.refused(400, "otp", "not-encrypted");
    let no_mobile = json!({"otp": cs.enc(SUNIL_OTP), "txnId": txn, "mobile": null});
    cs.post(CS_ENROLL, no_mobile).await.refused(400, "mobile", "required");
    let unknown = json!({"otp": cs.enc(SUNIL_OTP), "txnId": UNKNOWN_TXN, "mobile": SUNIL_MOBILE});
    cs.post(CS_ENROLL, unknown).await.refused(401, "txnId", "txn-unknown");
    cs.suggestions(&txn).await.refused(422, "txnId", "step-order");
    let wrong = json!({"otp": cs.enc("000000"), "txnId": txn, "mobile": SUNIL_MOBILE});
    cs.post(CS_ENROLL, wrong).await.refused(422, "otp", "otp-mismatch");

    let e = cs.post(CS_ENROLL, json!({"otp": cs.enc(SUNIL_OTP), "txnId": txn, "mobile": SUNIL_MOBILE})).await;
    e.ok();
    cs.send(reqwest::Method::GET, CS_SUGGESTIONS, None).await.refused(400, "txnId", "required");
    cs.send(reqwest::Method::GET, &format!("{CS_SUGGESTIONS}?txnId="), None)
        .await
        .refused(400, "txnId", "required");
    cs.send(reqwest::Method::GET, &format!("{CS_SUGGESTIONS}?txnId=12345"), None)
        .await
        .refused(400, "txnId", "uuid");
    let plain_mobile = json!({"updateValue": NEW_MOBILE, "txnId": txn});
    cs.post(CS_MOBILE_OTP, plain_mobile).await.refused(400, "updateValue", "not-encrypted");
    let bad_mobile = json!({"updateValue": cs.enc("12345"), "txnId": txn});
    cs.post(CS_MOBILE_OTP, bad_mobile).await.refused(400, "updateValue", "mobile-format");
    // A wrong mobile OTP is a 200 with authResult "failure", as on ABHA v3.
    cs.post(CS_MOBILE_OTP, json!({"updateValue": cs.enc(NEW_MOBILE), "txnId": txn})).await.ok();
    let wrong = cs.post(CS_MOBILE_VERIFY, json!({"otp": cs.enc("000000"), "txnId": txn})).await;
    assert_eq!(wrong.ok()["authResult"], "failure");
    assert!(wrong.body["message"].is_string() && wrong.body["txnId"] == json!(txn), "{}", wrong.body);
    let with_domain = json!({"abhaAddress": "sunil.das79@sbx", "txnId": txn});
    cs.post(CS_ABHA_ADDRESS, with_domain).await.refused(400, "abhaAddress", "abha-address-policy");
    cs.post(CS_ABHA_ADDRESS, json!({"abhaAddress": "ravi.kumar", "txnId": txn})).await.refused(
        422,
        "abhaAddress",
        "abha-address-taken",
    );
}

#[tokio::test]
async fn carestack_abha_routes_need_the_carestack_credentials() {
    let ts = TestSandbox::start().await;
    let key = ts.abha_key().await;
    let body = json!({"aadhaar": crypto::oaep_sha1(&key, SUNIL)});
    ts.post(CS_REQUEST_OTP, body.clone()).await.refused(401, "Authorization", "carestack-api-key");
    let abha_headers = [("Authorization", "Bearer test-session-token")];
    let reply = ts.send(reqwest::Method::POST, CS_REQUEST_OTP, Some(&body), &abha_headers).await;
    reply.refused(401, "Authorization", "carestack-api-key");
}

// ---- the sandbox clock and real clients ------------------------------------------------------

/// A real client stamps TIMESTAMP (and `authData.otp.timeStamp`) with its own wall clock. Moving
/// the sandbox's virtual clock to test OTP expiry must not turn every such call into a skew
/// refusal: the call must reach the rule under test.
#[rstest]
#[case::timestamp_header(true)]
#[case::otp_time_stamp(false)]
#[tokio::test]
async fn wall_clock_timestamps_still_reach_the_otp_rules_after_time_moves(#[case] header: bool) {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let txn = abha.request_aadhaar_otp(SUNIL).await.txn();
    // Eleven minutes: the OTP has expired, and a wall-clock stamp is more than ten minutes behind
    // the sandbox's time.
    ts.advance(11 * 60).await;
    let mut body = enrol_body(&txn, &abha.enc(SUNIL_OTP), SUNIL_MOBILE);
    let reply = if header {
        let wall: Vec<(String, String)> = ts.abha_headers(chrono_now()).await;
        abha.send_with(reqwest::Method::POST, BY_AADHAAR, Some(&body), &wall).await
    } else {
        body["authData"]["otp"]["timeStamp"] =
            json!(chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string());
        abha.post(BY_AADHAAR, body).await
    };
    reply.refused(422, "authData.otp.otpValue", "otp-expired");
}

// ---- rules across contacts -------------------------------------------------------------------

/// The lock counts wrong OTPs per transaction: asking for an OTP to another mobile (or an e-mail)
/// does not give five fresh attempts.
#[tokio::test]
async fn wrong_otps_lock_the_transaction_even_when_the_contact_changes() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled(PRIYA, NEW_MOBILE).await;
    let txn = e["txnId"].as_str().unwrap().to_string();
    abha.contact_otp(&txn, Contact::Mobile, NEW_MOBILE).await.ok();
    for _ in 0..4 {
        assert_eq!(abha.verify_contact(&txn, Contact::Mobile, "000000").await.ok()["authResult"], "failure");
    }
    abha.contact_otp(&txn, Contact::Mobile, "9000054321").await.ok();
    let fifth = abha.verify_contact(&txn, Contact::Mobile, "000000").await;
    fifth.refused(429, "authData.otp.otpValue", "otp-locked");
}

// ---- suggestions for every name --------------------------------------------------------------

/// Every person can enrol and be offered addresses, whatever their name: one too long for any
/// name-based address, or one written in a script with no ASCII letters.
#[rstest]
#[case::long_name("Venkatesh Ramakrishnan", "Venkatesh", "Ramakrishnan")]
#[case::devanagari_name("सुनीता देवी", "सुनीता", "देवी")]
#[tokio::test]
async fn suggestions_are_offered_for_every_name(#[case] name: &str, #[case] first: &str, #[case] last: &str) {
    let mut fixtures: Value = serde_json::from_str(include_str!("../fixtures/default.json")).unwrap();
    // A copy of Sunil (no ABHA yet) with another Aadhaar, mobile and name.
    let people = fixtures["people"].as_array().unwrap();
    let mut person = people.iter().find(|p| p["aadhaar"] == SUNIL).expect("Sunil is a fixture").clone();
    person["aadhaar"] = json!("523456789019");
    person["mobile"] = json!("9123400001");
    person["name"] = json!(name);
    person["firstName"] = json!(first);
    person["lastName"] = json!(last);
    person["otp"] = json!("678901");
    fixtures["people"].as_array_mut().unwrap().push(person);
    let ts = TestSandbox::serve_binary(&fixtures);
    let abha = Abha::new(&ts).await;
    let e = abha.enrolled("523456789019", "9123400001").await;
    let txn = e["txnId"].as_str().unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), abha.suggestions(txn))
        .await
        .unwrap_or_else(|_| panic!("enrol/suggestion for {name:?} did not answer within 10 s"));
    let list = reply.ok()["abhaAddressList"].clone();
    let list: Vec<String> = serde_json::from_value(list).unwrap();
    assert!(!list.is_empty() && list.iter().all(|a| v3_address_ok(a)), "{list:?}");
}
