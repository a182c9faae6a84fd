//! Consent and health-information transfer as a HIP meets them (M2), with the sandbox as the
//! consent manager and the HIU: the consent notify and the HIP's on-notify, the HI request with
//! the sandbox HIU's Fidelius key, the HIP's encrypted push checked entry by entry (decrypts,
//! MD5 checksum, a FHIR document bundle, covered by the consent), the transfer notify, and the
//! consent manager refusing requests on revoked or expired consents or outside their dates.

mod common;

use abdm_server::fidelius::{self, KeyMaterial};
use common::hip::{self, Hip, Recorded, WAIT};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const HIP1: &str = "IN2910000001";
const ASHA: &str = "asha.verma@sbx";

fn rid() -> String {
    Uuid::new_v4().to_string()
}

/// A FHIR document bundle of one HI type (its Composition's SNOMED code).
fn bundle(code: &str, title: &str) -> String {
    json!({"resourceType": "Bundle", "type": "document", "id": rid(), "entry": [
        {"resource": {"resourceType": "Composition", "status": "final", "title": title,
            "type": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}},
        {"resource": {"resourceType": "Patient", "name": [{"text": "Asha Verma"}]}}]})
    .to_string()
}

fn md5_hex(text: &str) -> String {
    use md5::Digest;
    md5::Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

struct Setup {
    sb: TestSandbox,
    hip: Hip,
    token: String,
    v3: bool,
}

async fn setup(v3: bool) -> Setup {
    let sb = TestSandbox::start().await;
    let hip = Hip::start().await;
    let token = sb.session_for("SBX_000001", "sandbox-secret-0001").await;
    if v3 {
        let (auth, id, ts) = (format!("Bearer {token}"), rid(), chrono_now());
        let headers = [
            ("Authorization", auth.as_str()),
            ("REQUEST-ID", id.as_str()),
            ("TIMESTAMP", ts.as_str()),
            ("X-CM-ID", "sbx"),
        ];
        let r = sb
            .send(Method::PATCH, "/api/hiecm/gateway/v3/bridge/url", Some(&json!({"url": hip.url})), &headers)
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
    } else {
        hip::register_bridge(&sb, &token, &hip.url).await;
    }
    let seed = json!({"hipId": HIP1, "abhaAddress": ASHA, "patientReference": "MR-1",
        "careContexts": [{"referenceNumber": "OP-1", "display": "OPD 2024"}, {"referenceNumber": "RX-1", "display": "Rx 2025"}]});
    assert_eq!(sb.post("/_sandbox/care-contexts", seed).await.status, 200);
    Setup { sb, hip, token, v3 }
}

impl Setup {
    /// A HIP → gateway message in this setup's version, answering `to` when given.
    async fn send(&self, paths: (&str, &str), to: Option<&Recorded>, body: Value) -> Reply {
        self.sb.enveloped((self.v3, &self.token), paths, to, body, &[]).await
    }

    fn path(&self, v05: &'static str, v3: &'static str) -> &'static str {
        if self.v3 {
            v3
        } else {
            v05
        }
    }

    /// Grants a consent and acknowledges its notify; returns the consent id.
    async fn granted(&self, body: Value) -> String {
        let r = self.sb.post("/_sandbox/consents", body).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let id = r.body["consentId"].as_str().unwrap().to_string();
        let path = self.path("/v0.5/consents/hip/notify", "/api/v3/consent/request/hip/notify");
        let notify =
            self.hip.wait_for_where(path, WAIT, |r| r.body["notification"]["consentId"] == json!(id)).await;
        assert_eq!(notify.body["notification"]["status"], "GRANTED");
        assert_eq!(notify.body["notification"]["consentId"], json!(id));
        let ack = json!({"acknowledgement": {"status": "OK", "consentId": id}});
        let r = self.send(ON_NOTIFY, Some(&notify), ack).await;
        assert_eq!(r.status, 202, "{}", r.body);
        id
    }

    /// Asks for the data; returns (transactionId, the HI request the HIP received).
    async fn requested(&self, consent: &str, key_format: &str) -> (String, Recorded) {
        let r = self
            .sb
            .post(
                "/_sandbox/health-information/requests",
                json!({"consentId": consent, "keyFormat": key_format}),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        let txn = r.body["transactionId"].as_str().unwrap().to_string();
        let path =
            self.path("/v0.5/health-information/hip/request", "/api/v3/hip/health-information/request");
        let request = self.hip.wait_for_where(path, WAIT, |r| r.body["transactionId"] == json!(txn)).await;
        let ack = json!({"hiRequest": {"transactionId": txn, "sessionStatus": "ACKNOWLEDGED"}});
        assert_eq!(self.send(ON_REQUEST, Some(&request), ack).await.status, 202);
        (txn, request)
    }

    async fn outcome(&self, txn: &str) -> Value {
        self.sb.get(&format!("/_sandbox/health-information/requests/{txn}")).await.ok().clone()
    }
}

const ON_NOTIFY: (&str, &str) =
    ("/gateway/v0.5/consents/hip/on-notify", "/api/hiecm/consent/v3/request/hip/on-notify");
const ON_REQUEST: (&str, &str) = (
    "/gateway/v0.5/health-information/hip/on-request",
    "/api/hiecm/data-flow/v3/health-information/hip/on-request",
);
const NOTIFY: (&str, &str) =
    ("/gateway/v0.5/health-information/notify", "/api/hiecm/data-flow/v3/health-information/notify");

/// The HIP's side of a push: its own key material, the entries encrypted for the HIU's key.
fn push_body(request: &Recorded, hip: &KeyMaterial, entries: &[(&str, String, Option<String>)]) -> Value {
    let km = &request.body["hiRequest"]["keyMaterial"];
    let (hiu_key, hiu_nonce) =
        (km["dhPublicKey"]["keyValue"].as_str().unwrap(), km["nonce"].as_str().unwrap());
    let entries: Vec<Value> = entries
        .iter()
        .map(|(cc, text, checksum)| {
            let content = fidelius::encrypt(text, &hip.nonce, hiu_nonce, &hip.private_key, hiu_key).unwrap();
            json!({"content": content, "media": "application/fhir+json",
                "checksum": checksum.clone().unwrap_or_else(|| md5_hex(text)), "careContextReference": cc})
        })
        .collect();
    json!({"pageNumber": 1, "pageCount": 1, "transactionId": request.body["transactionId"], "entries": entries,
        "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
            "dhPublicKey": {"expiry": chrono_now(), "parameters": "Curve25519/32byte random key", "keyValue": hip.x509_public_key},
            "nonce": hip.nonce}})
}

