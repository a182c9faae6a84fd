//! The HIU's questions to the consent manager: a request's status (`on-status`) and an
//! artefact's content (`on-fetch`, signed). Each answers only the client that made the request.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{ConsentRequests, ARTEFACT_NOT_FOUND, ON_FETCH, ON_STATUS, REQUEST_NOT_FOUND};
use crate::body::JsonBody;
use crate::callbacks::Receiver;
use crate::error::{ApiError, ApiResult};
use crate::gateway::bridges::{self, Bridges};
use crate::gateway::consent::signature;
use crate::gateway::envelope::{accepted, Hygiene};
use crate::gateway::sessions::caller;
use crate::shared::Shared;

/// HIU → gateway `consent-requests/status` `{consentRequestId}` → `on-status` with the
/// request's status and artefacts.
pub async fn status(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    requests: web::Data<ConsentRequests>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answers) = hygiene.inbound(&req, &body)?;
    let id = body.txn_id("consentRequestId")?;
    let me = caller(&req);
    let found =
        requests.requests.peek(id, |r| (r.client.clone(), r.hiu_id.clone(), r.status, r.artefacts.clone()));
    let Some((client, hiu, status, artefacts)) = found.filter(|f| f.0 == me) else {
        let why = format!("no consent request {id} of client {me}");
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "consent-request-unknown",
            format!("consentRequestId: {why}"),
        )
        .field("consentRequestId")
        .code(version.code(REQUEST_NOT_FOUND)));
    };
    debug_assert_eq!(client, me);
    let list: Vec<Value> = artefacts.iter().map(|a| json!({"id": a})).collect();
    let payload = json!({"id": id, "status": status, "consentArtefacts": list});
    let cb = version.answer(ON_STATUS, answers, sh.clock.now(), "consentRequest", Ok(payload));
    bridges::send(&sh, &bridges, (Receiver::Hiu, &hiu), cb, Vec::new());
    Ok(accepted())
}

/// HIU → gateway `consents/fetch` `{consentId}` → `on-fetch` with the artefact and its signature.
pub async fn fetch(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    requests: web::Data<ConsentRequests>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answers) = hygiene.inbound(&req, &body)?;
    let id = body.txn_id("consentId")?;
    let now = sh.clock.now();
    let me = caller(&req);
    let found = requests
        .artefacts
        .peek(id, |a| (a.hiu_id.clone(), a.status_at(now), a.detail.clone(), a.client.clone()));
    let Some((hiu, status, detail, _)) = found.filter(|f| f.3 == me) else {
        let why = format!("no consent artefact {id} granted to client {me}");
        return Err(ApiError::new(StatusCode::NOT_FOUND, "consent-unknown", format!("consentId: {why}"))
            .field("consentId")
            .code(version.code(ARTEFACT_NOT_FOUND)));
    };
    requests.artefacts.update(id, |a| a.fetched = true);
    let consent = json!({"status": status, "consentDetail": detail, "signature": signature(&detail)});
    let cb = version.answer(ON_FETCH, answers, now, "consent", Ok(consent));
    bridges::send(&sh, &bridges, (Receiver::Hiu, &hiu), cb, Vec::new());
    Ok(accepted())
}
