//! Fidelius keys and their encodings, read and written exactly as fidelius-cli does.
//!
//! - A **private key** is base64 of Java's `BigInteger.toByteArray()`: big-endian two's
//!   complement of minimal length (floor(bits/8) + 1 bytes, so a 0x00 sign byte leads when the
//!   bit length is a multiple of 8, and small keys are shorter than 32 bytes). Read back as an
//!   unsigned big-endian integer of at most 32 bytes (a 33-byte form with a leading 0x00 is
//!   tolerated), which must lie in [1, n).
//! - A **public key** is either the raw uncompressed point `04‖X‖Y` (65 bytes, 88 base64
//!   characters) or an X.509 SubjectPublicKeyInfo. fidelius-cli writes X.509 with *explicit*
//!   curve parameters (309 bytes, 412 characters, always starting `MIIBMTCB6gYHKoZIzj0CAT`);
//!   a named-curve SPKI (OID 1.3.6.1.4.1.3029.1.5.1, BouncyCastle's name for this curve) is
//!   read too. Every point is checked as BouncyCastle checks it: on the curve and in the
//!   prime-order subgroup.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use crypto_bigint::{Encoding, U256};
use rand::RngCore;

use super::curve::{self, Affine, PointError};
use super::{FideliusError, Input, Problem};

/// Standard-alphabet base64 that writes padding and reads input with or without it.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes one base64 argument, blaming `input` when it is empty or not base64.
pub(crate) fn decode(input: Input, text: &str) -> Result<Vec<u8>, FideliusError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FideliusError::new(input, Problem::Empty));
    }
    BASE64.decode(text).map_err(|_| FideliusError::new(input, Problem::NotBase64))
}

/// A Fidelius private key: the scalar d in [1, n).
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(U256);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// A fresh random key, uniform in [1, n) (rejection sampling of 253-bit values).
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        loop {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            bytes[0] &= 0x1f; // n < 2^253
            let d = U256::from_be_bytes(bytes);
            if d != U256::ZERO && d < curve::N {
                return PrivateKey(d);
            }
        }
    }

    /// Reads a base64 private key (see the module docs for the accepted forms).
    pub fn from_base64(text: &str) -> Result<Self, FideliusError> {
        let bytes = decode(Input::PrivateKey, text)?;
        let bytes = match bytes.len() {
            33 if bytes[0] == 0 => &bytes[1..],
            1..=32 => &bytes[..],
            n => {
                return Err(FideliusError::new(
                    Input::PrivateKey,
                    Problem::WrongLength { expected: "1 to 32", actual: n },
                ))
            }
        };
        let mut padded = [0u8; 32];
        padded[32 - bytes.len()..].copy_from_slice(bytes);
        let d = U256::from_be_bytes(padded);
        if d == U256::ZERO {
            return Err(FideliusError::new(Input::PrivateKey, Problem::ZeroScalar));
        }
        if d >= curve::N {
            return Err(FideliusError::new(Input::PrivateKey, Problem::ScalarOutOfRange));
        }
        Ok(PrivateKey(d))
    }

    /// The key as fidelius-cli prints it: base64 of `BigInteger.toByteArray()`.
    pub fn to_base64(&self) -> String {
        let be = self.0.to_be_bytes();
        let len = self.0.bits_vartime() / 8 + 1; // ≤ 32 because d < 2^253
        let mut out = [0u8; 33];
        out[1..].copy_from_slice(&be);
        BASE64.encode(&out[33 - len..])
    }

    /// The matching public key d·G.
    pub fn public_key(&self) -> PublicKey {
        // d ∈ [1, n) and G has order n, so d·G is finite.
        let point = Affine::generator().mul(&self.0).unwrap_or_else(Affine::generator);
        PublicKey(point)
    }

    /// The ECDH shared secret with `peer`: the x-coordinate of d·Q as exactly 32 big-endian
    /// bytes, left-padded with zeros (BouncyCastle's `KeyAgreementSpi`). About one exchange in
    /// 256 has a secret starting with 0x00; an implementation that drops it derives another
    /// AES key and the receiver sees a tag mismatch.
    pub fn shared_secret(&self, peer: &PublicKey) -> [u8; 32] {
        // Q is in the subgroup of prime order n and 0 < d < n, so d·Q is finite. This equals
        // BouncyCastle's cofactor-aware (8⁻¹·d mod n)·(8·Q) for such Q.
        match peer.0.mul(&self.0) {
            Some(point) => point.x_bytes(),
            None => [0u8; 32],
        }
    }
}

