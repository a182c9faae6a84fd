//! The HPR registration steps from the Aadhaar OTP to the username suggestions.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::body::JsonBody;
use crate::checks::{self, mask};
use crate::error::{ApiError, ApiResult, Checked};
use crate::fixtures::{Professional, PHOTO};
use crate::otp::Otp;
use crate::shared::Shared;

use super::txn::*;

/// `POST generateOtp {aadhaar}` → `{txnId, mobileNumber}`: sends the Aadhaar OTP to the
/// Aadhaar-linked mobile.
pub async fn generate_otp(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let aadhaar = body.str("aadhaar")?;
    checks::aadhaar(aadhaar).bad("aadhaar")?;
    let index = sh.fixtures.professional(aadhaar).ok_or_else(|| {
            ApiError::rule("aadhaar", "aadhaar-unknown", "no healthcare professional with this Aadhaar in the sandbox fixtures (GET /_sandbox/fixtures lists them)")
        })?;
    let pro = &sh.fixtures.professionals[index];
    let now = sh.clock.now();
    let otp = Otp::new(&pro.otp, &pro.aadhaar_mobile, now);
    let txn = HprTxn { professional: index, step: Step::AadhaarOtpSent, otp: otp.clone(), mobile: None };
    let id = hpr.txns.insert(txn, now);
    sh.outbox.send(id, &otp, "hpr-aadhaar-otp");
    Ok(HttpResponse::Ok().json(json!({"txnId": id, "mobileNumber": mask(&pro.aadhaar_mobile, 4)})))
}

/// `POST verifyOTP {otp, txnId, domainName, idType, restrictions}` → the Aadhaar KYC details.
pub async fn verify_otp(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let otp = body.str("otp")?;
    checks::otp(otp).bad("otp")?;
    if let Some(domain) = body.opt_str("domainName")? {
        if domain != DOMAIN {
            return Err(ApiError::bad(
                "domainName",
                "hpr-domain",
                format!("must be {DOMAIN:?}, got {domain:?}"),
            ));
        }
    }
    if let Some(id_type) = body.opt_str("idType")? {
        if id_type != ID_TYPE {
            return Err(ApiError::bad(
                "idType",
                "hpr-id-type",
                format!("must be {ID_TYPE:?}, got {id_type:?}"),
            ));
        }
    }
    body.opt_str("restrictions")?;
    let (id, index) =
        advance(&hpr, &sh, &body, &[Step::AadhaarOtpSent], "verifying the Aadhaar OTP", |txn, now| {
            txn.otp.verify(otp, now, "otp")?;
            txn.step = Step::AadhaarVerified;
            Ok(txn.professional)
        })?;
    let p = &sh.fixtures.professionals[index];
    Ok(HttpResponse::Ok().json(json!({
        "txnId": id,
        "mobileNumber": mask(&p.aadhaar_mobile, 4),
        "mobile": mask(&p.aadhaar_mobile, 4),
        "photo": PHOTO,
        "profilePhoto": PHOTO,
        "gender": p.gender,
        "name": p.name,
        "email": p.email,
        "pincode": p.pincode,
        "birthdate": p.birth_date,
        "birthDate": p.birth_date,
        "careOf": p.care_of,
        "house": p.house,
        "street": p.street,
        "landmark": "",
        "locality": p.locality,
        "villageTownCity": p.village_town_city,
        "subDist": p.sub_dist,
        "district": p.district,
        "state": p.state,
        "postOffice": p.post_office,
        "address": p.address(),
    })))
}

/// `POST checkHpIdAccountExist {txnId, preverifiedCheck}`: an existing account ends the flow;
/// otherwise the answer carries the KYC details and `hprIdNumber: ""`.
pub async fn check_account(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    body.bool("preverifiedCheck")?;
    let (id, (index, account)) = advance(
        &hpr,
        &sh,
        &body,
        &[Step::AadhaarVerified, Step::NoAccount],
        "checking for an HPR account",
        |txn, _| {
            let account = hpr.account(&sh.fixtures.professionals[txn.professional].aadhaar);
            txn.step = if account.is_some() { Step::Done } else { Step::NoAccount };
            Ok((txn.professional, account))
        },
    )?;
    let p = &sh.fixtures.professionals[index];
    let (day, month, year) = p.birth();
    let body = match account {
        Some(a) => json!({
            "txnId": id,
            "token": token(),
            "hprIdNumber": a.hpr_id_number,
            "hprId": a.hpr_id,
            "categoryId": a.category_id,
            "subCategoryId": a.sub_category_id,
            "categoryName": a.category_name,
            "categorySubName": a.category_sub_name,
            "new": false,
            "name": p.name,
        }),
        None => json!({
            "txnId": id,
            "token": token(),
            "hprIdNumber": "",
            "categoryId": p.category_id,
            "subCategoryId": p.sub_category_id,
            "new": true,
            "name": p.name,
            "firstName": p.first_name,
            "middleName": p.middle_name,
            "lastName": p.last_name,
            "gender": p.gender,
            "yearOfBirth": year,
            "monthOfBirth": month,
            "dayOfBirth": day,
            "districtCode": p.district_code,
            "districtName": p.district,
            "stateCode": p.state_code,
            "stateName": p.state,
            "address": p.address(),
            "pincode": p.pincode,
            "profilePhoto": PHOTO,
        }),
    };
    Ok(HttpResponse::Ok().json(body))
}

