//! ABHA enrolment by Aadhaar OTP as a client does it, on ABHA v3's own paths (`/abha/api/v3`)
//! and on the Carestack ABHA routes: every encrypted field encrypted with the key from the
//! certificate endpoint (RSA-OAEP SHA-1), and on v3 the three headers every call carries
//! (Authorization with a gateway session, REQUEST-ID, TIMESTAMP).

use serde_json::{json, Value};

use super::{crypto, stamp, Reply, TestSandbox, CARESTACK_HEADERS};

/// ABHA v3's public certificate.
pub const CERTIFICATE: &str = "/abha/api/v3/profile/public/certificate";
/// Aadhaar OTP, contact OTP and their resends.
pub const REQUEST_OTP: &str = "/abha/api/v3/enrollment/request/otp";
/// Enrolment with the Aadhaar OTP.
pub const BY_AADHAAR: &str = "/abha/api/v3/enrollment/enrol/byAadhaar";
/// Verification of a mobile or e-mail OTP.
pub const BY_ABDM: &str = "/abha/api/v3/enrollment/auth/byAbdm";
/// ABHA address suggestions.
pub const SUGGESTION: &str = "/abha/api/v3/enrollment/enrol/suggestion";
/// Creates the chosen ABHA address.
pub const ABHA_ADDRESS: &str = "/abha/api/v3/enrollment/enrol/abha-address";
/// The account's profile, with the user token as X-token.
pub const PROFILE: &str = "/abha/api/v3/profile/account";

/// Carestack: Aadhaar OTP (and its resend).
pub const CS_REQUEST_OTP: &str = "/carestack/patient/registration/abha/aadhaar/request-otp";
/// Carestack: enrolment.
pub const CS_ENROLL: &str = "/carestack/patient/registration/abha/aadhaar/enroll";
/// Carestack: an OTP to another mobile.
pub const CS_MOBILE_OTP: &str = "/carestack/patient/registration/abha/update/mobile/request-otp";
/// Carestack: its verification.
pub const CS_MOBILE_VERIFY: &str = "/carestack/patient/registration/abha/update/mobile/verify-otp";
/// Carestack: ABHA address suggestions.
pub const CS_SUGGESTIONS: &str = "/carestack/patient/registration/abha/address-suggestions";
/// Carestack: creates the chosen ABHA address.
pub const CS_ABHA_ADDRESS: &str = "/carestack/patient/registration/abha/abha-address";

/// The encryption the certificate names.
pub const ALGORITHM: &str = "RSA/ECB/OAEPWithSHA-1AndMGF1Padding";

impl TestSandbox {
    /// ABHA v3's public key, from its certificate endpoint.
    pub async fn abha_key(&self) -> String {
        let cert = self.get(CERTIFICATE).await;
        assert_eq!(cert.ok()["encryptionAlgorithm"], ALGORITHM);
        cert.body["publicKey"].as_str().expect("publicKey").to_string()
    }

    /// The three headers every ABHA v3 call carries, with `timestamp` as TIMESTAMP.
    pub async fn abha_headers(&self, timestamp: String) -> Vec<(String, String)> {
        vec![
            ("Authorization".into(), format!("Bearer {}", self.session().await)),
            ("REQUEST-ID".into(), uuid::Uuid::new_v4().to_string()),
            ("TIMESTAMP".into(), timestamp),
        ]
    }
}

/// A contact verified by OTP during enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// Another mobile than the Aadhaar-linked one.
    Mobile,
    /// An e-mail address.
    Email,
}

impl Contact {
    /// The second scope of its OTP request and verification.
    pub fn scope(self) -> &'static str {
        match self {
            Contact::Mobile => "mobile-verify",
            Contact::Email => "email-verify",
        }
    }

    /// Its `loginHint`.
    pub fn hint(self) -> &'static str {
        match self {
            Contact::Mobile => "mobile",
            Contact::Email => "email",
        }
    }
}

/// The request/otp body that sends an Aadhaar OTP, `login_id` being the encrypted Aadhaar.
pub fn aadhaar_otp_body(login_id: &str) -> Value {
    json!({"scope": ["abha-enrol"], "loginHint": "aadhaar", "loginId": login_id, "otpSystem": "aadhaar"})
}

/// The enrol/byAadhaar body, `otp_value` being the encrypted OTP.
pub fn enrol_body(txn: &str, otp_value: &str, mobile: &str) -> Value {
    json!({
        "authData": {"authMethods": ["otp"], "otp": {"txnId": txn, "otpValue": otp_value, "mobile": mobile}},
        "consent": {"code": "abha-enrollment", "version": "1.4"},
    })
}

/// An ABHA v3 client: encrypts with the served key and sends the three v3 headers, TIMESTAMP
/// taken from the sandbox's (virtual) clock so that tests that move time stay within the skew.
pub struct Abha<'a> {
    /// The sandbox it talks to.
    pub ts: &'a TestSandbox,
    /// ABHA v3's public key.
    pub key: String,
}

