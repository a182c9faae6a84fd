//! The reference HIP's side of the gateway: sessions, verifying the gateway's JWT on what it
//! receives, and sending its own messages in the envelope of the version it speaks.
//!
//! | | v0.5 | v3 |
//! |---|---|---|
//! | calls go to | `{gateway}/gateway/v0.5/...` | `{gateway}/api/hiecm/...` |
//! | request id, time | `requestId`, `timestamp` in the body | `REQUEST-ID`, `TIMESTAMP` headers, `X-HIP-ID` |
//! | an answer names the request | `resp: {requestId}` | `response: {requestId}` (= the inbound `REQUEST-ID`) |
//!
//! Every message gets a fresh UUID request id and the current time: the gateway refuses a
//! duplicate id, a time outside now − 1 min … now + 9 min, and a second answer to one request.

use std::sync::Mutex;

use actix_web::HttpRequest;
use serde_json::{json, Value};

pub use crate::envelope::{header, now, request_id, Inbound, Version};
use crate::envelope::{message, session};

/// The gateway as the HIP talks to it.
pub struct Gateway {
    /// The gateway's root URL.
    pub base: String,
    /// The HIP's gateway client id and secret.
    pub credentials: (String, String),
    /// The HIP's id (`X-HIP-ID`).
    pub hip_id: String,
    /// The version the HIP speaks.
    pub version: Version,
    /// Answer v3 requests with v0.5's `resp` instead of `response` (a fault).
    pub resp_not_response: bool,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The gateway's JWT key, once fetched.
    key: Mutex<Option<jsonwebtoken::DecodingKey>>,
}

impl Gateway {
    /// The gateway at `base`, nothing fetched yet.
    pub fn new(
        base: &str,
        credentials: (String, String),
        hip_id: String,
        version: Version,
        http: reqwest::Client,
    ) -> Gateway {
        Gateway {
            base: base.trim_end_matches('/').to_string(),
            credentials,
            hip_id,
            version,
            resp_not_response: false,
            http,
            key: Mutex::new(None),
        }
    }

    /// A fresh session token.
    async fn session(&self) -> Result<String, String> {
        session(&self.http, &self.base, &self.credentials, self.version).await
    }

    /// Verifies a gateway call's `Authorization: Bearer <JWT>` against the gateway's JWKS (RS256,
    /// audience `account`, not expired).
    pub async fn verify(&self, req: &HttpRequest) -> Result<(), String> {
        let token = header(req, "Authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("no bearer token")?
            .to_string();
        let key = self.key().await?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["account"]);
        jsonwebtoken::decode::<Value>(&token, &key, &validation).map(|_| ()).map_err(|e| e.to_string())
    }

    /// The gateway's signing key: v0.5 certs are public, v3 certs need a session.
    async fn key(&self) -> Result<jsonwebtoken::DecodingKey, String> {
        if let Some(k) = self.key.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(k);
        }
        let req = match self.version {
            Version::V05 => self.http.get(format!("{}/gateway/v0.5/certs", self.base)),
            Version::V3 => self
                .http
                .get(format!("{}/api/hiecm/gateway/v3/certs", self.base))
                .bearer_auth(self.session().await?),
        };
        let jwks: Value =
            req.send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())?;
        let k = &jwks["keys"][0];
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            k["n"].as_str().unwrap_or_default(),
            k["e"].as_str().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        *self.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
        Ok(key)
    }

    /// Sends a message with request id `id`: `path` is below `/gateway` (v0.5) or `/api/hiecm`
    /// (v3); `extra` headers go with it (v3's `X-LINK-TOKEN`). The gateway's answer is not
    /// awaited beyond its status: what it thinks arrives as a callback, or in its journal.
    pub async fn send(&self, path: &str, id: &str, mut body: Value, extra: &[(&str, &str)]) {
        let Ok(token) = self.session().await else { return };
        let mut req = message(
            &self.http,
            &self.base,
            self.version,
            (path, id, &token),
            &mut body,
            ("X-HIP-ID", &self.hip_id),
        );
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let _ = req.json(&body).send().await;
    }

    /// Pushes a page of encrypted data to a HIU's `dataPushUrl` (straight to the HIU, not
    /// through the gateway), with the HIP's session token as v3 asks; the HIU's status.
    pub async fn push(&self, url: &str, page: &Value) -> Result<u16, String> {
        let mut req = self.http.post(url).json(page);
        if let Ok(token) = self.session().await {
            req = req.bearer_auth(token);
        }
        req.send().await.map(|r| r.status().as_u16()).map_err(|e| e.to_string())
    }

    /// Answers `to`: the body names the request it answers (`resp` in v0.5, `response` in v3).
    pub async fn answer(&self, path: &str, to: &Inbound, mut body: Value) {
        let key = match self.version {
            Version::V3 if !self.resp_not_response => "response",
            _ => "resp",
        };
        body[key] = json!({"requestId": to.request_id});
        self.send(path, &request_id(), body, &[]).await;
    }
}
