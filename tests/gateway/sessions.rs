//! Sessions and their tokens (verified against the JWKS, refreshed, expiring), the certs, OpenID
//! configuration and heartbeat, and the session token every protected call needs.

use super::*;

// ---- sessions, certs, OpenID configuration, heartbeat -----------------------------------------

#[tokio::test]
async fn a_session_is_a_token_the_jwks_verifies() {
    let sb = TestSandbox::start().await;
    let res = sb
        .http
        .post(format!("{}{SESSIONS}", sb.url))
        .json(&json!({"clientId": CLIENT1, "clientSecret": SECRET1, "grantType": "client_credentials"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    // Some HIPs compare the header with this exact string.
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.expect("JSON");
    for field in ["accessToken", "expiresIn", "refreshExpiresIn", "refreshToken", "tokenType"] {
        assert!(!body[field].is_null(), "{field} in {body}");
    }
    assert_eq!(body["expiresIn"], 1200);
    assert!(body["refreshExpiresIn"].as_i64().is_some_and(|s| s > 0), "{body}");
    assert_eq!(body["tokenType"], "bearer");

    let token = body["accessToken"].as_str().unwrap();
    let jwks = hip::jwks(&sb).await;
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), jwks["keys"][0]["kid"].as_str(), "kid of the token and of keys[0]");
    let claims = hip::try_verify(token, &jwks, Algorithm::RS256, Some("account")).expect("verifies");
    assert_eq!(claims["azp"], CLIENT1);
    assert_eq!(claims["clientId"], CLIENT1);
    assert_eq!(claims["typ"], "Bearer");
    assert_eq!(claims["iss"], "https://dev.ndhm.gov.in/auth/realms/central-registry");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 1200);
}

