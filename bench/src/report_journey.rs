//! The second half's part of the report: its tables in the generated section of BENCHMARKS.md
//! (each figure beside its reference and the ratio) and its targets.

use serde_json::{json, Value};

use crate::format::{cpu_per, f, mb, num, target, x};

fn ratio(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => json!(a / b),
        _ => Value::Null,
    }
}

/// Server CPU seconds per operation over every round of a measurement.
fn cpu_each(v: &Value, count: &str) -> Option<f64> {
    let runs = v["rounds"].as_array()?;
    let cpu: f64 = runs.iter().filter_map(|r| r["serverCpuSeconds"].as_f64()).sum();
    let n: f64 = runs.iter().filter_map(|r| r[count].as_f64()).sum();
    (n > 0.0).then(|| cpu / n)
}

/// Sessions per second the machine's cores could sign with aws-lc, nothing else running.
fn signing_ceiling(r: &Value) -> Option<f64> {
    let cores = r["machine"]["nproc"].as_str().and_then(|n| n.parse::<f64>().ok()).unwrap_or(1.0);
    f(&r["signing"]["awsLc"]["perSecond"]).map(|s| s * cores)
}

fn sessions_per_second(r: &Value) -> Option<f64> {
    f(&r["sandbox"]["sessions"]["requestsPerSecond"])
}

/// The second half's ratios, for the results JSON.
pub fn ratios(r: &Value) -> Value {
    let fid = &r["fidelius"];
    let per_cpu = |who: &str, op: &str| f(&fid[who][op]["perCpuSecond"]);
    let process = |who: &str| f(&fid["processes"][who]["wallMsMedian"]);
    let process_cpu = |who: &str| f(&fid["processes"][who]["cpuMsMedian"]);
    json!({
        "sessionsOverSigningCeiling": ratio(sessions_per_second(r), signing_ceiling(r)),
        "sessionsOverCerts": ratio(sessions_per_second(r), f(&r["sandbox"]["certs"]["requestsPerSecond"])),
        "signingAwsLcOverRustCrypto": ratio(f(&r["signing"]["awsLc"]["perSecond"]), f(&r["signing"]["rustCrypto"]["perSecond"])),
        "fideliusEncryptOursOverJar": ratio(per_cpu("ours", "encrypt"), per_cpu("java", "encrypt")),
        "fideliusDecryptOursOverJar": ratio(per_cpu("ours", "decrypt"), per_cpu("java", "decrypt")),
        "fideliusEncryptOursOverPython": ratio(per_cpu("ours", "encrypt"), per_cpu("python", "encrypt")),
        "fideliusDecryptOursOverPython": ratio(per_cpu("ours", "decrypt"), per_cpu("python", "decrypt")),
        "fideliusProcessWallOursOverJar": ratio(process("ours"), process("java")),
        "fideliusProcessCpuOursOverJar": ratio(process_cpu("ours"), process_cpu("java")),
        "dataflowOverShare": ratio(f(&r["dataflow"]["perSecond"]), f(&r["share"]["perSecond"])),
        "shareV3OverV05": r["shareRatios"]["perSecond"]["median"],
        "shareV3OverV05ServerCpu": r["shareRatios"]["serverCpuPerRoundTrip"]["median"],
        "hiuOverDataflow": ratio(f(&r["hiu"]["perSecond"]), f(&r["dataflow"]["perSecond"])),
        "idleWorkspaceOverServerIdle": ratio(
            f(&r["workspaces"]["idle"]["perWorkspaceKb"]),
            f(&r["workspaces"]["idle"]["rssBeforeKb"])),
    })
}

