//! The runner judging a HIP (the reference HIP in v0.5 and v3, faultless and with each fault)
//! and a client's recorded traffic.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use abdm_conformance::run::{run, Mode, Outcome, RunReport};
use abdm_conformance::scenario::load_dir;
use abdm_server::{Config, Sandbox};
use rstest::rstest;
use serde_json::{json, Value};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");

/// The reference HIP as a child process talking to `gateway`; killed on drop.
struct ReferenceHip {
    child: Child,
    url: String,
}

impl ReferenceHip {
    fn start(gateway: &str, fault: Option<&str>) -> ReferenceHip {
        let fault = fault.map(|f| ["--fault", f]);
        ReferenceHip::start_with(gateway, fault.as_ref().map(|f| &f[..]).unwrap_or_default())
    }

    /// The reference HIP with more arguments (`--version v3`, `--link-otp`, faults).
    fn start_with(gateway: &str, args: &[&str]) -> ReferenceHip {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reference-hip"));
        cmd.args(["--gateway", gateway, "--addr", "127.0.0.1:0"]).args(args).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("reference-hip starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        ReferenceHip { child, url }
    }
}

impl Drop for ReferenceHip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn failed(report: &RunReport) -> Vec<String> {
    report
        .scenarios
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| s.outcome == Outcome::Fail)
        .map(|s| s.id.clone())
        .collect()
}

async fn judge_hip(fault: Option<&str>) -> RunReport {
    let scenarios: Vec<_> = load_dir(SCENARIOS.as_ref())
        .unwrap()
        .into_iter()
        .filter(|s| s.tags.contains(&"hip".to_string()))
        .collect();
    assert!(!scenarios.is_empty());
    let sandbox = Sandbox::start(Config { workers: 2, ..Default::default() }).await.unwrap();
    let hip = ReferenceHip::start(&sandbox.url(), fault);
    let mut target = abdm_conformance::embedded_target(&sandbox);
    target.mode = Mode::Hip;
    target.hip_url = Some(hip.url.clone());
    let report = run(&scenarios, &target).await.unwrap();
    drop(hip);
    sandbox.stop().await;
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_hip_passes_every_hip_step() {
    let report = judge_hip(None).await;
    assert_eq!(failed(&report), Vec::<String>::new());
    assert!(report.passed());
    // The steps only a real HIP can be judged on ran here.
    let steps: Vec<_> = report.scenarios.iter().flat_map(|s| &s.steps).collect();
    assert!(steps.iter().any(|s| s.id == "forged-refused" && s.outcome == Outcome::Pass));
    assert!(steps.iter().all(|s| s.outcome != Outcome::Skipped));
}

/// Each fault is caught at the step that checks it, and only the steps that follow from it fail.
#[rstest]
#[case::no_202("no202", &["share", "on-share", "auth-init", "rescan-share"])]
#[case::wrong_request_id("wrong-request-id", &["on-share"])]
#[case::wrong_health_id("wrong-health-id", &["on-share"])]
#[case::no_on_share("no-on-share", &["on-share", "auth-init"])]
#[case::late_on_share("late-on-share", &["share-outcome"])]
#[case::wrong_demographics("wrong-demographics", &["auth-confirm"])]
#[case::accepts_forged_jwt("accept-forged-jwt", &["forged-refused", "expired-refused"])]
#[case::failure_status("failure-status", &["on-share", "auth-init"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_of_the_reference_hip_fails_its_step(#[case] fault: &str, #[case] expected: &[&str]) {
    let report = judge_hip(Some(fault)).await;
    assert_eq!(failed(&report), expected, "{fault}");
    assert!(!report.passed());
    let first = report.scenarios.iter().flat_map(|s| &s.steps).find(|s| s.id == expected[0]).unwrap();
    assert!(first.reason.as_deref().is_some_and(|r| !r.is_empty()));
}

/// The OTP the reference HIP sends patients in these tests (and the runner is told).
const LINK_OTP: &str = "424242";

