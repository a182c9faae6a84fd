//! Watching the sandbox's journal, for the modes where the target under test is not the gateway:
//! a HIP's or a HIU's calls to the gateway and the gateway's calls to it (HIP and HIU modes; the
//! sandbox's data pushes to a HIU too), or a client program's calls (client mode), are found
//! there and judged like the runner's own exchanges.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::assert;
use super::exchange::{answer_failure, excerpt, Exchange, Halt};
use super::failure::{Failure, FailureKind};
use crate::scenario::template::{references, render_str, text, Vars};
use crate::scenario::{Expect, ExpectLines, Mode, Request, Step};

/// The journal as read so far, and which of its entries steps have taken.
pub(crate) struct Watcher {
    base: String,
    http: reqwest::Client,
    entries: Vec<Value>,
    next_seq: u64,
    taken: BTreeSet<u64>,
    /// The journal sequence number of the last matched entry (for steps that must come in order).
    last: u64,
}

/// Which way a journal entry went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Calls the target made to the gateway.
    Inbound,
    /// Calls the gateway made to the target.
    Outbound,
}

impl Watcher {
    /// A watcher of the journal of the sandbox at `base`.
    pub fn new(base: &str, http: reqwest::Client) -> Watcher {
        Watcher {
            base: base.to_string(),
            http,
            entries: Vec::new(),
            next_seq: 0,
            taken: BTreeSet::new(),
            last: 0,
        }
    }

    async fn refresh(&mut self) {
        let url = format!("{}/_sandbox/journal?since={}", self.base, self.next_seq);
        if let Ok(res) = self.http.get(url).send().await {
            if let Ok(Value::Array(items)) = res.json::<Value>().await {
                for e in items {
                    self.next_seq = self.next_seq.max(e["seq"].as_u64().unwrap_or(0));
                    self.entries.push(e);
                }
            }
        }
    }

