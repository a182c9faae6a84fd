//! `Appointment`: a patient's appointment with a practitioner. Both must exist (422 naming the
//! reference otherwise); `end` may not come before `start`; the priority is one of the SDK's
//! `AppointmentPriority`. The reference is a UUID (the SDK's document linking requires it), the
//! client's own when it gives one. Every field of an appointment is a string, as the SDK's
//! `ResourceType` model requires (an unset slot is `""`).
//!
//! Unknown references answer 200 with `"Appointment Not Found"`: the SDK's `exists` raises on a
//! 404 instead of returning false. `update` needs `reference` in the body, which the SDK's
//! `UpdateAppointmentDTO` cannot carry (see the README for the working call).

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use serde_json::{json, Value};
use uuid::Uuid;

use super::common::{self, facility, not_found, Query};
use super::{patient, practitioner, CarestackState};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};

/// The SDK's `AppointmentPriority`.
pub const PRIORITIES: [&str; 3] = ["Emergency", "Follow-up visit", "New"];

/// The Appointment routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/add/Appointment", web::post().to(create))
        .route("/get/Appointment", web::get().to(list))
        .route("/get/Appointment/{reference}", web::get().to(by_reference))
        .route("/update/Appointment", web::put().to(update))
        .route("/delete/Appointment/{reference}", web::delete().to(delete))
}

/// A reference to a patient or practitioner that must exist: 422 naming the field otherwise.
fn must_exist(found: ApiResult<Value>, field: &str) -> ApiResult<Value> {
    found.map_err(|e| ApiError::rule(field, "reference-unknown", e.message.replacen("id: ", "", 1)))
}

/// `start` and `end` as given, checked: both date-times, `end` not before `start`.
fn times(start: &str, end: &str) -> ApiResult<()> {
    let (from, to) = (common::datetime("start", start)?, common::datetime("end", end)?);
    if to < from {
        return Err(ApiError::bad("end", "time-range", format!("{end} is before start {start}")));
    }
    Ok(())
}

/// `POST /add/Appointment` → 201 `{type, message, resource}`, every resource field a string.
async fn create(cs: web::Data<CarestackState>, req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    let patient_ref = body.str("patientReference")?;
    let practitioner_ref = body.str("practitionerReference")?;
    let (start, end) = (body.str("start")?, body.str("end")?);
    times(start, end)?;
    let priority =
        common::one_of("priority", body.opt_str("priority")?.unwrap_or("Emergency"), &PRIORITIES, false)?;
    must_exist(patient::find(&cs, "id", patient_ref), "patientReference")?;
    must_exist(practitioner::find(&cs, "id", practitioner_ref), "practitionerReference")?;
    let reference = match body.opt_str("reference")? {
        Some(r) => {
            common::uuid("reference", r)?;
            r.to_string()
        }
        None => Uuid::new_v4().to_string(),
    };
    let organization = body.opt_str("organizationId")?.map(str::to_string).unwrap_or_else(|| facility(&req));
    let resource = json!({"reference": reference, "practitionerReference": practitioner_ref,
        "patientReference": patient_ref, "slot": body.opt_str("slot")?.unwrap_or(""), "priority": priority,
        "start": start, "end": end, "organizationId": organization});
    cs.appointments.insert_unless(&reference, resource.clone(), |_| false).map_err(|_| {
        common::conflict("reference", "appointment-exists", format!("appointment {reference} exists already"))
    })?;
    Ok(HttpResponse::Created().json(json!({"type": "success", "message": "Appointment Created",
        "resource": resource, "validationErrors": [], "fhirProfileId": reference})))
}

/// `GET /get/Appointment[?nextPage=]` → a page of appointments.
async fn list(cs: web::Data<CarestackState>, q: Query) -> ApiResult<HttpResponse> {
    common::listed(&cs.appointments, &q, "Appointments Fetched")
}

/// `GET /get/Appointment/{reference}` → `"Appointment Found !!!"` with the appointment, or 200
/// `"Appointment Not Found"` without one.
async fn by_reference(cs: web::Data<CarestackState>, path: web::Path<String>) -> HttpResponse {
    match cs.appointments.get(&path) {
        Some(a) => HttpResponse::Ok().json(json!({"type": "success", "message": "Appointment Found !!!",
            "requestResource": a, "totalNumberOfRecords": 1})),
        None => HttpResponse::Ok().json(json!({"type": "error", "message": "Appointment Not Found",
            "totalNumberOfRecords": 0})),
    }
}

/// `PUT /update/Appointment {reference, start?, end?, priority?, slot?}`: what is given changes.
async fn update(cs: web::Data<CarestackState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let reference = body.opt_str("reference")?.ok_or_else(|| {
        ApiError::bad(
            "reference",
            "required",
            "is required: name the appointment to update (the SDK's UpdateAppointmentDTO has no field for it)",
        )
    })?;
    let current = cs.appointments.get(reference).ok_or_else(|| {
        not_found("reference", "appointment-unknown", format!("Appointment Not Found ({reference})"))
    })?;
    let start = body.opt_str("start")?.unwrap_or(current["start"].as_str().unwrap_or(""));
    let end = body.opt_str("end")?.unwrap_or(current["end"].as_str().unwrap_or(""));
    times(start, end)?;
    let priority = match body.opt_str("priority")? {
        Some(p) => common::one_of("priority", p, &PRIORITIES, false)?,
        None => "",
    };
    let slot = body.opt_str("slot")?;
    if body.opt_str("start")?.is_none()
        && body.opt_str("end")?.is_none()
        && priority.is_empty()
        && slot.is_none()
    {
        return Err(ApiError::bad("slot", "required", "give start, end, priority or slot to change"));
    }
    let updated = cs
        .appointments
        .update(reference, |a| {
            a["start"] = json!(start);
            a["end"] = json!(end);
            if !priority.is_empty() {
                a["priority"] = json!(priority);
            }
            if let Some(s) = slot {
                a["slot"] = json!(s);
            }
        })
        .unwrap_or(current);
    Ok(HttpResponse::Ok().json(json!({"type": "success", "message": "Appointment Updated",
        "requestResource": updated, "totalNumberOfRecords": 1})))
}

/// `DELETE /delete/Appointment/{reference}`.
async fn delete(cs: web::Data<CarestackState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    if !cs.appointments.remove(&path) {
        return Err(not_found("reference", "appointment-unknown", format!("Appointment Not Found ({path})")));
    }
    Ok(HttpResponse::Ok()
        .json(json!({"type": "success", "message": "Appointment Deleted", "reference": path.as_str()})))
}
