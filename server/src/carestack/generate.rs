//! FHIR document bundles built from what a request gave, as ABDM shares health records: a
//! `Bundle` of type `document` whose first entry is the `Composition` (its type the HI type's
//! SNOMED code, NRCeS profile), then the patient, the practitioners, the encounter, the
//! custodian organization, one resource per item of the clinical sections (conditions,
//! allergies, medications, immunizations, procedures, coded from the terminology table when a
//! term is found there) and the documents referred to. Nothing is invented: a section the
//! request did not give is not there. A deterministic stand-in for the real service's model
//! output.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::lookup;

/// The HI types (and the SDK's `CaseType` spellings of them), with the Composition's SNOMED
/// code, display and NRCeS profile.
const KINDS: [(&str, &str, &str, &str); 7] = [
    ("OPConsultation", "371530004", "Clinical consultation report", "OPConsultRecord"),
    ("Prescription", "440545006", "Prescription record", "PrescriptionRecord"),
    ("DischargeSummary", "373942005", "Discharge summary", "DischargeSummaryRecord"),
    ("DiagnosticReport", "721981007", "Diagnostic studies report", "DiagnosticReportRecord"),
    ("ImmunizationRecord", "41000179103", "Immunization record", "ImmunizationRecord"),
    ("HealthDocumentRecord", "419891008", "Record artifact", "HealthDocumentRecord"),
    ("WellnessRecord", "", "Wellness Record", "WellnessRecord"),
];

/// The HI type a case type names (`Radiology Report` is a diagnostic report, `Health Document
/// Record` the HI type without spaces); `None` when it names none.
pub fn hi_type(case_type: &str) -> Option<&'static str> {
    let compact: String = case_type.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.eq_ignore_ascii_case("RadiologyReport") {
        return Some("DiagnosticReport");
    }
    KINDS.iter().map(|k| k.0).find(|k| k.eq_ignore_ascii_case(&compact))
}

/// What one document is made of.
#[derive(Debug, Default)]
pub struct Document {
    /// The HI type (a [`hi_type`] value).
    pub hi_type: String,
    /// A FHIR `Patient`.
    pub patient: Value,
    /// FHIR `Practitioner`s, the authors.
    pub practitioners: Vec<Value>,
    /// The custodian's facility id and name, when known.
    pub custodian: Option<(String, String)>,
    /// The encounter's start and end, when known.
    pub period: Option<(String, String)>,
    /// The clinical sections, by key (`chiefComplaints`, `prescribedMedications`, ...).
    pub sections: Map<String, Value>,
    /// Documents the record refers to: file names, URLs or data URLs.
    pub attachments: Vec<String>,
    /// When the document was made (ISO 8601).
    pub date: String,
}

fn urn(id: &str) -> String {
    format!("urn:uuid:{id}")
}

/// A resource's id, minted when it has none.
fn with_id(mut r: Value) -> (String, Value) {
    let id = r["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    r["id"] = json!(id);
    (id, r)
}

/// `chiefComplaints` → `Chief complaints`.
pub fn title(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out.replace('_', " ")
}

/// A section's value as lines of text: a string, each item of a list, an object's pairs.
pub fn lines(v: &Value) -> Vec<String> {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => {
            s.split(['\n', ';']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
        }
        Value::Array(items) => items.iter().flat_map(lines).collect(),
        Value::Object(m) => {
            let pairs: Vec<String> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("{}: {}", title(k), lines(v).join(", ")))
                .collect();
            if pairs.is_empty() {
                Vec::new()
            } else {
                vec![pairs.join("; ")]
            }
        }
        other => vec![other.to_string()],
    }
}

/// The resource kind items of a section become, with the terminology tag to code them by.
fn resource_of(key: &str) -> Option<(&'static str, &'static str)> {
    let k = key.to_lowercase();
    let is = |words: &[&str]| words.iter().any(|w| k.contains(w));
    if is(&["allerg"]) {
        Some(("AllergyIntolerance", "allergens"))
    } else if is(&["medication", "prescri", "drug"]) {
        Some(("MedicationRequest", "medication"))
    } else if is(&["immuni", "vaccin"]) {
        Some(("Immunization", "vaccine"))
    } else if is(&["procedure", "surger"]) {
        Some(("Procedure", "procedure"))
    } else if is(&["complaint", "condtion", "condition", "diagnos", "history", "illness", "problem"]) {
        Some(("Condition", "condition"))
    } else {
        None
    }
}

