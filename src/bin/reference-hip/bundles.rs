//! The HIP's health records: one FHIR document bundle per care context, read from
//! `fixtures/reference-hip-bundles.json` (or `--bundles FILE`), by care-context reference.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde_json::Value;

/// The bundles compiled in.
pub const DEFAULT_BUNDLES: &str = include_str!("../../../fixtures/reference-hip-bundles.json");

/// Each care context's bundle.
#[derive(Debug, Clone, Deserialize)]
pub struct Bundles {
    bundles: HashMap<String, Value>,
}

impl Bundles {
    /// Reads a bundles file's text: every bundle must be a FHIR document led by a Composition
    /// with a date.
    pub fn parse(text: &str) -> Result<Bundles, String> {
        let bundles: Bundles = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for (reference, b) in &bundles.bundles {
            if b["resourceType"] != "Bundle" || b["type"] != "document" {
                return Err(format!("{reference}: not a FHIR Bundle of type document"));
            }
            if b["entry"][0]["resource"]["resourceType"] != "Composition" {
                return Err(format!("{reference}: the first entry must be a Composition"));
            }
            if bundles.date(reference).is_none() {
                return Err(format!("{reference}: the Composition needs an ISO-8601 date"));
            }
        }
        Ok(bundles)
    }

    /// The bundle of a care context, as the JSON text that is encrypted.
    pub fn text(&self, reference: &str) -> Option<String> {
        self.bundles.get(reference).map(Value::to_string)
    }

    /// When the record was made: its Composition's date.
    pub fn date(&self, reference: &str) -> Option<DateTime<FixedOffset>> {
        let date = self.bundles.get(reference)?["entry"][0]["resource"]["date"].as_str()?;
        DateTime::parse_from_rfc3339(date).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Records, DEFAULT_RECORDS};

    #[test]
    fn every_care_context_of_the_records_has_a_bundle() {
        let bundles = Bundles::parse(DEFAULT_BUNDLES).unwrap();
        let records = Records::parse(DEFAULT_RECORDS).unwrap();
        for c in records.patients.iter().flat_map(|p| &p.care_contexts) {
            let text = bundles.text(&c.reference_number).unwrap_or_else(|| panic!("{}", c.reference_number));
            assert!(text.contains("\"Composition\""), "{}", c.reference_number);
        }
        assert!(Bundles::parse(r#"{"bundles": {"X": {"resourceType": "Patient"}}}"#).is_err());
    }
}
