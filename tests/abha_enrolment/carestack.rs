//! The Carestack ABHA routes as the Carestack SDK calls them: enrolment with its own field names,
//! the mobile update, suggestions and the address, bad input, and its credentials.

use super::*;

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
    let strict =
        abdm_server::Config { credentials: abdm_server::Credentials::Fixtures, ..Default::default() };
    let ts = TestSandbox::start_with(strict).await;
    let key = ts.abha_key().await;
    let body = json!({"aadhaar": crypto::oaep_sha1(&key, SUNIL)});
    ts.post(CS_REQUEST_OTP, body.clone()).await.refused(401, "Authorization", "carestack-api-key");
    let abha_headers = [("Authorization", "Bearer test-session-token")];
    let reply = ts.send(reqwest::Method::POST, CS_REQUEST_OTP, Some(&body), &abha_headers).await;
    reply.refused(401, "Authorization", "carestack-api-key");
}
