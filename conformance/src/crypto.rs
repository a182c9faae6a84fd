//! Client-side encryption for scenario templates and tests, as ABDM clients do it: RSA with the service's
//! public key (base64 DER SubjectPublicKeyInfo or PEM), base64 of the ciphertext.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPublicKey};

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
