//! ABHA v3 enrolment by Aadhaar OTP (`/abha/api/v3/...`) and the profile it yields. The flow
//! functions here take decrypted, checked values; the v3 handlers below and the Carestack ABHA
//! routes ([`crate::carestack`]) only parse their own request shapes into them.
//!
//! ```text
//! request/otp (abha-enrol, Aadhaar) ─▶ enrol/byAadhaar ─┬─▶ enrol/suggestion ─▶ enrol/abha-address
//!   (same call with the txnId: resend)                  └─▶ request/otp (mobile-verify | email-verify)
//!                                                             ─▶ auth/byAbdm ─▶ (back to suggestions)
//! ```
//!
//! Every encrypted field (Aadhaar, mobile, e-mail as `loginId`; every `otpValue`) is RSA-OAEP
//! SHA-1 with the key served at `GET /abha/api/v3/profile/public/certificate`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::{AbhaAccount, DOMAIN};
use crate::body::{bearer, header, parse_uuid, JsonBody, Obj};
use crate::checks::{self, mask};
use crate::clock::{Millis, MINUTE, SECOND};
use crate::crypto::{Padding, ABHA_ALGORITHM, ABHA_KEY};
use crate::error::{ApiError, ApiResult};
use crate::fixtures::Person;
use crate::otp::Otp;
use crate::state::AppState;
use crate::store::Store;

pub const CONSENT_CODE: &str = "abha-enrollment";
pub const CONSENT_VERSION: &str = "1.4";
/// Lifetime of the user token (`X-token`) issued at enrolment, in seconds.
pub const TOKEN_SECONDS: i64 = 1800;
pub const REFRESH_SECONDS: i64 = 1_296_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    AadhaarOtpSent,
    Enrolled,
    AddressCreated,
}

/// What a pending verification OTP verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Mobile(String),
    Email(String),
}

impl Contact {
    fn scope(&self) -> &'static str {
        match self {
            Contact::Mobile(_) => "mobile-verify",
            Contact::Email(_) => "email-verify",
        }
    }
}

pub struct AbhaTxn {
    person: usize,
    step: Step,
    otp: Otp,
    /// The contact a verification OTP was sent to and not yet verified.
    pending: Option<Contact>,
    abha_number: Option<String>,
}

pub struct AbhaState {
    pub txns: Store<AbhaTxn>,
    /// User tokens (the X-token) → ABHA number.
    pub tokens: Store<String>,
}

impl Default for AbhaState {
    fn default() -> Self {
        AbhaState { txns: Store::default(), tokens: Store::with_ttl(TOKEN_SECONDS * SECOND) }
    }
}

impl AbhaState {
    pub fn reset(&self) {
        self.txns.clear();
        self.tokens.clear();
    }

    pub fn sweep(&self, now: Millis) -> usize {
        self.txns.sweep(now) + self.tokens.sweep(now)
    }
}

/// ABHA answers an unknown or expired transaction with 401.
fn unauthorized_txn(mut e: ApiError) -> ApiError {
    if matches!(e.rule, "txn-unknown" | "txn-expired") {
        e.status = StatusCode::UNAUTHORIZED;
    }
    e
}

fn step<R>(
    st: &AppState,
    id: Uuid,
    field: &str,
    f: impl FnOnce(&mut AbhaTxn, Millis) -> ApiResult<R>,
) -> ApiResult<R> {
    let now = st.clock.now();
    st.abha.txns.step(id, field, now, |txn| f(txn, now)).map_err(unauthorized_txn)
}

