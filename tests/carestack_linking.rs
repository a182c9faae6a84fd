//! Carestack's document linking over HTTP, wired into the sandbox's gateway: a care context is
//! created for a patient with an ABHA address at a HIP (the OTP in the outbox, resends 60 s
//! apart), records are attached (a FHIR document given, or one the sandbox makes of the visit),
//! and linking checks the demographics against the ABHA profile, or the OTP. Once linked, the
//! care context is in `/_sandbox/links`, and an HIU's consent over it (through the gateway, in
//! v0.5) delivers its bundle in the Fidelius-encrypted push, byte for byte.

mod common;

use abdm_server::fidelius::{self, KeyMaterial};
use common::hip::{Hip, WAIT};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const MEENA: &str = "meena.iyer@sbx";

async fn cs(sb: &TestSandbox, path: &str, body: Value) -> Reply {
    sb.send(Method::POST, &format!("/carestack{path}"), Some(&body), &CARESTACK_HEADERS).await
}

/// A visit: the patient (with `abha` when given), a practitioner and an appointment that began
/// ten minutes ago. Returns (patient, practitioner, appointment).
async fn visit(sb: &TestSandbox, abha: Option<(&str, &str)>) -> (String, String, String) {
    let (id_type, number) = match abha {
        Some((_, number)) => ("ABHA", number.to_string()),
        None => ("PAN", format!("ABCDE{:04}F", rand_digits())),
    };
    let patient = json!({"idNumber": number, "idType": id_type, "abhaAddress": abha.map(|a| a.0), "patientType": "NEW",
        "firstName": "Meena", "middleName": null, "lastName": "Iyer", "birthDate": "1972-06-01", "gender": "female",
        "mobileNumber": "+919898989898", "emailId": null, "address": "7 Marine Drive, Kochi", "pincode": "682001",
        "state": "Kerala", "wantsToLinkWhatsapp": null, "photo": null, "resourceType": "Patient", "resourceId": null});
    let p = cs(sb, "/add/Patient", patient).await;
    assert_eq!(p.status, 201, "{}", p.body);
    let doctor = json!({"registrationId": format!("KMC-{}", Uuid::new_v4()), "department": "cardiology",
        "designation": "Consultant", "status": "Active", "joiningDate": "2020-01-01", "staffType": "Doctor",
        "firstName": "Kavita", "lastName": "Rao", "gender": "female", "address": "1 Med St", "resourceType": "Practitioner"});
    let d = cs(sb, "/add/Practitioner", doctor).await;
    let now = sb.now().await;
    let appointment = json!({"practitionerReference": d.body["resourceId"], "patientReference": p.body["resourceId"],
        "start": stamp(now - chrono::Duration::minutes(10)), "end": stamp(now + chrono::Duration::minutes(20))});
    let a = cs(sb, "/add/Appointment", appointment).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let s = |v: &Value| v.as_str().unwrap().to_string();
    (s(&p.body["resourceId"]), s(&d.body["resourceId"]), s(&a.body["resource"]["reference"]))
}

fn rand_digits() -> u16 {
    rand::random::<u16>() % 10_000
}

fn create_body((patient, doctor, appointment): &(String, String, String), abha: Option<&str>) -> Value {
    json!({"patientReference": patient, "patientAbhaAddress": abha, "practitionerReference": doctor,
        "appointmentReference": appointment, "hiType": "OPConsultation", "appointmentDate": "09:30 am - 10:00 am",
        "resendOtp": false})
}

/// A FHIR document bundle, as an HMIS would attach it.
fn document(title: &str) -> Value {
    json!({"resourceType": "Bundle", "id": Uuid::new_v4(), "type": "document", "timestamp": "2025-01-01T10:00:00Z",
        "entry": [{"fullUrl": "urn:uuid:c1", "resource": {"resourceType": "Composition", "id": "c1", "status": "final",
            "type": {"text": "Clinical consultation report"}, "title": title, "date": "2025-01-01T10:00:00Z"}},
            {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "id": "p1", "name": [{"text": "Meena Iyer"}]}}]})
}

/// A care context created for Meena's visit: (visit, careContextReference, requestId).
async fn created(sb: &TestSandbox) -> ((String, String, String), String, String) {
    let v = visit(sb, Some((MEENA, "91-4567-8901-2345"))).await;
    let r = cs(sb, "/abdm-flows/create-carecontext", create_body(&v, Some(MEENA))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["authModes"], json!(["MOBILE_OTP", "DEMOGRAPHICS"]));
    let s = |k: &str| r.body[k].as_str().unwrap().to_string();
    (v, s("careContextReference"), s("requestId"))
}