/// The second half's targets (`met` null when not measured).
pub fn targets(r: &Value) -> Vec<Value> {
    let fmt = |v: Option<f64>, unit: &str, digits: usize| match v {
        Some(v) => format!("{v:.digits$}{unit}"),
        None => "not measured".to_string(),
    };
    let sessions = sessions_per_second(r);
    let flows = f(&r["dataflow"]["perSecond"]);
    let flow_cpu = cpu_each(&r["dataflow"], "roundTrips").map(|s| s * 1e3);
    let v3_cpu = f(&r["shareRatios"]["serverCpuPerRoundTrip"]["median"]);
    let v3_rate = f(&r["shareRatios"]["perSecond"]["median"]);
    let idle = f(&r["workspaces"]["idle"]["perWorkspaceKb"]);
    let ceiling = ratio(sessions, signing_ceiling(r));
    let state_ratio = ratio(f(&r["hpr"]["withState"]["flowsPerSecond"]), f(&r["hpr"]["flowsPerSecond"]));
    let state = f(&state_ratio);
    vec![
        target(
            "state-cost",
            "HPR flows/s with `serve --state FILE` against without: what keeping state costs",
            "< 20 %",
            json!(state),
            format!(
                "{} flows/s ({} the flows/s without)",
                state.map_or("not measured".to_string(), |s| format!("{:+.1} %", (s - 1.0) * 100.0)),
                x(&state_ratio)
            ),
            state.map(|s| s > 0.8),
        ),
        target(
            "sessions",
            "sessions/s (each signs an RS256 access token)",
            "≥ 5,000/s",
            json!(sessions),
            format!("{} ({} of what the cores can sign)", fmt(sessions, "/s", 0), x(&ceiling)),
            sessions.map(|v| v >= 5000.0),
        ),
        target(
            "dataflow-rate",
            "data-flow round trips/s (HIP, 20 KB bundle, 32 in flight)",
            "≥ 1,000/s",
            json!(flows),
            fmt(flows, "/s", 0),
            flows.map(|v| v >= 1000.0),
        ),
        target(
            "dataflow-cpu",
            "server CPU per data-flow round trip",
            "≤ 1 ms",
            json!(flow_cpu),
            fmt(flow_cpu, " ms", 2),
            flow_cpu.map(|v| v <= 1.0),
        ),
        target(
            "v3-envelope",
            "v3 share round trip against v0.5's: what the envelope costs (server CPU per round trip)",
            "< 10 %",
            json!({"serverCpu": v3_cpu, "perSecond": v3_rate}),
            format!(
                "{} server CPU ({} throughput)",
                fmt(v3_cpu.map(|c| (c - 1.0) * 100.0), " %", 1),
                fmt(v3_rate.map(|c| (c - 1.0) * 100.0), " %", 1)
            ),
            v3_cpu.map(|c| c < 1.10),
        ),
        target(
            "idle-workspace",
            "RSS per idle workspace",
            "< 200 KB",
            json!(idle),
            fmt(idle, " KB", 0),
            idle.map(|v| v < 200.0),
        ),
    ]
}

fn per_second(v: &Value) -> String {
    format!("{} /s", num(v, 0))
}

