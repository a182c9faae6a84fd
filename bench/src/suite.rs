//! The whole benchmark run behind `bench/run`: starts each server on loopback, drives it with wrk
//! or the drivers in this crate (run as child processes, so their share of the CPU is what it
//! is for any client), reads RSS from /proc, and writes the results JSON and the BENCHMARKS.md
//! table. Thresholds are reported, never enforced: the run fails only when something does not
//! work (a failed flow, a server that does not start).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::procs::*;
use crate::stats;
use crate::tools::*;
use crate::{journey, report};

#[derive(clap::Args)]
pub struct Args {
    /// About a second per measurement, tiny counts, no WireMock unless --wiremock-jar is given.
    #[arg(long)]
    pub smoke: bool,
    /// The release binary under test.
    #[arg(long, default_value = "target/release/abdm-sandbox")]
    pub sandbox: PathBuf,
    /// WireMock's standalone jar (from the npm `wiremock` package); omitted: WireMock is skipped.
    #[arg(long)]
    pub wiremock_jar: Option<PathBuf>,
    /// Where report.lua and sessions.lua are.
    #[arg(long, default_value = "bench/wrk")]
    pub wrk_scripts: PathBuf,
    /// The results JSON to write.
    #[arg(long)]
    pub out: PathBuf,
    /// The markdown file whose generated section is rewritten (created if missing).
    #[arg(long)]
    pub markdown: PathBuf,
    /// Scratch directory (fixtures, the certs document, WireMock's mappings).
    #[arg(long, default_value = "target/bench")]
    pub work_dir: PathBuf,
    /// wrk connections (one wrk thread).
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// fidelius-cli 1.2.0's class path (its jar, BouncyCastle, Gson); omitted: the reference
    /// jar is skipped.
    #[arg(long)]
    pub fidelius_jars: Option<String>,
    /// The directory where bench/java/FideliusBench.java was compiled; omitted: the warmed-JVM
    /// measurement is skipped (the jar's processes are still measured).
    #[arg(long)]
    pub java_driver: Option<PathBuf>,
    /// A Python with abdm-ecdh 1.1.0 installed; omitted: abdm-ecdh is skipped.
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// The Python driver.
    #[arg(long, default_value = "bench/python/fidelius_bench.py")]
    pub python_script: PathBuf,
    /// One more argument for the server of the HPR-flow measurement (repeat for several), e.g.
    /// `--hpr-serve-arg=--state --hpr-serve-arg=FILE`: the same flows against a server run so.
    #[arg(long, allow_hyphen_values = true)]
    pub hpr_serve_arg: Vec<String>,
}

/// Durations and counts of one run.
#[derive(Clone, Copy)]
struct Plan {
    warmup: u64,
    wiremock_warmup: u64,
    seconds: u64,
    rounds: usize,
    round_seconds: u64,
    hpr_warmup: usize,
    hpr_flows_per_round: usize,
    hpr_concurrency: usize,
    startup_runs: usize,
    txns: usize,
    txns_baseline: usize,
    txns_concurrency: usize,
    memory_cycles: usize,
    /// Longest the whole run waits for the machine to come back to speed (see [`calm`]).
    wait_budget_seconds: u64,
}

const FULL: Plan = Plan {
    warmup: 5,
    wiremock_warmup: 30,
    seconds: 10,
    rounds: 3,
    round_seconds: 5,
    hpr_warmup: 2_000,
    hpr_flows_per_round: 30_000,
    hpr_concurrency: 64,
    startup_runs: 20,
    txns: 100_000,
    txns_baseline: 10_000,
    txns_concurrency: 64,
    memory_cycles: 3,
    wait_budget_seconds: 480,
};

const SMOKE: Plan = Plan {
    warmup: 0,
    wiremock_warmup: 2,
    seconds: 1,
    rounds: 1,
    round_seconds: 1,
    hpr_warmup: 20,
    hpr_flows_per_round: 400,
    hpr_concurrency: 16,
    startup_runs: 3,
    txns: 2_000,
    txns_baseline: 200,
    txns_concurrency: 16,
    memory_cycles: 2,
    wait_budget_seconds: 0,
};

