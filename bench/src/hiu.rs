//! HIU round trips: an HIU inside the driver (`SBX_000003`, HIU `IN2710000003`) against the
//! sandbox as consent manager, patient and HIP. One round trip:
//!
//! ```text
//! consent-requests/init → on-init (the consent request id)
//!     the patient grants (POST /_sandbox/consent-requests/{id}/grant, the driver playing her)
//!     → notify GRANTED with the artefact → on-notify
//! consents/fetch → on-fetch (the artefact)
//! health-information/cm/request (the HIU's own key and dataPushUrl) → on-request
//!     → the sandbox, as the HIP, encrypts the bundle and pushes it; the HIU decrypts it
//! health-information/notify (notifier HIU, OK per entry)
//! ```
//!
//! It ends when the sandbox has accepted the HIU's notify (judged against what it pushed). The
//! suite serves fixtures in which the patient holds one 20 KB record and waits to be asked
//! (`consentDecision: ask`): the built-in scripted grant comes 2 s of virtual time after the
//! request, which would measure that wait.

use std::sync::Arc;
use std::time::Duration;

use abdm_server::fidelius::{self, KeyMaterial};
use serde_json::{json, Value};

use crate::client::{self, Conn};
use crate::inbox::{self, post_v05, Inbox, Mailbox, Messages};
use crate::{bundle, stats};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub base: String,
    #[command(flatten)]
    pub load: inbox::Load,
    /// Driver runtime threads (the HIU's inbox has one more).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

pub const CLIENT_ID: &str = "SBX_000003";
pub const CLIENT_SECRET: &str = "sandbox-secret-0003";
pub const HIU_ID: &str = "IN2710000003";
/// The patient of the generated fixtures (see [`fixtures`]).
pub const PATIENT: &str = "asha.verma@sbx";
const WAIT: Duration = Duration::from_secs(15);

struct Hiu {
    auth: String,
    url: String,
    /// The key material of each HI request in flight, by the request's requestId until its
    /// on-request names the transaction.
    keys: dashmap::DashMap<String, Arc<KeyMaterial>>,
    mailbox: Mailbox,
}

pub async fn run(args: Args) -> Result<Value, String> {
    let addr = client::resolve(&args.base).await?;
    let mut conn = Conn::new(addr);
    let auth = crate::session::open(&mut conn, CLIENT_ID, CLIENT_SECRET).await?;
    let inbox = Inbox::start(inbox::gateway_key(&mut conn).await?)?;
    inbox::register_bridge(&mut conn, &auth, &inbox.url).await?;
    let hiu = Arc::new(Hiu {
        auth,
        url: inbox.url.clone(),
        keys: dashmap::DashMap::new(),
        mailbox: Mailbox::default(),
    });
    let mut workers = Vec::new();
    for _ in 0..args.load.concurrency.max(1) {
        workers.push(tokio::spawn(work(hiu.clone(), inbox.messages.clone(), addr)));
    }
    let h = hiu.clone();
    let (latencies, mut failures, sample, seconds) =
        inbox::round_trips(addr, args.load, move |mut conn: Conn| {
            let hiu = h.clone();
            async move {
                let outcome = one(&mut conn, &hiu).await;
                (conn, outcome)
            }
        })
        .await?;
    let mut checked = 0;
    for txn in sample.iter().take(16) {
        let out = conn
            .send(hyper::Method::GET, &format!("/_sandbox/health-information/requests/{txn}"), None, None)
            .await?;
        let out: Value = serde_json::from_slice(&out.1).unwrap_or(Value::Null);
        if out["status"] != "TRANSFERRED" || out["hiuReport"]["matches"] != true || out["pushed"][0].is_null()
        {
            failures.push(format!("HIU transfer {txn}: the sandbox recorded {out}"));
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
        "seconds": seconds,
        "perSecond": n as f64 / seconds,
        "latencyMs": stats::latency(latencies),
    }))
}

