//! The runner sending a step's message itself (the roles the target does not play): the request
//! is rendered from the step's templates, sent to the target, and its answer read back.

use serde_json::{json, Value};

use super::exchange::{
    answer_failure, excerpt, json_or_text, rendered_path, template_failure, Exchange, Halt,
};
use super::failure::{Failure, FailureKind};
use super::Target;
use crate::scenario::template::{render, render_str, text, Vars};
use crate::scenario::{Request, Role, Step};

/// Sends the step's request and returns the exchange for the checks.
pub(crate) async fn exchange(
    http: &reqwest::Client,
    target: &Target,
    step: &Step,
    request: &Request,
    vars: &Vars,
) -> Result<Exchange, Halt> {
    let (sent, status, headers, body) = send(http, target, request, vars).await?;
    let sent_body = sent["body"].clone();
    let mut shown = sent;
    shown["body"] = excerpt(&shown["body"]);
    let failures = answer_failure(step, status).filter(|_| step.from == Role::Gateway).into_iter().collect();
    Ok(Exchange {
        shown_response: json!({"status": status, "body": excerpt(&body)}),
        shown_request: shown,
        sent: sent_body,
        status: Some(status),
        headers: Some(headers),
        body,
        failures,
    })
}

/// What was sent (method, URL, headers with the token hidden, body), the status, the headers
/// and the JSON (or text) body of the answer.
type Answered = (Value, u16, Vec<(String, String)>, Value);

/// Sends a request rendered with `vars` to the target (or to a full URL the path gives).
async fn send(
    http: &reqwest::Client,
    target: &Target,
    request: &Request,
    vars: &Vars,
) -> Result<Answered, Halt> {
    let path = rendered_path(request, vars)?;
    let url = if path.starts_with("http://") || path.starts_with("https://") {
        path.clone()
    } else {
        format!("{}{path}", target.base)
    };
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|e| Failure::new(FailureKind::Scenario, "request.method", e))?;
    let mut req = http.request(method, &url);
    let mut sent_headers = serde_json::Map::new();
    for (k, v) in &request.headers {
        let v = text(&render_str(v, vars).map_err(|e| template_failure(&format!("request.headers.{k}"), e))?);
        let shown =
            if k.eq_ignore_ascii_case("authorization") { "Bearer …".to_string() } else { v.clone() };
        sent_headers.insert(k.clone(), Value::String(shown));
        req = req.header(k.as_str(), v);
    }
    let body = match &request.body {
        Some(b) => Some(render(b, vars).map_err(|e| template_failure("request.body", e))?),
        None => None,
    };
    if let Some(b) = &body {
        req = req.json(b);
    }
    let sent = json!({"method": request.method, "url": url, "headers": sent_headers, "body": body});
    let transport = |message: String| Failure::plain(FailureKind::Transport, url.clone(), message);
    let res = req
        .send()
        .await
        .map_err(|e| transport(format!("{} {url}: no answer: {}", request.method, causes(&e))))?;
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = res.bytes().await.map_err(|e| transport(format!("reading the answer: {e}")))?;
    let body = if bytes.is_empty() { Value::Null } else { json_or_text(&bytes) };
    Ok((sent, status, headers, body))
}

/// An error with its causes (`error sending request: connection closed before message
/// completed`): reqwest's own message alone does not say what went wrong.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}
