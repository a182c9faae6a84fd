//! The certificate and the happy paths on ABHA v3: a new person enrols and chooses an ABHA
//! address, an existing account is found again, another mobile and an e-mail are linked only after
//! their OTPs.

use super::*;

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
    let (e, txn) = abha.awaiting_mobile_otp(PRIYA, NEW_MOBILE).await;
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
    let (_, txn) = abha.awaiting_mobile_otp(PRIYA, NEW_MOBILE).await;
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
