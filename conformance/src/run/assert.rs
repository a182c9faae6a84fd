//! Checking an answer (or an inbound message) against a step's expectations. Each failure says
//! what was expected, what arrived, and where.

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::scenario::model::{Check, Expect};
use crate::scenario::template::{render, text, Vars};

/// All failures of one answer; empty when it passed.
pub fn check(
    expect: &Expect,
    status: Option<u16>,
    headers: &[(String, String)],
    body: &Value,
    vars: &Vars,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let (Some(want), Some(got)) = (&expect.status, status) {
        if !want.accepts(got) {
            failures.push(format!("status: expected {want}, got {got}{}", error_hint(body)));
        }
    }
    for (name, c) in &expect.headers {
        let got =
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| Value::String(v.clone()));
        let selected: Vec<&Value> = got.iter().collect();
        if let Some(f) = check_one(c, &selected, vars) {
            failures.push(format!("header {name}: {f}"));
        }
    }
    for a in &expect.body {
        let Ok(path) = JsonPath::parse(&a.path) else {
            failures.push(format!("{}: not a JSON path", a.path));
            continue;
        };
        let nodes = path.query(body).all();
        if let Some(f) = check_one(&a.check, &nodes, vars) {
            failures.push(format!("{}: {f}", a.path));
        }
    }
    failures
}

/// A short pointer to the error an answer carries, to explain an unexpected status.
fn error_hint(body: &Value) -> String {
    let msg = body.get("message").or_else(|| body.pointer("/error/message")).and_then(Value::as_str);
    msg.map(|m| format!(" ({m})")).unwrap_or_default()
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 120 {
        format!("{}…", &s[..s.char_indices().nth(117).map(|(i, _)| i).unwrap_or(s.len())])
    } else {
        s
    }
}

/// `None` when the check holds for the selected values.
fn check_one(c: &Check, nodes: &[&Value], vars: &Vars) -> Option<String> {
    let first = nodes.iter().find(|v| !v.is_null()).copied();
    let got = || nodes.first().map(|v| show(v)).unwrap_or_else(|| "nothing".into());
    if let Some(want) = c.present {
        if want && first.is_none() {
            return Some(format!("expected to be present, got {}", got()));
        }
        if !want && first.is_some() {
            return Some(format!("expected to be absent, got {}", got()));
        }
    }
    if c.absent == Some(true) && first.is_some() {
        return Some(format!("expected to be absent, got {}", got()));
    }
    if let Some(want) = &c.equals {
        let want = match render(want, vars) {
            Ok(v) => v,
            Err(e) => return Some(format!("cannot render the expected value: {e}")),
        };
        if nodes.first().copied() != Some(&want) {
            return Some(format!("expected {}, got {}", show(&want), got()));
        }
    }
    if let Some(list) = &c.one_of {
        if !nodes.first().is_some_and(|v| list.contains(v)) {
            return Some(format!("expected one of {}, got {}", show(&Value::Array(list.clone())), got()));
        }
    }
    if let Some(re) = &c.matches {
        let ok =
            first.and_then(Value::as_str).is_some_and(|s| regex::Regex::new(re).is_ok_and(|r| r.is_match(s)));
        if !ok {
            return Some(format!("expected a string matching /{re}/, got {}", got()));
        }
    }
    if let Some(sub) = &c.contains {
        let sub = render(&Value::String(sub.clone()), vars).map(|v| text(&v)).unwrap_or_else(|_| sub.clone());
        if !first.and_then(Value::as_str).is_some_and(|s| s.contains(&sub)) {
            return Some(format!("expected text containing {sub:?}, got {}", got()));
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
            return Some(format!("expected a {kind}, got {}", got()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::{Assertion, Status};
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
            let failures = check(&expect(path, c.clone()), Some(200), &[], &body, &v);
            assert_eq!(failures.is_empty(), pass, "{path} {c:?}: {failures:?}");
        }
        let failures = check(
            &expect("$.a", Check { present: Some(true), ..Default::default() }),
            Some(422),
            &[],
            &json!({"message": "no"}),
            &v,
        );
        assert_eq!(
            failures,
            vec!["status: expected 200, got 422 (no)", "$.a: expected to be present, got nothing"]
        );
    }
}
