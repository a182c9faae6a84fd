//! Gateway → client callbacks. A handler that causes a callback queues it and answers at once
//! (202); a background dispatcher delivers it with a fresh gateway JWT, a timeout and bounded
//! retries, journals every attempt, and applies the scripted faults. A dead, slow or erroring
//! receiver costs a journal entry, never request latency, and memory stays bounded: the queue and
//! the number of deliveries in flight are both capped (an overflow is journalled as dropped).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use actix_web::web::Data;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};

use crate::clock::{Millis, SECOND};
use crate::error::{ApiError, ApiResult};
use crate::journal::Journal;

/// Queued callbacks at most; more are dropped (and journalled).
pub const QUEUE: usize = 4096;
/// Deliveries in flight at most.
pub const IN_FLIGHT: usize = 256;
/// Attempts per callback.
pub const ATTEMPTS: u32 = 3;
/// The timeout of each attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which id header a callback carries: `X-HIP-ID` for HIPs, `X-HIU-ID` for HIUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    /// A health information provider.
    Hip,
    /// A health information user.
    Hiu,
}

/// Told the outcome of a delivery, by the flow that asked for it.
pub type OnDelivered = Arc<dyn Fn(Delivery) + Send + Sync>;

/// One callback to deliver.
#[derive(Clone)]
pub struct Callback {
    /// The receiver's bridge base URL.
    pub base: String,
    /// The path appended to it, e.g. `/v0.5/patients/profile/share`.
    pub path: String,
    /// Which id header to send.
    pub receiver: Receiver,
    /// The receiver's HIP or HIU id, sent in that header.
    pub receiver_id: String,
    /// The JSON body.
    pub body: Value,
    /// Headers beyond the token, the receiver id and the content type (v3's envelope).
    pub headers: Vec<(&'static str, String)>,
    /// Told the delivery's outcome (a share records it).
    pub on_delivered: Option<OnDelivered>,
    /// A token to send instead of a fresh gateway one (tests of a HIP's token checks).
    pub token: Option<String>,
    /// A callback to queue once this one has been delivered (or given up on).
    pub then: Option<Box<Callback>>,
}

/// The outcome of one delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The receiver's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

/// Signs the gateway's callback tokens: given real time, a fresh token.
pub type Signer = fn(Millis) -> String;

/// A queued callback with the reset epoch it was queued in.
pub type Queued = (u64, Callback);

/// The queue of callbacks and everything delivering them needs.
pub struct Dispatcher {
    tx: mpsc::Sender<Queued>,
    rx: Mutex<Option<mpsc::Receiver<Queued>>>,
    /// Bumped by a reset: callbacks queued before it are not delivered after it.
    epoch: AtomicU64,
    journal: Data<Journal>,
    /// The scripted faults, applied to callbacks and (by [`inbound_faults`]) to inbound calls.
    pub faults: Data<Faults>,
    signer: Signer,
    token: Mutex<Option<(String, Millis)>>,
}

impl Dispatcher {
    /// A dispatcher journalling into `journal`, applying `faults`, signing with `signer`.
    pub fn new(journal: Data<Journal>, faults: Data<Faults>, signer: Signer) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let epoch = AtomicU64::new(0);
        Dispatcher { tx, rx: Mutex::new(Some(rx)), epoch, journal, faults, signer, token: Mutex::new(None) }
    }

    /// Queues a callback; never waits.
    pub fn send(&self, cb: Callback) {
        if let Err(e) = self.tx.try_send((self.epoch.load(Ordering::Relaxed), cb)) {
            let (_, cb) = match e {
                mpsc::error::TrySendError::Full(q) | mpsc::error::TrySendError::Closed(q) => q,
            };
            self.journal(&cb, None, json!({"error": "dropped: the callback queue is full"}));
        }
    }

