//! The Carestack EHR API (`/carestack`, the Carestack SDK's `API_URL`): a thin mapping of its paths
//! onto the same flows the ABDM paths use, behind Carestack's own credentials. Every request must
//! carry `Authorization: Bearer <api key>` (a key listed in the fixtures), `x-hprid-auth` and
//! `facilityid`, as the SDK always sends them; a missing or wrong one is a 401.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;

use crate::abha::{self, Contact};
use crate::body::{parse_uuid, JsonBody};
use crate::checks;
use crate::crypto::{Padding, ABHA_KEY};

use crate::error::{ApiError, ApiResult};
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
    const ABHA: &str = "/patient/registration/abha";
    scope = scope
        .route(&format!("{ABHA}/aadhaar/request-otp"), web::post().to(abha_request_otp))
        .route(&format!("{ABHA}/aadhaar/enroll"), web::post().to(abha_enroll))
        .route(&format!("{ABHA}/update/mobile/request-otp"), web::post().to(abha_mobile_otp))
        .route(&format!("{ABHA}/update/mobile/verify-otp"), web::post().to(abha_mobile_verify))
        .route(&format!("{ABHA}/address-suggestions"), web::get().to(abha_suggestions))
        .route(&format!("{ABHA}/abha-address"), web::post().to(abha_address));
    cfg.service(scope);
}

// ---- ABHA enrolment, Carestack's shapes over the ABHA v3 flow ---------------------------------
// Encrypted fields use ABHA v3's key and padding (the SDK encrypts with `ABHA_PUBLIC_KEY`).

fn decrypt_otp(body: &JsonBody, field: &str) -> ApiResult<String> {
    let otp = ABHA_KEY.decrypt(field, body.str(field)?, Padding::OaepSha1)?;
    checks::otp(&otp).map_err(|(rule, m)| ApiError::bad(field, rule, m))?;
    Ok(otp)
}

/// `{"aadhaar": enc(aadhaar)}` (with `txnId`: a resend) → `{txnId, message}`.
async fn abha_request_otp(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let aadhaar = ABHA_KEY.decrypt("aadhaar", body.str("aadhaar")?, Padding::OaepSha1)?;
    checks::aadhaar(&aadhaar).map_err(|(rule, m)| ApiError::bad("aadhaar", rule, m))?;
    let resend = body.opt_str("txnId")?.map(|t| parse_uuid("txnId", t)).transpose()?;
    let reply =
        abha::request_aadhaar_otp(&st, &aadhaar, resend).map_err(|e| rename(e, "loginId", "aadhaar"))?;
    Ok(HttpResponse::Ok().json(reply))
}

/// `{"otp": enc(otp), "txnId", "mobile"}` → the enrolment answer.
async fn abha_enroll(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let otp = decrypt_otp(&body, "otp")?;
    let mobile = body.str("mobile")?;
    checks::mobile(mobile).map_err(|(rule, m)| ApiError::bad("mobile", rule, m))?;
    let id = body.txn_id("txnId")?;
    Ok(HttpResponse::Ok().json(abha::enrol(&st, id, &otp, "otp", mobile)?))
}

/// `{"updateValue": enc(mobile), "txnId"}` → `{txnId, message}`.
async fn abha_mobile_otp(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let mobile = ABHA_KEY.decrypt("updateValue", body.str("updateValue")?, Padding::OaepSha1)?;
    checks::mobile(&mobile).map_err(|(rule, m)| ApiError::bad("updateValue", rule, m))?;
    let id = body.txn_id("txnId")?;
    Ok(HttpResponse::Ok().json(abha::request_contact_otp(&st, id, Contact::Mobile(mobile), "updateValue")?))
}

/// `{"otp": enc(otp), "txnId"}` → `{message, txnId, authResult}`.
async fn abha_mobile_verify(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let otp = decrypt_otp(&body, "otp")?;
    let id = body.txn_id("txnId")?;
    Ok(HttpResponse::Ok().json(abha::verify_contact_otp(&st, id, &otp, "otp", "mobile-verify")?))
}

/// `GET ?txnId=` → `{abhaAddressList, txnId}`.
async fn abha_suggestions(st: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad("query", "query", e.to_string()))?;
    let txn = q.get("txnId").map(String::as_str).unwrap_or("");
    if txn.is_empty() {
        return Err(ApiError::bad("txnId", "required", "query parameter is required"));
    }
    let id = parse_uuid("txnId", txn)?;
    let list = abha::suggestions(&st, id, "txnId")?;
    Ok(HttpResponse::Ok().json(json!({"abhaAddressList": list, "txnId": id})))
}

/// `{"abhaAddress", "txnId"}` → `{txnId, healthIdNumber, preferredAbhaAddress}`.
async fn abha_address(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let id = body.txn_id("txnId")?;
    let address = body.str("abhaAddress")?;
    Ok(HttpResponse::Ok().json(abha::create_address(&st, id, address, true)?))
}

/// Errors from the shared flow name ABHA v3's fields; here they name Carestack's.
fn rename(mut e: ApiError, from: &str, to: &str) -> ApiError {
    if e.field.as_deref() == Some(from) {
        e.field = Some(to.to_string());
        e.message = e.message.replacen(from, to, 1);
    }
    e
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
