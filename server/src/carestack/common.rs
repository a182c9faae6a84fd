//! What every Carestack service shares: the facility a request acts for, query parameters, page
//! tokens as the SDK carries them (`nextPageLink` back as `?nextPage=`), and the field rules of
//! the SDK's DTOs, each refusal naming the field.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use chrono::NaiveDate;
use serde_json::json;

use crate::body::header;
use crate::clock::Millis;
use crate::error::{ApiError, ApiResult};

/// The states and union territories the SDK's `StatesAndUnionTerritories` lists, as it spells
/// them (a patient's or practitioner's `state` must be one, exactly).
pub const SDK_STATES: [&str; 37] = [
    "Andhra Pradesh",
    "Arunachal Pradesh",
    "Assam",
    "Bihar",
    "Chattisgarh",
    "Goa",
    "Gujarat",
    "Haryana",
    "Himachal Pradesh",
    "Jharkhand",
    "Karnataka",
    "Kerala",
    "Madhya Pradesh",
    "Maharashtra",
    "Manipur",
    "Meghalaya",
    "Mizoram",
    "Nagaland",
    "Odisha",
    "Punjab",
    "Rajasthan",
    "Sikkim",
    "Tamil Nadu",
    "Telangana",
    "Tripura",
    "Uttar Pradesh",
    "Uttarakhand",
    "West Bengal",
    "Andaman and Nicobar",
    "Lakshadweep",
    "Delhi",
    "Dadra and Nagar Haveli and Daman & Diu",
    "Jammu and Kashmir",
    "Chandigarh",
    "Ladakh",
    "Puducherry",
    "Unknown",
];

/// The HI types of the SDK's `HealthInformationTypes`.
pub use crate::checks::RECORD_HI_TYPES as HI_TYPES;

/// Items per page of a list, unless the request says (`_count`).
pub const PAGE_SIZE: usize = 10;

/// The facility a request acts for: its `facilityid` header (the credential check makes sure
/// there is one).
pub fn facility(req: &HttpRequest) -> String {
    header(req, "facilityid").unwrap_or_default().to_string()
}

/// A query string as (name, value) pairs, repeated names kept (`careContexts[]=a&careContexts[]=b`).
pub type Query = web::Query<Vec<(String, String)>>;

/// The first value of a query parameter, trimmed, `None` when absent or empty.
pub fn param<'a>(q: &'a Query, name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

/// Every value of a query parameter.
pub fn params<'a>(q: &'a Query, name: &str) -> Vec<&'a str> {
    q.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty()).collect()
}

/// One page of `items` from the offset a `nextPage` token carries (the first page without one),
/// and the token of the page after it, if any. Tokens are the offset in base64, as the SDK's
/// docstrings show them (`"OTc="`).
pub fn page<T>(items: Vec<T>, token: Option<&str>, size: usize) -> ApiResult<(Vec<T>, Option<String>)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let offset = match token {
        None => 0,
        Some(t) => b64
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .ok_or_else(|| {
                ApiError::bad("nextPage", "page-token", format!("{t:?} is not a page token this API gave"))
            })?,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(size).collect();
    let after = offset.saturating_add(size);
    let next = (after < total).then(|| b64.encode(after.to_string()));
    Ok((page, next))
}

/// `GET /get/{Resource}[?nextPage=]`: a page of `resources`, oldest first, as the SDK reads a list
/// (`message`, `requestResource`, `totalNumberOfRecords`, `nextPageLink`).
pub fn listed(resources: &super::resources::Resources, q: &Query, message: &str) -> ApiResult<HttpResponse> {
    let all = resources.all();
    let total = all.len();
    let (items, next) = page(all, param(q, "nextPage"), PAGE_SIZE)?;
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": message,
        "requestResource": items, "totalNumberOfRecords": total, "nextPageLink": next})))
}

/// A 404 naming the field.
pub fn not_found(field: &str, rule: &'static str, why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, rule, format!("{field}: {}", why.into())).field(field)
}

/// A 409 naming the field.
pub fn conflict(field: &str, rule: &'static str, why: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, rule, format!("{field}: {}", why.into())).field(field)
}

