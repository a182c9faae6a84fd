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

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::accounts::{digits14, DOMAIN};
use crate::body::JsonBody;
use crate::checks;
use crate::clock::Millis;
use crate::crypto::{Padding, PHR_KEY};
use crate::error::{ApiError, ApiResult, Checked, Rule};
use crate::fixtures::PHOTO;
use crate::flow::{self, Guard};
use crate::otp::Otp;
use crate::shared::Shared;
use crate::store::Store;

/// Longest local part accepted (the policy gives none; this keeps addresses sane).
pub const MAX_ADDRESS_LEN: usize = 64;
const AUTH_METHODS: [&str; 2] = ["AADHAAR_OTP", "MOBILE_OTP"];

/// The steps of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    OtpSent,
    Verified,
    Created,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::OtpSent => "OTP sent (confirm/credential next)",
            Step::Verified => "ABHA number verified (suggestion or create-phr-address next)",
            Step::Created => "ABHA address created (the flow is complete)",
        }
    }
}

/// One address creation, keyed by `transactionId`.
pub struct PhrTxn {
    abha_number: String,
    step: Step,
    otp: Otp,
}

impl flow::Txn for PhrTxn {
    type Step = Step;
    const RESTART: &'static str = "start again with init/transaction";
    fn step(&self) -> Step {
        self.step
    }
    fn locked(&self) -> bool {
        self.otp.locked()
    }
}

/// PHR's transactions.
pub type PhrState = Store<PhrTxn>;

