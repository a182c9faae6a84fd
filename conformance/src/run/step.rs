//! One step, phase by phase: does it apply to this target and can it run (its dependencies
//! passed), the exchange through the transport the mode calls for (send, await at the inbox,
//! observe in the journal; or, instead of a message, start the target or work out a value),
//! the checks of `expect` and `sent`, and the captures.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use serde_json_path::JsonPath;

use super::exchange::{Exchange, Halt};
use super::failure::{Failure, FailureKind};
use super::result::{applies_not, Outcome, StepResult, NOT_IN_MODE, SANDBOX_ONLY};
use super::{assert, inbox, observe, send, start, Harness, Target};
use crate::scenario::template::{references, render, render_str, Vars};
use crate::scenario::{Expect, ExpectLines, Mode, Role, Status, Step};

/// How long a sandbox-only control read is repeated while it does not match.
const POLL_FOR: Duration = Duration::from_secs(1);

/// What a scenario's steps share while it runs.
pub(crate) struct Context<'a> {
    pub target: &'a Target,
    /// What starts the target at a `start` step, when its harness gave it.
    pub harness: Option<&'a Harness>,
    pub http: &'a reqwest::Client,
    pub inbox: &'a inbox::Running,
    pub watcher: observe::Watcher,
    /// The scenario file, for failures to point at.
    pub file: String,
    pub vars: Vars,
    /// Which step captures each name.
    pub captured_by: BTreeMap<String, String>,
    pub not_passed: BTreeSet<String>,
    /// Steps reported manual: the steps that follow from them are checked by hand too.
    pub manual: BTreeSet<String>,
    /// Steps that did not apply to this target (sandbox-only against a real gateway, another
    /// mode's step).
    pub not_applicable: BTreeSet<String>,
}

impl Context<'_> {
    /// Remembers how a step went, for the steps that depend on it.
    pub fn record(&mut self, step: &Step, result: &StepResult) {
        if result.outcome != Outcome::Pass {
            self.not_passed.insert(step.id.clone());
        }
        if result.outcome == Outcome::Manual {
            self.manual.insert(step.id.clone());
        }
        if result.outcome == Outcome::Skipped && result.reason.as_deref().is_some_and(applies_not) {
            self.not_applicable.insert(step.id.clone());
        }
        for name in step.capture.keys().chain(step.capture_sent.keys()) {
            self.captured_by.insert(name.clone(), step.id.clone());
        }
    }
}

/// How the runner takes part in a step, given the mode.
enum Part {
    /// It sends the message and checks the answer.
    Send,
    /// It waits at its inbox for the gateway's message.
    Await,
    /// It finds the message in the sandbox's journal.
    Observe(observe::Direction),
    /// It starts the target's flow with the harness's command (a `start` step).
    Start,
    /// It works out the step's `evaluate` value itself, in the role it plays.
    Evaluate,
}

