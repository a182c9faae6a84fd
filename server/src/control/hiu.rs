//! The control calls of the HIU side: the patient's decision on a consent request an HIU sent
//! (for patients whose `consentDecision` is `ask`), and what became of each request.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, Scope};
use serde::Deserialize;

use crate::body::parse_uuid;
use crate::error::{ApiError, ApiResult};
use crate::gateway::hiu_consent;
use crate::state::AppState;

/// The routes, added to the `/_sandbox` scope.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/consent-requests", web::get().to(list))
        .route("/consent-requests/{id}", web::get().to(outcome))
        .route("/consent-requests/{id}/grant", web::post().to(grant))
        .route("/consent-requests/{id}/deny", web::post().to(deny))
}

/// `?hiuId=&patient=` of the list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    hiu_id: Option<String>,
    patient: Option<String>,
}

async fn list(st: web::Data<AppState>, q: web::Query<ListQuery>) -> HttpResponse {
    let now = st.shared.clock.now();
    let all = st.gateway.consent_requests.list(q.hiu_id.as_deref(), q.patient.as_deref(), now);
    HttpResponse::Ok().json(serde_json::json!({"consentRequests": all}))
}

fn unknown(id: uuid::Uuid) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "consent-request-unknown", format!("id: no consent request {id}"))
        .field("id")
}

async fn outcome(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = parse_uuid("id", &path)?;
    let out = st.gateway.consent_requests.outcome(id, st.shared.clock.now()).ok_or_else(|| unknown(id))?;
    Ok(HttpResponse::Ok().json(out))
}

async fn decide(st: web::Data<AppState>, path: web::Path<String>, grant: bool) -> ApiResult<HttpResponse> {
    let id = parse_uuid("id", &path)?;
    if st.gateway.consent_requests.requests.peek(id, |_| ()).is_none() {
        return Err(unknown(id));
    }
    Ok(HttpResponse::Ok().json(hiu_consent::decide(&st.hiu_parts(), id, grant)?))
}

/// The patient grants: one artefact per HIP holding matching records; GRANTED is notified.
async fn grant(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    decide(st, path, true).await
}

/// The patient denies: DENIED is notified.
async fn deny(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    decide(st, path, false).await
}
