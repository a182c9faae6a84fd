//! Profile-share round trips through a local HIP. The driver registers the HIP as the bridge of
//! the facility's client, then, for each round trip, triggers a share (`POST
//! /_sandbox/share-profile`, as a patient scanning the HIP's QR code); the sandbox pushes the
//! profile to the HIP, which verifies the gateway's JWT, answers 202 and posts on-share back.
//! A round trip ends when the sandbox has accepted that on-share (it records it on the share
//! before answering, so `GET /_sandbox/share-profile/{id}` shows it from then on).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hyper::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::client::{self, Conn};
use crate::{session, stats};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub base: String,
    /// Round trips in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Stop starting round trips after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Round trips at most.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: usize,
    #[arg(long, default_value = crate::session::CLIENT_ID)]
    pub client_id: String,
    #[arg(long, default_value = crate::session::CLIENT_SECRET)]
    pub client_secret: String,
    #[arg(long, default_value = "IN2910000001")]
    pub hip_id: String,
    #[arg(long, default_value = "OPD1")]
    pub code: String,
    #[arg(long, default_value = "asha.verma@sbx")]
    pub abha_address: String,
    /// Driver runtime threads (the HIP has one more).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

type Outcome = (Instant, Result<(), String>);

enum Slot {
    Done(Outcome),
    Waiting(oneshot::Sender<Outcome>),
}

/// The HIP's side: it verifies each share's token and queues the on-share it owes.
struct Hip {
    key: jsonwebtoken::DecodingKey,
    owed: mpsc::UnboundedSender<(String, String)>,
    slots: Mutex<HashMap<String, Slot>>,
    refused: AtomicUsize,
}

impl Hip {
    fn complete(&self, id: String, outcome: Result<(), String>) {
        let done = (Instant::now(), outcome);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.remove(&id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send(done);
            }
            _ => {
                slots.insert(id, Slot::Done(done));
            }
        }
    }

    async fn wait(&self, id: &str) -> Result<Instant, String> {
        let rx = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            match slots.remove(id) {
                Some(Slot::Done((at, outcome))) => return outcome.map(|()| at),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(id.to_string(), Slot::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(15), rx).await {
            Ok(Ok((at, outcome))) => outcome.map(|()| at),
            Ok(Err(_)) => Err(format!("share {id}: abandoned")),
            Err(_) => Err(format!("share {id}: no on-share accepted within 15 s")),
        }
    }

    fn verify(&self, req: &HttpRequest) -> Result<(), String> {
        let token = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("no bearer token")?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["account"]);
        jsonwebtoken::decode::<Value>(token, &self.key, &validation).map(|_| ()).map_err(|e| e.to_string())
    }
}

async fn receive(hip: web::Data<Arc<Hip>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if req.path() != "/v0.5/patients/profile/share" {
        return HttpResponse::NotFound().finish();
    }
    if let Err(why) = hip.verify(&req) {
        hip.refused.fetch_add(1, Ordering::Relaxed);
        return HttpResponse::Unauthorized().json(json!({"error": {"code": 1000, "message": why}}));
    }
    let share: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = share["requestId"].as_str().unwrap_or_default().to_string();
    let health_id = share["profile"]["patient"]["healthId"].as_str().unwrap_or_default().to_string();
    let _ = hip.owed.send((id, health_id));
    HttpResponse::Accepted().finish()
}

/// Posts the on-shares the HIP owes, on its own connection.
async fn on_shares(
    hip: Arc<Hip>,
    owed: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>,
    addr: std::net::SocketAddr,
    auth: Arc<String>,
    tokens: Arc<AtomicU64>,
) {
    let mut conn = Conn::new(addr);
    loop {
        let next = owed.lock().await.recv().await;
        let Some((id, health_id)) = next else { return };
        let token = tokens.fetch_add(1, Ordering::Relaxed) + 1;
        let body = json!({
            "requestId": uuid::Uuid::new_v4(),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "acknowledgement": {"status": "SUCCESS", "healthId": health_id, "tokenNumber": token.to_string()},
            "resp": {"requestId": id},
        });
        let bytes = hyper::body::Bytes::from(body.to_string());
        let outcome = match conn
            .send_with(
                Method::POST,
                "/gateway/v0.5/patients/profile/on-share",
                Some(&auth),
                Some(bytes),
                &[("X-CM-ID", "sbx")],
            )
            .await
        {
            Ok((status, _)) if status.as_u16() == 202 => Ok(()),
            Ok((status, answer)) => {
                Err(format!("on-share answered {status}: {}", String::from_utf8_lossy(&answer)))
            }
            Err(e) => Err(format!("on-share: {e}")),
        };
        hip.complete(id, outcome);
    }
}

