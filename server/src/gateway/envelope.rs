//! The two message envelopes of the HIE-CM, and the request hygiene the gateway applies to
//! every message in either. Each flow is written once; only its envelope differs:
//!
//! | | v0.5 (and v1.0) | v3 |
//! |---|---|---|
//! | request id, time | `requestId`, `timestamp` in the body | `REQUEST-ID`, `TIMESTAMP` headers |
//! | a callback answers | `resp: {requestId}` | `response: {requestId}` |
//! | error code | an integer (`1437`) | a string (`"ABDM-1051"`) |
//! | callbacks go to | `{bridge}/v0.5/...` | `{bridge}/api/v3/...` (with `X-CM-ID: sbx`) |
//!
//! Hygiene (ProjectEKA's gateway `Validator` and `RedundantRequestValidator`, which the ABDM
//! gateway grew from): the request id is a UUID; the time parses as UTC and lies within
//! (now − 1 min, now + 9 min); a request id seen before is refused with 429 (code 2429); a
//! callback must answer a request the gateway sent to that caller and has not had answered.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use dashmap::DashMap;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::body::{header, JsonBody};
use crate::clock::{parse_utc, Clock, Millis, MINUTE};
use crate::error::{ApiError, ApiResult};

/// The HIE-CM version a message speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// v0.5 (and its v1.0 variants): envelope in the body, integer error codes.
    #[default]
    V05,
    /// v3: envelope in headers, `ABDM-xxxx` error codes, callbacks under `/api/v3`.
    V3,
}

/// A gateway error code in both spellings.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    /// The v0.5 integer.
    pub v05: i64,
    /// The v3 string.
    pub v3: &'static str,
}

/// An error without a more precise code.
pub const GENERIC: Code = Code { v05: 1000, v3: "ABDM-9999" };
/// A malformed request.
pub const BAD_REQUEST: Code = Code { v05: 1000, v3: "ABDM-1006" };
/// No account with that ABHA number or address.
pub const NOT_FOUND: Code = Code { v05: 1437, v3: "ABDM-1051" };
/// A care context is linked already.
pub const ALREADY_LINKED: Code = Code { v05: 1439, v3: "ABDM-1056" };
/// The auth confirmation failed (wrong OTP or demographics).
pub const AUTH_CONFIRM: Code = Code { v05: 1441, v3: "ABDM-1006" };
/// A linking token that is not valid.
pub const INVALID_LINK_TOKEN: Code = Code { v05: 1000, v3: "ABDM-1026" };
/// Link tokens asked too often: blocked for 24 h.
pub const TOKEN_LIMIT: Code = Code { v05: 1000, v3: "ABDM-1027" };
/// A transaction id the gateway does not know.
pub const INVALID_TRANSACTION: Code = Code { v05: 1000, v3: "ABDM-1017" };
/// An empty or invalid request id.
pub const INVALID_REQUEST_ID: Code = Code { v05: 2500, v3: "ABDM-1030" };
/// A time outside the window.
pub const INVALID_TIMESTAMP: Code = Code { v05: 2500, v3: "ABDM-1016" };
/// A request id seen before.
pub const DUPLICATE_REQUEST: Code = Code { v05: 2429, v3: "ABDM-1030" };
/// A callback answering no request the gateway sent to the caller.
pub const NO_MAPPING: Code = Code { v05: 2500, v3: "ABDM-1052" };
/// A routing header naming no service of the caller.
pub const INVALID_ROUTE: Code = Code { v05: 2500, v3: "ABDM-1035" };

