//! Client-side encryption for scenario templates and tests, as ABDM clients do it: RSA with the service's
//! public key (base64 DER SubjectPublicKeyInfo or PEM), base64 of the ciphertext; and what a HIP
//! does to push health data: Fidelius key material and encryption, the MD5 checksum of the
//! plaintext; and what a HIU does to read it: Fidelius decryption.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPublicKey};
use serde_json::Value;

/// `oaep`: RSA-OAEP SHA-1/MGF1-SHA-1 (ABHA v3); otherwise PKCS#1 v1.5 (PHR v1).
pub fn encrypt(key: &str, text: &str, oaep: bool) -> Result<String, String> {
    let key = key.trim();
    let public = if key.starts_with("-----BEGIN") {
        RsaPublicKey::from_public_key_pem(key).map_err(|e| format!("public key PEM: {e}"))?
    } else {
        let der = B64.decode(key).map_err(|_| "the public key is neither PEM nor base64 DER".to_string())?;
        RsaPublicKey::from_public_key_der(&der).map_err(|e| format!("public key DER: {e}"))?
    };
    let mut rng = rand::thread_rng();
    let bytes = if oaep {
        public.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), text.as_bytes())
    } else {
        public.encrypt(&mut rng, Pkcs1v15Encrypt, text.as_bytes())
    }
    .map_err(|e| format!("encryption failed: {e}"))?;
    Ok(B64.encode(bytes))
}

/// A fresh Fidelius key pair and nonce, as fidelius-cli's `gkm` prints them: `{privateKey,
/// publicKey, x509PublicKey, nonce}`.
pub fn fidelius_keygen() -> Value {
    serde_json::to_value(abdm_server::fidelius::KeyMaterial::generate()).unwrap_or(Value::Null)
}

/// Fidelius encryption as a HIP does it for a HIU (fidelius-cli's `e`, same argument order):
/// the base64 ciphertext, or which argument is wrong and why.
pub fn fidelius_encrypt(
    text: &str,
    sender_nonce: &str,
    requester_nonce: &str,
    sender_private_key: &str,
    requester_public_key: &str,
) -> Result<String, String> {
    abdm_server::fidelius::encrypt(
        text,
        sender_nonce,
        requester_nonce,
        sender_private_key,
        requester_public_key,
    )
    .map_err(|e| format!("fidelius_encrypt: {e}"))
}

/// Fidelius decryption as a HIU does it for what a HIP pushed (fidelius-cli's `d`, same argument
/// order): the plaintext, or why it could not be decrypted.
pub fn fidelius_decrypt(
    content: &str,
    requester_nonce: &str,
    sender_nonce: &str,
    requester_private_key: &str,
    sender_public_key: &str,
) -> Result<String, String> {
    abdm_server::fidelius::decrypt(
        content,
        requester_nonce,
        sender_nonce,
        requester_private_key,
        sender_public_key,
    )
    .map_err(|e| format!("fidelius_decrypt: {e}"))
}

/// The MD5 of a text's UTF-8 bytes in lower-case hex (a data push entry's `checksum`).
pub fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