/// Runs one step: each phase is one call.
pub(crate) async fn run_step(step: &Step, ctx: &mut Context<'_>) -> StepResult {
    let started = Instant::now();
    let result = StepResult::new(step);
    let part = match applies(step, ctx) {
        Ok(part) => part,
        Err((outcome, reason)) => return result.not_run(outcome, reason),
    };
    if let Some(reason) = by_hand(step, ctx) {
        return result.not_run(Outcome::Manual, reason);
    }
    if let Some(reason) = blocked(step, &part, ctx) {
        return result.not_run(Outcome::Skipped, reason);
    }
    // The sandbox records some outcomes as their callbacks are delivered, a moment after the
    // receiver has them: a control read that does not match yet is read again, for a while.
    let polls = matches!(part, Part::Send)
        && step.sandbox_only
        && step.request.as_ref().is_some_and(|r| r.method.eq_ignore_ascii_case("GET"));
    let deadline = started + POLL_FOR;
    let (exchange, mut failures) = loop {
        let mut exchange = match exchange(step, &part, ctx).await {
            Ok(exchange) => exchange,
            Err(halt) => {
                let result = StepResult { request: halt.shown_request.map(|r| *r), ..result };
                // What failed is the message `request` describes.
                let failure = halt.failure.on_line(step.lines.request).at(&ctx.file, step.line);
                return result.judged(vec![failure], started);
            }
        };
        let mut failures = std::mem::take(&mut exchange.failures);
        failures.extend(judge(step, &exchange, &ctx.vars));
        if failures.is_empty() || !polls || Instant::now() >= deadline {
            break (exchange, failures);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let result = StepResult {
        request: Some(exchange.shown_request.clone()),
        response: Some(exchange.shown_response.clone()),
        ..result
    };
    failures.extend(capture(step, &exchange, &mut ctx.vars));
    let failures = failures.into_iter().map(|f| f.at(&ctx.file, step.line)).collect();
    result.judged(failures, started)
}

/// Whether the step applies to this target, and how the runner takes part; or why it is not
/// run (a manual row, a sandbox-only step against another gateway, another mode's step).
fn applies(step: &Step, ctx: &Context<'_>) -> Result<Part, (Outcome, String)> {
    if let Some(why) = &step.manual {
        return Err((Outcome::Manual, why.clone()));
    }
    if step.sandbox_only && !ctx.target.sandbox {
        return Err((Outcome::Skipped, format!("{SANDBOX_ONLY}: uses the sandbox's control API")));
    }
    let part = part(step, ctx.target.mode).map_err(|why| (Outcome::Skipped, why))?;
    if let Some(m) = &step.manual_unless {
        let known = render_str(&m.known, &ctx.vars)
            .is_ok_and(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
        if !known {
            return Err((Outcome::Manual, m.why.clone()));
        }
    }
    Ok(part)
}

/// Why a step is checked by hand: a step it depends on is (its message cannot be told apart, or
/// sent, without what that step would have done).
fn by_hand(step: &Step, ctx: &Context<'_>) -> Option<String> {
    let dep = dependencies(step, &ctx.captured_by).into_iter().find(|d| ctx.manual.contains(d))?;
    Some(format!("follows {dep}, which is checked by hand"))
}

fn part(step: &Step, mode: Mode) -> Result<Part, String> {
    if let Some(only) = step.mode.filter(|only| *only != mode) {
        return Err(format!("{NOT_IN_MODE} (only when the target is a {only:?})").to_lowercase());
    }
    let part = message_part(step, mode)?;
    // A `start` step applies where the target plays its role (its messages are observed), an
    // `evaluate` step where the runner does (it would send them).
    match (&part, step.start.is_some(), step.evaluate.is_some()) {
        (Part::Observe(observe::Direction::Inbound), true, _) => Ok(Part::Start),
        (_, true, _) => Err(format!("{NOT_IN_MODE}: the runner plays this role itself")),
        (Part::Send, _, true) => Ok(Part::Evaluate),
        (_, _, true) => Err(format!("{NOT_IN_MODE}: the target works this out itself")),
        _ => Ok(part),
    }
}

/// How the runner takes part in a step's message in `mode`.
fn message_part(step: &Step, mode: Mode) -> Result<Part, String> {
    match (mode, step.from) {
        (Mode::Gateway, Role::Gateway) => Ok(Part::Await),
        (Mode::Gateway, _) => Ok(Part::Send),
        (Mode::Hip, Role::Client | Role::Hiu) => Ok(Part::Send),
        (Mode::Hip, Role::Hip) if step.setup => Ok(Part::Send),
        (Mode::Hip, Role::Hip) => Ok(Part::Observe(observe::Direction::Inbound)),
        (Mode::Hip, Role::Gateway) => Ok(Part::Observe(observe::Direction::Outbound)),
        (Mode::Client, Role::Client) => {
            let refusal = match &step.expect.status {
                Some(Status::One(s)) => *s >= 400,
                Some(Status::Any(l)) => l.iter().all(|s| *s >= 400),
                None => false,
            };
            if step.sandbox_only || step.setup {
                Err(format!("{NOT_IN_MODE}: the runner's own preparation, not the client's"))
            } else if refusal {
                Err(format!("{NOT_IN_MODE}: a deliberate refusal, not expected of a client"))
            } else {
                Ok(Part::Observe(observe::Direction::Inbound))
            }
        }
        (Mode::Client, _) => Err(format!("{NOT_IN_MODE}: not the client's message")),
        (Mode::Hiu, Role::Client | Role::Hip) => Ok(Part::Send),
        (Mode::Hiu, Role::Hiu) if step.setup => Ok(Part::Send),
        (Mode::Hiu, Role::Hiu) => Ok(Part::Observe(observe::Direction::Inbound)),
        (Mode::Hiu, Role::Gateway) => Ok(Part::Observe(observe::Direction::Outbound)),
    }
}

/// Why a step that applies cannot run: a step it depends on did not pass (or, for a step the
/// runner sends, did not apply), or a name it uses was never captured.
fn blocked(step: &Step, part: &Part, ctx: &Context<'_>) -> Option<String> {
    // Whatever the runner renders itself needs every name it uses.
    let sends = matches!(part, Part::Send | Part::Start | Part::Evaluate);
    let deps = dependencies(step, &ctx.captured_by);
    // A step the runner sends cannot be built without what a step that did not apply would have
    // captured: it does not apply either. A step it observes just matches more loosely.
    if let Some(dep) = deps.iter().find(|d| ctx.not_applicable.contains(*d)).filter(|_| sends) {
        return Some(format!("{NOT_IN_MODE}: depends on {dep}, which does not apply to this target"));
    }
    let mut names: Vec<String> =
        deps.into_iter().filter(|d| ctx.not_passed.contains(d) && !ctx.not_applicable.contains(d)).collect();
    names.dedup();
    let missing = step
        .request
        .iter()
        .flat_map(|r| {
            let mut v = vec![Value::String(r.path.clone())];
            v.extend(r.body.clone().filter(|_| sends));
            v
        })
        .chain(own_values(step).into_iter().filter(|_| sends))
        .flat_map(|v| references(&v).unwrap_or_default())
        .filter(|n| !ctx.vars.contains_key(n) && !ctx.captured_by.contains_key(n));
    names.extend(missing.map(|n| format!("{{{{{n}}}}}, never captured")));
    (!names.is_empty()).then(|| format!("depends on {} which did not pass", names.join(", ")))
}

/// The steps a step depends on: those it names in `needs`, and those whose captures it uses
/// (in its request, or in what it expects of a body or a header).
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
        values.extend(a.check.one_of.clone().map(Value::Array));
    }
    values.extend(step.expect.headers.values().filter_map(|c| c.equals.clone()));
    values.extend(own_values(step));
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

/// The values a step renders instead of a message: its `evaluate` value, its `start` env.
fn own_values(step: &Step) -> Vec<Value> {
    let mut values: Vec<Value> = step.evaluate.iter().cloned().collect();
    if let Some(start) = &step.start {
        values.extend(start.env.values().map(|v| Value::String(v.clone())));
    }
    values
}

/// The step's message and answer, through the transport its part calls for.
async fn exchange(step: &Step, part: &Part, ctx: &mut Context<'_>) -> Result<Exchange, Halt> {
    let request = step.request.as_ref();
    let no_request = || Halt::from(Failure::plain(FailureKind::Scenario, "request", "no request"));
    // A client's traffic was recorded before judging began: nothing more will come.
    let within = match ctx.target.mode {
        Mode::Client => Duration::from_millis(200),
        _ => Duration::from_secs_f64(step.within.unwrap_or(10.0) * ctx.target.patience.max(1.0)),
    };
    match part {
        Part::Start => start::exchange(ctx.harness, ctx.target, step, &ctx.vars).await,
        Part::Evaluate => evaluate(step, &ctx.vars),
        Part::Send => {
            let request = request.ok_or_else(no_request)?;
            send::exchange(ctx.http, ctx.target, step, request, &ctx.vars).await
        }
        Part::Await => {
            let request = request.ok_or_else(no_request)?;
            inbox::exchange(ctx.inbox, request, &ctx.vars, within).await
        }
        Part::Observe(direction) => {
            let request = request.ok_or_else(no_request)?;
            let mode = ctx.target.mode;
            let names = (&ctx.vars, &ctx.captured_by);
            observe::exchange(&mut ctx.watcher, step, request, *direction, mode, names, within).await
        }
    }
}

/// An `evaluate` step: the rendered value is what `expect.body` and `capture` read. A template
/// that cannot be rendered (a push that does not decrypt) fails the step with its reason.
fn evaluate(step: &Step, vars: &Vars) -> Result<Exchange, Halt> {
    let template = step.evaluate.clone().unwrap_or(Value::Null);
    let value = render(&template, vars).map_err(|e| Failure::new(FailureKind::Scenario, "evaluate", e))?;
    Ok(Exchange {
        shown_request: serde_json::json!({"evaluate": super::exchange::excerpt(&template)}),
        shown_response: super::exchange::excerpt(&value),
        sent: value.clone(),
        status: None,
        headers: None,
        body: value,
        failures: Vec::new(),
    })
}

/// The checks of `expect` (on the answer, or on the message that arrived) and of `sent` (on the
/// message as it was sent).
fn judge(step: &Step, x: &Exchange, vars: &Vars) -> Vec<Failure> {
    let mut expect = step.expect.clone();
    if x.headers.is_none() {
        // The journal keeps no headers: header checks apply where the runner saw the message.
        expect.headers.clear();
    }
    if x.status.is_none() {
        expect.status = None;
    }
    let headers = x.headers.as_deref().unwrap_or_default();
    let mut failures = assert::check(&expect, &step.lines.expect, x.status, headers, &x.body, vars);
    if !step.sent.is_empty() {
        let sent = Expect { status: None, headers: Default::default(), body: step.sent.clone() };
        let lines = ExpectLines { body: step.lines.sent.clone(), ..Default::default() };
        let sent_failures = assert::check(&sent, &lines, None, &[], &x.sent, vars);
        failures.extend(sent_failures.into_iter().map(Failure::about_sent));
    }
    failures
}

/// Keeps the values the step captures, from the answer (`capture`) and from the message as
/// sent (`capture_sent`); a path that selects nothing is a failure.
fn capture(step: &Step, x: &Exchange, vars: &mut Vars) -> Vec<Failure> {
    let mut failures = Vec::new();
    let sources = [
        (&x.body, &step.capture, &step.lines.capture),
        (&x.sent, &step.capture_sent, &step.lines.capture_sent),
    ];
    for (source, captures, lines) in sources {
        for (name, path) in captures {
            let value =
                JsonPath::parse(path).ok().and_then(|p| p.query(source).all().first().map(|v| (*v).clone()));
            match value {
                Some(v) => {
                    vars.insert(name.clone(), v);
                }
                None => failures.push(
                    Failure::new(
                        FailureKind::Capture,
                        format!("capture {name}"),
                        format!("{path} selected nothing"),
                    )
                    .values(Some(path.clone()), Some("nothing".into()))
                    .on_line(lines.get(name).copied()),
                ),
            }
        }
    }
    failures
}