    /// Journals a callback that could not be sent at all (the receiver has no bridge URL).
    pub fn not_sent(&self, path: &str, body: &Value, why: String) {
        self.journal.outbound(path.to_string(), None, body, json!({"error": format!("not sent: {why}")}));
    }

    /// After a reset: what is queued or waiting to be sent is dropped, so a sandbox's earlier
    /// flows never call back into its fresh state.
    pub fn forget_queued(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    fn stale(&self, epoch: u64) -> bool {
        epoch != self.epoch.load(Ordering::Relaxed)
    }

    /// Takes the receiving end, once, for [`run`].
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Queued>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// A token for the gateway's own callbacks, dated in real time: receivers check it against
    /// their own clocks, not the sandbox's. One token serves the callbacks of a minute (it is
    /// valid for twenty): signing costs more than delivering.
    fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp_millis();
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some((token, at)) if now - at < 60 * SECOND => token.clone(),
            _ => {
                let token = (self.signer)(now);
                *cached = Some((token.clone(), now));
                token
            }
        }
    }

    fn journal(&self, cb: &Callback, status: Option<u16>, response: Value) {
        self.journal.outbound(
            format!("{}{}", cb.base.trim_end_matches('/'), cb.path),
            status,
            &cb.body,
            response,
        );
    }
}

/// Delivers queued callbacks until the queue closes.
pub async fn run(dispatcher: Data<Dispatcher>, mut rx: mpsc::Receiver<Queued>) {
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some((epoch, cb)) = rx.recv().await {
        if dispatcher.stale(epoch) {
            continue;
        }
        let fault = dispatcher.faults.outbound(&cb.path);
        if fault.as_ref().is_some_and(|f| f.drop) {
            dispatcher.journal(&cb, None, json!({"error": "dropped by a scripted fault"}));
            continue;
        }
        let copies = if fault.as_ref().is_some_and(|f| f.duplicate) { 2 } else { 1 };
        let delay = fault.as_ref().and_then(|f| f.delay_seconds).unwrap_or(0.0);
        for _ in 0..copies {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                dispatcher.journal(&cb, None, json!({"error": "dropped: too many callbacks in flight"}));
                continue;
            };
            let (dispatcher, client, cb) = (dispatcher.clone(), client.clone(), cb.clone());
            tokio::spawn(async move {
                if delay > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                }
                if dispatcher.stale(epoch) {
                    return;
                }
                let outcome = deliver(&dispatcher, &client, &cb).await;
                if let Some(told) = &cb.on_delivered {
                    told(outcome);
                }
                if let Some(next) = cb.then.clone().filter(|_| !dispatcher.stale(epoch)) {
                    dispatcher.send(*next);
                }
                drop(permit);
            });
        }
    }
}

