//! The measurements of the journey's second half, run by the suite after the first half's: the
//! gateway's signing capacity beside the sessions figure, Fidelius side by side with the
//! reference jar and abdm-ecdh, profile shares in v0.5 and v3 interleaved on one server, data-flow
//! round trips through a HIP and an HIU of the driver's own, and workspaces (suites per minute
//! with 1, 10 and 100 at once; RSS per idle workspace).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::fidelius::{self, Tools};
use crate::procs::*;
use crate::workspaces;

/// Durations and counts of the second half.
#[derive(Clone, Copy)]
pub struct Plan {
    pub rounds: usize,
    pub round_seconds: u64,
    pub concurrency: usize,
    /// Seconds each signer runs for the sessions reference.
    pub sign_seconds: f64,
    pub fidelius_warmup: f64,
    /// The JVM's warm-up, long enough for its JIT to compile BouncyCastle's hot paths.
    pub java_warmup: f64,
    pub fidelius_seconds: f64,
    pub process_runs: usize,
    /// (workspaces at once, waves).
    pub suites: [(usize, usize); 3],
    pub idle_workspaces: usize,
}

pub const FULL: Plan = Plan {
    rounds: 3,
    round_seconds: 5,
    concurrency: 32,
    sign_seconds: 3.0,
    fidelius_warmup: 2.0,
    java_warmup: 15.0,
    fidelius_seconds: 5.0,
    process_runs: 20,
    suites: [(1, 10), (10, 2), (100, 1)],
    idle_workspaces: 1000,
};

pub const SMOKE: Plan = Plan {
    rounds: 1,
    round_seconds: 1,
    concurrency: 8,
    sign_seconds: 0.2,
    fidelius_warmup: 0.2,
    java_warmup: 1.0,
    fidelius_seconds: 0.5,
    process_runs: 2,
    suites: [(1, 1), (2, 1), (0, 0)],
    idle_workspaces: 40,
};

/// What the second half needs from the suite.
pub struct Ctx<'a> {
    pub me: &'a Path,
    pub sandbox: &'a Path,
    pub work: &'a Path,
    pub plan: Plan,
    /// fidelius-cli's jars (class path).
    pub jars: Option<String>,
    /// The compiled Java driver's directory.
    pub java_driver: Option<PathBuf>,
    /// A Python with abdm-ecdh 1.1.0, and the Python driver.
    pub python: Option<(PathBuf, PathBuf)>,
}

fn say(what: &str) {
    eprintln!("bench: {what}");
}

/// `rounds` of a driver against one server: each round with the server's CPU, the best by
/// `perSecond`, all rounds kept.
fn rounds(
    ctx: &Ctx,
    srv: &Proc,
    what: &str,
    args: &[String],
    problems: &mut Vec<String>,
) -> Result<Value, String> {
    let mut all = Vec::new();
    for round in 0..ctx.plan.rounds {
        say(&format!("{what}: round {}/{}", round + 1, ctx.plan.rounds));
        reset(srv)?;
        let r = with_cpu(srv, || driver(ctx.me, &driver_args(ctx, srv, args)))?;
        check_driver(what, &r, "failed", problems);
        all.push(r);
    }
    let mut best = best_by(&all, "perSecond");
    best["rounds"] = json!(all);
    Ok(best)
}

/// `POST /_sandbox/reset` before a round: every round starts from the same state, not from the
/// shares, transfers and request ids the rounds before it left (the stores grow, and so does
/// the cost of what goes into them).
fn reset(srv: &Proc) -> Result<(), String> {
    match http(srv.addr, "POST", "/_sandbox/reset", Some("{}"))? {
        (200, _) => Ok(()),
        (status, body) => Err(format!("reset answered {status}: {}", String::from_utf8_lossy(&body))),
    }
}

fn driver_args(ctx: &Ctx, srv: &Proc, args: &[String]) -> Vec<String> {
    let mut v = args.to_vec();
    v.push(format!("--base=http://{}", srv.addr));
    v.push(format!("--concurrency={}", ctx.plan.concurrency));
    v.push(format!("--duration={}", ctx.plan.round_seconds));
    v
}

/// RS256 signatures per second on one thread, aws-lc and RustCrypto: what the machine can do
/// for sessions.
pub fn signing(ctx: &Ctx) -> Result<Value, String> {
    say("sessions: RS256 signing on one thread (aws-lc, RustCrypto rsa)");
    calm();
    driver(ctx.me, &["sign".into(), format!("--seconds={}", ctx.plan.sign_seconds)])
}

