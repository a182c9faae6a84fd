//! The gateway (HIE-CM v0.5 and v1.0) under `/gateway`, with bridge registration also under
//! `/devservice`: sessions and their RS256 tokens, the JWKS, bridges, the profile share a patient
//! starts by scanning a HIP's QR code, user auth that yields a linking token, and care-context
//! linking. Every call but sessions, certs, OpenID configuration and heartbeat needs a valid,
//! unexpired session token this gateway signed. Asynchronous calls are answered 202 at once and
//! their results go to the caller's bridge URL as callbacks ([`crate::callbacks`]).

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use dashmap::DashMap;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::AbhaAccount;
use crate::body::{bearer, header, JsonBody, Obj};
use crate::callbacks::{Callback, Delivery, Receiver};
use crate::clock::{Millis, MINUTE, SECOND};
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::otp::Otp;
use crate::state::AppState;
use crate::store::Store;

pub const ISSUER: &str = "https://dev.ndhm.gov.in/auth/realms/central-registry";
/// Session token lifetime (seconds), as the sandbox issues them now.
pub const SESSION_SECONDS: i64 = 1200;
pub const REFRESH_SECONDS: i64 = 1800;
/// A HIP must answer a profile share with on-share within this.
pub const SHARE_DEADLINE: Millis = 30 * SECOND;
/// A user-auth transaction lives this long after on-init.
pub const AUTH_EXPIRY: Millis = 120 * MINUTE;
/// Linking tokens expire a day after issue.
pub const LINK_TOKEN_SECONDS: i64 = 86_400;
/// The client id in the gateway's own callback tokens.
pub const GATEWAY_CLIENT: &str = "abdm-gateway";

const ERR_GENERIC: i64 = 1000;
const ERR_NOT_FOUND: i64 = 1437;
const ERR_ALREADY_LINKED: i64 = 1439;
const ERR_AUTH_CONFIRM: i64 = 1441;

#[derive(Debug, Clone, Default)]
pub struct Bridge {
    pub url: Option<String>,
    pub services: Vec<Value>,
}

/// What became of a profile share, as `GET /_sandbox/share-profile/{requestId}` shows it.
#[derive(Debug, Clone)]
pub struct Share {
    pub hip_id: String,
    pub code: String,
    pub address: String,
    pub version: &'static str,
    pub sent_at: Millis,
    pub delivery: Option<Delivery>,
    pub on_share: Option<Value>,
}

pub struct AuthTxn {
    address: String,
    abha_number: String,
    person: usize,
    purpose: String,
    mode: String,
    requester_type: String,
    requester_id: String,
    otp: Option<Otp>,
    wrong: u32,
    done: bool,
}

pub struct GatewayState {
    pub bridges: DashMap<String, Bridge>,
    pub shares: Store<Share>,
    pub auth: Store<AuthTxn>,
    /// Linked care contexts: (lower-case ABHA address, HIP id, care-context reference).
    pub links: DashMap<(String, String, String), Millis>,
    /// The gateway's current callback token and when it was signed (real time).
    callback_token: std::sync::Mutex<Option<(String, Millis)>>,
}

impl Default for GatewayState {
    fn default() -> Self {
        GatewayState {
            bridges: DashMap::new(),
            shares: Store::with_ttl(60 * MINUTE),
            auth: Store::with_ttl(AUTH_EXPIRY),
            links: DashMap::new(),
            callback_token: std::sync::Mutex::new(None),
        }
    }
}

impl GatewayState {
    pub fn reset(&self) {
        self.bridges.clear();
        self.shares.clear();
        self.auth.clear();
        self.links.clear();
    }

    pub fn sweep(&self, now: Millis) -> usize {
        self.shares.sweep(now) + self.auth.sweep(now)
    }

    /// A token for the gateway's own callbacks (RS256, `aud: account`, signed by JWKS `keys[0]`),
    /// dated in real time: receivers check it against their own clocks, not the sandbox's.
    /// One token serves the callbacks of a minute (it is valid for twenty): signing costs more
    /// than delivering.
    pub fn callback_token(&self) -> String {
        let now = chrono::Utc::now().timestamp_millis();
        let mut cached = self.callback_token.lock().unwrap_or_else(|e| e.into_inner());
        match cached.as_ref() {
            Some((token, at)) if now - at < 60 * SECOND => token.clone(),
            _ => {
                let token = session_claims(GATEWAY_CLIENT, now)
                    .map(|c| crypto::sign(&c, Algorithm::RS256))
                    .unwrap_or_default();
                *cached = Some((token.clone(), now));
                token
            }
        }
    }

    /// A callback token a HIP must refuse: `forged` (signed by another key, otherwise valid) or
    /// `expired` (signed by the gateway, expired two minutes ago in real time).
    pub fn bad_token(&self, kind: &str) -> Option<String> {
        match kind {
            "forged" => session_claims(GATEWAY_CLIENT, chrono::Utc::now().timestamp_millis())
                .map(|c| crypto::sign_foreign(&c)),
            "expired" => {
                let real = chrono::Utc::now().timestamp_millis();
                session_claims(GATEWAY_CLIENT, real - (SESSION_SECONDS + 120) * 1000)
                    .map(|c| crypto::sign(&c, Algorithm::RS256))
            }
            _ => None,
        }
    }

