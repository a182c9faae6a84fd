//! Gateway sessions: `POST /gateway/v0.5/sessions` issues RS256 access tokens (the sandbox
//! Keycloak's claims, `aud: account`, 1200 s) and HS256 refresh tokens; `certs` serves the JWKS,
//! with the OpenID configuration and heartbeat beside it. Every other gateway call, and every
//! ABDM service the integrator calls (ABHA v3, HPR), needs a session token this gateway signed
//! and not yet expired in virtual time: [`authenticate`] checks it and records the client.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use dashmap::DashMap;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use uuid::Uuid;

use super::envelope::{version_of, Hygiene, Version};
use crate::body::{bearer, header, JsonBody};
use crate::clock::{Clock, Millis};
use crate::crypto;
use crate::error::{ApiError, ApiResult};
use crate::fixtures::Credentials;
use crate::shared::Shared;

/// The issuer of the sandbox's tokens.
pub const ISSUER: &str = "https://dev.ndhm.gov.in/auth/realms/central-registry";
/// Session token lifetime (seconds), as the sandbox issues them now.
pub const SESSION_SECONDS: i64 = 1200;
/// Refresh token lifetime (seconds).
pub const REFRESH_SECONDS: i64 = 1800;
/// The client id in the gateway's own callback tokens.
pub const GATEWAY_CLIENT: &str = "abdm-gateway";
/// Verified session tokens kept at most; the cache is emptied when full.
const VERIFIED_SESSIONS: usize = 4096;

/// The session check's memory: tokens whose signature and kind were verified, token →
/// (exp, clientId, workspace). A client sends the same token for twenty minutes, and an RSA verification
/// costs far more than the rest of a call; a forged or altered token never gets in, since its
/// verification fails. The expiry is still checked on every call.
pub struct Sessions {
    clock: Clock,
    workspace: String,
    verified: DashMap<String, (i64, String, String)>,
}

impl Sessions {
    /// An empty cache of the workspace `workspace`, reading time from `clock`.
    pub fn new(clock: Clock, workspace: &str) -> Self {
        Sessions { clock, workspace: workspace.to_string(), verified: DashMap::new() }
    }

    /// Forgets every verified token.
    pub fn reset(&self) {
        self.verified.clear();
    }

