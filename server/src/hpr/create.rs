//! The last HPR registration step: creating the HPR ID.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::body::JsonBody;
use crate::checks::{self};
use crate::error::{ApiError, ApiResult, Checked};
use crate::fixtures::{Professional, PHOTO};
use crate::masters;
use crate::shared::Shared;

use super::txn::*;

/// `POST createHprIdWithPreVerified {...}` → the new account. Checks the username rule, the
/// password policy, the names, the birth date, the codes and that the username is free; mints a
/// 14-digit HPR ID number; the professional is an existing account from then on.
pub async fn create(
    sh: web::Data<Shared>,
    hpr: web::Data<HprState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let requested = body.str("hprId")?;
    let wanted = username(requested);
    if wanted.contains('@') {
        return Err(ApiError::bad("hprId", "hpr-domain", format!("the HPR ID domain must be {DOMAIN:?}")));
    }
    check_username(wanted).bad("hprId")?;
    let password = body.str("password")?;
    checks::hpr_password(password).bad("password")?;
    let first_name = name_field(&body, "firstName", true)?.unwrap_or_default();
    let middle_name = name_field(&body, "middleName", false)?.unwrap_or_default();
    let last_name = name_field(&body, "lastName", false)?.unwrap_or_default();
    if let Some(email) = body.opt_str("email")? {
        checks::email(email).bad("email")?;
    }
    if let Some(pin) = body.opt_str("pincode")? {
        checks::pincode(pin).bad("pincode")?;
    }
    if let Some(photo) = body.opt_str("profilePhoto")? {
        if !photo.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=\r\n".contains(&b)) {
            return Err(ApiError::bad("profilePhoto", "base64", "must be base64 image data"));
        }
    }
    body.opt_str("address")?;
    let category = body
        .opt_uint("hpCategoryCode")?
        .ok_or_else(|| ApiError::bad("hpCategoryCode", "required", "is required"))?;
    let sub_category = body
        .opt_uint("hpSubCategoryCode")?
        .ok_or_else(|| ApiError::bad("hpSubCategoryCode", "required", "is required"))?;
    let (category_name, category_sub_name) = masters::hpr_category(category as u32, sub_category as u32)
        .map_err(|field| {
            ApiError::bad(
                field,
                "hpr-category",
                format!(
                    "unknown category {category}/{sub_category}; known: {:?}",
                    masters::HPR_CATEGORIES
                        .iter()
                        .map(|(c, n, s)| (c, n, s.iter().map(|(k, _)| k).collect::<Vec<_>>()))
                        .collect::<Vec<_>>()
                ),
            )
        })?;
    let state_code =
        body.opt_uint("stateCode")?.ok_or_else(|| ApiError::bad("stateCode", "required", "is required"))?;
    let state_name = masters::state_name(state_code as u32).ok_or_else(|| {
        ApiError::bad("stateCode", "lgd-state", format!("{state_code} is not an LGD state code"))
    })?;
    let district_code = body
        .opt_uint("districtCode")?
        .ok_or_else(|| ApiError::bad("districtCode", "required", "is required"))?;

    let lower = wanted.to_lowercase();
    let account = HprAccount {
        hpr_id_number: String::new(),
        hpr_id: format!("{lower}{DOMAIN}"),
        category_id: category as u32,
        sub_category_id: sub_category as u32,
        category_name: category_name.to_string(),
        category_sub_name: category_sub_name.to_string(),
    };
    let (_, (index, mobile, birth, account)) =
        advance(&hpr, &sh, &body, &[Step::MobileVerified], "creating the HPR ID", |txn, _| {
            let p = &sh.fixtures.professionals[txn.professional];
            let birth = birth_date(&body, p)?;
            let account = hpr.claim(p, &lower, account)?;
            txn.step = Step::Done;
            Ok((txn.professional, txn.mobile.clone().unwrap_or_default(), birth, account))
        })?;
    let p = &sh.fixtures.professionals[index];
    let (day, month, year) = birth;
    let name = [first_name, middle_name, last_name]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(HttpResponse::Ok().json(json!({
        "token": token(),
        "hprIdNumber": account.hpr_id_number,
        "hprId": account.hpr_id,
        "name": name,
        "firstName": first_name,
        "middleName": middle_name,
        "lastName": last_name,
        "gender": p.gender,
        "yearOfBirth": year,
        "monthOfBirth": month,
        "dayOfBirth": day,
        "email": body.opt_str("email")?.unwrap_or_default(),
        "mobile": mobile,
        "stateCode": state_code.to_string(),
        "stateName": state_name,
        "districtCode": district_code.to_string(),
        "districtName": if p.district_code == district_code.to_string() { p.district.as_str() } else { "" },
        "kycPhoto": PHOTO,
        "categoryId": account.category_id,
        "subCategoryId": account.sub_category_id,
        "categoryName": account.category_name,
        "categorySubName": account.category_sub_name,
        "authMethods": ["AADHAAR_OTP", "MOBILE_OTP", "PASSWORD"],
        "new": true,
    })))
}

fn name_field<'a>(body: &'a JsonBody, key: &str, required: bool) -> ApiResult<Option<&'a str>> {
    let value = if required { Some(body.str(key)?) } else { body.opt_str(key)? };
    if let Some(v) = value {
        if v.len() > 99 || !v.chars().all(|c| c.is_alphabetic() || " .'".contains(c)) {
            return Err(ApiError::bad(
                key,
                "name-format",
                "must be letters, spaces, '.' or apostrophes, at most 99 characters",
            ));
        }
    }
    Ok(value)
}

/// The birth date given in the create request (all three parts or none; none means the Aadhaar
/// one), as (day, month, year) strings. It must be a real date in the past.
fn birth_date(body: &JsonBody, p: &Professional) -> ApiResult<(String, String, String)> {
    let parts = [body.opt_uint("dayOfBirth")?, body.opt_uint("monthOfBirth")?, body.opt_uint("yearOfBirth")?];
    match parts {
        [None, None, None] => Ok(p.birth()),
        [Some(d), Some(m), Some(y)] => {
            let field = if !(1..=31).contains(&d) {
                Some("dayOfBirth")
            } else if !(1..=12).contains(&m) {
                Some("monthOfBirth")
            } else if !(1900..=9999).contains(&y) {
                Some("yearOfBirth")
            } else {
                None
            };
            if let Some(field) = field {
                return Err(ApiError::bad(field, "birth-date", "day 1-31, month 1-12, year of 4 digits"));
            }
            let date = chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).ok_or_else(|| {
                ApiError::bad("dayOfBirth", "birth-date", format!("{d:02}-{m:02}-{y} is not a date"))
            })?;
            if date > chrono::Utc::now().date_naive() {
                return Err(ApiError::bad("yearOfBirth", "birth-date", "the birth date is in the future"));
            }
            Ok((format!("{d:02}"), format!("{m:02}"), y.to_string()))
        }
        _ => {
            let missing = ["dayOfBirth", "monthOfBirth", "yearOfBirth"]
                [parts.iter().position(Option::is_none).unwrap_or(0)];
            Err(ApiError::bad(
                missing,
                "birth-date",
                "give day, month and year of birth together, or none of them",
            ))
        }
    }
}
