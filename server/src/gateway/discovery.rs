//! User-initiated discovery and linking, in both envelopes. The sandbox plays the patient's PHR
//! app and the consent manager; the HIP is judged on each answer.
//!
//! ```text
//! POST /_sandbox/discover ─▶ discover ─▶ HIP on-discover (patient, care contexts, matchedBy)
//!   POST .../{transactionId}/link ─▶ link init ─▶ HIP on-init (referenceNumber, authenticationType, meta)
//!   POST .../{transactionId}/confirm {token} ─▶ link confirm ─▶ HIP on-confirm (linked contexts)
//! ```
//!
//! | message | v0.5 | v3 |
//! |---|---|---|
//! | discover | `{bridge}/v0.5/care-contexts/discover` | `{bridge}/api/v3/hip/patient/care-context/discover` |
//! | on-discover | `/gateway/v0.5/care-contexts/on-discover` | `/api/hiecm/user-initiated-linking/v3/patient/care-context/on-discover` |
//! | link init | `{bridge}/v0.5/links/link/init` | `{bridge}/api/v3/hip/link/care-context/init` |
//! | on-init | `/gateway/v0.5/links/link/on-init` | `/api/hiecm/user-initiated-linking/v3/link/care-context/on-init` |
//! | confirm | `{bridge}/v0.5/links/link/confirm` | `{bridge}/api/v3/hip/link/care-context/confirm` |
//! | on-confirm | `/gateway/v0.5/links/link/on-confirm` | `/api/hiecm/user-initiated-linking/v3/link/care-context/on-confirm` |
//!
//! v3's on-discover carries `patient` as an array of `{referenceNumber, display, careContexts,
//! hiType (one string), count (= the care contexts)}` and `matchedBy`; v0.5's one patient object.
//! Every answer is checked; what is wrong is refused (400) and kept, in sentences, for
//! `GET /_sandbox/discover/{transactionId}`. Contexts the HIP confirms are linked for the address.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::Bridges;
use super::envelope::{Hygiene, Message, Version, BAD_REQUEST, INVALID_TRANSACTION};
use super::linking::Links;
use super::sessions::caller;
use crate::body::{JsonBody, Obj};
use crate::callbacks::{Callback, Receiver};
use crate::clock::{Millis, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::flow::{self, Guard};
use crate::shared::Shared;
use crate::store::Store;

/// The steps of a discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Discover sent; on-discover next.
    Discovering,
    /// Records found; link next.
    Discovered,
    /// Link init sent; on-init next.
    Linking,
    /// The HIP sent the patient an OTP; confirm next.
    AwaitingConfirm,
    /// Confirm sent; on-confirm next.
    Confirming,
    /// Linked.
    Linked,
    /// The HIP answered with an error or nothing to link.
    Failed,
}

impl flow::Step for Step {
    fn describe(self) -> &'static str {
        match self {
            Step::Discovering => "discover sent (waiting for on-discover)",
            Step::Discovered => "discovered (link next)",
            Step::Linking => "link init sent (waiting for on-init)",
            Step::AwaitingConfirm => "the HIP sent the OTP (confirm next)",
            Step::Confirming => "confirm sent (waiting for on-confirm)",
            Step::Linked => "linked",
            Step::Failed => "failed",
        }
    }
}

/// A patient record the HIP discovered.
#[derive(Debug, Clone)]
struct Found {
    reference: String,
    display: String,
    hi_type: String,
    contexts: Vec<(String, String)>,
}

/// One exchange of a discovery, as the outcome shows it.
#[derive(Debug, Clone)]
struct Exchange {
    name: &'static str,
    request_id: Uuid,
    sent_at: Millis,
    delivery: Option<Value>,
    answer: Option<Value>,
    problems: Vec<String>,
}

/// One discovery, keyed by its `transactionId`.
pub struct Discovery {
    hip_id: String,
    address: String,
    version: Version,
    step: Step,
    exchanges: Vec<Exchange>,
    found: Vec<Found>,
    requested: Vec<String>,
    link_ref: Option<String>,
    linked: Vec<String>,
}

impl flow::Txn for Discovery {
    type Step = Step;
    const RESTART: &'static str = "discover again";
    fn step(&self) -> Step {
        self.step
    }
}

/// Every discovery, and which discovery each request the gateway sent belongs to.
pub struct Discoveries {
    txns: Store<Discovery>,
    by_request: DashMap<Uuid, Uuid>,
}

impl Default for Discoveries {
    fn default() -> Self {
        Discoveries { txns: Store::with_ttl(60 * MINUTE), by_request: DashMap::new() }
    }
}