/// A `CodeableConcept` for a term: the table's code when the term is found there well enough.
fn concept(tag: &str, text: &str) -> Value {
    let best = lookup::search(tag, text)
        .into_iter()
        .next()
        .or_else(|| lookup::search("diagnosis", text).into_iter().next());
    match best.filter(|(_, _, s)| *s >= 0.5) {
        Some((code, display, _)) => {
            let system = if code.contains('-') { "http://loinc.org" } else { "http://snomed.info/sct" };
            json!({"coding": [{"system": system, "code": code, "display": display}], "text": text})
        }
        None => json!({"text": text}),
    }
}

/// One resource for an item of a section.
fn item(kind: &str, tag: &str, text: &str, patient: &str, date: &str) -> Value {
    let subject = json!({"reference": urn(patient)});
    let code = concept(tag, text);
    match kind {
        "AllergyIntolerance" => {
            json!({"resourceType": kind, "clinicalStatus": {"text": "active"}, "code": code, "patient": subject, "recordedDate": date})
        }
        "MedicationRequest" => {
            json!({"resourceType": kind, "status": "active", "intent": "order", "medicationCodeableConcept": code,
            "subject": subject, "authoredOn": date, "dosageInstruction": [{"text": text}]})
        }
        "Immunization" => {
            json!({"resourceType": kind, "status": "completed", "vaccineCode": code, "patient": subject, "occurrenceDateTime": date})
        }
        "Procedure" => {
            json!({"resourceType": kind, "status": "completed", "code": code, "subject": subject, "performedDateTime": date})
        }
        _ => {
            json!({"resourceType": "Condition", "clinicalStatus": {"text": "active"}, "code": code, "subject": subject, "recordedDate": date})
        }
    }
}

/// The narrative of a section.
fn narrative(lines: &[String]) -> Value {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let items: String = lines.iter().map(|l| format!("<li>{}</li>", escape(l))).collect();
    json!({"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><ul>{items}</ul></div>")})
}

/// An attachment as a `DocumentReference`: a data URL carries its data, anything else is a URL
/// or a name.
fn document_reference(reference: &str, patient: &str, date: &str) -> Value {
    let attachment = match reference.strip_prefix("data:").and_then(|r| r.split_once(";base64,")) {
        Some((mime, data)) => json!({"contentType": mime, "data": data}),
        None if reference.contains("://") => json!({"url": reference, "title": reference.rsplit('/').next()}),
        None => json!({"title": reference}),
    };
    json!({"resourceType": "DocumentReference", "status": "current", "type": {"text": "Record artifact"},
        "subject": {"reference": urn(patient)}, "date": date, "content": [{"attachment": attachment}]})
}

