//! Profile share: a patient scans a HIP's QR code `{hipId, code}` in their PHR app and the gateway
//! pushes their profile to the HIP's bridge (`{bridge}/v0.5/patients/profile/share`, `v1.0` with
//! the intent and location, or v3's `{bridge}/api/v3/hip/patient/share` with `metaData`). The HIP
//! answers 202 and then calls `/gateway/{v0.5|v1.0}/patients/profile/on-share` (v3:
//! `/api/hiecm/patient-share/v3/on-share`) answering that request, with the patient's address and
//! a token number, within 30 s. What became of each share, delivery and on-share checked, is kept
//! for `GET /_sandbox/share-profile/{requestId}`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::Bridges;
use super::envelope::{Hygiene, Version};
use super::sessions::caller;
use crate::accounts::AbhaAccount;
use crate::body::JsonBody;
use crate::callbacks::{Callback, Delivery, Receiver};
use crate::clock::{Millis, MINUTE, SECOND};
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;
use crate::store::Store;

/// A HIP must answer a profile share with on-share within this.
pub const SHARE_DEADLINE: Millis = 30 * SECOND;

/// What became of a profile share.
#[derive(Debug, Clone)]
struct Share {
    hip_id: String,
    code: String,
    address: String,
    version: &'static str,
    sent_at: Millis,
    delivery: Option<Delivery>,
    on_share: Option<Value>,
}

/// Every share sent, by requestId, kept an hour.
pub struct Shares {
    store: Store<Share>,
}

impl Default for Shares {
    fn default() -> Self {
        Shares { store: Store::with_ttl(60 * MINUTE) }
    }
}

impl Shares {
    /// No shares.
    pub fn reset(&self) {
        self.store.clear();
    }

    /// Drops shares older than an hour and a grace; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.store.sweep(now)
    }

    /// A share as `GET /_sandbox/share-profile/{requestId}` shows it.
    pub fn outcome(&self, id: Uuid) -> Option<Value> {
        self.store.peek(id, |s| {
            json!({
                "requestId": id,
                "hipId": s.hip_id,
                "code": s.code,
                "abhaAddress": s.address,
                "version": s.version,
                "sentAt": crate::clock::iso(s.sent_at),
                "delivered": s.delivery.as_ref().map(|d| d.status.is_some_and(|c| c < 300)),
                "hipStatus": s.delivery.as_ref().and_then(|d| d.status),
                "deliveryError": s.delivery.as_ref().and_then(|d| d.error.clone()),
                "attempts": s.delivery.as_ref().map(|d| d.attempts),
                "onShare": s.on_share,
            })
        })
    }
}

/// What the patient's PHR app sends when it scans a HIP's QR code `{hipId, code}`.
pub struct ShareRequest<'a> {
    /// The HIP id in the QR code.
    pub hip_id: &'a str,
    /// The counter code in the QR code.
    pub code: &'a str,
    /// The patient's ABHA address.
    pub address: &'a str,
    /// `v0.5`, `v1.0` or `v3`; `None`: the version the HIP's bridge was registered in.
    pub version: Option<&'static str>,
    /// The patient's location (v1.0).
    pub latitude: String,
    /// The patient's location (v1.0).
    pub longitude: String,
    /// A token to sign the share with instead of a valid gateway token.
    pub token: Option<String>,
}

