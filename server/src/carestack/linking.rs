//! `DocumentLinking`: a HIP links a visit's records to the patient's ABHA address, through the
//! sandbox's own gateway.
//!
//! 1. `create-carecontext`: the patient, practitioner and appointment must exist and belong
//!    together, the patient must have an ABHA address the sandbox knows, and the `facilityid`
//!    must be a HIP (a fixture HIP, a registered HIP service, or a facility registered here).
//!    A care context is minted and linking starts as ABDM's does: an OTP goes to the patient's
//!    mobile (`GET /_sandbox/outbox?txnId=<requestId>`, purpose `carestack-link`), and the
//!    answer offers `MOBILE_OTP` and `DEMOGRAPHICS`. Asked again while it is pending, it answers
//!    the same care context; `resendOtp: true` resends the OTP (60 s apart, three times).
//! 2. `update-visit-records`: the records attached to it, each a FHIR document bundle given
//!    (`rawFhir: true`, checked: a `Bundle` of type `document`, a `Composition` first) or made
//!    from the patient, practitioner and appointment (`rawFhir: false`).
//! 3. `link-carecontext`: DEMOGRAPHICS checks the name against the ABHA profile and the gender
//!    and year of birth of the HIP's patient against it too, as the gateway's demographic auth
//!    does; MOBILE_OTP takes the OTP as `otp`. Then the consent manager's record gains the care
//!    context ([`crate::gateway::linking::link_at_hip`]): `GET /_sandbox/links` shows it, and
//!    its records count as the facility's from then on, so an HIU's consent over them delivers
//!    their bundles through the data flow. The answer is `{}`, the one body the SDK's
//!    `link_care_context` accepts.

use actix_web::{web, HttpRequest, HttpResponse, Scope};
use dashmap::DashMap;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bundles::MadeBundle;
use super::common::{self, facility, not_found, HI_TYPES};
use super::generate::{self, Document};
use super::{organization, patient, practitioner, CarestackState};
use crate::body::{JsonBody, Obj};
use crate::clock::{iso, Millis};
use crate::error::{ApiError, ApiResult};
use crate::gateway::bridges::Bridges;
use crate::gateway::linking::{link_at_hip, Links};
use crate::otp::Otp;
use crate::records::Record;
use crate::shared::Shared;

/// The auth modes a HIP-initiated link offers.
const AUTH_MODES: [&str; 2] = ["MOBILE_OTP", "DEMOGRAPHICS"];

/// One care context created through document linking.
pub struct CareContext {
    request_id: String,
    facility: String,
    patient: String,
    practitioner: String,
    appointment: String,
    address: String,
    person: usize,
    hi_type: String,
    date: String,
    otp: Otp,
    records: Vec<(String, String, Value)>,
    linked: bool,
}

/// Care contexts by reference.
#[derive(Default)]
pub struct CareContexts {
    map: DashMap<String, CareContext>,
}

impl CareContexts {
    /// None.
    pub fn clear(&self) {
        self.map.clear();
    }
}

/// The linking routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/abdm-flows/create-carecontext", web::post().to(create))
        .route("/abdm-flows/update-visit-records", web::post().to(update))
        .route("/abdm-flows/link-carecontext", web::post().to(link))
}

/// `hh:mm am - hh:mm pm`, as the SDK writes an appointment's time.
fn appointment_date(value: &str) -> ApiResult<()> {
    let time = |t: &str| {
        let (hm, half) = t.trim().split_once(' ')?;
        let (h, m) = hm.split_once(':')?;
        let ok = h.len() == 2
            && m.len() == 2
            && (1..=12).contains(&h.parse::<u8>().ok()?)
            && m.parse::<u8>().ok()? < 60;
        (ok && ["am", "pm"].contains(&half.to_lowercase().as_str())).then_some(())
    };
    value.split_once(" - ").and_then(|(a, b)| time(a).and(time(b))).ok_or_else(|| {
        ApiError::bad("appointmentDate", "time-range", format!("{value:?} is not \"hh:mm am - hh:mm pm\""))
    })
}

/// Whether the facility can hold records as a HIP.
fn is_hip(sh: &Shared, cs: &CarestackState, bridges: &Bridges, id: &str) -> bool {
    sh.fixtures.facilities.iter().any(|f| f.hip_id == id && f.is("HIP"))
        || bridges.has_type(id, "HIP")
        || organization::find(cs, id).is_some()
}

