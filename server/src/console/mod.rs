//! The web console under `/_sandbox/ui` (and `/`, which redirects there): one page, served from
//! the binary, that lets a person do and see what a tester with a phone and a log viewer would on
//! the live sandbox. It holds the patient's PHR app (scan a HIP's QR code, discover and link
//! records, decide on consent requests, revoke or expire consents) and the tester's eyes (the
//! scripted identities, the OTP outbox, the journal live, transfers with their decrypted
//! bundles, the virtual clock, faults and reset, the conformance runner).
//!
//! The page is a client of the control API (`/_sandbox/...`) like any test program; what it needs
//! beyond that lives here:
//!
//! | route | what |
//! |---|---|
//! | `GET /` from a browser (`Accept: text/html`) | redirects to `/_sandbox/ui`; other clients still get the JSON 404 |
//! | `GET /_sandbox/ui`, `GET /_sandbox/ui/assets/{file}` | the page and its script and style, compiled in ([`assets`]) |
//! | `GET /_sandbox/events[?since=SEQ]` | the journal as server-sent events ([`events`]), also for programs |
//! | `GET /_sandbox/ui/qr.svg?text=` | a QR code holding `text`, drawn as SVG ([`qr`]) |
//! | `POST /_sandbox/ui/lookup` | which of the ids the page saw in the journal are consents or transfers, with their outcomes |
//! | `GET /_sandbox/ui/records/{careContextReference}` | the FHIR bundle a fixture HIP holds for a care context (what the sandbox pushed, as that HIP, to an HIU) |
//! | `GET /_sandbox/ui/runner`, `POST .../run`, `GET .../report` | the conformance runner, when the binary gave one ([`runner`]) |

mod assets;
mod events;
mod qr;
mod runner;

use actix_web::http::header;
use actix_web::{guard, web, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use runner::{RunOutcome, ScenarioInfo, ScenarioRunner};

/// The console's own state: the runner the binary gave, and its runs.
#[derive(Clone)]
pub struct Console {
    runs: web::Data<runner::Runs>,
}

impl Console {
    /// A console whose runner panel runs scenarios through `runner` (or explains how to run
    /// them when there is none).
    pub fn new(runner: Option<std::sync::Arc<dyn ScenarioRunner>>) -> Self {
        Console { runs: web::Data::new(runner::Runs::new(runner)) }
    }
}

/// At most this many ids are looked up at once.
const MAX_LOOKUP: usize = 500;

/// The console's routes. They are registered before the control API's `/_sandbox` scope, which
/// would otherwise answer them with its 404.
pub fn configure(cfg: &mut web::ServiceConfig, console: &Console) {
    cfg.app_data(console.runs.clone())
        .service(
            web::resource("/")
                .guard(guard::fn_guard(|ctx| wants_html(ctx.head().headers())))
                .route(web::get().to(to_console))
                .route(web::head().to(to_console)),
        )
        .route("/_sandbox/ui", web::get().to(assets::page))
        .route("/_sandbox/ui/", web::get().to(to_console))
        .route("/_sandbox/ui/assets/{file}", web::get().to(assets::asset))
        .route("/_sandbox/ui/qr.svg", web::get().to(qr::svg))
        .route("/_sandbox/ui/lookup", web::post().to(lookup))
        .route("/_sandbox/ui/records/{reference}", web::get().to(record))
        .route("/_sandbox/ui/runner", web::get().to(runner::state))
        .route("/_sandbox/ui/runner/run", web::post().to(runner::run))
        .route("/_sandbox/ui/runner/report", web::get().to(runner::report))
        .route("/_sandbox/events", web::get().to(events::stream));
}

/// Whether the client reads HTML (a browser says so in `Accept`). Only such a client is sent from
/// `/` to the console; an API client asking for `/` keeps getting the JSON 404 of a path that
/// serves no API.
fn wants_html(headers: &header::HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"))
}

/// `GET /` (from a browser) and `GET /_sandbox/ui/`: to the console.
async fn to_console(req: actix_web::HttpRequest) -> HttpResponse {
    // Relative, so that inside a workspace (`/w/{name}/`) the browser stays in it.
    let to = if req.path() == "/" { "_sandbox/ui" } else { "../ui" };
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// The UUIDs of `body[key]`, an array of strings; anything else in it is passed over.
fn ids(body: &JsonBody, key: &str) -> Vec<Uuid> {
    let Some(Value::Array(items)) = body.0.get(key) else { return Vec::new() };
    let mut ids: Vec<Uuid> = items.iter().filter_map(Value::as_str).filter_map(|s| s.parse().ok()).collect();
    ids.sort();
    ids.dedup();
    ids.truncate(MAX_LOOKUP);
    ids
}

/// `{transactionIds?: [...], consentIds?: [...]}` → `{transfers: [...], consents: [...]}`: the
/// outcome of each id that is an HI request or a consent (the sandbox HIU's or an HIU's artefact),
/// as `GET /_sandbox/health-information/requests/{id}` and `GET /_sandbox/consents/{id}` show
/// them. Ids that are neither are left out, so the page can offer every id it saw without a
/// request answered 404 for each.
async fn lookup(st: web::Data<AppState>, body: JsonBody) -> HttpResponse {
    let now = st.shared.clock.now();
    let g = &st.gateway;
    let transfers: Vec<Value> = ids(&body, "transactionIds")
        .into_iter()
        .filter_map(|id| g.transfers.outcome(id, now).or_else(|| g.hiu_transfers.outcome(id)))
        .collect();
    let consents: Vec<Value> = ids(&body, "consentIds")
        .into_iter()
        .filter_map(|id| g.consents.outcome(id).or_else(|| g.consent_requests.artefact(id, now)))
        .collect();
    HttpResponse::Ok().json(json!({"transfers": transfers, "consents": consents}))
}

/// The bundle a fixture HIP holds for a care context: what the sandbox, as that HIP, encrypted
/// and pushed to an HIU, for reading beside the HIU's report.
async fn record(st: web::Data<AppState>, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let reference = path.into_inner();
    let f = &st.shared.fixtures;
    let text = f
        .people
        .iter()
        .flat_map(|p| &p.records)
        .find(|r| r.care_context_reference == reference)
        .and_then(|r| f.bundles.get(&r.bundle))
        .ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::NOT_FOUND,
                "record-unknown",
                format!("reference: no fixture record {reference:?}"),
            )
            .field("reference")
        })?;
    Ok(HttpResponse::Ok().content_type("application/fhir+json").body(text.to_string()))
}
