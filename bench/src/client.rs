//! A lean HTTP/1.1 client for the drivers: one keep-alive connection per simulated client, each
//! request written as soon as the previous answer is read. The load generator shares the cores
//! with the server, so its own cost per request is kept small (no pool, no URL parsing, no
//! per-request timers).

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// `http://HOST:PORT` (with or without a trailing slash) → the socket address.
pub async fn resolve(base: &str) -> Result<SocketAddr, String> {
    let authority = base
        .trim_end_matches('/')
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base}: give an http:// URL with no path"))?;
    tokio::net::lookup_host(authority)
        .await
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))
}

pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, host: addr.to_string(), sender: None }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream =
                tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(self.addr))
                    .await
                    .map_err(|_| format!("{}: connect timed out", self.addr))?
                    .map_err(|e| format!("{}: {e}", self.addr))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("{}: {e}", self.addr))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        Ok(self.sender.as_mut().expect("connected above"))
    }

    /// One request: (status, body). `auth` is the whole Authorization value.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), String> {
        self.send_with(method, path, auth, body, &[]).await
    }

    /// [`Conn::send`] with more headers.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Bytes>,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Bytes), String> {
        let host = self.host.clone();
        let sender = self.connect().await?;
        sender.ready().await.map_err(|e| format!("{path}: {e}"))?;
        let mut req = Request::builder().method(method).uri(path).header("Host", host);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body.unwrap_or_default())).map_err(|e| e.to_string())?;
        let sent = sender.send_request(req).await;
        let res = match sent {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(format!("{path}: {e}"));
            }
        };
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(|e| format!("{path}: {e}"))?.to_bytes();
        Ok((status, bytes))
    }

    /// POST a JSON body; a non-2xx answer is an error naming the path and what came back.
    pub async fn post_json(
        &mut self,
        path: &str,
        auth: Option<&str>,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let bytes = Bytes::from(serde_json::to_vec(body).map_err(|e| e.to_string())?);
        let (status, answer) = self.send(Method::POST, path, auth, Some(bytes)).await?;
        if !status.is_success() {
            return Err(format!("{path}: {status}: {}", String::from_utf8_lossy(&answer)));
        }
        if answer.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|e| format!("{path}: {e}"))
    }
}
