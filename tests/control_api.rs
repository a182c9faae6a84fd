//! The `/_sandbox` control API as a user sees it (health, fixtures, reset, outbox, journal,
//! virtual clock), and the error shape every family shares: unknown paths, unreadable bodies,
//! wrong field types, expired and unknown transactions, and memory returning after a burst of
//! abandoned flows.

mod common;

use abdm_server::Config;
use common::hpr::*;
use common::*;
use rstest::rstest;
use serde_json::{json, Value};

const GENERATE_OTP: &str = "/hpr/api/v1/registration/aadhaar/generateOtp";

/// The whole flow for SAME_MOBILE, ending with create. Returns the txnId and the create reply.
async fn register_same_mobile(sb: &TestSandbox, paths: Paths, hpr_id: &str) -> (String, Value) {
    let txn = sb.hpr_mobile_verified(paths, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    let created = sb.hpr(paths, HprStep::Create, create_body(&txn, hpr_id)).await;
    let created = created.ok().clone();
    (txn, created)
}

/// The fixture professional with this Aadhaar, as `GET /_sandbox/fixtures` shows it.
async fn fixture_professional(sb: &TestSandbox, aadhaar: &str) -> Value {
    let fixtures = sb.get("/_sandbox/fixtures").await;
    fixtures.ok()["professionals"]
        .as_array()
        .expect("professionals is an array")
        .iter()
        .find(|p| p["aadhaar"] == aadhaar)
        .unwrap_or_else(|| panic!("no professional {aadhaar} in the fixtures"))
        .clone()
}

/// The journal without the gateway sessions the test client opens for each ABDM call.
async fn journal(sb: &TestSandbox, query: &str) -> Vec<Value> {
    let all = sb.journal(query).await;
    all.into_iter().filter(|e| e["path"] != "/gateway/v0.5/sessions").collect()
}

fn assert_keys(item: &Value, keys: &[&str], what: &str) {
    let map = item.as_object().unwrap_or_else(|| panic!("{what} is not an object: {item}"));
    for key in keys {
        assert!(map.contains_key(*key), "{what} lacks {key:?}: {item}");
    }
}

// ---------------------------------------------------------------------------------------------
// health and fixtures

#[tokio::test]
async fn health_answers_ok() {
    let sb = TestSandbox::start().await;
    let health = sb.get("/_sandbox/health").await;
    let body = health.ok();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["liveTransactions"], 0);
    assert_eq!(body["journalEntries"], 0);
    assert!(body["now"].as_str().is_some_and(|n| n.ends_with('Z')), "{body}");
}

#[tokio::test]
async fn fixtures_have_the_designed_shape() {
    let sb = TestSandbox::start().await;
    let fixtures = sb.get("/_sandbox/fixtures").await;
    let f = fixtures.ok();

    let people = f["people"].as_array().expect("people is an array");
    assert!(people.len() >= 3, "at least 3 people: {f}");
    for p in people {
        assert_keys(
            p,
            &[
                "aadhaar",
                "mobile",
                "abhaNumber",
                "abhaAddresses",
                "name",
                "gender",
                "yearOfBirth",
                "monthOfBirth",
                "dayOfBirth",
                "otp",
            ],
            "person",
        );
        assert!(p["aadhaar"].as_str().is_some_and(|a| a.len() == 12), "{p}");
        assert!(p["abhaAddresses"].is_array(), "{p}");
        assert!(p["yearOfBirth"].is_u64(), "{p}");
        assert!(p["otp"].as_str().is_some_and(|o| o.len() == 6), "{p}");
    }

    let professionals = f["professionals"].as_array().expect("professionals is an array");
    assert!(professionals.len() >= 3, "at least 3 professionals: {f}");
    for p in professionals {
        assert_keys(p, &["aadhaar", "mobile", "hprIdNumber", "otp"], "professional");
        assert!(p["hprIdNumber"].is_null() || p["hprIdNumber"].is_string(), "{p}");
    }
    let by_aadhaar = |a: &str| {
        professionals.iter().find(|p| p["aadhaar"] == a).unwrap_or_else(|| panic!("no professional {a}"))
    };
    assert_eq!(by_aadhaar(EXISTING)["hprIdNumber"], "71-1234-5678-9012");
    assert_eq!(by_aadhaar(SAME_MOBILE)["hprIdNumber"], Value::Null);
    assert_eq!(by_aadhaar(OTHER_MOBILE)["hprIdNumber"], Value::Null);
    assert_eq!(by_aadhaar(OTHER_MOBILE)["mobile"], OTHER_MOBILE_NUMBER);

    let facilities = f["facilities"].as_array().expect("facilities is an array");
    assert!(facilities.len() >= 2, "at least 2 facilities: {f}");
    for fac in facilities {
        assert_keys(fac, &["hipId", "name", "counters", "clientId", "clientSecret"], "facility");
        assert!(fac["counters"].is_array(), "{fac}");
    }
}

