//! The gateway (HIE-CM v0.5 and v1.0) under `/gateway`, with bridge registration also under
//! `/devservice`, one module per flow:
//!
//! | module | flow |
//! |---|---|
//! | [`sessions`] | sessions and their RS256 tokens, the JWKS, and the session check every family uses |
//! | [`bridges`] | a client's callback URL and services; where every callback goes |
//! | [`share`] | the profile share a patient starts by scanning a HIP's QR code |
//! | [`user_auth`] | user auth that yields a linking token or the patient's KYC |
//! | [`linking`] | HIP-initiated care-context linking (v0.5 add-contexts, v3 generate-token and link) and context notify |
//! | [`discovery`] | user-initiated discovery and linking, the sandbox playing the patient's app |
//! | [`consent`] | consent notify to the HIP (GRANTED, REVOKED, EXPIRED) and its on-notify |
//! | [`dataflow`] | the HI request to the HIP, its Fidelius-encrypted push, the transfer notify |
//! | [`patient_find`] | an HIU checks that an ABHA address is a patient's (v0.5 `patients/find`) |
//! | [`hiu_consent`] | an HIU's consent requests, the scripted patient's decision, artefacts, fetch |
//! | [`hiu_dataflow`] | an HIU's HI request, the sandbox's pushes as the HIP, the HIU's transfer notify |
//!
//! beside [`envelope`], the two envelopes (v0.5 and HIE-CM v3, under `/api/hiecm`) and the request
//! hygiene every message passes. Every call but sessions, v0.5 certs, OpenID configuration and
//! heartbeat needs a valid, unexpired session token this gateway signed.
//! Asynchronous calls are answered 202 at once and their results go to the caller's bridge URL
//! as callbacks ([`crate::callbacks`]). Each flow keeps its own state, registered as app data.

pub mod bridges;
pub mod consent;
pub mod dataflow;
pub mod discovery;
pub mod envelope;
pub mod hiu_consent;
pub mod hiu_dataflow;
pub mod linking;
pub mod patient_find;
pub mod sessions;
pub mod share;
pub mod user_auth;

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::clock::{Clock, Millis};
use crate::persist::Log;

/// Every gateway flow's state.
#[derive(Clone)]
pub struct Gateway {
    /// Verified session tokens.
    pub sessions: web::Data<sessions::Sessions>,
    /// Bridges and services.
    pub bridges: web::Data<bridges::Bridges>,
    /// Profile shares sent.
    pub shares: web::Data<share::Shares>,
    /// User-auth transactions.
    pub auth: web::Data<user_auth::UserAuth>,
    /// Linked care contexts.
    pub links: web::Data<linking::Links>,
    /// User-initiated discoveries.
    pub discoveries: web::Data<discovery::Discoveries>,
    /// Consents granted to the sandbox HIU.
    pub consents: web::Data<consent::Consents>,
    /// HI requests and what the HIPs pushed.
    pub transfers: web::Data<dataflow::Transfers>,
    /// HIUs' consent requests and artefacts.
    pub consent_requests: web::Data<hiu_consent::ConsentRequests>,
    /// HIUs' HI requests and what was pushed to them.
    pub hiu_transfers: web::Data<hiu_dataflow::HiuTransfers>,
    /// Request ids seen and requests awaiting their answers.
    pub hygiene: web::Data<envelope::Hygiene>,
}

impl Gateway {
    /// A gateway of the workspace `workspace`, reading time from `clock`, with the bridges,
    /// links and consents `log` kept (nothing without a state file).
    pub fn new(clock: Clock, workspace: &str, log: &Log) -> Self {
        Gateway {
            sessions: web::Data::new(sessions::Sessions::new(clock.clone(), workspace)),
            discoveries: web::Data::default(),
            consents: web::Data::new(consent::Consents::kept(log)),
            transfers: web::Data::default(),
            consent_requests: web::Data::new(hiu_consent::ConsentRequests::kept(log)),
            hiu_transfers: web::Data::default(),
            hygiene: web::Data::new(envelope::Hygiene::new(clock)),
            bridges: web::Data::new(bridges::Bridges::kept(log)),
            shares: web::Data::default(),
            auth: web::Data::new(crate::store::Store::with_ttl(user_auth::AUTH_EXPIRY)),
            links: web::Data::new(linking::Links::kept(log)),
        }
    }

    /// Back to nothing registered, shared, pending or linked.
    pub fn reset(&self) {
        self.sessions.reset();
        self.bridges.reset();
        self.shares.reset();
        self.auth.clear();
        self.links.reset();
        self.discoveries.reset();
        self.consents.reset();
        self.transfers.reset();
        self.consent_requests.reset();
        self.hiu_transfers.reset();
        self.hygiene.reset();
    }

    /// Drops expired shares and transactions; returns how many.
    pub fn sweep(&self, now: Millis) -> usize {
        self.shares.sweep(now)
            + self.auth.sweep(now)
            + self.discoveries.sweep(now)
            + self.consents.sweep(now)
            + self.transfers.sweep(now)
            + self.consent_requests.sweep(now)
            + self.hiu_transfers.sweep(now)
            + self.hygiene.sweep(now)
    }

    /// Live user-auth transactions.
    pub fn live(&self) -> usize {
        self.auth.len()
    }

