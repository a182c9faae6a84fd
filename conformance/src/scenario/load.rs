//! Loading and checking scenario files. Every problem is reported with the file and line:
//! YAML errors, unknown fields, duplicate step ids, a template naming something no earlier step
//! captures, a bad regular expression or JSON path, a step of the wrong shape for its role.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde_json::Value;
use serde_json_path::JsonPath;

use super::model::{Check, Role, Scenario};
use super::template::{references, BUILTIN_ROOTS};

/// A problem of a scenario file, with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: String,
    /// The line (1-based; 0 when the problem is not at a line, such as a file that cannot be read).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Every `*.yaml` file of a folder, sorted by name; all problems of all files at once.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, Vec<LoadError>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| vec![LoadError { file: dir.display().to_string(), line: 0, message: e.to_string() }])?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let (mut scenarios, mut errors) = (Vec::new(), Vec::new());
    for f in files {
        match load_file(&f) {
            Ok(s) => scenarios.push(s),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut ids = BTreeSet::new();
    for s in &scenarios {
        if !ids.insert(s.id.clone()) {
            errors.push(LoadError {
                file: s.file.clone(),
                line: 1,
                message: format!("scenario id {:?} is used twice", s.id),
            });
        }
    }
    if errors.is_empty() {
        Ok(scenarios)
    } else {
        Err(errors)
    }
}

/// One scenario file, loaded and checked.
pub fn load_file(path: &Path) -> Result<Scenario, Vec<LoadError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![LoadError { file: file.clone(), line: 0, message: e.to_string() }])?;
    parse(&file, &text)
}

/// Parses and checks one scenario file's text.
pub fn parse(file: &str, text: &str) -> Result<Scenario, Vec<LoadError>> {
    let mut scenario: Scenario = serde_norway::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line()).unwrap_or(0);
        vec![LoadError { file: file.to_string(), line, message: e.to_string() }]
    })?;
    scenario.file = file.to_string();
    locate(&mut scenario, text);
    let errors = check(&scenario);
    if errors.is_empty() {
        Ok(scenario)
    } else {
        Err(errors)
    }
}

/// Sets each step's lines, as the YAML parser places them.
fn locate(s: &mut Scenario, text: &str) {
    for (step, lines) in s.steps.iter_mut().zip(super::position::step_lines(text)) {
        step.line = lines.id;
        step.lines = lines;
    }
}