/// A Fidelius public key: a point of the prime-order subgroup of curve25519.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(Affine);

impl PublicKey {
    /// Reads a base64 public key in either encoding (raw 65-byte point or X.509).
    pub fn from_base64(text: &str) -> Result<Self, FideliusError> {
        let bytes = decode(Input::PublicKey, text)?;
        let point = read_public_key(&bytes).map_err(|p| FideliusError::new(Input::PublicKey, p))?;
        let x: [u8; 32] = point[1..33].try_into().unwrap_or([0; 32]);
        let y: [u8; 32] = point[33..65].try_into().unwrap_or([0; 32]);
        let point = Affine::from_coordinates(&x, &y).map_err(|e| {
            FideliusError::new(
                Input::PublicKey,
                match e {
                    PointError::CoordinateOutOfRange => Problem::CoordinateOutOfRange,
                    PointError::NotOnCurve => Problem::NotOnCurve,
                    PointError::NotInSubgroup => Problem::NotInSubgroup,
                },
            )
        })?;
        Ok(PublicKey(point))
    }

    /// The raw uncompressed point `04‖X‖Y` (65 bytes).
    pub fn raw_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[0] = 0x04;
        out[1..33].copy_from_slice(&self.0.x_bytes());
        out[33..].copy_from_slice(&self.0.y_bytes());
        out
    }

    /// The raw point in base64 (88 characters): fidelius-cli's `publicKey`.
    pub fn to_raw_base64(&self) -> String {
        BASE64.encode(self.raw_bytes())
    }

    /// X.509 SubjectPublicKeyInfo with explicit parameters in base64 (412 characters):
    /// fidelius-cli's `x509PublicKey`.
    pub fn to_x509_base64(&self) -> String {
        let mut der = x509_prefix();
        der.extend_from_slice(&self.raw_bytes());
        BASE64.encode(der)
    }
}

// DER tags used by SubjectPublicKeyInfo.
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;

/// id-ecPublicKey, 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime-field, 1.2.840.10045.1.1.
const PRIME_FIELD: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01];
/// 1.3.6.1.4.1.3029.1.5.1, the OID BouncyCastle gives this curve (`CryptlibObjectIdentifiers.curvey25519`).
const CURVEY25519: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x97, 0x55, 0x01, 0x05, 0x01];
/// id-X25519, 1.3.101.110 (RFC 8410): the Montgomery-form key Fidelius does not use.
const X25519: &[u8] = &[0x2b, 0x65, 0x6e];

/// The 244 DER bytes BouncyCastle writes before the 65-byte point in an explicit-parameter SPKI.
fn x509_prefix() -> Vec<u8> {
    let mut der = Vec::with_capacity(309);
    der.extend_from_slice(&[SEQUENCE, 0x82, 0x01, 0x31]); // SubjectPublicKeyInfo, 305 bytes
    der.extend_from_slice(&[SEQUENCE, 0x81, 0xea]); // AlgorithmIdentifier, 234 bytes
    der.extend_from_slice(&[OID, 0x07]);
    der.extend_from_slice(EC_PUBLIC_KEY);
    der.extend_from_slice(&[SEQUENCE, 0x81, 0xde]); // ECParameters, 222 bytes
    der.extend_from_slice(&[INTEGER, 0x01, 0x01]); // version 1
    der.extend_from_slice(&[SEQUENCE, 0x2b, OID, 0x07]); // FieldID
    der.extend_from_slice(PRIME_FIELD);
    der.extend_from_slice(&[INTEGER, 0x20]);
    der.extend_from_slice(&curve::P.to_be_bytes());
    der.extend_from_slice(&[SEQUENCE, 0x44, OCTET_STRING, 0x20]); // Curve: a, b
    der.extend_from_slice(&curve::A.to_be_bytes());
    der.extend_from_slice(&[OCTET_STRING, 0x20]);
    der.extend_from_slice(&curve::B.to_be_bytes());
    der.extend_from_slice(&[OCTET_STRING, 0x41, 0x04]); // base point, uncompressed
    der.extend_from_slice(&curve::GX.to_be_bytes());
    der.extend_from_slice(&curve::GY.to_be_bytes());
    der.extend_from_slice(&[INTEGER, 0x20]); // order
    der.extend_from_slice(&curve::N.to_be_bytes());
    der.extend_from_slice(&[INTEGER, 0x01, 0x08]); // cofactor
    der.extend_from_slice(&[BIT_STRING, 0x42, 0x00]); // subjectPublicKey, no unused bits
    der
}

