//! Profile share: a patient scans a HIP's QR code `{hipId, code}` in their PHR app and the gateway
//! pushes their profile to the HIP's bridge (`{bridge}/v0.5/patients/profile/share`, or `v1.0`
//! with the intent and location). The HIP answers 202 and then calls
//! `/gateway/{v0.5|v1.0}/patients/profile/on-share` with the same requestId, the patient's
//! healthId and a token number, within 30 s. What became of each share, delivery and on-share
//! checked, is kept for `GET /_sandbox/share-profile/{requestId}`.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::bridges::Bridges;
use super::envelope::{request_id, require_cm_id};
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
    /// `v0.5` or `v1.0`.
    pub version: &'static str,
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
    shares: &web::Data<Shares>,
    r: ShareRequest,
) -> ApiResult<Uuid> {
    let client = bridges.owner_of(sh, r.hip_id).ok_or_else(|| {
        ApiError::rule("hipId", "hip-unknown", format!("{} is not a registered HIP", r.hip_id))
    })?;
    let base = bridges.url_of(&client).ok_or_else(|| {
        ApiError::rule(
            "hipId",
            "no-bridge",
            format!("client {client} of {} has no bridge URL (PATCH /gateway/v1/bridges)", r.hip_id),
        )
    })?;
    let account = sh.accounts.by_address(r.address).ok_or_else(|| {
        ApiError::rule("abhaAddress", "abha-address-unknown", format!("no ABHA address {}", r.address))
    })?;
    let now = sh.clock.now();
    let request_id = Uuid::new_v4();
    let mut body = json!({
        "requestId": request_id,
        "timestamp": crate::clock::iso(now),
        "profile": {"hipCode": r.code, "patient": patient_json(sh, &account, r.address, "NDHM_HEALTH_NUMBER")},
    });
    if r.version == "v1.0" {
        body["intent"] = json!({"type": "REGISTRATION"});
        body["location"] = json!({"latitude": r.latitude, "longitude": r.longitude});
    }
    let share = Share {
        hip_id: r.hip_id.to_string(),
        code: r.code.to_string(),
        address: r.address.to_string(),
        version: r.version,
        sent_at: now,
        delivery: None,
        on_share: None,
    };
    let id = shares.store.insert_with_id(request_id, share, now);
    let record = shares.clone();
    sh.callbacks.send(Callback {
        base,
        path: format!("/{}/patients/profile/share", r.version),
        receiver: Receiver::Hip,
        receiver_id: r.hip_id.to_string(),
        body,
        on_delivered: Some(Arc::new(move |outcome| {
            record.store.update(id, |s| s.delivery = Some(outcome));
        })),
        token: r.token,
        then: None,
    });
    Ok(id)
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

/// HIP → gateway `on-share`: answered 202 whatever it matched, as the gateway accepts first.
/// When it answers no share this gateway sent, the 202 carries a note saying why, which the
/// journal keeps.
pub async fn on_share(
    sh: web::Data<Shared>,
    shares: web::Data<Shares>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    request_id(&body)?;
    let ack = body.obj("acknowledgement")?;
    let status = ack.str("status")?;
    if !["SUCCESS", "FAILURE"].contains(&status) {
        return Err(ApiError::bad("acknowledgement.status", "ack-status", "must be SUCCESS or FAILURE"));
    }
    let health_id = ack.str("healthId")?;
    let v1 = req.path().contains("/v1.0/");
    let token_number = if v1 { Some(ack.str("tokenNumber")?) } else { ack.opt_str("tokenNumber")? };
    let answered = body.obj("resp")?.txn_id("requestId")?;
    let now = sh.clock.now();
    let recorded = shares.store.step(answered, "resp.requestId", now, |share| {
        let problems = problems(share, health_id, v1, now);
        share.on_share = Some(json!({
            "receivedAt": crate::clock::iso(now),
            "status": status,
            "healthId": health_id,
            "tokenNumber": token_number,
            "error": body.0.get("error"),
            "withinDeadline": now - share.sent_at <= SHARE_DEADLINE,
            "matched": problems.is_empty(),
            "problems": problems,
        }));
        Ok(())
    });
    match recorded {
        Ok(()) => Ok(HttpResponse::Accepted().finish()),
        Err(e) => {
            let note = ApiError::rule(
                "resp.requestId",
                e.rule,
                format!("answers no share this gateway sent ({})", e.message),
            );
            Ok(HttpResponse::Accepted().json(note.body()))
        }
    }
}

/// What an on-share got wrong about the share it answers, in sentences.
fn problems(share: &Share, health_id: &str, v1: bool, now: Millis) -> Vec<String> {
    let mut problems = Vec::new();
    if !share.address.eq_ignore_ascii_case(health_id) {
        problems.push(format!(
            "acknowledgement.healthId is {health_id:?}, the share was for {:?}",
            share.address
        ));
    }
    if now - share.sent_at > SHARE_DEADLINE {
        problems.push(format!(
            "on-share came {} s after the share; the deadline is 30 s",
            (now - share.sent_at) / 1000
        ));
    }
    if share.on_share.is_some() {
        problems.push("a second on-share for this share".to_string());
    }
    if (share.version == "v1.0") != v1 {
        problems.push(format!("the share was {} but on-share came on the other version", share.version));
    }
    problems
}
