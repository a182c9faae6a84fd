//! Reports of a run: the terminal (one line per step, a line per failure with its place), JSON
//! (the whole result tree, failures as fields), JUnit XML (one testsuite per scenario, one
//! testcase per step) and one self-contained HTML page laid out like the official checklist
//! sheet. Every format renders the same [`Failure`](crate::run::Failure) values.

mod html;
mod junit;
mod terminal;

pub use html::html;
pub use junit::junit;
pub use terminal::{terminal, write_terminal};

use crate::run::{Outcome, RunReport, StepResult};
use crate::scenario::Requirement;

/// The whole result tree as pretty JSON: per step its outcome, `reason` and `failures` (kind,
/// subject, expected, actual, message, file, line, expectationLine).
pub fn json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

/// An outcome as the reports print it.
fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Skipped => "SKIP",
        Outcome::Manual => "MANUAL",
    }
}

/// A requirement as the checklist sheets write it.
fn requirement(r: Requirement) -> &'static str {
    match r {
        Requirement::Mandatory => "Mandatory",
        Requirement::Optional => "Optional",
    }
}

/// `N passed, N failed, N skipped, N manual`.
fn counts<'a>(steps: impl Iterator<Item = &'a StepResult>) -> String {
    let mut c = [0usize; 4];
    for s in steps {
        c[s.outcome as usize] += 1;
    }
    format!("{} passed, {} failed, {} skipped, {} manual", c[0], c[1], c[2], c[3])
}

/// The run's verdict, to end a sentence (`every mandatory step passed`) or to stand alone
/// (`Every mandatory step passed`).
fn verdict(report: &RunReport, alone: bool) -> &'static str {
    match (report.passed(), alone) {
        (true, false) => "every mandatory step passed",
        (true, true) => "Every mandatory step passed",
        (false, false) => "a mandatory step did not pass",
        (false, true) => "A mandatory step did not pass",
    }
}
