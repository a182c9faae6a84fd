//! The Carestack EHR API (`/carestack`, the Carestack SDK's `API_URL`): a thin mapping of its paths
//! onto the same flows the ABDM paths use, behind Carestack's own credentials. Every request must
//! carry `Authorization: Bearer <api key>` (a key listed in the fixtures), `x-hprid-auth` and
//! `facilityid`, as the SDK always sends them; a missing or wrong one is a 401.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, ResponseError};

use crate::error::ApiError;
use crate::hpr::Handler;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let hpr: [(&str, Handler); 8] = [
        ("/aadhaar/generateOtp", Handler::GenerateOtp),
        ("/aadhaar/verifyOtp", Handler::VerifyOtp),
        ("/check/account-exist", Handler::CheckAccount),
        ("/demographic-auth/mobile", Handler::DemographicAuth),
        ("/generate/mobileOtp", Handler::GenerateMobileOtp),
        ("/verify/mobileOtp", Handler::VerifyMobileOtp),
        ("/hpId/suggestion", Handler::Suggestion),
        ("/hprId/create", Handler::Create),
    ];
    let mut scope = web::scope("/carestack").wrap(from_fn(authorize));
    for (path, handler) in hpr {
        scope = scope.route(path, handler.route());
    }
    cfg.service(scope);
}

/// Checks Carestack's three credential headers before any Carestack handler runs.
async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match check(&req) {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    let header = |name: &str| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    };
    let auth = header("authorization").ok_or_else(|| {
        ApiError::unauthorized(
            "Authorization",
            "carestack-api-key",
            "missing; send 'Authorization: Bearer <api key>'",
        )
    })?;
    let key = crate::body::bearer(auth).unwrap_or("");
    let known = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|st| st.fixtures.carestack.api_keys.iter().any(|k| k == key));
    if !known {
        return Err(ApiError::unauthorized(
            "Authorization",
            "carestack-api-key",
            "not a Bearer token with a known API key (GET /_sandbox/fixtures lists carestack.apiKeys)",
        ));
    }
    header("x-hprid-auth")
        .ok_or_else(|| ApiError::unauthorized("x-hprid-auth", "carestack-headers", "missing"))?;
    header("facilityid")
        .ok_or_else(|| ApiError::unauthorized("facilityid", "carestack-headers", "missing"))?;
    Ok(())
}
