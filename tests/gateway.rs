//! The gateway as a HIP developer meets it, over real HTTP, with a test HIP registered as the
//! bridge that the gateway calls back: sessions and their tokens, the JWKS, bridge registration,
//! the profile share a patient starts by scanning the HIP's QR code and the HIP's on-share, user
//! auth (fetch-modes, init, confirm, notify) that yields a linking token, care-context linking,
//! callbacks that never hold up the gateway however the HIP behaves, and scripted faults.

mod common;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::hip::{self, Hip, Recorded, WAIT};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const HIP1: &str = "IN2910000001";
const CLIENT1: &str = "SBX_000001";
const SECRET1: &str = "sandbox-secret-0001";
const HIP2: &str = "IN0910000002";
const CLIENT2: &str = "SBX_000002";
const SECRET2: &str = "sandbox-secret-0002";

const ASHA: &str = "asha.verma@sbx";
const RAVI: &str = "ravi.kumar@sbx";
const MEENA: &str = "meena.iyer@sbx";
const NOBODY: &str = "nobody.here@sbx";

const SESSIONS: &str = "/gateway/v0.5/sessions";
const FETCH_MODES: &str = "/gateway/v0.5/users/auth/fetch-modes";
const INIT: &str = "/gateway/v0.5/users/auth/init";
const CONFIRM: &str = "/gateway/v0.5/users/auth/confirm";
const ADD_CONTEXTS: &str = "/gateway/v0.5/links/link/add-contexts";
const CONTEXT_NOTIFY: &str = "/gateway/v0.5/links/context/notify";

const SHARE: &str = "/v0.5/patients/profile/share";
const SHARE_V1: &str = "/v1.0/patients/profile/share";
const ON_FETCH_MODES: &str = "/v0.5/users/auth/on-fetch-modes";
const ON_INIT: &str = "/v0.5/users/auth/on-init";
const ON_CONFIRM: &str = "/v0.5/users/auth/on-confirm";
const NOTIFY: &str = "/v0.5/users/auth/notify";
const ON_ADD_CONTEXTS: &str = "/v0.5/links/link/on-add-contexts";
const ON_NOTIFY: &str = "/v0.5/links/context/on-notify";

/// Identifier types a v0.5 share may carry (reference §3.1).
const SHARE_IDENTIFIER_TYPES: [&str; 4] = ["MR", "MOBILE", "NDHM_HEALTH_NUMBER", "HEALTH_ID"];

fn rid() -> String {
    Uuid::new_v4().to_string()
}

/// A timestamp as the seed's calls write it: no zone, microseconds.
fn naive_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn parse_naive(s: &Value) -> chrono::NaiveDateTime {
    let text = s.as_str().unwrap_or_else(|| panic!("a timestamp string, got {s}"));
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .unwrap_or_else(|e| panic!("{text:?} is not a zone-less ISO date-time: {e}"))
}

/// A HIP → gateway call: `X-CM-ID: sbx` and, when given, `auth` as Authorization.
async fn send_with(
    sb: &TestSandbox,
    method: Method,
    path: &str,
    body: Option<Value>,
    auth: Option<String>,
) -> Reply {
    let mut headers = vec![("X-CM-ID", "sbx".to_string())];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    sb.send(method, path, body.as_ref(), &headers).await
}

/// A HIP → gateway POST with a session token.
async fn call_as(sb: &TestSandbox, token: &str, path: &str, body: Value) -> Reply {
    send_with(sb, Method::POST, path, Some(body), Some(format!("Bearer {token}"))).await
}

fn query(id: &str, purpose: &str, mode: Option<&str>, requester: (&str, &str)) -> Value {
    let mut q = json!({"id": id, "purpose": purpose, "requester": {"type": requester.0, "id": requester.1}});
    if let Some(m) = mode {
        q["authMode"] = json!(m);
    }
    q
}

/// A fetch-modes or init body for `address`, asked by `requester` (type, id).
fn auth_body(id: &str, address: &str, purpose: &str, mode: Option<&str>, requester: (&str, &str)) -> Value {
    json!({"requestId": id, "timestamp": naive_now(), "query": query(address, purpose, mode, requester)})
}

