//! `abdm-sandbox`: the command line. `serve` runs the fake ABDM sandbox until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use abdm_server::{Config, Fixtures, Sandbox, DEFAULT_ADDR, FAMILIES};
use clap::{Parser, Subcommand};

mod check;
mod fidelius;

#[derive(Parser)]
#[command(
    name = "abdm-sandbox",
    version,
    about = "An offline ABDM sandbox: fake gateway, ABHA, PHR and HPR services, and the Carestack API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sandbox server until Ctrl-C.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, env = "ABDM_SANDBOX_ADDR", default_value = DEFAULT_ADDR)]
        addr: SocketAddr,
        /// A fixtures JSON file replacing the built-in test identities.
        #[arg(long, env = "ABDM_SANDBOX_FIXTURES")]
        fixtures: Option<PathBuf>,
        /// How many journal entries (and outbox messages) to keep.
        #[arg(long, env = "ABDM_SANDBOX_JOURNAL_SIZE", default_value_t = 5_000)]
        journal_size: usize,
        /// Worker threads (0: one per core).
        #[arg(long, env = "ABDM_SANDBOX_WORKERS", default_value_t = 0)]
        workers: usize,
        /// The base URL HIPs reach this sandbox at, for the dataPushUrl of HI requests
        /// (default: the listening address).
        #[arg(long, env = "ABDM_SANDBOX_PUBLIC_URL")]
        public_url: Option<String>,
        /// Seconds after which an idle workspace (/w/{name}/...) is dropped.
        #[arg(long, env = "ABDM_SANDBOX_WORKSPACE_TTL", default_value_t = 3600)]
        workspace_ttl: u64,
        /// Workspaces live at once at most; one more is refused with 429.
        #[arg(long, env = "ABDM_SANDBOX_MAX_WORKSPACES", default_value_t = 1000)]
        max_workspaces: usize,
        /// `open`: a gateway client id or Carestack API key the fixtures do not know is taken
        /// with any non-empty secret; `fixtures`: only the fixtures' credentials.
        #[arg(long, env = "ABDM_SANDBOX_CREDENTIALS", default_value = "open")]
        credentials: abdm_server::Credentials,
        /// A SQLite file keeping ABHA numbers and addresses, HPR accounts, bridges and services,
        /// links and consents of every workspace across restarts (created when missing).
        #[arg(long, env = "ABDM_SANDBOX_STATE")]
        state: Option<PathBuf>,
    },
    /// Run the documented test cases (scenarios) and report pass/fail per step.
    Check(Box<CheckArgs>),
    /// List the scenarios: ids, titles, tags, step counts.
    Scenarios {
        #[command(flatten)]
        select: Select,
    },
    /// Fidelius (ABDM health-data encryption) as fidelius-cli does it: keygen, encrypt, decrypt.
    #[command(subcommand)]
    Fidelius(fidelius::FideliusCommand),
}

