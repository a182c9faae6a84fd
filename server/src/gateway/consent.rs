//! Consents as the consent manager tells a HIP of them: the sandbox plays the patient granting a
//! consent to its own HIU, and the gateway sends the consent notify (GRANTED, with the artefact:
//! care contexts, HI types, purpose, permission and date range, signed), and later REVOKED or
//! EXPIRED, to the HIP's bridge in its version. The HIP acknowledges with on-notify
//! (`acknowledgement {status: OK, consentId}`), checked and kept with the consent.
//!
//! | message | v0.5 | v3 |
//! |---|---|---|
//! | notify | `{bridge}/v0.5/consents/hip/notify` | `{bridge}/api/v3/consent/request/hip/notify` |
//! | on-notify | `/gateway/v0.5/consents/hip/on-notify` | `/api/hiecm/consent/v3/request/hip/on-notify` |

use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::{self, Bridges};
use super::envelope::{Hygiene, Version, BAD_REQUEST, INVALID_TRANSACTION};
use super::linking::Links;
use super::sessions::caller;
use crate::body::JsonBody;
use crate::callbacks::Receiver;
use crate::clock::{iso, Millis, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::persist::{kind, Log};
use crate::shared::Shared;
use crate::store::Store;

pub use crate::checks::{HI_TYPES, PURPOSES};
/// The sandbox's own HIU, to which its patients grant consents.
pub const SANDBOX_HIU: &str = "SBX-HIU";

/// A consent artefact and what became of its notifies.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Consent {
    /// The HIP holding the records.
    pub hip_id: String,
    /// The patient.
    pub address: String,
    /// `GRANTED`, `REVOKED` or `EXPIRED`.
    #[serde(deserialize_with = "crate::persist::status")]
    pub status: crate::persist::Status,
    /// HI types allowed.
    pub hi_types: Vec<String>,
    /// The permitted date range (from, to), in milliseconds.
    pub range: (Millis, Millis),
    /// When the data must be erased.
    pub erase_at: Millis,
    /// (patient reference, care-context reference) covered.
    pub contexts: Vec<(String, String)>,
    /// The version the HIP is spoken to in.
    pub version: Version,
    detail: Value,
    notifies: Vec<Value>,
}

/// Every consent, and which consent each notify the gateway sent belongs to.
pub struct Consents {
    /// By consent id.
    pub store: Store<Consent>,
    by_request: DashMap<Uuid, (Uuid, usize)>,
}

impl Default for Consents {
    fn default() -> Self {
        Consents { store: Store::with_ttl(7 * 24 * 60 * MINUTE), by_request: DashMap::new() }
    }
}

impl Consents {
    /// The consents kept in `log`; each change kept there.
    pub fn kept(log: &Log) -> Self {
        let c = Consents::default();
        Consents { store: c.store.persisted(log, kind::CONSENT), ..c }
    }

    /// No consents.
    pub fn reset(&self) {
        self.store.clear();
        self.by_request.clear();
    }

    /// Drops consents a week past their last change, and what pointed at them; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        let swept = self.store.sweep(now);
        self.by_request.retain(|_, (id, _)| self.store.peek(*id, |_| ()).is_some());
        swept
    }

    /// A consent as `GET /_sandbox/consents/{consentId}` shows it.
    pub fn outcome(&self, id: Uuid) -> Option<Value> {
        self.store.peek(id, |c| {
            json!({"consentId": id, "hipId": c.hip_id, "abhaAddress": c.address, "status": c.status,
                "version": c.version.name(), "consentDetail": c.detail, "notifies": c.notifies})
        })
    }
}

/// What the patient grants: `{hipId, abhaAddress, hiTypes?, purpose?, dateRange?, dataEraseAt?,
/// careContexts?, version?}`, checked.
pub struct Grant<'a> {
    /// The HIP.
    pub hip: &'a str,
    /// The patient.
    pub address: &'a str,
    /// HI types; every one when `None`.
    pub hi_types: Option<Vec<String>>,
    /// Purpose code; CAREMGT when `None`.
    pub purpose: Option<&'a str>,
    /// (from, to); the last ten years to now when `None`.
    pub range: Option<(Millis, Millis)>,
    /// When to erase; in a day when `None`.
    pub erase_at: Option<Millis>,
    /// Care-context references; every one linked at the HIP when `None`.
    pub contexts: Option<Vec<String>>,
    /// The version; the bridge's when `None`.
    pub version: Option<Version>,
}

