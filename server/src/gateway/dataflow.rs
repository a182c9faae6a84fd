//! Health-information transfer, HIP side: the sandbox plays the HIU asking for the data of a
//! consent it holds, and the consent manager passing the request on. It makes a fresh Fidelius key
//! pair and nonce, the gateway sends the HI request to the HIP with `dataPushUrl` = the sandbox's
//! own `/_sandbox/data-push/{transactionId}`, and everything the HIP does next is checked: its
//! on-request (ACKNOWLEDGED), each page it pushes (decrypted entry by entry, with the likely cause
//! when one does not decrypt), and its transfer notify, all within 20 minutes.
//!
//! | message | v0.5 | v3 |
//! |---|---|---|
//! | HI request | `{bridge}/v0.5/health-information/hip/request` | `{bridge}/api/v3/hip/health-information/request` |
//! | on-request | `/gateway/v0.5/health-information/hip/on-request` | `/api/hiecm/data-flow/v3/health-information/hip/on-request` |
//! | push | `{dataPushUrl}` | the same |
//! | notify | `/gateway/v0.5/health-information/notify` | `/api/hiecm/data-flow/v3/health-information/notify` |
//!
//! The consent manager refuses a request on a consent that is unknown (1416), past its erase
//! date (1410 / ABDM-1061), not granted (1428 / ABDM-1062), or for dates outside it (1418 /
//! ABDM-1063), as ProjectEKA's `DataFlowRequester` does.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::{self, Bridges};
use super::consent::Consents;
use super::envelope::{Code, Hygiene, Version, BAD_REQUEST, INVALID_TRANSACTION};
use super::sessions::caller;
use crate::body::JsonBody;
use crate::callbacks::Receiver;
use crate::clock::{iso, Millis, MINUTE};
use crate::error::{ApiError, ApiResult};
use crate::fidelius::{self, KeyMaterial};
use crate::shared::Shared;
use crate::store::Store;

/// A HIP has this long from the HI request to the end of its transfer.
pub const TRANSFER_DEADLINE: Millis = 20 * MINUTE;
const CONSENT_NOT_FOUND: Code = Code { v05: 1416, v3: "ABDM-9999" };
const CONSENT_EXPIRED: Code = Code { v05: 1410, v3: "ABDM-1061" };
const CONSENT_NOT_GRANTED: Code = Code { v05: 1428, v3: "ABDM-1062" };
const INVALID_DATE_RANGE: Code = Code { v05: 1418, v3: "ABDM-1063" };
/// The SNOMED CT codes of the compositions of each HI type.
const COMPOSITION_TYPES: [(&str, &str); 7] = [
    ("371530004", "OPConsultation"),
    ("440545006", "Prescription"),
    ("373942005", "DischargeSummary"),
    ("721981007", "DiagnosticReport"),
    ("41000179103", "ImmunizationRecord"),
    ("419891008", "HealthDocumentRecord"),
    ("11429006", "WellnessRecord"),
];

/// One entry the HIP pushed.
#[derive(Debug, Clone, Default)]
struct Entry {
    care_context: String,
    media: String,
    decrypted: bool,
    problem: Option<String>,
    checksum_matches: Option<bool>,
    checksum_form: Option<&'static str>,
    resource_type: Option<String>,
    bundle_type: Option<String>,
    hi_type: Option<String>,
    /// Whether the bundle's first entry is a Composition, as a FHIR document's must be.
    composition_first: bool,
    content: Option<String>,
    page: u64,
}

/// One HI request and what the HIP did with it.
pub struct Transfer {
    consent_id: Uuid,
    hip_id: String,
    version: Version,
    requested_at: Millis,
    keys: KeyMaterial,
    request_id: Uuid,
    status: &'static str,
    on_request: Option<Value>,
    pages: Vec<Value>,
    page_count: Option<u64>,
    entries: Vec<Entry>,
    notify: Option<Value>,
    problems: Vec<String>,
}

/// Every transfer, by transactionId; the HIP key material seen, to tell reuse.
#[derive(Default)]
pub struct Transfers {
    store: Store<Transfer>,
    by_request: DashMap<Uuid, Uuid>,
    seen_keys: DashMap<String, Uuid>,
}

