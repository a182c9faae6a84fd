"""Carestack SDK interop check: every service of the published SDK against the sandbox.

Drives each public SDK method that sends HTTP, with fresh data, and checks the
state across calls (create -> find -> update -> find -> delete -> exists false),
at least one refusal per service (an EhrApiError, or the RuntimeError that
AiUtilities raises, whose message names the field), and the ABDM wiring: a
document linked through DocumentLinking appears in GET /_sandbox/links and a
consent raised through Consent delivers its bundle. The three flows the SDK
cannot complete whatever a server answers (Encounter.create and its
generate_fhir_from_*; DocumentLinking.link_health_document; Appointment.update)
are called to show their defect, and the working route is taken after each.

One line per check. Environment: SANDBOX_URL, API_URL (see sandbox_client.py).
Virtual time is moved with POST /_sandbox/clock/advance (AI jobs, consent).
Exit status 1 when any check failed. INTEROP_VARIANT=wrong-demographics links
with a name that is not the patient's (the runner must judge it failing).
"""

import asyncio
import base64
import datetime as dt
import os
import random
import string
import sys
from typing import Any, Awaitable, Callable

import httpx

from sandbox_client import FACILITY_ID, SANDBOX_URL, InteropFailure, begin, config, current, expect, report_failure, show

from carestack.ai.insurance_plan_dto import ExtractInsurancePlanJsonDTO  # noqa: E402
from carestack.ai.ai_service import AiService  # noqa: E402
from carestack.ai.ai_utils import AiUtilities  # noqa: E402
from carestack.appointment.appointment_dto import AppointmentDTO, AppointmentResponse, UpdateAppointmentDTO  # noqa: E402
from carestack.appointment.appointment_service import Appointment  # noqa: E402
from carestack.base.errors import EhrApiError  # noqa: E402
from carestack.common.enums import BundleTypes, ConsentPurpose, HealthInformationTypes, OrganizationsIdType  # noqa: E402
from carestack.consent.consent_dto import (  # noqa: E402
    BundleRequestDTO, ConsentRequestDTO, FindPatientDTO, GetConsentRequestDTO,
)
from carestack.consent.consent_service import Consent  # noqa: E402
from carestack.encounter.document_linking.document_linking import DocumentLinking  # noqa: E402
from carestack.encounter.document_linking.dto.health_document_linking_dto import HealthDocumentLinkingDTO  # noqa: E402
from carestack.encounter.document_linking.dto.health_information_dto import HealthInformationDTO  # noqa: E402
from carestack.encounter.dto.encounter_dto import DoctorDetails, EncounterRequestDTO, PatientDetails  # noqa: E402
from carestack.encounter.encounter_service import Encounter  # noqa: E402
from carestack.fhir.fhir_service import FhirService  # noqa: E402
from carestack.lookup.lookup_service import LookupService  # noqa: E402
from carestack.organization.organization_dto import (  # noqa: E402
    OrganizationSubTypeRequest, OrganizationTypeRequest, OwnershipSubTypeRequest, SearchOrganizationDTO,
    SpecialitiesRequest, UpdateOrganizationDTO,
)
from carestack.organization.organization_service import Organization  # noqa: E402
from carestack.patient.patient_service import Patient  # noqa: E402
from carestack.practitioner.practitioner_service import Practitioner  # noqa: E402

ASHA = {"address": "asha.verma@sbx", "abha": "91-2345-6789-0129", "name": "Asha Verma"}
RAVI = {"address": "ravi.kumar@sbx", "name": "Ravi Kumar Singh"}
MEENA = {"address": "meena.iyer@sbx", "abha": "91-4567-8901-2345", "name": "Meena Iyer"}
FAILED: list[str] = []
state: dict[str, Any] = {}


def letters(n: int) -> str:
    return "".join(random.choice(string.ascii_letters) for _ in range(n))


def digits(n: int) -> str:
    return "".join(random.choice(string.digits) for _ in range(n))


def note(service: str, method: str, detail: str) -> None:
    print(f"ok   {service}.{method}: {detail}", flush=True)


async def refused(service: str, method: str, call: Awaitable[Any], field: str, kinds: tuple = (EhrApiError,)) -> str:
    """The call must raise one of `kinds` whose text names `field`."""
    try:
        got = await call
    except kinds as e:  # noqa: PERF203
        text = str(e)
        expect(field in text, f"{service}.{method} refused without naming {field!r}: {text}")
        note(service, method, f"refused, naming {field}: {text[:110]}")
        return text
    raise InteropFailure(f"{service}.{method} was not refused: {show(got)[:200]}")


async def defect(service: str, method: str, call: Awaitable[Any], marker: str) -> str:
    """A method the SDK cannot complete whatever the server answers: it fails with its own defect."""
    try:
        got = await call
    except Exception as e:  # noqa: BLE001  (the SDK wraps its defect in various types)
        text = str(e)
        expect(marker in text, f"{service}.{method} failed otherwise than by its known defect: {text}")
        note(service, method, f"fails in the SDK itself, as documented: {text[:100]}")
        return text
    raise InteropFailure(f"{service}.{method} completed: {show(got)[:200]}")


