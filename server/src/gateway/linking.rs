//! HIP-initiated care-context linking, one flow in both envelopes.
//!
//! - v0.5: with the linking token user auth issued, `links/link/add-contexts` →
//!   `on-add-contexts` (1439 when a context is linked already).
//! - v3: `POST /api/hiecm/v3/token/generate-token` with the patient's demographics, checked
//!   against the ABHA profile, at most three per patient in 24 hours → `{bridge}/api/v3/hip/token/
//!   on-generate-token` with the link token; then `POST /api/hiecm/hip/v3/link/carecontext` with
//!   `X-LINK-TOKEN` (1 to 20 care contexts, `count` equal to them, `hiType` one string) →
//!   `{bridge}/api/v3/link/on_carecontext`.
//! - both: `links/context/notify` (v3 `/api/hiecm/hip/v3/link/context/notify`) → `on-notify`.
//!
//! The consent manager's record of what is linked, by ABHA address, HIP and care-context
//! reference, lives here, whichever flow linked it (user-initiated linking adds to it too).

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::{self, require_own, Bridges};
use super::envelope::{
    accepted, require_cm_id, timestamp, Code, Hygiene, Version, ALREADY_LINKED, BAD_REQUEST, GENERIC,
    INVALID_LINK_TOKEN, NOT_FOUND, TOKEN_LIMIT,
};
use super::sessions::caller;
use crate::body::{header, JsonBody, Obj};
use crate::callbacks::Receiver;
use crate::clock::{Millis, SECOND};
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::persist::{kind, Log};
use crate::shared::Shared;

/// Linking tokens expire a day after issue.
pub const LINK_TOKEN_SECONDS: i64 = 86_400;
/// Link tokens one patient may be issued in 24 hours (v3).
pub const TOKENS_PER_DAY: usize = 3;
/// A profile mismatch at generate-token.
const DEMOGRAPHICS_MISMATCH: Code = Code { v05: 1441, v3: "ABDM-1024" };
/// Care contexts one link request may carry (v3).
const MAX_CONTEXTS: usize = 20;

/// Linked care contexts, and the link tokens issued per patient.
#[derive(Default)]
pub struct Links {
    /// (lower-case ABHA address, HIP id, care-context reference) → when linked, and the
    /// patient's reference at that HIP.
    map: DashMap<(String, String, String), (Millis, String)>,
    /// Lower-case ABHA address → when its v3 link tokens were issued.
    tokens: DashMap<String, Vec<Millis>>,
    /// Where links are kept (`serve --state`).
    log: Log,
}

/// A link as the state file keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptLink {
    address: String,
    hip: String,
    reference: String,
    at: Millis,
    patient: String,
}

impl Links {
    /// The links kept in `log`.
    pub fn kept(log: &Log) -> Self {
        let links = Links { log: log.clone(), ..Links::default() };
        for (_, l) in log.load::<KeptLink>(kind::LINK) {
            links.map.insert((l.address, l.hip, l.reference), (l.at, l.patient));
        }
        links
    }

    /// Nothing linked, no tokens issued.
    pub fn reset(&self) {
        self.map.clear();
        self.tokens.clear();
    }

    fn key(address: &str, hip: &str, reference: &str) -> (String, String, String) {
        (address.to_lowercase(), hip.to_string(), reference.to_string())
    }

    /// Whether a care context is linked to the patient at that HIP.
    pub fn is_linked(&self, address: &str, hip: &str, reference: &str) -> bool {
        self.map.contains_key(&Links::key(address, hip, reference))
    }