    pub fn record_delivery(&self, share: Uuid, outcome: Delivery) {
        self.shares.update(share, |s| s.delivery = Some(outcome));
    }
}

/// Claims of a session token as the sandbox's Keycloak issues them.
fn session_claims(client_id: &str, now: Millis) -> Option<Value> {
    let iat = now / 1000;
    Some(json!({
        "exp": iat + SESSION_SECONDS,
        "iat": iat,
        "jti": Uuid::new_v4(),
        "iss": ISSUER,
        "aud": "account",
        "sub": Uuid::new_v4(),
        "typ": "Bearer",
        "azp": client_id,
        "session_state": Uuid::new_v4(),
        "acr": "1",
        "allowed-origins": ["*"],
        "realm_access": {"roles": ["hiu", "hip", "healthId", "OIDC", "offline_access"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "scope": "openid email profile",
        "clientId": client_id,
        "clientHost": "127.0.0.1",
        "clientAddress": "127.0.0.1",
        "email_verified": false,
        "preferred_username": format!("service-account-{}", client_id.to_lowercase()),
    }))
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().finish()
}

/// Callback timestamps as the sandbox writes them: no zone, microseconds.
fn timestamp(now: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

// ---- routes ------------------------------------------------------------------------------------

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/gateway/v0.5/sessions", web::post().to(sessions))
        .route("/gateway/v0.5/certs", web::get().to(certs))
        .route("/gateway/v0.5/.well-known/openid-configuration", web::get().to(openid))
        .route("/gateway/v0.5/heartbeat", web::get().to(heartbeat));
    for prefix in ["/gateway", "/devservice"] {
        cfg.service(
            web::scope(&format!("{prefix}/v1/bridges"))
                .wrap(from_fn(authenticate))
                .route("", web::patch().to(set_bridge_url))
                .route("/addUpdateServices", web::post().to(add_services))
                .route("/addUpdateServices", web::put().to(add_services))
                .route("/services", web::put().to(add_services))
                .route("/getServices", web::get().to(get_services)),
        );
    }
    cfg.service(
        web::scope("/gateway")
            .wrap(from_fn(authenticate))
            .route("/v0.5/patients/profile/on-share", web::post().to(on_share))
            .route("/v1.0/patients/profile/on-share", web::post().to(on_share))
            .route("/v0.5/users/auth/fetch-modes", web::post().to(fetch_modes))
            .route("/v0.5/users/auth/init", web::post().to(auth_init))
            .route("/v0.5/users/auth/confirm", web::post().to(auth_confirm))
            .route("/v0.5/users/auth/on-notify", web::post().to(on_notify))
            .route("/v0.5/links/link/add-contexts", web::post().to(add_contexts))
            .route("/v0.5/links/context/notify", web::post().to(context_notify)),
    );
}

/// `{clientId, clientSecret, grantType?, refreshToken?}` → a session.
async fn sessions(st: web::Data<AppState>, body: JsonBody) -> ApiResult<HttpResponse> {
    // Exactly `application/json`: some clients compare the Content-Type as a string.
    Ok(HttpResponse::Ok().content_type("application/json").body(session(&st, &body)?.to_string()))
}

fn session(st: &AppState, body: &JsonBody) -> ApiResult<Value> {
    let client_id = body.str("clientId")?;
    let secret = body.str("clientSecret")?;
    let grant = body.opt_str("grantType")?.unwrap_or("client_credentials");
    let facility = st.fixtures.facilities.iter().find(|f| f.client_id == client_id);
    let Some(facility) = facility.filter(|f| f.client_secret == secret) else {
        return Err(ApiError::unauthorized(
            "clientSecret",
            "client-credentials",
            "unknown clientId or wrong clientSecret",
        ));
    };
    let now = st.clock.now();
    match grant {
        "client_credentials" => {}
        "refresh_token" => {
            let refresh = body.str("refreshToken")?;
            let claims = crypto::verify_refresh(refresh).map_err(|e| {
                ApiError::unauthorized("refreshToken", "refresh-token", format!("invalid: {e}"))
            })?;
            if claims["typ"] != "Refresh" || claims["azp"] != json!(facility.client_id) {
                return Err(ApiError::unauthorized(
                    "refreshToken",
                    "refresh-token",
                    "not a refresh token of this client",
                ));
            }
            if claims["exp"].as_i64().unwrap_or(0) * 1000 <= now {
                return Err(ApiError::unauthorized("refreshToken", "refresh-token", "has expired"));
            }
        }
        other => {
            return Err(ApiError::bad(
                "grantType",
                "grant-type",
                format!("{other:?}: use client_credentials or refresh_token"),
            ))
        }
    }
    let claims = session_claims(&facility.client_id, now).unwrap_or_default();
    let iat = now / 1000;
    let refresh = json!({"exp": iat + REFRESH_SECONDS, "iat": iat, "jti": Uuid::new_v4(), "iss": ISSUER,
        "aud": ISSUER, "typ": "Refresh", "azp": facility.client_id});
    Ok(json!({
        "accessToken": crypto::sign(&claims, Algorithm::RS256),
        "expiresIn": SESSION_SECONDS,
        "refreshExpiresIn": REFRESH_SECONDS,
        "refreshToken": crypto::sign_refresh(&refresh),
        "tokenType": "bearer",
    }))
}

async fn certs() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(crypto::jwks_json())
}

async fn openid(req: HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    HttpResponse::Ok()
        .json(json!({"jwks_uri": format!("{}://{}/gateway/v0.5/certs", info.scheme(), info.host())}))
}

async fn heartbeat(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"timestamp": crate::clock::iso(st.clock.now()), "status": "UP"}))
}

