//! The JUnit XML report: one testsuite per scenario, one testcase per step. A failed step's
//! `<failure>` has the reason as its message, the first failure's kind as its type, and in its
//! text each failure with its place, what was expected and what arrived.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{mark, requirement};
use crate::run::{Outcome, RunReport, StepResult};

/// The run as JUnit XML.
pub fn junit(report: &RunReport) -> String {
    let mut r = Report::new("abdm-sandbox conformance");
    for s in &report.scenarios {
        let mut suite = TestSuite::new(s.id.as_str());
        for st in &s.steps {
            let name =
                format!("S.No {} {} [{}] {}", st.row.sno, st.id, requirement(st.row.requirement), st.title);
            let mut case = TestCase::new(name, status(st));
            case.set_classname(format!("{}.{}", s.id, st.id));
            case.set_time(std::time::Duration::from_secs_f64(st.duration_ms / 1000.0));
            suite.add_test_case(case);
        }
        r.add_test_suite(suite);
    }
    r.to_string().unwrap_or_default()
}

fn status(st: &StepResult) -> TestCaseStatus {
    match st.outcome {
        Outcome::Pass => TestCaseStatus::success(),
        Outcome::Fail => {
            let mut f = TestCaseStatus::non_success(NonSuccessKind::Failure);
            f.set_message(st.reason.clone().unwrap_or_default());
            if let Some(first) = st.failures.first() {
                f.set_type(first.kind.name());
            }
            f.set_description(failure_text(st));
            f
        }
        Outcome::Skipped | Outcome::Manual => {
            let mut sk = TestCaseStatus::skipped();
            sk.set_message(format!("{}: {}", mark(st.outcome), st.reason.clone().unwrap_or_default()));
            sk
        }
    }
}

/// Each failure: `file:line: [kind] message`, then what was expected and what arrived.
fn failure_text(st: &StepResult) -> String {
    let mut text = String::new();
    for f in &st.failures {
        let _ = writeln!(text, "{}: [{}] {}", f.location(), f.kind, f.message);
        for (label, value) in [("expected", &f.expected), ("actual", &f.actual)] {
            if let Some(v) = value {
                let _ = writeln!(text, "  {label}: {v}");
            }
        }
    }
    text
}
