//! `Patient`: an HMIS's patients, created, found, updated, filtered and deleted, each checked as
//! the SDK's `PatientDTO` describes it (and more: an identifier must be valid for its type, a
//! birth date not in the future, one patient per identifier and per ABHA address). Ids are
//! UUIDs, as the SDK's document linking requires of a `patientReference`.
//!
//! A patient is kept as the SDK sent it (every key, `null`s included) with its `resourceId`;
//! `get/Patient` returns it so, `get-profiles` returns FHIR `Patient` resources.

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::common::{self, facility, not_found, param, Query, PAGE_SIZE, SDK_STATES};
use super::CarestackState;
use crate::body::JsonBody;
use crate::checks;
use crate::clock::iso;
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;

/// The SDK's `PatientIdTypeEnum`, compared ignoring case.
const ID_TYPES: [&str; 4] = ["ABHA", "AADHAAR", "PAN", "DRIVING_LICENSE"];
/// The SDK's `Gender` values, compared ignoring case.
pub const GENDERS: [&str; 4] = ["male", "female", "other", "unknown"];

/// The Patient routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/add/Patient", web::post().to(create))
        .route("/get/Patient", web::get().to(list))
        .route("/get/Patient/{id}", web::get().to(by_id))
        .route("/update/Patient", web::put().to(update))
        .route("/health-lake/delete/Patient/{id}", web::delete().to(delete))
        .route("/health-lake/get-profiles/Patient", web::get().to(filter))
}

/// An identifier checked against the rule of its type.
fn id_number(id_type: &str, value: &str) -> ApiResult<String> {
    let field = "idNumber";
    match id_type {
        "ABHA" => {
            let digits =
                crate::accounts::digits14(value).filter(|d| checks::luhn_valid(d)).ok_or_else(|| {
                    ApiError::bad(field, "abha-number", "an ABHA number: 14 digits, Luhn-valid")
                })?;
            Ok(checks::dashed14(&digits))
        }
        "AADHAAR" => {
            checks::aadhaar(value)
                .map_err(|r| ApiError::bad(field, r.name, format!("Aadhaar {}", r.message)))?;
            Ok(value.to_string())
        }
        "PAN" => {
            let b = value.as_bytes();
            let ok = b.len() == 10
                && b[..5].iter().all(u8::is_ascii_uppercase)
                && b[5..9].iter().all(u8::is_ascii_digit)
                && b[9].is_ascii_uppercase();
            ok.then(|| value.to_string())
                .ok_or_else(|| ApiError::bad(field, "pan", "a PAN: five letters, four digits, a letter"))
        }
        _ => {
            let compact: String = value.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
            let ok = (10..=20).contains(&compact.len())
                && compact.chars().take(2).all(|c| c.is_ascii_uppercase())
                && compact.chars().all(|c| c.is_ascii_alphanumeric());
            ok.then_some(compact).ok_or_else(|| {
                ApiError::bad(
                    field,
                    "driving-licence",
                    "a driving licence number: state letters, then digits",
                )
            })
        }
    }
}

/// The fields every patient and practitioner shares: names, contacts, state.
pub fn person_fields(body: &JsonBody, first_min: usize, now: i64, birth_required: bool) -> ApiResult<()> {
    common::person_name("firstName", body.str("firstName")?, first_min)?;
    if let Some(last) = body.opt_str("lastName")? {
        common::person_name("lastName", last, first_min)?;
    }
    if let Some(middle) = body.opt_str("middleName")? {
        common::person_name("middleName", middle, 1)?;
    }
    match body.opt_str("birthDate")? {
        Some(d) => drop(common::date("birthDate", d, Some(now))?),
        None if birth_required => return Err(ApiError::bad("birthDate", "required", "is required")),
        None => {}
    }
    if let Some(m) = body.opt_str("mobileNumber")? {
        common::mobile("mobileNumber", m)?;
    }
    if let Some(e) = body.opt_str("emailId")? {
        common::email("emailId", e)?;
    }
    if let Some(p) = body.opt_str("pincode")? {
        common::pincode("pincode", p)?;
    }
    if let Some(s) = body.opt_str("state")? {
        common::one_of("state", s, &SDK_STATES, false)?;
    }
    match body.0.get("wantsToLinkWhatsapp") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => return Err(ApiError::bad("wantsToLinkWhatsapp", "type", "must be true, false or null")),
    }
    body.opt_str("photo")?;
    Ok(())
}

