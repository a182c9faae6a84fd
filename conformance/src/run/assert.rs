//! Checking an answer (or an inbound message) against a step's expectations. Each failure says
//! what was expected, what arrived, and where.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::failure::{Failure, FailureKind};
use crate::scenario::template::{render, text, Vars};
use crate::scenario::{Check, Expect, ExpectLines};

/// All failures of one answer; empty when it passed. `lines` places each expectation in the file.
pub(crate) fn check(
    expect: &Expect,
    lines: &ExpectLines,
    status: Option<u16>,
    headers: &[(String, String)],
    body: &Value,
    vars: &Vars,
) -> Vec<Failure> {
    let mut failures = Vec::new();
    if let (Some(want), Some(got)) = (&expect.status, status) {
        if !want.accepts(got) {
            let detail = format!("expected {want}, got {got}{}", error_hint(body));
            failures.push(
                Failure::new(FailureKind::Status, "status", detail)
                    .values(Some(want.to_string()), Some(got.to_string()))
                    .on_line(lines.status),
            );
        }
    }
    for (name, c) in &expect.headers {
        let got =
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| Value::String(v.clone()));
        let selected: Vec<&Value> = got.iter().collect();
        if let Some(miss) = check_one(c, &selected, vars) {
            let line = lines.headers.get(name).copied();
            failures.push(miss.into_failure(FailureKind::Header, format!("header {name}")).on_line(line));
        }
    }
    for (i, a) in expect.body.iter().enumerate() {
        let line = lines.body.get(i).copied();
        let Ok(path) = JsonPath::parse(&a.path) else {
            failures.push(Failure::new(FailureKind::Scenario, &a.path, "not a JSON path").on_line(line));
            continue;
        };
        let nodes = path.query(body).all();
        if let Some(miss) = check_one(&a.check, &nodes, vars) {
            let kind = miss.kind;
            failures.push(miss.into_failure(kind, a.path.clone()).on_line(line));
        }
    }
    failures
}

/// A short pointer to the error an answer carries, to explain an unexpected status.
fn error_hint(body: &Value) -> String {
    let msg = body.get("message").or_else(|| body.pointer("/error/message")).and_then(Value::as_str);
    msg.map(|m| format!(" ({m})")).unwrap_or_default()
}

/// A value as reports show it: JSON, cut short.
pub(crate) fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.char_indices().nth(117).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

/// A check that did not hold: which, the sentence, and the two sides.
struct Miss {
    kind: FailureKind,
    detail: String,
    expected: Option<String>,
    actual: String,
}

impl Miss {
    fn new(kind: FailureKind, expected: Option<String>, actual: String, detail: String) -> Miss {
        Miss { kind, detail, expected, actual }
    }

    /// As a failure of `kind` on `subject` (a header's failure is a header failure, whatever
    /// its check).
    fn into_failure(self, kind: FailureKind, subject: String) -> Failure {
        Failure::new(kind, subject, self.detail).values(self.expected, Some(self.actual))
    }
}