    /// Links care contexts, given as (patient reference, care-context reference), all or none:
    /// none when one is linked already (its reference is returned).
    pub fn link(
        &self,
        address: &str,
        hip: &str,
        contexts: &[(String, String)],
        now: Millis,
    ) -> Result<(), String> {
        if let Some((_, r)) =
            contexts.iter().find(|(_, r)| self.map.contains_key(&Links::key(address, hip, r)))
        {
            return Err(r.clone());
        }
        for (patient, r) in contexts {
            let (address, hip, reference) = Links::key(address, hip, r);
            if self.log.is_on() {
                let key = json!([address, hip, reference]).to_string();
                let kept = KeptLink {
                    address: address.clone(),
                    hip: hip.clone(),
                    reference: reference.clone(),
                    at: now,
                    patient: patient.clone(),
                };
                self.log.put(kind::LINK, &key, &kept);
            }
            self.map.insert((address, hip, reference), (now, patient.clone()));
        }
        Ok(())
    }

    /// The care contexts linked to an address at one HIP: (patient reference, care-context
    /// reference), by reference.
    pub fn at(&self, address: &str, hip: &str) -> Vec<(String, String)> {
        let address = address.to_lowercase();
        let mut out: Vec<(String, String)> = self
            .map
            .iter()
            .filter(|e| e.key().0 == address && e.key().1 == hip)
            .map(|e| (e.value().1.clone(), e.key().2.clone()))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// The care contexts linked to an address, by HIP.
    pub fn of(&self, address: &str) -> BTreeMap<String, Vec<String>> {
        let address = address.to_lowercase();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in self.map.iter().filter(|e| e.key().0 == address) {
            out.entry(e.key().1.clone()).or_default().push(e.key().2.clone());
        }
        out.values_mut().for_each(|v| v.sort());
        out
    }

    /// Counts a v3 link token for the patient; refuses the fourth in 24 hours.
    fn issue(&self, address: &str, now: Millis) -> bool {
        let mut issued = self.tokens.entry(address.to_lowercase()).or_default();
        issued.retain(|at| now - at < LINK_TOKEN_SECONDS * SECOND);
        if issued.len() >= TOKENS_PER_DAY {
            return false;
        }
        issued.push(now);
        true
    }
}

/// A linking token (RS512, a day) for `address`, issued to a requester (`HIP`, its id), good in
/// the workspace `sh` is only.
pub fn link_token(sh: &Shared, address: &str, (kind, id): (&str, &str), now: Millis) -> String {
    let iat = now / 1000;
    let claims = json!({"sub": address, "requesterType": kind, "requesterId": id, "patientId": address,
        "sessionId": Uuid::new_v4(), "exp": iat + LINK_TOKEN_SECONDS, "iat": iat, "workspace": sh.workspace});
    crypto::sign(&claims, Algorithm::RS512)
}

/// A linking token this gateway issued, unexpired, to a HIP of the calling client: its
/// (ABHA address, HIP id). On failure, (HIP id if known, error code, message).
fn check_link_token(
    sh: &Shared,
    bridges: &Bridges,
    token: &str,
    caller: &str,
    now: Millis,
) -> Result<(String, String), (String, Code, String)> {
    let claims = crypto::verify(token, Algorithm::RS512)
        .map_err(|e| (String::new(), INVALID_LINK_TOKEN, format!("Invalid linking token: {e}")))?;
    let hip = claims["requesterId"].as_str().unwrap_or_default().to_string();
    let address = claims["sub"].as_str().unwrap_or_default().to_string();
    let issued_in = claims["workspace"].as_str().unwrap_or_default();
    if issued_in != sh.workspace {
        let why = format!("Invalid linking token: issued in workspace {issued_in:?}, not {:?}", sh.workspace);
        return Err((String::new(), INVALID_LINK_TOKEN, why));
    }
    if bridges.owner_of(sh, &hip).as_deref() != Some(caller) {
        let why = format!("Invalid linking token: issued to {hip}, not to a HIP of {caller}");
        return Err((String::new(), INVALID_LINK_TOKEN, why));
    }
    if claims["exp"].as_i64().unwrap_or(0) * 1000 <= now {
        return Err((hip, INVALID_LINK_TOKEN, "Invalid linking token: expired".to_string()));
    }
    Ok((address, hip))
}

/// The care contexts of one patient entry: their reference numbers, each with a display.
fn care_contexts(patient: &Obj) -> ApiResult<Vec<String>> {
    let field = patient.name("careContexts");
    let items = match patient.raw("careContexts") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(ApiError::bad(&field, "required", "must not be empty")),
        Some(_) => return Err(ApiError::bad(&field, "type", "must be an array")),
        None => return Err(ApiError::bad(&field, "required", "is required")),
    };
    let mut refs = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Value::Object(map) = c else {
            return Err(ApiError::bad(&at, "type", "must be an object"));
        };
        let c = Obj::at(map, at);
        refs.push(c.str("referenceNumber")?.to_string());
        c.str("display")?;
    }
    Ok(refs)
}

