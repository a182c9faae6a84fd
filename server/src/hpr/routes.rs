//! The HPR routes: one table for the ABDM and Carestack paths.

use actix_web::web;

use super::create::create;
use super::steps::*;

/// The eight steps with their ABDM path (under `/hpr/api/{v1|v2}/registration/aadhaar`) and their
/// Carestack path (under `/carestack`): the one route table both path sets are built from.
pub const ROUTES: [(&str, &str, Handler); 8] = [
    ("/generateOtp", "/aadhaar/generateOtp", Handler::GenerateOtp),
    ("/verifyOTP", "/aadhaar/verifyOtp", Handler::VerifyOtp),
    ("/checkHpIdAccountExist", "/check/account-exist", Handler::CheckAccount),
    ("/demographicAuthViaMobile", "/demographic-auth/mobile", Handler::DemographicAuth),
    ("/generateMobileOTP", "/generate/mobileOtp", Handler::GenerateMobileOtp),
    ("/verifyMobileOTP", "/verify/mobileOtp", Handler::VerifyMobileOtp),
    ("/hpid/suggestion", "/hpId/suggestion", Handler::Suggestion),
    ("/createHprIdWithPreVerified", "/hprId/create", Handler::Create),
];

/// The ABDM paths, under `/hpr/api`. `v1` and `v2` are both accepted, as clients use both. Like
/// every ABDM service the integrator calls, they need the gateway session token.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/hpr/api/{version:v[12]}/registration/aadhaar")
        .wrap(actix_web::middleware::from_fn(crate::gateway::sessions::authenticate));
    for (path, _, handler) in ROUTES {
        scope = scope.route(path, handler.route());
    }
    cfg.service(scope);
}

/// The eight steps, so that each path set can name them once.
#[derive(Clone, Copy)]
pub enum Handler {
    /// `generateOtp`.
    GenerateOtp,
    /// `verifyOTP`.
    VerifyOtp,
    /// `checkHpIdAccountExist`.
    CheckAccount,
    /// `demographicAuthViaMobile`.
    DemographicAuth,
    /// `generateMobileOTP`.
    GenerateMobileOtp,
    /// `verifyMobileOTP`.
    VerifyMobileOtp,
    /// `hpid/suggestion`.
    Suggestion,
    /// `createHprIdWithPreVerified`.
    Create,
}

impl Handler {
    /// The actix route serving this step.
    pub fn route(self) -> actix_web::Route {
        let post = web::post();
        match self {
            Handler::GenerateOtp => post.to(generate_otp),
            Handler::VerifyOtp => post.to(verify_otp),
            Handler::CheckAccount => post.to(check_account),
            Handler::DemographicAuth => post.to(demographic_auth),
            Handler::GenerateMobileOtp => post.to(generate_mobile_otp),
            Handler::VerifyMobileOtp => post.to(verify_mobile_otp),
            Handler::Suggestion => post.to(suggestion),
            Handler::Create => post.to(create),
        }
    }
}