/// `None` when the check holds for the selected values.
fn check_one(c: &Check, nodes: &[&Value], vars: &Vars) -> Option<Miss> {
    let first = nodes.iter().find(|v| !v.is_null()).copied();
    let got = nodes.first().map(|v| show(v)).unwrap_or_else(|| "nothing".into());
    let miss = |kind, expected: String, detail: String| {
        Some(Miss::new(kind, Some(expected), got.clone(), format!("{detail}, got {got}")))
    };
    if let Some(want) = c.present {
        if want && first.is_none() {
            return miss(FailureKind::Present, "present".into(), "expected to be present".into());
        }
        if !want && first.is_some() {
            return miss(FailureKind::Present, "absent".into(), "expected to be absent".into());
        }
    }
    if c.absent == Some(true) && first.is_some() {
        return miss(FailureKind::Absent, "absent".into(), "expected to be absent".into());
    }
    if let Some(want) = &c.equals {
        let want = match render(want, vars) {
            Ok(v) => v,
            Err(e) => {
                let detail = format!("cannot render the expected value: {e}");
                return Some(Miss::new(FailureKind::Scenario, None, got, detail));
            }
        };
        if nodes.first().copied() != Some(&want) {
            return miss(FailureKind::Equals, show(&want), format!("expected {}", show(&want)));
        }
    }
    if let Some(list) = &c.one_of {
        // Templates allowed: one of the artefacts captured earlier.
        let list: Vec<Value> = list.iter().map(|v| render(v, vars).unwrap_or_else(|_| v.clone())).collect();
        if !nodes.first().is_some_and(|v| list.contains(v)) {
            let want = show(&Value::Array(list.clone()));
            return miss(FailureKind::OneOf, want.clone(), format!("expected one of {want}"));
        }
    }
    if let Some(re) = &c.matches {
        let ok =
            first.and_then(Value::as_str).is_some_and(|s| regex::Regex::new(re).is_ok_and(|r| r.is_match(s)));
        if !ok {
            return miss(
                FailureKind::Matches,
                format!("/{re}/"),
                format!("expected a string matching /{re}/"),
            );
        }
    }
    if let Some(sub) = &c.contains {
        let sub = render(&Value::String(sub.clone()), vars).map(|v| text(&v)).unwrap_or_else(|_| sub.clone());
        if !first.and_then(Value::as_str).is_some_and(|s| s.contains(&sub)) {
            return miss(
                FailureKind::Contains,
                format!("{sub:?}"),
                format!("expected text containing {sub:?}"),
            );
        }
    }
    if let Some(kind) = &c.kind {
        let v = nodes.first().copied();
        let ok = match kind.as_str() {
            "string" => v.is_some_and(Value::is_string),
            "number" => v.is_some_and(Value::is_number),
            "integer" => v.is_some_and(|v| v.is_i64() || v.is_u64()),
            "boolean" => v.is_some_and(Value::is_boolean),
            "array" => v.is_some_and(Value::is_array),
            "object" => v.is_some_and(Value::is_object),
            "null" => v.is_none_or(Value::is_null),
            _ => false,
        };
        if !ok {
            return miss(FailureKind::Type, kind.clone(), format!("expected a {kind}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Assertion, Status};
    use serde_json::json;

    fn expect(path: &str, c: Check) -> Expect {
        Expect {
            status: Some(Status::One(200)),
            headers: Default::default(),
            body: vec![Assertion { path: path.into(), check: c }],
        }
    }

    #[test]
    fn each_kind_of_check_passes_and_fails() {
        let body = json!({"a": "abc", "n": 3, "nul": null, "list": [1]});
        let v = Vars::new();
        let cases: Vec<(&str, Check, bool)> = vec![
            ("$.a", Check { equals: Some(json!("abc")), ..Default::default() }, true),
            ("$.a", Check { equals: Some(json!("abd")), ..Default::default() }, false),
            ("$.a", Check { matches: Some("^a.c$".into()), ..Default::default() }, true),
            ("$.n", Check { matches: Some("3".into()), ..Default::default() }, false),
            ("$.a", Check { present: Some(true), ..Default::default() }, true),
            ("$.nul", Check { present: Some(true), ..Default::default() }, false),
            ("$.zzz", Check { absent: Some(true), ..Default::default() }, true),
            ("$.a", Check { absent: Some(true), ..Default::default() }, false),
            ("$.n", Check { kind: Some("integer".into()), ..Default::default() }, true),
            ("$.list", Check { kind: Some("object".into()), ..Default::default() }, false),
            ("$.a", Check { one_of: Some(vec![json!("x"), json!("abc")]), ..Default::default() }, true),
            ("$.a", Check { one_of: Some(vec![json!("x")]), ..Default::default() }, false),
            ("$.a", Check { contains: Some("bc".into()), ..Default::default() }, true),
            ("$.a", Check { contains: Some("zz".into()), ..Default::default() }, false),
        ];
        for (path, c, pass) in cases {
            let failures =
                check(&expect(path, c.clone()), &ExpectLines::default(), Some(200), &[], &body, &v);
            assert_eq!(failures.is_empty(), pass, "{path} {c:?}: {failures:?}");
        }
        let failures = check(
            &expect("$.a", Check { present: Some(true), ..Default::default() }),
            &ExpectLines { status: Some(4), headers: Default::default(), body: vec![7] },
            Some(422),
            &[],
            &json!({"message": "no"}),
            &v,
        );
        let messages: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            vec!["status: expected 200, got 422 (no)", "$.a: expected to be present, got nothing"]
        );
        let kinds: Vec<_> = failures.iter().map(|f| (f.kind, f.expectation_line)).collect();
        assert_eq!(kinds, vec![(FailureKind::Status, Some(4)), (FailureKind::Present, Some(7))]);
        assert_eq!(
            (failures[0].expected.as_deref(), failures[0].actual.as_deref()),
            (Some("200"), Some("422"))
        );
    }
}