/// The client a request's session token was issued to.
#[derive(Clone)]
struct Client(String);

/// Middleware for the other services: a valid session token is required, its client not needed.
pub async fn require_session(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    authenticate(req, next).await
}

/// Requires `Authorization: Bearer <session token>` signed by this gateway and unexpired.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let now = req.app_data::<web::Data<AppState>>().map(|st| st.clock.now()).unwrap_or_default();
    match client_of(req.request(), now) {
        Ok(client) => {
            req.extensions_mut().insert(Client(client));
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err(e) => Ok(req.into_response(actix_web::ResponseError::error_response(&e))),
    }
}

fn client_of(req: &HttpRequest, now: Millis) -> ApiResult<String> {
    let auth = header(req, "Authorization").ok_or_else(|| {
        ApiError::unauthorized("Authorization", "session-token", "missing 'Bearer <session token>'")
    })?;
    let token = bearer(auth).ok_or_else(|| {
        ApiError::unauthorized("Authorization", "session-token", "must be 'Bearer <session token>'")
    })?;
    session_client(token, now)
}

/// The client a session access token was issued to, if this gateway signed it and it has not
/// expired in virtual time. Every service that takes the gateway's session token checks it here.
pub fn session_client(token: &str, now: Millis) -> ApiResult<String> {
    let (exp, client) = match verified_sessions().get(token) {
        Some(known) => known.clone(),
        None => {
            let claims = crypto::verify(token, Algorithm::RS256).map_err(|e| {
                ApiError::unauthorized(
                    "Authorization",
                    "session-token",
                    format!("not a token this gateway signed: {e}"),
                )
            })?;
            if claims["typ"] != "Bearer" || claims["aud"] != "account" {
                return Err(ApiError::unauthorized(
                    "Authorization",
                    "session-token",
                    "not a session access token",
                ));
            }
            let known = (
                claims["exp"].as_i64().unwrap_or(0),
                claims["clientId"].as_str().unwrap_or_default().to_string(),
            );
            let cache = verified_sessions();
            if cache.len() >= VERIFIED_SESSIONS {
                cache.clear();
            }
            cache.insert(token.to_string(), known.clone());
            known
        }
    };
    if exp * 1000 <= now {
        return Err(ApiError::unauthorized(
            "Authorization",
            "session-expired",
            "the session token has expired",
        ));
    }
    Ok(client)
}

/// Session tokens whose signature and kind were verified: token → (exp, clientId). A client
/// sends the same token for twenty minutes, and an RSA verification costs far more than the
/// rest of a call; a forged or altered token never gets in, since its verification fails. The
/// expiry is still checked on every call. Bounded: emptied when full.
fn verified_sessions() -> &'static DashMap<String, (i64, String)> {
    static CACHE: std::sync::OnceLock<DashMap<String, (i64, String)>> = std::sync::OnceLock::new();
    CACHE.get_or_init(DashMap::new)
}
const VERIFIED_SESSIONS: usize = 4096;

fn client(req: &HttpRequest) -> String {
    req.extensions().get::<Client>().map(|c| c.0.clone()).unwrap_or_default()
}

/// HIP → gateway calls name the consent manager: `X-CM-ID: sbx`.
fn require_cm_id(req: &HttpRequest) -> ApiResult<()> {
    match header(req, "X-CM-ID") {
        Some("sbx") => Ok(()),
        Some(other) => Err(ApiError::bad(
            "X-CM-ID",
            "cm-id",
            format!("{other:?}: the sandbox consent manager is \"sbx\""),
        )),
        None => Err(ApiError::bad("X-CM-ID", "required", "header is required (\"sbx\")")),
    }
}

/// `requestId` (a UUID) and `timestamp` (ISO-8601), required on every gateway message.
fn envelope(body: &JsonBody) -> ApiResult<Uuid> {
    let id = body.txn_id("requestId")?;
    let ts = body.str("timestamp")?;
    let ok = chrono::DateTime::parse_from_rfc3339(ts).is_ok()
        || chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f").is_ok();
    if !ok {
        return Err(ApiError::bad("timestamp", "timestamp", format!("{ts:?} is not an ISO-8601 date-time")));
    }
    Ok(id)
}

// ---- bridges -----------------------------------------------------------------------------------

