//! The processes a benchmark run starts and watches, and the machine they run on: servers killed
//! when dropped, CPU and RSS read from /proc, the speed probe that waits out slow spells, small
//! HTTP control calls, and the drivers of this crate run as children.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A server this run started; killed when dropped.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    /// From spawn until it answered.
    pub(crate) ready: Duration,
}

impl Proc {
    /// Spawns `cmd` and waits for the line with `marker` followed by the URL it listens on.
    pub(crate) fn spawn(mut cmd: Command, name: &str, marker: &str) -> Result<Proc, String> {
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
    pub(crate) fn sandbox(bin: &Path, extra: &[&std::ffi::OsStr]) -> Result<Proc, String> {
        let start = Instant::now();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--addr", "127.0.0.1:0"]).args(extra);
        let mut p = Proc::spawn(cmd, "abdm-sandbox", "listening on http://")?;
        wait_until(p.addr, "/_sandbox/health", Duration::from_secs(30))?;
        p.ready = start.elapsed();
        Ok(p)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn rss_kb(&self) -> u64 {
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
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(14) + get(15)) / ticks_per_second()
}

/// Runs one measurement and adds the server's CPU use during it: `serverCpuSeconds` and
/// `serverCores` (CPU seconds per wall second).
pub(crate) fn with_cpu(p: &Proc, f: impl FnOnce() -> Result<Value, String>) -> Result<Value, String> {
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
pub(crate) static PROBE_ITERATIONS: AtomicU64 = AtomicU64::new(50_000_000);
/// The fastest probe so far (iterations per second).
pub(crate) static BEST_PROBE: AtomicU64 = AtomicU64::new(0);
/// How long the run may still wait for the machine to come back to speed, and has waited (ms).
pub(crate) static WAIT_BUDGET_MS: AtomicU64 = AtomicU64::new(0);
pub(crate) static WAITED_MS: AtomicU64 = AtomicU64::new(0);

/// Probes the machine; while it runs below 80 % of the fastest probe so far (a slow spell of the
/// shared host) or other programs keep more than 15 % of it busy, waits and tries again, within
/// the run's waiting budget. Returns the last probe.
pub(crate) fn calm() -> f64 {
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
pub(crate) fn others_busy(span: Duration) -> f64 {
    let a = cpu_stat();
    std::thread::sleep(span);
    let b = cpu_stat();
    (b.busy - a.busy) as f64 / (b.total - a.total).max(1) as f64
}

/// How fast the machine is right now: a fixed integer loop on every core at once, in loop
/// iterations per second (all cores together). On a shared host the same work sometimes takes
/// twice as long, without the guest seeing it as steal; runs taken during such a spell show it.
pub(crate) fn probe() -> f64 {
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
pub(crate) struct CpuStat {
    pub(crate) busy: u64,
    pub(crate) steal: u64,
    pub(crate) total: u64,
}

pub(crate) fn cpu_stat() -> CpuStat {
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
pub(crate) fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (get(14) + get(15) + get(16) + get(17)) / ticks_per_second()
}

pub(crate) fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| command_line("getconf", &["CLK_TCK"]).parse().unwrap_or(100.0))
}

pub(crate) fn rss_kb(pid: u32) -> u64 {
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

pub(crate) fn wait_until(addr: SocketAddr, path: &str, limit: Duration) -> Result<(), String> {
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
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, Vec<u8>), String> {
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

pub(crate) fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

pub(crate) fn advance(addr: SocketAddr, seconds: u64) -> Result<(), String> {
    let (status, body) =
        http(addr, "POST", "/_sandbox/clock/advance", Some(&format!("{{\"seconds\": {seconds}}}")))?;
    if status != 200 {
        return Err(format!("clock/advance answered {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(())
}

pub(crate) fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Runs one of this crate's drivers and returns the JSON it prints.
pub(crate) fn driver(me: &Path, args: &[String]) -> Result<Value, String> {
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
pub(crate) fn best_run(runs: &[Value]) -> Value {
    best_by(runs, "requestsPerSecond")
}

/// The run with the highest `key`.
pub(crate) fn best_by(runs: &[Value], key: &str) -> Value {
    runs.iter()
        .max_by(|a, b| a[key].as_f64().unwrap_or(0.0).total_cmp(&b[key].as_f64().unwrap_or(0.0)))
        .cloned()
        .unwrap_or(Value::Null)
}

pub(crate) fn check_driver(what: &str, v: &Value, failed: &str, problems: &mut Vec<String>) {
    if v[failed].as_u64().unwrap_or(1) > 0 {
        problems.push(format!("{what}: {} failed, first: {}", v[failed], v["firstFailure"]));
    }
}

pub(crate) fn check_wrk(what: &str, v: &Value, problems: &mut Vec<String>) {
    let e = &v["errors"];
    let sum: u64 =
        ["connect", "read", "write", "status", "timeout"].iter().filter_map(|k| e[k].as_u64()).sum();
    if sum > 0 || v["requests"].as_u64().unwrap_or(0) == 0 {
        problems.push(format!("{what}: {} requests, errors {e}", v["requests"]));
    }
}

pub(crate) fn command_line(cmd: &str, args: &[&str]) -> String {
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