/// Runs the scenarios tagged `tag` against the reference HIP started with `args`; with
/// `link_otp`, the runner knows the OTP the HIP sends the patient.
async fn judge_hip_with(tag: &str, args: &[&str], link_otp: Option<&str>) -> RunReport {
    let scenarios: Vec<_> = load_dir(SCENARIOS.as_ref())
        .unwrap()
        .into_iter()
        .filter(|s| s.tags.contains(&tag.to_string()))
        .collect();
    assert!(!scenarios.is_empty());
    let sandbox = Sandbox::start(Config { workers: 2, ..Default::default() }).await.unwrap();
    let hip = ReferenceHip::start_with(&sandbox.url(), args);
    let mut target = abdm_conformance::embedded_target(&sandbox);
    target.mode = Mode::Hip;
    target.hip_url = Some(hip.url.clone());
    if let Some(otp) = link_otp {
        target.values["linkOtp"] = json!(otp);
    }
    let report = run(&scenarios, &target).await.unwrap();
    drop(hip);
    sandbox.stop().await;
    report
}

/// The reference HIP speaking v3, judged by the `hip-v3` scenarios, with the OTP it sends the
/// patient known to the runner: every step runs and passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_hip_in_v3_passes_every_hip_v3_step() {
    let report = judge_hip_with("hip-v3", &["--version", "v3", "--link-otp", LINK_OTP], Some(LINK_OTP)).await;
    assert_eq!(failed(&report), Vec::<String>::new());
    assert!(report.passed());
    let steps: Vec<_> = report.scenarios.iter().flat_map(|s| &s.steps).collect();
    assert!(steps.iter().all(|s| s.outcome != Outcome::Skipped), "nothing skipped");
    for id in ["forged-refused", "on-discover", "on-init", "on-confirm", "linked", "notify"] {
        assert!(steps.iter().any(|s| s.id == id && s.outcome == Outcome::Pass), "{id} ran and passed");
    }
    // Only the checklist's UI rows are manual when the OTP is known.
    let manual: Vec<&str> =
        steps.iter().filter(|s| s.outcome == Outcome::Manual).map(|s| s.id.as_str()).collect();
    assert_eq!(manual, ["search-hip", "pull-records"]);
}

/// Without the OTP the HIP sent the patient, the confirm steps (and what follows from them) are
/// manual with the reason, in either version; the run still passes.
#[rstest]
#[case::v05("hip", &[])]
#[case::v3("hip-v3", &["--version", "v3"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_link_otp_the_confirm_steps_are_manual(#[case] tag: &str, #[case] args: &[&str]) {
    let report = judge_hip_with(tag, args, None).await;
    assert_eq!(failed(&report), Vec::<String>::new());
    assert!(report.passed());
    // Step ids are unique in a file, not across files: look in the discovery scenario.
    let linking = report.scenarios.iter().find(|s| s.tags.contains(&"discovery".to_string())).unwrap();
    let step = |id: &str| linking.steps.iter().find(|s| s.id == id).unwrap();
    assert_eq!(step("on-init").outcome, Outcome::Pass);
    let confirm = step("confirm");
    assert_eq!(confirm.outcome, Outcome::Manual);
    assert!(confirm.reason.as_deref().unwrap().contains("--link-otp"), "{:?}", confirm.reason);
    for id in ["link-confirm", "on-confirm", "linked", "links"] {
        assert_eq!(step(id).outcome, Outcome::Manual, "{id}");
        assert!(step(id).reason.as_deref().unwrap().starts_with("follows "), "{id}");
    }
}

/// Each discovery and linking fault of the v3 reference HIP fails exactly the step that judges
/// it; what follows from it is skipped, not failed.
#[rstest]
#[case::discover_wrong_count("discover-wrong-count", &["on-discover"])]
#[case::discover_hitype_array("discover-hitype-array", &["on-discover"])]
#[case::discover_no_matched_by("discover-no-matched-by", &["on-discover"])]
#[case::link_wrong_transaction("link-wrong-transaction", &["on-init"])]
#[case::v3_resp_not_response("v3-resp-not-response", &["on-share", "on-discover"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_v3_fault_of_the_reference_hip_fails_its_steps(#[case] fault: &str, #[case] expected: &[&str]) {
    let args = ["--version", "v3", "--link-otp", LINK_OTP, "--fault", fault];
    let report = judge_hip_with("hip-v3", &args, Some(LINK_OTP)).await;
    assert_eq!(failed(&report), expected, "{fault}");
    assert!(!report.passed());
    for step in report.steps().filter(|s| s.outcome == Outcome::Fail) {
        assert!(step.reason.as_deref().is_some_and(|r| !r.is_empty()), "{}", step.id);
    }
}

