//! The journal: every inbound request (and, with the gateway, every outbound callback) in order,
//! with status and bodies, Aadhaar numbers, OTPs and secrets masked. It is a bounded ring, so a
//! long-running sandbox under load keeps flat memory; `GET /_sandbox/journal?since=SEQ` pages it.
//! Each new entry's sequence number is also broadcast, so the events stream
//! (`GET /_sandbox/events`) can follow the journal live without polling it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::body::MAX_BODY;
use crate::clock::{iso, Clock, Millis};
use crate::error::ApiError;

/// Strings longer than this (photos) are recorded cut short; tokens and ciphertexts fit.
const MAX_RECORDED_STRING: usize = 4096;
/// Arrays longer than this are recorded cut short.
const MAX_RECORDED_ITEMS: usize = 50;
/// Bodies up to this size are kept as received and rendered (parsed, masked, shortened) only
/// when the journal is read, which keeps recording cheap; larger ones are rendered at once.
const MAX_RAW_BODY: usize = 16 * 1024;
/// Sequence numbers a slow subscriber may fall behind by before it is told it lagged (it then
/// reads the journal from its last entry, so nothing is lost while the ring still holds it).
const BROADCAST_CAPACITY: usize = 256;

/// A journal entry as `GET /_sandbox/journal` shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Order of recording, from 1.
    pub seq: u64,
    /// When, in virtual time.
    pub at: String,
    /// `inbound` (a call to the sandbox) or `outbound` (a callback it made).
    pub direction: &'static str,
    /// The HTTP method.
    pub method: String,
    /// The path (inbound, with the query) or the full URL (outbound).
    pub path: String,
    /// The status answered; 0 when no answer came (a callback not delivered).
    pub status: u16,
    /// The request body, secrets masked.
    pub request_body: Value,
    /// The response body, secrets masked.
    pub response_body: Value,
    /// The transaction or request id the exchange belongs to, where one is known.
    pub correlation_id: Option<String>,
}

/// A recorded body: as received, or already rendered.
#[derive(Debug, Clone)]
enum Body {
    Raw(Bytes),
    Json(Value),
}

impl Body {
    fn of(bytes: Bytes) -> Body {
        if bytes.len() <= MAX_RAW_BODY {
            Body::Raw(bytes)
        } else {
            Body::Json(recorded_body(&bytes))
        }
    }

    fn render(&self) -> Value {
        match self {
            Body::Raw(bytes) => recorded_body(bytes),
            Body::Json(v) => v.clone(),
        }
    }
}

/// What the journal keeps of one exchange.
#[derive(Debug, Clone)]
struct Record {
    at: Millis,
    direction: &'static str,
    method: String,
    path: String,
    status: u16,
    request: Body,
    response: Body,
    /// A correlation id known without reading the bodies (a header).
    correlation: Option<String>,
}

/// The bounded journal of one sandbox.
pub struct Journal {
    entries: Mutex<VecDeque<(u64, Record)>>,
    next_seq: AtomicU64,
    capacity: usize,
    clock: Clock,
    /// The sequence number of each entry recorded, for live subscribers.
    recorded: broadcast::Sender<u64>,
}

impl Journal {
    /// A journal keeping the last `capacity` exchanges, dated by `clock`.
    pub fn new(capacity: usize, clock: Clock) -> Self {
        Journal {
            entries: Mutex::new(VecDeque::new()),
            next_seq: AtomicU64::new(1),
            capacity: capacity.max(1),
            clock,
            recorded: broadcast::channel(BROADCAST_CAPACITY).0,
        }
    }

    fn record(&self, mut record: Record) {
        record.at = self.clock.now();
        let seq = {
            let mut q = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
            if q.len() == self.capacity {
                q.pop_front();
            }
            q.push_back((seq, record));
            seq
        };
        // With no subscriber this only finds that out; it never waits.
        let _ = self.recorded.send(seq);
    }

    /// The sequence number of every entry recorded from now on, as it is recorded; read the
    /// entries themselves with [`Journal::since`].
    pub fn subscribe(&self) -> broadcast::Receiver<u64> {
        self.recorded.subscribe()
    }

    /// Records a callback the sandbox made (or could not make: `status` `None`) to `url`. The
    /// request body is masked and shortened like every recorded body.
    pub fn outbound(&self, url: String, status: Option<u16>, request: &Value, response: Value) {
        let mut request = request.clone();
        mask(&mut request);
        shorten(&mut request);
        self.record(Record {
            at: 0,
            direction: "outbound",
            method: "POST".into(),
            path: url,
            status: status.unwrap_or(0),
            request: Body::Json(request),
            response: Body::Json(response),
            correlation: None,
        });
    }

