//! The ABHA address: the v3 rule, taken addresses, suggestions that never offer one and exist for
//! every name, `preferred`, and the step order around it.

use super::*;

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

// ---- suggestions for every name --------------------------------------------------------------

/// Every person can enrol and be offered addresses, whatever their name: one too long for any
/// name-based address, or one written in a script with no ASCII letters.
#[rstest]
#[case::long_name("Venkatesh Ramakrishnan", "Venkatesh", "Ramakrishnan")]
#[case::devanagari_name("सुनीता देवी", "सुनीता", "देवी")]
#[tokio::test]
async fn suggestions_are_offered_for_every_name(#[case] name: &str, #[case] first: &str, #[case] last: &str) {
    let mut fixtures: Value = serde_json::from_str(include_str!("../../fixtures/default.json")).unwrap();
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
