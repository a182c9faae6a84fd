//! Consent for an HIU (M3): the HIU asks the consent manager for a patient's consent; the
//! sandbox plays the consent manager and the patient, whose decision is scripted in the fixtures
//! (`consentDecision`: grant or deny a moment later, or wait to be asked through the control API).
//! A grant makes one artefact per HIP holding matching records, its date range narrowed to those
//! records, as a patient choosing in the PHR app does. The HIU is notified, acknowledges each
//! artefact, asks for the request's status and fetches the artefacts.
//!
//! ```text
//! init ─▶ REQUESTED ─ patient grants ─▶ GRANTED ─ revoke / expire (per artefact) ─▶ REVOKED / EXPIRED
//!             └────── patient denies ─▶ DENIED
//! ```
//!
//! | message | v0.5 | v3 |
//! |---|---|---|
//! | init | `/gateway/v0.5/consent-requests/init` | `/api/hiecm/consent/v3/request/init` |
//! | on-init | `{bridge}/v0.5/consent-requests/on-init` | `{bridge}/api/v3/hiu/consent/request/on-init` |
//! | notify | `{bridge}/v0.5/consents/hiu/notify` | `{bridge}/api/v3/hiu/consent/request/notify` |
//! | on-notify | `/gateway/v0.5/consents/hiu/on-notify` | `/api/hiecm/consent/v3/request/hiu/on-notify` |
//! | status | `/gateway/v0.5/consent-requests/status` | `/api/hiecm/consent/v3/request/status` |
//! | on-status | `{bridge}/v0.5/consent-requests/on-status` | `{bridge}/api/v3/hiu/consent/request/on-status` |
//! | fetch | `/gateway/v0.5/consents/fetch` | `/api/hiecm/consent/v3/fetch` |
//! | on-fetch | `{bridge}/v0.5/consents/on-fetch` | `{bridge}/api/v3/hiu/consent/on-fetch` |
//!
//! The request is checked as ProjectEKA's consent manager does (`requestConsent`): an unknown
//! patient is 1414, a purpose off the list 1420, an unknown HI type 1419.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::{self, require_own, Bridges};
use super::consent::{HI_TYPES, PURPOSES};
use super::envelope::{accepted, Code, Hygiene, Version, BAD_REQUEST, INVALID_TRANSACTION};
use super::sessions::caller;
use crate::body::{header, JsonBody, Obj};
use crate::callbacks::Receiver;
use crate::clock::{iso, parse_utc, Millis, MINUTE, SECOND};
use crate::error::{ApiError, ApiResult};
use crate::fixtures::{ConsentDecision, Record};
use crate::persist::{kind, Log};
use crate::shared::Shared;
use crate::store::Store;

mod answers;
pub use answers::{fetch, status};

/// How long after init a scripted patient grants or denies, in virtual time.
pub const DECISION_DELAY: Millis = 2 * SECOND;
const DAY: Millis = 24 * 60 * MINUTE;
const PATIENT_UNKNOWN: Code = Code { v05: 1414, v3: "ABDM-1014" };
const INVALID_PURPOSE: Code = Code { v05: 1420, v3: "ABDM-9999" };
const INVALID_HI_TYPE: Code = Code { v05: 1419, v3: "ABDM-9999" };
const REQUEST_NOT_FOUND: Code = Code { v05: 1415, v3: "ABDM-1015" };
/// An artefact the consent manager does not know.
pub const ARTEFACT_NOT_FOUND: Code = Code { v05: 1416, v3: "ABDM-9999" };
const ON_INIT: (&str, &str) = ("/v0.5/consent-requests/on-init", "/api/v3/hiu/consent/request/on-init");
const NOTIFY: (&str, &str) = ("/v0.5/consents/hiu/notify", "/api/v3/hiu/consent/request/notify");
const ON_STATUS: (&str, &str) = ("/v0.5/consent-requests/on-status", "/api/v3/hiu/consent/request/on-status");
const ON_FETCH: (&str, &str) = ("/v0.5/consents/on-fetch", "/api/v3/hiu/consent/on-fetch");