#[tokio::test]
async fn grant_type_may_be_omitted_and_a_refresh_token_renews_the_session() {
    let sb = TestSandbox::start().await;
    let jwks = hip::jwks(&sb).await;
    let first = sb.post(SESSIONS, json!({"clientId": CLIENT2, "clientSecret": SECRET2})).await;
    let refresh = first.ok()["refreshToken"].as_str().expect("refreshToken").to_string();
    let access = first.body["accessToken"].as_str().unwrap().to_string();

    let renewed = sb.post(SESSIONS, refresh_body(CLIENT2, SECRET2, &refresh)).await;
    let token = renewed.ok()["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &jwks, Algorithm::RS256, Some("account")).expect("verifies");
    assert_eq!(claims["clientId"], CLIENT2);
    assert_eq!(renewed.body["expiresIn"], 1200);

    // An access token is not a refresh token, and a refresh token serves only its own client.
    sb.post(SESSIONS, refresh_body(CLIENT2, SECRET2, &access)).await.refused(
        401,
        "refreshToken",
        "refresh-token",
    );
    sb.post(SESSIONS, refresh_body(CLIENT1, SECRET1, &refresh)).await.refused(
        401,
        "refreshToken",
        "refresh-token",
    );
    sb.post(SESSIONS, json!({"clientId": CLIENT2, "clientSecret": SECRET2, "grantType": "refresh_token"}))
        .await
        .refused(400, "refreshToken", "required");
}

#[tokio::test]
async fn wrong_credentials_and_unknown_grant_types_are_refused() {
    // With --credentials fixtures, a client id the fixtures do not know is refused too.
    let config =
        abdm_server::Config { credentials: abdm_server::Credentials::Fixtures, ..Default::default() };
    let sb = TestSandbox::start_with(config).await;
    for (client, secret) in [(CLIENT1, "wrong-secret"), ("SBX_999999", SECRET1), (CLIENT1, SECRET2)] {
        let reply = sb.post(SESSIONS, json!({"clientId": client, "clientSecret": secret})).await;
        assert_eq!(reply.status, 401, "{client}/{secret}: {}", reply.body);
        assert!(reply.body["error"]["code"].is_i64(), "error.code in {}", reply.body);
        assert!(
            reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error.message in {}",
            reply.body
        );
        reply.refused(401, "clientSecret", "client-credentials");
    }
    let reply = sb
        .post(SESSIONS, json!({"clientId": CLIENT1, "clientSecret": SECRET1, "grantType": "password"}))
        .await;
    reply.refused(400, "grantType", "grant-type");
    assert!(reply.body["error"]["message"].as_str().is_some_and(|m| m.contains("grantType")));
    sb.post(SESSIONS, json!({"clientId": CLIENT1})).await.refused(400, "clientSecret", "required");
}

#[tokio::test]
async fn a_refresh_token_expires_and_secrets_stay_out_of_the_journal() {
    let sb = TestSandbox::start().await;
    let first = sb.post(SESSIONS, json!({"clientId": CLIENT1, "clientSecret": SECRET1})).await;
    let refresh = first.ok()["refreshToken"].as_str().unwrap().to_string();
    let expires = first.body["refreshExpiresIn"].as_u64().unwrap();
    sb.advance(expires + 1).await;
    sb.post(SESSIONS, refresh_body(CLIENT1, SECRET1, &refresh)).await.refused(
        401,
        "refreshToken",
        "refresh-token",
    );

    let journal = sb.get("/_sandbox/journal").await;
    let entry =
        journal.ok().as_array().unwrap().iter().find(|e| e["path"] == SESSIONS).cloned().expect("journalled");
    assert_eq!(entry["requestBody"]["clientSecret"], "******", "{entry}");
    assert!(!journal.body.to_string().contains(SECRET1), "the secret is never journalled");
}

#[tokio::test]
async fn a_malformed_body_is_answered_with_the_gateway_error_shape() {
    let sb = TestSandbox::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let auth = format!("Bearer {token}");
    let json_type = ("Content-Type", "application/json");
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (SESSIONS, &[json_type]),
        (INIT, &[json_type, ("Authorization", &auth), ("X-CM-ID", "sbx")]),
        (
            "/gateway/v0.5/patients/profile/on-share",
            &[json_type, ("Authorization", &auth), ("X-CM-ID", "sbx")],
        ),
    ];
    for (path, headers) in cases {
        let reply = sb.post_raw(path, b"{not json".to_vec(), headers).await;
        reply.refused(400, "body", "json");
        // Every other gateway refusal carries ABDM's ErrorResponse, `{"error": {code, message}}`.
        assert!(reply.body["error"]["code"].is_i64(), "{path}: error.code in {}", reply.body);
        assert!(reply.body["error"]["message"].is_string(), "{path}: error.message in {}", reply.body);
    }
}

#[tokio::test]
async fn certs_openid_configuration_and_heartbeat() {
    let sb = TestSandbox::start().await;
    let jwks = hip::jwks(&sb).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().expect("n")).expect("n is base64url");
    assert!(n.len() >= 256, "a key of at least 2048 bits, got {} bytes", n.len());
    assert!(key["x5c"][0].as_str().is_some_and(|c| !c.is_empty()), "x5c in {key}");

    let openid = sb.get("/gateway/v0.5/.well-known/openid-configuration").await;
    let uri = openid.ok()["jwks_uri"].as_str().expect("jwks_uri").to_string();
    assert!(uri.ends_with("/gateway/v0.5/certs"), "{uri}");
    let fetched: Value =
        sb.http.get(&uri).send().await.expect("jwks_uri answers").json().await.expect("JSON");
    assert_eq!(fetched, jwks, "jwks_uri serves the JWKS");

    let beat = sb.get("/gateway/v0.5/heartbeat").await;
    assert_eq!(beat.ok()["status"], "UP");
    assert!(beat.body["timestamp"].as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()));
}

// ---- session tokens on protected calls ---------------------------------------------------------

