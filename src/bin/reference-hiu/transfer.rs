//! Health-information transfer, the HIU's side (M3):
//!
//! ```text
//! health-information/cm/request {hiRequest {consent {id}, dateRange, dataPushUrl, keyMaterial}}
//!     ← on-request {hiRequest {transactionId, sessionStatus: REQUESTED}}
//!     ← pushes to dataPushUrl {pageNumber, pageCount, transactionId, entries, keyMaterial}
//!     → health-information/notify {notification {consentId, transactionId, doneAt,
//!           notifier {type: HIU, id}, statusNotification {sessionStatus, hipId, statusResponses}}}
//! ```
//!
//! Each request has a fresh key pair and nonce (`abdm_server::fidelius`), its public key raw or
//! X.509. Every push comes to one URL (`{url}/data-push`, `--push-path`), as HIUs usually have
//! it, and its `transactionId` says which request's keys open it: the request's answer or its
//! on-request names the transaction, and a page that comes before either is kept until one does.
//! Once every page has arrived,
//! each entry is decrypted with the HIU's private key and nonce and the HIP's public key and nonce
//! of its page, its checksum compared with the MD5 of the plaintext, and the plaintext read as a
//! FHIR document Bundle led by a Composition; the bundles are kept, and the consent manager is
//! told OK or ERRORED (with the reason) per care context.

use std::collections::BTreeMap;

use abdm_server::fidelius::{self, KeyMaterial};
use serde::Serialize;
use serde_json::{json, Value};

use crate::gateway::{self, now, request_id, timestamp};
use crate::{Fault, Hiu, KeyFormat};

/// What the HIU made of one entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Opened {
    /// The care context it holds.
    pub care_context_reference: String,
    /// It decrypted with the HIU's key.
    pub decrypted: bool,
    /// Its checksum is the MD5 of the plaintext.
    pub checksum_matches: bool,
    /// The plaintext is a FHIR Bundle whose first entry is a Composition.
    pub composition_first: bool,
    /// OK, or ERRORED with the reason.
    pub hi_status: String,
    /// Why it is ERRORED, or "decrypted and verified".
    pub description: String,
    /// The decrypted bundle (dropped when the consent is revoked or expires).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<Value>,
}

/// One HI request and its transfer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// The request's id (answered by on-request).
    pub request_id: String,
    /// The artefact.
    pub consent_id: String,
    /// The HIP holding the records.
    pub hip_id: String,
    /// From the request's answer or on-request.
    pub transaction_id: Option<String>,
    /// raw or x509.
    pub key_format: KeyFormat,
    /// The dates asked for.
    pub date_range: Value,
    /// REQUESTED, REFUSED (the gateway's answer), RECEIVING, NOTIFIED.
    pub status: String,
    /// The gateway's refusal or on-request's error.
    pub error: Option<Value>,
    /// The pages that arrived, by page number.
    pub pages: BTreeMap<u64, Value>,
    /// What each entry was found to be.
    pub entries: Vec<Opened>,
    /// The notify sent.
    pub notify: Option<Value>,
    /// The HIU's key pair and nonce.
    #[serde(skip)]
    pub keys: KeyMaterial,
}

impl Transfer {
    /// Drops the decrypted bundles (the consent may no longer be used).
    pub fn forget_bundles(&mut self) {
        for e in &mut self.entries {
            e.bundle = None;
        }
        self.pages.clear();
    }

    /// Keeps a page.
    fn take(&mut self, page: Value) {
        let number = page["pageNumber"].as_u64().unwrap_or(0);
        self.pages.insert(number, page);
        if self.status == "REQUESTED" {
            self.status = "RECEIVING".into();
        }
    }

    /// Whether pages 1..pageCount have all arrived.
    fn complete(&self) -> bool {
        let count = self.pages.values().filter_map(|p| p["pageCount"].as_u64()).max().unwrap_or(0);
        count > 0 && (1..=count).all(|n| self.pages.contains_key(&n))
    }
}

/// The MD5 of a text, lower-case hex.
fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The MD5 of a text, base64 (some HIPs send it so).
fn md5_base64(text: &str) -> String {
    use base64::Engine as _;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(text.as_bytes()))
}