/// The patient, practitioner and appointment of a request, checked to belong together.
fn parties(cs: &CarestackState, o: &Obj) -> ApiResult<(Value, Value, Value)> {
    let refer = |e: ApiError, field: &str| {
        ApiError::rule(field, "reference-unknown", e.message.replacen("id: ", "", 1))
    };
    let patient_ref = o.str("patientReference")?;
    let practitioner_ref = o.str("practitionerReference")?;
    let appointment_ref = o.str("appointmentReference")?;
    let patient = patient::find(cs, "id", patient_ref).map_err(|e| refer(e, "patientReference"))?;
    let practitioner =
        practitioner::find(cs, "id", practitioner_ref).map_err(|e| refer(e, "practitionerReference"))?;
    let appointment = cs.appointments.get(appointment_ref).ok_or_else(|| {
        ApiError::rule(
            "appointmentReference",
            "reference-unknown",
            format!("Appointment Not Found ({appointment_ref})"),
        )
    })?;
    if appointment["patientReference"] != patient_ref
        || appointment["practitionerReference"] != practitioner_ref
    {
        let why = "the appointment is of another patient or practitioner";
        return Err(ApiError::rule("appointmentReference", "appointment-mismatch", why));
    }
    Ok((patient, practitioner, appointment))
}

/// `POST /abdm-flows/create-carecontext` → 201 `{careContextReference, requestId, authModes}`.
async fn create(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    bridges: web::Data<Bridges>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let hi_type = common::one_of("hiType", body.str("hiType")?, HI_TYPES, false)?;
    appointment_date(body.str("appointmentDate")?)?;
    let resend = match body.0.get("resendOtp") {
        None | Some(Value::Null) => false,
        Some(_) => body.bool("resendOtp")?,
    };
    let (patient, _, appointment) = parties(&cs, &body.root())?;
    let given = body.opt_str("patientAbhaAddress")?;
    if let Some(a) = given {
        common::abha_address("patientAbhaAddress", a)?;
    }
    let address = given.or(patient["abhaAddress"].as_str()).map(str::to_string).ok_or_else(|| {
        ApiError::rule(
            "patientAbhaAddress",
            "abha-address-required",
            "the patient has no ABHA address to link to",
        )
    })?;
    let account = sh.accounts.by_address(&address).ok_or_else(|| {
        ApiError::rule("patientAbhaAddress", "abha-address-unknown", format!("no ABHA address {address}"))
    })?;
    let hip = facility(&req);
    if !is_hip(&sh, &cs, &bridges, &hip) {
        let why = format!(
            "{hip} is not a HIP (a fixture HIP, a HIP service of a bridge, or a facility registered here)"
        );
        return Err(ApiError::rule("facilityid", "not-a-hip", why));
    }
    let now = sh.clock.now();
    let appointment_ref = appointment["reference"].as_str().unwrap_or("").to_string();
    let existing = cs.contexts.map.iter().find_map(|c| {
        (c.appointment == appointment_ref && c.hi_type == hi_type && c.facility == hip)
            .then(|| (c.key().clone(), c.linked))
    });
    let answer = |reference: &str, request_id: &str| {
        HttpResponse::Created().json(
            json!({"careContextReference": reference, "requestId": request_id, "authModes": AUTH_MODES}),
        )
    };
    match existing {
        Some((reference, true)) => Err(common::conflict(
            "appointmentReference",
            "care-context-linked",
            format!("its {hi_type} care context {reference} is linked already"),
        )),
        Some((reference, false)) => {
            let mut c = cs
                .contexts
                .map
                .get_mut(&reference)
                .ok_or_else(|| not_found("careContextReference", "care-context-unknown", "gone"))?;
            if resend {
                c.otp.resend(now, "resendOtp")?;
                let txn = Uuid::parse_str(&c.request_id).unwrap_or_default();
                sh.outbox.send(txn, &c.otp, "carestack-link");
            }
            Ok(answer(&reference, &c.request_id))
        }
        None if resend => Err(ApiError::rule(
            "resendOtp",
            "nothing-to-resend",
            "no care context of this appointment is pending",
        )),
        None => {
            let reference = Uuid::new_v4().to_string();
            let request_id = Uuid::new_v4();
            let code = sh.fixtures.people.get(account.person).map(|p| p.otp.clone()).unwrap_or_default();
            let otp = Otp::new(&code, &account.mobile, now);
            sh.outbox.send(request_id, &otp, "carestack-link");
            let start = appointment["start"].as_str().and_then(crate::clock::parse_utc).unwrap_or(now);
            let context = CareContext {
                request_id: request_id.to_string(),
                facility: hip,
                patient: patient["resourceId"].as_str().unwrap_or("").to_string(),
                practitioner: appointment["practitionerReference"].as_str().unwrap_or("").to_string(),
                appointment: appointment_ref,
                address,
                person: account.person,
                hi_type: hi_type.to_string(),
                date: iso(start).chars().take(10).collect(),
                otp,
                records: Vec::new(),
                linked: false,
            };
            cs.contexts.map.insert(reference.clone(), context);
            Ok(answer(&reference, &request_id.to_string()))
        }
    }
}

