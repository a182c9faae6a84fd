//! The one error type of the sandbox. Every refusal names the offending field (when there is one)
//! and the rule it broke, and renders as JSON in a shape that the ABDM services' clients read:
//! `code` and `message` at the top (HPR, PHR, ABHA and Carestack clients read these), `details[0]`
//! with the field as `attribute.key` (ABDM's `ApiError` detail shape; the Carestack SDK appends
//! `details[0].message` to its exception text), `error: {code, message}` (the gateway's
//! `ErrorResponse`, read by gateway clients), plus `field` and `rule` for people and the runner.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// A refusal: status, field, rule and message; renders as the JSON body described above.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The request field at fault (`aadhaar`, `txnId`, a header name), if any.
    pub field: Option<String>,
    /// A short stable name of the rule that was broken (`verhoeff`, `otp-expired`, …).
    pub rule: &'static str,
    /// What was wrong, naming the field.
    pub message: String,
    /// The gateway's own error code (`2429`, `"ABDM-1030"`), where the gateway has one for this
    /// refusal; 1000 otherwise.
    pub code: Option<serde_json::Value>,
}

impl ApiError {
    /// A refusal with this status and rule.
    pub fn new(status: StatusCode, rule: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, field: None, rule, message: message.into(), code: None }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Carries the gateway's own error code in `error.code`.
    pub fn code(mut self, code: serde_json::Value) -> Self {
        self.code = Some(code);
        self
    }

    /// 400: the request is malformed (a field missing, of the wrong type or off its pattern).
    pub fn bad(field: &str, rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, rule, format!("{field}: {}", message.into())).field(field)
    }

    /// 422: well-formed but refused by a business rule (wrong OTP, step out of order, taken id).
    pub fn rule(field: &str, rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, rule, format!("{field}: {}", message.into())).field(field)
    }

    /// 401: a credential header is missing or wrong.
    pub fn unauthorized(field: &str, rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, rule, format!("{field}: {}", message.into())).field(field)
    }

    /// 429: too soon or too often (OTP resend before 60 s, attempts exhausted).
    pub fn too_many(field: &str, rule: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, rule, format!("{field}: {}", message.into())).field(field)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "code": format!("SBX-{}", self.status.as_u16()),
            "message": self.message,
            "field": self.field,
            "rule": self.rule,
            "details": [{
                "code": self.rule,
                // Clients that print `message` followed by `details[0].message` (the Carestack
                // SDK does, with no separator) then show the rule once after the message.
                "message": format!(" (rule {})", self.rule),
                "attribute": self.field.as_ref().map(|f| json!({"key": f})),
            }],
            "error": {"code": self.code.clone().unwrap_or(json!(1000)), "message": self.message},
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status.as_u16(), self.rule, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(self.body())
    }
}

/// The result of a handler or a flow step.
pub type ApiResult<T> = Result<T, ApiError>;

/// A broken rule, as every check reports it: the rule's stable name and a message. It names no
/// field, because the same check serves fields of different names; the caller gives the field
/// when turning it into an [`ApiError`] (`checks::otp(v).bad("otp")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A short stable name (`verhoeff`, `otp-format`, `password-policy`, …).
    pub name: &'static str,
    /// What was wrong, in a sentence that does not repeat the field's name.
    pub message: String,
}

impl Rule {
    /// A broken rule named `name`.
    pub fn new(name: &'static str, message: impl Into<String>) -> Rule {
        Rule { name, message: message.into() }
    }
}

/// Turns a check's `Result<T, Rule>` into an [`ApiResult`] for a named request field.
pub trait Checked<T> {
    /// 400, naming `field`: the value is off its pattern.
    fn bad(self, field: &str) -> ApiResult<T>;
    /// 400, naming `field`, with `lead` before the rule's message (`"Aadhaar "`).
    fn bad_noting(self, field: &str, lead: &str) -> ApiResult<T>;
}

impl<T> Checked<T> for Result<T, Rule> {
    fn bad(self, field: &str) -> ApiResult<T> {
        self.map_err(|r| ApiError::bad(field, r.name, r.message))
    }

    fn bad_noting(self, field: &str, lead: &str) -> ApiResult<T> {
        self.map_err(|r| ApiError::bad(field, r.name, format!("{lead}{}", r.message)))
    }
}