#[rstest]
#[case::abdm(Paths::Abdm)]
#[case::carestack(Paths::Carestack)]
#[tokio::test]
async fn fixtures_show_a_created_account_until_reset(#[case] paths: Paths) {
    let sb = TestSandbox::start().await;
    assert_eq!(fixture_professional(&sb, SAME_MOBILE).await["hprIdNumber"], Value::Null);

    let (_, created) = register_same_mobile(&sb, paths, "arjun.mehta").await;
    let number = created["hprIdNumber"].as_str().expect("create answers the new hprIdNumber").to_string();
    assert_eq!(fixture_professional(&sb, SAME_MOBILE).await["hprIdNumber"], number.as_str());
    // The other professionals are untouched.
    assert_eq!(fixture_professional(&sb, OTHER_MOBILE).await["hprIdNumber"], Value::Null);
    assert!(!journal(&sb, "").await.is_empty());
    assert!(!sb.outbox(None).await.is_empty());
    sb.advance(120).await;

    let reset = sb.post("/_sandbox/reset", json!({})).await;
    reset.ok();
    assert_eq!(fixture_professional(&sb, SAME_MOBILE).await["hprIdNumber"], Value::Null);
    // Fixture accounts survive a reset.
    assert_eq!(fixture_professional(&sb, EXISTING).await["hprIdNumber"], "71-1234-5678-9012");
    assert_eq!(journal(&sb, "").await, Vec::<Value>::new());
    assert_eq!(sb.outbox(None).await, Vec::<Value>::new());
    assert_eq!(sb.live_transactions().await, 0);
    let clock = sb.get("/_sandbox/clock").await;
    assert_eq!(clock.ok()["offsetSeconds"].as_f64(), Some(0.0));

    // The username is free again: the same professional can register anew.
    let (_, again) = register_same_mobile(&sb, paths, "arjun.mehta").await;
    assert!(again["hprIdNumber"].is_string(), "{again}");
}

// ---------------------------------------------------------------------------------------------
// outbox

#[tokio::test]
async fn outbox_lists_sent_otps_oldest_first_with_masked_destinations() {
    let sb = TestSandbox::start().await;
    let first = sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    let second = sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": OTHER_MOBILE})).await.txn();
    let same = fixture_professional(&sb, SAME_MOBILE).await;
    let other = fixture_professional(&sb, OTHER_MOBILE).await;

    let all = sb.outbox(None).await;
    assert_eq!(all.len(), 2, "{all:?}");
    for m in &all {
        assert_keys(m, &["txnId", "otp", "to", "at"], "outbox message");
        assert!(m["at"].as_str().is_some_and(|a| a.ends_with('Z')), "{m}");
    }
    assert_eq!(all[0]["txnId"], first.as_str());
    assert_eq!(all[1]["txnId"], second.as_str());
    assert_eq!(all[0]["otp"], same["otp"]);
    assert_eq!(all[1]["otp"], other["otp"]);
    // The Aadhaar OTP goes to the Aadhaar-linked mobiles (9700000002 and 9700000003); only
    // their last 4 digits show.
    assert_eq!(all[0]["to"], "XXXXXX0002");
    assert_eq!(all[1]["to"], "XXXXXX0003");

    let only_second = sb.outbox(Some(&second)).await;
    assert_eq!(only_second.len(), 1, "{only_second:?}");
    assert_eq!(only_second[0]["txnId"], second.as_str());
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(sb.outbox(Some(&unknown.to_string())).await.len(), 0);
}

