//! The HIU side (M3) over HTTP, with a test HIU on a free port: consent requests with scripted
//! patients (grant with two artefacts, deny, ask), on-notify, status and fetch, the HI request
//! with the HIU's own Fidelius key (raw and X.509), the sandbox's pushes as each HIP decrypted
//! byte for byte, the HIU's notify judged, and each refusal of the consent manager with its code.

mod common;

use std::time::Duration;

use abdm_server::fidelius::{self, KeyMaterial};
use common::hip::{Hip, Recorded, WAIT};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const HIU: &str = "IN2710000003";
const ASHA: &str = "asha.verma@sbx";
const RAVI: &str = "ravi.kumar@sbx";
const MEENA: &str = "meena.iyer@sbx";

fn rid() -> String {
    Uuid::new_v4().to_string()
}

/// A test HIU: the inbox is its bridge and its dataPushUrl.
struct Hiu {
    sb: TestSandbox,
    inbox: Hip,
    token: String,
    v3: bool,
}

const INIT: (&str, &str) = ("/gateway/v0.5/consent-requests/init", "/api/hiecm/consent/v3/request/init");
const STATUS: (&str, &str) =
    ("/gateway/v0.5/consent-requests/status", "/api/hiecm/consent/v3/request/status");
const ON_NOTIFY: (&str, &str) =
    ("/gateway/v0.5/consents/hiu/on-notify", "/api/hiecm/consent/v3/request/hiu/on-notify");
const FETCH: (&str, &str) = ("/gateway/v0.5/consents/fetch", "/api/hiecm/consent/v3/fetch");
const REQUEST: (&str, &str) =
    ("/gateway/v0.5/health-information/cm/request", "/api/hiecm/data-flow/v3/health-information/request");
const NOTIFY: (&str, &str) =
    ("/gateway/v0.5/health-information/notify", "/api/hiecm/data-flow/v3/health-information/notify");

async fn hiu(v3: bool) -> Hiu {
    let sb = TestSandbox::start().await;
    let inbox = Hip::start().await;
    let token = sb.session_for("SBX_000003", "sandbox-secret-0003").await;
    let h = Hiu { sb, inbox, token, v3 };
    let url = json!({"url": h.inbox.url});
    let r = if v3 {
        h.send_to(Method::PATCH, "/api/hiecm/gateway/v3/bridge/url", url).await
    } else {
        let auth = format!("Bearer {}", h.token);
        h.sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&url), &[("Authorization", &auth)]).await
    };
    assert!(r.status < 300, "{}", r.body);
    h
}

impl Hiu {
    async fn send_to(&self, method: Method, path: &str, body: Value) -> Reply {
        let (auth, id, ts) = (format!("Bearer {}", self.token), rid(), chrono_now());
        let headers = [
            ("Authorization", auth.as_str()),
            ("REQUEST-ID", id.as_str()),
            ("TIMESTAMP", ts.as_str()),
            ("X-CM-ID", "sbx"),
            ("X-HIU-ID", HIU),
        ];
        self.sb.send(method, path, Some(&body), &headers).await
    }

    /// An HIU → gateway message in this HIU's version, answering `to` when given.
    async fn send(&self, paths: (&str, &str), to: Option<&Recorded>, body: Value) -> Reply {
        self.sb.enveloped((self.v3, &self.token), paths, to, body, &[("X-HIU-ID", HIU)]).await
    }

