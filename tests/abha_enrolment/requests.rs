//! Request checks on ABHA v3: consent, auth methods, every encrypted field (plaintext, bad base64,
//! the wrong padding), the mobile, scope / loginHint / otpSystem, unknown and expired transactions.

use super::*;

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
    let (_, txn) = abha.awaiting_mobile_otp(PRIYA, NEW_MOBILE).await;
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