#[tokio::test]
async fn outbox_refuses_a_txn_id_that_is_not_a_uuid() {
    let sb = TestSandbox::start().await;
    sb.get("/_sandbox/outbox?txnId=not-a-uuid").await.refused(400, "txnId", "uuid");
}

// ---------------------------------------------------------------------------------------------
// journal

#[tokio::test]
async fn journal_records_each_request_with_secrets_masked() {
    let sb = TestSandbox::start().await;
    let (txn, _) = register_same_mobile(&sb, Paths::Abdm, "arjun.mehta").await;
    let otp = fixture_professional(&sb, SAME_MOBILE).await["otp"].as_str().expect("otp").to_string();

    let entries = journal(&sb, "").await;
    let expected_paths: Vec<&str> = [
        HprStep::GenerateOtp,
        HprStep::VerifyOtp,
        HprStep::CheckAccount,
        HprStep::DemographicAuth,
        HprStep::Create,
    ]
    .iter()
    .map(|s| s.path(Paths::Abdm))
    .collect();
    let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().unwrap_or("")).collect();
    assert_eq!(paths, expected_paths);

    let mut last_seq = 0;
    for e in &entries {
        assert_keys(
            e,
            &[
                "seq",
                "at",
                "direction",
                "method",
                "path",
                "status",
                "requestBody",
                "responseBody",
                "correlationId",
            ],
            "journal entry",
        );
        let seq = e["seq"].as_u64().expect("seq is a number");
        assert!(seq > last_seq, "seqs increase: {entries:?}");
        last_seq = seq;
        assert!(e["at"].as_str().is_some_and(|a| a.ends_with('Z')), "{e}");
        assert_eq!(e["direction"], "inbound");
        assert_eq!(e["method"], "POST");
        assert_eq!(e["status"], 200, "{e}");
        assert_eq!(e["correlationId"], txn.as_str(), "{e}");
        assert!(e["requestBody"].is_object(), "{e}");
        assert!(e["responseBody"].is_object(), "{e}");
    }

    // Secrets are masked where they sit...
    // Only the last 4 digits of 678901234560 show.
    assert_eq!(entries[0]["requestBody"]["aadhaar"], "XXXXXXXX4560");
    assert_eq!(entries[0]["responseBody"]["txnId"], txn.as_str());
    assert_eq!(entries[1]["requestBody"]["otp"], "******");
    assert_eq!(entries[1]["requestBody"]["txnId"], txn.as_str());
    assert_eq!(entries[4]["requestBody"]["password"], "******");
    assert_eq!(entries[4]["requestBody"]["hprId"], "arjun.mehta");
    // ...and the raw values appear nowhere in the journal.
    let text = serde_json::to_string(&entries).expect("journal serialises");
    for raw in [SAME_MOBILE, otp.as_str(), PASSWORD] {
        assert!(!text.contains(raw), "{raw:?} appears in the journal: {text}");
    }
}

