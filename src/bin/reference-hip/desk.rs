//! The registration desk: a patient scans the desk's QR code, the gateway shares their profile,
//! the HIP acknowledges it with a token number (the same one for a patient who rescans within
//! 30 minutes), then links the visit it opens to the patient's ABHA address:
//!
//! - v0.5: user auth (purpose LINK, DEMOGRAPHICS) with the shared demographics → the linking
//!   token → `links/link/add-contexts`;
//! - v3: `v3/token/generate-token` with the shared demographics → the link token →
//!   `hip/v3/link/carecontext` with `X-LINK-TOKEN` → `hip/v3/link/context/notify`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::gateway::{now, request_id, Inbound, Version};
use crate::{Fault, Hip};

/// Who a linking step is for.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The ABHA address shared.
    pub address: String,
    /// The ABHA number shared (digits only), when there is one.
    pub number: Option<String>,
    /// Name as shared.
    pub name: String,
    /// Gender as shared.
    pub gender: String,
    /// Year of birth as shared.
    pub year: u64,
    /// Birth date `YYYY-MM-DD` (v0.5 demographic auth).
    pub date_of_birth: String,
}

/// A number the share carries as a number (v0.5) or as a string (v3).
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

impl Visitor {
    /// The patient of a share, v0.5's `healthId` or v3's `abhaAddress`.
    fn of(share: &Value) -> Visitor {
        let p = &share["profile"]["patient"];
        let address = p["abhaAddress"].as_str().or_else(|| p["healthId"].as_str()).unwrap_or_default();
        let digits: String = p["abhaNumber"]
            .as_str()
            .or_else(|| p["healthIdNumber"].as_str())
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let year = number(&p["yearOfBirth"]).unwrap_or(1900);
        Visitor {
            address: address.to_string(),
            number: (digits.len() == 14).then_some(digits),
            name: p["name"].as_str().unwrap_or_default().to_string(),
            gender: p["gender"].as_str().unwrap_or_default().to_string(),
            year,
            date_of_birth: format!(
                "{year}-{:02}-{:02}",
                number(&p["monthOfBirth"]).unwrap_or(1),
                number(&p["dayOfBirth"]).unwrap_or(1)
            ),
        }
    }
}

impl Hip {
    /// The patient's token number: the same within 30 minutes of the first.
    fn token_number(&self, address: &str) -> u32 {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        match tokens.get(address) {
            Some((n, at)) if at.elapsed() < Duration::from_secs(30 * 60) => *n,
            _ => {
                let n = self.next_token.fetch_add(1, Ordering::Relaxed) + 1;
                tokens.insert(address.to_string(), (n, Instant::now()));
                n
            }
        }
    }

    /// A profile share (v0.5, v1.0 or v3): on-share, then linking the visit.
    pub async fn on_share(&self, share: Inbound, path_version: &str) {
        if self.has(Fault::NoOnShare) {
            return;
        }
        let visitor = Visitor::of(&share.body);
        let token = self.token_number(&visitor.address);
        let mut answered = share.clone();
        if self.has(Fault::WrongRequestId) {
            answered.request_id = request_id();
        }
        let acknowledged = if self.has(Fault::WrongHealthId) {
            "someone.else@sbx".to_string()
        } else {
            visitor.address.clone()
        };
        let status = if self.has(Fault::FailureStatus) { "FAILURE" } else { "SUCCESS" };
        if self.has(Fault::LateOnShare) {
            let _ = self
                .gateway
                .http
                .post(format!("{}/_sandbox/clock/advance", self.gateway.base))
                .json(&json!({"seconds": 31}))
                .send()
                .await;
        }
        match self.gateway.version {
            Version::V05 => {
                let ack =
                    json!({"status": status, "healthId": acknowledged, "tokenNumber": token.to_string()});
                let path = format!("/{path_version}/patients/profile/on-share");
                self.gateway.answer(&path, &answered, json!({"acknowledgement": ack})).await;
            }
            Version::V3 => {
                let context = share.body["metaData"]["context"].clone();
                let ack = json!({"abhaAddress": acknowledged, "status": status,
                    "profile": {"context": context, "tokenNumber": token.to_string(), "expiry": "1800"}});
                self.gateway
                    .answer("/patient-share/v3/on-share", &answered, json!({"acknowledgement": ack}))
                    .await;
            }
        }
        if status != "SUCCESS" {
            return;
        }
        match self.gateway.version {
            Version::V05 => self.auth_init(visitor).await,
            Version::V3 => self.generate_token(visitor).await,
        }
    }

    /// The name to confirm or ask a token with (wrong on purpose with a fault).
    fn name_of(&self, visitor: &Visitor) -> String {
        if self.has(Fault::WrongDemographics) {
            format!("{} Other", visitor.name)
        } else {
            visitor.name.clone()
        }
    }