/// Finds the 65-byte uncompressed point in a decoded public key, or says why there is none.
fn read_public_key(bytes: &[u8]) -> Result<&[u8], Problem> {
    match (bytes.len(), bytes.first()) {
        (65, Some(0x04)) => Ok(bytes),
        (_, Some(&SEQUENCE)) => read_spki(bytes),
        (65, _) => Err(Problem::KeyFormat("65 bytes but not an uncompressed point (must start 0x04)")),
        (33, Some(0x02 | 0x03)) => Err(Problem::KeyFormat(
            "a compressed point; Fidelius keys are the 65-byte uncompressed point 04‖X‖Y or X.509",
        )),
        (32, _) => Err(Problem::KeyFormat(
            "32 bytes, the size of an X25519 key; Fidelius uses the short-Weierstrass curve25519 \
             with 65-byte points 04‖X‖Y (or X.509)",
        )),
        (n, _) => Err(Problem::WrongLength {
            expected: "65 (04‖X‖Y) or an X.509 SubjectPublicKeyInfo",
            actual: n,
        }),
    }
}

const NOT_SPKI: Problem = Problem::KeyFormat("not a DER X.509 SubjectPublicKeyInfo");

/// The point inside an X.509 SubjectPublicKeyInfo, after checking that its parameters are
/// curve25519's (explicit, or named by OID).
fn read_spki(der: &[u8]) -> Result<&[u8], Problem> {
    let mut outer = Der(der);
    let spki = outer.expect(SEQUENCE).filter(|_| outer.0.is_empty()).ok_or(NOT_SPKI)?;
    let mut spki = Der(spki);
    let algorithm = spki.expect(SEQUENCE).ok_or(NOT_SPKI)?;
    let key_bits = spki.expect(BIT_STRING).filter(|_| spki.0.is_empty()).ok_or(NOT_SPKI)?;
    let mut algorithm = Der(algorithm);
    match algorithm.expect(OID).ok_or(NOT_SPKI)? {
        EC_PUBLIC_KEY => {}
        X25519 => {
            return Err(Problem::KeyFormat(
                "an X25519 key (RFC 8410); Fidelius uses the short-Weierstrass curve25519, not X25519",
            ))
        }
        _ => return Err(Problem::KeyFormat("not an elliptic-curve key (algorithm is not id-ecPublicKey)")),
    }
    match algorithm.next() {
        Some((OID, CURVEY25519)) => {}
        Some((OID, _)) => return Err(Problem::KeyFormat("names a curve other than curve25519")),
        Some((SEQUENCE, params)) => {
            if !explicit_params_are_curve25519(params) {
                return Err(Problem::KeyFormat("explicit curve parameters other than curve25519's"));
            }
        }
        _ => return Err(Problem::KeyFormat("no curve parameters")),
    }
    match key_bits {
        [0x00, point @ ..] if point.len() == 65 && point[0] == 0x04 => Ok(point),
        _ => Err(Problem::KeyFormat("the X.509 key does not hold a 65-byte uncompressed point")),
    }
}

/// Whether explicit ECParameters describe curve25519 (prime, a, b, base point, order, and the
/// cofactor when present); a seed in the Curve structure is ignored.
fn explicit_params_are_curve25519(params: &[u8]) -> bool {
    read_explicit_params(params).unwrap_or(false)
}

/// [`explicit_params_are_curve25519`], with `None` for malformed DER.
fn read_explicit_params(params: &[u8]) -> Option<bool> {
    let same = |bytes: &[u8], value: &U256| strip(bytes) == strip(&value.to_be_bytes());
    let mut p = Der(params);
    let version = p.expect(INTEGER)?;
    let mut field = Der(p.expect(SEQUENCE)?);
    let field_ok = field.expect(OID)? == PRIME_FIELD && same(field.expect(INTEGER)?, &curve::P);
    let mut curve_der = Der(p.expect(SEQUENCE)?);
    let curve_ok =
        same(curve_der.expect(OCTET_STRING)?, &curve::A) && same(curve_der.expect(OCTET_STRING)?, &curve::B);
    let base = p.expect(OCTET_STRING)?;
    let base_ok = base.len() == 65
        && base[0] == 0x04
        && base[1..33] == curve::GX.to_be_bytes()
        && base[33..] == curve::GY.to_be_bytes();
    let order_ok = same(p.expect(INTEGER)?, &curve::N);
    let cofactor_ok = match p.next() {
        None => true,
        Some((INTEGER, h)) => strip(h) == [8],
        Some(_) => false,
    };
    Some(strip(version) == [1] && field_ok && curve_ok && base_ok && order_ok && cofactor_ok)
}

