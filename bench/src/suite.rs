//! The whole benchmark run behind `bench/run`: starts each server on loopback, drives it with wrk
//! or the drivers in this crate (run as child processes, so their share of the CPU is what it
//! is for any client), reads RSS from /proc, and writes the results JSON and the BENCHMARKS.md
//! table. Thresholds are reported, never enforced: the run fails only when something does not
//! work (a failed flow, a server that does not start).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::report;
use crate::stats;

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
    share_concurrency: usize,
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
    share_concurrency: 32,
    startup_runs: 20,
    txns: 100_000,
    txns_baseline: 10_000,
    txns_concurrency: 64,
    memory_cycles: 3,
    wait_budget_seconds: 240,
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
    share_concurrency: 8,
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
    let srv = Proc::sandbox(&sandbox, &["--fixtures".as_ref(), fixtures_file.as_os_str()])?;
    let base = format!("http://{}", srv.addr);
    let drive = |args: &[String]| driver(&me, args);
    let warm = drive(&[
        "hpr".into(),
        format!("--base={base}"),
        "--first=0".into(),
        format!("--flows={}", plan.hpr_warmup),
        format!("--concurrency={}", plan.hpr_concurrency),
    ])?;
    check_driver("HPR warm-up", &warm, "failed", &mut problems);
    let mut hpr_rounds = Vec::new();
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
        check_driver("HPR flows", &r, "failed", &mut problems);
        hpr_rounds.push(r);
    }
    let mut hpr = best_by(&hpr_rounds, "flowsPerSecond");
    hpr["rounds"] = json!(hpr_rounds);
    hpr["fixtureProfessionals"] = json!(professionals + 3);
    hpr["serverRssKb"] = json!(srv.rss_kb());
    drop(srv);

    // -- (d) profile-share round trips through a local HIP ----------------------------------------
    let srv = Proc::sandbox(&sandbox, &[])?;
    let mut share_rounds = Vec::new();
    for round in 0..plan.rounds {
        say(&format!("share-profile round trips: round {}/{}", round + 1, plan.rounds));
        let r = with_cpu(&srv, || {
            drive(&[
                "share".into(),
                format!("--base=http://{}", srv.addr),
                format!("--concurrency={}", plan.share_concurrency),
                format!("--duration={}", plan.round_seconds),
            ])
        })?;
        check_driver("share round trips", &r, "failed", &mut problems);
        share_rounds.push(r);
    }
    let mut share = best_by(&share_rounds, "perSecond");
    share["rounds"] = json!(share_rounds);
    drop(srv);

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
            "shareConcurrency": plan.share_concurrency,
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

// ---- processes ------------------------------------------------------------------------------------

/// A server this run started; killed when dropped.
struct Proc {
    child: Child,
    addr: SocketAddr,
    /// From spawn until it answered.
    ready: Duration,
}

impl Proc {
    /// Spawns `cmd` and waits for the line with `marker` followed by the URL it listens on.
    fn spawn(mut cmd: Command, name: &str, marker: &str) -> Result<Proc, String> {
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        let marker = marker.to_string();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut sent = false;
            for line in lines.by_ref() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(rest) = line.split(&marker).nth(1) {
                        let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                        let _ = tx.send(addr);
                        sent = true;
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{name}: did not report its address"));
            }
        };
        let addr: SocketAddr =
            addr.trim_end_matches('/').parse().map_err(|e| format!("{name}: {addr}: {e}"))?;
        Ok(Proc { child, addr, ready: start.elapsed() })
    }

    /// `abdm-sandbox serve --addr 127.0.0.1:0`, ready once `GET /_sandbox/health` answers 200.
    fn sandbox(bin: &Path, extra: &[&std::ffi::OsStr]) -> Result<Proc, String> {
        let start = Instant::now();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
        let mut p = Proc::spawn(cmd, "abdm-sandbox", "listening on http://")?;
        wait_until(p.addr, "/_sandbox/health", Duration::from_secs(30))?;
        p.ready = start.elapsed();
        Ok(p)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_kb(&self) -> u64 {
        rss_kb(self.pid())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(14) + get(15)) / ticks_per_second()
}

