//! The runner's own receiving end: an HTTP server on 127.0.0.1 that takes the messages sent to
//! the role the runner plays (callbacks to a client's or HIP's bridge), answers them 202 and keeps
//! them for the steps that wait for them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use super::exchange::{excerpt, json_or_text, rendered_path, Exchange, Halt};
use super::failure::{Failure, FailureKind};
use crate::scenario::template::Vars;
use crate::scenario::Request;

/// A message that arrived.
#[derive(Debug, Clone)]
struct Message {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
    /// A step has taken it already.
    taken: bool,
}

/// The messages that arrived, shared with the server's handler.
///
/// Each scenario gives out a URL of its own (`{url}/s{n}`, [`Running::scenario_url`]): a
/// callback of an earlier scenario still in flight when the next one began (its reset cannot
/// recall a delivery under way) arrives under the old prefix and is answered and dropped, so it
/// cannot stand in for the new scenario's message.
#[derive(Clone, Default)]
pub(crate) struct Inbox {
    messages: Arc<Mutex<Vec<Message>>>,
    /// The scenario whose messages are kept.
    scenario: Arc<AtomicUsize>,
    /// (path, request id) of every message kept in this run: a sender's retry of a message it
    /// timed out on (the gateway delivers at least once) is answered and dropped, so it cannot
    /// stand in for a later message to the same path.
    seen: Arc<Mutex<HashSet<(String, String)>>>,
}

/// A started inbox: its URL (the bridge URL scenarios register) and its messages.
pub(crate) struct Running {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The messages.
    pub inbox: Inbox,
    handle: actix_web::dev::ServerHandle,
}

impl Running {
    /// The URL the current scenario gives out as its bridge (`{{inbox.url}}`).
    pub fn scenario_url(&self) -> String {
        format!("{}/s{}", self.url, self.inbox.scenario.load(Ordering::SeqCst))
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Starts an inbox on a free loopback port.
pub(crate) async fn start() -> std::io::Result<Running> {
    let inbox = Inbox::default();
    let app_inbox = inbox.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(app_inbox.clone()))
            .app_data(web::PayloadConfig::new(4 << 20))
            .default_service(web::to(receive))
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", 0))?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Running { url: format!("http://{addr}"), inbox, handle })
}

async fn receive(inbox: web::Data<Inbox>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = json_or_text(&body);
    let id = req
        .headers()
        .get("REQUEST-ID")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| body["requestId"].as_str().map(str::to_string));
    // Under the messages' lock, so that a scenario cannot begin between the check and the push.
    let mut messages = inbox.messages.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = inbox.kept_path(req.path()) else {
        return HttpResponse::Accepted().finish();
    };
    if let Some(id) = id {
        let first = inbox.seen.lock().unwrap_or_else(|e| e.into_inner()).insert((path.clone(), id));
        if !first {
            return HttpResponse::Accepted().finish();
        }
    }
    messages.push(Message { method: req.method().to_string(), path, headers, body, taken: false });
    HttpResponse::Accepted().finish()
}

