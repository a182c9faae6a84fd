//! The Carestack resources over HTTP, in the shapes the SDK validates: patients, practitioners,
//! appointments and facilities are created, found, updated, filtered and deleted with state
//! that holds across calls; every rule of the SDK's DTOs (and the identifier, date and
//! reference rules on top) refuses with a JSON object whose `message` names the field; lists
//! page with the tokens the SDK carries back; the master data and LGD look-ups are what
//! registration accepts.

mod common;

use common::*;
use reqwest::Method;
use rstest::rstest;
use serde_json::{json, Value};

async fn cs(sb: &TestSandbox, method: Method, path: &str, body: Option<Value>) -> Reply {
    sb.send(method, &format!("/carestack{path}"), body.as_ref(), &CARESTACK_HEADERS).await
}

fn patient(first: &str, pan: &str) -> Value {
    json!({"idNumber": pan, "idType": "pan", "abhaAddress": null, "patientType": "new", "firstName": first,
        "middleName": null, "lastName": "Doe", "birthDate": "1990-01-01", "gender": "MALE",
        "mobileNumber": "+919876543210", "emailId": "j@x.com", "address": "123 Main Street", "pincode": "500001",
        "state": "Telangana", "wantsToLinkWhatsapp": null, "photo": null, "resourceType": "Patient", "resourceId": null})
}

fn practitioner(registration: &str) -> Value {
    json!({"registrationId": registration, "department": "cardiology", "designation": "Consultant", "status": "Active",
        "joiningDate": "2020-01-01", "staffType": "Doctor", "firstName": "Alice", "middleName": null, "lastName": "Smith",
        "birthDate": "1980-06-10", "gender": "Female", "mobileNumber": "+919876543210", "emailId": "a@x.com",
        "address": "1 Med St", "pincode": "110001", "state": "Delhi", "wantsToLinkWhatsapp": null, "photo": null,
        "resourceType": "Practitioner", "resourceId": null})
}

/// A PAN for the n-th patient of a test.
fn pan(n: usize) -> String {
    format!("ABCDE{n:04}F")
}

