//! `GET /_sandbox/events`: the journal as server-sent events, for the console's live panels and
//! for programs (`curl -N`, an `EventSource`). Each entry is one event:
//!
//! ```text
//! id: 42
//! event: journal
//! data: {"seq":42,"at":"…","direction":"inbound","method":"POST","path":"/gateway/v0.5/sessions",…}
//! ```
//!
//! `?since=SEQ` (or the `Last-Event-ID` header an `EventSource` sends when it reconnects) starts
//! after that entry; without either the stream starts with every entry the journal still holds.
//! Entries are the journal's own rendering: secrets masked, long strings shortened. A comment
//! line every 15 s keeps idle connections open through proxies.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use crate::journal::Journal;
use crate::state::AppState;

/// How long an idle stream waits before it sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `?since=` of the stream.
#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<u64>,
}

/// Where one client's stream is.
struct Follower {
    journal: web::Data<Journal>,
    recorded: Receiver<u64>,
    /// The last sequence number sent.
    last: u64,
}

impl Follower {
    /// The next chunk: the entries recorded after the last one sent, or a keep-alive comment
    /// when none comes within [`KEEP_ALIVE`]; `None` once the journal is gone.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            let entries = self.journal.since(self.last);
            if let Some(newest) = entries.last() {
                self.last = newest.seq;
                let mut chunk = String::new();
                for e in &entries {
                    let data = serde_json::to_string(e).unwrap_or_else(|_| "null".into());
                    chunk += &format!("id: {}\nevent: journal\ndata: {data}\n\n", e.seq);
                }
                return Some(Bytes::from(chunk));
            }
            match tokio::time::timeout(KEEP_ALIVE, self.recorded.recv()).await {
                Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
                // A sequence number at or below the last one sent means the client's `since`
                // came from an earlier run of the sandbox: follow this one's journal from here.
                Ok(Ok(seq)) if seq <= self.last => self.last = seq - 1,
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
                Ok(Err(RecvError::Closed)) => return None,
            }
        }
    }
}

/// `GET /_sandbox/events`: the journal from `since` on, then live.
pub async fn stream(req: HttpRequest, st: web::Data<AppState>, q: web::Query<EventsQuery>) -> HttpResponse {
    let resumed = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let journal = st.shared.journal.clone();
    // Subscribed before the first read, so nothing recorded in between is missed.
    let recorded = journal.subscribe();
    let follower = Follower { journal, recorded, last: resumed.or(q.since).unwrap_or(0) };
    // The first chunk tells an EventSource to retry quickly after a lost connection.
    let hello = futures_util::stream::once(async {
        Ok::<_, Infallible>(Bytes::from_static(b"retry: 2000\n: journal events\n\n"))
    });
    let entries = futures_util::stream::unfold(follower, |mut f| async move {
        f.next().await.map(|chunk| (Ok::<_, Infallible>(chunk), f))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(hello.chain(entries))
}
