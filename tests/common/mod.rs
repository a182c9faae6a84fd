//! Shared test helpers: a sandbox on a free port and a small HTTP client for it.
#![allow(dead_code)]

use abdm_server::{Config, Sandbox};
use serde_json::{json, Value};

pub const API_KEY: &str = "sandbox-api-key";

/// The two path sets the HPR flow is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    Abdm,
    Carestack,
}

/// The eight HPR steps.
#[derive(Debug, Clone, Copy)]
pub enum HprStep {
    GenerateOtp,
    VerifyOtp,
    CheckAccount,
    DemographicAuth,
    GenerateMobileOtp,
    VerifyMobileOtp,
    Suggestion,
    Create,
}

impl HprStep {
    pub const ALL: [HprStep; 8] = [
        HprStep::GenerateOtp,
        HprStep::VerifyOtp,
        HprStep::CheckAccount,
        HprStep::DemographicAuth,
        HprStep::GenerateMobileOtp,
        HprStep::VerifyMobileOtp,
        HprStep::Suggestion,
        HprStep::Create,
    ];

    pub fn path(self, paths: Paths) -> &'static str {
        match (paths, self) {
            (Paths::Abdm, HprStep::GenerateOtp) => "/hpr/api/v1/registration/aadhaar/generateOtp",
            (Paths::Abdm, HprStep::VerifyOtp) => "/hpr/api/v1/registration/aadhaar/verifyOTP",
            (Paths::Abdm, HprStep::CheckAccount) => "/hpr/api/v2/registration/aadhaar/checkHpIdAccountExist",
            (Paths::Abdm, HprStep::DemographicAuth) => {
                "/hpr/api/v2/registration/aadhaar/demographicAuthViaMobile"
            }
            (Paths::Abdm, HprStep::GenerateMobileOtp) => "/hpr/api/v1/registration/aadhaar/generateMobileOTP",
            (Paths::Abdm, HprStep::VerifyMobileOtp) => "/hpr/api/v1/registration/aadhaar/verifyMobileOTP",
            (Paths::Abdm, HprStep::Suggestion) => "/hpr/api/v1/registration/aadhaar/hpid/suggestion",
            (Paths::Abdm, HprStep::Create) => "/hpr/api/v1/registration/aadhaar/createHprIdWithPreVerified",
            (Paths::Carestack, HprStep::GenerateOtp) => "/carestack/aadhaar/generateOtp",
            (Paths::Carestack, HprStep::VerifyOtp) => "/carestack/aadhaar/verifyOtp",
            (Paths::Carestack, HprStep::CheckAccount) => "/carestack/check/account-exist",
            (Paths::Carestack, HprStep::DemographicAuth) => "/carestack/demographic-auth/mobile",
            (Paths::Carestack, HprStep::GenerateMobileOtp) => "/carestack/generate/mobileOtp",
            (Paths::Carestack, HprStep::VerifyMobileOtp) => "/carestack/verify/mobileOtp",
            (Paths::Carestack, HprStep::Suggestion) => "/carestack/hpId/suggestion",
            (Paths::Carestack, HprStep::Create) => "/carestack/hprId/create",
        }
    }
}

/// The fixture professionals.
pub const EXISTING: &str = "567890123458"; // has an HPR account
pub const SAME_MOBILE: &str = "678901234560"; // new; gives the Aadhaar-linked mobile
pub const SAME_MOBILE_NUMBER: &str = "9700000002";
pub const OTHER_MOBILE: &str = "789012345674"; // new; gives another mobile
pub const OTHER_MOBILE_NUMBER: &str = "9811122334";
pub const PASSWORD: &str = "Sandbox@2024";

pub struct TestSandbox {
    pub sandbox: Option<Sandbox>,
    pub url: String,
    pub http: reqwest::Client,
}

/// A response: status and JSON body (`Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {} {}", self.status, self.body);
        &self.body
    }

    /// Asserts an error reply with `status` that names `field` and `rule`.
    pub fn refused(&self, status: u16, field: &str, rule: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "expected {status} ({field}/{rule}), got {} {}",
            self.status, self.body
        );
        assert_eq!(self.body["field"], json!(field), "field in {}", self.body);
        assert_eq!(self.body["rule"], json!(rule), "rule in {}", self.body);
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "message {message:?} should name {field}");
        assert_eq!(self.body["details"][0]["attribute"]["key"], json!(field));
        &self.body
    }

    pub fn txn(&self) -> String {
        self.body["txnId"].as_str().unwrap_or_else(|| panic!("no txnId in {}", self.body)).to_string()
    }
}