fn expect(txn: &AbhaTxn, allowed: &[Step], action: &str, field: &str) -> ApiResult<()> {
    if txn.otp.locked() {
        return Err(ApiError::too_many(
            field,
            "otp-locked",
            "too many wrong OTPs; the transaction is locked, start the enrolment again",
        ));
    }
    if allowed.contains(&txn.step) {
        return Ok(());
    }
    let at = match txn.step {
        Step::AadhaarOtpSent => "Aadhaar OTP sent, not yet enrolled",
        Step::Enrolled => "enrolled",
        Step::AddressCreated => "ABHA address created (the enrolment is complete)",
    };
    Err(ApiError::rule(
        field,
        "step-order",
        format!("{action} is not allowed now: the transaction is at '{at}'"),
    ))
}

// ---- the flow --------------------------------------------------------------------------------

/// Sends the Aadhaar OTP for enrolment, or resends it when `resend` names the transaction.
pub fn request_aadhaar_otp(st: &AppState, aadhaar: &str, resend: Option<Uuid>) -> ApiResult<Value> {
    let index = st.fixtures.person(aadhaar).ok_or_else(|| {
        ApiError::rule(
            "loginId",
            "aadhaar-unknown",
            "no person with this Aadhaar in the sandbox fixtures (GET /_sandbox/fixtures lists them)",
        )
    })?;
    let person = &st.fixtures.people[index];
    let now = st.clock.now();
    let (id, otp) = match resend {
        Some(id) => {
            let otp = step(st, id, "txnId", |txn, now| {
                expect(txn, &[Step::AadhaarOtpSent], "resending the Aadhaar OTP", "txnId")?;
                if txn.person != index {
                    return Err(ApiError::rule(
                        "loginId",
                        "txn-mismatch",
                        "this transaction is for another Aadhaar",
                    ));
                }
                txn.otp.resend(now, "txnId")?;
                Ok(txn.otp.clone())
            })?;
            (id, otp)
        }
        None => {
            let otp = Otp::new(&person.otp, &person.mobile, now);
            let txn = AbhaTxn {
                person: index,
                step: Step::AadhaarOtpSent,
                otp: otp.clone(),
                pending: None,
                abha_number: None,
            };
            (st.abha.txns.insert(txn, now), otp)
        }
    };
    st.outbox.send(id, &otp, "abha-aadhaar-otp");
    Ok(json!({
        "txnId": id,
        "message": format!("OTP is sent to Aadhaar registered mobile number ending with {}", mask(&person.mobile, 4)),
    }))
}

/// Enrols with the Aadhaar OTP. The answer's `ABHAProfile.mobile` is the mobile given when it is
/// the Aadhaar-linked one; otherwise the account keeps its own, so the client knows to verify the
/// new one by OTP.
pub fn enrol(st: &AppState, id: Uuid, otp: &str, otp_field: &str, mobile: &str) -> ApiResult<Value> {
    let index = step(st, id, "txnId", |txn, now| {
        expect(txn, &[Step::AadhaarOtpSent], "enrolment", "txnId")?;
        txn.otp.verify(otp, now, otp_field)?;
        txn.step = Step::Enrolled;
        Ok(txn.person)
    })?;
    let person = &st.fixtures.people[index];
    let (account, is_new) = st.accounts.enrol(index, person);
    let _ = step(st, id, "txnId", |txn, _| {
        txn.abha_number = Some(account.abha_number.clone());
        Ok(())
    });
    let token = issue_token(st, &account.abha_number);
    let mut profile = profile_json(person, &account);
    profile["mobile"] = json!(if mobile == person.mobile { mobile } else { account.mobile.as_str() });
    Ok(json!({
        "message": if is_new { "Account created successfully" } else { "This account already exist" },
        "txnId": id,
        "tokens": {
            "token": token,
            "expiresIn": TOKEN_SECONDS,
            "refreshToken": format!("sbx-refresh.{}", Uuid::new_v4().simple()),
            "refreshExpiresIn": REFRESH_SECONDS,
        },
        "ABHAProfile": profile,
        "isNew": is_new,
    }))
}

