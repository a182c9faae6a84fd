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
use crate::error::{ApiError, ApiResult, Checked, Rule};
use crate::fixtures::{Person, PHOTO};
use crate::flow::{self, Guard};
use crate::gateway::sessions::Sessions;
use crate::otp::Otp;
use crate::shared::Shared;
use crate::store::Store;

/// The consent code enrol/byAadhaar requires.
pub const CONSENT_CODE: &str = "abha-enrollment";
/// The consent version enrol/byAadhaar requires.
pub const CONSENT_VERSION: &str = "1.4";
/// Lifetime of the user token (`X-token`) issued at enrolment, in seconds.
pub const TOKEN_SECONDS: i64 = 1800;
/// Lifetime of the refresh token issued with it, in seconds.
pub const REFRESH_SECONDS: i64 = 1_296_000;

/// The steps of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AadhaarOtpSent,
    Enrolled,
    AddressCreated,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::AadhaarOtpSent => "Aadhaar OTP sent, not yet enrolled",
            Step::Enrolled => "enrolled",
            Step::AddressCreated => "ABHA address created (the enrolment is complete)",
        }
    }
}

/// What a pending verification OTP verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    /// A mobile number.
    Mobile(String),
    /// An e-mail address.
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

/// One enrolment, keyed by `txnId`.
pub struct AbhaTxn {
    person: usize,
    step: Step,
    otp: Otp,
    /// The contact a verification OTP was sent to and not yet verified.
    pending: Option<Contact>,
    abha_number: Option<String>,
}

impl flow::Txn for AbhaTxn {
    type Step = Step;
    const RESTART: &'static str = "start the enrolment again";
    fn step(&self) -> Step {
        self.step
    }
    fn locked(&self) -> bool {
        self.otp.locked()
    }
}

/// ABHA's enrolments and the user tokens they issued.
pub struct AbhaState {
    txns: Store<AbhaTxn>,
    /// User tokens (the X-token) → ABHA number.
    tokens: Store<String>,
}

impl Default for AbhaState {
    fn default() -> Self {
        AbhaState { txns: Store::default(), tokens: Store::with_ttl(TOKEN_SECONDS * SECOND) }
    }
}

impl AbhaState {
    /// No enrolments, no tokens.
    pub fn reset(&self) {
        self.txns.clear();
        self.tokens.clear();
    }

    /// Drops expired enrolments and tokens; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.txns.sweep(now) + self.tokens.sweep(now)
    }

    /// Live enrolments.
    pub fn live(&self) -> usize {
        self.txns.len()
    }
}

/// ABHA answers an unknown or expired transaction with 401.
fn unauthorized_txn(mut e: ApiError) -> ApiError {
    if matches!(e.rule, "txn-unknown" | "txn-expired") {
        e.status = StatusCode::UNAUTHORIZED;
    }
    e
}

/// One step of the enrolment `id`; see [`flow`]. ABHA answers an unknown or expired
/// transaction with 401.
fn advance<R>(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    field: &str,
    allowed: &[Step],
    action: &str,
    f: impl FnOnce(&mut AbhaTxn, Millis) -> ApiResult<R>,
) -> ApiResult<R> {
    let now = sh.clock.now();
    abha.txns.advance(id, now, Guard { field, allowed, action }, |txn| f(txn, now)).map_err(unauthorized_txn)
}

// ---- the flow --------------------------------------------------------------------------------

/// Sends the Aadhaar OTP for enrolment, or resends it when `resend` names the transaction.
pub fn request_aadhaar_otp(
    sh: &Shared,
    abha: &AbhaState,
    aadhaar: &str,
    resend: Option<Uuid>,
) -> ApiResult<Value> {
    let index = sh.fixtures.person(aadhaar).ok_or_else(|| {
        ApiError::rule(
            "loginId",
            "aadhaar-unknown",
            "no person with this Aadhaar in the sandbox fixtures (GET /_sandbox/fixtures lists them)",
        )
    })?;
    let person = &sh.fixtures.people[index];
    let now = sh.clock.now();
    let (id, otp) = match resend {
        Some(id) => {
            let otp = advance(
                sh,
                abha,
                id,
                "txnId",
                &[Step::AadhaarOtpSent],
                "resending the Aadhaar OTP",
                |txn, now| {
                    if txn.person != index {
                        return Err(ApiError::rule(
                            "loginId",
                            "txn-mismatch",
                            "this transaction is for another Aadhaar",
                        ));
                    }
                    txn.otp.resend(now, "txnId")?;
                    Ok(txn.otp.clone())
                },
            )?;
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
            (abha.txns.insert(txn, now), otp)
        }
    };
    sh.outbox.send(id, &otp, "abha-aadhaar-otp");
    Ok(json!({
        "txnId": id,
        "message": format!("OTP is sent to Aadhaar registered mobile number ending with {}", mask(&person.mobile, 4)),
    }))
}

