//! The Carestack EHR API (`/carestack`, the Carestack SDK's `API_URL`): every service of the
//! published SDK (`carestack==0.1.22.26`) with state of its own, its answers in the shapes the SDK
//! validates, and the ABDM-facing services wired into the sandbox's own flows. Every request must
//! carry `Authorization: Bearer <api key>` (a key listed in the fixtures), `x-hprid-auth` and
//! `facilityid`, as the SDK always sends them; a missing or wrong one is a 401. The `facilityid`
//! names the facility the request acts for: the HIP that links documents, the HIU that asks for
//! consent.
//!
//! | SDK service | module | routes |
//! |---|---|---|
//! | `Patient` | [`patient`] | `/add/Patient`, `/get/Patient[/{id}]`, `/update/Patient`, `/health-lake/delete/Patient/{id}`, `/health-lake/get-profiles/Patient` |
//! | `Practitioner` | [`practitioner`] | the same for `Practitioner` |
//! | `Appointment` | [`appointment`] | `/add/Appointment`, `/get/Appointment[/{ref}]`, `/update/Appointment`, `/delete/Appointment/{ref}` |
//! | `Organization` | [`organization`], [`masters`] | `/register-facility`, `/facilities/...`, `/update-facility`, `/facility/{id}`, `/search-facility`; master data and LGD |
//! | `Encounter` | [`bundles`] | `/health-lake/get-profiles/Bundle/{type}`, `/get/Bundle/{id}/{fhir}[/{type}]` |
//! | `DocumentLinking` | [`linking`] | `/abdm-flows/create-carecontext`, `update-visit-records`, `link-carecontext` |
//! | `Consent` | [`consent`] | `/abdm-flows/find/patients`, `/add/Consent`, `/get/Consent/{id}`, `/get/Bundle` |
//! | `AiService`, `FhirService` | [`ai`], [`generate`] | `/ai/...`, `/jobs`, `/generate/bundle/InsurancePlan` |
//! | `AiUtilities` | [`crypt`] | `/encrypt`, `/decrypt` |
//! | `LookupService` | [`lookup`] | `/ai/get-code` |
//! | `ABHAService`, `CreateABHA` | [`abha`] | `/patient/registration/abha/...` |
//! | `HPRService`, `CreateHPR` | [`crate::hpr::routes`] | `/aadhaar/...`, `/hprId/create`, ... |
//!
//! Refusals are the sandbox's one error shape ([`crate::error`]): a JSON object whose `message`
//! names the field, which the SDK raises as `EhrApiError` with that message.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, ResponseError};

use crate::error::ApiError;
use crate::shared::Shared;

mod abha;
mod ai;
mod appointment;
mod bundles;
mod casesheet;
mod common;
mod consent;
mod crypt;
mod generate;
mod insurance;
mod linking;
mod lookup;
mod masters;
mod organization;
mod patient;
mod pdf;
mod practitioner;
mod resources;

pub use resources::Resources;

/// What the Carestack services hold, beside the sandbox's shared state: the resources the SDK
/// creates, the care contexts it links, the bundles and AI jobs it makes.
#[derive(Default)]
pub struct CarestackState {
    /// Patients, by id.
    pub patients: Resources,
    /// Practitioners, by id.
    pub practitioners: Resources,
    /// Appointments, by reference.
    pub appointments: Resources,
    /// Registered facilities, by facility id.
    pub organizations: Resources,
    /// Care contexts created through document linking.
    pub contexts: linking::CareContexts,
    /// Consent requests opened as an HIU.
    pub consents: consent::Opens,
    /// FHIR bundles made at run time (AI, FHIR generation, document linking).
    pub bundles: bundles::Made,
    /// AI jobs, records and partial uploads.
    pub ai: ai::AiState,
}

impl CarestackState {
    /// Nothing created.
    pub fn reset(&self) {
        self.patients.clear();
        self.practitioners.clear();
        self.appointments.clear();
        self.organizations.clear();
        self.contexts.clear();
        self.consents.clear();
        self.bundles.clear();
        self.ai.clear();
    }
}

/// The Carestack routes under `/carestack`, each service's from its module, behind the
/// credential check.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/carestack");
    for (_, path, handler) in crate::hpr::routes::ROUTES {
        scope = scope.route(path, handler.route());
    }
    let scope = abha::routes(scope);
    let scope = patient::routes(scope);
    let scope = practitioner::routes(scope);
    let scope = appointment::routes(scope);
    let scope = organization::routes(scope);
    let scope = masters::routes(scope);
    let scope = consent::routes(scope);
    let scope = bundles::routes(scope);
    let scope = linking::routes(scope);
    let scope = crypt::routes(scope);
    let scope = lookup::routes(scope);
    let scope = ai::routes(scope);
    cfg.service(scope.wrap(from_fn(authorize)));
}

/// Checks Carestack's three credential headers before any Carestack handler runs.
async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match check(&req) {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    let header = |name: &str| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
    };
    let auth = header("authorization").ok_or_else(|| {
        ApiError::unauthorized(
            "Authorization",
            "carestack-api-key",
            "missing; send 'Authorization: Bearer <api key>'",
        )
    })?;
    let key = crate::body::bearer(auth).map(str::trim).unwrap_or("");
    // With open credentials any key of the client's own is taken; with fixtures credentials only
    // the fixtures' keys.
    let known = req.app_data::<web::Data<Shared>>().is_some_and(|sh| {
        sh.fixtures.carestack.api_keys.iter().any(|k| k == key)
            || (sh.credentials == crate::fixtures::Credentials::Open && !key.is_empty())
    });
    if !known {
        return Err(ApiError::unauthorized(
            "Authorization",
            "carestack-api-key",
            "not a Bearer token with a known API key (GET /_sandbox/fixtures lists carestack.apiKeys; serve --credentials open takes any)",
        ));
    }
    header("x-hprid-auth")
        .ok_or_else(|| ApiError::unauthorized("x-hprid-auth", "carestack-headers", "missing"))?;
    header("facilityid")
        .ok_or_else(|| ApiError::unauthorized("facilityid", "carestack-headers", "missing"))?;
    Ok(())
}