/// A consent artefact granted to an HIU over one HIP's records.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Artefact {
    /// The consent request it answers.
    pub request: Uuid,
    /// The HIU it was granted to.
    pub hiu_id: String,
    /// The gateway client that asked for it.
    pub client: String,
    /// The HIP holding the records (played by the sandbox).
    pub hip_id: String,
    /// `GRANTED`, `REVOKED` or `EXPIRED`.
    #[serde(deserialize_with = "crate::persist::status")]
    pub status: crate::persist::Status,
    /// The care contexts covered, with their bundles.
    pub records: Vec<Record>,
    /// HI types allowed.
    pub hi_types: Vec<String>,
    /// The permitted date range (from, to).
    pub range: (Millis, Millis),
    /// When the data must be erased.
    pub erase_at: Millis,
    detail: Value,
    fetched: bool,
}

impl Artefact {
    /// The status as of `now`: a granted artefact past its erase date has expired.
    pub fn status_at(&self, now: Millis) -> &'static str {
        if self.status == "GRANTED" && self.erase_at < now {
            "EXPIRED"
        } else {
            self.status
        }
    }
}

/// One consent request of an HIU.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ConsentRequest {
    hiu_id: String,
    client: String,
    patient: String,
    person: usize,
    version: Version,
    #[serde(deserialize_with = "crate::persist::status")]
    status: crate::persist::Status,
    decision: ConsentDecision,
    created_at: Millis,
    consent: Value,
    hi_types: Vec<String>,
    range: (Millis, Millis),
    erase_at: Millis,
    hip: Option<String>,
    contexts: Option<Vec<String>>,
    artefacts: Vec<Uuid>,
    notifies: Vec<Value>,
    note: Option<String>,
}

/// Every HIU consent request and artefact; which request each notify belongs to.
pub struct ConsentRequests {
    /// By consent request id.
    pub requests: Store<ConsentRequest>,
    /// By consent (artefact) id.
    pub artefacts: Store<Artefact>,
    by_notify: DashMap<Uuid, (Uuid, usize)>,
}

impl Default for ConsentRequests {
    fn default() -> Self {
        let week = 7 * DAY;
        ConsentRequests {
            requests: Store::with_ttl(week),
            artefacts: Store::with_ttl(week),
            by_notify: DashMap::new(),
        }
    }
}

impl ConsentRequests {
    /// The requests and artefacts kept in `log`; each change kept there.
    pub fn kept(log: &Log) -> Self {
        let c = ConsentRequests::default();
        ConsentRequests {
            requests: c.requests.persisted(log, kind::CONSENT_REQUEST),
            artefacts: c.artefacts.persisted(log, kind::ARTEFACT),
            ..c
        }
    }

    /// None.
    pub fn reset(&self) {
        self.requests.clear();
        self.artefacts.clear();
        self.by_notify.clear();
    }

    /// Drops requests and artefacts a week past their last change; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        let swept = self.requests.sweep(now) + self.artefacts.sweep(now);
        self.by_notify.retain(|_, (id, _)| self.requests.peek(*id, |_| ()).is_some());
        swept
    }

    /// A request as `GET /_sandbox/consent-requests/{id}` shows it.
    pub fn outcome(&self, id: Uuid, now: Millis) -> Option<Value> {
        let (mut out, artefacts) = self.requests.peek(id, |r| {
            let out = json!({"consentRequestId": id, "hiuId": r.hiu_id, "patient": r.patient,
                "status": r.status, "decision": r.decision, "version": r.version.name(),
                "createdAt": iso(r.created_at), "hiTypes": r.hi_types,
                "dateRange": {"from": iso(r.range.0), "to": iso(r.range.1)}, "notifies": r.notifies,
                "note": r.note});
            (out, r.artefacts.clone())
        })?;
        let artefacts: Vec<Value> = artefacts.iter().filter_map(|a| self.artefact(*a, now)).collect();
        let problems: Vec<Value> = out["notifies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|n| n["problems"].as_array().cloned().unwrap_or_default())
            .collect();
        out["artefacts"] = json!(artefacts);
        out["problems"] = json!(problems);
        Some(out)
    }

    /// Every request, newest first, optionally of one HIU or patient.
    pub fn list(&self, hiu: Option<&str>, patient: Option<&str>, now: Millis) -> Vec<Value> {
        let mut ids: Vec<(Millis, Uuid)> = Vec::new();
        self.requests.for_each(|id, r| {
            if hiu.is_none_or(|h| h == r.hiu_id) && patient.is_none_or(|p| p == r.patient) {
                ids.push((r.created_at, id));
            }
        });
        ids.sort_by(|a, b| b.cmp(a));
        ids.into_iter().filter_map(|(_, id)| self.outcome(id, now)).collect()
    }

    /// An artefact as the control API shows it.
    pub fn artefact(&self, id: Uuid, now: Millis) -> Option<Value> {
        self.artefacts.peek(id, |a| {
            let contexts: Vec<Value> = a
                .records
                .iter()
                .map(|r| {
                    json!({"patientReference": r.patient_reference,
                "careContextReference": r.care_context_reference, "hiType": r.hi_type, "date": r.date})
                })
                .collect();
            json!({"consentId": id, "consentRequestId": a.request, "hiuId": a.hiu_id, "hipId": a.hip_id,
                "status": a.status_at(now), "careContexts": contexts, "hiTypes": a.hi_types,
                "dateRange": {"from": iso(a.range.0), "to": iso(a.range.1)}, "dataEraseAt": iso(a.erase_at),
                "fetched": a.fetched, "consentDetail": a.detail})
        })
    }
}

