//! HPR ID registration flows, all 8 steps, many at once. Flow `i` registers generated
//! professional `first + i` (see [`crate::fixtures`]) as `fatima.b{first + i}`; OTPs are the
//! scripted 333333, so no outbox reads are needed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{self, Conn};
use crate::fixtures::{aadhaar, MOBILE, OTP};
use crate::{session, stats};

#[derive(clap::Args)]
pub struct Args {
    /// The sandbox's root URL; it must serve a `fixtures --count N` file with N ≥ first + flows.
    #[arg(long)]
    pub base: String,
    /// Index of the first generated professional to register.
    #[arg(long, default_value_t = 0)]
    pub first: usize,
    /// Flows to run at most.
    #[arg(long)]
    pub flows: usize,
    /// Flows in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Stop starting flows after this many seconds.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Driver runtime threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Gateway credentials: HPR's ABDM paths need a session token (one for the whole run, as a
    /// client caches it).
    #[arg(long, default_value = crate::session::CLIENT_ID)]
    pub client_id: String,
    #[arg(long, default_value = crate::session::CLIENT_SECRET)]
    pub client_secret: String,
}

pub const STEPS: usize = 8;

pub async fn run(args: Args) -> Result<Value, String> {
    let addr = client::resolve(&args.base).await?;
    let auth = Arc::new(session::open(&mut Conn::new(addr), &args.client_id, &args.client_secret).await?);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (next, auth) = (next.clone(), auth.clone());
        let (first, flows) = (args.first, args.flows);
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let mut done = Vec::new();
            let mut failed = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= flows || Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                match flow(&mut conn, &auth, first + i).await {
                    Ok(()) => done.push(t0.elapsed()),
                    Err(e) => failed.push(e),
                }
            }
            (done, failed)
        });
    }
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (done, failed) = joined.map_err(|e| e.to_string())?;
        latencies.extend(done);
        failures.extend(failed);
    }
    let seconds = start.elapsed().as_secs_f64();
    let flows = latencies.len();
    Ok(json!({
        "flows": flows,
        "failed": failures.len(),
        "firstFailure": failures.first(),
        "concurrency": args.concurrency,
        "seconds": seconds,
        "flowsPerSecond": flows as f64 / seconds,
        "requestsPerSecond": (flows * STEPS) as f64 / seconds,
        "flowLatencyMs": stats::latency(latencies),
    }))
}

const BASE: &str = "/hpr/api/v1/registration/aadhaar";

/// One registration, checking what each step answers.
async fn flow(conn: &mut Conn, auth: &str, n: usize) -> Result<(), String> {
    let auth = Some(auth);
    let r = conn.post_json(&format!("{BASE}/generateOtp"), auth, &json!({"aadhaar": aadhaar(n)})).await?;
    let txn = r["txnId"].as_str().ok_or_else(|| format!("generateOtp: no txnId in {r}"))?.to_string();
    conn.post_json(
        &format!("{BASE}/verifyOTP"),
        auth,
        &json!({"otp": OTP, "txnId": txn, "domainName": "@hpr.abdm", "idType": "hpr_id"}),
    )
    .await?;
    let r = conn
        .post_json(
            &format!("{BASE}/checkHpIdAccountExist"),
            auth,
            &json!({"txnId": txn, "preverifiedCheck": true}),
        )
        .await?;
    if r["new"] != true {
        return Err(format!("checkHpIdAccountExist: not a new professional: {r}"));
    }
    let r = conn
        .post_json(
            &format!("{BASE}/demographicAuthViaMobile"),
            auth,
            &json!({"txnId": txn, "mobileNumber": MOBILE}),
        )
        .await?;
    if r["verified"] != false {
        return Err(format!("demographicAuthViaMobile: expected verified false: {r}"));
    }
    conn.post_json(&format!("{BASE}/generateMobileOTP"), auth, &json!({"mobile": MOBILE, "txnId": txn}))
        .await?;
    conn.post_json(&format!("{BASE}/verifyMobileOTP"), auth, &json!({"otp": OTP, "txnId": txn})).await?;
    let r = conn.post_json(&format!("{BASE}/hpid/suggestion"), auth, &json!({"txnId": txn})).await?;
    if !r.is_array() {
        return Err(format!("hpid/suggestion: not an array: {r}"));
    }
    let hpr_id = format!("fatima.b{n}");
    let r = conn
        .post_json(
            &format!("{BASE}/createHprIdWithPreVerified"),
            auth,
            &json!({
                "txnId": txn,
                "hprId": hpr_id,
                "password": "Sandbox@2024",
                "firstName": "Fatima",
                "hpCategoryCode": 2,
                "hpSubCategoryCode": 5,
                "stateCode": 27,
                "districtCode": 518,
            }),
        )
        .await?;
    if r["hprId"] != format!("{hpr_id}@hpr.abdm") {
        return Err(format!("createHprIdWithPreVerified: unexpected answer {r}"));
    }
    Ok(())
}
