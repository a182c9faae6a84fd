//! Fidelius as fidelius-cli (BouncyCastle) computes it: the published README vector byte for
//! byte in both key encodings, the leading-zero shared secret that unpadded implementations get
//! wrong, refusals naming the bad input, and the `abdm-sandbox fidelius` command line with
//! fidelius-cli's JSON shapes.

use std::process::Command;

use abdm_server::fidelius::{self, Input, KeyMaterial, PrivateKey, Problem};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value;

/// Test vector A: mgrmtech/fidelius-cli README (plaintext as fixed by its PR #16).
mod vector {
    pub const REQUESTER_PRIVATE: &str = "DMxHPri8d7IT23KgLk281zZenMfVHSdeamq0RhwlIBk=";
    pub const REQUESTER_PUBLIC: &str =
        "BAheD5rUqTy4V5xR4/6HWmYpopu5CO+KO8BECS0udNqUTSNo91TIqIIy1A4Vh+F94c+n9vAcwXU2bGcfsI5f69Y=";
    pub const REQUESTER_X509: &str = "MIIBMTCB6gYHKoZIzj0CATCB3gIBATArBgcqhkjOPQEBAiB/////////////////////////////////////////7TBEBCAqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqYSRShRAQge0Je0Je0Je0Je0Je0Je0Je0Je0Je0Je0JgtenHcQyGQEQQQqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0kWiCuGaG4oIa04B7dLHdI0UySPU1+bXxhsinpxaJ+ztPZAiAQAAAAAAAAAAAAAAAAAAAAFN753qL3nNZYEmMaXPXT7QIBCANCAAQIXg+a1Kk8uFecUeP+h1pmKaKbuQjvijvARAktLnTalE0jaPdUyKiCMtQOFYfhfeHPp/bwHMF1NmxnH7COX+vW";
    pub const REQUESTER_NONCE: &str = "6uj1RdDUbcpI3lVMZvijkMC8Te20O4Bcyz0SyivX8Eg=";
    pub const SENDER_PRIVATE: &str = "AYhVZpbVeX4KS5Qm/W0+9Ye2q3rnVVGmqRICmseWni4=";
    pub const SENDER_PUBLIC: &str =
        "BABVt+mpRLMXiQpIfEq6bj8hlXsdtXIxLsspmMgLNI1SR5mHgDVbjHO2A+U4QlMddGzqyEidzm1AkhtSxSO2Ahg=";
    pub const SENDER_NONCE: &str = "lmXgblZwotx+DfBgKJF0lZXtAXgBEYr5khh79Zytr2Y=";
    pub const PLAINTEXT: &str = "Wormtail should never have been Potter cottage's secret keeper.";
    pub const ENCRYPTED: &str = "pzMvVZNNVtJzqPkkxcCbBUWgDEBy/mBXIeT2dJWI16ZAQnnXUb9lI+S4k8XK6mgZSKKSRIHkcNvJpllnBg548wUgavBa0vCRRwdL6kY6Yw==";
    pub const SHARED_X: &str = "1d96dcf5ae21f6430045e20b37956dbdb4981d64297c872b67da561e5419507b";
    pub const AES_KEY: &str = "c1e1aa56e80509ac195d4baa4d8df060b639f6b1b8b560af6a4e80b884810d97";
}
use vector::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_readme_vector_decrypts_byte_for_byte() {
    let bytes =
        fidelius::decrypt_bytes(ENCRYPTED, REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, SENDER_PUBLIC)
            .unwrap();
    assert_eq!(bytes, PLAINTEXT.as_bytes());
}

#[test]
fn the_readme_vector_encrypts_to_the_published_ciphertext() {
    let sealed =
        fidelius::encrypt(PLAINTEXT, SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC)
            .unwrap();
    assert_eq!(sealed, ENCRYPTED);
    assert_eq!(BASE64.decode(&sealed).unwrap().len(), PLAINTEXT.len() + 16);
}

#[test]
fn the_readme_vector_intermediates_match() {
    let secret = fidelius::shared_secret(SENDER_PRIVATE, REQUESTER_PUBLIC).unwrap();
    assert_eq!(hex(&secret), SHARED_X);
    assert_eq!(BASE64.encode(secret), "HZbc9a4h9kMAReILN5VtvbSYHWQpfIcrZ9pWHlQZUHs=");
    assert_eq!(fidelius::shared_secret(REQUESTER_PRIVATE, SENDER_PUBLIC).unwrap(), secret);
    let session = fidelius::session_key(&secret, SENDER_NONCE, REQUESTER_NONCE).unwrap();
    assert_eq!(hex(&session.aes_key), AES_KEY);
}