/// Grants a consent and sends the GRANTED notify: `{consentId, requestId}`.
pub fn grant(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    links: &Links,
    consents: &Consents,
    g: Grant,
) -> ApiResult<Value> {
    sh.accounts.by_address(g.address).ok_or_else(|| {
        ApiError::rule("abhaAddress", "abha-address-unknown", format!("no ABHA address {}", g.address))
    })?;
    bridges.route(sh, g.hip)?;
    let now = sh.clock.now();
    let hi_types = g.hi_types.unwrap_or_else(|| HI_TYPES.iter().map(|t| t.to_string()).collect());
    if let Some((i, t)) = hi_types.iter().enumerate().find(|(_, t)| !HI_TYPES.contains(&t.as_str())) {
        return Err(ApiError::bad(
            &format!("hiTypes[{i}]"),
            "hi-type",
            format!("{t:?} is not an HI type: {HI_TYPES:?}"),
        ));
    }
    if hi_types.is_empty() {
        return Err(ApiError::bad("hiTypes", "required", "must name at least one HI type"));
    }
    let purpose = g.purpose.unwrap_or("CAREMGT");
    let (code, text) = PURPOSES
        .iter()
        .find(|(c, _)| *c == purpose)
        .ok_or_else(|| ApiError::bad("purpose", "purpose", format!("{purpose:?}: one of {PURPOSES:?}")))?;
    let range = g.range.unwrap_or((now - 3_652 * 24 * 60 * MINUTE, now));
    if range.0 >= range.1 {
        return Err(ApiError::bad("dateRange", "date-range", "from must be before to"));
    }
    let erase_at = g.erase_at.unwrap_or(now + 24 * 60 * MINUTE);
    if erase_at <= now {
        return Err(ApiError::bad("dataEraseAt", "erase-at", "must be in the future"));
    }
    let linked = links.at(g.address, g.hip);
    let contexts: Vec<(String, String)> = match g.contexts {
        None => linked.clone(),
        Some(refs) => {
            let mut out = Vec::new();
            for (i, r) in refs.iter().enumerate() {
                let found = linked.iter().find(|(_, l)| l == r).ok_or_else(|| {
                    ApiError::rule(
                        &format!("careContexts[{i}]"),
                        "care-context-not-linked",
                        format!("{r} is not linked to {} at {}", g.address, g.hip),
                    )
                })?;
                out.push(found.clone());
            }
            out
        }
    };
    if contexts.is_empty() {
        return Err(ApiError::rule(
            "careContexts",
            "care-context-not-linked",
            format!(
                "no care context is linked to {} at {} (link first, or POST /_sandbox/care-contexts)",
                g.address, g.hip
            ),
        ));
    }
    let version = g.version.unwrap_or_else(|| bridges.version_of(sh, g.hip));
    let id = Uuid::new_v4();
    let hip_name = bridges.name_of(sh, g.hip);
    let care_contexts: Vec<Value> =
        contexts.iter().map(|(p, r)| json!({"patientReference": p, "careContextReference": r})).collect();
    let mut detail = json!({
        "schemaVersion": if version == Version::V3 { "v3" } else { "v0.5" },
        "consentId": id,
        "createdAt": iso(now),
        "patient": {"id": g.address},
        "careContexts": care_contexts,
        "purpose": {"text": text, "code": code, "refUri": "http://terminology.hl7.org/ValueSet/v3-PurposeOfUse"},
        "hip": {"id": g.hip, "name": hip_name},
        "consentManager": {"id": "sbx"},
        "hiTypes": hi_types,
        "permission": {"accessMode": "VIEW", "dateRange": {"from": iso(range.0), "to": iso(range.1)},
            "dataEraseAt": iso(erase_at), "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}},
    });
    if version == Version::V3 {
        detail["hiu"] = json!({"id": SANDBOX_HIU, "name": "abdm-sandbox HIU"});
        detail["requester"] = json!({"name": "Dr. Sandbox", "identifier": {"value": "MH1001", "type": "REGNO", "system": "https://www.mciindia.org"}});
    }
    let consent = Consent {
        hip_id: g.hip.to_string(),
        address: g.address.to_string(),
        status: "GRANTED",
        hi_types,
        range,
        erase_at,
        contexts,
        version,
        detail,
        notifies: Vec::new(),
    };
    consents.store.insert_with_id(id, consent, now);
    let request_id = notify(sh, bridges, hygiene, consents, id)?;
    Ok(json!({"consentId": id, "requestId": request_id}))
}

/// Sends the consent's current status to its HIP; returns the notify's request id.
pub fn notify(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    consents: &Consents,
    id: Uuid,
) -> ApiResult<Uuid> {
    let now = sh.clock.now();
    let (hip, version, status, detail, index) = consents
        .store
        .peek(id, |c| (c.hip_id.clone(), c.version, c.status, c.detail.clone(), c.notifies.len()))
        .ok_or_else(|| ApiError::rule("consentId", "consent-unknown", format!("no consent {id}")))?;
    let signature = signature(&detail);
    let payload = json!({"notification": {"status": status, "consentId": id, "consentDetail": detail,
        "signature": signature, "grantAcknowledgement": false}});
    let paths = ("/v0.5/consents/hip/notify", "/api/v3/consent/request/hip/notify");
    let msg = version.message(paths, None, now, payload);
    let request_id = msg.request_id;
    // Recorded before it is sent: the HIP may answer before this call returns.
    consents.by_request.insert(request_id, (id, index));
    consents.store.update(id, |c| {
        c.notifies.push(json!({"status": status, "requestId": request_id, "sentAt": iso(now), "ack": null, "problems": []}))
    });
    let answered = (hygiene, request_id);
    bridges::send_expecting(sh, bridges, answered, (Receiver::Hip, &hip), msg, (Vec::new(), None));
    Ok(request_id)
}

/// The consent manager's signature over the artefact: the gateway key's RS256 signature
/// (base64url), as a HIP may verify it against the JWKS.
pub fn signature(detail: &Value) -> String {
    let jws = crate::crypto::sign(detail, Algorithm::RS256);
    jws.rsplit('.').next().unwrap_or_default().to_string()
}

/// Revokes or expires a consent (`REVOKED`, `EXPIRED`) and notifies the HIP. In v0.5 only
/// GRANTED and REVOKED are notified to a HIP ("Only the GRANTED and REVOKED status notifications
/// will be sent to HIP"); v3 notifies EXPIRED too and the HIP must delete the consent.
pub fn end(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    consents: &Consents,
    id: Uuid,
    status: &'static str,
) -> ApiResult<Value> {
    let now = sh.clock.now();
    let version = consents.store.step(id, "consentId", now, |c| {
        if c.status != "GRANTED" {
            return Err(ApiError::rule(
                "consentId",
                "consent-not-granted",
                format!("the consent is {} already", c.status),
            ));
        }
        c.status = status;
        Ok(c.version)
    })?;
    if status == "EXPIRED" && version == Version::V05 {
        return Ok(json!({"consentId": id, "status": status, "requestId": null}));
    }
    let request_id = notify(sh, bridges, hygiene, consents, id)?;
    Ok(json!({"consentId": id, "status": status, "requestId": request_id}))
}

/// HIP → gateway consent `on-notify`: `acknowledgement {status: OK, consentId}` answering the
/// notify; what is wrong is refused (400) and kept with the consent.
pub async fn on_notify(
    consents: web::Data<Consents>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answered) = hygiene.callback(&req, &body, &caller(&req))?;
    let (id, index) = consents.by_request.get(&answered).map(|e| *e).ok_or_else(|| {
        ApiError::bad("consentId", "consent-unknown", "answers no consent notify")
            .code(version.code(INVALID_TRANSACTION))
    })?;
    let mut problems = Vec::new();
    match body.root().opt_obj("acknowledgement")? {
        None => problems.push("acknowledgement is required ({status: OK, consentId})".to_string()),
        Some(ack) => {
            match ack.opt_str("status")? {
                Some("OK") => {}
                Some(other) => problems.push(format!("acknowledgement.status is {other:?}, expected OK")),
                None => problems.push("acknowledgement.status is required (OK)".to_string()),
            }
            match ack.opt_str("consentId")? {
                Some(c) if c == id.to_string() => {}
                Some(c) => {
                    problems.push(format!("acknowledgement.consentId is {c:?}, the notify was for {id}"))
                }
                None => problems.push("acknowledgement.consentId is required".to_string()),
            }
        }
    }
    let first = problems.first().cloned();
    consents.store.update(id, |c| {
        if let Some(n) = c.notifies.get_mut(index) {
            n["ack"] = Value::Object(body.0.clone());
            n["problems"] = json!(problems);
            n["matched"] = json!(problems.is_empty());
        }
    });
    match first {
        None => Ok(HttpResponse::Accepted().finish()),
        Some(why) => Err(ApiError::bad("acknowledgement", "hip-answer", why).code(version.code(BAD_REQUEST))),
    }
}