/// `POST /add/Patient` → 201 `{type, message, resourceId, validationErrors, resource}`.
async fn create(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    common::one_of("resourceType", body.str("resourceType")?, &["Patient"], false)?;
    let id_type = common::one_of("idType", body.str("idType")?, &ID_TYPES, true)?;
    let number = id_number(id_type, body.str("idNumber")?)?;
    common::one_of("patientType", body.str("patientType")?, &["OLD", "NEW"], true)?;
    let now = sh.clock.now();
    person_fields(&body, 3, now, true)?;
    common::one_of("gender", body.str("gender")?, &GENDERS, true)?;
    let address = body.str("address")?;
    if address.chars().count() < 5 {
        return Err(ApiError::bad("address", "length", "at least 5 characters"));
    }
    let abha = body.opt_str("abhaAddress")?;
    if let Some(a) = abha {
        common::abha_address("abhaAddress", a)?;
    }
    let id = Uuid::new_v4().to_string();
    let mut resource = body.0.clone();
    resource.insert("resourceId".into(), json!(id));
    resource.insert("id".into(), json!(id));
    resource.insert("organizationId".into(), json!(facility(&req)));
    resource.insert("lastUpdated".into(), json!(iso(now)));
    let resource = Value::Object(resource);
    let same_id = |v: &Value| {
        v["idType"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(id_type))
            && id_number(id_type, v["idNumber"].as_str().unwrap_or("")).ok().as_deref() == Some(&number)
    };
    let same_abha = |v: &Value| {
        abha.is_some_and(|a| v["abhaAddress"].as_str().is_some_and(|b| b.eq_ignore_ascii_case(a)))
    };
    cs.patients.insert_unless(&id, resource.clone(), |v| same_id(v) || same_abha(v)).map_err(|other| {
        let field = if abha.is_some() && cs.patients.get(&other).is_some_and(|v| same_abha(&v)) {
            "abhaAddress"
        } else {
            "idNumber"
        };
        common::conflict(field, "patient-exists", format!("patient {other} has this {field} already"))
    })?;
    Ok(HttpResponse::Created().json(json!({"type": "success", "message": "Patient created successfully",
        "resourceId": id, "validationErrors": [], "resource": resource})))
}

/// `GET /get/Patient[?nextPage=]` → a page of patients, oldest first.
async fn list(cs: web::Data<CarestackState>, q: Query) -> ApiResult<HttpResponse> {
    common::listed(&cs.patients, &q, "Patients Fetched")
}

/// The patient with this id, or 404 naming the id.
pub fn find(cs: &CarestackState, field: &str, id: &str) -> ApiResult<Value> {
    cs.patients
        .get(id)
        .ok_or_else(|| not_found(field, "patient-unknown", format!("Patient Not Found ({id})")))
}

/// `GET /get/Patient/{id}` → `{message: "Patient Found !!!", requestResource}`; 404 when unknown.
async fn by_id(cs: web::Data<CarestackState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let patient = find(&cs, "id", &path)?;
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": "Patient Found !!!",
        "requestResource": patient, "totalNumberOfRecords": 1})))
}

/// `PUT /update/Patient {resourceId, emailId, mobileNumber, resourceType}`: the contacts given
/// change.
async fn update(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    common::one_of("resourceType", body.str("resourceType")?, &["Patient"], false)?;
    let id = body.str("resourceId")?;
    let email = body.opt_str("emailId")?;
    let mobile = body.opt_str("mobileNumber")?;
    if let Some(e) = email {
        common::email("emailId", e)?;
    }
    if let Some(m) = mobile {
        common::mobile("mobileNumber", m)?;
    }
    if email.is_none() && mobile.is_none() {
        return Err(ApiError::bad("emailId", "required", "give emailId or mobileNumber to change"));
    }
    find(&cs, "resourceId", id)?;
    let now = iso(sh.clock.now());
    let resource = cs
        .patients
        .update(id, |p| {
            if let Some(e) = email {
                p["emailId"] = json!(e);
            }
            if let Some(m) = mobile {
                p["mobileNumber"] = json!(m);
            }
            p["lastUpdated"] = json!(now);
        })
        .ok_or_else(|| not_found("resourceId", "patient-unknown", format!("Patient Not Found ({id})")))?;
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": "Patient updated successfully",
        "resourceId": id, "validationErrors": [], "resource": resource})))
}

/// `DELETE /health-lake/delete/Patient/{id}`: gone; `exists` is false from then on.
async fn delete(cs: web::Data<CarestackState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    if !cs.patients.remove(&path) {
        return Err(not_found("id", "patient-unknown", format!("Patient Not Found ({path})")));
    }
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": "Patient deleted successfully",
        "resourceId": path.as_str()})))
}