async def sandbox(method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10.0) as c:
        r = await c.request(method, f"{SANDBOX_URL}{path}", json=body)
    expect(r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}")
    return r.json()


async def advance(seconds: float) -> None:
    await sandbox("POST", "/_sandbox/clock/advance", {"seconds": seconds})


def data_url(text: str) -> str:
    return "data:text/plain;base64," + base64.b64encode(text.encode()).decode()


CASE_SHEET = data_url(
    "Patient name: Asha Verma\nChief complaints: Fever; cough for three days\nDiagnosis: Pneumonia\n"
    "Medications: Amoxicillin 500 mg thrice daily; Paracetamol 650 mg when needed\n"
    "Advice: Rest and fluids\nFollow up: Review after one week\n"
)
RADIOLOGY_SHEET = data_url("Modality: XR\nRegion: Chest 2 views\nFindings: Right lower lobe consolidation\nImpression: Pneumonia\n")


def person(first: str, last: str, **extra: Any) -> dict[str, Any]:
    return {"firstName": first, "middleName": None, "lastName": last, "birthDate": "1985-03-02", "gender": "male",
            "mobileNumber": "+919876500001", "emailId": None, "address": "7 Residency Road, Bengaluru",
            "pincode": "560025", "state": "Karnataka", **extra}


def new_patient(first: str, last: str, **extra: Any) -> dict[str, Any]:
    p = {"idNumber": letters(5).upper() + digits(4) + "Z", "idType": "pan", "abhaAddress": None, "patientType": "new",
         "resourceType": "Patient", **person(first, last)}
    p.update(extra)
    return p


def new_practitioner(first: str, last: str) -> dict[str, Any]:
    return {"registrationId": "KMC-" + digits(6), "department": "cardiology", "designation": "Consultant",
            "status": "Active", "joiningDate": "2020-01-01", "staffType": "Doctor", "resourceType": "Practitioner",
            **person(first, last, gender="female")}


async def patients() -> None:
    svc = Patient(config())
    first, last = "Inter" + letters(4).lower(), "Opal"
    created = await svc.create(new_patient(first, last))
    pid = created.resource_id
    expect(isinstance(pid, str) and len(pid) == 36, f"resourceId {pid!r}")
    note("Patient", "create", f"resourceId={pid}")
    seen, page = [], None
    while True:
        got = await svc.find_all(page)
        seen += [p["resourceId"] for p in got.request_resource]
        page = got.next_page_link
        if not page:
            break
    expect(pid in seen, "find_all (every page) lists the created patient")
    note("Patient", "find_all", f"{len(seen)} patients over the pages, the new one among them")
    found = await svc.find_by_id(pid)
    expect(found.message == "Patient Found !!!" and found.request_resource["firstName"] == first, show(found.model_dump()))
    note("Patient", "find_by_id", f"message={found.message!r} firstName={first}")
    expect(await svc.exists(pid) is True, "exists is true")
    note("Patient", "exists", "true")
    email = f"{first.lower()}@example.com"
    await svc.update({"resourceId": pid, "emailId": email, "mobileNumber": "+919876500002", "resourceType": "Patient"})
    after = (await svc.find_by_id(pid)).request_resource
    expect(after["emailId"] == email and after["mobileNumber"] == "+919876500002", show(after))
    note("Patient", "update", f"then find_by_id shows emailId={email}")
    hits = await svc.find_by_filters({"firstName": first, "state": "Karnataka", "count": 5})
    expect([e["resource"]["id"] for e in hits.entry] == [pid], show(hits.model_dump())[:300])
    note("Patient", "find_by_filters", f"total={hits.total}, a FHIR {hits.entry[0]['resource']['resourceType']}")
    await refused("Patient", "create", svc.create(new_patient("Dup", "Licate", idNumber=after["idNumber"])), "idNumber")
    await refused("Patient", "create", svc.create(new_patient("Bad", "Pan", idNumber="12345")), "idNumber")
    gone = (await svc.create(new_patient("Gone" + letters(3).lower(), "Soon"))).resource_id
    await svc.delete(gone)
    expect(await svc.exists(gone) is False, "exists is false after delete")
    note("Patient", "delete", "then exists is false")
    state["patient"] = pid
    await svc.close()


