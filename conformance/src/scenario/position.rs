//! Where the parts of each step stand in a scenario file, as a YAML parser that keeps positions
//! (saphyr's marked nodes) reports them: the line of a step's `id:`, and of each expectation a
//! failure can point at (`status:`, a header, an assertion of `expect.body` or `sent`, `answer:`,
//! a capture). The model itself is read by serde; this only adds the lines.

use std::borrow::Cow;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::model::{ExpectLines, StepLines};

/// The lines of each step of a scenario file, in file order; empty when the text is not YAML
/// this parser accepts (the serde loader has reported that already).
pub(crate) fn step_lines(text: &str) -> Vec<StepLines> {
    let Ok(docs) = MarkedYaml::load_from_str(text) else {
        return Vec::new();
    };
    let Some((_, steps)) = docs.first().and_then(|root| entry(root, "steps")) else {
        return Vec::new();
    };
    items(steps).map(one_step).collect()
}

fn one_step(step: &MarkedYaml) -> StepLines {
    let expect = entry(step, "expect").map(|(_, e)| e);
    StepLines {
        id: key_line(step, "id").unwrap_or_else(|| line(step)),
        request: key_line(step, "request"),
        answer: key_line(step, "answer"),
        expect: ExpectLines {
            status: expect.and_then(|e| key_line(e, "status")),
            headers: expect.and_then(|e| entry(e, "headers")).map(|(_, h)| keys(h)).unwrap_or_default(),
            body: expect
                .and_then(|e| entry(e, "body"))
                .map(|(_, b)| items(b).map(line).collect())
                .unwrap_or_default(),
        },
        sent: entry(step, "sent").map(|(_, s)| items(s).map(line).collect()).unwrap_or_default(),
        capture: entry(step, "capture").map(|(_, c)| keys(c)).unwrap_or_default(),
        capture_sent: entry(step, "capture_sent").map(|(_, c)| keys(c)).unwrap_or_default(),
    }
}

/// The line a node starts on (1-based).
fn line(node: &MarkedYaml) -> usize {
    node.span.start.line()
}

/// A scalar as the text it stands for (keys are compared with the model's map keys).
fn text<'a>(node: &'a MarkedYaml) -> Option<Cow<'a, str>> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(Cow::Borrowed(s.as_ref())),
        YamlData::Value(Scalar::Integer(n)) => Some(Cow::Owned(n.to_string())),
        YamlData::Value(Scalar::Boolean(b)) => Some(Cow::Owned(b.to_string())),
        YamlData::Representation(s, _, _) => Some(Cow::Borrowed(s.as_ref())),
        _ => None,
    }
}

/// The line of `key` in a mapping, and its value.
fn entry<'a, 'i>(node: &'a MarkedYaml<'i>, key: &str) -> Option<(usize, &'a MarkedYaml<'i>)> {
    let YamlData::Mapping(map) = &node.data else {
        return None;
    };
    map.iter().find(|(k, _)| text(k).as_deref() == Some(key)).map(|(k, v)| (line(k), v))
}

fn key_line(node: &MarkedYaml, key: &str) -> Option<usize> {
    entry(node, key).map(|(l, _)| l)
}

/// Each key of a mapping with its line.
fn keys(node: &MarkedYaml) -> std::collections::BTreeMap<String, usize> {
    match &node.data {
        YamlData::Mapping(map) => {
            map.keys().filter_map(|k| text(k).map(|t| (t.into_owned(), line(k)))).collect()
        }
        _ => Default::default(),
    }
}

/// The items of a sequence (none for anything else).
fn items<'a, 'i>(node: &'a MarkedYaml<'i>) -> impl Iterator<Item = &'a MarkedYaml<'i>> {
    let list: &[MarkedYaml<'i>] = match &node.data {
        YamlData::Sequence(items) => items,
        _ => &[],
    };
    list.iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_block_and_flow_steps() {
        let text = "id: x\nsteps:\n  - id: a\n    expect:\n      status: 200\n      headers: {x-a: {equals: b}}\n      body:\n        - {path: $.a, equals: 1}\n        - path: $.b\n          present: true\n    capture: {t: $.t}\n  - {id: b, answer: 202,\n     sent: [{path: $.c, equals: 2}]}\n";
        let lines = step_lines(text);
        assert_eq!(lines.len(), 2);
        let a = &lines[0];
        assert_eq!((a.id, a.expect.status, a.expect.headers["x-a"]), (3, Some(5), 6));
        assert_eq!((a.expect.body.clone(), a.capture["t"]), (vec![8, 9], 11));
        let b = &lines[1];
        assert_eq!((b.id, b.answer, b.sent.clone()), (12, Some(12), vec![13]));
        assert!(step_lines("steps: [").is_empty());
    }
}