    /// Registers each flow's state as app data.
    pub fn register_into(&self, sink: &mut impl crate::shared::Sink) {
        sink.put(self.sessions.clone());
        sink.put(self.bridges.clone());
        sink.put(self.shares.clone());
        sink.put(self.auth.clone());
        sink.put(self.links.clone());
        sink.put(self.discoveries.clone());
        sink.put(self.consents.clone());
        sink.put(self.transfers.clone());
        sink.put(self.consent_requests.clone());
        sink.put(self.hiu_transfers.clone());
        sink.put(self.hygiene.clone());
    }
}

/// The gateway's routes: v0.5 under `/gateway` (and `/devservice` for bridges), v3 under
/// `/api/hiecm`, each flow's handler serving both.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/gateway/v0.5/sessions", web::post().to(sessions::sessions))
        .route("/gateway/v0.5/certs", web::get().to(sessions::certs))
        .route("/gateway/v0.5/.well-known/openid-configuration", web::get().to(sessions::openid))
        .route("/gateway/v0.5/heartbeat", web::get().to(sessions::heartbeat))
        .route("/api/hiecm/gateway/v3/sessions", web::post().to(sessions::sessions))
        .route("/api/hiecm/gateway/v3/.well-known/openid-configuration", web::get().to(sessions::openid));
    for prefix in ["/gateway", "/devservice"] {
        cfg.service(
            web::scope(&format!("{prefix}/v1/bridges"))
                .wrap(from_fn(sessions::authenticate))
                .route("", web::patch().to(bridges::set_url))
                .route("/addUpdateServices", web::post().to(bridges::add_services))
                .route("/addUpdateServices", web::put().to(bridges::add_services))
                .route("/services", web::put().to(bridges::add_services))
                .route("/getServices", web::get().to(bridges::get_services)),
        );
    }
    cfg.service(
        web::scope("/gateway")
            .wrap(from_fn(sessions::authenticate))
            .route("/v0.5/patients/profile/on-share", web::post().to(share::on_share))
            .route("/v1.0/patients/profile/on-share", web::post().to(share::on_share))
            .route("/v0.5/users/auth/fetch-modes", web::post().to(user_auth::fetch_modes))
            .route("/v0.5/users/auth/init", web::post().to(user_auth::init))
            .route("/v0.5/users/auth/confirm", web::post().to(user_auth::confirm))
            .route("/v0.5/users/auth/on-notify", web::post().to(user_auth::on_notify))
            .route("/v0.5/links/link/add-contexts", web::post().to(linking::add_contexts))
            .route("/v0.5/links/context/notify", web::post().to(linking::context_notify))
            .route("/v0.5/care-contexts/on-discover", web::post().to(discovery::on_discover))
            .route("/v0.5/links/link/on-init", web::post().to(discovery::on_init))
            .route("/v0.5/links/link/on-confirm", web::post().to(discovery::on_confirm))
            .route("/v0.5/consents/hip/on-notify", web::post().to(consent::on_notify))
            .route("/v0.5/health-information/hip/on-request", web::post().to(dataflow::on_request))
            .route("/v0.5/health-information/notify", web::post().to(hiu_dataflow::notify))
            .route("/v0.5/patients/find", web::post().to(patient_find::find))
            .route("/v0.5/consent-requests/init", web::post().to(hiu_consent::init))
            .route("/v0.5/consent-requests/status", web::post().to(hiu_consent::status))
            .route("/v0.5/consents/hiu/on-notify", web::post().to(hiu_consent::on_notify))
            .route("/v0.5/consents/fetch", web::post().to(hiu_consent::fetch))
            .route("/v0.5/health-information/cm/request", web::post().to(hiu_dataflow::request)),
    );
    const UIL: &str = "/user-initiated-linking/v3";
    cfg.service(
        web::scope("/api/hiecm")
            .wrap(from_fn(sessions::authenticate))
            .route("/gateway/v3/certs", web::get().to(sessions::certs))
            .route("/gateway/v3/bridge/url", web::patch().to(bridges::set_url))
            .route("/gateway/v3/bridge-services", web::get().to(bridges::get_services))
            .route("/gateway/v3/bridge/addUpdateServices", web::post().to(bridges::add_services))
            .route("/patient-share/v3/on-share", web::post().to(share::on_share))
            .route("/v3/token/generate-token", web::post().to(linking::generate_token))
            .route("/hip/v3/link/carecontext", web::post().to(linking::link_carecontext))
            .route("/hip/v3/link/context/notify", web::post().to(linking::context_notify))
            .route(&format!("{UIL}/patient/care-context/on-discover"), web::post().to(discovery::on_discover))
            .route(&format!("{UIL}/link/care-context/on-init"), web::post().to(discovery::on_init))
            .route(&format!("{UIL}/link/care-context/on-confirm"), web::post().to(discovery::on_confirm))
            .route("/consent/v3/request/hip/on-notify", web::post().to(consent::on_notify))
            .route("/data-flow/v3/health-information/hip/on-request", web::post().to(dataflow::on_request))
            .route("/data-flow/v3/health-information/notify", web::post().to(hiu_dataflow::notify))
            .route("/consent/v3/request/init", web::post().to(hiu_consent::init))
            .route("/consent/v3/request/status", web::post().to(hiu_consent::status))
            .route("/consent/v3/request/hiu/on-notify", web::post().to(hiu_consent::on_notify))
            .route("/consent/v3/fetch", web::post().to(hiu_consent::fetch))
            .route("/data-flow/v3/health-information/request", web::post().to(hiu_dataflow::request))
            .route(
                "/data-flow/v3/health-information/request/status/{transactionId}",
                web::get().to(hiu_dataflow::status),
            ),
    );
}