async fn set_bridge_url(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    let url = body.str("url")?;
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| ApiError::bad("url", "url", format!("{url:?} is not an absolute http(s) URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::bad("url", "url", "must be an http or https URL with a host"));
    }
    st.gateway.bridges.entry(client(&req)).or_default().url = Some(url.trim_end_matches('/').to_string());
    Ok(HttpResponse::Ok().finish())
}

/// An array of services or a single one: `{id, name, type|types, active, alias?, endpoints?}`.
async fn add_services(
    st: web::Data<AppState>,
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
        services.push(json!({"id": id, "name": name, "types": [kind], "endpoints": map.get("endpoints").cloned().unwrap_or(json!({})), "active": active}));
    }
    let me = client(&req);
    for (i, s) in services.iter().enumerate() {
        let id = s["id"].as_str().unwrap_or_default();
        if let Some(owner) = owner_of(&st, id).filter(|o| *o != me) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "service-taken",
                format!("[{i}].id: {id} is a service of client {owner}"),
            )
            .field(format!("[{i}].id")));
        }
    }
    let mut bridge = st.gateway.bridges.entry(me).or_default();
    for s in services {
        bridge.services.retain(|old| old["id"] != s["id"]);
        bridge.services.push(s);
    }
    Ok(HttpResponse::Ok().finish())
}

async fn get_services(st: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let id = client(&req);
    let bridge = st.gateway.bridges.get(&id).map(|b| b.clone()).unwrap_or_default();
    HttpResponse::Ok().json(json!({
        "bridge": {"id": id, "name": id, "url": bridge.url, "active": true, "blocklisted": false},
        "services": bridge.services,
    }))
}

/// The client (bridge) that owns a HIP or HIU id: a registered service, else a fixture facility.
fn owner_of(st: &AppState, service_id: &str) -> Option<String> {
    st.gateway
        .bridges
        .iter()
        .find(|b| b.services.iter().any(|s| s["id"] == service_id))
        .map(|b| b.key().clone())
        .or_else(|| {
            st.fixtures.facilities.iter().find(|f| f.hip_id == service_id).map(|f| f.client_id.clone())
        })
}

fn bridge_url(st: &AppState, client_id: &str) -> Option<String> {
    st.gateway.bridges.get(client_id).and_then(|b| b.url.clone())
}

/// Queues a callback to the bridge of the client owning `receiver_id`.
fn callback(st: &AppState, receiver: Receiver, receiver_id: &str, path: &str, body: Value) {
    callback_then(st, receiver, receiver_id, path, body, Vec::new());
}

/// A callback followed, once it has been delivered, by more callbacks to the same receiver.
fn callback_then(
    st: &AppState,
    receiver: Receiver,
    receiver_id: &str,
    path: &str,
    body: Value,
    then: Vec<(&str, Value)>,
) {
    let Some(base) = owner_of(st, receiver_id).and_then(|c| bridge_url(st, &c)) else {
        st.journal.record(crate::journal::Record {
            at: st.clock.now(),
            direction: "outbound",
            method: "POST".into(),
            path: path.to_string(),
            status: 0,
            request: crate::journal::Body::Json(body),
            response: crate::journal::Body::Json(
                json!({"error": format!("not sent: no bridge URL is registered for {receiver_id}")}),
            ),
            correlation: None,
        });
        return;
    };
    let mut next: Option<Box<Callback>> = None;
    for (p, b) in then.into_iter().rev() {
        next = Some(Box::new(Callback {
            base: base.clone(),
            path: p.to_string(),
            receiver,
            receiver_id: receiver_id.to_string(),
            body: b,
            share: None,
            token: None,
            then: next,
        }));
    }
    let cb = Callback {
        base,
        path: path.to_string(),
        receiver,
        receiver_id: receiver_id.to_string(),
        body,
        share: None,
        token: None,
        then: next,
    };
    st.callbacks.send(st, cb);
}

// ---- profile share (scan the HIP's QR code) ----------------------------------------------------

/// What the patient's PHR app sends when it scans a HIP's QR code `{hipId, code}`.
pub struct ShareRequest<'a> {
    pub hip_id: &'a str,
    pub code: &'a str,
    pub address: &'a str,
    pub version: &'static str,
    pub latitude: String,
    pub longitude: String,
    /// A token to sign the share with instead of a valid gateway token.
    pub token: Option<String>,
}

/// Pushes the profile to the HIP's bridge; returns the requestId.
pub fn share_profile(st: &AppState, r: ShareRequest) -> ApiResult<Uuid> {
    let client = owner_of(st, r.hip_id).ok_or_else(|| {
        ApiError::rule("hipId", "hip-unknown", format!("{} is not a registered HIP", r.hip_id))
    })?;
    let base = bridge_url(st, &client).ok_or_else(|| {
        ApiError::rule(
            "hipId",
            "no-bridge",
            format!("client {client} of {} has no bridge URL (PATCH /gateway/v1/bridges)", r.hip_id),
        )
    })?;
    let account = st.accounts.by_address(r.address).ok_or_else(|| {
        ApiError::rule("abhaAddress", "abha-address-unknown", format!("no ABHA address {}", r.address))
    })?;
    let now = st.clock.now();
    let request_id = Uuid::new_v4();
    let mut body = json!({
        "requestId": request_id,
        "timestamp": crate::clock::iso(now),
        "profile": {"hipCode": r.code, "patient": patient_json(st, &account, r.address, "NDHM_HEALTH_NUMBER")},
    });
    if r.version == "v1.0" {
        body["intent"] = json!({"type": "REGISTRATION"});
        body["location"] = json!({"latitude": r.latitude, "longitude": r.longitude});
    }
    let share = Share {
        hip_id: r.hip_id.to_string(),
        code: r.code.to_string(),
        address: r.address.to_string(),
        version: r.version,
        sent_at: now,
        delivery: None,
        on_share: None,
    };
    let id = st.gateway.shares.insert_with_id(request_id, share, now);
    let cb = Callback {
        base,
        path: format!("/{}/patients/profile/share", r.version),
        receiver: Receiver::Hip,
        receiver_id: r.hip_id.to_string(),
        body,
        share: Some(id),
        token: r.token,
        then: None,
    };
    st.callbacks.send(st, cb);
    Ok(id)
}