/// The care context a step names, with its request id and references checked.
fn context<'a>(
    cs: &'a CarestackState,
    body: &JsonBody,
) -> ApiResult<dashmap::mapref::one::RefMut<'a, String, CareContext>> {
    let reference = body.str("careContextReference")?;
    let request_id = body.str("requestId")?;
    let c = cs.contexts.map.get_mut(reference).ok_or_else(|| {
        not_found(
            "careContextReference",
            "care-context-unknown",
            format!("no care context {reference} (create-carecontext first)"),
        )
    })?;
    if c.request_id != request_id {
        return Err(ApiError::rule(
            "requestId",
            "request-mismatch",
            "is not the requestId create-carecontext gave",
        ));
    }
    for (field, want) in [("patientReference", &c.patient), ("appointmentReference", &c.appointment)] {
        if body.str(field)? != want.as_str() {
            return Err(ApiError::rule(
                field,
                "care-context-mismatch",
                format!("the care context is of {field} {want}"),
            ));
        }
    }
    Ok(c)
}

/// A bundle given as `fhirDocument`, checked to be a FHIR document with a Composition first.
fn fhir_document(field: &str, v: Option<&Value>) -> ApiResult<Value> {
    let doc = v
        .filter(|d| d.is_object())
        .ok_or_else(|| ApiError::bad(field, "required", "is required when rawFhir is true"))?;
    if doc["resourceType"] != "Bundle" || doc["type"] != "document" {
        return Err(ApiError::bad(field, "fhir-document", "must be a FHIR Bundle of type document"));
    }
    if doc["entry"][0]["resource"]["resourceType"] != "Composition" {
        return Err(ApiError::bad(field, "fhir-document", "its first entry must be the Composition"));
    }
    Ok(doc.clone())
}

/// A bundle made from the visit itself: patient, practitioner, appointment.
fn visit_bundle(sh: &Shared, cs: &CarestackState, c: &CareContext, hi_type: &str) -> Value {
    let p = cs.patients.get(&c.patient).unwrap_or_default();
    let pr = cs.practitioners.get(&c.practitioner).unwrap_or_default();
    let a = cs.appointments.get(&c.appointment).unwrap_or_default();
    let (start, end) =
        (a["start"].as_str().unwrap_or("").to_string(), a["end"].as_str().unwrap_or("").to_string());
    let name = sh.fixtures.facilities.iter().find(|f| f.hip_id == c.facility).map(|f| f.name.clone());
    let name = name.or_else(|| {
        organization::find(cs, &c.facility)
            .and_then(|o| o["basicInformation"]["facilityName"].as_str().map(str::to_string))
    });
    let sections = json!({"visit": [format!("Appointment {start} to {end}"), format!("Priority: {}", a["priority"].as_str().unwrap_or(""))]});
    generate::document(&Document {
        hi_type: hi_type.to_string(),
        patient: patient::fhir(&p),
        practitioners: vec![practitioner::fhir(&pr)],
        custodian: Some((c.facility.clone(), name.unwrap_or_default())),
        period: Some((start, end)),
        sections: sections.as_object().cloned().unwrap_or_default(),
        attachments: Vec::new(),
        date: iso(sh.clock.now()),
    })
}

/// Makes a care context's records the facility's: the HIU data flow serves them from now on.
fn attach(sh: &Shared, reference: &str, c: &CareContext, records: &[(String, String, Value)]) {
    for (name, hi_type, bundle) in records {
        let record = Record {
            hip_id: c.facility.clone(),
            patient_reference: c.patient.clone(),
            care_context_reference: reference.to_string(),
            display: format!("{hi_type}, {}", c.date),
            hi_type: hi_type.clone(),
            date: c.date.clone(),
            bundle: name.clone(),
        };
        sh.attached.add(c.person, record, &bundle.to_string());
    }
}

