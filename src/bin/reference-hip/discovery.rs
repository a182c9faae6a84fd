//! User-initiated discovery and linking, the HIP's side: the patient's PHR app (through the
//! gateway) asks for their records, chooses some, and proves with an OTP the HIP sends them that
//! they are the patient.
//!
//! ```text
//! discover {transactionId, patient}   → on-discover {transactionId, patient, matchedBy}
//! link init {transactionId, patient}  → on-init {transactionId, link {referenceNumber, MEDIATED, meta}}
//! link confirm {linkRefNumber, token} → on-confirm {patient: the linked care contexts}
//! ```
//!
//! Only care contexts not linked yet are offered; v3 groups them by HI type, one entry per type
//! with its `count`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::gateway::{request_id, Inbound, Version};
use crate::records::{patient_json, CareContext};
use crate::{Fault, Hip};

/// How long the OTP of a link request is valid.
const OTP_VALID: Duration = Duration::from_secs(10 * 60);

/// What a discovery offered the patient.
pub struct Offer {
    patient: usize,
    contexts: Vec<CareContext>,
}

/// A link request waiting for the patient's OTP.
pub struct Pending {
    patient: usize,
    contexts: Vec<CareContext>,
    sent_at: Instant,
}

/// Discoveries by transactionId and link requests by link reference.
#[derive(Default)]
pub struct Linking {
    offers: HashMap<String, Offer>,
    pending: HashMap<String, Pending>,
}

/// The error of an answer, with the code in the version's spelling.
pub fn error(version: Version, (v05, v3): (i64, &str), message: &str) -> Value {
    let code = match version {
        Version::V05 => json!(v05),
        Version::V3 => json!(v3),
    };
    json!({"code": code, "message": message})
}

/// No patient found (ProjectEKA's HIP: 3404).
const NO_PATIENT: (i64, &str) = (3404, "ABDM-9999");
/// A care context that was not discovered (3402).
const NOT_DISCOVERED: (i64, &str) = (3402, "ABDM-1057");
/// An unknown link reference (3413).
const UNKNOWN_LINK: (i64, &str) = (3413, "ABDM-1056");
/// A wrong OTP (3405), or an expired one (3406).
const OTP_INVALID: (i64, &str) = (3405, "ABDM-9999");
const OTP_EXPIRED: (i64, &str) = (3406, "ABDM-9999");

