//! `abdm-sandbox check` and `abdm-sandbox scenarios`.

use std::path::PathBuf;
use std::process::ExitCode;

use abdm_conformance::run::Target;
use abdm_conformance::scenario::{load_dir, Scenario};
use abdm_conformance::{report, sandbox_target};
use serde_json::json;

use crate::{CheckArgs, Select};

/// Where scenarios are found: the flag, else `./scenarios`, else the repository's.
fn scenario_dir(flag: &Option<PathBuf>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.clone();
    }
    let local = PathBuf::from("scenarios");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
    }
}

/// The selected scenarios, or exit code 2 with every problem printed.
fn select(s: &Select) -> Result<Vec<Scenario>, ExitCode> {
    let dir = scenario_dir(&s.scenarios);
    let all = load_dir(&dir).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("abdm-sandbox: {} problem(s) in the scenario files; nothing was run", errors.len());
        ExitCode::from(2)
    })?;
    for id in &s.ids {
        if !all.iter().any(|x| &x.id == id) {
            eprintln!(
                "abdm-sandbox: no scenario {id:?} in {} (abdm-sandbox scenarios lists them)",
                dir.display()
            );
            return Err(ExitCode::from(2));
        }
    }
    let chosen: Vec<Scenario> = all
        .into_iter()
        .filter(|x| s.ids.is_empty() || s.ids.contains(&x.id))
        .filter(|x| s.tags.is_empty() || s.tags.iter().any(|t| x.tags.contains(t)))
        .collect();
    if chosen.is_empty() {
        eprintln!("abdm-sandbox: no scenario matches the selection");
        return Err(ExitCode::from(2));
    }
    Ok(chosen)
}