/// The patient as the gateway shares it (§3.1): demographics and identifiers of the address.
/// `number_type` is how the ABHA number is typed: `NDHM_HEALTH_NUMBER` in a share (the share
/// schema's enum), `HEALTH_NUMBER` in auth callbacks (as the sandbox sends it there).
fn patient_json(st: &AppState, account: &AbhaAccount, address: &str, number_type: &str) -> Value {
    let p = &st.fixtures.people[account.person];
    // The address as registered, whatever case it was typed in.
    let address = account
        .addresses
        .iter()
        .find(|a| a.eq_ignore_ascii_case(address))
        .map(String::as_str)
        .unwrap_or(address);
    json!({
        "healthId": address,
        "healthIdNumber": account.abha_number,
        "name": p.name,
        "gender": p.gender,
        "address": {"line": p.address.line, "district": p.address.district, "state": p.address.state, "pincode": p.address.pincode},
        "yearOfBirth": p.year_of_birth,
        "monthOfBirth": p.month_of_birth,
        "dayOfBirth": p.day_of_birth,
        "identifiers": [{"type": "MOBILE", "value": account.mobile}, {"type": number_type, "value": account.abha_number}],
    })
}

pub fn share_json(id: Uuid, s: &Share) -> Value {
    json!({
        "requestId": id,
        "hipId": s.hip_id,
        "code": s.code,
        "abhaAddress": s.address,
        "version": s.version,
        "sentAt": crate::clock::iso(s.sent_at),
        "delivered": s.delivery.as_ref().map(|d| d.status.is_some_and(|c| c < 300)),
        "hipStatus": s.delivery.as_ref().and_then(|d| d.status),
        "deliveryError": s.delivery.as_ref().and_then(|d| d.error.clone()),
        "attempts": s.delivery.as_ref().map(|d| d.attempts),
        "onShare": s.on_share,
    })
}

/// HIP → gateway `on-share`: answered 202; checked against the share it answers, the outcome
/// recorded on that share.
async fn on_share(st: web::Data<AppState>, req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    check_on_share(&st, &req, &body)?;
    Ok(accepted())
}

fn check_on_share(st: &AppState, req: &HttpRequest, body: &JsonBody) -> ApiResult<()> {
    require_cm_id(req)?;
    envelope(body)?;
    let ack = body.obj("acknowledgement")?;
    let status = ack.str("status")?;
    if !["SUCCESS", "FAILURE"].contains(&status) {
        return Err(ApiError::bad("acknowledgement.status", "ack-status", "must be SUCCESS or FAILURE"));
    }
    let health_id = ack.str("healthId")?;
    let v1 = req.path().contains("/v1.0/");
    let token_number = if v1 { Some(ack.str("tokenNumber")?) } else { ack.opt_str("tokenNumber")? };
    let answered = body.obj("resp")?.txn_id("requestId")?;
    let now = st.clock.now();
    let mut problems = Vec::new();
    let recorded = st.gateway.shares.step(answered, "resp.requestId", now, |share| {
        if !share.address.eq_ignore_ascii_case(health_id) {
            problems.push(format!(
                "acknowledgement.healthId is {health_id:?}, the share was for {:?}",
                share.address
            ));
        }
        let late = now - share.sent_at > SHARE_DEADLINE;
        if late {
            problems.push(format!(
                "on-share came {} s after the share; the deadline is 30 s",
                (now - share.sent_at) / 1000
            ));
        }
        if share.on_share.is_some() {
            problems.push("a second on-share for this share".to_string());
        }
        if (share.version == "v1.0") != v1 {
            problems.push(format!("the share was {} but on-share came on the other version", share.version));
        }
        share.on_share = Some(json!({
            "receivedAt": crate::clock::iso(now),
            "status": status,
            "healthId": health_id,
            "tokenNumber": token_number,
            "error": body.0.get("error"),
            "withinDeadline": !late,
            "matched": problems.is_empty(),
            "problems": problems,
        }));
        Ok(())
    });
    if let Err(e) = recorded {
        // Still 202, as the gateway accepts first, but the journal shows why it matched nothing.
        return Err(ApiError::rule(
            "resp.requestId",
            e.rule,
            format!("answers no share this gateway sent ({})", e.message),
        )
        .with_status(StatusCode::ACCEPTED));
    }
    Ok(())
}

// ---- user auth ---------------------------------------------------------------------------------

struct Query<'a> {
    id: &'a str,
    purpose: &'a str,
    requester_type: &'a str,
    requester_id: &'a str,
}

