//! # abdm-server: the fake ABDM gateway
//!
//! One actix-web application that serves, on one port, the API families of India's ABDM sandbox
//! under their real paths (each real host becomes a path prefix), plus the Carestack EHR API that
//! wraps them and a control API for tests. A client switches from the real sandbox to this one by
//! changing its base URL only.
//!
//! | family | real sandbox base | here | module |
//! |---|---|---|---|
//! | gateway v0.5/v1.0: sessions, certs, bridges, share profile, user auth, linking | `https://dev.abdm.gov.in/gateway` | `/gateway` | `gateway/` |
//! | devservice (bridge registration) | `https://dev.abdm.gov.in/devservice` | `/devservice` | `gateway/bridges.rs` |
//! | ABHA v3 enrolment, profile, public certificate | `https://abhasbx.abdm.gov.in/abha/api` | `/abha/api` | `abha.rs` |
//! | PHR: ABHA address from an ABHA number | `https://phrsbx.abdm.gov.in` | `/phr` | `phr.rs` |
//! | HPR ID registration | `https://hpridsbx.abdm.gov.in/api` | `/hpr/api` | `hpr.rs` |
//! | Carestack EHR API (the SDK's `API_URL`) | `https://ehrsandboxapi.achalahealth.com` | `/carestack` | `carestack/` |
//! | sandbox control | — | `/_sandbox` | `control.rs` |
//! | web console (a page for people; a browser opening `/` is sent there) | — | `/_sandbox/ui` | `console/` |
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
//! sandbox.stop().await; // or just drop it
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! One module per API family (above; the gateway a folder with one module per flow), and beside
//! them the shared mechanisms, which import no family: `store.rs` (transactions with expiry),
//! `flow.rs` (the one guard every step goes through: exists, not expired, not locked, right step),
//! `clock.rs` (virtual time, so OTP expiry and resend rules can be tested instantly), `otp.rs`
//! (OTP rules and the outbox), `journal.rs` (every request and callback, secrets masked),
//! `callbacks.rs` (delivery with retries and scripted faults), `crypto.rs` (RSA, JWT, JWKS),
//! `checks.rs` (identifier rules, each returning a [`Rule`]), `error.rs` (one [`ApiError`] naming
//! the field and the rule), `body.rs` (field-by-field JSON reading). `shared.rs` bundles what
//! every family uses; `state.rs` holds one sandbox's whole state for the app factory and the
//! control API.

#![warn(missing_docs)]

mod abha;
mod accounts;
mod body;
mod callbacks;
mod carestack;
pub mod checks;
mod clock;
mod console;
mod control;
mod crypto;
mod error;
pub mod fidelius;
mod fixtures;
mod flow;
mod gateway;
mod hpr;
mod journal;
mod masters;
mod otp;
mod persist;
mod phr;
mod records;
mod shared;
mod state;
mod store;
mod workspaces;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

pub use console::{RunOutcome, ScenarioInfo, ScenarioRunner};
pub use error::{ApiError, Rule};
pub use fixtures::{ConsentDecision, Credentials, Facility, Fixtures, Person, Professional, Record};
pub use journal::mask as mask_secrets;
use state::AppState;
use web::Data;
use workspaces::Workspaces;

/// The ABHA v3 public key (base64 SPKI), as `GET /abha/api/v3/profile/public/certificate`
/// serves it: what a client encrypts Aadhaar numbers and OTPs with.
pub fn abha_public_key() -> String {
    crypto::ABHA_KEY.public_spki_b64()
}

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

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// The identities, facilities and credentials.
    pub fixtures: Fixtures,
    /// Journal ring size (entries); the OTP outbox keeps as many messages.
    pub journal_capacity: usize,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// The base URL HIPs reach the sandbox at, for the `dataPushUrl` of HI requests; the
    /// listening address when `None`.
    pub public_url: Option<String>,
    /// A workspace (`/w/{name}/...`) idle this long (seconds) is dropped.
    pub workspace_ttl_seconds: u64,
    /// Workspaces live at once at most; creating one more is refused (429).
    pub max_workspaces: usize,
    /// Whether clients' own credentials are taken (`open`) or only the fixtures' (`fixtures`).
    pub credentials: Credentials,
    /// The SQLite file that keeps accounts, addresses, bridges, links and consents across
    /// restarts (`serve --state`); nothing touches disk when `None`.
    pub state: Option<std::path::PathBuf>,
    /// Runs conformance scenarios for the web console's runner panel (the `abdm-sandbox`
    /// binary gives one); without it the panel says how to run them by hand.
    pub runner: Option<Arc<dyn ScenarioRunner>>,
}