/// One call of every protected kind, with a body good enough to pass the token check.
fn protected_calls() -> Vec<(Method, &'static str, Option<Value>)> {
    let init = asha_init(HIP1);
    let on_share = json!({"requestId": rid(), "timestamp": chrono_now(),
        "acknowledgement": {"status": "SUCCESS", "healthId": ASHA, "tokenNumber": "1"},
        "resp": {"requestId": rid()}});
    let confirm = json!({"requestId": rid(), "timestamp": chrono_now(), "transactionId": rid(),
        "credential": demographic("Asha Verma", "F", "1990-04-15")});
    vec![
        (Method::PATCH, "/gateway/v1/bridges", Some(json!({"url": "http://127.0.0.1:9"}))),
        (Method::PATCH, "/devservice/v1/bridges", Some(json!({"url": "http://127.0.0.1:9"}))),
        (
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(json!([{"id": HIP1, "name": "Sandbox Clinic", "type": "HIP", "active": true}])),
        ),
        (Method::GET, "/devservice/v1/bridges/getServices", None),
        (Method::POST, FETCH_MODES, Some(init.clone())),
        (Method::POST, INIT, Some(init)),
        (Method::POST, CONFIRM, Some(confirm)),
        (Method::POST, "/gateway/v0.5/patients/profile/on-share", Some(on_share.clone())),
        (Method::POST, "/gateway/v1.0/patients/profile/on-share", Some(on_share)),
        (Method::POST, ADD_CONTEXTS, Some(add_contexts_body(&rid(), "x", "PAT-1", &["CC-1"]))),
        (Method::POST, CONTEXT_NOTIFY, Some(notify_body(&rid(), ASHA, "PAT-1", "CC-1", HIP1))),
    ]
}

/// The same claims under another signature: a key the gateway never had, HS256, or none at all.
fn forgeries(real: &str) -> Vec<(&'static str, String)> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(real).expect("claims");
    let kid = jsonwebtoken::decode_header(real).expect("header").kid;

    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("an RSA key");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.clone();
    let other_key =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap())
            .expect("signs");

    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    let hmac = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"sandbox")).expect("signs");

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    vec![("another RSA key", other_key), ("HS256", hmac), ("alg none", unsigned)]
}

#[tokio::test]
async fn protected_calls_need_an_unexpired_session_token_the_gateway_signed() {
    let sb = TestSandbox::start().await;
    let session = sb.post(SESSIONS, json!({"clientId": CLIENT1, "clientSecret": SECRET1})).await;
    let token = session.ok()["accessToken"].as_str().unwrap().to_string();
    let refresh = session.body["refreshToken"].as_str().unwrap().to_string();

    let send = |method: Method, path: &'static str, body: Option<Value>, auth: Option<String>| {
        send_with(&sb, method, path, body, auth)
    };

    // With the session token every call gets past the check.
    for (method, path, body) in protected_calls() {
        let reply = send(method.clone(), path, body, Some(format!("Bearer {token}"))).await;
        assert_ne!(reply.status, 401, "{method} {path} with a valid token: {}", reply.body);
    }

    let mut bad: Vec<(String, Option<String>)> = vec![
        ("no Authorization".into(), None),
        ("a garbage token".into(), Some("Bearer garbage.token.here".into())),
        ("no scheme".into(), Some(token.clone())),
        ("Basic".into(), Some(format!("Basic {token}"))),
        ("the refresh token".into(), Some(format!("Bearer {refresh}"))),
    ];
    for (what, forged) in forgeries(&token) {
        bad.push((format!("a token signed with {what}"), Some(format!("Bearer {forged}"))));
    }
    for (what, auth) in &bad {
        for (method, path, body) in protected_calls() {
            let reply = send(method.clone(), path, body, auth.clone()).await;
            assert_eq!(reply.status, 401, "{method} {path} with {what}: {}", reply.body);
            assert!(reply.body["error"]["code"].is_i64(), "error.code in {}", reply.body);
            reply.refused(401, "Authorization", "session-token");
        }
    }

    sb.advance(1201).await;
    for (method, path, body) in protected_calls() {
        let reply = send(method.clone(), path, body, Some(format!("Bearer {token}"))).await;
        reply.refused(401, "Authorization", "session-expired");
    }
    // A new session works again.
    let fresh = sb.session_for(CLIENT1, SECRET1).await;
    for (method, path, body) in protected_calls() {
        let reply = send(method.clone(), path, body, Some(format!("Bearer {fresh}"))).await;
        assert_ne!(reply.status, 401, "{method} {path} with a new token: {}", reply.body);
    }
}
