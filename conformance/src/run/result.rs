//! The result of a run, as every report reads it: per scenario, per step, the outcome, the
//! reason, the failures and the evidence (what was sent or awaited, what came back or arrived).

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::failure::Failure;
use crate::scenario::{Requirement, Role, Row, Step};

/// What became of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Pass,
    /// An expectation did not hold; see the failures.
    Fail,
    /// Not run: a dependency did not pass, or the step does not apply to this target.
    Skipped,
    /// A UI-only row: not checkable over the API.
    Manual,
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// The step's id.
    pub id: String,
    /// The step's title.
    pub title: String,
    /// The checklist row it checks.
    pub row: Row,
    /// Who sent the step's message.
    pub from: Role,
    /// The line of the step's `id:` in its file.
    pub line: usize,
    /// Pass, fail, skipped or manual.
    pub outcome: Outcome,
    /// Why it failed (the failures' messages joined with `; `), was skipped or is manual.
    pub reason: Option<String>,
    /// Each failed expectation, with its kind, the two sides and its place.
    pub failures: Vec<Failure>,
    /// How long the step took.
    pub duration_ms: f64,
    /// What was sent or awaited.
    pub request: Option<Value>,
    /// What came back or arrived.
    pub response: Option<Value>,
}

/// One scenario's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    /// The scenario's id.
    pub id: String,
    /// The scenario's title.
    pub title: String,
    /// The file it was loaded from.
    pub file: String,
    /// The requirement document the checklist comes from.
    pub source: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// How long it took.
    pub duration_ms: f64,
    /// Each step's result, in order.
    pub steps: Vec<StepResult>,
}

/// The result of a whole run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// What was run against, for people.
    pub target: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// How long it took.
    pub duration_ms: f64,
    /// Each scenario's result, in order.
    pub scenarios: Vec<ScenarioResult>,
}

/// The start of a skip reason that says a step does not apply to this target: it uses the
/// sandbox's control API and the target is another gateway.
pub(crate) const SANDBOX_ONLY: &str = "sandbox only";
/// The start of a skip reason that says a step is another mode's.
pub(crate) const NOT_IN_MODE: &str = "not in this mode";

/// A skip reason that says the step does not apply to this target.
pub(crate) fn applies_not(reason: &str) -> bool {
    reason.starts_with(SANDBOX_ONLY) || reason.starts_with(NOT_IN_MODE)
}

/// Milliseconds since `since`, to a tenth.
pub(crate) fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

impl StepResult {
    /// A step's result before it runs: passed, with nothing shown.
    pub(crate) fn new(step: &Step) -> StepResult {
        StepResult {
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
        }
    }

    /// Not run, for `reason` (skipped or manual).
    pub(crate) fn not_run(mut self, outcome: Outcome, reason: String) -> StepResult {
        self.outcome = outcome;
        self.reason = Some(reason);
        self
    }

    /// Run: passed when there are no failures, failed with them otherwise.
    pub(crate) fn judged(mut self, failures: Vec<Failure>, started: Instant) -> StepResult {
        if !failures.is_empty() {
            self.outcome = Outcome::Fail;
            self.reason = Some(failures.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; "));
        }
        self.failures = failures;
        self.duration_ms = ms(started);
        self
    }

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
        !self.steps().any(StepResult::blocks)
    }

    /// How many steps had this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.steps().filter(|s| s.outcome == outcome).count()
    }

    /// Every step of every scenario.
    pub fn steps(&self) -> impl Iterator<Item = &StepResult> {
        self.scenarios.iter().flat_map(|s| &s.steps)
    }
}
