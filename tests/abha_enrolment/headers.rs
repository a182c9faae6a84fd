//! The three v3 headers (Authorization with a gateway session, REQUEST-ID, TIMESTAMP within ten
//! minutes), the user token (X-token) on the profile, and wall-clock timestamps after the sandbox
//! clock moved.

use super::*;

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
