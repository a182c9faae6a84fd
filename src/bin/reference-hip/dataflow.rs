//! Consents and health-information transfer, the HIP's side (M2):
//!
//! ```text
//! consent notify {notification {status, consentId, consentDetail}}
//!     → on-notify {acknowledgement {status: OK, consentId}}
//! HI request {transactionId, hiRequest {consent {id}, dateRange, dataPushUrl, keyMaterial}}
//!     → on-request {hiRequest {transactionId, sessionStatus: ACKNOWLEDGED | ERRORED}}
//!     → push to dataPushUrl {pageNumber, pageCount, transactionId, entries, keyMaterial}
//!     → notify {notification {consentId, transactionId, doneAt, notifier, statusNotification}}
//! ```
//!
//! The HIP keeps each GRANTED consent (its care contexts, HI types and dates) and deletes it when
//! it is REVOKED or EXPIRED, as the checklist asks. It answers ERRORED to an HI request on a
//! consent it does not hold, for dates outside the consent's, or with a key it cannot read.
//! Otherwise it sends the bundles of the consent's care contexts whose HI type the consent allows
//! and whose date lies in the dates asked for, each encrypted for the HIU (`sealing`) with the
//! MD5 of the plaintext in hex, in one page; then it tells the consent manager what was
//! delivered: DELIVERED per care context that the HIU accepted, ERRORED with the reason for the
//! others, TRANSFERRED when something was delivered, FAILED otherwise.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime};
use serde_json::{json, Value};

use crate::discovery::error;
use crate::gateway::{now, request_id, Inbound, Version};
use crate::{Fault, Hip};

/// No granted consent with this id (the consent manager's CONSENT_ARTEFACT_NOT_FOUND).
const UNKNOWN_CONSENT: (i64, &str) = (1416, "ABDM-9999");
/// Dates outside the consent's (INVALID_DATE_RANGE).
const OUTSIDE_DATES: (i64, &str) = (1418, "ABDM-1063");
/// A request the HIP cannot act on (no push URL, an unreadable key).
const UNREADABLE: (i64, &str) = (1000, "ABDM-9999");

/// A consent the HIP holds.
pub struct Consent {
    /// The patient.
    address: String,
    /// The care-context references it covers.
    contexts: Vec<String>,
    /// The HI types it allows.
    hi_types: Vec<String>,
    /// The dates it allows (from, to).
    range: (DateTime<FixedOffset>, DateTime<FixedOffset>),
}

/// The consents granted to the HIP, by consent id.
pub type Consents = HashMap<String, Consent>;

/// An ISO-8601 date-time; one without a zone is UTC.
fn instant(v: &Value) -> Option<DateTime<FixedOffset>> {
    let text = v.as_str()?;
    DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc().fixed_offset())
    })
}

/// A `dateRange {from, to}`.
fn range(v: &Value) -> Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)> {
    Some((instant(&v["from"])?, instant(&v["to"])?))
}

impl Consent {
    /// The consent an artefact (`consentDetail`) grants to this HIP, or why it cannot be kept.
    fn of(detail: &Value, hip_id: &str) -> Result<Consent, String> {
        if detail["hip"]["id"] != hip_id {
            return Err(format!("the consent is for HIP {}, not this one", detail["hip"]["id"]));
        }
        let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
        let text = |v: &Value| v.as_str().map(str::to_string);
        let range = range(&detail["permission"]["dateRange"]).ok_or("permission.dateRange is unreadable")?;
        Ok(Consent {
            address: text(&detail["patient"]["id"]).unwrap_or_default(),
            contexts: items(&detail["careContexts"])
                .iter()
                .filter_map(|c| text(&c["careContextReference"]))
                .collect(),
            hi_types: items(&detail["hiTypes"]).iter().filter_map(text).collect(),
            range,
        })
    }
}

/// An HI request the HIP acknowledged: what to send, where, for whom.
struct Transfer {
    transaction_id: String,
    consent_id: String,
    push_url: String,
    hiu_key: String,
    hiu_nonce: String,
    address: String,
    contexts: Vec<String>,
    hi_types: Vec<String>,
    range: (DateTime<FixedOffset>, DateTime<FixedOffset>),
}

/// One care context's line in the transfer notify.
fn status(reference: &str, hi_status: &str, description: &str) -> Value {
    json!({"careContextReference": reference, "hiStatus": hi_status, "description": description})
}

