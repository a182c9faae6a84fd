//! The sandbox's keys and what is done with them. ABDM clients encrypt Aadhaar numbers, mobiles,
//! OTPs and passwords with the service's public key before sending them:
//!
//! - ABHA v3 (and the Carestack ABHA routes): RSA/ECB/OAEPWithSHA-1AndMGF1Padding, a 4096-bit key;
//! - PHR v1: RSA/ECB/PKCS1Padding, its own key.
//!
//! The keys are fixed test keys from `fixtures/keys/` (never generated at start-up, so start-up
//! stays instant); each is parsed the first time it is used.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey};

use crate::error::{ApiError, ApiResult};

/// The algorithm name ABHA v3's certificate endpoint announces.
pub const ABHA_ALGORITHM: &str = "RSA/ECB/OAEPWithSHA-1AndMGF1Padding";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// RSA-OAEP with SHA-1 and MGF1-SHA-1, no label (ABHA v3).
    OaepSha1,
    /// RSA PKCS#1 v1.5 (PHR v1).
    Pkcs1,
}

pub struct Key {
    pem: &'static str,
    parsed: OnceLock<RsaPrivateKey>,
    spki: OnceLock<String>,
}

impl Key {
    const fn new(pem: &'static str) -> Self {
        Key { pem, parsed: OnceLock::new(), spki: OnceLock::new() }
    }

    pub fn private(&self) -> &RsaPrivateKey {
        self.parsed
            .get_or_init(|| RsaPrivateKey::from_pkcs8_pem(self.pem).expect("the fixture key is PKCS#8 PEM"))
    }

    /// The public key as base64 DER SubjectPublicKeyInfo (what ABHA v3's certificate endpoint
    /// returns and what the Carestack SDK's `ABHA_PUBLIC_KEY` takes).
    pub fn public_spki_b64(&self) -> String {
        self.spki
            .get_or_init(|| {
                let der =
                    self.private().to_public_key().to_public_key_der().expect("an RSA public key encodes");
                B64.encode(der.as_bytes())
            })
            .clone()
    }

    /// Decrypts a base64 ciphertext sent in request field `field`. Refuses, naming the field, a
    /// value that is plaintext (all digits or all letters, as ABDM checks), not base64, or that
    /// does not decrypt with this key and padding.
    pub fn decrypt(&self, field: &str, value: &str, padding: Padding) -> ApiResult<String> {
        let plain_looking =
            value.bytes().all(|b| b.is_ascii_digit()) || value.bytes().all(|b| b.is_ascii_alphabetic());
        if plain_looking || value.contains('@') {
            return Err(ApiError::bad(
                field,
                "not-encrypted",
                format!(
                    "must be encrypted with the service's public key ({}), not sent in plaintext",
                    padding.name()
                ),
            ));
        }
        let bytes = B64
            .decode(value.trim())
            .map_err(|_| ApiError::bad(field, "not-base64", "must be the base64 of the RSA ciphertext"))?;
        let key = self.private();
        let plain = match padding {
            Padding::OaepSha1 => key.decrypt(Oaep::new::<sha1::Sha1>(), &bytes),
            Padding::Pkcs1 => key.decrypt(Pkcs1v15Encrypt, &bytes),
        }
        .map_err(|_| {
            ApiError::bad(
                field,
                "decrypt-failed",
                format!("does not decrypt with the sandbox's public key and {} padding; fetch the key from the certificate endpoint", padding.name()),
            )
        })?;
        String::from_utf8(plain)
            .map_err(|_| ApiError::bad(field, "decrypt-failed", "decrypts to bytes that are not UTF-8 text"))
    }
}

impl Padding {
    pub fn name(self) -> &'static str {
        match self {
            Padding::OaepSha1 => "RSA-OAEP with SHA-1/MGF1-SHA-1",
            Padding::Pkcs1 => "RSA PKCS#1 v1.5",
        }
    }
}