/// Opens one entry of a page with the HIU's keys.
fn open(entry: &Value, page: &Value, keys: &KeyMaterial) -> Opened {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut opened = Opened {
        care_context_reference: text(&entry["careContextReference"]),
        decrypted: false,
        checksum_matches: false,
        composition_first: false,
        hi_status: "ERRORED".into(),
        description: String::new(),
        bundle: None,
    };
    let km = &page["keyMaterial"];
    let plain = match fidelius::decrypt(
        &text(&entry["content"]),
        &keys.nonce,
        &text(&km["nonce"]),
        &keys.private_key,
        &text(&km["dhPublicKey"]["keyValue"]),
    ) {
        Ok(p) => p,
        Err(e) => {
            opened.description = format!("not decrypted: {e}");
            return opened;
        }
    };
    opened.decrypted = true;
    let checksum = text(&entry["checksum"]);
    opened.checksum_matches =
        checksum.eq_ignore_ascii_case(&md5_hex(&plain)) || checksum == md5_base64(&plain);
    let bundle: Option<Value> = serde_json::from_str(&plain).ok();
    opened.composition_first = bundle.as_ref().is_some_and(|b| {
        b["resourceType"] == "Bundle" && b["entry"][0]["resource"]["resourceType"] == "Composition"
    });
    opened.description = if !opened.checksum_matches {
        "the checksum is not the MD5 of the decrypted content".into()
    } else if !opened.composition_first {
        "not a FHIR Bundle led by a Composition".into()
    } else {
        opened.hi_status = "OK".into();
        "decrypted and verified".into()
    };
    opened.bundle = bundle;
    opened
}

