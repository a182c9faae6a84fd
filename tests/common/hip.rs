//! A test HIP: an HTTP server on a free port that the sandbox's gateway can call back. It accepts
//! POST on any path, records each request (path, the X-HIP-ID / X-HIU-ID / Authorization
//! headers, the JSON body and when it arrived) and answers 202, or whatever status and delay a
//! test sets. Tests wait for a callback by the end of its path, then check it, including its
//! gateway JWT against the sandbox's JWKS as a real HIP does (`keys[0]`, RS256, `aud: account`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use super::TestSandbox;

/// How long a test waits for a callback unless it says otherwise.
pub const WAIT: Duration = Duration::from_secs(10);

/// One request the HIP received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request path.
    pub path: String,
    /// The X-HIP-ID header.
    pub hip_id: Option<String>,
    /// The X-HIU-ID header.
    pub hiu_id: Option<String>,
    /// The Authorization header.
    pub authorization: Option<String>,
    /// The v3 envelope headers: `REQUEST-ID`, `TIMESTAMP`, `X-CM-ID`.
    pub request_id: Option<String>,
    /// `TIMESTAMP`.
    pub timestamp: Option<String>,
    /// `X-CM-ID`.
    pub cm_id: Option<String>,
    /// The JSON body; a body that is not JSON is kept as a string.
    pub body: Value,
    /// When the request arrived (before any scripted delay of the answer).
    pub at: Instant,
}

impl Recorded {
    /// The token of `Authorization: Bearer <token>`.
    pub fn bearer(&self) -> &str {
        let auth =
            self.authorization.as_deref().unwrap_or_else(|| panic!("no Authorization on {}", self.path));
        auth.strip_prefix("Bearer ")
            .unwrap_or_else(|| panic!("Authorization {auth:?} is not 'Bearer <token>'"))
    }
}

/// How the HIP answers.
#[derive(Debug, Clone, Copy)]
struct Answer {
    status: u16,
    delay: Duration,
}

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    answer: Arc<Mutex<Answer>>,
}

/// A test HIP, listening until dropped.
pub struct Hip {
    /// `http://127.0.0.1:PORT`, the base URL to register as a bridge.
    pub url: String,
    shared: Shared,
    handle: ServerHandle,
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if req.method() != actix_web::http::Method::POST {
        return HttpResponse::MethodNotAllowed().finish();
    }
    let at = Instant::now();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let recorded = Recorded {
        path: req.path().to_string(),
        hip_id: header("X-HIP-ID"),
        hiu_id: header("X-HIU-ID"),
        authorization: header("Authorization"),
        request_id: header("REQUEST-ID"),
        timestamp: header("TIMESTAMP"),
        cm_id: header("X-CM-ID"),
        body,
        at,
    };
    shared.requests.lock().unwrap().push(recorded);
    let answer = *shared.answer.lock().unwrap();
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    HttpResponse::build(StatusCode::from_u16(answer.status).expect("a valid HTTP status")).finish()
}

impl Hip {
    /// Starts a HIP on 127.0.0.1 on a free port, in the current tokio runtime.
    pub async fn start() -> Hip {
        let shared = Shared {
            requests: Arc::new(Mutex::new(Vec::new())),
            answer: Arc::new(Mutex::new(Answer { status: 202, delay: Duration::ZERO })),
        };
        let data = web::Data::new(shared.clone());
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
                .workers(1)
                .disable_signals()
                .shutdown_timeout(1)
                .bind(("127.0.0.1", 0))
                .expect("the test HIP binds");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Hip { url: format!("http://{addr}"), shared, handle }
    }

    /// Answers every following request with `status`.
    pub fn answer_with(&self, status: u16) {
        self.shared.answer.lock().unwrap().status = status;
    }

    /// Holds every following answer back for `delay`.
    pub fn delay_answers(&self, delay: Duration) {
        self.shared.answer.lock().unwrap().delay = delay;
    }

