//! The ABHA v3 routes under `/abha/api/v3`: headers checked, request shapes parsed into the
//! enrolment flow's functions.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use uuid::Uuid;

use crate::body::{bearer, header, parse_uuid, JsonBody, Obj};
use crate::checks::{self};
use crate::clock::{Millis, MINUTE};
use crate::crypto::{Padding, ABHA_ALGORITHM, ABHA_KEY};
use crate::error::{ApiError, ApiResult, Checked};
use crate::gateway::sessions::Sessions;
use crate::shared::Shared;

use super::enrol::{
    create_address, enrol, profile_json, request_aadhaar_otp, request_contact_otp, suggestions,
    verify_contact_otp, AbhaState, Contact, CONSENT_CODE, CONSENT_VERSION,
};

/// The ABHA v3 routes under `/abha/api/v3`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/abha/api/v3/profile/public/certificate", web::get().to(certificate)).service(
        web::scope("/abha/api/v3")
            .wrap(from_fn(require_headers))
            .route("/enrollment/request/otp", web::post().to(v3_request_otp))
            .route("/enrollment/enrol/byAadhaar", web::post().to(v3_enrol))
            .route("/enrollment/auth/byAbdm", web::post().to(v3_auth_by_abdm))
            .route("/enrollment/enrol/suggestion", web::get().to(v3_suggestion))
            .route("/enrollment/enrol/abha-address", web::post().to(v3_abha_address))
            .route("/profile/account", web::get().to(v3_profile)),
    );
}

async fn certificate() -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({"publicKey": ABHA_KEY.public_spki_b64(), "encryptionAlgorithm": ABHA_ALGORITHM}))
}

/// ABHA v3 calls carry `Authorization: Bearer <session token>`, `REQUEST-ID` (a UUID) and
/// `TIMESTAMP` (ISO-8601, within 10 minutes of the server's time).
async fn require_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let checked = match (req.app_data::<web::Data<Shared>>(), req.app_data::<web::Data<Sessions>>()) {
        (Some(sh), Some(sessions)) => check_headers(req.request(), sessions, sh.clock.now()),
        _ => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "app-data", "the app is misconfigured")),
    };
    match checked {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

fn check_headers(req: &HttpRequest, sessions: &Sessions, now: Millis) -> ApiResult<()> {
    let auth = header(req, "Authorization").ok_or_else(|| {
        ApiError::unauthorized("Authorization", "bearer", "missing 'Bearer <gateway session token>'")
    })?;
    let Some(token) = bearer(auth) else {
        return Err(ApiError::unauthorized(
            "Authorization",
            "bearer",
            "must be 'Bearer <gateway session token>'",
        ));
    };
    sessions.client(token, now)?;
    let request_id = header(req, "REQUEST-ID")
        .ok_or_else(|| ApiError::bad("REQUEST-ID", "required", "header is required"))?;
    parse_uuid("REQUEST-ID", request_id)?;
    let ts = header(req, "TIMESTAMP")
        .ok_or_else(|| ApiError::bad("TIMESTAMP", "required", "header is required"))?;
    let at = chrono::DateTime::parse_from_rfc3339(ts).map_err(|_| {
        ApiError::bad(
            "TIMESTAMP",
            "timestamp",
            format!("{ts:?} is not ISO-8601 like 2026-01-31T10:00:00.000Z"),
        )
    })?;
    if !near_now(at.timestamp_millis(), now) {
        return Err(ApiError::bad(
            "TIMESTAMP",
            "timestamp-skew",
            "is more than 10 minutes away from the server's time",
        ));
    }
    Ok(())
}

/// The scopes a `request/otp` may carry, and what each needs.
async fn v3_request_otp(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let root = body.root();
    let scope = root.strings("scope")?;
    let hint = root.str("loginHint")?;
    let system = root.str("otpSystem")?;
    let want = |h: &str, s: &str| -> ApiResult<()> {
        if hint != h {
            return Err(ApiError::bad("loginHint", "scope", format!("must be {h:?} for scope {scope:?}")));
        }
        if system != s {
            return Err(ApiError::bad("otpSystem", "scope", format!("must be {s:?} for scope {scope:?}")));
        }
        Ok(())
    };
    let reply = match scope.as_slice() {
        ["abha-enrol"] => {
            want("aadhaar", "aadhaar")?;
            let aadhaar = ABHA_KEY.decrypt("loginId", root.str("loginId")?, Padding::OaepSha1)?;
            checks::aadhaar(&aadhaar).bad_noting("loginId", "Aadhaar ")?;
            let resend = root.opt_str("txnId")?.map(|t| parse_uuid("txnId", t)).transpose()?;
            request_aadhaar_otp(&sh, &abha, &aadhaar, resend)?
        }
        ["abha-enrol", "mobile-verify"] => {
            want("mobile", "abdm")?;
            let id = root.txn_id("txnId")?;
            let mobile = ABHA_KEY.decrypt("loginId", root.str("loginId")?, Padding::OaepSha1)?;
            checks::mobile(&mobile).bad("loginId")?;
            request_contact_otp(&sh, &abha, id, Contact::Mobile(mobile), "txnId")?
        }
        ["abha-enrol", "email-verify"] => {
            want("email", "abdm")?;
            let id = root.txn_id("txnId")?;
            let email = ABHA_KEY.decrypt("loginId", root.str("loginId")?, Padding::OaepSha1)?;
            checks::email(&email).bad("loginId")?;
            request_contact_otp(&sh, &abha, id, Contact::Email(email), "txnId")?
        }
        other => {
            return Err(ApiError::bad(
                "scope",
                "scope",
                format!("{other:?} is not an enrolment scope: use [\"abha-enrol\"], [\"abha-enrol\",\"mobile-verify\"] or [\"abha-enrol\",\"email-verify\"]"),
            ))
        }
    };
    Ok(HttpResponse::Ok().json(reply))
}

/// A client's timestamp is within 10 minutes of now: of real time (clients stamp their own
/// clock) or of virtual time (after the sandbox's clock was moved).
fn near_now(at: Millis, virtual_now: Millis) -> bool {
    let real_now = chrono::Utc::now().timestamp_millis();
    (at - real_now).abs() <= 10 * MINUTE || (at - virtual_now).abs() <= 10 * MINUTE
}

/// `authData.otp` of enrol/byAadhaar and auth/byAbdm: the txnId, the decrypted OTP, and a
/// `timeStamp` that, when given, must be within 10 minutes of the server's time.
fn otp_block<'a>(sh: &Shared, root: &Obj<'a>) -> ApiResult<(Uuid, String, Obj<'a>)> {
    let auth = root.obj("authData")?;
    let methods = auth.strings("authMethods")?;
    if methods != ["otp"] {
        return Err(ApiError::bad(&auth.name("authMethods"), "auth-methods", "must be [\"otp\"]"));
    }
    let otp = auth.obj("otp")?;
    let id = otp.txn_id("txnId")?;
    let field = otp.name("otpValue");
    let value = ABHA_KEY.decrypt(&field, otp.str("otpValue")?, Padding::OaepSha1)?;
    checks::otp(&value).bad(&field)?;
    if let Some(ts) = otp.opt_str("timeStamp")? {
        let at = chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| ApiError::bad(&otp.name("timeStamp"), "timestamp", "must be yyyy-MM-dd HH:mm:ss"))?;
        if !near_now(at.and_utc().timestamp_millis(), sh.clock.now()) {
            return Err(ApiError::bad(
                &otp.name("timeStamp"),
                "timestamp-skew",
                "is more than 10 minutes off",
            ));
        }
    }
    Ok((id, value, otp))
}

