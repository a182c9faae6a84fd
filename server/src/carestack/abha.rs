//! Carestack's ABHA enrolment routes (`ABHAService`, `CreateABHA`) over the ABHA v3 flow: the
//! same enrolment, OTPs and accounts, in Carestack's request and response shapes.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::abha::enrol::{self as abha, AbhaState, Contact};
use crate::body::{parse_uuid, JsonBody};
use crate::checks;
use crate::crypto::{Padding, ABHA_KEY};
use crate::error::{ApiError, ApiResult, Checked};
use crate::shared::Shared;

/// Where the ABHA routes live under `/carestack`.
pub const ABHA: &str = "/patient/registration/abha";

/// The ABHA routes, added to the `/carestack` scope.
pub fn routes(scope: actix_web::Scope) -> actix_web::Scope {
    scope
        .route(&format!("{ABHA}/aadhaar/request-otp"), web::post().to(abha_request_otp))
        .route(&format!("{ABHA}/aadhaar/enroll"), web::post().to(abha_enroll))
        .route(&format!("{ABHA}/update/mobile/request-otp"), web::post().to(abha_mobile_otp))
        .route(&format!("{ABHA}/update/mobile/verify-otp"), web::post().to(abha_mobile_verify))
        .route(&format!("{ABHA}/address-suggestions"), web::get().to(abha_suggestions))
        .route(&format!("{ABHA}/abha-address"), web::post().to(abha_address))
}

// Encrypted fields use ABHA v3's key and padding (the SDK encrypts with `ABHA_PUBLIC_KEY`).

fn decrypt_otp(body: &JsonBody, field: &str) -> ApiResult<String> {
    let otp = ABHA_KEY.decrypt(field, body.str(field)?, Padding::OaepSha1)?;
    checks::otp(&otp).bad(field)?;
    Ok(otp)
}

/// `{"aadhaar": enc(aadhaar)}` (with `txnId`: a resend) → `{txnId, message}`.
async fn abha_request_otp(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let aadhaar = ABHA_KEY.decrypt("aadhaar", body.str("aadhaar")?, Padding::OaepSha1)?;
    checks::aadhaar(&aadhaar).bad("aadhaar")?;
    let resend = body.opt_str("txnId")?.map(|t| parse_uuid("txnId", t)).transpose()?;
    let reply = abha::request_aadhaar_otp(&sh, &abha, &aadhaar, resend)
        .map_err(|e| rename(e, "loginId", "aadhaar"))?;
    Ok(HttpResponse::Ok().json(reply))
}

/// `{"otp": enc(otp), "txnId", "mobile"}` → the enrolment answer.
async fn abha_enroll(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let otp = decrypt_otp(&body, "otp")?;
    let mobile = body.str("mobile")?;
    checks::mobile(mobile).bad("mobile")?;
    let id = body.txn_id("txnId")?;
    Ok(HttpResponse::Ok().json(abha::enrol(&sh, &abha, id, &otp, "otp", mobile)?))
}

/// `{"updateValue": enc(mobile), "txnId"}` → `{txnId, message}`.
async fn abha_mobile_otp(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let mobile = ABHA_KEY.decrypt("updateValue", body.str("updateValue")?, Padding::OaepSha1)?;
    checks::mobile(&mobile).bad("updateValue")?;
    let id = body.txn_id("txnId")?;
    Ok(HttpResponse::Ok().json(abha::request_contact_otp(
        &sh,
        &abha,
        id,
        Contact::Mobile(mobile),
        "updateValue",
    )?))
}

/// `{"otp": enc(otp), "txnId"}` → `{message, txnId, authResult}`.
async fn abha_mobile_verify(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let otp = decrypt_otp(&body, "otp")?;
    let id = body.txn_id("txnId")?;
    Ok(HttpResponse::Ok().json(abha::verify_contact_otp(&sh, &abha, id, &otp, "otp", "mobile-verify")?))
}

/// `?txnId=` of the address suggestions.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SuggestionsQuery {
    txn_id: Option<String>,
}

/// `GET ?txnId=` → `{abhaAddressList, txnId}`.
async fn abha_suggestions(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    q: web::Query<SuggestionsQuery>,
) -> ApiResult<HttpResponse> {
    let txn = q.txn_id.as_deref().unwrap_or("").trim();
    if txn.is_empty() {
        return Err(ApiError::bad("txnId", "required", "query parameter is required"));
    }
    let id = parse_uuid("txnId", txn)?;
    let list = abha::suggestions(&sh, &abha, id, "txnId")?;
    Ok(HttpResponse::Ok().json(json!({"abhaAddressList": list, "txnId": id})))
}

/// `{"abhaAddress", "txnId"}` → `{txnId, healthIdNumber, preferredAbhaAddress}`.
async fn abha_address(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let id = body.txn_id("txnId")?;
    let address = body.str("abhaAddress")?;
    Ok(HttpResponse::Ok().json(abha::create_address(&sh, &abha, id, address, true)?))
}

/// Errors from the shared flow name ABHA v3's fields; here they name Carestack's.
fn rename(mut e: ApiError, from: &str, to: &str) -> ApiError {
    if e.field.as_deref() == Some(from) {
        e.field = Some(to.to_string());
        e.message = e.message.replacen(from, to, 1);
    }
    e
}
