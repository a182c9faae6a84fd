//! Health-information transfer, HIU side (M3): an HIU holding an artefact asks the consent manager
//! for the data with its own Fidelius key material and `dataPushUrl`. The sandbox checks the
//! request as the consent manager does, answers `on-request` (REQUESTED), and then, playing the
//! artefact's HIP, encrypts each matching record's bundle for the HIU (a fresh key pair and nonce
//! per transfer; its public key in the form the HIU sent, raw or X.509) and pushes the entries to
//! `dataPushUrl` in pages. The HIU's own transfer notify (notifier HIU) is then compared with what
//! was pushed: OK for each entry it could decrypt, ERRORED for a corrupted one.
//!
//! | message | v0.5 | v3 |
//! |---|---|---|
//! | request | `/gateway/v0.5/health-information/cm/request` | `/api/hiecm/data-flow/v3/health-information/request` |
//! | on-request | `{bridge}/v0.5/health-information/hiu/on-request` | `{bridge}/api/v3/hiu/health-information/on-request` |
//! | push | `{dataPushUrl}` | the same |
//! | notify | `/gateway/v0.5/health-information/notify` | `/api/hiecm/data-flow/v3/health-information/notify` |
//! | status | — | `GET /api/hiecm/data-flow/v3/health-information/request/status/{transactionId}` |

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::{self, Bridges};
use super::dataflow::{self, check_request, Transfers};
use super::envelope::{not_yours, Hygiene, Version, BAD_REQUEST, INVALID_TRANSACTION};
use super::hiu_consent::{ConsentRequests, ARTEFACT_NOT_FOUND};
use super::sessions::caller;
use crate::body::{JsonBody, Obj};
use crate::callbacks::{Callback, Delivery, Receiver};
use crate::clock::{iso, parse_utc, Millis, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::fidelius::{self, KeyMaterial};
use crate::fixtures::Record;
use crate::shared::Shared;
use crate::store::Store;

/// Entries per page pushed.
pub const PAGE_SIZE: usize = 2;
const ON_REQUEST: (&str, &str) =
    ("/v0.5/health-information/hiu/on-request", "/api/v3/hiu/health-information/on-request");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One entry the sandbox pushed as the HIP.
#[derive(Debug, Clone)]
struct Pushed {
    care_context: String,
    hi_type: String,
    checksum: String,
    page: usize,
    corrupted: bool,
}

/// One HI request of an HIU and what became of it.
pub struct HiuTransfer {
    consent_id: Uuid,
    request: Uuid,
    hip_id: String,
    hiu_id: String,
    client: String,
    version: Version,
    requested_at: Millis,
    push_url: String,
    x509: bool,
    status: &'static str,
    pages: Vec<Value>,
    pushed: Vec<Pushed>,
    hip_notify: Option<Value>,
    hiu_notify: Option<Value>,
    report: Option<Value>,
}

/// Every HIU transfer, by transactionId.
pub struct HiuTransfers {
    store: Store<HiuTransfer>,
}

impl Default for HiuTransfers {
    fn default() -> Self {
        HiuTransfers { store: Store::with_ttl(24 * 60 * MINUTE) }
    }
}

impl HiuTransfers {
    /// None.
    pub fn reset(&self) {
        self.store.clear();
    }

    /// Drops transfers a day past their last change; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.store.sweep(now)
    }

    /// A transfer as `GET /_sandbox/health-information/requests/{transactionId}` shows it.
    pub fn outcome(&self, id: Uuid) -> Option<Value> {
        self.store.peek(id, |t| {
            let pushed: Vec<Value> = t.pushed.iter().map(|p| json!({"careContextReference": p.care_context,
                "hiType": p.hi_type, "checksum": p.checksum, "page": p.page, "corrupted": p.corrupted})).collect();
            let problems = t.report.as_ref().map(|r| r["problems"].clone()).unwrap_or(json!([]));
            json!({"transactionId": id, "role": "HIU", "consentId": t.consent_id, "consentRequestId": t.request,
                "hipId": t.hip_id, "hiuId": t.hiu_id, "version": t.version.name(), "status": t.status,
                "dataPushUrl": t.push_url, "keyFormat": if t.x509 { "x509" } else { "raw" },
                "requestedAt": iso(t.requested_at), "pages": t.pages, "pushed": pushed,
                "hipNotify": t.hip_notify, "hiuNotify": t.hiu_notify, "hiuReport": t.report, "problems": problems})
        })
    }
}