async fn v3_enrol(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let root = body.root();
    let consent = root.obj("consent")?;
    if consent.str("code")? != CONSENT_CODE {
        return Err(ApiError::bad("consent.code", "consent", format!("must be {CONSENT_CODE:?}")));
    }
    if consent.str("version")? != CONSENT_VERSION {
        return Err(ApiError::bad("consent.version", "consent", format!("must be {CONSENT_VERSION:?}")));
    }
    let (id, otp, block) = otp_block(&sh, &root)?;
    let mobile = block.str("mobile")?;
    checks::mobile(mobile).bad(&block.name("mobile"))?;
    Ok(HttpResponse::Ok().json(enrol(&sh, &abha, id, &otp, &block.name("otpValue"), mobile)?))
}

async fn v3_auth_by_abdm(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let root = body.root();
    let scope = root.strings("scope")?;
    let kind = match scope.as_slice() {
        ["abha-enrol", s @ ("mobile-verify" | "email-verify")] => *s,
        other => {
            return Err(ApiError::bad(
                "scope",
                "scope",
                format!(
                    "{other:?}: use [\"abha-enrol\",\"mobile-verify\"] or [\"abha-enrol\",\"email-verify\"]"
                ),
            ))
        }
    };
    let (id, otp, block) = otp_block(&sh, &root)?;
    Ok(HttpResponse::Ok().json(verify_contact_otp(&sh, &abha, id, &otp, &block.name("otpValue"), kind)?))
}

async fn v3_suggestion(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let txn = header(&req, "TRANSACTION_ID").ok_or_else(|| {
        ApiError::bad("TRANSACTION_ID", "required", "header is required (the enrolment txnId)")
    })?;
    let id = parse_uuid("TRANSACTION_ID", txn)?;
    let list = suggestions(&sh, &abha, id, "TRANSACTION_ID")?;
    Ok(HttpResponse::Ok().json(json!({"txnId": id, "abhaAddressList": list})))
}

async fn v3_abha_address(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let id = body.txn_id("txnId")?;
    let address = body.str("abhaAddress")?;
    let preferred = match body.opt_uint("preferred")? {
        None | Some(1) => true,
        Some(0) => false,
        Some(_) => return Err(ApiError::bad("preferred", "type", "must be 0 or 1")),
    };
    Ok(HttpResponse::Ok().json(create_address(&sh, &abha, id, address, preferred)?))
}

/// `GET profile/account` with `X-token: Bearer <token from enrolment>`.
async fn v3_profile(
    sh: web::Data<Shared>,
    abha: web::Data<AbhaState>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let raw = header(&req, "X-token")
        .ok_or_else(|| ApiError::unauthorized("X-token", "x-token", "header is required"))?;
    let token = bearer(raw)
        .ok_or_else(|| ApiError::bad("X-token", "x-token", "Invalid X-token: must be 'Bearer <token>'"))?;
    let id = token
        .trim()
        .strip_prefix("sbx-abha.")
        .and_then(|t| Uuid::parse_str(t).ok())
        .ok_or_else(|| ApiError::unauthorized("X-token", "x-token", "not a token this sandbox issued"))?;
    let number = abha.tokens.read(id, "X-token", sh.clock.now(), String::clone).map_err(|e| {
        let rule = if e.rule == "txn-expired" { "x-token-expired" } else { "x-token-unknown" };
        ApiError::unauthorized("X-token", rule, "the token is unknown or has expired")
    })?;
    let account = sh.accounts.by_number(&number).ok_or_else(|| {
        ApiError::unauthorized("X-token", "x-token", "the account no longer exists (reset?)")
    })?;
    let mut profile = profile_json(&sh.fixtures.people[account.person], &account);
    profile["preferredAbhaAddress"] = profile["preferredAddress"].clone();
    Ok(HttpResponse::Ok().json(profile))
}
