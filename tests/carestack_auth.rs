//! Carestack's credentials: every `/carestack` route needs `Authorization: Bearer <api key>` (a
//! key listed in the fixtures), `x-hprid-auth` and `facilityid`; a missing or wrong one is a 401
//! naming the header. ABDM's own `/hpr/api` paths need none of them, but the gateway session.

mod common;

use common::hpr::*;
use common::*;
use rstest::rstest;
use serde_json::{json, Value};

const CARESTACK_GENERATE_OTP: &str = "/carestack/aadhaar/generateOtp";
const ABDM_GENERATE_OTP: &str = "/hpr/api/v1/registration/aadhaar/generateOtp";

/// The three Carestack headers, with `replace` overriding (or, with `None`, dropping) one.
fn headers(replace: Option<(&'static str, Option<&'static str>)>) -> Vec<(&'static str, &'static str)> {
    let mut all = CARESTACK_HEADERS.to_vec();
    if let Some((name, value)) = replace {
        all.retain(|(n, _)| *n != name);
        if let Some(v) = value {
            all.push((name, v));
        }
    }
    all
}

async fn generate_otp(sb: &TestSandbox, path: &str, headers: &[(&str, &str)]) -> Reply {
    let body = json!({"aadhaar": SAME_MOBILE});
    sb.send(reqwest::Method::POST, path, Some(&body), headers).await
}

#[tokio::test]
async fn the_api_key_is_listed_in_the_fixtures() {
    let sb = TestSandbox::start().await;
    let fixtures = sb.get("/_sandbox/fixtures").await;
    let keys = fixtures.ok()["carestack"]["apiKeys"].clone();
    assert!(keys.as_array().is_some_and(|k| k.contains(&json!(API_KEY))), "carestack.apiKeys: {keys}");
}

#[rstest]
#[case::authorization_missing("Authorization", None, "carestack-api-key")]
#[case::authorization_empty("Authorization", Some(""), "carestack-api-key")]
#[case::wrong_key("Authorization", Some("Bearer not-a-key"), "carestack-api-key")]
#[case::basic_scheme("Authorization", Some("Basic sandbox-api-key"), "carestack-api-key")]
#[case::no_scheme("Authorization", Some("sandbox-api-key"), "carestack-api-key")]
#[case::bearer_without_key("Authorization", Some("Bearer"), "carestack-api-key")]
#[case::hprid_auth_missing("x-hprid-auth", None, "carestack-headers")]
#[case::hprid_auth_empty("x-hprid-auth", Some(""), "carestack-headers")]
#[case::facility_missing("facilityid", None, "carestack-headers")]
#[case::facility_empty("facilityid", Some(""), "carestack-headers")]
#[tokio::test]
async fn a_missing_or_wrong_credential_is_a_401_naming_the_header(
    #[case] header: &'static str,
    #[case] value: Option<&'static str>,
    #[case] rule: &str,
) {
    // --credentials fixtures: only the fixtures' API keys are taken.
    let strict =
        abdm_server::Config { credentials: abdm_server::Credentials::Fixtures, ..Default::default() };
    let sb = TestSandbox::start_with(strict).await;
    let sent = headers(Some((header, value)));
    generate_otp(&sb, CARESTACK_GENERATE_OTP, &sent).await.refused(401, header, rule);
    // Nothing was started: no transaction, no OTP sent.
    assert_eq!(sb.live_transactions().await, 0);
    assert_eq!(sb.outbox(None).await, Vec::<Value>::new());
}

#[tokio::test]
async fn open_credentials_take_a_clients_own_api_key_but_not_an_empty_one() {
    let sb = TestSandbox::start().await;
    let own = [
        ("Authorization", "Bearer acme-own-key-123"),
        ("x-hprid-auth", "test"),
        ("facilityid", "IN2910000001"),
    ];
    let reply = generate_otp(&sb, CARESTACK_GENERATE_OTP, &own).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let empty = [("Authorization", "Bearer "), ("x-hprid-auth", "test"), ("facilityid", "IN2910000001")];
    generate_otp(&sb, CARESTACK_GENERATE_OTP, &empty).await.refused(
        401,
        "Authorization",
        "carestack-api-key",
    );
}

#[tokio::test]
async fn with_no_headers_at_all_authorization_is_named_first() {
    let sb = TestSandbox::start().await;
    generate_otp(&sb, CARESTACK_GENERATE_OTP, &[]).await.refused(401, "Authorization", "carestack-api-key");
}

#[rstest]
#[case::generate_otp(HprStep::GenerateOtp)]
#[case::verify_otp(HprStep::VerifyOtp)]
#[case::check_account(HprStep::CheckAccount)]
#[case::demographic_auth(HprStep::DemographicAuth)]
#[case::generate_mobile_otp(HprStep::GenerateMobileOtp)]
#[case::verify_mobile_otp(HprStep::VerifyMobileOtp)]
#[case::suggestion(HprStep::Suggestion)]
#[case::create(HprStep::Create)]
#[tokio::test]
async fn every_carestack_route_checks_the_credentials_before_the_body(#[case] step: HprStep) {
    let sb = TestSandbox::start().await;
    // A malformed body: the credentials are refused first.
    let reply = sb
        .post_raw(step.path(Paths::Carestack), b"{not json".to_vec(), &[("content-type", "application/json")])
        .await;
    reply.refused(401, "Authorization", "carestack-api-key");
}

#[tokio::test]
async fn with_all_three_headers_the_call_proceeds() {
    let sb = TestSandbox::start().await;
    let reply = generate_otp(&sb, CARESTACK_GENERATE_OTP, &headers(None)).await;
    let body = reply.ok();
    let txn = reply.txn();
    assert!(uuid::Uuid::parse_str(&txn).is_ok(), "txnId {txn:?} is a UUID");
    assert_eq!(body["mobileNumber"], "XXXXXX0002");
    // The OTP went out for that transaction.
    assert_eq!(sb.otp(&txn).await.len(), 6);
}

#[tokio::test]
async fn the_header_names_are_case_insensitive() {
    let sb = TestSandbox::start().await;
    let names = ["authorization", "X-HPRID-AUTH", "FacilityId"];
    let sent: Vec<(&str, &str)> =
        names.into_iter().zip(CARESTACK_HEADERS).map(|(n, (_, v))| (n, v)).collect();
    generate_otp(&sb, CARESTACK_GENERATE_OTP, &sent).await.ok();
}

#[tokio::test]
async fn abdm_paths_take_the_gateway_session_not_carestack_headers() {
    let sb = TestSandbox::start().await;
    // Carestack's API key is not a gateway session token.
    let reply = generate_otp(&sb, ABDM_GENERATE_OTP, &headers(None)).await;
    reply.refused(401, "Authorization", "session-token");
    // With no Carestack header at all (the test client sends its gateway session) it proceeds.
    let reply = generate_otp(&sb, ABDM_GENERATE_OTP, &[]).await;
    assert_eq!(reply.ok()["mobileNumber"], "XXXXXX0002");
    let txn = reply.txn();
    // The next step on the ABDM path needs no Carestack header either.
    let otp = sb.otp(&txn).await;
    let body = verify_otp_body(&txn, &otp);
    sb.send(reqwest::Method::POST, HprStep::VerifyOtp.path(Paths::Abdm), Some(&body), &[]).await.ok();
}