impl Discoveries {
    /// No discoveries.
    pub fn reset(&self) {
        self.txns.clear();
        self.by_request.clear();
    }

    /// Drops discoveries an hour old; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        let swept = self.txns.sweep(now);
        self.by_request.retain(|_, txn| self.txns.peek(*txn, |_| ()).is_some());
        swept
    }

    /// A discovery as `GET /_sandbox/discover/{transactionId}` shows it.
    pub fn outcome(&self, id: Uuid) -> Option<Value> {
        self.txns.peek(id, |d| {
            let exchanges: Vec<Value> = d
                .exchanges
                .iter()
                .map(|e| {
                    json!({"step": e.name, "requestId": e.request_id, "sentAt": crate::clock::iso(e.sent_at),
                        "delivery": e.delivery, "answer": e.answer, "answered": e.answer.is_some(),
                        "matched": e.answer.is_some() && e.problems.is_empty(), "problems": e.problems})
                })
                .collect();
            let found: Vec<Value> = d
                .found
                .iter()
                .map(|f| {
                    let contexts: Vec<Value> =
                        f.contexts.iter().map(|(r, t)| json!({"referenceNumber": r, "display": t})).collect();
                    json!({"referenceNumber": f.reference, "display": f.display, "hiType": f.hi_type, "careContexts": contexts})
                })
                .collect();
            let problems: Vec<&String> = d.exchanges.iter().flat_map(|e| &e.problems).collect();
            json!({
                "transactionId": id, "hipId": d.hip_id, "abhaAddress": d.address, "version": d.version.name(),
                "status": flow::Step::describe(d.step), "steps": exchanges, "patients": found,
                "linkReferenceNumber": d.link_ref, "requested": d.requested, "linked": d.linked, "problems": problems,
            })
        })
    }
}

