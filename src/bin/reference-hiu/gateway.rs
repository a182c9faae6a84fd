//! The reference HIU's side of the gateway: sessions, and its messages in the envelope of the
//! version it speaks.
//!
//! | | v0.5 | v3 |
//! |---|---|---|
//! | calls go to | `{gateway}/gateway/v0.5/...` | `{gateway}/api/hiecm/...` |
//! | request id, time | `requestId`, `timestamp` in the body | `REQUEST-ID`, `TIMESTAMP` headers, `X-HIU-ID` |
//! | an answer names the request | `resp: {requestId}` | `response: {requestId}` (= the inbound `REQUEST-ID`) |
//!
//! Every message gets a fresh UUID request id and the current time: the gateway refuses a
//! duplicate id, a time outside now − 1 min … now + 9 min, and a second answer to one request.

use serde_json::{json, Value};

pub use crate::envelope::{header, now, request_id, timestamp, Inbound, Version};
use crate::envelope::{message, session};

/// What the gateway answered a call: its status and body (the asynchronous outcome arrives as a
/// callback).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status; 0 when the gateway could not be reached.
    pub status: u16,
    /// The JSON body, or why there is none.
    pub body: Value,
}

impl Answer {
    /// Whether the gateway accepted the call.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The gateway as the HIU talks to it.
pub struct Gateway {
    /// The gateway's root URL.
    pub base: String,
    /// The HIU's gateway client id and secret.
    pub credentials: (String, String),
    /// The HIU's id (`X-HIU-ID`, `consent.hiu.id`, `notifier.id`).
    pub hiu_id: String,
    /// The version the HIU speaks.
    pub version: Version,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl Gateway {
    /// A fresh session token.
    async fn session(&self) -> Result<String, String> {
        session(&self.http, &self.base, &self.credentials, self.version).await
    }

    /// Sends a message with request id `id`: `path` is below `/gateway` (v0.5) or `/api/hiecm`
    /// (v3). The gateway's answer: 202 for what it accepted, an error naming the field otherwise.
    pub async fn send(&self, path: &str, id: &str, mut body: Value) -> Answer {
        let token = match self.session().await {
            Ok(t) => t,
            Err(e) => {
                return Answer { status: 0, body: json!({"error": format!("no gateway session: {e}")}) }
            }
        };
        let req = message(
            &self.http,
            &self.base,
            self.version,
            (path, id, &token),
            &mut body,
            ("X-HIU-ID", &self.hiu_id),
        );
        let res = req.json(&body).send().await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Answer { status, body }
            }
            Err(e) => Answer { status: 0, body: json!({"error": e.to_string()}) },
        }
    }

    /// Answers `to`: the body names the request it answers (`resp` in v0.5, `response` in v3).
    pub async fn answer(&self, path: &str, to: &Inbound, mut body: Value) -> Answer {
        let key = match self.version {
            Version::V05 => "resp",
            Version::V3 => "response",
        };
        body[key] = json!({"requestId": to.request_id});
        self.send(path, &request_id(), body).await
    }
}