/// A create request with a photo of realistic size (base64 of some 100 KB) still has its
/// password masked in the journal.
#[tokio::test]
async fn journal_masks_the_password_of_a_create_with_a_large_photo() {
    let sb = TestSandbox::start().await;
    let txn = sb.hpr_mobile_verified(Paths::Abdm, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    let mut body = create_body(&txn, "arjun.mehta");
    body["profilePhoto"] = json!("A".repeat(100_000));
    sb.hpr(Paths::Abdm, HprStep::Create, body).await.ok();

    let entries = journal(&sb, "").await;
    let create = entries
        .iter()
        .find(|e| e["path"] == HprStep::Create.path(Paths::Abdm))
        .expect("the create request is journalled");
    assert_eq!(create["status"], 200);
    let recorded = create["requestBody"].to_string();
    assert!(
        !recorded.contains(PASSWORD),
        "the password appears in the journalled create request: {}…",
        recorded.chars().take(300).collect::<String>()
    );
    let text = serde_json::to_string(&entries).expect("journal serialises");
    assert!(!text.contains(PASSWORD), "the password appears in the journal");
}

/// Requests the server refuses are journalled too, and their secrets must not be kept raw
/// either: not when the body is not JSON, nor when a secret is sent as a number.
#[rstest]
#[case::aadhaar_in_malformed_json(
    GENERATE_OTP,
    format!("{{\"aadhaar\": \"{SAME_MOBILE}\""),
    SAME_MOBILE
)]
#[case::aadhaar_as_number(GENERATE_OTP, format!("{{\"aadhaar\": {SAME_MOBILE}}}"), SAME_MOBILE)]
#[case::otp_as_number(
    "/hpr/api/v1/registration/aadhaar/verifyOTP",
    format!("{{\"otp\": 222222, \"txnId\": \"{}\"}}", uuid::Uuid::new_v4()),
    "222222"
)]
#[case::password_in_malformed_json(
    "/hpr/api/v1/registration/aadhaar/createHprIdWithPreVerified",
    format!("{{\"hprId\": \"arjun.mehta\", \"password\": \"{PASSWORD}\",}}"),
    PASSWORD
)]
#[tokio::test]
async fn journal_keeps_no_raw_secret_of_a_refused_request(
    #[case] path: &str,
    #[case] body: String,
    #[case] secret: &str,
) {
    let sb = TestSandbox::start().await;
    let reply = sb.post_raw(path, body.into_bytes(), &[("content-type", "application/json")]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let entries = journal(&sb, "").await;
    assert_eq!(entries.len(), 1, "the refused request is journalled: {entries:?}");
    let text = serde_json::to_string(&entries).expect("journal serialises");
    assert!(!text.contains(secret), "{secret:?} appears in the journal: {text}");
}

#[tokio::test]
async fn journal_since_returns_only_later_entries() {
    let sb = TestSandbox::start().await;
    register_same_mobile(&sb, Paths::Abdm, "arjun.mehta").await;
    let all = journal(&sb, "").await;
    assert_eq!(all.len(), 5, "{all:?}");
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();

    let later = journal(&sb, &format!("?since={}", seqs[2])).await;
    let later_seqs: Vec<u64> = later.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(later_seqs, seqs[3..].to_vec());
    assert_eq!(journal(&sb, "?since=0").await.len(), 5);
    assert_eq!(journal(&sb, &format!("?since={}", seqs[4])).await.len(), 0);
}

#[rstest]
#[case::letters("abc")]
#[case::negative("-1")]
#[case::fraction("1.5")]
#[tokio::test]
async fn journal_refuses_a_since_that_is_not_a_sequence_number(#[case] since: &str) {
    let sb = TestSandbox::start().await;
    sb.get(&format!("/_sandbox/journal?since={since}")).await.refused(400, "since", "type");
}

#[tokio::test]
async fn control_api_calls_are_not_journalled() {
    let sb = TestSandbox::start().await;
    sb.get("/_sandbox/health").await.ok();
    sb.get("/_sandbox/fixtures").await.ok();
    sb.get("/_sandbox/outbox").await.ok();
    sb.get("/_sandbox/clock").await.ok();
    sb.post("/_sandbox/clock/advance", json!({"seconds": 1})).await.ok();
    sb.get("/_sandbox/journal").await.ok();
    sb.get("/_sandbox/journal?since=abc").await;
    assert_eq!(journal(&sb, "").await, Vec::<Value>::new());

    // The ABDM call (with the gateway session it needs) is journalled; the control calls are not.
    sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.ok();
    sb.get("/_sandbox/outbox").await.ok();
    let entries = sb.journal("").await;
    let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/gateway/v0.5/sessions", GENERATE_OTP], "{entries:?}");
    let health = sb.get("/_sandbox/health").await;
    assert_eq!(health.ok()["journalEntries"], 2);
}

#[tokio::test]
async fn journal_is_a_bounded_ring() {
    let sb = TestSandbox::start_with(Config { journal_capacity: 3, ..Default::default() }).await;
    for i in 1..=5 {
        sb.get(&format!("/no-such-api/{i}")).await;
    }
    let entries = journal(&sb, "").await;
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let paths: Vec<&str> = entries.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    assert_eq!(paths, vec!["/no-such-api/3", "/no-such-api/4", "/no-such-api/5"]);
    let health = sb.get("/_sandbox/health").await;
    assert_eq!(health.ok()["journalEntries"], 3);
}

// ---------------------------------------------------------------------------------------------
// virtual clock

#[tokio::test]
async fn clock_advance_moves_the_offset() {
    let sb = TestSandbox::start().await;
    let before = sb.get("/_sandbox/clock").await;
    assert_eq!(before.ok()["offsetSeconds"].as_f64(), Some(0.0));
    let advanced = sb.post("/_sandbox/clock/advance", json!({"seconds": 61})).await;
    assert_eq!(advanced.ok()["offsetSeconds"].as_f64(), Some(61.0));
    let after = sb.get("/_sandbox/clock").await;
    let after = after.ok();
    assert_eq!(after["offsetSeconds"].as_f64(), Some(61.0));
    assert!(after["now"].as_str().is_some_and(|n| n.ends_with('Z')), "{after}");
}

#[rstest]
#[case::negative(json!({"seconds": -1}), "range")]
#[case::string(json!({"seconds": "61"}), "type")]
#[case::missing(json!({}), "required")]
#[case::null(json!({"seconds": null}), "required")]
#[tokio::test]
async fn clock_advance_refuses_a_bad_seconds(#[case] body: Value, #[case] rule: &str) {
    let sb = TestSandbox::start().await;
    sb.post("/_sandbox/clock/advance", body).await.refused(400, "seconds", rule);
    let clock = sb.get("/_sandbox/clock").await;
    assert_eq!(clock.ok()["offsetSeconds"].as_f64(), Some(0.0));
}

// ---------------------------------------------------------------------------------------------
// errors in general

#[rstest]
#[case::get(reqwest::Method::GET, "/no-such-api")]
#[case::post(reqwest::Method::POST, "/hpr/api/v9/registration/aadhaar/generateOtp")]
#[case::root(reqwest::Method::GET, "/")]
#[tokio::test]
async fn unknown_path_is_a_json_404_naming_path(#[case] method: reqwest::Method, #[case] path: &str) {
    let sb = TestSandbox::start().await;
    let body = json!({});
    let reply = sb.send(method, path, Some(&body), &[]).await;
    reply.refused(404, "path", "no-route");
}

#[rstest]
#[case::malformed(b"{\"aadhaar\": ".to_vec())]
#[case::not_json(b"aadhaar=678901234560".to_vec())]
#[case::array(b"[{\"aadhaar\": \"678901234560\"}]".to_vec())]
#[case::string(b"\"678901234560\"".to_vec())]
#[case::null(b"null".to_vec())]
#[case::empty(Vec::new())]
#[case::blank(b"  \n".to_vec())]
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_a_400_naming_body(#[case] body: Vec<u8>) {
    let sb = TestSandbox::start().await;
    sb.post_raw(GENERATE_OTP, body, &[("content-type", "application/json")])
        .await
        .refused(400, "body", "json");
}

#[rstest]
#[case::hpr(GENERATE_OTP)]
#[case::carestack_unauthenticated("/carestack/aadhaar/generateOtp")]
#[case::control("/_sandbox/clock/advance")]
#[tokio::test]
async fn a_two_mebibyte_body_is_a_413_naming_body(#[case] path: &str) {
    let sb = TestSandbox::start().await;
    let padding = "a".repeat(2 * 1024 * 1024);
    let body = format!("{{\"aadhaar\": \"{SAME_MOBILE}\", \"padding\": \"{padding}\"}}");
    sb.post_raw(path, body.into_bytes(), &[("content-type", "application/json")]).await.refused(
        413,
        "body",
        "body-size",
    );
    // The server keeps serving afterwards.
    sb.get("/_sandbox/health").await.ok();
}

#[rstest]
#[case::number(json!({"aadhaar": 123}))]
#[case::big_number(json!({"aadhaar": 678901234560u64}))]
#[case::boolean(json!({"aadhaar": true}))]
#[case::array(json!({"aadhaar": [SAME_MOBILE]}))]
#[case::object(json!({"aadhaar": {"value": SAME_MOBILE}}))]
#[tokio::test]
async fn a_field_of_the_wrong_type_is_a_400_naming_it(#[case] body: Value) {
    let sb = TestSandbox::start().await;
    sb.post(GENERATE_OTP, body).await.refused(400, "aadhaar", "type");
}

// ---------------------------------------------------------------------------------------------
// transaction lifetime

#[tokio::test]
async fn a_transaction_expires_30_minutes_after_its_last_step() {
    let sb = TestSandbox::start().await;
    let txn = sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    let otp = sb.otp(&txn).await;
    sb.advance(31 * 60).await;
    sb.hpr(Paths::Abdm, HprStep::VerifyOtp, verify_otp_body(&txn, &otp)).await.refused(
        422,
        "txnId",
        "txn-expired",
    );
}

#[tokio::test]
async fn each_successful_step_renews_the_transaction() {
    let sb = TestSandbox::start().await;
    let txn = sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    let otp = sb.otp(&txn).await;
    // Within the OTP's 10 minutes: the verification succeeds and renews the lifetime.
    sb.advance(9 * 60).await;
    sb.hpr(Paths::Abdm, HprStep::VerifyOtp, verify_otp_body(&txn, &otp)).await.ok();
    // 34 minutes after generateOtp, 25 after the last step: still alive.
    sb.advance(25 * 60).await;
    sb.hpr(Paths::Abdm, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await.ok();
    // 31 minutes after that step: expired.
    sb.advance(31 * 60).await;
    sb.hpr(Paths::Abdm, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": SAME_MOBILE_NUMBER}))
        .await
        .refused(422, "txnId", "txn-expired");
}

#[tokio::test]
async fn an_unknown_transaction_is_refused_as_unknown() {
    let sb = TestSandbox::start().await;
    let txn = uuid::Uuid::new_v4().to_string();
    sb.hpr(Paths::Abdm, HprStep::VerifyOtp, verify_otp_body(&txn, "222222")).await.refused(
        422,
        "txnId",
        "txn-unknown",
    );
}

#[tokio::test]
async fn abandoned_transactions_are_swept_and_memory_returns() {
    let sb = TestSandbox::start().await;
    for _ in 0..50 {
        sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.ok();
    }
    let live = sb.live_transactions().await;
    assert!(live >= 50, "liveTransactions {live} after 50 generateOtp");
    // Lifetime (30 min) plus the sweep grace (10 min) has passed; the advance call sweeps.
    sb.advance(41 * 60).await;
    assert_eq!(sb.live_transactions().await, 0);
}

#[tokio::test]
async fn an_expired_transaction_is_named_expired_until_swept_then_unknown() {
    let sb = TestSandbox::start().await;
    let txn = sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": SAME_MOBILE})).await.txn();
    let otp = sb.otp(&txn).await;
    sb.advance(39 * 60).await;
    sb.hpr(Paths::Abdm, HprStep::VerifyOtp, verify_otp_body(&txn, &otp)).await.refused(
        422,
        "txnId",
        "txn-expired",
    );
    sb.advance(2 * 60).await;
    sb.hpr(Paths::Abdm, HprStep::VerifyOtp, verify_otp_body(&txn, &otp)).await.refused(
        422,
        "txnId",
        "txn-unknown",
    );
}
