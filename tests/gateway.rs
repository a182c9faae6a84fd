//! The gateway as a HIP developer meets it, over real HTTP, with a test HIP registered as the
//! bridge that the gateway calls back: sessions and their tokens, the JWKS, bridge registration,
//! the profile share a patient starts by scanning the HIP's QR code and the HIP's on-share, user
//! auth (fetch-modes, init, confirm, notify) that yields a linking token, care-context linking,
//! callbacks that never hold up the gateway however the HIP behaves, and scripted faults.

mod common;

// The tests, one file a behaviour, under tests/gateway/.
#[path = "gateway/bridges.rs"]
mod bridges;
#[path = "gateway/callbacks.rs"]
mod callbacks;
#[path = "gateway/linking.rs"]
mod linking;
#[path = "gateway/sessions.rs"]
mod sessions;
#[path = "gateway/share.rs"]
mod share;
#[path = "gateway/user_auth.rs"]
mod user_auth;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::hip::{self, Hip, Recorded, WAIT};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const HIP1: &str = "IN2910000001";
const CLIENT1: &str = "SBX_000001";
const SECRET1: &str = "sandbox-secret-0001";
const HIP2: &str = "IN0910000002";
const CLIENT2: &str = "SBX_000002";
const SECRET2: &str = "sandbox-secret-0002";

const ASHA: &str = "asha.verma@sbx";
const RAVI: &str = "ravi.kumar@sbx";
const MEENA: &str = "meena.iyer@sbx";
const NOBODY: &str = "nobody.here@sbx";

const SESSIONS: &str = "/gateway/v0.5/sessions";
const FETCH_MODES: &str = "/gateway/v0.5/users/auth/fetch-modes";
const INIT: &str = "/gateway/v0.5/users/auth/init";
const CONFIRM: &str = "/gateway/v0.5/users/auth/confirm";
const ADD_CONTEXTS: &str = "/gateway/v0.5/links/link/add-contexts";
const CONTEXT_NOTIFY: &str = "/gateway/v0.5/links/context/notify";

const SHARE: &str = "/v0.5/patients/profile/share";
const SHARE_V1: &str = "/v1.0/patients/profile/share";
const ON_FETCH_MODES: &str = "/v0.5/users/auth/on-fetch-modes";
const ON_INIT: &str = "/v0.5/users/auth/on-init";
const ON_CONFIRM: &str = "/v0.5/users/auth/on-confirm";
const NOTIFY: &str = "/v0.5/users/auth/notify";
const ON_ADD_CONTEXTS: &str = "/v0.5/links/link/on-add-contexts";
const ON_NOTIFY: &str = "/v0.5/links/context/on-notify";

/// Identifier types a v0.5 share may carry (reference §3.1).
const SHARE_IDENTIFIER_TYPES: [&str; 4] = ["MR", "MOBILE", "NDHM_HEALTH_NUMBER", "HEALTH_ID"];

fn rid() -> String {
    Uuid::new_v4().to_string()
}

/// A timestamp as the seed's calls write it: no zone, microseconds.
fn naive_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn parse_naive(s: &Value) -> chrono::NaiveDateTime {
    let text = s.as_str().unwrap_or_else(|| panic!("a timestamp string, got {s}"));
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{text:?} is not a zone-less ISO date-time: {e}"))
}

/// A HIP → gateway call: `X-CM-ID: sbx` and, when given, `auth` as Authorization.
async fn send_with(
    sb: &TestSandbox,
    method: Method,
    path: &str,
    body: Option<Value>,
    auth: Option<String>,
) -> Reply {
    let mut headers = vec![("X-CM-ID", "sbx".to_string())];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.send(method, path, body.as_ref(), &headers).await
}

/// A HIP → gateway POST with a session token.
async fn call_as(sb: &TestSandbox, token: &str, path: &str, body: Value) -> Reply {
    send_with(sb, Method::POST, path, Some(body), Some(format!("Bearer {token}"))).await
}

fn query(id: &str, purpose: &str, mode: Option<&str>, requester: (&str, &str)) -> Value {
    let mut q = json!({"id": id, "purpose": purpose, "requester": {"type": requester.0, "id": requester.1}});
    if let Some(m) = mode {
        q["authMode"] = json!(m);
    }
    q
}

/// A fetch-modes or init body for `address`, asked by `requester` (type, id).
fn auth_body(id: &str, address: &str, purpose: &str, mode: Option<&str>, requester: (&str, &str)) -> Value {
    json!({"requestId": id, "timestamp": naive_now(), "query": query(address, purpose, mode, requester)})
}