/// Enrols with the Aadhaar OTP. The answer's `ABHAProfile.mobile` is the mobile given when it is
/// the Aadhaar-linked one; otherwise the account keeps its own, so the client knows to verify the
/// new one by OTP.
pub fn enrol(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    otp: &str,
    otp_field: &str,
    mobile: &str,
) -> ApiResult<Value> {
    let (index, account, is_new) =
        advance(sh, abha, id, "txnId", &[Step::AadhaarOtpSent], "enrolment", |txn, now| {
            txn.otp.verify(otp, now, otp_field)?;
            let (account, is_new) = sh.accounts.enrol(txn.person, &sh.fixtures.people[txn.person]);
            txn.abha_number = Some(account.abha_number.clone());
            txn.step = Step::Enrolled;
            Ok((txn.person, account, is_new))
        })?;
    let person = &sh.fixtures.people[index];
    let token = issue_token(sh, abha, &account.abha_number);
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
pub fn request_contact_otp(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    contact: Contact,
    field: &str,
) -> ApiResult<Value> {
    let (otp, to) = advance(
        sh,
        abha,
        id,
        "txnId",
        &[Step::Enrolled, Step::AddressCreated],
        "verifying a mobile or e-mail",
        |txn, now| {
            let to = match &contact {
                Contact::Mobile(m) | Contact::Email(m) => m.clone(),
            };
            if txn.pending.as_ref() == Some(&contact) {
                txn.otp.resend(now, field)?;
            } else {
                let code = sh.fixtures.people[txn.person].otp.clone();
                txn.otp.reissue(&code, &to, now);
                txn.pending = Some(contact.clone());
            }
            Ok((txn.otp.clone(), to))
        },
    )?;
    sh.outbox.send(
        id,
        &otp,
        if matches!(contact, Contact::Mobile(_)) { "abha-mobile-otp" } else { "abha-email-otp" },
    );
    Ok(json!({"txnId": id, "message": format!("OTP sent to {}", mask(&to, 4))}))
}

/// Verifies a mobile or e-mail OTP. A wrong or expired OTP is answered 200 with
/// `authResult: "failure"` (as ABDM does), still counted; the fifth wrong one locks.
pub fn verify_contact_otp(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    otp: &str,
    otp_field: &str,
    scope: &str,
) -> ApiResult<Value> {
    let outcome = advance(
        sh,
        abha,
        id,
        "txnId",
        &[Step::Enrolled, Step::AddressCreated],
        "verifying an OTP",
        |txn, now| {
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
        },
    )?;
    match outcome {
        Ok((contact, number)) => {
            let message = match &contact {
                Contact::Mobile(m) => {
                    sh.accounts.update(&number, |a| a.mobile = m.clone());
                    "Mobile Number linked successfully."
                }
                Contact::Email(e) => {
                    sh.accounts.update(&number, |a| a.email = Some(e.clone()));
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
pub fn suggestions(sh: &Shared, abha: &AbhaState, id: Uuid, field: &str) -> ApiResult<Vec<String>> {
    let index =
        advance(sh, abha, id, field, &[Step::Enrolled], "asking for ABHA address suggestions", |txn, _| {
            Ok(txn.person)
        })?;
    let p = &sh.fixtures.people[index];
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
            && !sh.accounts.address_taken(&format!("{c}{DOMAIN}"))
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    Ok(out)
}

/// Creates the chosen ABHA address (a local part, v3 rule) and makes it preferred.
pub fn create_address(
    sh: &Shared,
    abha: &AbhaState,
    id: Uuid,
    local: &str,
    preferred: bool,
) -> ApiResult<Value> {
    check_v3_address(local).bad("abhaAddress")?;
    let address = format!("{local}{DOMAIN}");
    let number = advance(sh, abha, id, "txnId", &[Step::Enrolled], "creating an ABHA address", |txn, _| {
        let number = txn.abha_number.clone().unwrap_or_default();
        if !sh.accounts.add_address(&number, &address, preferred) {
            return Err(ApiError::rule(
                "abhaAddress",
                "abha-address-taken",
                format!("{address} is already taken"),
            ));
        }
        txn.step = Step::AddressCreated;
        Ok(number)
    })?;
    let preferred_address = sh.accounts.by_number(&number).and_then(|a| a.preferred).unwrap_or(address);
    Ok(json!({"txnId": id, "healthIdNumber": number, "preferredAbhaAddress": preferred_address}))
}

/// The ABHA v3 address rule: 8–18 characters, letters and digits with at most one `.` and one
/// `_`, neither first nor last, not 14 digits alone; the local part only (no `@sbx`).
pub fn check_v3_address(local: &str) -> Result<(), Rule> {
    let fail = |why: &str| Err(Rule::new("abha-address-policy", format!("{local:?}: {why}")));
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

fn issue_token(sh: &Shared, abha: &AbhaState, abha_number: &str) -> String {
    let id = abha.tokens.insert(abha_number.to_string(), sh.clock.now());
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
        "photo": PHOTO,
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
