//! `AiService`, `Encounter.generate_discharge_summary` and `FhirService`: summaries, radiology
//! reports, care plans and FHIR bundles, made from the request's own input, which arrives
//! encrypted (`encryptedData`, a token of [`super::crypt`]). Deterministic stand-ins for the real
//! service's model output: every value comes from the case sheets ([`super::casesheet`]) or the
//! details the request gave, nothing is invented.
//!
//! The AI jobs are asynchronous, over virtual time: `QUEUED` for the first second, `RUNNING`
//! until three seconds (`estimatedCompletionMs`), then `COMPLETED` with the result (or `FAILED`
//! when no case sheet could be read) at `GET /jobs?jobId=`. `POST /_sandbox/clock/advance` moves
//! them along. A discharge summary's PDF is at `GET /ai/discharge-summary/{recordId}/preview`
//! once its job has completed. The SDK's `generate_discharge_summary` of `AiService` sends
//! `callbackUrl` (even as `null`) and gets a job; `Encounter`'s sends none and gets the summary
//! at once.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, Scope};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dashmap::DashMap;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::bundles::MadeBundle;
use super::casesheet::{self, Sheet};
use super::common::{self, not_found, param, Query};
use super::generate::{self, hi_type, Document};
use super::{crypt, insurance, patient, pdf, practitioner, CarestackState};
use crate::body::{JsonBody, Obj};
use crate::clock::{iso, Millis, SECOND};
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;

/// How long a job stays `QUEUED`, and when it is done, in virtual time.
const QUEUED_FOR: Millis = SECOND;
/// See [`QUEUED_FOR`].
const DONE_AFTER: Millis = 3 * SECOND;
/// Sections that say who the record is about rather than what happened.
const IDENTITY: [&str; 7] =
    ["patientName", "age", "gender", "doctor", "hospital", "admissionDate", "dischargeDate"];

/// One AI job.
struct Job {
    record: String,
    created: Millis,
    outcome: Result<Value, String>,
    callback: Option<String>,
}

/// What a job made: its kind, the sections read, the result.
struct Made {
    kind: String,
    extracted: Map<String, Value>,
    job: String,
}

/// Jobs, their records, and the partial uploads awaiting a trigger, by encounter.
#[derive(Default)]
pub struct AiState {
    jobs: DashMap<String, Job>,
    records: DashMap<String, Made>,
    uploads: DashMap<String, Vec<Value>>,
}

impl AiState {
    /// None.
    pub fn clear(&self) {
        self.jobs.clear();
        self.records.clear();
        self.uploads.clear();
    }
}

/// The AI routes.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/ai/generate-discharge-summary", web::post().to(discharge_summary))
        .route("/ai/generate-radiology-report", web::post().to(radiology))
        .route("/ai/generate-careplan", web::post().to(care_plan))
        .route("/ai/updateFile/DischargeSummary/{encounterId}", web::put().to(trigger))
        .route("/jobs", web::get().to(job_status))
        .route("/ai/discharge-summary/{recordId}/preview", web::get().to(preview))
        .route("/ai/generate-fhir-bundle", web::post().to(fhir_bundle))
        .route("/ai/generate-fhir", web::post().to(fhir_documents))
        .route("/ai/extract/insurance-plan-json", web::post().to(extract_insurance))
        .route("/generate/bundle/InsurancePlan", web::post().to(insurance_bundle))
}

/// The decrypted `encryptedData`: a JSON object.
fn input(body: &JsonBody) -> ApiResult<Map<String, Value>> {
    match crypt::open("encryptedData", body.str("encryptedData")?)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad("encryptedData", "type", "must carry a JSON object")),
    }
}

/// The `files` of an input: a non-empty array of strings.
fn files(input: &Map<String, Value>) -> ApiResult<Vec<Value>> {
    match input.get("files") {
        Some(Value::Array(f)) if !f.is_empty() && f.iter().all(Value::is_string) => Ok(f.clone()),
        _ => Err(ApiError::bad(
            "encryptedData.files",
            "required",
            "must be a non-empty array of files (base64 or links)",
        )),
    }
}

