//! What the reference HIP and the reference HIU share of the gateway: the version they speak,
//! a message they received, sessions, and the envelope of a message they send.
//!
//! | | v0.5 | v3 |
//! |---|---|---|
//! | calls go to | `{gateway}/gateway/v0.5/...` | `{gateway}/api/hiecm/...` |
//! | request id, time | `requestId`, `timestamp` in the body | `REQUEST-ID`, `TIMESTAMP` headers, `X-HIP-ID` / `X-HIU-ID` |
//! | an answer names the request | `resp: {requestId}` | `response: {requestId}` (= the inbound `REQUEST-ID`) |
//!
//! Every message gets a fresh UUID request id and the current time: the gateway refuses a
//! duplicate id, a time outside now − 1 min … now + 9 min, and a second answer to one request.

use actix_web::HttpRequest;
use clap::ValueEnum;
use serde_json::{json, Value};

/// The HIE-CM version spoken.
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

/// A message the gateway sent.
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

    /// The request id of the message this one answers (`resp` or `response`).
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

/// A fresh session token from the gateway at `base` (sessions do not survive a sandbox reset,
/// so none is kept).
pub async fn session(
    http: &reqwest::Client,
    base: &str,
    (id, secret): &(String, String),
    version: Version,
) -> Result<String, String> {
    let body = json!({"clientId": id, "clientSecret": secret, "grantType": "client_credentials"});
    let req = match version {
        Version::V05 => http.post(format!("{base}/gateway/v0.5/sessions")),
        Version::V3 => http
            .post(format!("{base}/api/hiecm/gateway/v3/sessions"))
            .header("REQUEST-ID", request_id())
            .header("TIMESTAMP", now())
            .header("X-CM-ID", "sbx"),
    };
    let res: Value =
        req.json(&body).send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
    res["accessToken"].as_str().map(str::to_string).ok_or_else(|| format!("no session: {res}"))
}

/// A message with request id `id` to `path` (below `/gateway` in v0.5, `/api/hiecm` in v3) in
/// `version`'s envelope, from the service `sender` (`("X-HIP-ID", id)` or `("X-HIU-ID", id)`),
/// with the session `token`: the request, ready to take its body.
pub fn message(
    http: &reqwest::Client,
    base: &str,
    version: Version,
    (path, id, token): (&str, &str, &str),
    body: &mut Value,
    (sender_header, sender): (&str, &str),
) -> reqwest::RequestBuilder {
    let req = match version {
        Version::V05 => {
            body["requestId"] = json!(id);
            body["timestamp"] = json!(now());
            http.post(format!("{base}/gateway{path}"))
        }
        Version::V3 => http
            .post(format!("{base}/api/hiecm{path}"))
            .header("REQUEST-ID", id)
            .header("TIMESTAMP", now())
            .header(sender_header, sender),
    };
    req.bearer_auth(token).header("X-CM-ID", "sbx")
}
