//! # Fidelius: ABDM's health-data encryption, exactly as BouncyCastle computes it
//!
//! A HIP encrypts each FHIR bundle it pushes to a HIU with Fidelius: both sides make a fresh
//! key pair and a 32-byte nonce per exchange and swap the public halves in `keyMaterial`.
//! The reference is fidelius-cli (Java, BouncyCastle); this module reproduces it byte for byte:
//!
//! 1. **Curve**: BouncyCastle's `curve25519`, the *short-Weierstrass* form of Curve25519, not
//!    X25519 — no clamping; private keys are plain integers in [1, n); public keys are points
//!    `04‖X‖Y` (see [`keys`] for the encodings, raw and X.509).
//! 2. **ECDH**: the shared secret is the x-coordinate of d·Q as exactly 32 bytes big-endian,
//!    left-padded with zeros. About one exchange in 256 has a secret below 2^248; an
//!    implementation that drops the leading zero derives another key and fails with a tag
//!    mismatch.
//! 3. **Nonces**: `xor[i] = senderNonce[i] ⊕ requesterNonce[i]`; salt = xor[0..20),
//!    IV = xor[20..32).
//! 4. **Key**: HKDF-SHA256(ikm = secret, salt, empty info) → 32 bytes.
//! 5. **Cipher**: AES-256-GCM with that IV, no associated data; output is ciphertext ‖ 16-byte
//!    tag, in standard base64.
//!
//! ```
//! use abdm_server::fidelius::{self, KeyMaterial};
//!
//! let hip = KeyMaterial::generate();
//! let hiu = KeyMaterial::generate();
//! let sealed = fidelius::encrypt("{}", &hip.nonce, &hiu.nonce, &hip.private_key, &hiu.public_key)?;
//! let opened = fidelius::decrypt(&sealed, &hiu.nonce, &hip.nonce, &hiu.private_key, &hip.x509_public_key)?;
//! assert_eq!(opened, "{}");
//! # Ok::<(), fidelius::FideliusError>(())
//! ```
//!
//! Every refusal is a [`FideliusError`] naming the input at fault and why.
//!
//! The curve arithmetic (`curve.rs`) is plain affine/Jacobian code over `crypto-bigint` residues
//! and branches on secret bits: it is **not constant-time**, which is acceptable for a sandbox
//! and for checking an integrator's output, not for protecting real health data. HKDF, SHA-256
//! and AES-GCM are the RustCrypto crates. This module depends on nothing else in the server.

mod curve;
pub mod keys;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hkdf::Hkdf;
use serde::Serialize;
use sha2::Sha256;

pub use keys::{PrivateKey, PublicKey};

use keys::{decode, BASE64};

/// Which argument of a Fidelius operation is at fault (named as fidelius-cli names them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The private key (the sender's when encrypting, the requester's when decrypting).
    PrivateKey,
    /// The peer's public key (the requester's when encrypting, the sender's when decrypting).
    PublicKey,
    /// The sender's (HIP's) nonce.
    SenderNonce,
    /// The requester's (HIU's) nonce.
    RequesterNonce,
    /// The base64 ciphertext being decrypted.
    EncryptedData,
    /// The text being encrypted.
    Plaintext,
}

impl Input {
    /// The argument's name as fidelius-cli and ABDM's `keyMaterial` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Input::PrivateKey => "privateKey",
            Input::PublicKey => "publicKey",
            Input::SenderNonce => "senderNonce",
            Input::RequesterNonce => "requesterNonce",
            Input::EncryptedData => "encryptedData",
            Input::Plaintext => "stringToEncrypt",
        }
    }
}

