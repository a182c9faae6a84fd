//! The control calls in which the sandbox plays the other parties of a HIP's journey: the
//! patient's PHR app (discover and link records, grant, revoke and expire consents), the consent
//! manager (what is linked) and the HIU (ask for the data of a consent, receive the push).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, Scope};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::{date_time as millis, parse_uuid, JsonBody};
use crate::error::{ApiError, ApiResult};
use crate::gateway::envelope::Version;
use crate::gateway::{consent, dataflow, discovery, hiu_consent};
use crate::state::AppState;

/// The routes, added to the `/_sandbox` scope.
pub fn routes(scope: Scope) -> Scope {
    scope
        .route("/discover", web::post().to(discover))
        .route("/discover/{transactionId}", web::get().to(discovery_outcome))
        .route("/discover/{transactionId}/link", web::post().to(discover_link))
        .route("/discover/{transactionId}/confirm", web::post().to(discover_confirm))
        .route("/links", web::get().to(links))
        .route("/care-contexts", web::post().to(care_contexts))
        .route("/consents", web::post().to(grant))
        .route("/consents/{consentId}", web::get().to(consent_outcome))
        .route("/consents/{consentId}/revoke", web::post().to(revoke))
        .route("/consents/{consentId}/expire", web::post().to(expire))
        .route("/health-information/requests", web::post().to(hi_request))
        .route("/health-information/requests/{transactionId}", web::get().to(hi_outcome))
        .route("/health-information/requests/{transactionId}/entries/{index}", web::get().to(hi_entry))
        .route("/data-push/{transactionId}", web::post().to(dataflow::push))
}

/// `?abhaAddress=` of the links.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinksQuery {
    abha_address: Option<String>,
}

fn not_found(field: &str, rule: &'static str, what: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, rule, format!("{field}: {what}")).field(field)
}

/// The patient's PHR app discovers their records at a HIP: `{hipId, abhaAddress, version?}` →
/// `{transactionId, requestId}` (202).
async fn discover(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let hip = body.str("hipId")?;
    let address = body.str("abhaAddress")?;
    let version = Version::parse("version", body.opt_str("version")?)?;
    let g = &st.gateway;
    let out =
        discovery::discover(&st.shared, &g.bridges, &g.hygiene, &g.discoveries, (hip, address, version))?;
    Ok(HttpResponse::Accepted().json(out))
}

/// `{careContexts?: [referenceNumber]}`: link init for these (default: all discovered).
async fn discover_link(
    st: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let id = parse_uuid("transactionId", &path)?;
    let wanted = match body.0.get("careContexts") {
        None | Some(Value::Null) => None,
        Some(_) => Some(body.root().strings("careContexts")?.into_iter().map(str::to_string).collect()),
    };
    let g = &st.gateway;
    let out = discovery::link(&st.shared, &g.bridges, &g.hygiene, &g.discoveries, id, wanted)?;
    Ok(HttpResponse::Accepted().json(out))
}

/// `{token}`: link confirm with the OTP the HIP sent the patient.
async fn discover_confirm(
    st: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let id = parse_uuid("transactionId", &path)?;
    let token = body.str("token")?;
    let g = &st.gateway;
    let out = discovery::confirm(&st.shared, &g.bridges, &g.hygiene, &g.discoveries, id, token)?;
    Ok(HttpResponse::Accepted().json(out))
}

/// Every step of a discovery: delivered, the HIP's status, its answer, the problems found.
async fn discovery_outcome(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = parse_uuid("transactionId", &path)?;
    let outcome = st.gateway.discoveries.outcome(id).ok_or_else(|| {
        ApiError::new(
            actix_web::http::StatusCode::NOT_FOUND,
            "discovery-unknown",
            format!("transactionId: no discovery {id}"),
        )
        .field("transactionId")
    })?;
    Ok(HttpResponse::Ok().json(outcome))
}

/// `?abhaAddress=`: the care contexts linked to the address, by HIP, whichever flow linked them.
async fn links(st: web::Data<AppState>, q: web::Query<LinksQuery>) -> ApiResult<HttpResponse> {
    let address = q.abha_address.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let address =
        address.ok_or_else(|| ApiError::bad("abhaAddress", "required", "query parameter is required"))?;
    let by_hip: Vec<Value> = st
        .gateway
        .links
        .of(address)
        .into_iter()
        .map(|(hip, contexts)| json!({"hipId": hip, "careContexts": contexts}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"abhaAddress": address, "links": by_hip})))
}

/// `{hipId, abhaAddress, patientReference, careContexts: [{referenceNumber, display}]}`: links
/// care contexts directly, as if a linking flow had (a shortcut for tests).
async fn care_contexts(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let hip = body.str("hipId")?;
    let address = body.str("abhaAddress")?;
    let patient = body.str("patientReference")?.to_string();
    st.shared.accounts.by_address(address).ok_or_else(|| {
        ApiError::rule("abhaAddress", "abha-address-unknown", format!("no ABHA address {address}"))
    })?;
    st.gateway.bridges.registered(&st.shared, hip)?;
    let items = match body.0.get("careContexts") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err(ApiError::bad("careContexts", "required", "must be a non-empty array")),
    };
    let mut contexts = Vec::new();
    for (i, c) in items.iter().enumerate() {
        let r = c["referenceNumber"].as_str().filter(|r| !r.trim().is_empty()).ok_or_else(|| {
            ApiError::bad(&format!("careContexts[{i}].referenceNumber"), "required", "is required")
        })?;
        contexts.push((patient.clone(), r.to_string()));
    }
    let now = st.shared.clock.now();
    st.gateway.links.link(address, hip, &contexts, now).map_err(|r| {
        ApiError::rule(
            "careContexts",
            "care-context-linked",
            format!("{r} is already linked to {address} at {hip}"),
        )
    })?;
    Ok(HttpResponse::Ok().json(json!({"abhaAddress": address, "hipId": hip, "linked": contexts.len()})))
}