fn date_range(hi: &Obj) -> ApiResult<Option<(Millis, Millis)>> {
    let Some(range) = hi.opt_obj("dateRange")? else {
        return Ok(None);
    };
    let read = |k: &str| {
        let text = range.str(k)?;
        parse_utc(text).ok_or_else(|| {
            ApiError::bad(&range.name(k), "date", format!("{text:?} is not an ISO-8601 date-time"))
        })
    };
    Ok(Some((read("from")?, read("to")?)))
}

/// The HIU's key material, checked: `(public key, nonce, whether the key is X.509)`.
fn key_material(hi: &Obj) -> ApiResult<(String, String, bool)> {
    let km = hi.obj("keyMaterial")?;
    let alg = km.str("cryptoAlg")?;
    if !alg.eq_ignore_ascii_case("ECDH") {
        return Err(ApiError::bad(&km.name("cryptoAlg"), "crypto-alg", format!("{alg:?}: must be ECDH")));
    }
    let curve = km.str("curve")?;
    if !curve.eq_ignore_ascii_case("Curve25519") {
        return Err(ApiError::bad(&km.name("curve"), "curve", format!("{curve:?}: must be Curve25519")));
    }
    let dh = km.obj("dhPublicKey")?;
    let key = dh.str("keyValue")?;
    fidelius::parse_public_key(key)
        .map_err(|e| ApiError::bad(&dh.name("keyValue"), "public-key", e.to_string()))?;
    let x509 = B64.decode(key).map(|b| b.len() != 65).unwrap_or(false);
    let nonce = km.str("nonce")?;
    if B64.decode(nonce).map(|b| b.len()).ok() != Some(32) {
        return Err(ApiError::bad(
            &km.name("nonce"),
            "nonce",
            "must be 32 random bytes in base64 (44 characters)",
        ));
    }
    Ok((key.to_string(), nonce.to_string(), x509))
}