/// Links care contexts, (patient reference, care-context reference), of the patient at `address`
/// at a HIP, all or none: the consent manager's record gains them, whichever flow linked them (a
/// linking token here, the Carestack API's document linking). One linked already refuses the lot
/// (1439 / `ABDM-1056`).
pub fn link_at_hip(
    links: &Links,
    address: &str,
    hip: &str,
    contexts: &[(String, String)],
    now: Millis,
) -> Result<(), (Code, String)> {
    links.link(address, hip, contexts, now).map_err(|_| {
        let why = "Some of the Care Contexts are already linked, please remove the linked Care Contexts.";
        (ALREADY_LINKED, why.to_string())
    })
}

/// Links `refs` with a linking token; the outcome is for the callback, to the token's HIP (or
/// the caller's own when the token names none of its HIPs).
fn link_with_token(
    sh: &Shared,
    bridges: &Bridges,
    links: &Links,
    token: &str,
    address: Option<&str>,
    refs: &[(String, String)],
    me: &str,
) -> (String, Result<String, (Code, String)>) {
    let now = sh.clock.now();
    let verdict = check_link_token(sh, bridges, token, me, now).and_then(|(token_address, hip)| {
        if address.is_some_and(|a| !a.eq_ignore_ascii_case(&token_address)) {
            let why =
                format!("the link token was issued for {token_address}, not {}", address.unwrap_or_default());
            return Err((hip, INVALID_LINK_TOKEN, why));
        }
        match link_at_hip(links, &token_address, &hip, refs, now) {
            Ok(()) => Ok((token_address, hip)),
            Err((code, why)) => Err((hip, code, why)),
        }
    });
    match verdict {
        Ok((address, hip)) => (hip, Ok(address)),
        Err((hip, code, message)) => {
            (if hip.is_empty() { bridges.own_service(sh, me, "HIP") } else { hip }, Err((code, message)))
        }
    }
}

/// v0.5 `links/link/add-contexts` → `on-add-contexts`.
pub async fn add_contexts(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    links: web::Data<Links>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let answers = hygiene.request(&req, &body, Version::V05)?;
    let link = body.obj("link")?;
    let token = link.str("accessToken")?;
    let patient = link.obj("patient")?;
    let reference = patient.str("referenceNumber")?.to_string();
    patient.str("display")?;
    let refs: Vec<(String, String)> =
        care_contexts(&patient)?.into_iter().map(|r| (reference.clone(), r)).collect();
    let (hip, outcome) = link_with_token(&sh, &bridges, &links, token, None, &refs, &caller(&req));
    let outcome = outcome.map(|_| json!({"status": "SUCCESS"}));
    let cb = Version::V05.answer(
        ("/v0.5/links/link/on-add-contexts", ""),
        answers,
        sh.clock.now(),
        "acknowledgement",
        outcome,
    );
    bridges::send(&sh, &bridges, (Receiver::Hip, &hip), cb, Vec::new());
    Ok(accepted())
}

