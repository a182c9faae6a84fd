//! Sealing a transfer's bundles for the HIU with Fidelius (`abdm_server::fidelius`, BouncyCastle's
//! arithmetic): a fresh key pair and nonce per transfer, ECDH with the HIU's public key from the
//! HI request, the 32-byte left-padded shared secret, AES-256-GCM. Each encryption fault is one
//! of the interoperability mistakes found in public HIPs:
//!
//! - `unpadded-secret`: the shared secret as a minimal-length integer. It only differs when the
//!   secret starts with a zero byte (one exchange in 256), so the HIP searches its own key pairs
//!   until the secret with this HIU key has one: the failure is deterministic.
//! - `x25519`: the key agreement done by an X25519 library (clamped scalar, Montgomery
//!   u-coordinate = x − A/3, little-endian) instead of on BouncyCastle's short-Weierstrass
//!   curve25519. The public key sent stays the Weierstrass point of the HIP's key, so it parses
//!   and the secrets differ.
//! - `reused-key`: one key pair and nonce kept for every transfer.

use abdm_server::fidelius::{self, KeyMaterial, PrivateKey};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use crypto_bigint::{Encoding, U256};
use curve25519_dalek::montgomery::MontgomeryPoint;

use crate::{Fault, Hip};

/// p = 2^255 − 19.
const P: U256 = U256::from_be_hex("7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed");
/// A/3 mod p with A = 486662: the Weierstrass x of a point is its Montgomery u plus A/3.
const A_OVER_3: U256 = U256::from_be_hex("2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaad2451");

/// The HIP's key material for one transfer and the secret it encrypts with.
pub struct Sealer {
    /// The HIP's key pair and nonce (its public half goes in the push's `keyMaterial`).
    pub keys: KeyMaterial,
    /// The HKDF input: the ECDH shared secret, as this HIP computes it.
    secret: Vec<u8>,
}

impl Sealer {
    /// Encrypts one bundle for the HIU whose nonce is `hiu_nonce`: base64 ciphertext ‖ tag.
    pub fn seal(&self, text: &str, hiu_nonce: &str) -> Result<String, String> {
        fidelius::encrypt_with_secret(text, &self.secret, &self.keys.nonce, hiu_nonce)
            .map_err(|e| e.to_string())
    }
}

impl Hip {
    /// The key material and secret for a transfer to the HIU key `hiu_key` (raw or X.509), as
    /// the HIP's faults have it.
    pub fn sealer(&self, hiu_key: &str) -> Result<Sealer, String> {
        let hiu = fidelius::parse_public_key(hiu_key).map_err(|e| e.to_string())?;
        if self.has(Fault::UnpaddedSecret) {
            return Ok(leading_zero_sealer(&hiu));
        }
        let keys = if self.has(Fault::ReusedKey) {
            let mut kept = self.kept_keys.lock().unwrap_or_else(|e| e.into_inner());
            kept.get_or_insert_with(KeyMaterial::generate).clone()
        } else {
            KeyMaterial::generate()
        };
        let secret = if self.has(Fault::X25519) {
            x25519_secret(&keys.private_key, &hiu)?.to_vec()
        } else {
            fidelius::shared_secret(&keys.private_key, hiu_key).map_err(|e| e.to_string())?.to_vec()
        };
        Ok(Sealer { keys, secret })
    }
}

/// A key pair whose secret with `hiu` starts with a zero byte, and that secret with the zero
/// dropped (the `unpadded-secret` fault). One try in 256 succeeds; each is one scalar
/// multiplication.
fn leading_zero_sealer(hiu: &fidelius::PublicKey) -> Sealer {
    loop {
        let private = PrivateKey::generate();
        let secret = private.shared_secret(hiu);
        if secret[0] != 0 {
            continue;
        }
        let public = private.public_key();
        let keys = KeyMaterial {
            private_key: private.to_base64(),
            public_key: public.to_raw_base64(),
            x509_public_key: public.to_x509_base64(),
            nonce: fidelius::generate_nonce(),
        };
        let unpadded = secret.iter().copied().skip_while(|b| *b == 0).collect();
        return Sealer { keys, secret: unpadded };
    }
}

/// What an X25519 library computes for the HIP's private key and the HIU's point: the
/// Montgomery u-coordinate of clamp(d)·Q, little-endian (the `x25519` fault).
fn x25519_secret(private_key: &str, hiu: &fidelius::PublicKey) -> Result<[u8; 32], String> {
    let point = hiu.raw_bytes();
    let x = U256::from_be_slice(&point[1..33]);
    let u = x.sub_mod(&A_OVER_3, &P).to_le_bytes();
    let d = BASE64.decode(private_key).map_err(|e| e.to_string())?;
    let d = d.strip_prefix(&[0]).unwrap_or(&d);
    if d.len() > 32 {
        return Err("private key longer than 32 bytes".into());
    }
    let mut scalar = [0u8; 32];
    // Big-endian integer to X25519's little-endian scalar bytes.
    for (i, b) in d.iter().rev().enumerate() {
        scalar[i] = *b;
    }
    Ok(MontgomeryPoint(u).mul_clamped(scalar).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The X25519 fault works on the same curve in its Montgomery form (u = x − A/3 is a point
    /// X25519 accepts), so its wrong secret is the curve mistake, not noise.
    #[test]
    fn x25519_sees_the_hiu_key_as_a_montgomery_point() {
        let hiu = KeyMaterial::generate();
        let hiu_key = fidelius::parse_public_key(&hiu.x509_public_key).unwrap();
        let x = U256::from_be_slice(&hiu_key.raw_bytes()[1..33]);
        let u = MontgomeryPoint(x.sub_mod(&A_OVER_3, &P).to_le_bytes());
        assert!(u.to_edwards(0).is_some(), "on the X25519 curve");
        let hip = KeyMaterial::generate();
        let wrong = x25519_secret(&hip.private_key, &hiu_key).unwrap();
        let right = fidelius::shared_secret(&hip.private_key, &hiu.public_key).unwrap();
        assert_ne!(wrong, right);
    }

    #[test]
    fn the_unpadded_secret_fault_finds_a_leading_zero() {
        let hiu = KeyMaterial::generate();
        let sealer = leading_zero_sealer(&fidelius::parse_public_key(&hiu.public_key).unwrap());
        let full = fidelius::shared_secret(&sealer.keys.private_key, &hiu.public_key).unwrap();
        assert_eq!(full[0], 0);
        assert!(sealer.secret.len() < 32 && full.ends_with(&sealer.secret));
    }
}
