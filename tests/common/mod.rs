//! The test harness every test binary shares: a sandbox on a free port that stops when dropped,
//! a small HTTP client for it, and the replies it gives.
//!
//! By concern: [`hpr`] walks HPR ID registration, [`abha`] is an ABHA v3 and a Carestack ABHA
//! client, [`crypto`] encrypts as ABDM clients do, [`hip`] is a HIP the gateway calls back, and
//! [`binary`] serves the sandbox from its own binary.
#![allow(dead_code)]

pub mod abha;
pub mod binary;
pub mod crypto;
pub mod hip;
pub mod hpr;

use abdm_server::{Config, Sandbox};
use serde_json::{json, Value};

/// The Carestack API key the default fixtures list.
pub const API_KEY: &str = "sandbox-api-key";

/// The three headers every `/carestack` route needs, as the Carestack SDK sends them.
pub const CARESTACK_HEADERS: [(&str, &str); 3] =
    [("Authorization", "Bearer sandbox-api-key"), ("x-hprid-auth", "test"), ("facilityid", "IN2910000001")];

/// The first fixture facility's gateway client, whose session the test client uses by default.
pub const CLIENT_ID: &str = "SBX_000001";
/// The secret of [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "sandbox-secret-0001";

/// A sandbox for one test, with a client for it.
///
/// It stops when dropped, so a failing assertion cannot leave it running, and no test needs to
/// stop it by hand. The in-process server is taken out and, when a tokio runtime is at hand, its
/// graceful `stop()` is spawned there (a sandbox dropped mid-test stops at the next await); with
/// no runtime at hand it is simply dropped. At the end of a `#[tokio::test]` the runtime usually
/// ends before that task runs: ending the runtime drops the server's task, and actix-server stops
/// its acceptor and workers when its server is dropped, so the port is released either way. This
/// does not rely on any `Drop` of the server's own. A sandbox served by the binary
/// ([`binary::ServedBinary`]) is killed when dropped.
pub struct TestSandbox {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The client every request goes through.
    pub http: reqwest::Client,
    server: Server,
}

/// What serves a [`TestSandbox`].
enum Server {
    InProcess(Option<Sandbox>),
    Binary(binary::ServedBinary),
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Server::InProcess(sandbox) = &mut self.server {
            if let (Some(sandbox), Ok(runtime)) = (sandbox.take(), tokio::runtime::Handle::try_current()) {
                runtime.spawn(sandbox.stop());
            }
        }
    }
}

/// A response: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON, `Null` when it is not JSON.
    pub body: Value,
}

impl Reply {
    /// Asserts a 200 and returns the body.
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {} {}", self.status, self.body);
        &self.body
    }

    /// Asserts an error reply with `status` that names `field` and `rule`.
    pub fn refused(&self, status: u16, field: &str, rule: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "expected {status} ({field}/{rule}), got {} {}",
            self.status, self.body
        );
        assert_eq!(self.body["field"], json!(field), "field in {}", self.body);
        assert_eq!(self.body["rule"], json!(rule), "rule in {}", self.body);
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "message {message:?} should name {field}");
        assert_eq!(self.body["details"][0]["attribute"]["key"], json!(field));
        &self.body
    }

    /// Asserts an error reply's status and rule, for refusals whose field name is not the point.
    pub fn refused_by(&self, status: u16, rule: &str) {
        assert_eq!(self.status, status, "expected {status} ({rule}), got {} {}", self.status, self.body);
        assert_eq!(self.body["rule"], json!(rule), "rule in {}", self.body);
    }

    /// The body's `txnId`.
    pub fn txn(&self) -> String {
        self.body["txnId"].as_str().unwrap_or_else(|| panic!("no txnId in {}", self.body)).to_string()
    }
}

impl TestSandbox {
    /// A sandbox with the default configuration on 127.0.0.1, on a free port.
    pub async fn start() -> TestSandbox {
        TestSandbox::start_with(Config::default()).await
    }

