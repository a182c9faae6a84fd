//! PHR: creating an ABHA address from an ABHA number (the "Using ABHA Number" registration flow)
//! under `/phr` (the real host `https://phrsbx.abdm.gov.in`). The request fields are spelt as the
//! real service spells them, misspellings included (`healhtIdNumber`, and `phrAdress` in the
//! answer). Encrypted values (the OTP, the password) use RSA PKCS#1 v1.5 with the PHR key served at
//! `GET /phr/api/v1/phr/public/certificate`.
//!
//! ```text
//! search/auth-methods ─▶ init/transaction ─▶ [init/resendOtp after 60 s] ─▶ confirm/credential
//!   ─▶ phr/suggestion, search/isExist ─▶ create-phr-address
//! ```

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use uuid::Uuid;

use crate::accounts::{digits14, DOMAIN};
use crate::body::JsonBody;
use crate::checks;
use crate::clock::Millis;
use crate::crypto::{Padding, PHR_KEY};
use crate::error::{ApiError, ApiResult};
use crate::otp::Otp;
use crate::state::AppState;
use crate::store::Store;

/// Longest local part accepted (the policy gives none; this keeps addresses sane).
pub const MAX_ADDRESS_LEN: usize = 64;
const AUTH_METHODS: [&str; 2] = ["AADHAAR_OTP", "MOBILE_OTP"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    OtpSent,
    Verified,
    Created,
}

pub struct PhrTxn {
    abha_number: String,
    step: Step,
    otp: Otp,
}

#[derive(Default)]
pub struct PhrState {
    pub txns: Store<PhrTxn>,
}

fn expect(txn: &PhrTxn, allowed: &[Step], action: &str) -> ApiResult<()> {
    if txn.otp.locked() {
        return Err(ApiError::too_many(
            "transactionId",
            "otp-locked",
            "too many wrong OTPs; the transaction is locked, start again with init/transaction",
        ));
    }
    if allowed.contains(&txn.step) {
        return Ok(());
    }
    let at = match txn.step {
        Step::OtpSent => "OTP sent (confirm/credential next)",
        Step::Verified => "ABHA number verified (suggestion or create-phr-address next)",
        Step::Created => "ABHA address created (the flow is complete)",
    };
    Err(ApiError::rule(
        "transactionId",
        "step-order",
        format!("{action} is not allowed now: the transaction is at '{at}'"),
    ))
}

fn step<R>(
    st: &AppState,
    body: &JsonBody,
    f: impl FnOnce(&mut PhrTxn, Millis) -> ApiResult<R>,
) -> ApiResult<(Uuid, R)> {
    let id = body.txn_id("transactionId")?;
    let now = st.clock.now();
    let out = st.phr.txns.step(id, "transactionId", now, |txn| f(txn, now))?;
    Ok((id, out))
}

/// The ABHA number field, spelt `healhtIdNumber` as the real service spells it.
fn abha_number_field(body: &JsonBody) -> ApiResult<String> {
    const FIELD: &str = "healhtIdNumber";
    let value = match body.opt_str(FIELD)? {
        Some(v) => v,
        None if body.0.contains_key("healthIdNumber") => {
            return Err(ApiError::bad(
                FIELD,
                "required",
                "is required (the real service spells it 'healhtIdNumber'; 'healthIdNumber' is not read)",
            ))
        }
        None => return Err(ApiError::bad(FIELD, "required", "is required")),
    };
    let digits = digits14(value).ok_or_else(|| {
        ApiError::bad(FIELD, "abha-number-format", "must be 14 digits, as NN-NNNN-NNNN-NNNN or plain")
    })?;
    Ok(checks::dashed14(&digits))
}

async fn certificate() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body(PHR_KEY.public_spki_b64())
}

/// `{healhtIdNumber}` → `{healthIdNumber, authMethods, blockedAuthMethods, status}`.
async fn auth_methods(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let number = abha_number_field(&body)?;
    st.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    Ok(HttpResponse::Ok().json(json!({
        "healthIdNumber": number,
        "authMethods": AUTH_METHODS,
        "blockedAuthMethods": [],
        "status": "ACTIVE",
    })))
}

