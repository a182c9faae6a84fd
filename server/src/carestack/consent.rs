//! `Consent`, the HIU side: the facility (`facilityid`, a fixture facility with the HIU role or a
//! registered HIU service) asks the sandbox's consent manager for a patient's records, through
//! the same flow as `consent-requests/init` ([`crate::gateway::hiu_consent::open`]). The
//! fixture patient decides as scripted (Asha grants, Ravi denies, Meena waits to be asked through
//! `POST /_sandbox/consent-requests/{id}/grant`), two seconds of virtual time later; a grant makes
//! one artefact per HIP holding matching records, care contexts linked through document linking
//! included. `get/Consent` shows the request as Carestack does; `get/Bundle` gives the bundles of
//! the granted care contexts, as the Carestack backend does once it has received and decrypted
//! the HIPs' pushes.

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use dashmap::DashMap;
use serde_json::{json, Value};
use uuid::Uuid;

use super::common::{self, facility, not_found, param, params, Query, HI_TYPES};
use crate::body::{header, JsonBody};
use crate::checks::PURPOSES;
use crate::clock::{iso, parse_utc, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::gateway::bridges::Bridges;
use crate::gateway::envelope::Hygiene;
use crate::gateway::hiu_consent::{self, Asked, ConsentRequests, Parts};
use crate::shared::Shared;

/// What Carestack keeps of a consent request beside the consent manager's record.
#[derive(Debug, Clone)]
pub struct Opened {
    patient_name: String,
    requested_by: String,
    hiu: String,
}

/// The consent requests opened through the Carestack API, by id.
pub type Opens = DashMap<Uuid, Opened>;

/// The Consent routes. `/get/Bundle` here is the query-only path; `/get/Bundle/{id}/...` is
/// [`super::bundles`]'.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/abdm-flows/find/patients", web::post().to(find_patient))
        .route("/add/Consent", web::post().to(add))
        .route("/get/Consent/{consentId}", web::get().to(get))
        .route("/get/Bundle", web::get().to(bundles))
}

/// The ABHA profile name of an address the sandbox knows; 404 naming `field` otherwise.
fn profile_name(sh: &Shared, field: &str, address: &str) -> ApiResult<String> {
    common::abha_address(field, address)?;
    let account = sh
        .accounts
        .by_address(address)
        .ok_or_else(|| not_found(field, "patient-unknown", format!("no ABHA address {address}")))?;
    Ok(sh.fixtures.people.get(account.person).map(|p| p.name.clone()).unwrap_or_default())
}

/// `POST /abdm-flows/find/patients {patientId, isHIU}` → the patient's name, a JSON string.
async fn find_patient(sh: web::Data<Shared>, body: JsonBody) -> ApiResult<HttpResponse> {
    body.bool("isHIU")?;
    let name = profile_name(&sh, "patientId", body.str("patientId")?)?;
    Ok(HttpResponse::Ok().json(name))
}

/// A date as the SDK's consent DTO writes it: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn stamp(field: &str, text: &str) -> ApiResult<i64> {
    let shape = text.len() == 24 && text.ends_with('Z') && text.as_bytes().get(19) == Some(&b'.');
    parse_utc(text)
        .filter(|_| shape)
        .ok_or_else(|| ApiError::bad(field, "date-time", format!("{text:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ")))
}

