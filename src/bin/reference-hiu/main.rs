//! `reference-hiu`: a small HIU that does what ABDM asks of a HIU, in HIE-CM v0.5 or v3, to show
//! what passes the HIU scenarios (`abdm-sandbox check --hiu URL --hiu-start CMD [--hiu-version
//! v3]`) and, with `--fault`, what each check catches.
//!
//! - Its desk (`POST /desk/consent {patient, hiTypes?, keyFormat?: raw|x509, purpose?, hipId?,
//!   dateRange?}`) asks the consent manager for consent (`consent`); the answer is the init's
//!   request id and the gateway's status (502 when the gateway refused it).
//! - It acknowledges every consent notify, fetches each GRANTED artefact and asks for its data
//!   with a fresh Fidelius key and nonce, raw or X.509 (`transfer`); it decrypts every entry
//!   pushed to it (at `{url}/data-push`), checks its MD5 and keeps the bundles, and notifies the
//!   consent manager OK or ERRORED per care context.
//! - `GET /desk/status` shows every consent request, artefact and transfer, with what each entry
//!   was found to be.
//!
//! ```text
//! reference-hiu --gateway http://127.0.0.1:8090 [--version v0.5|v3] [--addr 127.0.0.1:0]
//!               [--client-id SBX_000003] [--client-secret sandbox-secret-0003]
//!               [--hiu-id IN2710000003] [--name "Sandbox Diagnostics"] [--key-format raw|x509]
//!               [--push-path /data-push] [--fault NAME]...
//! reference-hiu ask [--hiu URL] [--patient ADDRESS] [--hi-type T]... [--key-format raw|x509]
//! ```
//!
//! `ask` posts to a running HIU's desk (`HIU_URL` and `PATIENT` from the environment by default,
//! as `check --hiu-start` gives them).

mod consent;
// Shared by both reference binaries; each uses part of it.
#[allow(dead_code)]
#[path = "../common/envelope.rs"]
mod envelope;
mod gateway;
mod transfer;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use consent::{Artefact, ConsentRequest, Kind};
use gateway::{Gateway, Inbound, Version};
use transfer::Transfer;

/// The ways the reference HIU can misbehave, each caught by the steps that judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Fault {
    /// Report ERRORED for the entries that decrypted and OK for those that did not.
    InvertedStatus,
    /// Never acknowledge a consent notify.
    NoOnNotify,
    /// Ask for data over the dates of its own init instead of the artefact's.
    OwnDateRange,
    /// Send the transfer notify as soon as the last page arrives, before decrypting anything
    /// (every care context reported OK).
    NotifyBeforeDecrypt,
}

/// How the HIU's public key is written in its HI requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFormat {
    /// The 65-byte point, base64.
    Raw,
    /// X.509 SubjectPublicKeyInfo, base64.
    X509,
}

#[derive(Parser)]
#[command(
    name = "reference-hiu",
    about = "A reference HIU: consent, fetch, HI request, decryption and notify",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The gateway's root URL (the sandbox's).
    #[arg(long, required = true)]
    gateway: Option<String>,
    /// The HIE-CM version the HIU speaks (its calls, and the messages it accepts).
    #[arg(long, value_enum, default_value = "v0.5")]
    version: Version,
    /// Where to listen (port 0: a free port; the first line printed names it).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    #[arg(long, default_value = "SBX_000003")]
    client_id: String,
    #[arg(long, default_value = "sandbox-secret-0003")]
    client_secret: String,
    /// The HIU's id (the facility's).
    #[arg(long, default_value = "IN2710000003")]
    hiu_id: String,
    /// The HIU's name in its consent requests.
    #[arg(long, default_value = "Sandbox Diagnostics")]
    name: String,
    /// The key format of HI requests when the desk names none.
    #[arg(long, value_enum, default_value = "raw")]
    key_format: KeyFormat,
    /// The path of the push URL (`dataPushUrl`) every HI request gives.
    #[arg(long, default_value = "/data-push")]
    push_path: String,
    /// Misbehave in one way (repeatable).
    #[arg(long = "fault", value_enum)]
    faults: Vec<Fault>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Ask a running reference HIU's desk for consent and print its answer: what a test harness
    /// runs as `check --hiu-start` (fails when the gateway refused the request).
    Ask {
        /// The HIU's URL.
        #[arg(long, env = "HIU_URL")]
        hiu: String,
        /// The patient's ABHA address.
        #[arg(long, env = "PATIENT")]
        patient: String,
        /// An HI type to ask for (repeatable; default every record type).
        #[arg(long = "hi-type")]
        hi_types: Vec<String>,
        /// The key format of the HI requests.
        #[arg(long, value_enum)]
        key_format: Option<KeyFormat>,
        /// Only this HIP's records.
        #[arg(long)]
        hip_id: Option<String>,
    },
}

/// `reference-hiu ask`: posts to the desk and prints the answer.
async fn ask(command: Command) -> std::io::Result<()> {
    let Command::Ask { hiu, patient, hi_types, key_format, hip_id } = command;
    let mut body = json!({"patient": patient, "keyFormat": key_format, "hipId": hip_id});
    if !hi_types.is_empty() {
        body["hiTypes"] = json!(hi_types);
    }
    let url = format!("{}/desk/consent", hiu.trim_end_matches('/'));
    let res = reqwest::Client::new().post(&url).json(&body).send().await.map_err(std::io::Error::other)?;
    let status = res.status();
    println!("{}", res.text().await.unwrap_or_default());
    if status.is_success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("{url} answered {status}")))
    }
}