/// The same faults in v0.5 where v0.5 has the field: a missing `patient.matchedBy`, another
/// transactionId in the link on-init.
#[rstest]
#[case::discover_no_matched_by("discover-no-matched-by", &["on-discover"], "matchedBy")]
#[case::link_wrong_transaction("link-wrong-transaction", &["on-init"], "transactionId")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v05_discovery_faults_fail_their_step(
    #[case] fault: &str,
    #[case] expected: &[&str],
    #[case] why: &str,
) {
    let report = judge_hip_with("hip", &["--link-otp", LINK_OTP, "--fault", fault], Some(LINK_OTP)).await;
    assert_eq!(failed(&report), expected, "{fault}");
    let step = report.steps().find(|s| s.id == expected[0] && s.outcome == Outcome::Fail).unwrap();
    assert!(step.reason.as_deref().unwrap().contains(why), "{:?}", step.reason);
}

/// The data flow scenarios (consents, HI requests, the encrypted push, the transfer notify) in
/// v0.5 or v3 against the reference HIP, misbehaving with `fault` when given.
async fn judge_data_flow(v3: bool, fault: Option<&str>) -> RunReport {
    let mut args = Vec::new();
    if v3 {
        args.extend(["--version", "v3"]);
    }
    if let Some(f) = fault {
        args.extend(["--fault", f]);
    }
    let tag = if v3 { "hip-v3-dataflow" } else { "hip-dataflow" };
    judge_hip_with(tag, &args, None).await
}

/// The reference HIP shares records on consent in either version: every data flow step runs and
/// passes; only the checklist's HMIS screens are manual.
#[rstest]
#[case::v05(false)]
#[case::v3(true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_hip_passes_every_data_flow_step(#[case] v3: bool) {
    let report = judge_data_flow(v3, None).await;
    assert_eq!(failed(&report), Vec::<String>::new());
    assert!(report.passed());
    let steps: Vec<_> = report.steps().collect();
    assert!(steps.iter().all(|s| s.outcome != Outcome::Skipped), "nothing skipped");
    let manual: Vec<&str> =
        steps.iter().filter(|s| s.outcome == Outcome::Manual).map(|s| s.id.as_str()).collect();
    assert_eq!(manual, ["revoke-seen", "expire-seen", "consent-seen"]);
    for id in [
        "on-notify",
        "outside-dates",
        "revoked-refused",
        "expired-refused",
        "on-request",
        "push",
        "decrypted",
        "checksums",
        "fhir",
        "within-consent",
        "record-readable",
        "transfer-complete",
        "fresh-keys",
    ] {
        assert!(steps.iter().any(|s| s.id == id && s.outcome == Outcome::Pass), "{id} ran and passed");
    }
}

/// Each data flow fault of the reference HIP fails exactly the step that judges it, in v3 and in
/// v0.5, with the sandbox's reason; the steps that follow from it are skipped, not failed.
#[rstest]
#[case::v3_unpadded_secret(true, "unpadded-secret", &["decrypted"], "not left-padded to 32 bytes")]
#[case::v3_x25519(true, "x25519", &["decrypted"], "not decrypted")]
#[case::v3_reused_key(true, "reused-key", &["fresh-keys"], "reuses the key or nonce")]
#[case::v3_bad_checksum(true, "bad-checksum", &["checksums"], "checksum is not the MD5")]
#[case::v3_outside_consent(true, "outside-consent", &["within-consent"], "OPD-1001-02")]
#[case::v3_no_notify(true, "no-notify", &["transfer-notify"], "health-information/notify")]
#[case::v05_unpadded_secret(false, "unpadded-secret", &["decrypted"], "not left-padded to 32 bytes")]
#[case::v05_reused_key(false, "reused-key", &["fresh-keys"], "reuses the key or nonce")]
#[case::v05_outside_consent(false, "outside-consent", &["within-consent"], "DS-1002-01")]
#[case::v05_no_notify(false, "no-notify", &["transfer-notify"], "health-information/notify")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_data_flow_fault_fails_its_step(
    #[case] v3: bool,
    #[case] fault: &str,
    #[case] expected: &[&str],
    #[case] why: &str,
) {
    let report = judge_data_flow(v3, Some(fault)).await;
    assert_eq!(failed(&report), expected, "{fault}");
    assert!(!report.passed());
    let step = report.steps().find(|s| s.id == expected[0]).unwrap();
    assert!(step.reason.as_deref().unwrap().contains(why), "{fault}: {:?}", step.reason);
    for s in report.steps().filter(|s| s.outcome == Outcome::Skipped) {
        assert!(s.reason.as_deref().unwrap().starts_with("depends on "), "{fault}: {} {:?}", s.id, s.reason);
    }
}