/// The flow's shared pieces, as the handlers and the scheduled decisions hold them.
#[derive(Clone)]
pub struct Parts {
    /// Clock, fixtures, dispatcher.
    pub sh: web::Data<Shared>,
    /// Where callbacks go.
    pub bridges: web::Data<Bridges>,
    /// Requests sent and awaiting answers.
    pub hygiene: web::Data<Hygiene>,
    /// The requests and artefacts.
    pub requests: web::Data<ConsentRequests>,
}

fn refused(version: Version, field: &str, rule: &'static str, why: String, code: Code) -> ApiError {
    ApiError::bad(field, rule, why).code(version.code(code))
}

fn date(o: &Obj, key: &str, version: Version) -> ApiResult<Millis> {
    let text = o.str(key)?;
    parse_utc(text).ok_or_else(|| {
        refused(version, &o.name(key), "date", format!("{text:?} is not an ISO-8601 date-time"), BAD_REQUEST)
    })
}

/// HIU → gateway `consent-requests/init`: checked, answered 202, `on-init` with the consent
/// request id; the scripted patient decides [`DECISION_DELAY`] later.
pub async fn init(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    requests: web::Data<ConsentRequests>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answers) = hygiene.inbound(&req, &body)?;
    let c = body.obj("consent")?;
    let hiu = c.obj("hiu")?;
    let hiu_id = hiu.str("id")?;
    if version == Version::V3 {
        hiu.str("name")?;
        if let Some(h) = header(&req, "X-HIU-ID").filter(|h| *h != hiu_id) {
            return Err(refused(
                version,
                "X-HIU-ID",
                "hiu-id",
                format!("{h} is not consent.hiu.id {hiu_id}"),
                BAD_REQUEST,
            ));
        }
    }
    require_own(&sh, &bridges, &req, hiu_id, "consent.hiu.id", version)?;
    if !plays_hiu(&sh, &bridges, hiu_id) {
        let why =
            format!("{hiu_id} is not registered as an HIU (fixture role HIU, or a service of type HIU)");
        return Err(ApiError::rule("consent.hiu.id", "not-an-hiu", why));
    }
    let patient = c.obj("patient")?.str("id")?;
    sh.accounts.by_address(patient).ok_or_else(|| {
        refused(
            version,
            "consent.patient.id",
            "patient-unknown",
            format!("Invalid patient: {patient}"),
            PATIENT_UNKNOWN,
        )
    })?;
    let purpose = c.obj("purpose")?;
    let code = purpose.str("code")?;
    let Some((_, text)) = PURPOSES.iter().find(|(c, _)| *c == code) else {
        let why = format!("Invalid Purpose: {code:?} is not one of {:?}", PURPOSES.map(|p| p.0));
        return Err(refused(version, "consent.purpose.code", "purpose", why, INVALID_PURPOSE));
    };
    match purpose.opt_str("text")? {
        Some(t) if t == *text => {}
        other => {
            let why = format!("Invalid Purpose: the text of {code} is {text:?}, got {other:?}");
            return Err(refused(version, "consent.purpose.text", "purpose", why, INVALID_PURPOSE));
        }
    }
    if version == Version::V3 {
        purpose.str("refUri")?;
    }
    let hi_types = c.strings("hiTypes")?;
    if hi_types.is_empty() {
        return Err(refused(
            version,
            "consent.hiTypes",
            "hi-type",
            "Invalid HI Type: name at least one".into(),
            INVALID_HI_TYPE,
        ));
    }
    if let Some((i, t)) = hi_types.iter().enumerate().find(|(_, t)| !HI_TYPES.contains(t)) {
        let why = format!("Invalid HI Type: {t:?} is not one of {HI_TYPES:?}");
        return Err(refused(version, &format!("consent.hiTypes[{i}]"), "hi-type", why, INVALID_HI_TYPE));
    }
    let permission = c.obj("permission")?;
    let mode = permission.str("accessMode")?;
    if !["VIEW", "STORE", "QUERY", "STREAM"].contains(&mode) {
        let why = format!("{mode:?}: VIEW, STORE, QUERY or STREAM");
        return Err(refused(version, "consent.permission.accessMode", "access-mode", why, BAD_REQUEST));
    }
    let range = permission.obj("dateRange")?;
    let (from, to) = (date(&range, "from", version)?, date(&range, "to", version)?);
    let now = sh.clock.now();
    if from >= to || to > now + MINUTE {
        let why = "Invalid from/to date: from must be before to, and to a present or past date".to_string();
        return Err(refused(version, "consent.permission.dateRange", "date-range", why, BAD_REQUEST));
    }
    let erase_at = date(&permission, "dataEraseAt", version)?;
    if erase_at <= now {
        let why = "must be in the future".to_string();
        return Err(refused(version, "consent.permission.dataEraseAt", "erase-at", why, BAD_REQUEST));
    }
    let frequency = permission.obj("frequency")?;
    frequency.str("unit")?;
    let requester = c.obj("requester")?;
    requester.str("name")?;
    let hip = c.opt_obj("hip")?.map(|h| h.str("id").map(str::to_string)).transpose()?;
    let contexts = match c.raw("careContexts") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items.iter().filter_map(|i| i["careContextReference"].as_str().map(str::to_string)).collect(),
        ),
        Some(_) => {
            return Err(refused(
                version,
                "consent.careContexts",
                "type",
                "must be an array".into(),
                BAD_REQUEST,
            ))
        }
    };
    let parts = Parts { sh: sh.clone(), bridges: bridges.clone(), hygiene, requests };
    let asked = Asked {
        hiu_id: hiu_id.to_string(),
        client: caller(&req),
        patient: patient.to_string(),
        version,
        consent: Value::Object(c.map().clone()),
        hi_types: hi_types.iter().map(|t| t.to_string()).collect(),
        range: (from, to),
        erase_at,
        hip,
        contexts,
    };
    let id = open(&parts, asked)?;
    let cb = version.answer(ON_INIT, answers, now, "consentRequest", Ok(json!({"id": id})));
    bridges::send(&sh, &bridges, (Receiver::Hiu, hiu_id), cb, Vec::new());
    Ok(accepted())
}

