//! `reference-hip`: a small HIP that does what ABDM asks of a HIP, in HIE-CM v0.5 or v3, to show
//! what passes the HIP scenarios (`abdm-sandbox check --hip URL [--hip-version v3]`) and, with
//! `--fault`, what each check catches.
//!
//! - The registration desk (`desk`): on a profile share it verifies the gateway's JWT against
//!   the gateway's JWKS (RS256, audience `account`, not expired), answers 202, acknowledges with
//!   the share's request id, the patient's address and a token number (the same one for a patient
//!   who rescans within 30 minutes), then links the visit: v0.5 user auth (LINK, DEMOGRAPHICS) and
//!   `add-contexts`; v3 `generate-token`, `link/carecontext` with `X-LINK-TOKEN`, and `notify`.
//! - User-initiated discovery and linking (`discovery`): it finds the patient in its own records
//!   (`records`, from `fixtures/reference-hip.json` or `--records FILE`), offers the care
//!   contexts not linked yet, sends the patient an OTP (the records' `linkOtp`, or `--link-otp`)
//!   and links what the patient confirms.
//! - Consents and health-information transfer (`dataflow`): it keeps the consents granted to it
//!   and deletes revoked or expired ones, acknowledges each notify, and answers an HI request by
//!   encrypting (`sealing`, Fidelius) the FHIR bundle of each care context the consent covers
//!   (`bundles`, from `fixtures/reference-hip-bundles.json` or `--bundles FILE`), pushing them to
//!   the HIU and notifying the outcome.
//!
//! Every message it sends has a fresh UUID request id and the current time, and it answers each
//! request once (`gateway`).
//!
//! ```text
//! reference-hip --gateway http://127.0.0.1:8090 [--version v0.5|v3] [--addr 127.0.0.1:0]
//!               [--client-id SBX_000001] [--client-secret sandbox-secret-0001]
//!               [--hip-id IN2910000001] [--records FILE] [--bundles FILE] [--link-otp CODE]
//!               [--fault NAME]...
//! ```

mod bundles;
mod dataflow;
mod desk;
mod discovery;
// Shared by both reference binaries; each uses part of it.
#[allow(dead_code)]
#[path = "../common/envelope.rs"]
mod envelope;
mod gateway;
mod records;
mod sealing;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abdm_server::fidelius::KeyMaterial;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

use bundles::Bundles;
use gateway::{Gateway, Inbound, Version};
use records::{Book, Records};

/// The ways the reference HIP can misbehave, each caught by one or a few steps of the HIP
/// scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Fault {
    /// Answer profile/share with 500 instead of 202.
    No202,
    /// Send on-share answering another request id.
    WrongRequestId,
    /// Send on-share acknowledging another ABHA address.
    WrongHealthId,
    /// Never send on-share.
    NoOnShare,
    /// Send on-share after the 30 s deadline (moves the sandbox's clock 31 s first).
    LateOnShare,
    /// Confirm user auth (v0.5) or ask the link token (v3) with a name that does not match.
    WrongDemographics,
    /// Accept gateway calls without verifying their JWT.
    AcceptForgedJwt,
    /// Acknowledge the share with FAILURE.
    FailureStatus,
    /// v3 on-discover: a `count` that is not the number of care contexts.
    DiscoverWrongCount,
    /// v3 on-discover: `hiType` as an array instead of one string.
    DiscoverHitypeArray,
    /// on-discover without `matchedBy`.
    DiscoverNoMatchedBy,
    /// Link on-init naming another transactionId.
    LinkWrongTransaction,
    /// Answer v3 requests with v0.5's `resp` instead of `response`.
    V3RespNotResponse,
    /// Encrypt with the shared secret's leading zero byte dropped (its key pairs are searched
    /// until the secret with the HIU's key has one, so the mistake always shows).
    UnpaddedSecret,
    /// Agree the key with clamped X25519 instead of BouncyCastle's short-Weierstrass curve25519.
    X25519,
    /// Keep one key pair and nonce for every transfer.
    ReusedKey,
    /// Give each entry the MD5 of its ciphertext instead of the plaintext's.
    BadChecksum,
    /// Push every record of the patient, also care contexts the consent does not cover.
    OutsideConsent,
    /// Never send the transfer notify.
    NoNotify,
}

