//! Carestack's consent (the HIU side), bundles, AI, look-up and encryption services over HTTP:
//! consent requests go to the sandbox's consent manager and its scripted patients decide over
//! virtual time; granted care contexts give their bundles; the bundle routes serve the fixture
//! HIPs' records; `/encrypt` and `/decrypt` round-trip; AI jobs move from QUEUED to RUNNING to
//! COMPLETED over virtual time with results derived from the case sheet; look-ups search the
//! shipped terminology table.

mod common;

use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

async fn cs(sb: &TestSandbox, method: Method, path: &str, body: Option<Value>) -> Reply {
    sb.send(method, &format!("/carestack{path}"), body.as_ref(), &CARESTACK_HEADERS).await
}

fn ask(patient: &str, name: &str) -> Value {
    let erase = stamp(chrono::Utc::now() + chrono::Duration::days(30));
    json!({"patientAbhaId": patient, "patientName": name, "requestPurpose": "CAREMGT",
        "dateFrom": "2015-01-01T00:00:00.000Z", "dateTo": chrono_now(), "eraseDate": erase,
        "healthInformationTypes": ["OPConsultation", "DiagnosticReport"]})
}

/// The consent's Carestack view, once its status is not `status` any more (the scripted
/// decision runs a moment after the clock moves).
async fn consent_after(sb: &TestSandbox, id: &str, status: &str) -> Value {
    for _ in 0..50 {
        let r = cs(sb, Method::GET, &format!("/get/Consent/{id}?consentType=Requested"), None).await;
        let c = r.ok()["requestResource"][0].clone();
        if c["status"] != status {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("consent {id} stayed {status}");
}

#[tokio::test]
async fn a_consent_is_asked_granted_and_gives_the_records_bundles() {
    let sb = TestSandbox::start().await;
    let name = cs(
        &sb,
        Method::POST,
        "/abdm-flows/find/patients",
        Some(json!({"patientId": "asha.verma@sbx", "isHIU": true})),
    )
    .await;
    assert_eq!(name.ok(), &json!("Asha Verma"), "a bare JSON string");
    let made = cs(&sb, Method::POST, "/add/Consent", Some(ask("asha.verma@sbx", "Asha Verma"))).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["resource"]["status"], "REQUESTED");
    let id = made.body["resourceId"].as_str().unwrap().to_string();
    sb.advance(3).await;
    let c = consent_after(&sb, &id, "REQUESTED").await;
    assert_eq!(c["status"], "GRANTED");
    assert_eq!(c["careContextReferences"], json!(["CLN-1001-OP-2021", "CLN-1001-DR-2023"]));
    assert_eq!(c["grantedHiTypes"], json!(["DiagnosticReport", "OPConsultation"]));
    let granted: Value =
        serde_json::from_str(c["grantedPermission"].as_str().expect("a JSON-encoded string")).unwrap();
    assert_eq!(granted["accessMode"], "VIEW");
    // The same request in the consent manager's own record.
    let out = sb.get(&format!("/_sandbox/consent-requests/{id}")).await;
    assert_eq!((&out.ok()["hiuId"], &out.body["status"]), (&json!("IN2910000001"), &json!("GRANTED")));
    let q = "consentType=Requested&careContexts%5B%5D=CLN-1001-OP-2021&careContexts%5B%5D=CLN-1001-DR-2023&healthInformationTypes%5B%5D=OPConsultation";
    let bundles = cs(&sb, Method::GET, &format!("/get/Bundle?{q}"), None).await;
    assert_eq!(bundles.ok()["message"], "Records Found !!!");
    assert_eq!(bundles.body["totalNumberOfRecords"], 1, "only the HI types asked for");
    let shipped: Value =
        serde_json::from_str(include_str!("../fixtures/records/cln-1001-op-2021.json")).unwrap();
    assert_eq!(bundles.body["requestResource"][0], shipped);
    let none = cs(
        &sb,
        Method::GET,
        "/get/Bundle?careContexts%5B%5D=HSP-2003-OP-2020&healthInformationTypes%5B%5D=OPConsultation",
        None,
    )
    .await;
    assert_eq!(none.ok()["message"], "Records not Found !!!", "not under this facility's consent");
    cs(&sb, Method::GET, "/get/Bundle?healthInformationTypes%5B%5D=OPConsultation", None).await.refused(
        400,
        "careContexts[]",
        "required",
    );
}

#[tokio::test]
async fn a_denied_consent_and_each_refusal_names_its_field() {
    let sb = TestSandbox::start().await;
    let made = cs(&sb, Method::POST, "/add/Consent", Some(ask("ravi.kumar@sbx", "Ravi Kumar Singh"))).await;
    let id = made.body["resourceId"].as_str().unwrap().to_string();
    sb.advance(3).await;
    assert_eq!(consent_after(&sb, &id, "REQUESTED").await["status"], "DENIED");
    let cases = [
        (json!({"requestPurpose": "SHOPPING"}), 400, "requestPurpose", "purpose"),
        (json!({"dateFrom": "2015-01-01"}), 400, "dateFrom", "date-time"),
        (
            json!({"dateTo": stamp(chrono::Utc::now() + chrono::Duration::days(2))}),
            400,
            "dateTo",
            "date-range",
        ),
        (json!({"eraseDate": "2015-01-01T00:00:00.000Z"}), 400, "eraseDate", "erase-at"),
        (json!({"healthInformationTypes": ["Invoice"]}), 400, "healthInformationTypes[0]", "enum"),
        (json!({"patientName": "Ravi"}), 422, "patientName", "name-mismatch"),
        (json!({"patientAbhaId": "nobody.here@sbx"}), 404, "patientAbhaId", "patient-unknown"),
    ];
    for (patch, status, field, rule) in cases {
        let body = patched(ask("ravi.kumar@sbx", "Ravi Kumar Singh"), &patch);
        cs(&sb, Method::POST, "/add/Consent", Some(body)).await.refused(status, field, rule);
    }
    let not_hiu = [CARESTACK_HEADERS[0], CARESTACK_HEADERS[1], ("facilityid", "IN9999999999")];
    let r = sb
        .send(
            Method::POST,
            "/carestack/add/Consent",
            Some(&ask("ravi.kumar@sbx", "Ravi Kumar Singh")),
            &not_hiu,
        )
        .await;
    r.refused(422, "facilityid", "not-an-hiu");
    // Another facility does not see this facility's consent.
    let other = [CARESTACK_HEADERS[0], CARESTACK_HEADERS[1], ("facilityid", "IN0910000002")];
    let r = sb.send(Method::GET, &format!("/carestack/get/Consent/{id}"), None, &other).await;
    r.refused(404, "consentId", "consent-unknown");
    cs(&sb, Method::GET, &format!("/get/Consent/{id}?consentType=Sent"), None).await.refused(
        400,
        "consentType",
        "enum",
    );
}

#[tokio::test]
async fn the_bundle_routes_serve_the_fixture_records() {
    let sb = TestSandbox::start().await;
    let shipped: Value =
        serde_json::from_str(include_str!("../fixtures/records/cln-1001-op-2021.json")).unwrap();
    let id = shipped["id"].as_str().unwrap();
    let full = cs(&sb, Method::GET, &format!("/get/Bundle/{id}/true"), None).await;
    assert_eq!(full.ok()["requestResource"], shipped);
    assert_eq!(full.body["totalNumberOfRecords"], 1);
    let summary = cs(&sb, Method::GET, &format!("/get/Bundle/{id}/false/OPConsultation"), None).await;
    assert_eq!(summary.ok()["requestResource"]["metaData"]["careContextReference"], "CLN-1001-OP-2021");
    let other_type = cs(&sb, Method::GET, &format!("/get/Bundle/{id}/true/Prescription"), None).await;
    assert_eq!(other_type.ok()["totalNumberOfRecords"], 0);
    let missing = cs(&sb, Method::GET, "/get/Bundle/no-such-bundle/false", None).await;
    assert_eq!(missing.ok()["message"], "Records not Found !!!", "a 200, as the SDK's exists expects");
    cs(&sb, Method::GET, &format!("/get/Bundle/{id}/yes"), None).await.refused(400, "returnFhir", "type");
    let filters = "%7B%22_count%22%3A%202%7D";
    let page = cs(
        &sb,
        Method::GET,
        &format!("/health-lake/get-profiles/Bundle/OPConsultation?filters={filters}"),
        None,
    )
    .await;
    assert_eq!((page.ok()["total"].as_u64(), page.body["entry"].as_array().unwrap().len()), (Some(3), 2));
    let next = page.body["link"]["nextPage"].as_str().unwrap();
    let rest = cs(
        &sb,
        Method::GET,
        &format!("/health-lake/get-profiles/Bundle/OPConsultation?filters={filters}&nextPage={next}"),
        None,
    )
    .await;
    assert_eq!(rest.ok()["entry"].as_array().unwrap().len(), 1);
    cs(&sb, Method::GET, "/health-lake/get-profiles/Bundle/Invoice", None).await.refused(
        400,
        "bundleType",
        "enum",
    );
}

/// `x` encrypted with the sandbox's `/encrypt`.
async fn sealed(sb: &TestSandbox, x: Value) -> String {
    let r = cs(sb, Method::POST, "/encrypt", Some(json!({"input": x}))).await;
    r.ok()["encryptedPayload"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn encrypt_and_decrypt_round_trip_and_a_tampered_token_is_refused() {
    let sb = TestSandbox::start().await;
    let x = json!({"files": ["a", "b"], "nested": {"n": 1}});
    let token = sealed(&sb, x.clone()).await;
    assert_eq!(token.split('.').count(), 5, "a compact JWE");
    let back = cs(&sb, Method::POST, "/decrypt", Some(json!({"payload": {"data": token}}))).await;
    assert_eq!(back.ok(), &x);
    let other = sealed(&sb, x.clone()).await;
    assert_ne!(other, token, "a fresh IV each time");
    let mut bad = token.clone();
    let tail = if bad.ends_with("AA") { "BB" } else { "AA" };
    bad.replace_range(bad.len() - 2.., tail);
    cs(&sb, Method::POST, "/decrypt", Some(json!({"payload": {"data": bad}}))).await.refused(
        400,
        "payload.data",
        "jwe",
    );
    cs(&sb, Method::POST, "/encrypt", Some(json!({"key": "k"}))).await.refused(400, "input", "required");
}

fn case_sheet() -> String {
    let text = "Patient name: Asha Verma\nChief complaints: Fever; cough\nDiagnosis: Pneumonia\nMedications:\n- Amoxicillin 500 mg\nFollow up: One week\n";
    format!("data:text/plain;base64,{}", B64.encode(text))
}

#[tokio::test]
async fn an_ai_job_moves_over_virtual_time_and_its_result_comes_from_the_case_sheet() {
    let sb = TestSandbox::start().await;
    let data = sealed(&sb, json!({"files": [case_sheet()]})).await;
    let submit = json!({"caseType": "DischargeSummary", "encryptedData": data, "callbackUrl": null});
    let job = cs(&sb, Method::POST, "/ai/generate-discharge-summary", Some(submit)).await;
    assert_eq!(job.status, 202, "{}", job.body);
    assert_eq!(job.body["status"], "QUEUED");
    let (job_id, record) =
        (job.body["jobId"].as_str().unwrap().to_string(), job.body["recordId"].as_str().unwrap().to_string());
    let status = |b: &Value| b["status"].as_str().unwrap().to_string();
    let at = cs(&sb, Method::GET, &format!("/jobs?jobId={job_id}"), None).await;
    assert_eq!(status(at.ok()), "QUEUED");
    cs(&sb, Method::GET, &format!("/ai/discharge-summary/{record}/preview"), None).await.refused(
        409,
        "recordId",
        "not-ready",
    );
    sb.advance(2).await;
    assert_eq!(status(cs(&sb, Method::GET, &format!("/jobs?jobId={job_id}"), None).await.ok()), "RUNNING");
    sb.advance(2).await;
    let done = cs(&sb, Method::GET, &format!("/jobs?jobId={job_id}"), None).await;
    assert_eq!(status(done.ok()), "COMPLETED");
    let result = &done.body["result"];
    assert_eq!(result["dischargeSummary"]["diagnosis"], "Pneumonia");
    assert_eq!(result["extractedData"]["prescribedMedications"], json!(["Amoxicillin 500 mg"]));
    let bundle = &result["fhirBundle"];
    assert_eq!(bundle["entry"][0]["resource"]["resourceType"], "Composition");
    assert_eq!(bundle["entry"][1]["resource"]["name"][0]["text"], "Asha Verma");
    let preview = cs(&sb, Method::GET, &format!("/ai/discharge-summary/{record}/preview"), None).await;
    let pdf = B64.decode(preview.ok()["pdf"].as_str().unwrap()).unwrap();
    assert!(pdf.starts_with(b"%PDF") && String::from_utf8_lossy(&pdf).contains("Pneumonia"));
    cs(&sb, Method::GET, "/jobs?jobId=nope", None).await.refused(404, "jobId", "job-unknown");
    // A link cannot be read offline: the job fails, naming it.
    let link = sealed(&sb, json!({"files": ["https://example.com/sheet.pdf"]})).await;
    let job = cs(&sb, Method::POST, "/ai/generate-careplan", Some(json!({"encryptedData": link}))).await;
    sb.advance(4).await;
    let failed =
        cs(&sb, Method::GET, &format!("/jobs?jobId={}", job.body["jobId"].as_str().unwrap()), None).await;
    assert_eq!(status(failed.ok()), "FAILED");
    assert!(failed.body["error"].as_str().unwrap().contains("https://example.com/sheet.pdf"));
    cs(
        &sb,
        Method::POST,
        "/ai/generate-radiology-report",
        Some(json!({"caseType": "DiagnosticReport", "encryptedData": "plain"})),
    )
    .await
    .refused(400, "encryptedData", "jwe");
}

#[tokio::test]
async fn partial_uploads_are_summarised_together_on_trigger() {
    let sb = TestSandbox::start().await;
    for text in ["Diagnosis: Pneumonia\n", "Investigations: CBC; Chest X-ray\n"] {
        let data =
            sealed(&sb, json!({"files": [format!("data:text/plain;base64,{}", B64.encode(text))]})).await;
        let up = json!({"caseType": "DischargeSummary", "uploadMode": "Partial", "date": chrono_now(), "encounterId": "enc-1", "encryptedData": data});
        assert_eq!(
            cs(&sb, Method::POST, "/ai/generate-discharge-summary", Some(up)).await.body["status"],
            "uploaded"
        );
    }
    cs(
        &sb,
        Method::PUT,
        "/ai/updateFile/DischargeSummary/enc-2",
        Some(json!({"updateType": "Generate Discharge"})),
    )
    .await
    .refused(404, "encounterId", "encounter-unknown");
    let job = cs(
        &sb,
        Method::PUT,
        "/ai/updateFile/DischargeSummary/enc-1",
        Some(json!({"updateType": "Generate Discharge"})),
    )
    .await;
    assert_eq!(job.body["status"], "triggered");
    sb.advance(4).await;
    let done =
        cs(&sb, Method::GET, &format!("/jobs?jobId={}", job.body["jobId"].as_str().unwrap()), None).await;
    let summary = &done.ok()["result"]["dischargeSummary"];
    assert_eq!(
        (&summary["diagnosis"], &summary["investigations"]),
        (&json!("Pneumonia"), &json!(["CBC", "Chest X-ray"]))
    );
}

#[tokio::test]
async fn a_generated_fhir_bundle_carries_the_details_and_sections_given() {
    let sb = TestSandbox::start().await;
    let patient = json!({"firstName": "Asha", "lastName": "Verma", "birthDate": "1990-04-15", "gender": "female",
        "mobileNumber": "+919876543210", "address": "12 MG Road", "pincode": "560001", "state": "Karnataka",
        "idNumber": "91-2345-6789-0129", "idType": "ABHA", "abhaAddress": "asha.verma@sbx"});
    let doctor = json!({"firstName": "Kavita", "lastName": "Rao", "birthDate": "1975-01-01", "gender": "female",
        "mobileNumber": "+919876500001", "address": "1 Med St", "pincode": "560001", "state": "Karnataka",
        "designation": "Consultant", "department": "general medicine", "registrationId": "KMC-1"});
    let data = sealed(&sb, json!({"patientDetails": patient, "practitionersDetails": [doctor], "documentReferences": ["scan.pdf"]})).await;
    let r = cs(
        &sb,
        Method::POST,
        "/ai/generate-fhir-bundle",
        Some(json!({"caseType": "OPConsultation", "enableExtraction": false, "encryptedData": data})),
    )
    .await;
    let kinds: Vec<&str> = r.ok()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Composition", "Patient", "Practitioner", "DocumentReference"]);
    assert_eq!(r.body["entry"][1]["resource"]["identifier"][1]["value"], "asha.verma@sbx");
    let data = sealed(&sb, json!({"extractedData": {"patientName": "Ravi", "allergies": ["Penicillin"]}, "documentReferences": []})).await;
    let r = cs(
        &sb,
        Method::POST,
        "/ai/generate-fhir-bundle",
        Some(json!({"caseType": "Health Document Record", "enableExtraction": true, "encryptedData": data})),
    )
    .await;
    let allergy = &r.ok()["entry"][2]["resource"];
    assert_eq!(
        (&allergy["resourceType"], &allergy["code"]["coding"][0]["code"]),
        (&json!("AllergyIntolerance"), &json!("764146007"))
    );
    let data = sealed(&sb, json!({"documentReferences": []})).await;
    cs(
        &sb,
        Method::POST,
        "/ai/generate-fhir-bundle",
        Some(json!({"caseType": "OPConsultation", "enableExtraction": false, "encryptedData": data})),
    )
    .await
    .refused(400, "encryptedData.patientDetails", "required");
    let listed = cs(&sb, Method::GET, "/health-lake/get-profiles/Bundle/HealthDocumentRecord", None).await;
    assert_eq!(listed.ok()["total"], 1, "a generated bundle is among those Encounter finds");
}

#[tokio::test]
async fn codes_come_from_the_terminology_table_as_a_bare_array() {
    let sb = TestSandbox::start().await;
    let r = cs(
        &sb,
        Method::POST,
        "/ai/get-code",
        Some(json!({"semanticTag": "diagnosis", "searchTerm": "type 2 diabetes"})),
    )
    .await;
    let first = &r.ok()[0];
    assert_eq!((&first["code"], &first["text"]), (&json!("44054006"), &json!("Diabetes mellitus type 2")));
    assert!(first["similarity"].as_f64().unwrap() > 0.5);
    let r = cs(
        &sb,
        Method::POST,
        "/ai/get-code",
        Some(json!({"semanticTag": "radiology_imaging", "searchTerm": "MRI brain"})),
    )
    .await;
    assert_eq!(r.ok()[0]["code"], "24590-2");
    let r = cs(
        &sb,
        Method::POST,
        "/ai/get-code",
        Some(json!({"semanticTag": "medication", "searchTerm": "unobtainium"})),
    )
    .await;
    assert_eq!(r.ok(), &json!([]));
    cs(&sb, Method::POST, "/ai/get-code", Some(json!({"semanticTag": "astrology", "searchTerm": "x"})))
        .await
        .refused(400, "semanticTag", "semantic-tag");
}
