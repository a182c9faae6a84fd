//! HPR ID registration over HTTP, on both path sets (ABDM's `/hpr/api` and Carestack's
//! `/carestack`): the happy paths, a refusal for every rule, and bad input on every endpoint.

mod common;

use common::hpr::*;
use common::*;
use rstest::rstest;
use serde_json::{json, Value};

#[rstest]
#[case::abdm(Paths::Abdm)]
#[case::carestack(Paths::Carestack)]
#[tokio::test]
async fn existing_professional_ends_at_account_exist(#[case] paths: Paths) {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr_verified(paths, EXISTING).await;
    let check = ts.hpr(paths, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await;
    let account = check.ok();
    assert_eq!(account["hprIdNumber"], "71-1234-5678-9012");
    assert_eq!(account["hprId"], "kavita.rao@hpr.abdm");
    assert_eq!(account["new"], false);
    assert!(account["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(account["categoryId"].is_u64() && account["subCategoryId"].is_u64());
    // The flow has ended: nothing further is accepted on this transaction.
    ts.hpr(paths, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": "9700000001"}))
        .await
        .refused(422, "txnId", "step-order");
}

#[rstest]
#[case::abdm(Paths::Abdm)]
#[case::carestack(Paths::Carestack)]
#[tokio::test]
async fn new_professional_with_aadhaar_mobile_creates_an_hpr_id(#[case] paths: Paths) {
    let ts = TestSandbox::start().await;
    let generated = ts.hpr(paths, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await;
    assert_eq!(generated.ok()["mobileNumber"], "XXXXXX0002");
    let txn = generated.txn();
    let otp = ts.otp(&txn).await;
    assert_eq!(otp, "222222", "the fixture's scripted OTP");
    let kyc = ts.hpr(paths, HprStep::VerifyOtp, verify_otp_body(&txn, &otp)).await;
    let kyc = kyc.ok();
    for key in ["txnId", "gender", "name", "pincode", "district", "state", "address", "mobile", "photo"] {
        assert!(kyc[key].is_string(), "verify answer lacks string {key}: {kyc}");
    }
    assert_eq!(kyc["name"], "Arjun Mehta");

    let check = ts.hpr(paths, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await;
    let check = check.ok();
    assert_eq!((check["hprIdNumber"].as_str(), check["new"].as_bool()), (Some(""), Some(true)));
    assert!(check["token"].is_string() && check["categoryId"].is_u64() && check["subCategoryId"].is_u64());

    let auth = ts
        .hpr(paths, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": SAME_MOBILE_NUMBER}))
        .await;
    assert_eq!(auth.ok()["verified"], true);

    let suggestions = ts.hpr(paths, HprStep::Suggestion, json!({"txnId": txn})).await;
    let list: Vec<String> =
        serde_json::from_value(suggestions.ok().clone()).expect("a bare array of strings");
    assert!(!list.is_empty() && list.iter().all(|s| s.contains("arjun") || s.contains("mehta")), "{list:?}");

    let created = ts.hpr(paths, HprStep::Create, create_body(&txn, &list[0])).await;
    let created = created.ok();
    let number = created["hprIdNumber"].as_str().unwrap();
    assert_eq!(number.chars().filter(char::is_ascii_digit).count(), 14, "{number}");
    assert_eq!(created["hprId"], json!(format!("{}@hpr.abdm", list[0])));
    assert_eq!(created["mobile"], SAME_MOBILE_NUMBER);
    assert_eq!((created["stateName"].as_str(), created["new"].as_bool()), (Some("Gujarat"), Some(true)));
    for key in [
        "token",
        "name",
        "gender",
        "yearOfBirth",
        "monthOfBirth",
        "dayOfBirth",
        "firstName",
        "lastName",
        "stateCode",
        "kycPhoto",
    ] {
        assert!(created[key].is_string(), "create answer lacks string {key}: {created}");
    }
    assert!(created["authMethods"].is_array());

    // From now on the professional is an existing account.
    let again = ts.hpr_verified(paths, SAME_MOBILE).await;
    let check = ts.hpr(paths, HprStep::CheckAccount, json!({"txnId": again, "preverifiedCheck": true})).await;
    assert_eq!(check.ok()["hprIdNumber"], number);
    assert_eq!(check.ok()["new"], false);
    // And the finished transaction accepts nothing more.
    ts.hpr(paths, HprStep::Create, create_body(&txn, "arjun.other")).await.refused(
        422,
        "txnId",
        "step-order",
    );
}

#[rstest]
#[case::abdm(Paths::Abdm)]
#[case::carestack(Paths::Carestack)]
#[tokio::test]
async fn new_professional_with_other_mobile_verifies_it_by_otp(#[case] paths: Paths) {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr_verified(paths, OTHER_MOBILE).await;
    ts.hpr(paths, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await.ok();
    let auth = ts
        .hpr(paths, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": OTHER_MOBILE_NUMBER}))
        .await;
    assert_eq!(auth.ok()["verified"], false);
    // Without a verified mobile there are no suggestions yet.
    ts.hpr(paths, HprStep::Suggestion, json!({"txnId": txn})).await.refused(422, "txnId", "step-order");

    let sent =
        ts.hpr(paths, HprStep::GenerateMobileOtp, json!({"mobile": OTHER_MOBILE_NUMBER, "txnId": txn})).await;
    assert_eq!(sent.ok()["mobileNumber"], Value::Null);
    assert_eq!(ts.last_sent(&txn).await["to"], "XXXXXX2334");
    let otp = ts.otp(&txn).await;
    ts.hpr(paths, HprStep::VerifyMobileOtp, json!({"otp": otp, "txnId": txn})).await.ok();

    let list = ts.hpr(paths, HprStep::Suggestion, json!({"txnId": txn})).await.ok().clone();
    let first = list[0].as_str().unwrap().to_string();
    let body = json!({"txnId": txn, "hprId": format!("{first}@hpr.abdm"), "password": PASSWORD, "firstName": "Fatima",
        "lastName": "Sheikh", "email": "", "hpCategoryCode": 2, "hpSubCategoryCode": 5, "stateCode": 27, "districtCode": 518});
    let created = ts.hpr(paths, HprStep::Create, body).await;
    assert_eq!(created.ok()["mobile"], OTHER_MOBILE_NUMBER);
    assert_eq!(created.ok()["categoryName"], "Nurse");
    assert_eq!(created.ok()["dayOfBirth"], "17", "the Aadhaar birth date when none is given");
}

#[rstest]
#[case::aadhaar_only_if_linked(OTHER_MOBILE, "9700000003", true)]
#[case::other_mobile(OTHER_MOBILE, OTHER_MOBILE_NUMBER, false)]
#[case::same(SAME_MOBILE, SAME_MOBILE_NUMBER, true)]
#[case::someone_elses(SAME_MOBILE, "9700000001", false)]
#[tokio::test]
async fn demographic_auth_is_true_exactly_for_the_aadhaar_mobile(
    #[case] aadhaar: &str,
    #[case] mobile: &str,
    #[case] expected: bool,
) {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr_verified(Paths::Abdm, aadhaar).await;
    ts.hpr(Paths::Abdm, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": false})).await.ok();
    let auth =
        ts.hpr(Paths::Abdm, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": mobile})).await;
    assert_eq!(auth.ok()["verified"], expected);
}

#[rstest]
#[case::too_short("23456789012", 400, "aadhaar-format")]
#[case::letters("23456789012x", 400, "aadhaar-format")]
#[case::starts_with_one("134567890127", 400, "aadhaar-format")]
#[case::verhoeff("678901234561", 400, "verhoeff")]
#[case::not_a_professional("234567890127", 422, "aadhaar-unknown")]
#[tokio::test]
async fn aadhaar_is_checked(#[case] aadhaar: &str, #[case] status: u16, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    ts.hpr(Paths::Carestack, HprStep::GenerateOtp, json!({"aadhaar": aadhaar}))
        .await
        .refused(status, "aadhaar", rule);
    assert_eq!(ts.outbox(None).await, Vec::<Value>::new(), "no OTP is sent for a refused Aadhaar");
}

#[tokio::test]
async fn wrong_otps_are_counted_and_lock_the_transaction_after_five() {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    let verify = |otp: &str| verify_otp_body(&txn, otp);
    for left in (1..=4).rev() {
        let reply = ts.hpr(Paths::Abdm, HprStep::VerifyOtp, verify("000000")).await;
        let body = reply.refused(422, "otp", "otp-mismatch");
        assert!(body["message"].as_str().unwrap().contains(&format!("{left} attempts left")), "{body}");
    }
    ts.hpr(Paths::Abdm, HprStep::VerifyOtp, verify("000000")).await.refused(429, "otp", "otp-locked");
    // Locked: even the right OTP, and every later step, is refused.
    ts.hpr(Paths::Abdm, HprStep::VerifyOtp, verify("222222")).await.refused(429, "txnId", "otp-locked");
    ts.hpr(Paths::Abdm, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true}))
        .await
        .refused(429, "txnId", "otp-locked");
}

#[tokio::test]
async fn an_otp_expires_after_ten_minutes() {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    ts.advance(600).await;
    let body = json!({"otp": "222222", "txnId": txn});
    ts.hpr(Paths::Abdm, HprStep::VerifyOtp, body).await.refused(422, "otp", "otp-expired");
}

#[tokio::test]
async fn an_otp_is_accepted_just_before_it_expires_and_only_once() {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    ts.advance(599).await;
    let body = json!({"otp": "222222", "txnId": txn});
    ts.hpr(Paths::Abdm, HprStep::VerifyOtp, body.clone()).await.ok();
    ts.hpr(Paths::Abdm, HprStep::VerifyOtp, body).await.refused(422, "txnId", "step-order");
}

#[tokio::test]
async fn mobile_otp_resend_waits_sixty_seconds() {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr_verified(Paths::Carestack, OTHER_MOBILE).await;
    ts.hpr(Paths::Carestack, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true}))
        .await
        .ok();
    let send = json!({"mobile": OTHER_MOBILE_NUMBER, "txnId": txn});
    ts.hpr(Paths::Carestack, HprStep::GenerateMobileOtp, send.clone()).await.ok();
    ts.advance(59).await;
    let early = ts.hpr(Paths::Carestack, HprStep::GenerateMobileOtp, send.clone()).await;
    early.refused(429, "mobile", "otp-resend-too-soon");
    ts.advance(1).await;
    ts.hpr(Paths::Carestack, HprStep::GenerateMobileOtp, send).await.ok();
    let sent = ts.outbox(Some(&txn)).await;
    let purposes: Vec<&str> = sent.iter().map(|m| m["purpose"].as_str().unwrap()).collect();
    assert_eq!(purposes, ["hpr-aadhaar-otp", "hpr-mobile-otp", "hpr-mobile-otp"]);
}

#[tokio::test]
async fn steps_out_of_order_are_refused() {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": OTHER_MOBILE})).await.txn();
    let early = [
        (HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})),
        (HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": "9700000003"})),
        (HprStep::GenerateMobileOtp, json!({"txnId": txn, "mobile": "9700000003"})),
        (HprStep::VerifyMobileOtp, json!({"txnId": txn, "otp": "333333"})),
        (HprStep::Suggestion, json!({"txnId": txn})),
        (HprStep::Create, create_body(&txn, "fatima.s")),
    ];
    for (step, body) in early {
        let reply = ts.hpr(Paths::Abdm, step, body).await;
        let message = reply.refused(422, "txnId", "step-order")["message"].as_str().unwrap().to_string();
        assert!(message.contains("Aadhaar OTP sent"), "{step:?}: {message}");
    }
}

#[rstest]
#[case::unknown(HprStep::VerifyOtp, json!({"otp": "123456", "txnId": "6f1c8a34-3c44-4d5e-9d0a-0b8d8f6d2a10"}), 422, "txn-unknown")]
#[case::not_a_uuid(HprStep::Suggestion, json!({"txnId": "12345"}), 400, "uuid")]
#[tokio::test]
async fn unknown_transactions_are_refused(
    #[case] step: HprStep,
    #[case] body: Value,
    #[case] status: u16,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    ts.hpr(Paths::Carestack, step, body).await.refused(status, "txnId", rule);
}

#[tokio::test]
async fn a_transaction_expires_thirty_minutes_after_its_last_step() {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr_verified(Paths::Abdm, SAME_MOBILE).await;
    ts.advance(29 * 60).await;
    ts.hpr(Paths::Abdm, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await.ok();
    ts.advance(30 * 60).await;
    ts.hpr(Paths::Abdm, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": SAME_MOBILE_NUMBER}))
        .await
        .refused(422, "txnId", "txn-expired");
}

#[rstest]
#[case::domain(json!({"domainName": "ndhm.gov.in"}), "domainName", "hpr-domain")]
#[case::id_type(json!({"idType": "aadhaar"}), "idType", "hpr-id-type")]
#[case::otp_format(json!({"otp": "12ab56"}), "otp", "otp-format")]
#[tokio::test]
async fn verify_otp_checks_its_fields(#[case] patch: Value, #[case] field: &str, #[case] rule: &str) {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr(Paths::Carestack, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    let body = patched(verify_otp_body(&txn, "222222"), &patch);
    ts.hpr(Paths::Carestack, HprStep::VerifyOtp, body).await.refused(400, field, rule);
}

#[rstest]
#[case::short_id("hprId", json!("ab"), 400, "hpr-id-format")]
#[case::leading_dot("hprId", json!(".arjun"), 400, "hpr-id-format")]
#[case::space("hprId", json!("arjun mehta"), 400, "hpr-id-format")]
#[case::other_domain("hprId", json!("arjun@sbx"), 400, "hpr-domain")]
#[case::taken("hprId", json!("kavita.rao"), 422, "hpr-id-taken")]
#[case::taken_case_insensitive("hprId", json!("Kavita.Rao@hpr.abdm"), 422, "hpr-id-taken")]
#[case::password_short("password", json!("Ab@1"), 400, "password-policy")]
#[case::password_no_upper("password", json!("sandbox@2024"), 400, "password-policy")]
#[case::password_no_lower("password", json!("SANDBOX@2024"), 400, "password-policy")]
#[case::password_no_digit("password", json!("Sandbox@abcd"), 400, "password-policy")]
#[case::password_no_symbol("password", json!("Sandbox2024"), 400, "password-policy")]
#[case::password_missing("password", Value::Null, 400, "required")]
#[case::first_name_missing("firstName", json!(""), 400, "required")]
#[case::first_name_digits("firstName", json!("Arjun2"), 400, "name-format")]
#[case::email("email", json!("arjun.example.com"), 400, "email-format")]
#[case::pincode("pincode", json!("08000"), 400, "pincode-format")]
#[case::month("monthOfBirth", json!("13"), 400, "birth-date")]
#[case::not_a_date("dayOfBirth", json!("31"), 400, "birth-date")]
#[case::future("yearOfBirth", json!("2999"), 400, "birth-date")]
#[case::category("hpCategoryCode", json!("9"), 400, "hpr-category")]
#[case::sub_category("hpSubCategoryCode", json!("5"), 400, "hpr-category")]
#[case::category_type("hpCategoryCode", json!("one"), 400, "type")]
#[case::state("stateCode", json!("99"), 400, "lgd-state")]
#[case::district_missing("districtCode", Value::Null, 400, "required")]
#[case::photo("profilePhoto", json!("not base64!"), 400, "base64")]
#[tokio::test]
async fn create_checks_every_field(
    #[case] field: &str,
    #[case] value: Value,
    #[case] status: u16,
    #[case] rule: &str,
) {
    let ts = TestSandbox::start().await;
    let txn = ts.hpr_mobile_verified(Paths::Carestack, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    // February has no 31st: make the "not a date" case a real calendar check.
    let mut body = create_body(&txn, "arjun.mehta");
    if field == "dayOfBirth" {
        body["monthOfBirth"] = json!("02");
    }
    let reply = ts.hpr(Paths::Carestack, HprStep::Create, patched(body, &json!({field: value}))).await;
    reply.refused(status, field, rule);
    // A refused create leaves the flow where it was: the right request still succeeds.
    ts.hpr(Paths::Carestack, HprStep::Create, create_body(&txn, "arjun.mehta")).await.ok();
}

#[tokio::test]
async fn suggestions_never_offer_a_taken_id() {
    let ts = TestSandbox::start().await;
    // Fatima takes the id Arjun's first suggestion would be.
    let fatima = ts.hpr_mobile_verified(Paths::Abdm, OTHER_MOBILE, "9700000003").await;
    let body = json!({"txnId": fatima, "hprId": "arjun.mehta", "password": PASSWORD, "firstName": "Fatima",
        "hpCategoryCode": 2, "hpSubCategoryCode": 5, "stateCode": 27, "districtCode": 518});
    ts.hpr(Paths::Abdm, HprStep::Create, body).await.ok();

    let arjun = ts.hpr_mobile_verified(Paths::Abdm, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    let list = ts.hpr(Paths::Abdm, HprStep::Suggestion, json!({"txnId": arjun})).await.ok().clone();
    let list: Vec<String> = serde_json::from_value(list).unwrap();
    assert!(!list.contains(&"arjun.mehta".to_string()) && !list.is_empty(), "{list:?}");
    ts.hpr(Paths::Abdm, HprStep::Create, create_body(&arjun, "arjun.mehta")).await.refused(
        422,
        "hprId",
        "hpr-id-taken",
    );
    ts.hpr(Paths::Abdm, HprStep::Create, create_body(&arjun, &list[0])).await.ok();
}

#[tokio::test]
async fn two_transactions_cannot_create_two_accounts_for_one_professional() {
    let ts = TestSandbox::start().await;
    let first = ts.hpr_mobile_verified(Paths::Abdm, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    let second = ts.hpr_mobile_verified(Paths::Abdm, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    ts.hpr(Paths::Abdm, HprStep::Create, create_body(&first, "arjun.one")).await.ok();
    ts.hpr(Paths::Abdm, HprStep::Create, create_body(&second, "arjun.two")).await.refused(
        422,
        "txnId",
        "hpr-account-exists",
    );
    // The refused id stays free.
    let third = ts.hpr_mobile_verified(Paths::Abdm, OTHER_MOBILE, "9700000003").await;
    let body = patched(create_body(&third, "arjun.two"), &json!({"firstName": "Fatima"}));
    ts.hpr(Paths::Abdm, HprStep::Create, body).await.ok();
}

/// For every endpoint on both path sets: malformed JSON, a non-object, an empty object (naming
/// the first required field), and a wrongly typed field are all 400s naming the field.
#[rstest]
#[tokio::test]
async fn bad_input_on_every_endpoint(#[values(Paths::Abdm, Paths::Carestack)] paths: Paths) {
    let ts = TestSandbox::start().await;
    let mut headers = vec![("Content-Type", "application/json")];
    if paths == Paths::Carestack {
        headers.extend(CARESTACK_HEADERS);
    }
    let first_required = [
        (HprStep::GenerateOtp, "aadhaar"),
        (HprStep::VerifyOtp, "otp"),
        (HprStep::CheckAccount, "preverifiedCheck"),
        (HprStep::DemographicAuth, "mobileNumber"),
        (HprStep::GenerateMobileOtp, "mobile"),
        (HprStep::VerifyMobileOtp, "otp"),
        (HprStep::Suggestion, "txnId"),
        (HprStep::Create, "hprId"),
    ];
    for (step, field) in first_required {
        let path = step.path(paths);
        for raw in [&b"{\"txnId\": "[..], b"[1,2]", b"", b"\"text\"", b"\xff\xfe"] {
            let reply = ts.post_raw(path, raw.to_vec(), &headers).await;
            reply.refused(400, "body", "json");
        }
        ts.hpr(paths, step, json!({})).await.refused(400, field, "required");
        ts.hpr(paths, step, json!({field: [1]})).await.refused(400, field, "type");
    }
}

#[tokio::test]
async fn unknown_versions_and_methods_are_json_404s() {
    let ts = TestSandbox::start().await;
    ts.post("/hpr/api/v3/registration/aadhaar/generateOtp", json!({"aadhaar": SAME_MOBILE}))
        .await
        .refused(404, "path", "no-route");
    ts.get("/hpr/api/v1/registration/aadhaar/generateOtp").await.refused(404, "path", "no-route");
}