/// Sends (or, for the same contact, resends after 60 s) an OTP verifying a mobile or e-mail.
pub fn request_contact_otp(st: &AppState, id: Uuid, contact: Contact, field: &str) -> ApiResult<Value> {
    let (otp, to) = step(st, id, "txnId", |txn, now| {
        expect(txn, &[Step::Enrolled, Step::AddressCreated], "verifying a mobile or e-mail", "txnId")?;
        let to = match &contact {
            Contact::Mobile(m) | Contact::Email(m) => m.clone(),
        };
        if txn.pending.as_ref() == Some(&contact) {
            txn.otp.resend(now, field)?;
        } else {
            let code = st.fixtures.people[txn.person].otp.clone();
            txn.otp.reissue(&code, &to, now);
            txn.pending = Some(contact.clone());
        }
        Ok((txn.otp.clone(), to))
    })?;
    st.outbox.send(
        id,
        &otp,
        if matches!(contact, Contact::Mobile(_)) { "abha-mobile-otp" } else { "abha-email-otp" },
    );
    Ok(json!({"txnId": id, "message": format!("OTP sent to {}", mask(&to, 4))}))
}

/// Verifies a mobile or e-mail OTP. A wrong or expired OTP is answered 200 with
/// `authResult: "failure"` (as ABDM does), still counted; the fifth wrong one locks.
pub fn verify_contact_otp(
    st: &AppState,
    id: Uuid,
    otp: &str,
    otp_field: &str,
    scope: &str,
) -> ApiResult<Value> {
    let outcome = step(st, id, "txnId", |txn, now| {
        expect(txn, &[Step::Enrolled, Step::AddressCreated], "verifying an OTP", "txnId")?;
        let Some(contact) = txn.pending.clone() else {
            return Err(ApiError::rule("txnId", "step-order", "no mobile or e-mail OTP was requested"));
        };
        if contact.scope() != scope {
            return Err(ApiError::bad(
                "scope",
                "scope",
                format!("the pending OTP is for {}, not {scope}", contact.scope()),
            ));
        }
        match txn.otp.verify(otp, now, otp_field) {
            Ok(()) => {
                txn.pending = None;
                Ok(Ok((contact, txn.abha_number.clone().unwrap_or_default())))
            }
            Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => Ok(Err(e)),
            Err(e) => Err(e),
        }
    })?;
    match outcome {
        Ok((contact, number)) => {
            let message = match &contact {
                Contact::Mobile(m) => {
                    st.accounts.update(&number, |a| a.mobile = m.clone());
                    "Mobile Number linked successfully."
                }
                Contact::Email(e) => {
                    st.accounts.update(&number, |a| a.email = Some(e.clone()));
                    "Email address linked successfully."
                }
            };
            Ok(
                json!({"txnId": id, "authResult": "success", "message": message, "accounts": [{"ABHANumber": number}]}),
            )
        }
        Err(e) => Ok(json!({
            "txnId": id,
            "authResult": "failure",
            "message": "Please enter a valid OTP. Entered OTP is either expired or incorrect.",
            "field": e.field,
            "rule": e.rule,
            "detail": e.message,
        })),
    }
}