    /// Everything received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// What was received on paths ending with `suffix`.
    pub fn received(&self, suffix: &str) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path.ends_with(suffix)).collect()
    }

    /// The first request on a path ending with `suffix`; panics, listing what did arrive, when
    /// none arrives within `timeout`.
    pub async fn wait_for(&self, suffix: &str, timeout: Duration) -> Recorded {
        self.wait_for_where(suffix, timeout, |_| true).await
    }

    /// The first request on a path ending with `suffix` that `pick` accepts.
    pub async fn wait_for_where(
        &self,
        suffix: &str,
        timeout: Duration,
        pick: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.received(suffix).into_iter().find(|r| pick(r)) {
                return r;
            }
            if Instant::now() >= deadline {
                let arrived: Vec<String> =
                    self.requests().iter().map(|r| format!("POST {} {}", r.path, r.body)).collect();
                panic!(
                    "no request on …{suffix} within {timeout:?}; the HIP received {}:\n{}",
                    arrived.len(),
                    arrived.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `n` requests on paths ending with `suffix` arrived; returns them.
    pub async fn wait_for_count(&self, suffix: &str, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(suffix);
            if got.len() >= n {
                return got;
            }
            if Instant::now() >= deadline {
                panic!("{} of {n} requests on …{suffix} arrived within {timeout:?}: {got:?}", got.len());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The callback on `…suffix` that answers the request `request_id` (its `resp.requestId`).
    pub async fn wait_for_reply(&self, suffix: &str, request_id: &str) -> Recorded {
        self.wait_for_where(suffix, WAIT, |r| r.body["resp"]["requestId"] == json!(request_id)).await
    }
}

/// Stops the server when dropped, so that a failing assertion cannot leave it running: the stop
/// is spawned on the runtime at hand; when the runtime ends first (as under `#[tokio::test]`), the
/// server's task is dropped with it and actix-server stops its workers then.
impl Drop for Hip {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let handle = self.handle.clone();
            runtime.spawn(async move { handle.stop(false).await });
        }
    }
}

/// Verifies `token` against `keys[0]` of a JWKS (`GET /gateway/v0.5/certs`) with `algorithm`,
/// checking `exp` and, when given, the audience; returns the claims.
pub fn try_verify(
    token: &str,
    jwks: &Value,
    algorithm: Algorithm,
    audience: Option<&str>,
) -> Result<Value, String> {
    let key = &jwks["keys"][0];
    let n = key["n"].as_str().ok_or_else(|| format!("no keys[0].n in {jwks}"))?;
    let e = key["e"].as_str().ok_or_else(|| format!("no keys[0].e in {jwks}"))?;
    let key = DecodingKey::from_rsa_components(n, e).map_err(|e| format!("keys[0]: {e}"))?;
    let mut validation = Validation::new(algorithm);
    match audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims).map_err(|e| e.to_string())
}

/// Verifies a callback's gateway JWT as a HIP does: `keys[0]` of the JWKS, RS256, audience
/// `account`, unexpired. Returns the claims.
pub fn verify_jwt(recorded: &Recorded, jwks: &Value) -> Value {
    try_verify(recorded.bearer(), jwks, Algorithm::RS256, Some("account"))
        .unwrap_or_else(|e| panic!("the gateway token on {} does not verify: {e}", recorded.path))
}

/// The sandbox's JWKS.
pub async fn jwks(sb: &TestSandbox) -> Value {
    sb.get("/gateway/v0.5/certs").await.ok().clone()
}

/// Registers `url` as the bridge (callback base URL) of the client the token was issued to.
pub async fn register_bridge(sb: &TestSandbox, token: &str, url: &str) {
    let auth = format!("Bearer {token}");
    let reply = sb
        .send(
            reqwest::Method::PATCH,
            "/gateway/v1/bridges",
            Some(&json!({"url": url})),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(reply.status, 200, "PATCH /gateway/v1/bridges: {} {}", reply.status, reply.body);
}
