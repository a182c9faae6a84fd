//! Unit tests: the published fidelius-cli vector's intermediates, and the refusals.

use super::*;

// mgrmtech/fidelius-cli README (vector A).
const REQUESTER_PRIVATE: &str = "DMxHPri8d7IT23KgLk281zZenMfVHSdeamq0RhwlIBk=";
const REQUESTER_PUBLIC: &str =
    "BAheD5rUqTy4V5xR4/6HWmYpopu5CO+KO8BECS0udNqUTSNo91TIqIIy1A4Vh+F94c+n9vAcwXU2bGcfsI5f69Y=";
const REQUESTER_NONCE: &str = "6uj1RdDUbcpI3lVMZvijkMC8Te20O4Bcyz0SyivX8Eg=";
const SENDER_PRIVATE: &str = "AYhVZpbVeX4KS5Qm/W0+9Ye2q3rnVVGmqRICmseWni4=";
const SENDER_PUBLIC: &str =
    "BABVt+mpRLMXiQpIfEq6bj8hlXsdtXIxLsspmMgLNI1SR5mHgDVbjHO2A+U4QlMddGzqyEidzm1AkhtSxSO2Ahg=";
const SENDER_NONCE: &str = "lmXgblZwotx+DfBgKJF0lZXtAXgBEYr5khh79Zytr2Y=";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn vector_a_keys_and_intermediates() {
    let sender = PrivateKey::from_base64(SENDER_PRIVATE).unwrap();
    let requester = PrivateKey::from_base64(REQUESTER_PRIVATE).unwrap();
    assert_eq!(sender.public_key().to_raw_base64(), SENDER_PUBLIC);
    assert_eq!(requester.public_key().to_raw_base64(), REQUESTER_PUBLIC);
    assert_eq!(sender.to_base64(), SENDER_PRIVATE);
    assert_eq!(requester.to_base64(), REQUESTER_PRIVATE);

    let secret = shared_secret(SENDER_PRIVATE, REQUESTER_PUBLIC).unwrap();
    assert_eq!(hex(&secret), "1d96dcf5ae21f6430045e20b37956dbdb4981d64297c872b67da561e5419507b");
    assert_eq!(shared_secret(REQUESTER_PRIVATE, SENDER_PUBLIC).unwrap(), secret);

    let session = session_key(&secret, SENDER_NONCE, REQUESTER_NONCE).unwrap();
    assert_eq!(hex(&session.salt), "7c8d152b86a4cf1636d3a52c4e69d70555514c95");
    assert_eq!(hex(&session.iv), "b52a0aa55925693fb77a5f2e");
    assert_eq!(hex(&session.aes_key), "c1e1aa56e80509ac195d4baa4d8df060b639f6b1b8b560af6a4e80b884810d97");
}

#[test]
fn generated_key_material_has_fidelius_cli_shapes_and_round_trips() {
    let a = KeyMaterial::generate();
    let b = KeyMaterial::generate();
    assert_eq!((a.public_key.len(), a.x509_public_key.len(), a.nonce.len()), (88, 412, 44));
    assert!(a.x509_public_key.starts_with("MIIBMTCB6gYHKoZIzj0CAT"));
    assert!(a.private_key.len() <= 44);
    assert_eq!(raw_public_key(&a.x509_public_key).unwrap(), a.public_key);
    assert_eq!(x509_public_key(&a.public_key).unwrap(), a.x509_public_key);
    let text = "{\"resourceType\":\"Bundle\",\"note\":\"ü ✓\"}";
    let sealed = encrypt(text, &a.nonce, &b.nonce, &a.private_key, &b.x509_public_key).unwrap();
    assert_eq!(decrypt(&sealed, &b.nonce, &a.nonce, &b.private_key, &a.public_key).unwrap(), text);
    let json = serde_json::to_value(&a).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4);
    for k in ["privateKey", "publicKey", "x509PublicKey", "nonce"] {
        assert!(keys.contains(&k), "{k} missing from {json}");
    }
}

#[test]
fn nonces_must_be_32_bytes_of_base64() {
    let err = encrypt(
        "x",
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        REQUESTER_NONCE,
        SENDER_PRIVATE,
        REQUESTER_PUBLIC,
    )
    .unwrap_err();
    assert_eq!(err.input, Input::SenderNonce);
    assert_eq!(err.problem, Problem::NotBase64);
    let short = BASE64.encode([7u8; 16]);
    let err = encrypt("x", SENDER_NONCE, &short, SENDER_PRIVATE, REQUESTER_PUBLIC).unwrap_err();
    assert_eq!(err.to_string(), "requesterNonce: wrong length: decodes to 16 bytes, expected 32");
}

#[test]
fn tampering_and_wrong_keys_give_a_tag_mismatch() {
    let sealed = encrypt("hello", SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC).unwrap();
    let mut bytes = BASE64.decode(&sealed).unwrap();
    bytes[0] ^= 1;
    let err =
        decrypt(&BASE64.encode(&bytes), REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, SENDER_PUBLIC)
            .unwrap_err();
    assert_eq!((err.input, err.problem), (Input::EncryptedData, Problem::TagMismatch));
    let other = KeyMaterial::generate();
    let err = decrypt(&sealed, REQUESTER_NONCE, SENDER_NONCE, &other.private_key, SENDER_PUBLIC).unwrap_err();
    assert_eq!(err.problem, Problem::TagMismatch);
    let err = decrypt("AAAA", REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, SENDER_PUBLIC).unwrap_err();
    assert_eq!((err.input, err.problem), (Input::EncryptedData, Problem::TooShort));
}

#[test]
fn public_keys_in_unused_shapes_are_refused_with_a_reason() {
    let x25519_sized = BASE64.encode([9u8; 32]);
    let err = parse_public_key(&x25519_sized).unwrap_err();
    assert_eq!(err.input, Input::PublicKey);
    assert!(err.to_string().contains("X25519"), "{err}");
    let mut compressed = vec![0x02];
    compressed.extend_from_slice(&[1u8; 32]);
    assert!(parse_public_key(&BASE64.encode(&compressed)).unwrap_err().to_string().contains("compressed"));
    let mut raw = BASE64.decode(REQUESTER_PUBLIC).unwrap();
    raw[64] ^= 1;
    assert_eq!(parse_public_key(&BASE64.encode(&raw)).unwrap_err().problem, Problem::NotOnCurve);
    raw[0] = 0x05;
    assert!(matches!(parse_public_key(&BASE64.encode(&raw)).unwrap_err().problem, Problem::KeyFormat(_)));
    assert_eq!(parse_public_key(" ").unwrap_err().problem, Problem::Empty);
    assert_eq!(
        parse_public_key(&BASE64.encode([4u8; 40])).unwrap_err().problem,
        Problem::WrongLength { expected: "65 (04‖X‖Y) or an X.509 SubjectPublicKeyInfo", actual: 40 }
    );
}
