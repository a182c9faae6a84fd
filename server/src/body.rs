//! Request bodies. Every handler reads its body through [`JsonBody`], which caps the size, parses
//! JSON and then hands out fields one by one, so that a missing field, a wrong type or an empty
//! value is refused with a message naming that field. Optional fields accept an explicit `null`,
//! as the Carestack SDK sends every unset optional field as `null`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest};
use serde_json::{Map, Value};

use crate::checks;
use crate::error::{ApiError, ApiResult};

/// Largest request body accepted, in bytes.
pub const MAX_BODY: usize = 1 << 20;

pub struct JsonBody(pub Map<String, Value>);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body-size", format!("body: {e}")).field("body")
            })?;
            JsonBody::parse(&bytes)
        })
    }
}

impl JsonBody {
    pub fn parse(bytes: &[u8]) -> ApiResult<Self> {
        if bytes.len() > MAX_BODY {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-size",
                format!("body: larger than {MAX_BODY} bytes"),
            )
            .field("body"));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad("body", "json", "a JSON object is required, the body is empty"));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            Ok(other) => Err(ApiError::bad(
                "body",
                "json",
                format!("a JSON object is required, got {}", type_name(&other)),
            )),
            Err(e) => Err(ApiError::bad("body", "json", format!("malformed JSON: {e}"))),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A required, non-empty string (surrounding white space trimmed).
    pub fn str(&self, key: &str) -> ApiResult<&str> {
        self.opt_str(key)?.ok_or_else(|| ApiError::bad(key, "required", "is required"))
    }

    /// An optional string: absent or `null` is `None`; `""` is `None` too.
    pub fn opt_str(&self, key: &str) -> ApiResult<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(other) => {
                Err(ApiError::bad(key, "type", format!("must be a string, got {}", type_name(other))))
            }
        }
    }

    /// A required string that must look like a UUID (every ABDM txnId does).
    pub fn txn_id(&self, key: &str) -> ApiResult<uuid::Uuid> {
        parse_uuid(key, self.str(key)?)
    }

    pub fn bool(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None => Err(ApiError::bad(key, "required", "is required")),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => {
                Err(ApiError::bad(key, "type", format!("must be true or false, got {}", type_name(other))))
            }
        }
    }

    /// An optional whole number, given as a JSON number or a string of digits (the Carestack SDK
    /// sends numbers as strings; ABDM clients send them as numbers).
    pub fn opt_uint(&self, key: &str) -> ApiResult<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_u64().map(Some).ok_or_else(|| ApiError::bad(key, "type", "must be a whole number ≥ 0"))
            }
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if checks::all_digits(s.trim()) && s.trim().len() <= 18 => {
                Ok(s.trim().parse().ok())
            }
            Some(other) => {
                Err(ApiError::bad(key, "type", format!("must be a whole number, got {}", describe(other))))
            }
        }
    }
}

pub fn parse_uuid(field: &str, value: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(value)
        .map_err(|_| ApiError::bad(field, "uuid", format!("must be a UUID, got {value:?}")))
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => type_name(other).to_string(),
    }
}