impl Version {
    /// `v0.5` or `v3`.
    pub fn name(self) -> &'static str {
        match self {
            Version::V05 => "v0.5",
            Version::V3 => "v3",
        }
    }

    /// A trigger's optional `"version"`: `v0.5` or `v3`.
    pub fn parse(field: &str, value: Option<&str>) -> ApiResult<Option<Version>> {
        match value {
            None => Ok(None),
            Some("v0.5") => Ok(Some(Version::V05)),
            Some("v3") => Ok(Some(Version::V3)),
            Some(other) => Err(ApiError::bad(field, "version", format!("{other:?}: use \"v0.5\" or \"v3\""))),
        }
    }

    /// The field of a callback naming the request it answers: `resp` or `response`.
    pub fn answer_field(self) -> &'static str {
        match self {
            Version::V05 => "resp",
            Version::V3 => "response",
        }
    }

    /// An error code in this version's spelling.
    pub fn code(self, code: Code) -> Value {
        match self {
            Version::V05 => json!(code.v05),
            Version::V3 => json!(code.v3),
        }
    }

    /// A callback's payload under `key`, with `error: null`; or `key: null` with the error.
    pub fn outcome(self, key: &str, outcome: Result<Value, (Code, String)>) -> Value {
        match outcome {
            Ok(payload) => json!({key: payload, "error": null}),
            Err((code, message)) => {
                json!({key: null, "error": {"code": self.code(code), "message": message}})
            }
        }
    }

    /// A callback answering request `answers`: the outcome under `key` (see [`Version::outcome`]).
    pub fn answer(
        self,
        paths: (&str, &str),
        answers: Uuid,
        now: Millis,
        key: &str,
        outcome: Result<Value, (Code, String)>,
    ) -> Message {
        self.message(paths, Some(answers), now, self.outcome(key, outcome))
    }

    /// A message the gateway sends: to `paths.0` in v0.5 or `paths.1` in v3 (below the
    /// receiver's bridge URL), answering request `answers` if it is a callback. `payload` is
    /// the object of the flow's own fields; the envelope is added here.
    pub fn message(self, paths: (&str, &str), answers: Option<Uuid>, now: Millis, payload: Value) -> Message {
        let request_id = Uuid::new_v4();
        let mut body = match payload {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let mut headers = Vec::new();
        let path = match self {
            Version::V05 => {
                body.insert("requestId".into(), json!(request_id));
                body.insert("timestamp".into(), json!(timestamp(now)));
                if let Some(a) = answers {
                    body.insert("resp".into(), json!({"requestId": a}));
                }
                paths.0
            }
            Version::V3 => {
                headers.push(("REQUEST-ID", request_id.to_string()));
                headers.push(("TIMESTAMP", crate::clock::iso(now)));
                headers.push(("X-CM-ID", "sbx".to_string()));
                if let Some(a) = answers {
                    body.insert("response".into(), json!({"requestId": a}));
                }
                paths.1
            }
        };
        Message { path: path.to_string(), body: Value::Object(body), headers, request_id }
    }
}