/// The second half's tables.
pub fn section(r: &Value) -> String {
    let mut out = String::new();
    let s = &r["settings"];
    let rounds = format!("best of {} rounds × {} s", s["journeyRounds"], s["journeyRoundSeconds"]);
    // -- sessions ---------------------------------------------------------------------------------
    let se = &r["sandbox"]["sessions"];
    let sig = &r["signing"];
    out += "\nSessions against what the machine can sign (RS256 with the 2048-bit gateway key):\n\n";
    out += "| measurement | per second | server CPU per session | reference | ratio |\n|---|---:|---:|---|---:|\n";
    out += &format!(
        "| `POST /gateway/v0.5/sessions`, wrk as for certs | {} | {} | the cores' RS256 signing with aws-lc (one thread's rate × cores): {} /s | {} |\n",
        num(&se["requestsPerSecond"], 0),
        cpu_per(se, &se["requests"]),
        num(&json!(signing_ceiling(r)), 0),
        x(&r["ratios"]["sessionsOverSigningCeiling"]),
    );
    out += &format!(
        "| RS256 signature, aws-lc (the sandbox's signer), one thread | {} | | RustCrypto `rsa` (jsonwebtoken's `rust_crypto`, the signer before), one thread: {} /s | {} |\n",
        num(&sig["awsLc"]["perSecond"], 0),
        num(&sig["rustCrypto"]["perSecond"], 0),
        x(&r["ratios"]["signingAwsLcOverRustCrypto"]),
    );
    out += &format!(
        "| sessions against `GET certs` (a static answer, above) | {} | | {} /s | {} |\n",
        num(&se["requestsPerSecond"], 0),
        num(&r["sandbox"]["certs"]["requestsPerSecond"], 0),
        x(&r["ratios"]["sessionsOverCerts"]),
    );
    // -- Fidelius ---------------------------------------------------------------------------------
    let fid = &r["fidelius"];
    out += &format!(
        "\nFidelius: encrypt (a fresh key pair and nonce, ECDH, HKDF, AES-GCM of the {} byte bundle) and decrypt (each ciphertext from its own sender key), one thread each, {} s per operation after a warm-up ({} s for the JVM). Per core: operations per CPU second of the whole process (the JVM's include its JIT compiler and collector).\n\n",
        num(&fid["ours"]["bytes"], 0),
        fid["seconds"],
        fid["javaWarmupSeconds"],
    );
    out += "| implementation | encrypt per core | decrypt per core | encrypt/s (wall) | decrypt/s (wall) | the sandbox's against it (encrypt, decrypt) |\n|---|---:|---:|---:|---:|---:|\n";
    let xr = &r["ratios"];
    for (key, name, ratios) in [
        ("ours", "abdm-sandbox's module (Rust, `abdm_server::fidelius`)", (Value::Null, Value::Null)),
        (
            "java",
            "fidelius-cli 1.2.0 jar (BouncyCastle 1.71), in-process in one warmed JVM",
            (xr["fideliusEncryptOursOverJar"].clone(), xr["fideliusDecryptOursOverJar"].clone()),
        ),
        (
            "python",
            "abdm-ecdh 1.1.0 (Python)",
            (xr["fideliusEncryptOursOverPython"].clone(), xr["fideliusDecryptOursOverPython"].clone()),
        ),
    ] {
        let v = &fid[key];
        if v.is_null() {
            out += &format!("| {name} | not measured in this run | | | | |\n");
            continue;
        }
        let against =
            if key == "ours" { String::new() } else { format!("{}, {}", x(&ratios.0), x(&ratios.1)) };
        out += &format!(
            "| {name} | {} | {} | {} | {} | {against} |\n",
            num(&v["encrypt"]["perCpuSecond"], 1),
            num(&v["decrypt"]["perCpuSecond"], 1),
            num(&v["encrypt"]["perSecond"], 1),
            num(&v["decrypt"]["perSecond"], 1),
        );
    }
    let pr = &fid["processes"];
    out += &format!(
        "\nOne encrypt process of the bundle, as integrators call them from Node and Python (median of {} runs each): `abdm-sandbox fidelius encrypt` {} ms wall, {} ms CPU; fidelius-cli's `java` process {} ms wall, {} ms CPU: the jar's process takes {} the wall time and {} the CPU.\n",
        pr["runs"],
        num(&pr["ours"]["wallMsMedian"], 1),
        num(&pr["ours"]["cpuMsMedian"], 1),
        num(&pr["java"]["wallMsMedian"], 0),
        num(&pr["java"]["cpuMsMedian"], 0),
        times(&xr["fideliusProcessWallOursOverJar"]),
        times(&xr["fideliusProcessCpuOursOverJar"]),
    );
    // -- round trips --------------------------------------------------------------------------------
    out += &format!(
        "\nRound trips through the driver's own HIP or HIU, {} in flight ({rounds}):\n\n",
        s["journeyConcurrency"]
    );
    out += "| round trip | per second | p50 | p99 | server CPU per round trip | reference | ratio |\n|---|---:|---:|---:|---:|---|---:|\n";
    let (d, sh, v3, h) = (&r["dataflow"], &r["share"], &r["shareV3"], &r["hiu"]);
    let row = |name: &str, v: &Value, reference: String, ratio: &Value| {
        format!(
            "| {name} | {} | {} ms | {} ms | {} | {reference} | {} |\n",
            per_second(&v["perSecond"]),
            num(&v["latencyMs"]["p50"], 2),
            num(&v["latencyMs"]["p99"], 2),
            cpu_each(v, "roundTrips")
                .map_or("—".to_string(), |c| format!("{} µs", num(&json!(c * 1e6), 0))),
            x(ratio),
        )
    };
    out += &row(
        "data flow, HIP: grant → consent notify → on-notify → HI request → on-request → 20 KB bundle encrypted and pushed, decrypted and checked → transfer notify",
        d,
        format!("v0.5 share round trip: {}", per_second(&sh["perSecond"])),
        &xr["dataflowOverShare"],
    );
    out += &row(
        "share, v3 envelope (headers `REQUEST-ID`, `TIMESTAMP`, `X-CM-ID`, `X-HIP-ID`; `response`)",
        v3,
        format!(
            "v0.5, same driver, rounds in turn: {}; server CPU ratio {}",
            per_second(&sh["perSecond"]),
            x(&xr["shareV3OverV05ServerCpu"])
        ),
        &xr["shareV3OverV05"],
    );
    out += &row(
        "HIU: consent request → on-init → grant → notify → on-notify → fetch → on-fetch → HI request → on-request → the sandbox encrypts and pushes the 20 KB bundle, the HIU decrypts it → notify",
        h,
        format!("the HIP data flow: {}", per_second(&d["perSecond"])),
        &xr["hiuOverDataflow"],
    );
    // -- workspaces ---------------------------------------------------------------------------------
    let ws = &r["workspaces"];
    out += "\nWorkspaces: full conformance suites (`abdm-sandbox check --gateway URL --workspace NAME`), that many processes at once against one server, each in its own workspace:\n\n";
    out += "| workspaces at once | suites | wall | suites/min | suite p50 (runner's total) | server CPU per suite | suites/min against 1 workspace |\n|---:|---:|---:|---:|---:|---:|---:|\n";
    let suites = ws["suites"].as_array().cloned().unwrap_or_default();
    let one = suites.first().and_then(|s| f(&s["suitesPerMinute"]));
    for v in &suites {
        out += &format!(
            "| {} | {} | {} s | {} | {} ms | {} ms | {} |\n",
            v["workspaces"],
            num(&v["suites"], 0),
            num(&v["seconds"], 1),
            num(&v["suitesPerMinute"], 0),
            num(&v["suiteMsMedian"], 0),
            num(&v["serverCpuMsPerSuite"], 0),
            x(&ratio(f(&v["suitesPerMinute"]), one)),
        );
    }
    for v in suites.iter().filter(|v| v["failed"].as_u64().unwrap_or(0) > 0) {
        let steps: Vec<String> = v["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["failedSteps"].as_object().cloned().unwrap_or_default())
            .map(|(step, n)| format!("{step} ({n}×)"))
            .collect();
        out += &format!(
            "\nWith {} at once, {} of the suites failed; the steps that failed: {}.\n",
            v["workspaces"],
            v["failed"],
            steps.join("; ")
        );
    }
    let idle = &ws["idle"];
    out += &format!(
        "\nRSS per idle workspace: {} KB ({} workspaces created by `GET /w/NAME/_sandbox/health`, nothing else done in them: the server's RSS {} before, {} after; {} KB each over the second half), against the whole server's RSS before them, {}: each adds {} % of it.\n",
        num(&idle["perWorkspaceKb"], 0),
        num(&idle["workspaces"], 0),
        mb(&idle["rssBeforeKb"]),
        mb(&idle["rssAfterKb"]),
        num(&idle["perWorkspaceSecondHalfKb"], 0),
        mb(&idle["rssBeforeKb"]),
        num(&json!(f(&xr["idleWorkspaceOverServerIdle"]).map(|v| v * 100.0)), 2),
    );
    out
}

/// The inverse of a ratio below one, as "N×".
fn times(ratio: &Value) -> String {
    match ratio.as_f64() {
        Some(r) if r > 0.0 => format!("{}×", num(&json!(1.0 / r), 0)),
        _ => "—".to_string(),
    }
}

/// The second half's measurements that record the machine's state, for the report's summary of
/// it: every round of every driver.
pub fn measured_rounds(r: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for k in ["shareV3", "dataflow", "hiu"] {
        out.extend(r[k]["rounds"].as_array().cloned().unwrap_or_default());
    }
    for s in r["workspaces"]["suites"].as_array().into_iter().flatten() {
        out.extend(s["runs"].as_array().cloned().unwrap_or_default());
    }
    out
}
