//! Data-flow round trips through a HIP inside the driver, the sandbox playing the patient, the
//! consent manager and the HIU. One round trip:
//!
//! ```text
//! POST /_sandbox/consents (the patient grants)   → consent notify to the HIP → on-notify
//! POST /_sandbox/health-information/requests     → HI request to the HIP     → on-request
//!     the HIP encrypts the 20 KB bundle for the HIU's key (a fresh key pair and nonce)
//!     → push to dataPushUrl (the sandbox decrypts and checks it) → transfer notify
//! ```
//!
//! It ends when the sandbox has accepted the HIP's notify (it records the notify, judged against
//! what arrived, before answering). The HIP verifies the gateway's token on every message.

use std::sync::Arc;
use std::time::Duration;

use abdm_server::fidelius::{self, KeyMaterial};
use serde_json::{json, Value};

use crate::bundle;
use crate::client::{self, Conn};
use crate::inbox::{self, post_v05, Inbox, Mailbox, Messages};
use crate::{session, stats};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub base: String,
    #[command(flatten)]
    pub load: inbox::Load,
    /// Driver runtime threads (the HIP's inbox has one more).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

const HIP_ID: &str = "IN2910000001";
const PATIENT: &str = "asha.verma@sbx";
const PATIENT_REFERENCE: &str = "CLN-1001";
const WAIT: Duration = Duration::from_secs(15);

/// The HIP: what it owes the gateway for each message, done by its workers.
struct Hip {
    auth: String,
    bundle: String,
    checksum: String,
    mailbox: Mailbox,
}

pub async fn run(args: Args) -> Result<Value, String> {
    let addr = client::resolve(&args.base).await?;
    let mut conn = Conn::new(addr);
    let auth = session::open(&mut conn, session::CLIENT_ID, session::CLIENT_SECRET).await?;
    let inbox = Inbox::start(inbox::gateway_key(&mut conn).await?)?;
    inbox::register_bridge(&mut conn, &auth, &inbox.url).await?;
    let seed = json!({"hipId": HIP_ID, "abhaAddress": PATIENT, "patientReference": PATIENT_REFERENCE,
        "careContexts": [{"referenceNumber": bundle::CARE_CONTEXT, "display": "OPD consultation, 14 Jun 2021"}]});
    if let Err(e) = conn.post_json("/_sandbox/care-contexts", None, &seed).await {
        // A second run against the same server finds it linked already.
        if !e.contains("care-context-linked") {
            return Err(e);
        }
    }
    let text = bundle::twenty_kb();
    let digest = <md5::Md5 as md5::Digest>::digest(text.as_bytes());
    let hip = Arc::new(Hip {
        auth,
        checksum: digest.iter().map(|b| format!("{b:02x}")).collect(),
        bundle: text,
        mailbox: Mailbox::default(),
    });
    let mut workers = Vec::new();
    for _ in 0..args.load.concurrency.max(1) {
        workers.push(tokio::spawn(work(hip.clone(), inbox.messages.clone(), addr)));
    }

    let h = hip.clone();
    let (latencies, mut failures, sample, seconds) =
        inbox::round_trips(addr, args.load, move |mut conn: Conn| {
            let hip = h.clone();
            async move {
                let outcome = one(&mut conn, &hip).await;
                (conn, outcome)
            }
        })
        .await?;
    // What the sandbox recorded for a sample of the transfers: every entry decrypted and judged
    // right, the notify matching what arrived.
    let mut checked = 0;
    for txn in sample.iter().take(16) {
        let out = conn
            .send(hyper::Method::GET, &format!("/_sandbox/health-information/requests/{txn}"), None, None)
            .await?;
        let out: Value = serde_json::from_slice(&out.1).unwrap_or(Value::Null);
        let entry = &out["entries"][0];
        if out["status"] != "TRANSFERRED"
            || out["problems"] != json!([])
            || entry["decrypted"] != true
            || entry["checksumMatches"] != true
            || out["notify"]["matched"] != true
        {
            failures.push(format!("transfer {txn}: the sandbox recorded {out}"));
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
        "roundTrips": n,
        "failed": failures.len(),
        "firstFailure": failures.first(),
        "refusedTokens": refused,
        "checkedOutcomes": checked,
        "concurrency": args.load.concurrency,
        "bundleBytes": hip.bundle.len(),
        "seconds": seconds,
        "perSecond": n as f64 / seconds,
        "latencyMs": stats::latency(latencies),
    }))
}