/// Free ABHA address suggestions (local parts) from the person's name and birth date.
pub fn suggestions(st: &AppState, id: Uuid, field: &str) -> ApiResult<Vec<String>> {
    let index = step(st, id, field, |txn, _| {
        expect(txn, &[Step::Enrolled], "asking for ABHA address suggestions", field)?;
        Ok(txn.person)
    })?;
    let p = &st.fixtures.people[index];
    // Name parts of ASCII letters and digits, cut so that every candidate fits the 18-character
    // rule; a name with none (another script) falls back to a neutral stem.
    let clean = |s: &str, n: usize| {
        s.chars().filter(char::is_ascii_alphanumeric).take(n).collect::<String>().to_lowercase()
    };
    let (mut first, last) = (clean(&p.first_name, 7), clean(&p.last_name, 5));
    if first.is_empty() {
        first = "abha".into();
    }
    let year = p.year_of_birth.to_string();
    let yy = year.get(2..).unwrap_or_default();
    let dd = format!("{:02}", p.day_of_birth.unwrap_or(1));
    let mm = format!("{:02}", p.month_of_birth.unwrap_or(1));
    let candidates = [
        format!("{first}.{last}{yy}"),
        format!("{first}{last}{year}"),
        format!("{first}_{last}{dd}"),
        format!("{last}.{first}{dd}{mm}"),
        format!("{first}{last}{dd}{mm}"),
    ];
    let mut out = Vec::new();
    for c in candidates.into_iter().chain((1..1000).map(|n| format!("{first}.{yy}{n:03}"))) {
        if out.len() == 5 {
            break;
        }
        if check_v3_address(&c).is_ok()
            && !st.accounts.address_taken(&format!("{c}{DOMAIN}"))
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    Ok(out)
}

/// Creates the chosen ABHA address (a local part, v3 rule) and makes it preferred.
pub fn create_address(st: &AppState, id: Uuid, local: &str, preferred: bool) -> ApiResult<Value> {
    check_v3_address(local).map_err(|m| ApiError::bad("abhaAddress", "abha-address-policy", m))?;
    let number = step(st, id, "txnId", |txn, _| {
        expect(txn, &[Step::Enrolled], "creating an ABHA address", "txnId")?;
        Ok(txn.abha_number.clone().unwrap_or_default())
    })?;
    let address = format!("{local}{DOMAIN}");
    if !st.accounts.add_address(&number, &address, preferred) {
        return Err(ApiError::rule(
            "abhaAddress",
            "abha-address-taken",
            format!("{address} is already taken"),
        ));
    }
    let _ = step(st, id, "txnId", |txn, _| {
        txn.step = Step::AddressCreated;
        Ok(())
    });
    let preferred_address = st.accounts.by_number(&number).and_then(|a| a.preferred).unwrap_or(address);
    Ok(json!({"txnId": id, "healthIdNumber": number, "preferredAbhaAddress": preferred_address}))
}

/// The ABHA v3 address rule: 8–18 characters, letters and digits with at most one `.` and one
/// `_`, neither first nor last, not 14 digits alone; the local part only (no `@sbx`).
pub fn check_v3_address(local: &str) -> Result<(), String> {
    let fail = |why: &str| Err(format!("{local:?}: {why}"));
    if local.contains('@') {
        return fail("give the local part only, without the @sbx domain");
    }
    if !(8..=18).contains(&local.len()) {
        return fail("must be 8 to 18 characters");
    }
    if !local.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
        return fail("only letters, digits, one '.' and one '_' are allowed");
    }
    if local.matches('.').count() > 1 || local.matches('_').count() > 1 {
        return fail("at most one '.' and one '_'");
    }
    if local.starts_with(['.', '_']) || local.ends_with(['.', '_']) {
        return fail("must not start or end with '.' or '_'");
    }
    if local.contains("._") || local.contains("_.") {
        return fail("'.' and '_' must not be next to each other");
    }
    if local.len() == 14 && checks::all_digits(local) {
        return fail("the ABHA address cannot consist of a 14-digit number exclusively");
    }
    Ok(())
}

fn issue_token(st: &AppState, abha_number: &str) -> String {
    let id = st.abha.tokens.insert(abha_number.to_string(), st.clock.now());
    format!("sbx-abha.{}", id.simple())
}