impl TestSandbox {
    pub async fn start() -> TestSandbox {
        let sandbox = Sandbox::start(Config::default()).await.expect("sandbox starts");
        TestSandbox { url: sandbox.url(), sandbox: Some(sandbox), http: reqwest::Client::new() }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.sandbox.take() {
            s.stop().await;
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        req = Box::pin(self.with_session(req, path, headers)).await;
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request is answered");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(&body), &[]).await
    }

    /// Sends raw bytes (for malformed-input tests).
    pub async fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body);
        req = self.with_session(req, path, headers).await;
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request is answered");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    /// Calls an HPR step on the given path set, with Carestack's headers or the gateway session
    /// token that path set needs.
    pub async fn hpr(&self, paths: Paths, step: HprStep, body: Value) -> Reply {
        let auth = match paths {
            Paths::Abdm => format!("Bearer {}", self.session().await),
            Paths::Carestack => format!("Bearer {API_KEY}"),
        };
        let headers: Vec<(&str, &str)> = match paths {
            Paths::Abdm => vec![("Authorization", &auth)],
            Paths::Carestack => {
                vec![("Authorization", &auth), ("x-hprid-auth", "test"), ("facilityid", "IN2910000001")]
            }
        };
        self.send(reqwest::Method::POST, step.path(paths), Some(&body), &headers).await
    }

    /// The newest OTP the outbox holds for a transaction.
    pub async fn otp(&self, txn: &str) -> String {
        let out = self.get(&format!("/_sandbox/outbox?txnId={txn}")).await;
        let list = out.ok().as_array().expect("outbox is an array").clone();
        list.last()
            .and_then(|m| m["otp"].as_str())
            .unwrap_or_else(|| panic!("no OTP sent for {txn}"))
            .to_string()
    }

    pub async fn advance(&self, seconds: u64) {
        self.post("/_sandbox/clock/advance", json!({"seconds": seconds})).await.ok();
    }
}

/// Client-side encryption, as ABDM clients do it: RSA with the service's public key (base64 DER
/// SubjectPublicKeyInfo), base64 of the ciphertext.
pub mod enc {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::{Oaep, Pkcs1v15Encrypt, RsaPublicKey};

    fn key(spki_b64: &str) -> RsaPublicKey {
        let der = B64.decode(spki_b64.trim()).expect("the public key is base64");
        RsaPublicKey::from_public_key_der(&der).expect("the public key is SPKI DER")
    }

    /// RSA-OAEP with SHA-1 and MGF1-SHA-1 (ABHA v3, Carestack ABHA).
    pub fn oaep_sha1(spki_b64: &str, text: &str) -> String {
        let c = key(spki_b64).encrypt(&mut rand::thread_rng(), Oaep::new::<sha1::Sha1>(), text.as_bytes());
        B64.encode(c.expect("encrypts"))
    }

    /// RSA PKCS#1 v1.5 (PHR v1).
    pub fn pkcs1(spki_b64: &str, text: &str) -> String {
        let c = key(spki_b64).encrypt(&mut rand::thread_rng(), Pkcs1v15Encrypt, text.as_bytes());
        B64.encode(c.expect("encrypts"))
    }
}

impl TestSandbox {
    /// ABHA v3's public key, from its certificate endpoint.
    pub async fn abha_key(&self) -> String {
        let cert = self.get("/abha/api/v3/profile/public/certificate").await;
        assert_eq!(cert.ok()["encryptionAlgorithm"], "RSA/ECB/OAEPWithSHA-1AndMGF1Padding");
        cert.body["publicKey"].as_str().expect("publicKey").to_string()
    }

    /// ABDM's HPR paths need the gateway session token: the test client always has one, unless
    /// a test sets its own Authorization header.
    async fn with_session(
        &self,
        req: reqwest::RequestBuilder,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let own = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if path.starts_with("/hpr/api/") && !own {
            req.header("Authorization", format!("Bearer {}", self.session().await))
        } else {
            req
        }
    }

    /// A gateway session token for the first fixture facility, valid at the sandbox's time.
    pub async fn session(&self) -> String {
        let body = json!({"clientId": "SBX_000001", "clientSecret": "sandbox-secret-0001"});
        let reply = self.post("/gateway/v0.5/sessions", body).await;
        reply.ok()["accessToken"].as_str().expect("accessToken").to_string()
    }

    /// The headers every ABHA v3 call carries (TIMESTAMP in real time).
    pub async fn abha_headers(&self) -> Vec<(String, String)> {
        vec![
            ("Authorization".into(), format!("Bearer {}", self.session().await)),
            ("REQUEST-ID".into(), uuid::Uuid::new_v4().to_string()),
            ("TIMESTAMP".into(), chrono_now()),
        ]
    }
}

/// Real time in ABDM's TIMESTAMP form.
pub fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
pub mod hip;