/// `callbackUrl`, when given, must be an http(s) URL.
fn callback(body: &JsonBody) -> ApiResult<Option<String>> {
    let url = body.opt_str("callbackUrl")?;
    if let Some(u) = url {
        reqwest::Url::parse(u)
            .ok()
            .filter(|u| ["http", "https"].contains(&u.scheme()))
            .ok_or_else(|| ApiError::bad("callbackUrl", "url", format!("{u:?} is not an http(s) URL")))?;
    }
    body.opt_str("publicKey")?;
    Ok(url.map(str::to_string))
}

/// The document of sections read from case sheets: the patient and doctor they name.
fn sheet_document(kind: &str, m: &Map<String, Value>, now: Millis) -> Value {
    let patient = match m.get("patientName").and_then(Value::as_str) {
        Some(n) => json!({"resourceType": "Patient", "name": [{"text": n}]}),
        None => json!({"resourceType": "Patient"}),
    };
    let doctors: Vec<Value> = m
        .get("doctor")
        .and_then(Value::as_str)
        .map(|d| json!({"resourceType": "Practitioner", "name": [{"text": d}]}))
        .into_iter()
        .collect();
    let sections = m
        .iter()
        .filter(|(k, _)| !IDENTITY.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    generate::document(&Document {
        hi_type: hi_type(kind).unwrap_or("HealthDocumentRecord").to_string(),
        patient,
        practitioners: doctors,
        sections,
        date: iso(now),
        ..Default::default()
    })
}

/// What a job of `kind` makes of the sections.
fn result(kind: &str, record: &str, m: &Map<String, Value>, now: Millis) -> Value {
    match kind {
        "Radiology Report" => {
            json!({"id": record, "radiologyReport": casesheet::radiology(m), "extractedData": m,
            "fhirBundle": sheet_document("DiagnosticReport", m, now)})
        }
        "CarePlan" => {
            let mut out = casesheet::care_plan(m);
            out["id"] = json!(record);
            out["extractedData"] = json!(m);
            out
        }
        _ => json!({"id": record, "dischargeSummary": casesheet::summary(m, kind), "extractedData": m,
            "fhirBundle": sheet_document(kind, m, now)}),
    }
}

/// Starts a job over `sheets`: its id and record id. It fails (at completion) when nothing
/// could be read.
fn submit(sh: &Shared, cs: &CarestackState, kind: &str, sheets: &[Sheet], callback: Option<String>) -> Value {
    let now = sh.clock.now();
    let (m, unread) = casesheet::merged(sheets);
    let (job, record) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    let outcome =
        if m.is_empty() { Err(casesheet::unreadable(&unread)) } else { Ok(result(kind, &record, &m, now)) };
    if let Ok(r) = &outcome {
        keep_bundle(sh, cs, r, kind);
    }
    cs.ai.records.insert(record.clone(), Made { kind: kind.to_string(), extracted: m, job: job.clone() });
    cs.ai.jobs.insert(job.clone(), Job { record: record.clone(), created: now, outcome, callback });
    json!({"jobId": job, "recordId": record, "status": "QUEUED", "estimatedCompletionMs": DONE_AFTER,
        "message": "Processing started"})
}

/// Keeps a result's FHIR bundle among those `Encounter` finds.
fn keep_bundle(sh: &Shared, cs: &CarestackState, r: &Value, kind: &str) {
    if r["fhirBundle"].is_object() {
        let kind = hi_type(kind).unwrap_or("HealthDocumentRecord").to_string();
        let made = MadeBundle {
            bundle: r["fhirBundle"].clone(),
            kind,
            source: "ai",
            facility: String::new(),
            care_context: None,
            made_at: sh.clock.now(),
        };
        cs.bundles.add(made);
    }
}

/// `POST /ai/generate-discharge-summary`: a partial upload (`uploadMode: "Partial"`), a job
/// (`callbackUrl` present, as `AiService` sends it), or the summary at once (`Encounter`).
async fn discharge_summary(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let case_type = body.str("caseType")?;
    let data = input(&body)?;
    let sheets = files(&data)?;
    if body.0.contains_key("uploadMode") {
        common::one_of("uploadMode", body.str("uploadMode")?, &["Partial"], false)?;
        let date = body.str("date")?;
        common::datetime("date", date)?;
        callback(&body)?;
        let encounter =
            body.opt_str("encounterId")?.map(str::to_string).unwrap_or_else(|| Uuid::new_v4().to_string());
        let mut uploads = cs.ai.uploads.entry(encounter.clone()).or_default();
        uploads.extend(sheets.iter().cloned());
        return Ok(HttpResponse::Accepted()
            .json(json!({"status": "uploaded", "id": Uuid::new_v4(), "encounterId": encounter,
            "files": sheets.len(), "uploadedFiles": uploads.len(), "date": date})));
    }
    let kind = hi_type(case_type)
        .ok_or_else(|| ApiError::bad("caseType", "enum", format!("{case_type:?} is not a case type")))?;
    let kind = if kind == "DiagnosticReport" { "Radiology Report" } else { case_type };
    let read = casesheet::read(&sheets);
    if body.0.contains_key("callbackUrl") {
        let cb = callback(&body)?;
        return Ok(HttpResponse::Accepted().json(submit(&sh, &cs, kind, &read, cb)));
    }
    let (m, unread) = casesheet::merged(&read);
    if m.is_empty() {
        return Err(ApiError::rule("encryptedData.files", "case-sheet", casesheet::unreadable(&unread)));
    }
    let record = Uuid::new_v4().to_string();
    let out = result(kind, &record, &m, sh.clock.now());
    keep_bundle(&sh, &cs, &out, kind);
    cs.ai.records.insert(record, Made { kind: kind.to_string(), extracted: m, job: String::new() });
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /ai/generate-radiology-report` → a radiology job.
async fn radiology(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let case_type = body.str("caseType")?;
    if hi_type(case_type) != Some("DiagnosticReport") {
        return Err(ApiError::bad(
            "caseType",
            "enum",
            format!("{case_type:?}: a radiology report is a DiagnosticReport"),
        ));
    }
    let sheets = files(&input(&body)?)?;
    let cb = callback(&body)?;
    Ok(HttpResponse::Accepted().json(submit(&sh, &cs, "Radiology Report", &casesheet::read(&sheets), cb)))
}

/// `POST /ai/generate-careplan` → a care plan job.
async fn care_plan(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let sheets = files(&input(&body)?)?;
    let cb = callback(&body)?;
    Ok(HttpResponse::Accepted().json(submit(&sh, &cs, "CarePlan", &casesheet::read(&sheets), cb)))
}

/// `PUT /ai/updateFile/DischargeSummary/{encounterId} {"updateType": "Generate Discharge"}` →
/// a discharge summary job over every file uploaded for the encounter.
async fn trigger(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    common::one_of("updateType", body.str("updateType")?, &["Generate Discharge"], false)?;
    let encounter = path.into_inner();
    let sheets = cs.ai.uploads.get(&encounter).map(|u| u.clone()).ok_or_else(|| {
        not_found(
            "encounterId",
            "encounter-unknown",
            format!("nothing was uploaded for encounter {encounter} (uploadMode Partial)"),
        )
    })?;
    let mut out = submit(&sh, &cs, "DischargeSummary", &casesheet::read(&sheets), None);
    out["status"] = json!("triggered");
    out["encounterId"] = json!(encounter);
    Ok(HttpResponse::Accepted().json(out))
}

/// `GET /jobs?jobId=` → `{jobId, recordId, status, result?, error?, completedAt?}`.
async fn job_status(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    q: Query,
) -> ApiResult<HttpResponse> {
    let id = param(&q, "jobId")
        .ok_or_else(|| ApiError::bad("jobId", "required", "query parameter is required"))?;
    let job = cs.ai.jobs.get(id).ok_or_else(|| not_found("jobId", "job-unknown", "Job not found"))?;
    let age = sh.clock.now() - job.created;
    let mut out = json!({"jobId": id, "recordId": job.record, "childJobId": null, "callbackUrl": job.callback,
        "estimatedCompletionMs": (DONE_AFTER - age).max(0)});
    if age < DONE_AFTER {
        out["status"] = json!(if age < QUEUED_FOR { "QUEUED" } else { "RUNNING" });
        return Ok(HttpResponse::Ok().json(out));
    }
    out["completedAt"] = json!(iso(job.created + DONE_AFTER));
    match &job.outcome {
        Ok(r) => {
            out["status"] = json!("COMPLETED");
            out["result"] = r.clone();
        }
        Err(e) => {
            out["status"] = json!("FAILED");
            out["error"] = json!(e);
        }
    }
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /ai/discharge-summary/{recordId}/preview` → `{fileName, mimeType, pdf}` once done.
async fn preview(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let record = cs
        .ai
        .records
        .get(path.as_str())
        .ok_or_else(|| not_found("recordId", "record-unknown", format!("no record {path}")))?;
    if let Some(job) = cs.ai.jobs.get(&record.job) {
        if sh.clock.now() - job.created < DONE_AFTER {
            let e = ApiError::new(
                StatusCode::CONFLICT,
                "not-ready",
                "recordId: the summary is still being generated; poll GET /jobs",
            );
            return Err(e.field("recordId"));
        }
        if let Err(why) = &job.outcome {
            return Err(ApiError::rule("recordId", "job-failed", why.clone()));
        }
    }
    let m = &record.extracted;
    let summary = casesheet::summary(m, &record.kind);
    let mut lines = vec![summary["summary"].as_str().unwrap_or("").to_string(), String::new()];
    for (k, v) in m {
        lines.push(format!("{}: {}", generate::title(k), generate::lines(v).join("; ")));
    }
    let title = match generate::title(&record.kind) {
        t if t.ends_with("summary") => t,
        t => format!("{t} summary"),
    };
    let pdf = pdf::render(&title, &lines);
    Ok(HttpResponse::Ok()
        .json(json!({"fileName": format!("discharge-summary-{path}.pdf"), "mimeType": "application/pdf",
        "pdf": STANDARD.encode(pdf)})))
}

/// A patient's or doctor's details as the AI DTOs give them: names, gender and birth date present.
fn details(o: &Obj, practitioner_too: bool) -> ApiResult<Value> {
    o.str("firstName")?;
    o.str("lastName")?;
    common::one_of(&o.name("gender"), o.str("gender")?, &patient::GENDERS, true)?;
    common::date(&o.name("birthDate"), o.str("birthDate")?, None)?;
    if practitioner_too {
        o.str("registrationId")?;
    }
    Ok(Value::Object(o.map().clone()))
}

/// `POST /ai/generate-fhir-bundle {caseType, enableExtraction, encryptedData, recordId?}` → a FHIR
/// document with the patient, practitioners and sections the input gave.
async fn fhir_bundle(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let case_type = body.str("caseType")?;
    let kind = hi_type(case_type)
        .ok_or_else(|| ApiError::bad("caseType", "enum", format!("{case_type:?} is not a case type")))?;
    let extraction = body.bool("enableExtraction")?;
    let data = input(&body)?;
    let root = Obj::at(&data, "encryptedData".into());
    let refs: Vec<String> = match root.raw("documentReferences") {
        None => Vec::new(),
        Some(_) => root.strings("documentReferences")?.into_iter().map(str::to_string).collect(),
    };
    let mut sections = Map::new();
    if let Some(r) = body.opt_str("recordId")? {
        let made = cs
            .ai
            .records
            .get(r)
            .ok_or_else(|| not_found("recordId", "record-unknown", format!("no AI record {r}")))?;
        sections.extend(made.extracted.clone());
    }
    let (patient_fhir, doctors) = if extraction {
        let given = root.obj("extractedData")?;
        sections.extend(given.map().clone());
        let name = sections.get("patientName").and_then(Value::as_str).map(|n| json!([{"text": n}]));
        (json!({"resourceType": "Patient", "name": name}), Vec::new())
    } else {
        let p = details(&root.obj("patientDetails")?, false)?;
        let mut doctors = Vec::new();
        let list = match root.raw("practitionersDetails") {
            Some(Value::Array(items)) if !items.is_empty() => items,
            _ => {
                return Err(ApiError::bad(
                    "encryptedData.practitionersDetails",
                    "required",
                    "at least one practitioner",
                ))
            }
        };
        for (i, d) in list.iter().enumerate() {
            let m = d
                .as_object()
                .ok_or_else(|| ApiError::bad("encryptedData.practitionersDetails", "type", "objects only"))?;
            doctors.push(practitioner::fhir(&details(
                &Obj::at(m, format!("encryptedData.practitionersDetails[{i}]")),
                true,
            )?));
        }
        (patient::fhir(&p), doctors)
    };
    sections.retain(|k, _| !IDENTITY.contains(&k.as_str()));
    let now = sh.clock.now();
    let bundle = generate::document(&Document {
        hi_type: kind.to_string(),
        patient: patient_fhir,
        practitioners: doctors,
        sections,
        attachments: refs,
        date: iso(now),
        ..Default::default()
    });
    keep_bundle(&sh, &cs, &json!({"fhirBundle": bundle}), kind);
    Ok(HttpResponse::Ok().json(bundle))
}

/// The HI type a case sheet reads as: its `Document type` line, else what its sections are.
fn sheet_kind(m: &Map<String, Value>) -> &'static str {
    if let Some(t) = m.get("documentType").and_then(Value::as_str).and_then(hi_type) {
        return t;
    }
    let has = |k: &str| m.contains_key(k);
    if has("diagnosis") || has("chiefComplaints") {
        "OPConsultation"
    } else if has("prescribedMedications") {
        "Prescription"
    } else if has("immunizations") {
        "ImmunizationRecord"
    } else {
        "HealthDocumentRecord"
    }
}

/// `POST /ai/generate-fhir {files: [{file, patient, practitioners}]}` → `{documents: [{type, fhir}]}`.
async fn fhir_documents(
    sh: web::Data<Shared>,
    cs: web::Data<CarestackState>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let items = match body.0.get("files") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        _ => return Err(ApiError::bad("files", "required", "must be a non-empty array")),
    };
    let mut documents = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("files[{i}]");
        let o = Obj::at(
            item.as_object().ok_or_else(|| ApiError::bad(&at, "type", "must be an object"))?,
            at.clone(),
        );
        let file = o.obj("file")?;
        let (name, data, mime) = (file.str("fileName")?, file.str("data")?, file.str("mimeType")?);
        let url =
            if data.starts_with("data:") { data.to_string() } else { format!("data:{mime};base64,{data}") };
        let sheet = casesheet::read(&[json!(url)]);
        let text = sheet[0].text.as_ref().ok_or_else(|| {
            ApiError::rule(
                &file.name("data"),
                "case-sheet",
                format!("{name}: not base64 text or PDF the sandbox can read"),
            )
        })?;
        let m = casesheet::sections(text);
        let p = details(&o.obj("patient")?, false)?;
        let mut doctors = Vec::new();
        for (j, d) in o.raw("practitioners").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let dm = d
                .as_object()
                .ok_or_else(|| ApiError::bad(&o.name("practitioners"), "type", "objects only"))?;
            doctors.push(practitioner::fhir(&details(
                &Obj::at(dm, format!("{}[{j}]", o.name("practitioners"))),
                true,
            )?));
        }
        let kind = sheet_kind(&m);
        let sections =
            m.into_iter().filter(|(k, _)| !IDENTITY.contains(&k.as_str()) && k != "documentType").collect();
        let bundle = generate::document(&Document {
            hi_type: kind.to_string(),
            patient: patient::fhir(&p),
            practitioners: doctors,
            sections,
            attachments: vec![url],
            date: iso(sh.clock.now()),
            ..Default::default()
        });
        keep_bundle(&sh, &cs, &json!({"fhirBundle": bundle}), kind);
        documents.push(json!({"type": kind, "fhir": bundle}));
    }
    Ok(HttpResponse::Ok().json(json!({"documents": documents})))
}

/// `POST /ai/extract/insurance-plan-json {base64Data}` → the plan as an insurance plan profile.
async fn extract_insurance(body: JsonBody) -> ApiResult<HttpResponse> {
    let data = body.str("base64Data")?;
    let sheet = casesheet::read(&[json!(data)]);
    let text = sheet[0]
        .text
        .as_ref()
        .ok_or_else(|| ApiError::bad("base64Data", "base64", "must be base64 text or PDF"))?;
    Ok(HttpResponse::Ok().json(insurance::extract(text)?))
}

/// `POST /generate/bundle/InsurancePlan` (a profile) → `{bundle, validation}`.
async fn insurance_bundle(sh: web::Data<Shared>, body: JsonBody) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(insurance::bundle(&body, &iso(sh.clock.now()))?))
}
