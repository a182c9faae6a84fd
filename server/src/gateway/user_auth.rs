//! User auth: a HIP (or HIU) asks the patient to authenticate so it may link records (LINK),
//! read their KYC (KYC) or both. `fetch-modes` lists the modes, `init` starts a transaction in
//! one (MOBILE_OTP, AADHAAR_OTP, DEMOGRAPHICS, DIRECT), `confirm` checks the OTP or the
//! demographics; each answers 202 and calls back `on-fetch-modes`, `on-init`, `on-confirm`. A
//! successful confirm yields the RS512 linking token (a day) and/or the patient; errors come in
//! the callback: 1437 no such account, 1441 a failed confirmation. DIRECT needs no confirm: the
//! patient approves in their app and the gateway sends `notify` after `on-init`.
//!
//! ```text
//! init ─▶ AwaitingConfirm ─ confirm (right) ─▶ Confirmed
//!   │            └─ confirm (wrong) ×5 ─▶ locked
//!   └─ DIRECT ─▶ Confirmed (notify follows on-init)
//! ```

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::bridges::{self, require_own, Bridges};
use super::envelope::{accepted, require_cm_id, timestamp, Hygiene, Version, AUTH_CONFIRM, NOT_FOUND};
use super::linking::{link_token, token_expiry};
use super::sessions::caller;
use super::share::patient_json;
use crate::accounts::AbhaAccount;
use crate::body::{JsonBody, Obj};
use crate::callbacks::Receiver;
use crate::clock::{Millis, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::flow::{self, Guard};
use crate::otp::{Otp, MAX_WRONG};
use crate::shared::Shared;
use crate::store::Store;

/// A user-auth transaction lives this long after on-init.
pub const AUTH_EXPIRY: Millis = 120 * MINUTE;
const MODES: [&str; 4] = ["MOBILE_OTP", "AADHAAR_OTP", "DEMOGRAPHICS", "DIRECT"];
const NO_ACCOUNT: &str = "Account with ABHA number/Username not found.";
const ON_FETCH_MODES: (&str, &str) = ("/v0.5/users/auth/on-fetch-modes", "");
const ON_INIT: (&str, &str) = ("/v0.5/users/auth/on-init", "");
const ON_CONFIRM: (&str, &str) = ("/v0.5/users/auth/on-confirm", "");
const NOTIFY: (&str, &str) = ("/v0.5/users/auth/notify", "");

/// The steps of this flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    AwaitingConfirm,
    Confirmed,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::AwaitingConfirm => "initialised (confirm next)",
            Step::Confirmed => "confirmed (the transaction is complete)",
        }
    }
}

/// Who asked: the requester's type and id, where the callbacks go.
#[derive(Debug, Clone)]
struct Requester {
    kind: String,
    id: String,
}

impl Requester {
    fn receiver(&self) -> (Receiver, &str) {
        (if self.kind == "HIU" { Receiver::Hiu } else { Receiver::Hip }, &self.id)
    }
}

/// One user-auth transaction, keyed by `transactionId`.
pub struct AuthTxn {
    address: String,
    abha_number: String,
    person: usize,
    purpose: String,
    mode: String,
    requester: Requester,
    otp: Option<Otp>,
    wrong: u32,
    step: Step,
}

impl flow::Txn for AuthTxn {
    type Step = Step;
    const RESTART: &'static str = "start again with init";
    fn step(&self) -> Step {
        self.step
    }
    fn locked(&self) -> bool {
        self.wrong >= MAX_WRONG
    }
}

/// The user-auth transactions (they live [`AUTH_EXPIRY`] after on-init).
pub type UserAuth = Store<AuthTxn>;

/// The `query` of fetch-modes and init: who is asked, why, by whom (one of the caller's services).
fn query<'a>(
    sh: &Shared,
    bridges: &Bridges,
    req: &HttpRequest,
    body: &'a JsonBody,
) -> ApiResult<(Obj<'a>, &'a str, &'a str, Requester)> {
    require_cm_id(req)?;
    let q = body.obj("query")?;
    let id = q.str("id")?;
    let purpose = q.str("purpose")?;
    if !["LINK", "KYC", "KYC_AND_LINK"].contains(&purpose) {
        return Err(ApiError::bad("query.purpose", "purpose", "must be LINK, KYC or KYC_AND_LINK"));
    }
    let requester = q.obj("requester")?;
    let kind = requester.str("type")?;
    if !["HIP", "HIU"].contains(&kind) {
        return Err(ApiError::bad("query.requester.type", "requester-type", "must be HIP or HIU"));
    }
    let requester_id = requester.str("id")?;
    require_own(sh, bridges, req, requester_id, "query.requester.id", Version::V05)?;
    Ok((q, id, purpose, Requester { kind: kind.to_string(), id: requester_id.to_string() }))
}