/// HIU → gateway `health-information/cm/request`: checked in the consent manager's order,
/// answered 202, `on-request` (REQUESTED), then the pushes.
pub async fn request(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    (requests, transfers): (web::Data<ConsentRequests>, web::Data<HiuTransfers>),
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answers) = hygiene.inbound(&req, &body)?;
    let hi = body.obj("hiRequest")?;
    let consent_field = "hiRequest.consent.id";
    let consent_id = hi.obj("consent")?.txn_id("id")?;
    let now = sh.clock.now();
    let found = requests.artefacts.peek(consent_id, |a| {
        (
            (a.status_at(now), a.erase_at, a.range),
            a.hip_id.clone(),
            a.hiu_id.clone(),
            a.request,
            a.records.clone(),
            a.hi_types.clone(),
            a.client.clone(),
        )
    });
    let Some((state, hip_id, hiu_id, request, records, hi_types, client)) = found else {
        let why = format!("{consent_field}: no consent artefact {consent_id}");
        let e = ApiError::new(StatusCode::NOT_FOUND, "consent-unknown", why).field(consent_field);
        return Err(e.code(version.code(ARTEFACT_NOT_FOUND)));
    };
    let me = caller(&req);
    if client != me {
        return Err(not_yours(consent_field, &consent_id.to_string(), &me, version));
    }
    let range = check_request(state, date_range(&hi)?, version, now, (consent_field, "hiRequest.dateRange"))?;
    let (hiu_key, hiu_nonce, x509) = key_material(&hi)?;
    let push_url = hi.str("dataPushUrl")?;
    let url = reqwest::Url::parse(push_url)
        .ok()
        .filter(|u| ["http", "https"].contains(&u.scheme()) && u.host().is_some())
        .ok_or_else(|| {
            ApiError::bad("hiRequest.dataPushUrl", "url", format!("{push_url:?} is not an http(s) URL"))
        })?;
    let id = Uuid::new_v4();
    let chosen: Vec<Record> = records
        .into_iter()
        .filter(|r| hi_types.contains(&r.hi_type) && range.0 <= r.day() && r.day() < range.1)
        .collect();
    let path = url.path().to_string();
    let corrupt = sh.callbacks.faults.corrupts(&path);
    let (pages, pushed) = seal(&sh, id, &chosen, (&hiu_key, &hiu_nonce, x509), corrupt)?;
    let transfer = HiuTransfer {
        consent_id,
        request,
        hip_id: hip_id.clone(),
        hiu_id: hiu_id.clone(),
        client: me,
        version,
        requested_at: now,
        push_url: push_url.to_string(),
        x509,
        status: "REQUESTED",
        pages: pages
            .iter()
            .map(|p| {
                json!({"pageNumber": p["pageNumber"], "pageCount": p["pageCount"],
            "entries": p["entries"].as_array().map_or(0, Vec::len), "status": null})
            })
            .collect(),
        pushed,
        hip_notify: None,
        hiu_notify: None,
        report: None,
    };
    transfers.store.insert_with_id(id, transfer, now);
    let base = format!("{}://{}", url.scheme(), url.authority());
    let target = path + url.query().map(|q| format!("?{q}")).unwrap_or_default().as_str();
    let chain = push_chain(&transfers, id, (&base, &target, &hiu_id), pages);
    let cb = version.answer(
        ON_REQUEST,
        answers,
        now,
        "hiRequest",
        Ok(json!({"transactionId": id, "sessionStatus": "REQUESTED"})),
    );
    // The pushes follow the on-request's delivery, as a HIP answers the request the consent
    // manager passes on once the HIU has been told; with no bridge to tell, they go at once.
    let pending = Arc::new(std::sync::Mutex::new(chain));
    let take = |p: &std::sync::Mutex<Option<Callback>>| p.lock().unwrap_or_else(|e| e.into_inner()).take();
    let (dispatcher, after) = (sh.callbacks.clone(), pending.clone());
    let told = Arc::new(move |_: Delivery| {
        if let Some(first) = take(&after) {
            dispatcher.send(first);
        }
    });
    if bridges::send_told(&sh, &bridges, (Receiver::Hiu, &hiu_id), cb, Some(told)).is_none() {
        if let Some(first) = take(&pending) {
            sh.callbacks.send(first);
        }
    }
    Ok(HttpResponse::Accepted().json(json!({"transactionId": id})))
}

/// Encrypts the records as their HIP for the HIU and lays them out in pages; with `corrupt`,
/// the first entry's ciphertext gets a flipped byte.
fn seal(
    sh: &Shared,
    id: Uuid,
    records: &[Record],
    (hiu_key, hiu_nonce, x509): (&str, &str, bool),
    corrupt: bool,
) -> ApiResult<(Vec<Value>, Vec<Pushed>)> {
    let hip = KeyMaterial::generate();
    let sealing =
        |e: fidelius::FideliusError| ApiError::bad("hiRequest.keyMaterial", "fidelius", e.to_string());
    let mut entries = Vec::new();
    let mut pushed = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let plain = sh.bundle(&r.bundle).map(|b| b.to_string()).unwrap_or_default();
        let mut content =
            fidelius::encrypt(&plain, &hip.nonce, hiu_nonce, &hip.private_key, hiu_key).map_err(sealing)?;
        let corrupted = corrupt && i == 0;
        if corrupted {
            let mut bytes = B64.decode(&content).unwrap_or_default();
            if let Some(b) = bytes.first_mut() {
                *b ^= 0x01;
            }
            content = B64.encode(bytes);
        }
        let digest = <md5::Md5 as md5::Digest>::digest(plain.as_bytes());
        let checksum: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        entries.push(json!({"content": content, "media": "application/fhir+json", "checksum": checksum,
            "careContextReference": r.care_context_reference}));
        pushed.push(Pushed {
            care_context: r.care_context_reference.clone(),
            hi_type: r.hi_type.clone(),
            checksum,
            page: i / PAGE_SIZE + 1,
            corrupted,
        });
    }
    let now = sh.clock.now();
    let key_value = if x509 { hip.x509_public_key.clone() } else { hip.public_key.clone() };
    let key_material = json!({"cryptoAlg": "ECDH", "curve": "Curve25519",
        "dhPublicKey": {"expiry": iso(now + 24 * 60 * MINUTE), "parameters": "Curve25519/32byte random key", "keyValue": key_value},
        "nonce": hip.nonce});
    let chunks: Vec<Vec<Value>> = if entries.is_empty() {
        vec![Vec::new()]
    } else {
        entries.chunks(PAGE_SIZE).map(<[Value]>::to_vec).collect()
    };
    let count = chunks.len();
    let pages = chunks
        .into_iter()
        .enumerate()
        .map(|(i, entries)| {
            json!({"pageNumber": i + 1, "pageCount": count, "transactionId": id,
            "entries": entries, "keyMaterial": key_material})
        })
        .collect();
    Ok((pages, pushed))
}