/// `POST /abdm-flows/update-visit-records` → `true`: the records are attached.
async fn update(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    body.str("practitionerReference")?;
    body.str("mobileNumber")?;
    let items = match body.0.get("healthRecords") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        _ => return Err(ApiError::bad("healthRecords", "required", "must be a non-empty array")),
    };
    let mut c = context(&cs, &body)?;
    let reference = c.key().clone();
    if let Some(a) = body.opt_str("patientAbhaAddress")? {
        if !a.eq_ignore_ascii_case(&c.address) {
            return Err(ApiError::rule(
                "patientAbhaAddress",
                "care-context-mismatch",
                format!("the care context is of {}", c.address),
            ));
        }
    }
    let mut made = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("healthRecords[{i}]");
        let Value::Object(map) = item else { return Err(ApiError::bad(&at, "type", "must be an object")) };
        let o = Obj::at(map, at.clone());
        let hi_type = common::one_of(&o.name("informationType"), o.str("informationType")?, HI_TYPES, false)?;
        let bundle = if o.bool("rawFhir")? {
            fhir_document(&o.name("fhirDocument"), map.get("fhirDocument"))?
        } else {
            visit_bundle(&sh, &cs, &c, hi_type)
        };
        let name = format!("carestack/{reference}/{}.json", c.records.len() + made.len() + 1);
        made.push((name, hi_type.to_string(), bundle));
    }
    let now = sh.clock.now();
    for (_, hi_type, bundle) in &made {
        cs.bundles.add(MadeBundle {
            bundle: bundle.clone(),
            kind: hi_type.clone(),
            source: "document-linking",
            facility: c.facility.clone(),
            care_context: Some(reference.clone()),
            made_at: now,
        });
    }
    if c.linked {
        attach(&sh, &reference, &c, &made);
    }
    c.records.extend(made);
    Ok(HttpResponse::Ok().json(true))
}

/// Whether a name given for the patient is the ABHA profile's (full, or first and last).
fn same_name(given: &str, p: &crate::fixtures::Person) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let given = norm(given);
    given == norm(&p.name) || given == norm(&format!("{} {}", p.first_name, p.last_name))
}

/// `POST /abdm-flows/link-carecontext` → `{}`: linked, its records the facility's.
async fn link(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    links: web::Data<Links>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let mode = common::one_of(
        "authMode",
        body.str("authMode")?,
        &["MOBILE_OTP", "AADHAAR_OTP", "DEMOGRAPHICS", "DIRECT"],
        false,
    )?;
    let name = body.str("patientName")?;
    body.str("patientAddress")?;
    let now: Millis = sh.clock.now();
    let mut c = context(&cs, &body)?;
    let reference = c.key().clone();
    if c.linked {
        return Err(common::conflict("careContextReference", "care-context-linked", "is linked already"));
    }
    match mode {
        "DEMOGRAPHICS" => {
            let person = sh
                .fixtures
                .people
                .get(c.person)
                .ok_or_else(|| ApiError::rule("patientName", "patient-unknown", "no ABHA profile"))?;
            let p = cs.patients.get(&c.patient).unwrap_or_default();
            let gender = p["gender"]
                .as_str()
                .and_then(|g| g.chars().next())
                .map(|g| g.to_ascii_uppercase().to_string());
            let year = p["birthDate"].as_str().and_then(|d| d.get(..4)).and_then(|y| y.parse::<u16>().ok());
            let wrong: Vec<&str> = [
                (!same_name(name, person), "patientName"),
                (gender.as_deref() != Some(person.gender.as_str()), "gender"),
                (year != Some(person.year_of_birth), "birthDate"),
            ]
            .into_iter()
            .filter_map(|(w, f)| w.then_some(f))
            .collect();
            if !wrong.is_empty() {
                let why = format!("{} do not match the ABHA profile of {}", wrong.join(", "), c.address);
                return Err(ApiError::rule("patientName", "demographics-mismatch", why));
            }
        }
        "MOBILE_OTP" => {
            let otp = body.str("otp").map_err(|_| {
                ApiError::bad("otp", "required", "MOBILE_OTP needs the OTP sent to the patient")
            })?;
            c.otp.verify(otp, now, "otp")?;
        }
        other => {
            let why = format!("{other} is not offered; a HIP links with {AUTH_MODES:?}");
            return Err(ApiError::rule("authMode", "auth-mode", why));
        }
    }
    let contexts = [(c.patient.clone(), reference.clone())];
    link_at_hip(&links, &c.address, &c.facility, &contexts, now)
        .map_err(|(_, why)| common::conflict("careContextReference", "care-context-linked", why))?;
    c.linked = true;
    let records = c.records.clone();
    attach(&sh, &reference, &c, &records);
    Ok(HttpResponse::Ok().json(json!({})))
}