/// `dateRange {from, to}` of a body, when given.
fn date_range(body: &JsonBody) -> ApiResult<Option<(i64, i64)>> {
    match body.root().opt_obj("dateRange")? {
        None => Ok(None),
        Some(r) => {
            Ok(Some((millis("dateRange.from", r.str("from")?)?, millis("dateRange.to", r.str("to")?)?)))
        }
    }
}

/// The patient grants a consent to the sandbox HIU; the HIP is notified (202).
async fn grant(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let strings = |key: &str| -> ApiResult<Option<Vec<String>>> {
        match body.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => Ok(Some(body.root().strings(key)?.into_iter().map(str::to_string).collect())),
        }
    };
    let contexts = match body.0.get("careContexts") {
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    c.as_str()
                        .or_else(|| c["careContextReference"].as_str())
                        .or_else(|| c["referenceNumber"].as_str())
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ApiError::bad(&format!("careContexts[{i}]"), "type", "a care-context reference")
                        })
                })
                .collect::<ApiResult<Vec<String>>>()?,
        ),
        _ => None,
    };
    let erase_at = body.opt_str("dataEraseAt")?.map(|t| millis("dataEraseAt", t)).transpose()?;
    let g = consent::Grant {
        hip: body.str("hipId")?,
        address: body.str("abhaAddress")?,
        hi_types: strings("hiTypes")?,
        purpose: body.opt_str("purpose")?,
        range: date_range(&body)?,
        erase_at,
        contexts,
        version: Version::parse("version", body.opt_str("version")?)?,
    };
    let gw = &st.gateway;
    let out = consent::grant(&st.shared, &gw.bridges, &gw.hygiene, &gw.links, &gw.consents, g)?;
    Ok(HttpResponse::Accepted().json(out))
}

async fn consent_outcome(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = parse_uuid("consentId", &path)?;
    let gw = &st.gateway;
    let out = gw
        .consents
        .outcome(id)
        .or_else(|| gw.consent_requests.artefact(id, st.shared.clock.now()))
        .ok_or_else(|| not_found("consentId", "consent-unknown", format!("no consent {id}")))?;
    Ok(HttpResponse::Ok().json(out))
}

async fn end(
    st: web::Data<AppState>,
    path: web::Path<String>,
    status: &'static str,
) -> ApiResult<HttpResponse> {
    let id = parse_uuid("consentId", &path)?;
    let gw = &st.gateway;
    if gw.consent_requests.artefacts.peek(id, |_| ()).is_some() {
        return Ok(HttpResponse::Accepted().json(hiu_consent::end(&st.hiu_parts(), id, status)?));
    }
    Ok(HttpResponse::Accepted().json(consent::end(
        &st.shared,
        &gw.bridges,
        &gw.hygiene,
        &gw.consents,
        id,
        status,
    )?))
}

/// The patient revokes a consent: REVOKED is notified.
async fn revoke(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    end(st, path, "REVOKED").await
}

/// The consent expires: EXPIRED is notified.
async fn expire(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    end(st, path, "EXPIRED").await
}

/// The sandbox as HIU asks for a consent's data: `{consentId, dateRange?, keyFormat?, version?}`.
async fn hi_request(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    let consent_id = body.txn_id("consentId")?;
    let x509 = match body.opt_str("keyFormat")?.unwrap_or("raw") {
        "raw" => false,
        "x509" => true,
        other => {
            return Err(ApiError::bad(
                "keyFormat",
                "key-format",
                format!("{other:?}: use \"raw\" or \"x509\""),
            ))
        }
    };
    let version = Version::parse("version", body.opt_str("version")?)?;
    let gw = &st.gateway;
    let out = dataflow::request(
        &st.shared,
        &gw.bridges,
        &gw.hygiene,
        (&gw.consents, &gw.transfers),
        (consent_id, date_range(&body)?, x509, version),
    )?;
    Ok(HttpResponse::Accepted().json(out))
}

async fn hi_outcome(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = parse_uuid("transactionId", &path)?;
    let gw = &st.gateway;
    let out =
        gw.transfers.outcome(id, st.shared.clock.now()).or_else(|| gw.hiu_transfers.outcome(id)).ok_or_else(
            || not_found("transactionId", "transaction-unknown", format!("no HI request {id}")),
        )?;
    Ok(HttpResponse::Ok().json(out))
}

/// The decrypted content of one entry (the FHIR bundle as the HIP sent it).
async fn hi_entry(st: web::Data<AppState>, path: web::Path<(String, usize)>) -> ApiResult<HttpResponse> {
    let (txn, index) = path.into_inner();
    let id = parse_uuid("transactionId", &txn)?;
    match st.gateway.transfers.entry(id, index) {
        None => Err(not_found("index", "entry-unknown", format!("no entry {index} in {id}"))),
        Some(None) => Err(ApiError::rule("index", "not-decrypted", format!("entry {index} did not decrypt"))),
        Some(Some(content)) => Ok(HttpResponse::Ok().content_type("application/fhir+json").body(content)),
    }
}
