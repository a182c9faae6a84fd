//! Many live transactions: HPR generateOtp for a built-in professional, concurrently. Each call
//! starts a transaction that lives 30 minutes (virtual time).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::client::{self, Conn};

/// Virtual seconds after which every transaction started now is gone: 30 min lifetime, 10 min
/// sweep grace, one minute of margin.
pub const EXPIRE_ALL_SECONDS: u64 = 2_460;
use crate::session;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub base: String,
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The professional's Aadhaar (Fatima Sheikh's by default).
    #[arg(long, default_value = crate::fixtures::TEMPLATE_AADHAAR)]
    pub aadhaar: String,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[arg(long, default_value = crate::session::CLIENT_ID)]
    pub client_id: String,
    #[arg(long, default_value = crate::session::CLIENT_SECRET)]
    pub client_secret: String,
}

pub async fn run(args: Args) -> Result<Value, String> {
    let addr = client::resolve(&args.base).await?;
    let auth = Arc::new(session::open(&mut Conn::new(addr), &args.client_id, &args.client_secret).await?);
    let body = Bytes::from(json!({"aadhaar": args.aadhaar}).to_string());
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency.max(1) {
        let (body, next, auth, count) = (body.clone(), next.clone(), auth.clone(), args.count);
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let (mut ok, mut failed, mut first_error) = (0usize, 0usize, None);
            while next.fetch_add(1, Ordering::Relaxed) < count {
                match conn.send(Method::POST, PATH, Some(&auth), Some(body.clone())).await {
                    Ok((status, _)) if status.is_success() => ok += 1,
                    Ok((status, answer)) => {
                        failed += 1;
                        first_error
                            .get_or_insert(format!("HTTP {status}: {}", String::from_utf8_lossy(&answer)));
                    }
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (ok, failed, first_error)
        });
    }
    let (mut ok, mut failed, mut first_error) = (0, 0, None);
    while let Some(joined) = tasks.join_next().await {
        let (o, f, e) = joined.map_err(|e| e.to_string())?;
        ok += o;
        failed += f;
        first_error = first_error.or(e);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({
        "created": ok,
        "failed": failed,
        "firstFailure": first_error,
        "seconds": seconds,
        "perSecond": ok as f64 / seconds,
    }))
}

const PATH: &str = "/hpr/api/v1/registration/aadhaar/generateOtp";