/// Runs one measurement and adds the server's CPU use during it: `serverCpuSeconds` and
/// `serverCores` (CPU seconds per wall second).
fn with_cpu(p: &Proc, f: impl FnOnce() -> Result<Value, String>) -> Result<Value, String> {
    let before = calm();
    let (cpu0, ours0, stat0, t0) = (cpu_seconds(p.pid()), own_cpu_seconds(), cpu_stat(), Instant::now());
    let mut v = f()?;
    let cpu = cpu_seconds(p.pid()) - cpu0;
    let ours = own_cpu_seconds() - ours0;
    let wall = t0.elapsed().as_secs_f64();
    let stat1 = cpu_stat();
    let total = (stat1.total - stat0.total).max(1) as f64;
    // Busy time of the machine that was neither the server nor this run's own processes (wrk,
    // the drivers, this one): another program on the machine, a CI build for instance.
    let busy = (stat1.busy - stat0.busy) as f64 / ticks_per_second();
    let cores = total / ticks_per_second() / wall.max(1e-9);
    let other = ((busy - cpu - ours) / (wall * cores)).max(0.0);
    v["serverCpuSeconds"] = json!((cpu * 100.0).round() / 100.0);
    v["serverCores"] = json!((cpu / wall * 100.0).round() / 100.0);
    v["stealPercent"] = json!(((stat1.steal - stat0.steal) as f64 / total * 1000.0).round() / 10.0);
    v["otherCpuPercent"] = json!((other * 1000.0).round() / 10.0);
    v["probe"] = json!(before.min(probe()).round());
    Ok(v)
}

/// Loop iterations per core of one [`probe`] (about 0.1 s in a release build).
static PROBE_ITERATIONS: AtomicU64 = AtomicU64::new(50_000_000);
/// The fastest probe so far (iterations per second).
static BEST_PROBE: AtomicU64 = AtomicU64::new(0);
/// How long the run may still wait for the machine to come back to speed, and has waited (ms).
static WAIT_BUDGET_MS: AtomicU64 = AtomicU64::new(0);
static WAITED_MS: AtomicU64 = AtomicU64::new(0);

/// Probes the machine; while it runs below 80 % of the fastest probe so far (a slow spell of the
/// shared host) or other programs keep more than 15 % of it busy, waits and tries again, within
/// the run's waiting budget. Returns the last probe.
fn calm() -> f64 {
    loop {
        let others = others_busy(Duration::from_millis(300));
        let p = probe();
        let best = BEST_PROBE.fetch_max(p as u64, Ordering::Relaxed).max(p as u64) as f64;
        let budget = WAIT_BUDGET_MS.load(Ordering::Relaxed);
        if (p >= 0.8 * best && others < 0.15) || budget == 0 {
            return p;
        }
        let pause = budget.min(2_000);
        std::thread::sleep(Duration::from_millis(pause));
        WAIT_BUDGET_MS.fetch_sub(pause, Ordering::Relaxed);
        WAITED_MS.fetch_add(pause, Ordering::Relaxed);
    }
}

/// The share of the machine's CPU that other programs keep busy while this run is idle, measured
/// over `span`.
fn others_busy(span: Duration) -> f64 {
    let a = cpu_stat();
    std::thread::sleep(span);
    let b = cpu_stat();
    (b.busy - a.busy) as f64 / (b.total - a.total).max(1) as f64
}

