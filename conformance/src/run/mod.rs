//! Running scenarios. The runner plays the roles the target does not: against a gateway (the
//! embedded fake, a running fake, or a real sandbox) it is the client, the HIP and the HIU, sends
//! their messages and waits, at its own inbox, for the gateway's callbacks; against a HIP, a HIU
//! or a client program it hosts the gateway and finds their traffic in the sandbox's journal (a
//! HIU, driven by its own harness, is started at each scenario's `start` step).
//!
//! One file per concern: the result tree ([`RunReport`]), the typed [`Failure`], one step's
//! phases (`step`), one file per transport (`send`, `inbox`, `observe`), starting a target
//! (`start`) and the checks (`assert`).

mod assert;
mod exchange;
mod failure;
mod inbox;
mod observe;
mod result;
mod send;
mod start;
mod step;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::scenario::template::{render, Vars};
pub use crate::scenario::Mode;
use crate::scenario::{Role, Scenario};
pub use failure::{Failure, FailureKind};
use result::ms;
pub use result::{Outcome, RunReport, ScenarioResult, StepResult};

/// The OTP the runner says it sent the patient when it plays the HIP in user-initiated linking
/// (`{{target.linkOtp}}` against a gateway).
pub const RUNNER_LINK_OTP: &str = "112233";

/// The path of the push URL the runner gives in its HI requests when it plays the HIU
/// (`{{target.hiuPushPath}}` against a gateway).
pub const RUNNER_PUSH_PATH: &str = "/data-push";

/// Where the scenarios run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The root URL every family's prefix goes under (`http://127.0.0.1:8090`).
    pub base: String,
    /// Whether the target is this sandbox (its control API: reset, outbox, clock, journal).
    pub sandbox: bool,
    /// Credentials and other values scenarios read as `{{target.*}}` (`clientId`, `clientSecret`,
    /// `hipId`, `hiuClientId`, `hiuClientSecret`, `hiuId`, `apiKey`, `linkOtp`: the OTP a HIP
    /// under test sent the patient, `hiuPushPath`: the path of a HIU's push URL).
    pub values: Value,
    /// The fixtures scenarios read as `{{fixture.*}}`.
    pub fixture: Value,
    /// Shown in reports.
    pub name: String,
    /// Which role is under test.
    pub mode: Mode,
    /// In HIP or HIU mode: the URL of the HIP or HIU under test, registered as the bridge
    /// (`{{inbox.url}}`) instead of the runner's inbox.
    pub hip_url: Option<String>,
    /// How many times a step's `within` to wait for a message (1: as written); more for a
    /// busy shared server, whose callbacks queue behind other teams'.
    pub patience: f64,
}

/// How a target that its own test harness drives is started (`check --hiu-start CMD`): at each
/// `start` step the runner runs `command` with `sh -c`, the sandbox's URLs, the target's
/// credentials and the step's values in its environment, and waits for it.
#[derive(Debug, Clone)]
pub struct Harness {
    /// The shell command.
    pub command: String,
    /// How long it may run.
    pub timeout: Duration,
}

/// Runs scenarios against the target. The runner plays the roles the target does not:
/// against a gateway it is the client and the HIP (the gateway's callbacks come to its inbox);
/// against a HIP or a client program it hosts the gateway and finds their traffic in the journal.
pub async fn run(scenarios: &[Scenario], target: &Target) -> std::io::Result<RunReport> {
    run_with(scenarios, target, None).await
}

/// [`run`] with the harness that starts the target at the scenarios' `start` steps (a HIU under
/// test); without one those steps fail, saying so.
pub async fn run_with(
    scenarios: &[Scenario],
    target: &Target,
    harness: Option<&Harness>,
) -> std::io::Result<RunReport> {
    let inbox = inbox::start().await?;
    // An idle pooled connection is dropped after 4 s, before a server with the common 5 s
    // keep-alive closes it: reusing one the server is closing fails the request ("connection
    // closed before message completed").
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(4))
        .build()
        .map_err(std::io::Error::other)?;
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut results = Vec::new();
    for s in scenarios {
        // A client program's traffic is recorded once, before judging: never reset it away.
        if target.sandbox && target.mode != Mode::Client {
            let _ = http.post(format!("{}/_sandbox/reset", target.base)).send().await;
        }
        inbox.inbox.next_scenario();
        results.push(run_scenario(s, target, harness, &http, &inbox).await);
        if target.sandbox && target.mode == Mode::Hiu {
            settle(&http, &target.base).await;
        }
    }
    inbox.stop().await;
    Ok(RunReport { target: target.name.clone(), started_at, duration_ms: ms(started), scenarios: results })
}