fn not_found(number: &str) -> ApiError {
    ApiError::rule(
        "healhtIdNumber",
        "abha-number-unknown",
        format!("no ABHA account {number} in the sandbox"),
    )
}

/// `{authMethod, healhtIdNumber}` → `{transactionId}`: sends the OTP (Aadhaar OTP to the
/// Aadhaar-linked mobile, mobile OTP to the account's mobile).
async fn init_transaction(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let method = body.str("authMethod")?;
    if !AUTH_METHODS.contains(&method) {
        return Err(ApiError::bad("authMethod", "auth-method", format!("must be one of {AUTH_METHODS:?}")));
    }
    let number = abha_number_field(&body)?;
    let account = st.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    let person = &st.fixtures.people[account.person];
    let to = if method == "AADHAAR_OTP" { &person.mobile } else { &account.mobile };
    let now = st.clock.now();
    let otp = Otp::new(&person.otp, to, now);
    let id = st
        .phr
        .txns
        .insert(PhrTxn { abha_number: account.abha_number, step: Step::OtpSent, otp: otp.clone() }, now);
    st.outbox.send(id, &otp, if method == "AADHAAR_OTP" { "phr-aadhaar-otp" } else { "phr-mobile-otp" });
    Ok(HttpResponse::Ok().json(json!({"transactionId": id})))
}

/// `{transactionId}` → `{transactionId}`: the same OTP again, 60 s after the last send.
async fn resend_otp(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let (id, otp) = step(&st, &body, |txn, now| {
        expect(txn, &[Step::OtpSent], "resending the OTP")?;
        txn.otp.resend(now, "transactionId")?;
        Ok(txn.otp.clone())
    })?;
    st.outbox.send(id, &otp, "phr-resend-otp");
    Ok(HttpResponse::Ok().json(json!({"transactionId": id})))
}

/// `{transactionId, value: enc(OTP)}` → the ABHA profile, with the addresses already linked.
async fn confirm_credential(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let otp = PHR_KEY.decrypt("value", body.str("value")?, Padding::Pkcs1)?;
    checks::otp(&otp)
        .map_err(|(rule, m)| ApiError::bad("value", rule, format!("decrypts to an OTP that {m}")))?;
    let (id, number) = step(&st, &body, |txn, now| {
        expect(txn, &[Step::OtpSent], "confirming the OTP")?;
        txn.otp.verify(&otp, now, "value")?;
        txn.step = Step::Verified;
        Ok(txn.abha_number.clone())
    })?;
    let account = st.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    let p = &st.fixtures.people[account.person];
    Ok(HttpResponse::Ok().json(json!({
        "transactionId": id,
        "healthIdNumber": account.abha_number,
        "name": p.name,
        "firstName": p.first_name,
        "middleName": p.middle_name,
        "lastName": p.last_name,
        "gender": p.gender,
        "dayOfBirth": p.day_of_birth.map(|d| d.to_string()),
        "monthOfBirth": p.month_of_birth.map(|m| m.to_string()),
        "yearOfBirth": p.year_of_birth.to_string(),
        "mobile": account.mobile,
        "email": account.email,
        "emailVerified": account.email.is_some(),
        "address": p.address.line,
        "pincode": p.address.pincode,
        "stateCode": p.address.state_code,
        "stateName": p.address.state,
        "districtCode": p.address.district_code,
        "districtName": p.address.district,
        "kycPhoto": crate::hpr::PHOTO,
        "profilePhoto": crate::hpr::PHOTO,
        "kycVerified": true,
        "authMethods": AUTH_METHODS,
        "phrAddress": account.addresses,
        "linkedPhrAddess": account.addresses.len(),
        "new": false,
        "tags": {},
        "verificationStatus": "VERIFIED",
        "verificationType": "AADHAAR",
    })))
}