async def practitioners() -> None:
    svc = Practitioner(config())
    first = "Doc" + letters(4).lower()
    pid = (await svc.create(new_practitioner(first, "Rao"))).resource_id
    note("Practitioner", "create", f"resourceId={pid}")
    ids = [p["resourceId"] for p in (await svc.find_all()).request_resource]
    page = (await svc.find_all()).next_page_link
    while page:
        got = await svc.find_all(page)
        ids += [p["resourceId"] for p in got.request_resource]
        page = got.next_page_link
    expect(pid in ids, "find_all lists it")
    note("Practitioner", "find_all", f"{len(ids)} practitioners")
    found = await svc.find_by_id(pid)
    expect(found.message == "Practitioner Found !!!", found.message)
    note("Practitioner", "find_by_id", f"message={found.message!r}")
    expect(await svc.exists(pid), "exists")
    note("Practitioner", "exists", "true")
    body = {**found.request_resource, "designation": "Senior Consultant"}
    await svc.update({k: body.get(k) for k in new_practitioner("a", "b")} | {"resourceId": pid})
    expect((await svc.find_by_id(pid)).request_resource["designation"] == "Senior Consultant", "designation updated")
    note("Practitioner", "update", "then find_by_id shows designation=Senior Consultant")
    hits = await svc.find_by_filters({"firstName": first, "count": 10})
    expect(len(hits.entry) == 1 and hits.entry[0]["resource"]["resourceType"] == "Practitioner", show(hits.model_dump())[:300])
    note("Practitioner", "find_by_filters", f"total={hits.total}")
    bad = new_practitioner("Late", "Date") | {"joiningDate": "01-01-2020"}
    await refused("Practitioner", "create", svc.create(bad), "joiningDate")
    gone = (await svc.create(new_practitioner("Gone", "Doc"))).resource_id
    await svc.delete(gone)
    expect(await svc.exists(gone) is False, "exists false after delete")
    note("Practitioner", "delete", "then exists is false")
    state["practitioner"] = pid
    await svc.close()


def facility(name: str, account: str, district: str = "Bengaluru Urban") -> dict[str, Any]:
    doc = {"value": "aGVsbG8=", "name": "photo.jpg"}
    return {
        "basicInformation": {"facilityName": name, "region": "South", "addressLine1": "12 Hosur Road",
                             "addressLine2": "Koramangala", "district": district, "subDistrict": "Bengaluru South",
                             "city": "Bengaluru", "state": "Karnataka", "country": "India", "pincode": "560034",
                             "latLongs": ["12.93, 77.62"]},
        "contactInformation": {"mobileNumber": "+919876543210", "email": "desk@example.com", "landline": "25500000",
                               "stdcode": "080", "websiteLink": "https://example.com"},
        "uploadDocuments": {"boardPhoto": doc, "buildingPhoto": doc},
        "addAddressProof": [{"addressProofType": "Electricity Bill", "addressProofAttachment": doc}],
        "facilityTimings": [{"timings": "Mon-Sat", "shifts": [{"start": "09:00", "end": "17:00"}]}],
        "facilityDetails": {"ownershipType": "Private", "ownershipSubType": "Individual", "status": "Active"},
        "systemOfMedicine": {"specialities": [{"systemofMedicineCode": "M", "specialities": ["Cardiology"]}],
                             "facilityType": "Hospital", "facilitySubType": "Multi Speciality", "serviceType": "IPD/OPD"},
        "facilityInventory": {"totalNumberOfVentilators": 4, "totalNumberOfBeds": 50, "hasDialysisCenter": "No",
                              "hasPharmacy": "Yes", "hasBloodBank": "No", "hasCathLab": "No", "hasDiagnosticLab": "Yes",
                              "hasImagingCenter": "Yes", "servicesByImagingCenter": [{"service": "MRI", "count": 1}],
                              "nhrrid": "", "nin": "", "abpmjayid": "", "rohiniId": "", "echsId": "", "cghsId": "",
                              "ceaRegistration": "", "stateInsuranceSchemeId": ""},
        "accountId": account,
    }


