//! Patient discovery for an HIU (M3 HIU_FLOW_101, v0.5 only): before asking for consent, an HIU
//! checks that an ABHA address belongs to a patient. `POST /gateway/v0.5/patients/find`
//! `{requestId, timestamp, query: {patient: {id}, requester: {type: HIU, id}}}` is answered 202,
//! then `{bridge}/v0.5/patients/on-find` `{patient: {id, name}, error: null, resp}`, or
//! `{patient: null, error: {code: 1414, message}}` for an address no one holds.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::bridges::{self, require_own, Bridges};
use super::envelope::{accepted, Code, Hygiene};
use crate::body::JsonBody;
use crate::callbacks::Receiver;
use crate::error::{ApiError, ApiResult};
use crate::shared::Shared;

const ON_FIND: (&str, &str) = ("/v0.5/patients/on-find", "");
const NO_PATIENT: Code = Code { v05: 1414, v3: "ABDM-1014" };

/// HIU → gateway `patients/find`.
pub async fn find(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let (version, answers) = hygiene.inbound(&req, &body)?;
    let query = body.obj("query")?;
    let address = query.obj("patient")?.str("id")?;
    let requester = query.obj("requester")?;
    let kind = requester.str("type")?;
    if kind != "HIU" {
        return Err(ApiError::bad(
            "query.requester.type",
            "requester-type",
            format!("{kind:?}: must be HIU"),
        ));
    }
    let hiu = requester.str("id")?;
    require_own(&sh, &bridges, &req, hiu, "query.requester.id", version)?;
    let outcome = match sh.accounts.by_address(address) {
        Some(account) => {
            let name = sh.fixtures.people.get(account.person).map(|p| p.name.clone()).unwrap_or_default();
            Ok(json!({"id": address, "name": name}))
        }
        None => Err((NO_PATIENT, format!("Cannot find the patient {address}"))),
    };
    let cb = version.answer(ON_FIND, answers, sh.clock.now(), "patient", outcome);
    bridges::send(&sh, &bridges, (Receiver::Hiu, hiu), cb, Vec::new());
    Ok(accepted())
}
