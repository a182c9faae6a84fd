//! `Encounter`'s retrieval: the FHIR bundles the sandbox holds, by type and by id. They are the
//! sample records of the fixture HIPs (`fixtures/records/`) and the bundles made at run time:
//! generated through the AI and FHIR routes, or attached to a care context through document
//! linking. Every one is a FHIR document `Bundle` with its `Composition` first.
//!
//! A bundle that is not there is a 200 `"Records not Found !!!"` with no records, as the SDK's
//! docstrings show it; its `exists` reads `totalNumberOfRecords`.

use std::sync::RwLock;

use actix_web::{web, HttpResponse, Scope};
use serde_json::{json, Map, Value};

use super::common::{self, param, Query};
use super::patient::{count, filters};
use super::CarestackState;
use crate::clock::{iso, Millis};
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;

/// The SDK's `BundleTypes`.
pub const BUNDLE_TYPES: [&str; 13] = [
    "OPConsultation",
    "Prescription",
    "DischargeSummary",
    "DiagnosticReport",
    "ImmunizationRecord",
    "HealthDocumentRecord",
    "WellnessRecord",
    "Claim",
    "ClaimResponse",
    "Task",
    "InsurancePlan",
    "CoverageEligibilityRequest",
    "CoverageEligibilityResponse",
];

/// A bundle made at run time, with what describes it.
#[derive(Debug, Clone)]
pub struct MadeBundle {
    /// The FHIR bundle.
    pub bundle: Value,
    /// Its type (a [`BUNDLE_TYPES`] value).
    pub kind: String,
    /// What made it: `ai`, `fhir`, `document-linking`.
    pub source: &'static str,
    /// The facility it was made for.
    pub facility: String,
    /// The care context it belongs to, when linked.
    pub care_context: Option<String>,
    /// When.
    pub made_at: Millis,
}

/// The bundles made at run time, oldest first.
#[derive(Default)]
pub struct Made {
    items: RwLock<Vec<MadeBundle>>,
}

impl Made {
    /// Keeps a bundle.
    pub fn add(&self, b: MadeBundle) {
        self.items.write().unwrap_or_else(|e| e.into_inner()).push(b);
    }

    /// Every bundle made, oldest first.
    pub fn all(&self) -> Vec<MadeBundle> {
        self.items.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// None.
    pub fn clear(&self) {
        self.items.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The Encounter retrieval routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/health-lake/get-profiles/Bundle/{bundleType}", web::get().to(by_type))
        .route("/get/Bundle/{id}/{fhir}", web::get().to(by_id))
        .route("/get/Bundle/{id}/{fhir}/{bundleType}", web::get().to(by_id_typed))
}

/// The lines of a section's narrative.
fn narrative_lines(section: &Value) -> Vec<String> {
    let div = section["text"]["div"].as_str().unwrap_or("");
    div.split("<li>").skip(1).map(|s| s.split("</li>").next().unwrap_or("").to_string()).collect()
}

/// A bundle's summary: its sections (title → lines) and what describes it.
fn summary(b: &MadeBundle) -> Value {
    let composition = &b.bundle["entry"][0]["resource"];
    let mut sections = Map::new();
    for s in composition["section"].as_array().into_iter().flatten() {
        sections.insert(s["title"].as_str().unwrap_or("").to_string(), json!(narrative_lines(s)));
    }
    json!({"id": b.bundle["id"], "bundleType": b.kind, "sections": sections,
        "metaData": {"bundleId": b.bundle["id"], "bundleType": b.kind, "title": composition["title"],
            "patient": composition["subject"]["display"], "date": composition["date"].as_str().or(b.bundle["timestamp"].as_str()),
            "facilityId": b.facility, "careContextReference": b.care_context, "source": b.source, "createdAt": iso(b.made_at)}})
}

/// Every bundle the sandbox holds: the fixture HIPs' records, then those made at run time.
pub fn held(sh: &Shared, cs: &CarestackState) -> Vec<MadeBundle> {
    let mut out = Vec::new();
    for p in &sh.fixtures.people {
        for r in &p.records {
            let Some(bundle) = sh.bundle(&r.bundle).and_then(|t| serde_json::from_str::<Value>(&t).ok())
            else {
                continue;
            };
            out.push(MadeBundle {
                bundle,
                kind: r.hi_type.clone(),
                source: "fixture",
                facility: r.hip_id.clone(),
                care_context: Some(r.care_context_reference.clone()),
                made_at: r.day(),
            });
        }
    }
    out.extend(cs.bundles.all());
    out
}

/// `GET /health-lake/get-profiles/Bundle/{bundleType}?filters={"_count": N}[&nextPage=]` →
/// `{entry: [{id, bundleType, sections, metaData}], link, total}`.
async fn by_type(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    path: web::Path<String>,
    q: Query,
) -> ApiResult<HttpResponse> {
    let kind = common::one_of("bundleType", &path, &BUNDLE_TYPES, false)?;
    let size = count(&filters(&q, &["_count"])?)?;
    let found: Vec<Value> = held(&sh, &cs).iter().filter(|b| b.kind == kind).map(summary).collect();
    let total = found.len();
    let (entry, next) = common::page(found, param(&q, "nextPage"), size)?;
    Ok(HttpResponse::Ok()
        .json(json!({"entry": entry, "link": next.map(|n| json!({"nextPage": n})), "total": total})))
}

fn fetch(
    sh: &Shared,
    cs: &CarestackState,
    id: &str,
    fhir: &str,
    kind: Option<&str>,
) -> ApiResult<HttpResponse> {
    let fhir = match fhir {
        "true" => true,
        "false" => false,
        other => return Err(ApiError::bad("returnFhir", "type", format!("{other:?}: true or false"))),
    };
    let kind = kind.map(|k| common::one_of("bundleType", k, &BUNDLE_TYPES, false)).transpose()?;
    let found = held(sh, cs).into_iter().find(|b| b.bundle["id"] == id && kind.is_none_or(|k| k == b.kind));
    Ok(HttpResponse::Ok().json(match found {
        Some(b) => json!({"type": "Bundle", "message": "Records Found !!!", "totalNumberOfRecords": 1,
            "requestResource": if fhir { b.bundle.clone() } else { summary(&b) }}),
        None => json!({"type": "Bundle", "message": "Records not Found !!!", "requestResource": [], "totalNumberOfRecords": 0}),
    }))
}

/// `GET /get/Bundle/{id}/{true|false}`: the bundle (true) or its summary (false).
async fn by_id(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, fhir) = path.into_inner();
    fetch(&sh, &cs, &id, &fhir, None)
}

/// `GET /get/Bundle/{id}/{true|false}/{bundleType}`: the same, of that type only.
async fn by_id_typed(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (id, fhir, kind) = path.into_inner();
    fetch(&sh, &cs, &id, &fhir, Some(&kind))
}