/// A consent request as the consent manager takes it, its fields checked.
pub struct Asked {
    /// The HIU asking.
    pub hiu_id: String,
    /// The gateway client that asks (the one that may query and fetch what it becomes).
    pub client: String,
    /// The patient's ABHA address.
    pub patient: String,
    /// The envelope the HIU's messages go in.
    pub version: Version,
    /// The consent as ABDM shapes it (`purpose`, `hiu`, `requester`, `permission`, ...), for the
    /// artefacts' detail.
    pub consent: Value,
    /// HI types asked for.
    pub hi_types: Vec<String>,
    /// The date range asked for (from, to).
    pub range: (Millis, Millis),
    /// When the data must be erased.
    pub erase_at: Millis,
    /// Only the records of this HIP, when given.
    pub hip: Option<String>,
    /// Only these care contexts, when given.
    pub contexts: Option<Vec<String>>,
}

/// Opens a consent request of an HIU for a patient the consent manager knows: REQUESTED, and the
/// scripted patient decides [`DECISION_DELAY`] later (or waits to be asked). Returns its id; the
/// caller tells the HIU. What `consent-requests/init` does once the request is checked, and what
/// the Carestack API's `add/Consent` starts.
pub fn open(parts: &Parts, asked: Asked) -> ApiResult<Uuid> {
    let sh = &parts.sh;
    let account = sh.accounts.by_address(&asked.patient).ok_or_else(|| {
        ApiError::rule("patient", "patient-unknown", format!("Invalid patient: {}", asked.patient))
    })?;
    let decision = sh.fixtures.people.get(account.person).map(|p| p.consent_decision).unwrap_or_default();
    let now = sh.clock.now();
    let request = ConsentRequest {
        hiu_id: asked.hiu_id,
        client: asked.client,
        patient: asked.patient,
        person: account.person,
        version: asked.version,
        status: "REQUESTED",
        decision,
        created_at: now,
        consent: asked.consent,
        hi_types: asked.hi_types,
        range: asked.range,
        erase_at: asked.erase_at,
        hip: asked.hip,
        contexts: asked.contexts,
        artefacts: Vec::new(),
        notifies: Vec::new(),
        note: None,
    };
    let id = parts.requests.requests.insert(request, now);
    // The decision waits for the caller to have told the HIU: the task runs at the earliest when
    // this request's handler yields, and then [`DECISION_DELAY`] later in virtual time.
    if decision != ConsentDecision::Ask {
        tokio::spawn(scripted(parts.clone(), id, now + DECISION_DELAY, decision == ConsentDecision::Grant));
    }
    Ok(id)
}