async fn deliver(d: &Dispatcher, client: &reqwest::Client, cb: &Callback) -> Delivery {
    let url = format!("{}{}", cb.base.trim_end_matches('/'), cb.path);
    let header = match cb.receiver {
        Receiver::Hip => "X-HIP-ID",
        Receiver::Hiu => "X-HIU-ID",
    };
    let mut last = Delivery { status: None, error: None, attempts: 0 };
    for attempt in 1..=ATTEMPTS {
        let token = cb.token.clone().unwrap_or_else(|| d.token());
        let mut request = client
            .post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header(header, &cb.receiver_id)
            .header("Content-Type", "application/json");
        for (name, value) in &cb.headers {
            request = request.header(*name, value);
        }
        let sent = request.json(&cb.body).send().await;
        last.attempts = attempt;
        match sent {
            Ok(res) => {
                let status = res.status().as_u16();
                let text = res.text().await.unwrap_or_default();
                let body =
                    serde_json::from_str(&text).unwrap_or_else(|_| match text.char_indices().nth(512) {
                        None if text.is_empty() => Value::Null,
                        None => json!(text),
                        Some((cut, _)) => json!(format!("{}…", &text[..cut])),
                    });
                d.journal(cb, Some(status), body);
                last.status = Some(status);
                last.error = None;
                if status < 500 {
                    return last;
                }
                last.error = Some(format!("HTTP {status}"));
            }
            Err(e) => {
                let why =
                    if e.is_timeout() { format!("timed out: {e}") } else { format!("not delivered: {e}") };
                d.journal(cb, None, json!({"error": why, "attempt": attempt}));
                last.error = Some(why);
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
    }
    last
}

// ---- scripted faults -----------------------------------------------------------------------------

/// Scripted misbehaviour for one path: inbound calls to it are answered with `status`; callbacks
/// to it are delayed, dropped or sent twice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// A request path (`/gateway/v0.5/users/auth/init`) or a callback path
    /// (`/v0.5/patients/profile/share`); matched exactly or as the end of the path.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<f64>,
    #[serde(default)]
    pub drop: bool,
    #[serde(default)]
    pub duplicate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// For a data push the sandbox makes as a HIP: one entry's ciphertext gets a flipped byte.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub corrupt: bool,
}

/// The scripted faults of one sandbox.
#[derive(Default)]
pub struct Faults {
    rules: RwLock<Vec<Fault>>,
}

impl Faults {
    /// The faults in force.
    pub fn list(&self) -> Vec<Fault> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the faults in force.
    pub fn set(&self, faults: Vec<Fault>) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    fn find(&self, path: &str, pick: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules.iter().find(|f| (path == f.path || path.ends_with(&f.path)) && pick(f)).cloned()
    }

    /// The fault to apply to a callback to `path`, if any.
    pub fn outbound(&self, path: &str) -> Option<Fault> {
        self.find(path, |f| f.drop || f.duplicate || f.delay_seconds.is_some())
    }

    /// Whether pushes to `path` are to carry a corrupted entry.
    pub fn corrupts(&self, path: &str) -> bool {
        self.find(path, |f| f.corrupt).is_some()
    }

    /// The status to answer an inbound call to `path` with, if scripted.
    pub fn inbound_status(&self, path: &str) -> Option<u16> {
        self.find(path, |f| f.status.is_some()).and_then(|f| f.status)
    }
}

/// Checks a list of faults; the error names the entry and field at fault.
pub fn validate(faults: &[Fault]) -> ApiResult<()> {
    for (i, f) in faults.iter().enumerate() {
        let bad = |field: &str, why: &str| Err(ApiError::bad(&format!("faults[{i}].{field}"), "fault", why));
        if !f.path.starts_with('/') {
            return bad("path", "must start with '/'");
        }
        if f.delay_seconds.is_some_and(|d| !(0.0..=120.0).contains(&d)) {
            return bad("delaySeconds", "must be between 0 and 120");
        }
        if f.status.is_some_and(|s| !(100..=599).contains(&s)) {
            return bad("status", "must be an HTTP status (100-599)");
        }
        if !f.drop && !f.duplicate && !f.corrupt && f.delay_seconds.is_none() && f.status.is_none() {
            return bad(
                "path",
                "the fault does nothing: give delaySeconds, drop, duplicate, status or corrupt",
            );
        }
    }
    Ok(())
}

/// Middleware: answers an inbound call with the status a fault scripts for its path.
pub async fn inbound_faults(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let status = req
        .app_data::<Data<Faults>>()
        .filter(|_| !req.path().starts_with("/_sandbox/"))
        .and_then(|faults| faults.inbound_status(req.path()));
    match status.and_then(|s| actix_web::http::StatusCode::from_u16(s).ok()) {
        Some(status) => {
            let e = ApiError::new(
                status,
                "scripted-fault",
                format!("path: {} answers {} by a scripted fault", req.path(), status.as_u16()),
            )
            .field("path");
            Ok(req.into_response(actix_web::HttpResponse::build(status).json(e.body())))
        }
        None => Ok(next.call(req).await?.map_into_boxed_body()),
    }
}