#[test]
fn raw_and_x509_forms_of_the_vector_keys_both_work() {
    assert_eq!(fidelius::x509_public_key(REQUESTER_PUBLIC).unwrap(), REQUESTER_X509);
    assert_eq!(fidelius::raw_public_key(REQUESTER_X509).unwrap(), REQUESTER_PUBLIC);
    assert_eq!(
        fidelius::parse_public_key(REQUESTER_X509).unwrap(),
        fidelius::parse_public_key(REQUESTER_PUBLIC).unwrap()
    );
    let sealed =
        fidelius::encrypt(PLAINTEXT, SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_X509).unwrap();
    assert_eq!(sealed, ENCRYPTED);
    let sender_x509 = fidelius::x509_public_key(SENDER_PUBLIC).unwrap();
    assert_eq!(sender_x509.len(), 412);
    let opened =
        fidelius::decrypt(ENCRYPTED, REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, &sender_x509).unwrap();
    assert_eq!(opened, PLAINTEXT);
}

/// Searches sender keys against one requester until their shared x-coordinate is below 2^248
/// (about one in 256), as happens in real exchanges now and then.
fn leading_zero_pair() -> (KeyMaterial, KeyMaterial) {
    let requester = KeyMaterial::generate();
    let requester_public = fidelius::parse_public_key(&requester.public_key).unwrap();
    for _ in 0..20_000 {
        let sender = PrivateKey::generate();
        if sender.shared_secret(&requester_public)[0] == 0 {
            let public = sender.public_key();
            let sender = KeyMaterial {
                private_key: sender.to_base64(),
                public_key: public.to_raw_base64(),
                x509_public_key: public.to_x509_base64(),
                nonce: fidelius::generate_nonce(),
            };
            return (sender, requester);
        }
    }
    panic!("no shared secret below 2^248 in 20,000 tries (expected about one in 256)");
}

#[test]
fn a_leading_zero_secret_is_kept_and_dropping_it_breaks_decryption() {
    let (hip, hiu) = leading_zero_pair();
    let secret = fidelius::shared_secret(&hip.private_key, &hiu.public_key).unwrap();
    assert_eq!(secret[0], 0, "the search found x < 2^248");
    assert_eq!(fidelius::shared_secret(&hiu.private_key, &hip.x509_public_key).unwrap(), secret);

    let text = "{\"resourceType\":\"Bundle\"}";
    let sealed =
        fidelius::encrypt(text, &hip.nonce, &hiu.nonce, &hip.private_key, &hiu.x509_public_key).unwrap();
    assert_eq!(fidelius::encrypt_with_secret(text, &secret, &hip.nonce, &hiu.nonce).unwrap(), sealed);
    for sender_key in [&hip.public_key, &hip.x509_public_key] {
        let opened =
            fidelius::decrypt(&sealed, &hiu.nonce, &hip.nonce, &hiu.private_key, sender_key).unwrap();
        assert_eq!(opened, text);
    }

    // A sender that encodes the secret as a minimal-length integer (as ProjectEKA's C# HIP and
    // pyfidelius do) derives another AES key: the receiver sees a tag mismatch.
    let start = secret.iter().position(|&b| b != 0).unwrap();
    let unpadded = &secret[start..];
    assert!(unpadded.len() < 32);
    let wrong = fidelius::encrypt_with_secret(text, unpadded, &hip.nonce, &hiu.nonce).unwrap();
    let err =
        fidelius::decrypt(&wrong, &hiu.nonce, &hip.nonce, &hiu.private_key, &hip.public_key).unwrap_err();
    assert_eq!((err.input, err.problem), (Input::EncryptedData, Problem::TagMismatch));
}

#[test]
fn each_malformed_input_is_refused_naming_it() {
    let not_b64 = "not base64!";
    let short_nonce = BASE64.encode([1u8; 31]);
    let zero_key = BASE64.encode([0u8; 32]);
    let n = "EAAAAAAAAAAAAAAAAAAAABTe+d6i95zWWBJjGlz10+0=";
    let mut off_curve = BASE64.decode(REQUESTER_PUBLIC).unwrap();
    off_curve[40] ^= 0x10;
    let off_curve = BASE64.encode(off_curve);
    let e = |args: [&str; 4]| fidelius::encrypt("x", args[0], args[1], args[2], args[3]).unwrap_err();
    let cases = [
        (e([not_b64, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC]), Input::SenderNonce, "not base64"),
        (
            e([&short_nonce, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC]),
            Input::SenderNonce,
            "wrong length",
        ),
        (
            e([SENDER_NONCE, &short_nonce, SENDER_PRIVATE, REQUESTER_PUBLIC]),
            Input::RequesterNonce,
            "wrong length",
        ),
        (e([SENDER_NONCE, REQUESTER_NONCE, not_b64, REQUESTER_PUBLIC]), Input::PrivateKey, "not base64"),
        (e([SENDER_NONCE, REQUESTER_NONCE, &zero_key, REQUESTER_PUBLIC]), Input::PrivateKey, "zero"),
        (e([SENDER_NONCE, REQUESTER_NONCE, n, REQUESTER_PUBLIC]), Input::PrivateKey, "out-of-range"),
        (
            e([SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, &off_curve]),
            Input::PublicKey,
            "not on the curve",
        ),
        (
            e([SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, &REQUESTER_X509[..300]]),
            Input::PublicKey,
            "unsupported key",
        ),
        (
            fidelius::decrypt("AAAA", REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, SENDER_PUBLIC)
                .unwrap_err(),
            Input::EncryptedData,
            "wrong length",
        ),
        (
            fidelius::decrypt(
                &ENCRYPTED.replace('p', "q"),
                REQUESTER_NONCE,
                SENDER_NONCE,
                REQUESTER_PRIVATE,
                SENDER_PUBLIC,
            )
            .unwrap_err(),
            Input::EncryptedData,
            "tag mismatch",
        ),
    ];
    for (err, input, why) in cases {
        assert_eq!(err.input, input, "{err}");
        let text = err.to_string();
        assert!(text.starts_with(&format!("{}: ", input.name())), "{text}");
        assert!(text.contains(why), "{text} should say {why}");
    }
}