    /// A sandbox started from a custom configuration.
    pub async fn start_with(config: Config) -> TestSandbox {
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        TestSandbox {
            url: sandbox.url(),
            http: reqwest::Client::new(),
            server: Server::InProcess(Some(sandbox)),
        }
    }

    /// The sandbox binary serving `fixtures` (a fixtures file as `serve --fixtures` reads it).
    pub fn serve_binary(fixtures: &Value) -> TestSandbox {
        let served = binary::ServedBinary::start(fixtures);
        TestSandbox { url: served.url.clone(), http: reqwest::Client::new(), server: Server::Binary(served) }
    }

    /// The sandbox binary keeping its state in `state` (`serve --state`).
    pub fn serve_binary_state(state: &std::path::Path) -> TestSandbox {
        let served = binary::ServedBinary::with_state(state);
        TestSandbox { url: served.url.clone(), http: reqwest::Client::new(), server: Server::Binary(served) }
    }

    /// Kills a sandbox served by the binary at once (SIGKILL); an in-process one is stopped.
    pub fn kill(&mut self) {
        match &mut self.server {
            Server::Binary(served) => served.kill(),
            Server::InProcess(sandbox) => drop(sandbox.take()),
        }
    }

    /// Sends a request with exactly `headers`, plus the gateway session on ABDM's HPR paths when
    /// `headers` has no Authorization of its own.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req =
            self.prepare(self.http.request(method, format!("{}{path}", self.url)), path, headers).await;
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req).await
    }

    /// A client → gateway message with the session `token` and `X-CM-ID: sbx`, in the v0.5
    /// envelope (`requestId`, `timestamp` and, answering `to`, `resp` in the body; to `paths.0`)
    /// or the v3 one (`REQUEST-ID`, `TIMESTAMP`, the `v3_extra` headers and `response`; to
    /// `paths.1`).
    pub async fn enveloped(
        &self,
        (v3, token): (bool, &str),
        paths: (&str, &str),
        to: Option<&hip::Recorded>,
        mut body: Value,
        v3_extra: &[(&str, &str)],
    ) -> Reply {
        let (auth, id, ts) = (format!("Bearer {token}"), uuid::Uuid::new_v4().to_string(), chrono_now());
        let mut headers = vec![("Authorization", auth.as_str()), ("X-CM-ID", "sbx")];
        if v3 {
            if let Some(r) = to {
                body["response"] = json!({"requestId": r.request_id});
            }
            headers.extend([("REQUEST-ID", id.as_str()), ("TIMESTAMP", ts.as_str())]);
            headers.extend_from_slice(v3_extra);
            return self.send(reqwest::Method::POST, paths.1, Some(&body), &headers).await;
        }
        body["requestId"] = json!(id);
        body["timestamp"] = json!(ts);
        if let Some(r) = to {
            body["resp"] = json!({"requestId": r.body["requestId"]});
        }
        self.send(reqwest::Method::POST, paths.0, Some(&body), &headers).await
    }

    /// A v3 call to `path`: the session `token`, a fresh `REQUEST-ID`, `TIMESTAMP`, `X-CM-ID:
    /// sbx`, and the `extra` headers.
    pub async fn v3_call(
        &self,
        token: &str,
        (method, path): (reqwest::Method, &str),
        body: Value,
        extra: &[(&str, &str)],
    ) -> Reply {
        let (auth, id, ts) = (format!("Bearer {token}"), uuid::Uuid::new_v4().to_string(), chrono_now());
        let mut headers = vec![
            ("Authorization", auth.as_str()),
            ("REQUEST-ID", id.as_str()),
            ("TIMESTAMP", ts.as_str()),
            ("X-CM-ID", "sbx"),
        ];
        headers.extend_from_slice(extra);
        self.send(method, path, Some(&body), &headers).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(&body), &[]).await
    }

    /// Sends raw bytes (for malformed-input tests).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let req = self.prepare(self.http.post(format!("{}{path}", self.url)), path, headers).await;
        read(req.body(body)).await
    }

    /// Adds the headers; they come before the body, so that a Content-Type of a test's own
    /// stands.
    async fn prepare(
        &self,
        mut req: reqwest::RequestBuilder,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        // ABDM's HPR paths need the gateway session token: the test client always has one,
        // unless a test sets its own Authorization header.
        let own = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if path.starts_with("/hpr/api/") && !own {
            req = req.header("Authorization", format!("Bearer {}", Box::pin(self.session()).await));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }

    /// A gateway session token for [`CLIENT_ID`], valid at the sandbox's time.
    pub async fn session(&self) -> String {
        self.session_for(CLIENT_ID, CLIENT_SECRET).await
    }

    /// A session token for a gateway client (`POST /gateway/v0.5/sessions`).
    pub async fn session_for(&self, client_id: &str, secret: &str) -> String {
        let body = json!({"clientId": client_id, "clientSecret": secret});
        let reply = self.post("/gateway/v0.5/sessions", body).await;
        reply.ok()["accessToken"].as_str().expect("accessToken").to_string()
    }

    /// The outbox (`GET /_sandbox/outbox`), oldest first; only one transaction's with `txn`.
    pub async fn outbox(&self, txn: Option<&str>) -> Vec<Value> {
        let query = txn.map(|t| format!("?txnId={t}")).unwrap_or_default();
        let reply = self.get(&format!("/_sandbox/outbox{query}")).await;
        reply.ok().as_array().expect("outbox is an array").clone()
    }

    /// The newest message the outbox holds for a transaction.
    pub async fn last_sent(&self, txn: &str) -> Value {
        let sent = self.outbox(Some(txn)).await;
        sent.last().unwrap_or_else(|| panic!("nothing sent for {txn}")).clone()
    }

    /// The newest OTP the outbox holds for a transaction.
    pub async fn otp(&self, txn: &str) -> String {
        let last = self.last_sent(txn).await;
        last["otp"].as_str().unwrap_or_else(|| panic!("no OTP sent for {txn}")).to_string()
    }

    /// The journal (`GET /_sandbox/journal` with `query`, e.g. `?since=3`), oldest first.
    pub async fn journal(&self, query: &str) -> Vec<Value> {
        let reply = self.get(&format!("/_sandbox/journal{query}")).await;
        reply.ok().as_array().expect("journal is an array").clone()
    }

    /// The transactions alive, as `GET /_sandbox/health` counts them.
    pub async fn live_transactions(&self) -> u64 {
        let health = self.get("/_sandbox/health").await;
        health.ok()["liveTransactions"].as_u64().expect("liveTransactions is a count")
    }

    /// Moves the sandbox's virtual clock on.
    pub async fn advance(&self, seconds: u64) {
        self.post("/_sandbox/clock/advance", json!({"seconds": seconds})).await.ok();
    }

    /// The sandbox's current (virtual) time.
    pub async fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let clock = self.get("/_sandbox/clock").await;
        let now = clock.ok()["now"].as_str().expect("clock.now").to_string();
        chrono::DateTime::parse_from_rfc3339(&now).expect("clock.now is ISO-8601").to_utc()
    }
}

/// Sends a request and reads the reply.
async fn read(req: reqwest::RequestBuilder) -> Reply {
    let res = req.send().await.expect("request is answered");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
}

/// `body` with every field of the object `patch` set over it.
pub fn patched(mut body: Value, patch: &Value) -> Value {
    for (k, v) in patch.as_object().expect("a patch is a JSON object") {
        body[k] = v.clone();
    }
    body
}

/// Real time in ABDM's TIMESTAMP form.
pub fn chrono_now() -> String {
    stamp(chrono::Utc::now())
}

/// A time in ABDM's TIMESTAMP form: RFC 3339, UTC, milliseconds.
pub fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
