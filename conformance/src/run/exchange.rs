//! What each transport (sending, awaiting at the inbox, observing the journal) hands to the
//! checks: one message and its answer, in the same shape whichever way the runner took part.

use serde_json::Value;

use super::failure::{Failure, FailureKind};
use crate::scenario::template::{render_str, text, Vars};
use crate::scenario::{Request, Step};

/// One message and its answer, as a transport saw them.
pub(crate) struct Exchange {
    /// The body as it was sent (what `sent` and `capture_sent` read).
    pub sent: Value,
    /// The status answered, when there is one to check.
    pub status: Option<u16>,
    /// The headers `expect.headers` apply to, when the transport saw them (the journal keeps
    /// none).
    pub headers: Option<Vec<(String, String)>>,
    /// The body `expect` and `capture` apply to.
    pub body: Value,
    /// Shown in reports: what was sent, awaited or observed.
    pub shown_request: Value,
    /// Shown in reports: what came back or arrived.
    pub shown_response: Value,
    /// What the transport itself found wrong (the receiver's answer to a gateway message).
    pub failures: Vec<Failure>,
}

/// A transport that could not produce an exchange: the failure, and what it was waiting for.
/// (Boxed: it travels through every `?` of a transport.)
pub(crate) struct Halt {
    /// Why the step failed.
    pub failure: Box<Failure>,
    /// Shown in reports: what was awaited, when there was something.
    pub shown_request: Option<Box<Value>>,
}

impl From<Failure> for Halt {
    fn from(failure: Failure) -> Halt {
        Halt { failure: Box::new(failure), shown_request: None }
    }
}

/// The `answer` check of a step: the status the receiver of a gateway message answered.
pub(crate) fn answer_failure(step: &Step, got: u16) -> Option<Failure> {
    let want = step.answer.as_ref()?;
    if want.accepts(got) {
        return None;
    }
    let failure = Failure::plain(
        FailureKind::Answer,
        "answer",
        format!("the receiver answered {got}, expected {want}"),
    );
    Some(failure.values(Some(want.to_string()), Some(got.to_string())).on_line(step.lines.answer))
}

/// A template error while building a request: the step cannot be applied as written.
pub(crate) fn template_failure(field: &str, error: String) -> Failure {
    Failure::new(FailureKind::Scenario, field, error)
}

/// The request's path with its templates rendered.
pub(crate) fn rendered_path(request: &Request, vars: &Vars) -> Result<String, Halt> {
    let path = render_str(&request.path, vars).map_err(|e| template_failure("request.path", e))?;
    Ok(text(&path))
}

/// A message body as JSON, or as text when it is not JSON.
pub(crate) fn json_or_text(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
}

/// Long strings (keys, ciphertexts, tokens, photos) cut short for reports.
pub(crate) fn excerpt(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > 96 => {
            Value::String(format!("{}…", s.chars().take(93).collect::<String>()))
        }
        Value::Array(items) => Value::Array(items.iter().map(excerpt).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), excerpt(v))).collect()),
        other => other.clone(),
    }
}