pub async fn run(args: Args) -> Result<Value, String> {
    let addr = client::resolve(&args.base).await?;
    let mut conn = Conn::new(addr);
    let auth = Arc::new(session::open(&mut conn, &args.client_id, &args.client_secret).await?);
    let (status, jwks) = conn.send(Method::GET, "/gateway/v0.5/certs", None, None).await?;
    let jwks: Value = serde_json::from_slice(&jwks).map_err(|e| format!("certs: {status}: {e}"))?;
    let k = &jwks["keys"][0];
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        k["n"].as_str().unwrap_or_default(),
        k["e"].as_str().unwrap_or_default(),
    )
    .map_err(|e| format!("certs: {e}"))?;
    let (owed, owed_rx) = mpsc::unbounded_channel();
    let hip = Arc::new(Hip { key, owed, slots: Mutex::new(HashMap::new()), refused: AtomicUsize::new(0) });
    let owed_rx = Arc::new(tokio::sync::Mutex::new(owed_rx));
    let tokens = Arc::new(AtomicU64::new(0));
    let mut posters = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        posters.push(tokio::spawn(on_shares(
            hip.clone(),
            owed_rx.clone(),
            addr,
            auth.clone(),
            tokens.clone(),
        )));
    }
    let data = web::Data::new(hip.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .map_err(|e| format!("HIP: {e}"))?;
    let hip_url = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    let served = tokio::spawn(server);
    let (status, answer) = conn
        .send(
            Method::PATCH,
            "/gateway/v1/bridges",
            Some(&auth),
            Some(hyper::body::Bytes::from(json!({"url": hip_url}).to_string())),
        )
        .await?;
    if !status.is_success() {
        return Err(format!("bridge: {status}: {}", String::from_utf8_lossy(&answer)));
    }

    let trigger =
        Arc::new(json!({"hipId": args.hip_id, "code": args.code, "abhaAddress": args.abha_address}));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (hip, trigger, next) = (hip.clone(), trigger.clone(), next.clone());
        let count = args.count;
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let (mut done, mut failed, mut ids) = (Vec::new(), Vec::new(), Vec::new());
            loop {
                if next.fetch_add(1, Ordering::Relaxed) >= count || Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                let started = conn.post_json("/_sandbox/share-profile", None, &trigger).await;
                let id = match started.map(|v| v["requestId"].as_str().map(str::to_string)) {
                    Ok(Some(id)) => id,
                    Ok(None) => {
                        failed.push("share-profile: no requestId".to_string());
                        continue;
                    }
                    Err(e) => {
                        failed.push(e);
                        continue;
                    }
                };
                match hip.wait(&id).await {
                    Ok(at) => {
                        done.push(at.saturating_duration_since(t0));
                        if ids.len() < 4 {
                            ids.push(id);
                        }
                    }
                    Err(e) => failed.push(e),
                }
            }
            (done, failed, ids)
        });
    }
    let (mut latencies, mut failures, mut sample) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        let (d, f, ids) = joined.map_err(|e| e.to_string())?;
        latencies.extend(d);
        failures.extend(f);
        sample.extend(ids);
    }
    let seconds = start.elapsed().as_secs_f64();
    // What the sandbox recorded for a sample of the shares: delivered, on-share matched.
    let mut checked = 0;
    for id in sample.iter().take(16) {
        let (status, s) =
            conn.send(Method::GET, &format!("/_sandbox/share-profile/{id}"), None, None).await?;
        let s: Value = serde_json::from_slice(&s).unwrap_or(Value::Null);
        if !status.is_success() || s["delivered"] != true || s["onShare"]["matched"] != true {
            failures.push(format!("share {id}: the sandbox recorded {status} {s}"));
        }
        checked += 1;
    }
    handle.stop(true).await;
    let _ = served.await;
    for p in posters {
        p.abort();
    }
    let n = latencies.len();
    Ok(json!({
        "roundTrips": n,
        "failed": failures.len(),
        "firstFailure": failures.first(),
        "refusedTokens": hip.refused.load(Ordering::Relaxed),
        "checkedOutcomes": checked,
        "concurrency": args.concurrency,
        "seconds": seconds,
        "perSecond": n as f64 / seconds,
        "latencyMs": stats::latency(latencies),
    }))
}
