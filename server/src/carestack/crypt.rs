//! `AiUtilities`: `POST /encrypt` and `POST /decrypt`. The AI services take their input
//! encrypted; the SDK has the server encrypt it first. Here the payload becomes a compact JWE
//! (`alg: dir`, `enc: A256GCM`, RFC 7516) under the sandbox's one content key, and decrypting
//! gives it back: `decrypt(encrypt(x)) == x`. The AI routes open `encryptedData` the same way,
//! so what they answer is derived from what was encrypted. The optional `key` of either call (a
//! caller's public key in the real service) is accepted and not used.

use std::sync::LazyLock;

use actix_web::{web, HttpResponse, Scope};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};

/// The protected header of every token.
const HEADER: &str = r#"{"alg":"dir","enc":"A256GCM","cty":"json","kid":"sbx-carestack-1"}"#;

/// The sandbox's content key: fixed, so tokens stay valid across restarts of a sandbox.
static KEY: LazyLock<[u8; 32]> =
    LazyLock::new(|| Sha256::digest(b"abdm-sandbox carestack content key").into());

/// The `/encrypt` and `/decrypt` routes.
pub fn routes(scope: actix_web::Scope) -> Scope {
    scope.route("/encrypt", web::post().to(encrypt)).route("/decrypt", web::post().to(decrypt))
}

/// A JSON value as a compact JWE.
pub fn seal(value: &Value) -> String {
    let protected = URL_SAFE_NO_PAD.encode(HEADER);
    let iv: [u8; 12] = rand::random();
    let cipher = Aes256Gcm::new(&(*KEY).into());
    let plain = value.to_string();
    let sealed = cipher
        .encrypt(Nonce::from_slice(&iv), Payload { msg: plain.as_bytes(), aad: protected.as_bytes() })
        .unwrap_or_default();
    let (ciphertext, tag) = sealed.split_at(sealed.len().saturating_sub(16));
    format!(
        "{protected}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The JSON value a token of [`seal`] carries; 400 naming `field` when it is not one.
pub fn open(field: &str, token: &str) -> ApiResult<Value> {
    let bad =
        |why: &str| ApiError::bad(field, "jwe", format!("{why}; encrypt the payload with POST /encrypt"));
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [protected, key, iv, ciphertext, tag] = parts[..] else {
        return Err(bad("not a compact JWE (five dot-separated parts)"));
    };
    if !key.is_empty() {
        return Err(bad("a JWE of this sandbox has no encrypted key (alg dir)"));
    }
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| bad("a part is not base64url"));
    let (iv, mut sealed, tag) = (decode(iv)?, decode(ciphertext)?, decode(tag)?);
    if iv.len() != 12 || tag.len() != 16 {
        return Err(bad("the IV must be 12 bytes and the tag 16"));
    }
    sealed.extend_from_slice(&tag);
    let cipher = Aes256Gcm::new(&(*KEY).into());
    let plain = cipher
        .decrypt(Nonce::from_slice(&iv), Payload { msg: &sealed, aad: protected.as_bytes() })
        .map_err(|_| bad("it does not decrypt with this sandbox's key"))?;
    serde_json::from_slice(&plain).map_err(|_| bad("its content is not JSON"))
}

/// `POST /encrypt {"input": <any JSON>, "key"?}` → `{"encryptedPayload": "<JWE>"}`.
async fn encrypt(body: JsonBody) -> ApiResult<HttpResponse> {
    let input = body
        .0
        .get("input")
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::bad("input", "required", "is required"))?;
    body.opt_str("key")?;
    Ok(HttpResponse::Ok().json(json!({"encryptedPayload": seal(input)})))
}

/// `POST /decrypt {"payload": {"data": "<JWE>"}, "key"?}` → what was encrypted (an object as it
/// was; anything else as `{"decryptedPayload": ...}`, since the SDK takes an object).
async fn decrypt(body: JsonBody) -> ApiResult<HttpResponse> {
    let token = body.obj("payload")?.str("data")?;
    body.opt_str("key")?;
    match open("payload.data", token)? {
        Value::Object(m) => Ok(HttpResponse::Ok().json(m)),
        other => Ok(HttpResponse::Ok().json(json!({"decryptedPayload": other}))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let v = json!({"files": ["data:text/plain;base64,SGk="], "n": 1});
        let token = seal(&v);
        assert_eq!(open("t", &token).unwrap(), v);
        let mut flipped = token.into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let e = open("t", std::str::from_utf8(&flipped).unwrap()).unwrap_err();
        assert_eq!((e.field.as_deref(), e.rule), (Some("t"), "jwe"));
        assert_eq!(open("t", "encrypted-data").unwrap_err().rule, "jwe");
    }
}