/// One round trip: grant, wait for the HIP's on-notify to be accepted; ask for the data, wait
/// for the HIP's transfer notify to be accepted. Returns (when it ended, the transaction id).
async fn one(conn: &mut Conn, hip: &Hip) -> Result<(std::time::Instant, String), String> {
    let grant = json!({"hipId": HIP_ID, "abhaAddress": PATIENT, "hiTypes": [bundle::HI_TYPE],
        "careContexts": [bundle::CARE_CONTEXT]});
    let granted = conn.post_json("/_sandbox/consents", None, &grant).await?;
    let consent =
        granted["consentId"].as_str().ok_or_else(|| format!("consents: no consentId in {granted}"))?;
    hip.mailbox.take(&format!("consent {consent}"), WAIT).await?;
    let asked = json!({"consentId": consent, "keyFormat": "raw"});
    let requested = conn.post_json("/_sandbox/health-information/requests", None, &asked).await?;
    let txn = requested["transactionId"]
        .as_str()
        .ok_or_else(|| format!("health-information/requests: no transactionId in {requested}"))?
        .to_string();
    let (at, _) = hip.mailbox.take(&format!("transfer {txn}"), WAIT).await?;
    Ok((at, txn))
}

/// A HIP worker: takes the next message and does what the HIP owes for it, on its own
/// connection; leaves the outcome in the mailbox.
async fn work(hip: Arc<Hip>, messages: Messages, addr: std::net::SocketAddr) {
    let mut conn = Conn::new(addr);
    loop {
        let next = messages.lock().await.recv().await;
        let Some(msg) = next else { return };
        let answers = msg.body["requestId"].as_str().unwrap_or_default().to_string();
        match msg.path.as_str() {
            "/v0.5/consents/hip/notify" => {
                let consent = msg.body["notification"]["consentId"].as_str().unwrap_or_default().to_string();
                let ack = json!({"acknowledgement": {"status": "OK", "consentId": consent}});
                let sent = post_v05(
                    &mut conn,
                    "/gateway/v0.5/consents/hip/on-notify",
                    &hip.auth,
                    ack,
                    Some(&answers),
                )
                .await;
                hip.mailbox.put(format!("consent {consent}"), sent);
            }
            "/v0.5/health-information/hip/request" => {
                let txn = msg.body["transactionId"].as_str().unwrap_or_default().to_string();
                let sent = transfer(&mut conn, &hip, &msg.body, &answers).await;
                hip.mailbox.put(format!("transfer {txn}"), sent);
            }
            _ => {}
        }
    }
}

/// The HIP's side of an HI request: on-request (ACKNOWLEDGED), the bundle encrypted for the
/// HIU's key and pushed, then the transfer notify.
async fn transfer(conn: &mut Conn, hip: &Hip, request: &Value, answers: &str) -> Result<Value, String> {
    let txn = request["transactionId"].as_str().unwrap_or_default();
    let hi = &request["hiRequest"];
    let ack = json!({"hiRequest": {"transactionId": txn, "sessionStatus": "ACKNOWLEDGED"}});
    post_v05(conn, "/gateway/v0.5/health-information/hip/on-request", &hip.auth, ack, Some(answers)).await?;
    let km = &hi["keyMaterial"];
    let (hiu_key, hiu_nonce) = (
        km["dhPublicKey"]["keyValue"].as_str().unwrap_or_default(),
        km["nonce"].as_str().unwrap_or_default(),
    );
    let keys = KeyMaterial::generate();
    let content = fidelius::encrypt(&hip.bundle, &keys.nonce, hiu_nonce, &keys.private_key, hiu_key)
        .map_err(|e| format!("encrypt: {e}"))?;
    let push = json!({"pageNumber": 1, "pageCount": 1, "transactionId": txn,
        "entries": [{"content": content, "media": "application/fhir+json", "checksum": hip.checksum,
            "careContextReference": bundle::CARE_CONTEXT}],
        "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
            "dhPublicKey": {"expiry": inbox::now_iso(), "parameters": "Curve25519/32byte random key", "keyValue": keys.public_key},
            "nonce": keys.nonce}});
    let url = hi["dataPushUrl"].as_str().unwrap_or_default();
    // The push URL is the sandbox's own (`{public URL}/_sandbox/data-push/{id}`): its path.
    let path = url.find("/_sandbox/").map(|i| &url[i..]).ok_or_else(|| format!("dataPushUrl {url}"))?;
    conn.post_json(path, None, &push).await?;
    let consent = hi["consent"]["id"].as_str().unwrap_or_default();
    let notify = json!({"notification": {"consentId": consent, "transactionId": txn, "doneAt": inbox::now_iso(),
        "notifier": {"type": "HIP", "id": HIP_ID},
        "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": HIP_ID, "statusResponses": [
            {"careContextReference": bundle::CARE_CONTEXT, "hiStatus": "DELIVERED", "description": "Delivered"}]}}});
    post_v05(conn, "/gateway/v0.5/health-information/notify", &hip.auth, notify, None).await
}