/// A LINK / DEMOGRAPHICS init body for Asha.
fn asha_init(requester_id: &str) -> Value {
    auth_body(&rid(), ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", requester_id))
}

fn refresh_body(client: &str, secret: &str, refresh: &str) -> Value {
    json!({"clientId": client, "clientSecret": secret, "grantType": "refresh_token", "refreshToken": refresh})
}

fn demographic(name: &str, gender: &str, dob: &str) -> Value {
    json!({"demographic": {"name": name, "gender": gender, "dateOfBirth": dob}})
}

fn add_contexts_body(request_id: &str, token: &str, patient: &str, contexts: &[&str]) -> Value {
    let contexts: Vec<Value> =
        contexts.iter().map(|c| json!({"referenceNumber": c, "display": format!("Visit {c}")})).collect();
    json!({
        "requestId": request_id,
        "timestamp": chrono_now(),
        "link": {
            "accessToken": token,
            "patient": {"referenceNumber": patient, "display": "Asha Verma", "careContexts": contexts},
        },
    })
}

fn notify_body(request_id: &str, address: &str, patient: &str, context: &str, hip_id: &str) -> Value {
    json!({
        "requestId": request_id,
        "timestamp": chrono_now(),
        "notification": {
            "patient": {"id": address},
            "careContext": {"patientReference": patient, "careContextReference": context},
            "hiTypes": ["OPConsultation"],
            "date": chrono_now(),
            "hip": {"id": hip_id},
        },
    })
}

/// A sandbox with the test HIP registered as the bridge of SBX_000001 (HIP IN2910000001).
struct Gw {
    sb: TestSandbox,
    hip: Hip,
    token: String,
}

async fn setup() -> Gw {
    let sb = TestSandbox::start().await;
    let hip = Hip::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    hip::register_bridge(&sb, &token, &hip.url).await;
    Gw { sb, hip, token }
}

impl Gw {
    /// A HIP → gateway call: the session token and `X-CM-ID: sbx`.
    async fn call(&self, path: &str, body: Value) -> Reply {
        call_as(&self.sb, &self.token, path, body).await
    }

    /// The patient scans a QR code: `POST /_sandbox/share-profile`.
    async fn share(&self, body: Value) -> Reply {
        self.sb.post("/_sandbox/share-profile", body).await
    }

    /// Asha scans IN2910000001's QR code for counter OPD1; returns the share's requestId.
    async fn share_asha(&self) -> String {
        let reply = self.share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA})).await;
        assert_eq!(reply.status, 202, "share-profile: {}", reply.body);
        reply.body["requestId"].as_str().expect("requestId").to_string()
    }

    async fn outcome(&self, request_id: &str) -> Value {
        self.sb.get(&format!("/_sandbox/share-profile/{request_id}")).await.ok().clone()
    }

    /// The share's outcome once `done` accepts it.
    async fn outcome_when(&self, request_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.outcome(request_id).await;
            if done(&out) {
                return out;
            }
            assert!(Instant::now() < deadline, "the share never reached the expected state: {out}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The share's outcome once its delivery is recorded.
    async fn delivered(&self, request_id: &str) -> Value {
        self.outcome_when(request_id, |o| !o["delivered"].is_null()).await
    }

    async fn on_share(
        &self,
        version: &str,
        answered: &str,
        health_id: &str,
        token_number: Option<&str>,
    ) -> Reply {
        let mut ack = json!({"status": "SUCCESS", "healthId": health_id});
        if let Some(t) = token_number {
            ack["tokenNumber"] = json!(t);
        }
        let body = json!({"requestId": rid(), "timestamp": chrono_now(), "acknowledgement": ack,
            "resp": {"requestId": answered}});
        self.call(&format!("/gateway/{version}/patients/profile/on-share"), body).await
    }

    /// `users/auth/init` as IN2910000001; returns the init's requestId.
    async fn init(&self, address: &str, purpose: &str, mode: &str) -> String {
        self.init_as(address, purpose, mode, ("HIP", HIP1)).await
    }

    async fn init_as(&self, address: &str, purpose: &str, mode: &str, requester: (&str, &str)) -> String {
        let id = rid();
        let body = auth_body(&id, address, purpose, Some(mode), requester);
        let reply = self.call(INIT, body).await;
        assert_eq!(reply.status, 202, "init: {}", reply.body);
        id
    }

    /// init, then the on-init that answers it; returns the auth transactionId and the callback.
    async fn start_auth(&self, address: &str, purpose: &str, mode: &str) -> (String, Recorded) {
        let id = self.init(address, purpose, mode).await;
        let on_init = self.hip.wait_for_reply(ON_INIT, &id).await;
        assert_eq!(on_init.body["error"], Value::Null, "on-init: {}", on_init.body);
        let txn = on_init.body["auth"]["transactionId"].as_str().expect("auth.transactionId").to_string();
        (txn, on_init)
    }

    /// confirm, then the on-confirm that answers it.
    async fn confirm(&self, txn: &str, credential: Value) -> Recorded {
        let id = rid();
        let body = json!({"requestId": id, "timestamp": naive_now(),
            "transactionId": txn, "credential": credential});
        let reply = self.call(CONFIRM, body).await;
        assert_eq!(reply.status, 202, "confirm: {}", reply.body);
        self.hip.wait_for_reply(ON_CONFIRM, &id).await
    }

    /// A linking token for Asha, by DEMOGRAPHICS auth.
    async fn linking_token(&self) -> String {
        let (txn, _) = self.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
        let on_confirm = self.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
        on_confirm.body["auth"]["accessToken"].as_str().expect("auth.accessToken").to_string()
    }
}

/// Outbound journal entries (callbacks) to paths ending with `suffix`.
async fn outbound(sb: &TestSandbox, suffix: &str) -> Vec<Value> {
    sb.journal("")
        .await
        .into_iter()
        .filter(|e| e["direction"] == "outbound" && e["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .collect()
}

/// A URL where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("has an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