#[derive(clap::Args)]
struct Select {
    /// The folder of scenario files.
    #[arg(long, env = "ABDM_SANDBOX_SCENARIOS")]
    scenarios: Option<PathBuf>,
    /// Only these scenarios (repeatable).
    #[arg(long = "scenario", value_name = "ID")]
    ids: Vec<String>,
    /// Only scenarios with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(clap::Args)]
struct CheckArgs {
    #[command(flatten)]
    select: Select,
    /// `embedded` starts the fake in this process; a URL is a running fake or a real gateway.
    #[arg(long, default_value = "embedded", conflicts_with_all = ["hip", "client", "hiu"])]
    gateway: String,
    /// Against a running sandbox (--gateway URL): the workspace to run in (default: a fresh
    /// one named check-XXXXXXXX; `default` runs on the bare paths).
    #[arg(long)]
    workspace: Option<String>,
    /// Keep the run's workspace afterwards, to look at its journal and outcomes.
    #[arg(long)]
    keep_workspace: bool,
    /// Wait this many times each step's `within` for callbacks (a busy shared server).
    #[arg(long, default_value_t = 1.0, value_parser = patience)]
    patience: f64,
    /// Judge a HIP at this URL: the runner hosts the gateway (at --gateway-addr), registers the
    /// HIP as the bridge and runs the HIP scenarios (tag hip, or hip-v3 with --hip-version v3).
    #[arg(long, value_name = "URL", conflicts_with_all = ["client", "hiu"])]
    hip: Option<String>,
    /// The HIE-CM version the HIP speaks: its bridge is registered in it, the gateway calls it in
    /// it, and its messages are judged in it.
    #[arg(long, value_enum, default_value = "v0.5", requires = "hip")]
    hip_version: HieVersion,
    /// Judge a HIU at this URL: the runner hosts the gateway (at --gateway-addr), registers the
    /// HIU as the bridge of the HIU facility, starts its flow with --hiu-start and judges its
    /// traffic (the scenarios tagged hiu, or hiu-v3 with --hiu-version v3).
    #[arg(long, value_name = "URL", conflicts_with = "client", requires = "hiu_start")]
    hiu: Option<String>,
    /// The command that makes the HIU ask for consent (run at each scenario's start step, with
    /// SANDBOX_URL, GATEWAY_URL, HIECM_URL, CLIENT_ID, CLIENT_SECRET, HIU_ID, HIU_URL and PATIENT
    /// in its environment).
    #[arg(long, value_name = "CMD", requires = "hiu")]
    hiu_start: Option<String>,
    /// The HIE-CM version the HIU speaks (its bridge is registered in it).
    #[arg(long, value_enum, default_value = "v0.5", requires = "hiu")]
    hiu_version: HieVersion,
    /// The path of the push URL (dataPushUrl) the HIU gives in its HI requests: the runner aims
    /// the corrupt-entry fault at it (those steps are checked by hand without it).
    #[arg(long, value_name = "PATH", requires = "hiu")]
    hiu_push_path: Option<String>,
    /// How long the --hiu-start command may run, in seconds.
    #[arg(long, default_value_t = 60, requires = "hiu")]
    hiu_start_timeout: u64,
    /// The OTP the HIP sends the patient in user-initiated linking (its link confirm steps are
    /// checked by hand without it).
    #[arg(long, value_name = "CODE", requires = "hip")]
    link_otp: Option<String>,
    /// Judge a client program: the runner hosts the gateway, runs CMD with the sandbox's URLs and
    /// keys in its environment, then judges its recorded traffic against --scenario.
    #[arg(long, value_name = "CMD")]
    client: Option<String>,
    /// Where the hosted gateway listens with --hip, --hiu or --client.
    #[arg(long, value_name = "ADDR")]
    gateway_addr: Option<SocketAddr>,
    /// How long the client program may run, in seconds.
    #[arg(long, default_value_t = 300)]
    client_timeout: u64,
    /// Gateway client id for a URL target (the fake's first facility when omitted).
    #[arg(long, env = "ABDM_CLIENT_ID")]
    client_id: Option<String>,
    #[arg(long, env = "ABDM_CLIENT_SECRET")]
    client_secret: Option<String>,
    /// Carestack API key for a URL target.
    #[arg(long, env = "CARESTACK_API_KEY")]
    api_key: Option<String>,
    /// The HIP id the runner acts as against a URL target.
    #[arg(long, env = "ABDM_HIP_ID")]
    hip_id: Option<String>,
    /// Write the whole result tree as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write JUnit XML (one testsuite per scenario, one testcase per step).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write one HTML page laid out like the checklist sheet.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// No colours on the terminal.
    #[arg(long)]
    no_color: bool,
}

/// The HIE-CM versions a HIP or a HIU can be judged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HieVersion {
    /// The v0.5 envelope: `/gateway/v0.5/...`, `requestId` and `timestamp` in the body.
    #[value(name = "v0.5")]
    V05,
    /// HIE-CM v3: `/api/hiecm/...`, `REQUEST-ID` and `TIMESTAMP` headers.
    #[value(name = "v3")]
    V3,
}

impl HieVersion {
    /// The tag of the scenarios that judge a `role` (`hip`, `hiu`) in this version.
    fn tag(self, role: &str) -> String {
        match self {
            HieVersion::V05 => role.to_string(),
            HieVersion::V3 => format!("{role}-v3"),
        }
    }
}