/// Sends one of the gateway's requests of a discovery and records it; its delivery outcome is
/// recorded when known.
fn send(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    all: &web::Data<Discoveries>,
    (txn, name): (Uuid, &'static str),
    hip: &str,
    msg: Message,
) -> ApiResult<Uuid> {
    let (client, base) = bridges.route(sh, hip)?;
    let request_id = msg.request_id;
    hygiene.expect_answer(request_id, &client);
    all.by_request.insert(request_id, txn);
    let exchange = Exchange {
        name,
        request_id,
        sent_at: sh.clock.now(),
        delivery: None,
        answer: None,
        problems: Vec::new(),
    };
    all.txns.update(txn, |d| d.exchanges.push(exchange));
    let record = all.clone();
    sh.callbacks.send(Callback {
        base,
        path: msg.path,
        receiver: Receiver::Hip,
        receiver_id: hip.to_string(),
        body: msg.body,
        headers: msg.headers,
        on_delivered: Some(Arc::new(move |d| {
            let delivery = json!({"delivered": d.status.is_some_and(|s| s < 300), "hipStatus": d.status,
                "error": d.error, "attempts": d.attempts});
            record.txns.update(txn, |t| {
                if let Some(e) = t.exchanges.iter_mut().find(|e| e.request_id == request_id) {
                    e.delivery = Some(delivery);
                }
            });
        })),
        token: None,
        then: None,
    });
    Ok(request_id)
}

/// The patient's PHR app asks a HIP for their records: `{hipId, abhaAddress, version?}` →
/// `{transactionId, requestId}`. The version is the HIP bridge's unless given.
pub fn discover(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    all: &web::Data<Discoveries>,
    (hip, address, version): (&str, &str, Option<Version>),
) -> ApiResult<Value> {
    let account = sh.accounts.by_address(address).ok_or_else(|| {
        ApiError::rule("abhaAddress", "abha-address-unknown", format!("no ABHA address {address}"))
    })?;
    bridges.route(sh, hip)?;
    let version = version.unwrap_or_else(|| bridges.version_of(sh, hip));
    let p = &sh.fixtures.people[account.person];
    let identifiers = match version {
        Version::V05 => {
            json!([{"type": "MOBILE", "value": account.mobile}, {"type": "NDHM_HEALTH_NUMBER", "value": account.abha_number}])
        }
        Version::V3 => {
            json!([{"type": "MOBILE", "value": account.mobile}, {"type": "ABHA_NUMBER", "value": account.abha_number},
            {"type": "ABHA_ADDRESS", "value": address}])
        }
    };
    let now = sh.clock.now();
    let txn = Discovery {
        hip_id: hip.to_string(),
        address: address.to_string(),
        version,
        step: Step::Discovering,
        exchanges: Vec::new(),
        found: Vec::new(),
        requested: Vec::new(),
        link_ref: None,
        linked: Vec::new(),
    };
    let id = all.txns.insert(txn, now);
    let patient = json!({"id": address, "verifiedIdentifiers": identifiers, "unverifiedIdentifiers": [],
        "name": p.name, "gender": p.gender, "yearOfBirth": p.year_of_birth});
    let paths = ("/v0.5/care-contexts/discover", "/api/v3/hip/patient/care-context/discover");
    let msg = version.message(paths, None, now, json!({"transactionId": id, "patient": patient}));
    let request_id = send(sh, bridges, hygiene, all, (id, "discover"), hip, msg)?;
    Ok(json!({"transactionId": id, "requestId": request_id}))
}

/// Link init for the discovered care contexts (`careContexts`: references; all when absent).
pub fn link(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    all: &web::Data<Discoveries>,
    id: Uuid,
    wanted: Option<Vec<String>>,
) -> ApiResult<Value> {
    let now = sh.clock.now();
    let guard = Guard { field: "transactionId", allowed: &[Step::Discovered], action: "linking" };
    let (hip, msg) = all.txns.advance(id, now, guard, |d| {
        let known: Vec<&String> = d.found.iter().flat_map(|f| f.contexts.iter().map(|(r, _)| r)).collect();
        let wanted = wanted.unwrap_or_else(|| known.iter().map(|r| r.to_string()).collect());
        if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
            return Err(ApiError::rule("careContexts", "care-context-unknown", format!("{unknown} was not discovered")));
        }
        if wanted.is_empty() {
            return Err(ApiError::rule("careContexts", "required", "nothing to link"));
        }
        let patients: Vec<Value> = d
            .found
            .iter()
            .filter(|f| f.contexts.iter().any(|(r, _)| wanted.contains(r)))
            .map(|f| {
                let cs: Vec<Value> = f.contexts.iter().filter(|(r, _)| wanted.contains(r))
                    .map(|(r, t)| json!({"referenceNumber": r, "display": t})).collect();
                json!({"referenceNumber": f.reference, "display": f.display, "careContexts": cs, "hiType": f.hi_type, "count": cs.len()})
            })
            .collect();
        let payload = match d.version {
            Version::V05 => {
                let cs: Vec<Value> = wanted.iter().map(|r| json!({"referenceNumber": r})).collect();
                let reference = patients.first().map(|p| p["referenceNumber"].clone()).unwrap_or_default();
                json!({"transactionId": id, "patient": {"id": d.address, "referenceNumber": reference, "careContexts": cs}})
            }
            Version::V3 => json!({"transactionId": id, "abhaAddress": d.address, "patient": patients}),
        };
        d.requested = wanted;
        d.step = Step::Linking;
        let paths = ("/v0.5/links/link/init", "/api/v3/hip/link/care-context/init");
        Ok((d.hip_id.clone(), d.version.message(paths, None, now, payload)))
    })?;
    let request_id = send(sh, bridges, hygiene, all, (id, "link-init"), &hip, msg)?;
    Ok(json!({"transactionId": id, "requestId": request_id}))
}

/// Link confirm with the OTP the HIP sent the patient.
pub fn confirm(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    all: &web::Data<Discoveries>,
    id: Uuid,
    token: &str,
) -> ApiResult<Value> {
    let now = sh.clock.now();
    let guard = Guard { field: "transactionId", allowed: &[Step::AwaitingConfirm], action: "confirming" };
    let (hip, msg) = all.txns.advance(id, now, guard, |d| {
        let confirmation = json!({"linkRefNumber": d.link_ref, "token": token});
        d.step = Step::Confirming;
        let paths = ("/v0.5/links/link/confirm", "/api/v3/hip/link/care-context/confirm");
        Ok((d.hip_id.clone(), d.version.message(paths, None, now, json!({"confirmation": confirmation}))))
    })?;
    let request_id = send(sh, bridges, hygiene, all, (id, "link-confirm"), &hip, msg)?;
    Ok(json!({"transactionId": id, "requestId": request_id}))
}

