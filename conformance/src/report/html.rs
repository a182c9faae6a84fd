//! The HTML report: one page laid out like the checklist sheet (S.No, functionality, test
//! scenario, Mandatory/Optional, result, evidence), rendered from the resource template
//! `report.html` by minijinja with HTML auto-escaping, so no value from a scenario or an answer
//! can add markup to the page.

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, HtmlEscape};
use serde::Serialize;

use super::{counts, mark, requirement, verdict};
use crate::run::{Failure, RunReport, ScenarioResult, StepResult};

const TEMPLATE: &str = include_str!("report.html");

/// The page's data, as the template reads it.
#[derive(Serialize)]
struct Page<'a> {
    target: &'a str,
    started: &'a str,
    verdict: &'static str,
    verdict_class: &'static str,
    summary: String,
    scenarios: Vec<Section<'a>>,
}

#[derive(Serialize)]
struct Section<'a> {
    id: &'a str,
    title: &'a str,
    source: &'a str,
    summary: String,
    steps: Vec<Row<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    class: String,
    sno: &'a str,
    functionality: &'a str,
    scenario: &'a str,
    requirement: &'static str,
    mark: &'static str,
    reason: Option<&'a str>,
    failures: &'a [Failure],
    evidence: Vec<(&'static str, String)>,
}

/// One page: per scenario, a table of S.No, functionality, scenario, Mandatory/Optional, result
/// and evidence (the failures with expected, actual and place; what was sent and received).
pub fn html(report: &RunReport) -> String {
    let page = Page {
        target: &report.target,
        started: &report.started_at,
        verdict: verdict(report, true),
        verdict_class: if report.passed() { "pass" } else { "fail" },
        summary: counts(report.steps()),
        scenarios: report.scenarios.iter().map(section).collect(),
    };
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)
        .and_then(|()| env.get_template("report.html"))
        .and_then(|t| t.render(Serde(&page)))
        .unwrap_or_else(|e| {
            let message = e.to_string();
            format!("<!doctype html><p>The report could not be rendered: {}</p>", HtmlEscape(&message))
        })
}

fn section(s: &ScenarioResult) -> Section<'_> {
    Section {
        id: &s.id,
        title: &s.title,
        source: &s.source,
        summary: counts(s.steps.iter()),
        steps: s.steps.iter().map(row).collect(),
    }
}

fn row(st: &StepResult) -> Row<'_> {
    let evidence = [("sent / awaited", &st.request), ("received", &st.response)]
        .into_iter()
        .filter_map(|(label, v)| {
            v.as_ref().map(|v| (label, serde_json::to_string_pretty(v).unwrap_or_default()))
        })
        .collect();
    Row {
        class: mark(st.outcome).to_lowercase(),
        sno: &st.row.sno,
        functionality: or_title(&st.row.functionality, &st.title),
        scenario: or_title(&st.row.scenario, &st.title),
        requirement: requirement(st.row.requirement),
        mark: mark(st.outcome),
        reason: st.reason.as_deref(),
        failures: &st.failures,
        evidence,
    }
}

/// A checklist column, or the step's title where the scenario leaves it empty.
fn or_title<'a>(text: &'a str, title: &'a str) -> &'a str {
    if text.is_empty() {
        title
    } else {
        text
    }
}
