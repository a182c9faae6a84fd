//! What the drivers' own HIPs and HIUs share: an inbox (an actix-web server on loopback, the
//! bridge URL the sandbox calls) that verifies the gateway's token on every message as an
//! integrator must, answers 202 and hands the message to the driver's workers; a mailbox where a
//! worker leaves what a waiting round trip needs; and the v0.5 and v3 envelopes of the messages
//! the drivers send back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hyper::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::client::Conn;

/// One message the sandbox sent to the inbox.
pub struct Msg {
    /// The path it came to.
    pub path: String,
    /// Its `REQUEST-ID` header (v3).
    pub request_id: Option<String>,
    /// Its JSON body.
    pub body: Value,
}

/// The receiving side of an inbox: messages, shared by the workers.
pub type Messages = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Msg>>>;

struct Gate {
    key: jsonwebtoken::DecodingKey,
    tx: mpsc::UnboundedSender<Msg>,
    refused: AtomicUsize,
}

/// A running inbox.
pub struct Inbox {
    /// Its base URL (the bridge URL to register).
    pub url: String,
    /// What arrived, in order.
    pub messages: Messages,
    gate: Arc<Gate>,
    handle: actix_web::dev::ServerHandle,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Inbox {
    /// Starts an inbox on a loopback port (one worker thread) that accepts messages signed with
    /// `key`, the gateway's JWKS key.
    pub fn start(key: jsonwebtoken::DecodingKey) -> Result<Inbox, String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let gate = Arc::new(Gate { key, tx, refused: AtomicUsize::new(0) });
        let data = web::Data::new(gate.clone());
        let server =
            HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .map_err(|e| format!("inbox: {e}"))?;
        let url = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        let served = tokio::spawn(server);
        Ok(Inbox { url, messages: Arc::new(tokio::sync::Mutex::new(rx)), gate, handle, served })
    }

    /// Messages refused for their token.
    pub fn refused(&self) -> usize {
        self.gate.refused.load(Ordering::Relaxed)
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.served.await;
    }
}

async fn receive(gate: web::Data<Arc<Gate>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Err(why) = verify(&gate.key, &req) {
        gate.refused.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::Unauthorized().json(json!({"error": {"code": 1000, "message": why}}));
    }
    let request_id = req.headers().get("REQUEST-ID").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = gate.tx.send(Msg { path: req.path().to_string(), request_id, body });
    HttpResponse::Accepted().finish()
}

/// The gateway's token on a message: RS256 by the JWKS key, `aud: account`, unexpired.
fn verify(key: &jsonwebtoken::DecodingKey, req: &HttpRequest) -> Result<(), String> {
    let token = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("no bearer token")?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["account"]);
    jsonwebtoken::decode::<Value>(token, key, &validation).map(|_| ()).map_err(|e| e.to_string())
}

/// The gateway's signing key from `GET /gateway/v0.5/certs` (`keys[0]`).
pub async fn gateway_key(conn: &mut Conn) -> Result<jsonwebtoken::DecodingKey, String> {
    let (status, jwks) = conn.send(Method::GET, "/gateway/v0.5/certs", None, None).await?;
    let jwks: Value = serde_json::from_slice(&jwks).map_err(|e| format!("certs: {status}: {e}"))?;
    let k = &jwks["keys"][0];
    jsonwebtoken::DecodingKey::from_rsa_components(
        k["n"].as_str().unwrap_or_default(),
        k["e"].as_str().unwrap_or_default(),
    )
    .map_err(|e| format!("certs: {e}"))
}

/// Registers `url` as the bridge of the session's client (`PATCH /gateway/v1/bridges`).
pub async fn register_bridge(conn: &mut Conn, auth: &str, url: &str) -> Result<(), String> {
    let body = hyper::body::Bytes::from(json!({"url": url}).to_string());
    let (status, answer) = conn.send(Method::PATCH, "/gateway/v1/bridges", Some(auth), Some(body)).await?;
    if !status.is_success() {
        return Err(format!("bridge: {status}: {}", String::from_utf8_lossy(&answer)));
    }
    Ok(())
}

/// Now, as ABDM timestamps are written.
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// POSTs a message to the gateway in the v0.5 envelope (`requestId`, `timestamp` in the body;
/// `resp.requestId` when it answers a request), `X-CM-ID: sbx`; a non-202 answer is an error.
pub async fn post_v05(
    conn: &mut Conn,
    path: &str,
    auth: &str,
    mut body: Value,
    answers: Option<&str>,
) -> Result<Value, String> {
    body["requestId"] = json!(uuid::Uuid::new_v4());
    body["timestamp"] = json!(now_iso());
    if let Some(id) = answers {
        body["resp"] = json!({"requestId": id});
    }
    send(conn, path, auth, body, &[]).await
}