fn check(s: &Scenario) -> Vec<LoadError> {
    let mut errors = Vec::new();
    let mut err =
        |line: usize, message: String| errors.push(LoadError { file: s.file.clone(), line, message });
    if s.steps.is_empty() {
        err(1, "a scenario needs at least one step".into());
    }
    // Names defined so far: vars, builtins, then each step's captures.
    let mut defined: BTreeSet<String> = s.vars.keys().cloned().collect();
    defined.extend(BUILTIN_ROOTS.iter().map(|r| r.to_string()));
    for (name, v) in &s.vars {
        if let Err(e) = references(v) {
            err(1, format!("vars.{name}: {e}"));
        }
    }
    for (name, v) in &s.headers {
        match references(&Value::String(v.clone())) {
            Err(e) => err(1, format!("headers.{name}: {e}")),
            Ok(names) => {
                for n in names.iter().filter(|n| !defined.contains(*n)) {
                    err(1, format!("headers.{name} uses {{{{{n}}}}}, which is not a var or built-in"));
                }
            }
        }
    }
    let mut ids = BTreeSet::new();
    for step in &s.steps {
        let at = step.line;
        let where_ = format!("step {:?}", step.id);
        if !ids.insert(step.id.clone()) {
            err(at, format!("{where_}: the id is used twice"));
        }
        for need in &step.needs {
            if !ids.contains(need) || need == &step.id {
                err(at, format!("{where_}: needs {need:?}, which is not an earlier step"));
            }
        }
        if step.manual.is_some() {
            continue;
        }
        let instead = [step.start.is_some(), step.evaluate.is_some()];
        if instead.iter().filter(|x| **x).count() + usize::from(step.request.is_some()) > 1 {
            err(at, format!("{where_}: give one of request, start and evaluate"));
        }
        if step.from == Role::Gateway && instead.contains(&true) {
            err(
                at,
                format!("{where_}: start and evaluate are for the client, a HIP or a HIU, not the gateway"),
            );
        }
        match (&step.request, step.from, step.within) {
            (None, _, _) if instead.contains(&true) => {}
            (None, _, _) => err(
                at,
                format!("{where_}: a step that is not manual needs a request (or start, or evaluate)"),
            ),
            (Some(_), Role::Gateway, None) => err(
                at,
                format!("{where_}: a message from the gateway needs 'within' (seconds to wait for it)"),
            ),
            (Some(r), _, _) => {
                if !r.path.starts_with('/') && !r.path.starts_with("{{") {
                    err(at, format!("{where_}: request.path must start with '/'"));
                }
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&r.method.as_str()) {
                    err(at, format!("{where_}: request.method {:?} is not an HTTP method", r.method));
                }
            }
        }
        let mut used = Vec::new();
        let mut templated: Vec<(String, Value)> = Vec::new();
        if let Some(r) = &step.request {
            templated.push(("request.path".into(), Value::String(r.path.clone())));
            for (k, v) in &r.headers {
                templated.push((format!("request.headers.{k}"), Value::String(v.clone())));
            }
            if let Some(b) = &r.body {
                templated.push(("request.body".into(), b.clone()));
            }
        }
        if let Some(start) = &step.start {
            for (k, v) in &start.env {
                templated.push((format!("start.env.{k}"), Value::String(v.clone())));
            }
        }
        if let Some(v) = &step.evaluate {
            templated.push(("evaluate".into(), v.clone()));
        }
        if let Some(m) = &step.manual_unless {
            templated.push(("manual_unless.known".into(), Value::String(m.known.clone())));
        }
        for (k, c) in &step.expect.headers {
            check_check(c, &format!("expect.headers.{k}"), &mut templated, &mut |m| {
                err(at, format!("{where_}: {m}"))
            });
        }
        let assertions = step.expect.body.iter().enumerate().map(|(i, a)| (format!("expect.body[{i}]"), a));
        let sent = step.sent.iter().enumerate().map(|(i, a)| (format!("sent[{i}]"), a));
        for (field, a) in assertions.chain(sent) {
            if let Err(e) = JsonPath::parse(&a.path) {
                err(at, format!("{where_}: {field}.path {:?} is not a JSON path: {e}", a.path));
            }
            check_check(&a.check, &field, &mut templated, &mut |m| err(at, format!("{where_}: {m}")));
        }
        for (field, v) in &templated {
            match references(v) {
                Ok(names) => used.extend(names.into_iter().map(|n| (field.clone(), n))),
                Err(e) => err(at, format!("{where_}: {field}: {e}")),
            }
        }
        for (field, name) in used {
            if !defined.contains(&name) {
                err(
                    at,
                    format!("{where_}: {field} uses {{{{{name}}}}}, which no var or earlier step captures"),
                );
            }
        }
        for (name, path) in step.capture.iter().chain(&step.capture_sent) {
            if let Err(e) = JsonPath::parse(path) {
                err(at, format!("{where_}: capture {name} {path:?} is not a JSON path: {e}"));
            }
            if BUILTIN_ROOTS.contains(&name.as_str()) {
                err(at, format!("{where_}: capture.{name} would hide a built-in name"));
            }
            defined.insert(name.clone());
        }
    }
    errors
}