    /// Waits up to `within` for the first entry not yet taken (and, when `ordered`, after the last
    /// one matched) that `matches`; takes it.
    async fn find(
        &mut self,
        direction: Direction,
        request: &Request,
        vars: &Vars,
        within: Duration,
        ordered: bool,
        constraint: impl Fn(&Value) -> bool,
    ) -> Result<Value, Halt> {
        let (method, path) = (request.method.as_str(), request.path.as_str());
        let pattern = path_pattern(path, vars, matches!(direction, Direction::Outbound));
        let dir = match direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        let deadline = Instant::now() + within;
        loop {
            self.refresh().await;
            let hit = self.entries.iter().find(|e| {
                let seq = e["seq"].as_u64().unwrap_or(0);
                e["direction"] == dir
                    && e["method"].as_str().is_some_and(|m| m.eq_ignore_ascii_case(method))
                    && !self.taken.contains(&seq)
                    && (!ordered || seq > self.last)
                    && e["path"].as_str().is_some_and(|p| pattern.is_match(p))
                    && constraint(e)
            });
            if let Some(e) = hit.cloned() {
                let seq = e["seq"].as_u64().unwrap_or(0);
                self.taken.insert(seq);
                self.last = self.last.max(seq);
                return Ok(e);
            }
            if Instant::now() >= deadline {
                let why = self.why_missing(dir, &pattern, ordered, &constraint);
                let message = format!(
                    "no {dir} {method} {path} was observed within {} s ({why})",
                    within.as_secs_f64()
                );
                let subject = format!("{dir} {method} {path}");
                let failure = Failure::plain(FailureKind::NotObserved, subject, message);
                return Err(failure.values(Some(format!("{method} {path}")), Some(why)).into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Why no entry matched: it came out of order, or what was recorded instead.
    fn why_missing(
        &self,
        dir: &str,
        pattern: &regex::Regex,
        ordered: bool,
        constraint: impl Fn(&Value) -> bool,
    ) -> String {
        let earlier = self.entries.iter().any(|e| {
            e["direction"] == dir && e["path"].as_str().is_some_and(|p| pattern.is_match(p)) && constraint(e)
        });
        if earlier && ordered {
            return "it came, but out of the documented order".to_string();
        }
        let seen: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e["direction"] == dir)
            .rev()
            .take(5)
            .map(|e| {
                let (method, path) = (e["method"].as_str().unwrap_or(""), e["path"].as_str().unwrap_or(""));
                format!("{method} {path} → {}", e["status"])
            })
            .collect();
        if seen.is_empty() {
            "nothing was recorded".to_string()
        } else {
            format!("latest recorded: {}", seen.join(", "))
        }
    }
}

/// Finds the step's message in the journal and returns it as the exchange. A message the
/// target sent (inbound) is judged like an answer the runner got: `expect` applies to the
/// sandbox's answer, `sent` to the target's request. A message the gateway sent the target
/// (outbound) has `expect` about the message itself and `answer` about the target's reply.
pub(crate) async fn exchange(
    watcher: &mut Watcher,
    step: &Step,
    request: &Request,
    direction: Direction,
    mode: Mode,
    (vars, captured): (&Vars, &BTreeMap<String, String>),
    within: Duration,
) -> Result<Exchange, Halt> {
    let outbound = direction == Direction::Outbound;
    let ordered = mode == Mode::Client;
    let template = request.body.clone().unwrap_or(Value::Null);
    // The gateway's own messages are told apart by the values the step expects from earlier
    // captures (the requestId of this share); a client's by the values its request carries
    // from them; a HIU's, which may come in any order (one fetch per artefact), by the values
    // the step expects it to have sent from them (the transaction its notify closes).
    let correlating = |assertions: &[crate::scenario::Assertion], by: &dyn Fn(&String) -> bool| Expect {
        status: None,
        headers: Default::default(),
        body: assertions
            .iter()
            .filter(|a| {
                let values = a.check.equals.iter().chain(a.check.one_of.iter().flatten());
                values.flat_map(|v| references(v).unwrap_or_default()).any(|n| by(&n))
            })
            .cloned()
            .collect(),
    };
    let expected = correlating(&step.expect.body, &|_| true);
    // Only captures tie a HIU's message to the flow (`equals` or `one_of` naming them: its own
    // artefacts, not those of an earlier scenario it may still be working on); a wrong literal
    // value is a failure to show.
    let sent = correlating(&step.sent, &|name| captured.contains_key(name));
    let holds = |e: &Expect, body: &Value| {
        assert::check(e, &ExpectLines::default(), None, &[], body, vars).is_empty()
    };
    let entry = watcher
        .find(direction, request, vars, within, ordered, |e| {
            if outbound {
                holds(&expected, &e["requestBody"])
            } else if mode == Mode::Hiu {
                holds(&sent, &e["requestBody"])
            } else {
                !ordered || agrees(&template, vars, &e["requestBody"])
            }
        })
        .await?;
    let status = entry["status"].as_u64().map(|s| s as u16);
    let mut exchange = Exchange {
        shown_request: json!({"observed": entry["path"], "seq": entry["seq"], "body": excerpt(&entry["requestBody"])}),
        shown_response: json!({"status": entry["status"], "body": excerpt(&entry["responseBody"])}),
        sent: entry["requestBody"].clone(),
        status,
        headers: None,
        body: entry["responseBody"].clone(),
        failures: Vec::new(),
    };
    if outbound {
        // Status 0: the target never answered.
        exchange.failures.extend(answer_failure(step, status.unwrap_or(0)));
        exchange.status = None;
        exchange.body = exchange.sent.clone();
    }
    Ok(exchange)
}

/// A path template as a regular expression: literal text, and each `{{...}}` the value it renders
/// to now, or any segment when it cannot be rendered yet. Outbound paths are full URLs, matched
/// by their end.
fn path_pattern(path: &str, vars: &Vars, suffix: bool) -> regex::Regex {
    let mut re = String::from(if suffix { "^.*" } else { "^" });
    let mut rest = path;
    while let Some(start) = rest.find("{{") {
        re.push_str(&regex::escape(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        match render_str(&format!("{{{{{}}}}}", &after[..end]), vars) {
            Ok(v) if !after[..end].contains('(') => re.push_str(&regex::escape(&text(&v))),
            _ => re.push_str("[^/?&]*"),
        }
        rest = after.get(end + 2..).unwrap_or("");
    }
    re.push_str(&regex::escape(rest));
    re.push('$');
    regex::Regex::new(&re).unwrap_or_else(|_| regex::Regex::new("^$").expect("a valid regex"))
}

/// Whether a recorded (masked) body agrees with a step's request body on the fields that tie it
/// to the flow: those the step fills from vars and captures (a txnId, the Aadhaar of the person
/// in this flow). Literal values are what the runner would send, not what a client must send;
/// generated values (uuid(), now(), encryption) and values not known yet match anything.
fn agrees(template: &Value, vars: &Vars, recorded: &Value) -> bool {
    match template {
        Value::Object(map) => map.iter().all(|(k, t)| {
            let got = recorded.get(k).unwrap_or(&Value::Null);
            match t {
                Value::Object(_) => agrees(t, vars, got),
                Value::String(s) if s.contains("{{") => {
                    if s.contains('(') {
                        return true;
                    }
                    match render_str(s, vars) {
                        // Compared as text: a client may send a number as a string.
                        Ok(v) => text(&masked(k, v)) == text(got),
                        Err(_) => true,
                    }
                }
                _ => true,
            }
        }),
        _ => true,
    }
}

/// A value as the journal records it under `key` (secrets masked).
fn masked(key: &str, v: Value) -> Value {
    let mut obj = serde_json::json!({ key: v });
    abdm_server::mask_secrets(&mut obj);
    obj[key].take()
}