/// ABHA v3's encryption key (4096-bit, as the real one).
pub static ABHA_KEY: Key = Key::new(include_str!("../../fixtures/keys/abha-v3.test-only.pem"));
/// The PHR service's encryption key.
pub static PHR_KEY: Key = Key::new(include_str!("../../fixtures/keys/phr.test-only.pem"));
/// The gateway's token-signing key.
pub static GATEWAY_KEY: Key = Key::new(include_str!("../../fixtures/keys/gateway-jwt.test-only.pem"));

// ---- gateway tokens (JWT) ----------------------------------------------------------------------

/// The `kid` of the gateway's signing key, in the JWKS and in every token header.
pub const GATEWAY_KID: &str = "sbx-gateway-test-key-1";
const GATEWAY_CERT: &str = include_str!("../../fixtures/keys/gateway-jwt.test-only.crt");

/// The gateway key parsed once for aws-lc's RSA (its Montgomery constants and CRT parameters
/// kept), so a signature costs the private-key operation alone. jsonwebtoken's own signer parses
/// the DER key again on every call.
fn signing_key() -> &'static aws_lc_rs::signature::RsaKeyPair {
    static KEY: OnceLock<aws_lc_rs::signature::RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        let der: String = GATEWAY_KEY.pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = B64.decode(der).expect("the gateway key is PEM");
        aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("the gateway key is PKCS#8 RSA")
    })
}

fn decoding_key() -> &'static jsonwebtoken::DecodingKey {
    static KEY: OnceLock<jsonwebtoken::DecodingKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let (n, e) = gateway_components();
        jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).expect("the gateway key's components")
    })
}

/// (n, e) of the gateway key, base64url without padding, as a JWK carries them.
fn gateway_components() -> (String, String) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rsa::traits::PublicKeyParts;
    let key = GATEWAY_KEY.private();
    (URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()), URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()))
}

/// Signs claims with the gateway key: RS256 for session and callback tokens, RS512 for linking
/// tokens (as the sandbox's are). The token is the JWS compact form jsonwebtoken writes (the same
/// header, `{"typ":"JWT","alg":..,"kid":..}`), verifiable with the JWKS of `certs`.
pub fn sign(claims: &serde_json::Value, algorithm: jsonwebtoken::Algorithm) -> String {
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::Algorithm::{RS256, RS384, RS512};
    // The gateway key is RSA: PKCS#1 v1.5 with SHA-256 unless SHA-384 or SHA-512 is asked for.
    let (algorithm, padding) = match algorithm {
        RS384 => (RS384, &RSA_PKCS1_SHA384),
        RS512 => (RS512, &RSA_PKCS1_SHA512),
        _ => (RS256, &RSA_PKCS1_SHA256),
    };
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.kid = Some(GATEWAY_KID.to_string());
    // Serialising a header and a JSON value cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    let mut message = URL_SAFE_NO_PAD.encode(header);
    message.push('.');
    message.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let key = signing_key();
    let mut signature = vec![0; key.public_modulus_len()];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    key.sign(padding, &rng, message.as_bytes(), &mut signature)
        .expect("signing with a valid key cannot fail");
    message.push('.');
    message.push_str(&URL_SAFE_NO_PAD.encode(signature));
    message
}

/// The secret of refresh tokens. Keycloak signs refresh tokens HS256 with a realm secret (only
/// the gateway reads them); this one is a fixed test value like the keys.
const REFRESH_SECRET: &[u8] = b"abdm-sandbox refresh tokens (test only)";

/// Signs a refresh token (HS256, `typ: Refresh`, as the sandbox's Keycloak does).
pub fn sign_refresh(claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(REFRESH_SECRET);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)
        .expect("signing with a valid key cannot fail")
}

/// Verifies a refresh token this gateway issued; expiry is checked by the caller.
pub fn verify_refresh(token: &str) -> Result<serde_json::Value, String> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_secret(REFRESH_SECRET);
    jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// Signs claims with a key that is not the gateway's (the PHR test key): a token a HIP must
/// refuse, for testing that it verifies the gateway's signature.
pub fn sign_foreign(claims: &serde_json::Value) -> String {
    static KEY: OnceLock<jsonwebtoken::EncodingKey> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        jsonwebtoken::EncodingKey::from_rsa_pem(PHR_KEY.pem.as_bytes()).expect("the PHR key is PEM")
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(GATEWAY_KID.to_string());
    jsonwebtoken::encode(&header, claims, key).expect("signing with a valid key cannot fail")
}

