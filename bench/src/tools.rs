//! The outside programs a benchmark run drives or compares against: wrk, WireMock, the
//! conformance runner, and what the report says of the machine and the commit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::procs::*;
use crate::stats;

// ---- wrk ----------------------------------------------------------------------------------------

pub(crate) struct Wrk {
    pub(crate) connections: u32,
    pub(crate) seconds: u64,
    pub(crate) script: PathBuf,
}

impl Wrk {
    pub(crate) fn command(&self, url: &str, script: &Path, seconds: u64) -> Result<Value, String> {
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

    pub(crate) fn warm(&self, url: &str, seconds: u64) -> Result<(), String> {
        if seconds > 0 {
            self.command(url, &self.script, seconds)?;
        }
        Ok(())
    }

    pub(crate) fn run(&self, url: &str, script: &Path) -> Result<Value, String> {
        self.command(url, script, self.seconds)
    }
}

// ---- WireMock -------------------------------------------------------------------------------------

pub(crate) struct WireMock {
    pub(crate) proc: Proc,
    pub(crate) version: String,
}

impl WireMock {
    /// `java -jar wiremock-standalone.jar` on a loopback port with one stub: the certs document.
    pub(crate) fn start(jar: &Path, work: &Path, certs: &[u8]) -> Result<WireMock, String> {
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

pub(crate) fn conformance(sandbox: &Path) -> Result<Value, String> {
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

pub(crate) fn machine() -> Value {
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

pub(crate) fn git_commit() -> Value {
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