impl Transfers {
    /// No transfers.
    pub fn reset(&self) {
        self.store.clear();
        self.by_request.clear();
        self.seen_keys.clear();
    }

    /// Drops transfers past their lifetime, and the requests and key material that pointed at
    /// them; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        let swept = self.store.sweep(now);
        let live = |id: &Uuid| self.store.peek(*id, |_| ()).is_some();
        self.by_request.retain(|_, id| live(id));
        self.seen_keys.retain(|_, id| live(id));
        swept
    }

    /// A transfer as `GET /_sandbox/health-information/requests/{transactionId}` shows it.
    pub fn outcome(&self, id: Uuid, now: Millis) -> Option<Value> {
        self.store.peek(id, |t| {
            let entries: Vec<Value> = t
                .entries
                .iter()
                .map(|e| {
                    json!({"careContextReference": e.care_context, "media": e.media, "decrypted": e.decrypted,
                        "problem": e.problem, "checksumMatches": e.checksum_matches, "checksumForm": e.checksum_form,
                        "resourceType": e.resource_type, "bundleType": e.bundle_type, "hiType": e.hi_type, "page": e.page})
                })
                .collect();
            let done = t.notify.as_ref().and_then(|n| n["receivedAt"].as_i64()).unwrap_or(now);
            let mut problems = t.problems.clone();
            problems.extend(t.entries.iter().filter_map(|e| e.problem.clone()));
            json!({
                "transactionId": id, "consentId": t.consent_id, "hipId": t.hip_id, "version": t.version.name(),
                "requestId": t.request_id, "requestedAt": iso(t.requested_at), "status": t.status,
                "onRequest": t.on_request, "pages": t.pages, "entries": entries, "notify": t.notify,
                "withinDeadline": done - t.requested_at <= TRANSFER_DEADLINE, "problems": problems,
            })
        })
    }

    /// The decrypted content of entry `index`.
    pub fn entry(&self, id: Uuid, index: usize) -> Option<Option<String>> {
        self.store.peek(id, |t| t.entries.get(index).map(|e| e.content.clone())).flatten()
    }
}

/// The sandbox as HIU asks for a consent's data: `{consentId, dateRange?, keyFormat?: "raw"|"x509",
/// version?}` → `{transactionId, requestId}`.
pub fn request(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    (consents, transfers): (&Consents, &Transfers),
    (consent_id, range, x509, version): (Uuid, Option<(Millis, Millis)>, bool, Option<Version>),
) -> ApiResult<Value> {
    let now = sh.clock.now();
    let consent =
        consents.store.peek(consent_id, |c| (c.hip_id.clone(), c.status, c.erase_at, c.range, c.version));
    let Some((hip, status, erase_at, allowed, consent_version)) = consent else {
        let e = ApiError::new(
            StatusCode::NOT_FOUND,
            "consent-unknown",
            format!("consentId: no consent artefact {consent_id}"),
        );
        return Err(e.field("consentId").code(json!(CONSENT_NOT_FOUND.v05)));
    };
    let version = version.unwrap_or(consent_version);
    let range = check_request((status, erase_at, allowed), range, version, now, ("consentId", "dateRange"))?;
    let keys = KeyMaterial::generate();
    let id = Uuid::new_v4();
    let push_url = format!("{}/_sandbox/data-push/{id}", sh.public_url());
    let key_value = if x509 { &keys.x509_public_key } else { &keys.public_key };
    let key_material = json!({"cryptoAlg": "ECDH", "curve": "Curve25519",
        "dhPublicKey": {"expiry": iso(now + 24 * 60 * MINUTE), "parameters": "Curve25519/32byte random key", "keyValue": key_value},
        "nonce": keys.nonce});
    let payload = json!({"transactionId": id, "hiRequest": {"consent": {"id": consent_id},
        "dateRange": {"from": iso(range.0), "to": iso(range.1)}, "dataPushUrl": push_url, "keyMaterial": key_material}});
    let paths = ("/v0.5/health-information/hip/request", "/api/v3/hip/health-information/request");
    let msg = version.message(paths, None, now, payload);
    let request_id = msg.request_id;
    let transfer = Transfer {
        consent_id,
        hip_id: hip.clone(),
        version,
        requested_at: now,
        keys,
        request_id,
        status: "REQUESTED",
        on_request: None,
        pages: Vec::new(),
        page_count: None,
        entries: Vec::new(),
        notify: None,
        problems: Vec::new(),
    };
    transfers.store.insert_with_id(id, transfer, now);
    transfers.by_request.insert(request_id, id);
    let answered = (hygiene, request_id);
    bridges::send_expecting(sh, bridges, answered, (Receiver::Hip, &hip), msg, (Vec::new(), None));
    Ok(json!({"transactionId": id, "requestId": request_id}))
}