/// The envelope of a HIP's answer, checked: the discovery whose request it answers.
fn receive(
    all: &Discoveries,
    hygiene: &Hygiene,
    req: &HttpRequest,
    body: &JsonBody,
    answers: &'static str,
) -> ApiResult<(Version, Uuid, Uuid)> {
    let (version, answered) = hygiene.callback(req, body, &caller(req))?;
    let txn = all.by_request.get(&answered).map(|t| *t).ok_or_else(|| {
        ApiError::bad("transactionId", "transaction-unknown", "answers no discovery")
            .code(version.code(INVALID_TRANSACTION))
    })?;
    let name = all.txns.peek(txn, |d| d.exchanges.iter().find(|e| e.request_id == answered).map(|e| e.name));
    match name.flatten() {
        Some(n) if n == answers => Ok((version, txn, answered)),
        other => {
            let field = format!("{}.requestId", version.answer_field());
            let why = format!("answers the {} request, not the {answers}", other.unwrap_or("unknown"));
            Err(ApiError::bad(&field, "resp-mismatch", why).code(version.code(BAD_REQUEST)))
        }
    }
}

/// Records an answer and its problems on the exchange it answers; 202 when there are none, else
/// 400 naming the first.
fn record(
    all: &Discoveries,
    txn: Uuid,
    answered: Uuid,
    body: &JsonBody,
    problems: Vec<String>,
    version: Version,
) -> ApiResult<HttpResponse> {
    let first = problems.first().cloned();
    all.txns.update(txn, |d| {
        if let Some(e) = d.exchanges.iter_mut().find(|e| e.request_id == answered) {
            e.answer = Some(Value::Object(body.0.clone()));
            e.problems = problems;
        }
    });
    match first {
        None => Ok(HttpResponse::Accepted().finish()),
        Some(why) => Err(ApiError::bad("body", "hip-answer", why).code(version.code(BAD_REQUEST))),
    }
}

/// The body's `transactionId` must be the discovery's.
fn same_transaction(body: &JsonBody, txn: Uuid, problems: &mut Vec<String>) {
    match body.opt_str("transactionId") {
        Ok(Some(t)) if t == txn.to_string() => {}
        Ok(Some(t)) => problems.push(format!("transactionId is {t:?}, the discovery's is {txn}")),
        _ => problems.push("transactionId is required (the discovery's)".to_string()),
    }
}

/// The patient records of an on-discover or on-confirm: one object in v0.5, an array in v3
/// whose entries carry `hiType` (one string) and `count` (= their care contexts).
fn patients(body: &JsonBody, version: Version, problems: &mut Vec<String>) -> Vec<Found> {
    let entries: Vec<(String, &serde_json::Map<String, Value>)> = match (version, body.0.get("patient")) {
        (_, None | Some(Value::Null)) => return Vec::new(),
        (Version::V05, Some(Value::Object(map))) => vec![("patient".into(), map)],
        (Version::V3, Some(Value::Array(items))) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_object().map(|m| (format!("patient[{i}]"), m)))
            .collect(),
        (Version::V3, Some(Value::Object(_))) => {
            problems.push("patient must be an array of patient records in v3, not an object".into());
            return Vec::new();
        }
        _ => {
            problems.push("patient must be an object".into());
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for (at, map) in entries {
        let p = Obj::at(map, at);
        let text = |o: &Obj, k: &str, problems: &mut Vec<String>| match o.str(k) {
            Ok(v) => v.to_string(),
            Err(e) => {
                problems.push(e.message);
                String::new()
            }
        };
        let reference = text(&p, "referenceNumber", problems);
        let display = text(&p, "display", problems);
        let mut contexts = Vec::new();
        match map.get("careContexts") {
            Some(Value::Array(items)) => {
                for (i, c) in items.iter().enumerate() {
                    let Some(c) = c.as_object() else {
                        problems.push(format!("{}[{i}] must be an object", p.name("careContexts")));
                        continue;
                    };
                    let c = Obj::at(c, format!("{}[{i}]", p.name("careContexts")));
                    contexts.push((text(&c, "referenceNumber", problems), text(&c, "display", problems)));
                }
            }
            _ => problems.push(format!("{} must be an array", p.name("careContexts"))),
        }
        let mut hi_type = String::new();
        if version == Version::V3 {
            match map.get("hiType") {
                Some(Value::String(t)) => hi_type = t.clone(),
                Some(Value::Array(_)) => problems
                    .push(format!("{} must be one HI type as a string, not an array", p.name("hiType"))),
                _ => problems.push(format!("{} is required (one HI type)", p.name("hiType"))),
            }
            match map.get("count").and_then(Value::as_u64) {
                Some(n) if n as usize == contexts.len() => {}
                Some(n) => problems.push(format!(
                    "{} is {n}, but {} care contexts are listed",
                    p.name("count"),
                    contexts.len()
                )),
                None => {
                    problems.push(format!("{} is required (the number of care contexts)", p.name("count")))
                }
            }
        }
        found.push(Found { reference, display, hi_type, contexts });
    }
    found
}

/// HIP → gateway `on-discover`: the patient's records, or an error.
pub async fn on_discover(
    all: web::Data<Discoveries>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, txn, answered) = receive(&all, &hygiene, &req, &body, "discover")?;
    let mut problems = Vec::new();
    same_transaction(&body, txn, &mut problems);
    let found = patients(&body, version, &mut problems);
    let failed = body.0.get("error").is_some_and(|e| !e.is_null());
    if version == Version::V3
        && !failed
        && !matches!(body.0.get("matchedBy"), Some(Value::Array(m)) if !m.is_empty())
    {
        problems.push("matchedBy is required: the identifiers the patient was matched by (MR, MOBILE, ABHA_NUMBER, ABHA_ADDRESS)".into());
    }
    if !failed && found.is_empty() && problems.is_empty() {
        problems.push("neither patient nor error: on-discover must carry one".into());
    }
    all.txns.update(txn, |d| {
        let nothing = found.iter().all(|f| f.contexts.is_empty());
        d.step = if failed || nothing || !problems.is_empty() { Step::Failed } else { Step::Discovered };
        d.found = found;
    });
    record(&all, txn, answered, &body, problems, version)
}

