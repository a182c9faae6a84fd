//! The OTP rules on ABHA v3: resend after 60 s and at most three times, ten minutes of validity,
//! five wrong OTPs lock the transaction (whatever contact the OTP went to), one enrolment per OTP.

use super::*;

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

// ---- rules across contacts -------------------------------------------------------------------

/// The lock counts wrong OTPs per transaction: asking for an OTP to another mobile (or an e-mail)
/// does not give five fresh attempts.
#[tokio::test]
async fn wrong_otps_lock_the_transaction_even_when_the_contact_changes() {
    let ts = TestSandbox::start().await;
    let abha = Abha::new(&ts).await;
    let (_, txn) = abha.awaiting_mobile_otp(PRIYA, NEW_MOBILE).await;
    for _ in 0..4 {
        assert_eq!(abha.verify_contact(&txn, Contact::Mobile, "000000").await.ok()["authResult"], "failure");
    }
    abha.contact_otp(&txn, Contact::Mobile, "9000054321").await.ok();
    let fifth = abha.verify_contact(&txn, Contact::Mobile, "000000").await;
    fifth.refused(429, "authData.otp.otpValue", "otp-locked");
}