/// The consent manager's checks of an HI request on an artefact it holds, in ProjectEKA's order:
/// past its erase date (1410), not granted (1428), a date range outside the artefact's or empty
/// (1418; none given means the artefact's). `fields` names the consent id and the date range.
/// Returns the range to send.
pub fn check_request(
    (status, erase_at, allowed): (&str, Millis, (Millis, Millis)),
    range: Option<(Millis, Millis)>,
    version: Version,
    now: Millis,
    (consent_field, range_field): (&str, &str),
) -> ApiResult<(Millis, Millis)> {
    if erase_at < now {
        let why = format!("{consent_field}: Consent artefact expired");
        let e = ApiError::new(StatusCode::GONE, "consent-expired", why);
        return Err(e.field(consent_field).code(version.code(CONSENT_EXPIRED)));
    }
    if status != "GRANTED" {
        let why = format!("{consent_field}: Not a granted consent ({status})");
        let e = ApiError::new(StatusCode::PRECONDITION_FAILED, "consent-not-granted", why);
        return Err(e.field(consent_field).code(version.code(CONSENT_NOT_GRANTED)));
    }
    let range = range.unwrap_or(allowed);
    if range.0 < allowed.0 || range.1 > allowed.1 || range.0 >= range.1 {
        let why = format!(
            "Date Range given is invalid: it must lie within the consent's, {} to {}",
            iso(allowed.0),
            iso(allowed.1)
        );
        return Err(ApiError::bad(range_field, "date-range", why).code(version.code(INVALID_DATE_RANGE)));
    }
    Ok(range)
}

/// HIP → gateway `on-request`: `hiRequest {transactionId, sessionStatus: ACKNOWLEDGED|ERRORED}`.
pub async fn on_request(
    transfers: web::Data<Transfers>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answered) = hygiene.callback(&req, &body, &caller(&req))?;
    let id = transfers.by_request.get(&answered).map(|t| *t).ok_or_else(|| {
        ApiError::bad("transactionId", "transaction-unknown", "answers no HI request")
            .code(version.code(INVALID_TRANSACTION))
    })?;
    let mut problems = Vec::new();
    let mut status = "ERRORED";
    match body.root().opt_obj("hiRequest")? {
        None if body.0.get("error").is_some_and(|e| !e.is_null()) => {}
        None => problems.push("hiRequest is required ({transactionId, sessionStatus})".to_string()),
        Some(hi) => {
            match hi.opt_str("transactionId")? {
                Some(t) if t == id.to_string() => {}
                other => {
                    problems.push(format!("hiRequest.transactionId is {other:?}, the request's is {id}"))
                }
            }
            match hi.opt_str("sessionStatus")? {
                Some("ACKNOWLEDGED") => status = "ACKNOWLEDGED",
                Some("ERRORED") => {}
                other => {
                    problems.push(format!("hiRequest.sessionStatus is {other:?}: ACKNOWLEDGED or ERRORED"))
                }
            }
        }
    }
    let first = problems.first().cloned();
    transfers.store.update(id, |t| {
        t.status = status;
        t.on_request = Some(json!({"body": Value::Object(body.0.clone()), "problems": problems, "matched": problems.is_empty()}));
        t.problems.extend(problems.iter().map(|p| format!("on-request: {p}")));
    });
    match first {
        None => Ok(HttpResponse::Accepted().finish()),
        Some(why) => Err(ApiError::bad("hiRequest", "hip-answer", why).code(version.code(BAD_REQUEST))),
    }
}

