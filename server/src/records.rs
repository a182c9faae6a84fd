//! The health records the fixture HIPs hold for the fixture people: care contexts, each a FHIR
//! document bundle (a Composition first) shipped under `fixtures/records/`. When an HIU holds a
//! consent over them, the sandbox plays the HIP: it encrypts the bundles with Fidelius and pushes
//! them to the HIU. The default bundles are compiled in; a fixtures file given with `--fixtures`
//! reads its own from `records/` beside it, falling back to the compiled-in ones by name.
//!
//! Records can also be attached at run time ([`Attached`]): a care context a HIP links through
//! the Carestack API, with the bundle it gave, counts like a fixture record from then on.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checks::HI_TYPES;
use crate::persist::{kind, Log};

/// The compiled-in bundles, by file name.
const SHIPPED: [(&str, &str); 9] = [
    ("cln-1001-op-2021.json", include_str!("../../fixtures/records/cln-1001-op-2021.json")),
    ("cln-1001-dr-2023.json", include_str!("../../fixtures/records/cln-1001-dr-2023.json")),
    ("hsp-2001-im-2019.json", include_str!("../../fixtures/records/hsp-2001-im-2019.json")),
    ("hsp-2001-ds-2022.json", include_str!("../../fixtures/records/hsp-2001-ds-2022.json")),
    ("hsp-2001-rx-2024.json", include_str!("../../fixtures/records/hsp-2001-rx-2024.json")),
    ("cln-1002-op-2023.json", include_str!("../../fixtures/records/cln-1002-op-2023.json")),
    ("cln-1002-rx-2025.json", include_str!("../../fixtures/records/cln-1002-rx-2025.json")),
    ("hsp-2003-op-2020.json", include_str!("../../fixtures/records/hsp-2003-op-2020.json")),
    ("hsp-2003-im-2024.json", include_str!("../../fixtures/records/hsp-2003-im-2024.json")),
];

/// One care context a fixture HIP holds for a person.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// The HIP holding it.
    pub hip_id: String,
    /// The patient's reference at that HIP (a medical record number).
    pub patient_reference: String,
    /// The care context's reference.
    pub care_context_reference: String,
    /// What the patient's app shows.
    pub display: String,
    /// The HI type of its bundle.
    pub hi_type: String,
    /// The visit's date, `YYYY-MM-DD`.
    pub date: String,
    /// The bundle's file under `fixtures/records/`.
    pub bundle: String,
}

impl Record {
    /// The visit's date as milliseconds at 00:00 UTC.
    pub fn day(&self) -> i64 {
        chrono::NaiveDate::parse_from_str(&self.date, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default()
    }
}

/// Bundle texts by file name.
pub type Bundles = HashMap<String, Arc<str>>;

/// Reads and checks the bundles `records` name: from `dir` when given, else (or when the file
/// is not there) the compiled-in ones. `at` names each record in errors.
pub fn load<'a>(
    records: impl Iterator<Item = (String, &'a Record)>,
    dir: Option<&Path>,
) -> Result<Bundles, String> {
    let mut bundles = Bundles::new();
    for (at, r) in records {
        if !HI_TYPES.contains(&r.hi_type.as_str()) {
            return Err(format!("{at}.hiType: {:?} is not an HI type: {HI_TYPES:?}", r.hi_type));
        }
        if chrono::NaiveDate::parse_from_str(&r.date, "%Y-%m-%d").is_err() {
            return Err(format!("{at}.date: {:?} must be a date YYYY-MM-DD", r.date));
        }
        if bundles.contains_key(&r.bundle) {
            continue;
        }
        let from_dir = dir.and_then(|d| std::fs::read_to_string(d.join("records").join(&r.bundle)).ok());
        let text = from_dir
            .or_else(|| SHIPPED.iter().find(|(n, _)| *n == r.bundle).map(|(_, t)| t.to_string()))
            .ok_or_else(|| format!("{at}.bundle: no file records/{} beside the fixtures", r.bundle))?;
        let bundle: Value =
            serde_json::from_str(&text).map_err(|e| format!("{at}.bundle: {}: {e}", r.bundle))?;
        if bundle["resourceType"] != "Bundle"
            || bundle["type"] != "document"
            || bundle["entry"][0]["resource"]["resourceType"] != "Composition"
        {
            return Err(format!(
                "{at}.bundle: {} must be a FHIR Bundle of type document with a Composition first",
                r.bundle
            ));
        }
        bundles.insert(r.bundle.clone(), Arc::from(text));
    }
    Ok(bundles)
}

/// Records attached at run time, by the index of the person in the fixtures, with their bundles
/// by name (a name no fixture file has).
#[derive(Default)]
pub struct Attached {
    by_person: DashMap<usize, Vec<Record>>,
    bundles: DashMap<String, Arc<str>>,
    /// Where they are kept (`serve --state`), and the order they were attached in.
    log: Log,
    next: AtomicU64,
}

/// An attached record as the state file keeps it.
#[derive(Serialize, Deserialize)]
struct Kept {
    seq: u64,
    person: usize,
    record: Record,
    bundle: String,
}

impl Attached {
    /// The records kept in `log`, in the order they were attached.
    pub fn kept(log: Log) -> Self {
        let mut rows: Vec<Kept> = log.load::<Kept>(kind::RECORD).into_iter().map(|(_, k)| k).collect();
        rows.sort_by_key(|k| k.seq);
        let attached = Attached { log, ..Attached::default() };
        for k in rows {
            attached.next.store(k.seq + 1, Ordering::Relaxed);
            attached.bundles.insert(k.record.bundle.clone(), Arc::from(k.bundle));
            attached.by_person.entry(k.person).or_default().push(k.record);
        }
        attached
    }

    /// Attaches a record and the text of its bundle.
    pub fn add(&self, person: usize, record: Record, bundle: &str) {
        if self.log.is_on() {
            let seq = self.next.fetch_add(1, Ordering::Relaxed);
            let kept = Kept { seq, person, record: record.clone(), bundle: bundle.to_string() };
            self.log.put(kind::RECORD, &record.bundle, &kept);
        }
        self.bundles.insert(record.bundle.clone(), Arc::from(bundle));
        self.by_person.entry(person).or_default().push(record);
    }

    /// The records attached for a person, oldest first.
    pub fn of(&self, person: usize) -> Vec<Record> {
        self.by_person.get(&person).map(|r| r.clone()).unwrap_or_default()
    }

    /// An attached bundle's text.
    pub fn bundle(&self, name: &str) -> Option<Arc<str>> {
        self.bundles.get(name).map(|b| b.clone())
    }

    /// None attached.
    pub fn clear(&self) {
        self.by_person.clear();
        self.bundles.clear();
    }
}
