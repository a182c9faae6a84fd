//! HPR ID registration: the eight steps on both path sets, the fixture professionals, and the
//! walk through the steps that many tests start from (Aadhaar OTP verified, then the mobile).

use serde_json::{json, Value};

use super::{Reply, TestSandbox, CARESTACK_HEADERS};

/// The two path sets the HPR flow is served under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paths {
    /// ABDM's own, `/hpr/api/v1/registration/aadhaar/…`, with the gateway session.
    Abdm,
    /// Carestack's, `/carestack/…`, with Carestack's three headers.
    Carestack,
}

/// The eight HPR steps.
#[derive(Debug, Clone, Copy)]
pub enum HprStep {
    /// Sends an OTP to the Aadhaar-linked mobile.
    GenerateOtp,
    /// Verifies it; answers the Aadhaar KYC details.
    VerifyOtp,
    /// Is there an HPR account for this Aadhaar? An existing one ends the flow.
    CheckAccount,
    /// Is the given mobile the Aadhaar-linked one?
    DemographicAuth,
    /// Otherwise, an OTP to the given mobile.
    GenerateMobileOtp,
    /// Verifies it.
    VerifyMobileOtp,
    /// Username suggestions.
    Suggestion,
    /// Creates the HPR ID.
    Create,
}

impl HprStep {
    /// Every step, in flow order.
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

    /// The step's path in a path set.
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

// The fixture professionals (fixtures/default.json).

/// Dr Kavita Rao: has an HPR account.
pub const EXISTING: &str = "567890123458";
/// Arjun Mehta: new; gives the Aadhaar-linked mobile.
pub const SAME_MOBILE: &str = "678901234560";
/// Arjun's Aadhaar-linked mobile.
pub const SAME_MOBILE_NUMBER: &str = "9700000002";
/// Fatima Sheikh: new; gives another mobile.
pub const OTHER_MOBILE: &str = "789012345674";
/// The mobile Fatima gives, verified by OTP.
pub const OTHER_MOBILE_NUMBER: &str = "9811122334";
/// A password the HPR policy accepts.
pub const PASSWORD: &str = "Sandbox@2024";

/// A verifyOTP body, as the Carestack SDK sends it.
pub fn verify_otp_body(txn: &str, otp: &str) -> Value {
    json!({"otp": otp, "txnId": txn, "domainName": "@hpr.abdm", "idType": "hpr_id", "restrictions": null})
}

/// A create body for Arjun Mehta in the Carestack SDK's shape: every value a string, unset
/// optionals as null.
pub fn create_body(txn: &str, hpr_id: &str) -> Value {
    json!({
        "address": "5, Ashram Road, Ahmedabad", "dayOfBirth": "03", "districtCode": "438",
        "email": "arjun.mehta@example.com", "firstName": "Arjun", "hpCategoryCode": "1",
        "hpSubCategoryCode": "1", "hprId": hpr_id, "lastName": "Mehta", "middleName": null,
        "monthOfBirth": "09", "password": PASSWORD, "pincode": "380009", "profilePhoto": null,
        "stateCode": "24", "txnId": txn, "yearOfBirth": "1988"
    })
}

impl TestSandbox {
    /// Calls an HPR step on the given path set, with Carestack's headers or the gateway session
    /// token that path set needs.
    pub async fn hpr(&self, paths: Paths, step: HprStep, body: Value) -> Reply {
        let headers: &[(&str, &str)] = match paths {
            // `send` adds the gateway session on ABDM's paths.
            Paths::Abdm => &[],
            Paths::Carestack => &CARESTACK_HEADERS,
        };
        self.send(reqwest::Method::POST, step.path(paths), Some(&body), headers).await
    }

    /// generateOtp → verifyOTP (OTP read from the outbox); returns the txnId.
    pub async fn hpr_verified(&self, paths: Paths, aadhaar: &str) -> String {
        let txn = self.hpr(paths, HprStep::GenerateOtp, json!({"aadhaar": aadhaar})).await.txn();
        let otp = self.otp(&txn).await;
        self.hpr(paths, HprStep::VerifyOtp, verify_otp_body(&txn, &otp)).await.ok();
        txn
    }

    /// … → checkHpIdAccountExist (no account) → demographic auth with `mobile`, which must be the
    /// Aadhaar-linked one; returns the txnId, ready for suggestions and create.
    pub async fn hpr_mobile_verified(&self, paths: Paths, aadhaar: &str, mobile: &str) -> String {
        let txn = self.hpr_verified(paths, aadhaar).await;
        let check =
            self.hpr(paths, HprStep::CheckAccount, json!({"txnId": txn, "preverifiedCheck": true})).await;
        assert_eq!(check.ok()["hprIdNumber"], "");
        let auth =
            self.hpr(paths, HprStep::DemographicAuth, json!({"txnId": txn, "mobileNumber": mobile})).await;
        assert_eq!(auth.ok()["verified"], true);
        txn
    }
}