/// The MD5 of some bytes in lower-case hex.
fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Hip {
    /// A consent notify: keep a GRANTED consent, delete a REVOKED or EXPIRED one; acknowledge.
    pub async fn consent_notify(&self, msg: Inbound) {
        let n = &msg.body["notification"];
        let id = n["consentId"].as_str().unwrap_or_default().to_string();
        let kept = match n["status"].as_str() {
            Some("GRANTED") => Consent::of(&n["consentDetail"], &self.gateway.hip_id).map(Some),
            // REVOKED, EXPIRED (and DENIED): the consent may not be used any more.
            _ => Ok(None),
        };
        let mut body = json!({"acknowledgement": {"status": "OK", "consentId": id}});
        {
            let mut consents = self.consents.lock().unwrap_or_else(|e| e.into_inner());
            match kept {
                Ok(Some(consent)) => {
                    consents.insert(id.clone(), consent);
                }
                Ok(None) => {
                    consents.remove(&id);
                }
                Err(why) => {
                    body["acknowledgement"]["status"] = json!("UNKNOWN");
                    body["error"] = error(self.gateway.version, UNREADABLE, &why);
                }
            }
        }
        let path = match self.gateway.version {
            Version::V05 => "/v0.5/consents/hip/on-notify",
            Version::V3 => "/consent/v3/request/hip/on-notify",
        };
        self.gateway.answer(path, &msg, body).await;
    }

    /// An HI request: acknowledge it (or say why not), then transfer.
    pub async fn hi_request(&self, msg: Inbound) {
        let transaction_id = msg.body["transactionId"].as_str().unwrap_or_default().to_string();
        let planned = self.plan(&msg.body, &transaction_id);
        let mut body =
            json!({"hiRequest": {"transactionId": transaction_id, "sessionStatus": "ACKNOWLEDGED"}});
        if let Err(e) = &planned {
            body["hiRequest"]["sessionStatus"] = json!("ERRORED");
            body["error"] = e.clone();
        }
        let path = match self.gateway.version {
            Version::V05 => "/v0.5/health-information/hip/on-request",
            Version::V3 => "/data-flow/v3/health-information/hip/on-request",
        };
        self.gateway.answer(path, &msg, body).await;
        if let Ok(transfer) = planned {
            self.transfer(transfer).await;
        }
    }

    /// What an HI request asks for, checked against the consent the HIP holds.
    fn plan(&self, body: &Value, transaction_id: &str) -> Result<Transfer, Value> {
        let version = self.gateway.version;
        let hi = &body["hiRequest"];
        let consent_id = hi["consent"]["id"].as_str().unwrap_or_default();
        let consents = self.consents.lock().unwrap_or_else(|e| e.into_inner());
        let consent = consents
            .get(consent_id)
            .ok_or_else(|| error(version, UNKNOWN_CONSENT, "no granted consent with this id"))?;
        let asked = range(&hi["dateRange"])
            .ok_or_else(|| error(version, OUTSIDE_DATES, "dateRange {from, to} is unreadable"))?;
        if asked.0 < consent.range.0 || asked.1 > consent.range.1 || asked.0 >= asked.1 {
            return Err(error(version, OUTSIDE_DATES, "the dates asked for lie outside the consent's"));
        }
        let km = &hi["keyMaterial"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let (hiu_key, hiu_nonce) = (text(&km["dhPublicKey"]["keyValue"]), text(&km["nonce"]));
        abdm_server::fidelius::parse_public_key(&hiu_key)
            .map_err(|e| error(version, UNREADABLE, &format!("keyMaterial.dhPublicKey.keyValue: {e}")))?;
        let push_url = text(&hi["dataPushUrl"]);
        if !(push_url.starts_with("http://") || push_url.starts_with("https://")) {
            return Err(error(version, UNREADABLE, "dataPushUrl is not an http(s) URL"));
        }
        Ok(Transfer {
            transaction_id: transaction_id.to_string(),
            consent_id: consent_id.to_string(),
            push_url,
            hiu_key,
            hiu_nonce,
            address: consent.address.clone(),
            contexts: consent.contexts.clone(),
            hi_types: consent.hi_types.clone(),
            range: asked,
        })
    }

    /// The bundles to send, as (care-context reference, JSON text), and the statuses of the
    /// care contexts that have nothing to send.
    fn records_for(&self, t: &Transfer) -> (Vec<(String, String)>, Vec<Value>) {
        let book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let mut wanted = t.contexts.clone();
        if self.has(Fault::OutsideConsent) {
            // Every record of the patient, whatever care contexts the consent names.
            let all = book.by_address(&t.address).map(|p| p.care_contexts.clone()).unwrap_or_default();
            for c in all {
                if !wanted.contains(&c.reference_number) {
                    wanted.push(c.reference_number);
                }
            }
        }
        let (mut send, mut unsent) = (Vec::new(), Vec::new());
        for reference in wanted {
            let allowed = book.hi_type(&reference).is_some_and(|h| t.hi_types.iter().any(|a| a == h));
            let dated = self.bundles.date(&reference).is_some_and(|d| d >= t.range.0 && d <= t.range.1);
            match self.bundles.text(&reference) {
                Some(text) if allowed && dated => send.push((reference, text)),
                Some(_) if !allowed => {
                    unsent.push(status(&reference, "ERRORED", "its HI type is not one the consent allows"))
                }
                Some(_) => unsent.push(status(&reference, "ERRORED", "no record in the dates asked for")),
                None => unsent.push(status(&reference, "ERRORED", "the HIP holds no record for it")),
            }
        }
        (send, unsent)
    }

    /// Encrypts and pushes the records, then notifies the consent manager of the outcome.
    async fn transfer(&self, t: Transfer) {
        let (records, mut statuses) = self.records_for(&t);
        let sealer = self.sealer(&t.hiu_key);
        let mut entries = Vec::new();
        for (reference, text) in records {
            match sealer.as_ref().map_err(String::clone).and_then(|s| s.seal(&text, &t.hiu_nonce)) {
                Ok(content) => {
                    // The MD5 of the bundle before encryption (with the fault, of the ciphertext).
                    let summed =
                        if self.has(Fault::BadChecksum) { content.as_bytes() } else { text.as_bytes() };
                    entries.push(json!({"content": content, "media": "application/fhir+json",
                        "checksum": md5_hex(summed), "careContextReference": reference}));
                }
                Err(why) => statuses.push(status(&reference, "ERRORED", &format!("not encrypted: {why}"))),
            }
        }
        if let (Ok(sealer), false) = (&sealer, entries.is_empty()) {
            let keys = &sealer.keys;
            let expiry = (chrono::Utc::now() + chrono::Duration::days(1))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let refs: Vec<String> = entries
                .iter()
                .filter_map(|e| e["careContextReference"].as_str().map(str::to_string))
                .collect();
            let page = json!({"pageNumber": 1, "pageCount": 1, "transactionId": t.transaction_id, "entries": entries,
                "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
                    "dhPublicKey": {"expiry": expiry, "parameters": "Curve25519/32byte random key", "keyValue": keys.x509_public_key},
                    "nonce": keys.nonce}});
            let outcome = match self.gateway.push(&t.push_url, &page).await {
                Ok(s) if (200..300).contains(&s) => Ok(()),
                Ok(s) => Err(format!("the HIU answered the push with {s}")),
                Err(e) => Err(format!("the push failed: {e}")),
            };
            for r in refs {
                statuses.push(match &outcome {
                    Ok(()) => status(&r, "DELIVERED", "encrypted and pushed to the HIU"),
                    Err(why) => status(&r, "ERRORED", why),
                });
            }
        }
        if !self.has(Fault::NoNotify) {
            self.transfer_notify(&t, statuses).await;
        }
    }

    /// The transfer notify: TRANSFERRED when something was delivered, FAILED otherwise, and a
    /// status per care context.
    async fn transfer_notify(&self, t: &Transfer, statuses: Vec<Value>) {
        let hip_id = &self.gateway.hip_id;
        let delivered = statuses.iter().any(|s| s["hiStatus"] == "DELIVERED");
        let session = if delivered { "TRANSFERRED" } else { "FAILED" };
        let notification = json!({"consentId": t.consent_id, "transactionId": t.transaction_id, "doneAt": now(),
            "notifier": {"type": "HIP", "id": hip_id},
            "statusNotification": {"sessionStatus": session, "hipId": hip_id, "statusResponses": statuses}});
        let path = match self.gateway.version {
            Version::V05 => "/v0.5/health-information/notify",
            Version::V3 => "/data-flow/v3/health-information/notify",
        };
        self.gateway.send(path, &request_id(), json!({"notification": notification}), &[]).await;
    }
}