/// Pushes the profile to the HIP's bridge; returns the requestId. The delivery's outcome is
/// recorded on the share when it is known.
pub fn share_profile(
    sh: &Shared,
    bridges: &Bridges,
    hygiene: &Hygiene,
    shares: &web::Data<Shares>,
    r: ShareRequest,
) -> ApiResult<Uuid> {
    let (client, base) = bridges.route(sh, r.hip_id)?;
    let account = sh.accounts.by_address(r.address).ok_or_else(|| {
        ApiError::rule("abhaAddress", "abha-address-unknown", format!("no ABHA address {}", r.address))
    })?;
    let now = sh.clock.now();
    let version = r.version.unwrap_or(match bridges.version_of(sh, r.hip_id) {
        Version::V05 => "v0.5",
        Version::V3 => "v3",
    });
    let msg = if version == "v3" {
        let patient = patient_v3(sh, &account, r.address);
        let meta = json!({"hipId": r.hip_id, "context": r.code, "hprId": "", "latitude": r.latitude, "longitude": r.longitude});
        let payload = json!({"intent": "PROFILE_SHARE", "metaData": meta, "profile": {"patient": patient}});
        Version::V3.message(("", "/api/v3/hip/patient/share"), None, now, payload)
    } else {
        let patient = patient_json(sh, &account, r.address, "NDHM_HEALTH_NUMBER");
        let mut payload = json!({"profile": {"hipCode": r.code, "patient": patient}});
        if version == "v1.0" {
            payload["intent"] = json!({"type": "REGISTRATION"});
            payload["location"] = json!({"latitude": r.latitude, "longitude": r.longitude});
        }
        let path = format!("/{version}/patients/profile/share");
        let mut msg = Version::V05.message((&path, ""), None, now, payload);
        // The share's timestamp is ISO-8601 with a zone, as the gateway sends it.
        msg.body["timestamp"] = json!(crate::clock::iso(now));
        msg
    };
    let share = Share {
        hip_id: r.hip_id.to_string(),
        code: r.code.to_string(),
        address: r.address.to_string(),
        version,
        sent_at: now,
        delivery: None,
        on_share: None,
    };
    let id = shares.store.insert_with_id(msg.request_id, share, now);
    hygiene.expect_answer(id, &client);
    let record = shares.clone();
    sh.callbacks.send(Callback {
        base,
        path: msg.path,
        receiver: Receiver::Hip,
        receiver_id: r.hip_id.to_string(),
        body: msg.body,
        headers: msg.headers,
        on_delivered: Some(Arc::new(move |outcome| {
            record.store.update(id, |s| s.delivery = Some(outcome));
        })),
        token: r.token,
        then: None,
    });
    Ok(id)
}

/// The patient as v3 shares it: every value a string, the ABHA number dashed.
fn patient_v3(sh: &Shared, account: &AbhaAccount, address: &str) -> Value {
    let p = &sh.fixtures.people[account.person];
    let text = |n: Option<u8>| n.map(|n| n.to_string()).unwrap_or_default();
    json!({
        "abhaNumber": account.abha_number,
        "abhaAddress": registered(account, address),
        "name": p.name,
        "gender": p.gender,
        "dayOfBirth": text(p.day_of_birth),
        "monthOfBirth": text(p.month_of_birth),
        "yearOfBirth": p.year_of_birth.to_string(),
        "address": {"line": p.address.line, "district": p.address.district, "state": p.address.state, "pincode": p.address.pincode},
        "phoneNumber": account.mobile,
    })
}

/// The address as registered, whatever case it was typed in.
fn registered<'a>(account: &'a AbhaAccount, address: &'a str) -> &'a str {
    account.addresses.iter().find(|a| a.eq_ignore_ascii_case(address)).map(String::as_str).unwrap_or(address)
}

/// The patient as the gateway shares it: demographics and identifiers of the address.
/// `number_type` is how the ABHA number is typed: `NDHM_HEALTH_NUMBER` in a share (the share
/// schema's enum), `HEALTH_NUMBER` in auth callbacks (as the sandbox sends it there).
pub fn patient_json(sh: &Shared, account: &AbhaAccount, address: &str, number_type: &str) -> Value {
    let p = &sh.fixtures.people[account.person];
    // The address as registered, whatever case it was typed in.
    let address = account
        .addresses
        .iter()
        .find(|a| a.eq_ignore_ascii_case(address))
        .map(String::as_str)
        .unwrap_or(address);
    json!({
        "healthId": address,
        "healthIdNumber": account.abha_number,
        "name": p.name,
        "gender": p.gender,
        "address": {"line": p.address.line, "district": p.address.district, "state": p.address.state, "pincode": p.address.pincode},
        "yearOfBirth": p.year_of_birth,
        "monthOfBirth": p.month_of_birth,
        "dayOfBirth": p.day_of_birth,
        "identifiers": [{"type": "MOBILE", "value": account.mobile}, {"type": number_type, "value": account.abha_number}],
    })
}

