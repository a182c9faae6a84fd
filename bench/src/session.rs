//! A gateway session, as an ABDM client opens one before calling HPR, ABHA or the gateway.

use serde_json::json;

use crate::client::Conn;

pub const CLIENT_ID: &str = "SBX_000001";
pub const CLIENT_SECRET: &str = "sandbox-secret-0001";

/// `POST /gateway/v0.5/sessions` → `Bearer <access token>` (valid 20 minutes of virtual time).
pub async fn open(conn: &mut Conn, client_id: &str, secret: &str) -> Result<String, String> {
    let body = conn
        .post_json("/gateway/v0.5/sessions", None, &json!({"clientId": client_id, "clientSecret": secret}))
        .await?;
    body["accessToken"]
        .as_str()
        .map(|t| format!("Bearer {t}"))
        .ok_or_else(|| format!("session: no accessToken in {body}"))
}