/// The pushes as a chain of callbacks, each sent once the one before it has been delivered; each
/// records the HIU's answer, and the last one the HIP's transfer notify.
fn push_chain(
    transfers: &web::Data<HiuTransfers>,
    id: Uuid,
    (base, path, hiu): (&str, &str, &str),
    pages: Vec<Value>,
) -> Option<Callback> {
    let count = pages.len();
    let mut next: Option<Box<Callback>> = None;
    for (i, body) in pages.into_iter().enumerate().rev() {
        let transfers = transfers.clone();
        let told = Arc::new(move |d: Delivery| {
            transfers.store.update(id, |t| {
                if let Some(p) = t.pages.get_mut(i) {
                    p["status"] = json!(d.status);
                    p["error"] = json!(d.error);
                }
                if i + 1 == count {
                    let responses: Vec<Value> = t
                        .pushed
                        .iter()
                        .map(|p| {
                            json!({"careContextReference": p.care_context,
                        "hiStatus": "DELIVERED", "description": "Delivered"})
                        })
                        .collect();
                    let delivered = t.pages.iter().all(|p| p["status"].as_u64().is_some_and(|s| s < 300));
                    t.hip_notify =
                        Some(json!({"sessionStatus": if delivered { "TRANSFERRED" } else { "FAILED" },
                        "hipId": t.hip_id, "statusResponses": responses}));
                }
            });
        });
        let cb = Callback {
            base: base.to_string(),
            path: path.to_string(),
            receiver: Receiver::Hiu,
            receiver_id: hiu.to_string(),
            body,
            headers: Vec::new(),
            on_delivered: Some(told),
            token: None,
            then: next,
        };
        next = Some(Box::new(cb));
    }
    next.map(|b| *b)
}