/// The HIP's push to `dataPushUrl`: `{pageNumber, pageCount, transactionId, entries: [{content,
/// media, checksum, careContextReference}], keyMaterial}`. Each entry is decrypted with the
/// sandbox's key and the HIP's, and checked; the push is answered 202 when it could be read.
pub async fn push(
    sh: web::Data<Shared>,
    consents: web::Data<Consents>,
    transfers: web::Data<Transfers>,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let id = crate::body::parse_uuid("transactionId", &path)?;
    let now = sh.clock.now();
    let page_number =
        body.opt_uint("pageNumber")?.ok_or_else(|| ApiError::bad("pageNumber", "required", "is required"))?;
    let page_count =
        body.opt_uint("pageCount")?.ok_or_else(|| ApiError::bad("pageCount", "required", "is required"))?;
    let key = body.obj("keyMaterial")?;
    let hip_key = key.obj("dhPublicKey")?.str("keyValue")?.to_string();
    let hip_nonce = key.str("nonce")?.to_string();
    let entries = match body.0.get("entries") {
        Some(Value::Array(items)) => items.clone(),
        _ => return Err(ApiError::bad("entries", "required", "must be an array of entries")),
    };
    let (consent_id, ours) =
        transfers.store.peek(id, |t| (t.consent_id, t.keys.clone())).ok_or_else(|| {
            ApiError::rule("transactionId", "transaction-unknown", format!("no HI request {id}"))
        })?;
    let (covered, hi_types) = consents
        .store
        .peek(consent_id, |c| {
            (c.contexts.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(), c.hi_types.clone())
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    match body.opt_str("transactionId")? {
        Some(t) if t == id.to_string() => {}
        other => {
            problems.push(format!("page {page_number}: transactionId is {other:?}, the request's is {id}"))
        }
    }
    for seen in [&hip_key, &hip_nonce] {
        if let Some(earlier) = transfers.seen_keys.get(seen.as_str()).map(|e| *e).filter(|t| *t != id) {
            problems.push(format!(
                "page {page_number}: keyMaterial reuses the key or nonce of transfer {earlier}; use a fresh key pair and nonce for every transfer"
            ));
            break;
        }
    }
    transfers.seen_keys.insert(hip_key.clone(), id);
    transfers.seen_keys.insert(hip_nonce.clone(), id);
    let key_problem =
        fidelius::parse_public_key(&hip_key).err().map(|e| format!("keyMaterial.dhPublicKey.keyValue: {e}"));
    let checked: Vec<Entry> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut entry = check_entry(e, &ours, (&hip_key, &hip_nonce), key_problem.as_deref());
            entry.page = page_number;
            let problem = entry.problem.take().or_else(|| judge(&entry, &covered, &hi_types));
            entry.problem = problem.map(|p| format!("entries[{i}]: {p}"));
            entry
        })
        .collect();
    transfers.store.update(id, |t| {
        match t.page_count {
            Some(n) if n != page_count => {
                problems.push(format!("page {page_number}: pageCount is {page_count}, earlier pages said {n}"))
            }
            _ => t.page_count = Some(page_count),
        }
        if page_number > page_count {
            problems.push(format!("pageNumber {page_number} is beyond pageCount {page_count}"));
        }
        if t.pages.iter().any(|p| p["pageNumber"] == json!(page_number)) {
            problems.push(format!("page {page_number} arrived twice"));
        }
        if now - t.requested_at > TRANSFER_DEADLINE {
            problems.push(format!("page {page_number} came {} min after the request; the limit is 20", (now - t.requested_at) / MINUTE));
        }
        t.pages.push(json!({"pageNumber": page_number, "pageCount": page_count, "receivedAt": iso(now), "entries": checked.len()}));
        t.entries.extend(checked);
        t.problems.append(&mut problems);
    });
    Ok(HttpResponse::Accepted().json(json!({"status": "Data accepted"})))
}

