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

use actix_web::HttpRequest;
use clap::ValueEnum;
use serde_json::{json, Value};

/// The HIE-CM version the HIU speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Version {
    /// `/gateway/v0.5/...`, the envelope in the body.
    #[value(name = "v0.5")]
    V05,
    /// `/api/hiecm/...`, the envelope in headers.
    #[value(name = "v3")]
    V3,
}

impl Version {
    /// The path of a call in this version: `v05` below `/gateway`, `v3` below `/api/hiecm`.
    pub fn pick(self, v05: &'static str, v3: &'static str) -> &'static str {
        match self {
            Version::V05 => v05,
            Version::V3 => v3,
        }
    }
}

/// A message the gateway sent the HIU.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Its request id: the `REQUEST-ID` header (v3) or the body's `requestId` (v0.5).
    pub request_id: String,
    /// Its JSON body.
    pub body: Value,
}

impl Inbound {
    /// Reads a received message in `version`'s envelope.
    pub fn read(req: &HttpRequest, body: Value, version: Version) -> Inbound {
        let request_id = match version {
            Version::V05 => body["requestId"].as_str().unwrap_or_default().to_string(),
            Version::V3 => header(req, "REQUEST-ID").unwrap_or_default().to_string(),
        };
        Inbound { request_id, body }
    }

    /// The request id of the HIU's message this one answers (`resp` or `response`).
    pub fn answers(&self) -> &str {
        let b = &self.body;
        b["resp"]["requestId"].as_str().or_else(|| b["response"]["requestId"].as_str()).unwrap_or_default()
    }
}

/// A header's value as text.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Now, as both envelopes write it (ISO-8601 UTC with milliseconds).
pub fn now() -> String {
    timestamp(chrono::Utc::now())
}

/// A time as both envelopes write it.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh request id.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

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
    /// A fresh session token (sessions do not survive a sandbox reset, so none is kept).
    async fn session(&self) -> Result<String, String> {
        let (id, secret) = &self.credentials;
        let body = json!({"clientId": id, "clientSecret": secret, "grantType": "client_credentials"});
        let req = match self.version {
            Version::V05 => self.http.post(format!("{}/gateway/v0.5/sessions", self.base)),
            Version::V3 => self
                .http
                .post(format!("{}/api/hiecm/gateway/v3/sessions", self.base))
                .header("REQUEST-ID", request_id())
                .header("TIMESTAMP", now())
                .header("X-CM-ID", "sbx"),
        };
        let res: Value = req
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        res["accessToken"].as_str().map(str::to_string).ok_or_else(|| format!("no session: {res}"))
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
        let req = match self.version {
            Version::V05 => {
                body["requestId"] = json!(id);
                body["timestamp"] = json!(now());
                self.http.post(format!("{}/gateway{path}", self.base))
            }
            Version::V3 => self
                .http
                .post(format!("{}/api/hiecm{path}", self.base))
                .header("REQUEST-ID", id)
                .header("TIMESTAMP", now())
                .header("X-HIU-ID", &self.hiu_id),
        };
        let res = req.bearer_auth(token).header("X-CM-ID", "sbx").json(&body).send().await;
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