/// `POST demographicAuthViaMobile {txnId, mobileNumber}` → `{verified}`: true exactly when the
/// mobile is the Aadhaar-linked one, which then counts as verified.
pub async fn demographic_auth(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let mobile = body.str("mobileNumber")?;
    checks::mobile(mobile).bad("mobileNumber")?;
    let (_, verified) = advance(
        &hpr,
        &sh,
        &body,
        &[Step::NoAccount, Step::MobileOtpSent],
        "demographic auth via mobile",
        |txn, _| {
            let verified = sh.fixtures.professionals[txn.professional].aadhaar_mobile == mobile;
            if verified {
                txn.step = Step::MobileVerified;
                txn.mobile = Some(mobile.to_string());
            }
            Ok(verified)
        },
    )?;
    Ok(HttpResponse::Ok().json(json!({"verified": verified, "demographicAuthViaMobile": verified})))
}

/// `POST generateMobileOTP {mobile, txnId}` → `{txnId, mobileNumber: null}`. Calling it again is
/// a resend: allowed 60 s after the last OTP.
pub async fn generate_mobile_otp(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let mobile = body.str("mobile")?;
    checks::mobile(mobile).bad("mobile")?;
    let (id, otp) = advance(
        &hpr,
        &sh,
        &body,
        &[Step::NoAccount, Step::MobileOtpSent],
        "sending a mobile OTP",
        |txn, now| {
            if txn.step == Step::MobileOtpSent {
                txn.otp.resend(now, "mobile")?;
                txn.otp.to = mobile.to_string();
            } else {
                txn.otp.reissue(&sh.fixtures.professionals[txn.professional].otp, mobile, now);
            }
            txn.step = Step::MobileOtpSent;
            Ok(txn.otp.clone())
        },
    )?;
    sh.outbox.send(id, &otp, "hpr-mobile-otp");
    Ok(HttpResponse::Ok().json(json!({"txnId": id, "mobileNumber": null})))
}

/// `POST verifyMobileOTP {otp, txnId}` → `{txnId, mobileNumber: null}`.
pub async fn verify_mobile_otp(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let otp = body.str("otp")?;
    checks::otp(otp).bad("otp")?;
    let (id, ()) =
        advance(&hpr, &sh, &body, &[Step::MobileOtpSent], "verifying the mobile OTP", |txn, now| {
            txn.otp.verify(otp, now, "otp")?;
            txn.mobile = Some(txn.otp.to.clone());
            txn.step = Step::MobileVerified;
            Ok(())
        })?;
    Ok(HttpResponse::Ok().json(json!({"txnId": id, "mobileNumber": null})))
}

/// `POST hpid/suggestion {txnId}` → a bare array of free usernames derived from the name.
pub async fn suggestion(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (_, index) =
        advance(&hpr, &sh, &body, &[Step::MobileVerified], "asking for HPR ID suggestions", |txn, _| {
            Ok(txn.professional)
        })?;
    Ok(HttpResponse::Ok().json(suggestions(&hpr, &sh.fixtures.professionals[index])))
}

fn suggestions(hpr: &HprState, p: &Professional) -> Vec<String> {
    let clean = |s: &str| s.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase();
    let (first, last) = (clean(&p.first_name), clean(&p.last_name));
    let (_, _, year) = p.birth();
    let yy = year.get(2..).unwrap_or_default();
    let initial = last.get(..1).unwrap_or_default();
    let candidates = [
        format!("{first}.{last}"),
        format!("{first}{last}"),
        format!("{last}.{first}"),
        format!("{first}.{last}{yy}"),
        format!("{first}{initial}{year}"),
        format!("{first}_{last}"),
    ];
    let mut out: Vec<String> = Vec::new();
    for c in candidates.into_iter().chain((1..1000).map(|n| format!("{first}.{last}{n}"))) {
        if out.len() == 5 {
            break;
        }
        if check_username(&c).is_ok() && !hpr.taken.contains_key(&c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}