impl Default for Config {
    /// 127.0.0.1 on a free port, the compiled-in fixtures, one worker: what tests want.
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            fixtures: Fixtures::default_set(),
            journal_capacity: 5_000,
            workers: 1,
            public_url: None,
            workspace_ttl_seconds: 3600,
            max_workspaces: 1000,
            credentials: Credentials::Open,
            state: None,
            runner: None,
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
    state: AppState,
}

impl Sandbox {
    /// Binds, starts serving in the background and returns once the socket accepts connections.
    /// A state file that cannot be used is an error of kind `InvalidData` saying why.
    pub async fn start(config: Config) -> std::io::Result<Sandbox> {
        let db = match &config.state {
            Some(path) => Some(Arc::new(
                persist::Db::open(path, &config.fixtures)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            )),
            None => None,
        };
        let state = AppState::new(config.fixtures, config.journal_capacity, config.credentials, db);
        let all = Data::new(Workspaces::new(
            state.clone(),
            config.journal_capacity,
            config.workspace_ttl_seconds,
            config.max_workspaces,
        ));
        let (app_state, app_workspaces) = (state.clone(), all.clone());
        let console = console::Console::new(config.runner.clone());
        let mut server =
            HttpServer::new(move || app(app_state.clone(), app_workspaces.clone(), console.clone()))
                .disable_signals()
                .shutdown_timeout(5)
                // Idle connections are kept 75 s (as nginx and load balancers in front of
                // gateways do), so a client's pool rarely reuses one the server is closing.
                .keep_alive(Duration::from_secs(75))
                .bind(config.addr)?;
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        let addr =
            server.addrs().first().copied().ok_or_else(|| std::io::Error::other("no address bound"))?;
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        state.shared.set_public_url(public_url.clone());
        all.set_public_url(&public_url);
        let server = server.run();
        let handle = server.handle();
        let server = tokio::spawn(server);
        let dispatcher =
            state.callbacks().map(|rx| tokio::spawn(callbacks::run(state.shared.callbacks.clone(), rx)));
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                all.sweep();
            }
        });
        Ok(Sandbox { addr, handle, server, sweeper, dispatcher, state })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the root every family's prefix goes under.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The fixtures it serves.
    pub fn fixtures(&self) -> &Fixtures {
        &self.state.shared.fixtures
    }

    /// Stops accepting, lets in-flight requests finish, and stops the background tasks.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        self.abort_tasks();
        let _ = (&mut self.server).await;
    }

    fn abort_tasks(&mut self) {
        self.sweeper.abort();
        if let Some(d) = self.dispatcher.take() {
            d.abort();
        }
    }

    /// Serves until Ctrl-C (or SIGTERM), then shuts down gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        shutdown_signal().await;
        self.stop().await;
        Ok(())
    }
}

impl Drop for Sandbox {
    /// A sandbox dropped without [`Sandbox::stop`] (a test that failed half-way) still stops:
    /// the server is told to stop at once and the background tasks are ended.
    fn drop(&mut self) {
        self.abort_tasks();
        if !self.server.is_finished() {
            // The returned future only waits for the stop; the command is sent right away.
            drop(self.handle.stop(false));
            self.server.abort();
        }
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

/// The application: every family's routes, the journal around them, JSON 404s; the console's
/// routes first, beside the control API's `/_sandbox` scope.
fn app(
    state: AppState,
    workspaces: Data<Workspaces>,
    console: console::Console,
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
        .configure(|cfg| state.register_into(cfg))
        .app_data(workspaces)
        .app_data(web::PayloadConfig::new(body::MAX_BODY))
        .app_data(web::QueryConfig::default().error_handler(body::query_error))
        .configure(|cfg| console::configure(cfg, &console))
        .configure(control::configure)
        .configure(hpr::routes::configure)
        .configure(abha::v3::configure)
        .configure(phr::configure)
        .configure(gateway::configure)
        .configure(carestack::configure)
        .default_service(web::to(not_found))
        .wrap(from_fn(callbacks::inbound_faults))
        .wrap(from_fn(journal::record))
        .wrap(from_fn(workspaces::route))
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