/// What the HIU knows.
#[derive(Default)]
pub struct State {
    /// Its consent requests, oldest first.
    pub requests: Vec<ConsentRequest>,
    /// The artefacts granted to it, by id.
    pub artefacts: HashMap<String, Artefact>,
    /// Request id of a fetch → the artefact fetched.
    pub fetches: HashMap<String, String>,
    /// Its HI requests, by request id.
    pub transfers: HashMap<String, Transfer>,
    /// Transaction id → the HI request it answers.
    pub by_transaction: HashMap<String, String>,
    /// Pages of a transaction not known yet, kept until it is.
    pub early: HashMap<String, Vec<Value>>,
}

/// The HIU: its gateway client, faults and state.
pub struct Hiu {
    gateway: Gateway,
    name: String,
    key_format: KeyFormat,
    /// The path of its push URL.
    push_path: String,
    faults: HashSet<Fault>,
    /// Its own base URL (for the push URLs), once it listens.
    url: OnceLock<String>,
    state: Mutex<State>,
}

impl Hiu {
    fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url(&self) -> String {
        self.url.get().cloned().unwrap_or_default()
    }
}

type Shared = web::Data<Arc<Hiu>>;

/// `POST /desk/consent`: ask for consent; answered once the gateway has answered the init.
async fn desk_consent(hiu: Shared, ask: web::Json<consent::Ask>) -> HttpResponse {
    let (request, answer) = hiu.ask(ask.into_inner()).await;
    let body = json!({"requestId": request.request_id, "gatewayStatus": answer.status, "gatewayAnswer": answer.body});
    if answer.accepted() {
        HttpResponse::Accepted().json(body)
    } else {
        HttpResponse::BadGateway().json(body)
    }
}

/// `GET /desk/status`: every consent request, artefact and transfer.
async fn desk_status(hiu: Shared) -> HttpResponse {
    let state = hiu.state();
    let mut artefacts: Vec<&Artefact> = state.artefacts.values().collect();
    artefacts.sort_by(|a, b| a.consent_id.cmp(&b.consent_id));
    let mut transfers: Vec<&Transfer> = state.transfers.values().collect();
    transfers.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    HttpResponse::Ok().json(json!({
        "consentRequests": state.requests, "artefacts": artefacts, "transfers": transfers,
    }))
}

/// `POST {push path}`: a page of a transfer, answered 202; the last one closes the transfer in
/// the background (with `notify-before-decrypt`, before the page is even answered).
async fn data_push(hiu: Shared, body: web::Bytes) -> HttpResponse {
    let page: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return HttpResponse::BadRequest().json(json!({"error": format!("not JSON: {e}")})),
    };
    match hiu.push(page) {
        Err(why) => HttpResponse::BadRequest().json(json!({"error": why})),
        Ok(None) => HttpResponse::Accepted().finish(),
        Ok(Some(request_id)) if hiu.has(Fault::NotifyBeforeDecrypt) => {
            hiu.close(&request_id).await;
            HttpResponse::Accepted().finish()
        }
        Ok(Some(request_id)) => {
            let hiu = hiu.get_ref().clone();
            tokio::spawn(async move { hiu.close(&request_id).await });
            HttpResponse::Accepted().finish()
        }
    }
}

/// Every other path: the gateway's callbacks, answered 202 and handled in the background.
async fn receive(hiu: Shared, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if gateway::header(&req, "Authorization").is_none_or(|v| !v.starts_with("Bearer ")) {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"code": 1000, "message": "no gateway token"}}));
    }
    let version = hiu.gateway.version;
    let Some(kind) = consent::kind(req.path(), version) else {
        return HttpResponse::NotFound().json(json!({"error": {"code": 1000,
            "message": format!("{}: not a callback this HIU takes in {version:?}", req.path())}}));
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let msg = Inbound::read(&req, body, version);
    let hiu = hiu.get_ref().clone();
    tokio::spawn(async move {
        match kind {
            Kind::OnInit => hiu.on_init(&msg),
            Kind::OnStatus => {}
            Kind::Notify => hiu.consent_notify(msg).await,
            Kind::OnFetch => hiu.on_fetch(msg).await,
            Kind::OnRequest => hiu.on_request(&msg.body, msg.answers()).await,
        }
    });
    HttpResponse::Accepted().finish()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    if let Some(command) = cli.command {
        return ask(command).await;
    }
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(std::io::Error::other)?;
    let gateway = Gateway {
        base: cli.gateway.unwrap_or_default().trim_end_matches('/').to_string(),
        credentials: (cli.client_id, cli.client_secret),
        hiu_id: cli.hiu_id,
        version: cli.version,
        http,
    };
    let hiu = Arc::new(Hiu {
        gateway,
        name: cli.name,
        key_format: cli.key_format,
        push_path: cli.push_path.clone(),
        faults: cli.faults.into_iter().collect(),
        url: OnceLock::new(),
        state: Mutex::new(State::default()),
    });
    let data = web::Data::new(hiu.clone());
    let push_path = cli.push_path;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .route("/desk/consent", web::post().to(desk_consent))
            .route("/desk/status", web::get().to(desk_status))
            .route(&push_path, web::post().to(data_push))
            .default_service(web::to(receive))
    })
    .workers(2)
    .bind(&cli.addr)?;
    let url = format!("http://{}", server.addrs()[0]);
    let _ = hiu.url.set(url.clone());
    println!("reference-hiu listening on {url}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.run().await
}