async def organizations() -> None:
    svc = Organization(config())
    types = (await svc.get_master_types()).master_types
    note("Organization", "get_master_types", f"{len(types)} types, e.g. {types[0].type}")
    owners = await svc.get_master_data("OWNERSHIP")
    note("Organization", "get_master_data", f"OWNERSHIP: {[d.code for d in owners.data]}")
    states = (await svc.get_lgd_states()).root
    ka = next(s for s in states if s.code == "29")
    expect(any(d.code == "525" for d in ka.districts), "Karnataka has Bengaluru Urban (525)")
    note("Organization", "get_lgd_states", f"{len(states)} states; {ka.name} has {len(ka.districts)} districts")
    subs = (await svc.get_lgd_sub_districts("525")).root
    note("Organization", "get_lgd_sub_districts", f"525: {[s.name for s in subs][:3]}")
    loc = await svc.get_location("Koramangala, Bengaluru Urban")
    note("Organization", "get_location", f"lat={loc.lat} lng={loc.lng}")
    kinds = await svc.get_organization_type(OrganizationTypeRequest(ownershipCode="P", systemOfMedicineCode="M"))
    note("Organization", "get_organization_type", f"{[d.value for d in kinds.data][:3]}")
    subtypes = await svc.get_owner_subtypes(OwnershipSubTypeRequest(ownershipCode="P"))
    note("Organization", "get_owner_subtypes", f"{[d.value for d in subtypes.data][:3]}")
    specs = await svc.get_specialities(SpecialitiesRequest(systemOfMedicineCode="M"))
    note("Organization", "get_specialities", f"{len(specs.data)} for M")
    fsub = await svc.get_organization_subtypes(OrganizationSubTypeRequest(facilityTypeCode="1"))
    note("Organization", "get_organization_subtypes", f"{[d.value for d in fsub.data][:3]}")
    name, account = "Interop Care " + letters(5), "acct-" + digits(6)
    text = await svc.create(facility(name, account))
    fid = text.rsplit(" ", 1)[-1]
    expect(text.startswith("organization created successfully") and fid.startswith("IN29"), text)
    note("Organization", "create", text)
    listed = await svc.find_all()
    note("Organization", "find_all", f"totalNumberOfRecords={listed.total_number_of_records}")
    found = await svc.find_by_id(OrganizationsIdType.ORGANIZATION_ID, fid)
    expect(found.message == "Facility Found !!!" and found.data[0]["facilityId"] == fid, show(found.model_dump())[:200])
    note("Organization", "find_by_id", f"message={found.message!r}")
    expect(await svc.exists(OrganizationsIdType.ORGANIZATION_ID, fid) is True, "exists by facility id")
    expect(await svc.exists(OrganizationsIdType.ACCOUNT_ID, account) is True, "exists by account")
    note("Organization", "exists", "true by facilityId and by accountId")
    hits = await svc.search(SearchOrganizationDTO(facilityName=name, stateLGDCode="29", page=1, resultsPerPage=10))
    expect(hits.total_organizations == 1 and hits.organizations[0].district_lgd_code == "525", show(hits.model_dump())[:300])
    note("Organization", "search", f"1 facility, district {hits.organizations[0].district_name}")
    msg = await svc.update(UpdateOrganizationDTO(spocName="Dr Rao", id=fid, spocId="rao@hpr.abdm"))
    expect((await svc.find_by_id(OrganizationsIdType.ORGANIZATION_ID, fid)).data[0]["spocName"] == "Dr Rao", "spoc set")
    note("Organization", "update", f"{msg!r}, then find_by_id shows spocName")
    await refused("Organization", "create", svc.create(facility(name + "x", account, "Lucknow")), "basicInformation.district")
    await svc.delete(fid)
    expect(await svc.exists(OrganizationsIdType.ORGANIZATION_ID, fid) is False, "exists false after delete")
    note("Organization", "delete", "then exists is false")
    await svc.close()