fn step_body(v: &(String, String, String), cc: &str, request: &str) -> Value {
    json!({"careContextReference": cc, "requestId": request, "patientReference": v.0, "practitionerReference": v.1,
        "appointmentReference": v.2, "patientAbhaAddress": MEENA, "mobileNumber": "+919898989898"})
}

fn link_body(v: &(String, String, String), cc: &str, request: &str, name: &str, mode: &str) -> Value {
    json!({"requestId": request, "appointmentReference": v.2, "patientAddress": "7 Marine Drive, Kochi", "patientName": name,
        "patientReference": v.0, "careContextReference": cc, "authMode": mode})
}

#[tokio::test]
async fn a_care_context_needs_a_patient_with_an_abha_address_at_a_hip() {
    let sb = TestSandbox::start().await;
    let v = visit(&sb, Some((MEENA, "91-4567-8901-2345"))).await;
    let body = create_body(&v, Some(MEENA));
    cs(&sb, "/abdm-flows/create-carecontext", patched(body.clone(), &json!({"patientReference": "nobody"})))
        .await
        .refused(422, "patientReference", "reference-unknown");
    let other = visit(&sb, None).await;
    cs(
        &sb,
        "/abdm-flows/create-carecontext",
        patched(body.clone(), &json!({"appointmentReference": other.2})),
    )
    .await
    .refused(422, "appointmentReference", "appointment-mismatch");
    cs(&sb, "/abdm-flows/create-carecontext", create_body(&other, None)).await.refused(
        422,
        "patientAbhaAddress",
        "abha-address-required",
    );
    cs(&sb, "/abdm-flows/create-carecontext", create_body(&other, Some("nobody.here@sbx"))).await.refused(
        422,
        "patientAbhaAddress",
        "abha-address-unknown",
    );
    cs(
        &sb,
        "/abdm-flows/create-carecontext",
        patched(body.clone(), &json!({"appointmentDate": "2025-01-01T09:30:00Z"})),
    )
    .await
    .refused(400, "appointmentDate", "time-range");
    cs(&sb, "/abdm-flows/create-carecontext", patched(body.clone(), &json!({"hiType": "Invoice"})))
        .await
        .refused(400, "hiType", "enum");
    let hiu_only = [CARESTACK_HEADERS[0], CARESTACK_HEADERS[1], ("facilityid", "IN2710000003")];
    let r = sb.send(Method::POST, "/carestack/abdm-flows/create-carecontext", Some(&body), &hiu_only).await;
    r.refused(422, "facilityid", "not-a-hip");
}

#[tokio::test]
async fn linking_starts_with_an_otp_that_resends_60_seconds_apart() {
    let sb = TestSandbox::start().await;
    let (v, cc, request) = created(&sb).await;
    let sent = sb.last_sent(&request).await;
    assert_eq!((&sent["purpose"], &sent["to"]), (&json!("carestack-link"), &json!("XXXXXX9898")));
    assert_eq!(sent["otp"], "345678", "the patient's scripted OTP");
    // Asked again while pending: the same care context.
    let again = cs(&sb, "/abdm-flows/create-carecontext", create_body(&v, Some(MEENA))).await;
    assert_eq!(again.body["careContextReference"], json!(cc));
    let resend = patched(create_body(&v, Some(MEENA)), &json!({"resendOtp": true}));
    cs(&sb, "/abdm-flows/create-carecontext", resend.clone()).await.refused(
        429,
        "resendOtp",
        "otp-resend-too-soon",
    );
    sb.advance(61).await;
    assert_eq!(cs(&sb, "/abdm-flows/create-carecontext", resend).await.status, 201);
    assert_eq!(sb.outbox(Some(&request)).await.len(), 2);
}