/// Runs `abdm-sandbox fidelius ARGS`: (exit success, stdout, stderr).
fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_abdm-sandbox")).arg("fidelius").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn cli_keygen_prints_fidelius_cli_key_material() {
    for command in ["keygen", "gkm", "generate-key-material"] {
        let (ok, stdout, _) = cli(&[command]);
        assert!(ok);
        let keys: Vec<&str> =
            stdout.lines().filter_map(|l| l.trim().strip_prefix('"')?.split('"').next()).collect();
        assert_eq!(keys, ["privateKey", "publicKey", "x509PublicKey", "nonce"], "{stdout}");
        let v = json(&stdout);
        assert_eq!(v["publicKey"].as_str().unwrap().len(), 88);
        assert_eq!(v["x509PublicKey"].as_str().unwrap().len(), 412);
        assert_eq!(v["nonce"].as_str().unwrap().len(), 44);
        let raw = fidelius::raw_public_key(v["x509PublicKey"].as_str().unwrap()).unwrap();
        assert_eq!(raw, v["publicKey"].as_str().unwrap());
    }
}

#[test]
fn cli_encrypt_and_decrypt_reproduce_the_readme_vector() {
    let (ok, stdout, stderr) =
        cli(&["encrypt", PLAINTEXT, SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, format!("{{\n  \"encryptedData\": \"{ENCRYPTED}\"\n}}\n"));
    let (ok, stdout, _) =
        cli(&["e", PLAINTEXT, SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_X509]);
    assert!(ok);
    assert_eq!(json(&stdout)["encryptedData"], ENCRYPTED);
    let b64 = BASE64.encode(PLAINTEXT);
    let (ok, stdout, _) = cli(&["se", &b64, SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC]);
    assert!(ok);
    assert_eq!(json(&stdout)["encryptedData"], ENCRYPTED);

    let (ok, stdout, stderr) =
        cli(&["decrypt", ENCRYPTED, REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, SENDER_PUBLIC]);
    assert!(ok, "{stderr}");
    assert_eq!(json(&stdout), serde_json::json!({ "decryptedData": PLAINTEXT }));
    let sender_x509 = fidelius::x509_public_key(SENDER_PUBLIC).unwrap();
    let (ok, stdout, _) =
        cli(&["d", ENCRYPTED, REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, &sender_x509]);
    assert!(ok);
    assert_eq!(json(&stdout)["decryptedData"], PLAINTEXT);
}

#[test]
fn cli_refuses_bad_input_naming_it() {
    let uuid = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
    let cases: [(&[&str], &str); 6] = [
        (&["e", "x", uuid, REQUESTER_NONCE, SENDER_PRIVATE, REQUESTER_PUBLIC], "senderNonce"),
        (
            &["e", "x", SENDER_NONCE, SENDER_NONCE[..20].as_ref(), SENDER_PRIVATE, REQUESTER_PUBLIC],
            "requesterNonce",
        ),
        (&["e", "x", SENDER_NONCE, REQUESTER_NONCE, "AA==", REQUESTER_PUBLIC], "privateKey"),
        (&["e", "x", SENDER_NONCE, REQUESTER_NONCE, SENDER_PRIVATE, &REQUESTER_PUBLIC[..60]], "publicKey"),
        (&["d", "@@@", REQUESTER_NONCE, SENDER_NONCE, REQUESTER_PRIVATE, SENDER_PUBLIC], "encryptedData"),
        (
            &["d", ENCRYPTED, SENDER_NONCE, REQUESTER_NONCE, REQUESTER_PRIVATE, REQUESTER_PUBLIC],
            "encryptedData",
        ),
    ];
    for (args, input) in cases {
        let (ok, stdout, stderr) = cli(args);
        assert!(!ok, "{args:?} was accepted: {stdout}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(stderr.contains(&format!("{input}: ")), "{args:?}: stderr {stderr:?} does not name {input}");
    }
}