/// Profile shares, v0.5 and v3 in turn on one server, each round trip through the driver's HIP:
/// (v0.5 best round, v3 best round, per-round ratios v3 / v0.5).
pub fn shares(ctx: &Ctx, problems: &mut Vec<String>) -> Result<(Value, Value, Value), String> {
    let srv = Proc::sandbox(ctx.sandbox, &[])?;
    let (mut v05, mut v3) = (Vec::new(), Vec::new());
    for round in 0..ctx.plan.rounds {
        // v0.5 first in odd rounds, v3 first in even ones, so neither always follows the other.
        let order = if round % 2 == 0 { ["v0.5", "v3"] } else { ["v3", "v0.5"] };
        for version in order {
            say(&format!("share-profile round trips ({version}): round {}/{}", round + 1, ctx.plan.rounds));
            let into = if version == "v3" { &mut v3 } else { &mut v05 };
            let args = ["share".to_string(), format!("--version={version}")];
            reset(&srv)?;
            let r = with_cpu(&srv, || driver(ctx.me, &driver_args(ctx, &srv, &args)))?;
            check_driver(&format!("share round trips ({version})"), &r, "failed", problems);
            into.push(r);
        }
    }
    let cpu_per =
        |r: &Value| Some(r["serverCpuSeconds"].as_f64()? / r["roundTrips"].as_f64().filter(|n| *n > 0.0)?);
    let mut rate: Vec<f64> = v3
        .iter()
        .zip(&v05)
        .filter_map(|(a, b)| Some(a["perSecond"].as_f64()? / b["perSecond"].as_f64().filter(|n| *n > 0.0)?))
        .collect();
    rate.sort_by(f64::total_cmp);
    let mut cpu: Vec<f64> =
        v3.iter().zip(&v05).filter_map(|(a, b)| Some(cpu_per(a)? / cpu_per(b)?)).collect();
    cpu.sort_by(f64::total_cmp);
    let ratios = json!({"perSecond": {"perRound": rate, "median": rate.get(rate.len() / 2)},
        "serverCpuPerRoundTrip": {"perRound": cpu, "median": cpu.get(cpu.len() / 2)}});
    let mut best05 = best_by(&v05, "perSecond");
    best05["rounds"] = json!(v05);
    let mut best3 = best_by(&v3, "perSecond");
    best3["rounds"] = json!(v3);
    Ok((best05, best3, ratios))
}

/// Everything of the second half after the shares.
pub fn run(ctx: &Ctx, problems: &mut Vec<String>) -> Result<Value, String> {
    let bundle = ctx.work.join("bundle-20kb.json");
    std::fs::write(&bundle, crate::bundle::twenty_kb()).map_err(|e| e.to_string())?;

    // -- Fidelius: the sandbox's module, the reference jar in a warmed JVM, abdm-ecdh ----------
    if ctx.jars.is_none() {
        say("Fidelius: the reference jar skipped (no java, or the jar could not be installed)");
    } else if ctx.java_driver.is_none() {
        say("Fidelius: the reference jar in a warmed JVM skipped (no javac to compile bench/java); its processes are measured");
    }
    if ctx.python.is_none() {
        say("Fidelius: abdm-ecdh skipped (no Python virtualenv with it)");
    }
    calm();
    let tools = Tools {
        me: ctx.me.to_path_buf(),
        sandbox: ctx.sandbox.to_path_buf(),
        jars: ctx.jars.clone(),
        java_driver: ctx.java_driver.clone(),
        python: ctx.python.clone(),
    };
    let p = ctx.plan;
    let fidelius = fidelius::side_by_side(
        &tools,
        &bundle,
        (p.fidelius_warmup, p.java_warmup, p.fidelius_seconds, p.process_runs),
        say,
    )?;

    // -- data-flow round trips through the driver's HIP -------------------------------------------
    let srv = Proc::sandbox(ctx.sandbox, &[])?;
    let mut dataflow = rounds(ctx, &srv, "data-flow round trips (HIP)", &["dataflow".into()], problems)?;
    dataflow["serverRssKb"] = json!(srv.rss_kb());
    drop(srv);

    // -- HIU round trips: the patient holds one 20 KB record and is asked ------------------------
    let fixtures = ctx.work.join("hiu").join("fixtures-hiu.json");
    std::fs::create_dir_all(fixtures.parent().unwrap_or(ctx.work)).map_err(|e| e.to_string())?;
    crate::hiu::fixtures(&fixtures)?;
    let srv = Proc::sandbox(ctx.sandbox, &["--fixtures".as_ref(), fixtures.as_os_str()])?;
    let mut hiu = rounds(ctx, &srv, "HIU round trips", &["hiu".into()], problems)?;
    hiu["serverRssKb"] = json!(srv.rss_kb());
    drop(srv);

    // -- workspaces ---------------------------------------------------------------------------------
    let mut suites = Vec::new();
    for (count, waves) in p.suites.into_iter().filter(|(c, _)| *c > 0) {
        say(&format!("workspaces: {count} conformance suite(s) at once, {waves} wave(s)"));
        suites.push(workspaces::suites(ctx.sandbox, count, waves, problems)?);
    }
    say(&format!("workspaces: RSS of {} idle workspaces", p.idle_workspaces));
    let idle = workspaces::idle_rss(ctx.sandbox, p.idle_workspaces)?;

    Ok(json!({
        "fidelius": fidelius,
        "dataflow": dataflow,
        "hiu": hiu,
        "workspaces": {"suites": suites, "idle": idle},
    }))
}
