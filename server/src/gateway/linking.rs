//! HIP-initiated care-context linking: with the linking token user auth issued, a HIP links a
//! patient's care contexts (`links/link/add-contexts` → `on-add-contexts`; 1439 when one is
//! linked already) and notifies the consent manager of new records in a linked context
//! (`links/context/notify` → `on-notify`). The consent manager's record of what is linked, by
//! ABHA address, HIP and care-context reference, lives here.

use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};

use super::bridges::{self, own_hip, require_own, Bridges};
use super::envelope::{accepted, answer, request_id, require_cm_id, ERR_ALREADY_LINKED, ERR_GENERIC};
use super::sessions::caller;
use crate::body::{JsonBody, Obj};
use crate::callbacks::Receiver;
use crate::clock::Millis;
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;

/// Linked care contexts: (lower-case ABHA address, HIP id, care-context reference) → when.
#[derive(Default)]
pub struct Links {
    map: DashMap<(String, String, String), Millis>,
}

impl Links {
    /// Nothing linked.
    pub fn reset(&self) {
        self.map.clear();
    }

    fn key(address: &str, hip: &str, reference: &str) -> (String, String, String) {
        (address.to_lowercase(), hip.to_string(), reference.to_string())
    }
}

/// The care contexts of an add-contexts body: their reference numbers, each with a display.
fn care_contexts(patient: &Obj) -> ApiResult<Vec<String>> {
    const FIELD: &str = "link.patient.careContexts";
    let items = match patient.raw("careContexts") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(ApiError::bad(FIELD, "required", "must not be empty")),
        Some(_) => return Err(ApiError::bad(FIELD, "type", "must be an array")),
        None => return Err(ApiError::bad(FIELD, "required", "is required")),
    };
    let mut refs = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        let Value::Object(map) = c else {
            return Err(ApiError::bad(&field, "type", "must be an object"));
        };
        let c = Obj::at(map, field);
        refs.push(c.str("referenceNumber")?.to_string());
        c.str("display")?;
    }
    Ok(refs)
}

/// `links/link/add-contexts` → `on-add-contexts`: SUCCESS, 1439 when a context is linked
/// already, or an error for a bad linking token (to the caller's own HIP when the token names
/// none of its HIPs).
pub async fn add_contexts(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    links: web::Data<Links>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let answers = request_id(&body)?;
    let link = body.obj("link")?;
    let token = link.str("accessToken")?;
    let patient = link.obj("patient")?;
    patient.str("referenceNumber")?;
    patient.str("display")?;
    let refs = care_contexts(&patient)?;
    let now = sh.clock.now();
    let me = caller(&req);
    let verdict = check_link_token(&sh, &bridges, token, &me, now).and_then(|(address, hip)| {
        let keys: Vec<_> = refs.iter().map(|r| Links::key(&address, &hip, r)).collect();
        if keys.iter().any(|k| links.map.contains_key(k)) {
            let why = "Some of the Care Contexts are already linked, please remove the linked Care Contexts.";
            return Err((hip, ERR_ALREADY_LINKED, why.to_string()));
        }
        for k in keys {
            links.map.insert(k, now);
        }
        Ok(hip)
    });
    let (hip, outcome) = match verdict {
        Ok(hip) => (hip, Ok(json!({"status": "SUCCESS"}))),
        Err((hip, code, message)) => {
            let hip = if hip.is_empty() { own_hip(&sh, &me) } else { hip };
            (hip, Err((code, message)))
        }
    };
    let cb = answer(answers, now, "acknowledgement", outcome);
    bridges::send(&sh, &bridges, (Receiver::Hip, &hip), "/v0.5/links/link/on-add-contexts", cb, Vec::new());
    Ok(accepted())
}

/// A linking token this gateway issued, unexpired, to a HIP of the calling client: its
/// (ABHA address, HIP id). On failure, (HIP id if known, error code, message).
fn check_link_token(
    sh: &Shared,
    bridges: &Bridges,
    token: &str,
    caller: &str,
    now: Millis,
) -> Result<(String, String), (String, i64, String)> {
    let claims = crypto::verify(token, Algorithm::RS512)
        .map_err(|e| (String::new(), ERR_GENERIC, format!("Invalid linking token: {e}")))?;
    let hip = claims["requesterId"].as_str().unwrap_or_default().to_string();
    let address = claims["sub"].as_str().unwrap_or_default().to_string();
    if bridges.owner_of(sh, &hip).as_deref() != Some(caller) {
        let why = format!("Invalid linking token: issued to {hip}, not to a HIP of {caller}");
        return Err((String::new(), ERR_GENERIC, why));
    }
    if claims["exp"].as_i64().unwrap_or(0) * 1000 <= now {
        return Err((hip, ERR_GENERIC, "Invalid linking token: expired".to_string()));
    }
    Ok((address, hip))
}

/// `links/context/notify` → `on-notify`: SUCCESS when the care context is linked to the patient
/// at that HIP.
pub async fn context_notify(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    links: web::Data<Links>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let answers = request_id(&body)?;
    let n = body.obj("notification")?;
    let address = n.obj("patient")?.str("id")?;
    let cc = n.obj("careContext")?;
    cc.str("patientReference")?;
    let reference = cc.str("careContextReference")?;
    let hip = n.obj("hip")?.str("id")?;
    n.strings("hiTypes")?;
    n.str("date")?;
    require_own(&sh, &bridges, &req, hip, "notification.hip.id")?;
    let outcome = if links.map.contains_key(&Links::key(address, hip, reference)) {
        Ok(json!({"status": "SUCCESS"}))
    } else {
        Err((ERR_GENERIC, format!("care context {reference} is not linked to {address} at {hip}")))
    };
    let cb = answer(answers, sh.clock.now(), "acknowledgement", outcome);
    bridges::send(&sh, &bridges, (Receiver::Hip, hip), "/v0.5/links/context/on-notify", cb, Vec::new());
    Ok(accepted())
}