/// Decrypts and reads one entry. A tag mismatch is explained: a secret that starts with a zero
/// byte and decrypts once the zero is dropped was not left-padded to 32 bytes.
fn check_entry(
    e: &Value,
    ours: &KeyMaterial,
    (hip_key, hip_nonce): (&str, &str),
    key_problem: Option<&str>,
) -> Entry {
    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let mut entry =
        Entry { care_context: text("careContextReference"), media: text("media"), ..Entry::default() };
    if let Some(p) = key_problem {
        entry.problem = Some(p.to_string());
        return entry;
    }
    let content = text("content");
    if content.is_empty() {
        entry.problem = Some(if e.get("link").is_some() {
            "a link entry: the sandbox reads entries with their content inline".to_string()
        } else {
            "content is required (the encrypted FHIR bundle, base64)".to_string()
        });
        return entry;
    }
    let plain = match fidelius::decrypt_bytes(&content, &ours.nonce, hip_nonce, &ours.private_key, hip_key) {
        Ok(bytes) => bytes,
        Err(e) => {
            entry.problem = Some(why_not_decrypted(&content, ours, hip_key, hip_nonce, &e.to_string()));
            return entry;
        }
    };
    entry.decrypted = true;
    let checksum = text("checksum");
    let digest = <md5::Md5 as md5::Digest>::digest(&plain);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest);
    entry.checksum_form = if checksum.eq_ignore_ascii_case(&hex) {
        Some("md5-hex")
    } else if checksum == b64 {
        Some("md5-base64")
    } else {
        None
    };
    entry.checksum_matches = Some(entry.checksum_form.is_some());
    let text = String::from_utf8_lossy(&plain).into_owned();
    if let Ok(bundle) = serde_json::from_str::<Value>(&text) {
        entry.resource_type = bundle["resourceType"].as_str().map(str::to_string);
        entry.bundle_type = bundle["type"].as_str().map(str::to_string);
        let composition = &bundle["entry"][0]["resource"];
        entry.composition_first = composition["resourceType"] == "Composition";
        if entry.composition_first {
            let codes = composition["type"]["coding"].as_array().cloned().unwrap_or_default();
            entry.hi_type = codes.iter().find_map(|c| {
                COMPOSITION_TYPES.iter().find(|(code, _)| c["code"] == *code).map(|(_, t)| t.to_string())
            });
        }
    }
    entry.content = Some(text);
    entry
}

fn why_not_decrypted(
    content: &str,
    ours: &KeyMaterial,
    hip_key: &str,
    hip_nonce: &str,
    error: &str,
) -> String {
    let secret = fidelius::shared_secret(&ours.private_key, hip_key).ok();
    if let Some(s) = secret.filter(|s| s[0] == 0) {
        let unpadded: Vec<u8> = s.iter().copied().skip_while(|b| *b == 0).collect();
        if fidelius::decrypt_with_secret(content, &unpadded, hip_nonce, &ours.nonce).is_ok() {
            return "not decrypted: the shared secret was not left-padded to 32 bytes (this exchange's secret starts with a zero byte, which BouncyCastle keeps)".into();
        }
    }
    format!("not decrypted ({error}): is the shared secret left-padded to 32 bytes? is the curve BouncyCastle's curve25519 (short Weierstrass, no clamping), not X25519? are the nonces XORed, salt the first 20 bytes and IV the last 12?")
}

/// What a decrypted entry gets wrong, if anything.
fn judge(e: &Entry, covered: &[String], hi_types: &[String]) -> Option<String> {
    if e.checksum_matches == Some(false) {
        return Some("checksum is not the MD5 of the plaintext (hex or base64)".into());
    }
    if e.resource_type.as_deref() != Some("Bundle") || e.bundle_type.as_deref() != Some("document") {
        return Some(format!(
            "content is not a FHIR Bundle of type document (resourceType {:?}, type {:?})",
            e.resource_type, e.bundle_type
        ));
    }
    if !e.composition_first {
        return Some("the bundle's first entry must be a Composition".into());
    }
    if !covered.contains(&e.care_context) {
        return Some(format!("careContextReference {:?} is not covered by the consent", e.care_context));
    }
    if let Some(t) = e.hi_type.as_ref().filter(|t| !hi_types.contains(t)) {
        return Some(format!("the consent does not allow HI type {t}"));
    }
    if e.media != "application/fhir+json" {
        return Some(format!("media is {:?}, expected application/fhir+json", e.media));
    }
    None
}

