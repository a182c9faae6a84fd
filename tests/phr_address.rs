//! Creating an ABHA address from an ABHA number (the PHR "Using ABHA Number" flow) over HTTP,
//! with PKCS#1 encryption done as a PHR app does it: the happy path through every checklist row
//! the API serves, the address and password policies rule by rule, timing, and bad input.

mod common;

use common::*;
use rstest::rstest;
use serde_json::{json, Value};

const BASE: &str = "/phr/api/v1/phr";
/// Ravi Kumar Singh: ABHA number with two addresses already.
const RAVI: &str = "91-3456-7890-1231";

async fn phr_key(ts: &TestSandbox) -> String {
    let res = ts.http.get(format!("{}{BASE}/public/certificate", ts.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

async fn call(ts: &TestSandbox, path: &str, body: Value) -> Reply {
    ts.post(&format!("{BASE}/{path}"), body).await
}

/// init/transaction: an OTP by `auth_method` for the ABHA number.
async fn init(ts: &TestSandbox, auth_method: &str, number: &str) -> Reply {
    let body = json!({"authMethod": auth_method, "healhtIdNumber": number});
    call(ts, "registration/hid/init/transaction", body).await
}

/// init/transaction by MOBILE_OTP; returns the transaction.
async fn started(ts: &TestSandbox, number: &str) -> String {
    transaction(init(ts, "MOBILE_OTP", number).await.ok())
}

/// The transactionId of an init answer.
fn transaction(body: &Value) -> String {
    body["transactionId"].as_str().unwrap().to_string()
}

/// confirm/credential with `value`, the OTP as the client encrypted it.
async fn confirm(ts: &TestSandbox, txn: &str, value: String) -> Reply {
    call(ts, "registration/hid/confirm/credential", json!({"transactionId": txn, "value": value})).await
}

/// init/transaction → confirm/credential with the OTP from the outbox; returns the transaction
/// and the confirm answer.
async fn verified(ts: &TestSandbox, key: &str, number: &str) -> (String, Value) {
    let txn = started(ts, number).await;
    let otp = ts.otp(&txn).await;
    let profile = confirm(ts, &txn, crypto::pkcs1(key, &otp)).await.ok().clone();
    (txn, profile)
}

async fn create(ts: &TestSandbox, key: &str, txn: &str, address: &str, password: Option<&str>) -> Reply {
    let mut body = json!({"transactionId": txn, "phrAddress": address, "alreadyExistedPHR": false});
    if let Some(p) = password {
        body["password"] = json!(crypto::pkcs1(key, p));
    }
    call(ts, "registration/hid/create-phr-address", body).await
}

async fn is_exist(ts: &TestSandbox, address: &str) -> Value {
    ts.get(&format!("{BASE}/search/isExist?phrAddress={address}")).await.ok().clone()
}

#[tokio::test]
async fn the_whole_sequence_creates_an_address_that_then_exists() {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;

    // Row 3: the 14-digit ABHA number, dashed or not.
    let methods =
        call(&ts, "registration/hid/search/auth-methods", json!({"healhtIdNumber": "91345678901231"})).await;
    assert_eq!(methods.ok()["healthIdNumber"], RAVI);
    assert_eq!(methods.ok()["authMethods"], json!(["AADHAAR_OTP", "MOBILE_OTP"]));
    assert_eq!(methods.ok()["blockedAuthMethods"], json!([]));

    // Row 4: an OTP to the mobile linked with the number.
    let txn = transaction(init(&ts, "AADHAAR_OTP", RAVI).await.ok());
    // Row 5: resend after 60 seconds, and the OTP still validates.
    ts.advance(60).await;
    let resent = call(&ts, "registration/hid/init/resendOtp", json!({"transactionId": txn})).await;
    assert_eq!(resent.ok()["transactionId"], json!(txn));
    assert_eq!(ts.outbox(Some(&txn)).await.len(), 2);
    let otp = ts.otp(&txn).await;
    let confirmed = confirm(&ts, &txn, crypto::pkcs1(&key, &otp)).await;
    let profile = confirmed.ok();
    // Row 6: the addresses already linked; row 8: the profile that pre-fills the form.
    assert_eq!(profile["phrAddress"], json!(["ravi.kumar@sbx", "ravik1985@sbx"]));
    assert_eq!(profile["linkedPhrAddess"], 2);
    for (field, value) in [
        ("firstName", "Ravi"),
        ("middleName", "Kumar"),
        ("lastName", "Singh"),
        ("gender", "M"),
        ("dayOfBirth", "2"),
        ("monthOfBirth", "11"),
        ("yearOfBirth", "1985"),
        ("mobile", "9812345678"),
        ("email", "ravi.singh@example.com"),
        ("stateName", "Uttar Pradesh"),
        ("districtName", "Lucknow"),
        ("pincode", "226001"),
        ("address", "4 Civil Lines"),
    ] {
        assert_eq!(profile[field], json!(value), "{field}");
    }

    // Row 11: suggestions from the name and the e-mail's user name, none taken.
    let list = call(&ts, "registration/phr/suggestion", json!({"transactionId": txn})).await.ok().clone();
    let list: Vec<String> = serde_json::from_value(list).unwrap();
    assert!(list.contains(&"ravi.singh@sbx".to_string()), "{list:?}");
    assert!(!list.contains(&"ravi.kumar@sbx".to_string()), "taken addresses are never suggested: {list:?}");
    assert_eq!(is_exist(&ts, "ravi.singh@sbx").await, json!(false));
    assert_eq!(is_exist(&ts, "ravi.kumar@sbx").await, json!(true));

    // Rows 10, 12, 13: create with a policy-valid address and password.
    let created = create(&ts, &key, &txn, "ravi.singh@sbx", Some("Tr0ub4dor&x")).await;
    let created = created.ok();
    assert_eq!(created["phrAdress"], "ravi.singh@sbx");
    assert_eq!((created["firstName"].as_str(), created["expiresIn"].as_u64()), (Some("Ravi"), Some(7200)));
    assert!(created["token"].is_string() && created["refreshToken"].is_string());
    assert_eq!(is_exist(&ts, "ravi.singh@sbx").await, json!(true));
    assert_eq!(is_exist(&ts, "Ravi.Singh").await, json!(true), "addresses are case-insensitive");

    // The account now lists it, and no one can take it again.
    let (again, profile) = verified(&ts, &key, RAVI).await;
    assert_eq!(profile["phrAddress"], json!(["ravi.kumar@sbx", "ravik1985@sbx", "ravi.singh@sbx"]));
    create(&ts, &key, &again, "ravi.singh", None).await.refused(422, "phrAddress", "abha-address-taken");
    // The finished transaction accepts nothing more.
    create(&ts, &key, &txn, "ravi.other", None).await.refused(422, "transactionId", "step-order");
}

#[tokio::test]
async fn the_password_is_optional() {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;
    let (txn, _) = verified(&ts, &key, "91-2345-6789-0129").await;
    let created = create(&ts, &key, &txn, "asha.v", None).await;
    assert_eq!(created.ok()["phrAdress"], "asha.v@sbx");
}

#[rstest]
#[case::fourteen_digits("91345678901231", "abha-address-numeric")]
#[case::mobile_number("9812345678", "abha-address-mobile")]
#[case::starts_with_digit("1ravi", "abha-address-start-digit")]
#[case::all_digits("12345", "abha-address-start-digit")]
#[case::too_short("rav", "abha-address-length")]
#[case::underscore("ravi_singh", "abha-address-characters")]
#[case::hyphen("ravi-singh", "abha-address-characters")]
#[case::leading_dot(".ravi", "abha-address-dot")]
#[case::trailing_dot("ravi.", "abha-address-dot")]
#[case::other_domain("ravi.singh@abdm", "abha-address-domain")]
#[tokio::test]
async fn the_address_policy_is_enforced_rule_by_rule(#[case] address: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;
    let (txn, _) = verified(&ts, &key, RAVI).await;
    create(&ts, &key, &txn, address, None).await.refused(400, "phrAddress", rule);
    // The refusal leaves the flow where it was.
    create(&ts, &key, &txn, "ravi.ok", None).await.ok();
}

#[rstest]
#[case::short("Ab@1xyz", "password-policy")]
#[case::no_upper("tr0ub4dor&x", "password-policy")]
#[case::no_lower("TR0UB4DOR&X", "password-policy")]
#[case::no_digit("Troubador&x", "password-policy")]
#[case::no_symbol("Tr0ub4dorxx", "password-policy")]
#[case::space("Tr0ub 4dor&x", "password-policy")]
#[case::repeat("Tr0ub4ddd&x", "password-repeat")]
#[case::sequence("Tr0ub4abc&x", "password-sequence")]
#[case::descending("Tr0ub4987&x", "password-sequence")]
#[case::keyboard("Tr0ub4qwe&x", "password-keyboard")]
#[tokio::test]
async fn the_password_policy_is_enforced_rule_by_rule(#[case] password: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;
    let (txn, _) = verified(&ts, &key, RAVI).await;
    create(&ts, &key, &txn, "ravi.singh", Some(password)).await.refused(400, "password", rule);
    assert_eq!(is_exist(&ts, "ravi.singh").await, json!(false), "nothing is created on a refusal");
}

#[tokio::test]
async fn resend_waits_sixty_seconds() {
    let ts = TestSandbox::start().await;
    let txn = started(&ts, RAVI).await;
    ts.advance(30).await;
    let early = call(&ts, "registration/hid/init/resendOtp", json!({"transactionId": txn})).await;
    let body = early.refused(429, "transactionId", "otp-resend-too-soon");
    assert!(body["message"].as_str().unwrap().contains("wait 30 s"), "{body}");
    ts.advance(30).await;
    call(&ts, "registration/hid/init/resendOtp", json!({"transactionId": txn})).await.ok();
}

#[tokio::test]
async fn an_otp_expires_after_ten_minutes_and_locks_after_five_wrong() {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;
    let txn = started(&ts, RAVI).await;
    ts.advance(600).await;
    let late = confirm(&ts, &txn, crypto::pkcs1(&key, "234567")).await;
    late.refused(422, "value", "otp-expired");

    let txn = started(&ts, RAVI).await;
    for _ in 0..4 {
        let wrong = confirm(&ts, &txn, crypto::pkcs1(&key, "000000")).await;
        wrong.refused(422, "value", "otp-mismatch");
    }
    let fifth = confirm(&ts, &txn, crypto::pkcs1(&key, "000000")).await;
    fifth.refused(429, "value", "otp-locked");
    let right = confirm(&ts, &txn, crypto::pkcs1(&key, "234567")).await;
    right.refused(429, "transactionId", "otp-locked");
}

#[tokio::test]
async fn an_otp_must_be_encrypted_with_the_phr_key_and_pkcs1() {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;
    let abha_key = ts.abha_key().await;
    let txn = started(&ts, RAVI).await;
    let send = |value: String| confirm(&ts, &txn, value);
    send("234567".into()).await.refused(400, "value", "not-encrypted");
    send("%%%not-base64%%%".into()).await.refused(400, "value", "not-base64");
    send(crypto::oaep_sha1(&key, "234567")).await.refused(400, "value", "decrypt-failed");
    send(crypto::pkcs1(&abha_key, "234567")).await.refused(400, "value", "decrypt-failed");
    send(crypto::pkcs1(&key, "23456")).await.refused(400, "value", "otp-format");
    // None of these counted as a wrong OTP: the right one still works.
    send(crypto::pkcs1(&key, "234567")).await.ok();
}

#[rstest]
#[case::correct_spelling(json!({"healthIdNumber": RAVI}), 400, "healhtIdNumber", "required")]
#[case::missing(json!({}), 400, "healhtIdNumber", "required")]
#[case::short(json!({"healhtIdNumber": "91-3456-7890"}), 400, "healhtIdNumber", "abha-number-format")]
#[case::unknown(json!({"healhtIdNumber": "91-1111-2222-3333"}), 422, "healhtIdNumber", "abha-number-unknown")]
#[case::number_type(json!({"healhtIdNumber": 91345678901231_u64}), 400, "healhtIdNumber", "type")]
#[tokio::test]
async fn the_abha_number_field_is_checked(
    #[case] body: Value,
    #[case] status: u16,
    #[case] field: &str,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    call(&ts, "registration/hid/search/auth-methods", body.clone()).await.refused(status, field, rule);
    let mut init = body;
    init["authMethod"] = json!("MOBILE_OTP");
    call(&ts, "registration/hid/init/transaction", init).await.refused(status, field, rule);
}

#[tokio::test]
async fn steps_out_of_order_and_bad_input_are_refused() {
    let ts = TestSandbox::start().await;
    let key = phr_key(&ts).await;
    init(&ts, "PASSWORD", RAVI).await.refused(400, "authMethod", "auth-method");
    let txn = started(&ts, RAVI).await;
    call(&ts, "registration/phr/suggestion", json!({"transactionId": txn})).await.refused(
        422,
        "transactionId",
        "step-order",
    );
    create(&ts, &key, &txn, "ravi.singh", None).await.refused(422, "transactionId", "step-order");
    let unknown = json!({"transactionId": "3f0c2a8e-93a4-4b7b-8a51-2f4b1c3d9e70"});
    call(&ts, "registration/hid/init/resendOtp", unknown).await.refused(422, "transactionId", "txn-unknown");
    call(&ts, "registration/phr/suggestion", json!({"transactionId": "x"})).await.refused(
        400,
        "transactionId",
        "uuid",
    );
    ts.get(&format!("{BASE}/search/isExist")).await.refused(400, "phrAddress", "required");
    ts.get(&format!("{BASE}/search/isExist?phrAddress=a@b.com")).await.refused(
        400,
        "phrAddress",
        "abha-address-domain",
    );
    for path in [
        "registration/hid/search/auth-methods",
        "registration/hid/init/transaction",
        "registration/hid/init/resendOtp",
        "registration/hid/confirm/credential",
        "registration/phr/suggestion",
        "registration/hid/create-phr-address",
    ] {
        ts.post_raw(&format!("{BASE}/{path}"), b"{oops".to_vec(), &[]).await.refused(400, "body", "json");
    }
    let (txn, _) = verified(&ts, &key, RAVI).await;
    let body = json!({"transactionId": txn, "phrAddress": "ravi.singh", "alreadyExistedPHR": "no"});
    call(&ts, "registration/hid/create-phr-address", body).await.refused(400, "alreadyExistedPHR", "type");
}