/// Drops leading zero bytes (DER integers carry a sign byte; octet strings may be padded).
fn strip(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// A forward-only reader of DER tag-length-value items (definite lengths only).
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let (content, rest) = rest.split_at(len);
        self.0 = rest;
        Some((tag, content))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, content) if t == tag => Some(content),
            _ => None,
        }
    }
}

/// Random bytes for a nonce.
pub(crate) fn random_nonce() -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_round_trip_in_biginteger_form() {
        for (d, expected_len) in [(1u64, 1usize), (0x80, 2), (0xff, 2), (0x1_00, 2), (0x7fff, 2), (0x8000, 3)]
        {
            let key = PrivateKey(U256::from_u64(d));
            let bytes = BASE64.decode(key.to_base64()).unwrap();
            assert_eq!(bytes.len(), expected_len, "d = {d:#x}");
            assert_eq!(PrivateKey::from_base64(&key.to_base64()).unwrap(), key);
        }
        // 248 bits: a sign byte leads and the whole is 32 bytes.
        let key = PrivateKey(U256::ONE.shl_vartime(247));
        let bytes = BASE64.decode(key.to_base64()).unwrap();
        assert_eq!((bytes.len(), bytes[0], bytes[1]), (32, 0x00, 0x80));
        // A 33-byte form with a leading zero is tolerated.
        let mut long = vec![0u8];
        long.extend_from_slice(&[0u8; 31]);
        long.push(7);
        assert_eq!(PrivateKey::from_base64(&BASE64.encode(long)).unwrap(), PrivateKey(U256::from_u8(7)));
    }

    #[test]
    fn private_keys_outside_one_to_n_are_refused() {
        let zero = PrivateKey::from_base64("AA==").unwrap_err();
        assert_eq!(zero.problem, Problem::ZeroScalar);
        let n = PrivateKey::from_base64(&BASE64.encode(curve::N.to_be_bytes())).unwrap_err();
        assert_eq!(n.problem, Problem::ScalarOutOfRange);
        let long = PrivateKey::from_base64(&BASE64.encode([1u8; 33])).unwrap_err();
        assert_eq!(long.problem, Problem::WrongLength { expected: "1 to 32", actual: 33 });
    }

    #[test]
    fn the_x509_prefix_is_244_bytes_and_parses_back() {
        assert_eq!(x509_prefix().len(), 244);
        let key = PrivateKey::generate().public_key();
        let x509 = key.to_x509_base64();
        assert_eq!(x509.len(), 412);
        assert!(x509.starts_with("MIIBMTCB6gYHKoZIzj0CAT"));
        assert_eq!(PublicKey::from_base64(&x509).unwrap(), key);
    }

    /// An SPKI naming its curve by `curve_oid`, holding `point`.
    fn named_curve_spki(curve_oid: &[u8], point: &[u8; 65]) -> String {
        let mut algorithm = vec![OID, EC_PUBLIC_KEY.len() as u8];
        algorithm.extend_from_slice(EC_PUBLIC_KEY);
        algorithm.extend_from_slice(&[OID, curve_oid.len() as u8]);
        algorithm.extend_from_slice(curve_oid);
        let mut body = vec![SEQUENCE, algorithm.len() as u8];
        body.extend_from_slice(&algorithm);
        body.extend_from_slice(&[BIT_STRING, 66, 0x00]);
        body.extend_from_slice(point);
        let mut der = vec![SEQUENCE, 0x81, body.len() as u8];
        der.extend_from_slice(&body);
        BASE64.encode(der)
    }

    #[test]
    fn a_named_curve_spki_is_read() {
        let key = PrivateKey::generate().public_key();
        let named = named_curve_spki(CURVEY25519, &key.raw_bytes());
        assert_eq!(PublicKey::from_base64(&named).unwrap(), key);
        let p256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let err = PublicKey::from_base64(&named_curve_spki(&p256, &key.raw_bytes())).unwrap_err();
        assert_eq!(err.problem, Problem::KeyFormat("names a curve other than curve25519"));
    }

    #[test]
    fn explicit_parameters_of_another_curve_are_refused() {
        let key = PrivateKey::generate().public_key();
        let mut der = BASE64.decode(key.to_x509_base64()).unwrap();
        der[100] ^= 1; // inside the coefficient a
        let err = PublicKey::from_base64(&BASE64.encode(&der)).unwrap_err();
        assert_eq!(err.problem, Problem::KeyFormat("explicit curve parameters other than curve25519's"));
    }
}
