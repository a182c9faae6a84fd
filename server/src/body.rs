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

    /// The top-level object, to read fields from.
    pub fn root(&self) -> Obj<'_> {
        Obj { map: &self.0, path: String::new() }
    }

    pub fn str(&self, key: &str) -> ApiResult<&str> {
        self.root().str(key)
    }

    pub fn opt_str(&self, key: &str) -> ApiResult<Option<&str>> {
        self.root().opt_str(key)
    }

    pub fn txn_id(&self, key: &str) -> ApiResult<uuid::Uuid> {
        self.root().txn_id(key)
    }

    pub fn bool(&self, key: &str) -> ApiResult<bool> {
        self.root().bool(key)
    }

    pub fn opt_uint(&self, key: &str) -> ApiResult<Option<u64>> {
        self.root().opt_uint(key)
    }

    pub fn obj(&self, key: &str) -> ApiResult<Obj<'_>> {
        self.root().obj(key)
    }
}

/// A JSON object inside a request body; errors name fields by their full path (`authData.otp.txnId`).
#[derive(Clone)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    /// An object found at `path` (for example one element of an array).
    pub fn at(map: &'a Map<String, Value>, path: String) -> Obj<'a> {
        Obj { map, path }
    }

    /// The object's fields.
    pub fn map(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// The full name of a field, for error messages.
    pub fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A required, non-empty string (surrounding white space trimmed).
    pub fn str(&self, key: &str) -> ApiResult<&'a str> {
        self.opt_str(key)?.ok_or_else(|| ApiError::bad(&self.name(key), "required", "is required"))
    }

    /// An optional string: absent, `null` and `""` are `None`.
    pub fn opt_str(&self, key: &str) -> ApiResult<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(other) => Err(ApiError::bad(
                &self.name(key),
                "type",
                format!("must be a string, got {}", type_name(other)),
            )),
        }
    }

    /// A required string that must look like a UUID (every ABDM txnId does).
    pub fn txn_id(&self, key: &str) -> ApiResult<uuid::Uuid> {
        parse_uuid(&self.name(key), self.str(key)?)
    }

    pub fn bool(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None => Err(ApiError::bad(&self.name(key), "required", "is required")),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(ApiError::bad(
                &self.name(key),
                "type",
                format!("must be true or false, got {}", type_name(other)),
            )),
        }
    }

    /// An optional whole number, given as a JSON number or a string of digits (the Carestack SDK
    /// sends numbers as strings; ABDM clients send them as numbers).
    pub fn opt_uint(&self, key: &str) -> ApiResult<Option<u64>> {
        let name = self.name(key);
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_u64().map(Some).ok_or_else(|| ApiError::bad(&name, "type", "must be a whole number ≥ 0"))
            }
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if checks::all_digits(s.trim()) && s.trim().len() <= 18 => {
                Ok(s.trim().parse().ok())
            }
            Some(other) => {
                Err(ApiError::bad(&name, "type", format!("must be a whole number, got {}", describe(other))))
            }
        }
    }

    /// A required nested object.
    pub fn obj(&self, key: &str) -> ApiResult<Obj<'a>> {
        match self.get(key) {
            None => Err(ApiError::bad(&self.name(key), "required", "is required")),
            Some(Value::Object(map)) => Ok(Obj { map, path: self.name(key) }),
            Some(other) => Err(ApiError::bad(
                &self.name(key),
                "type",
                format!("must be an object, got {}", type_name(other)),
            )),
        }
    }

    /// An optional nested object (absent or `null` is `None`).
    pub fn opt_obj(&self, key: &str) -> ApiResult<Option<Obj<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.obj(key).map(Some),
        }
    }

    /// A field's raw value, `None` when absent or `null`.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    /// A required array of strings.
    pub fn strings(&self, key: &str) -> ApiResult<Vec<&'a str>> {
        let name = self.name(key);
        match self.get(key) {
            None => Err(ApiError::bad(&name, "required", "is required")),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| ApiError::bad(&name, "type", "must be an array of strings"))
                })
                .collect(),
            Some(other) => Err(ApiError::bad(
                &name,
                "type",
                format!("must be an array of strings, got {}", type_name(other)),
            )),
        }
    }
}

/// An ISO-8601 date-time (UTC, or with an offset) in milliseconds, or a refusal naming `field`.
pub fn date_time(field: &str, text: &str) -> ApiResult<crate::clock::Millis> {
    crate::clock::parse_utc(text)
        .ok_or_else(|| ApiError::bad(field, "date-time", format!("{text:?} is not an ISO-8601 date-time")))
}

/// A request header's trimmed, non-empty value.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive).
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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

/// The one error handler of typed query strings (`web::Query<T>`): a 400 naming the query.
pub fn query_error(e: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad("query", "query", e.to_string()).into()
}