#[derive(Parser)]
#[command(
    name = "reference-hip",
    about = "A reference HIP: registration desk, discovery and linking, consents and data transfer"
)]
struct Cli {
    /// The gateway's root URL (the sandbox's).
    #[arg(long, env = "GATEWAY_URL")]
    gateway: String,
    /// The HIE-CM version the HIP speaks (its calls, and the messages it accepts).
    #[arg(long, value_enum, default_value = "v0.5")]
    version: Version,
    /// Where to listen (port 0: a free port; the first line printed names it).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    #[arg(long, env = "CLIENT_ID", default_value = "SBX_000001")]
    client_id: String,
    #[arg(long, env = "CLIENT_SECRET", default_value = "sandbox-secret-0001")]
    client_secret: String,
    #[arg(long, env = "HIP_ID", default_value = "IN2910000001")]
    hip_id: String,
    /// The HIP's patient records (default: fixtures/reference-hip.json, compiled in).
    #[arg(long, value_name = "FILE")]
    records: Option<std::path::PathBuf>,
    /// The HIP's FHIR bundles, one per care context (default: fixtures/reference-hip-bundles.json,
    /// compiled in).
    #[arg(long, value_name = "FILE")]
    bundles: Option<std::path::PathBuf>,
    /// The OTP sent to patients who link records (default: the records' `linkOtp`).
    #[arg(long, value_name = "CODE")]
    link_otp: Option<String>,
    /// Misbehave in one way (repeatable).
    #[arg(long = "fault", value_enum)]
    faults: Vec<Fault>,
}

/// The HIP: its gateway client, faults and state.
pub struct Hip {
    gateway: Gateway,
    faults: HashSet<Fault>,
    /// ABHA address → (token number, when issued): a rescan within 30 minutes gets the same one.
    tokens: Mutex<HashMap<String, (u32, Instant)>>,
    next_token: AtomicU32,
    next_visit: AtomicU32,
    /// Request id of an auth init or confirm (v0.5) or a generate-token (v3) → the patient.
    pending: Mutex<HashMap<String, desk::Visitor>>,
    /// Request id of a v3 link → (ABHA address, MR, visit), to notify once linked.
    linking: Mutex<HashMap<String, (String, String, String)>>,
    /// The patient records and what is linked.
    book: Mutex<Book>,
    /// Discoveries and link requests in progress.
    links: Mutex<discovery::Linking>,
    /// The consents granted to the HIP.
    consents: Mutex<dataflow::Consents>,
    /// A FHIR bundle per care context.
    bundles: Bundles,
    /// The one key pair and nonce of every transfer (the `reused-key` fault).
    kept_keys: Mutex<Option<KeyMaterial>>,
}

impl Hip {
    fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }
}

/// What a message the gateway sent is, by its path in the HIP's version.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A profile share, in `v0.5`, `v1.0` or `v3`.
    Share(&'static str),
    AuthOnInit,
    AuthOnConfirm,
    OnGenerateToken,
    OnCareContext,
    Discover,
    LinkInit,
    LinkConfirm,
    ConsentNotify,
    HiRequest,
}

fn kind(path: &str, version: Version) -> Option<Kind> {
    let k = match (version, path) {
        (Version::V05, "/v0.5/patients/profile/share") => Kind::Share("v0.5"),
        (Version::V05, "/v1.0/patients/profile/share") => Kind::Share("v1.0"),
        (Version::V05, "/v0.5/users/auth/on-init") => Kind::AuthOnInit,
        (Version::V05, "/v0.5/users/auth/on-confirm") => Kind::AuthOnConfirm,
        (Version::V05, "/v0.5/care-contexts/discover") => Kind::Discover,
        (Version::V05, "/v0.5/links/link/init") => Kind::LinkInit,
        (Version::V05, "/v0.5/links/link/confirm") => Kind::LinkConfirm,
        (Version::V05, "/v0.5/consents/hip/notify") => Kind::ConsentNotify,
        (Version::V05, "/v0.5/health-information/hip/request") => Kind::HiRequest,
        (Version::V3, "/api/v3/hip/patient/share") => Kind::Share("v3"),
        (Version::V3, "/api/v3/hip/token/on-generate-token") => Kind::OnGenerateToken,
        (Version::V3, "/api/v3/link/on_carecontext") => Kind::OnCareContext,
        (Version::V3, "/api/v3/hip/patient/care-context/discover") => Kind::Discover,
        (Version::V3, "/api/v3/hip/link/care-context/init") => Kind::LinkInit,
        (Version::V3, "/api/v3/hip/link/care-context/confirm") => Kind::LinkConfirm,
        (Version::V3, "/api/v3/consent/request/hip/notify") => Kind::ConsentNotify,
        (Version::V3, "/api/v3/hip/health-information/request") => Kind::HiRequest,
        _ => return None,
    };
    Some(k)
}