async fn push(sb: &TestSandbox, request: &Recorded, body: &Value) -> Reply {
    let url = request.body["hiRequest"]["dataPushUrl"].as_str().unwrap();
    let path = url.split_once("/_sandbox/").map(|(_, p)| format!("/_sandbox/{p}")).unwrap();
    assert!(url.starts_with(&sb.url), "dataPushUrl {url} is under the sandbox's address");
    sb.post(&path, body.clone()).await
}

fn transferred(consent: &str, txn: &str, statuses: &[(&str, &str)]) -> Value {
    let responses: Vec<Value> = statuses
        .iter()
        .map(|(cc, s)| json!({"careContextReference": cc, "hiStatus": s, "description": "done"}))
        .collect();
    json!({"notification": {"consentId": consent, "transactionId": txn, "doneAt": chrono_now(),
        "notifier": {"type": "HIP", "id": HIP1},
        "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": HIP1, "statusResponses": responses}}})
}

async fn a_whole_transfer(v3: bool, key_format: &str) {
    let s = setup(v3).await;
    let consent = s
        .granted(json!({"hipId": HIP1, "abhaAddress": ASHA, "hiTypes": ["OPConsultation", "Prescription"]}))
        .await;
    let out = s.sb.get(&format!("/_sandbox/consents/{consent}")).await;
    assert_eq!(out.ok()["notifies"][0]["matched"], true, "{}", out.body);
    assert_eq!(out.body["consentDetail"]["careContexts"].as_array().unwrap().len(), 2);
    let (txn, request) = s.requested(&consent, key_format).await;
    let key = request.body["hiRequest"]["keyMaterial"]["dhPublicKey"]["keyValue"].as_str().unwrap();
    assert_eq!(key.len(), if key_format == "x509" { 412 } else { 88 });
    assert_eq!(request.body["hiRequest"]["consent"]["id"], json!(consent));

    let hip = KeyMaterial::generate();
    let entries = [
        ("OP-1", bundle("371530004", "OP visit"), None),
        ("RX-1", bundle("440545006", "Prescription"), None),
    ];
    let r = push(&s.sb, &request, &push_body(&request, &hip, &entries)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = s
        .send(NOTIFY, None, transferred(&consent, &txn, &[("OP-1", "DELIVERED"), ("RX-1", "DELIVERED")]))
        .await;
    assert_eq!(r.status, 202, "{}", r.body);

    let out = s.outcome(&txn).await;
    assert_eq!(out["status"], "TRANSFERRED", "{out}");
    assert_eq!(out["problems"], json!([]), "{out}");
    assert_eq!(out["onRequest"]["matched"], true);
    assert_eq!(out["notify"]["matched"], true);
    assert_eq!(out["withinDeadline"], true);
    let e = &out["entries"][1];
    assert_eq!((e["decrypted"].clone(), e["checksumMatches"].clone()), (json!(true), json!(true)), "{out}");
    assert_eq!(
        (e["resourceType"].as_str(), e["bundleType"].as_str(), e["hiType"].as_str()),
        (Some("Bundle"), Some("document"), Some("Prescription"))
    );
    let content = s.sb.get(&format!("/_sandbox/health-information/requests/{txn}/entries/0")).await;
    assert_eq!(content.body["entry"][0]["resource"]["title"], "OP visit");
    // The push is in the journal, encrypted; no decrypted content is.
    let journal = s.sb.journal("").await;
    let pushed = journal
        .iter()
        .find(|e| e["path"].as_str().is_some_and(|p| p.starts_with("/_sandbox/data-push/")))
        .expect("journalled");
    assert!(!pushed.to_string().contains("OP visit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_transfer_v05_raw_key() {
    a_whole_transfer(false, "raw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_transfer_v3_x509_key() {
    a_whole_transfer(true, "x509").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_transfer_mistake_is_named() {
    let s = setup(false).await;
    let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA, "careContexts": ["OP-1"], "hiTypes": ["OPConsultation"]})).await;
    let (txn, request) = s.requested(&consent, "raw").await;
    let hip = KeyMaterial::generate();
    let entries = [
        ("OP-1", bundle("371530004", "ok"), Some("0".repeat(32))),
        ("RX-1", bundle("371530004", "not covered"), None),
        ("OP-1", bundle("440545006", "a prescription"), None),
        ("OP-1", json!({"resourceType": "Patient"}).to_string(), None),
    ];
    assert_eq!(push(&s.sb, &request, &push_body(&request, &hip, &entries)).await.status, 202);
    // A second transfer with the same HIP key material.
    let (txn2, request2) = s.requested(&consent, "raw").await;
    let mut again = push_body(&request2, &hip, &[("OP-1", bundle("371530004", "again"), None)]);
    again["pageCount"] = json!(1);
    assert_eq!(push(&s.sb, &request2, &again).await.status, 202);
    let r = s
        .send(NOTIFY, None, transferred(&consent, &txn, &[("OP-1", "DELIVERED"), ("XX-9", "DELIVERED")]))
        .await;
    assert_eq!(r.status, 202);

    let out = s.outcome(&txn).await;
    let problem = |i: usize| out["entries"][i]["problem"].as_str().unwrap_or_default().to_string();
    assert!(problem(0).contains("checksum"), "{out}");
    assert!(problem(1).contains("not covered by the consent"), "{out}");
    assert!(problem(2).contains("HI type Prescription"), "{out}");
    assert!(problem(3).contains("document"), "{out}");
    let notify = out["notify"]["problems"].to_string();
    assert!(notify.contains("XX-9") && notify.contains("no status for RX-1"), "{out}");
    let out2 = s.outcome(&txn2).await;
    assert!(out2["problems"].to_string().contains("reuses the key"), "{out2}");
}

/// A HIP key pair whose shared secret with `hiu_key` starts with a zero byte.
fn leading_zero_pair(hiu_key: &str) -> (KeyMaterial, [u8; 32]) {
    loop {
        let hip = KeyMaterial::generate();
        let secret = fidelius::shared_secret(&hip.private_key, hiu_key).unwrap();
        if secret[0] == 0 {
            return (hip, secret);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpadded_secret_is_named_as_such() {
    let s = setup(false).await;
    let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    let (txn, request) = s.requested(&consent, "raw").await;
    let km = &request.body["hiRequest"]["keyMaterial"];
    let (hiu_key, hiu_nonce) =
        (km["dhPublicKey"]["keyValue"].as_str().unwrap(), km["nonce"].as_str().unwrap());
    let (hip, secret) = leading_zero_pair(hiu_key);
    let text = bundle("371530004", "padded?");
    let unpadded: Vec<u8> = secret.iter().copied().skip_while(|b| *b == 0).collect();
    let content = fidelius::encrypt_with_secret(&text, &unpadded, &hip.nonce, hiu_nonce).unwrap();
    let mut body = push_body(&request, &hip, &[("OP-1", text.clone(), None)]);
    body["entries"][0]["content"] = json!(content);
    assert_eq!(push(&s.sb, &request, &body).await.status, 202);
    let out = s.outcome(&txn).await;
    assert_eq!(out["entries"][0]["decrypted"], false, "{out}");
    assert!(out["entries"][0]["problem"].as_str().unwrap().contains("left-padded"), "{out}");
    // The same secret padded decrypts.
    let (txn, request) = s.requested(&consent, "raw").await;
    let km = &request.body["hiRequest"]["keyMaterial"];
    let (hip, _) = leading_zero_pair(km["dhPublicKey"]["keyValue"].as_str().unwrap());
    assert_eq!(push(&s.sb, &request, &push_body(&request, &hip, &[("OP-1", text, None)])).await.status, 202);
    assert_eq!(s.outcome(&txn).await["entries"][0]["decrypted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_manager_refuses_requests_it_must() {
    let s = setup(true).await;
    let r = s
        .sb
        .post("/_sandbox/consents", json!({"hipId": HIP1, "abhaAddress": ASHA, "careContexts": ["NOPE-9"]}))
        .await;
    r.refused(422, "careContexts[0]", "care-context-not-linked");
    let r =
        s.sb.post("/_sandbox/consents", json!({"hipId": HIP1, "abhaAddress": ASHA, "hiTypes": ["XRay"]}))
            .await;
    r.refused(400, "hiTypes[0]", "hi-type");
    let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA, "dateRange": {"from": "2020-01-01T00:00:00.000Z", "to": "2024-01-01T00:00:00.000Z"}})).await;
    let r =
        s.sb.post(
            "/_sandbox/health-information/requests",
            json!({"consentId": consent,
        "dateRange": {"from": "2019-01-01T00:00:00.000Z", "to": "2021-01-01T00:00:00.000Z"}}),
        )
        .await;
    r.refused(400, "dateRange", "date-range");
    assert_eq!(r.body["error"]["code"], "ABDM-1063");
    let r = s.sb.post(&format!("/_sandbox/consents/{consent}/revoke"), json!({})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let revoked = s
        .hip
        .wait_for_where("/api/v3/consent/request/hip/notify", WAIT, |r| {
            r.body["notification"]["status"] == "REVOKED"
        })
        .await;
    assert_eq!(revoked.body["notification"]["consentId"], json!(consent));
    let r = s.sb.post("/_sandbox/health-information/requests", json!({"consentId": consent})).await;
    r.refused(412, "consentId", "consent-not-granted");
    assert_eq!(r.body["error"]["code"], "ABDM-1062");
    s.sb.post(&format!("/_sandbox/consents/{consent}/expire"), json!({})).await.refused(
        422,
        "consentId",
        "consent-not-granted",
    );

    let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA, "careContexts": ["OP-1"]})).await;
    s.sb.advance(2 * 86_400).await;
    let r = s.sb.post("/_sandbox/health-information/requests", json!({"consentId": consent})).await;
    r.refused(410, "consentId", "consent-expired");
    let r = s.sb.post("/_sandbox/health-information/requests", json!({"consentId": rid()})).await;
    r.refused(404, "consentId", "consent-unknown");
    // An on-notify that acknowledges the wrong consent is refused and kept.
    let s = setup(false).await;
    let r = s.sb.post("/_sandbox/consents", json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    let id = r.body["consentId"].as_str().unwrap().to_string();
    let notify = s.hip.wait_for("/v0.5/consents/hip/notify", WAIT).await;
    let r = s
        .send(ON_NOTIFY, Some(&notify), json!({"acknowledgement": {"status": "OK", "consentId": rid()}}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let out = s.sb.get(&format!("/_sandbox/consents/{id}")).await;
    assert!(out.ok()["notifies"][0]["problems"][0].as_str().unwrap().contains("consentId"), "{}", out.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v05_sends_no_expired_notify_but_v3_does() {
    for v3 in [false, true] {
        let s = setup(v3).await;
        let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
        let r = s.sb.post(&format!("/_sandbox/consents/{consent}/expire"), json!({})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.body["status"], "EXPIRED");
        // v0.5: "Only the GRANTED and REVOKED status notifications will be sent to HIP".
        assert_eq!(r.body["requestId"].is_null(), !v3, "{}", r.body);
        let out = s.sb.get(&format!("/_sandbox/consents/{consent}")).await;
        assert_eq!(out.ok()["notifies"].as_array().unwrap().len(), if v3 { 2 } else { 1 }, "{}", out.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_bundle_not_led_by_its_composition_is_named() {
    let s = setup(false).await;
    let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    let (txn, request) = s.requested(&consent, "raw").await;
    // A document bundle that names a Composition, but not as its first entry.
    let patient_first = json!({"resourceType": "Bundle", "type": "document", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"text": "Asha Verma"}]}},
        {"resource": {"resourceType": "Composition", "status": "final", "title": "late",
            "type": {"coding": [{"system": "http://snomed.info/sct", "code": "371530004"}]}}}]})
    .to_string();
    let hip = KeyMaterial::generate();
    assert_eq!(
        push(&s.sb, &request, &push_body(&request, &hip, &[("OP-1", patient_first, None)])).await.status,
        202
    );
    let out = s.outcome(&txn).await;
    assert_eq!(out["entries"][0]["decrypted"], true, "{out}");
    assert!(
        out["entries"][0]["problem"]
            .as_str()
            .unwrap_or_default()
            .contains("first entry must be a Composition"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_forgotten_after_their_lifetime() {
    let s = setup(false).await;
    let consent = s.granted(json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    let (txn, _) = s.requested(&consent, "raw").await;
    let path = format!("/_sandbox/health-information/requests/{txn}");
    assert_eq!(s.sb.get(&path).await.status, 200);
    // 30 minutes' lifetime and 10 minutes' grace: the clock advance sweeps it.
    s.sb.advance(41 * 60).await;
    s.sb.get(&path).await.refused(404, "transactionId", "transaction-unknown");
    assert_eq!(s.sb.get(&format!("/_sandbox/consents/{consent}")).await.status, 200, "consents live a week");
}