/// The ABHA profile in the names ABHA v3 (and the Carestack SDK's `ABHAProfile`) use: names are
/// strings, `""` when absent, never null.
pub fn profile_json(p: &Person, a: &AbhaAccount) -> Value {
    let day = p.day_of_birth.unwrap_or(1);
    let month = p.month_of_birth.unwrap_or(1);
    json!({
        "firstName": p.first_name,
        "middleName": p.middle_name,
        "lastName": p.last_name,
        "name": p.name,
        "dob": format!("{day:02}-{month:02}-{}", p.year_of_birth),
        "yearOfBirth": p.year_of_birth.to_string(),
        "monthOfBirth": p.month_of_birth.map(|m| format!("{m:02}")).unwrap_or_default(),
        "dayOfBirth": p.day_of_birth.map(|d| format!("{d:02}")).unwrap_or_default(),
        "gender": p.gender,
        "photo": crate::hpr::PHOTO,
        "mobile": a.mobile,
        "email": a.email.clone().unwrap_or_default(),
        "phrAddress": a.addresses,
        "preferredAddress": a.preferred.clone().unwrap_or_default(),
        "address": p.address.line,
        "districtCode": p.address.district_code,
        "districtName": p.address.district,
        "stateCode": p.address.state_code,
        "stateName": p.address.state,
        "pinCode": p.address.pincode,
        "abhaType": "STANDARD",
        "ABHANumber": a.abha_number,
        "abhaStatus": "ACTIVE",
    })
}