/// A consent request for the patient's OP consultations of the last ten years.
fn consent_request() -> Value {
    let now = chrono::Utc::now();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({"consent": {
        "purpose": {"text": "Care Management", "code": "CAREMGT", "refUri": "http://terminology.hl7.org/ValueSet/v3-PurposeOfUse"},
        "patient": {"id": PATIENT}, "hiu": {"id": HIU_ID, "name": "Sandbox Diagnostics"},
        "requester": {"name": "Dr. Rao", "identifier": {"type": "REGNO", "value": "MH1001", "system": "https://www.mciindia.org"}},
        "hiTypes": [bundle::HI_TYPE],
        "permission": {"accessMode": "VIEW",
            "dateRange": {"from": stamp(now - chrono::Duration::days(3650)), "to": stamp(now)},
            "dataEraseAt": stamp(now + chrono::Duration::days(30)),
            "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}}}})
}

/// The request id a v0.5 message of ours will carry: set here so the answer can be awaited by it.
fn with_id(mut body: Value) -> (String, Value) {
    let id = uuid::Uuid::new_v4().to_string();
    body["requestId"] = json!(id);
    body["timestamp"] = json!(inbox::now_iso());
    (id, body)
}

async fn post(conn: &mut Conn, path: &str, auth: &str, body: &Value) -> Result<Value, String> {
    let bytes = hyper::body::Bytes::from(body.to_string());
    let (status, answer) =
        conn.send_with(hyper::Method::POST, path, Some(auth), Some(bytes), &[("X-CM-ID", "sbx")]).await?;
    if status.as_u16() != 202 {
        return Err(format!("{path} answered {status}: {}", String::from_utf8_lossy(&answer)));
    }
    Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
}

/// One round trip; returns (when the notify was accepted, the transaction id).
async fn one(conn: &mut Conn, hiu: &Hiu) -> Result<(std::time::Instant, String), String> {
    let (init, body) = with_id(consent_request());
    post(conn, "/gateway/v0.5/consent-requests/init", &hiu.auth, &body).await?;
    let (_, on_init) = hiu.mailbox.take(&format!("answer {init}"), WAIT).await?;
    let request = on_init["consentRequest"]["id"]
        .as_str()
        .ok_or_else(|| format!("on-init without a consent request: {on_init}"))?
        .to_string();
    // The patient grants; the HIU is notified and acknowledges (its worker does).
    conn.post_json(&format!("/_sandbox/consent-requests/{request}/grant"), None, &json!({})).await?;
    let (_, artefact) = hiu.mailbox.take(&format!("granted {request}"), WAIT).await?;
    let consent = artefact.as_str().unwrap_or_default().to_string();
    let (fetch, body) = with_id(json!({"consentId": consent}));
    post(conn, "/gateway/v0.5/consents/fetch", &hiu.auth, &body).await?;
    let (_, fetched) = hiu.mailbox.take(&format!("answer {fetch}"), WAIT).await?;
    if fetched["consent"]["consentDetail"]["consentId"] != json!(consent) {
        return Err(format!("on-fetch for another consent: {fetched}"));
    }
    let keys = Arc::new(KeyMaterial::generate());
    let hi = json!({"hiRequest": {"consent": {"id": consent}, "dataPushUrl": format!("{}/data/push", hiu.url),
        "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
            "dhPublicKey": {"expiry": "2099-01-01T00:00:00.000Z", "parameters": "Curve25519/32byte random key", "keyValue": keys.public_key},
            "nonce": keys.nonce}}});
    let (asked, body) = with_id(hi);
    hiu.keys.insert(asked.clone(), keys);
    let answer = post(conn, "/gateway/v0.5/health-information/cm/request", &hiu.auth, &body).await;
    let txn = answer.and_then(|a| {
        a["transactionId"].as_str().map(str::to_string).ok_or_else(|| format!("cm/request answered {a}"))
    });
    let txn = match txn {
        Ok(t) => t,
        Err(e) => {
            hiu.keys.remove(&asked);
            return Err(e);
        }
    };
    // The worker that takes the on-request files the keys under the transaction id; the push
    // may come first, so the transaction's outcome is what is awaited.
    let (_, statuses) = hiu.mailbox.take(&format!("pushed {txn}"), WAIT).await?;
    let notify = json!({"notification": {"consentId": consent, "transactionId": txn, "doneAt": inbox::now_iso(),
        "notifier": {"type": "HIU", "id": HIU_ID},
        "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": "IN2910000001", "statusResponses": statuses}}});
    let (_, body) = with_id(notify);
    post(conn, "/gateway/v0.5/health-information/notify", &hiu.auth, &body).await?;
    Ok((std::time::Instant::now(), txn))
}

/// An HIU worker: answers what the gateway sends, decrypts what is pushed.
async fn work(hiu: Arc<Hiu>, messages: Messages, addr: std::net::SocketAddr) {
    let mut conn = Conn::new(addr);
    loop {
        let next = messages.lock().await.recv().await;
        let Some(msg) = next else { return };
        let b = &msg.body;
        let answered = b["resp"]["requestId"].as_str().unwrap_or_default().to_string();
        match msg.path.as_str() {
            "/v0.5/consent-requests/on-init" | "/v0.5/consents/on-fetch" => {
                hiu.mailbox.put(format!("answer {answered}"), Ok(msg.body));
            }
            "/v0.5/consents/hiu/notify" => {
                let n = &b["notification"];
                let request = n["consentRequestId"].as_str().unwrap_or_default().to_string();
                let ids: Vec<String> = n["consentArtefacts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["id"].as_str().map(str::to_string))
                    .collect();
                let acks: Vec<Value> =
                    ids.iter().map(|id| json!({"status": "OK", "consentId": id})).collect();
                let answers = b["requestId"].as_str().unwrap_or_default().to_string();
                let sent = post_v05(
                    &mut conn,
                    "/gateway/v0.5/consents/hiu/on-notify",
                    &hiu.auth,
                    json!({"acknowledgement": acks}),
                    Some(&answers),
                )
                .await;
                let outcome = match (n["status"].as_str(), ids.first()) {
                    (Some("GRANTED"), Some(id)) => sent.map(|_| json!(id)),
                    _ => Err(format!("consent request {request}: notified {n}")),
                };
                hiu.mailbox.put(format!("granted {request}"), outcome);
            }
            "/v0.5/health-information/hiu/on-request" => {
                let txn = b["hiRequest"]["transactionId"].as_str().unwrap_or_default().to_string();
                let keys = hiu
                    .keys
                    .remove(&answered)
                    .map(|(_, k)| json!({"privateKey": k.private_key, "nonce": k.nonce}));
                let keys =
                    keys.ok_or_else(|| format!("an on-request for {txn} answering no HI request of ours"));
                hiu.mailbox.put(format!("keys {txn}"), keys);
            }
            "/data/push" => {
                let txn = b["transactionId"].as_str().unwrap_or_default().to_string();
                let outcome = opened(&hiu, b, &txn).await;
                hiu.mailbox.put(format!("pushed {txn}"), outcome);
            }
            _ => {}
        }
    }
}

/// Decrypts every entry of a push with the HIU's key for its transaction, checks its MD5, and
/// returns the statuses for the notify (one page holds the whole record here).
async fn opened(hiu: &Hiu, page: &Value, txn: &str) -> Result<Value, String> {
    // The on-request is delivered before the push starts, but another worker may still be
    // filing it.
    let (_, keys) = hiu.mailbox.take(&format!("keys {txn}"), WAIT).await?;
    let (private_key, nonce) =
        (keys["privateKey"].as_str().unwrap_or_default(), keys["nonce"].as_str().unwrap_or_default());
    let km = &page["keyMaterial"];
    let (hip_key, hip_nonce) = (
        km["dhPublicKey"]["keyValue"].as_str().unwrap_or_default(),
        km["nonce"].as_str().unwrap_or_default(),
    );
    let mut statuses = Vec::new();
    for e in page["entries"].as_array().into_iter().flatten() {
        let content = e["content"].as_str().unwrap_or_default();
        let plain = fidelius::decrypt(content, nonce, hip_nonce, private_key, hip_key)
            .map_err(|err| format!("{txn}: {err}"))?;
        let digest = <md5::Md5 as md5::Digest>::digest(plain.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        if e["checksum"] != json!(hex) {
            return Err(format!("{txn}: checksum {} is not the MD5 {hex}", e["checksum"]));
        }
        statuses.push(json!({"careContextReference": e["careContextReference"], "hiStatus": "OK", "description": "decrypted"}));
    }
    if page["pageCount"] != json!(1) {
        return Err(format!("{txn}: {} pages; the bench record fits one", page["pageCount"]));
    }
    Ok(json!(statuses))
}

/// The fixtures this measurement serves: the built-in ones, the patient waiting to be asked and
/// holding one record at IN2910000001, the 20 KB bundle (written to `records/` beside the file).
pub fn fixtures(out: &std::path::Path) -> Result<(), String> {
    let mut f: Value =
        serde_json::from_str(include_str!("../../fixtures/default.json")).map_err(|e| e.to_string())?;
    let people = f["people"].as_array_mut().ok_or("fixtures: no people")?;
    let asha = people
        .iter_mut()
        .find(|p| p["abhaAddresses"].as_array().is_some_and(|a| a.contains(&json!(PATIENT))))
        .ok_or("fixtures: no Asha Verma")?;
    asha["consentDecision"] = json!("ask");
    asha["records"] = json!([{"hipId": "IN2910000001", "patientReference": "CLN-1001",
        "careContextReference": bundle::CARE_CONTEXT, "display": "OPD consultation, 14 Jun 2021",
        "hiType": bundle::HI_TYPE, "date": "2021-06-14", "bundle": "bench-20kb.json"}]);
    let dir = out.parent().ok_or("fixtures: no directory")?.join("records");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("bench-20kb.json"), bundle::twenty_kb()).map_err(|e| e.to_string())?;
    std::fs::write(out, f.to_string()).map_err(|e| format!("{}: {e}", out.display()))
}
