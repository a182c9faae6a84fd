//! The runner's own receiving end: an HTTP server on 127.0.0.1 that takes the messages sent to
//! the role the runner plays (callbacks to a client's or HIP's bridge), answers them 202 and keeps
//! them for the steps that wait for them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Message {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub taken: bool,
}

#[derive(Clone, Default)]
pub struct Inbox {
    messages: Arc<Mutex<Vec<Message>>>,
}

pub struct Running {
    pub url: String,
    pub inbox: Inbox,
    handle: actix_web::dev::ServerHandle,
}

impl Running {
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Starts an inbox on a free loopback port.
pub async fn start() -> std::io::Result<Running> {
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
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
    let msg = Message {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers,
        body,
        taken: false,
    };
    inbox.messages.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
    HttpResponse::Accepted().finish()
}

impl Inbox {
    /// Waits up to `within` for the first message to `path` not yet taken, and takes it.
    pub async fn take(&self, path: &str, within: Duration) -> Result<Message, Vec<String>> {
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

    pub fn clear(&self) {
        self.messages.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
