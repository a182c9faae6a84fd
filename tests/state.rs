//! `serve --state FILE`: what a team builds up (ABHA numbers and addresses, HPR accounts, bridges
//! and services, links, consents, HIU consent requests and artefacts) survives a SIGKILL and a
//! restart, per workspace; without `--state` none of it does; a reset or a dropped workspace
//! forgets it; a file the sandbox cannot use is refused with a message saying why.

mod common;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::abha::Abha;
use common::hip::{Hip, WAIT};
use common::hpr::*;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const SUNIL: &str = "876543210988";
const SUNIL_MOBILE: &str = "9765432101";
const ASHA: &str = "asha.verma@sbx";
const HIP1: &str = "IN2910000001";

/// A state file path in a directory of its own, removed when dropped.
struct StateFile(PathBuf);

impl StateFile {
    fn new() -> StateFile {
        let dir = std::env::temp_dir().join(format!("abdm-state-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        StateFile(dir.join("sandbox.db"))
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What one run built up, to look for after the restart.
struct Built {
    abha_number: String,
    hpr_id_number: String,
    consent: String,
    consent_request: String,
}

/// `Bearer <session of SBX_000001>` under `prefix` (`""`: the default workspace, `/w/NAME`).
async fn bearer(sb: &TestSandbox, prefix: &str) -> String {
    let body = json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET});
    let r = sb.post(&format!("{prefix}/gateway/v0.5/sessions"), body).await;
    format!("Bearer {}", r.ok()["accessToken"].as_str().unwrap())
}

/// Builds up one of everything the state file keeps, in the default workspace and in `team-a`.
async fn build_up(sb: &TestSandbox, hip: &Hip) -> Built {
    // An ABHA number with an address of the person's choosing.
    let abha = Abha::new(sb).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let abha_number = e["ABHAProfile"]["ABHANumber"].as_str().unwrap().to_string();
    let created = abha.create_address(e["txnId"].as_str().unwrap(), "sunil.das79").await;
    assert_eq!(created.ok()["preferredAbhaAddress"], "sunil.das79@sbx");
    // An HPR account.
    let txn = sb.hpr_mobile_verified(Paths::Abdm, SAME_MOBILE, SAME_MOBILE_NUMBER).await;
    let created = sb.hpr(Paths::Abdm, HprStep::Create, create_body(&txn, "arjun.kept")).await;
    let hpr_id_number = created.ok()["hprIdNumber"].as_str().unwrap().to_string();
    // A bridge with a service of the client's own, in the workspace team-a.
    let own = bearer(sb, "").await;
    let team = |p: &str| format!("/w/team-a{p}");
    let token = bearer(sb, "/w/team-a").await;
    let url = json!({"url": hip.url});
    let r =
        sb.send(Method::PATCH, &team("/gateway/v1/bridges"), Some(&url), &[("Authorization", &token)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let service = json!([{"id": "TEAM-A-HIP", "name": "Team A clinic", "type": "HIP", "active": true}]);
    let r = sb
        .send(
            Method::POST,
            &team("/gateway/v1/bridges/addUpdateServices"),
            Some(&service),
            &[("Authorization", &token)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // In the default workspace: the bridge, linked care contexts and a consent over them.
    let r = sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&url), &[("Authorization", &own)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seed = json!({"hipId": HIP1, "abhaAddress": ASHA, "patientReference": "MR-KEPT",
        "careContexts": [{"referenceNumber": "OP-KEPT", "display": "OPD 2024"}]});
    sb.post("/_sandbox/care-contexts", seed).await.ok();
    let r = sb.post("/_sandbox/consents", json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let consent = r.body["consentId"].as_str().unwrap().to_string();
    // An HIU's consent request, granted by the scripted patient.
    let consent_request = hiu_request(sb, hip).await;
    Built { abha_number, hpr_id_number, consent, consent_request }
}

/// SBX_000003's HIU asks Asha for consent (she grants); returns the request id once granted.
async fn hiu_request(sb: &TestSandbox, inbox: &Hip) -> String {
    let token = sb.session_for("SBX_000003", "sandbox-secret-0003").await;
    let bearer = format!("Bearer {token}");
    let url = json!({"url": inbox.url});
    let r = sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&url), &[("Authorization", &bearer)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let now = chrono_now();
    let erase =
        (chrono::Utc::now() + chrono::Duration::days(30)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let body = json!({"consent": {
        "purpose": {"text": "Care Management", "code": "CAREMGT"},
        "patient": {"id": ASHA}, "hiu": {"id": "IN2710000003", "name": "Sandbox Diagnostics"},
        "requester": {"name": "Dr. Manju", "identifier": {"type": "REGNO", "value": "MH1001", "system": "https://www.mciindia.org"}},
        "hiTypes": ["OPConsultation", "Prescription"],
        "permission": {"accessMode": "VIEW", "dateRange": {"from": "2015-01-01T00:00:00.000Z", "to": now},
            "dataEraseAt": erase, "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}}}});
    let r = sb.enveloped((false, &token), ("/gateway/v0.5/consent-requests/init", ""), None, body, &[]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let on_init = inbox.wait_for("/v0.5/consent-requests/on-init", WAIT).await;
    let id = on_init.body["consentRequest"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", on_init.body))
        .to_string();
    inbox.wait_for("/v0.5/consents/hiu/notify", WAIT).await;
    id
}

/// Everything [`build_up`] made is there (`true`) or none of it is (`false`).
async fn assert_kept(sb: &TestSandbox, hip: &Hip, built: &Built, kept: bool) {
    // The ABHA account: enrolling again finds it, with the chosen address.
    let abha = Abha::new(sb).await;
    let e = abha.enrolled(SUNIL, SUNIL_MOBILE).await;
    let same = e["ABHAProfile"]["ABHANumber"] == json!(built.abha_number);
    let addresses = e["ABHAProfile"]["phrAddress"].to_string();
    assert_eq!(same, kept, "ABHA number {} after the restart: {e}", built.abha_number);
    assert_eq!(addresses.contains("sunil.das79@sbx"), kept, "{addresses}");
    // The HPR account: the account check finds it.
    let txn = sb.hpr_verified(Paths::Abdm, SAME_MOBILE).await;
    let check =
        sb.hpr(Paths::Abdm, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await;
    let number = check.ok()["hprIdNumber"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        number == built.hpr_id_number,
        kept,
        "HPR account {} after the restart: {number:?}",
        built.hpr_id_number
    );
    // The team's service, and its bridge: a share in team-a reaches the HIP.
    let token = bearer(sb, "/w/team-a").await;
    let services = sb
        .send(Method::GET, "/w/team-a/gateway/v1/bridges/getServices", None, &[("Authorization", &token)])
        .await;
    assert_eq!(services.body.to_string().contains("TEAM-A-HIP"), kept, "{}", services.body);
    let share = json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA});
    let before = hip.received("/v0.5/patients/profile/share").len();
    sb.post("/w/team-a/_sandbox/share-profile", share).await;
    if kept {
        hip.wait_for_count("/v0.5/patients/profile/share", before + 1, WAIT).await;
    }
    // The links, the consent and the HIU's consent request.
    let links = sb.get(&format!("/_sandbox/links?abhaAddress={ASHA}")).await;
    assert_eq!(links.ok().to_string().contains("OP-KEPT"), kept, "{}", links.body);
    let consent = sb.get(&format!("/_sandbox/consents/{}", built.consent)).await;
    assert_eq!(consent.status == 200 && consent.body["status"] == "GRANTED", kept, "{}", consent.body);
    let request = sb.get(&format!("/_sandbox/consent-requests/{}", built.consent_request)).await;
    let granted = request.status == 200
        && request.body["status"] == "GRANTED"
        && request.body["artefacts"].as_array().is_some_and(|a| !a.is_empty());
    assert_eq!(granted, kept, "{}", request.body);
}

#[tokio::test]
async fn what_was_built_survives_a_sigkill_and_a_restart() {
    let file = StateFile::new();
    let hip = Hip::start().await;
    let mut sb = TestSandbox::serve_binary_state(&file.0);
    let built = build_up(&sb, &hip).await;
    sb.kill();
    let sb = TestSandbox::serve_binary_state(&file.0);
    assert_kept(&sb, &hip, &built, true).await;
    // The list names the workspaces the file holds records of.
    let list = sb.get("/_sandbox/workspaces").await;
    let kept: Vec<&str> =
        list.ok()["kept"].as_array().unwrap().iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(kept, ["default", "team-a"], "{}", list.body);
}

#[tokio::test]
async fn without_state_nothing_survives() {
    let hip = Hip::start().await;
    let mut sb = TestSandbox::serve_binary(&fixtures_json());
    let built = build_up(&sb, &hip).await;
    sb.kill();
    let sb = TestSandbox::serve_binary(&fixtures_json());
    assert_kept(&sb, &hip, &built, false).await;
    assert_eq!(sb.get("/_sandbox/workspaces").await.ok()["kept"], Value::Null);
}

fn fixtures_json() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/default.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_reset_and_a_dropped_workspace_forget_what_was_kept() {
    let file = StateFile::new();
    let hip = Hip::start().await;
    let mut sb = TestSandbox::serve_binary_state(&file.0);
    let built = build_up(&sb, &hip).await;
    sb.post("/_sandbox/reset", json!({})).await.ok();
    let dropped = sb.send(Method::DELETE, "/w/team-a/_sandbox", None, &[]).await;
    assert!(dropped.status < 300, "{} {}", dropped.status, dropped.body);
    sb.kill();
    let sb = TestSandbox::serve_binary_state(&file.0);
    assert_kept(&sb, &hip, &built, false).await;
}

#[tokio::test]
async fn answered_creations_survive_a_sigkill_mid_load() {
    let file = StateFile::new();
    let hip = Hip::start().await;
    let mut sb = TestSandbox::serve_binary_state(&file.0);
    let bearer = bearer(&sb, "").await;
    let url = json!({"url": hip.url});
    sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&url), &[("Authorization", &bearer)]).await.ok();
    let seed = json!({"hipId": HIP1, "abhaAddress": ASHA, "patientReference": "MR-LOAD",
        "careContexts": [{"referenceNumber": "OP-LOAD", "display": "OPD"}]});
    sb.post("/_sandbox/care-contexts", seed).await.ok();
    // Eight clients grant consents as fast as they can; the server is killed among them.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, base, tx) = (reqwest::Client::new(), sb.url.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let body = json!({"hipId": HIP1, "abhaAddress": ASHA});
                let Ok(r) = http.post(format!("{base}/_sandbox/consents")).json(&body).send().await else {
                    break;
                };
                let Ok(v) = r.json::<Value>().await else { break };
                match v["consentId"].as_str() {
                    Some(id) => drop(tx.send(id.to_string())),
                    None => break,
                }
            }
        }));
    }
    drop(tx);
    tokio::time::sleep(Duration::from_millis(700)).await;
    sb.kill();
    for t in tasks {
        let _ = t.await;
    }
    let mut answered = Vec::new();
    while let Some(id) = rx.recv().await {
        answered.push(id);
    }
    assert!(answered.len() > 20, "only {} consents granted before the kill", answered.len());
    let sb = TestSandbox::serve_binary_state(&file.0);
    for id in &answered {
        let r = sb.get(&format!("/_sandbox/consents/{id}")).await;
        assert_eq!(r.status, 200, "consent {id}, answered before the kill, is lost: {}", r.body);
    }
}

/// `serve --state FILE` with a file it cannot use: exit status 2 and a message saying why.
fn refused(file: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox"))
        .args(["serve", "--addr", "127.0.0.1:0", "--state"])
        .arg(file)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_file_that_is_not_a_state_file_is_refused() {
    let file = StateFile::new();
    std::fs::write(&file.0, "name,abha\nsunil,91-0000\n".repeat(100)).unwrap();
    let said = refused(&file.0);
    assert!(said.contains("not a SQLite database") || said.contains("not a database"), "{said}");
}

#[test]
fn a_state_file_of_other_fixtures_is_refused() {
    let file = StateFile::new();
    // A run with other fixtures writes the file...
    let mut fixtures = fixtures_json();
    fixtures["people"][0]["name"] = json!("Someone Else");
    let fixtures_path = file.0.with_file_name("fixtures.json");
    std::fs::write(&fixtures_path, fixtures.to_string()).unwrap();
    let state = file.0.as_os_str();
    let args = [OsStr::new("--state"), state, OsStr::new("--fixtures"), fixtures_path.as_os_str()];
    drop(common::binary::ServedBinary::spawn(&args, None));
    // ...which the built-in fixtures do not read.
    let said = refused(&file.0);
    assert!(said.contains("written with other fixtures"), "{said}");
}
