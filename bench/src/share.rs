//! Profile-share round trips through a local HIP, in the v0.5 envelope or v3's. The driver
//! registers the HIP as the bridge of the facility's client, then, for each round trip, triggers
//! a share (`POST /_sandbox/share-profile`, as a patient scanning the HIP's QR code); the sandbox
//! pushes the profile to the HIP, which verifies the gateway's JWT, answers 202 and posts
//! on-share back. A round trip ends when the sandbox has accepted that on-share (it records it
//! on the share before answering, so `GET /_sandbox/share-profile/{id}` shows it from then on).
//!
//! | | v0.5 | v3 |
//! |---|---|---|
//! | share | `{bridge}/v0.5/patients/profile/share` | `{bridge}/api/v3/hip/patient/share` |
//! | on-share | `/gateway/v0.5/patients/profile/on-share` | `/api/hiecm/patient-share/v3/on-share` |
//! | envelope | `requestId`, `timestamp`, `resp` in the body | `REQUEST-ID`, `TIMESTAMP` headers, `response` |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::{json, Value};

use crate::client::{self, Conn};
use crate::inbox::{self, post_v05, post_v3, Inbox, Mailbox, Messages};
use crate::{session, stats};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub base: String,
    #[command(flatten)]
    pub load: inbox::Load,
    /// The envelope: v0.5 or v3.
    #[arg(long, default_value = "v0.5", value_parser = ["v0.5", "v3"])]
    pub version: String,
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

const WAIT: Duration = Duration::from_secs(15);

struct Hip {
    auth: String,
    hip_id: String,
    code: String,
    tokens: AtomicU64,
    mailbox: Mailbox,
}

pub async fn run(args: Args) -> Result<Value, String> {
    let addr = client::resolve(&args.base).await?;
    let mut conn = Conn::new(addr);
    let auth = session::open(&mut conn, &args.client_id, &args.client_secret).await?;
    let inbox = Inbox::start(inbox::gateway_key(&mut conn).await?)?;
    inbox::register_bridge(&mut conn, &auth, &inbox.url).await?;
    let hip = Arc::new(Hip {
        auth,
        hip_id: args.hip_id.clone(),
        code: args.code.clone(),
        tokens: AtomicU64::new(0),
        mailbox: Mailbox::default(),
    });
    let mut workers = Vec::new();
    for _ in 0..args.load.concurrency.max(1) {
        workers.push(tokio::spawn(on_shares(hip.clone(), inbox.messages.clone(), addr)));
    }
    let trigger = Arc::new(json!({"hipId": args.hip_id, "code": args.code,
        "abhaAddress": args.abha_address, "version": args.version}));
    let h = hip.clone();
    let (latencies, mut failures, sample, seconds) =
        inbox::round_trips(addr, args.load, move |mut conn: Conn| {
            let (hip, trigger) = (h.clone(), trigger.clone());
            async move {
                let outcome = async {
                    let started = conn.post_json("/_sandbox/share-profile", None, &trigger).await?;
                    let id = started["requestId"].as_str().ok_or("share-profile: no requestId")?.to_string();
                    let (at, _) = hip.mailbox.take(&id, WAIT).await?;
                    Ok::<_, String>((at, id))
                }
                .await;
                (conn, outcome)
            }
        })
        .await?;
    // What the sandbox recorded for a sample of the shares: delivered, on-share matched.
    let mut checked = 0;
    for id in sample.iter().take(16) {
        let (status, s) =
            conn.send(Method::GET, &format!("/_sandbox/share-profile/{id}"), None, None).await?;
        let s: Value = serde_json::from_slice(&s).unwrap_or(Value::Null);
        if !status.is_success() || s["delivered"] != true || s["onShare"]["matched"] != true {
            failures.push(format!("share {id}: the sandbox recorded {status} {s}"));
        } else if s["version"] != json!(args.version) {
            failures.push(format!("share {id}: sent in {}, not {}", s["version"], args.version));
        }
        checked += 1;
    }
    let refused = inbox.refused();
    inbox.stop().await;
    for w in workers {
        w.abort();
    }
    let n = latencies.len();
    Ok(json!({
        "version": args.version,
        "roundTrips": n,
        "failed": failures.len(),
        "firstFailure": failures.first(),
        "refusedTokens": refused,
        "checkedOutcomes": checked,
        "concurrency": args.load.concurrency,
        "seconds": seconds,
        "perSecond": n as f64 / seconds,
        "latencyMs": stats::latency(latencies),
    }))
}

/// A HIP worker: posts the on-share each share is owed, on its own connection, and leaves the
/// outcome under the share's request id.
async fn on_shares(hip: Arc<Hip>, messages: Messages, addr: std::net::SocketAddr) {
    let mut conn = Conn::new(addr);
    loop {
        let next = messages.lock().await.recv().await;
        let Some(msg) = next else { return };
        let token = (hip.tokens.fetch_add(1, Ordering::Relaxed) + 1).to_string();
        let patient = &msg.body["profile"]["patient"];
        let (id, sent) = match msg.path.as_str() {
            "/v0.5/patients/profile/share" => {
                let id = msg.body["requestId"].as_str().unwrap_or_default().to_string();
                let ack = json!({"acknowledgement": {"status": "SUCCESS", "healthId": patient["healthId"], "tokenNumber": token}});
                let path = "/gateway/v0.5/patients/profile/on-share";
                let sent = post_v05(&mut conn, path, &hip.auth, ack, Some(&id)).await;
                (id, sent)
            }
            "/api/v3/hip/patient/share" => {
                let id = msg.request_id.clone().unwrap_or_default();
                let ack = json!({"acknowledgement": {"abhaAddress": patient["abhaAddress"], "status": "SUCCESS",
                    "profile": {"context": hip.code, "tokenNumber": token, "expiry": "1800"}}});
                let path = "/api/hiecm/patient-share/v3/on-share";
                let sent =
                    post_v3(&mut conn, path, &hip.auth, ack, Some(&id), &[("X-HIP-ID", &hip.hip_id)]).await;
                (id, sent)
            }
            _ => continue,
        };
        hip.mailbox.put(id, sent);
    }
}
