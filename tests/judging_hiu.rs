//! The runner judging a HIU (`check --hiu`): the reference HIU, started by its own harness
//! (`reference-hiu ask`, the start command), passes every HIU step in v0.5 and v3; each of its
//! faults fails exactly the steps that judge it, with the sandbox's reason; without the path of
//! its push URL the corrupt-entry steps are checked by hand.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use abdm_conformance::run::{run_with, Harness, Mode, Outcome, RunReport};
use abdm_conformance::scenario::load_dir;
use abdm_server::{Config, Sandbox};
use rstest::rstest;
use serde_json::{json, Value};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
const REFERENCE_HIU: &str = env!("CARGO_BIN_EXE_reference-hiu");

/// The reference HIU as a child process talking to `gateway`; killed on drop.
struct ReferenceHiu {
    child: Child,
    url: String,
}

impl ReferenceHiu {
    fn start(gateway: &str, args: &[&str]) -> ReferenceHiu {
        let mut cmd = Command::new(REFERENCE_HIU);
        cmd.args(["--gateway", gateway, "--addr", "127.0.0.1:0"]).args(args).stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("reference-hiu starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        ReferenceHiu { child, url }
    }
}

impl Drop for ReferenceHiu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every failed step with its reason, for assertion messages.
fn reasons(report: &RunReport) -> Vec<String> {
    report
        .steps()
        .filter(|s| s.outcome == Outcome::Fail)
        .map(|s| format!("{}: {}", s.id, s.reason.as_deref().unwrap_or_default()))
        .collect()
}

/// `(scenario, step)` of every step that failed.
fn failed(report: &RunReport) -> Vec<(String, String)> {
    report
        .scenarios
        .iter()
        .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
        .filter(|(_, st)| st.outcome == Outcome::Fail)
        .map(|(s, st)| (s.id.clone(), st.id.clone()))
        .collect()
}

/// Runs the HIU scenarios of a version (`hiu` or `hiu-v3`) against the reference HIU started
/// with `args`, as `check --hiu URL --hiu-start "reference-hiu ask" [--hiu-push-path]` does.
async fn judge(v3: bool, args: &[&str], push_path: Option<&str>) -> RunReport {
    let tag = if v3 { "hiu-v3" } else { "hiu" };
    let scenarios: Vec<_> = load_dir(SCENARIOS.as_ref())
        .unwrap()
        .into_iter()
        .filter(|s| s.tags.iter().any(|t| t == tag))
        .collect();
    assert_eq!(scenarios.len(), 3, "data flow, corrupt entry, revoke and expiry");
    let sandbox = Sandbox::start(Config { workers: 2, ..Default::default() }).await.unwrap();
    let mut all_args = args.to_vec();
    if v3 {
        all_args.extend(["--version", "v3"]);
    }
    let hiu = ReferenceHiu::start(&sandbox.url(), &all_args);
    let mut target = abdm_conformance::embedded_target(&sandbox);
    target.mode = Mode::Hiu;
    target.hip_url = Some(hiu.url.clone());
    if let Some(path) = push_path {
        target.values["hiuPushPath"] = json!(path);
    }
    let harness = Harness { command: format!("'{REFERENCE_HIU}' ask"), timeout: Duration::from_secs(60) };
    let report = run_with(&scenarios, &target, Some(&harness)).await.unwrap();
    drop(hiu);
    sandbox.stop().await;
    report
}

/// The reference HIU asks, acknowledges, fetches, requests, decrypts and notifies as the
/// scenarios want, in either version (its keys raw by default, X.509 when asked): every step
/// that judges a HIU runs and passes; what it does not (the runner's own decryption, the
/// refusals it would provoke) does not apply, and the HIU's screens are manual.
#[rstest]
#[case::v05(false, &[])]
#[case::v3(true, &[])]
#[case::v05_x509(false, &["--key-format", "x509"])]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_hiu_passes_every_hiu_step(#[case] v3: bool, #[case] args: &[&str]) {
    let report = judge(v3, args, Some("/data-push")).await;
    assert_eq!(failed(&report), Vec::<(String, String)>::new(), "{:#?}", reasons(&report));
    assert!(report.passed());
    for s in report.steps().filter(|s| s.outcome == Outcome::Skipped) {
        assert!(s.reason.as_deref().unwrap().starts_with("not in this mode"), "{} {:?}", s.id, s.reason);
    }
    let ran = |id: &str| report.steps().any(|s| s.id == id && s.outcome == Outcome::Pass);
    for id in [
        "start",
        "init",
        "on-notify",
        "fetch-1",
        "fetch-2",
        "hi-request-1",
        "push-1-taken",
        "transfer-notify-2",
        "transfer-1-matches",
        "transfer-2-matches",
        "diagnostic-report",
        "immunization-record",
        "corrupted",
        "errored-reported",
        "revoke-on-notify",
        "expire-on-notify",
    ] {
        assert!(ran(id), "{id} ran and passed");
    }
    let manual: Vec<&str> =
        report.steps().filter(|s| s.outcome == Outcome::Manual).map(|s| s.id.as_str()).collect();
    assert_eq!(manual, ["revoke-seen", "expire-seen", "list-seen", "rendered"]);
}

