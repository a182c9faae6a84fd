//! The reference HIP's own patient records: a medical record number (MR) and care contexts per
//! patient, read from `fixtures/reference-hip.json` (or `--records FILE`), and which of them are
//! linked to an ABHA address. Discovery finds a patient here the way ABDM's discover description
//! asks: at least one verified identifier matches, and the name, gender and year of birth (± 2)
//! agree.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::gateway::Version;

/// The records compiled in.
pub const DEFAULT_RECORDS: &str = include_str!("../../../fixtures/reference-hip.json");

/// The records file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Records {
    /// The OTP the HIP "sends" a patient who links records.
    pub link_otp: String,
    /// The patients.
    pub patients: Vec<Patient>,
}

/// One patient's record.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// The HIP's medical record number.
    pub mr: String,
    /// Full name.
    pub name: String,
    /// M, F, O or U.
    pub gender: String,
    /// Year of birth.
    pub year_of_birth: u16,
    /// Mobile number (10 digits).
    pub mobile: String,
    /// ABHA number, dashed or not.
    pub abha_number: String,
    /// ABHA addresses.
    pub abha_addresses: Vec<String>,
    /// Care contexts (visits, reports) held for the patient.
    pub care_contexts: Vec<CareContext>,
}

/// One care context.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CareContext {
    /// Its reference number.
    pub reference_number: String,
    /// What the patient sees.
    pub display: String,
    /// Its HI type (OPConsultation, DiagnosticReport, ...).
    pub hi_type: String,
}

/// The digits of an identifier (an ABHA number with or without dashes).
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A name in lower case, words separated by one space.
fn folded(s: &str) -> String {
    s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

impl Records {
    /// Reads and checks a records file's text.
    pub fn parse(text: &str) -> Result<Records, String> {
        let records: Records = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if records.link_otp.len() != 6 || !records.link_otp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("linkOtp {:?}: six digits", records.link_otp));
        }
        Ok(records)
    }
}

/// The records with what is linked, and what discovery found per transaction.
pub struct Book {
    records: Records,
    /// (MR, care-context reference) linked to an ABHA address.
    linked: HashSet<(String, String)>,
}

/// A patient discovery found: its index and what matched (in the version's identifier names).
pub struct Found {
    /// The patient's index in the records.
    pub patient: usize,
    /// The identifiers that matched.
    pub matched_by: Vec<&'static str>,
}

impl Book {
    /// The records, nothing linked.
    pub fn new(records: Records) -> Book {
        Book { records, linked: HashSet::new() }
    }

    /// The OTP sent to a patient linking records.
    pub fn otp(&self) -> &str {
        &self.records.link_otp
    }

    /// The patient at `i`.
    pub fn patient(&self, i: usize) -> &Patient {
        &self.records.patients[i]
    }

    /// The record of an ABHA address, if the HIP holds one.
    pub fn by_address(&self, address: &str) -> Option<&Patient> {
        self.records
            .patients
            .iter()
            .find(|p| p.abha_addresses.iter().any(|a| a.eq_ignore_ascii_case(address)))
    }

    /// The HI type of a care context the HIP holds.
    pub fn hi_type(&self, reference: &str) -> Option<&str> {
        self.records
            .patients
            .iter()
            .flat_map(|p| &p.care_contexts)
            .find(|c| c.reference_number == reference)
            .map(|c| c.hi_type.as_str())
    }