fn query<'a>(st: &AppState, req: &HttpRequest, body: &'a JsonBody) -> ApiResult<(Obj<'a>, Query<'a>)> {
    require_cm_id(req)?;
    let q = body.obj("query")?;
    let id = q.str("id")?;
    let purpose = q.str("purpose")?;
    if !["LINK", "KYC", "KYC_AND_LINK"].contains(&purpose) {
        return Err(ApiError::bad("query.purpose", "purpose", "must be LINK, KYC or KYC_AND_LINK"));
    }
    let requester = q.obj("requester")?;
    let requester_type = requester.str("type")?;
    if !["HIP", "HIU"].contains(&requester_type) {
        return Err(ApiError::bad("query.requester.type", "requester-type", "must be HIP or HIU"));
    }
    let requester_id = requester.str("id")?;
    let caller = client(req);
    if owner_of(st, requester_id).as_deref() != Some(caller.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "requester-not-yours",
            format!("query.requester.id: {requester_id} is not a service of client {caller}"),
        )
        .field("query.requester.id"));
    }
    Ok((q, Query { id, purpose, requester_type, requester_id }))
}

fn receiver(kind: &str) -> Receiver {
    if kind == "HIU" {
        Receiver::Hiu
    } else {
        Receiver::Hip
    }
}

fn error_json(code: i64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

async fn fetch_modes(st: web::Data<AppState>, req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    let request_id = envelope(&body)?;
    let (_, q) = query(&st, &req, &body)?;
    let now = st.clock.now();
    let mut answer =
        json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "resp": {"requestId": request_id}});
    if st.accounts.by_address(q.id).is_some() {
        answer["auth"] =
            json!({"purpose": q.purpose, "modes": ["MOBILE_OTP", "AADHAAR_OTP", "DEMOGRAPHICS", "DIRECT"]});
        answer["error"] = Value::Null;
    } else {
        answer["auth"] = Value::Null;
        answer["error"] = error_json(ERR_NOT_FOUND, "Account with ABHA number/Username not found.");
    }
    callback(&st, receiver(q.requester_type), q.requester_id, "/v0.5/users/auth/on-fetch-modes", answer);
    Ok(accepted())
}

async fn auth_init(st: web::Data<AppState>, req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    let request_id = envelope(&body)?;
    let (q_obj, q) = query(&st, &req, &body)?;
    let mode = q_obj.opt_str("authMode")?.unwrap_or("DEMOGRAPHICS");
    if !["MOBILE_OTP", "AADHAAR_OTP", "DEMOGRAPHICS", "DIRECT"].contains(&mode) {
        return Err(ApiError::bad(
            "query.authMode",
            "auth-mode",
            "must be MOBILE_OTP, AADHAAR_OTP, DEMOGRAPHICS or DIRECT",
        ));
    }
    let now = st.clock.now();
    let mut answer =
        json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "resp": {"requestId": request_id}});
    let Some(account) = st.accounts.by_address(q.id) else {
        answer["auth"] = Value::Null;
        answer["error"] = error_json(ERR_NOT_FOUND, "Account with ABHA number/Username not found.");
        callback(&st, receiver(q.requester_type), q.requester_id, "/v0.5/users/auth/on-init", answer);
        return Ok(accepted());
    };
    let person = &st.fixtures.people[account.person];
    let otp = matches!(mode, "MOBILE_OTP" | "AADHAAR_OTP").then(|| {
        let to = if mode == "AADHAAR_OTP" { &person.mobile } else { &account.mobile };
        Otp::new(&person.otp, to, now)
    });
    let txn = AuthTxn {
        address: q.id.to_string(),
        abha_number: account.abha_number.clone(),
        person: account.person,
        purpose: q.purpose.to_string(),
        mode: mode.to_string(),
        requester_type: q.requester_type.to_string(),
        requester_id: q.requester_id.to_string(),
        otp: otp.clone(),
        wrong: 0,
        done: mode == "DIRECT",
    };
    let id = st.gateway.auth.insert(txn, now);
    let hint = otp.as_ref().map(|o| {
        st.outbox.send(id, o, "gateway-auth-otp");
        crate::checks::mask(&o.to, 4)
    });
    answer["auth"] = json!({"transactionId": id, "mode": mode, "meta": {"hint": hint, "expiry": timestamp(now + AUTH_EXPIRY)}});
    answer["error"] = Value::Null;
    let mut then = Vec::new();
    if mode == "DIRECT" {
        // DIRECT: the patient approves in their app (the sandbox's patients always do); the
        // notify follows once the requester has taken the on-init that names the transaction.
        let mut auth = granted(&st, &account, q.id, q.purpose, q.requester_type, q.requester_id, now);
        auth["transactionId"] = json!(id);
        auth["status"] = json!("GRANTED");
        let notify = json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "auth": auth});
        then.push(("/v0.5/users/auth/notify", notify));
    }
    callback_then(&st, receiver(q.requester_type), q.requester_id, "/v0.5/users/auth/on-init", answer, then);
    Ok(accepted())
}

