//! Running scenarios. The runner plays the roles the target does not: against a gateway (the
//! embedded fake, a running fake, or a real sandbox) it is the client and the HIP, sends their
//! messages and waits, at its own inbox, for the gateway's callbacks.

pub mod assert;
pub mod inbox;
pub mod observe;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use serde_json_path::JsonPath;

pub use crate::scenario::model::Mode;
use crate::scenario::model::{Requirement, Role, Row, Scenario, Step};
use crate::scenario::template::{references, render, render_str, text, Vars};

/// Where the scenarios run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The root URL every family's prefix goes under (`http://127.0.0.1:8090`).
    pub base: String,
    /// Whether the target is this sandbox (its control API: reset, outbox, clock, journal).
    pub sandbox: bool,
    /// Credentials and other values scenarios read as `{{target.*}}`.
    pub values: Value,
    /// The fixtures scenarios read as `{{fixture.*}}`.
    pub fixture: Value,
    /// Shown in reports.
    pub name: String,
    /// Which role is under test.
    pub mode: Mode,
    /// In HIP mode: the HIP's URL, registered as the bridge instead of the runner's inbox.
    pub hip_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skipped,
    Manual,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub id: String,
    pub title: String,
    pub row: Row,
    pub from: Role,
    pub line: usize,
    pub outcome: Outcome,
    /// Why it failed, was skipped or is manual.
    pub reason: Option<String>,
    pub failures: Vec<String>,
    pub duration_ms: f64,
    /// What was sent or awaited.
    pub request: Option<Value>,
    /// What came back or arrived.
    pub response: Option<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub file: String,
    pub source: String,
    pub tags: Vec<String>,
    pub duration_ms: f64,
    pub steps: Vec<StepResult>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub target: String,
    pub started_at: String,
    pub duration_ms: f64,
    pub scenarios: Vec<ScenarioResult>,
}

impl StepResult {
    /// A step that fails the run: a mandatory one that did not pass (manual rows excepted).
    /// (Manual rows, and steps that do not apply to this target, do not.)
    pub fn blocks(&self) -> bool {
        let not_applicable = self.reason.as_deref().is_some_and(applies_not);
        self.row.requirement == Requirement::Mandatory
            && matches!(self.outcome, Outcome::Fail | Outcome::Skipped)
            && !(self.outcome == Outcome::Skipped && not_applicable)
    }
}

impl RunReport {
    /// Every mandatory step passed.
    pub fn passed(&self) -> bool {
        !self.scenarios.iter().flat_map(|s| &s.steps).any(StepResult::blocks)
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.scenarios.iter().flat_map(|s| &s.steps).filter(|s| s.outcome == outcome).count()
    }
}

const SANDBOX_ONLY: &str = "sandbox only";
const NOT_IN_MODE: &str = "not in this mode";

/// A skip reason that says the step does not apply to this target.
fn applies_not(reason: &str) -> bool {
    reason.starts_with(SANDBOX_ONLY) || reason.starts_with(NOT_IN_MODE)
}

/// Runs scenarios against the target. The runner plays the roles the target does not:
/// against a gateway it is the client and the HIP (the gateway's callbacks come to its inbox);
/// against a HIP or a client program it hosts the gateway and finds their traffic in the journal.
pub async fn run(scenarios: &[Scenario], target: &Target) -> std::io::Result<RunReport> {
    let inbox = inbox::start().await?;
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(std::io::Error::other)?;
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut results = Vec::new();
    for s in scenarios {
        // A client program's traffic is recorded once, before judging: never reset it away.
        if target.sandbox && target.mode != Mode::Client {
            let _ = http.post(format!("{}/_sandbox/reset", target.base)).send().await;
        }
        inbox.inbox.clear();
        results.push(run_scenario(s, target, &http, &inbox).await);
    }
    inbox.stop().await;
    Ok(RunReport { target: target.name.clone(), started_at, duration_ms: ms(started), scenarios: results })
}