/// How long the journal must stay quiet for a HIU to have finished what it was doing.
const QUIET: Duration = Duration::from_secs(1);
/// How long to wait for that at most.
const SETTLE_AT_MOST: Duration = Duration::from_secs(20);

/// Waits until the sandbox's journal has been quiet for [`QUIET`] (at most
/// [`SETTLE_AT_MOST`]): a HIU under test may still be working on artefacts a scenario did not
/// judge (a second transfer), and what it sends after the reset would be taken for the next
/// scenario's traffic.
async fn settle(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    let (mut seen, mut quiet_since) = (0u64, Instant::now());
    while started.elapsed() < SETTLE_AT_MOST {
        let url = format!("{base}/_sandbox/journal?since={seen}");
        let latest = match http.get(url).send().await {
            Ok(res) => res.json::<Value>().await.ok().and_then(|v| {
                v.as_array().and_then(|items| items.iter().filter_map(|e| e["seq"].as_u64()).max())
            }),
            Err(_) => return,
        };
        match latest {
            Some(seq) if seq > seen => {
                seen = seq;
                quiet_since = Instant::now();
            }
            _ if quiet_since.elapsed() >= QUIET => return,
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`run`] with the target as a gateway (the mode of `check --gateway`).
pub async fn run_against_gateway(scenarios: &[Scenario], target: &Target) -> std::io::Result<RunReport> {
    run(scenarios, target).await
}

async fn run_scenario(
    s: &Scenario,
    target: &Target,
    harness: Option<&Harness>,
    http: &reqwest::Client,
    inbox: &inbox::Running,
) -> ScenarioResult {
    let started = Instant::now();
    let mut ctx = step::Context {
        target,
        harness,
        http,
        inbox,
        watcher: observe::Watcher::new(&target.base, http.clone()),
        file: s.file.clone(),
        vars: scenario_vars(s, target, inbox),
        captured_by: BTreeMap::new(),
        not_passed: BTreeSet::new(),
        manual: BTreeSet::new(),
        not_applicable: BTreeSet::new(),
    };
    let mut steps = Vec::new();
    for step in &s.steps {
        let mut step = step.clone();
        // The scenario's headers go with every request the runner sends; a step's own win.
        if let Some(r) = step.request.as_mut().filter(|_| step.from != Role::Gateway) {
            for (k, v) in &s.headers {
                if !r.headers.keys().any(|h| h.eq_ignore_ascii_case(k)) {
                    r.headers.insert(k.clone(), v.clone());
                }
            }
        }
        let result = step::run_step(&step, &mut ctx).await;
        ctx.record(&step, &result);
        steps.push(result);
    }
    ScenarioResult {
        id: s.id.clone(),
        title: s.title.clone(),
        file: s.file.clone(),
        source: s.source.clone(),
        tags: s.tags.clone(),
        duration_ms: ms(started),
        steps,
    }
}

/// The names a scenario's templates start from: the built-ins, then its own vars.
fn scenario_vars(s: &Scenario, target: &Target, inbox: &inbox::Running) -> Vars {
    let mut vars: Vars = BTreeMap::new();
    vars.insert("fixture".into(), target.fixture.clone());
    let mut values = target.values.clone();
    // Against a gateway the runner plays the HIP, so it knows the OTP "its" patient is sent when
    // linking records; against a HIP only the HIP does (`check --link-otp`).
    // Likewise the path it has data pushed to when it plays the HIU.
    if let Some(v) = values.as_object_mut().filter(|_| target.mode == Mode::Gateway) {
        if v.get("linkOtp").is_none_or(Value::is_null) {
            v.insert("linkOtp".into(), json!(RUNNER_LINK_OTP));
        }
        if v.get("hiuPushPath").is_none_or(Value::is_null) {
            v.insert("hiuPushPath".into(), json!(RUNNER_PUSH_PATH));
        }
    }
    vars.insert("target".into(), values);
    // Where the gateway's messages for the role under test go: the runner's inbox, or the HIP
    // or HIU under test.
    let bridge = target.hip_url.clone().unwrap_or_else(|| inbox.scenario_url());
    vars.insert("inbox".into(), json!({"url": bridge}));
    for (k, v) in &s.vars {
        let rendered = render(v, &vars).unwrap_or_else(|_| v.clone());
        vars.insert(k.clone(), rendered);
    }
    vars
}