/// Whether a service plays the HIU: a fixture facility with that role, or a registered service
/// of type HIU.
fn plays_hiu(sh: &Shared, bridges: &Bridges, id: &str) -> bool {
    sh.fixtures.facilities.iter().any(|f| f.hip_id == id && f.is("HIU")) || bridges.has_type(id, "HIU")
}

/// The scripted patient: waits until virtual time reaches `due` (moving the clock forward
/// brings it on), then grants or denies unless someone decided first.
async fn scripted(parts: Parts, id: Uuid, due: Millis, grant: bool) {
    loop {
        let now = parts.sh.clock.now();
        if now >= due {
            break;
        }
        tokio::time::sleep(Duration::from_millis((due - now).clamp(1, 100) as u64)).await;
    }
    // A request decided through the control API already, or reset away, is left as it is.
    decide(&parts, id, grant).ok();
}

/// The patient's decision on a REQUESTED consent request; notifies the HIU.
pub fn decide(p: &Parts, id: Uuid, grant: bool) -> ApiResult<Value> {
    let now = p.sh.clock.now();
    let pending = p.requests.requests.read(id, "consentRequestId", now, |r| r.status)?;
    if pending != "REQUESTED" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "consent-request-decided",
            format!("consentRequestId: the request is {pending} already"),
        )
        .field("consentRequestId"));
    }
    let artefacts = if grant { grant_artefacts(p, id, now) } else { Vec::new() };
    let status = if artefacts.is_empty() { "DENIED" } else { "GRANTED" };
    p.requests.requests.update(id, |r| {
        r.status = status;
        r.artefacts = artefacts.clone();
        if grant && artefacts.is_empty() {
            r.note = Some(format!(
                "the patient holds no records matching the request (HI types {:?}, {} to {}{}), so nothing could be granted",
                r.hi_types, iso(r.range.0), iso(r.range.1),
                r.hip.as_ref().map(|h| format!(", at {h}")).unwrap_or_default()
            ));
        }
    });
    notify(p, id, status, &artefacts);
    Ok(json!({"consentRequestId": id, "status": status, "consentArtefacts": artefacts}))
}