/// The `filters` query parameter: a JSON object, each key one the service knows.
pub fn filters(q: &Query, known: &[&str]) -> ApiResult<Map<String, Value>> {
    let Some(text) = param(q, "filters") else { return Ok(Map::new()) };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(ApiError::bad("filters", "json", "must be a JSON object"));
    };
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::bad(&format!("filters.{k}"), "filter", format!("not a filter; use {known:?}")));
    }
    Ok(map)
}

/// `_count` of a filter: a page size from 1 to 100.
pub fn count(filters: &Map<String, Value>) -> ApiResult<usize> {
    let n = match filters.get("_count") {
        None | Some(Value::Null) => return Ok(PAGE_SIZE),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    n.filter(|n| (1..=100).contains(n))
        .map(|n| n as usize)
        .ok_or_else(|| ApiError::bad("filters._count", "range", "a whole number from 1 to 100"))
}

/// Whether a text field starts with the filter's value, ignoring case (FHIR's string search).
pub fn starts(v: &Value, key: &str, want: &Value) -> bool {
    let want = want.as_str().unwrap_or_default().to_lowercase();
    v[key].as_str().is_some_and(|s| s.to_lowercase().starts_with(&want))
}

/// Whether a field equals the filter's value, ignoring case.
pub fn same(v: &Value, key: &str, want: &Value) -> bool {
    let want = match want {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    v[key].as_str().is_some_and(|s| s.eq_ignore_ascii_case(&want))
}

/// `GET /health-lake/get-profiles/Patient?filters={...}[&nextPage=]` → `{entry, total, link}`,
/// each entry a FHIR Patient.
async fn filter(cs: web::Data<CarestackState>, q: Query) -> ApiResult<HttpResponse> {
    let known = [
        "firstName",
        "name",
        "lastName",
        "family",
        "birthDate",
        "gender",
        "phone",
        "email",
        "address-state",
        "organization",
        "identifier",
        "_count",
    ];
    let f = filters(&q, &known)?;
    let size = count(&f)?;
    let matches = |p: &Value| {
        f.iter().all(|(k, want)| match k.as_str() {
            "firstName" | "name" => starts(p, "firstName", want),
            "lastName" | "family" => starts(p, "lastName", want),
            "birthDate" => same(p, "birthDate", want),
            "gender" => same(p, "gender", want),
            "phone" => same(p, "mobileNumber", want),
            "email" => same(p, "emailId", want),
            "address-state" => same(p, "state", want),
            "organization" => same(p, "organizationId", want),
            "identifier" => ["idNumber", "abhaAddress", "resourceId"].iter().any(|k| same(p, k, want)),
            _ => true,
        })
    };
    let found: Vec<Value> = cs.patients.all().into_iter().filter(matches).collect();
    let total = found.len();
    let (items, next) = common::page(found, param(&q, "nextPage"), size)?;
    let entry: Vec<Value> = items
        .iter()
        .map(|p| json!({"fullUrl": format!("Patient/{}", p["resourceId"].as_str().unwrap_or("")), "resource": fhir(p)}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"entry": entry, "total": total,
        "link": next.map(|n| json!({"nextPage": n}))})))
}

/// A patient as a FHIR `Patient` resource (NRCeS profile).
pub fn fhir(p: &Value) -> Value {
    let s = |k: &str| p[k].as_str().filter(|v| !v.is_empty());
    let given: Vec<&str> = [s("firstName"), s("middleName")].into_iter().flatten().collect();
    let full =
        [s("firstName"), s("middleName"), s("lastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let mut identifier = vec![json!({"type": {"text": s("idType")}, "value": s("idNumber")})];
    if let Some(a) = s("abhaAddress") {
        identifier.push(json!({"system": "https://healthid.abdm.gov.in", "value": a}));
    }
    let telecom: Vec<Value> = [("phone", s("mobileNumber")), ("email", s("emailId"))]
        .into_iter()
        .filter_map(|(system, v)| v.map(|v| json!({"system": system, "value": v})))
        .collect();
    json!({"resourceType": "Patient", "id": s("resourceId"),
        "meta": {"lastUpdated": s("lastUpdated"), "profile": ["https://nrces.in/ndhm/fhir/r4/StructureDefinition/Patient"]},
        "identifier": identifier, "name": [{"text": full, "family": s("lastName"), "given": given}],
        "gender": s("gender").map(str::to_lowercase), "birthDate": s("birthDate"), "telecom": telecom,
        "address": [{"text": s("address"), "postalCode": s("pincode"), "state": s("state")}],
        "managingOrganization": {"reference": format!("Organization/{}", s("organizationId").unwrap_or(""))}})
}