/// A message the gateway sends to a bridge.
#[derive(Debug, Clone)]
pub struct Message {
    /// The path below the bridge URL.
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// Envelope headers (v3).
    pub headers: Vec<(&'static str, String)>,
    /// Its request id (in the body for v0.5, the `REQUEST-ID` header for v3).
    pub request_id: Uuid,
}

/// The 202 an asynchronous call is answered with; its outcome follows as a callback.
pub fn accepted() -> HttpResponse {
    HttpResponse::Accepted().finish()
}

/// v0.5 callback timestamps as the sandbox writes them: no zone, microseconds.
pub fn timestamp(now: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// HIP → gateway calls name the consent manager: `X-CM-ID: sbx`.
pub fn require_cm_id(req: &HttpRequest) -> ApiResult<()> {
    match header(req, "X-CM-ID") {
        Some("sbx") => Ok(()),
        Some(other) => Err(ApiError::bad(
            "X-CM-ID",
            "cm-id",
            format!("{other:?}: the sandbox consent manager is \"sbx\""),
        )
        .code(json!(INVALID_ROUTE.v05))),
        None => Err(ApiError::bad("X-CM-ID", "required", "header is required (\"sbx\")")),
    }
}

/// A request the gateway sent and the client it went to.
#[derive(Debug, Clone)]
struct Sent {
    to: String,
    answered: bool,
    at: Millis,
}

/// How long a request id is remembered: past it, its timestamp is out of the window anyway.
const SEEN_FOR: Millis = 10 * MINUTE;
/// How long a request the gateway sent waits for its answer.
const ANSWER_WITHIN: Millis = 60 * MINUTE;

/// The request ids seen and the requests sent, for the hygiene rules.
pub struct Hygiene {
    clock: Clock,
    seen: DashMap<Uuid, Millis>,
    sent: DashMap<Uuid, Sent>,
}

impl Hygiene {
    /// Nothing seen, reading time from `clock`.
    pub fn new(clock: Clock) -> Self {
        Hygiene { clock, seen: DashMap::new(), sent: DashMap::new() }
    }

    /// Forgets everything.
    pub fn reset(&self) {
        self.seen.clear();
        self.sent.clear();
    }

    /// Forgets request ids older than their window and requests unanswered for an hour.
    pub fn sweep(&self, now: Millis) -> usize {
        let before = self.seen.len() + self.sent.len();
        self.seen.retain(|_, at| now - *at < SEEN_FOR);
        self.sent.retain(|_, s| now - s.at < ANSWER_WITHIN);
        before - self.seen.len() - self.sent.len()
    }

    /// The envelope of an inbound message, checked: its request id (a UUID, not seen before)
    /// and its time (UTC, within the window of virtual or real time).
    pub fn request(&self, req: &HttpRequest, body: &JsonBody, version: Version) -> ApiResult<Uuid> {
        let (id_field, id, ts_field, ts) = match version {
            Version::V05 => {
                ("requestId", body.opt_str("requestId")?, "timestamp", body.opt_str("timestamp")?)
            }
            Version::V3 => ("REQUEST-ID", header(req, "REQUEST-ID"), "TIMESTAMP", header(req, "TIMESTAMP")),
        };
        let bad = |field: &str, rule: &'static str, why: String, code: Code| {
            ApiError::bad(field, rule, why).code(version.code(code))
        };
        let id = id.ok_or_else(|| bad(id_field, "required", "is required".into(), INVALID_REQUEST_ID))?;
        let id = Uuid::parse_str(id)
            .map_err(|_| bad(id_field, "uuid", format!("must be a UUID, got {id:?}"), INVALID_REQUEST_ID))?;
        let ts = ts.ok_or_else(|| bad(ts_field, "required", "is required".into(), INVALID_TIMESTAMP))?;
        let at = parse_utc(ts).ok_or_else(|| {
            bad(ts_field, "timestamp", format!("{ts:?} is not a UTC ISO-8601 date-time"), INVALID_TIMESTAMP)
        })?;
        let now = self.clock.now();
        let real = chrono::Utc::now().timestamp_millis();
        let within = |t: Millis| at > t - MINUTE && at < t + 9 * MINUTE;
        if !within(now) && !within(real) {
            let why = format!(
                "{ts:?} is outside the window of now - 1 min to now + 9 min ({})",
                crate::clock::iso(now)
            );
            return Err(bad(ts_field, "timestamp-window", why, INVALID_TIMESTAMP));
        }
        if self.seen.insert(id, now).is_some() {
            return Err(ApiError::too_many(
                id_field,
                "duplicate-request-id",
                format!("{id} was sent before"),
            )
            .code(version.code(DUPLICATE_REQUEST)));
        }
        Ok(id)
    }

    /// A message to the gateway in the version of the path it came to (`/api/hiecm/...` is v3):
    /// the consent manager named in `X-CM-ID`, the envelope checked. Returns (version, its id).
    pub fn inbound(&self, req: &HttpRequest, body: &JsonBody) -> ApiResult<(Version, Uuid)> {
        let version = version_of(req);
        require_cm_id(req)?;
        Ok((version, self.request(req, body, version)?))
    }

    /// A callback to the gateway from `caller`: [`Hygiene::inbound`], then the request it answers
    /// ([`Hygiene::answers`]). Returns (version, the answered request's id).
    pub fn callback(&self, req: &HttpRequest, body: &JsonBody, caller: &str) -> ApiResult<(Version, Uuid)> {
        let (version, _) = self.inbound(req, body)?;
        Ok((version, self.answers(body, version, caller)?))
    }

    /// Remembers a request the gateway sent to `client`, whose answer must come from it, once.
    pub fn expect_answer(&self, request_id: Uuid, client: &str) {
        let sent = Sent { to: client.to_string(), answered: false, at: self.clock.now() };
        self.sent.insert(request_id, sent);
    }

    /// The request a callback answers (`resp.requestId` or `response.requestId`): one the
    /// gateway sent to `caller` and has not had answered. It is answered from now on.
    pub fn answers(&self, body: &JsonBody, version: Version, caller: &str) -> ApiResult<Uuid> {
        let key = version.answer_field();
        let id = body.obj(key)?.txn_id("requestId")?;
        let field = format!("{key}.requestId");
        let refuse = |rule: &'static str, why: String| {
            Err(ApiError::bad(&field, rule, why).code(version.code(NO_MAPPING)))
        };
        let Some(mut sent) = self.sent.get_mut(&id) else {
            return refuse("resp-unknown", format!("{id} answers no request this gateway sent"));
        };
        if sent.to != caller {
            return refuse("resp-unknown", format!("{id} answers a request sent to another client"));
        }
        if sent.answered {
            return refuse("resp-answered", format!("{id} was answered already"));
        }
        sent.answered = true;
        Ok(id)
    }
}

/// The version of a message by the path it came to: `/api/hiecm/...` is v3.
pub fn version_of(req: &HttpRequest) -> Version {
    if req.path().starts_with("/api/hiecm/") {
        Version::V3
    } else {
        Version::V05
    }
}

/// 403 for a routing header or requester naming a service that is not the caller's.
pub fn not_yours(field: &str, id: &str, caller: &str, version: Version) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "requester-not-yours",
        format!("{field}: {id} is not a service of client {caller}"),
    )
    .field(field)
    .code(version.code(INVALID_ROUTE))
}
