//! Workspaces on one server: full conformance suites per minute with 1, 10 and 100 workspaces at
//! once (`abdm-sandbox check --gateway URL --workspace NAME`, each run in a workspace of its own,
//! as a team's CI jobs share a server), and the memory an idle workspace holds.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

use crate::procs::{http, json_of, with_cpu, Proc};

/// `waves` times over: `count` suites at once against one server, each in its own workspace,
/// until all have finished. Suites per minute over all waves; every suite must pass.
pub fn suites(
    sandbox: &Path,
    count: usize,
    waves: usize,
    problems: &mut Vec<String>,
) -> Result<Value, String> {
    let srv = Proc::sandbox(sandbox, &["--max-workspaces".as_ref(), "2000".as_ref()])?;
    let gateway = format!("http://{}", srv.addr);
    let mut runs = Vec::new();
    for wave in 0..waves.max(1) {
        let r = with_cpu(&srv, || wave_of(sandbox, &gateway, count, wave))?;
        if r["failed"].as_u64() != Some(0) {
            let steps =
                r["failedSteps"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join("; "));
            problems.push(format!(
                "workspaces: {count} suites at once: {} failed ({}), steps: {}",
                r["failed"],
                r["firstFailure"],
                steps.unwrap_or_default()
            ));
        }
        runs.push(r);
    }
    let suites: f64 = runs.iter().filter_map(|r| r["suites"].as_f64()).sum();
    let wall: f64 = runs.iter().filter_map(|r| r["seconds"].as_f64()).sum();
    let cpu: f64 = runs.iter().filter_map(|r| r["serverCpuSeconds"].as_f64()).sum();
    let mut suite_ms: Vec<f64> = runs
        .iter()
        .flat_map(|r| r["suiteMs"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_f64())
        .collect();
    suite_ms.sort_by(f64::total_cmp);
    let failed: u64 = runs.iter().filter_map(|r| r["failed"].as_u64()).sum();
    Ok(json!({
        "workspaces": count,
        "waves": runs.len(),
        "suites": suites,
        "failed": failed,
        "seconds": wall,
        "suitesPerMinute": if wall > 0.0 { suites / wall * 60.0 } else { 0.0 },
        "serverCpuSeconds": cpu,
        "serverCpuMsPerSuite": if suites > 0.0 { cpu / suites * 1e3 } else { 0.0 },
        "suiteMsMedian": suite_ms.get(suite_ms.len() / 2),
        "suiteMsMax": suite_ms.last(),
        "serverRssKb": srv.rss_kb(),
        "runs": runs,
    }))
}

/// One wave: `count` check processes started together; waits for all.
fn wave_of(sandbox: &Path, gateway: &str, count: usize, wave: usize) -> Result<Value, String> {
    let start = Instant::now();
    let mut children = Vec::new();
    for i in 0..count {
        let child = Command::new(sandbox)
            .args(["check", "--no-color", "--gateway", gateway, "--workspace"])
            .arg(format!("bench-{count}-{wave}-{i}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("check: {e}"))?;
        children.push(child);
    }
    let (mut failed, mut first, mut suite_ms) = (0, None, Vec::new());
    let mut steps: BTreeMap<String, usize> = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().map_err(|e| format!("check: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
        // "... in 546.7 ms: every mandatory step passed"
        let ms = last
            .rsplit_once(" ms")
            .and_then(|(h, _)| h.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok());
        suite_ms.extend(ms);
        if !out.status.success() {
            failed += 1;
            first.get_or_insert(last);
            for step in failed_steps(&stdout) {
                *steps.entry(step).or_default() += 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({"suites": count, "failed": failed, "firstFailure": first, "failedSteps": steps,
        "seconds": seconds, "suiteMs": suite_ms}))
}

/// The steps a runner's output reports failed: `scenario: step: the first line of why`.
fn failed_steps(stdout: &str) -> Vec<String> {
    let lines: Vec<&str> = stdout.lines().collect();
    let mut scenario = "";
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // A scenario's heading: "id — title (file)", not indented.
        if !line.starts_with(' ') && line.contains(" — ") {
            scenario = line.split(" — ").next().unwrap_or_default();
        }
        let Some(rest) = line.trim_start().strip_prefix("FAIL ") else { continue };
        // "S.No 3    Mandatory The step's name      12.3 ms"
        let rest = rest.trim();
        let step =
            rest.strip_suffix(" ms").and_then(|r| r.rsplit_once(' ')).map_or(rest, |(r, _)| r.trim_end());
        let why: String = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default().chars().take(200).collect();
        out.push(format!("{scenario}: {step}: {why}"));
    }
    out
}

/// RSS of a fresh server (`default` touched), then with `count / 2` and `count` idle workspaces
/// (each created by `GET /w/{name}/_sandbox/health`, nothing else done in it), a second after
/// the last: the memory one idle workspace holds.
pub fn idle_rss(sandbox: &Path, count: usize) -> Result<Value, String> {
    let max = (count + 10).to_string();
    let srv = Proc::sandbox(sandbox, &["--max-workspaces".as_ref(), max.as_ref()])?;
    let touch = |i: usize| -> Result<(), String> {
        let (status, body) = http(srv.addr, "GET", &format!("/w/idle-{i}/_sandbox/health"), None)?;
        if status != 200 {
            return Err(format!("workspace idle-{i}: {status} {}", String::from_utf8_lossy(&body)));
        }
        Ok(())
    };
    http(srv.addr, "GET", "/_sandbox/health", None)?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    let rss0 = srv.rss_kb();
    let half = count / 2;
    for i in 0..half {
        touch(i)?;
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let rss_half = srv.rss_kb();
    for i in half..count {
        touch(i)?;
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let rss_all = srv.rss_kb();
    let listed = json_of(&http(srv.addr, "GET", "/_sandbox/workspaces", None)?.1);
    let per =
        |kb: u64, base: u64, n: usize| if n > 0 { kb.saturating_sub(base) as f64 / n as f64 } else { 0.0 };
    Ok(json!({
        "workspaces": count,
        "listed": listed["live"],
        "rssBeforeKb": rss0,
        "rssHalfKb": rss_half,
        "rssAfterKb": rss_all,
        "perWorkspaceKb": per(rss_all, rss0, count),
        "perWorkspaceSecondHalfKb": per(rss_all, rss_half, count - half),
    }))
}

#[cfg(test)]
mod tests {
    use super::failed_steps;

    #[test]
    fn failed_steps_name_the_scenario_the_step_and_why() {
        let out = "run\n\nshare-profile-hip-qr — Profile share (scenarios/s.yaml)\n  PASS   S.No 1    Mandatory First      1.0 ms\n  FAIL   S.No 2    Mandatory The HIP answers on-share     30012.5 ms\n         no on-share within 30 s\n  1 passed, 1 failed\n";
        assert_eq!(
            failed_steps(out),
            ["share-profile-hip-qr: S.No 2    Mandatory The HIP answers on-share: no on-share within 30 s"]
        );
    }
}
