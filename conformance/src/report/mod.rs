//! Reports of a run: the terminal (one line per step), JSON (the whole result tree), JUnit XML
//! (one testsuite per scenario, one testcase per step) and one self-contained HTML page laid out
//! like the official checklist sheet.

use std::fmt::Write;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::run::{Outcome, RunReport, StepResult};
use crate::scenario::model::Requirement;

fn mark(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Skipped => "SKIP",
        Outcome::Manual => "MANUAL",
    }
}

fn requirement(r: Requirement) -> &'static str {
    match r {
        Requirement::Mandatory => "Mandatory",
        Requirement::Optional => "Optional",
    }
}

/// One line per step, a summary per scenario and overall.
pub fn terminal(report: &RunReport, color: bool) -> String {
    let paint = |o: Outcome, s: &str| -> String {
        if !color {
            return s.to_string();
        }
        let code = match o {
            Outcome::Pass => "32",
            Outcome::Fail => "31",
            Outcome::Skipped => "33",
            Outcome::Manual => "36",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    };
    let mut out = format!("abdm-sandbox conformance run against {}\n", report.target);
    for s in &report.scenarios {
        let _ = writeln!(out, "\n{} — {} ({})", s.id, s.title, s.file);
        for st in &s.steps {
            let _ = write!(
                out,
                "  {:<6} S.No {:<4} {:<9} {:<52} {:>7.1} ms",
                paint(st.outcome, mark(st.outcome)),
                st.row.sno,
                requirement(st.row.requirement),
                truncate(&st.title, 52),
                st.duration_ms
            );
            if let Some(r) = &st.reason {
                let _ = write!(out, "\n         {}:{}: {}", s.file, st.line, r);
            }
            out.push('\n');
        }
        let _ = writeln!(out, "  {}", counts(s.steps.iter()));
    }
    let verdict =
        if report.passed() { "every mandatory step passed" } else { "a mandatory step did not pass" };
    let _ = writeln!(
        out,
        "\n{} scenarios, {} in {:.1} ms: {verdict}",
        report.scenarios.len(),
        counts(report.scenarios.iter().flat_map(|s| &s.steps)),
        report.duration_ms
    );
    out
}

fn counts<'a>(steps: impl Iterator<Item = &'a StepResult>) -> String {
    let mut c = [0usize; 4];
    for s in steps {
        c[s.outcome as usize] += 1;
    }
    format!("{} passed, {} failed, {} skipped, {} manual", c[0], c[1], c[2], c[3])
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub fn json(report: &RunReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default()
}

pub fn junit(report: &RunReport) -> String {
    let mut r = Report::new("abdm-sandbox conformance");
    for s in &report.scenarios {
        let mut suite = TestSuite::new(s.id.as_str());
        for st in &s.steps {
            let status = match st.outcome {
                Outcome::Pass => TestCaseStatus::success(),
                Outcome::Fail => {
                    let mut f = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    f.set_message(st.reason.clone().unwrap_or_default());
                    f.set_description(st.failures.join("\n"));
                    f
                }
                Outcome::Skipped | Outcome::Manual => {
                    let mut sk = TestCaseStatus::skipped();
                    sk.set_message(format!(
                        "{}: {}",
                        mark(st.outcome),
                        st.reason.clone().unwrap_or_default()
                    ));
                    sk
                }
            };
            let name =
                format!("S.No {} {} [{}] {}", st.row.sno, st.id, requirement(st.row.requirement), st.title);
            let mut case = TestCase::new(name, status);
            case.set_classname(format!("{}.{}", s.id, st.id));
            case.set_time(std::time::Duration::from_secs_f64(st.duration_ms / 1000.0));
            suite.add_test_case(case);
        }
        r.add_test_suite(suite);
    }
    r.to_string().unwrap_or_default()
}

const HTML_TEMPLATE: &str = include_str!("report.html");

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One page: per scenario, a table of S.No, functionality, scenario, Mandatory/Optional, result
/// and evidence.
pub fn html(report: &RunReport) -> String {
    let mut body = String::new();
    for s in &report.scenarios {
        let _ = write!(
            body,
            "<section><h2>{}</h2><p class=\"meta\">{} · {} · {}</p><table><thead><tr><th>S.No</th><th>Functionality</th><th>Test scenario</th><th>Mandatory / Optional</th><th>Result</th><th>Evidence</th></tr></thead><tbody>",
            esc(&s.title),
            esc(&s.id),
            esc(&s.source),
            esc(&counts(s.steps.iter()))
        );
        for st in &s.steps {
            let functionality =
                if st.row.functionality.is_empty() { &st.title } else { &st.row.functionality };
            let evidence = evidence(st);
            let _ = write!(
                body,
                "<tr class=\"{cls}\"><td>{sno}</td><td>{func}</td><td>{scen}</td><td>{req}</td><td class=\"result\">{mark}</td><td>{evidence}</td></tr>",
                cls = mark(st.outcome).to_lowercase(),
                sno = esc(&st.row.sno),
                func = esc(functionality),
                scen = esc(if st.row.scenario.is_empty() { &st.title } else { &st.row.scenario }),
                req = requirement(st.row.requirement),
                mark = mark(st.outcome),
            );
        }
        body.push_str("</tbody></table></section>");
    }
    let verdict =
        if report.passed() { "Every mandatory step passed" } else { "A mandatory step did not pass" };
    HTML_TEMPLATE
        .replace("{{target}}", &esc(&report.target))
        .replace("{{started}}", &esc(&report.started_at))
        .replace("{{verdict}}", verdict)
        .replace("{{verdict_class}}", if report.passed() { "pass" } else { "fail" })
        .replace("{{summary}}", &esc(&counts(report.scenarios.iter().flat_map(|s| &s.steps))))
        .replace("{{body}}", &body)
}

fn evidence(st: &StepResult) -> String {
    let mut out = String::new();
    if let Some(r) = &st.reason {
        let _ = write!(out, "<p class=\"reason\">{}</p>", esc(r));
    }
    for (label, v) in [("sent / awaited", &st.request), ("received", &st.response)] {
        if let Some(v) = v {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            let _ = write!(out, "<details><summary>{label}</summary><pre>{}</pre></details>", esc(&text));
        }
    }
    out
}