/// What is wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Empty (or only whitespace).
    Empty,
    /// Not standard-alphabet base64.
    NotBase64,
    /// Decodes to the wrong number of bytes.
    WrongLength {
        /// What the rule allows.
        expected: &'static str,
        /// What arrived.
        actual: usize,
    },
    /// A public key in a shape Fidelius does not use; the text says which.
    KeyFormat(&'static str),
    /// A point coordinate not below p = 2^255 − 19.
    CoordinateOutOfRange,
    /// A point that does not satisfy the curve equation.
    NotOnCurve,
    /// A point on the curve but outside the subgroup of prime order n.
    NotInSubgroup,
    /// A private key of zero.
    ZeroScalar,
    /// A private key not below the group order n.
    ScalarOutOfRange,
    /// Ciphertext shorter than the 16-byte AES-GCM tag.
    TooShort,
    /// AES-GCM authentication failed.
    TagMismatch,
    /// The plaintext is not UTF-8.
    NotUtf8,
    /// More than AES-GCM can encrypt under one IV (64 GiB).
    TooLong,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Empty => f.write_str("empty"),
            Problem::NotBase64 => f.write_str("not base64 (standard alphabet)"),
            Problem::WrongLength { expected, actual } => {
                write!(f, "wrong length: decodes to {actual} bytes, expected {expected}")
            }
            Problem::KeyFormat(why) => write!(f, "unsupported key: {why}"),
            Problem::CoordinateOutOfRange => {
                f.write_str("not on the curve: a coordinate is not below p = 2^255-19")
            }
            Problem::NotOnCurve => f.write_str(
                "not on the curve: not a point of curve25519 (the short-Weierstrass form BouncyCastle uses)",
            ),
            Problem::NotInSubgroup => {
                f.write_str("not in the prime-order subgroup (the point has a small-order component)")
            }
            Problem::ZeroScalar => f.write_str("zero scalar: a private key must be in [1, n)"),
            Problem::ScalarOutOfRange => {
                f.write_str("out-of-range scalar: not below the curve order n (private keys are in [1, n))")
            }
            Problem::TooShort => f.write_str("wrong length: shorter than the 16-byte AES-GCM tag"),
            Problem::TagMismatch => f.write_str(
                "tag mismatch: AES-GCM authentication failed (wrong keys or nonces, altered data, \
                 or a shared secret not left-padded to 32 bytes)",
            ),
            Problem::NotUtf8 => f.write_str("decrypts to bytes that are not UTF-8"),
            Problem::TooLong => f.write_str("too long for one AES-GCM message"),
        }
    }
}

/// A refused Fidelius input: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FideliusError {
    /// The argument at fault.
    pub input: Input,
    /// What is wrong with it.
    pub problem: Problem,
}

impl FideliusError {
    pub(crate) fn new(input: Input, problem: Problem) -> Self {
        FideliusError { input, problem }
    }
}

impl std::fmt::Display for FideliusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.input.name(), self.problem)
    }
}

impl std::error::Error for FideliusError {}

/// One side's key material for an exchange, as fidelius-cli's `gkm` prints it (all base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMaterial {
    /// `BigInteger.toByteArray()` of the private scalar.
    pub private_key: String,
    /// The raw point `04‖X‖Y` (88 characters).
    pub public_key: String,
    /// The same point as X.509 with explicit parameters (412 characters).
    pub x509_public_key: String,
    /// 32 random bytes (44 characters).
    pub nonce: String,
}

impl KeyMaterial {
    /// A fresh key pair and nonce.
    pub fn generate() -> Self {
        let private = PrivateKey::generate();
        let public = private.public_key();
        KeyMaterial {
            private_key: private.to_base64(),
            public_key: public.to_raw_base64(),
            x509_public_key: public.to_x509_base64(),
            nonce: generate_nonce(),
        }
    }
}

/// A fresh 32-byte nonce in base64.
pub fn generate_nonce() -> String {
    BASE64.encode(keys::random_nonce())
}

/// Reads a public key in either encoding (raw 65-byte point, or X.509 with explicit or named
/// parameters) and checks it is a point of the prime-order subgroup.
pub fn parse_public_key(text: &str) -> Result<PublicKey, FideliusError> {
    PublicKey::from_base64(text)
}

/// The X.509 (explicit-parameter) form of a public key given in either encoding.
pub fn x509_public_key(public_key: &str) -> Result<String, FideliusError> {
    Ok(PublicKey::from_base64(public_key)?.to_x509_base64())
}

/// The raw (65-byte point) form of a public key given in either encoding.
pub fn raw_public_key(public_key: &str) -> Result<String, FideliusError> {
    Ok(PublicKey::from_base64(public_key)?.to_raw_base64())
}

/// The ECDH shared secret between a private key and a peer's public key: the x-coordinate of
/// d·Q as exactly 32 big-endian bytes.
pub fn shared_secret(private_key: &str, public_key: &str) -> Result<[u8; 32], FideliusError> {
    let private = PrivateKey::from_base64(private_key)?;
    let public = PublicKey::from_base64(public_key)?;
    Ok(private.shared_secret(&public))
}

/// The symmetric parameters of one exchange, derived from the shared secret and both nonces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// The HKDF salt: the first 20 bytes of the nonces' XOR.
    pub salt: [u8; 20],
    /// The AES-GCM IV: the last 12 bytes of the nonces' XOR.
    pub iv: [u8; 12],
    /// HKDF-SHA256(secret, salt, empty info), 32 bytes.
    pub aes_key: [u8; 32],
}

/// Derives salt, IV and AES key from a shared secret (used as given, so a test can feed a
/// wrongly encoded one) and the two base64 nonces, each exactly 32 bytes.
pub fn session_key(
    shared_secret: &[u8],
    sender_nonce: &str,
    requester_nonce: &str,
) -> Result<SessionKey, FideliusError> {
    let sender = nonce(Input::SenderNonce, sender_nonce)?;
    let requester = nonce(Input::RequesterNonce, requester_nonce)?;
    let mut xor = [0u8; 32];
    for (i, byte) in xor.iter_mut().enumerate() {
        *byte = sender[i] ^ requester[i];
    }
    let mut salt = [0u8; 20];
    salt.copy_from_slice(&xor[..20]);
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&xor[20..]);
    let mut aes_key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 × 32, so expand cannot fail.
    let _ = Hkdf::<Sha256>::new(Some(&salt), shared_secret).expand(&[], &mut aes_key);
    Ok(SessionKey { salt, iv, aes_key })
}