/// `users/auth/fetch-modes` → `on-fetch-modes` with the modes, or 1437.
pub async fn fetch_modes(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let answers = hygiene.request(&req, &body, Version::V05)?;
    let (_, id, purpose, requester) = query(&sh, &bridges, &req, &body)?;
    let outcome = match sh.accounts.by_address(id) {
        Some(_) => Ok(json!({"purpose": purpose, "modes": MODES})),
        None => Err((NOT_FOUND, NO_ACCOUNT.to_string())),
    };
    let cb = Version::V05.answer(ON_FETCH_MODES, answers, sh.clock.now(), "auth", outcome);
    bridges::send(&sh, &bridges, requester.receiver(), cb, Vec::new());
    Ok(accepted())
}

/// `users/auth/init` → `on-init` with the transaction (an OTP sent for the OTP modes), or 1437.
pub async fn init(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    auth: web::Data<UserAuth>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let answers = hygiene.request(&req, &body, Version::V05)?;
    let (q, id, purpose, requester) = query(&sh, &bridges, &req, &body)?;
    let mode = q.opt_str("authMode")?.unwrap_or("DEMOGRAPHICS");
    if !MODES.contains(&mode) {
        return Err(ApiError::bad(
            "query.authMode",
            "auth-mode",
            "must be MOBILE_OTP, AADHAAR_OTP, DEMOGRAPHICS or DIRECT",
        ));
    }
    let now = sh.clock.now();
    let Some(account) = sh.accounts.by_address(id) else {
        let cb = Version::V05.answer(ON_INIT, answers, now, "auth", Err((NOT_FOUND, NO_ACCOUNT.to_string())));
        bridges::send(&sh, &bridges, requester.receiver(), cb, Vec::new());
        return Ok(accepted());
    };
    let person = &sh.fixtures.people[account.person];
    let otp = matches!(mode, "MOBILE_OTP" | "AADHAAR_OTP").then(|| {
        let to = if mode == "AADHAAR_OTP" { &person.mobile } else { &account.mobile };
        Otp::new(&person.otp, to, now)
    });
    let direct = mode == "DIRECT";
    let txn = AuthTxn {
        address: id.to_string(),
        abha_number: account.abha_number.clone(),
        person: account.person,
        purpose: purpose.to_string(),
        mode: mode.to_string(),
        requester: requester.clone(),
        otp: otp.clone(),
        wrong: 0,
        step: if direct { Step::Confirmed } else { Step::AwaitingConfirm },
    };
    let txn_id = auth.insert(txn, now);
    let hint = otp.as_ref().map(|o| {
        sh.outbox.send(txn_id, o, "gateway-auth-otp");
        crate::checks::mask(&o.to, 4)
    });
    let meta = json!({"hint": hint, "expiry": timestamp(now + AUTH_EXPIRY)});
    let payload = json!({"transactionId": txn_id, "mode": mode, "meta": meta});
    let cb = Version::V05.answer(ON_INIT, answers, now, "auth", Ok(payload));
    let mut then = Vec::new();
    if direct {
        // DIRECT: the patient approves in their app (the sandbox's patients always do); the
        // notify follows once the requester has taken the on-init that names the transaction,
        // and the requester answers it with on-notify.
        let mut granted = granted(&sh, &account, id, purpose, &requester, now);
        granted["transactionId"] = json!(txn_id);
        granted["status"] = json!("GRANTED");
        then.push(Version::V05.message(NOTIFY, None, now, json!({"auth": granted})));
    }
    match then.first().map(|m| m.request_id) {
        Some(notify) => {
            let answered = (hygiene.as_ref(), notify);
            bridges::send_expecting(&sh, &bridges, answered, requester.receiver(), cb, (then, None))
        }
        None => bridges::send(&sh, &bridges, requester.receiver(), cb, then),
    };
    Ok(accepted())
}

/// The `auth` of a successful confirm, by purpose: LINK → the linking token; KYC → the patient;
/// KYC_AND_LINK → both.
fn granted(
    sh: &Shared,
    account: &AbhaAccount,
    address: &str,
    purpose: &str,
    r: &Requester,
    now: Millis,
) -> Value {
    let mut auth = json!({});
    if purpose != "KYC" {
        auth["accessToken"] = json!(link_token(sh, address, (&r.kind, &r.id), now));
        auth["validity"] = json!({"purpose": purpose, "requester": {"type": r.kind, "id": r.id},
            "expiry": token_expiry(now), "limit": 1});
    }
    if purpose != "LINK" {
        let mut patient = patient_json(sh, account, address, "HEALTH_NUMBER");
        patient["id"] = json!(address);
        auth["patient"] = patient;
    }
    auth
}