    /// The client a session access token was issued to, if this gateway signed it and it has
    /// not expired in virtual time at `now`.
    pub fn client(&self, token: &str, now: Millis) -> ApiResult<String> {
        let known = self.verified.get(token).map(|k| k.clone());
        let (exp, client, issued_in) = match known {
            Some(known) => known,
            None => {
                let known = verify_session(token)?;
                if self.verified.len() >= VERIFIED_SESSIONS {
                    self.verified.clear();
                }
                self.verified.insert(token.to_string(), known.clone());
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
        if issued_in != self.workspace {
            let why =
                format!("the session token was issued in workspace {issued_in:?}, not {:?}", self.workspace);
            return Err(ApiError::unauthorized("Authorization", "session-workspace", why));
        }
        Ok(client)
    }
}

fn verify_session(token: &str) -> ApiResult<(i64, String, String)> {
    let claims = crypto::verify(token, Algorithm::RS256).map_err(|e| {
        ApiError::unauthorized(
            "Authorization",
            "session-token",
            format!("not a token this gateway signed: {e}"),
        )
    })?;
    if claims["typ"] != "Bearer" || claims["aud"] != "account" {
        return Err(ApiError::unauthorized("Authorization", "session-token", "not a session access token"));
    }
    let workspace = claims["workspace"].as_str().unwrap_or(crate::shared::DEFAULT_WORKSPACE).to_string();
    Ok((
        claims["exp"].as_i64().unwrap_or(0),
        claims["clientId"].as_str().unwrap_or_default().to_string(),
        workspace,
    ))
}

/// Claims of a session token as the sandbox's Keycloak issues them.
fn session_claims(client_id: &str, now: Millis) -> Value {
    let iat = now / 1000;
    json!({
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
    })
}

/// A token for the gateway's own callbacks (RS256, `aud: account`, signed by JWKS `keys[0]`),
/// dated `now` (real time).
pub fn gateway_token(now: Millis) -> String {
    crypto::sign(&session_claims(GATEWAY_CLIENT, now), Algorithm::RS256)
}

/// A callback token a HIP must refuse: `forged` (signed by another key, otherwise valid) or
/// `expired` (signed by the gateway, expired two minutes ago in real time).
pub fn bad_token(kind: &str) -> Option<String> {
    let real = chrono::Utc::now().timestamp_millis();
    match kind {
        "forged" => Some(crypto::sign_foreign(&session_claims(GATEWAY_CLIENT, real))),
        "expired" => Some(gateway_token(real - (SESSION_SECONDS + 120) * 1000)),
        _ => None,
    }
}

/// `{clientId, clientSecret, grantType?, refreshToken?}` → a session. The v3 call carries the
/// v3 envelope (`REQUEST-ID`, `TIMESTAMP`, `X-CM-ID`), checked like every v3 message.
pub async fn sessions(
    sh: web::Data<Shared>,
    hygiene: web::Data<Hygiene>,
    req: HttpRequest,
    body: JsonBody,
) -> ApiResult<HttpResponse> {
    if version_of(&req) == Version::V3 {
        hygiene.inbound(&req, &body)?;
    }
    // Exactly `application/json`: some clients compare the Content-Type as a string.
    Ok(HttpResponse::Ok().content_type("application/json").body(session(&sh, &body)?.to_string()))
}

fn session(sh: &Shared, body: &JsonBody) -> ApiResult<Value> {
    let client_id = body.str("clientId")?;
    let secret = body.str("clientSecret")?;
    let grant = body.opt_str("grantType")?.unwrap_or("client_credentials");
    let facility = sh.fixtures.facilities.iter().find(|f| f.client_id == client_id);
    // With open credentials a client the fixtures do not know brings its own id and secret.
    let accepted = match facility {
        Some(f) => f.client_secret == secret,
        None => sh.credentials == Credentials::Open,
    };
    if !accepted {
        let why = match facility {
            Some(_) => "wrong clientSecret for this clientId",
            None => "unknown clientId (serve --credentials fixtures takes only the fixtures' clients)",
        };
        return Err(ApiError::unauthorized("clientSecret", "client-credentials", why));
    }
    let now = sh.clock.now();
    match grant {
        "client_credentials" => {}
        "refresh_token" => check_refresh(body.str("refreshToken")?, client_id, now)?,
        other => {
            return Err(ApiError::bad(
                "grantType",
                "grant-type",
                format!("{other:?}: use client_credentials or refresh_token"),
            ))
        }
    }
    let iat = now / 1000;
    let refresh = json!({"exp": iat + REFRESH_SECONDS, "iat": iat, "jti": Uuid::new_v4(), "iss": ISSUER,
        "aud": ISSUER, "typ": "Refresh", "azp": client_id});
    let mut claims = session_claims(client_id, now);
    // A workspace's tokens name it, and are refused in every other workspace.
    if sh.workspace != crate::shared::DEFAULT_WORKSPACE {
        claims["workspace"] = json!(sh.workspace);
    }
    Ok(json!({
        "accessToken": crypto::sign(&claims, Algorithm::RS256),
        "expiresIn": SESSION_SECONDS,
        "refreshExpiresIn": REFRESH_SECONDS,
        "refreshToken": crypto::sign_refresh(&refresh),
        "tokenType": "bearer",
    }))
}

fn check_refresh(refresh: &str, client_id: &str, now: Millis) -> ApiResult<()> {
    let claims = crypto::verify_refresh(refresh)
        .map_err(|e| ApiError::unauthorized("refreshToken", "refresh-token", format!("invalid: {e}")))?;
    if claims["typ"] != "Refresh" || claims["azp"] != json!(client_id) {
        return Err(ApiError::unauthorized(
            "refreshToken",
            "refresh-token",
            "not a refresh token of this client",
        ));
    }
    if claims["exp"].as_i64().unwrap_or(0) * 1000 <= now {
        return Err(ApiError::unauthorized("refreshToken", "refresh-token", "has expired"));
    }
    Ok(())
}

/// `GET certs`: the JWKS.
pub async fn certs() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(crypto::jwks_json())
}

/// `GET .well-known/openid-configuration`: where the JWKS is (the certs of the same version).
pub async fn openid(req: HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    let certs = match version_of(&req) {
        Version::V3 => "/api/hiecm/gateway/v3/certs",
        Version::V05 => "/gateway/v0.5/certs",
    };
    HttpResponse::Ok().json(json!({"jwks_uri": format!("{}://{}{certs}", info.scheme(), info.host())}))
}

/// `GET heartbeat`.
pub async fn heartbeat(sh: web::Data<Shared>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"timestamp": crate::clock::iso(sh.clock.now()), "status": "UP"}))
}

/// The client a request's session token was issued to, as [`authenticate`] recorded it.
#[derive(Clone)]
struct Client(String);

/// The client (bridge id) whose session token authenticated this request.
pub fn caller(req: &HttpRequest) -> String {
    req.extensions().get::<Client>().map(|c| c.0.clone()).unwrap_or_default()
}

/// Middleware for every gateway route but sessions and certs, and for the ABDM services that
/// take the gateway's session token: requires `Authorization: Bearer <session token>` signed by
/// this gateway and unexpired, and records its client for [`caller`].
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let checked = match req.app_data::<web::Data<Sessions>>() {
        Some(sessions) => client_of(req.request(), sessions),
        None => Err(ApiError::unauthorized("Authorization", "session-token", "no session store")),
    };
    match checked {
        Ok(client) => {
            req.extensions_mut().insert(Client(client));
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err(e) => Ok(req.into_response(e.error_response())),
    }
}

fn client_of(req: &HttpRequest, sessions: &Sessions) -> ApiResult<String> {
    let auth = header(req, "Authorization").ok_or_else(|| {
        ApiError::unauthorized("Authorization", "session-token", "missing 'Bearer <session token>'")
    })?;
    let token = bearer(auth).ok_or_else(|| {
        ApiError::unauthorized("Authorization", "session-token", "must be 'Bearer <session token>'")
    })?;
    sessions.client(token, sessions.clock.now())
}