/// [`run`] with the target as a gateway (the mode of `check --gateway`).
pub async fn run_against_gateway(scenarios: &[Scenario], target: &Target) -> std::io::Result<RunReport> {
    run(scenarios, target).await
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

async fn run_scenario(
    s: &Scenario,
    target: &Target,
    http: &reqwest::Client,
    inbox: &inbox::Running,
) -> ScenarioResult {
    let started = Instant::now();
    let mut vars: Vars = BTreeMap::new();
    vars.insert("fixture".into(), target.fixture.clone());
    vars.insert("target".into(), target.values.clone());
    // Where the gateway's messages for the HIP go: the runner's inbox, or the HIP under test.
    let bridge = target.hip_url.clone().unwrap_or_else(|| inbox.url.clone());
    vars.insert("inbox".into(), json!({"url": bridge}));
    for (k, v) in &s.vars {
        let rendered = render(v, &vars).unwrap_or_else(|_| v.clone());
        vars.insert(k.clone(), rendered);
    }
    let mut ctx = Context {
        target,
        http,
        inbox,
        watcher: observe::Watcher::new(&target.base, http.clone()),
        vars,
        captured_by: BTreeMap::new(),
        not_passed: BTreeSet::new(),
        not_applicable: BTreeSet::new(),
    };
    let mut steps = Vec::new();
    for step in &s.steps {
        let mut step = step.clone();
        if let Some(r) = step.request.as_mut().filter(|_| step.from != Role::Gateway) {
            for (k, v) in &s.headers {
                if !r.headers.keys().any(|h| h.eq_ignore_ascii_case(k)) {
                    r.headers.insert(k.clone(), v.clone());
                }
            }
        }
        let result = run_step(&step, &mut ctx).await;
        if result.outcome != Outcome::Pass {
            ctx.not_passed.insert(step.id.clone());
        }
        if result.outcome == Outcome::Skipped && result.reason.as_deref().is_some_and(applies_not) {
            ctx.not_applicable.insert(step.id.clone());
        }
        for name in step.capture.keys().chain(step.capture_sent.keys()) {
            ctx.captured_by.insert(name.clone(), step.id.clone());
        }
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

struct Context<'a> {
    target: &'a Target,
    http: &'a reqwest::Client,
    inbox: &'a inbox::Running,
    watcher: observe::Watcher,
    vars: Vars,
    /// Which step captures each name.
    captured_by: BTreeMap<String, String>,
    not_passed: BTreeSet<String>,
    /// Steps that did not apply to this target (sandbox-only against a real gateway, another
    /// mode's step).
    not_applicable: BTreeSet<String>,
}

/// The steps a step depends on: those it names in `needs`, and those whose captures it uses.
fn dependencies(step: &Step, captured_by: &BTreeMap<String, String>) -> Vec<String> {
    let mut deps = step.needs.clone();
    let mut values = Vec::new();
    if let Some(r) = &step.request {
        values.push(Value::String(r.path.clone()));
        values.extend(r.headers.values().map(|v| Value::String(v.clone())));
        values.extend(r.body.clone());
    }
    for a in step.expect.body.iter().chain(&step.sent) {
        values.extend(a.check.equals.clone());
    }
    for v in values {
        for name in references(&v).unwrap_or_default() {
            if let Some(id) = captured_by.get(&name) {
                if !deps.contains(id) {
                    deps.push(id.clone());
                }
            }
        }
    }
    deps
}

/// How the runner takes part in a step, given the mode.
enum Part {
    /// It sends the message and checks the answer.
    Send,
    /// It waits at its inbox for the gateway's message.
    Await,
    /// It finds the message in the sandbox's journal.
    Observe(observe::Direction),
    /// The step does not apply: the reason.
    NotApplicable(String),
}

fn part(step: &Step, mode: Mode) -> Part {
    if let Some(only) = step.mode {
        if only != mode {
            return Part::NotApplicable(
                format!("{NOT_IN_MODE} (only when the target is a {only:?})").to_lowercase(),
            );
        }
    }
    match (mode, step.from) {
        (Mode::Gateway, Role::Gateway) => Part::Await,
        (Mode::Gateway, _) => Part::Send,
        (Mode::Hip, Role::Client) => Part::Send,
        (Mode::Hip, Role::Hip) if step.setup => Part::Send,
        (Mode::Hip, Role::Hip) => Part::Observe(observe::Direction::Inbound),
        (Mode::Hip, Role::Gateway) => Part::Observe(observe::Direction::Outbound),
        (Mode::Client, Role::Client) => {
            let refusal = match &step.expect.status {
                Some(crate::scenario::model::Status::One(s)) => *s >= 400,
                Some(crate::scenario::model::Status::Any(l)) => l.iter().all(|s| *s >= 400),
                None => false,
            };
            if step.sandbox_only || step.setup {
                Part::NotApplicable(format!("{NOT_IN_MODE}: the runner's own preparation, not the client's"))
            } else if refusal {
                Part::NotApplicable(format!("{NOT_IN_MODE}: a deliberate refusal, not expected of a client"))
            } else {
                Part::Observe(observe::Direction::Inbound)
            }
        }
        (Mode::Client, _) => Part::NotApplicable(format!("{NOT_IN_MODE}: not the client's message")),
    }
}

async fn run_step(step: &Step, ctx: &mut Context<'_>) -> StepResult {
    let started = Instant::now();
    let mut result = StepResult {
        id: step.id.clone(),
        title: step.title.clone(),
        row: step.row.clone(),
        from: step.from,
        line: step.line,
        outcome: Outcome::Pass,
        reason: None,
        failures: Vec::new(),
        duration_ms: 0.0,
        request: None,
        response: None,
    };
    if let Some(why) = &step.manual {
        result.outcome = Outcome::Manual;
        result.reason = Some(why.clone());
        return result;
    }
    if step.sandbox_only && !ctx.target.sandbox {
        result.outcome = Outcome::Skipped;
        result.reason = Some(format!("{SANDBOX_ONLY}: uses the sandbox's control API"));
        return result;
    }
    let part = part(step, ctx.target.mode);
    if let Part::NotApplicable(why) = part {
        result.outcome = Outcome::Skipped;
        result.reason = Some(why);
        return result;
    }
    let sends = matches!(part, Part::Send);
    let deps = dependencies(step, &ctx.captured_by);
    // A step the runner sends cannot be built without what a step that did not apply would have
    // captured: it does not apply either. A step it observes just matches more loosely.
    if let Some(dep) = deps.iter().find(|d| ctx.not_applicable.contains(*d)).filter(|_| sends) {
        result.outcome = Outcome::Skipped;
        result.reason = Some(format!("{NOT_IN_MODE}: depends on {dep}, which does not apply to this target"));
        return result;
    }
    let mut blocked: Vec<String> =
        deps.into_iter().filter(|d| ctx.not_passed.contains(d) && !ctx.not_applicable.contains(d)).collect();
    blocked.dedup();
    let missing: Vec<String> = step
        .request
        .iter()
        .flat_map(|r| {
            let mut v = vec![Value::String(r.path.clone())];
            v.extend(r.body.clone().filter(|_| sends));
            v
        })
        .flat_map(|v| references(&v).unwrap_or_default())
        .filter(|n| !ctx.vars.contains_key(n) && !ctx.captured_by.contains_key(n))
        .collect();
    if !blocked.is_empty() || !missing.is_empty() {
        result.outcome = Outcome::Skipped;
        let mut names = blocked;
        names.extend(missing.into_iter().map(|n| format!("{{{{{n}}}}}, never captured")));
        result.reason = Some(format!("depends on {} which did not pass", names.join(", ")));
        return result;
    }
    let Some(request) = &step.request else {
        return fail(result, started, "no request".into());
    };
    // A client's traffic was recorded before judging began: nothing more will come.
    let within = match ctx.target.mode {
        Mode::Client => Duration::from_millis(200),
        _ => Duration::from_secs_f64(step.within.unwrap_or(10.0)),
    };
    // What was sent, the status answered, the headers and body to check `expect` against, and
    // the body to take `capture` from.
    let (sent, status, headers, body) = match part {
        Part::Await => {
            let path = match render_str(&request.path, &ctx.vars) {
                Ok(p) => text(&p),
                Err(e) => return fail(result, started, format!("request.path: {e}")),
            };
            result.request = Some(json!({"awaiting": path, "withinSeconds": within.as_secs_f64()}));
            match ctx.inbox.inbox.take(&path, within).await {
                Ok(m) => {
                    result.response =
                        Some(json!({"method": m.method, "path": m.path, "body": excerpt(&m.body)}));
                    (m.body.clone(), Some(202), Some(m.headers), m.body)
                }
                Err(arrived) => {
                    let seen = if arrived.is_empty() {
                        "nothing arrived".to_string()
                    } else {
                        format!("arrived instead: {}", arrived.join(", "))
                    };
                    return fail(
                        result,
                        started,
                        format!("no {path} arrived within {} s ({seen})", within.as_secs_f64()),
                    );
                }
            }
        }
        Part::Observe(direction) => {
            let outbound = matches!(direction, observe::Direction::Outbound);
            let ordered = ctx.target.mode == Mode::Client;
            let template = request.body.clone().unwrap_or(Value::Null);
            let vars = ctx.vars.clone();
            // The gateway's own messages are told apart by the values the step expects from
            // earlier captures (the requestId of this share); a client's by the values its
            // request carries from them.
            let correlating: Vec<_> = step
                .expect
                .body
                .iter()
                .filter(|a| {
                    a.check.equals.as_ref().is_some_and(|v| !references(v).unwrap_or_default().is_empty())
                })
                .cloned()
                .collect();
            let found = ctx
                .watcher
                .find(direction, request, &vars, within, ordered, |e| {
                    if outbound {
                        let expect = crate::scenario::model::Expect {
                            status: None,
                            headers: Default::default(),
                            body: correlating.clone(),
                        };
                        assert::check(&expect, None, &[], &e["requestBody"], &vars).is_empty()
                    } else {
                        !ordered || observe::agrees(&template, &vars, &e["requestBody"])
                    }
                })
                .await;
            let entry = match found {
                Ok(e) => e,
                Err(why) => return fail(result, started, why),
            };
            result.request = Some(
                json!({"observed": entry["path"], "seq": entry["seq"], "body": excerpt(&entry["requestBody"])}),
            );
            result.response =
                Some(json!({"status": entry["status"], "body": excerpt(&entry["responseBody"])}));
            let status = entry["status"].as_u64().map(|s| s as u16);
            if outbound {
                // The gateway's message to the target: `expect` is about the message, `answer`
                // about the target's reply (status 0: it never answered).
                if let Some(want) = &step.answer {
                    let got = status.unwrap_or(0);
                    if !want.accepts(got) {
                        result.failures.push(format!("the receiver answered {got}, expected {want}"));
                    }
                }
                (entry["requestBody"].clone(), None, None, entry["requestBody"].clone())
            } else {
                (entry["requestBody"].clone(), status, None, entry["responseBody"].clone())
            }
        }
        Part::Send => match send(ctx.http, ctx.target, request, &ctx.vars).await {
            Ok((sent, status, headers, body)) => {
                let sent_body = sent["body"].clone();
                let mut shown = sent;
                shown["body"] = excerpt(&shown["body"]);
                result.request = Some(shown);
                result.response = Some(json!({"status": status, "body": excerpt(&body)}));
                if let Some(want) = step.answer.as_ref().filter(|_| step.from == Role::Gateway) {
                    if !want.accepts(status) {
                        result.failures.push(format!("the receiver answered {status}, expected {want}"));
                    }
                }
                (sent_body, Some(status), Some(headers), body)
            }
            Err(e) => return fail(result, started, e),
        },
        Part::NotApplicable(_) => unreachable!("handled above"),
    };
    let mut expect = step.expect.clone();
    if headers.is_none() {
        // The journal keeps no headers: header checks apply where the runner saw the message.
        expect.headers.clear();
    }
    if status.is_none() {
        expect.status = None;
    }
    result.failures.extend(assert::check(&expect, status, &headers.unwrap_or_default(), &body, &ctx.vars));
    if !step.sent.is_empty() {
        let sent_expect = crate::scenario::model::Expect {
            status: None,
            headers: Default::default(),
            body: step.sent.clone(),
        };
        result.failures.extend(
            assert::check(&sent_expect, None, &[], &sent, &ctx.vars).into_iter().map(|f| format!("sent {f}")),
        );
    }
    for (source, captures) in [(&body, &step.capture), (&sent, &step.capture_sent)] {
        for (name, path) in captures {
            let value =
                JsonPath::parse(path).ok().and_then(|p| p.query(source).all().first().map(|v| (*v).clone()));
            match value {
                Some(v) => {
                    ctx.vars.insert(name.clone(), v);
                }
                None => result.failures.push(format!("capture {name}: {path} selected nothing")),
            }
        }
    }
    if !result.failures.is_empty() {
        result.outcome = Outcome::Fail;
        result.reason = Some(result.failures.join("; "));
    }
    result.duration_ms = ms(started);
    result
}

fn fail(mut result: StepResult, started: Instant, reason: String) -> StepResult {
    result.outcome = Outcome::Fail;
    result.failures = vec![reason.clone()];
    result.reason = Some(reason);
    result.duration_ms = ms(started);
    result
}

/// Sends a step's request; returns what was sent, the status, headers and JSON (or text) body.
async fn send(
    http: &reqwest::Client,
    target: &Target,
    request: &crate::scenario::model::Request,
    vars: &Vars,
) -> Result<(Value, u16, Vec<(String, String)>, Value), String> {
    let path = text(&render_str(&request.path, vars).map_err(|e| format!("request.path: {e}"))?);
    let url = if path.starts_with("http://") || path.starts_with("https://") {
        path.clone()
    } else {
        format!("{}{path}", target.base)
    };
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|e| e.to_string())?;
    let mut req = http.request(method, &url);
    let mut sent_headers = serde_json::Map::new();
    for (k, v) in &request.headers {
        let v = text(&render_str(v, vars).map_err(|e| format!("request.headers.{k}: {e}"))?);
        sent_headers.insert(
            k.clone(),
            Value::String(if k.eq_ignore_ascii_case("authorization") {
                "Bearer …".into()
            } else {
                v.clone()
            }),
        );
        req = req.header(k.as_str(), v);
    }
    let body = match &request.body {
        Some(b) => Some(render(b, vars).map_err(|e| format!("request.body: {e}"))?),
        None => None,
    };
    if let Some(b) = &body {
        req = req.json(b);
    }
    let sent = json!({"method": request.method, "url": url, "headers": sent_headers, "body": body});
    let res = req.send().await.map_err(|e| format!("{} {url}: no answer: {e}", request.method))?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = res.bytes().await.map_err(|e| format!("reading the answer: {e}"))?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Ok((sent, status, headers, body))
}

/// Long strings (keys, ciphertexts, tokens, photos) cut short for reports.
pub fn excerpt(v: &Value) -> Value {
    match v {
        Value::String(s) if s.chars().count() > 96 => {
            Value::String(format!("{}…", s.chars().take(93).collect::<String>()))
        }
        Value::Array(items) => Value::Array(items.iter().map(excerpt).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), excerpt(v))).collect()),
        other => other.clone(),
    }
}
