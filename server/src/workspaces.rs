//! Workspaces: one server, many isolated sandboxes. `/w/{name}/...` before any path (every API
//! family and `/_sandbox`) is a sandbox of its own — fixtures, accounts, transactions, bridges,
//! consents, journal, outbox, virtual clock and faults — created on first use; the bare paths are
//! the workspace `default`. A team's CI jobs each take a workspace and never see one another's
//! resets, clocks, faults or callbacks.
//!
//! The [`route`] middleware, outermost, takes the name off the path and hands the request the
//! workspace's state as app data (a data container the handlers' extractors search first), so
//! every handler, the journal and the faults work unchanged inside a workspace. Idle workspaces
//! expire after the TTL; at most `max` live at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, Uri};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{HttpResponse, ResponseError};
use dashmap::DashMap;
use serde_json::{json, Value};

use crate::callbacks;
use crate::clock::iso;
use crate::error::ApiError;
use crate::fixtures::Fixtures;
use crate::state::AppState;

/// The name of the bare paths' workspace.
pub use crate::shared::DEFAULT_WORKSPACE as DEFAULT;

fn real_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One workspace: its state and its callback dispatcher.
struct Workspace {
    id: u64,
    state: AppState,
    created: i64,
    last_used: AtomicI64,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(d) = self.dispatcher.take() {
            d.abort();
        }
    }
}

/// Every workspace of a server but `default`, which is the server's own state.
pub struct Workspaces {
    default: AppState,
    map: DashMap<String, Workspace>,
    fixtures: Arc<Fixtures>,
    journal_capacity: usize,
    /// Idle time (real milliseconds) after which a workspace is dropped.
    ttl: i64,
    max: usize,
    next_id: AtomicU64,
    public_url: OnceLock<String>,
}

impl Workspaces {
    /// Workspaces beside `default`, each created with these fixtures and journal size, dropped
    /// after `ttl_seconds` idle, at most `max` at once.
    pub fn new(default: AppState, journal_capacity: usize, ttl_seconds: u64, max: usize) -> Self {
        let fixtures = default.shared.fixtures.clone();
        Workspaces {
            default,
            map: DashMap::new(),
            fixtures,
            journal_capacity,
            ttl: (ttl_seconds as i64).saturating_mul(1000),
            max,
            next_id: AtomicU64::new(1),
            public_url: OnceLock::new(),
        }
    }

    /// The server's public base URL; a workspace's is this with `/w/{name}`.
    pub fn set_public_url(&self, url: &str) {
        let _ = self.public_url.set(url.trim_end_matches('/').to_string());
    }

    /// A workspace's state, created on first use; `None` past the limit.
    fn get(&self, name: &str) -> Option<(u64, AppState)> {
        let now = real_now();
        if let Some(w) = self.map.get(name) {
            w.last_used.store(now, Ordering::Relaxed);
            return Some((w.id, w.state.clone()));
        }
        if self.map.len() >= self.max {
            return None;
        }
        let w = self.map.entry(name.to_string()).or_insert_with(|| self.create(name, now));
        w.last_used.store(now, Ordering::Relaxed);
        Some((w.id, w.state.clone()))
    }

    fn create(&self, name: &str, now: i64) -> Workspace {
        let credentials = self.default.shared.credentials;
        let (fixtures, db) = (self.fixtures.clone(), self.default.shared.log.db());
        let state = AppState::shared_fixtures(fixtures, self.journal_capacity, (name, credentials), db);
        let base = self.public_url.get().map(String::as_str).unwrap_or("http://127.0.0.1");
        state.shared.set_public_url(format!("{base}/w/{name}"));
        let dispatcher =
            state.callbacks().map(|rx| tokio::spawn(callbacks::run(state.shared.callbacks.clone(), rx)));
        Workspace {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            state,
            created: now,
            last_used: AtomicI64::new(now),
            dispatcher,
        }
    }

    /// Drops a workspace and what the state file kept of it; whether there was either.
    pub fn remove(&self, name: &str) -> bool {
        let live = self.map.remove(name).is_some();
        let kept = self.default.shared.log.db().map(|db| db.forget(name)).unwrap_or(0);
        live || kept > 0
    }