    /// The one patient a discover request's `patient` matches, or why there is none.
    pub fn discover(&self, query: &Value, version: Version) -> Result<Found, String> {
        let mut identifiers: Vec<(String, String)> = query["verifiedIdentifiers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["type"].as_str().unwrap_or_default().to_string(),
                    i["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        // The address the consent manager verified is the patient's id.
        if let Some(id) = query["id"].as_str() {
            identifiers.push(("ABHA_ADDRESS".into(), id.to_string()));
        }
        let (number, address) = match version {
            Version::V05 => ("NDHM_HEALTH_NUMBER", "HEALTH_ID"),
            Version::V3 => ("ABHA_NUMBER", "ABHA_ADDRESS"),
        };
        let name = folded(query["name"].as_str().unwrap_or_default());
        let gender = query["gender"].as_str().unwrap_or_default();
        let year = query["yearOfBirth"].as_u64();
        let mut found = Vec::new();
        for (i, p) in self.records.patients.iter().enumerate() {
            let mut matched = Vec::new();
            for (kind, value) in &identifiers {
                let hit = match kind.as_str() {
                    "MOBILE" => (*value == p.mobile).then_some("MOBILE"),
                    "NDHM_HEALTH_NUMBER" | "HEALTH_NUMBER" | "ABHA_NUMBER" => {
                        (!value.is_empty() && digits(value) == digits(&p.abha_number)).then_some(number)
                    }
                    "HEALTH_ID" | "ABHA_ADDRESS" => {
                        p.abha_addresses.iter().any(|a| a.eq_ignore_ascii_case(value)).then_some(address)
                    }
                    "MR" => (*value == p.mr).then_some("MR"),
                    _ => None,
                };
                if let Some(h) = hit.filter(|h| !matched.contains(h)) {
                    matched.push(h);
                }
            }
            let agrees = folded(&p.name) == name
                && p.gender == gender
                && year.is_none_or(|y| (i64::from(p.year_of_birth) - y as i64).abs() <= 2);
            if !matched.is_empty() && agrees {
                found.push(Found { patient: i, matched_by: matched });
            }
        }
        match found.len() {
            0 => Err("no patient matches the verified identifiers and demographics".into()),
            1 => Ok(found.remove(0)),
            n => Err(format!("{n} patients match; the HIP cannot tell which")),
        }
    }

    /// The care contexts of patient `i` not linked yet.
    pub fn unlinked(&self, i: usize) -> Vec<CareContext> {
        let p = &self.records.patients[i];
        p.care_contexts
            .iter()
            .filter(|c| !self.linked.contains(&(p.mr.clone(), c.reference_number.clone())))
            .cloned()
            .collect()
    }

    /// Marks care contexts of patient `i` linked.
    pub fn link(&mut self, i: usize, refs: &[String]) {
        let mr = self.records.patients[i].mr.clone();
        self.linked.extend(refs.iter().map(|r| (mr.clone(), r.clone())));
    }
}

/// A patient's care contexts as a message carries them: v0.5 one object, v3 an array with one
/// entry per HI type (`hiType` one string, `count` its care contexts).
pub fn patient_json(p: &Patient, contexts: &[CareContext], version: Version) -> Value {
    let entry = |cs: &[&CareContext]| {
        cs.iter()
            .map(|c| json!({"referenceNumber": c.reference_number, "display": c.display}))
            .collect::<Vec<_>>()
    };
    match version {
        Version::V05 => {
            let all: Vec<&CareContext> = contexts.iter().collect();
            json!({"referenceNumber": p.mr, "display": p.name, "careContexts": entry(&all)})
        }
        Version::V3 => {
            let mut types: Vec<&str> = Vec::new();
            for c in contexts {
                if !types.contains(&c.hi_type.as_str()) {
                    types.push(&c.hi_type);
                }
            }
            let entries: Vec<Value> = types
                .into_iter()
                .map(|t| {
                    let cs: Vec<&CareContext> = contexts.iter().filter(|c| c.hi_type == t).collect();
                    json!({"referenceNumber": p.mr, "display": p.name, "careContexts": entry(&cs),
                        "hiType": t, "count": cs.len()})
                })
                .collect();
            Value::Array(entries)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_records_load_and_discovery_finds_one_patient() {
        let book = Book::new(Records::parse(DEFAULT_RECORDS).unwrap());
        let query = json!({"id": "asha.verma@sbx", "name": "asha  verma", "gender": "F", "yearOfBirth": 1991,
            "verifiedIdentifiers": [{"type": "MOBILE", "value": "9876543210"}, {"type": "ABHA_NUMBER", "value": "91-2345-6789-0129"}]});
        let found = book.discover(&query, Version::V3).unwrap();
        assert_eq!(book.patient(found.patient).mr, "MR-1001");
        assert_eq!(found.matched_by, vec!["MOBILE", "ABHA_NUMBER", "ABHA_ADDRESS"]);
        let mut wrong = query.clone();
        wrong["gender"] = json!("M");
        assert!(book.discover(&wrong, Version::V3).is_err());
        let v3 = patient_json(book.patient(0), &book.unlinked(0), Version::V3);
        assert_eq!(v3.as_array().unwrap().len(), 2, "{v3}");
        assert_eq!(v3[0]["count"], 2);
    }
}