#[tokio::test]
async fn records_are_checked_and_the_link_checks_the_demographics_or_the_otp() {
    let sb = TestSandbox::start().await;
    let (v, cc, request) = created(&sb).await;
    let mut body = step_body(&v, &cc, &request);
    body["healthRecords"] = json!([{"rawFhir": true, "fhirDocument": {"resourceType": "Patient"}, "informationType": "OPConsultation"}]);
    cs(&sb, "/abdm-flows/update-visit-records", body.clone()).await.refused(
        400,
        "healthRecords[0].fhirDocument",
        "fhir-document",
    );
    body["healthRecords"] = json!([{"rawFhir": false, "informationType": "OPConsultation"}]);
    cs(&sb, "/abdm-flows/update-visit-records", patched(body.clone(), &json!({"requestId": Uuid::new_v4()})))
        .await
        .refused(422, "requestId", "request-mismatch");
    cs(
        &sb,
        "/abdm-flows/update-visit-records",
        patched(body.clone(), &json!({"careContextReference": "nope"})),
    )
    .await
    .refused(404, "careContextReference", "care-context-unknown");
    let made = cs(&sb, "/abdm-flows/update-visit-records", body).await;
    assert_eq!(made.ok(), &json!(true), "a bare true, as the SDK takes it");
    cs(&sb, "/abdm-flows/link-carecontext", link_body(&v, &cc, &request, "Meena Nair", "DEMOGRAPHICS"))
        .await
        .refused(422, "patientName", "demographics-mismatch");
    cs(&sb, "/abdm-flows/link-carecontext", link_body(&v, &cc, &request, "Meena Iyer", "MOBILE_OTP"))
        .await
        .refused(400, "otp", "required");
    let wrong = patched(link_body(&v, &cc, &request, "Meena Iyer", "MOBILE_OTP"), &json!({"otp": "000000"}));
    cs(&sb, "/abdm-flows/link-carecontext", wrong).await.refused(422, "otp", "otp-mismatch");
    let right = patched(link_body(&v, &cc, &request, "Meena Iyer", "MOBILE_OTP"), &json!({"otp": "345678"}));
    assert_eq!(cs(&sb, "/abdm-flows/link-carecontext", right.clone()).await.ok(), &json!({}));
    cs(&sb, "/abdm-flows/link-carecontext", right).await.refused(
        409,
        "careContextReference",
        "care-context-linked",
    );
    let links = sb.get(&format!("/_sandbox/links?abhaAddress={MEENA}")).await;
    assert_eq!(links.ok()["links"], json!([{"hipId": "IN2910000001", "careContexts": [cc]}]));
    // The bundle the sandbox made of the visit is a document, among those Encounter finds.
    let page = sb
        .send(
            Method::GET,
            "/carestack/health-lake/get-profiles/Bundle/OPConsultation",
            None,
            &CARESTACK_HEADERS,
        )
        .await;
    let mine: Vec<&Value> = page.ok()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["metaData"]["careContextReference"] == json!(cc))
        .collect();
    assert_eq!(mine.len(), 1, "{}", page.body);
    assert_eq!(mine[0]["metaData"]["source"], "document-linking");
}