/// The `auth` of a successful confirm, by purpose: LINK → the linking token; KYC → the patient;
/// KYC_AND_LINK → both.
fn granted(
    st: &AppState,
    account: &AbhaAccount,
    address: &str,
    purpose: &str,
    rtype: &str,
    rid: &str,
    now: Millis,
) -> Value {
    let mut auth = json!({});
    if purpose != "KYC" {
        let iat = now / 1000;
        let claims = json!({"sub": address, "requesterType": rtype, "requesterId": rid, "patientId": address,
            "sessionId": Uuid::new_v4(), "exp": iat + LINK_TOKEN_SECONDS, "iat": iat});
        auth["accessToken"] = json!(crypto::sign(&claims, Algorithm::RS512));
        auth["validity"] = json!({"purpose": purpose, "requester": {"type": rtype, "id": rid},
            "expiry": timestamp(now + LINK_TOKEN_SECONDS * 1000), "limit": 1});
    }
    if purpose != "LINK" {
        let mut patient = patient_json(st, account, address, "HEALTH_NUMBER");
        patient["id"] = json!(address);
        auth["patient"] = patient;
    }
    auth
}

async fn auth_confirm(st: web::Data<AppState>, req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let request_id = envelope(&body)?;
    let txn_id = body.txn_id("transactionId")?;
    let credential = body.obj("credential")?;
    let auth_code = credential.opt_str("authCode")?;
    let demographic = credential.opt_obj("demographic")?;
    if auth_code.is_some() == demographic.is_some() {
        return Err(ApiError::bad(
            "credential",
            "credential",
            "give exactly one of authCode and demographic",
        ));
    }
    let demo = demographic
        .map(|d| -> ApiResult<_> {
            let name = d.str("name")?.to_string();
            let gender = d.str("gender")?.to_string();
            let dob = d.str("dateOfBirth")?.to_string();
            let mobile = d.opt_obj("identifier")?.map(|i| i.str("value").map(str::to_string)).transpose()?;
            Ok((name, gender, dob, mobile))
        })
        .transpose()?;
    let now = st.clock.now();
    let caller = client(&req);
    // Which transaction, and what the callback says; an unknown or expired transaction is
    // answered in the callback to the caller's own HIP.
    let outcome = st.gateway.auth.step(txn_id, "transactionId", now, |txn| {
        if owner_of(&st, &txn.requester_id).as_deref() != Some(caller.as_str()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "requester-not-yours",
                "transactionId: belongs to another client",
            )
            .field("transactionId"));
        }
        let route = (txn.requester_type.clone(), txn.requester_id.clone());
        if txn.done {
            return Ok((route, Err("the transaction is already confirmed".to_string())));
        }
        if txn.wrong >= 5 {
            return Ok((route, Err("too many failed confirmations; start again with init".to_string())));
        }
        let p = &st.fixtures.people[txn.person];
        let ok = match (&txn.mode[..], &demo, auth_code, txn.otp.as_mut()) {
            ("DEMOGRAPHICS", Some((name, gender, dob, mobile)), _, _) => {
                let account = st.accounts.by_number(&txn.abha_number);
                demographics_match(p, name, gender, dob)
                    && mobile.as_ref().is_none_or(|m| account.is_some_and(|a| &a.mobile == m))
            }
            (_, _, Some(code), Some(otp)) => otp.verify(code, now, "credential.authCode").is_ok(),
            _ => false,
        };
        if !ok {
            txn.wrong += 1;
            return Ok((route, Err("Invalid auth confirm request.".to_string())));
        }
        txn.done = true;
        let account = st.accounts.by_number(&txn.abha_number);
        Ok((
            route,
            account
                .map(|a| {
                    granted(&st, &a, &txn.address, &txn.purpose, &txn.requester_type, &txn.requester_id, now)
                })
                .ok_or_else(|| "the account no longer exists".to_string()),
        ))
    });
    let ((rtype, rid), auth) = match outcome {
        Ok(v) => v,
        Err(e) if e.status == StatusCode::FORBIDDEN => return Err(e),
        Err(e) => {
            let hip = st
                .fixtures
                .facilities
                .iter()
                .find(|f| f.client_id == caller)
                .map(|f| f.hip_id.clone())
                .unwrap_or_default();
            (("HIP".to_string(), hip), Err(format!("Invalid auth confirm request: {}", e.message)))
        }
    };
    let mut answer =
        json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "resp": {"requestId": request_id}});
    match auth {
        Ok(auth) => {
            answer["auth"] = auth;
            answer["error"] = Value::Null;
        }
        Err(why) => {
            answer["auth"] = Value::Null;
            answer["error"] = error_json(ERR_AUTH_CONFIRM, &why);
        }
    }
    callback(&st, receiver(&rtype), &rid, "/v0.5/users/auth/on-confirm", answer);
    Ok(accepted())
}

/// Demographics match exactly (name case-insensitively); with only a year of birth known,
/// `YYYY-01-01` is the date to send.
fn demographics_match(p: &crate::fixtures::Person, name: &str, gender: &str, dob: &str) -> bool {
    let expected = match (p.month_of_birth, p.day_of_birth) {
        (Some(m), Some(d)) => format!("{}-{m:02}-{d:02}", p.year_of_birth),
        _ => format!("{}-01-01", p.year_of_birth),
    };
    name.trim().eq_ignore_ascii_case(&p.name) && gender == p.gender && dob == expected
}

