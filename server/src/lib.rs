//! # abdm-server: the fake ABDM gateway
//!
//! One actix-web application that serves, on one port, the API families of India's ABDM sandbox
//! under their real paths (each real host becomes a path prefix), plus the Carestack EHR API that
//! wraps them and a control API for tests:
//!
//! | family | real sandbox base | here |
//! |---|---|---|
//! | HPR ID registration | `https://hpridsbx.abdm.gov.in/api` | `/hpr/api` |
//! | Carestack EHR API | `https://ehrsandboxapi.achalahealth.com` | `/carestack` |
//! | sandbox control | — | `/_sandbox` |
//!
//! Start one on a free port (as every test does) and talk to it over HTTP:
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use abdm_server::{Config, Sandbox};
//!
//! let sandbox = Sandbox::start(Config::default()).await?; // 127.0.0.1, port 0
//! println!("HPR API at {}/hpr/api", sandbox.url());
//! // ... drive the flows, read OTPs from GET {url}/_sandbox/outbox ...
//! sandbox.stop().await;
//! # Ok(()) }
//! ```
//!
//! Every flow is a state machine keyed by its transaction id ([`store`]); time is virtual
//! ([`clock`]) so OTP expiry and resend rules can be tested instantly; every OTP sent lands in the
//! outbox ([`otp`]); every request lands in the [`journal`]; every refusal is an [`error::ApiError`]
//! naming the field and the rule.

pub mod abha;
pub mod accounts;
pub mod body;
pub mod callbacks;
pub mod carestack;
pub mod checks;
pub mod clock;
pub mod control;
pub mod crypto;
pub mod error;
pub mod fidelius;
pub mod fixtures;
pub mod gateway;
pub mod hpr;
pub mod journal;
pub mod masters;
pub mod otp;
pub mod phr;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

pub use error::ApiError;
pub use fixtures::Fixtures;
pub use state::AppState;

/// The API families with their path prefixes, as printed at start-up.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "gateway v0.5/v1.0 (sessions, certs, share, auth, links)",
        "https://dev.abdm.gov.in/gateway",
        "/gateway",
    ),
    ("devservice (bridge registration)", "https://dev.abdm.gov.in/devservice", "/devservice"),
    ("ABHA v3 enrolment, profile, certificate", "https://abhasbx.abdm.gov.in/abha/api", "/abha/api"),
    ("PHR (ABHA address from ABHA number)", "https://phrsbx.abdm.gov.in", "/phr"),
    ("HPR ID registration", "https://hpridsbx.abdm.gov.in/api", "/hpr/api"),
    ("Carestack EHR API (the SDK's API_URL)", "https://ehrsandboxapi.achalahealth.com", "/carestack"),
    ("sandbox control", "-", "/_sandbox"),
];

/// Default listen address of `abdm-sandbox serve`.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8090";

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub fixtures: Fixtures,
    /// Journal ring size (entries); the OTP outbox keeps as many messages.
    pub journal_capacity: usize,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
}

impl Default for Config {
    /// 127.0.0.1 on a free port, the compiled-in fixtures, one worker: what tests want.
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            fixtures: Fixtures::default_set(),
            journal_capacity: 5_000,
            workers: 1,
        }
    }
}

/// A running sandbox server.
pub struct Sandbox {
    addr: SocketAddr,
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    sweeper: tokio::task::JoinHandle<()>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
    state: web::Data<AppState>,
}

impl Sandbox {
    /// Binds, starts serving in the background and returns once the socket accepts connections.
    pub async fn start(config: Config) -> std::io::Result<Sandbox> {
        let state = web::Data::new(AppState::new(config.fixtures, config.journal_capacity));
        let app_state = state.clone();
        let mut server = HttpServer::new(move || app(app_state.clone()))
            .disable_signals()
            .shutdown_timeout(5)
            .bind(config.addr)?;
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        let addr =
            server.addrs().first().copied().ok_or_else(|| std::io::Error::other("no address bound"))?;
        let server = server.run();
        let handle = server.handle();
        let server = tokio::spawn(server);
        let dispatcher =
            state.callbacks.take_receiver().map(|rx| tokio::spawn(callbacks::run(state.clone(), rx)));
        let sweep_state = state.clone();
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                sweep_state.sweep();
            }
        });
        Ok(Sandbox { addr, handle, server, sweeper, dispatcher, state })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the root every family's prefix goes under.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish, and stops the background tasks.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.sweeper.abort();
        if let Some(d) = self.dispatcher {
            d.abort();
        }
        let _ = self.server.await;
    }

    /// Serves until Ctrl-C (or SIGTERM), then shuts down gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        shutdown_signal().await;
        self.stop().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The application: every family's routes, the journal around them, JSON 404s.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(body::MAX_BODY))
        .configure(control::configure)
        .configure(hpr::configure)
        .configure(abha::configure)
        .configure(phr::configure)
        .configure(gateway::configure)
        .configure(carestack::configure)
        .default_service(web::to(not_found))
        .wrap(from_fn(callbacks::inbound_faults))
        .wrap(from_fn(journal::record))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let e = ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "no-route",
        format!(
            "no API at {} {} (see the README for the paths each family serves)",
            req.method(),
            req.path()
        ),
    )
    .field("path");
    HttpResponse::NotFound().json(e.body())
}