/// HIP → gateway `on-share` (v0.5, v1.0 or v3): it must answer a share this gateway sent to the
/// caller and not yet answered (else 400); answered 202, its outcome recorded on the share.
pub async fn on_share(
    sh: web::Data<Shared>,
    shares: web::Data<Shares>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, _) = hygiene.inbound(&req, &body)?;
    let path_version = match version {
        Version::V3 => "v3",
        Version::V05 if req.path().contains("/v1.0/") => "v1.0",
        Version::V05 => "v0.5",
    };
    let ack = acknowledgement(&body, path_version)?;
    let answered = hygiene.answers(&body, version, &caller(&req))?;
    let now = sh.clock.now();
    shares.store.update(answered, |share| {
        let problems = problems(share, &ack, path_version, now);
        share.on_share = Some(json!({
            "receivedAt": crate::clock::iso(now),
            "status": ack.status,
            "healthId": ack.address,
            "tokenNumber": ack.token_number,
            "error": body.0.get("error"),
            "withinDeadline": now - share.sent_at <= SHARE_DEADLINE,
            "matched": problems.is_empty(),
            "problems": problems,
        }));
    });
    Ok(HttpResponse::Accepted().finish())
}

/// What an on-share says, in either version.
struct Ack {
    status: String,
    address: Option<String>,
    token_number: Option<String>,
}

fn acknowledgement(body: &JsonBody, version: &str) -> ApiResult<Ack> {
    if version == "v3" {
        // v3: `acknowledgement {abhaAddress, status, profile {context, tokenNumber, expiry}}`,
        // or only `error` when the HIP failed.
        let Some(ack) = body.root().opt_obj("acknowledgement")? else {
            body.obj("error")?;
            return Ok(Ack { status: "FAILURE".into(), address: None, token_number: None });
        };
        let status = ack_status(&ack)?;
        let address = ack.str("abhaAddress")?.to_string();
        let token_number = match ack.opt_obj("profile")? {
            Some(p) => Some(p.str("tokenNumber")?.to_string()),
            None if status == "SUCCESS" => {
                return Err(ApiError::bad(
                    "acknowledgement.profile",
                    "required",
                    "is required for SUCCESS (context, tokenNumber, expiry)",
                ))
            }
            None => None,
        };
        return Ok(Ack { status, address: Some(address), token_number });
    }
    let ack = body.obj("acknowledgement")?;
    let status = ack_status(&ack)?;
    let address = ack.str("healthId")?.to_string();
    let token = if version == "v1.0" { Some(ack.str("tokenNumber")?) } else { ack.opt_str("tokenNumber")? };
    Ok(Ack { status, address: Some(address), token_number: token.map(str::to_string) })
}

fn ack_status(ack: &crate::body::Obj) -> ApiResult<String> {
    let status = ack.str("status")?;
    if !["SUCCESS", "FAILURE"].contains(&status) {
        return Err(ApiError::bad(&ack.name("status"), "ack-status", "must be SUCCESS or FAILURE"));
    }
    Ok(status.to_string())
}

/// What an on-share got wrong about the share it answers, in sentences.
fn problems(share: &Share, ack: &Ack, version: &str, now: Millis) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(address) = &ack.address {
        if !share.address.eq_ignore_ascii_case(address) {
            let field =
                if version == "v3" { "acknowledgement.abhaAddress" } else { "acknowledgement.healthId" };
            problems.push(format!("{field} is {address:?}, the share was for {:?}", share.address));
        }
    }
    if now - share.sent_at > SHARE_DEADLINE {
        problems.push(format!(
            "on-share came {} s after the share; the deadline is 30 s",
            (now - share.sent_at) / 1000
        ));
    }
    if share.version != version {
        problems.push(format!("the share was {} but on-share came on {version}", share.version));
    }
    problems
}
