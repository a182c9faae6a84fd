//! Workspaces: `/w/{name}/...` is a sandbox of its own on the same server — accounts, bridges,
//! journal, outbox, clock, faults — created on first use; tokens do not cross; the list, the
//! drop, the name rules, the limit and the idle expiry.

mod common;

use std::time::{Duration, Instant};

use common::hip::{Hip, WAIT};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn session_in(sb: &TestSandbox, ws: &str) -> String {
    let body = json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET});
    let r = sb.post(&format!("/w/{ws}/gateway/v0.5/sessions"), body).await;
    r.ok()["accessToken"].as_str().unwrap().to_string()
}

async fn bridge_in(sb: &TestSandbox, ws: &str, token: &str, url: &str) -> Reply {
    let auth = format!("Bearer {token}");
    sb.send(
        Method::PATCH,
        &format!("/w/{ws}/gateway/v1/bridges"),
        Some(&json!({"url": url})),
        &[("Authorization", &auth)],
    )
    .await
}

async fn journal_paths(sb: &TestSandbox, ws: &str) -> Vec<String> {
    let r = sb.get(&format!("/w/{ws}/_sandbox/journal")).await;
    r.ok()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["path"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn two_workspaces_do_not_see_each_others_state() {
    let sb = TestSandbox::start().await;
    let (hip_a, hip_b) = (Hip::start().await, Hip::start().await);
    let (a, b) = (session_in(&sb, "team-a").await, session_in(&sb, "team_b").await);
    assert_eq!(bridge_in(&sb, "team-a", &a, &hip_a.url).await.status, 200);
    assert_eq!(bridge_in(&sb, "team_b", &b, &hip_b.url).await.status, 200);
    // The same client's bridge in each workspace: a share in team-a reaches team-a's HIP only.
    let share = json!({"hipId": "IN2910000001", "code": "OPD1", "abhaAddress": "asha.verma@sbx"});
    assert_eq!(sb.post("/w/team-a/_sandbox/share-profile", share).await.status, 202);
    hip_a.wait_for("/v0.5/patients/profile/share", WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hip_b.requests().is_empty(), "team_b's bridge got team-a's callback");
    // Clock and faults stay in their workspace.
    sb.post("/w/team-a/_sandbox/clock/advance", json!({"seconds": 3600})).await.ok();
    let offset = |ws: &'static str| {
        let sb = &sb;
        async move { sb.get(&format!("/w/{ws}/_sandbox/clock")).await.ok()["offsetSeconds"].clone() }
    };
    assert_ne!(offset("team-a").await, offset("team_b").await);
    let faults = json!({"faults": [{"path": "/v0.5/users/auth/init", "status": 503}]});
    assert_eq!(sb.send(Method::PUT, "/w/team-a/_sandbox/faults", Some(&faults), &[]).await.status, 200);
    assert_eq!(sb.get("/w/team_b/_sandbox/faults").await.ok()["faults"], json!([]));
    // A reset of team_b leaves team-a's journal alone; neither journal holds the other's calls.
    let before = journal_paths(&sb, "team-a").await;
    assert!(before.iter().any(|p| p.ends_with("/v0.5/patients/profile/share")), "{before:?}");
    sb.post("/w/team_b/_sandbox/reset", json!({})).await.ok();
    assert_eq!(
        journal_paths(&sb, "team-a").await.len(),
        before.len(),
        "team_b's reset touched team-a's journal"
    );
    assert!(journal_paths(&sb, "team_b").await.iter().all(|p| !p.contains("profile/share")));
    assert!(
        journal_paths(&sb, "default").await.is_empty(),
        "the bare paths saw nothing: {:?}",
        journal_paths(&sb, "default").await
    );
}

#[tokio::test]
async fn a_token_from_one_workspace_is_refused_in_another() {
    let sb = TestSandbox::start().await;
    let a = session_in(&sb, "alpha").await;
    let auth = format!("Bearer {a}");
    let get = |path: String| {
        let (sb, auth) = (&sb, auth.clone());
        async move { sb.send(Method::GET, &path, None, &[("Authorization", &auth)]).await }
    };
    assert_eq!(get("/w/alpha/gateway/v1/bridges/getServices".into()).await.status, 200);
    get("/w/beta/gateway/v1/bridges/getServices".into()).await.refused(
        401,
        "Authorization",
        "session-workspace",
    );
    get("/gateway/v1/bridges/getServices".into()).await.refused(401, "Authorization", "session-workspace");
    let bare = sb.session().await;
    let r = sb
        .send(
            Method::GET,
            "/w/alpha/gateway/v1/bridges/getServices",
            None,
            &[("Authorization", &format!("Bearer {bare}"))],
        )
        .await;
    r.refused(401, "Authorization", "session-workspace");
}

#[tokio::test]
async fn accounts_created_in_a_workspace_stay_there_and_data_push_urls_name_it() {
    let sb = TestSandbox::start().await;
    let hip = Hip::start().await;
    let token = session_in(&sb, "ci-42").await;
    assert_eq!(bridge_in(&sb, "ci-42", &token, &hip.url).await.status, 200);
    let seed = json!({"hipId": "IN2910000001", "abhaAddress": "asha.verma@sbx", "patientReference": "MR-1",
        "careContexts": [{"referenceNumber": "OP-1", "display": "OPD"}]});
    assert_eq!(sb.post("/w/ci-42/_sandbox/care-contexts", seed).await.status, 200);
    let links = sb.get("/w/ci-42/_sandbox/links?abhaAddress=asha.verma@sbx").await;
    assert_ne!(
        links.ok().to_string(),
        sb.get("/_sandbox/links?abhaAddress=asha.verma@sbx").await.ok().to_string()
    );
    let consent = sb
        .post("/w/ci-42/_sandbox/consents", json!({"hipId": "IN2910000001", "abhaAddress": "asha.verma@sbx"}))
        .await;
    let id = consent.body["consentId"].as_str().unwrap().to_string();
    let r = sb.post("/w/ci-42/_sandbox/health-information/requests", json!({"consentId": id})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let request = hip.wait_for("/v0.5/health-information/hip/request", WAIT).await;
    let url = request.body["hiRequest"]["dataPushUrl"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/w/ci-42/_sandbox/data-push/", sb.url)), "{url}");
    assert_eq!(
        sb.get(&format!("/_sandbox/consents/{id}")).await.status,
        404,
        "the bare paths do not know it"
    );
}

#[tokio::test]
async fn workspaces_are_listed_dropped_named_and_limited() {
    let config = abdm_server::Config { max_workspaces: 2, ..Default::default() };
    let sb = TestSandbox::start_with(config).await;
    sb.get("/w/one/_sandbox/health").await.ok();
    sb.get("/w/two/_sandbox/health").await.ok();
    let r = sb.get("/w/three/_sandbox/health").await;
    assert!(r.refused(429, "workspace", "workspace-limit")["message"]
        .as_str()
        .unwrap()
        .contains("at most 2"));
    let list = sb.get("/_sandbox/workspaces").await;
    let names: Vec<&str> =
        list.ok()["workspaces"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["default", "one", "two"]);
    assert!(list.body["workspaces"][1]["memoryEstimateBytes"].as_u64().unwrap() > 0);
    let r = sb.send(Method::DELETE, "/w/one/_sandbox", None, &[]).await;
    assert_eq!(r.ok()["dropped"], true);
    assert_eq!(sb.send(Method::DELETE, "/w/one/_sandbox", None, &[]).await.status, 404);
    sb.get("/w/three/_sandbox/health").await.ok();
    for bad in ["a.b", "with%20space", &"x".repeat(65)] {
        sb.get(&format!("/w/{bad}/_sandbox/health")).await.refused(400, "workspace", "workspace-name");
    }
}

#[tokio::test]
async fn an_idle_workspace_expires() {
    let config = abdm_server::Config { workspace_ttl_seconds: 1, ..Default::default() };
    let sb = TestSandbox::start_with(config).await;
    sb.post("/w/brief/_sandbox/clock/advance", json!({"seconds": 60})).await.ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = sb.get("/_sandbox/workspaces").await;
        let names: Vec<Value> =
            list.ok()["workspaces"].as_array().unwrap().iter().map(|w| w["name"].clone()).collect();
        if names == [json!("default")] {
            break;
        }
        assert!(Instant::now() < deadline, "still listed: {names:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Used again, it is a fresh workspace: its clock is real time.
    let clock = sb.get("/w/brief/_sandbox/clock").await;
    assert_eq!(clock.ok()["offsetSeconds"].as_f64(), Some(0.0), "{}", clock.body);
}

/// The UUIDs in a workspace's journal: request ids, transaction ids, consent ids of its runs.
async fn journal_ids(sb: &TestSandbox, ws: &str) -> std::collections::HashSet<String> {
    let text = sb.get(&format!("/w/{ws}/_sandbox/journal")).await.body.to_string();
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|t| t.len() == 36 && uuid::Uuid::parse_str(t).is_ok())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_runner_suites_each_in_a_workspace_pass_without_cross_talk() {
    // Six whole suites at once in CI; `ISOLATION_RUNS=200` runs the team-scale check (minutes).
    let runs: usize = std::env::var("ISOLATION_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(6);
    let sb = TestSandbox::start_with(abdm_server::Config { workers: 2, ..Default::default() }).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let scenarios = abdm_conformance::scenario::load_dir(dir.as_ref()).expect("the shipped scenarios load");
    let fixtures: abdm_server::Fixtures =
        serde_json::from_value(sb.get("/_sandbox/fixtures").await.body).unwrap();
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..runs)
        .map(|i| {
            let mut target =
                abdm_conformance::sandbox_target(format!("{}/w/run-{i}", sb.url), &fixtures, "sandbox");
            // Hundreds of suites share this process's two cores with the server: callbacks
            // queue behind the others', as on a busy team server.
            target.patience = (runs as f64 / 10.0).clamp(1.0, 10.0);
            let scenarios = scenarios.clone();
            tokio::spawn(async move { abdm_conformance::run::run(&scenarios, &target).await })
        })
        .collect();
    for (i, run) in handles.into_iter().enumerate() {
        let report = run.await.unwrap().unwrap();
        let failed: Vec<String> = report
            .scenarios
            .iter()
            .flat_map(|s| s.steps.iter().map(move |st| (s, st)))
            .filter(|(_, st)| st.blocks())
            .map(|(s, st)| format!("{}:{} {}: {:?}", s.file, st.line, st.id, st.reason))
            .collect();
        assert!(failed.is_empty(), "run-{i}: {failed:#?}");
    }
    eprintln!("{runs} suites of {} scenarios passed in {:.1?}", scenarios.len(), started.elapsed());
    // Every identifier in any run's journal belongs to that run only.
    let mut owner: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for i in 0..runs {
        let ids = journal_ids(&sb, &format!("run-{i}")).await;
        assert!(!ids.is_empty(), "run-{i} journalled nothing");
        for id in ids {
            if let Some(j) = owner.insert(id.clone(), i) {
                panic!("run-{i}'s journal holds run-{j}'s identifier {id}");
            }
        }
    }
    assert!(journal_ids(&sb, "default").await.is_empty(), "the bare paths saw the runs");
}

#[tokio::test]
async fn open_credentials_take_a_clients_own_id_and_fixtures_credentials_do_not() {
    let sb = TestSandbox::start().await;
    let own = json!({"clientId": "ACME_HMIS_01", "clientSecret": "their-own-secret"});
    let token = sb.post("/gateway/v0.5/sessions", own.clone()).await.ok()["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    // Its HIP id is the one it registers, and its callbacks come to its own bridge.
    let hip = Hip::start().await;
    let auth = format!("Bearer {token}");
    let r = sb
        .send(
            Method::PATCH,
            "/gateway/v1/bridges",
            Some(&json!({"url": hip.url})),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let service = json!([{"id": "ACME-HIP-1", "name": "Acme Clinic", "type": "HIP", "active": true}]);
    let r = sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&service),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let share = json!({"hipId": "ACME-HIP-1", "code": "DESK", "abhaAddress": "asha.verma@sbx"});
    assert_eq!(sb.post("/_sandbox/share-profile", share).await.status, 202);
    let got = hip.wait_for("/v0.5/patients/profile/share", WAIT).await;
    assert_eq!(got.hip_id.as_deref(), Some("ACME-HIP-1"));
    // A refusal about no HIP of the request's own (a linking token that is not one) goes to its
    // registered HIP too.
    let link = json!({"requestId": uuid::Uuid::new_v4(), "timestamp": chrono_now(), "link": {"accessToken": "not-a-token",
        "patient": {"referenceNumber": "MR-1", "display": "Asha", "careContexts": [{"referenceNumber": "C1", "display": "Visit"}]}}});
    let headers = [("Authorization", auth.as_str()), ("X-CM-ID", "sbx")];
    let r = sb.send(Method::POST, "/gateway/v0.5/links/link/add-contexts", Some(&link), &headers).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let refused = hip.wait_for("/v0.5/links/link/on-add-contexts", WAIT).await;
    assert_eq!(refused.hip_id.as_deref(), Some("ACME-HIP-1"), "{}", refused.body);
    assert!(refused.body["error"]["message"].as_str().unwrap_or_default().contains("Invalid linking token"));
    // A consent over its records names the HIP as it registered itself.
    let seed = json!({"hipId": "ACME-HIP-1", "abhaAddress": "asha.verma@sbx", "patientReference": "MR-1",
        "careContexts": [{"referenceNumber": "C1", "display": "Visit"}]});
    sb.post("/_sandbox/care-contexts", seed).await.ok();
    let r =
        sb.post("/_sandbox/consents", json!({"hipId": "ACME-HIP-1", "abhaAddress": "asha.verma@sbx"})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let notify = hip.wait_for("/v0.5/consents/hip/notify", WAIT).await;
    assert_eq!(
        notify.body["notification"]["consentDetail"]["hip"],
        json!({"id": "ACME-HIP-1", "name": "Acme Clinic"})
    );
    // It cannot take a fixture facility's HIP id, and a fixture client still needs its secret.
    let taken = json!([{"id": "IN2910000001", "name": "mine", "type": "HIP"}]);
    let r = sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&taken),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    let wrong = json!({"clientId": CLIENT_ID, "clientSecret": "not-its-secret"});
    sb.post("/gateway/v0.5/sessions", wrong).await.refused(401, "clientSecret", "client-credentials");
    sb.post("/gateway/v0.5/sessions", json!({"clientId": "ACME_HMIS_01", "clientSecret": ""})).await.refused(
        400,
        "clientSecret",
        "required",
    );

    let strict =
        abdm_server::Config { credentials: abdm_server::Credentials::Fixtures, ..Default::default() };
    let sb = TestSandbox::start_with(strict).await;
    sb.post("/gateway/v0.5/sessions", own).await.refused(401, "clientSecret", "client-credentials");
}

/// A v3 call under `/w/{ws}/api/hiecm` (see [`TestSandbox::v3_call`]).
async fn v3_in(
    sb: &TestSandbox,
    ws: &str,
    token: &str,
    (method, path): (Method, &str),
    body: Value,
    extra: &[(&str, &str)],
) -> Reply {
    sb.v3_call(token, (method, &format!("/w/{ws}/api/hiecm{path}")), body, extra).await
}

#[tokio::test]
async fn a_linking_token_from_one_workspace_is_refused_in_another() {
    let sb = TestSandbox::start().await;
    let (hip_a, hip_b) = (Hip::start().await, Hip::start().await);
    let (a, b) = (session_in(&sb, "team-a").await, session_in(&sb, "team_b").await);
    let hip = [("X-HIP-ID", "IN2910000001")];
    for (ws, token, inbox) in [("team-a", &a, &hip_a), ("team_b", &b, &hip_b)] {
        let r =
            v3_in(&sb, ws, token, (Method::PATCH, "/gateway/v3/bridge/url"), json!({"url": inbox.url}), &[])
                .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let ask = json!({"abhaNumber": "91234567890129", "abhaAddress": "asha.verma@sbx", "name": "Asha Verma", "gender": "F", "yearOfBirth": 1990});
    let r = v3_in(&sb, "team-a", &a, (Method::POST, "/v3/token/generate-token"), ask, &hip).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let cb = hip_a.wait_for("/api/v3/hip/token/on-generate-token", WAIT).await;
    let link_token = cb.body["linkToken"].as_str().unwrap_or_else(|| panic!("{}", cb.body)).to_string();
    let body = json!({"abhaNumber": "91234567890129", "abhaAddress": "asha.verma@sbx",
        "patient": [{"referenceNumber": "MR-1", "display": "Asha Verma", "careContexts": [{"referenceNumber": "C1", "display": "Visit"}], "hiType": "OPConsultation", "count": 1}]});
    let with_token = [("X-HIP-ID", "IN2910000001"), ("X-LINK-TOKEN", link_token.as_str())];
    // Used in team_b, the token is not one of team_b's.
    let r =
        v3_in(&sb, "team_b", &b, (Method::POST, "/hip/v3/link/carecontext"), body.clone(), &with_token).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let refused = hip_b.wait_for("/api/v3/link/on_carecontext", WAIT).await;
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("issued in workspace \"team-a\""), "{}", refused.body);
    // In team-a it links.
    let r = v3_in(&sb, "team-a", &a, (Method::POST, "/hip/v3/link/carecontext"), body, &with_token).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let linked = hip_a.wait_for("/api/v3/link/on_carecontext", WAIT).await;
    assert_eq!(linked.body["status"], "Successfully Linked care context", "{}", linked.body);
}
