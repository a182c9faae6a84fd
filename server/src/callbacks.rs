//! Gateway → client callbacks. A handler that causes a callback queues it and answers at once
//! (202); a background dispatcher delivers it with a fresh gateway JWT, a timeout and bounded
//! retries, journals every attempt, and applies the scripted faults. A dead, slow or erroring
//! receiver costs a journal entry, never request latency, and memory stays bounded: the queue and
//! the number of deliveries in flight are both capped (an overflow is journalled as dropped).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use uuid::Uuid;

use crate::journal::{Body, Record};
use crate::state::AppState;

/// Queued callbacks at most; more are dropped (and journalled).
pub const QUEUE: usize = 4096;
/// Deliveries in flight at most.
pub const IN_FLIGHT: usize = 256;
/// Attempts per callback, and the timeout of each.
pub const ATTEMPTS: u32 = 3;
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which id header a callback carries: `X-HIP-ID` for HIPs, `X-HIU-ID` for HIUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receiver {
    Hip,
    Hiu,
}

#[derive(Debug, Clone)]
pub struct Callback {
    /// The receiver's bridge base URL.
    pub base: String,
    /// The path appended to it, e.g. `/v0.5/patients/profile/share`.
    pub path: String,
    pub receiver: Receiver,
    pub receiver_id: String,
    pub body: Value,
    /// Set for profile shares, whose delivery outcome is recorded on the share.
    pub share: Option<Uuid>,
    /// A token to send instead of a fresh gateway one (tests of a HIP's token checks).
    pub token: Option<String>,
    /// A callback to queue once this one has been delivered (or given up on).
    pub then: Option<Box<Callback>>,
}

/// The outcome of one delivery, as recorded on a share.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub attempts: u32,
}

pub struct Dispatcher {
    tx: mpsc::Sender<Callback>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<Callback>>>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Dispatcher { tx, rx: std::sync::Mutex::new(Some(rx)) }
    }
}

impl Dispatcher {
    /// Queues a callback; never waits.
    pub fn send(&self, st: &AppState, cb: Callback) {
        if let Err(e) = self.tx.try_send(cb) {
            let cb = match e {
                mpsc::error::TrySendError::Full(cb) | mpsc::error::TrySendError::Closed(cb) => cb,
            };
            journal(st, &cb, None, &json!({"error": "dropped: the callback queue is full"}));
        }
    }

    /// Takes the receiving end, once, for [`run`].
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<Callback>> {
        self.rx.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Delivers queued callbacks until the queue closes.
pub async fn run(state: actix_web::web::Data<AppState>, mut rx: mpsc::Receiver<Callback>) {
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap_or_default();
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(cb) = rx.recv().await {
        let fault = state.faults.outbound(&cb.path);
        if fault.as_ref().is_some_and(|f| f.drop) {
            journal(&state, &cb, None, &json!({"error": "dropped by a scripted fault"}));
            continue;
        }
        let copies = if fault.as_ref().is_some_and(|f| f.duplicate) { 2 } else { 1 };
        let delay = fault.as_ref().and_then(|f| f.delay_seconds).unwrap_or(0.0);
        for _ in 0..copies {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                journal(&state, &cb, None, &json!({"error": "dropped: too many callbacks in flight"}));
                continue;
            };
            let (state, client, cb) = (state.clone(), client.clone(), cb.clone());
            tokio::spawn(async move {
                if delay > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                }
                let outcome = deliver(&state, &client, &cb).await;
                if let Some(share) = cb.share {
                    state.gateway.record_delivery(share, outcome);
                }
                if let Some(next) = cb.then.clone() {
                    state.callbacks.send(&state, *next);
                }
                drop(permit);
            });
        }
    }
}

async fn deliver(st: &AppState, client: &reqwest::Client, cb: &Callback) -> Delivery {
    let url = format!("{}{}", cb.base.trim_end_matches('/'), cb.path);
    let header = match cb.receiver {
        Receiver::Hip => "X-HIP-ID",
        Receiver::Hiu => "X-HIU-ID",
    };
    let mut last = Delivery { status: None, error: None, attempts: 0 };
    for attempt in 1..=ATTEMPTS {
        let token = cb.token.clone().unwrap_or_else(|| st.gateway.callback_token());
        let sent = client
            .post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .header(header, &cb.receiver_id)
            .header("Content-Type", "application/json")
            .json(&cb.body)
            .send()
            .await;
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
                journal(st, cb, Some(status), &body);
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
                journal(st, cb, None, &json!({"error": why, "attempt": attempt}));
                last.error = Some(why);
            }
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
        }
    }
    last
}

fn journal(st: &AppState, cb: &Callback, status: Option<u16>, response: &Value) {
    let mut request = cb.body.clone();
    crate::journal::mask(&mut request);
    crate::journal::shorten(&mut request);
    st.journal.record(Record {
        at: st.clock.now(),
        direction: "outbound",
        method: "POST".into(),
        path: format!("{}{}", cb.base.trim_end_matches('/'), cb.path),
        status: status.unwrap_or(0),
        request: Body::Json(request),
        response: Body::Json(response.clone()),
        correlation: None,
    });
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
}

#[derive(Default)]
pub struct Faults {
    rules: RwLock<Vec<Fault>>,
}

impl Faults {
    pub fn list(&self) -> Vec<Fault> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

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

    /// The status to answer an inbound call to `path` with, if scripted.
    pub fn inbound_status(&self, path: &str) -> Option<u16> {
        self.find(path, |f| f.status.is_some()).and_then(|f| f.status)
    }
}

/// Checks a list of faults; the message names the entry and field at fault.
pub fn validate(faults: &[Fault]) -> Result<(), (String, String)> {
    for (i, f) in faults.iter().enumerate() {
        let at = |field: &str| format!("faults[{i}].{field}");
        if !f.path.starts_with('/') {
            return Err((at("path"), "must start with '/'".into()));
        }
        if let Some(d) = f.delay_seconds {
            if !(0.0..=120.0).contains(&d) {
                return Err((at("delaySeconds"), "must be between 0 and 120".into()));
            }
        }
        if let Some(s) = f.status {
            if !(100..=599).contains(&s) {
                return Err((at("status"), "must be an HTTP status (100-599)".into()));
            }
        }
        if !f.drop && !f.duplicate && f.delay_seconds.is_none() && f.status.is_none() {
            return Err((
                at("path"),
                "the fault does nothing: give delaySeconds, drop, duplicate or status".into(),
            ));
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
        .app_data::<actix_web::web::Data<AppState>>()
        .filter(|_| !req.path().starts_with("/_sandbox/"))
        .and_then(|st| st.faults.inbound_status(req.path()));
    match status.and_then(|s| actix_web::http::StatusCode::from_u16(s).ok()) {
        Some(status) => {
            let e = crate::error::ApiError::new(
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