#[tokio::test]
async fn a_patient_is_created_found_updated_filtered_and_deleted() {
    let sb = TestSandbox::start().await;
    let r = cs(&sb, Method::POST, "/add/Patient", Some(patient("John", &pan(1)))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["resourceId"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID, as document linking requires");
    assert_eq!(r.body["resource"]["firstName"], "John");
    let found = cs(&sb, Method::GET, &format!("/get/Patient/{id}"), None).await;
    assert_eq!(found.ok()["message"], "Patient Found !!!");
    assert_eq!(found.body["requestResource"]["idNumber"], pan(1));
    let update =
        json!({"resourceId": id, "emailId": "new@x.com", "mobileNumber": null, "resourceType": "Patient"});
    assert_eq!(
        cs(&sb, Method::PUT, "/update/Patient", Some(update)).await.ok()["resource"]["emailId"],
        "new@x.com"
    );
    let found = cs(&sb, Method::GET, &format!("/get/Patient/{id}"), None).await;
    assert_eq!(found.ok()["requestResource"]["emailId"], "new@x.com");
    assert_eq!(found.body["requestResource"]["mobileNumber"], "+919876543210", "what was not given stays");
    let filters = r#"{"firstName": "Jo", "address-state": "Telangana", "_count": 5}"#;
    let hits = cs(
        &sb,
        Method::GET,
        &format!("/health-lake/get-profiles/Patient?filters={}", urlencode(filters)),
        None,
    )
    .await;
    assert_eq!(hits.ok()["total"], 1);
    assert_eq!(hits.body["entry"][0]["resource"]["resourceType"], "Patient");
    assert_eq!(hits.body["entry"][0]["resource"]["id"], json!(id));
    let none = r#"{"address-state": "Kerala"}"#;
    let hits =
        cs(&sb, Method::GET, &format!("/health-lake/get-profiles/Patient?filters={}", urlencode(none)), None)
            .await;
    assert_eq!(hits.ok()["entry"], json!([]));
    assert_eq!(cs(&sb, Method::DELETE, &format!("/health-lake/delete/Patient/{id}"), None).await.status, 200);
    cs(&sb, Method::GET, &format!("/get/Patient/{id}"), None).await.refused(404, "id", "patient-unknown");
    cs(&sb, Method::DELETE, &format!("/health-lake/delete/Patient/{id}"), None).await.refused(
        404,
        "id",
        "patient-unknown",
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn lists_page_with_the_token_the_sdk_carries_back() {
    let sb = TestSandbox::start().await;
    for n in 0..12 {
        let r = cs(&sb, Method::POST, "/add/Patient", Some(patient("Pager", &pan(n)))).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let first = cs(&sb, Method::GET, "/get/Patient", None).await;
    assert_eq!(first.ok()["message"], "Patients Fetched");
    assert_eq!(first.body["totalNumberOfRecords"], 12);
    assert_eq!(first.body["requestResource"].as_array().unwrap().len(), 10);
    let token = first.body["nextPageLink"].as_str().unwrap().to_string();
    let second = cs(&sb, Method::GET, &format!("/get/Patient?nextPage={}", urlencode(&token)), None).await;
    assert_eq!(second.ok()["requestResource"].as_array().unwrap().len(), 2);
    assert_eq!(second.body["nextPageLink"], Value::Null, "the last page has none");
    cs(&sb, Method::GET, "/get/Patient?nextPage=garbage", None).await.refused(400, "nextPage", "page-token");
}

#[rstest]
#[case::resource_type("resourceType", json!("PATIENT"), "enum")]
#[case::id_type("idType", json!("VOTER"), "enum")]
#[case::pan_format("idNumber", json!("12345"), "pan")]
#[case::first_name("firstName", json!("Jo"), "name-format")]
#[case::birth_date_format("birthDate", json!("01-01-1990"), "date")]
#[case::birth_date_future("birthDate", json!("2999-01-01"), "date")]
#[case::gender("gender", json!("M"), "enum")]
#[case::mobile("mobileNumber", json!("9876543210"), "mobile-format")]
#[case::email("emailId", json!("not-an-email"), "email-format")]
#[case::pincode("pincode", json!("0123"), "pincode-format")]
#[case::state("state", json!("telangana"), "enum")]
#[case::abha_address("abhaAddress", json!("john@gmail"), "abha-address")]
#[case::address("address", json!("abc"), "length")]
#[case::missing("patientType", Value::Null, "required")]
#[tokio::test]
async fn each_patient_rule_names_its_field(#[case] field: &str, #[case] value: Value, #[case] rule: &str) {
    let sb = TestSandbox::start().await;
    let body = patched(patient("John", &pan(1)), &json!({ field: value }));
    cs(&sb, Method::POST, "/add/Patient", Some(body)).await.refused(400, field, rule);
    assert_eq!(cs(&sb, Method::GET, "/get/Patient", None).await.ok()["totalNumberOfRecords"], 0);
}

#[tokio::test]
async fn one_patient_per_identifier_and_per_abha_address() {
    let sb = TestSandbox::start().await;
    let abha = json!({"idType": "ABHA", "idNumber": "91-2345-6789-0129", "abhaAddress": "asha.verma@sbx"});
    let r = cs(&sb, Method::POST, "/add/Patient", Some(patched(patient("Asha", &pan(1)), &abha))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The same ABHA number written without dashes is the same identifier.
    let again = patched(patient("Asha", &pan(2)), &json!({"idType": "abha", "idNumber": "91234567890129"}));
    cs(&sb, Method::POST, "/add/Patient", Some(again)).await.refused(409, "idNumber", "patient-exists");
    let same_address = patched(patient("Other", &pan(3)), &json!({"abhaAddress": "ASHA.verma@sbx"}));
    cs(&sb, Method::POST, "/add/Patient", Some(same_address)).await.refused(
        409,
        "abhaAddress",
        "patient-exists",
    );
    let bad_luhn =
        patched(patient("Other", &pan(4)), &json!({"idType": "ABHA", "idNumber": "91-2345-6789-0128"}));
    cs(&sb, Method::POST, "/add/Patient", Some(bad_luhn)).await.refused(400, "idNumber", "abha-number");
}

#[tokio::test]
async fn a_practitioner_is_kept_whole_and_its_registration_is_unique() {
    let sb = TestSandbox::start().await;
    let r = cs(&sb, Method::POST, "/add/Practitioner", Some(practitioner("REG1"))).await;
    assert_eq!((r.status, &r.body["message"]), (201, &json!("Practitioner created successfully")));
    let id = r.body["resourceId"].as_str().unwrap().to_string();
    cs(&sb, Method::POST, "/add/Practitioner", Some(practitioner("reg1"))).await.refused(
        409,
        "registrationId",
        "practitioner-exists",
    );
    let bad = patched(practitioner("REG2"), &json!({"department": "Cardiology"}));
    cs(&sb, Method::POST, "/add/Practitioner", Some(bad)).await.refused(400, "department", "enum");
    let update = patched(practitioner("REG1"), &json!({"resourceId": id, "designation": "Head"}));
    assert_eq!(
        cs(&sb, Method::PUT, "/update/Practitioner", Some(update)).await.ok()["resourceId"],
        json!(id)
    );
    let found = cs(&sb, Method::GET, &format!("/get/Practitioner/{id}"), None).await;
    assert_eq!(found.ok()["message"], "Practitioner Found !!!");
    assert_eq!(found.body["requestResource"]["designation"], "Head");
    let filters = urlencode(r#"{"name": "ali", "family": "Smith", "_count": "10"}"#);
    let hits =
        cs(&sb, Method::GET, &format!("/health-lake/get-profiles/Practitioner?filters={filters}"), None)
            .await;
    assert_eq!(hits.ok()["entry"][0]["resource"]["identifier"][0]["value"], "REG1");
    let unknown = urlencode(r#"{"speciality": "x"}"#);
    cs(&sb, Method::GET, &format!("/health-lake/get-profiles/Practitioner?filters={unknown}"), None)
        .await
        .refused(400, "filters.speciality", "filter");
    cs(&sb, Method::DELETE, &format!("/health-lake/delete/Practitioner/{id}"), None).await.ok();
    cs(&sb, Method::GET, &format!("/get/Practitioner/{id}"), None).await.refused(
        404,
        "id",
        "practitioner-unknown",
    );
}

#[tokio::test]
async fn an_appointment_needs_its_patient_and_practitioner_and_every_field_is_a_string() {
    let sb = TestSandbox::start().await;
    let p = cs(&sb, Method::POST, "/add/Patient", Some(patient("John", &pan(1)))).await.body["resourceId"]
        .clone();
    let d = cs(&sb, Method::POST, "/add/Practitioner", Some(practitioner("REG1"))).await.body["resourceId"]
        .clone();
    let body = json!({"practitionerReference": d, "patientReference": p, "start": "2025-08-10T14:30:00Z",
        "end": "2025-08-10T20:30:00+05:30", "priority": "Emergency"});
    cs(
        &sb,
        Method::POST,
        "/add/Appointment",
        Some(patched(body.clone(), &json!({"patientReference": "nobody"}))),
    )
    .await
    .refused(422, "patientReference", "reference-unknown");
    cs(
        &sb,
        Method::POST,
        "/add/Appointment",
        Some(patched(body.clone(), &json!({"practitionerReference": "nobody"}))),
    )
    .await
    .refused(422, "practitionerReference", "reference-unknown");
    cs(
        &sb,
        Method::POST,
        "/add/Appointment",
        Some(patched(body.clone(), &json!({"end": "2025-08-10T14:00:00Z"}))),
    )
    .await
    .refused(400, "end", "time-range");
    cs(&sb, Method::POST, "/add/Appointment", Some(patched(body.clone(), &json!({"priority": "ROUTINE"}))))
        .await
        .refused(400, "priority", "enum");
    let r = cs(&sb, Method::POST, "/add/Appointment", Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let resource = &r.body["resource"];
    for key in [
        "reference",
        "practitionerReference",
        "patientReference",
        "slot",
        "priority",
        "start",
        "end",
        "organizationId",
    ] {
        assert!(resource[key].is_string(), "{key} is a string in {resource}");
    }
    assert_eq!(resource["organizationId"], "IN2910000001", "the facility of the request");
    let reference = resource["reference"].as_str().unwrap().to_string();
    let found = cs(&sb, Method::GET, &format!("/get/Appointment/{reference}"), None).await;
    assert_eq!(found.ok()["message"], "Appointment Found !!!");
    // The SDK's update sends no reference; the server says so, naming the field.
    cs(&sb, Method::PUT, "/update/Appointment", Some(json!({"slot": "B-7"}))).await.refused(
        400,
        "reference",
        "required",
    );
    let update = json!({"reference": reference, "slot": "B-7", "priority": "Follow-up visit"});
    let updated = cs(&sb, Method::PUT, "/update/Appointment", Some(update)).await;
    assert_eq!(updated.ok()["requestResource"]["slot"], "B-7");
    assert_eq!(updated.body["requestResource"]["priority"], "Follow-up visit");
    cs(&sb, Method::DELETE, &format!("/delete/Appointment/{reference}"), None).await.ok();
    // Unknown is a 200 with another message: the SDK's exists raises on a 404.
    let gone = cs(&sb, Method::GET, &format!("/get/Appointment/{reference}"), None).await;
    assert_eq!(gone.ok()["message"], "Appointment Not Found");
}

/// A facility registration as the SDK sends it, in Karnataka.
fn facility(name: &str) -> Value {
    let doc = json!({"value": "aGVsbG8=", "name": "photo.jpg"});
    json!({"basicInformation": {"facilityName": name, "region": "South", "addressLine1": "12 Hosur Road",
            "addressLine2": "Koramangala", "district": "Bengaluru Urban", "subDistrict": "Bengaluru South", "city": "Bengaluru",
            "state": "Karnataka", "country": "India", "pincode": "560034", "latLongs": ["12.93, 77.62"]},
        "contactInformation": {"mobileNumber": "+919876543210", "email": "desk@example.com", "landline": "25500000",
            "stdcode": "080", "websiteLink": "https://example.com"},
        "uploadDocuments": {"boardPhoto": doc, "buildingPhoto": doc},
        "addAddressProof": [{"addressProofType": "Electricity Bill", "addressProofAttachment": doc}],
        "facilityTimings": [{"timings": "Mon-Sat", "shifts": [{"start": "09:00", "end": "17:00"}]}],
        "facilityDetails": {"ownershipType": "Private", "ownershipSubType": "Individual", "status": "Active"},
        "systemOfMedicine": {"specialities": [{"systemofMedicineCode": "M", "specialities": ["Cardiology"]}],
            "facilityType": "Hospital", "facilitySubType": "Multi Speciality", "serviceType": "IPD/OPD"},
        "facilityInventory": {"totalNumberOfVentilators": 4, "totalNumberOfBeds": 50, "hasDialysisCenter": "No",
            "hasPharmacy": "Yes", "hasBloodBank": "No", "hasCathLab": "No", "hasDiagnosticLab": "Yes", "hasImagingCenter": "Yes",
            "servicesByImagingCenter": [{"service": "MRI", "count": 1}], "nhrrid": "", "nin": "", "abpmjayid": "",
            "rohiniId": "", "echsId": "", "cghsId": "", "ceaRegistration": "", "stateInsuranceSchemeId": ""},
        "accountId": "acct-1", "facilityId": null, "id": null})
}

#[tokio::test]
async fn a_facility_is_registered_found_searched_updated_and_deleted() {
    let sb = TestSandbox::start().await;
    let r = cs(&sb, Method::POST, "/register-facility", Some(facility("Koramangala Care"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let text = r.body["response"].as_str().expect("the answer is {\"response\": \"...\"}");
    let id = text.rsplit(' ').next().unwrap().to_string();
    assert!(id.starts_with("IN29") && id.len() == 12, "{id}: IN, the LGD state code, eight digits");
    let found = cs(&sb, Method::GET, &format!("/facilities/facilityId/{id}"), None).await;
    assert_eq!(found.ok()["message"], "Facility Found !!!");
    let by_account = cs(&sb, Method::GET, "/facilities/accountId/acct-1", None).await;
    assert_eq!(by_account.ok()["message"], "Records Found!!");
    cs(&sb, Method::GET, "/facilities/facilityId/IN2999999999", None).await.refused(
        404,
        "facilityId",
        "facility-unknown",
    );
    cs(&sb, Method::GET, "/facilities/pin/1", None).await.refused(400, "idType", "enum");
    let search = json!({"ownershipCode": "P", "stateLGDCode": "29", "districtLGDCode": "525", "subDistrictLGDCode": null,
        "pincode": null, "facilityName": "koramangala", "facilityId": null, "page": 1, "resultsPerPage": 10});
    let hits = cs(&sb, Method::POST, "/search-facility", Some(search.clone())).await;
    assert_eq!(hits.ok()["totalFacilities"], 1);
    let f = &hits.body["facilities"][0];
    assert_eq!(
        (&f["facilityId"], &f["districtName"], &f["facilityTypeCode"]),
        (&json!(id), &json!("Bengaluru Urban"), &json!("1"))
    );
    for (k, v) in f.as_object().unwrap() {
        assert!(v.is_string(), "{k} is a string");
    }
    let elsewhere =
        cs(&sb, Method::POST, "/search-facility", Some(patched(search, &json!({"stateLGDCode": "32"}))))
            .await;
    assert_eq!(elsewhere.ok()["totalFacilities"], 0);
    let update = json!({"spocName": "Dr Rao", "id": id, "spocId": "rao@hpr.abdm", "consentManagerName": null, "consentManagerId": null});
    assert_eq!(
        cs(&sb, Method::PUT, "/update-facility", Some(update)).await.ok()["response"],
        "organization updated successfully"
    );
    let found = cs(&sb, Method::GET, &format!("/facilities/facilityId/{id}"), None).await;
    assert_eq!(found.ok()["data"][0]["spocName"], "Dr Rao");
    cs(&sb, Method::POST, "/register-facility", Some(facility("KORAMANGALA care"))).await.refused(
        409,
        "basicInformation.facilityName",
        "facility-exists",
    );
    cs(&sb, Method::DELETE, &format!("/facility/{id}"), None).await.ok();
    cs(&sb, Method::GET, &format!("/facilities/facilityId/{id}"), None).await.refused(
        404,
        "facilityId",
        "facility-unknown",
    );
}

#[rstest]
#[case::country("basicInformation", "country", json!("Nepal"), "enum")]
#[case::state("basicInformation", "state", json!("Atlantis"), "lgd-state")]
#[case::district("basicInformation", "district", json!("Lucknow"), "lgd-district")]
#[case::sub_district("basicInformation", "subDistrict", json!("Malihabad"), "lgd-subdistrict")]
#[case::lat_long("basicInformation", "latLongs", json!(["north"]), "lat-long")]
#[case::address_line("basicInformation", "addressLine1", json!("abc"), "length")]
#[case::owner_subtype("facilityDetails", "ownershipSubType", json!("Central Government"), "master-data")]
#[case::facility_type("systemOfMedicine", "facilityType", json!("Primary Health Centre"), "master-data")]
#[case::beds("facilityInventory", "totalNumberOfBeds", json!(0), "range")]
#[case::email("contactInformation", "email", json!("desk"), "email-format")]
#[tokio::test]
async fn each_facility_rule_names_its_field(
    #[case] part: &str,
    #[case] key: &str,
    #[case] value: Value,
    #[case] rule: &str,
) {
    let sb = TestSandbox::start().await;
    let mut body = facility("Rule Clinic");
    body[part][key] = value;
    let field =
        if key == "latLongs" { "basicInformation.latLongs[0]".to_string() } else { format!("{part}.{key}") };
    cs(&sb, Method::POST, "/register-facility", Some(body)).await.refused(400, &field, rule);
}

#[tokio::test]
async fn the_lookups_are_what_registration_accepts() {
    let sb = TestSandbox::start().await;
    let types = cs(&sb, Method::GET, "/master-types", None).await;
    assert!(types.ok()["masterTypes"].as_array().unwrap().iter().any(|t| t["type"] == "OWNERSHIP"));
    let owners = cs(&sb, Method::GET, "/master-data/OWNERSHIP", None).await;
    assert_eq!(owners.ok()["data"][1], json!({"code": "P", "value": "Private"}));
    cs(&sb, Method::GET, "/master-data/COLOUR", None).await.refused(404, "type", "master-type");
    let states = cs(&sb, Method::GET, "/lgd-states", None).await;
    let states = states.ok().as_array().expect("a bare array");
    assert_eq!(states.len(), 36);
    let up = states.iter().find(|s| s["code"] == "9").unwrap();
    assert!(up["districts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == &json!({"code": "162", "name": "Lucknow"})));
    let subs = cs(&sb, Method::GET, "/lgd-subdistricts?districtCode=134", None).await;
    assert_eq!(subs.ok().as_array().unwrap().len(), 5, "Budaun's five sub-districts");
    cs(&sb, Method::GET, "/lgd-subdistricts?districtCode=99999", None).await.refused(
        404,
        "districtCode",
        "lgd-district",
    );
    let loc = cs(&sb, Method::GET, "/latlongs?address=Hazratganj,%20Lucknow", None).await;
    assert_eq!(loc.ok()["lat"], 26.85);
    cs(&sb, Method::GET, "/latlongs?address=Atlantis", None).await.refused(404, "address", "location");
    let kinds = cs(
        &sb,
        Method::POST,
        "/facility-type",
        Some(json!({"ownershipCode": "G", "systemOfMedicineCode": "A"})),
    )
    .await;
    let names: Vec<&str> =
        kinds.ok()["data"].as_array().unwrap().iter().map(|d| d["value"].as_str().unwrap()).collect();
    assert!(names.contains(&"Primary Health Centre") && !names.contains(&"Imaging Centre"), "{names:?}");
    let one =
        cs(&sb, Method::POST, "/owner-subtype", Some(json!({"ownershipCode": "P", "ownerSubtypeCode": "6"})))
            .await;
    assert_eq!(one.ok()["data"], json!([{"code": "6", "value": "Trust"}]));
    cs(&sb, Method::POST, "/specialities", Some(json!({"systemOfMedicineCode": "X"}))).await.refused(
        400,
        "systemOfMedicineCode",
        "master-data",
    );
    let subtypes =
        cs(&sb, Method::POST, "/facility-subtypes", Some(json!({"facilityTypeCode": "Hospital"}))).await;
    assert_eq!(subtypes.ok()["type"], "facilitySubType");
}

#[tokio::test]
async fn a_reset_forgets_every_carestack_resource() {
    let sb = TestSandbox::start().await;
    cs(&sb, Method::POST, "/add/Patient", Some(patient("John", &pan(1)))).await;
    sb.post("/_sandbox/reset", json!({})).await.ok();
    assert_eq!(cs(&sb, Method::GET, "/get/Patient", None).await.ok()["totalNumberOfRecords"], 0);
}