/// `POST /add/Consent` → 201 `{message, type, resourceId, resource}`: a consent request to the
/// consent manager, the patient to decide.
#[allow(clippy::too_many_arguments)]
async fn add(
    sh: web::Data<Shared>,
    cs: web::Data<super::CarestackState>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    requests: web::Data<ConsentRequests>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let patient = body.str("patientAbhaId")?;
    let known = profile_name(&sh, "patientAbhaId", patient)?;
    let name = body.str("patientName")?;
    if !name.split_whitespace().eq(known.split_whitespace()) && !name.eq_ignore_ascii_case(&known) {
        return Err(ApiError::rule(
            "patientName",
            "name-mismatch",
            format!("the ABHA profile of {patient} is {known:?}"),
        ));
    }
    let purpose = body.str("requestPurpose")?;
    let (code, text) = PURPOSES.iter().find(|(c, _)| *c == purpose).ok_or_else(|| {
        ApiError::bad(
            "requestPurpose",
            "purpose",
            format!("{purpose:?} is not one of {:?}", PURPOSES.map(|p| p.0)),
        )
    })?;
    let (from, to, erase) = (
        stamp("dateFrom", body.str("dateFrom")?)?,
        stamp("dateTo", body.str("dateTo")?)?,
        stamp("eraseDate", body.str("eraseDate")?)?,
    );
    let now = sh.clock.now();
    if from >= to {
        return Err(ApiError::bad("dateFrom", "date-range", "must be before dateTo"));
    }
    if to > now + MINUTE {
        return Err(ApiError::bad("dateTo", "date-range", "records can be asked for up to now, not later"));
    }
    if erase <= now {
        return Err(ApiError::bad("eraseDate", "erase-at", "must be in the future"));
    }
    let hi_types = body.root().strings("healthInformationTypes")?;
    if hi_types.is_empty() {
        return Err(ApiError::bad("healthInformationTypes", "required", "name at least one"));
    }
    for (i, t) in hi_types.iter().enumerate() {
        common::one_of(&format!("healthInformationTypes[{i}]"), t, HI_TYPES, false)?;
    }
    let hiu = facility(&req);
    let plays_hiu = sh.fixtures.facilities.iter().any(|f| f.hip_id == hiu && f.is("HIU"))
        || bridges.has_type(&hiu, "HIU");
    if !plays_hiu {
        return Err(ApiError::rule(
            "facilityid",
            "not-an-hiu",
            format!("{hiu} is not an HIU (fixture role HIU, or a service of type HIU)"),
        ));
    }
    let requested_by = header(&req, "x-hprid-auth").unwrap_or("").to_string();
    let consent = json!({"purpose": {"code": code, "text": text}, "patient": {"id": patient},
        "hiu": {"id": hiu}, "requester": {"name": requested_by, "identifier": {"type": "HPRID", "value": requested_by}},
        "hiTypes": hi_types, "permission": {"accessMode": "VIEW", "dateRange": {"from": iso(from), "to": iso(to)},
            "dataEraseAt": iso(erase), "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}}});
    let asked = Asked {
        hiu_id: hiu.clone(),
        client: bridges.owner_of(&sh, &hiu).unwrap_or_else(|| format!("carestack:{hiu}")),
        patient: patient.to_string(),
        version: bridges.version_of(&sh, &hiu),
        consent,
        hi_types: hi_types.iter().map(|t| t.to_string()).collect(),
        range: (from, to),
        erase_at: erase,
        hip: None,
        contexts: None,
    };
    let parts = Parts { sh: sh.clone(), bridges, hygiene, requests: requests.clone() };
    let id = hiu_consent::open(&parts, asked)?;
    cs.consents.insert(id, Opened { patient_name: known, requested_by, hiu });
    let resource = requested(&sh, &cs, &requests, id).unwrap_or(Value::Null);
    Ok(HttpResponse::Created()
        .json(json!({"message": "Successfully created the Consent profile", "type": "Consent",
        "resourceId": id, "validationErrors": [], "fhirProfileId": "", "resource": resource})))
}

/// A request opened here, as Carestack shows it: its status and, once granted, the care
/// contexts and HI types of its artefacts.
fn requested(sh: &Shared, cs: &super::CarestackState, requests: &ConsentRequests, id: Uuid) -> Option<Value> {
    let opened = cs.consents.get(&id)?.clone();
    let out = requests.outcome(id, sh.clock.now())?;
    let artefacts = out["artefacts"].as_array().cloned().unwrap_or_default();
    let granted: Vec<&Value> = artefacts.iter().filter(|a| a["status"] == "GRANTED").collect();
    let contexts: Vec<Value> = granted
        .iter()
        .flat_map(|a| a["careContexts"].as_array().cloned().unwrap_or_default())
        .map(|c| c["careContextReference"].clone())
        .collect();
    let mut granted_types: Vec<String> = granted
        .iter()
        .flat_map(|a| a["careContexts"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["hiType"].as_str().map(str::to_string))
        .collect();
    granted_types.sort();
    granted_types.dedup();
    let permission = granted.first().map(|a| a["consentDetail"]["permission"].to_string());
    let shown: Vec<Value> = artefacts
        .iter()
        .map(|a| json!({"consentId": a["consentId"], "HIP": a["hipId"], "status": a["status"],
            "careContextReferences": a["careContexts"].as_array().map(|c| c.iter().map(|c| c["careContextReference"].clone()).collect::<Vec<_>>())}))
        .collect();
    Some(
        json!({"consentId": id, "patientName": opened.patient_name, "abhaId": out["patient"], "status": out["status"],
        "HIP": granted.first().map(|a| a["hipId"].clone()).unwrap_or(json!("")), "requestedOn": out["createdAt"],
        "careContextReferences": contexts, "period": out["dateRange"], "organizationId": opened.hiu,
        "requestedBy": opened.requested_by, "expiry": granted.first().map(|a| a["dataEraseAt"].clone()),
        "sharedOn": out["createdAt"], "consentStatus": out["status"], "hiTypes": out["hiTypes"], "permission": "VIEW",
        "grantedPermission": permission, "grantedHiTypes": granted_types, "artefacts": shown, "note": out["note"]}),
    )
}

/// A consent artefact over the facility's records (it as the HIP), as Carestack shows it.
fn received(sh: &Shared, requests: &ConsentRequests, id: Uuid, hip: &str) -> Option<Value> {
    let a = requests.artefact(id, sh.clock.now()).filter(|a| a["hipId"] == hip)?;
    let d = &a["consentDetail"];
    let contexts: Vec<Value> = a["careContexts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["careContextReference"].clone())
        .collect();
    Some(json!({"consentId": id, "abhaId": d["patient"]["id"], "status": a["status"], "HIP": hip,
        "requestedOn": d["createdAt"], "careContextReferences": contexts, "period": a["dateRange"],
        "organizationId": a["hiuId"], "requestedBy": d["requester"]["name"], "expiry": a["dataEraseAt"],
        "sharedOn": d["createdAt"], "consentStatus": a["status"], "hiTypes": a["hiTypes"], "permission": "VIEW",
        "grantedPermission": d["permission"].to_string(), "grantedHiTypes": a["hiTypes"]}))
}

/// `Requested` (the default) or `Received`.
fn consent_type(q: &Query) -> ApiResult<&'static str> {
    common::one_of(
        "consentType",
        param(q, "consentType").unwrap_or("Requested"),
        &["Requested", "Received"],
        false,
    )
}

/// `GET /get/Consent/{consentId}?consentType=Requested|Received` → `{type, message,
/// requestResource: [consent]}`; 404 when the facility has no such consent.
async fn get(
    sh: web::Data<Shared>,
    cs: web::Data<super::CarestackState>,
    requests: web::Data<ConsentRequests>,
    req: HttpRequest,
    path: web::Path<String>,
    q: Query,
) -> ApiResult<HttpResponse> {
    let kind = consent_type(&q)?;
    let id = crate::body::parse_uuid("consentId", &path)?;
    let me = facility(&req);
    let found = if kind == "Requested" {
        requested(&sh, &cs, &requests, id).filter(|r| r["organizationId"] == me.as_str())
    } else {
        received(&sh, &requests, id, &me)
    };
    let resource = found.ok_or_else(|| {
        not_found("consentId", "consent-unknown", format!("no {kind} consent {id} of {me}"))
    })?;
    Ok(HttpResponse::Ok()
        .json(json!({"type": "Consent", "message": "Records Found !!!", "requestResource": [resource],
        "totalNumberOfRecords": 1, "nextPageLink": null})))
}

/// `GET /get/Bundle?consentType=&careContexts[]=&healthInformationTypes[]=` → the bundles of
/// those care contexts under a granted consent of the facility (as HIU, or as HIP with
/// `Received`), of those HI types.
async fn bundles(
    sh: web::Data<Shared>,
    requests: web::Data<ConsentRequests>,
    req: HttpRequest,
    q: Query,
) -> ApiResult<HttpResponse> {
    let kind = consent_type(&q)?;
    let contexts = params(&q, "careContexts[]");
    if contexts.is_empty() {
        return Err(ApiError::bad("careContexts[]", "required", "name at least one care context"));
    }
    let types = params(&q, "healthInformationTypes[]");
    if types.is_empty() {
        return Err(ApiError::bad("healthInformationTypes[]", "required", "name at least one HI type"));
    }
    for t in &types {
        common::one_of("healthInformationTypes[]", t, HI_TYPES, false)?;
    }
    let me = facility(&req);
    let now = sh.clock.now();
    // Each care context's bundle once, however many granted consents cover it.
    let mut names: Vec<String> = Vec::new();
    requests.artefacts.for_each(|_, a| {
        let mine = if kind == "Requested" { a.hiu_id == me } else { a.hip_id == me };
        if !mine || a.status_at(now) != "GRANTED" {
            return;
        }
        for r in &a.records {
            let wanted = contexts.contains(&r.care_context_reference.as_str())
                && types.contains(&r.hi_type.as_str())
                && a.hi_types.contains(&r.hi_type);
            if wanted && !names.contains(&r.bundle) {
                names.push(r.bundle.clone());
            }
        }
    });
    let found: Vec<Value> = names
        .iter()
        .filter_map(|n| sh.bundle(n).and_then(|t| serde_json::from_str::<Value>(&t).ok()))
        .collect();
    let n = found.len();
    let message = if n == 0 { "Records not Found !!!" } else { "Records Found !!!" };
    Ok(HttpResponse::Ok().json(
        json!({"type": "Bundle", "message": message, "requestResource": found, "totalNumberOfRecords": n}),
    ))
}
