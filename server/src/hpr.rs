//! HPR ID registration (Healthcare Professional Registry): one state machine served under ABDM's
//! paths (`/hpr/api/v1|v2/registration/aadhaar/...`) and, through [`crate::carestack`], under the
//! Carestack EHR API's paths. Responses carry the union of the field names both clients read
//! (for example `mobile` and `mobileNumber`), so one handler serves both.
//!
//! The flow, keyed by `txnId`:
//!
//! ```text
//! generateOtp ─▶ verifyOTP ─▶ checkHpIdAccountExist ─┬─▶ (account exists: flow ends)
//!                                                    └─▶ demographicAuthViaMobile ─┬─ verified ─────────────┐
//!                                                        generateMobileOTP ◀───────┘ not verified           ▼
//!                                                          └─▶ verifyMobileOTP ─────────▶ hpid/suggestion ─▶ createHprIdWithPreVerified
//! ```

use actix_web::{web, HttpResponse};
use dashmap::{DashMap, DashSet};
use serde_json::json;
use uuid::Uuid;

use crate::body::JsonBody;
use crate::checks::{self, mask};
use crate::clock::Millis;
use crate::error::{ApiError, ApiResult, Checked, Rule};
use crate::fixtures::{Fixtures, Professional, PHOTO};
use crate::flow::{self, Guard};
use crate::masters;
use crate::otp::Otp;
use crate::shared::Shared;
use crate::store::Store;

/// The domain of every HPR ID.
pub const DOMAIN: &str = "@hpr.abdm";
/// The `idType` verifyOTP takes.
pub const ID_TYPE: &str = "hpr_id";

/// The steps of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AadhaarOtpSent,
    AadhaarVerified,
    NoAccount,
    MobileOtpSent,
    MobileVerified,
    /// The flow has ended: the account existed, or it was created.
    Done,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::AadhaarOtpSent => "Aadhaar OTP sent (verify it next)",
            Step::AadhaarVerified => "Aadhaar verified (check for an account next)",
            Step::NoAccount => "no HPR account (verify the mobile next)",
            Step::MobileOtpSent => "mobile OTP sent (verify it next)",
            Step::MobileVerified => "mobile verified (suggestions or create next)",
            Step::Done => "flow ended",
        }
    }
}

/// One registration, keyed by `txnId`.
pub struct HprTxn {
    professional: usize,
    step: Step,
    otp: Otp,
    /// The verified communication mobile, once known.
    mobile: Option<String>,
}

impl flow::Txn for HprTxn {
    type Step = Step;
    const RESTART: &'static str = "start again with generateOtp";
    fn step(&self) -> Step {
        self.step
    }
    fn locked(&self) -> bool {
        self.otp.locked()
    }
}

/// An HPR account: from the fixtures or created through the flow.
#[derive(Debug, Clone)]
pub struct HprAccount {
    /// `71-NNNN-NNNN-NNNN`.
    pub hpr_id_number: String,
    /// `name@hpr.abdm`.
    pub hpr_id: String,
    category_id: u32,
    sub_category_id: u32,
    category_name: String,
    category_sub_name: String,
}

/// HPR's transactions and accounts.
pub struct HprState {
    txns: Store<HprTxn>,
    /// Accounts by the professional's Aadhaar.
    accounts: DashMap<String, HprAccount>,
    /// Taken HPR ID usernames (lower case, without the domain) → Aadhaar.
    taken: DashMap<String, String>,
    /// HPR ID numbers in use.
    numbers: DashSet<String>,
}

impl HprState {
    /// The accounts of the fixtures, no transactions.
    pub fn new(fixtures: &Fixtures) -> Self {
        let state = HprState {
            txns: Store::default(),
            accounts: DashMap::new(),
            taken: DashMap::new(),
            numbers: DashSet::new(),
        };
        state.reset(fixtures);
        state
    }

    /// Back to the fixtures' accounts, no transactions.
    pub fn reset(&self, fixtures: &Fixtures) {
        self.txns.clear();
        self.accounts.clear();
        self.taken.clear();
        self.numbers.clear();
        for p in &fixtures.professionals {
            if let (Some(number), Some(id)) = (&p.hpr_id_number, &p.hpr_id) {
                self.taken.insert(username(id).to_lowercase(), p.aadhaar.clone());
                self.numbers.insert(number.clone());
                self.accounts.insert(
                    p.aadhaar.clone(),
                    HprAccount {
                        hpr_id_number: number.clone(),
                        hpr_id: id.clone(),
                        category_id: p.category_id,
                        sub_category_id: p.sub_category_id,
                        category_name: p.category_name.clone(),
                        category_sub_name: p.category_sub_name.clone(),
                    },
                );
            }
        }
    }