    /// Entries with `seq > since`, oldest first, rendered: bodies parsed, secrets masked.
    pub fn since(&self, since: u64) -> Vec<JournalEntry> {
        let picked: Vec<(u64, Record)> = {
            let q = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            q.iter().filter(|(seq, _)| *seq > since).cloned().collect()
        };
        picked.into_iter().map(|(seq, r)| render(seq, r)).collect()
    }

    /// How many entries are kept now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Forgets every entry (sequence numbers go on).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

fn render(seq: u64, r: Record) -> JournalEntry {
    let request_body = r.request.render();
    let response_body = r.response.render();
    let correlation_id = correlation(&request_body).or(r.correlation).or_else(|| correlation(&response_body));
    JournalEntry {
        seq,
        at: iso(r.at),
        direction: r.direction,
        method: r.method,
        path: r.path,
        status: r.status,
        request_body,
        response_body,
        correlation_id,
    }
}

/// Middleware: buffers the request body (so the handler still reads it), runs the handler,
/// buffers the response body, and records both. The control API itself is not journalled.
pub async fn record(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    // The control API is not journalled, except the pushes HIPs make to the sandbox as HIU.
    let control = path == "/_sandbox" || path.starts_with("/_sandbox/") || path.starts_with("/_sandbox?");
    if control && !path.starts_with("/_sandbox/data-push/") {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(journal) = req.app_data::<web::Data<Journal>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let request_bytes = match read_payload(&mut req).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let (http_req, _) = req.into_parts();
            let res = actix_web::ResponseError::error_response(&e);
            return Ok(ServiceResponse::new(http_req, res));
        }
    };
    req.set_payload(actix_web::dev::Payload::from(request_bytes.clone()));
    let method = req.method().to_string();
    let correlation = ["TRANSACTION_ID", "REQUEST-ID"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()).map(str::to_string));

    let res = next.call(req).await?;
    let status = res.status().as_u16();
    let (http_req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let response_bytes =
        body::to_bytes_limited(body, 8 * MAX_BODY).await.ok().and_then(Result::ok).unwrap_or_default();

    journal.record(Record {
        at: 0,
        direction: "inbound",
        method,
        path,
        status,
        request: Body::of(request_bytes),
        response: Body::of(response_bytes.clone()),
        correlation,
    });
    let res = head.set_body(response_bytes).map_into_boxed_body();
    Ok(ServiceResponse::new(http_req, res))
}

async fn read_payload(req: &mut ServiceRequest) -> Result<Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut payload = req.take_payload();
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad("body", "body-read", e.to_string()))?;
        if buf.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "body-size",
                format!("body: larger than {MAX_BODY} bytes"),
            )
            .field("body"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// A body as the journal shows it: JSON masked and shortened, anything else by its size only.
fn recorded_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            mask(&mut v);
            shorten(&mut v);
            v
        }
        // Text that is not JSON may hold anything (a half-sent Aadhaar number): only its size is
        // kept.
        Err(_) => Value::String(format!("<{} bytes, not JSON>", bytes.len())),
    }
}

/// Masks secrets by field name, whatever their type and wherever they sit in the body.
pub fn mask(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match k.as_str() {
                    "aadhaar" => {
                        let text = match &*val {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        *val = Value::String(crate::checks::mask(&text, 4));
                    }
                    "otp" | "otpValue" | "authCode" | "password" | "clientSecret" if !val.is_null() => {
                        *val = Value::String("******".into())
                    }
                    _ => mask(val),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// Keeps recorded bodies small: long strings (photos) are cut to their start.
fn shorten(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > MAX_RECORDED_STRING => {
            let cut = (0..=MAX_RECORDED_STRING).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
            *s = format!("{}…({} characters)", &s[..cut], s.chars().count());
        }
        Value::Object(map) => map.values_mut().for_each(shorten),
        Value::Array(items) => {
            if items.len() > MAX_RECORDED_ITEMS {
                let n = items.len();
                items.truncate(MAX_RECORDED_ITEMS);
                items.push(Value::String(format!("…({n} items)")));
            }
            items.iter_mut().for_each(shorten)
        }
        _ => {}
    }
}

fn correlation(body: &Value) -> Option<String> {
    let direct =
        ["txnId", "transactionId", "requestId"].iter().find_map(|k| body.get(k).and_then(Value::as_str));
    direct
        .or_else(|| body.pointer("/resp/requestId").and_then(Value::as_str))
        .or_else(|| body.pointer("/authData/otp/txnId").and_then(Value::as_str))
        .map(str::to_string)
}