/// v3: the `X-HIP-ID` header must name one of the caller's HIPs; returns it.
fn routed_hip(sh: &Shared, bridges: &Bridges, req: &HttpRequest) -> ApiResult<String> {
    require_cm_id(req)?;
    let hip =
        header(req, "X-HIP-ID").ok_or_else(|| ApiError::bad("X-HIP-ID", "required", "header is required"))?;
    require_own(sh, bridges, req, hip, "X-HIP-ID", Version::V3)?;
    Ok(hip.to_string())
}

/// An ABHA number as v3 takes it: 14 digits, as a number or a string, without dashes.
fn abha_number(body: &JsonBody) -> ApiResult<Option<String>> {
    match body.0.get("abhaNumber") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::String(s)) if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(s.clone()))
        }
        Some(_) => {
            Err(ApiError::bad("abhaNumber", "abha-number-format", "must be the 14 digits, without dashes")
                .code(Version::V3.code(BAD_REQUEST)))
        }
    }
}

/// v3 `generate-token` → `{bridge}/api/v3/hip/token/on-generate-token` with the link token, when
/// the demographics match the patient's ABHA profile and fewer than three tokens were issued
/// for them in 24 hours.
pub async fn generate_token(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    links: web::Data<Links>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let answers = hygiene.request(&req, &body, Version::V3)?;
    let hip = routed_hip(&sh, &bridges, &req)?;
    let number = abha_number(&body)?;
    let address = body.str("abhaAddress")?;
    let name = body.str("name")?;
    let gender = body.str("gender")?;
    let year = body
        .opt_uint("yearOfBirth")?
        .ok_or_else(|| ApiError::bad("yearOfBirth", "required", "is required"))?;
    let now = sh.clock.now();
    let outcome = match sh.accounts.by_address(address) {
        None => Err((NOT_FOUND, format!("no ABHA address {address}"))),
        Some(account) => {
            let p = &sh.fixtures.people[account.person];
            let digits: String = account.abha_number.chars().filter(char::is_ascii_digit).collect();
            let mismatch = [
                (number.as_ref().is_some_and(|n| *n != digits), "abhaNumber"),
                (!name.trim().eq_ignore_ascii_case(&p.name), "name"),
                (gender != p.gender, "gender"),
                (year != u64::from(p.year_of_birth), "yearOfBirth"),
            ]
            .into_iter()
            .filter(|(wrong, _)| *wrong)
            .map(|(_, f)| f)
            .collect::<Vec<_>>();
            if !mismatch.is_empty() {
                Err((
                    DEMOGRAPHICS_MISMATCH,
                    format!("{} do not match the ABHA profile of {address}", mismatch.join(", ")),
                ))
            } else if !links.issue(address, now) {
                Err((
                    TOKEN_LIMIT,
                    format!("{TOKENS_PER_DAY} link tokens were issued for {address} in 24 hours; blocked"),
                ))
            } else {
                Ok(link_token(&sh, address, ("HIP", &hip), now))
            }
        }
    };
    let outcome = outcome.map(|token| ("linkToken", token));
    answer_v3(&sh, &bridges, (&hip, "/api/v3/hip/token/on-generate-token", answers), address, outcome);
    Ok(accepted())
}

/// A v3 linking callback to the HIP answering `answers`: the address, and `key: value` on success
/// or the error.
fn answer_v3(
    sh: &Shared,
    bridges: &Bridges,
    (hip, path, answers): (&str, &str, Uuid),
    address: &str,
    outcome: Result<(&str, String), (Code, String)>,
) {
    let mut payload = json!({"abhaAddress": address});
    match outcome {
        Ok((key, value)) => payload[key] = json!(value),
        Err((code, message)) => {
            payload["error"] = json!({"code": Version::V3.code(code), "message": message})
        }
    }
    let cb = Version::V3.message(("", path), Some(answers), sh.clock.now(), payload);
    bridges::send(sh, bridges, (Receiver::Hip, hip), cb, Vec::new());
}