    /// Drops expired transactions; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.txns.sweep(now)
    }

    /// Live transactions.
    pub fn live(&self) -> usize {
        self.txns.len()
    }

    /// Creates `p`'s account under the username `lower`, minting its number: the username is
    /// claimed first, then the account, each atomically, so two racing creates cannot both win.
    fn claim(&self, p: &Professional, lower: &str, mut account: HprAccount) -> ApiResult<HprAccount> {
        match self.taken.entry(lower.to_string()) {
            dashmap::Entry::Occupied(_) => {
                return Err(ApiError::rule(
                    "hprId",
                    "hpr-id-taken",
                    format!("{lower}{DOMAIN} is already taken; ask for suggestions"),
                ))
            }
            dashmap::Entry::Vacant(v) => {
                v.insert(p.aadhaar.clone());
            }
        }
        match self.accounts.entry(p.aadhaar.clone()) {
            dashmap::Entry::Occupied(_) => {
                self.taken.remove(lower);
                Err(ApiError::rule(
                    "txnId",
                    "hpr-account-exists",
                    "this professional already has an HPR account",
                ))
            }
            dashmap::Entry::Vacant(v) => {
                account.hpr_id_number = mint_number(self);
                v.insert(account.clone());
                Ok(account)
            }
        }
    }

    /// The current account of a professional, if any (fixture or created).
    pub fn account(&self, aadhaar: &str) -> Option<HprAccount> {
        self.accounts.get(aadhaar).map(|a| a.clone())
    }
}

/// `kavita.rao@hpr.abdm` → `kavita.rao`.
fn username(hpr_id: &str) -> &str {
    hpr_id.strip_suffix(DOMAIN).unwrap_or(hpr_id)
}

/// The HPR ID username rule: 3–64 characters of letters, digits, `.`, `_` and `-`, starting with
/// a letter or digit.
pub fn check_username(name: &str) -> Result<(), Rule> {
    let ok_len = (3..=64).contains(&name.len());
    let ok_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let ok_start = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(Rule::new(
            "hpr-id-format",
            format!("{name:?} breaks the HPR ID rule: 3-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"),
        ))
    }
}

fn token() -> String {
    format!("hpr.{}", Uuid::new_v4().simple())
}

/// One step of the flow on the transaction named by the body's `txnId`; see [`flow`].
fn advance<R>(
    hpr: &HprState,
    sh: &Shared,
    body: &JsonBody,
    allowed: &[Step],
    action: &str,
    f: impl FnOnce(&mut HprTxn, Millis) -> ApiResult<R>,
) -> ApiResult<(Uuid, R)> {
    let id = body.txn_id("txnId")?;
    let now = sh.clock.now();
    let out = hpr.txns.advance(id, now, Guard { field: "txnId", allowed, action }, |txn| f(txn, now))?;
    Ok((id, out))
}

/// `POST generateOtp {aadhaar}` → `{txnId, mobileNumber}`: sends the Aadhaar OTP to the
/// Aadhaar-linked mobile.
async fn generate_otp(
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
async fn verify_otp(
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
async fn check_account(
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
async fn demographic_auth(
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
async fn generate_mobile_otp(
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
async fn verify_mobile_otp(
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
async fn suggestion(
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

/// `POST createHprIdWithPreVerified {...}` → the new account. Checks the username rule, the
/// password policy, the names, the birth date, the codes and that the username is free; mints a
/// 14-digit HPR ID number; the professional is an existing account from then on.
async fn create(sh: web::Data<Shared>, hpr: web::Data<HprState>, body: JsonBody) -> ApiResult<HttpResponse> {
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

/// A fresh 14-digit HPR ID number, `71-NNNN-NNNN-NNNN`, not used by any account.
fn mint_number(hpr: &HprState) -> String {
    loop {
        let n: u64 = rand::random::<u64>() % 1_000_000_000_000;
        let number = checks::dashed14(&format!("71{n:012}"));
        if hpr.numbers.insert(number.clone()) {
            return number;
        }
    }
}

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
