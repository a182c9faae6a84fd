//! Consent, the HIU's side (M3):
//!
//! ```text
//! desk → consent-requests/init {consent {purpose, patient, hiu, requester, hiTypes, permission}}
//!     ← on-init {consentRequest {id}}
//!     ← notify {notification {consentRequestId, status, consentArtefacts [{id}]}}
//!     → on-notify {acknowledgement [{status: OK, consentId}]}   (one per artefact notified)
//!     → consents/fetch {consentId}                              (each GRANTED artefact)
//!     ← on-fetch {consent {status, consentDetail, signature}}
//!     → the HI request for it (`transfer`)
//! ```
//!
//! The HIU asks for the HI types and dates its desk was given (default: every record type of the
//! last ten years), keeps what the consent manager says of each request and artefact, and stops
//! using an artefact that is REVOKED or EXPIRED (its decrypted bundles are dropped).

use serde::Serialize;
use serde_json::{json, Value};

use crate::gateway::{now, request_id, timestamp, Answer, Inbound, Version};
use crate::{Fault, Hiu, KeyFormat};

use abdm_server::checks::PURPOSES;
/// The HI types asked for when the desk names none: every health-record type.
pub use abdm_server::checks::RECORD_HI_TYPES as DEFAULT_HI_TYPES;

/// What the desk asks for (`POST /desk/consent`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ask {
    /// The patient's ABHA address.
    pub patient: String,
    /// The HI types (default [`DEFAULT_HI_TYPES`]).
    #[serde(default)]
    pub hi_types: Option<Vec<String>>,
    /// The key format of the HI requests (default: the HIU's `--key-format`).
    #[serde(default)]
    pub key_format: Option<KeyFormat>,
    /// The purpose code (default CAREMGT).
    #[serde(default)]
    pub purpose: Option<String>,
    /// Only this HIP's records.
    #[serde(default)]
    pub hip_id: Option<String>,
    /// `{from, to}` (default: the last ten years up to now).
    #[serde(default)]
    pub date_range: Option<Value>,
}

/// A consent request the HIU made, and what became of it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    /// The init's request id.
    pub request_id: String,
    /// The consent manager's id for it, from on-init.
    pub consent_request_id: Option<String>,
    /// The patient.
    pub patient: String,
    /// The HI types asked for.
    pub hi_types: Vec<String>,
    /// The dates asked for.
    pub date_range: Value,
    /// The key format of its HI requests.
    pub key_format: KeyFormat,
    /// REQUESTED, then what the consent manager notified (GRANTED, DENIED, ...); REFUSED when
    /// the init was refused.
    pub status: String,
    /// The consent manager's error (the init's answer, or on-init's `error`).
    pub error: Option<Value>,
    /// The artefacts granted.
    pub artefacts: Vec<String>,
}

/// A consent artefact granted to the HIU.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artefact {
    /// Its id.
    pub consent_id: String,
    /// The request it answers.
    pub consent_request_id: String,
    /// GRANTED, REVOKED or EXPIRED.
    pub status: String,
    /// Whether on-fetch brought its detail.
    pub fetched: bool,
    /// `consentDetail` from on-fetch.
    pub detail: Option<Value>,
    /// The fetch's error, if the consent manager gave one.
    pub error: Option<Value>,
}