    /// Drops workspaces idle past the TTL and sweeps the others (and `default`); returns how
    /// many transactions and workspaces went.
    pub fn sweep(&self) -> usize {
        let now = real_now();
        let before = self.map.len();
        self.map.retain(|_, w| now - w.last_used.load(Ordering::Relaxed) < self.ttl);
        let dropped = before - self.map.len();
        dropped + self.default.sweep() + self.map.iter().map(|w| w.state.sweep()).sum::<usize>()
    }

    /// `GET /_sandbox/workspaces`: name, created, last used, live transactions and a memory
    /// estimate of each, `default` first.
    pub fn list(&self) -> Value {
        let describe = |name: &str, state: &AppState, created: Option<i64>, used: Option<i64>| {
            json!({"name": name, "created": created.map(iso), "lastUsed": used.map(iso),
                "liveTransactions": state.live_transactions(), "journalEntries": state.shared.journal.len(),
                "memoryEstimateBytes": state.memory_estimate()})
        };
        let mut all = vec![describe(DEFAULT, &self.default, None, None)];
        let mut named: Vec<Value> = self
            .map
            .iter()
            .map(|w| describe(w.key(), &w.state, Some(w.created), Some(w.last_used.load(Ordering::Relaxed))))
            .collect();
        named.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        all.extend(named);
        // With a state file, every workspace it holds records of (live or not: an idle one
        // dropped from memory comes back with them on its next request).
        let kept = self.default.shared.log.db().map(|db| {
            let rows =
                db.workspaces().into_iter().map(|(name, records)| json!({"name": name, "records": records}));
            rows.collect::<Vec<Value>>()
        });
        json!({"workspaces": all, "live": self.map.len(), "max": self.max, "idleTtlSeconds": self.ttl / 1000,
            "kept": kept})
    }
}

/// Whether a name is 1-64 letters, digits, `-` or `_`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

thread_local! {
    /// Each worker's data containers, by workspace name and id (a dropped and re-created
    /// workspace gets a new id, so a stale container is never used).
    static CONTAINERS: RefCell<HashMap<String, (u64, Rc<Extensions>)>> = RefCell::new(HashMap::new());
}

fn container(name: &str, id: u64, state: &AppState) -> Rc<Extensions> {
    CONTAINERS.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((known, ext)) = c.get(name) {
            if *known == id {
                return ext.clone();
            }
        }
        if c.len() > 4096 {
            c.clear();
        }
        let mut ext = Extensions::new();
        state.register_into(&mut ext);
        let ext = Rc::new(ext);
        c.insert(name.to_string(), (id, ext.clone()));
        ext
    })
}

fn refuse(req: ServiceRequest, e: ApiError) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    Ok(req.into_response(e.error_response()))
}

/// Middleware (outermost): a request under `/w/{name}` is served by that workspace, its path
/// without the prefix; `DELETE /w/{name}/_sandbox` drops the workspace.
pub async fn route(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(rest) = req.path().strip_prefix("/w/") else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let (name, tail) = match rest.split_once('/') {
        Some((name, tail)) => (name.to_string(), format!("/{tail}")),
        None => (rest.to_string(), "/".to_string()),
    };
    if !valid_name(&name) {
        let why = format!("{name:?}: a workspace name is 1-64 letters, digits, '-' or '_'");
        return refuse(req, ApiError::bad("workspace", "workspace-name", why));
    }
    let Some(all) = req.app_data::<Data<Workspaces>>().cloned() else {
        return refuse(
            req,
            ApiError::new(StatusCode::NOT_FOUND, "no-workspaces", "workspaces are not served here"),
        );
    };
    if req.method() == Method::DELETE && tail.trim_end_matches('/') == "/_sandbox" {
        let dropped = name != DEFAULT && all.remove(&name);
        let status = if dropped { StatusCode::OK } else { StatusCode::NOT_FOUND };
        let body = json!({"workspace": name, "dropped": dropped});
        return Ok(req.into_response(HttpResponse::build(status).json(body)));
    }
    if name != DEFAULT {
        let Some((id, state)) = all.get(&name) else {
            let why = format!(
                "at most {} workspaces live at once (serve --max-workspaces); drop one with DELETE /w/{{name}}/_sandbox or wait for idle ones to expire",
                all.max
            );
            return refuse(req, ApiError::too_many("workspace", "workspace-limit", why));
        };
        req.add_data_container(container(&name, id, &state));
    }
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    if let Ok(uri) = format!("{tail}{query}").parse::<Uri>() {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
