//! The sandbox control API under `/_sandbox` (not part of ABDM): health, reset, fixtures, the OTP
//! outbox, the journal, the virtual clock, faults and the profile share here; what the sandbox
//! does as the patient's app, the consent manager and the HIU in [`patient`]. Shapes are fixed by the design document, because
//! the conformance runner and users' own tests read them.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{parse_uuid, JsonBody};
use crate::callbacks::{self, Fault};
use crate::clock::iso;
use crate::error::{ApiError, ApiResult};
use crate::gateway::{sessions, share};

mod hiu;
mod patient;
use crate::state::AppState;

/// The control routes under `/_sandbox`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        hiu::routes(patient::routes(web::scope("/_sandbox")))
            .route("/health", web::get().to(health))
            .route("/reset", web::post().to(reset))
            .route("/fixtures", web::get().to(fixtures))
            .route("/outbox", web::get().to(outbox))
            .route("/journal", web::get().to(journal))
            .route("/clock", web::get().to(clock))
            .route("/clock/advance", web::post().to(advance))
            .route("/share-profile", web::post().to(share_profile))
            .route("/share-profile/{requestId}", web::get().to(share_outcome))
            .route("/faults", web::get().to(faults))
            .route("/faults", web::put().to(set_faults))
            .route("/workspaces", web::get().to(workspaces)),
    );
}

/// `?txnId=` of the outbox.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OutboxQuery {
    txn_id: Option<String>,
}

/// `?since=` of the journal.
#[derive(Deserialize)]
struct JournalQuery {
    since: Option<String>,
}

async fn health(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "ok",
        "liveTransactions": st.live_transactions(),
        "journalEntries": st.shared.journal.len(),
        "now": iso(st.shared.clock.now()),
    }))
}

/// Every workspace of the server, `default` first.
async fn workspaces(all: web::Data<crate::workspaces::Workspaces>) -> HttpResponse {
    HttpResponse::Ok().json(all.list())
}

async fn reset(st: web::Data<AppState>) -> HttpResponse {
    st.reset();
    HttpResponse::Ok().json(json!({"status": "reset"}))
}

async fn fixtures(st: web::Data<AppState>) -> HttpResponse {
    let f = &st.shared.fixtures;
    let mut body = serde_json::to_value(f.as_ref()).unwrap_or(Value::Null);
    // Professionals show their current account, so a created HPR ID appears here too.
    if let Some(pros) = body.get_mut("professionals").and_then(Value::as_array_mut) {
        for (pro, fixture) in pros.iter_mut().zip(&f.professionals) {
            let account = st.hpr.account(&fixture.aadhaar);
            pro["hprIdNumber"] = json!(account.as_ref().map(|a| &a.hpr_id_number));
            pro["hprId"] = json!(account.as_ref().map(|a| &a.hpr_id));
        }
    }
    HttpResponse::Ok().json(body)
}

async fn outbox(st: web::Data<AppState>, q: web::Query<OutboxQuery>) -> ApiResult<HttpResponse> {
    let txn = q.txn_id.as_deref().map(|t| parse_uuid("txnId", t)).transpose()?;
    Ok(HttpResponse::Ok().json(st.shared.outbox.list(txn)))
}

async fn journal(st: web::Data<AppState>, q: web::Query<JournalQuery>) -> ApiResult<HttpResponse> {
    let since = match &q.since {
        None => 0,
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| ApiError::bad("since", "type", "must be a journal sequence number"))?,
    };
    Ok(HttpResponse::Ok().json(st.shared.journal.since(since)))
}

async fn clock(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "now": iso(st.shared.clock.now()),
        "offsetSeconds": st.shared.clock.offset() as f64 / 1000.0,
    }))
}

/// `{"seconds": N}` moves virtual time forward by N seconds (N ≥ 0, fractions allowed).
async fn advance(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let seconds = match body.0.get("seconds") {
        None | Some(Value::Null) => return Err(ApiError::bad("seconds", "required", "is required")),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(other) => {
            return Err(ApiError::bad(
                "seconds",
                "type",
                format!("must be a number, got {}", crate::body::type_name(other)),
            ))
        }
    };
    if !(0.0..=10.0 * 365.0 * 86_400.0).contains(&seconds) {
        return Err(ApiError::bad("seconds", "range", "must be between 0 and ten years"));
    }
    let offset = st.shared.clock.advance((seconds * 1000.0).round() as i64);
    // Artefacts the new time puts past their erase date expire now, as they would in real time.
    crate::gateway::hiu_consent::expire_due(&st.hiu_parts(), st.shared.clock.now());
    st.sweep();
    Ok(HttpResponse::Ok().json(json!({
        "now": iso(st.shared.clock.now()),
        "offsetSeconds": offset as f64 / 1000.0,
    })))
}

/// A patient scans a HIP's QR code `{hipId, code}` in their PHR app:
/// `{hipId, code, abhaAddress, version?: "v0.5"|"v1.0", latitude?, longitude?, token?}` makes the
/// gateway push the profile to the HIP's bridge. `token: "forged"` (signed by another key) or
/// `"expired"` replaces the gateway's valid token, to test that a HIP refuses them.
async fn share_profile(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let hip_id = body.str("hipId")?;
    let code = body.str("code")?;
    let address = body.str("abhaAddress")?;
    let version = match body.opt_str("version")? {
        None => None,
        Some("v0.5") => Some("v0.5"),
        Some("v1.0") => Some("v1.0"),
        Some("v3") => Some("v3"),
        Some(other) => {
            return Err(ApiError::bad("version", "version", format!("{other:?}: use v0.5, v1.0 or v3")))
        }
    };
    if code.len() > 100 {
        return Err(ApiError::bad("code", "length", "at most 100 characters"));
    }
    let request = share::ShareRequest {
        hip_id,
        code,
        address,
        version,
        latitude: body.opt_str("latitude")?.unwrap_or("12.9716").to_string(),
        longitude: body.opt_str("longitude")?.unwrap_or("77.5946").to_string(),
        token: match body.opt_str("token")? {
            None => None,
            Some(kind) => Some(sessions::bad_token(kind).ok_or_else(|| {
                ApiError::bad("token", "token-kind", format!("{kind:?}: use \"forged\" or \"expired\""))
            })?),
        },
    };
    let g = &st.gateway;
    let id = share::share_profile(&st.shared, &g.bridges, &g.hygiene, &g.shares, request)?;
    Ok(HttpResponse::Accepted().json(json!({"requestId": id})))
}

async fn share_outcome(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = parse_uuid("requestId", &path)?;
    let share = st.gateway.shares.outcome(id).ok_or_else(|| {
        ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "share-unknown",
            format!("requestId: no share {id}"),
        )
        .field("requestId")
    })?;
    Ok(HttpResponse::Ok().json(share))
}

async fn faults(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"faults": st.shared.callbacks.faults.list()}))
}

/// `{"faults": [{path, delaySeconds?, drop?, duplicate?, status?}]}` replaces the scripted faults.
async fn set_faults(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let list =
        body.0.get("faults").cloned().ok_or_else(|| ApiError::bad("faults", "required", "is required"))?;
    let faults: Vec<Fault> =
        serde_json::from_value(list).map_err(|e| ApiError::bad("faults", "fault", e.to_string()))?;
    callbacks::validate(&faults)?;
    let in_force = &st.shared.callbacks.faults;
    in_force.set(faults);
    Ok(HttpResponse::Ok().json(json!({"faults": in_force.list()})))
}