/// v3 `link/carecontext` with `X-LINK-TOKEN` → `{bridge}/api/v3/link/on_carecontext`.
pub async fn link_carecontext(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    links: web::Data<Links>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let answers = hygiene.request(&req, &body, Version::V3)?;
    routed_hip(&sh, &bridges, &req)?;
    let token = header(&req, "X-LINK-TOKEN")
        .ok_or_else(|| ApiError::bad("X-LINK-TOKEN", "required", "header is required (the link token)"))?;
    abha_number(&body)?;
    let address = body.str("abhaAddress")?;
    let bad = |field: &str, rule: &'static str, why: &str| {
        ApiError::bad(field, rule, why).code(Version::V3.code(BAD_REQUEST))
    };
    let patients = match body.0.get("patient") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(bad("patient", "required", "must not be empty")),
        _ => return Err(bad("patient", "type", "must be an array of patient entries")),
    };
    let mut refs = Vec::new();
    for (i, p) in patients.iter().enumerate() {
        let at = format!("patient[{i}]");
        let Value::Object(map) = p else { return Err(bad(&at, "type", "must be an object")) };
        let p = Obj::at(map, at.clone());
        let reference = p.str("referenceNumber")?.to_string();
        p.str("display")?;
        if !matches!(map.get("hiType"), Some(Value::String(_))) {
            return Err(bad(&p.name("hiType"), "hi-type", "must be one HI type as a string, not an array"));
        }
        let contexts = care_contexts(&p)?;
        let count = p.opt_uint("count")?.ok_or_else(|| bad(&p.name("count"), "required", "is required"))?;
        if !(1..=MAX_CONTEXTS as u64).contains(&count) || count as usize != contexts.len() {
            let why = format!("must be 1 to {MAX_CONTEXTS} and equal the {} care contexts", contexts.len());
            return Err(bad(&p.name("count"), "care-context-count", &why));
        }
        refs.extend(contexts.into_iter().map(|r| (reference.clone(), r)));
    }
    let (hip, outcome) = link_with_token(&sh, &bridges, &links, token, Some(address), &refs, &caller(&req));
    // On success the address as the link token names it.
    let (address, outcome) = match outcome {
        Ok(linked) => (linked, Ok(("status", "Successfully Linked care context".to_string()))),
        Err(e) => (address.to_string(), Err(e)),
    };
    answer_v3(&sh, &bridges, (&hip, "/api/v3/link/on_carecontext", answers), &address, outcome);
    Ok(accepted())
}

/// `links/context/notify` (either version) → `on-notify`: SUCCESS when the care context is linked
/// to the patient at that HIP.
pub async fn context_notify(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    links: web::Data<Links>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answers) = hygiene.inbound(&req, &body)?;
    let n = body.obj("notification")?;
    let address = n.obj("patient")?.str("id")?;
    let cc = n.obj("careContext")?;
    cc.str("patientReference")?;
    let reference = cc.str("careContextReference")?;
    let hip = n.obj("hip")?.str("id")?;
    n.strings("hiTypes")?;
    n.str("date")?;
    require_own(&sh, &bridges, &req, hip, "notification.hip.id", version)?;
    let outcome = if links.is_linked(address, hip, reference) {
        Ok(json!({"status": "SUCCESS"}))
    } else {
        Err((GENERIC, format!("care context {reference} is not linked to {address} at {hip}")))
    };
    let paths = ("/v0.5/links/context/on-notify", "/api/v3/links/context/on-notify");
    let cb = version.answer(paths, answers, sh.clock.now(), "acknowledgement", outcome);
    bridges::send(&sh, &bridges, (Receiver::Hip, hip), cb, Vec::new());
    Ok(accepted())
}

/// When a v0.5 link token issued now expires, as user auth's `validity.expiry` says it.
pub fn token_expiry(now: Millis) -> String {
    timestamp(now + LINK_TOKEN_SECONDS * 1000)
}