pub fn run(args: Args) -> Result<(), String> {
    let plan = if args.smoke { SMOKE } else { FULL };
    if args.smoke {
        // The smoke run only checks that the probe works, and never waits.
        PROBE_ITERATIONS.store(1_000_000, Ordering::Relaxed);
    } else {
        WAIT_BUDGET_MS.store(plan.wait_budget_seconds * 1000, Ordering::Relaxed);
        for _ in 0..3 {
            calm();
        }
    }
    let t0 = Instant::now();
    std::fs::create_dir_all(&args.work_dir).map_err(|e| format!("{}: {e}", args.work_dir.display()))?;
    let work = args.work_dir.canonicalize().map_err(|e| e.to_string())?;
    let sandbox = args.sandbox.canonicalize().map_err(|e| format!("{}: {e}", args.sandbox.display()))?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let report_lua = args.wrk_scripts.join("report.lua");
    let sessions_lua = args.wrk_scripts.join("sessions.lua");
    for f in [&report_lua, &sessions_lua] {
        if !f.is_file() {
            return Err(format!("{}: missing", f.display()));
        }
    }
    let wrk = Wrk { connections: args.connections, seconds: plan.seconds, script: report_lua.clone() };
    let mut problems: Vec<String> = Vec::new();

    // -- (a) certs on the sandbox (journal on, the default), (1) bare actix-web, (2) WireMock ------
    // All three run at once, idle but for the one under load; the measurement goes round them
    // `rounds` times, so a slow spell of the machine (CPU steal) falls on all of them alike, and
    // each figure is its best round, each ratio the median of the per-round ratios.
    say("certs: starting abdm-sandbox, bare actix-web and WireMock");
    let srv = Proc::sandbox(&sandbox, &[])?;
    let idle_rss = srv.rss_kb();
    let (status, certs_body) = http(srv.addr, "GET", "/gateway/v0.5/certs", None)?;
    if status != 200 {
        return Err(format!("GET /gateway/v0.5/certs answered {status}"));
    }
    let certs_file = work.join("certs.json");
    std::fs::write(&certs_file, &certs_body).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&me);
    cmd.arg("bare-certs").arg("--file").arg(&certs_file);
    let bare_srv = Proc::spawn(cmd, "bare-certs", "listening on http://")?;
    let bare_idle = bare_srv.rss_kb();
    let wm = match &args.wiremock_jar {
        None => None,
        Some(jar) => {
            let wm = WireMock::start(jar, &work, &certs_body)?;
            let idle = wm.proc.rss_kb();
            Some((wm, idle))
        }
    };
    let url = |p: &Proc| format!("http://{}/gateway/v0.5/certs", p.addr);
    let mut targets: Vec<(&str, &Proc)> = vec![("sandbox", &srv), ("bare", &bare_srv)];
    if let Some((wm, _)) = &wm {
        targets.push(("wiremock", &wm.proc));
    }
    for (name, p) in &targets {
        say(&format!("certs: warming up {name}"));
        wrk.warm(&url(p), if *name == "wiremock" { plan.wiremock_warmup } else { plan.warmup })?;
    }
    let mut runs: Vec<(&str, Vec<Value>)> = targets.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for round in 1..=plan.rounds {
        for (i, (name, p)) in targets.iter().enumerate() {
            say(&format!("certs: round {round}/{}: {name}", plan.rounds));
            let r = with_cpu(p, || wrk.run(&url(p), &report_lua))?;
            check_wrk(&format!("{name} certs"), &r, &mut problems);
            runs[i].1.push(r);
        }
    }
    let certs_of =
        |name: &str| runs.iter().find(|(n, _)| *n == name).map(|(_, r)| best_run(r)).unwrap_or(Value::Null);
    let rounds_of =
        |name: &str| runs.iter().find(|(n, _)| *n == name).map(|(_, r)| json!(r)).unwrap_or(Value::Null);
    let round_ratios = |a: &str, b: &str| -> Value {
        let (Some((_, ra)), Some((_, rb))) =
            (runs.iter().find(|(n, _)| *n == a), runs.iter().find(|(n, _)| *n == b))
        else {
            return Value::Null;
        };
        let mut v: Vec<f64> = ra
            .iter()
            .zip(rb)
            .filter_map(|(x, y)| Some(x["requestsPerSecond"].as_f64()? / y["requestsPerSecond"].as_f64()?))
            .collect();
        v.sort_by(f64::total_cmp);
        json!({"perRound": v, "median": v.get(v.len() / 2)})
    };
    let certs_ratios = json!({
        "oursOverBare": round_ratios("sandbox", "bare"),
        "oursOverWireMock": round_ratios("sandbox", "wiremock"),
    });
    let loaded_rss = srv.rss_kb();
    let health = json_of(&http(srv.addr, "GET", "/_sandbox/health", None)?.1);
    let bare = json!({
        "certs": certs_of("bare"),
        "rounds": rounds_of("bare"),
        "idleRssKb": bare_idle,
        "rssAfterCertsKb": bare_srv.rss_kb(),
    });
    drop(bare_srv);
    let wiremock = match wm {
        None => {
            say("certs: WireMock skipped (no jar)");
            Value::Null
        }
        Some((wm, idle)) => json!({
            "certs": certs_of("wiremock"),
            "rounds": rounds_of("wiremock"),
            "version": wm.version,
            "startupMs": stats::ms(wm.proc.ready),
            "idleRssKb": idle,
            "rssAfterCertsKb": wm.proc.rss_kb(),
        }),
    };

    // -- (b) sessions ----------------------------------------------------------------------------------
    say("sessions");
    let sessions_url = format!("http://{}/gateway/v0.5/sessions", srv.addr);
    wrk.warm(&sessions_url, plan.warmup.min(2)).ok();
    let sessions = with_cpu(&srv, || wrk.run(&sessions_url, &sessions_lua))?;
    check_wrk("abdm-sandbox sessions", &sessions, &mut problems);
    drop(srv);
    let ours = json!({
        "certs": certs_of("sandbox"),
        "rounds": rounds_of("sandbox"),
        "sessions": sessions,
        "idleRssKb": idle_rss,
        "rssAfterCertsKb": loaded_rss,
        "journalEntriesAfterCerts": health["journalEntries"],
    });

    // -- (c) HPR flows through create ---------------------------------------------------------------
    // Rounds of `round_seconds` each; every flow registers a professional of its own.
    let fixtures_file = work.join("fixtures-hpr.json");
    let professionals = plan.hpr_warmup + plan.rounds * plan.hpr_flows_per_round;
    say(&format!("HPR flows: writing {professionals} professionals"));
    crate::fixtures::write(professionals, &fixtures_file)?;
    // The hook for comparing server options on HPR flows: `--hpr-serve-arg` adds arguments to
    // this server's command line (recorded as `hpr.serveArgs`).
    let mut serve_args: Vec<&std::ffi::OsStr> = vec!["--fixtures".as_ref(), fixtures_file.as_os_str()];
    serve_args.extend(args.hpr_serve_arg.iter().map(std::ffi::OsStr::new));
    say("HPR flows");
    let mut hpr = hpr_flows((&me, &sandbox), &serve_args, plan, &mut problems)?;
    hpr["fixtureProfessionals"] = json!(professionals + 3);
    hpr["serveArgs"] = json!(args.hpr_serve_arg);
    // The same flows on a server keeping its state in a fresh SQLite file (`serve --state`):
    // each created account is written before its create is answered.
    let state_file = work.join("hpr-state.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", state_file.display()));
    }
    say("HPR flows with --state");
    let with_state_args = [serve_args.as_slice(), &["--state".as_ref(), state_file.as_os_str()]].concat();
    let mut with_state = hpr_flows((&me, &sandbox), &with_state_args, plan, &mut problems)?;
    // The database and its write-ahead log (not yet checkpointed into it).
    let kb: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", state_file.display())).ok())
        .map(|m| m.len() / 1024)
        .sum();
    with_state["stateFileKb"] = json!(kb);
    hpr["withState"] = with_state;

    // -- (d) profile-share round trips through a local HIP, v0.5 and v3 in turn ----------------
    let ctx = journey::Ctx {
        me: &me,
        sandbox: &sandbox,
        work: &work,
        plan: if args.smoke { journey::SMOKE } else { journey::FULL },
        jars: args.fidelius_jars.clone(),
        java_driver: args.java_driver.clone(),
        python: args.python.clone().map(|p| (p, args.python_script.clone())),
    };
    let (share, share_v3, share_ratios) = journey::shares(&ctx, &mut problems)?;

    // -- start-up time to ready ---------------------------------------------------------------------
    say("start-up");
    let mut startups = Vec::new();
    for _ in 0..plan.startup_runs {
        let p = Proc::sandbox(&sandbox, &[])?;
        startups.push(p.ready);
    }
    let startup = {
        let mut s = startups.clone();
        s.sort_unstable();
        json!({
            "runs": s.len(),
            "medianMs": stats::ms(stats::quantile(&s, 0.5)),
            "minMs": stats::ms(s[0]),
            "maxMs": stats::ms(s[s.len() - 1]),
        })
    };

    // -- RSS with many live transactions, and after they expire -----------------------------------
    say("memory: live transactions");
    let drive = |args: &[String]| driver(&me, args);
    let srv = Proc::sandbox(&sandbox, &[])?;
    let base = format!("http://{}", srv.addr);
    let rss_start = srv.rss_kb();
    // Fill the journal and the outbox (bounded rings) first, and let those transactions expire, so
    // the baseline holds everything that stays.
    let warm = drive(&[
        "txns".into(),
        format!("--base={base}"),
        format!("--count={}", plan.txns_baseline),
        format!("--concurrency={}", plan.txns_concurrency),
    ])?;
    check_driver("transactions warm-up", &warm, "failed", &mut problems);
    advance(srv.addr, crate::txns::EXPIRE_ALL_SECONDS)?;
    let rss_baseline = srv.rss_kb();
    // Cycles of: start `txns` transactions, read RSS, expire them all, read RSS. Memory is
    // returned when each expiry gives back most of what the transactions took and a cycle adds
    // nothing to the one before.
    let mut cycles = Vec::new();
    for cycle in 0..plan.memory_cycles {
        say(&format!("memory: cycle {}/{}: {} transactions", cycle + 1, plan.memory_cycles, plan.txns));
        let made = with_cpu(&srv, || {
            drive(&[
                "txns".into(),
                format!("--base={base}"),
                format!("--count={}", plan.txns),
                format!("--concurrency={}", plan.txns_concurrency),
            ])
        })?;
        check_driver("transactions", &made, "failed", &mut problems);
        let live = json_of(&http(srv.addr, "GET", "/_sandbox/health", None)?.1)["liveTransactions"].clone();
        let rss_live = srv.rss_kb();
        advance(srv.addr, crate::txns::EXPIRE_ALL_SECONDS)?;
        let after = json_of(&http(srv.addr, "GET", "/_sandbox/health", None)?.1)["liveTransactions"].clone();
        let rss_expired = srv.rss_kb();
        std::thread::sleep(Duration::from_secs(if args.smoke { 0 } else { 2 }));
        let rss_expired_later = srv.rss_kb();
        if live.as_u64() != Some(plan.txns as u64) || after.as_u64() != Some(0) {
            problems.push(format!(
                "memory: {live} live transactions after creating {}, {after} after expiry",
                plan.txns
            ));
        }
        let grown = rss_live.saturating_sub(rss_baseline);
        cycles.push(json!({
            "created": made,
            "liveTransactions": live,
            "liveAfterExpiry": after,
            "rssLiveKb": rss_live,
            "rssAfterExpiryKb": rss_expired,
            "rssAfterExpiry2sKb": rss_expired_later,
            "returnedFraction": if grown == 0 { 1.0 } else {
                rss_live.saturating_sub(rss_expired_later) as f64 / grown as f64
            },
        }));
    }
    drop(srv);
    let first = cycles.first().cloned().unwrap_or(Value::Null);
    let last = cycles.last().cloned().unwrap_or(Value::Null);
    let kb = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let memory = json!({
        "transactions": plan.txns,
        "cycles": cycles,
        "created": first["created"],
        "liveTransactions": first["liveTransactions"],
        "rssAfterStartKb": rss_start,
        "rssBaselineKb": rss_baseline,
        "rssLiveKb": cycles.iter().map(|c| kb(c, "rssLiveKb")).fold(0.0, f64::max),
        "rssAfterExpiry2sKb": last["rssAfterExpiry2sKb"],
        "returnedFraction": cycles.iter().map(|c| c["returnedFraction"].as_f64().unwrap_or(0.0)).fold(1.0, f64::min),
        // The last cycle against the one before: the first may grow the allocator's arenas once.
        "creepKb": cycles.len().checked_sub(2).map(|i| kb(&last, "rssAfterExpiry2sKb") - kb(&cycles[i], "rssAfterExpiry2sKb")),
    });

    // -- the conformance suite against the embedded fake -------------------------------------------
    say("conformance suite");
    let conformance = conformance(&sandbox)?;
    if conformance["exitCode"] != 0 {
        problems.push(format!("conformance: {}", conformance["summary"]));
    }

    // -- the second half: signing, Fidelius, data flows, workspaces --------------------------------
    let signing = journey::signing(&ctx)?;
    let second = journey::run(&ctx, &mut problems)?;

    let results = json!({
        "mode": if args.smoke { "smoke" } else { "full" },
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "commit": git_commit(),
        "machine": machine(),
        "settings": {
            "wrk": format!("wrk -t1 -c{} -d{}s", args.connections, plan.seconds),
            "warmupSeconds": plan.warmup,
            "wiremockWarmupSeconds": plan.wiremock_warmup,
            "certsRounds": plan.rounds,
            "roundSeconds": plan.round_seconds,
            "hprConcurrency": plan.hpr_concurrency,
            "shareConcurrency": ctx.plan.concurrency,
            "journeyConcurrency": ctx.plan.concurrency,
            "journeyRounds": ctx.plan.rounds,
            "journeyRoundSeconds": ctx.plan.round_seconds,
            "transactionsConcurrency": plan.txns_concurrency,
            "sandboxWorkers": "one per core (serve's default)",
            "journalSize": 5000,
        },
        "sandbox": ours,
        "certsRoundRatios": certs_ratios,
        "bare": bare,
        "wiremock": wiremock,
        "hpr": hpr,
        "share": share,
        "shareV3": share_v3,
        "shareRatios": share_ratios,
        "signing": signing,
        "fidelius": second["fidelius"],
        "dataflow": second["dataflow"],
        "hiu": second["hiu"],
        "workspaces": second["workspaces"],
        "startup": startup,
        "memory": memory,
        "conformance": conformance,
        "problems": problems,
        "runSeconds": t0.elapsed().as_secs_f64(),
        "machineSpeed": {
            "bestProbe": BEST_PROBE.load(Ordering::Relaxed),
            "waitedForSpeedSeconds": WAITED_MS.load(Ordering::Relaxed) as f64 / 1000.0,
        },
    });
    let mut results = results;
    results["ratios"] = report::ratios(&results);
    results["targets"] = report::targets(&results);
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())? + "\n";
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(&args.out, text).map_err(|e| format!("{}: {e}", args.out.display()))?;
    report::write_markdown(&args.markdown, &results)?;
    println!("{}", report::terminal(&results));
    say(&format!(
        "wrote {} and {} in {:.1} s",
        args.out.display(),
        args.markdown.display(),
        t0.elapsed().as_secs_f64()
    ));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  ")))
    }
}

