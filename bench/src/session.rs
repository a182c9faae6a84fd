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

/// The gateway's signing key (the sandbox's test key, PKCS#8 PEM).
const GATEWAY_KEY: &str = include_str!("../../fixtures/keys/gateway-jwt.test-only.pem");

/// What the machine can do for sessions: RS256 signatures with the gateway's 2048-bit key on one
/// thread for `seconds` each, with aws-lc (the sandbox's signer, the key parsed once) and with
/// RustCrypto's `rsa` (jsonwebtoken's `rust_crypto` backend, the sandbox's signer before), over a
/// message the size of a session token's header and claims.
pub fn signing(seconds: f64) -> Result<serde_json::Value, String> {
    use base64::Engine as _;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let der: String = GATEWAY_KEY.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(der).map_err(|e| e.to_string())?;
    let message = vec![b'e'; 900];
    let aws = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string())?;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut signature = vec![0; aws.public_modulus_len()];
    let aws_lc = rate(seconds, || {
        aws.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, &message, &mut signature)
            .map_err(|e| e.to_string())
    })?;
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| e.to_string())?;
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key);
    let rust_crypto = rate(seconds, || {
        signer
            .try_sign(&message)
            .map(|s| std::hint::black_box(s.to_vec()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    Ok(json!({"awsLc": aws_lc, "rustCrypto": rust_crypto, "keyBits": 2048, "messageBytes": message.len()}))
}

/// Calls `op` on this thread for `seconds` (at least once): operations, seconds, per second.
fn rate(seconds: f64, mut op: impl FnMut() -> Result<(), String>) -> Result<serde_json::Value, String> {
    let start = std::time::Instant::now();
    let mut n = 0u64;
    loop {
        op()?;
        n += 1;
        if start.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(json!({"operations": n, "seconds": secs, "perSecond": n as f64 / secs}))
}
