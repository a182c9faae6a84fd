//! The v0.5 message envelope every gateway flow shares: `requestId` (a UUID) and `timestamp` in
//! the body, the consent manager named in `X-CM-ID`, callbacks that answer a request with
//! `resp: {requestId}` and either their payload or `error: {code, message}` with ABDM's integer
//! codes, and the 202 every asynchronous call is answered with.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::body::{header, JsonBody};
use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};

/// A generic gateway error.
pub const ERR_GENERIC: i64 = 1000;
/// No account with that ABHA number or address.
pub const ERR_NOT_FOUND: i64 = 1437;
/// A care context is linked already.
pub const ERR_ALREADY_LINKED: i64 = 1439;
/// The auth confirmation failed (wrong OTP or demographics).
pub const ERR_AUTH_CONFIRM: i64 = 1441;

/// The 202 an asynchronous call is answered with; its outcome follows as a callback.
pub fn accepted() -> HttpResponse {
    HttpResponse::Accepted().finish()
}

/// Callback timestamps as the sandbox writes them: no zone, microseconds.
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
        )),
        None => Err(ApiError::bad("X-CM-ID", "required", "header is required (\"sbx\")")),
    }
}

/// The `requestId` (a UUID) of a message, whose `timestamp` must be ISO-8601.
pub fn request_id(body: &JsonBody) -> ApiResult<Uuid> {
    let id = body.txn_id("requestId")?;
    let ts = body.str("timestamp")?;
    let ok = chrono::DateTime::parse_from_rfc3339(ts).is_ok()
        || chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
    if !ok {
        return Err(ApiError::bad("timestamp", "timestamp", format!("{ts:?} is not an ISO-8601 date-time")));
    }
    Ok(id)
}

/// A gateway error as a callback carries it.
pub fn error_json(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

/// The callback answering request `answers`: a fresh requestId, the time, `resp.requestId`, and
/// under `key` either the payload (with `error: null`) or `null` with the error.
pub fn answer(answers: Uuid, now: Millis, key: &str, outcome: Result<Value, (i64, String)>) -> Value {
    let mut body =
        json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "resp": {"requestId": answers}});
    match outcome {
        Ok(payload) => {
            body[key] = payload;
            body["error"] = Value::Null;
        }
        Err((code, message)) => {
            body[key] = Value::Null;
            body["error"] = error_json(code, &message);
        }
    }
    body
}