/// One step of the flow on the transaction named by the body's `transactionId`; see [`flow`].
fn advance<R>(
    sh: &Shared,
    phr: &PhrState,
    body: &JsonBody,
    allowed: &[Step],
    action: &str,
    f: impl FnOnce(&mut PhrTxn, Millis) -> ApiResult<R>,
) -> ApiResult<(Uuid, R)> {
    let id = body.txn_id("transactionId")?;
    let now = sh.clock.now();
    let guard = Guard { field: "transactionId", allowed, action };
    let out = phr.advance(id, now, guard, |txn| f(txn, now))?;
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
async fn auth_methods(sh: web::Data<Shared>, body: JsonBody) -> ApiResult<HttpResponse> {
    let number = abha_number_field(&body)?;
    sh.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
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
async fn init_transaction(
    sh: web::Data<Shared>,
    phr: web::Data<PhrState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let method = body.str("authMethod")?;
    if !AUTH_METHODS.contains(&method) {
        return Err(ApiError::bad("authMethod", "auth-method", format!("must be one of {AUTH_METHODS:?}")));
    }
    let number = abha_number_field(&body)?;
    let account = sh.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    let person = &sh.fixtures.people[account.person];
    let to = if method == "AADHAAR_OTP" { &person.mobile } else { &account.mobile };
    let now = sh.clock.now();
    let otp = Otp::new(&person.otp, to, now);
    let id =
        phr.insert(PhrTxn { abha_number: account.abha_number, step: Step::OtpSent, otp: otp.clone() }, now);
    sh.outbox.send(id, &otp, if method == "AADHAAR_OTP" { "phr-aadhaar-otp" } else { "phr-mobile-otp" });
    Ok(HttpResponse::Ok().json(json!({"transactionId": id})))
}

/// `{transactionId}` → `{transactionId}`: the same OTP again, 60 s after the last send.
async fn resend_otp(
    sh: web::Data<Shared>,
    phr: web::Data<PhrState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (id, otp) = advance(&sh, &phr, &body, &[Step::OtpSent], "resending the OTP", |txn, now| {
        txn.otp.resend(now, "transactionId")?;
        Ok(txn.otp.clone())
    })?;
    sh.outbox.send(id, &otp, "phr-resend-otp");
    Ok(HttpResponse::Ok().json(json!({"transactionId": id})))
}

/// `{transactionId, value: enc(OTP)}` → the ABHA profile, with the addresses already linked.
async fn confirm_credential(
    sh: web::Data<Shared>,
    phr: web::Data<PhrState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let otp = PHR_KEY.decrypt("value", body.str("value")?, Padding::Pkcs1)?;
    checks::otp(&otp).bad_noting("value", "decrypts to an OTP that ")?;
    let (id, number) = advance(&sh, &phr, &body, &[Step::OtpSent], "confirming the OTP", |txn, now| {
        txn.otp.verify(&otp, now, "value")?;
        txn.step = Step::Verified;
        Ok(txn.abha_number.clone())
    })?;
    let account = sh.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    let p = &sh.fixtures.people[account.person];
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
        "kycPhoto": PHOTO,
        "profilePhoto": PHOTO,
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
async fn suggestion(
    sh: web::Data<Shared>,
    phr: web::Data<PhrState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (_, number) = advance(&sh, &phr, &body, &[Step::Verified], "asking for suggestions", |txn, _| {
        Ok(txn.abha_number.clone())
    })?;
    let account = sh.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    let p = &sh.fixtures.people[account.person];
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
        format!("{first}.{last}{}", year.get(2..).unwrap_or_default()),
        format!("{last}.{first}"),
        format!("{first}{year}"),
    ];
    let mut out: Vec<String> = Vec::new();
    for c in candidates.into_iter().chain((1..50).map(|n| format!("{first}.{last}{n}"))) {
        if out.len() == 5 {
            break;
        }
        let full = format!("{c}{DOMAIN}");
        if check_address(&c).is_ok() && !sh.accounts.address_taken(&full) && !out.contains(&full) {
            out.push(full);
        }
    }
    if out.is_empty() {
        return Err(ApiError::rule("transactionId", "no-suggestion", "No Suggestion found"));
    }
    Ok(HttpResponse::Ok().json(out))
}

/// The query of `search/isExist`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IsExist {
    phr_address: Option<String>,
}

/// `GET ?phrAddress=` → a bare boolean.
async fn is_exist(sh: web::Data<Shared>, q: web::Query<IsExist>) -> ApiResult<HttpResponse> {
    let raw = q.phr_address.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let raw = raw.ok_or_else(|| ApiError::bad("phrAddress", "required", "query parameter is required"))?;
    let local = local_part(raw)?;
    Ok(HttpResponse::Ok().json(sh.accounts.address_taken(&format!("{local}{DOMAIN}"))))
}

/// `{transactionId, phrAddress, password?: enc, alreadyExistedPHR}` → the login token.
async fn create_address(
    sh: web::Data<Shared>,
    phr: web::Data<PhrState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let local = local_part(body.str("phrAddress")?)?;
    check_address(&local).bad("phrAddress")?;
    let password = match body.opt_str("password")? {
        Some(enc) => {
            let p = PHR_KEY.decrypt("password", enc, Padding::Pkcs1)?;
            check_password(&p).bad("password")?;
            Some(p)
        }
        None => None,
    };
    if body.0.get("alreadyExistedPHR").is_some_and(|v| !v.is_null()) {
        body.bool("alreadyExistedPHR")?;
    }
    let address = format!("{local}{DOMAIN}");
    let (_, number) = advance(&sh, &phr, &body, &[Step::Verified], "creating an ABHA address", |txn, _| {
        let number = txn.abha_number.clone();
        if !sh.accounts.add_address(&number, &address, false) {
            return Err(ApiError::rule(
                "phrAddress",
                "abha-address-taken",
                format!("{address} is already taken"),
            ));
        }
        txn.step = Step::Created;
        Ok(number)
    })?;
    if password.is_some() {
        sh.accounts.update(&number, |a| a.password = password);
    }
    let now = sh.clock.now();
    let account = sh.accounts.by_number(&number).ok_or_else(|| not_found(&number))?;
    Ok(HttpResponse::Ok().json(json!({
        "token": format!("sbx-phr.{}", Uuid::new_v4().simple()),
        "expiresIn": 7200,
        "refreshToken": format!("sbx-phr-refresh.{}", Uuid::new_v4().simple()),
        "refreshExpiresIn": 86400,
        "firstName": sh.fixtures.people[account.person].first_name,
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
pub fn check_address(local: &str) -> Result<(), Rule> {
    if checks::all_digits(local) {
        return Err(match local.len() {
            14 => Rule::new(
                "abha-address-numeric",
                "14-digit addresses are reserved for the ABHA number itself".to_string(),
            ),
            10 => Rule::new(
                "abha-address-mobile",
                "a 10-digit mobile number cannot be an ABHA address".to_string(),
            ),
            _ => Rule::new("abha-address-start-digit", "cannot begin with a number".to_string()),
        });
    }
    if !local.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.') {
        return Err(Rule::new(
            "abha-address-characters",
            "only letters, digits and '.' are allowed".to_string(),
        ));
    }
    if local.len() < 4 {
        return Err(Rule::new("abha-address-length", "must be at least 4 characters".to_string()));
    }
    if local.len() > MAX_ADDRESS_LEN {
        return Err(Rule::new(
            "abha-address-length",
            format!("must be at most {MAX_ADDRESS_LEN} characters"),
        ));
    }
    if local.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(Rule::new("abha-address-start-digit", "cannot begin with a number".to_string()));
    }
    if local.starts_with('.') || local.ends_with('.') {
        return Err(Rule::new("abha-address-dot", "cannot begin or end with '.'".to_string()));
    }
    Ok(())
}

/// The PHR password policy: 8 or more characters, an upper-case and a lower-case letter, a digit
/// and a symbol, no white space, and no more than 2 consecutive characters: no run of three
/// identical characters (`aaa`), three in sequence (`abc`, `321`) or three adjacent keyboard keys
/// (`qwe`).
pub fn check_password(p: &str) -> Result<(), Rule> {
    checks::hpr_password(p)?;
    let lower: Vec<char> = p.to_lowercase().chars().collect();
    for w in lower.windows(3) {
        let s: String = w.iter().collect();
        if w[0] == w[1] && w[1] == w[2] {
            return Err(Rule::new(
                "password-repeat",
                format!("password repeats a character three times ({s:?})"),
            ));
        }
        let (a, b, c) = (w[0] as i32, w[1] as i32, w[2] as i32);
        let alnum = w.iter().all(char::is_ascii_alphanumeric);
        if alnum && ((b - a == 1 && c - b == 1) || (a - b == 1 && b - c == 1)) {
            return Err(Rule::new(
                "password-sequence",
                format!("password has three consecutive characters ({s:?})"),
            ));
        }
        const ROWS: [&str; 4] = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"];
        let rev: String = s.chars().rev().collect();
        if ROWS.iter().any(|row| row.contains(&s) || row.contains(&rev)) {
            return Err(Rule::new(
                "password-keyboard",
                format!("password has three adjacent keyboard keys ({s:?})"),
            ));
        }
    }
    Ok(())
}

/// The PHR routes under `/phr/api/v1/phr`.
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
        let rule = |s: &str| check_address(s).unwrap_err().name;
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
        let rule = |s: &str| check_password(s).unwrap_err().name;
        assert_eq!(rule("Short@1"), "password-policy");
        assert_eq!(rule("Paaa@w0rdx"), "password-repeat");
        assert_eq!(rule("Xabc@9z7Lm"), "password-sequence");
        assert_eq!(rule("Z987@mPq1x"), "password-sequence");
        assert_eq!(rule("Qwe@9z7Lm1"), "password-keyboard");
        assert_eq!(rule("Lm@9z7Kjh!"), "password-keyboard");
    }
}