async fn on_notify(req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    envelope(&body)?;
    body.obj("resp")?.txn_id("requestId")?;
    Ok(accepted())
}

// ---- care-context linking ----------------------------------------------------------------------

async fn add_contexts(st: web::Data<AppState>, req: HttpRequest, body: JsonBody) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let request_id = envelope(&body)?;
    let link = body.obj("link")?;
    let token = link.str("accessToken")?;
    let patient = link.obj("patient")?;
    patient.str("referenceNumber")?;
    patient.str("display")?;
    let contexts = match patient.raw("careContexts") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(Value::Array(_)) => {
            return Err(ApiError::bad("link.patient.careContexts", "required", "must not be empty"))
        }
        Some(_) => return Err(ApiError::bad("link.patient.careContexts", "type", "must be an array")),
        None => return Err(ApiError::bad("link.patient.careContexts", "required", "is required")),
    };
    let mut refs = Vec::new();
    for (i, c) in contexts.iter().enumerate() {
        let field = format!("link.patient.careContexts[{i}]");
        let Value::Object(map) = c else {
            return Err(ApiError::bad(&field, "type", "must be an object"));
        };
        let c = Obj::at(map, field);
        let r = c.str("referenceNumber")?.to_string();
        c.str("display")?;
        refs.push(r);
    }
    let now = st.clock.now();
    let caller = client(&req);
    let own_hip = st
        .fixtures
        .facilities
        .iter()
        .find(|f| f.client_id == caller)
        .map(|f| f.hip_id.clone())
        .unwrap_or_default();
    let mut answer =
        json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "resp": {"requestId": request_id}});
    let verdict = check_link_token(&st, token, &caller, now).and_then(|(address, hip)| {
        let keys: Vec<_> = refs.iter().map(|r| (address.to_lowercase(), hip.clone(), r.clone())).collect();
        if keys.iter().any(|k| st.gateway.links.contains_key(k)) {
            return Err((
                hip,
                ERR_ALREADY_LINKED,
                "Some of the Care Contexts are already linked, please remove the linked Care Contexts."
                    .to_string(),
            ));
        }
        for k in keys {
            st.gateway.links.insert(k, now);
        }
        Ok(hip)
    });
    let hip = match verdict {
        Ok(hip) => {
            answer["acknowledgement"] = json!({"status": "SUCCESS"});
            answer["error"] = Value::Null;
            hip
        }
        Err((hip, code, message)) => {
            answer["acknowledgement"] = Value::Null;
            answer["error"] = error_json(code, &message);
            if hip.is_empty() {
                own_hip
            } else {
                hip
            }
        }
    };
    callback(&st, Receiver::Hip, &hip, "/v0.5/links/link/on-add-contexts", answer);
    Ok(accepted())
}

/// A linking token this gateway issued, unexpired, to a HIP of the calling client: its
/// (ABHA address, HIP id). On failure, (HIP id if known, error code, message).
fn check_link_token(
    st: &AppState,
    token: &str,
    caller: &str,
    now: Millis,
) -> Result<(String, String), (String, i64, String)> {
    let claims = crypto::verify(token, Algorithm::RS512)
        .map_err(|e| (String::new(), ERR_GENERIC, format!("Invalid linking token: {e}")))?;
    let hip = claims["requesterId"].as_str().unwrap_or_default().to_string();
    let address = claims["sub"].as_str().unwrap_or_default().to_string();
    if owner_of(st, &hip).as_deref() != Some(caller) {
        return Err((
            String::new(),
            ERR_GENERIC,
            format!("Invalid linking token: issued to {hip}, not to a HIP of {caller}"),
        ));
    }
    if claims["exp"].as_i64().unwrap_or(0) * 1000 <= now {
        return Err((hip, ERR_GENERIC, "Invalid linking token: expired".to_string()));
    }
    Ok((address, hip))
}

async fn context_notify(
    st: web::Data<AppState>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    require_cm_id(&req)?;
    let request_id = envelope(&body)?;
    let n = body.obj("notification")?;
    let address = n.obj("patient")?.str("id")?;
    let cc = n.obj("careContext")?;
    cc.str("patientReference")?;
    let reference = cc.str("careContextReference")?;
    let hip = n.obj("hip")?.str("id")?;
    n.strings("hiTypes")?;
    n.str("date")?;
    if owner_of(&st, hip).as_deref() != Some(client(&req).as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "requester-not-yours",
            format!("notification.hip.id: {hip} is not yours"),
        )
        .field("notification.hip.id"));
    }
    let now = st.clock.now();
    let mut answer =
        json!({"requestId": Uuid::new_v4(), "timestamp": timestamp(now), "resp": {"requestId": request_id}});
    if st.gateway.links.contains_key(&(address.to_lowercase(), hip.to_string(), reference.to_string())) {
        answer["acknowledgement"] = json!({"status": "SUCCESS"});
        answer["error"] = Value::Null;
    } else {
        answer["acknowledgement"] = Value::Null;
        answer["error"] =
            error_json(ERR_GENERIC, &format!("care context {reference} is not linked to {address} at {hip}"));
    }
    callback(&st, Receiver::Hip, hip, "/v0.5/links/context/on-notify", answer);
    Ok(accepted())
}