/// POSTs a message in the v3 envelope (`REQUEST-ID`, `TIMESTAMP`, `X-CM-ID` headers;
/// `response.requestId` when it answers), with `extra` headers (`X-HIP-ID`, `X-HIU-ID`).
pub async fn post_v3(
    conn: &mut Conn,
    path: &str,
    auth: &str,
    mut body: Value,
    answers: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<Value, String> {
    if let Some(id) = answers {
        body["response"] = json!({"requestId": id});
    }
    let (id, ts) = (uuid::Uuid::new_v4().to_string(), now_iso());
    let mut headers = vec![("REQUEST-ID", id.as_str()), ("TIMESTAMP", ts.as_str())];
    headers.extend_from_slice(extra);
    send(conn, path, auth, body, &headers).await
}

async fn send(
    conn: &mut Conn,
    path: &str,
    auth: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> Result<Value, String> {
    let mut all = vec![("X-CM-ID", "sbx")];
    all.extend_from_slice(headers);
    let bytes = hyper::body::Bytes::from(body.to_string());
    let (status, answer) = conn.send_with(Method::POST, path, Some(auth), Some(bytes), &all).await?;
    if status.as_u16() != 202 && status.as_u16() != 200 {
        return Err(format!("{path} answered {status}: {}", String::from_utf8_lossy(&answer)));
    }
    Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

type Delivery = (Instant, Result<Value, String>);

enum Slot {
    Done(Delivery),
    Waiting(oneshot::Sender<Delivery>),
}

/// Where workers leave outcomes under a key (a request or transaction id) for the round trip
/// waiting on it, whichever comes first.
#[derive(Default)]
pub struct Mailbox {
    slots: Mutex<HashMap<String, Slot>>,
}

impl Mailbox {
    /// Leaves an outcome under `key`, stamped now.
    pub fn put(&self, key: String, outcome: Result<Value, String>) {
        let done = (Instant::now(), outcome);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.remove(&key) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(done);
            }
            _ => {
                slots.insert(key, Slot::Done(done));
            }
        }
    }

    /// Waits up to `within` for the outcome under `key`: (when it was left, the value).
    pub async fn take(&self, key: &str, within: Duration) -> Result<(Instant, Value), String> {
        let rx = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.remove(key) {
                Some(Slot::Done((at, outcome))) => return outcome.map(|v| (at, v)),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(key.to_string(), Slot::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(within, rx).await {
            Ok(Ok((at, outcome))) => outcome.map(|v| (at, v)),
            Ok(Err(_)) => Err(format!("{key}: abandoned")),
            Err(_) => {
                self.slots.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
                Err(format!("{key}: nothing within {} s", within.as_secs()))
            }
        }
    }
}

/// How hard a round-trip driver pushes: round trips in flight at once, for how long new ones
/// start, and how many at most.
#[derive(clap::Args, Clone, Copy)]
pub struct Load {
    /// Round trips in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Stop starting round trips after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Round trips at most.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: usize,
}

/// Runs round trips in `concurrency` loops until `count` were started or `duration` passed;
/// each loop has its own connection. Returns (latencies, failures, a sample of what `one`
/// returned for checking).
pub async fn round_trips<F, Fut>(
    addr: std::net::SocketAddr,
    Load { concurrency, duration, count }: Load,
    one: F,
) -> Result<(Vec<Duration>, Vec<String>, Vec<String>, f64), String>
where
    F: Fn(Conn) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (Conn, Result<(Instant, String), String>)> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, one) = (next.clone(), one.clone());
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let (mut done, mut failed, mut sample) = (Vec::new(), Vec::new(), Vec::new());
            while next.fetch_add(1, Ordering::Relaxed) < count && Instant::now() < deadline {
                let t0 = Instant::now();
                let (back, outcome) = one(conn).await;
                conn = back;
                match outcome {
                    Ok((at, id)) => {
                        done.push(at.saturating_duration_since(t0));
                        if sample.len() < 4 {
                            sample.push(id);
                        }
                    }
                    Err(e) => failed.push(e),
                }
            }
            (done, failed, sample)
        });
    }
    let (mut latencies, mut failures, mut sample) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        let (d, f, s) = joined.map_err(|e| e.to_string())?;
        latencies.extend(d);
        failures.extend(f);
        sample.extend(s);
    }
    Ok((latencies, failures, sample, start.elapsed().as_secs_f64()))
}