/// A LINK / DEMOGRAPHICS init body for Asha.
fn asha_init(requester_id: &str) -> Value {
    auth_body(&rid(), ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", requester_id))
}

fn refresh_body(client: &str, secret: &str, refresh: &str) -> Value {
    json!({"clientId": client, "clientSecret": secret, "grantType": "refresh_token", "refreshToken": refresh})
}

fn demographic(name: &str, gender: &str, dob: &str) -> Value {
    json!({"demographic": {"name": name, "gender": gender, "dateOfBirth": dob}})
}

fn add_contexts_body(request_id: &str, token: &str, patient: &str, contexts: &[&str]) -> Value {
    let contexts: Vec<Value> =
        contexts.iter().map(|c| json!({"referenceNumber": c, "display": format!("Visit {c}")})).collect();
    json!({
        "requestId": request_id,
        "timestamp": chrono_now(),
        "link": {
            "accessToken": token,
            "patient": {"referenceNumber": patient, "display": "Asha Verma", "careContexts": contexts},
        },
    })
}

fn notify_body(request_id: &str, address: &str, patient: &str, context: &str, hip_id: &str) -> Value {
    json!({
        "requestId": request_id,
        "timestamp": chrono_now(),
        "notification": {
            "patient": {"id": address},
            "careContext": {"patientReference": patient, "careContextReference": context},
            "hiTypes": ["OPConsultation"],
            "date": chrono_now(),
            "hip": {"id": hip_id},
        },
    })
}

/// A sandbox with the test HIP registered as the bridge of SBX_000001 (HIP IN2910000001).
struct Gw {
    sb: TestSandbox,
    hip: Hip,
    token: String,
}

async fn setup() -> Gw {
    let sb = TestSandbox::start().await;
    let hip = Hip::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    hip::register_bridge(&sb, &token, &hip.url).await;
    Gw { sb, hip, token }
}

impl Gw {
    /// A HIP → gateway call: the session token and `X-CM-ID: sbx`.
    async fn call(&self, path: &str, body: Value) -> Reply {
        call_as(&self.sb, &self.token, path, body).await
    }

    /// The patient scans a QR code: `POST /_sandbox/share-profile`.
    async fn share(&self, body: Value) -> Reply {
        self.sb.post("/_sandbox/share-profile", body).await
    }

    /// Asha scans IN2910000001's QR code for counter OPD1; returns the share's requestId.
    async fn share_asha(&self) -> String {
        let reply = self.share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA})).await;
        assert_eq!(reply.status, 202, "share-profile: {}", reply.body);
        reply.body["requestId"].as_str().expect("requestId").to_string()
    }

    async fn outcome(&self, request_id: &str) -> Value {
        self.sb.get(&format!("/_sandbox/share-profile/{request_id}")).await.ok().clone()
    }

    /// The share's outcome once `done` accepts it.
    async fn outcome_when(&self, request_id: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let out = self.outcome(request_id).await;
            if done(&out) {
                return out;
            }
            assert!(Instant::now() < deadline, "the share never reached the expected state: {out}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The share's outcome once its delivery is recorded.
    async fn delivered(&self, request_id: &str) -> Value {
        self.outcome_when(request_id, |o| !o["delivered"].is_null()).await
    }

    async fn on_share(
        &self,
        version: &str,
        answered: &str,
        health_id: &str,
        token_number: Option<&str>,
    ) -> Reply {
        let mut ack = json!({"status": "SUCCESS", "healthId": health_id});
        if let Some(t) = token_number {
            ack["tokenNumber"] = json!(t);
        }
        let body = json!({"requestId": rid(), "timestamp": chrono_now(), "acknowledgement": ack,
            "resp": {"requestId": answered}});
        self.call(&format!("/gateway/{version}/patients/profile/on-share"), body).await
    }

    /// `users/auth/init` as IN2910000001; returns the init's requestId.
    async fn init(&self, address: &str, purpose: &str, mode: &str) -> String {
        self.init_as(address, purpose, mode, ("HIP", HIP1)).await
    }

    async fn init_as(&self, address: &str, purpose: &str, mode: &str, requester: (&str, &str)) -> String {
        let id = rid();
        let body = auth_body(&id, address, purpose, Some(mode), requester);
        let reply = self.call(INIT, body).await;
        assert_eq!(reply.status, 202, "init: {}", reply.body);
        id
    }

    /// init, then the on-init that answers it; returns the auth transactionId and the callback.
    async fn start_auth(&self, address: &str, purpose: &str, mode: &str) -> (String, Recorded) {
        let id = self.init(address, purpose, mode).await;
        let on_init = self.hip.wait_for_reply(ON_INIT, &id).await;
        assert_eq!(on_init.body["error"], Value::Null, "on-init: {}", on_init.body);
        let txn = on_init.body["auth"]["transactionId"].as_str().expect("auth.transactionId").to_string();
        (txn, on_init)
    }

    /// confirm, then the on-confirm that answers it.
    async fn confirm(&self, txn: &str, credential: Value) -> Recorded {
        let id = rid();
        let body = json!({"requestId": id, "timestamp": naive_now(),
            "transactionId": txn, "credential": credential});
        let reply = self.call(CONFIRM, body).await;
        assert_eq!(reply.status, 202, "confirm: {}", reply.body);
        self.hip.wait_for_reply(ON_CONFIRM, &id).await
    }

    /// A linking token for Asha, by DEMOGRAPHICS auth.
    async fn linking_token(&self) -> String {
        let (txn, _) = self.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
        let on_confirm = self.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
        on_confirm.body["auth"]["accessToken"].as_str().expect("auth.accessToken").to_string()
    }
}

/// Outbound journal entries (callbacks) to paths ending with `suffix`.
async fn outbound(sb: &TestSandbox, suffix: &str) -> Vec<Value> {
    sb.journal("")
        .await
        .into_iter()
        .filter(|e| e["direction"] == "outbound" && e["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        .collect()
}

/// A URL where nothing listens.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("has an address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

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
    let sb = TestSandbox::start().await;
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

// ---- bridges -----------------------------------------------------------------------------------

async fn get_services(sb: &TestSandbox, prefix: &str, auth: &str) -> Reply {
    let path = format!("{prefix}/v1/bridges/getServices");
    sb.send(Method::GET, &path, None, &[("Authorization", auth)]).await
}

#[tokio::test]
async fn bridges_are_registered_under_both_prefixes() {
    let sb = TestSandbox::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let other = sb.session_for(CLIENT2, SECRET2).await;
    let auth = format!("Bearer {token}");
    let h = [("Authorization", auth.as_str())];

    let set = sb
        .send(Method::PATCH, "/gateway/v1/bridges", Some(&json!({"url": "http://127.0.0.1:7001/"})), &h)
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let got = get_services(&sb, "/devservice", &auth).await;
    assert_eq!(
        got.ok()["bridge"]["url"].as_str().map(|u| u.trim_end_matches('/')),
        Some("http://127.0.0.1:7001")
    );
    assert_eq!(got.body["bridge"]["id"], CLIENT1);

    // One URL per client: the last one registered wins, under either prefix.
    let set = sb
        .send(
            Method::PATCH,
            "/devservice/v1/bridges",
            Some(&json!({"url": "https://hip.example.org/abdm"})),
            &h,
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        get_services(&sb, "/gateway", &auth).await.ok()["bridge"]["url"],
        "https://hip.example.org/abdm"
    );

    // addUpdateServices: POST with an array, PUT with a single object.
    let added = sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&json!([{"id": HIP1, "name": "Sandbox Clinic", "type": "HIP", "active": true,
                "alias": ["clinic"], "endpoints": [{"address": "https://hip.example.org",
                    "connectionType": "HTTP", "use": "registration"}]}])),
            &h,
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let added = sb
        .send(
            Method::PUT,
            "/devservice/v1/bridges/addUpdateServices",
            Some(&json!({"id": "IN2910000009", "name": "Clinic Lab", "type": "HIU", "active": true})),
            &h,
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let got = get_services(&sb, "/gateway", &auth).await;
    let list = got.ok()["services"].as_array().expect("services").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let find =
        |id: &str| list.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("{id} in {list:?}")).clone();
    assert_eq!(find(HIP1)["types"], json!(["HIP"]));
    assert_eq!(find(HIP1)["name"], "Sandbox Clinic");
    assert_eq!(find(HIP1)["active"], true);
    assert_eq!(find("IN2910000009")["types"], json!(["HIU"]));

    // The same id again updates it.
    let updated = sb
        .send(
            Method::POST,
            "/devservice/v1/bridges/addUpdateServices",
            Some(&json!([{"id": HIP1, "name": "Renamed Clinic", "type": "HIP", "active": false}])),
            &h,
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let got = get_services(&sb, "/devservice", &auth).await;
    let list = got.ok()["services"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let clinic = list.iter().find(|s| s["id"] == HIP1).unwrap();
    assert_eq!(clinic["name"], "Renamed Clinic");
    assert_eq!(clinic["active"], false);

    // Another client sees its own bridge only.
    let auth2 = format!("Bearer {other}");
    let theirs =
        sb.send(Method::GET, "/gateway/v1/bridges/getServices", None, &[("Authorization", &auth2)]).await;
    assert_eq!(theirs.ok()["bridge"]["url"], Value::Null);
    assert_eq!(theirs.body["services"], json!([]));

    for url in [json!("not a url"), json!("ftp://files.example.org/"), json!("http://"), json!(42)] {
        let reply = sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&json!({"url": url})), &h).await;
        assert_eq!(reply.status, 400, "url {url}: {}", reply.body);
        assert_eq!(reply.body["field"], "url", "{}", reply.body);
        assert!(reply.body["error"]["message"].as_str().is_some_and(|m| m.contains("url")), "{}", reply.body);
    }
    sb.send(Method::PATCH, "/devservice/v1/bridges", Some(&json!({})), &h)
        .await
        .refused(400, "url", "required");
    sb.send(Method::POST, "/gateway/v1/bridges/addUpdateServices", Some(&json!([{"name": "No id"}])), &h)
        .await
        .refused(400, "[0].id", "required");
    sb.send(
        Method::PUT,
        "/gateway/v1/bridges/addUpdateServices",
        Some(&json!({"id": "X1", "name": "Pharmacy", "type": "PHARMACY"})),
        &h,
    )
    .await
    .refused(400, "[0].type", "service-type");
    // The URL was left as it was.
    assert_eq!(
        get_services(&sb, "/gateway", &auth).await.ok()["bridge"]["url"],
        "https://hip.example.org/abdm"
    );
}

// ---- share profile -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_profile_reaches_the_hip_and_its_on_share_matches() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let id = gw.share_asha().await;
    Uuid::parse_str(&id).expect("requestId is a UUID");

    let got = gw.hip.wait_for(SHARE, WAIT).await;
    assert_eq!(got.path, SHARE);
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    assert_eq!(got.hiu_id, None);
    assert_eq!(jsonwebtoken::decode_header(got.bearer()).unwrap().alg, Algorithm::RS256);
    let claims = hip::verify_jwt(&got, &jwks);
    assert_eq!(claims["aud"], "account");

    let body = &got.body;
    assert_eq!(body["requestId"], json!(id));
    let ts = body["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "timestamp {ts:?}");
    assert_eq!(body["profile"]["hipCode"], "OPD1");
    let p = &body["profile"]["patient"];
    assert_eq!(p["healthId"], ASHA);
    assert_eq!(p["healthIdNumber"], "91-2345-6789-0129");
    assert_eq!(p["name"], "Asha Verma");
    assert_eq!(p["gender"], "F");
    assert_eq!(p["yearOfBirth"], 1990);
    assert_eq!(p["monthOfBirth"], 4);
    assert_eq!(p["dayOfBirth"], 15);
    assert_eq!(
        p["address"],
        json!({"line": "12 MG Road", "district": "Bengaluru Urban", "state": "Karnataka",
            "pincode": "560001"})
    );
    let ids = p["identifiers"].as_array().expect("identifiers");
    assert!(ids.iter().all(|i| i["type"].is_string() && i["value"].is_string()), "{ids:?}");
    assert!(ids.contains(&json!({"type": "MOBILE", "value": "9876543210"})), "{ids:?}");
    assert!(body.get("intent").is_none() && body.get("location").is_none(), "v0.5 has no intent/location");

    let out = gw.delivered(&id).await;
    assert_eq!(out["delivered"], true, "{out}");
    assert_eq!(out["hipStatus"], 202);
    assert_eq!(out["attempts"], 1);
    assert_eq!(out["onShare"], Value::Null);
    assert_eq!((out["hipId"].as_str(), out["code"].as_str()), (Some(HIP1), Some("OPD1")));
    assert_eq!(out["abhaAddress"], ASHA);
    assert_eq!(out["version"], "v0.5");

    let ack = gw.on_share("v0.5", &id, ASHA, None).await;
    assert_eq!(ack.status, 202, "on-share: {}", ack.body);
    let out = gw.outcome(&id).await;
    let on_share = &out["onShare"];
    assert_eq!(on_share["matched"], true, "{out}");
    assert_eq!(on_share["withinDeadline"], true);
    assert_eq!(on_share["status"], "SUCCESS");
    assert_eq!(on_share["healthId"], ASHA);
    assert_eq!(on_share["problems"], json!([]));
    assert_eq!(out["delivered"], true);
    assert_eq!(out["hipStatus"], 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_identifiers_use_the_types_of_the_share_schema() {
    let gw = setup().await;
    gw.share_asha().await;
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    let ids = got.body["profile"]["patient"]["identifiers"].as_array().expect("identifiers").clone();
    for i in &ids {
        let kind = i["type"].as_str().unwrap_or_default();
        assert!(
            SHARE_IDENTIFIER_TYPES.contains(&kind),
            "identifier type {kind:?} is not one of {SHARE_IDENTIFIER_TYPES:?} (reference §3.1): {ids:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_only_patient_is_shared_with_year_of_birth() {
    let gw = setup().await;
    let reply = gw.share(json!({"hipId": HIP1, "code": "OPD2", "abhaAddress": MEENA})).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    let p = &got.body["profile"]["patient"];
    assert_eq!(p["healthId"], MEENA);
    assert_eq!(p["name"], "Meena Iyer");
    assert_eq!(p["yearOfBirth"], 1972);
    assert!(p["monthOfBirth"].is_null() && p["dayOfBirth"].is_null(), "{p}");
    assert_eq!(got.body["profile"]["hipCode"], "OPD2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_share_with_another_health_id_does_not_match() {
    let gw = setup().await;
    let id = gw.share_asha().await;
    gw.hip.wait_for(SHARE, WAIT).await;
    let ack = gw.on_share("v0.5", &id, RAVI, None).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    let out = gw.outcome(&id).await;
    assert_eq!(out["onShare"]["matched"], false, "{out}");
    assert_eq!(out["onShare"]["withinDeadline"], true);
    let problems = out["onShare"]["problems"].as_array().expect("problems");
    assert!(problems.iter().any(|p| p.as_str().is_some_and(|p| p.contains("healthId"))), "{problems:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_share_after_thirty_seconds_is_late() {
    let gw = setup().await;
    let id = gw.share_asha().await;
    gw.hip.wait_for(SHARE, WAIT).await;
    gw.sb.advance(31).await;
    let ack = gw.on_share("v0.5", &id, ASHA, None).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    let out = gw.outcome(&id).await;
    assert_eq!(out["onShare"]["withinDeadline"], false, "{out}");
    assert_eq!(out["onShare"]["matched"], false);
    assert!(!out["onShare"]["problems"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_share_for_an_unknown_share_is_accepted_and_journalled() {
    let gw = setup().await;
    let unknown = rid();
    let ack = gw.on_share("v0.5", &unknown, ASHA, None).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    assert_eq!(ack.body["rule"], "txn-unknown", "{}", ack.body);
    assert_eq!(ack.body["field"], "resp.requestId");
    assert!(ack.body["message"].as_str().is_some_and(|m| m.contains("resp.requestId")), "{}", ack.body);

    let journal = gw.sb.get("/_sandbox/journal").await;
    let entry = journal
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["direction"] == "inbound" && e["path"] == "/gateway/v0.5/patients/profile/on-share")
        .cloned()
        .expect("the on-share is journalled");
    assert_eq!(entry["status"], 202);
    assert_eq!(entry["responseBody"]["rule"], "txn-unknown", "{entry}");
    assert_eq!(entry["requestBody"]["resp"]["requestId"], json!(unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_is_refused_for_unknown_hips_hips_without_a_bridge_and_unknown_addresses() {
    let gw = setup().await;
    gw.share(json!({"hipId": "IN9999999999", "code": "OPD1", "abhaAddress": ASHA})).await.refused(
        422,
        "hipId",
        "hip-unknown",
    );
    // IN0910000002 belongs to SBX_000002, which has registered no bridge.
    gw.share(json!({"hipId": HIP2, "code": "REG1", "abhaAddress": ASHA})).await.refused(
        422,
        "hipId",
        "no-bridge",
    );
    gw.share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": NOBODY})).await.refused(
        422,
        "abhaAddress",
        "abha-address-unknown",
    );
    gw.share(json!({"hipId": HIP1, "abhaAddress": ASHA})).await.refused(400, "code", "required");
    gw.share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA, "version": "v2.0"}))
        .await
        .refused(400, "version", "version");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.hip.received(SHARE).is_empty(), "nothing is shared: {:?}", gw.hip.requests());
}

#[tokio::test]
async fn the_outcome_of_an_unknown_share_is_not_found() {
    let sb = TestSandbox::start().await;
    sb.get(&format!("/_sandbox/share-profile/{}", rid())).await.refused(404, "requestId", "share-unknown");
    sb.get("/_sandbox/share-profile/not-a-uuid").await.refused(400, "requestId", "uuid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_share_carries_intent_and_location_and_its_on_share_needs_a_token_number() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let reply = gw
        .share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA, "version": "v1.0",
            "latitude": "28.6139", "longitude": "77.2090"}))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.body["requestId"].as_str().unwrap().to_string();
    let got = gw.hip.wait_for(SHARE_V1, WAIT).await;
    assert_eq!(got.path, SHARE_V1);
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&got, &jwks);
    assert_eq!(got.body["requestId"], json!(id));
    assert!(got.body["intent"]["type"].as_str().is_some_and(|t| !t.is_empty()), "{}", got.body);
    assert_eq!(got.body["location"], json!({"latitude": "28.6139", "longitude": "77.2090"}));
    assert_eq!(got.body["profile"]["patient"]["healthId"], ASHA);
    assert!(gw.hip.received(SHARE).is_empty());

    gw.on_share("v1.0", &id, ASHA, None).await.refused(400, "acknowledgement.tokenNumber", "required");
    let ack = gw.on_share("v1.0", &id, ASHA, Some("17")).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    let out = gw.outcome(&id).await;
    assert_eq!(out["version"], "v1.0");
    assert_eq!(out["onShare"]["matched"], true, "{out}");
    assert_eq!(out["onShare"]["tokenNumber"], "17");
}

// ---- user auth ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demographic_auth_yields_a_linking_token() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    // Seed 003 step 3: init.
    let init_id = gw.init(ASHA, "LINK", "DEMOGRAPHICS").await;
    // Step 4: on-init.
    let on_init = gw.hip.wait_for_reply(ON_INIT, &init_id).await;
    assert_eq!(on_init.hip_id.as_deref(), Some(HIP1));
    assert_eq!(on_init.hiu_id, None);
    hip::verify_jwt(&on_init, &jwks);
    let b = &on_init.body;
    assert_eq!(b["error"], Value::Null, "{b}");
    let txn = b["auth"]["transactionId"].as_str().expect("auth.transactionId");
    Uuid::parse_str(txn).expect("transactionId is a UUID");
    assert_eq!(b["auth"]["mode"], "DEMOGRAPHICS");
    let sent = parse_naive(&b["timestamp"]);
    let expiry = parse_naive(&b["auth"]["meta"]["expiry"]);
    let lifetime = (expiry - sent).num_seconds();
    assert!((7195..=7205).contains(&lifetime), "meta.expiry is {lifetime} s after the callback: {b}");
    Uuid::parse_str(b["requestId"].as_str().expect("requestId")).expect("a UUID");

    // Step 5: confirm; step 6: on-confirm with the linking token.
    let on_confirm = gw.confirm(txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(on_confirm.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&on_confirm, &jwks);
    let b = &on_confirm.body;
    assert_eq!(b["error"], Value::Null, "{b}");
    assert!(b["auth"]["patient"].is_null(), "LINK gives no patient: {b}");
    let token = b["auth"]["accessToken"].as_str().expect("auth.accessToken");
    assert_eq!(jsonwebtoken::decode_header(token).unwrap().alg, Algorithm::RS512);
    let claims = hip::try_verify(token, &jwks, Algorithm::RS512, None).expect("the linking token verifies");
    assert_eq!(claims["sub"], ASHA);
    assert_eq!(claims["requesterId"], HIP1);
    assert_eq!(claims["requesterType"], "HIP");
    assert_eq!(claims["patientId"], ASHA);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 86_400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_only_patient_confirms_with_january_first() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let (txn, _) = gw.start_auth(MEENA, "LINK", "DEMOGRAPHICS").await;
    let on_confirm = gw.confirm(&txn, demographic("Meena Iyer", "F", "1972-01-01")).await;
    assert_eq!(on_confirm.body["error"], Value::Null, "{}", on_confirm.body);
    let token = on_confirm.body["auth"]["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &jwks, Algorithm::RS512, None).expect("verifies");
    assert_eq!(claims["sub"], MEENA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_demographics_and_a_second_confirm_answer_1441() {
    let gw = setup().await;
    let (txn, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    let wrong = [
        demographic("Asha Varma", "F", "1990-04-15"),
        demographic("Asha Verma", "M", "1990-04-15"),
        demographic("Asha Verma", "F", "1990-01-01"),
        json!({"demographic": {"name": "Asha Verma", "gender": "F", "dateOfBirth": "1990-04-15",
            "identifier": {"type": "MOBILE", "value": "9000000000"}}}),
    ];
    for credential in wrong {
        let on_confirm = gw.confirm(&txn, credential.clone()).await;
        let b = &on_confirm.body;
        assert_eq!(b["error"]["code"], 1441, "{credential}: {b}");
        assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(b["auth"].is_null(), "{b}");
    }
    // The right demographics still succeed, with the mobile too.
    let right = json!({"demographic": {"name": "Asha Verma", "gender": "F", "dateOfBirth": "1990-04-15",
        "identifier": {"type": "MOBILE", "value": "9876543210"}}});
    let on_confirm = gw.confirm(&txn, right.clone()).await;
    assert!(on_confirm.body["auth"]["accessToken"].is_string(), "{}", on_confirm.body);
    // A done transaction cannot be confirmed again.
    let again = gw.confirm(&txn, right).await;
    assert_eq!(again.body["error"]["code"], 1441, "{}", again.body);
    assert!(again.body["auth"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_confirmations_end_the_transaction() {
    let gw = setup().await;
    let (txn, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    for _ in 0..5 {
        let wrong = gw.confirm(&txn, demographic("Someone Else", "F", "1990-04-15")).await;
        assert_eq!(wrong.body["error"]["code"], 1441, "{}", wrong.body);
    }
    let right = gw.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(right.body["error"]["code"], 1441, "{}", right.body);
    assert!(right.body["auth"].is_null());
    // Journalled confirms never show the credential of an OTP flow either.
    let (otp_txn, _) = gw.start_auth(ASHA, "LINK", "MOBILE_OTP").await;
    let otp = gw.sb.otp(&otp_txn).await;
    gw.confirm(&otp_txn, json!({"authCode": otp})).await;
    let journal = gw.sb.get("/_sandbox/journal").await;
    let confirms: Vec<&Value> =
        journal.ok().as_array().unwrap().iter().filter(|e| e["path"] == CONFIRM).collect();
    assert!(confirms.iter().any(|e| e["requestBody"]["credential"]["authCode"] == "******"), "{confirms:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_modes_and_init_for_an_unknown_address_answer_1437() {
    let gw = setup().await;
    let modes_id = rid();
    let reply = gw.call(FETCH_MODES, auth_body(&modes_id, ASHA, "KYC_AND_LINK", None, ("HIP", HIP1))).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_FETCH_MODES, &modes_id).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    assert_eq!(got.body["error"], Value::Null);
    assert_eq!(got.body["auth"]["purpose"], "KYC_AND_LINK");
    let modes = got.body["auth"]["modes"].as_array().expect("modes");
    assert!(modes.contains(&json!("DEMOGRAPHICS")) && modes.contains(&json!("MOBILE_OTP")), "{modes:?}");
    for m in modes {
        assert!(
            ["MOBILE_OTP", "AADHAAR_OTP", "DEMOGRAPHICS", "DIRECT"].contains(&m.as_str().unwrap_or("")),
            "{m}"
        );
    }

    let unknown_id = rid();
    gw.call(FETCH_MODES, auth_body(&unknown_id, NOBODY, "LINK", None, ("HIP", HIP1))).await;
    let got = gw.hip.wait_for_reply(ON_FETCH_MODES, &unknown_id).await;
    assert_eq!(got.body["error"]["code"], 1437, "{}", got.body);
    assert!(got.body["auth"].is_null());

    let init_id = gw.init(NOBODY, "LINK", "DEMOGRAPHICS").await;
    let got = gw.hip.wait_for_reply(ON_INIT, &init_id).await;
    assert_eq!(got.body["error"]["code"], 1437, "{}", got.body);
    assert!(got.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(got.body["auth"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_otp_auth_sends_an_otp_and_confirms_with_the_auth_code() {
    let gw = setup().await;
    let (txn, on_init) = gw.start_auth(ASHA, "LINK", "MOBILE_OTP").await;
    assert_eq!(on_init.body["auth"]["mode"], "MOBILE_OTP");
    let hint = on_init.body["auth"]["meta"]["hint"].as_str().expect("meta.hint");
    assert!(hint.ends_with("3210") && !hint.contains("98765"), "a masked mobile: {hint}");
    let otp = gw.sb.otp(&txn).await;

    let wrong = gw.confirm(&txn, json!({"authCode": "000000"})).await;
    assert_eq!(wrong.body["error"]["code"], 1441, "{}", wrong.body);
    let on_confirm = gw.confirm(&txn, json!({"authCode": otp})).await;
    assert_eq!(on_confirm.body["error"], Value::Null, "{}", on_confirm.body);
    let token = on_confirm.body["auth"]["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &hip::jwks(&gw.sb).await, Algorithm::RS512, None).expect("verifies");
    assert_eq!(claims["sub"], ASHA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyc_gives_the_patient_and_kyc_and_link_gives_both() {
    let gw = setup().await;
    // Purpose KYC, asked as an HIU: the callbacks carry X-HIU-ID.
    let init_id = gw.init_as(ASHA, "KYC", "DEMOGRAPHICS", ("HIU", HIP1)).await;
    let on_init = gw.hip.wait_for_reply(ON_INIT, &init_id).await;
    assert_eq!(on_init.hiu_id.as_deref(), Some(HIP1));
    assert_eq!(on_init.hip_id, None);
    let txn = on_init.body["auth"]["transactionId"].as_str().unwrap().to_string();
    let kyc = gw.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(kyc.hiu_id.as_deref(), Some(HIP1));
    let auth = &kyc.body["auth"];
    assert!(auth["accessToken"].is_null(), "KYC gives no linking token: {auth}");
    assert_eq!(auth["patient"]["id"], ASHA);
    assert_eq!(auth["patient"]["name"], "Asha Verma");
    assert_eq!(auth["patient"]["gender"], "F");
    assert_eq!(auth["patient"]["yearOfBirth"], 1990);

    let (txn, _) = gw.start_auth(ASHA, "KYC_AND_LINK", "DEMOGRAPHICS").await;
    let both = gw.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    let auth = &both.body["auth"];
    assert!(auth["accessToken"].is_string(), "{auth}");
    assert_eq!(auth["patient"]["id"], ASHA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_auth_notifies_the_hip_that_access_was_granted() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let (txn, on_init) = gw.start_auth(ASHA, "LINK", "DIRECT").await;
    assert_eq!(on_init.body["auth"]["mode"], "DIRECT");
    let notify = gw.hip.wait_for(NOTIFY, WAIT).await;
    assert_eq!(notify.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&notify, &jwks);
    let auth = &notify.body["auth"];
    assert_eq!(auth["status"], "GRANTED", "{}", notify.body);
    assert_eq!(auth["transactionId"], json!(txn));
    let token = auth["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &jwks, Algorithm::RS512, None).expect("verifies");
    assert_eq!(claims["sub"], ASHA);
    let notify_id = notify.body["requestId"].as_str().expect("requestId");
    Uuid::parse_str(notify_id).expect("a UUID");
    // The HIP acknowledges the notify.
    let ack = gw
        .call(
            "/gateway/v0.5/users/auth/on-notify",
            json!({"requestId": rid(), "timestamp": chrono_now(), "acknowledgement": {"status": "OK"},
                "resp": {"requestId": notify_id}}),
        )
        .await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    gw.call("/gateway/v0.5/users/auth/on-notify", json!({"requestId": rid(), "timestamp": chrono_now()}))
        .await
        .refused(400, "resp", "required");
    // A DIRECT transaction is done: there is nothing to confirm.
    let confirm = gw.confirm(txn.as_str(), demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(confirm.body["error"]["code"], 1441, "{}", confirm.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_auth_notifies_only_after_the_hip_has_taken_the_on_init() {
    let gw = setup().await;
    // The HIP learns the transactionId from on-init and answers 202 once it has stored it; the
    // notify naming that transaction must not overtake it.
    let answer = Duration::from_millis(300);
    gw.hip.delay_answers(answer);
    let init = gw.init(ASHA, "LINK", "DIRECT").await;
    let on_init = gw.hip.wait_for_reply(ON_INIT, &init).await;
    let txn = on_init.body["auth"]["transactionId"].clone();
    let notify = gw.hip.wait_for_where(NOTIFY, WAIT, |r| r.body["auth"]["transactionId"] == txn).await;
    let gap = notify.at.checked_duration_since(on_init.at);
    let when = match gap {
        Some(g) => format!("{g:?} after on-init arrived"),
        None => format!("{:?} before on-init arrived", on_init.at - notify.at),
    };
    assert!(
        gap.is_some_and(|g| g >= answer),
        "notify came {when}, before the HIP had answered on-init (it answers after {answer:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_auth_refuses_other_clients_requesters_and_missing_headers() {
    let gw = setup().await;
    let body = |q: Value| json!({"requestId": rid(), "timestamp": chrono_now(), "query": q});
    // IN0910000002 is SBX_000002's HIP; SBX_000001's token may not ask for it.
    gw.call(INIT, body(query(ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP2)))).await.refused(
        403,
        "query.requester.id",
        "requester-not-yours",
    );
    let auth = format!("Bearer {}", gw.token);
    let init = body(query(ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP1)));
    gw.sb
        .send(Method::POST, INIT, Some(&init), &[("Authorization", &auth)])
        .await
        .refused(400, "X-CM-ID", "required");
    gw.sb
        .send(Method::POST, INIT, Some(&init), &[("Authorization", &auth), ("X-CM-ID", "abdm")])
        .await
        .refused(400, "X-CM-ID", "cm-id");
    gw.call(INIT, body(query(ASHA, "LOGIN", Some("DEMOGRAPHICS"), ("HIP", HIP1)))).await.refused(
        400,
        "query.purpose",
        "purpose",
    );
    gw.call(INIT, body(query(ASHA, "LINK", Some("PASSWORD"), ("HIP", HIP1)))).await.refused(
        400,
        "query.authMode",
        "auth-mode",
    );
    gw.call(INIT, json!({"requestId": "not-a-uuid", "timestamp": chrono_now(), "query": init["query"]}))
        .await
        .refused(400, "requestId", "uuid");
    gw.call(INIT, json!({"requestId": rid(), "timestamp": "yesterday", "query": init["query"]}))
        .await
        .refused(400, "timestamp", "timestamp");

    // A transaction of SBX_000002 cannot be confirmed with SBX_000001's token.
    let token2 = gw.sb.session_for(CLIENT2, SECRET2).await;
    let hip2 = Hip::start().await;
    hip::register_bridge(&gw.sb, &token2, &hip2.url).await;
    let init2 = rid();
    call_as(&gw.sb, &token2, INIT, auth_body(&init2, ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP2)))
        .await;
    let on_init = hip2.wait_for_reply(ON_INIT, &init2).await;
    assert_eq!(on_init.hip_id.as_deref(), Some(HIP2));
    let txn2 = on_init.body["auth"]["transactionId"].as_str().unwrap();
    gw.call(
        CONFIRM,
        json!({"requestId": rid(), "timestamp": chrono_now(), "transactionId": txn2,
            "credential": demographic("Asha Verma", "F", "1990-04-15")}),
    )
    .await
    .refused(403, "transactionId", "requester-not-yours");
    // Exactly one of authCode and demographic.
    gw.call(
        CONFIRM,
        json!({"requestId": rid(), "timestamp": chrono_now(), "transactionId": txn2,
            "credential": {"authCode": "123456",
                "demographic": demographic("Asha Verma", "F", "1990-04-15")["demographic"]}}),
    )
    .await
    .refused(400, "credential", "credential");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_can_be_confirmed_for_two_hours_and_not_after() {
    let gw = setup().await;
    let (in_time, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    let (too_late, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    gw.sb.advance(7100).await;
    // The session token lasts 20 minutes: a new one.
    let gw = Gw { token: gw.sb.session_for(CLIENT1, SECRET1).await, ..gw };
    let ok = gw.confirm(&in_time, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert!(ok.body["auth"]["accessToken"].is_string(), "{}", ok.body);

    gw.sb.advance(101).await;
    let late = gw.confirm(&too_late, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(late.hip_id.as_deref(), Some(HIP1));
    assert_eq!(late.body["error"]["code"], 1441, "{}", late.body);
    assert!(late.body["auth"].is_null());
    assert!(late.body["error"]["message"].as_str().is_some_and(|m| m.contains("expired")), "{}", late.body);
}

// ---- care-context linking ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_contexts_link_once_and_notify_only_when_linked() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let token = gw.linking_token().await;

    let add = rid();
    let reply = gw.call(ADD_CONTEXTS, add_contexts_body(&add, &token, "PAT-1", &["CC-1", "CC-2"])).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&got, &jwks);
    assert_eq!(got.body["acknowledgement"]["status"], "SUCCESS", "{}", got.body);
    assert_eq!(got.body["error"], Value::Null);

    let again = rid();
    gw.call(ADD_CONTEXTS, add_contexts_body(&again, &token, "PAT-1", &["CC-2"])).await;
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &again).await;
    assert_eq!(got.body["error"]["code"], 1439, "{}", got.body);
    assert!(got.body["acknowledgement"].is_null());

    let linked = rid();
    let reply = gw.call(CONTEXT_NOTIFY, notify_body(&linked, ASHA, "PAT-1", "CC-1", HIP1)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_NOTIFY, &linked).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    assert_eq!(got.body["acknowledgement"]["status"], "SUCCESS", "{}", got.body);
    assert_eq!(got.body["error"], Value::Null);

    let unlinked = rid();
    gw.call(CONTEXT_NOTIFY, notify_body(&unlinked, ASHA, "PAT-1", "CC-9", HIP1)).await;
    let got = gw.hip.wait_for_reply(ON_NOTIFY, &unlinked).await;
    assert!(got.body["error"]["code"].is_i64(), "{}", got.body);
    assert!(got.body["acknowledgement"].is_null());

    gw.call(CONTEXT_NOTIFY, notify_body(&rid(), ASHA, "PAT-1", "CC-1", HIP2)).await.refused(
        403,
        "notification.hip.id",
        "requester-not-yours",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_contexts_refuses_garbage_and_other_clients_linking_tokens() {
    let gw = setup().await;
    for bad in ["garbage-token", gw.token.as_str()] {
        let add = rid();
        let reply = gw.call(ADD_CONTEXTS, add_contexts_body(&add, bad, "PAT-1", &["CC-1"])).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
        assert_eq!(got.hip_id.as_deref(), Some(HIP1));
        assert_eq!(got.body["error"]["code"], 1000, "{}", got.body);
        assert!(got.body["acknowledgement"].is_null());
    }

    // A linking token issued to SBX_000002's HIP, obtained through SBX_000002's own bridge.
    let hip2 = Hip::start().await;
    let token2 = gw.sb.session_for(CLIENT2, SECRET2).await;
    hip::register_bridge(&gw.sb, &token2, &hip2.url).await;
    let init = rid();
    let reply =
        call_as(&gw.sb, &token2, INIT, auth_body(&init, ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP2)))
            .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let on_init = hip2.wait_for_reply(ON_INIT, &init).await;
    let txn = on_init.body["auth"]["transactionId"].as_str().unwrap();
    let confirm = rid();
    call_as(
        &gw.sb,
        &token2,
        CONFIRM,
        json!({"requestId": confirm, "timestamp": chrono_now(), "transactionId": txn,
            "credential": demographic("Asha Verma", "F", "1990-04-15")}),
    )
    .await;
    let on_confirm = hip2.wait_for_reply(ON_CONFIRM, &confirm).await;
    assert_eq!(on_confirm.hip_id.as_deref(), Some(HIP2));
    let theirs = on_confirm.body["auth"]["accessToken"].as_str().expect("accessToken").to_string();

    let add = rid();
    gw.call(ADD_CONTEXTS, add_contexts_body(&add, &theirs, "PAT-1", &["CC-1"])).await;
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
    assert!(got.body["error"]["code"].is_i64(), "{}", got.body);
    assert!(got.body["acknowledgement"].is_null(), "{}", got.body);
    assert!(got.body["error"]["message"].as_str().is_some_and(|m| m.contains(HIP2)), "{}", got.body);

    // Nothing was linked: SBX_000002 links the same context with its own token.
    let own = rid();
    call_as(&gw.sb, &token2, ADD_CONTEXTS, add_contexts_body(&own, &theirs, "PAT-1", &["CC-1"])).await;
    let got = hip2.wait_for_reply(ON_ADD_CONTEXTS, &own).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP2));
    assert_eq!(got.body["acknowledgement"]["status"], "SUCCESS", "{}", got.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linking_token_expires_after_a_day() {
    let gw = setup().await;
    let token = gw.linking_token().await;
    gw.sb.advance(86_401).await;
    let gw = Gw { token: gw.sb.session_for(CLIENT1, SECRET1).await, ..gw };
    let add = rid();
    let reply = gw.call(ADD_CONTEXTS, add_contexts_body(&add, &token, "PAT-1", &["CC-1"])).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
    assert_eq!(got.body["error"]["code"], 1000, "{}", got.body);
    assert!(got.body["error"]["message"].as_str().is_some_and(|m| m.contains("expired")), "{}", got.body);
    assert!(got.body["acknowledgement"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_contexts_names_the_malformed_field() {
    let gw = setup().await;
    let mut empty = add_contexts_body(&rid(), "t", "PAT-1", &[]);
    gw.call(ADD_CONTEXTS, empty.clone()).await.refused(400, "link.patient.careContexts", "required");
    empty["link"]["patient"].as_object_mut().unwrap().remove("display");
    gw.call(ADD_CONTEXTS, empty).await.refused(400, "link.patient.display", "required");
    let mut no_display = add_contexts_body(&rid(), "t", "PAT-1", &["CC-1"]);
    no_display["link"]["patient"]["careContexts"][0].as_object_mut().unwrap().remove("display");
    gw.call(ADD_CONTEXTS, no_display).await.refused(400, "link.patient.careContexts[0].display", "required");
}

// ---- callbacks never hold the gateway up -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_to_a_dead_bridge_do_not_block_and_are_tried_three_times() {
    let sb = TestSandbox::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let dead = dead_url();
    hip::register_bridge(&sb, &token, &dead).await;

    let started = Instant::now();
    let reply =
        sb.post("/_sandbox/share-profile", json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA})).await;
    assert!(started.elapsed() < Duration::from_secs(2), "share-profile took {:?}", started.elapsed());
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.body["requestId"].as_str().unwrap().to_string();

    let started = Instant::now();
    let init = call_as(&sb, &token, INIT, asha_init(HIP1)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "init took {:?}", started.elapsed());
    assert_eq!(init.status, 202);

    let deadline = Instant::now() + WAIT;
    let out = loop {
        let out = sb.get(&format!("/_sandbox/share-profile/{id}")).await.ok().clone();
        if out["attempts"] == 3 {
            break out;
        }
        assert!(Instant::now() < deadline, "the delivery never ended: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(out["delivered"], false, "{out}");
    assert_eq!(out["hipStatus"], Value::Null);
    assert!(out["deliveryError"].as_str().is_some_and(|e| !e.is_empty()), "{out}");

    let attempts = outbound(&sb, SHARE).await;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for a in &attempts {
        assert_eq!(a["status"], 0, "{a}");
        assert_eq!(a["path"], json!(format!("{dead}{SHARE}")));
        assert!(a["responseBody"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");
        assert_eq!(a["correlationId"], json!(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hip_does_not_delay_the_gateway() {
    let gw = setup().await;
    gw.hip.delay_answers(Duration::from_secs(3));
    let started = Instant::now();
    let id = gw.share_asha().await;
    gw.init(ASHA, "LINK", "DEMOGRAPHICS").await;
    assert!(started.elapsed() < Duration::from_secs(2), "share and init took {:?}", started.elapsed());
    gw.hip.wait_for(SHARE, WAIT).await;
    let out = gw.delivered(&id).await;
    assert_eq!(out["delivered"], true, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hip_answering_500_gets_three_attempts_and_one_answering_4xx_gets_one() {
    let gw = setup().await;
    gw.hip.answer_with(500);
    let id = gw.share_asha().await;
    let out = gw.outcome_when(&id, |o| o["attempts"] == 3).await;
    assert_eq!(out["delivered"], false, "{out}");
    assert_eq!(out["hipStatus"], 500);
    assert_eq!(gw.hip.received(SHARE).len(), 3);
    let attempts = outbound(&gw.sb, SHARE).await;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts.iter().all(|a| a["status"] == 500), "{attempts:?}");

    // A 4xx is the HIP's answer, not a failure to deliver: no retry.
    gw.hip.answer_with(401);
    let id = gw.share_asha().await;
    let out = gw.delivered(&id).await;
    assert_eq!(out["hipStatus"], 401, "{out}");
    assert_eq!(out["delivered"], false);
    assert_eq!(out["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gw.hip.received(SHARE).iter().filter(|r| r.body["requestId"] == json!(id)).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hip_answering_202_gets_exactly_one_attempt() {
    let gw = setup().await;
    let id = gw.share_asha().await;
    let out = gw.delivered(&id).await;
    assert_eq!(out["delivered"], true, "{out}");
    // Longer than the retry back-off: no second attempt comes.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gw.hip.received(SHARE).len(), 1);
    let attempts = outbound(&gw.sb, SHARE).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status"], 202);
    assert_eq!(attempts[0]["path"], json!(format!("{}{SHARE}", gw.hip.url)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_registered_on_a_bridge_receive_their_callbacks() {
    let gw = setup().await;
    let auth = format!("Bearer {}", gw.token);
    let added = gw
        .sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&json!([{"id": "IN2910000099", "name": "Clinic Annexe", "type": "HIP", "active": true}])),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let reply = gw.share(json!({"hipId": "IN2910000099", "code": "ANX1", "abhaAddress": RAVI})).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    assert_eq!(got.hip_id.as_deref(), Some("IN2910000099"));
    assert_eq!(got.body["profile"]["patient"]["healthId"], RAVI);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_take_over_another_clients_hip() {
    let gw = setup().await;
    let hip2 = Hip::start().await;
    let token2 = gw.sb.session_for(CLIENT2, SECRET2).await;
    hip::register_bridge(&gw.sb, &token2, &hip2.url).await;
    // SBX_000002 lists IN2910000001, SBX_000001's HIP, among its own services.
    let auth2 = format!("Bearer {token2}");
    let claimed = gw
        .sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&json!([{"id": HIP1, "name": "Not mine", "type": "HIP", "active": true}])),
            &[("Authorization", &auth2)],
        )
        .await;
    // SBX_000001 still acts for its HIP, and its patients' profiles still reach its own bridge.
    let init = gw.call(INIT, asha_init(HIP1)).await;
    assert_eq!(
        init.status, 202,
        "after SBX_000002 registered {HIP1} ({} {}), SBX_000001's init for it: {}",
        claimed.status, claimed.body, init.body
    );
    let id = gw.share_asha().await;
    gw.hip.wait_for_where(SHARE, WAIT, |r| r.body["requestId"] == json!(id)).await;
    assert!(
        hip2.received(SHARE).is_empty(),
        "another client's bridge received the profile: {:?}",
        hip2.received(SHARE)
    );
}

// ---- scripted faults ---------------------------------------------------------------------------

async fn set_faults(sb: &TestSandbox, faults: Value) -> Reply {
    sb.send(Method::PUT, "/_sandbox/faults", Some(&json!({"faults": faults})), &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_callback_never_arrives_and_is_journalled() {
    let gw = setup().await;
    let set = set_faults(&gw.sb, json!([{"path": SHARE, "drop": true}])).await;
    assert_eq!(set.ok()["faults"][0]["path"], SHARE);
    let id = gw.share_asha().await;
    // Other callbacks still go out.
    let init = gw.init(ASHA, "LINK", "DEMOGRAPHICS").await;
    gw.hip.wait_for_reply(ON_INIT, &init).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gw.hip.received(SHARE).is_empty(), "{:?}", gw.hip.requests());
    let entries = outbound(&gw.sb, SHARE).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]["responseBody"]["error"].as_str().is_some_and(|e| e.contains("dropped")),
        "{entries:?}"
    );
    assert_eq!(entries[0]["correlationId"], json!(id));
    assert_eq!(gw.outcome(&id).await["delivered"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_callback_arrives_twice() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": SHARE, "duplicate": true}])).await.ok();
    let id = gw.share_asha().await;
    let got = gw.hip.wait_for_count(SHARE, 2, WAIT).await;
    assert!(got.iter().all(|r| r.body["requestId"] == json!(id)), "{got:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gw.hip.received(SHARE).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_callback_arrives_after_the_delay() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": SHARE, "delaySeconds": 1}])).await.ok();
    let started = Instant::now();
    gw.share_asha().await;
    let replied = Instant::now();
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    assert!(got.at >= started + Duration::from_secs(1), "arrived after {:?}", got.at - started);
    assert!(replied < got.at, "share-profile answered before the callback went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_fault_answers_with_its_status() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": INIT, "status": 503}])).await.ok();
    let listed = gw.sb.get("/_sandbox/faults").await;
    assert_eq!(
        listed.ok()["faults"],
        json!([{"path": INIT, "drop": false, "duplicate": false, "status": 503}])
    );
    let body = asha_init(HIP1);
    let reply = gw.call(INIT, body.clone()).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body["error"]["code"].is_i64(), "{}", reply.body);
    // Other paths are untouched.
    assert_eq!(gw.call(FETCH_MODES, body).await.status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.hip.received(ON_INIT).is_empty());
}

#[tokio::test]
async fn malformed_faults_are_refused_and_reset_clears_them() {
    let sb = TestSandbox::start().await;
    set_faults(&sb, json!([{"path": SHARE}])).await.refused(400, "faults[0].path", "fault");
    set_faults(&sb, json!([{"path": "v0.5/patients/profile/share", "drop": true}])).await.refused(
        400,
        "faults[0].path",
        "fault",
    );
    set_faults(&sb, json!([{"path": INIT, "status": 42}])).await.refused(400, "faults[0].status", "fault");
    set_faults(&sb, json!([{"path": SHARE, "drop": true}, {"path": SHARE, "delaySeconds": 500}]))
        .await
        .refused(400, "faults[1].delaySeconds", "fault");
    set_faults(&sb, json!([{"path": SHARE, "explode": true}])).await.refused(400, "faults", "fault");
    sb.send(Method::PUT, "/_sandbox/faults", Some(&json!({})), &[]).await.refused(400, "faults", "required");
    assert_eq!(sb.get("/_sandbox/faults").await.ok()["faults"], json!([]), "refused faults are not kept");

    set_faults(&sb, json!([{"path": INIT, "status": 503}, {"path": SHARE, "drop": true}])).await.ok();
    assert_eq!(sb.get("/_sandbox/faults").await.ok()["faults"].as_array().unwrap().len(), 2);
    sb.post("/_sandbox/reset", json!({})).await.ok();
    assert_eq!(sb.get("/_sandbox/faults").await.ok()["faults"], json!([]));
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let init = call_as(&sb, &token, INIT, asha_init(HIP1)).await;
    assert_eq!(init.status, 202, "{}", init.body);
}