/// The credential of a confirm: an OTP (`authCode`) or demographics.
enum Credential {
    Code(String),
    Demographics { name: String, gender: String, dob: String, mobile: Option<String> },
}

fn credential(body: &JsonBody) -> ApiResult<Credential> {
    let credential = body.obj("credential")?;
    let auth_code = credential.opt_str("authCode")?;
    let demographic = credential.opt_obj("demographic")?;
    match (auth_code, demographic) {
        (Some(code), None) => Ok(Credential::Code(code.to_string())),
        (None, Some(d)) => Ok(Credential::Demographics {
            name: d.str("name")?.to_string(),
            gender: d.str("gender")?.to_string(),
            dob: d.str("dateOfBirth")?.to_string(),
            mobile: d.opt_obj("identifier")?.map(|i| i.str("value").map(str::to_string)).transpose()?,
        }),
        _ => Err(ApiError::bad("credential", "credential", "give exactly one of authCode and demographic")),
    }
}

/// `users/auth/confirm` → `on-confirm` with the token and/or patient, or 1441. A transaction that
/// is unknown, expired, locked or already confirmed is answered in the callback, to the caller's
/// own HIP when the transaction names no requester.
pub async fn confirm(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    auth: web::Data<UserAuth>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let answers = hygiene.request(&req, &body, Version::V05)?;
    let txn_id = body.txn_id("transactionId")?;
    let given = credential(&body)?;
    let now = sh.clock.now();
    let me = caller(&req);
    let guard = Guard { field: "transactionId", allowed: &[Step::AwaitingConfirm], action: "confirming" };
    let outcome = auth.step(txn_id, "transactionId", now, |txn| {
        if bridges.owner_of(&sh, &txn.requester.id).as_deref() != Some(me.as_str()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "requester-not-yours",
                "transactionId: belongs to another client",
            )
            .field("transactionId"));
        }
        let requester = txn.requester.clone();
        if let Err(e) = guard.check(txn) {
            return Ok((requester, Err(e.message)));
        }
        if !credential_matches(&sh, txn, &given, now) {
            txn.wrong += 1;
            return Ok((requester, Err("Invalid auth confirm request.".to_string())));
        }
        txn.step = Step::Confirmed;
        let granted = sh
            .accounts
            .by_number(&txn.abha_number)
            .map(|a| granted(&sh, &a, &txn.address, &txn.purpose, &txn.requester, now))
            .ok_or_else(|| "the account no longer exists".to_string());
        Ok((requester, granted))
    });
    let (requester, granted) = match outcome {
        Ok(v) => v,
        Err(e) if e.status == StatusCode::FORBIDDEN => return Err(e),
        Err(e) => (
            Requester { kind: "HIP".into(), id: bridges.own_service(&sh, &me, "HIP") },
            Err(format!("Invalid auth confirm request: {}", e.message)),
        ),
    };
    let cb =
        Version::V05.answer(ON_CONFIRM, answers, now, "auth", granted.map_err(|why| (AUTH_CONFIRM, why)));
    bridges::send(&sh, &bridges, requester.receiver(), cb, Vec::new());
    Ok(accepted())
}

fn credential_matches(sh: &Shared, txn: &mut AuthTxn, given: &Credential, now: Millis) -> bool {
    let p = &sh.fixtures.people[txn.person];
    match (&txn.mode[..], given, txn.otp.as_mut()) {
        ("DEMOGRAPHICS", Credential::Demographics { name, gender, dob, mobile }, _) => {
            let account = sh.accounts.by_number(&txn.abha_number);
            demographics_match(p, name, gender, dob)
                && mobile.as_ref().is_none_or(|m| account.is_some_and(|a| &a.mobile == m))
        }
        (_, Credential::Code(code), Some(otp)) => otp.verify(code, now, "credential.authCode").is_ok(),
        _ => false,
    }
}

/// Demographics match exactly (name case-insensitively); with only a year of birth known,
/// `YYYY-01-01` is the date to send.
fn demographics_match(p: &crate::fixtures::Person, name: &str, gender: &str, dob: &str) -> bool {
    let expected = match (p.month_of_birth, p.day_of_birth) {
        (Some(m), Some(d)) => format!("{}-{m:02}-{d:02}", p.year_of_birth),
        _ => format!("{}-01-01", p.year_of_birth),
    };
    name.trim().eq_ignore_ascii_case(&p.name) && gender == p.gender && dob == expected
}

/// `users/auth/on-notify`: the requester acknowledges a DIRECT notify this gateway sent it.
pub async fn on_notify(
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    hygiene.request(&req, &body, Version::V05)?;
    hygiene.answers(&body, Version::V05, &caller(&req))?;
    Ok(accepted())
}