/// `{transactionId}` → free addresses from the name and the e-mail's user name.
async fn suggestion(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let (_, number) = step(&st, &body, |txn, _| {
        expect(txn, &[Step::Verified], "asking for suggestions")?;
        Ok(txn.abha_number.clone())
    })?;
    let account = st.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    let p = &st.fixtures.people[account.person];
    let clean = |s: &str| {
        s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.').collect::<String>().to_lowercase()
    };
    let (first, last) = (clean(&p.first_name), clean(&p.last_name));
    let email_user =
        account.email.as_deref().and_then(|e| e.split('@').next()).map(clean).unwrap_or_default();
    let year = p.year_of_birth.to_string();
    let candidates = [
        format!("{first}.{last}"),
        format!("{first}{last}"),
        email_user,
        format!("{first}.{last}{}", &year[2..]),
        format!("{last}.{first}"),
        format!("{first}{year}"),
    ];
    let mut out: Vec<String> = Vec::new();
    for c in candidates.into_iter().chain((1..50).map(|n| format!("{first}.{last}{n}"))) {
        if out.len() == 5 {
            break;
        }
        let full = format!("{c}{DOMAIN}");
        if check_address(&c).is_ok() && !st.accounts.address_taken(&full) && !out.contains(&full) {
            out.push(full);
        }
    }
    if out.is_empty() {
        return Err(ApiError::rule("transactionId", "no-suggestion", "No Suggestion found"));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// `GET ?phrAddress=` → a bare boolean.
async fn is_exist(st: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let q = web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad("query", "query", e.to_string()))?;
    let raw = q.get("phrAddress").map(|s| s.trim()).filter(|s| !s.is_empty());
    let raw = raw.ok_or_else(|| ApiError::bad("phrAddress", "required", "query parameter is required"))?;
    let local = local_part(raw)?;
    Ok(HttpResponse::Ok().json(st.accounts.address_taken(&format!("{local}{DOMAIN}"))))
}

/// `{transactionId, phrAddress, password?: enc, alreadyExistedPHR}` → the login token.
async fn create_address(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let local = local_part(body.str("phrAddress")?)?;
    check_address(&local).map_err(|(rule, m)| ApiError::bad("phrAddress", rule, m))?;
    let password = match body.opt_str("password")? {
        Some(enc) => {
            let p = PHR_KEY.decrypt("password", enc, Padding::Pkcs1)?;
            check_password(&p).map_err(|(rule, m)| ApiError::bad("password", rule, m))?;
            Some(p)
        }
        None => None,
    };
    if body.0.get("alreadyExistedPHR").is_some_and(|v| !v.is_null()) {
        body.bool("alreadyExistedPHR")?;
    }
    let (id, number) = step(&st, &body, |txn, _| {
        expect(txn, &[Step::Verified], "creating an ABHA address")?;
        Ok(txn.abha_number.clone())
    })?;
    let address = format!("{local}{DOMAIN}");
    if !st.accounts.add_address(&number, &address, false) {
        return Err(ApiError::rule(
            "phrAddress",
            "abha-address-taken",
            format!("{address} is already taken"),
        ));
    }
    if password.is_some() {
        st.accounts.update(&number, |a| a.password = password);
    }
    let now = st.clock.now();
    let _ = st.phr.txns.step(id, "transactionId", now, |txn| {
        txn.step = Step::Created;
        Ok(())
    });
    let account = st.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    Ok(HttpResponse::Ok().json(json!({
        "token": format!("sbx-phr.{}", Uuid::new_v4().simple()),
        "expiresIn": 7200,
        "refreshToken": format!("sbx-phr-refresh.{}", Uuid::new_v4().simple()),
        "refreshExpiresIn": 86400,
        "firstName": st.fixtures.people[account.person].first_name,
        "phrAdress": address,
        "authTs": now / 1000,
    })))
}

/// The local part of an address given as `name` or `name@sbx`.
fn local_part(raw: &str) -> ApiResult<String> {
    match raw.split_once('@') {
        None => Ok(raw.to_string()),
        Some((local, domain)) if format!("@{domain}").eq_ignore_ascii_case(DOMAIN) => Ok(local.to_string()),
        Some(_) => Err(ApiError::bad(
            "phrAddress",
            "abha-address-domain",
            format!("sandbox ABHA addresses end in {DOMAIN}"),
        )),
    }
}

/// The ABHA address policy of the PHR service, each rule named.
pub fn check_address(local: &str) -> Result<(), (&'static str, String)> {
    if checks::all_digits(local) {
        return Err(match local.len() {
            14 => {
                ("abha-address-numeric", "14-digit addresses are reserved for the ABHA number itself".into())
            }
            10 => ("abha-address-mobile", "a 10-digit mobile number cannot be an ABHA address".into()),
            _ => ("abha-address-start-digit", "cannot begin with a number".into()),
        });
    }
    if !local.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return Err(("abha-address-characters", "only letters, digits and '.' are allowed".into()));
    }
    if local.len() < 4 {
        return Err(("abha-address-length", "must be at least 4 characters".into()));
    }
    if local.len() > MAX_ADDRESS_LEN {
        return Err(("abha-address-length", format!("must be at most {MAX_ADDRESS_LEN} characters")));
    }
    if local.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(("abha-address-start-digit", "cannot begin with a number".into()));
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err(("abha-address-dot", "cannot begin or end with '.'".into()));
    }
    Ok(())
}