/// One artefact per HIP holding records that match the request, each narrowed to its records.
fn grant_artefacts(p: &Parts, id: Uuid, now: Millis) -> Vec<Uuid> {
    let Some((person, hi_types, range, hip, contexts, (hiu, client), version, consent, erase_at, patient)) =
        p.requests.requests.peek(id, |r| {
            (
                r.person,
                r.hi_types.clone(),
                r.range,
                r.hip.clone(),
                r.contexts.clone(),
                (r.hiu_id.clone(), r.client.clone()),
                r.version,
                r.consent.clone(),
                r.erase_at,
                r.patient.clone(),
            )
        })
    else {
        return Vec::new();
    };
    let records = p.sh.records_of(person);
    let mut by_hip: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in records {
        let day = r.day();
        let wanted = hi_types.contains(&r.hi_type)
            && range.0 <= day
            && day < range.1
            && hip.as_ref().is_none_or(|h| *h == r.hip_id)
            && contexts.as_ref().is_none_or(|c| c.contains(&r.care_context_reference));
        if wanted {
            by_hip.entry(r.hip_id.clone()).or_default().push(r);
        }
    }
    let mut ids = Vec::new();
    for (hip_id, records) in by_hip {
        let first = records.iter().map(Record::day).min().unwrap_or(range.0);
        let last = records.iter().map(Record::day).max().unwrap_or(range.0);
        let from = first.max(range.0);
        let to = (last + DAY).min(range.1).max(from + 1);
        let artefact_id = Uuid::new_v4();
        let hip_name = p.bridges.name_of(&p.sh, &hip_id);
        let care_contexts: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({"patientReference": r.patient_reference,
            "careContextReference": r.care_context_reference})
            })
            .collect();
        let asked = &consent["permission"];
        let detail = json!({
            "schemaVersion": if version == Version::V3 { "v3" } else { "v0.5" },
            "consentId": artefact_id, "createdAt": iso(now), "patient": {"id": patient},
            "careContexts": care_contexts, "purpose": consent["purpose"],
            "hip": {"id": hip_id, "name": hip_name}, "hiu": consent["hiu"],
            "consentManager": {"id": "sbx"}, "requester": consent["requester"], "hiTypes": hi_types,
            "permission": {"accessMode": asked["accessMode"], "dateRange": {"from": iso(from), "to": iso(to)},
                "dataEraseAt": iso(erase_at), "frequency": asked["frequency"]},
        });
        let artefact = Artefact {
            request: id,
            hiu_id: hiu.clone(),
            client: client.clone(),
            hip_id,
            status: "GRANTED",
            records,
            hi_types: hi_types.clone(),
            range: (from, to),
            erase_at,
            detail,
            fetched: false,
        };
        // An artefact is kept a week past its erase date (or its grant, if later).
        let kept = (erase_at + 7 * DAY).max(now + 7 * DAY);
        p.requests.artefacts.insert_until(artefact_id, artefact, kept);
        // The request, which the artefact's notifies answer to, lives as long.
        p.requests.requests.keep_until(id, kept);
        ids.push(artefact_id);
    }
    ids
}

/// Sends the HIU a consent notify: the request's new status and the artefacts concerned.
fn notify(p: &Parts, id: Uuid, status: &'static str, artefacts: &[Uuid]) {
    let now = p.sh.clock.now();
    let Some((hiu, version, index)) =
        p.requests.requests.peek(id, |r| (r.hiu_id.clone(), r.version, r.notifies.len()))
    else {
        return;
    };
    let list: Vec<Value> = artefacts.iter().map(|a| json!({"id": a})).collect();
    let payload =
        json!({"notification": {"consentRequestId": id, "status": status, "consentArtefacts": list}});
    let msg = version.message(NOTIFY, None, now, payload);
    let request_id = msg.request_id;
    p.requests.requests.update(id, |r| {
        r.notifies.push(json!({"status": status, "requestId": request_id, "sentAt": iso(now),
            "consentArtefacts": artefacts, "delivered": null, "ack": null, "matched": null, "problems": []}))
    });
    p.requests.by_notify.insert(request_id, (id, index));
    let requests = p.requests.clone();
    let told = Arc::new(move |d: crate::callbacks::Delivery| {
        requests.requests.update(id, |r| {
            if let Some(n) = r.notifies.get_mut(index) {
                n["delivered"] = json!(d.status.is_some_and(|s| s < 300));
                n["deliveryStatus"] = json!(d.status);
            }
        });
    });
    let answered = (p.hygiene.as_ref(), request_id);
    bridges::send_expecting(
        &p.sh,
        &p.bridges,
        answered,
        (Receiver::Hiu, &hiu),
        msg,
        (Vec::new(), Some(told)),
    );
}