/// `--patience`: a factor of at least 1.
fn patience(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && (1.0..=100.0).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not a factor from 1 to 100")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => check::check(*args).await,
        Command::Scenarios { select } => check::list(select),
        Command::Fidelius(command) => fidelius::run(command),
        Command::Serve {
            addr,
            fixtures,
            journal_size,
            workers,
            public_url,
            workspace_ttl,
            max_workspaces,
            credentials,
            state,
        } => {
            let fixtures = match fixtures {
                Some(path) => match Fixtures::load(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("abdm-sandbox: fixtures: {e}");
                        return ExitCode::from(2);
                    }
                },
                None => Fixtures::default_set(),
            };
            let runner: std::sync::Arc<dyn abdm_server::ScenarioRunner> = std::sync::Arc::new(ConsoleRunner);
            let config = Config {
                addr,
                fixtures,
                journal_capacity: journal_size,
                workers,
                public_url,
                workspace_ttl_seconds: workspace_ttl,
                max_workspaces,
                credentials,
                state: state.clone(),
                runner: Some(runner),
            };
            let sandbox = match Sandbox::start(config).await {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    eprintln!("abdm-sandbox: state: {e}");
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!("abdm-sandbox: cannot listen on {addr}: {e}");
                    return ExitCode::from(1);
                }
            };
            print_banner(&sandbox, credentials, state.as_deref());
            match sandbox.run_until_signal().await {
                Ok(()) => {
                    println!("abdm-sandbox stopped");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("abdm-sandbox: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The web console's runner panel: the scenarios beside the binary (as `check` finds them), run
/// against a fresh embedded sandbox of their own, as `abdm-sandbox check` runs them.
#[derive(Debug)]
struct ConsoleRunner;

impl ConsoleRunner {
    fn load() -> Result<Vec<abdm_conformance::scenario::Scenario>, String> {
        let local = PathBuf::from("scenarios");
        let dir = if local.is_dir() {
            local
        } else {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
        };
        abdm_conformance::scenario::load_dir(&dir)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    }
}

impl abdm_server::ScenarioRunner for ConsoleRunner {
    fn scenarios(&self) -> Result<Vec<abdm_server::ScenarioInfo>, String> {
        Ok(Self::load()?
            .into_iter()
            .map(|s| abdm_server::ScenarioInfo {
                steps: s.steps.len(),
                id: s.id,
                title: s.title,
                tags: s.tags,
            })
            .collect())
    }

    fn run(&self, ids: &[String]) -> Result<abdm_server::RunOutcome, String> {
        use abdm_conformance::run::Outcome;
        let chosen: Vec<_> = Self::load()?.into_iter().filter(|s| ids.contains(&s.id)).collect();
        if chosen.is_empty() {
            return Err(format!("no scenario {ids:?}"));
        }
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let report = runtime.block_on(async {
            let config = Config { workers: 2, ..Default::default() };
            let sandbox = Sandbox::start(config).await.map_err(|e| format!("cannot start a sandbox: {e}"))?;
            let report =
                abdm_conformance::run::run(&chosen, &abdm_conformance::embedded_target(&sandbox)).await;
            sandbox.stop().await;
            report.map_err(|e| e.to_string())
        })?;
        let summary = format!(
            "{} scenarios, {} passed, {} failed, {} skipped, {} manual",
            report.scenarios.len(),
            report.count(Outcome::Pass),
            report.count(Outcome::Fail),
            report.count(Outcome::Skipped),
            report.count(Outcome::Manual)
        );
        Ok(abdm_server::RunOutcome {
            passed: report.passed(),
            summary,
            html: abdm_conformance::report::html(&report),
        })
    }
}

fn print_banner(sandbox: &Sandbox, credentials: abdm_server::Credentials, state: Option<&std::path::Path>) {
    let url = sandbox.url();
    let f = sandbox.fixtures();
    let mut out = format!("abdm-sandbox listening on {url}\n\nAPI families (a client switches by changing its base URL only):\n");
    for (name, real, prefix) in FAMILIES {
        out += &format!("  {name:<40} {url}{prefix:<12} (real: {real})\n");
    }
    out += &match credentials {
        abdm_server::Credentials::Open => "\nCredentials: open. A gateway clientId or Carestack API key the fixtures do not know is taken with\nany non-empty secret; the fixtures' own clients still need their secrets (--credentials fixtures: only those).\n".to_string(),
        abdm_server::Credentials::Fixtures => "\nCredentials: fixtures. Only the fixtures' gateway clients and Carestack API keys below are taken.\n".to_string(),
    };
    out +=
        &format!("Workspaces: {url}/w/NAME/... is a sandbox of its own (list: {url}/_sandbox/workspaces).\n");
    out += &match state {
        Some(path) => format!(
            "State: kept in {} (accounts, addresses, bridges, links, consents survive a restart).\n",
            path.display()
        ),
        None => {
            "State: in memory only (--state FILE keeps accounts, addresses, bridges, links and consents).\n"
                .to_string()
        }
    };
    out += "\nHealthcare professionals (HPR), Aadhaar / Aadhaar-linked mobile / OTP / HPR ID:\n";
    for p in &f.professionals {
        let other_mobile = if p.mobile == p.aadhaar_mobile {
            String::new()
        } else {
            format!(" (gives mobile {})", p.mobile)
        };
        out += &format!(
            "  {:<16} {} / {} / {} / {}{other_mobile}\n",
            p.name,
            p.aadhaar,
            p.aadhaar_mobile,
            p.otp,
            p.hpr_id.as_deref().unwrap_or("no account yet")
        );
    }
    out += "\nPeople (ABHA), Aadhaar / mobile / ABHA number / OTP / ABHA addresses / consent decision, records:\n";
    for p in &f.people {
        out += &format!(
            "  {:<16} {} / {} / {} / {} / {} / {:?}, {} records\n",
            p.name,
            p.aadhaar,
            p.mobile,
            p.abha_number.as_deref().unwrap_or("no ABHA yet"),
            p.otp,
            p.abha_addresses.join(", "),
            p.consent_decision,
            p.records.len()
        );
    }
    out += "\nFacilities, HIP/HIU id (roles) / counters / gateway clientId / clientSecret:\n";
    for fac in &f.facilities {
        out += &format!(
            "  {:<16} {} ({}) / {} / {} / {}\n",
            fac.name,
            fac.hip_id,
            fac.roles.join(", "),
            fac.counters.join(","),
            fac.client_id,
            fac.client_secret
        );
    }
    out += &format!(
        "\nCarestack API keys (Authorization: Bearer <key>): {}\nOTPs sent: {url}/_sandbox/outbox   requests: {url}/_sandbox/journal\nCtrl-C stops.\n",
        f.carestack.api_keys.join(", ")
    );
    print!("{out}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
}