/// `value` as one of `allowed`, compared ignoring case when `fold`; the allowed spelling.
pub fn one_of(field: &str, value: &str, allowed: &[&'static str], fold: bool) -> ApiResult<&'static str> {
    allowed
        .iter()
        .find(|a| if fold { a.eq_ignore_ascii_case(value) } else { **a == value })
        .copied()
        .ok_or_else(|| ApiError::bad(field, "enum", format!("{value:?} is not one of {allowed:?}")))
}

/// A name as the SDK's DTOs allow it: letters and dots only, at least `min` characters.
pub fn person_name(field: &str, value: &str, min: usize) -> ApiResult<()> {
    if !value.chars().all(|c| c.is_ascii_alphabetic() || c == '.') {
        return Err(ApiError::bad(field, "name-format", format!("{value:?}: letters and dots only")));
    }
    if value.chars().count() < min {
        return Err(ApiError::bad(field, "name-format", format!("at least {min} characters")));
    }
    Ok(())
}

/// A mobile number as the SDK writes it: `+91` and 10 digits.
pub fn mobile(field: &str, value: &str) -> ApiResult<()> {
    let digits = value.strip_prefix("+91").unwrap_or("");
    if digits.len() == 10 && crate::checks::all_digits(digits) && !digits.starts_with('0') {
        Ok(())
    } else {
        Err(ApiError::bad(field, "mobile-format", format!("{value:?}: +91 and a 10-digit mobile number")))
    }
}

/// An e-mail address.
pub fn email(field: &str, value: &str) -> ApiResult<()> {
    crate::checks::email(value).map_err(|r| ApiError::bad(field, r.name, r.message))
}

/// A six-digit pincode.
pub fn pincode(field: &str, value: &str) -> ApiResult<()> {
    crate::checks::pincode(value).map_err(|r| ApiError::bad(field, r.name, r.message))
}

/// A date `YYYY-MM-DD`; with `past`, not after `now`.
pub fn date(field: &str, value: &str, past: Option<Millis>) -> ApiResult<NaiveDate> {
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::bad(field, "date", format!("{value:?} is not a date YYYY-MM-DD")))?;
    if let Some(now) = past {
        let today = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default().date_naive();
        if d > today {
            return Err(ApiError::bad(field, "date", format!("{value} is in the future")));
        }
    }
    Ok(d)
}

/// An ISO-8601 date-time, in milliseconds.
pub use crate::body::date_time as datetime;

/// An ABHA address: `name@sbx` (or `@abdm`), the name 4 to 32 letters, digits, dots and
/// underscores.
pub fn abha_address(field: &str, value: &str) -> ApiResult<()> {
    let ok = value.split_once('@').is_some_and(|(name, domain)| {
        (4..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
            && ["sbx", "abdm"].contains(&domain)
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(field, "abha-address", format!("{value:?} is not an ABHA address (name@sbx)")))
    }
}

/// A reference the SDK requires to be a UUID (36 characters).
pub fn uuid(field: &str, value: &str) -> ApiResult<()> {
    crate::body::parse_uuid(field, value).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_offset() {
        let (first, next) = page((0..25).collect::<Vec<_>>(), None, 10).unwrap();
        assert_eq!((first.len(), next.as_deref()), (10, Some("MTA=")));
        let (last, next) = page((0..25).collect::<Vec<_>>(), Some("MjA="), 10).unwrap();
        assert_eq!((last, next), (vec![20, 21, 22, 23, 24], None));
        assert_eq!(page(vec![1], Some("x"), 10).unwrap_err().rule, "page-token");
        // An offset past the end (or past usize) is an empty last page, not a panic.
        let huge = base64::engine::general_purpose::STANDARD.encode(usize::MAX.to_string());
        assert_eq!(page(vec![1], Some(&huge), 10).unwrap(), (vec![], None));
    }

    #[test]
    fn field_rules() {
        assert!(mobile("m", "+919876543210").is_ok());
        assert!(mobile("m", "9876543210").is_err());
        assert!(person_name("f", "Jo", 3).is_err() && person_name("f", "J.Doe", 3).is_ok());
        assert!(abha_address("a", "asha.verma@sbx").is_ok() && abha_address("a", "asha@x").is_err());
        assert_eq!(one_of("g", "MALE", &["male", "female"], true).unwrap(), "male");
        assert!(date("d", "2999-01-01", Some(0)).is_err());
    }
}