/// The document bundle of `d`.
pub fn document(d: &Document) -> Value {
    let hi = KINDS.iter().find(|k| k.0 == d.hi_type).unwrap_or(&KINDS[5]);
    let (patient_id, patient) = with_id(d.patient.clone());
    let mut entries: Vec<(String, Value)> = vec![(patient_id.clone(), patient.clone())];
    let authors: Vec<(String, Value)> = d.practitioners.iter().cloned().map(with_id).collect();
    entries.extend(authors.iter().cloned());
    let author_refs: Vec<Value> = authors
        .iter()
        .map(|(id, p)| json!({"reference": urn(id), "display": p["name"][0]["text"]}))
        .collect();
    let custodian = d.custodian.as_ref().map(|(fid, name)| {
        let (id, org) = with_id(json!({"resourceType": "Organization",
            "identifier": [{"system": "https://facility.ndhm.gov.in", "value": fid}], "name": name}));
        entries.push((id.clone(), org));
        json!({"reference": urn(&id), "display": name})
    });
    let encounter = d.period.as_ref().map(|(start, end)| {
        let class = if d.hi_type == "DischargeSummary" { ("IMP", "inpatient encounter") } else { ("AMB", "ambulatory") };
        let (id, enc) = with_id(json!({"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class.0, "display": class.1},
            "subject": {"reference": urn(&patient_id)}, "period": {"start": start, "end": end},
            "participant": author_refs.iter().map(|a| json!({"individual": a})).collect::<Vec<_>>()}));
        entries.push((id.clone(), enc));
        json!({"reference": urn(&id)})
    });
    let mut sections = Vec::new();
    for (key, value) in &d.sections {
        let text = lines(value);
        if text.is_empty() {
            continue;
        }
        let mut refs = Vec::new();
        if let Some((kind, tag)) = resource_of(key) {
            for t in &text {
                let (id, r) = with_id(item(kind, tag, t, &patient_id, &d.date));
                refs.push(json!({"reference": urn(&id)}));
                entries.push((id, r));
            }
        }
        sections.push(json!({"title": title(key), "text": narrative(&text), "entry": refs}));
    }
    if !d.attachments.is_empty() {
        let mut refs = Vec::new();
        for a in &d.attachments {
            let (id, r) = with_id(document_reference(a, &patient_id, &d.date));
            refs.push(json!({"reference": urn(&id)}));
            entries.push((id, r));
        }
        sections.push(json!({"title": "Document references", "entry": refs}));
    }
    let kind_code = if hi.1.is_empty() {
        json!({"text": hi.2})
    } else {
        json!({"coding": [{"system": "http://snomed.info/sct", "code": hi.1, "display": hi.2}], "text": hi.2})
    };
    let composition_id = Uuid::new_v4().to_string();
    let composition = json!({"resourceType": "Composition", "id": composition_id,
        "meta": {"profile": [format!("https://nrces.in/ndhm/fhir/r4/StructureDefinition/{}", hi.3)]},
        "language": "en-IN", "status": "final", "type": kind_code, "subject": {"reference": urn(&patient_id), "display": patient["name"][0]["text"]},
        "encounter": encounter, "date": d.date, "author": author_refs, "title": hi.2, "custodian": custodian, "section": sections});
    let mut all = vec![json!({"fullUrl": urn(&composition_id), "resource": composition})];
    all.extend(entries.into_iter().map(|(id, r)| json!({"fullUrl": urn(&id), "resource": r})));
    let id = Uuid::new_v4().to_string();
    json!({"resourceType": "Bundle", "id": id,
        "meta": {"lastUpdated": d.date, "profile": ["https://nrces.in/ndhm/fhir/r4/StructureDefinition/DocumentBundle"]},
        "identifier": {"system": "https://sandbox.abdm/carestack/bundles", "value": id},
        "type": "document", "timestamp": d.date, "entry": all})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_carries_what_it_was_given_composition_first() {
        let d = Document {
            hi_type: "OPConsultation".into(),
            patient: json!({"resourceType": "Patient", "name": [{"text": "Asha Verma"}]}),
            practitioners: vec![json!({"resourceType": "Practitioner", "name": [{"text": "Kavita Rao"}]})],
            period: Some(("2025-01-01T10:00:00Z".into(), "2025-01-01T10:30:00Z".into())),
            sections: json!({"chiefComplaints": "Fever; cough", "allergies": ["Penicillin"]})
                .as_object()
                .cloned()
                .unwrap(),
            date: "2025-01-01T10:30:00Z".into(),
            ..Default::default()
        };
        let b = document(&d);
        let kinds: Vec<&str> = b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["resourceType"].as_str().unwrap())
            .collect();
        // Sections come in key order (a JSON object's).
        assert_eq!(
            kinds,
            [
                "Composition",
                "Patient",
                "Practitioner",
                "Encounter",
                "AllergyIntolerance",
                "Condition",
                "Condition"
            ]
        );
        assert_eq!(b["entry"][5]["resource"]["code"]["coding"][0]["code"], "386661006");
        assert_eq!(b["entry"][0]["resource"]["section"][1]["title"], "Chief complaints");
        assert_eq!(hi_type("Radiology Report"), Some("DiagnosticReport"));
        assert_eq!(hi_type("Health Document Record"), Some("HealthDocumentRecord"));
    }
}
