//! The HIU's questions to the consent manager: a request's status (`on-status`) and an
//! artefact's content (`on-fetch`, signed). Each answers only the client that made the request;
//! an id the consent manager does not know (or another client's) is answered, as the consent
//! manager answers, in the callback: `{consentRequest|consent: null, error: {code, message}}`
//! (1415 / 1416), to the HIU named in `X-HIU-ID` or else the caller's own facility.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{ConsentRequests, ARTEFACT_NOT_FOUND, ON_FETCH, ON_STATUS, REQUEST_NOT_FOUND};
use crate::body::{header, JsonBody};
use crate::callbacks::Receiver;
use crate::error::ApiResult;
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
    let (hiu, outcome) = match found.filter(|f| f.0 == me) {
        Some((_, hiu, status, artefacts)) => {
            let list: Vec<Value> = artefacts.iter().map(|a| json!({"id": a})).collect();
            (hiu, Ok(json!({"id": id, "status": status, "consentArtefacts": list})))
        }
        None => {
            (asker(&sh, &bridges, &req), Err((REQUEST_NOT_FOUND, format!("Consent request {id} not found"))))
        }
    };
    let cb = version.answer(ON_STATUS, answers, sh.clock.now(), "consentRequest", outcome);
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
    let (hiu, outcome) = match found.filter(|f| f.3 == me) {
        Some((hiu, status, detail, _)) => {
            requests.artefacts.update(id, |a| a.fetched = true);
            (hiu, Ok(json!({"status": status, "consentDetail": detail, "signature": signature(&detail)})))
        }
        None => (
            asker(&sh, &bridges, &req),
            Err((ARTEFACT_NOT_FOUND, format!("Consent artefact {id} not found"))),
        ),
    };
    let cb = version.answer(ON_FETCH, answers, now, "consent", outcome);
    bridges::send(&sh, &bridges, (Receiver::Hiu, &hiu), cb, Vec::new());
    Ok(accepted())
}

/// The HIU an answer about nothing it holds goes to: the one named in `X-HIU-ID`, else the
/// caller's own facility.
fn asker(sh: &Shared, bridges: &Bridges, req: &HttpRequest) -> String {
    header(req, "X-HIU-ID")
        .map(str::to_string)
        .unwrap_or_else(|| bridges.own_service(sh, &caller(req), "HIU"))
}
