//! Running scenarios. The runner plays the roles the target does not: against a gateway (the
//! embedded fake, a running fake, or a real sandbox) it is the client and the HIP, sends their
//! messages and waits, at its own inbox, for the gateway's callbacks.

pub mod assert;
pub mod inbox;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use serde_json_path::JsonPath;

use crate::scenario::model::{Requirement, Role, Row, Scenario, Step};
use crate::scenario::template::{references, render, render_str, text, Vars};

/// Where the scenarios run.
#[derive(Debug, Clone)]
pub struct Target {
    /// The root URL every family's prefix goes under (`http://127.0.0.1:8090`).
    pub base: String,
    /// Whether the target is this sandbox (its control API: reset, outbox, clock).
    pub sandbox: bool,
    /// Credentials and other values scenarios read as `{{target.*}}`.
    pub values: Value,
    /// The fixtures scenarios read as `{{fixture.*}}`.
    pub fixture: Value,
    /// Shown in reports.
    pub name: String,
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
    pub fn blocks(&self) -> bool {
        self.row.requirement == Requirement::Mandatory
            && matches!(self.outcome, Outcome::Fail | Outcome::Skipped)
            && !(self.outcome == Outcome::Skipped
                && self.reason.as_deref().is_some_and(|r| r.starts_with(SANDBOX_ONLY)))
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

/// Runs scenarios with the runner as client (and HIP) against a gateway.
pub async fn run_against_gateway(scenarios: &[Scenario], target: &Target) -> std::io::Result<RunReport> {
    let inbox = inbox::start().await?;
    let http =
        reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(std::io::Error::other)?;
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut results = Vec::new();
    for s in scenarios {
        if target.sandbox {
            let _ = http.post(format!("{}/_sandbox/reset", target.base)).send().await;
        }
        inbox.inbox.clear();
        results.push(run_scenario(s, target, &http, &inbox).await);
    }
    inbox.stop().await;
    Ok(RunReport { target: target.name.clone(), started_at, duration_ms: ms(started), scenarios: results })
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
    vars.insert("inbox".into(), json!({"url": inbox.url}));
    for (k, v) in &s.vars {
        let rendered = render(v, &vars).unwrap_or_else(|_| v.clone());
        vars.insert(k.clone(), rendered);
    }
    // Which step captures each name, and which steps did not pass.
    let mut captured_by: BTreeMap<String, String> = BTreeMap::new();
    let mut not_passed: BTreeSet<String> = BTreeSet::new();
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
        let step = &step;
        let result = run_step(step, target, http, inbox, &mut vars, &captured_by, &not_passed).await;
        if result.outcome != Outcome::Pass {
            not_passed.insert(step.id.clone());
        }
        for name in step.capture.keys() {
            captured_by.insert(name.clone(), step.id.clone());
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

/// The steps a step depends on: those it names in `needs`, and those whose captures it uses.
fn dependencies(step: &Step, captured_by: &BTreeMap<String, String>) -> Vec<String> {
    let mut deps = step.needs.clone();
    let mut values = Vec::new();
    if let Some(r) = &step.request {
        values.push(Value::String(r.path.clone()));
        values.extend(r.headers.values().map(|v| Value::String(v.clone())));
        values.extend(r.body.clone());
    }
    for a in &step.expect.body {
        values.extend(a.check.equals.clone());
    }
    for v in values {
        for name in references(&v).unwrap_or_default() {
            if let Some(id) = captured_by.get(&name) {
                deps.push(id.clone());
            }
        }
    }
    deps
}

async fn run_step(
    step: &Step,
    target: &Target,
    http: &reqwest::Client,
    inbox: &inbox::Running,
    vars: &mut Vars,
    captured_by: &BTreeMap<String, String>,
    not_passed: &BTreeSet<String>,
) -> StepResult {
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
    if step.sandbox_only && !target.sandbox {
        result.outcome = Outcome::Skipped;
        result.reason = Some(format!("{SANDBOX_ONLY}: uses the sandbox's control API"));
        return result;
    }
    let mut blocked: Vec<String> =
        dependencies(step, captured_by).into_iter().filter(|d| not_passed.contains(d)).collect();
    blocked.dedup();
    let missing: Vec<String> = step
        .request
        .iter()
        .flat_map(|r| {
            let mut v = vec![Value::String(r.path.clone())];
            v.extend(r.body.clone());
            v
        })
        .flat_map(|v| references(&v).unwrap_or_default())
        .filter(|n| !vars.contains_key(n) && !captured_by.contains_key(n))
        .collect();
    if !blocked.is_empty() || !missing.is_empty() {
        result.outcome = Outcome::Skipped;
        let mut names = blocked;
        names.extend(missing.into_iter().map(|n| format!("{{{{{n}}}}}, never captured")));
        result.reason = Some(format!("depends on {} which did not pass", names.join(", ")));
        return result;
    }
    let Some(request) = &step.request else {
        result.outcome = Outcome::Fail;
        result.reason = Some("no request".into());
        return result;
    };
    // The runner sends what the client and the HIP send; it receives what the gateway sends.
    let (status, headers, body) = if step.from == Role::Gateway {
        let within = Duration::from_secs_f64(step.within.unwrap_or(5.0));
        let path = match render_str(&request.path, vars) {
            Ok(p) => text(&p),
            Err(e) => return fail(result, started, format!("request.path: {e}")),
        };
        result.request = Some(json!({"awaiting": path, "withinSeconds": within.as_secs_f64()}));
        match inbox.inbox.take(&path, within).await {
            Ok(m) => {
                result.response = Some(json!({"method": m.method, "path": m.path, "body": excerpt(&m.body)}));
                (None, m.headers, m.body)
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
    } else {
        match send(http, target, request, vars).await {
            Ok((sent, status, headers, body)) => {
                result.request = Some(sent);
                result.response = Some(json!({"status": status, "body": excerpt(&body)}));
                (Some(status), headers, body)
            }
            Err(e) => return fail(result, started, e),
        }
    };
    result.failures = assert::check(&step.expect, status, &headers, &body, vars);
    for (name, path) in &step.capture {
        let value =
            JsonPath::parse(path).ok().and_then(|p| p.query(&body).all().first().map(|v| (*v).clone()));
        match value {
            Some(v) => {
                vars.insert(name.clone(), v);
            }
            None => result.failures.push(format!("capture {name}: {path} selected nothing")),
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
    let sent = json!({"method": request.method, "url": url, "headers": sent_headers, "body": body.as_ref().map(excerpt)});
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