/// A client's traffic, judged after the fact: the documented HPR flow done right passes; the
/// same flow with a step left out fails at that step.
#[rstest]
#[case::complete(None, &[])]
#[case::skips_mobile_verification(Some("verify"), &["verify-mobile-otp", "suggestions"])]
#[case::weak_password(Some("password"), &["create"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_recorded_traffic_is_judged_step_by_step(
    #[case] mistake: Option<&str>,
    #[case] expected: &[&str],
) {
    let scenarios: Vec<_> =
        load_dir(SCENARIOS.as_ref()).unwrap().into_iter().filter(|s| s.id == "hpr-registration").collect();
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    hpr_client(&sandbox.url(), mistake).await;
    let mut target = abdm_conformance::embedded_target(&sandbox);
    target.mode = Mode::Client;
    let report = run(&scenarios, &target).await.unwrap();
    assert_eq!(failed(&report), expected);
    assert_eq!(report.passed(), expected.is_empty());
    sandbox.stop().await;
}

/// An HMIS doing HPR registration through the Carestack API: an existing professional, then a
/// new one whose mobile is verified by OTP.
async fn hpr_client(base: &str, mistake: Option<&str>) {
    let http = reqwest::Client::new();
    let call = |path: &str, body: Value| {
        http.post(format!("{base}/carestack{path}"))
            .header("Authorization", "Bearer sandbox-api-key")
            .header("x-hprid-auth", "hmis")
            .header("facilityid", "IN2910000001")
            .json(&body)
            .send()
    };
    let otp = |txn: String| {
        let http = http.clone();
        let base = base.to_string();
        async move {
            let list: Value = http
                .get(format!("{base}/_sandbox/outbox?txnId={txn}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list.as_array().unwrap().last().unwrap()["otp"].as_str().unwrap().to_string()
        }
    };
    let json_of = |r: reqwest::Response| async move { r.json::<Value>().await.unwrap() };
    // The existing professional.
    let txn = json_of(call("/aadhaar/generateOtp", json!({"aadhaar": "567890123458"})).await.unwrap()).await
        ["txnId"]
        .as_str()
        .unwrap()
        .to_string();
    let code = otp(txn.clone()).await;
    call("/aadhaar/verifyOtp", json!({"otp": code, "txnId": txn, "domainName": "@hpr.abdm", "idType": "hpr_id", "restrictions": null}))
        .await
        .unwrap();
    call("/check/account-exist", json!({"txnId": txn, "preverifiedCheck": true})).await.unwrap();
    // The new professional with another mobile.
    let txn = json_of(call("/aadhaar/generateOtp", json!({"aadhaar": "789012345674"})).await.unwrap()).await
        ["txnId"]
        .as_str()
        .unwrap()
        .to_string();
    let code = otp(txn.clone()).await;
    call("/aadhaar/verifyOtp", json!({"otp": code, "txnId": txn, "domainName": "@hpr.abdm", "idType": "hpr_id", "restrictions": null}))
        .await
        .unwrap();
    let check =
        json_of(call("/check/account-exist", json!({"txnId": txn, "preverifiedCheck": true})).await.unwrap())
            .await;
    call("/demographic-auth/mobile", json!({"txnId": txn, "mobileNumber": "9811122334"})).await.unwrap();
    call("/generate/mobileOtp", json!({"mobile": "9811122334", "txnId": txn})).await.unwrap();
    if mistake != Some("verify") {
        let code = otp(txn.clone()).await;
        call("/verify/mobileOtp", json!({"otp": code, "txnId": txn})).await.unwrap();
    }
    let list = json_of(call("/hpId/suggestion", json!({"txnId": txn})).await.unwrap()).await;
    let chosen = list.get(0).and_then(Value::as_str).unwrap_or("fatima.sheikh").to_string();
    let password = if mistake == Some("password") { "weak" } else { "Sandbox@2024" };
    call(
        "/hprId/create",
        json!({"txnId": txn, "hprId": chosen, "password": password, "firstName": "Fatima", "lastName": "Sheikh",
               "middleName": "", "email": "fatima.sheikh@example.com", "address": check["address"],
               "dayOfBirth": "17", "monthOfBirth": "01", "yearOfBirth": "1992", "pincode": "400050", "profilePhoto": "",
               "hpCategoryCode": "2", "hpSubCategoryCode": "5", "stateCode": "27", "districtCode": "518"}),
    )
    .await
    .unwrap();
}
