//! Bridges: a client registers the URL the gateway calls it back at (`PATCH
//! /gateway/v1/bridges`, also under `/devservice`; v3: `PATCH /api/hiecm/gateway/v3/bridge/url`)
//! and the HIP/HIU services it runs (`addUpdateServices`); `getServices` (v3: `bridge-services`)
//! lists them. A service id belongs to one client only; a fixture facility's HIP id belongs to its
//! client until registered otherwise. Every callback of every flow goes to the bridge of the
//! client owning the receiving service ([`send`]), in the version its URL was registered with:
//! the v3 call makes a v3 bridge, called on `{bridge}/api/v3/...`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use uuid::Uuid;

use super::envelope::{not_yours, version_of, Hygiene, Message, Version};
use super::sessions::caller;
use crate::body::{JsonBody, Obj};
use crate::callbacks::{Callback, OnDelivered, Receiver};
use crate::error::{ApiError, ApiResult};
use crate::persist::{kind, Log};
use crate::shared::Shared;

/// One client's bridge: its callback URL and services.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Bridge {
    url: Option<String>,
    version: Version,
    services: Vec<Value>,
}

/// Every client's bridge, by client id.
#[derive(Default)]
pub struct Bridges {
    map: DashMap<String, Bridge>,
    /// Where they are kept (`serve --state`).
    log: Log,
}

impl Bridges {
    /// The bridges kept in `log`.
    pub fn kept(log: &Log) -> Self {
        let map = log.load::<Bridge>(kind::BRIDGE).into_iter().collect();
        Bridges { map, log: log.clone() }
    }

    /// Changes a client's bridge (made when it has none) and keeps it.
    fn change(&self, client: String, f: impl FnOnce(&mut Bridge)) {
        let mut bridge = self.map.entry(client.clone()).or_default();
        f(&mut bridge);
        self.log.put(kind::BRIDGE, &client, &*bridge);
    }

    /// No bridges.
    pub fn reset(&self) {
        self.map.clear();
    }

    /// The client (bridge) that owns a HIP or HIU id: a registered service, else a fixture
    /// facility.
    pub fn owner_of(&self, sh: &Shared, service_id: &str) -> Option<String> {
        self.map
            .iter()
            .find(|b| b.services.iter().any(|s| s["id"] == service_id))
            .map(|b| b.key().clone())
            .or_else(|| {
                sh.fixtures.facilities.iter().find(|f| f.hip_id == service_id).map(|f| f.client_id.clone())
            })
    }

    /// The callback URL a client registered.
    pub fn url_of(&self, client_id: &str) -> Option<String> {
        self.map.get(client_id).and_then(|b| b.url.clone())
    }

    /// The client owning a HIP, or a refusal naming `hipId`.
    pub fn registered(&self, sh: &Shared, hip: &str) -> ApiResult<String> {
        self.owner_of(sh, hip)
            .ok_or_else(|| ApiError::rule("hipId", "hip-unknown", format!("{hip} is not a registered HIP")))
    }

    /// The client owning a HIP and its bridge URL, or why there is none to call (`hipId`).
    pub fn route(&self, sh: &Shared, hip: &str) -> ApiResult<(String, String)> {
        let client = self.registered(sh, hip)?;
        let base = self.url_of(&client).ok_or_else(|| {
            ApiError::rule(
                "hipId",
                "no-bridge",
                format!("client {client} of {hip} has no bridge URL (PATCH /gateway/v1/bridges)"),
            )
        })?;
        Ok((client, base))
    }

    /// Whether a registered service has this type (`HIP`, `HIU`).
    pub fn has_type(&self, service_id: &str, kind: &str) -> bool {
        self.map.iter().any(|b| {
            b.services.iter().any(|s| {
                s["id"] == service_id && s["types"].as_array().is_some_and(|t| t.iter().any(|t| t == kind))
            })
        })
    }

    /// The version the client owning a service registered its URL in (v0.5 when none).
    pub fn version_of(&self, sh: &Shared, service_id: &str) -> Version {
        self.owner_of(sh, service_id).and_then(|c| self.map.get(&c).map(|b| b.version)).unwrap_or_default()
    }
}