/// The PHR password policy: 8 or more characters, an upper-case and a lower-case letter, a digit
/// and a symbol, no white space, and no more than 2 consecutive characters: no run of three
/// identical characters (`aaa`), three in sequence (`abc`, `321`) or three adjacent keyboard keys
/// (`qwe`).
pub fn check_password(p: &str) -> Result<(), (&'static str, String)> {
    checks::hpr_password(p)?;
    let lower: Vec<char> = p.to_lowercase().chars().collect();
    for w in lower.windows(3) {
        let s: String = w.iter().collect();
        if w[0] == w[1] && w[1] == w[2] {
            return Err(("password-repeat", format!("password repeats a character three times ({s:?})")));
        }
        let (a, b, c) = (w[0] as i32, w[1] as i32, w[2] as i32);
        let alnum = w.iter().all(char::is_ascii_alphanumeric);
        if alnum && ((b - a == 1 && c - b == 1) || (a - b == 1 && b - c == 1)) {
            return Err(("password-sequence", format!("password has three consecutive characters ({s:?})")));
        }
        const ROWS: [&str; 4] = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"];
        let rev: String = s.chars().rev().collect();
        if ROWS.iter().any(|row| row.contains(&s) || row.contains(&rev)) {
            return Err(("password-keyboard", format!("password has three adjacent keyboard keys ({s:?})")));
        }
    }
    Ok(())
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    const BASE: &str = "/phr/api/v1/phr";
    cfg.route(&format!("{BASE}/public/certificate"), web::get().to(certificate))
        .route(&format!("{BASE}/registration/hid/search/auth-methods"), web::post().to(auth_methods))
        .route(&format!("{BASE}/registration/hid/init/transaction"), web::post().to(init_transaction))
        .route(&format!("{BASE}/registration/hid/init/resendOtp"), web::post().to(resend_otp))
        .route(&format!("{BASE}/registration/hid/confirm/credential"), web::post().to(confirm_credential))
        .route(&format!("{BASE}/registration/phr/suggestion"), web::post().to(suggestion))
        .route(&format!("{BASE}/search/isExist"), web::get().to(is_exist))
        .route(&format!("{BASE}/registration/hid/create-phr-address"), web::post().to(create_address));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_policy_names_each_rule() {
        assert!(check_address("asha.v").is_ok());
        let rule = |s: &str| check_address(s).unwrap_err().0;
        assert_eq!(rule("91234567890129"), "abha-address-numeric");
        assert_eq!(rule("9876543210"), "abha-address-mobile");
        assert_eq!(rule("1asha"), "abha-address-start-digit");
        assert_eq!(rule("asha_v"), "abha-address-characters");
        assert_eq!(rule("ash"), "abha-address-length");
        assert_eq!(rule(".asha"), "abha-address-dot");
        assert_eq!(rule("asha."), "abha-address-dot");
    }

    #[test]
    fn password_policy_names_each_rule() {
        assert!(check_password("Sandbox@2024").is_ok());
        assert!(check_password("Tr0ub4dor&x").is_ok());
        let rule = |s: &str| check_password(s).unwrap_err().0;
        assert_eq!(rule("Short@1"), "password-policy");
        assert_eq!(rule("Paaa@w0rdx"), "password-repeat");
        assert_eq!(rule("Xabc@9z7Lm"), "password-sequence");
        assert_eq!(rule("Z987@mPq1x"), "password-sequence");
        assert_eq!(rule("Qwe@9z7Lm1"), "password-keyboard");
        assert_eq!(rule("Lm@9z7Kjh!"), "password-keyboard");
    }
}