impl<'a> Abha<'a> {
    /// A client with the key from the certificate endpoint.
    pub async fn new(ts: &'a TestSandbox) -> Abha<'a> {
        Abha { ts, key: ts.abha_key().await }
    }

    /// RSA-OAEP SHA-1 with the served key.
    pub fn enc(&self, text: &str) -> String {
        crypto::oaep_sha1(&self.key, text)
    }

    /// The three v3 headers, TIMESTAMP in the sandbox's time.
    pub async fn headers(&self) -> Vec<(String, String)> {
        self.ts.abha_headers(stamp(self.ts.now().await)).await
    }

    /// Sends exactly `headers`.
    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(String, String)],
    ) -> Reply {
        let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.ts.send(method, path, body, &refs).await
    }

    /// Sends the v3 headers plus `extra`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut headers = self.headers().await;
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.send_with(method, path, body, &headers).await
    }

    /// `POST path` with the v3 headers.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(&body), &[]).await
    }

    /// Sends an Aadhaar OTP.
    pub async fn request_aadhaar_otp(&self, aadhaar: &str) -> Reply {
        self.post(REQUEST_OTP, aadhaar_otp_body(&self.enc(aadhaar))).await
    }

    /// Sends the Aadhaar OTP of `txn` again.
    pub async fn resend_aadhaar_otp(&self, aadhaar: &str, txn: &str) -> Reply {
        let mut body = aadhaar_otp_body(&self.enc(aadhaar));
        body["txnId"] = json!(txn);
        self.post(REQUEST_OTP, body).await
    }

    /// Enrols with the Aadhaar OTP, giving `mobile` as the mobile to link.
    pub async fn enrol(&self, txn: &str, otp: &str, mobile: &str) -> Reply {
        self.post(BY_AADHAAR, enrol_body(txn, &self.enc(otp), mobile)).await
    }

    /// Aadhaar OTP (read from the outbox) → enrol; returns the enrolment answer.
    pub async fn enrolled(&self, aadhaar: &str, mobile: &str) -> Value {
        let txn = self.request_aadhaar_otp(aadhaar).await.txn();
        let otp = self.ts.otp(&txn).await;
        self.enrol(&txn, &otp, mobile).await.ok().clone()
    }

    /// Aadhaar OTP → enrol giving `mobile`, not the Aadhaar-linked one → an OTP sent to it: the walk
    /// up to the mobile's verification. Returns the enrolment answer and its txnId.
    pub async fn awaiting_mobile_otp(&self, aadhaar: &str, mobile: &str) -> (Value, String) {
        let enrolment = self.enrolled(aadhaar, mobile).await;
        let txn = enrolment["txnId"].as_str().expect("txnId").to_string();
        self.contact_otp(&txn, Contact::Mobile, mobile).await.ok();
        (enrolment, txn)
    }

    /// Sends an OTP to a mobile or an e-mail to verify during enrolment.
    pub async fn contact_otp(&self, txn: &str, contact: Contact, value: &str) -> Reply {
        let body = json!({
            "txnId": txn,
            "scope": ["abha-enrol", contact.scope()],
            "loginHint": contact.hint(),
            "loginId": self.enc(value),
            "otpSystem": "abdm",
        });
        self.post(REQUEST_OTP, body).await
    }

    /// Verifies a contact's OTP.
    pub async fn verify_contact(&self, txn: &str, contact: Contact, otp: &str) -> Reply {
        let body = json!({
            "scope": ["abha-enrol", contact.scope()],
            "authData": {"authMethods": ["otp"], "otp": {"txnId": txn, "otpValue": self.enc(otp)}},
        });
        self.post(BY_ABDM, body).await
    }

    /// ABHA address suggestions for an enrolment.
    pub async fn suggestions(&self, txn: &str) -> Reply {
        self.send(reqwest::Method::GET, SUGGESTION, None, &[("TRANSACTION_ID", txn)]).await
    }

    /// Creates `address` as the preferred ABHA address.
    pub async fn create_address(&self, txn: &str, address: &str) -> Reply {
        self.post(ABHA_ADDRESS, json!({"txnId": txn, "abhaAddress": address, "preferred": 1})).await
    }

    /// `GET profile/account` with `X-token` set to `x_token` exactly (or without it).
    pub async fn profile(&self, x_token: Option<&str>) -> Reply {
        let extra: Vec<(&str, &str)> = x_token.map(|t| ("X-token", t)).into_iter().collect();
        self.send(reqwest::Method::GET, PROFILE, None, &extra).await
    }

    /// The profile of the account an enrolment answer's user token belongs to.
    pub async fn profile_of(&self, enrolment: &Value) -> Value {
        let token = enrolment["tokens"]["token"].as_str().expect("tokens.token");
        self.profile(Some(&format!("Bearer {token}"))).await.ok().clone()
    }
}

/// A Carestack SDK client on the ABHA routes: its three credential headers and the ABHA key it
/// encrypts with.
pub struct Carestack<'a> {
    /// The sandbox it talks to.
    pub ts: &'a TestSandbox,
    /// ABHA v3's public key.
    pub key: String,
}

impl<'a> Carestack<'a> {
    /// A client with the key from ABHA v3's certificate endpoint.
    pub async fn new(ts: &'a TestSandbox) -> Carestack<'a> {
        Carestack { ts, key: ts.abha_key().await }
    }

    /// RSA-OAEP SHA-1 with the served key.
    pub fn enc(&self, text: &str) -> String {
        crypto::oaep_sha1(&self.key, text)
    }

    /// Sends with the Carestack headers.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.ts.send(method, path, body.as_ref(), &CARESTACK_HEADERS).await
    }

    /// `POST path` with the Carestack headers.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// ABHA address suggestions for an enrolment.
    pub async fn suggestions(&self, txn: &str) -> Reply {
        self.send(reqwest::Method::GET, &format!("{CS_SUGGESTIONS}?txnId={txn}"), None).await
    }
}