    fn path(&self, v05: &'static str, v3: &'static str) -> &'static str {
        if self.v3 {
            v3
        } else {
            v05
        }
    }

    /// Asks for consent; returns the consent request id from on-init.
    async fn init(&self, body: Value) -> String {
        let path = self.path("/v0.5/consent-requests/on-init", "/api/v3/hiu/consent/request/on-init");
        let before = self.inbox.received(path).len();
        let r = self.send(INIT, None, body).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let on_init = self.inbox.wait_for_count(path, before + 1, WAIT).await;
        let last = on_init.last().unwrap();
        assert_eq!(last.hiu_id.as_deref(), Some(HIU));
        assert_eq!(last.body["error"], Value::Null, "{}", last.body);
        last.body["consentRequest"]["id"].as_str().unwrap().to_string()
    }

    /// Waits for the notify of a consent request with `status`; acknowledges it.
    async fn notified(&self, request: &str, status: &str) -> Vec<String> {
        let path = self.path("/v0.5/consents/hiu/notify", "/api/v3/hiu/consent/request/notify");
        let n = self
            .inbox
            .wait_for_where(path, WAIT, |r| {
                r.body["notification"]["consentRequestId"] == json!(request)
                    && r.body["notification"]["status"] == json!(status)
            })
            .await;
        let ids: Vec<String> = n.body["notification"]["consentArtefacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        let acks: Vec<Value> = ids.iter().map(|id| json!({"status": "OK", "consentId": id})).collect();
        let r = self.send(ON_NOTIFY, Some(&n), json!({"acknowledgement": acks})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        ids
    }

    async fn fetch(&self, consent: &str) -> Value {
        let path = self.path("/v0.5/consents/on-fetch", "/api/v3/hiu/consent/on-fetch");
        let before = self.inbox.received(path).len();
        let r = self.send(FETCH, None, json!({"consentId": consent})).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let got = self.inbox.wait_for_count(path, before + 1, WAIT).await;
        let last = got.last().unwrap();
        assert_eq!(last.body["consent"]["consentDetail"]["consentId"], json!(consent));
        last.body["consent"].clone()
    }

    async fn outcome(&self, txn: &str) -> Value {
        self.sb.get(&format!("/_sandbox/health-information/requests/{txn}")).await.ok().clone()
    }
}

/// A consent request body; the data is to be erased in 30 days.
fn consent(patient: &str, hi_types: &[&str], from: &str, to: &str) -> Value {
    let erase = stamp(chrono::Utc::now() + chrono::Duration::days(30));
    json!({"consent": {
        "purpose": {"text": "Care Management", "code": "CAREMGT", "refUri": "http://terminology.hl7.org/ValueSet/v3-PurposeOfUse"},
        "patient": {"id": patient}, "hiu": {"id": HIU, "name": "Sandbox Diagnostics"},
        "requester": {"name": "Dr. Rao", "identifier": {"type": "REGNO", "value": "MH1001", "system": "https://www.mciindia.org"}},
        "hiTypes": hi_types,
        "permission": {"accessMode": "VIEW", "dateRange": {"from": from, "to": to},
            "dataEraseAt": erase, "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}}}})
}

const ALL: [&str; 5] =
    ["OPConsultation", "Prescription", "DiagnosticReport", "DischargeSummary", "ImmunizationRecord"];

fn hi_request(
    consent: &str,
    keys: &KeyMaterial,
    x509: bool,
    url: &str,
    range: Option<(&str, &str)>,
) -> Value {
    let key = if x509 { &keys.x509_public_key } else { &keys.public_key };
    let mut hi = json!({"consent": {"id": consent}, "dataPushUrl": url,
        "keyMaterial": {"cryptoAlg": "ECDH", "curve": "Curve25519",
            "dhPublicKey": {"expiry": "2099-01-01T00:00:00.000Z", "parameters": "Curve25519/32byte random key", "keyValue": key},
            "nonce": keys.nonce}});
    if let Some((from, to)) = range {
        hi["dateRange"] = json!({"from": from, "to": to});
    }
    json!({"hiRequest": hi})
}

/// The shipped bundle of a care context, as the fixtures hold it.
fn shipped(cc: &str) -> String {
    let path = format!("{}/fixtures/records/{}.json", env!("CARGO_MANIFEST_DIR"), cc.to_lowercase());
    std::fs::read_to_string(path).unwrap()
}

/// Grants Asha's request for every HI type and fetches both artefacts: (request id, artefacts by HIP).
async fn granted(h: &Hiu) -> (String, Vec<Value>) {
    let request = h.init(consent(ASHA, &ALL, "2015-01-01T00:00:00.000Z", &chrono_now())).await;
    h.sb.advance(3).await;
    let ids = h.notified(&request, "GRANTED").await;
    assert_eq!(ids.len(), 2, "one artefact per HIP holding records");
    let mut fetched = Vec::new();
    for id in &ids {
        fetched.push(h.fetch(id).await);
    }
    fetched.sort_by_key(|c| c["consentDetail"]["hip"]["id"].as_str().unwrap().to_string());
    (request, fetched)
}

async fn whole_flow(v3: bool, x509: bool) {
    let h = hiu(v3).await;
    let (request, artefacts) = granted(&h).await;
    let hospital = &artefacts[0]["consentDetail"];
    assert_eq!(hospital["hip"]["id"], "IN0910000002");
    assert_eq!(artefacts[0]["status"], "GRANTED");
    assert_eq!(hospital["careContexts"].as_array().unwrap().len(), 3);
    assert_eq!(
        hospital["permission"]["dateRange"]["from"], "2019-11-02T00:00:00.000Z",
        "narrowed to the records"
    );
    assert_eq!(hospital["permission"]["dateRange"]["to"], "2024-01-11T00:00:00.000Z");
    assert!(artefacts[0]["signature"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(artefacts[1]["consentDetail"]["hip"]["id"], "IN2910000001");
    let path = h.path("/v0.5/consent-requests/on-status", "/api/v3/hiu/consent/request/on-status");
    assert_eq!(h.send(STATUS, None, json!({"consentRequestId": request})).await.status, 202);
    let st = h.inbox.wait_for(path, WAIT).await;
    assert_eq!(st.body["consentRequest"]["status"], "GRANTED");
    assert_eq!(st.body["consentRequest"]["consentArtefacts"].as_array().unwrap().len(), 2);

    let consent = hospital["consentId"].as_str().unwrap();
    let keys = KeyMaterial::generate();
    let url = format!("{}/data/push/{consent}", h.inbox.url);
    let r = h.send(REQUEST, None, hi_request(consent, &keys, x509, &url, None)).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let on_request = h
        .inbox
        .wait_for(
            h.path("/v0.5/health-information/hiu/on-request", "/api/v3/hiu/health-information/on-request"),
            WAIT,
        )
        .await;
    assert_eq!(on_request.body["hiRequest"]["sessionStatus"], "REQUESTED");
    let txn = on_request.body["hiRequest"]["transactionId"].as_str().unwrap().to_string();
    let pages = h.inbox.wait_for_count(&format!("/data/push/{consent}"), 2, WAIT).await;
    let mut statuses = Vec::new();
    for page in &pages {
        assert_eq!(page.body["transactionId"], json!(txn));
        assert_eq!(page.body["pageCount"], 2);
        assert!(page.authorization.is_some(), "the push carries a token");
        let km = &page.body["keyMaterial"];
        let hip_key = km["dhPublicKey"]["keyValue"].as_str().unwrap();
        assert_eq!(hip_key.len(), if x509 { 412 } else { 88 }, "the HIP's key in the HIU's form");
        for e in page.body["entries"].as_array().unwrap() {
            let cc = e["careContextReference"].as_str().unwrap();
            let plain = fidelius::decrypt(
                e["content"].as_str().unwrap(),
                &keys.nonce,
                km["nonce"].as_str().unwrap(),
                &keys.private_key,
                hip_key,
            )
            .unwrap();
            assert_eq!(plain, shipped(cc), "{cc} decrypts byte for byte to the shipped bundle");
            use md5::Digest;
            let md5: String = md5::Md5::digest(plain.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(e["checksum"], json!(md5));
            statuses.push(json!({"careContextReference": cc, "hiStatus": "OK", "description": "decrypted"}));
        }
    }
    assert_eq!(statuses.len(), 3);
    let notify = json!({"notification": {"consentId": consent, "transactionId": txn, "doneAt": chrono_now(),
        "notifier": {"type": "HIU", "id": HIU},
        "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": "IN0910000002", "statusResponses": statuses}}});
    let r = h.send(NOTIFY, None, notify).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body["status"], "Notification is Accepted");
    let out = h.outcome(&txn).await;
    assert_eq!(out["hiuReport"]["matches"], true, "{out}");
    assert_eq!(out["status"], "TRANSFERRED");
    assert_eq!(out["keyFormat"], if x509 { "x509" } else { "raw" });
    assert_eq!(out["hipNotify"]["sessionStatus"], "TRANSFERRED");
    let req = h.sb.get(&format!("/_sandbox/consent-requests/{request}")).await;
    assert_eq!(req.ok()["notifies"][0]["matched"], true, "{}", req.body);
    assert_eq!(req.body["notifies"][0]["delivered"], true);
    assert!(req.body["artefacts"].as_array().unwrap().iter().all(|a| a["fetched"] == true));
}

#[tokio::test]
async fn v05_hiu_receives_two_artefacts_and_decrypts_every_entry_with_a_raw_key() {
    whole_flow(false, false).await;
}

#[tokio::test]
async fn v3_hiu_receives_two_artefacts_and_decrypts_every_entry_with_an_x509_key() {
    whole_flow(true, true).await;
}

#[tokio::test]
async fn a_denying_patient_ends_the_request_denied_with_nothing_to_fetch() {
    let h = hiu(false).await;
    let request = h.init(consent(RAVI, &ALL, "2015-01-01T00:00:00.000Z", &chrono_now())).await;
    h.sb.advance(3).await;
    assert!(h.notified(&request, "DENIED").await.is_empty());
    let out = h.sb.get(&format!("/_sandbox/consent-requests/{request}")).await;
    assert_eq!(out.ok()["status"], "DENIED");
    assert_eq!(out.body["artefacts"], json!([]));
    // Nothing to fetch: the consent manager answers on-fetch with 1416.
    assert_eq!(h.send(FETCH, None, json!({"consentId": rid()})).await.status, 202);
    let got = h.inbox.wait_for("/v0.5/consents/on-fetch", WAIT).await;
    assert_eq!(got.body["consent"], Value::Null);
    assert_eq!(got.body["error"]["code"], 1416, "{}", got.body);
    assert_eq!(h.send(STATUS, None, json!({"consentRequestId": rid()})).await.status, 202);
    let got = h.inbox.wait_for("/v0.5/consent-requests/on-status", WAIT).await;
    assert_eq!(got.body["error"]["code"], 1415, "{}", got.body);
}

#[tokio::test]
async fn an_asked_patient_waits_for_the_control_call() {
    let h = hiu(true).await;
    let request =
        h.init(consent(MEENA, &["ImmunizationRecord"], "2015-01-01T00:00:00.000Z", &chrono_now())).await;
    h.sb.advance(30).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = h.sb.get(&format!("/_sandbox/consent-requests/{request}")).await;
    assert_eq!(out.ok()["status"], "REQUESTED");
    assert_eq!(out.body["decision"], "ask");
    let r = h.sb.post(&format!("/_sandbox/consent-requests/{request}/grant"), json!({})).await;
    assert_eq!(r.ok()["status"], "GRANTED");
    let ids = h.notified(&request, "GRANTED").await;
    assert_eq!(ids.len(), 1);
    let c = h.fetch(&ids[0]).await;
    assert_eq!(c["consentDetail"]["careContexts"][0]["careContextReference"], "HSP-2003-IM-2024");
    h.sb.post(&format!("/_sandbox/consent-requests/{request}/deny"), json!({})).await.refused(
        409,
        "consentRequestId",
        "consent-request-decided",
    );
    let listed = h.sb.get(&format!("/_sandbox/consent-requests?hiuId={HIU}")).await;
    assert_eq!(listed.ok()["consentRequests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoke_and_expiry_are_notified_and_stop_the_data() {
    let mut h = hiu(false).await;
    let (_, artefacts) = granted(&h).await;
    let (hospital, clinic) = (
        artefacts[0]["consentDetail"]["consentId"].as_str().unwrap().to_string(),
        artefacts[1]["consentDetail"]["consentId"].as_str().unwrap().to_string(),
    );
    let r = h.sb.post(&format!("/_sandbox/consents/{hospital}/revoke"), json!({})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let request = r.body["consentRequestId"].as_str().unwrap().to_string();
    assert_eq!(h.notified(&request, "REVOKED").await, vec![hospital.clone()]);
    let keys = KeyMaterial::generate();
    let url = format!("{}/data/push", h.inbox.url);
    let r = h.send(REQUEST, None, hi_request(&hospital, &keys, false, &url, None)).await;
    assert_eq!(r.refused(412, "hiRequest.consent.id", "consent-not-granted")["error"]["code"], 1428);
    assert_eq!(h.fetch(&hospital).await["status"], "REVOKED");
    // Past the clinic artefact's erase date (30 days from now), it is expired: 1410.
    h.sb.advance(31 * 24 * 3600).await;
    h.token = h.sb.session_for("SBX_000003", "sandbox-secret-0003").await;
    assert_eq!(h.notified(&request, "EXPIRED").await, vec![clinic.clone()], "the HIU is told of the expiry");
    let out = h.sb.get(&format!("/_sandbox/consent-requests/{request}")).await;
    assert_eq!(out.ok()["status"], "EXPIRED", "no artefact is granted any more");
    let r = h.send(REQUEST, None, hi_request(&clinic, &keys, false, &url, None)).await;
    assert_eq!(r.refused(410, "hiRequest.consent.id", "consent-expired")["error"]["code"], 1410);
}

#[tokio::test]
async fn the_consent_manager_refuses_bad_hi_requests_with_their_codes() {
    let h = hiu(true).await;
    let (_, artefacts) = granted(&h).await;
    let consent = artefacts[1]["consentDetail"]["consentId"].as_str().unwrap();
    let keys = KeyMaterial::generate();
    let url = format!("{}/data/push", h.inbox.url);
    let send = |body: Value| h.send(REQUEST, None, body);
    let r = send(hi_request(&rid(), &keys, false, &url, None)).await;
    assert_eq!(r.refused(404, "hiRequest.consent.id", "consent-unknown")["error"]["code"], "ABDM-9999");
    // The HIU's own init range, wider than the artefact the patient narrowed: ABDM-1063.
    let wide = hi_request(
        consent,
        &keys,
        false,
        &url,
        Some(("2015-01-01T00:00:00.000Z", "2024-12-31T00:00:00.000Z")),
    );
    assert_eq!(
        send(wide).await.refused(400, "hiRequest.dateRange", "date-range")["error"]["code"],
        "ABDM-1063"
    );
    let mut bad_key = hi_request(consent, &keys, false, &url, None);
    bad_key["hiRequest"]["keyMaterial"]["dhPublicKey"]["keyValue"] = json!("AAAA");
    send(bad_key).await.refused(400, "hiRequest.keyMaterial.dhPublicKey.keyValue", "public-key");
    let mut bad_nonce = hi_request(consent, &keys, false, &url, None);
    bad_nonce["hiRequest"]["keyMaterial"]["nonce"] = json!("c2hvcnQ=");
    send(bad_nonce).await.refused(400, "hiRequest.keyMaterial.nonce", "nonce");
    send(hi_request(consent, &keys, false, "ftp://x/y", None)).await.refused(
        400,
        "hiRequest.dataPushUrl",
        "url",
    );
    let other = h.sb.session_for("SBX_000001", "sandbox-secret-0001").await;
    let (auth, id, ts) = (format!("Bearer {other}"), rid(), chrono_now());
    let headers = [
        ("Authorization", auth.as_str()),
        ("REQUEST-ID", id.as_str()),
        ("TIMESTAMP", ts.as_str()),
        ("X-CM-ID", "sbx"),
    ];
    let r =
        h.sb.send(Method::POST, REQUEST.1, Some(&hi_request(consent, &keys, false, &url, None)), &headers)
            .await;
    r.refused(403, "hiRequest.consent.id", "requester-not-yours");
}

#[tokio::test]
async fn the_consent_manager_refuses_bad_consent_requests_with_their_codes() {
    let h = hiu(false).await;
    let now = chrono_now();
    let ok = consent(ASHA, &ALL, "2015-01-01T00:00:00.000Z", &now);
    let with = |pointer: &str, v: Value| {
        let mut b = ok.clone();
        *b.pointer_mut(pointer).unwrap() = v;
        b
    };
    let cases: Vec<(Value, &str, &str, Value)> = vec![
        (
            with("/consent/patient/id", json!("nobody@sbx")),
            "consent.patient.id",
            "patient-unknown",
            json!(1414),
        ),
        (with("/consent/purpose/code", json!("SHOPPING")), "consent.purpose.code", "purpose", json!(1420)),
        (with("/consent/purpose/text", json!("Care")), "consent.purpose.text", "purpose", json!(1420)),
        (
            with("/consent/hiTypes", json!(["Prescription", "XRay"])),
            "consent.hiTypes[1]",
            "hi-type",
            json!(1419),
        ),
        (with("/consent/hiTypes", json!([])), "consent.hiTypes", "hi-type", json!(1419)),
        (
            with("/consent/permission/dateRange/from", json!(now)),
            "consent.permission.dateRange",
            "date-range",
            json!(1000),
        ),
        (
            with("/consent/permission/dateRange/to", json!("2099-01-01T00:00:00.000Z")),
            "consent.permission.dateRange",
            "date-range",
            json!(1000),
        ),
        (
            with("/consent/permission/dataEraseAt", json!("2020-01-01T00:00:00.000Z")),
            "consent.permission.dataEraseAt",
            "erase-at",
            json!(1000),
        ),
        (
            with("/consent/permission/accessMode", json!("COPY")),
            "consent.permission.accessMode",
            "access-mode",
            json!(1000),
        ),
    ];
    for (body, field, rule, code) in cases {
        let r = h.send(INIT, None, body).await;
        assert_eq!(r.refused(400, field, rule)["error"]["code"], code, "{field}");
    }
    let mut no_requester = ok.clone();
    no_requester["consent"].as_object_mut().unwrap().remove("requester");
    h.send(INIT, None, no_requester).await.refused(400, "consent.requester", "required");
    let r = h.send(INIT, None, with("/consent/hiu/id", json!("IN2910000001"))).await;
    r.refused(403, "consent.hiu.id", "requester-not-yours");
    assert!(h.inbox.received("on-init").is_empty(), "a refused request gets no on-init");
}

#[tokio::test]
async fn v3_init_needs_the_purpose_ref_uri_and_the_hiu_name() {
    let h = hiu(true).await;
    let mut body = consent(ASHA, &ALL, "2015-01-01T00:00:00.000Z", &chrono_now());
    body["consent"]["purpose"].as_object_mut().unwrap().remove("refUri");
    h.send(INIT, None, body).await.refused(400, "consent.purpose.refUri", "required");
    let mut body = consent(ASHA, &ALL, "2015-01-01T00:00:00.000Z", &chrono_now());
    body["consent"]["hiu"].as_object_mut().unwrap().remove("name");
    h.send(INIT, None, body).await.refused(400, "consent.hiu.name", "required");
}

#[tokio::test]
async fn a_corrupted_entry_must_be_reported_errored() {
    let h = hiu(false).await;
    let (_, artefacts) = granted(&h).await;
    let consent = artefacts[1]["consentDetail"]["consentId"].as_str().unwrap();
    let faults = json!({"faults": [{"path": "/hiu/push", "corrupt": true}]});
    let r = h.sb.send(Method::PUT, "/_sandbox/faults", Some(&faults), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let keys = KeyMaterial::generate();
    let url = format!("{}/hiu/push", h.inbox.url);
    assert_eq!(h.send(REQUEST, None, hi_request(consent, &keys, false, &url, None)).await.status, 202);
    let page = h.inbox.wait_for("/hiu/push", WAIT).await;
    let txn = page.body["transactionId"].as_str().unwrap().to_string();
    let km = &page.body["keyMaterial"];
    let mut statuses = Vec::new();
    for e in page.body["entries"].as_array().unwrap() {
        let ok = fidelius::decrypt(
            e["content"].as_str().unwrap(),
            &keys.nonce,
            km["nonce"].as_str().unwrap(),
            &keys.private_key,
            km["dhPublicKey"]["keyValue"].as_str().unwrap(),
        )
        .is_ok();
        statuses.push((e["careContextReference"].as_str().unwrap().to_string(), ok));
    }
    assert_eq!(statuses.iter().filter(|(_, ok)| !ok).count(), 1, "exactly one entry is corrupted");
    let notify = |report: Vec<Value>| {
        json!({"notification": {"consentId": consent, "transactionId": txn, "doneAt": chrono_now(),
            "notifier": {"type": "HIU", "id": HIU},
            "statusNotification": {"sessionStatus": "TRANSFERRED", "hipId": "IN2910000001", "statusResponses": report}}})
    };
    let all_ok: Vec<Value> =
        statuses.iter().map(|(cc, _)| json!({"careContextReference": cc, "hiStatus": "OK"})).collect();
    assert_eq!(h.send(NOTIFY, None, notify(all_ok)).await.status, 202);
    let out = h.outcome(&txn).await;
    assert_eq!(out["hiuReport"]["matches"], false);
    assert!(out["hiuReport"]["problems"][0].as_str().unwrap().contains("expected ERRORED"), "{out}");
    let honest: Vec<Value> = statuses
        .iter()
        .map(|(cc, ok)| json!({"careContextReference": cc, "hiStatus": if *ok { "OK" } else { "ERRORED" }}))
        .collect();
    assert_eq!(h.send(NOTIFY, None, notify(honest)).await.status, 202);
    assert_eq!(h.outcome(&txn).await["hiuReport"]["matches"], true);
}

#[tokio::test]
async fn an_hiu_finds_a_patient_before_asking_for_consent() {
    let h = hiu(false).await;
    let find = |patient: &str| json!({"query": {"patient": {"id": patient}, "requester": {"type": "HIU", "id": HIU}}});
    assert_eq!(h.send(("/gateway/v0.5/patients/find", ""), None, find(ASHA)).await.status, 202);
    let found = h.inbox.wait_for("/v0.5/patients/on-find", WAIT).await;
    assert_eq!(found.body["patient"], json!({"id": ASHA, "name": "Asha Verma"}));
    assert_eq!(found.body["error"], Value::Null);
    assert_eq!(h.send(("/gateway/v0.5/patients/find", ""), None, find("nobody@sbx")).await.status, 202);
    let missing = h.inbox.wait_for_count("/v0.5/patients/on-find", 2, WAIT).await;
    assert_eq!(missing[1].body["patient"], Value::Null);
    assert_eq!(missing[1].body["error"]["code"], 1414, "{}", missing[1].body);
    let mut not_hiu = find(ASHA);
    not_hiu["query"]["requester"]["type"] = json!("HIP");
    h.send(("/gateway/v0.5/patients/find", ""), None, not_hiu).await.refused(
        400,
        "query.requester.type",
        "requester-type",
    );
}
