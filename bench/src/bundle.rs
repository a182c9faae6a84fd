//! The 20 KB FHIR document bundle the Fidelius and data-flow measurements encrypt: Asha Verma's
//! shipped OP consultation (`fixtures/records/cln-1001-op-2021.json`, a Composition first), with
//! vital-sign Observations added until it is 20 KB, as a visit with a day of ward readings is.

use serde_json::{json, Value};

/// The shipped bundle the generated one grows from.
const SHIPPED: &str = include_str!("../../fixtures/records/cln-1001-op-2021.json");
/// The bundle's size at least, in bytes (20 KB).
pub const BYTES: usize = 20 * 1024;
/// Its care-context reference (the shipped record's).
pub const CARE_CONTEXT: &str = "CLN-1001-OP-2021";
/// Its HI type.
pub const HI_TYPE: &str = "OPConsultation";

/// The bundle, compact JSON of at least [`BYTES`] bytes; the same on every call.
pub fn twenty_kb() -> String {
    let mut bundle: Value = serde_json::from_str(SHIPPED).unwrap_or_else(|_| json!({}));
    let patient = bundle["entry"][0]["resource"]["subject"].clone();
    let mut i = 0u32;
    loop {
        let text = serde_json::to_string(&bundle).unwrap_or_default();
        if text.len() >= BYTES {
            return text;
        }
        let Some(entries) = bundle["entry"].as_array_mut() else {
            return text;
        };
        entries.push(observation(i, &patient));
        i += 1;
    }
}

/// Reading `i` of the day: pulse, blood pressure or temperature, LOINC-coded.
fn observation(i: u32, patient: &Value) -> Value {
    let id = format!("0b5e0c3a-7d1f-4c61-9a8e-{:012x}", i);
    let (code, display, value, unit) = match i % 3 {
        0 => ("8867-4", "Heart rate", 72 + (i % 9) as i64, "/min"),
        1 => ("8480-6", "Systolic blood pressure", 118 + (i % 7) as i64, "mm[Hg]"),
        _ => ("8310-5", "Body temperature", 36 + (i % 2) as i64, "Cel"),
    };
    json!({
        "fullUrl": format!("urn:uuid:{id}"),
        "resource": {
            "resourceType": "Observation",
            "id": id,
            "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs", "display": "Vital Signs"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}], "text": display},
            "subject": patient,
            "effectiveDateTime": format!("2021-06-14T{:02}:{:02}:00+05:30", 8 + i / 6 % 12, i % 6 * 10),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_bundle_of_twenty_kb_with_a_composition_first() {
        let text = twenty_kb();
        assert!(text.len() >= BYTES && text.len() < BYTES + 1024, "{}", text.len());
        assert_eq!(text, twenty_kb());
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((v["resourceType"].as_str(), v["type"].as_str()), (Some("Bundle"), Some("document")));
        assert_eq!(v["entry"][0]["resource"]["resourceType"], "Composition");
        assert_eq!(v["identifier"]["value"], CARE_CONTEXT);
    }
}