impl Inbox {
    /// Waits up to `within` for the first message to `path` not yet taken, and takes it; or
    /// says what arrived instead (method and path of each message).
    async fn take(&self, path: &str, within: Duration) -> Result<Message, Vec<String>> {
        let deadline = Instant::now() + within;
        loop {
            {
                let mut list = self.messages.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(m) = list.iter_mut().find(|m| !m.taken && m.path == path) {
                    m.taken = true;
                    return Ok(m.clone());
                }
                if Instant::now() >= deadline {
                    return Err(list.iter().map(|m| format!("{} {}", m.method, m.path)).collect());
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Forgets every message and moves on to the next scenario's URL (between scenarios).
    pub fn next_scenario(&self) {
        let mut messages = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        self.scenario.fetch_add(1, Ordering::SeqCst);
        messages.clear();
    }

    /// The path a message to `path` is kept under: without the current scenario's prefix, or
    /// as it is when it has none; `None` for another scenario's.
    fn kept_path(&self, path: &str) -> Option<String> {
        let Some((n, rest)) = path.strip_prefix("/s").and_then(|p| p.split_once('/')) else {
            return Some(path.to_string());
        };
        match n.parse::<usize>() {
            Ok(n) if n == self.scenario.load(Ordering::SeqCst) => Some(format!("/{rest}")),
            Ok(_) => None,
            Err(_) => Some(path.to_string()),
        }
    }
}

/// Waits at the inbox for the message a step's request describes (its path on the bridge, or a
/// full URL at the inbox, such as a `dataPushUrl` the runner gave), and returns it as the
/// exchange: the message is what `expect` and `capture` read; the runner answered it 202.
pub(crate) async fn exchange(
    running: &Running,
    request: &Request,
    vars: &Vars,
    within: Duration,
) -> Result<Exchange, Halt> {
    let inbox = &running.inbox;
    let rendered = rendered_path(request, vars)?;
    let scenario_url = running.scenario_url();
    let path = match rendered.strip_prefix(&scenario_url).or_else(|| rendered.strip_prefix(&running.url)) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => rendered,
    };
    let shown_request = json!({"awaiting": path, "withinSeconds": within.as_secs_f64()});
    match inbox.take(&path, within).await {
        Ok(m) => Ok(Exchange {
            shown_request,
            shown_response: json!({"method": m.method, "path": m.path, "body": excerpt(&m.body)}),
            sent: m.body.clone(),
            status: Some(202),
            headers: Some(m.headers),
            body: m.body,
            failures: Vec::new(),
        }),
        Err(arrived) => {
            let seen = if arrived.is_empty() {
                "nothing arrived".to_string()
            } else {
                format!("arrived instead: {}", arrived.join(", "))
            };
            let message = format!("no {path} arrived within {} s ({seen})", within.as_secs_f64());
            let failure = Failure::plain(FailureKind::InboundMissing, path.clone(), message)
                .values(Some(format!("{} {path}", request.method)), Some(seen));
            Err(Halt { failure: Box::new(failure), shown_request: Some(Box::new(shown_request)) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_retried_message_is_kept_once() {
        let running = start().await.unwrap();
        let http = reqwest::Client::new();
        let url = format!("{}/v0.5/patients/profile/share", running.url);
        let body = json!({"requestId": "5f0c1c2e-0000-4000-8000-000000000001"});
        for _ in 0..2 {
            let r = http.post(&url).json(&body).send().await.unwrap();
            assert_eq!(r.status(), 202);
        }
        // Another message to the same path, and the same id at another path, are kept.
        let other = json!({"requestId": "5f0c1c2e-0000-4000-8000-000000000002"});
        http.post(&url).json(&other).send().await.unwrap();
        let elsewhere = format!("{}/v0.5/users/auth/on-init", running.url);
        http.post(&elsewhere).json(&body).send().await.unwrap();
        let within = Duration::from_millis(200);
        let path = "/v0.5/patients/profile/share";
        assert_eq!(running.inbox.take(path, within).await.unwrap().body, body);
        assert_eq!(running.inbox.take(path, within).await.unwrap().body, other);
        assert!(running.inbox.take(path, within).await.is_err(), "the retry was kept");
        assert!(running.inbox.take("/v0.5/users/auth/on-init", within).await.is_ok());
        // A message under an earlier scenario's URL is answered and dropped.
        let earlier = running.scenario_url();
        running.inbox.next_scenario();
        let late = json!({"requestId": "5f0c1c2e-0000-4000-8000-000000000003"});
        let r = http.post(format!("{earlier}/v0.5/patients/profile/share")).json(&late).send().await.unwrap();
        assert_eq!(r.status(), 202);
        assert!(running.inbox.take(path, within).await.is_err(), "an earlier scenario's message was kept");
        let now = json!({"requestId": "5f0c1c2e-0000-4000-8000-000000000004"});
        let current = format!("{}/v0.5/patients/profile/share", running.scenario_url());
        http.post(current).json(&now).send().await.unwrap();
        assert_eq!(running.inbox.take(path, within).await.unwrap().body, now);
        running.stop().await;
    }
}