    /// v0.5: verify the address and get a linking token for the visit's records.
    async fn auth_init(&self, visitor: Visitor) {
        let id = request_id();
        let query = json!({"id": visitor.address, "purpose": "LINK", "authMode": "DEMOGRAPHICS",
            "requester": {"type": "HIP", "id": self.gateway.hip_id}});
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), visitor);
        self.gateway.send("/v0.5/users/auth/init", &id, json!({"query": query}), &[]).await;
    }

    /// v0.5 `users/auth/on-init`: confirm with the demographics shared.
    pub async fn on_auth_init(&self, body: Value) {
        let init_id = body["resp"]["requestId"].as_str().unwrap_or_default();
        let Some(visitor) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(init_id) else {
            return;
        };
        let Some(txn) = body["auth"]["transactionId"].as_str() else { return };
        let demographic = json!({"name": self.name_of(&visitor), "gender": visitor.gender, "dateOfBirth": visitor.date_of_birth});
        let confirm = json!({"transactionId": txn, "credential": {"demographic": demographic}});
        let id = request_id();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), visitor);
        self.gateway.send("/v0.5/users/auth/confirm", &id, confirm, &[]).await;
    }

    /// v0.5 `users/auth/on-confirm`: link the visit with the linking token.
    pub async fn on_auth_confirm(&self, body: Value) {
        let confirm_id = body["resp"]["requestId"].as_str().unwrap_or_default();
        let visitor = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(confirm_id);
        let Some(token) = body["auth"]["accessToken"].as_str() else { return };
        let (mr, visit) = self.visit(visitor.as_ref().map(|v| v.address.as_str()));
        let patient = json!({"referenceNumber": mr, "display": "Registration desk patient",
            "careContexts": [{"referenceNumber": visit, "display": "OPD visit"}]});
        let link = json!({"link": {"accessToken": token, "patient": patient}});
        self.gateway.send("/v0.5/links/link/add-contexts", &request_id(), link, &[]).await;
    }

    /// The patient's MR (from the records, or a new one) and a new visit's care-context reference.
    fn visit(&self, address: Option<&str>) -> (String, String) {
        let n = self.next_visit.fetch_add(1, Ordering::Relaxed) + 1;
        let book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        let mr = address.and_then(|a| book.by_address(a)).map(|p| p.mr.clone());
        (mr.unwrap_or_else(|| format!("PAT-{n}")), format!("VISIT-{n}"))
    }

    /// v3: a link token for the patient, asked with the demographics shared.
    async fn generate_token(&self, visitor: Visitor) {
        let id = request_id();
        let mut body = json!({"abhaAddress": visitor.address, "name": self.name_of(&visitor),
            "gender": visitor.gender, "yearOfBirth": visitor.year});
        if let Some(n) = &visitor.number {
            body["abhaNumber"] = json!(n);
        }
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), visitor);
        self.gateway.send("/v3/token/generate-token", &id, body, &[]).await;
    }

    /// v3 `on-generate-token`: link the visit with `X-LINK-TOKEN`.
    pub async fn on_generate_token(&self, body: Value) {
        let asked = body["response"]["requestId"].as_str().unwrap_or_default();
        let Some(visitor) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(asked) else {
            return;
        };
        let Some(token) = body["linkToken"].as_str() else { return };
        let (mr, visit) = self.visit(Some(&visitor.address));
        let patient = json!([{"referenceNumber": mr, "display": visitor.name,
            "careContexts": [{"referenceNumber": visit, "display": "OPD visit"}], "hiType": "OPConsultation", "count": 1}]);
        let mut link = json!({"abhaAddress": visitor.address, "patient": patient});
        if let Some(n) = &visitor.number {
            link["abhaNumber"] = json!(n);
        }
        let id = request_id();
        self.linking
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), (visitor.address, mr, visit));
        self.gateway.send("/hip/v3/link/carecontext", &id, link, &[("X-LINK-TOKEN", token)]).await;
    }

    /// v3 `on_carecontext`: once linked, tell the HIE-CM the visit has a new record.
    pub async fn on_carecontext(&self, body: Value) {
        let asked = body["response"]["requestId"].as_str().unwrap_or_default();
        let Some((address, mr, visit)) = self.linking.lock().unwrap_or_else(|e| e.into_inner()).remove(asked)
        else {
            return;
        };
        if body.get("error").is_some_and(|e| !e.is_null()) {
            return;
        }
        let notification = json!({"patient": {"id": address},
            "careContext": {"patientReference": mr, "careContextReference": visit},
            "hiTypes": ["OPConsultation"], "date": now(), "hip": {"id": self.gateway.hip_id}});
        self.gateway
            .send("/hip/v3/link/context/notify", &request_id(), json!({"notification": notification}), &[])
            .await;
    }
}