#[tokio::test]
async fn a_facility_registered_here_links_documents_as_a_hip() {
    let sb = TestSandbox::start().await;
    let v = visit(&sb, Some((MEENA, "91-4567-8901-2345"))).await;
    let registered = facility_registered(&sb).await;
    let headers = [CARESTACK_HEADERS[0], CARESTACK_HEADERS[1], ("facilityid", registered.as_str())];
    let r = sb
        .send(
            Method::POST,
            "/carestack/abdm-flows/create-carecontext",
            Some(&create_body(&v, Some(MEENA))),
            &headers,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (cc, request) =
        (r.body["careContextReference"].as_str().unwrap(), r.body["requestId"].as_str().unwrap());
    let link = link_body(&v, cc, request, "meena  IYER", "DEMOGRAPHICS");
    let linked = sb.send(Method::POST, "/carestack/abdm-flows/link-carecontext", Some(&link), &headers).await;
    assert_eq!(linked.ok(), &json!({}));
    let links = sb.get(&format!("/_sandbox/links?abhaAddress={MEENA}")).await;
    assert_eq!(links.ok()["links"][0]["hipId"], json!(registered));
}

async fn facility_registered(sb: &TestSandbox) -> String {
    let doc = json!({"value": "aGVsbG8=", "name": "photo.jpg"});
    let body = json!({"basicInformation": {"facilityName": "Kochi Clinic", "region": "South", "addressLine1": "7 Marine Drive",
            "addressLine2": "Ernakulam", "district": "555", "subDistrict": "Kochi", "city": "Kochi", "state": "32",
            "country": "India", "pincode": "682001", "latLongs": ["9.98, 76.28"]},
        "contactInformation": {"mobileNumber": "+914842000000", "email": "desk@example.com", "landline": "2000000",
            "stdcode": "0484", "websiteLink": "https://example.com"},
        "uploadDocuments": {"boardPhoto": doc, "buildingPhoto": doc},
        "addAddressProof": [{"addressProofType": "RA", "addressProofAttachment": doc}],
        "facilityTimings": [{"timings": "Daily", "shifts": []}],
        "facilityDetails": {"ownershipType": "P", "ownershipSubType": "5", "status": "ACT"},
        "systemOfMedicine": {"specialities": [{"systemofMedicineCode": "M", "specialities": ["M01"]}], "facilityType": "2",
            "facilitySubType": "", "serviceType": "OPD"},
        "facilityInventory": {"totalNumberOfVentilators": 1, "totalNumberOfBeds": 2, "hasDialysisCenter": "no",
            "hasPharmacy": "no", "hasBloodBank": "no", "hasCathLab": "no", "hasDiagnosticLab": "no", "hasImagingCenter": "no",
            "servicesByImagingCenter": [], "nhrrid": "", "nin": "", "abpmjayid": "", "rohiniId": "", "echsId": "", "cghsId": "",
            "ceaRegistration": "", "stateInsuranceSchemeId": ""},
        "accountId": "kochi"});
    let r = cs(sb, "/register-facility", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["response"].as_str().unwrap().rsplit(' ').next().unwrap().to_string()
}

/// The HIU of the fixtures (IN2710000003), its bridge at `inbox`, sending v0.5 messages.
async fn hiu_send(sb: &TestSandbox, token: &str, path: &str, mut body: Value) -> Reply {
    body["requestId"] = json!(Uuid::new_v4());
    body["timestamp"] = json!(chrono_now());
    let auth = format!("Bearer {token}");
    sb.send(Method::POST, path, Some(&body), &[("Authorization", &auth), ("X-CM-ID", "sbx")]).await
}

#[tokio::test]
async fn a_consent_over_a_linked_document_delivers_its_bundle_through_the_gateway() {
    let sb = TestSandbox::start().await;
    let (v, cc, request) = created(&sb).await;
    let given = document("Consultation of Meena Iyer");
    let mut body = step_body(&v, &cc, &request);
    body["healthRecords"] =
        json!([{"rawFhir": true, "fhirDocument": given, "informationType": "OPConsultation"}]);
    assert_eq!(cs(&sb, "/abdm-flows/update-visit-records", body).await.ok(), &json!(true));
    let link = link_body(&v, &cc, &request, "Meena Iyer", "DEMOGRAPHICS");
    assert_eq!(cs(&sb, "/abdm-flows/link-carecontext", link).await.ok(), &json!({}));

    let inbox = Hip::start().await;
    let token = sb.session_for("SBX_000003", "sandbox-secret-0003").await;
    let auth = format!("Bearer {token}");
    let bridge = json!({"url": inbox.url});
    assert!(
        sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&bridge), &[("Authorization", &auth)])
            .await
            .status
            < 300
    );
    let erase = stamp(chrono::Utc::now() + chrono::Duration::days(30));
    let consent = json!({"consent": {"purpose": {"text": "Care Management", "code": "CAREMGT"}, "patient": {"id": MEENA},
        "hiu": {"id": "IN2710000003"}, "requester": {"name": "Dr. Rao", "identifier": {"type": "REGNO", "value": "MH1001"}},
        "hiTypes": ["OPConsultation"], "permission": {"accessMode": "VIEW",
            "dateRange": {"from": "2015-01-01T00:00:00.000Z", "to": chrono_now()}, "dataEraseAt": erase,
            "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}}}});
    assert_eq!(hiu_send(&sb, &token, "/gateway/v0.5/consent-requests/init", consent).await.status, 202);
    let on_init = inbox.wait_for("/v0.5/consent-requests/on-init", WAIT).await;
    let id = on_init.body["consentRequest"]["id"].as_str().unwrap().to_string();
    // Meena waits to be asked.
    assert_eq!(
        sb.post(&format!("/_sandbox/consent-requests/{id}/grant"), json!({})).await.ok()["status"],
        "GRANTED"
    );
    let out = sb.get(&format!("/_sandbox/consent-requests/{id}")).await;
    let artefact = out.ok()["artefacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["hipId"] == "IN2910000001")
        .unwrap_or_else(|| panic!("an artefact at the linking facility: {}", out.body))
        .clone();
    assert_eq!(artefact["careContexts"][0]["careContextReference"], json!(cc));
    let consent_id = artefact["consentId"].as_str().unwrap();
    let keys = KeyMaterial::generate();
    let url = format!("{}/data/push/{consent_id}", inbox.url);
    let hi = json!({"hiRequest": {"consent": {"id": consent_id}, "dataPushUrl": url,
        "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
            "dhPublicKey": {"expiry": "2099-01-01T00:00:00.000Z", "parameters": "Curve25519/32byte random key", "keyValue": keys.public_key},
            "nonce": keys.nonce}}});
    let r = hiu_send(&sb, &token, "/gateway/v0.5/health-information/cm/request", hi).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let page = inbox.wait_for(&format!("/data/push/{consent_id}"), WAIT).await;
    let km = &page.body["keyMaterial"];
    let entries = page.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["careContextReference"], json!(cc));
    let plain = fidelius::decrypt(
        entries[0]["content"].as_str().unwrap(),
        &keys.nonce,
        km["nonce"].as_str().unwrap(),
        &keys.private_key,
        km["dhPublicKey"]["keyValue"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&plain).unwrap(),
        given,
        "the pushed bundle is the one attached"
    );
}