fn check_check(c: &Check, field: &str, templated: &mut Vec<(String, Value)>, err: &mut impl FnMut(String)) {
    let kinds = [
        c.equals.is_some(),
        c.matches.is_some(),
        c.present.is_some(),
        c.absent.is_some(),
        c.kind.is_some(),
        c.one_of.is_some(),
        c.contains.is_some(),
    ];
    if !kinds.iter().any(|k| *k) {
        err(format!(
            "{field}: says nothing to check (equals, matches, present, absent, type, one_of, contains)"
        ));
    }
    if let Some(re) = &c.matches {
        if let Err(e) = regex::Regex::new(re) {
            err(format!("{field}.matches: bad regular expression: {e}"));
        }
    }
    if let Some(k) = &c.kind {
        if !["string", "number", "integer", "boolean", "array", "object", "null"].contains(&k.as_str()) {
            err(format!("{field}.type {k:?}: use string, number, integer, boolean, array, object or null"));
        }
    }
    if let Some(v) = &c.equals {
        templated.push((format!("{field}.equals"), v.clone()));
    }
    if let Some(list) = &c.one_of {
        templated.push((format!("{field}.one_of"), Value::Array(list.clone())));
    }
    if let Some(v) = &c.contains {
        templated.push((format!("{field}.contains"), Value::String(v.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id: demo
title: Demo
steps:
  - id: first
    title: First
    row: {sno: "1", requirement: Mandatory}
    from: client
    request: {method: POST, path: /x, body: {a: "{{uuid()}}"}}
    capture: {txn: $.txnId}
  - id: second
    title: Second
    row: {sno: "2", requirement: Optional}
    from: client
    request: {path: /y, body: {txnId: "{{txn}}"}}
    expect:
      status: 200
      body:
        - {path: $.ok, equals: true}
"#;

    #[test]
    fn a_good_file_loads_with_lines() {
        let s = parse("demo.yaml", GOOD).unwrap();
        assert_eq!((s.steps[0].line, s.steps[1].line), (5, 11));
    }

    #[test]
    fn start_and_evaluate_steps_need_no_request() {
        let text =
            GOOD.replace("request: {path: /y, body: {txnId: \"{{txn}}\"}}", "evaluate: {t: \"{{txn}}\"}");
        let s = parse("demo.yaml", &text).unwrap();
        assert!(s.steps[1].evaluate.is_some() && s.steps[1].request.is_none());
        let text = GOOD.replace(
            "request: {method: POST, path: /x, body: {a: \"{{uuid()}}\"}}",
            "start: {env: {PATIENT: a@sbx}}",
        );
        let s = parse("demo.yaml", &text).unwrap();
        assert_eq!(s.steps[0].start.as_ref().unwrap().env["PATIENT"], "a@sbx");
    }

    #[test]
    fn problems_are_reported_with_file_and_line() {
        let cases = [
            (GOOD.replace("{{txn}}", "{{nope}}"), 11, "uses {{nope}}"),
            (
                GOOD.replace("from: client\n    request: {path", "from: robot\n    request: {path"),
                0,
                "unknown variant `robot`",
            ),
            (GOOD.replace("equals: true", "matches: \"([\""), 11, "bad regular expression"),
            (GOOD.replace("$.ok", "\"$.ok..\""), 11, "is not a JSON path"),
            (GOOD.replace("id: second", "id: first"), 11, "used twice"),
            (
                GOOD.replace("request: {path: /y", "start: {env: {P: x}}\n    request: {path: /y"),
                11,
                "one of request",
            ),
            (
                GOOD.replace(
                    "from: client\n    request: {path",
                    "from: gateway\n    within: 1\n    evaluate: {a: 1}\n    request: {path",
                ),
                11,
                "not the gateway",
            ),
            (
                GOOD.replace(
                    "request: {path: /y, body: {txnId: \"{{txn}}\"}}",
                    "evaluate: {t: \"{{nope}}\"}",
                ),
                11,
                "evaluate uses {{nope}}",
            ),
        ];
        for (text, line, want) in cases {
            let errs = parse("demo.yaml", &text).unwrap_err();
            assert!(
                errs.iter().any(|e| e.message.contains(want) && (line == 0 || e.line == line)),
                "{want}: {errs:?}"
            );
            assert!(errs.iter().all(|e| e.file == "demo.yaml"));
        }
    }
}