impl Hiu {
    /// Asks for an artefact's data with a fresh key.
    pub async fn request_data(&self, consent_id: &str) {
        let Some((range, format, hip_id)) = self.plan(consent_id) else { return };
        let keys = KeyMaterial::generate();
        let key_value = match format {
            KeyFormat::Raw => keys.public_key.clone(),
            KeyFormat::X509 => keys.x509_public_key.clone(),
        };
        let id = request_id();
        let expiry = timestamp(chrono::Utc::now() + chrono::Duration::days(1));
        let body = json!({"hiRequest": {
            "consent": {"id": consent_id},
            "dateRange": range,
            "dataPushUrl": format!("{}{}", self.url(), self.push_path),
            "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
                "dhPublicKey": {"expiry": expiry, "parameters": "Curve25519/32byte random key", "keyValue": key_value},
                "nonce": keys.nonce}}});
        self.state().transfers.insert(
            id.clone(),
            Transfer {
                request_id: id.clone(),
                consent_id: consent_id.to_string(),
                hip_id,
                transaction_id: None,
                key_format: format,
                date_range: range,
                status: "REQUESTED".into(),
                error: None,
                pages: BTreeMap::new(),
                entries: Vec::new(),
                notify: None,
                keys,
            },
        );
        let path = self
            .gateway
            .version
            .pick("/v0.5/health-information/cm/request", "/data-flow/v3/health-information/request");
        let answer = self.gateway.send(path, &id, body).await;
        if !answer.accepted() {
            self.with_transfer(&id, |t| {
                t.status = "REFUSED".into();
                t.error = Some(answer.body);
            });
        } else if let Some(txn) = answer.body["transactionId"].as_str() {
            // Not every gateway names the transaction in its answer; on-request always does.
            self.link(&id, txn).await;
        }
    }

    /// on-request: the transaction id of the request (or its error).
    pub async fn on_request(&self, body: &Value, answers: &str) {
        if !body["error"].is_null() {
            self.with_transfer(answers, |t| {
                t.status = "REFUSED".into();
                t.error = Some(body["error"].clone());
            });
        }
        if let Some(txn) = body["hiRequest"]["transactionId"].as_str() {
            self.link(answers, txn).await;
        }
    }

    /// Ties a request to its transaction; pages of it that came first are taken in.
    async fn link(&self, request_id: &str, txn: &str) {
        {
            let mut state = self.state();
            let early = state.early.remove(txn).unwrap_or_default();
            let Some(t) = state.transfers.get_mut(request_id) else { return };
            t.transaction_id = Some(txn.to_string());
            for page in early {
                t.take(page);
            }
            state.by_transaction.insert(txn.to_string(), request_id.to_string());
        }
        if self.take_complete(request_id) {
            self.close(request_id).await;
        }
    }

    /// A page pushed to the push URL: kept with its transfer (or until its transaction is
    /// known). The request it completes, if it does.
    pub fn push(&self, page: Value) -> Result<Option<String>, String> {
        if page["pageNumber"].as_u64().is_none() {
            return Err("pageNumber: a page needs its number".into());
        }
        let Some(txn) = page["transactionId"].as_str().map(str::to_string) else {
            return Err("transactionId: a page needs its transaction".into());
        };
        let request_id = {
            let mut state = self.state();
            match state.by_transaction.get(&txn).cloned() {
                Some(request_id) => {
                    if let Some(t) = state.transfers.get_mut(&request_id) {
                        t.take(page);
                    }
                    request_id
                }
                None => {
                    state.early.entry(txn).or_default().push(page);
                    return Ok(None);
                }
            }
        };
        Ok(self.take_complete(&request_id).then_some(request_id))
    }

    /// Whether a transfer has every page and has not been closed yet; marks it closing.
    fn take_complete(&self, request_id: &str) -> bool {
        self.with_transfer(request_id, |t| {
            let done = t.status == "RECEIVING" && t.complete();
            if done {
                t.status = "CLOSING".into();
            }
            done
        })
    }

    /// Opens every entry and tells the consent manager what became of each care context (with
    /// the `notify-before-decrypt` fault, it tells first, assuming each OK, and opens after).
    pub async fn close(&self, request_id: &str) {
        let early = self.has(Fault::NotifyBeforeDecrypt);
        if early {
            let assumed: Vec<Value> = self.with_transfer(request_id, |t| {
                let entries =
                    t.pages.values().flat_map(|p| p["entries"].as_array().cloned().unwrap_or_default());
                entries
                    .map(|e| {
                        json!({"careContextReference": e["careContextReference"], "hiStatus": "OK",
                        "description": "received"})
                    })
                    .collect()
            });
            self.transfer_notify(request_id, assumed).await;
        }
        let statuses = self.with_transfer(request_id, |t| {
            let mut opened = Vec::new();
            for page in t.pages.values() {
                for entry in page["entries"].as_array().into_iter().flatten() {
                    opened.push(open(entry, page, &t.keys));
                }
            }
            t.entries = opened;
            t.entries.iter().map(|o| self.status_of(o)).collect::<Vec<Value>>()
        });
        if !early {
            self.transfer_notify(request_id, statuses).await;
        }
    }

    /// One care context's line in the notify (inverted by the `inverted-status` fault).
    fn status_of(&self, o: &Opened) -> Value {
        let ok = o.hi_status == "OK";
        let ok = if self.has(Fault::InvertedStatus) { !ok } else { ok };
        json!({"careContextReference": o.care_context_reference, "hiStatus": if ok { "OK" } else { "ERRORED" },
            "description": o.description})
    }

    /// Runs `f` on a transfer under the lock.
    fn with_transfer<T: Default>(&self, request_id: &str, f: impl FnOnce(&mut Transfer) -> T) -> T {
        self.state().transfers.get_mut(request_id).map(f).unwrap_or_default()
    }

    /// The HIU's transfer notify: TRANSFERRED (every page arrived), a status per care context.
    async fn transfer_notify(&self, request_id: &str, statuses: Vec<Value>) {
        let Some((consent_id, transaction_id, hip_id)) = self.with_transfer(request_id, |t| {
            Some((t.consent_id.clone(), t.transaction_id.clone().unwrap_or_default(), t.hip_id.clone()))
        }) else {
            return;
        };
        let notification = json!({"consentId": consent_id, "transactionId": transaction_id, "doneAt": now(),
            "notifier": {"type": "HIU", "id": self.gateway.hiu_id},
            "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": hip_id, "statusResponses": statuses}});
        let path = self
            .gateway
            .version
            .pick("/v0.5/health-information/notify", "/data-flow/v3/health-information/notify");
        let body = json!({"notification": notification});
        let answer = self.gateway.send(path, &gateway::request_id(), body.clone()).await;
        self.with_transfer(request_id, |t| {
            t.status = "NOTIFIED".into();
            t.notify =
                Some(json!({"body": body, "gatewayStatus": answer.status, "gatewayAnswer": answer.body}));
        });
    }
}