fn say(what: &str) {
    eprintln!("bench: {what}");
}

/// HPR flows through create against a server started with `serve_args`: a warm-up, then
/// `plan.rounds` rounds of `plan.round_seconds`; the best round, with every round and the
/// server's RSS at the end.
fn hpr_flows(
    (me, sandbox): (&std::path::Path, &std::path::Path),
    serve_args: &[&std::ffi::OsStr],
    plan: Plan,
    problems: &mut Vec<String>,
) -> Result<Value, String> {
    let srv = Proc::sandbox(sandbox, serve_args)?;
    let base = format!("http://{}", srv.addr);
    let drive = |args: &[String]| driver(me, args);
    let warm = drive(&[
        "hpr".into(),
        format!("--base={base}"),
        "--first=0".into(),
        format!("--flows={}", plan.hpr_warmup),
        format!("--concurrency={}", plan.hpr_concurrency),
    ])?;
    check_driver("HPR warm-up", &warm, "failed", problems);
    let mut rounds = Vec::new();
    for round in 0..plan.rounds {
        say(&format!("HPR flows: round {}/{}", round + 1, plan.rounds));
        let r = with_cpu(&srv, || {
            drive(&[
                "hpr".into(),
                format!("--base={base}"),
                format!("--first={}", plan.hpr_warmup + round * plan.hpr_flows_per_round),
                format!("--flows={}", plan.hpr_flows_per_round),
                format!("--concurrency={}", plan.hpr_concurrency),
                format!("--duration={}", plan.round_seconds),
            ])
        })?;
        check_driver("HPR flows", &r, "failed", problems);
        rounds.push(r);
    }
    let mut best = best_by(&rounds, "flowsPerSecond");
    best["rounds"] = json!(rounds);
    best["serverRssKb"] = json!(srv.rss_kb());
    Ok(best)
}
