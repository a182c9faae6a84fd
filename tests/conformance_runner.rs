//! The conformance runner: every shipped scenario passes against the embedded fake; each kind of
//! check is shown able to fail against a deliberately wrong peer, with exactly the expected steps
//! failing and a useful reason; reports parse back; the CLI's exit codes.

use std::process::Command;

use abdm_conformance::report;
use abdm_conformance::run::{run_against_gateway, Outcome, RunReport, Target};
use abdm_conformance::scenario::{load_dir, parse_text};
use abdm_server::{Config, Sandbox};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

const SCENARIOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");

fn outcomes(report: &RunReport) -> Vec<(String, Outcome)> {
    report.scenarios.iter().flat_map(|s| s.steps.iter().map(|st| (st.id.clone(), st.outcome))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_against_the_embedded_fake() {
    let scenarios = load_dir(SCENARIOS.as_ref()).expect("the shipped scenarios load");
    assert!(scenarios.len() >= 8, "one file per documented checklist");
    let sandbox = Sandbox::start(Config { workers: 2, ..Default::default() }).await.unwrap();
    let report = run_against_gateway(&scenarios, &abdm_conformance::embedded_target(&sandbox)).await.unwrap();
    let failed: Vec<String> = report
        .scenarios
        .iter()
        .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
        .filter(|(_, st)| st.outcome == Outcome::Fail || st.blocks())
        .map(|(s, st)| format!("{}:{} {}: {:?}", s.file, st.line, st.id, st.reason))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(report.passed());
    sandbox.stop().await;
}

/// A peer that answers everything wrongly, in a known way.
async fn wrong_peer() -> (String, actix_web::dev::ServerHandle) {
    async fn answer(req: HttpRequest) -> HttpResponse {
        match req.path() {
            "/hostile" => HttpResponse::Ok().json(json!({"status": "<script>alert(1)</script>"})),
            "/ok" => {
                HttpResponse::Ok().json(json!({"txnId": "6b0f4a3e-8f1c-4c55-9d1e-2a7b3c4d5e6f", "n": 1}))
            }
            _ => HttpResponse::Created().insert_header(("x-mode", "wrong")).json(
                json!({"txnId": 5, "mobile": "abc", "status": "ERROR", "error": {"code": 1000}, "list": []}),
            ),
        }
    }
    let server = HttpServer::new(|| App::new().default_service(web::to(answer)))
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, handle)
}

const WRONG: &str = r#"
id: wrong-peer
title: Every kind of check against a peer that answers wrongly
steps:
  - {id: control, title: The right answer passes, row: {sno: "0", requirement: Mandatory}, from: client,
     request: {path: /ok}, expect: {status: 200, body: [{path: $.n, equals: 1}]}, capture: {good: $.txnId}}
  - {id: status, title: status, row: {sno: "1", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {status: 200}}
  - {id: equals, title: equals, row: {sno: "2", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.status, equals: SUCCESS}]}}
  - {id: matches, title: matches, row: {sno: "3", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.mobile, matches: "^[0-9]{10}$"}]}}
  - {id: present, title: present, row: {sno: "4", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.token, present: true}]}}
  - {id: absent, title: absent, row: {sno: "5", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.error, absent: true}]}}
  - {id: type, title: type, row: {sno: "6", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.txnId, type: string}]}}
  - {id: one-of, title: one_of, row: {sno: "7", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.status, one_of: [SUCCESS, FAILURE]}]}}
  - {id: contains, title: contains, row: {sno: "8", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {body: [{path: $.mobile, contains: "98"}]}}
  - {id: header, title: header, row: {sno: "9", requirement: Mandatory}, from: client,
     request: {path: /x}, expect: {headers: {x-mode: {equals: right}}}}
  - {id: capture, title: capture, row: {sno: "10", requirement: Mandatory}, from: client,
     request: {path: /x}, capture: {token: $.token}}
  - {id: dependent, title: uses the failed capture, row: {sno: "11", requirement: Mandatory}, from: client,
     request: {path: /ok, body: {t: "{{token}}"}}}
  - {id: inbound, title: a callback that never comes, row: {sno: "12", requirement: Mandatory}, from: gateway,
     within: 0.2, request: {path: /v0.5/users/auth/on-init}}
  - {id: optional, title: an optional failure, row: {sno: "13", requirement: Optional}, from: client,
     request: {path: /x}, expect: {status: 200}}
  - {id: ui, title: a UI-only row, row: {sno: "14", requirement: Mandatory}, from: client, manual: "UI only"}
  - {id: uses-good, title: uses the good capture, row: {sno: "15", requirement: Mandatory}, from: client,
     request: {path: /ok, body: {t: "{{good}}"}}, expect: {status: 200}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_check_fails_against_a_wrong_peer_with_a_useful_reason() {
    let (url, handle) = wrong_peer().await;
    let scenario = parse_text("wrong.yaml", WRONG).expect("the test scenario loads");
    let target = Target {
        base: url.clone(),
        sandbox: false,
        values: json!({}),
        fixture: json!({}),
        name: url,
        mode: abdm_conformance::run::Mode::Gateway,
        hip_url: None,
        patience: 1.0,
    };
    let report = run_against_gateway(&[scenario], &target).await.unwrap();
    let steps = &report.scenarios[0].steps;
    let reason =
        |id: &str| steps.iter().find(|s| s.id == id).and_then(|s| s.reason.clone()).unwrap_or_default();
    let expected: &[(&str, Outcome, &str)] = &[
        ("control", Outcome::Pass, ""),
        ("status", Outcome::Fail, "status: expected 200, got 201"),
        ("equals", Outcome::Fail, "$.status: expected \"SUCCESS\", got \"ERROR\""),
        ("matches", Outcome::Fail, "$.mobile: expected a string matching /^[0-9]{10}$/, got \"abc\""),
        ("present", Outcome::Fail, "$.token: expected to be present, got nothing"),
        ("absent", Outcome::Fail, "$.error: expected to be absent, got {\"code\":1000}"),
        ("type", Outcome::Fail, "$.txnId: expected a string, got 5"),
        ("one-of", Outcome::Fail, "$.status: expected one of [\"SUCCESS\",\"FAILURE\"], got \"ERROR\""),
        ("contains", Outcome::Fail, "$.mobile: expected text containing \"98\", got \"abc\""),
        ("header", Outcome::Fail, "header x-mode: expected \"right\", got \"wrong\""),
        ("capture", Outcome::Fail, "capture token: $.token selected nothing"),
        ("dependent", Outcome::Skipped, "depends on capture which did not pass"),
        ("inbound", Outcome::Fail, "no /v0.5/users/auth/on-init arrived within 0.2 s (nothing arrived)"),
        ("optional", Outcome::Fail, "status: expected 200, got 201"),
        ("ui", Outcome::Manual, "UI only"),
        ("uses-good", Outcome::Pass, ""),
    ];
    assert_eq!(steps.len(), expected.len());
    for (id, outcome, why) in expected {
        let step = steps.iter().find(|s| s.id == *id).unwrap();
        assert_eq!(step.outcome, *outcome, "{id}: {:?}", step.reason);
        assert!(reason(id).contains(why), "{id}: reason {:?} should contain {why:?}", reason(id));
    }
    assert!(!report.passed());
    // An optional failure alone does not fail a run.
    let only_optional =
        parse_text("o.yaml", &WRONG.replace("requirement: Mandatory", "requirement: Optional")).unwrap();
    let report = run_against_gateway(&[only_optional], &target).await.unwrap();
    assert!(report.passed(), "optional failures and manual rows do not fail the run");
    handle.stop(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_fake_fails_exactly_the_step_it_breaks() {
    let scenarios = load_dir(SCENARIOS.as_ref()).unwrap();
    let hpr: Vec<_> = scenarios.into_iter().filter(|s| s.id == "hpr-registration").collect();
    let sandbox = Sandbox::start(Config::default()).await.unwrap();
    // The runner resets the sandbox (and its faults) before each scenario, so the fault is
    // scripted by a first step of the scenario itself.
    let target = abdm_conformance::embedded_target(&sandbox);
    let mut faulted = hpr[0].clone();
    faulted.steps.insert(
        0,
        parse_text(
            "f.yaml",
            r#"
id: f
title: f
steps:
  - {id: script-fault, title: Script a 503 on create, row: {sno: "0", requirement: Optional}, from: client,
     request: {method: PUT, path: /_sandbox/faults, body: {faults: [{path: /carestack/hprId/create, status: 503}]}},
     expect: {status: 200}}
"#,
        )
        .unwrap()
        .steps
        .remove(0),
    );
    let report = run_against_gateway(&[faulted], &target).await.unwrap();
    let bad: Vec<(String, Outcome)> = outcomes(&report)
        .into_iter()
        .filter(|(_, o)| !matches!(o, Outcome::Pass | Outcome::Manual))
        .collect();
    // The refusals of create (weak password, taken id) expected 400/422 and got 503 too.
    assert_eq!(
        bad,
        vec![
            ("weak-password".to_string(), Outcome::Fail),
            ("taken-id".to_string(), Outcome::Fail),
            ("create".to_string(), Outcome::Fail)
        ]
    );
    let create = report.scenarios[0].steps.iter().find(|s| s.id == "create").unwrap();
    assert!(
        create.reason.as_deref().unwrap().contains("status: expected 200, got 503"),
        "{:?}",
        create.reason
    );
    assert!(!report.passed());
    sandbox.stop().await;
}

#[test]
fn reports_parse_back_and_exit_codes_follow_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let (json_path, junit_path, html_path) =
        (dir.path().join("r.json"), dir.path().join("r.xml"), dir.path().join("r.html"));
    let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
        .args(["check", "--scenarios", SCENARIOS, "--scenario", "hpr-registration", "--no-color"])
        .arg("--json")
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path)
        .arg("--html")
        .arg(&html_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PASS   S.No 8") && stdout.contains("every mandatory step passed"), "{stdout}");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let steps = report["scenarios"][0]["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["outcome"] == "pass"));
    assert_eq!(steps[0]["row"]["requirement"], "Mandatory");

    let xml = std::fs::read_to_string(&junit_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let suites: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testsuite")).collect();
    assert_eq!(suites.len(), 1);
    assert_eq!(suites[0].attribute("name"), Some("hpr-registration"));
    let cases = doc.descendants().filter(|n| n.has_tag_name("testcase")).count();
    assert_eq!(cases, steps.len());
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("failure")).count(), 0);

    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<th>S.No</th>") && html.contains("Every mandatory step passed"));

    // A broken scenario file: exit 2, file and line on stderr, nothing run.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(
        broken.join("b.yaml"),
        "id: b\ntitle: b\nsteps:\n  - id: s\n    title: s\n    row: {sno: \"1\", requirement: Mandatory}\n    from: client\n    request: {path: /x, body: {a: \"{{nothing}}\"}}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
        .args(["check", "--scenarios"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b.yaml:4:") && err.contains("{{nothing}}"), "{err}");

    // An unknown scenario id is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
        .args(["check", "--scenarios", SCENARIOS, "--scenario", "no-such"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_exits_one() {
    let (url, handle) = wrong_peer().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.yaml"), WRONG).unwrap();
    let dir_path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
            .args(["check", "--no-color", "--gateway", &url, "--scenarios"])
            .arg(&dir_path)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL   S.No 1"), "{stdout}");
    assert!(stdout.contains("w.yaml:") && stdout.contains("a mandatory step did not pass"), "{stdout}");
    handle.stop(false).await;
}

/// The target for the wrong peer at `url`.
fn peer_target(url: &str) -> Target {
    Target {
        base: url.to_string(),
        sandbox: false,
        values: json!({}),
        fixture: json!({}),
        name: url.to_string(),
        mode: abdm_conformance::run::Mode::Gateway,
        hip_url: None,
        patience: 1.0,
    }
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_steps_reports_carry_kind_expected_actual_and_place() {
    let (url, handle) = wrong_peer().await;
    let scenario = parse_text("wrong.yaml", WRONG).expect("the test scenario loads");
    let report = run_against_gateway(&[scenario], &peer_target(&url)).await.unwrap();
    handle.stop(false).await;
    let equals_line = line_of(WRONG, "{id: equals,");

    // JSON: each failure as fields, the human-readable reason beside them.
    let json: Value = serde_json::from_str(&report::json(&report)).unwrap();
    let steps = json["scenarios"][0]["steps"].as_array().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["id"] == id).unwrap().clone();
    let equals = step("equals");
    assert_eq!(equals["reason"], "$.status: expected \"SUCCESS\", got \"ERROR\"");
    let f = &equals["failures"][0];
    assert_eq!(
        (&f["kind"], &f["expected"], &f["actual"], &f["file"], &f["line"]),
        (
            &json!("equals"),
            &json!("\"SUCCESS\""),
            &json!("\"ERROR\""),
            &json!("wrong.yaml"),
            &json!(equals_line)
        )
    );
    // The assertion stands on the step's second line.
    assert_eq!(f["expectationLine"], equals_line + 1);
    let kinds: Vec<(String, Value)> = steps
        .iter()
        .filter(|s| s["outcome"] == "fail")
        .map(|s| (s["id"].as_str().unwrap().to_string(), s["failures"][0]["kind"].clone()))
        .collect();
    let want = [
        ("status", "status"),
        ("equals", "equals"),
        ("matches", "matches"),
        ("present", "present"),
        ("absent", "absent"),
        ("type", "type"),
        ("one-of", "one_of"),
        ("contains", "contains"),
        ("header", "header"),
        ("capture", "capture"),
        ("inbound", "inbound_missing"),
        ("optional", "status"),
    ];
    assert_eq!(kinds, want.iter().map(|(id, k)| (id.to_string(), json!(k))).collect::<Vec<_>>());
    assert_eq!(step("status")["failures"][0]["actual"], "201");

    // JUnit: the kind as the failure's type, the reason as its message, the place and both sides
    // in its text.
    let xml = report::junit(&report);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase") && n.attribute("classname") == Some("wrong-peer.equals"))
        .unwrap();
    let failure = case.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(failure.attribute("type"), Some("equals"));
    assert_eq!(failure.attribute("message"), Some("$.status: expected \"SUCCESS\", got \"ERROR\""));
    let text = failure.text().unwrap_or_default();
    assert!(text.contains(&format!("wrong.yaml:{}: [equals]", equals_line + 1)), "{text}");
    assert!(text.contains("expected: \"SUCCESS\"") && text.contains("actual: \"ERROR\""), "{text}");

    // HTML: a row per failure with the kind, both sides and the step's file:line.
    let html = report::html(&report);
    let row = html
        .split("<tr class=\"failure\">")
        .filter_map(|r| r.split("</tr>").next())
        .find(|r| r.contains("<span class=\"kind\">equals</span>"))
        .unwrap();
    assert!(row.contains("<span class=\"kind\">equals</span>"), "{row}");
    assert!(row.contains("&quot;ERROR&quot;"), "{row}");
    assert!(row.contains(&format!("wrong.yaml:{equals_line}")), "{row}");
    assert!(html.contains("inbound_missing"));

    // The terminal: one line per failure with the expectation's place.
    let text = report::terminal(&report, false);
    assert!(text.contains(&format!("wrong.yaml:{}: $.status: expected", equals_line + 1)), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_escapes_what_a_peer_sends() {
    let (url, handle) = wrong_peer().await;
    let hostile = r#"
id: hostile
title: A peer answering markup <b>here</b>
steps:
  - {id: markup, title: "<img src=x onerror=alert(1)>", row: {sno: "1", requirement: Mandatory}, from: client,
     request: {path: /hostile}, expect: {body: [{path: $.status, equals: SUCCESS}]}}
"#;
    let scenario = parse_text("hostile.yaml", hostile).unwrap();
    let mut target = peer_target(&url);
    target.name = "<script>alert('target')</script>".into();
    let report = run_against_gateway(&[scenario], &target).await.unwrap();
    handle.stop(false).await;
    assert_eq!(report.scenarios[0].steps[0].outcome, Outcome::Fail);
    let html = report::html(&report);
    assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
    // The page's own markup is still there.
    assert!(html.contains("<th>S.No</th>") && html.contains("A mandatory step did not pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colours_only_reach_a_terminal_that_wants_them() {
    let (url, handle) = wrong_peer().await;
    let scenario = parse_text("wrong.yaml", WRONG).unwrap();
    let report = run_against_gateway(&[scenario], &peer_target(&url)).await.unwrap();
    // Styled on demand; plain when off, and plain into anything that is not a terminal.
    assert!(report::terminal(&report, true).contains('\x1b'));
    assert!(!report::terminal(&report, false).contains('\x1b'));
    let mut buffer = Vec::new();
    report::write_terminal(&report, &mut buffer, true).unwrap();
    let written = String::from_utf8(buffer).unwrap();
    assert!(!written.contains('\x1b') && written.contains("FAIL   S.No 1"), "{written}");

    // The CLI: colour only when forced (CLICOLOR_FORCE), never with NO_COLOR or --no-color.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.yaml"), WRONG).unwrap();
    // The environment, --no-color, and whether colours are expected.
    type Case = (&'static [(&'static str, &'static str)], bool, bool);
    let cases: [Case; 4] = [
        (&[], false, false),
        (&[("CLICOLOR_FORCE", "1")], false, true),
        (&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], false, false),
        (&[("CLICOLOR_FORCE", "1")], true, false),
    ];
    for (env, no_color, coloured) in cases {
        let (url, dir_path) = (url.clone(), dir.path().to_path_buf());
        let out = tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"));
            cmd.args(["check", "--gateway", &url, "--scenarios"]).arg(&dir_path);
            if no_color {
                cmd.arg("--no-color");
            }
            for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"] {
                cmd.env_remove(var);
            }
            cmd.envs(env.iter().copied()).output().unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert_eq!(stdout.contains('\x1b'), coloured, "{env:?} --no-color={no_color}: {stdout}");
        assert!(stdout.contains("FAIL") && stdout.contains("a mandatory step did not pass"), "{stdout}");
    }
    handle.stop(false).await;
}

/// `manual_unless`: a step needing a value only the target knows is manual, with its reason, when
/// the value was not given, and so is every step that follows from it; given, it runs. Against a
/// gateway the runner plays the HIP and knows the link OTP itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_needing_an_unknown_value_is_manual_and_so_are_its_followers() {
    const NEEDS_VALUES: &str = r#"
id: needs-values
title: Steps that need a value only the target knows
steps:
  - {id: needs-secret, title: needs target.secret, row: {sno: "1", requirement: Mandatory}, from: client,
     manual_unless: {known: "{{target.secret}}", why: "give the secret"},
     request: {path: /ok, body: {s: "{{target.secret}}"}}, expect: {status: 200}, capture: {txn: $.txnId}}
  - {id: follows, title: uses its capture, row: {sno: "2", requirement: Mandatory}, from: client,
     request: {path: /ok, body: {t: "{{txn}}"}}, expect: {status: 200}}
  - {id: needs-otp, title: needs target.linkOtp, row: {sno: "3", requirement: Mandatory}, from: client,
     manual_unless: {known: "{{target.linkOtp}}", why: "give --link-otp"},
     request: {path: /ok, body: {otp: "{{target.linkOtp}}"}}, expect: {status: 200}}
"#;
    let (url, handle) = wrong_peer().await;
    let scenario = parse_text("needs.yaml", NEEDS_VALUES).unwrap();
    let report = run_against_gateway(std::slice::from_ref(&scenario), &peer_target(&url)).await.unwrap();
    let steps = &report.scenarios[0].steps;
    assert_eq!(
        outcomes(&report),
        vec![
            ("needs-secret".to_string(), Outcome::Manual),
            ("follows".to_string(), Outcome::Manual),
            ("needs-otp".to_string(), Outcome::Pass),
        ]
    );
    assert_eq!(steps[0].reason.as_deref(), Some("give the secret"));
    assert_eq!(steps[1].reason.as_deref(), Some("follows needs-secret, which is checked by hand"));
    assert_eq!(
        steps[2].request.as_ref().unwrap()["body"]["otp"],
        json!(abdm_conformance::run::RUNNER_LINK_OTP)
    );
    assert!(report.passed(), "manual rows do not fail a run");
    // Given, the value is used and the steps run.
    let mut target = peer_target(&url);
    target.values["secret"] = json!("s3cret");
    let report = run_against_gateway(&[scenario], &target).await.unwrap();
    assert!(outcomes(&report).iter().all(|(_, o)| *o == Outcome::Pass), "{:?}", outcomes(&report));
    handle.stop(false).await;
}

/// `--hip-version` and `--link-otp` only make sense when judging a HIP.
#[test]
fn hip_version_and_link_otp_need_a_hip() {
    for args in [["--hip-version", "v3"], ["--link-otp", "123456"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox")).arg("check").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--hip"), "{args:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
        .args(["check", "--hip", "http://127.0.0.1:9", "--hip-version", "v2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