// ---- ABHA v3 routes --------------------------------------------------------------------------

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
    let now = req.app_data::<web::Data<AppState>>().map(|st| st.clock.now()).unwrap_or_default();
    match check_headers(req.request(), now) {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

fn check_headers(req: &HttpRequest, now: Millis) -> ApiResult<()> {
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
    crate::gateway::session_client(token, now)?;
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
async fn v3_request_otp(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
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
            checks::aadhaar(&aadhaar).map_err(|(rule, m)| ApiError::bad("loginId", rule, format!("Aadhaar {m}")))?;
            let resend = root.opt_str("txnId")?.map(|t| parse_uuid("txnId", t)).transpose()?;
            request_aadhaar_otp(&st, &aadhaar, resend)?
        }
        ["abha-enrol", "mobile-verify"] => {
            want("mobile", "abdm")?;
            let id = root.txn_id("txnId")?;
            let mobile = ABHA_KEY.decrypt("loginId", root.str("loginId")?, Padding::OaepSha1)?;
            checks::mobile(&mobile).map_err(|(rule, m)| ApiError::bad("loginId", rule, m))?;
            request_contact_otp(&st, id, Contact::Mobile(mobile), "txnId")?
        }
        ["abha-enrol", "email-verify"] => {
            want("email", "abdm")?;
            let id = root.txn_id("txnId")?;
            let email = ABHA_KEY.decrypt("loginId", root.str("loginId")?, Padding::OaepSha1)?;
            crate::hpr::check_email(&email).map_err(|m| ApiError::bad("loginId", "email-format", m))?;
            request_contact_otp(&st, id, Contact::Email(email), "txnId")?
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
fn otp_block<'a>(st: &AppState, root: &Obj<'a>) -> ApiResult<(Uuid, String, Obj<'a>)> {
    let auth = root.obj("authData")?;
    let methods = auth.strings("authMethods")?;
    if methods != ["otp"] {
        return Err(ApiError::bad(&auth.name("authMethods"), "auth-methods", "must be [\"otp\"]"));
    }
    let otp = auth.obj("otp")?;
    let id = otp.txn_id("txnId")?;
    let field = otp.name("otpValue");
    let value = ABHA_KEY.decrypt(&field, otp.str("otpValue")?, Padding::OaepSha1)?;
    checks::otp(&value).map_err(|(rule, m)| ApiError::bad(&field, rule, m))?;
    if let Some(ts) = otp.opt_str("timeStamp")? {
        let at = chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S")
            .map_err(|_| ApiError::bad(&otp.name("timeStamp"), "timestamp", "must be yyyy-MM-dd HH:mm:ss"))?;
        if !near_now(at.and_utc().timestamp_millis(), st.clock.now()) {
            return Err(ApiError::bad(
                &otp.name("timeStamp"),
                "timestamp-skew",
                "is more than 10 minutes off",
            ));
        }
    }
    Ok((id, value, otp))
}

async fn v3_enrol(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let root = body.root();
    let consent = root.obj("consent")?;
    if consent.str("code")? != CONSENT_CODE {
        return Err(ApiError::bad("consent.code", "consent", format!("must be {CONSENT_CODE:?}")));
    }
    if consent.str("version")? != CONSENT_VERSION {
        return Err(ApiError::bad("consent.version", "consent", format!("must be {CONSENT_VERSION:?}")));
    }
    let (id, otp, block) = otp_block(&st, &root)?;
    let mobile = block.str("mobile")?;
    checks::mobile(mobile).map_err(|(rule, m)| ApiError::bad(&block.name("mobile"), rule, m))?;
    Ok(HttpResponse::Ok().json(enrol(&st, id, &otp, &block.name("otpValue"), mobile)?))
}

async fn v3_auth_by_abdm(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
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
    let (id, otp, block) = otp_block(&st, &root)?;
    Ok(HttpResponse::Ok().json(verify_contact_otp(&st, id, &otp, &block.name("otpValue"), kind)?))
}

async fn v3_suggestion(st: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let txn = header(&req, "TRANSACTION_ID").ok_or_else(|| {
        ApiError::bad("TRANSACTION_ID", "required", "header is required (the enrolment txnId)")
    })?;
    let id = parse_uuid("TRANSACTION_ID", txn)?;
    let list = suggestions(&st, id, "TRANSACTION_ID")?;
    Ok(HttpResponse::Ok().json(json!({"txnId": id, "abhaAddressList": list})))
}

async fn v3_abha_address(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let id = body.txn_id("txnId")?;
    let address = body.str("abhaAddress")?;
    let preferred = match body.opt_uint("preferred")? {
        None | Some(1) => true,
        Some(0) => false,
        Some(_) => return Err(ApiError::bad("preferred", "type", "must be 0 or 1")),
    };
    Ok(HttpResponse::Ok().json(create_address(&st, id, address, preferred)?))
}

/// `GET profile/account` with `X-token: Bearer <token from enrolment>`.
async fn v3_profile(st: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let raw = header(&req, "X-token")
        .ok_or_else(|| ApiError::unauthorized("X-token", "x-token", "header is required"))?;
    let token = bearer(raw)
        .ok_or_else(|| ApiError::bad("X-token", "x-token", "Invalid X-token: must be 'Bearer <token>'"))?;
    let id = token
        .trim()
        .strip_prefix("sbx-abha.")
        .and_then(|t| Uuid::parse_str(t).ok())
        .ok_or_else(|| ApiError::unauthorized("X-token", "x-token", "not a token this sandbox issued"))?;
    let number = st.abha.tokens.read(id, "X-token", st.clock.now(), String::clone).map_err(|e| {
        let rule = if e.rule == "txn-expired" { "x-token-expired" } else { "x-token-unknown" };
        ApiError::unauthorized("X-token", rule, "the token is unknown or has expired")
    })?;
    let account = st.accounts.by_number(&number).ok_or_else(|| {
        ApiError::unauthorized("X-token", "x-token", "the account no longer exists (reset?)")
    })?;
    let mut profile = profile_json(&st.fixtures.people[account.person], &account);
    profile["preferredAbhaAddress"] = profile["preferredAddress"].clone();
    Ok(HttpResponse::Ok().json(profile))
}

#[cfg(test)]
mod tests {
    use super::check_v3_address;

    #[test]
    fn v3_address_rule() {
        for ok in ["asha.verma90", "asha_verma.90", "ashaverma", "a1234567890123x"] {
            assert!(check_v3_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "short",
            "asha..verma",
            "asha.ve.rma",
            ".ashaverma",
            "ashaverma_",
            "asha-verma",
            "91234567890129",
            "asha._verma",
            "asha@sbx",
            "averyveryverylongaddress",
        ] {
            assert!(check_v3_address(bad).is_err(), "{bad}");
        }
    }
}