/// The transfer notify on the shared path: an HIU's (`notifier.type` HIU) is judged here against
/// what was pushed; a HIP's goes to [`dataflow::notify`].
pub async fn notify(
    sh: web::Data<Shared>,
    (transfers, hiu_transfers): (web::Data<Transfers>, web::Data<HiuTransfers>),
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let from_hiu = body.0.get("notification").and_then(|n| n["notifier"]["type"].as_str()) == Some("HIU");
    if !from_hiu {
        return dataflow::notify(sh, transfers, hygiene, req, body).await;
    }
    let (version, _) = hygiene.inbound(&req, &body)?;
    let n = body.obj("notification")?;
    let id = n.txn_id("transactionId")?;
    let consent_id = n.str("consentId")?;
    n.str("doneAt")?;
    let notifier_id = n.obj("notifier")?.str("id")?;
    let status = n.obj("statusNotification")?;
    let session = status.str("sessionStatus")?;
    if !["TRANSFERRED", "FAILED"].contains(&session) {
        let why = format!("{session:?}: TRANSFERRED or FAILED");
        return Err(ApiError::bad("notification.statusNotification.sessionStatus", "session-status", why));
    }
    let Some(Value::Array(responses)) = status.raw("statusResponses") else {
        let field = "notification.statusNotification.statusResponses";
        return Err(ApiError::bad(
            field,
            "required",
            "must be an array of {careContextReference, hiStatus, description}",
        ));
    };
    let me = caller(&req);
    let Some(client) = hiu_transfers.store.peek(id, |t| t.client.clone()) else {
        let why = format!("no HI request {id}");
        return Err(ApiError::bad("notification.transactionId", "transaction-unknown", why)
            .code(version.code(INVALID_TRANSACTION)));
    };
    if client != me {
        return Err(not_yours("notification.transactionId", &id.to_string(), &me, version));
    }
    // A page the HIU has answered may not be recorded yet when its notify arrives: give the
    // deliveries in flight a moment. A page still unanswered after it was pushed before the HIU
    // had finished with it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let pending =
        || hiu_transfers.store.peek(id, |t| t.pages.iter().any(|p| p["status"].is_null())).unwrap_or(false);
    while pending() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let now = sh.clock.now();
    hiu_transfers.store.update(id, |t| {
        let mut problems = Vec::new();
        if consent_id != t.consent_id.to_string() {
            problems.push(format!("notification.consentId is {consent_id:?}, the transfer's consent is {}", t.consent_id));
        }
        if notifier_id != t.hiu_id {
            problems.push(format!("notification.notifier.id is {notifier_id:?}, the HIU is {}", t.hiu_id));
        }
        let undelivered = t.pages.iter().filter(|p| p["status"].is_null()).count();
        if undelivered > 0 {
            problems.push(format!("the notify came while {undelivered} page(s) were still unanswered: notify once every entry has been received and decrypted"));
        }
        let expected: BTreeMap<String, &str> =
            t.pushed.iter().map(|p| (p.care_context.clone(), if p.corrupted { "ERRORED" } else { "OK" })).collect();
        let mut reported = BTreeMap::new();
        for (i, r) in responses.iter().enumerate() {
            let cc = r["careContextReference"].as_str().unwrap_or_default().to_string();
            let hi = r["hiStatus"].as_str().unwrap_or_default().to_string();
            if !["OK", "ERRORED"].contains(&hi.as_str()) {
                problems.push(format!("statusResponses[{i}].hiStatus is {hi:?}: an HIU reports OK or ERRORED"));
            }
            reported.insert(cc, hi);
        }
        for (cc, want) in &expected {
            match reported.get(cc).map(String::as_str) {
                None => problems.push(format!("{cc} was pushed but the notify has no status for it")),
                Some(got) if got != *want => {
                    let why = if *want == "ERRORED" { "its ciphertext was corrupted, so it cannot have decrypted" } else { "it was pushed intact and decrypts" };
                    problems.push(format!("{cc} is reported {got}, expected {want}: {why}"));
                }
                Some(_) => {}
            }
        }
        for cc in reported.keys().filter(|cc| !expected.contains_key(*cc)) {
            problems.push(format!("{cc} is reported but was never pushed in this transfer"));
        }
        let all_ok = expected.values().all(|s| *s == "OK");
        if session == "FAILED" && all_ok && !expected.is_empty() {
            problems.push("sessionStatus FAILED, but every entry was pushed intact".to_string());
        }
        t.status = if session == "TRANSFERRED" { "TRANSFERRED" } else { "FAILED" };
        t.hiu_notify = Some(json!({"body": Value::Object(body.0.clone()), "receivedAt": iso(now)}));
        t.report = Some(json!({"matches": problems.is_empty(), "expected": expected, "reported": reported, "problems": problems}));
    });
    Ok(HttpResponse::Accepted().json(json!({"status": "Notification is Accepted"})))
}

/// v3 `GET .../health-information/request/status/{transactionId}`: the transfer's status.
pub async fn status(
    hiu_transfers: web::Data<HiuTransfers>,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = crate::body::parse_uuid("transactionId", &path)?;
    let me = caller(&req);
    let found = hiu_transfers.store.peek(id, |t| (t.client.clone(), t.status, t.consent_id));
    match found {
        Some((client, status, consent)) if client == me => {
            Ok(HttpResponse::Ok().json(json!({"transactionId": id, "consentId": consent, "status": status})))
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "transaction-unknown",
            format!("transactionId: no HI request {id} of client {me}"),
        )
        .field("transactionId")
        .code(Version::V3.code(BAD_REQUEST))),
    }
}