/// The HIU kept what it received: every entry of both transfers decrypted and checked, in the
/// key format it was asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_hiu_keeps_what_it_decrypted() {
    let sandbox = Sandbox::start(Config { workers: 2, ..Default::default() }).await.unwrap();
    let hiu = ReferenceHiu::start(&sandbox.url(), &[]);
    let scenarios: Vec<_> =
        load_dir(SCENARIOS.as_ref()).unwrap().into_iter().filter(|s| s.id == "hiu-data-flow").collect();
    let mut target = abdm_conformance::embedded_target(&sandbox);
    target.mode = Mode::Hiu;
    target.hip_url = Some(hiu.url.clone());
    let harness = Harness {
        command: format!("'{REFERENCE_HIU}' ask --key-format x509"),
        timeout: Duration::from_secs(60),
    };
    let report = run_with(&scenarios, &target, Some(&harness)).await.unwrap();
    assert!(report.passed(), "{:?}", failed(&report));
    // The HIU marks a transfer NOTIFIED once the gateway has answered its notify.
    let mut status = Value::Null;
    for _ in 0..50 {
        status = reqwest::get(format!("{}/desk/status", hiu.url)).await.unwrap().json().await.unwrap();
        if status["transfers"].as_array().unwrap().iter().all(|t| t["status"] == "NOTIFIED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let transfers = status["transfers"].as_array().unwrap();
    assert_eq!(transfers.len(), 2);
    let entries: Vec<&Value> = transfers.iter().flat_map(|t| t["entries"].as_array().unwrap()).collect();
    assert_eq!(entries.len(), 5, "three records at the hospital, two at the clinic");
    for e in entries {
        assert_eq!(
            (&e["decrypted"], &e["checksumMatches"], &e["compositionFirst"]),
            (&json!(true), &json!(true), &json!(true))
        );
        assert_eq!(e["bundle"]["resourceType"], "Bundle");
    }
    assert!(transfers.iter().all(|t| t["keyFormat"] == "x509" && t["status"] == "NOTIFIED"));
    drop(hiu);
    sandbox.stop().await;
}

/// Each fault of the reference HIU fails exactly the steps that judge it, in v0.5 and v3, with
/// the reason; the steps that follow from those are skipped, not failed.
#[rstest]
#[case::v05_inverted_status(false, "inverted-status",
    &[("hiu-corrupt-entry", "errored-reported"), ("hiu-data-flow", "transfer-1-matches"), ("hiu-data-flow", "transfer-2-matches")],
    "is reported ERRORED, expected OK")]
#[case::v05_no_on_notify(false, "no-on-notify",
    &[("hiu-consent-end", "on-notify"), ("hiu-consent-end", "revoke-on-notify"), ("hiu-consent-end", "expire-on-notify"),
      ("hiu-corrupt-entry", "on-notify"), ("hiu-data-flow", "on-notify")],
    "consents/hiu/on-notify was observed")]
#[case::v05_own_date_range(false, "own-date-range",
    &[("hiu-corrupt-entry", "hi-request"), ("hiu-data-flow", "hi-request-1"), ("hiu-data-flow", "hi-request-2")],
    "must lie within the consent's")]
#[case::v05_notify_before_decrypt(false, "notify-before-decrypt",
    &[("hiu-corrupt-entry", "errored-reported"), ("hiu-data-flow", "transfer-1-matches"), ("hiu-data-flow", "transfer-2-matches")],
    "still unanswered")]
#[case::v3_inverted_status(true, "inverted-status",
    &[("hiu-corrupt-entry-v3", "errored-reported"), ("hiu-data-flow-v3", "transfer-1-matches"), ("hiu-data-flow-v3", "transfer-2-matches")],
    "is reported ERRORED, expected OK")]
#[case::v3_no_on_notify(true, "no-on-notify",
    &[("hiu-consent-end-v3", "on-notify"), ("hiu-consent-end-v3", "revoke-on-notify"), ("hiu-consent-end-v3", "expire-on-notify"),
      ("hiu-corrupt-entry-v3", "on-notify"), ("hiu-data-flow-v3", "on-notify")],
    "request/hiu/on-notify was observed")]