/// HIP → gateway transfer `notify`: `notification {consentId, transactionId, doneAt, notifier,
/// statusNotification {sessionStatus, hipId, statusResponses}}`, checked against what arrived.
pub async fn notify(
    sh: web::Data<Shared>,
    transfers: web::Data<Transfers>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, _) = hygiene.inbound(&req, &body)?;
    let n = body.obj("notification")?;
    let id = n.txn_id("transactionId")?;
    let consent_id = n.str("consentId")?;
    n.str("doneAt")?;
    let notifier = n.obj("notifier")?;
    let (kind, notifier_id) = (notifier.str("type")?, notifier.str("id")?);
    let status = n.obj("statusNotification")?;
    let session = status.str("sessionStatus")?;
    let responses = match status.raw("statusResponses") {
        Some(Value::Array(items)) => items.clone(),
        _ => {
            return Err(ApiError::bad(
                "notification.statusNotification.statusResponses",
                "required",
                "must be an array",
            ))
        }
    };
    let now = sh.clock.now();
    let found = transfers.store.update(id, |t| {
        let mut problems = Vec::new();
        if consent_id != t.consent_id.to_string() {
            problems.push(format!("notification.consentId is {consent_id:?}, the transfer's consent is {}", t.consent_id));
        }
        if kind != "HIP" || notifier_id != t.hip_id {
            problems.push(format!("notification.notifier is {kind} {notifier_id}, expected HIP {}", t.hip_id));
        }
        if !["TRANSFERRED", "FAILED"].contains(&session) {
            problems.push(format!("sessionStatus is {session:?}: TRANSFERRED or FAILED"));
        }
        let delivered: Vec<&str> = t.entries.iter().filter(|e| e.decrypted).map(|e| e.care_context.as_str()).collect();
        for r in &responses {
            let cc = r["careContextReference"].as_str().unwrap_or_default();
            let hi = r["hiStatus"].as_str().unwrap_or_default();
            let arrived = delivered.contains(&cc);
            match hi {
                "DELIVERED" | "OK" if !arrived => problems.push(format!("{cc} is reported {hi} but did not arrive decryptable")),
                "ERRORED" if arrived => problems.push(format!("{cc} is reported ERRORED but arrived")),
                "DELIVERED" | "OK" | "ERRORED" => {}
                other => problems.push(format!("{cc}: hiStatus {other:?} is not DELIVERED, OK or ERRORED")),
            }
        }
        if let Some(missing) = delivered.iter().find(|d| !responses.iter().any(|r| r["careContextReference"] == **d)) {
            problems.push(format!("statusResponses has no status for {missing}, which arrived"));
        }
        if session == "TRANSFERRED" && delivered.is_empty() {
            problems.push("TRANSFERRED, but no entry arrived decryptable".to_string());
        }
        if now - t.requested_at > TRANSFER_DEADLINE {
            problems.push("the notify came more than 20 minutes after the request".to_string());
        }
        t.status = if session == "TRANSFERRED" { "TRANSFERRED" } else { "FAILED" };
        t.notify = Some(json!({"body": Value::Object(body.0.clone()), "receivedAt": now, "problems": problems, "matched": problems.is_empty()}));
        t.problems.extend(problems.into_iter().map(|p| format!("notify: {p}")));
    });
    if !found {
        return Err(ApiError::bad(
            "notification.transactionId",
            "transaction-unknown",
            format!("no HI request {id}"),
        )
        .code(version.code(INVALID_TRANSACTION)));
    }
    Ok(HttpResponse::Accepted().json(json!({"status": "Notification is Accepted"})))
}