fn nonce(input: Input, text: &str) -> Result<[u8; 32], FideliusError> {
    let bytes = decode(input, text)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| FideliusError::new(input, Problem::WrongLength { expected: "32", actual: bytes.len() }))
}

/// Encrypts as a HIP does for a HIU: the HIP's (sender's) nonce and private key, the HIU's
/// (requester's) nonce and public key. Returns fidelius-cli's `encryptedData`.
pub fn encrypt(
    plaintext: impl AsRef<[u8]>,
    sender_nonce: &str,
    requester_nonce: &str,
    sender_private_key: &str,
    requester_public_key: &str,
) -> Result<String, FideliusError> {
    // Nonces first, so a bad nonce is named even when a key is bad too, as the order of the
    // arguments suggests; then the keys.
    session_key(&[], sender_nonce, requester_nonce)?;
    let secret = shared_secret(sender_private_key, requester_public_key)?;
    encrypt_with_secret(plaintext, &secret, sender_nonce, requester_nonce)
}

/// Encrypts with an already computed shared secret, used as the HKDF input exactly as given.
pub fn encrypt_with_secret(
    plaintext: impl AsRef<[u8]>,
    shared_secret: &[u8],
    sender_nonce: &str,
    requester_nonce: &str,
) -> Result<String, FideliusError> {
    let session = session_key(shared_secret, sender_nonce, requester_nonce)?;
    let cipher = Aes256Gcm::new(&session.aes_key.into());
    let sealed = cipher
        .encrypt(Nonce::from_slice(&session.iv), plaintext.as_ref())
        .map_err(|_| FideliusError::new(Input::Plaintext, Problem::TooLong))?;
    Ok(BASE64.encode(sealed))
}

/// Decrypts as a HIU does (fidelius-cli's `d` argument order): the ciphertext, the HIU's
/// (requester's) nonce, the HIP's (sender's) nonce, the HIU's private key and the HIP's public
/// key. Returns the plaintext bytes.
pub fn decrypt_bytes(
    encrypted_data: &str,
    requester_nonce: &str,
    sender_nonce: &str,
    requester_private_key: &str,
    sender_public_key: &str,
) -> Result<Vec<u8>, FideliusError> {
    let sealed = decode(Input::EncryptedData, encrypted_data)?;
    if sealed.len() < 16 {
        return Err(FideliusError::new(Input::EncryptedData, Problem::TooShort));
    }
    session_key(&[], sender_nonce, requester_nonce)?;
    let secret = shared_secret(requester_private_key, sender_public_key)?;
    let session = session_key(&secret, sender_nonce, requester_nonce)?;
    let cipher = Aes256Gcm::new(&session.aes_key.into());
    cipher
        .decrypt(Nonce::from_slice(&session.iv), sealed.as_slice())
        .map_err(|_| FideliusError::new(Input::EncryptedData, Problem::TagMismatch))
}

/// Decrypts with an already computed shared secret, used as the HKDF input exactly as given:
/// how a receiver tells which mistake a sender made (a secret not left-padded, say).
pub fn decrypt_with_secret(
    encrypted_data: &str,
    shared_secret: &[u8],
    sender_nonce: &str,
    requester_nonce: &str,
) -> Result<Vec<u8>, FideliusError> {
    let sealed = decode(Input::EncryptedData, encrypted_data)?;
    let session = session_key(shared_secret, sender_nonce, requester_nonce)?;
    let cipher = Aes256Gcm::new(&session.aes_key.into());
    cipher
        .decrypt(Nonce::from_slice(&session.iv), sealed.as_slice())
        .map_err(|_| FideliusError::new(Input::EncryptedData, Problem::TagMismatch))
}

/// [`decrypt_bytes`], for a UTF-8 plaintext (a FHIR bundle is JSON, hence UTF-8).
pub fn decrypt(
    encrypted_data: &str,
    requester_nonce: &str,
    sender_nonce: &str,
    requester_private_key: &str,
    sender_public_key: &str,
) -> Result<String, FideliusError> {
    let bytes = decrypt_bytes(
        encrypted_data,
        requester_nonce,
        sender_nonce,
        requester_private_key,
        sender_public_key,
    )?;
    String::from_utf8(bytes).map_err(|_| FideliusError::new(Input::EncryptedData, Problem::NotUtf8))
}

#[cfg(test)]
mod tests;
