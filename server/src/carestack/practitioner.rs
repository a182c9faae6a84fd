//! `Practitioner`: the HMIS's staff, checked as the SDK's `CreatePractitionerDTO` describes them
//! (a department from its list, a registration id unique in the sandbox, dates as dates). An
//! update sends the whole practitioner again, with its `resourceId`. Kept as sent, with
//! `resourceId`; `get-profiles` returns FHIR `Practitioner` resources.

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde_json::{json, Value};
use uuid::Uuid;

use super::common::{self, facility, not_found, param, Query};
use super::patient::{count, filters, person_fields, same, starts, GENDERS};
use super::CarestackState;
use crate::body::JsonBody;
use crate::clock::iso;
use crate::error::ApiResult;
use crate::shared::Shared;

/// The SDK's `Departments`, exactly as it spells them.
const DEPARTMENTS: [&str; 21] = [
    "urology",
    "neurology",
    "radiology",
    "cardiology",
    "general surgery",
    "endocrinology",
    "pediatrics",
    "pathology",
    "nephrology",
    "dermatology",
    "otorhinolaryngology",
    "ophthalmology",
    "emergency medicine",
    "orthopedics",
    "psychiatry",
    "anesthesiology",
    "gastroenterology",
    "intensive care medicine",
    "family medicine",
    "gynaecology",
    "hematology",
];

/// The Practitioner routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/add/Practitioner", web::post().to(create))
        .route("/get/Practitioner", web::get().to(list))
        .route("/get/Practitioner/{id}", web::get().to(by_id))
        .route("/update/Practitioner", web::put().to(update))
        .route("/health-lake/delete/Practitioner/{id}", web::delete().to(delete))
        .route("/health-lake/get-profiles/Practitioner", web::get().to(filter))
}

/// Checks a practitioner as create and update take it; its registration id.
fn check(body: &JsonBody, now: i64) -> ApiResult<String> {
    common::one_of("resourceType", body.str("resourceType")?, &["Practitioner"], false)?;
    let registration = body.str("registrationId")?.to_string();
    common::one_of("department", body.str("department")?, &DEPARTMENTS, false)?;
    for key in ["designation", "status", "staffType"] {
        body.str(key)?;
    }
    common::date("joiningDate", body.str("joiningDate")?, Some(now))?;
    person_fields(body, 1, now, false)?;
    common::one_of("gender", body.str("gender")?, &GENDERS, true)?;
    body.str("address")?;
    Ok(registration)
}

/// The practitioner as kept: what was sent, with its id, facility and time.
fn kept(body: &JsonBody, id: &str, facility: &str, now: i64) -> Value {
    let mut p = body.0.clone();
    p.insert("resourceId".into(), json!(id));
    p.insert("id".into(), json!(id));
    p.insert("organizationId".into(), json!(facility));
    p.insert("lastUpdated".into(), json!(iso(now)));
    Value::Object(p)
}

fn same_registration(v: &Value, registration: &str) -> bool {
    v["registrationId"].as_str().is_some_and(|r| r.eq_ignore_ascii_case(registration))
}

/// `POST /add/Practitioner` → 201 `{type, message, resourceId}`; 409 for a registration id taken.
async fn create(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let now = sh.clock.now();
    let registration = check(&body, now)?;
    let id = Uuid::new_v4().to_string();
    let p = kept(&body, &id, &facility(&req), now);
    cs.practitioners.insert_unless(&id, p, |v| same_registration(v, &registration)).map_err(|other| {
        common::conflict(
            "registrationId",
            "practitioner-exists",
            format!("practitioner {other} has this registrationId"),
        )
    })?;
    Ok(HttpResponse::Created().json(json!({"type": "success",
        "message": "Practitioner created successfully", "resourceId": id})))
}

/// `GET /get/Practitioner[?nextPage=]` → a page of practitioners.
async fn list(cs: web::Data<CarestackState>, q: Query) -> ApiResult<HttpResponse> {
    common::listed(&cs.practitioners, &q, "Practitioners Fetched")
}

/// The practitioner with this id, or 404 naming the field.
pub fn find(cs: &CarestackState, field: &str, id: &str) -> ApiResult<Value> {
    cs.practitioners
        .get(id)
        .ok_or_else(|| not_found(field, "practitioner-unknown", format!("Practitioner Not Found ({id})")))
}

/// `GET /get/Practitioner/{id}` → `{message: "Practitioner Found !!!", requestResource}`.
async fn by_id(cs: web::Data<CarestackState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let p = find(&cs, "id", &path)?;
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": "Practitioner Found !!!",
        "requestResource": p, "totalNumberOfRecords": 1})))
}