impl Hiu {
    /// The desk asks for consent: init, and the gateway's answer to it.
    pub async fn ask(&self, ask: Ask) -> (ConsentRequest, Answer) {
        let hi_types =
            ask.hi_types.clone().unwrap_or_else(|| DEFAULT_HI_TYPES.iter().map(|t| t.to_string()).collect());
        let today = chrono::Utc::now();
        let range = ask
            .date_range
            .clone()
            .unwrap_or_else(|| json!({"from": timestamp(today - chrono::Duration::days(3650)), "to": now()}));
        let code = ask.purpose.clone().unwrap_or_else(|| "CAREMGT".into());
        let text = PURPOSES.iter().find(|(c, _)| *c == code).map_or("", |(_, t)| t);
        let mut consent = json!({
            "purpose": {"text": text, "code": code, "refUri": "http://terminology.hl7.org/ValueSet/v3-PurposeOfUse"},
            "patient": {"id": ask.patient},
            "hiu": {"id": self.gateway.hiu_id, "name": self.name},
            "requester": {"name": "Dr. Sandbox Reader",
                "identifier": {"type": "REGNO", "value": "MH-2024-0001", "system": "https://www.mciindia.org"}},
            "hiTypes": hi_types,
            "permission": {"accessMode": "VIEW", "dateRange": range,
                "dataEraseAt": timestamp(today + chrono::Duration::days(30)),
                "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}},
        });
        if let Some(hip) = &ask.hip_id {
            consent["hip"] = json!({"id": hip});
        }
        let id = request_id();
        let mut request = ConsentRequest {
            request_id: id.clone(),
            consent_request_id: None,
            patient: ask.patient.clone(),
            hi_types,
            date_range: range,
            key_format: ask.key_format.unwrap_or(self.key_format),
            status: "REQUESTED".into(),
            error: None,
            artefacts: Vec::new(),
        };
        self.state().requests.push(request.clone());
        let path = self.gateway.version.pick("/v0.5/consent-requests/init", "/consent/v3/request/init");
        let answer = self.gateway.send(path, &id, json!({"consent": consent})).await;
        if !answer.accepted() {
            let mut state = self.state();
            if let Some(r) = state.requests.iter_mut().find(|r| r.request_id == id) {
                r.status = "REFUSED".into();
                r.error = Some(answer.body.clone());
                request = r.clone();
            }
        }
        (request, answer)
    }

    /// on-init: the consent manager's id for the request (or its error).
    pub fn on_init(&self, msg: &Inbound) {
        let mut state = self.state();
        if let Some(r) = state.requests.iter_mut().find(|r| r.request_id == msg.answers()) {
            r.consent_request_id = msg.body["consentRequest"]["id"].as_str().map(str::to_string);
            let error = &msg.body["error"];
            if !error.is_null() {
                r.status = "REFUSED".into();
                r.error = Some(error.clone());
            }
        }
    }

    /// A consent notify: keep the artefacts' status, acknowledge each, fetch those GRANTED.
    pub async fn consent_notify(&self, msg: Inbound) {
        let n = &msg.body["notification"];
        let status = n["status"].as_str().unwrap_or_default().to_string();
        let request_id = n["consentRequestId"].as_str().unwrap_or_default().to_string();
        let ids: Vec<String> = n["consentArtefacts"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["id"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        {
            let mut state = self.state();
            if let Some(r) =
                state.requests.iter_mut().find(|r| r.consent_request_id.as_deref() == Some(&request_id))
            {
                if status == "GRANTED" || status == "DENIED" {
                    r.status = status.clone();
                }
                for id in &ids {
                    if !r.artefacts.contains(id) {
                        r.artefacts.push(id.clone());
                    }
                }
            }
            for id in &ids {
                let artefact = state.artefacts.entry(id.clone()).or_insert_with(|| Artefact {
                    consent_id: id.clone(),
                    consent_request_id: request_id.clone(),
                    status: status.clone(),
                    fetched: false,
                    detail: None,
                    error: None,
                });
                artefact.status = status.clone();
            }
            if status == "REVOKED" || status == "EXPIRED" {
                // The data of an artefact that may no longer be used is deleted.
                for t in state.transfers.values_mut().filter(|t| ids.contains(&t.consent_id)) {
                    t.forget_bundles();
                }
            }
        }
        if !self.has(Fault::NoOnNotify) {
            let ack: Vec<Value> = ids.iter().map(|id| json!({"status": "OK", "consentId": id})).collect();
            let path = self
                .gateway
                .version
                .pick("/v0.5/consents/hiu/on-notify", "/consent/v3/request/hiu/on-notify");
            self.gateway.answer(path, &msg, json!({"acknowledgement": ack})).await;
        }
        if status == "GRANTED" {
            for id in ids {
                self.fetch(&id).await;
            }
        }
    }

    /// Fetches an artefact's detail.
    async fn fetch(&self, consent_id: &str) {
        let id = request_id();
        self.state().fetches.insert(id.clone(), consent_id.to_string());
        let path = self.gateway.version.pick("/v0.5/consents/fetch", "/consent/v3/fetch");
        let answer = self.gateway.send(path, &id, json!({"consentId": consent_id})).await;
        if !answer.accepted() {
            if let Some(a) = self.state().artefacts.get_mut(consent_id) {
                a.error = Some(answer.body);
            }
        }
    }

    /// on-fetch: keep the artefact's detail, then ask for its data.
    pub async fn on_fetch(&self, msg: Inbound) {
        let consent_id = {
            let mut state = self.state();
            let Some(consent_id) = state.fetches.remove(msg.answers()) else { return };
            let Some(a) = state.artefacts.get_mut(&consent_id) else { return };
            let detail = &msg.body["consent"]["consentDetail"];
            if detail.is_object() {
                a.fetched = true;
                a.detail = Some(detail.clone());
            } else {
                a.error = Some(msg.body["error"].clone());
                return;
            }
            consent_id
        };
        self.request_data(&consent_id).await;
    }

    /// The dates and key format to ask an artefact's data for: the artefact's own dates (with
    /// the `own-date-range` fault, those of the HIU's init instead).
    pub fn plan(&self, consent_id: &str) -> Option<(Value, KeyFormat, String)> {
        let state = self.state();
        let a = state.artefacts.get(consent_id)?;
        let request =
            state.requests.iter().find(|r| r.consent_request_id.as_deref() == Some(&a.consent_request_id));
        let detail = a.detail.as_ref()?;
        let range = match (self.has(Fault::OwnDateRange), request) {
            (true, Some(r)) => r.date_range.clone(),
            _ => detail["permission"]["dateRange"].clone(),
        };
        let format = request.map_or(self.key_format, |r| r.key_format);
        let hip = detail["hip"]["id"].as_str().unwrap_or_default().to_string();
        Some((range, format, hip))
    }
}

/// Which version a callback path belongs to, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// on-init.
    OnInit,
    /// on-status (taken note of).
    OnStatus,
    /// The consent notify.
    Notify,
    /// on-fetch.
    OnFetch,
    /// on-request.
    OnRequest,
}

/// The callback a path is, in the HIU's version.
pub fn kind(path: &str, version: Version) -> Option<Kind> {
    let k = match (version, path) {
        (Version::V05, "/v0.5/consent-requests/on-init") => Kind::OnInit,
        (Version::V05, "/v0.5/consent-requests/on-status") => Kind::OnStatus,
        (Version::V05, "/v0.5/consents/hiu/notify") => Kind::Notify,
        (Version::V05, "/v0.5/consents/on-fetch") => Kind::OnFetch,
        (Version::V05, "/v0.5/health-information/hiu/on-request") => Kind::OnRequest,
        (Version::V3, "/api/v3/hiu/consent/request/on-init") => Kind::OnInit,
        (Version::V3, "/api/v3/hiu/consent/request/on-status") => Kind::OnStatus,
        (Version::V3, "/api/v3/hiu/consent/request/notify") => Kind::Notify,
        (Version::V3, "/api/v3/hiu/consent/on-fetch") => Kind::OnFetch,
        (Version::V3, "/api/v3/hiu/health-information/on-request") => Kind::OnRequest,
        _ => return None,
    };
    Some(k)
}