/// How fast the machine is right now: a fixed integer loop on every core at once, in loop
/// iterations per second (all cores together). On a shared host the same work sometimes takes
/// twice as long, without the guest seeing it as steal; runs taken during such a spell show it.
fn probe() -> f64 {
    let n = PROBE_ITERATIONS.load(Ordering::Relaxed);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let start = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|i| {
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ i as u64;
                for _ in 0..n {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
                std::hint::black_box(x)
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    (n * cores as u64) as f64 / start.elapsed().as_secs_f64()
}

/// Jiffies of all CPUs from the first line of /proc/stat.
struct CpuStat {
    busy: u64,
    steal: u64,
    total: u64,
}

fn cpu_stat() -> CpuStat {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    CpuStat { busy: at(0) + at(1) + at(2) + at(5) + at(6), steal: at(7), total: (0..8).map(at).sum() }
}

/// CPU time of this process and of its children that have been waited for (wrk, the drivers).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(14) + get(15) + get(16) + get(17)) / ticks_per_second()
}

fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| command_line("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0))
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn wait_until(addr: SocketAddr, path: &str, limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = http(addr, "GET", path, None) {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(format!("http://{addr}{path} did not answer 200 within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body). Enough for control calls.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Vec<u8>), String> {
    let run = || -> std::io::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4).unwrap_or(raw.len());
        let status = std::str::from_utf8(&raw[..head_end.min(raw.len())])
            .ok()
            .and_then(|h| h.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((status, raw[head_end..].to_vec()))
    };
    run().map_err(|e| format!("{method} http://{addr}{path}: {e}"))
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

fn advance(addr: SocketAddr, seconds: u64) -> Result<(), String> {
    let (status, body) =
        http(addr, "POST", "/_sandbox/clock/advance", Some(&format!("{{\"seconds\": {seconds}}}")))?;
    if status != 200 {
        return Err(format!("clock/advance answered {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(())
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs one of this crate's drivers and returns the JSON it prints.
fn driver(me: &Path, args: &[String]) -> Result<Value, String> {
    let out = Command::new(me)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if !out.status.success() {
        return Err(format!("driver {} failed ({})", args[0], out.status));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("driver {}: {e}: {}", args[0], String::from_utf8_lossy(&out.stdout)))
}

/// The run with the highest throughput (its latencies go with it): a shared host only ever
/// slows a run down, so the best round is the closest to what the machine can do.
fn best_run(runs: &[Value]) -> Value {
    best_by(runs, "requestsPerSecond")
}

/// The run with the highest `key`.
fn best_by(runs: &[Value], key: &str) -> Value {
    runs.iter()
        .max_by(|a, b| a[key].as_f64().unwrap_or(0.0).total_cmp(&b[key].as_f64().unwrap_or(0.0)))
        .cloned()
        .unwrap_or(Value::Null)
}

fn check_driver(what: &str, v: &Value, failed: &str, problems: &mut Vec<String>) {
    if v[failed].as_u64().unwrap_or(1) > 0 {
        problems.push(format!("{what}: {} failed, first: {}", v[failed], v["firstFailure"]));
    }
}

fn check_wrk(what: &str, v: &Value, problems: &mut Vec<String>) {
    let e = &v["errors"];
    let sum: u64 =
        ["connect", "read", "write", "status", "timeout"].iter().filter_map(|k| e[k].as_u64()).sum();
    if sum > 0 || v["requests"].as_u64().unwrap_or(0) == 0 {
        problems.push(format!("{what}: {} requests, errors {e}", v["requests"]));
    }
}

// ---- wrk ----------------------------------------------------------------------------------------

struct Wrk {
    connections: u32,
    seconds: u64,
    script: PathBuf,
}

impl Wrk {
    fn command(&self, url: &str, script: &Path, seconds: u64) -> Result<Value, String> {
        let out = Command::new("wrk")
            .arg("-t1")
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{seconds}s"))
            .args(["--timeout", "5s", "-s"])
            .arg(script)
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("wrk: {e} (bench/run installs it)"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find_map(|l| l.strip_prefix("WRK_JSON ")).ok_or_else(|| {
            format!("wrk printed no result: {stdout} {}", String::from_utf8_lossy(&out.stderr))
        })?;
        let raw: Value = serde_json::from_str(line).map_err(|e| format!("wrk result: {e}: {line}"))?;
        let secs = raw["durationUs"].as_f64().unwrap_or(0.0) / 1e6;
        let requests = raw["requests"].as_f64().unwrap_or(0.0);
        let lat = &raw["latencyUs"];
        let ms = |k: &str| (lat[k].as_f64().unwrap_or(0.0)).round() / 1000.0;
        Ok(json!({
            "requestsPerSecond": if secs > 0.0 { (requests / secs).round() } else { 0.0 },
            "p50Ms": ms("p50"),
            "p90Ms": ms("p90"),
            "p99Ms": ms("p99"),
            "maxMs": ms("max"),
            "requests": raw["requests"],
            "seconds": secs,
            "errors": raw["errors"],
        }))
    }

    fn warm(&self, url: &str, seconds: u64) -> Result<(), String> {
        if seconds > 0 {
            self.command(url, &self.script, seconds)?;
        }
        Ok(())
    }

    fn run(&self, url: &str, script: &Path) -> Result<Value, String> {
        self.command(url, script, self.seconds)
    }
}

// ---- WireMock -------------------------------------------------------------------------------------

struct WireMock {
    proc: Proc,
    version: String,
}

impl WireMock {
    /// `java -jar wiremock-standalone.jar` on a loopback port with one stub: the certs document.
    fn start(jar: &Path, work: &Path, certs: &[u8]) -> Result<WireMock, String> {
        let root = work.join("wiremock");
        let mappings = root.join("mappings");
        std::fs::create_dir_all(&mappings).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(root.join("__files")).map_err(|e| e.to_string())?;
        let stub = json!({
            "request": {"method": "GET", "url": "/gateway/v0.5/certs"},
            "response": {
                "status": 200,
                "headers": {"Content-Type": "application/json"},
                "body": String::from_utf8_lossy(certs),
            },
        });
        std::fs::write(mappings.join("certs.json"), stub.to_string()).map_err(|e| e.to_string())?;
        let version = jar
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("wiremock-standalone-"))
            .and_then(|n| n.strip_suffix(".jar"))
            .unwrap_or("unknown")
            .to_string();
        let port = free_port()?;
        let start = Instant::now();
        let child = Command::new("java")
            .arg("-jar")
            .arg(jar)
            .args(["--port", &port.to_string(), "--bind-address", "127.0.0.1"])
            .arg("--root-dir")
            .arg(&root)
            // Everything it does not need here off: the journal, request logging, HTTP/2, gzip.
            .args([
                "--no-request-journal",
                "--disable-request-logging",
                "--disable-http2-plain",
                "--disable-gzip",
                "--disable-banner",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("java: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut proc = Proc { child, addr, ready: Duration::ZERO };
        wait_until(addr, "/gateway/v0.5/certs", Duration::from_secs(60))?;
        proc.ready = start.elapsed();
        Ok(WireMock { proc, version })
    }
}

// ---- the rest ---------------------------------------------------------------------------------------

fn conformance(sandbox: &Path) -> Result<Value, String> {
    let start = Instant::now();
    let out = Command::new(sandbox)
        .args(["check", "--no-color"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("check: {e}"))?;
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
    // "... in 546.7 ms: every mandatory step passed"
    let total = last
        .rsplit_once(" ms")
        .and_then(|(head, _)| head.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok());
    Ok(json!({
        "runnerTotalMs": total,
        "wallMs": stats::ms(wall),
        "summary": last,
        "exitCode": out.status.code(),
    }))
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().next().unwrap_or_default().trim().to_string()
        })
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let free =
        Command::new("free").arg("-h").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).to_string());
    let memory = free
        .as_deref()
        .and_then(|f| f.lines().find(|l| l.starts_with("Mem:")))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_string();
    json!({
        "nproc": command_line("nproc", &[]),
        "cpu": cpu,
        "memory": memory,
        "free": free.unwrap_or_default(),
        "kernel": command_line("uname", &["-r"]),
        "rustc": command_line("rustc", &["--version"]),
        "wrk": command_line("wrk", &["-v"]),
        "java": command_line("java", &["-version"]),
    })
}

fn git_commit() -> Value {
    let head = command_line("git", &["rev-parse", "--short", "HEAD"]);
    if head.is_empty() {
        return Value::Null;
    }
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    json!(if dirty { format!("{head} (with uncommitted changes)") } else { head })
}