/// The care-context references of a link init: v0.5 `patient.careContexts`, v3
/// `patient[].careContexts`.
fn requested(body: &Value) -> Vec<String> {
    let entries: Vec<&Value> = match &body["patient"] {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    entries
        .into_iter()
        .flat_map(|p| p["careContexts"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["referenceNumber"].as_str().map(str::to_string))
        .collect()
}

impl Hip {
    /// The path of an answer: v0.5 under `/gateway`, v3 under user-initiated-linking.
    fn answer_path(&self, v05: &str, v3: &str) -> String {
        match self.gateway.version {
            Version::V05 => format!("/v0.5/{v05}"),
            Version::V3 => format!("/user-initiated-linking/v3/{v3}"),
        }
    }

    /// `discover`: the patient's unlinked care contexts and what matched, or an error.
    pub async fn discover(&self, msg: Inbound) {
        let version = self.gateway.version;
        let txn = msg.body["transactionId"].clone();
        let found = {
            let book = self.book.lock().unwrap_or_else(|e| e.into_inner());
            book.discover(&msg.body["patient"], version).map(|f| {
                let contexts = book.unlinked(f.patient);
                let patient = patient_json(book.patient(f.patient), &contexts, version);
                (f, contexts, patient)
            })
        };
        let mut body = json!({"transactionId": txn});
        match found {
            Ok((_, contexts, _)) if contexts.is_empty() => {
                body["error"] =
                    error(version, NOT_DISCOVERED, "every care context of the patient is linked already");
            }
            Ok((f, contexts, mut patient)) => {
                let offer = Offer { patient: f.patient, contexts };
                let key = txn.as_str().unwrap_or_default().to_string();
                self.links.lock().unwrap_or_else(|e| e.into_inner()).offers.insert(key, offer);
                if version == Version::V3 {
                    if self.has(Fault::DiscoverWrongCount) {
                        patient[0]["count"] = json!(patient[0]["count"].as_u64().unwrap_or(0) + 1);
                    }
                    if self.has(Fault::DiscoverHitypeArray) {
                        patient[0]["hiType"] = json!([patient[0]["hiType"]]);
                    }
                }
                let matched = (!self.has(Fault::DiscoverNoMatchedBy)).then(|| json!(f.matched_by));
                match (version, matched) {
                    (Version::V05, Some(m)) => patient["matchedBy"] = m,
                    (Version::V3, Some(m)) => body["matchedBy"] = m,
                    _ => {}
                }
                body["patient"] = patient;
            }
            Err(why) => body["error"] = error(version, NO_PATIENT, &why),
        }
        let path = self.answer_path("care-contexts/on-discover", "patient/care-context/on-discover");
        self.gateway.answer(&path, &msg, body).await;
    }

    /// Link init: send the patient an OTP for the chosen care contexts (MEDIATED).
    pub async fn link_init(&self, msg: Inbound) {
        let version = self.gateway.version;
        let txn = msg.body["transactionId"].as_str().unwrap_or_default().to_string();
        let wanted = requested(&msg.body);
        let outcome = {
            let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
            match links.offers.get(&txn) {
                None => Err(error(version, NOT_DISCOVERED, "no discovery with this transactionId")),
                Some(offer) => {
                    let contexts: Vec<CareContext> = offer
                        .contexts
                        .iter()
                        .filter(|c| wanted.contains(&c.reference_number))
                        .cloned()
                        .collect();
                    if wanted.is_empty() || contexts.len() != wanted.len() {
                        Err(error(version, NOT_DISCOVERED, "a care context asked for was not discovered"))
                    } else {
                        let reference = format!("LNK-{}", &request_id()[..8]);
                        let patient = offer.patient;
                        links.pending.insert(
                            reference.clone(),
                            Pending { patient, contexts, sent_at: Instant::now() },
                        );
                        Ok((reference, patient))
                    }
                }
            }
        };
        let shown_txn = if self.has(Fault::LinkWrongTransaction) { request_id() } else { txn };
        let mut body = json!({"transactionId": shown_txn});
        match outcome {
            Ok((reference, patient)) => {
                let mobile =
                    self.book.lock().unwrap_or_else(|e| e.into_inner()).patient(patient).mobile.clone();
                let hint = format!("XXXXXX{}", &mobile[mobile.len().saturating_sub(4)..]);
                let expiry = (chrono::Utc::now() + chrono::Duration::minutes(10))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                body["link"] = json!({"referenceNumber": reference, "authenticationType": "MEDIATED",
                    "meta": {"communicationMedium": "MOBILE", "communicationHint": hint, "communicationExpiry": expiry}});
            }
            Err(e) => body["error"] = e,
        }
        let path = self.answer_path("links/link/on-init", "link/care-context/on-init");
        self.gateway.answer(&path, &msg, body).await;
    }

    /// Link confirm: the OTP is checked; the care contexts are linked and listed.
    pub async fn link_confirm(&self, msg: Inbound) {
        let version = self.gateway.version;
        let reference = msg.body["confirmation"]["linkRefNumber"].as_str().unwrap_or_default();
        let token = &msg.body["confirmation"]["token"];
        let token = token.as_str().map(str::to_string).unwrap_or_else(|| token.to_string());
        let outcome = {
            let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
            let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
            // A wrong OTP leaves the request open for another try; a right one closes it.
            let expired = links.pending.get(reference).map(|p| p.sent_at.elapsed() > OTP_VALID);
            match (expired, token == book.otp()) {
                (None, _) => Err(error(version, UNKNOWN_LINK, "no link request with this linkRefNumber")),
                (Some(true), _) => Err(error(version, OTP_EXPIRED, "the OTP has expired")),
                (Some(false), false) => Err(error(version, OTP_INVALID, "the OTP is not the one sent")),
                (Some(false), true) => match links.pending.remove(reference) {
                    Some(p) => {
                        let refs: Vec<String> =
                            p.contexts.iter().map(|c| c.reference_number.clone()).collect();
                        book.link(p.patient, &refs);
                        Ok(patient_json(book.patient(p.patient), &p.contexts, version))
                    }
                    None => Err(error(version, UNKNOWN_LINK, "no link request with this linkRefNumber")),
                },
            }
        };
        let body = match outcome {
            Ok(patient) => json!({"patient": patient}),
            Err(e) => json!({"error": e}),
        };
        let path = self.answer_path("links/link/on-confirm", "link/care-context/on-confirm");
        self.gateway.answer(&path, &msg, body).await;
    }
}