#[case::v3_own_date_range(true, "own-date-range",
    &[("hiu-corrupt-entry-v3", "hi-request"), ("hiu-data-flow-v3", "hi-request-1"), ("hiu-data-flow-v3", "hi-request-2")],
    "must lie within the consent's")]
#[case::v3_notify_before_decrypt(true, "notify-before-decrypt",
    &[("hiu-corrupt-entry-v3", "errored-reported"), ("hiu-data-flow-v3", "transfer-1-matches"), ("hiu-data-flow-v3", "transfer-2-matches")],
    "still unanswered")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fault_of_the_reference_hiu_fails_its_steps(
    #[case] v3: bool,
    #[case] fault: &str,
    #[case] expected: &[(&str, &str)],
    #[case] why: &str,
) {
    let report = judge(v3, &["--fault", fault], Some("/data-push")).await;
    let expected: Vec<(String, String)> =
        expected.iter().map(|(s, t)| (s.to_string(), t.to_string())).collect();
    assert_eq!(failed(&report), expected, "{fault}: {:#?}", reasons(&report));
    assert!(!report.passed());
    for step in report.steps().filter(|s| s.outcome == Outcome::Fail) {
        assert!(step.reason.as_deref().unwrap().contains(why), "{fault}: {} {:?}", step.id, step.reason);
    }
    for s in report.steps().filter(|s| s.outcome == Outcome::Skipped) {
        let reason = s.reason.as_deref().unwrap();
        assert!(
            reason.starts_with("depends on ") || reason.starts_with("not in this mode"),
            "{fault}: {} {reason}",
            s.id
        );
    }
}

/// Without the path of the HIU's push URL the runner cannot aim the corrupt-entry fault: that
/// scenario's steps are manual, with the reason, and the run still passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_push_path_the_corrupt_entry_is_checked_by_hand() {
    let report = judge(false, &[], None).await;
    assert_eq!(failed(&report), Vec::<(String, String)>::new());
    assert!(report.passed());
    let corrupt = report.scenarios.iter().find(|s| s.id == "hiu-corrupt-entry").unwrap();
    let fault = corrupt.steps.iter().find(|s| s.id == "corrupt-fault").unwrap();
    assert_eq!(fault.outcome, Outcome::Manual);
    assert!(fault.reason.as_deref().unwrap().contains("--hiu-push-path"), "{:?}", fault.reason);
    for s in corrupt.steps.iter().filter(|s| !["session", "bridge", "corrupt-fault"].contains(&s.id.as_str()))
    {
        assert_ne!(s.outcome, Outcome::Pass, "{} is not judged without the fault", s.id);
        assert_ne!(s.outcome, Outcome::Fail, "{}", s.id);
    }
}

/// A HIU's start step without a start command fails, saying what is missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_step_needs_the_start_command() {
    let sandbox = Sandbox::start(Config { workers: 2, ..Default::default() }).await.unwrap();
    let scenarios: Vec<_> =
        load_dir(SCENARIOS.as_ref()).unwrap().into_iter().filter(|s| s.id == "hiu-consent-end").collect();
    let mut target = abdm_conformance::embedded_target(&sandbox);
    target.mode = Mode::Hiu;
    target.hip_url = Some("http://127.0.0.1:9".into());
    let harness = Harness { command: "exit 3".into(), timeout: Duration::from_secs(5) };
    for (harness, why) in [(None, "--hiu-start"), (Some(&harness), "exited with exit status: 3")] {
        let scenarios = vec![scenarios[0].clone()];
        let mut short = scenarios;
        short[0].steps.truncate(3);
        let report = run_with(&short, &target, harness).await.unwrap();
        let start = report.steps().find(|s| s.id == "start").unwrap();
        assert_eq!(start.outcome, Outcome::Fail);
        assert_eq!(start.failures[0].kind.name(), "start");
        assert!(start.reason.as_deref().unwrap().contains(why), "{:?}", start.reason);
    }
    sandbox.stop().await;
}

/// `--hiu` needs `--hiu-start`; `--hiu-version`, `--hiu-push-path` and `--hiu-start` need `--hiu`.
#[test]
fn the_hiu_flags_go_together() {
    let check = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_abdm-sandbox")).arg("check").args(args).output().unwrap()
    };
    let out = check(&["--hiu", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hiu-start"));
    for args in [&["--hiu-version", "v3"][..], &["--hiu-push-path", "/push"], &["--hiu-start", "true"]] {
        let out = check(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--hiu"), "{args:?}");
    }
    let out = check(&["--hiu", "http://127.0.0.1:9", "--hiu-start", "true", "--hip", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(2));
}