/// The HIP id of a fixture facility's client, where the caller's own HIP must be named.
fn own_hip(sh: &Shared, client_id: &str) -> String {
    sh.fixtures
        .facilities
        .iter()
        .find(|f| f.client_id == client_id)
        .map(|f| f.hip_id.clone())
        .unwrap_or_default()
}

impl Bridges {
    /// The service a client answers as where its own must be named: its first registered service
    /// of `kind` (`HIP`, `HIU`), else its fixture facility's id; empty when it has neither.
    pub fn own_service(&self, sh: &Shared, client_id: &str, kind: &str) -> String {
        let registered = self.map.get(client_id).and_then(|b| {
            let of_kind = |s: &&Value| s["types"].as_array().is_some_and(|t| t.iter().any(|t| t == kind));
            b.services.iter().find(of_kind).and_then(|s| s["id"].as_str().map(str::to_string))
        });
        registered.unwrap_or_else(|| own_hip(sh, client_id))
    }

    /// A service's name: as its client registered it, else its fixture facility's; empty when
    /// neither names it.
    pub fn name_of(&self, sh: &Shared, service_id: &str) -> String {
        let registered = self.map.iter().find_map(|b| {
            b.services
                .iter()
                .find(|s| s["id"] == service_id)
                .and_then(|s| s["name"].as_str().map(str::to_string))
        });
        registered
            .or_else(|| {
                sh.fixtures.facilities.iter().find(|f| f.hip_id == service_id).map(|f| f.name.clone())
            })
            .unwrap_or_default()
    }
}

/// Refuses a service id that is not one of the calling client's, naming `field`.
pub fn require_own(
    sh: &Shared,
    bridges: &Bridges,
    req: &HttpRequest,
    id: &str,
    field: &str,
    version: Version,
) -> ApiResult<()> {
    let me = caller(req);
    if bridges.owner_of(sh, id).as_deref() == Some(me.as_str()) {
        return Ok(());
    }
    Err(not_yours(field, id, &me, version))
}

/// Queues a message to the bridge of the client owning `receiver_id`, followed, once it has
/// been delivered, by the `then` messages to the same receiver. With no bridge URL registered it
/// is journalled as not sent. Returns the client it goes to.
pub fn send(
    sh: &Shared,
    bridges: &Bridges,
    receiver: (Receiver, &str),
    msg: Message,
    then: Vec<Message>,
) -> Option<String> {
    send_all(sh, bridges, receiver, msg, (then, None), None)
}

/// [`send`] one message, telling `told` how its delivery went.
pub fn send_told(
    sh: &Shared,
    bridges: &Bridges,
    receiver: (Receiver, &str),
    msg: Message,
    told: Option<OnDelivered>,
) -> Option<String> {
    send_all(sh, bridges, receiver, msg, (Vec::new(), told), None)
}

/// [`send`], with `told`, the gateway expecting the receiving client to answer request
/// `expects` (the id of `msg` or of one of the `then` messages). The answer is expected before
/// anything is queued: the dispatcher may deliver at once on another thread, and a receiver that
/// answers at once must find its request known.
pub fn send_expecting(
    sh: &Shared,
    bridges: &Bridges,
    (hygiene, expects): (&Hygiene, Uuid),
    receiver: (Receiver, &str),
    msg: Message,
    (then, told): (Vec<Message>, Option<OnDelivered>),
) -> Option<String> {
    send_all(sh, bridges, receiver, msg, (then, told), Some((hygiene, expects)))
}

fn send_all(
    sh: &Shared,
    bridges: &Bridges,
    (receiver, receiver_id): (Receiver, &str),
    msg: Message,
    (then, told): (Vec<Message>, Option<OnDelivered>),
    expects: Option<(&Hygiene, Uuid)>,
) -> Option<String> {
    let client = bridges.owner_of(sh, receiver_id);
    let Some(base) = client.as_ref().and_then(|c| bridges.url_of(c)) else {
        let why = format!("no bridge URL is registered for {receiver_id}");
        sh.callbacks.not_sent(&msg.path, &msg.body, why);
        return None;
    };
    if let (Some((hygiene, id)), Some(client)) = (expects, &client) {
        hygiene.expect_answer(id, client);
    }
    let callback = |m: Message, then: Option<Box<Callback>>| Callback {
        base: base.clone(),
        path: m.path,
        receiver,
        receiver_id: receiver_id.to_string(),
        body: m.body,
        headers: m.headers,
        on_delivered: None,
        token: None,
        then,
    };
    let mut next: Option<Box<Callback>> = None;
    for m in then.into_iter().rev() {
        next = Some(Box::new(callback(m, next)));
    }
    sh.callbacks.send(Callback { on_delivered: told, ..callback(msg, next) });
    client
}