def when(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(minutes=minutes)


async def appointments() -> None:
    svc = Appointment(config())
    p, pr = state["patient"], state["practitioner"]
    made = await svc.create(AppointmentDTO(practitionerReference=pr, patientReference=p, start=when(-90), end=when(-60), slot="A-1"))
    ref = made.resource.appointment_reference
    note("Appointment", "create", f"reference={ref} priority={made.resource.priority}")
    refs, page = [], None
    while True:
        got = await svc.find_all(page)
        refs += [a.appointment_reference for a in got.request_resource or []]
        page = got.next_page
        if not page:
            break
    expect(ref in refs, "find_all lists it")
    note("Appointment", "find_all", f"{len(refs)} appointments")
    found = await svc.find_by_id(ref)
    expect(found.message == "Appointment Found !!!" and found.request_resource.slot == "A-1", found.message)
    note("Appointment", "find_by_id", f"message={found.message!r}")
    expect(await svc.exists(ref), "exists")
    note("Appointment", "exists", "true")
    await refused("Appointment", "update", svc.update(UpdateAppointmentDTO(slot="B-7")), "reference")
    await svc.put("/update/Appointment", {"reference": ref, "slot": "B-7"}, AppointmentResponse)
    expect((await svc.find_by_id(ref)).request_resource.slot == "B-7", "slot updated")
    note("Appointment", "update", "the SDK's DTO carries no reference; PUT with it (BaseService.put) changed the slot")
    await refused("Appointment", "create", svc.create(AppointmentDTO(practitionerReference=pr, patientReference="no-such-patient",
                                                                      start=when(0), end=when(30))), "patientReference")
    await svc.delete(ref)
    expect(await svc.exists(ref) is False, "exists false after delete")
    note("Appointment", "delete", "then exists is false")
    await svc.close()


async def lookups() -> None:
    svc = LookupService(config())
    codes = await svc.get_code("diagnosis", "hypertension")
    expect(codes[0].code == "38341003", show([c.model_dump() for c in codes]))
    note("LookupService", "get_code", f"hypertension -> {codes[0].code} {codes[0].text}")
    snomed = await svc.get_snomed_code("fever", "condition")
    note("LookupService", "get_snomed_code", f"fever -> {snomed[0].code}")
    loinc = await svc.get_loinc_code("chest x-ray")
    expect(loinc[0].code == "36643-5", show([c.model_dump() for c in loinc]))
    note("LookupService", "get_loinc_code", f"chest x-ray -> {loinc[0].code}")
    await refused("LookupService", "get_code", svc.get_code("no such tag", "fever"), "semanticTag")
    await svc.close()


async def job_done(ai: AiService, job: dict[str, Any]) -> dict[str, Any]:
    """A job moves QUEUED -> RUNNING -> COMPLETED over virtual time."""
    first = await ai.get_job_status(job["jobId"])
    await advance(1.5)
    second = await ai.get_job_status(job["jobId"])
    await advance(2)
    last = await ai.get_job_status(job["jobId"])
    expect([first["status"], second["status"], last["status"]] == ["QUEUED", "RUNNING", "COMPLETED"],
           f"statuses {first['status']} {second['status']} {last['status']}")
    return last["result"]


def details(doctor: bool = False) -> dict[str, Any]:
    d = {"firstName": "Asha", "middleName": None, "lastName": "Verma", "birthDate": "1990-04-15", "gender": "female",
         "mobileNumber": "+919876543210", "emailId": None, "address": "12 MG Road, Bengaluru", "pincode": "560001",
         "state": "Karnataka", "wantsToLinkWhatsapp": None, "photo": None, "idNumber": ASHA["abha"], "idType": "ABHA",
         "abhaAddress": ASHA["address"], "resourceId": None}
    if doctor:
        d = {**d, "firstName": "Kavita", "lastName": "Rao", "designation": "Consultant", "joiningDate": None,
             "department": "general medicine", "registrationId": "KMC-12345", "hprId": None}
        for k in ("idNumber", "idType", "abhaAddress"):
            d.pop(k)
    return d


async def ai_services() -> None:
    util, ai = AiUtilities(config()), AiService(config())
    payload = {"files": [CASE_SHEET], "note": "round trip"}
    sealed = await util.encryption(payload)
    expect(isinstance(sealed, str) and sealed.count(".") == 4, sealed[:40])
    note("AiUtilities", "encryption", f"a JWE of {len(sealed)} characters")
    expect(await util.decryption(sealed) == payload, "decrypt(encrypt(x)) == x")
    note("AiUtilities", "decryption", "decrypt(encrypt(x)) == x")
    await util.validate_files([CASE_SHEET, "scan.pdf"])
    note("AiUtilities", "validate_files", "a data URL and a .pdf link pass (local)")
    await refused("AiUtilities", "decryption", util.decryption("not-a-jwe"), "payload.data", (RuntimeError,))
    job = await ai.generate_discharge_summary({"files": [CASE_SHEET]})
    result = await job_done(ai, job)
    expect(result["dischargeSummary"]["diagnosis"] == "Pneumonia", show(result["dischargeSummary"]))
    note("AiService", "generate_discharge_summary", f"job QUEUED->RUNNING->COMPLETED: {result['dischargeSummary']['summary'][:60]}")
    note("AiService", "get_job_status", "polled three times over virtual time")
    prev = await ai.get_preview_pdf(job["recordId"])
    expect(prev["mimeType"] == "application/pdf", show(prev)[:100])
    pdf = await ai.download_pdf_bytes(job["recordId"])
    expect(pdf.startswith(b"%PDF") and b"Pneumonia" in pdf, "a PDF naming the diagnosis")
    note("AiService", "get_preview_pdf", prev["fileName"])
    note("AiService", "download_pdf_bytes", f"{len(pdf)} bytes of PDF")
    op = await job_done(ai, await ai.generate_op_consultation_summary({"files": [CASE_SHEET]}))
    note("AiService", "generate_op_consultation_summary", f"caseType={op['dischargeSummary']['caseType']}")
    rx = await job_done(ai, await ai.generate_case_summary({"files": [CASE_SHEET]}, "Prescription"))
    note("AiService", "generate_case_summary", f"Prescription, medications={rx['dischargeSummary']['medications'][:1]}")
    rad = await job_done(ai, await ai.generate_radiology_summary({"files": [RADIOLOGY_SHEET]}))
    expect(rad["radiologyReport"]["code"]["code"] == "36643-5", show(rad["radiologyReport"]))
    note("AiService", "generate_radiology_summary", f"impression={rad['radiologyReport']['impression']}")
    encounter = "enc-" + digits(6)
    for sheet in (CASE_SHEET, data_url("Investigations: Chest X-ray; CBC\n")):
        up = await ai.partial_upload_for_discharge_summary({"files": [sheet], "encounterId": encounter})
        expect(up["status"] == "uploaded", show(up))
    note("AiService", "partial_upload_for_discharge_summary", f"two uploads for {encounter}")
    trig = await ai.trigger_discharge_summary(encounter)
    merged = await job_done(ai, trig)
    expect("CBC" in merged["dischargeSummary"]["investigations"], show(merged["dischargeSummary"]))
    note("AiService", "trigger_discharge_summary", "a job over both uploads")
    plan = await job_done(ai, await ai.generate_careplan({"files": [CASE_SHEET]}))
    note("AiService", "generate_careplan", f"goals={plan['carePlan']['goals']}")
    bundle = await ai.generate_fhir_bundle({"caseType": "OPConsultation", "enableExtraction": False, "documentReferences": [],
                                            "patientDetails": details(), "doctorsDetails": [details(True)]})
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    expect(kinds[:3] == ["Composition", "Patient", "Practitioner"], show(kinds))
    state["document"] = bundle
    extracted = await ai.generate_fhir_bundle({"caseType": "DischargeSummary", "enableExtraction": True, "documentReferences": [],
                                               "recordId": job["recordId"], "extractedData": {"followUp": ["Review in a week"]}})
    note("AiService", "generate_fhir_bundle", f"{kinds[:3]}; with extraction {len(extracted['entry'])} entries")
    failed = await ai.generate_discharge_summary({"files": ["file123.pdf"]})
    await advance(3.5)
    status = await ai.get_job_status(failed["jobId"])
    expect(status["status"] == "FAILED" and "file123.pdf" in status["error"], show(status))
    note("AiService", "get_job_status", "a case sheet given as a link: FAILED, naming it")
    await refused("AiService", "get_job_status", ai.get_job_status("no-such-job"), "jobId")
    await refused("AiService", "generate_fhir_bundle", ai.generate_fhir_bundle(
        {"caseType": "Nonsense", "enableExtraction": True, "documentReferences": [], "extractedData": {"a": "b"}}), "caseType")
    plan_text = ("Plan name: Interop Secure\nPlan type: Family Floater\nInsurer: Sandbox General\n"
                 "Period: 2025-01-01 to 2025-12-31\nSum insured: 500000 INR\nCoverage: Hospitalisation\n- Room rent: 5000 INR per day\n")
    profile = await ai.extract_insurance_plan_bundle_json(
        ExtractInsurancePlanJsonDTO(base64Data=base64.b64encode(plan_text.encode()).decode()))
    expect(profile.insurance_plan.insurance_plan_name == "Interop Secure", show(profile.model_dump())[:200])
    note("AiService", "extract_insurance_plan_bundle_json", profile.insurance_plan.insurance_plan_name)
    made = await ai.generate_insurance_plan_bundle(profile)
    expect(made.validation["valid"] is True and made.bundle["entry"][0]["resource"]["resourceType"] == "InsurancePlan", "bundle")
    note("AiService", "generate_insurance_plan_bundle", "an InsurancePlan bundle, valid")
    sheet = {"fileName": "visit.txt", "data": base64.b64encode(b"Diagnosis: Hypertension\n").decode(), "mimeType": "text/plain"}
    docs = await FhirService(config()).create_bundles([{"file": sheet, "patient": details(), "practitioners": [details(True)]}])
    expect(docs.documents[0].type == "OPConsultation", show(docs.model_dump())[:200])
    note("FhirService", "create_bundles", f"type={docs.documents[0].type}")
    await refused("FhirService", "create_bundles", FhirService(config()).create_bundles(
        [{"file": {**sheet, "data": "%%%"}, "patient": details(), "practitioners": [details(True)]}]), "files[0].file.data")
    await util.close()
    await ai.close()


def linking_dto(who: dict[str, str], appointment: str, patient: str, practitioner: str, times: tuple, records: list) -> HealthDocumentLinkingDTO:
    start, end = (t.isoformat().replace("+00:00", "Z") for t in times)
    return HealthDocumentLinkingDTO(
        patientReference=patient, practitionerReference=practitioner, patientAddress="7 Marine Drive, Kochi",
        patientName=who["name"], appointmentStartDate=start, appointmentEndDate=end, organizationId=FACILITY_ID,
        reference=appointment, patientAbhaAddress=who["address"], hiType=HealthInformationTypes.OPCONSULTATION,
        mobileNumber="+919898989898", healthRecords=records)


async def walk() -> None:
    """The documented walk, as scenarios/carestack-ehr.yaml has it: patient, practitioner,
    organization, appointment; link a document; request consent (Meena waits to be asked: the
    control API grants) and get the linked document's bundle under it."""
    pat, prac, org, appt = Patient(config()), Practitioner(config()), Organization(config()), Appointment(config())
    dl, con = DocumentLinking(config()), Consent(config())
    for e in (await pat.find_by_filters({"identifier": MEENA["address"]})).entry:
        await pat.delete(e["resource"]["id"])
    patient = (await pat.create(new_patient("Meena", "Iyer", idType="ABHA", idNumber=MEENA["abha"], abhaAddress=MEENA["address"],
                                            birthDate="1972-06-01", gender="female", state="Kerala"))).resource_id
    expect((await pat.find_by_id(patient)).request_resource["abhaAddress"] == MEENA["address"], "found again")
    practitioner = (await prac.create(new_practitioner("Kavita", "Rao"))).resource_id
    fid = (await org.create(facility("Walk Clinic " + letters(5), "acct-" + digits(6)))).rsplit(" ", 1)[-1]
    times = (when(-45), when(-15))
    ref = (await appt.create(AppointmentDTO(practitionerReference=practitioner, patientReference=patient, start=times[0],
                                            end=times[1]))).resource.appointment_reference
    note("walk", "setup", f"patient {patient}, practitioner {practitioner}, facility {fid}, appointment {ref}")
    records = [HealthInformationDTO(rawFhir=True, fhirDocument=state["document"], informationType=HealthInformationTypes.OPCONSULTATION)]
    linker = {**MEENA, "name": "Meena Iyengar"} if os.environ.get("INTEROP_VARIANT") == "wrong-demographics" else MEENA
    dto = linking_dto(linker, ref, patient, practitioner, times, records)
    local = await dl.create_care_context(dto)
    note("DocumentLinking", "create_care_context", f"local, appointmentDate={local.appointment_date!r}")
    cc = await dl.send_care_context_request(local)
    expect("MOBILE_OTP" in [m.value for m in cc.auth_modes], show(cc.model_dump()))
    otp = await sandbox("GET", f"/_sandbox/outbox?txnId={cc.request_id}")
    expect(otp and otp[-1]["purpose"] == "carestack-link", show(otp))
    note("DocumentLinking", "send_care_context_request", f"careContextReference={cc.care_context_reference}, OTP in the outbox")
    done = await dl.update_visit_records(dto, cc)
    expect(done.success is True, show(done.model_dump()))
    note("DocumentLinking", "update_visit_records", "true: the AI-generated bundle attached")
    context = {"careContextReference": cc.care_context_reference, "requestId": cc.request_id}
    expect(await dl.link_care_context(dto, context) is False, "link_care_context returns False on success ({} is all its bool model takes)")
    links = await sandbox("GET", f"/_sandbox/links?abhaAddress={MEENA['address']}")
    at = [c for h in links["links"] if h["hipId"] == FACILITY_ID for c in h["careContexts"]]
    expect(cc.care_context_reference in at, show(links))
    note("DocumentLinking", "link_care_context", "linked: GET /_sandbox/links lists it at the facility")
    name = await con.find_patient(FindPatientDTO(patientId=MEENA["address"], isHIU=True))
    expect(name == MEENA["name"], repr(name))
    note("Consent", "find_patient", repr(name))
    cid = (await con.raise_consent_request(ask(MEENA)))["resourceId"]
    note("Consent", "raise_consent_request", f"resourceId={cid}")
    await sandbox("POST", f"/_sandbox/consent-requests/{cid}/grant")
    got = (await con.get_consent(GetConsentRequestDTO(consentId=cid)))["requestResource"][0]
    expect(got["status"] == "GRANTED" and cc.care_context_reference in got["careContextReferences"], show(got)[:300])
    note("Consent", "get_consent", f"GRANTED (asked through the control API) over {got['careContextReferences']}")
    bundles = await con.get_bundle(BundleRequestDTO(careContexts=[cc.care_context_reference],
                                                    healthInformationTypes=[HealthInformationTypes.OPCONSULTATION]))
    expect([b["id"] for b in bundles["requestResource"]] == [state["document"]["id"]], show(bundles)[:300])
    note("Consent", "get_bundle", "the linked document's bundle, under the granted consent")
    again = dl.link_care_context(dto, context)
    await refused("DocumentLinking", "link_care_context", again, "careContextReference")
    nobody = linking_dto(MEENA, ref, state["patient"], practitioner, times, records)
    await refused("DocumentLinking", "send_care_context_request", dl.send_care_context_request(await dl.create_care_context(nobody)),
                  "appointmentReference")
    ref2 = (await appt.create(AppointmentDTO(practitionerReference=practitioner, patientReference=patient, start=times[0],
                                             end=times[1]))).resource.appointment_reference
    text = await defect("DocumentLinking", "link_health_document", dl.link_health_document(
        linking_dto(MEENA, ref2, patient, practitioner, times, records)), "not subscriptable")
    expect("care_context_created=True" in text and "visit_records_updated=True" in text, text)
    state.update(care_context=cc.care_context_reference, bundle_id=state["document"]["id"])
    for s in (pat, prac, org, appt, dl, con):
        await s.close()


async def encounters() -> None:
    enc = Encounter(config())
    page = await enc.find_all(BundleTypes.OPConsultation, page_size=2)
    expect(page["total"] >= 3 and len(page["entry"]) == 2 and page["link"]["nextPage"], show(page)[:200])
    more = await enc.find_all(BundleTypes.OPConsultation, page_size=2, next_page=page["link"]["nextPage"])
    note("Encounter", "find_all", f"total={page['total']} OPConsultation bundles, two pages walked ({len(more['entry'])} more)")
    bid = state["bundle_id"]
    full = await enc.find_by_id(bid, True)
    expect(full["requestResource"]["entry"][0]["resource"]["resourceType"] == "Composition", show(full)[:200])
    summary = await enc.find_by_id(bid, False, BundleTypes.OPConsultation)
    note("Encounter", "find_by_id", f"the linked document: Composition first; summary sections {list(summary['requestResource']['sections'])[:2]}")
    expect(await enc.exists(bid) is True and await enc.exists("no-such-bundle") is False, "exists")
    note("Encounter", "exists", "true for it, false for an unknown id")
    expect(isinstance(enc.document_linking(), DocumentLinking), "document_linking")
    note("Encounter", "document_linking", "a DocumentLinking (local)")
    sealed = await AiUtilities(config()).encryption({"files": [CASE_SHEET]})
    ds = await enc.generate_discharge_summary("DischargeSummary", sealed)
    expect(ds.discharge_summary["diagnosis"] == "Pneumonia", show(ds.model_dump())[:200])
    note("Encounter", "generate_discharge_summary", "at once, from the case sheet")
    request = EncounterRequestDTO(caseType="OPConsultation", enableExtraction=False, patientDetails=details(),
                                  doctorsDetails=[details(True)], documentReferences=[],
                                  dto={"payload": {"chiefComplaints": "Fever", "physicalExamination": "Temp 101F"}})
    await defect("Encounter", "create", enc.create(request), "string indices")
    await defect("Encounter", "generate_fhir_from_sections", enc.generate_fhir_from_sections(
        "OPConsultation", False, {"chiefComplaints": "Fever"}, [], None, PatientDetails(**details()),
        [DoctorDetails(**details(True))]), "string indices")
    await defect("Encounter", "generate_fhir_from_files", enc.generate_fhir_from_files(
        "OPConsultation", False, [CASE_SHEET], [], None, PatientDetails(**details()),
        [DoctorDetails(**details(True))]), "no attribute 'get'")
    await refused("Encounter", "get (BaseService)", enc.get("/health-lake/get-profiles/Bundle/NotAType"), "bundleType")
    await enc.close()


def ask(who: dict[str, str]) -> ConsentRequestDTO:
    now = dt.datetime.now(dt.timezone.utc)
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"  # noqa: E731
    return ConsentRequestDTO(patientAbhaId=who["address"], patientName=who["name"], requestPurpose=ConsentPurpose.CARE_MANAGEMENT,
                             dateFrom="2015-01-01T00:00:00.000Z", dateTo=stamp(now), eraseDate=stamp(now + dt.timedelta(days=30)),
                             healthInformationTypes=[HealthInformationTypes.OPCONSULTATION])


async def consents() -> None:
    """The scripted patients who decide alone: Asha grants, Ravi denies, two seconds of
    virtual time after the request."""
    svc = Consent(config())
    granted = (await svc.raise_consent_request(ask(ASHA)))["resourceId"]
    denied = (await svc.raise_consent_request(ask(RAVI)))["resourceId"]
    first = (await svc.get_consent(GetConsentRequestDTO(consentId=granted)))["requestResource"][0]["status"]
    expect(first == "REQUESTED", first)
    await advance(3)
    for _ in range(50):
        statuses = [(await svc.get_consent(GetConsentRequestDTO(consentId=c)))["requestResource"][0] for c in (granted, denied)]
        if all(s["status"] != "REQUESTED" for s in statuses):
            break
        await asyncio.sleep(0.1)
    expect([s["status"] for s in statuses] == ["GRANTED", "DENIED"], show(statuses)[:300])
    note("Consent", "get_consent", f"Asha's REQUESTED, then GRANTED over {statuses[0]['careContextReferences']}; Ravi's DENIED")
    fixture = await svc.get_bundle(BundleRequestDTO(careContexts=["CLN-1001-OP-2021"],
                                                    healthInformationTypes=[HealthInformationTypes.OPCONSULTATION]))
    expect(fixture["totalNumberOfRecords"] == 1, show(fixture)[:200])
    note("Consent", "get_bundle", "a fixture HIP's record under Asha's grant")
    await refused("Consent", "find_patient", svc.find_patient(FindPatientDTO(patientId="nobody.here@sbx", isHIU=True)), "patientId")
    await refused("Consent", "raise_consent_request", svc.raise_consent_request(ask({**ASHA, "name": "Someone Else"})), "patientName")
    await svc.close()


FLOWS: list[tuple[str, Callable[[], Awaitable[None]]]] = [
    ("patients", patients), ("practitioners", practitioners), ("organizations", organizations),
    ("appointments", appointments), ("lookups", lookups), ("ai", ai_services),
    ("the documented walk", walk), ("encounters", encounters), ("consent", consents),
]


async def main() -> int:
    begin("EHR")
    for name, flow in FLOWS:
        current.flow, current.step, current.payload = name, "", None
        try:
            await asyncio.wait_for(flow(), timeout=60)
        except Exception as exc:  # noqa: BLE001  (every failure is reported)
            FAILED.append(name)
            print(f"FAIL {name}", flush=True)
            report_failure(exc)
    print(f"carestack EHR interop: {len(FLOWS) - len(FAILED)} of {len(FLOWS)} services passed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