/// HIP → gateway link `on-init`: the link reference and how the patient authenticates.
pub async fn on_init(
    all: web::Data<Discoveries>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, txn, answered) = receive(&all, &hygiene, &req, &body, "link-init")?;
    let mut problems = Vec::new();
    same_transaction(&body, txn, &mut problems);
    let failed = body.0.get("error").is_some_and(|e| !e.is_null());
    let mut link_ref = None;
    if !failed {
        match body.root().obj("link") {
            Err(e) => problems.push(e.message),
            Ok(link) => {
                match link.str("referenceNumber") {
                    Ok(r) => link_ref = Some(r.to_string()),
                    Err(e) => problems.push(e.message),
                }
                match link.str("authenticationType") {
                    Ok("DIRECT") => {}
                    Ok("MEDIATED") => match link.obj("meta") {
                        Ok(meta) => {
                            for k in ["communicationMedium", "communicationHint", "communicationExpiry"] {
                                if let Err(e) = meta.str(k) {
                                    problems.push(format!("{} (MEDIATED: where the OTP went)", e.message));
                                }
                            }
                        }
                        Err(e) => problems.push(format!("{} (MEDIATED: where the OTP went)", e.message)),
                    },
                    Ok(other) => {
                        problems.push(format!("link.authenticationType is {other:?}: DIRECT or MEDIATED"))
                    }
                    Err(e) => problems.push(e.message),
                }
            }
        }
    }
    all.txns.update(txn, |d| {
        d.step = if failed || !problems.is_empty() { Step::Failed } else { Step::AwaitingConfirm };
        d.link_ref = link_ref;
    });
    record(&all, txn, answered, &body, problems, version)
}

/// HIP → gateway link `on-confirm`: the linked care contexts, which the consent manager then
/// holds for the address. An error (a wrong OTP) leaves the discovery awaiting another confirm.
pub async fn on_confirm(
    sh: web::Data<Shared>,
    all: web::Data<Discoveries>,
    links: web::Data<Links>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, txn, answered) = receive(&all, &hygiene, &req, &body, "link-confirm")?;
    let mut problems = Vec::new();
    let failed = body.0.get("error").is_some_and(|e| !e.is_null());
    let found = patients(&body, version, &mut problems);
    let now = sh.clock.now();
    all.txns.update(txn, |d| {
        if failed {
            d.step = Step::AwaitingConfirm;
            return;
        }
        let pairs: Vec<(String, String)> = found
            .iter()
            .flat_map(|f| f.contexts.iter().map(|(r, _)| (f.reference.clone(), r.clone())))
            .collect();
        let refs: Vec<String> = pairs.iter().map(|(_, r)| r.clone()).collect();
        if refs.is_empty() {
            problems.push("patient.careContexts is empty: on-confirm lists the linked care contexts".into());
        }
        if let Some(r) = refs.iter().find(|r| !d.requested.contains(r)) {
            problems.push(format!("care context {r} was not asked to be linked"));
        }
        if !problems.is_empty() {
            d.step = Step::Failed;
            return;
        }
        match links.link(&d.address, &d.hip_id, &pairs, now) {
            Ok(()) => {
                d.linked = refs;
                d.step = Step::Linked;
            }
            Err(r) => {
                problems.push(format!("care context {r} is already linked to {}", d.address));
                d.step = Step::Failed;
            }
        }
    });
    record(&all, txn, answered, &body, problems, version)
}
