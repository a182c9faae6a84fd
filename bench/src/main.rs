//! `abdm-bench`: the benchmark suite of abdm-sandbox (`bench/run` builds it and calls `suite`),
//! its load drivers (HPR flows, profile-share round trips in v0.5 and v3, data-flow round trips
//! through a HIP and an HIU of their own, live transactions, Fidelius on one thread), the bare
//! actix-web server that is the ceiling for this stack, and the fixtures generator the HPR flows
//! need.
//!
//! Every driver prints one JSON object on stdout; every address it talks to is on loopback.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bare;
mod bundle;
mod client;
mod dataflow;
mod fidelius;
mod fixtures;
mod format;
mod hiu;
mod hpr;
mod inbox;
mod journey;
mod procs;
mod report;
mod report_journey;
mod session;
mod share;
mod stats;
mod suite;
mod tools;
mod txns;
mod workspaces;

#[derive(Parser)]
#[command(name = "abdm-bench", about = "Benchmarks of abdm-sandbox (bench/run drives them)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every measurement, write the results JSON and regenerate the BENCHMARKS.md table.
    Suite(suite::Args),
    /// Re-render the BENCHMARKS.md section (and the ratios and targets) from a results JSON.
    Report {
        #[arg(long, default_value = "bench/results.json")]
        results: PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        markdown: PathBuf,
    },
    /// A bare actix-web server answering one JSON file at GET /gateway/v0.5/certs.
    BareCerts {
        /// The JSON document to serve.
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
        /// Worker threads (0: one per core, as `abdm-sandbox serve`).
        #[arg(long, default_value_t = 0)]
        workers: usize,
    },
    /// Write a fixtures file: the built-in identities plus COUNT more HPR professionals like
    /// Fatima Sheikh (a different mobile, OTP 333333), each with its own Aadhaar number.
    Fixtures {
        #[arg(long)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// HPR ID registration flows (all 8 steps) against a sandbox serving `fixtures` output.
    Hpr(hpr::Args),
    /// Profile-share round trips: trigger → share to a local HIP → on-share accepted.
    Share(share::Args),
    /// Data-flow round trips through a local HIP: grant → HI request → encrypted push → notify.
    Dataflow(dataflow::Args),
    /// HIU round trips: consent request → grant → fetch → HI request → push decrypted → notify.
    Hiu(hiu::Args),
    /// Fidelius encrypt and decrypt of a bundle on one thread, with the sandbox's module.
    Fidelius(fidelius::Args),
    /// RS256 signatures with the gateway key on one thread: aws-lc and RustCrypto's rsa.
    Sign {
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Start many HPR transactions (generateOtp) and leave them live.
    Txns(txns::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Suite(args) => suite::run(args),
        Command::Report { results, markdown } => report::rerender(&results, &markdown),
        Command::BareCerts { file, addr, workers } => bare::serve(&file, &addr, workers),
        Command::Fixtures { count, out } => fixtures::write(count, &out).map(|()| {
            println!("{}", serde_json::json!({"professionals": count, "file": out}));
        }),
        Command::Hpr(args) => runtime(args.threads).and_then(|rt| rt.block_on(hpr::run(args))).map(print),
        Command::Share(args) => runtime(args.threads).and_then(|rt| rt.block_on(share::run(args))).map(print),
        Command::Txns(args) => runtime(args.threads).and_then(|rt| rt.block_on(txns::run(args))).map(print),
        Command::Dataflow(args) => {
            runtime(args.threads).and_then(|rt| rt.block_on(dataflow::run(args))).map(print)
        }
        Command::Hiu(args) => runtime(args.threads).and_then(|rt| rt.block_on(hiu::run(args))).map(print),
        Command::Fidelius(args) => fidelius::run(args).map(print),
        Command::Sign { seconds } => session::signing(seconds).map(print),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("abdm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(v: serde_json::Value) {
    println!("{v}");
}

/// The drivers' runtime: `threads` workers, so the driver's share of the two cores is known.
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    let mut b = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    b.enable_all().build().map_err(|e| e.to_string())
}