/// `abdm-sandbox scenarios`: the selected scenarios' ids, step counts, tags and titles.
pub fn list(s: Select) -> ExitCode {
    match select(&s) {
        Ok(scenarios) => {
            println!("{:<34} {:>5}  {:<40} TITLE", "ID", "STEPS", "TAGS");
            for x in scenarios {
                println!("{:<34} {:>5}  {:<40} {}", x.id, x.steps.len(), x.tags.join(","), x.title);
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `abdm-sandbox check`: runs the selected scenarios against the target and writes the reports.
pub async fn check(mut args: CheckArgs) -> ExitCode {
    if args.hip.is_some() && args.select.ids.is_empty() && args.select.tags.is_empty() {
        // The HIP's scenarios in its version, and those of its data flow (consents, transfers),
        // tagged apart so that either can be run alone with --tag.
        let tag = args.hip_version.tag("hip");
        args.select.tags.push(tag.clone());
        args.select.tags.push(format!("{tag}-dataflow"));
    }
    if args.hiu.is_some() && args.select.ids.is_empty() && args.select.tags.is_empty() {
        // The HIU's flows in its version: consent, fetch, HI request, decryption and notify.
        args.select.tags.push(args.hiu_version.tag("hiu"));
    }
    if args.client.is_some() && args.select.ids.is_empty() {
        eprintln!("abdm-sandbox: --client needs --scenario ID: the documented flow(s) to judge the client's traffic against");
        return ExitCode::from(2);
    }
    let scenarios = match select(&args.select) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut embedded = None;
    let mut harness = None;
    let target = if args.hip.is_some() || args.hiu.is_some() || args.client.is_some() {
        let addr = args.gateway_addr.unwrap_or_else(|| {
            let fixed = args.hip.is_some() || args.hiu.is_some();
            let default = if fixed { abdm_server::DEFAULT_ADDR } else { "127.0.0.1:0" };
            default.parse().expect("a valid default address")
        });
        let sandbox =
            match abdm_server::Sandbox::start(abdm_server::Config { addr, workers: 2, ..Default::default() })
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("abdm-sandbox: cannot start the gateway on {addr}: {e}");
                    return ExitCode::from(2);
                }
            };
        let mut t = abdm_conformance::embedded_target(&sandbox);
        print_hosted(&t, args.hiu.is_some());
        if let Some(hip) = &args.hip {
            t.mode = abdm_conformance::run::Mode::Hip;
            t.hip_url = Some(hip.trim_end_matches('/').to_string());
            t.name = format!("HIP at {hip} (gateway hosted at {})", t.base);
            // Only the HIP knows the OTP it sends the patient; without it the confirm steps of
            // user-initiated linking are checked by hand.
            if let Some(otp) = &args.link_otp {
                t.values["linkOtp"] = json!(otp);
            }
        }
        if let Some(hiu) = &args.hiu {
            // The HIU's URL is registered as the bridge of the HIU facility by the scenarios'
            // setup steps; the HIU is started, per scenario, by its own harness's command.
            t.mode = abdm_conformance::run::Mode::Hiu;
            t.hip_url = Some(hiu.trim_end_matches('/').to_string());
            t.name = format!("HIU at {hiu} (gateway hosted at {})", t.base);
            // Only the HIU knows where it has data pushed; without it the corrupt-entry steps
            // are checked by hand.
            if let Some(path) = &args.hiu_push_path {
                t.values["hiuPushPath"] = json!(path);
            }
            harness = args.hiu_start.clone().map(|command| abdm_conformance::run::Harness {
                command,
                timeout: std::time::Duration::from_secs(args.hiu_start_timeout),
            });
        }
        if let Some(cmd) = &args.client {
            t.mode = abdm_conformance::run::Mode::Client;
            t.name = format!("client `{cmd}` (gateway hosted at {})", t.base);
            if let Err(e) = run_client(cmd, &t, args.client_timeout).await {
                eprintln!("abdm-sandbox: {e}");
                sandbox.stop().await;
                return ExitCode::from(2);
            }
        }
        embedded = Some(sandbox);
        t
    } else if args.gateway == "embedded" {
        match abdm_server::Sandbox::start(abdm_server::Config { workers: 2, ..Default::default() }).await {
            Ok(s) => {
                let t = abdm_conformance::embedded_target(&s);
                embedded = Some(s);
                t
            }
            Err(e) => {
                eprintln!("abdm-sandbox: cannot start the embedded sandbox: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        match url_target(&args).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("abdm-sandbox: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let target = Target { patience: args.patience, ..target };
    let result = abdm_conformance::run::run_with(&scenarios, &target, harness.as_ref()).await;
    if let Some(s) = embedded {
        s.stop().await;
    }
    if let Some(ws) = target.base.split_once("/w/").map(|(_, ws)| ws).filter(|_| !args.keep_workspace) {
        // The run's workspace goes with the run, as CI jobs on a shared server expect.
        let url = format!("{}/_sandbox", target.base);
        if let Err(e) = reqwest::Client::new().delete(&url).send().await {
            eprintln!("abdm-sandbox: could not drop workspace {ws}: {e}");
        }
    }
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("abdm-sandbox: {e}");
            return ExitCode::from(2);
        }
    };
    // Colour only on a terminal, and never with --no-color or NO_COLOR set.
    if let Err(e) = report::write_terminal(&report, std::io::stdout(), !args.no_color) {
        eprintln!("abdm-sandbox: writing the report: {e}");
        return ExitCode::from(2);
    }
    for (path, text) in [
        (&args.json, report::json(&report)),
        (&args.junit, report::junit(&report)),
        (&args.html, report::html(&report)),
    ] {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("abdm-sandbox: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A gateway given by URL: this sandbox running elsewhere (its control API answers), or a real one.
async fn url_target(args: &CheckArgs) -> Result<Target, String> {
    let base = args.gateway.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(format!("--gateway {base:?}: give 'embedded' or an http(s) URL"));
    }
    let http = reqwest::Client::new();
    let fixtures = match http.get(format!("{base}/_sandbox/fixtures")).send().await {
        Ok(r) if r.status().is_success() => r.json::<abdm_server::Fixtures>().await.ok(),
        _ => None,
    };
    let mut target = match &fixtures {
        Some(f) => {
            // A running sandbox may be shared by a team: the run takes a workspace of its own.
            let name = args.workspace.clone().unwrap_or_else(|| {
                let id = uuid::Uuid::new_v4().simple().to_string();
                format!("check-{}", &id[..8])
            });
            let base = if name == "default" { base.clone() } else { format!("{base}/w/{name}") };
            sandbox_target(base, f, "sandbox")
        }
        None => Target {
            name: format!("gateway at {base}"),
            base: base.clone(),
            sandbox: false,
            values: json!({}),
            fixture: json!({}),
            mode: abdm_conformance::run::Mode::Gateway,
            hip_url: None,
            patience: 1.0,
        },
    };
    for (key, value) in [
        ("clientId", &args.client_id),
        ("clientSecret", &args.client_secret),
        ("apiKey", &args.api_key),
        ("hipId", &args.hip_id),
    ] {
        if let Some(v) = value {
            target.values[key] = json!(v);
        }
    }
    Ok(target)
}

/// What a HIP, a HIU or a client needs to talk to the hosted gateway.
fn print_hosted(t: &Target, hiu: bool) {
    let v = &t.values;
    let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let credentials = if hiu {
        format!(
            "HIU client id: {}  client secret: {}  HIU id: {}",
            s("hiuClientId"),
            s("hiuClientSecret"),
            s("hiuId")
        )
    } else {
        format!("client id: {}  client secret: {}  HIP id: {}", s("clientId"), s("clientSecret"), s("hipId"))
    };
    println!(
        "gateway hosted at {base}\n  gateway base: {base}/gateway   HIE-CM v3: {base}/api/hiecm   Carestack API_URL: {base}/carestack\n  {credentials}\n",
        base = t.base,
    );
}

/// Runs the client program with the sandbox in its environment and waits for it.
async fn run_client(cmd: &str, t: &Target, timeout: u64) -> Result<(), String> {
    let v = &t.values;
    let key = abdm_server::abha_public_key();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("SANDBOX_URL", &t.base)
        .env("API_URL", format!("{}/carestack", t.base))
        .env("GATEWAY_URL", format!("{}/gateway", t.base))
        .env("ABHA_PUBLIC_KEY", key)
        .env("CLIENT_ID", v["clientId"].as_str().unwrap_or(""))
        .env("CLIENT_SECRET", v["clientSecret"].as_str().unwrap_or(""))
        .env("CARESTACK_API_KEY", v["apiKey"].as_str().unwrap_or(""))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run the client `{cmd}`: {e}"))?;
    match tokio::time::timeout(std::time::Duration::from_secs(timeout), child.wait()).await {
        Ok(Ok(status)) => {
            if !status.success() {
                eprintln!("abdm-sandbox: the client exited with {status}; judging what it sent");
            }
            Ok(())
        }
        Ok(Err(e)) => Err(format!("waiting for the client: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            eprintln!("abdm-sandbox: the client ran over {timeout} s and was stopped; judging what it sent");
            Ok(())
        }
    }
}
