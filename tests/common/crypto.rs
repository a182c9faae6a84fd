//! Client-side encryption, as ABDM clients do it: RSA with the service's public key (base64 DER
//! SubjectPublicKeyInfo, as the certificate endpoints serve it), base64 of the ciphertext. The
//! conformance runner's encryption does the work, so tests and scenarios encrypt alike.

use abdm_conformance::crypto::encrypt;

/// RSA-OAEP with SHA-1 and MGF1-SHA-1 (ABHA v3, Carestack ABHA).
pub fn oaep_sha1(key: &str, text: &str) -> String {
    encrypt(key, text, true).unwrap_or_else(|e| panic!("OAEP encryption: {e}"))
}

/// RSA PKCS#1 v1.5 (PHR v1).
pub fn pkcs1(key: &str, text: &str) -> String {
    encrypt(key, text, false).unwrap_or_else(|e| panic!("PKCS#1 encryption: {e}"))
}