/// `PUT /update/Practitioner`: the whole practitioner again, `resourceId` naming it.
async fn update(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let now = sh.clock.now();
    let registration = check(&body, now)?;
    let id = body.str("resourceId")?.to_string();
    find(&cs, "resourceId", &id)?;
    if let Some(other) =
        cs.practitioners.find(|v| v["resourceId"] != id.as_str() && same_registration(v, &registration))
    {
        let why =
            format!("practitioner {} has this registrationId", other["resourceId"].as_str().unwrap_or(""));
        return Err(common::conflict("registrationId", "practitioner-exists", why));
    }
    let new = kept(&body, &id, &facility(&req), now);
    cs.practitioners.update(&id, |p| *p = new).ok_or_else(|| {
        not_found("resourceId", "practitioner-unknown", format!("Practitioner Not Found ({id})"))
    })?;
    Ok(HttpResponse::Ok().json(json!({"type": "success", "resourceId": id,
        "message": "Practitioner updated successfully"})))
}

/// `DELETE /health-lake/delete/Practitioner/{id}`.
async fn delete(cs: web::Data<CarestackState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    if !cs.practitioners.remove(&path) {
        return Err(not_found("id", "practitioner-unknown", format!("Practitioner Not Found ({path})")));
    }
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": "Practitioner deleted successfully",
        "resourceId": path.as_str()})))
}

/// `GET /health-lake/get-profiles/Practitioner?filters={...}` → `{entry, total, link}`.
async fn filter(cs: web::Data<CarestackState>, q: Query) -> ApiResult<HttpResponse> {
    let known =
        ["name", "family", "birthDate", "gender", "mobileNumber", "emailId", "address-state", "_count"];
    let f = filters(&q, &known)?;
    let size = count(&f)?;
    let matches = |p: &Value| {
        f.iter().all(|(k, want)| match k.as_str() {
            "name" => starts(p, "firstName", want),
            "family" => starts(p, "lastName", want),
            "address-state" => same(p, "state", want),
            "_count" => true,
            other => same(p, other, want),
        })
    };
    let found: Vec<Value> = cs.practitioners.all().into_iter().filter(matches).collect();
    let total = found.len();
    let (items, next) = common::page(found, param(&q, "nextPage"), size)?;
    let entry: Vec<Value> = items
        .iter()
        .map(|p| {
            let id = p["resourceId"].as_str().unwrap_or("");
            json!({"fullUrl": format!("Practitioner/{id}"), "resource": fhir(p)})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"entry": entry, "total": total,
        "link": next.map(|n| json!({"nextPage": n}))})))
}

/// A practitioner as a FHIR `Practitioner` resource (NRCeS profile).
pub fn fhir(p: &Value) -> Value {
    let s = |k: &str| p[k].as_str().filter(|v| !v.is_empty());
    let given: Vec<&str> = [s("firstName"), s("middleName")].into_iter().flatten().collect();
    let full =
        [s("firstName"), s("middleName"), s("lastName")].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let telecom: Vec<Value> = [("phone", s("mobileNumber")), ("email", s("emailId"))]
        .into_iter()
        .filter_map(|(system, v)| v.map(|v| json!({"system": system, "value": v})))
        .collect();
    json!({"resourceType": "Practitioner", "id": s("resourceId"),
        "meta": {"lastUpdated": s("lastUpdated"), "profile": ["https://nrces.in/ndhm/fhir/r4/StructureDefinition/Practitioner"]},
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MD", "display": "Medical License number"}]},
            "system": "https://doctor.ndhm.gov.in", "value": s("registrationId")}],
        "name": [{"text": full, "family": s("lastName"), "given": given, "prefix": ["Dr"]}],
        "gender": s("gender").map(str::to_lowercase), "birthDate": s("birthDate"), "telecom": telecom,
        "address": [{"text": s("address"), "postalCode": s("pincode"), "state": s("state")}],
        "qualification": [{"code": {"text": format!("{}, {}", s("designation").unwrap_or(""), s("department").unwrap_or(""))}}]})
}

/// Whether a request body is refused for a field (used by tests of the shared rules).
#[cfg(test)]
fn refuses(body: Value) -> Option<String> {
    let body = JsonBody(body.as_object().cloned().unwrap_or_default());
    check(&body, 4_000_000_000_000).err().and_then(|e| e.field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({"registrationId": "REG1", "department": "cardiology", "designation": "Consultant",
            "status": "Active", "joiningDate": "2020-01-01", "staffType": "Doctor", "firstName": "Alice",
            "middleName": null, "lastName": "Smith", "birthDate": "1980-06-10", "gender": "Female",
            "mobileNumber": "+919876543210", "emailId": "a@x.com", "address": "1 Med St", "pincode": "110001",
            "state": "Delhi", "wantsToLinkWhatsapp": null, "photo": null, "resourceType": "Practitioner",
            "resourceId": null})
    }

    #[test]
    fn the_sdk_example_passes_and_each_rule_names_its_field() {
        assert_eq!(refuses(valid()), None);
        for (key, bad) in [
            ("department", json!("Cardiology")),
            ("resourceType", json!("Patient")),
            ("mobileNumber", json!("9876543210")),
            ("joiningDate", json!("01-01-2020")),
            ("state", json!("delhi")),
            ("gender", json!("F")),
        ] {
            let mut b = valid();
            b[key] = bad;
            assert_eq!(refuses(b).as_deref(), Some(key));
        }
    }
}