/// Whether a path is a message of the version the HIP does not speak.
fn other_version(path: &str, version: Version) -> bool {
    match version {
        Version::V05 => path.starts_with("/api/v3/"),
        Version::V3 => path.starts_with("/v0.5/") || path.starts_with("/v1.0/"),
    }
}

async fn receive(hip: web::Data<Arc<Hip>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if !hip.has(Fault::AcceptForgedJwt) {
        if let Err(why) = hip.gateway.verify(&req).await {
            return HttpResponse::Unauthorized()
                .json(json!({"error": {"code": 1000, "message": format!("invalid gateway token: {why}")}}));
        }
    }
    let version = hip.gateway.version;
    let path = req.path().to_string();
    if other_version(&path, version) {
        let name = match version {
            Version::V05 => "v0.5",
            Version::V3 => "v3",
        };
        return HttpResponse::NotFound()
            .json(json!({"error": {"code": 1000, "message": format!("{path}: this HIP speaks {name}")}}));
    }
    // Acknowledgements the HIP only takes note of (on-add-contexts, on-notify) are answered 202.
    let Some(kind) = kind(&path, version) else { return HttpResponse::Accepted().finish() };
    if matches!(kind, Kind::Share(_)) && hip.has(Fault::No202) {
        return HttpResponse::InternalServerError().finish();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let msg = Inbound::read(&req, body, version);
    let hip = hip.get_ref().clone();
    tokio::spawn(async move {
        match kind {
            Kind::Share(v) => hip.on_share(msg, v).await,
            Kind::AuthOnInit => hip.on_auth_init(msg.body).await,
            Kind::AuthOnConfirm => hip.on_auth_confirm(msg.body).await,
            Kind::OnGenerateToken => hip.on_generate_token(msg.body).await,
            Kind::OnCareContext => hip.on_carecontext(msg.body).await,
            Kind::Discover => hip.discover(msg).await,
            Kind::LinkInit => hip.link_init(msg).await,
            Kind::LinkConfirm => hip.link_confirm(msg).await,
            Kind::ConsentNotify => hip.consent_notify(msg).await,
            Kind::HiRequest => hip.hi_request(msg).await,
        }
    });
    HttpResponse::Accepted().finish()
}

/// The records the HIP keeps: the file given, or the compiled-in ones; `--link-otp` replaces
/// their OTP.
fn records(cli: &Cli) -> std::io::Result<Records> {
    let text = match &cli.records {
        Some(path) => std::fs::read_to_string(path)?,
        None => records::DEFAULT_RECORDS.to_string(),
    };
    let mut records = Records::parse(&text).map_err(std::io::Error::other)?;
    if let Some(otp) = &cli.link_otp {
        records.link_otp = otp.clone();
    }
    Ok(records)
}

/// The bundles the HIP sends: the file given, or the compiled-in ones.
fn bundles(cli: &Cli) -> std::io::Result<Bundles> {
    let text = match &cli.bundles {
        Some(path) => std::fs::read_to_string(path)?,
        None => bundles::DEFAULT_BUNDLES.to_string(),
    };
    Bundles::parse(&text).map_err(std::io::Error::other)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let records = records(&cli)?;
    let bundles = bundles(&cli)?;
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(std::io::Error::other)?;
    let faults: HashSet<Fault> = cli.faults.into_iter().collect();
    let mut gateway =
        Gateway::new(&cli.gateway, (cli.client_id, cli.client_secret), cli.hip_id, cli.version, http);
    gateway.resp_not_response = faults.contains(&Fault::V3RespNotResponse);
    let hip = Arc::new(Hip {
        gateway,
        faults,
        tokens: Mutex::new(HashMap::new()),
        next_token: AtomicU32::new(0),
        next_visit: AtomicU32::new(0),
        pending: Mutex::new(HashMap::new()),
        linking: Mutex::new(HashMap::new()),
        book: Mutex::new(Book::new(records)),
        links: Mutex::new(discovery::Linking::default()),
        consents: Mutex::new(dataflow::Consents::new()),
        bundles,
        kept_keys: Mutex::new(None),
    });
    let data = web::Data::new(hip);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
        .workers(1)
        .bind(&cli.addr)?;
    println!("reference-hip listening on http://{}", server.addrs()[0]);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.run().await
}