/// Expires every granted artefact past its erase date and notifies its HIU (EXPIRED); returns
/// how many. Run by the sweeper and when the clock is moved.
pub fn expire_due(p: &Parts, now: Millis) -> usize {
    let mut due = Vec::new();
    p.requests.artefacts.for_each(|id, a| {
        if a.status == "GRANTED" && a.erase_at < now {
            due.push(id);
        }
    });
    due.iter().filter(|id| end(p, **id, "EXPIRED").is_ok()).count()
}

/// Ends one artefact (`REVOKED` by the patient, `EXPIRED`) and notifies the HIU.
pub fn end(p: &Parts, consent_id: Uuid, status: &'static str) -> ApiResult<Value> {
    let found = p.requests.artefacts.peek(consent_id, |a| (a.status, a.request));
    let Some((current, request)) = found else {
        return Err(ApiError::rule("consentId", "consent-unknown", format!("no consent {consent_id}")));
    };
    if current != "GRANTED" {
        let why = format!("the consent is {current} already");
        return Err(ApiError::rule("consentId", "consent-not-granted", why));
    }
    p.requests.artefacts.update(consent_id, |a| a.status = status);
    let ids = p.requests.requests.peek(request, |r| r.artefacts.clone()).unwrap_or_default();
    let all_ended =
        ids.iter().all(|a| p.requests.artefacts.peek(*a, |a| a.status != "GRANTED").unwrap_or(true));
    if all_ended {
        p.requests.requests.update(request, |r| r.status = status);
    }
    notify(p, request, status, &[consent_id]);
    Ok(json!({"consentId": consent_id, "consentRequestId": request, "status": status}))
}

/// HIU → gateway consent `on-notify`: `acknowledgement: [{status: OK, consentId}]`, one per
/// artefact notified; what is wrong is refused (400) and kept with the notify.
pub async fn on_notify(
    requests: web::Data<ConsentRequests>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answered) = hygiene.callback(&req, &body, &caller(&req))?;
    let (id, index) = requests.by_notify.get(&answered).map(|e| *e).ok_or_else(|| {
        ApiError::bad("consentRequestId", "consent-request-unknown", "answers no consent notify")
            .code(version.code(INVALID_TRANSACTION))
    })?;
    let notified: Vec<String> = requests
        .requests
        .peek(id, |r| r.notifies.get(index).map(|n| n["consentArtefacts"].clone()))
        .flatten()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut problems = Vec::new();
    match body.0.get("acknowledgement") {
        None | Some(Value::Null) if notified.is_empty() => {}
        Some(Value::Array(acks)) => {
            for (i, ack) in acks.iter().enumerate() {
                let consent = ack["consentId"].as_str().unwrap_or_default();
                if ack["status"] != "OK" {
                    problems.push(format!("acknowledgement[{i}].status is {}, expected OK", ack["status"]));
                }
                if !notified.iter().any(|n| n == consent) {
                    problems
                        .push(format!("acknowledgement[{i}].consentId {consent:?} was not in the notify"));
                }
            }
            for n in &notified {
                if !acks.iter().any(|a| a["consentId"] == n.as_str()) {
                    problems.push(format!("acknowledgement has no entry for artefact {n}"));
                }
            }
        }
        _ => problems
            .push("acknowledgement must be an array: [{status: OK, consentId}] per artefact".to_string()),
    }
    let first = problems.first().cloned();
    requests.requests.update(id, |r| {
        if let Some(n) = r.notifies.get_mut(index) {
            n["ack"] = Value::Object(body.0.clone());
            n["problems"] = json!(problems);
            n["matched"] = json!(problems.is_empty());
        }
    });
    match first {
        None => Ok(accepted()),
        Some(why) => Err(ApiError::bad("acknowledgement", "hiu-answer", why).code(version.code(BAD_REQUEST))),
    }
}