/// `PATCH bridges {url}` (v0.5, answered 200) or `PATCH bridge/url` (v3, answered 202): the
/// caller's callback URL, and the version it is called in.
pub async fn set_url(
    bridges: web::Data<Bridges>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let version = version_of(&req);
    let url = body.str("url")?;
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ApiError::bad("url", "url", format!("{url:?} is not an absolute http(s) URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::bad("url", "url", "must be an http or https URL with a host"));
    }
    bridges.change(caller(&req), |bridge| {
        bridge.url = Some(url.trim_end_matches('/').to_string());
        bridge.version = version;
    });
    Ok(match version {
        Version::V05 => HttpResponse::Ok().finish(),
        Version::V3 => HttpResponse::Accepted().finish(),
    })
}

/// `addUpdateServices`: an array of services or a single one, `{id, name, type|types, active,
/// alias?, endpoints?}`.
pub async fn add_services(
    sh: web::Data<Shared>,
    bridges: web::Data<Bridges>,
    req: HttpRequest,
    bytes: web::Bytes,
) -> ApiResult<HttpResponse> {
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad("body", "json", format!("malformed JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(_) => vec![value],
        _ => return Err(ApiError::bad("body", "json", "a service object or an array of them is required")),
    };
    let mut services = Vec::new();
    for (i, item) in items.iter().enumerate() {
        services.push(service(i, item)?);
    }
    let me = caller(&req);
    for (i, s) in services.iter().enumerate() {
        let id = s["id"].as_str().unwrap_or_default();
        if let Some(owner) = bridges.owner_of(&sh, id).filter(|o| *o != me) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "service-taken",
                format!("[{i}].id: {id} is a service of client {owner}"),
            )
            .field(format!("[{i}].id")));
        }
    }
    bridges.change(me, |bridge| {
        for s in services {
            bridge.services.retain(|old| old["id"] != s["id"]);
            bridge.services.push(s);
        }
    });
    Ok(HttpResponse::Ok().finish())
}

/// One service of an `addUpdateServices` body, checked, in the shape `getServices` lists.
fn service(i: usize, item: &Value) -> ApiResult<Value> {
    let Value::Object(map) = item else {
        return Err(ApiError::bad(&format!("[{i}]"), "type", "must be an object"));
    };
    let body = Obj::at(map, format!("[{i}]"));
    let id = body.str("id")?.to_string();
    let name = body.opt_str("name")?.unwrap_or(&id).to_string();
    let kind = body.opt_str("type")?.unwrap_or("HIP");
    if !["HIP", "HIU", "HEALTH_LOCKER"].contains(&kind) {
        return Err(ApiError::bad(
            &format!("[{i}].type"),
            "service-type",
            "must be HIP, HIU or HEALTH_LOCKER",
        ));
    }
    let active = map.get("active").and_then(Value::as_bool).unwrap_or(true);
    Ok(
        json!({"id": id, "name": name, "types": [kind], "endpoints": map.get("endpoints").cloned().unwrap_or(json!({})), "active": active}),
    )
}

/// `getServices`: the caller's bridge and services.
pub async fn get_services(bridges: web::Data<Bridges>, req: HttpRequest) -> HttpResponse {
    let id = caller(&req);
    let bridge = bridges.map.get(&id).map(|b| b.clone()).unwrap_or_default();
    HttpResponse::Ok().json(json!({
        "bridge": {"id": id, "name": id, "url": bridge.url, "active": true, "blocklisted": false},
        "services": bridge.services,
    }))
}