/// Verifies a token this gateway signed and returns its claims. Expiry is checked by the caller
/// against the virtual clock.
pub fn verify(token: &str, algorithm: jsonwebtoken::Algorithm) -> Result<serde_json::Value, String> {
    let mut validation = jsonwebtoken::Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<serde_json::Value>(token, decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// The JWKS of `GET /gateway/v0.5/certs`, serialised once: the signing key first (HIPs take
/// `keys[0]`).
pub fn jwks_json() -> &'static str {
    static JWKS: OnceLock<String> = OnceLock::new();
    JWKS.get_or_init(|| jwks().to_string())
}

/// The JWKS as a value.
pub fn jwks() -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha1::Digest;
    let (n, e) = gateway_components();
    let der: String = GATEWAY_CERT.lines().filter(|l| !l.starts_with("-----")).collect();
    let der_bytes = B64.decode(&der).unwrap_or_default();
    let x5t = URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der_bytes));
    serde_json::json!({"keys": [{
        "kid": GATEWAY_KID, "kty": "RSA", "alg": "RS256", "use": "sig", "n": n, "e": e,
        "x5c": [der], "x5t": x5t,
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPublicKey;

    fn encrypt(key: &Key, text: &str, padding: Padding) -> String {
        let public = RsaPublicKey::from(key.private());
        let mut rng = rand::thread_rng();
        let bytes = match padding {
            Padding::OaepSha1 => public.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), text.as_bytes()),
            Padding::Pkcs1 => public.encrypt(&mut rng, Pkcs1v15Encrypt, text.as_bytes()),
        }
        .unwrap();
        B64.encode(bytes)
    }

    #[test]
    fn gateway_tokens_verify_with_the_jwks_key_and_keep_jsonwebtoken_header() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = serde_json::json!({"sub": "x", "exp": 4_102_444_800i64, "aud": "account"});
        let jwk = &jwks()["keys"][0];
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        for alg in [jsonwebtoken::Algorithm::RS256, jsonwebtoken::Algorithm::RS512] {
            let token = sign(&claims, alg);
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.set_audience(&["account"]);
            let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap();
            assert_eq!(data.claims, claims);
            assert_eq!(data.header.kid.as_deref(), Some(GATEWAY_KID));
            let head = token.split('.').next().unwrap();
            let head: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap();
            assert_eq!(
                head,
                serde_json::json!({"typ": "JWT", "alg": format!("{alg:?}"), "kid": GATEWAY_KID})
            );
            assert_eq!(verify(&token, alg).unwrap(), claims);
        }
        let mut tampered = sign(&claims, jsonwebtoken::Algorithm::RS256);
        tampered.insert(tampered.find('.').unwrap() + 2, 'A');
        assert!(verify(&tampered, jsonwebtoken::Algorithm::RS256).is_err());
    }

    #[test]
    fn round_trips_and_refusals() {
        let c = encrypt(&ABHA_KEY, "234567890127", Padding::OaepSha1);
        assert_eq!(ABHA_KEY.decrypt("loginId", &c, Padding::OaepSha1).unwrap(), "234567890127");
        assert_eq!(ABHA_KEY.decrypt("loginId", &c, Padding::Pkcs1).unwrap_err().rule, "decrypt-failed");
        assert_eq!(PHR_KEY.decrypt("value", &c, Padding::OaepSha1).unwrap_err().rule, "decrypt-failed");
        assert_eq!(
            ABHA_KEY.decrypt("loginId", "234567890127", Padding::OaepSha1).unwrap_err().rule,
            "not-encrypted"
        );
        assert_eq!(ABHA_KEY.decrypt("loginId", "abc$%^", Padding::OaepSha1).unwrap_err().rule, "not-base64");
        let p = encrypt(&PHR_KEY, "123456", Padding::Pkcs1);
        assert_eq!(PHR_KEY.decrypt("value", &p, Padding::Pkcs1).unwrap(), "123456");
        assert!(ABHA_KEY.public_spki_b64().len() > 700);
    }
}
