//! `reference-hip`: a small HIP that does what ABDM asks of a HIP in the scan-and-share flow, to
//! show what passes the HIP scenarios and, with `--fault`, what each check catches.
//!
//! On `profile/share` it verifies the gateway's JWT against the gateway's JWKS (RS256, audience
//! `account`, not expired), answers 202, calls `on-share` with the same requestId and healthId
//! and a token number (the same one for a patient who rescans within 30 minutes), then starts
//! user auth (purpose LINK, DEMOGRAPHICS) for the shared address, confirms with the demographics
//! it was shared, and links a care context with the linking token it gets.
//!
//! ```text
//! reference-hip --gateway http://127.0.0.1:8090 [--addr 127.0.0.1:0] [--client-id SBX_000001]
//!               [--client-secret sandbox-secret-0001] [--hip-id IN2910000001] [--fault NAME]...
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
enum Fault {
    /// Answer profile/share with 500 instead of 202.
    No202,
    /// Send on-share with another requestId in `resp`.
    WrongRequestId,
    /// Send on-share acknowledging another healthId.
    WrongHealthId,
    /// Never send on-share.
    NoOnShare,
    /// Send on-share after the 30 s deadline (moves the sandbox's clock 31 s first).
    LateOnShare,
    /// Confirm user auth with demographics that do not match.
    WrongDemographics,
    /// Accept gateway calls without verifying their JWT.
    AcceptForgedJwt,
    /// Acknowledge the share with FAILURE.
    FailureStatus,
}

#[derive(Parser)]
#[command(name = "reference-hip", about = "A reference HIP for the scan-and-share flow")]
struct Cli {
    /// The gateway's root URL (the sandbox's).
    #[arg(long, env = "GATEWAY_URL")]
    gateway: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    #[arg(long, env = "CLIENT_ID", default_value = "SBX_000001")]
    client_id: String,
    #[arg(long, env = "CLIENT_SECRET", default_value = "sandbox-secret-0001")]
    client_secret: String,
    #[arg(long, env = "HIP_ID", default_value = "IN2910000001")]
    hip_id: String,
    /// Misbehave in one way (repeatable).
    #[arg(long = "fault", value_enum)]
    faults: Vec<Fault>,
}

#[derive(Debug, Clone)]
struct Patient {
    name: String,
    gender: String,
    date_of_birth: String,
}

struct Hip {
    gateway: String,
    client_id: String,
    client_secret: String,
    hip_id: String,
    faults: HashSet<Fault>,
    http: reqwest::Client,
    key: Mutex<Option<jsonwebtoken::DecodingKey>>,
    /// healthId → (token number, when issued): a rescan within 30 minutes gets the same one.
    tokens: Mutex<HashMap<String, (u32, Instant)>>,
    next_token: AtomicU32,
    next_visit: AtomicU32,
    /// Auth init requestId → the patient it is for.
    pending: Mutex<HashMap<String, Patient>>,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Hip {
    fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }

    /// Verifies a gateway call's `Authorization: Bearer <JWT>` against the gateway's JWKS.
    async fn verify(&self, req: &HttpRequest) -> Result<(), String> {
        if self.has(Fault::AcceptForgedJwt) {
            return Ok(());
        }
        let token = req
            .headers()
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or("no bearer token")?
            .to_string();
        let key = self.key().await?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["account"]);
        jsonwebtoken::decode::<Value>(&token, &key, &validation).map(|_| ()).map_err(|e| e.to_string())
    }

    async fn key(&self) -> Result<jsonwebtoken::DecodingKey, String> {
        if let Some(k) = self.key.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(k);
        }
        let jwks: Value = self
            .http
            .get(format!("{}/gateway/v0.5/certs", self.gateway))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let k = &jwks["keys"][0];
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            k["n"].as_str().unwrap_or_default(),
            k["e"].as_str().unwrap_or_default(),
        )
        .map_err(|e| e.to_string())?;
        *self.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key.clone());
        Ok(key)
    }

    async fn session(&self) -> Result<String, String> {
        let res: Value = self
            .http
            .post(format!("{}/gateway/v0.5/sessions", self.gateway))
            .json(&json!({"clientId": self.client_id, "clientSecret": self.client_secret}))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        res["accessToken"].as_str().map(str::to_string).ok_or_else(|| format!("no session: {res}"))
    }

    async fn call(&self, path: &str, body: Value) {
        let Ok(token) = self.session().await else { return };
        let _ = self
            .http
            .post(format!("{}/gateway{path}", self.gateway))
            .header("Authorization", format!("Bearer {token}"))
            .header("X-CM-ID", "sbx")
            .json(&body)
            .send()
            .await;
    }

    fn token_number(&self, health_id: &str) -> u32 {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        match tokens.get(health_id) {
            Some((n, at)) if at.elapsed() < Duration::from_secs(30 * 60) => *n,
            _ => {
                let n = self.next_token.fetch_add(1, Ordering::Relaxed) + 1;
                tokens.insert(health_id.to_string(), (n, Instant::now()));
                n
            }
        }
    }

    async fn on_share(&self, version: &str, share: Value) {
        if self.has(Fault::NoOnShare) {
            return;
        }
        let p = &share["profile"]["patient"];
        let health_id = p["healthId"].as_str().unwrap_or_default().to_string();
        let patient = Patient {
            name: p["name"].as_str().unwrap_or_default().to_string(),
            gender: p["gender"].as_str().unwrap_or_default().to_string(),
            date_of_birth: format!(
                "{}-{:02}-{:02}",
                p["yearOfBirth"].as_u64().unwrap_or(1900),
                p["monthOfBirth"].as_u64().unwrap_or(1),
                p["dayOfBirth"].as_u64().unwrap_or(1)
            ),
        };
        let token = self.token_number(&health_id);
        let request_id = if self.has(Fault::WrongRequestId) {
            uuid::Uuid::new_v4().to_string()
        } else {
            share["requestId"].as_str().unwrap_or_default().to_string()
        };
        let acknowledged =
            if self.has(Fault::WrongHealthId) { "someone.else@sbx".to_string() } else { health_id.clone() };
        let status = if self.has(Fault::FailureStatus) { "FAILURE" } else { "SUCCESS" };
        if self.has(Fault::LateOnShare) {
            let _ = self
                .http
                .post(format!("{}/_sandbox/clock/advance", self.gateway))
                .json(&json!({"seconds": 31}))
                .send()
                .await;
        }
        let body = json!({
            "requestId": uuid::Uuid::new_v4(),
            "timestamp": now(),
            "acknowledgement": {"status": status, "healthId": acknowledged, "tokenNumber": token.to_string()},
            "resp": {"requestId": request_id},
        });
        self.call(&format!("/{version}/patients/profile/on-share"), body).await;
        if status != "SUCCESS" {
            return;
        }
        // Verify the address and get a linking token for the records this visit will create.
        let init_id = uuid::Uuid::new_v4().to_string();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(init_id.clone(), patient);
        let init = json!({
            "requestId": init_id,
            "timestamp": now(),
            "query": {"id": health_id, "purpose": "LINK", "authMode": "DEMOGRAPHICS", "requester": {"type": "HIP", "id": self.hip_id}},
        });
        self.call("/v0.5/users/auth/init", init).await;
    }

    async fn on_init(&self, body: Value) {
        let init_id = body["resp"]["requestId"].as_str().unwrap_or_default();
        let Some(patient) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(init_id) else {
            return;
        };
        let Some(txn) = body["auth"]["transactionId"].as_str() else { return };
        let name = if self.has(Fault::WrongDemographics) {
            format!("{} Other", patient.name)
        } else {
            patient.name.clone()
        };
        let confirm = json!({
            "requestId": uuid::Uuid::new_v4(),
            "timestamp": now(),
            "transactionId": txn,
            "credential": {"demographic": {"name": name, "gender": patient.gender, "dateOfBirth": patient.date_of_birth}},
        });
        self.call("/v0.5/users/auth/confirm", confirm).await;
    }

    async fn on_confirm(&self, body: Value) {
        let Some(token) = body["auth"]["accessToken"].as_str() else { return };
        let visit = self.next_visit.fetch_add(1, Ordering::Relaxed) + 1;
        let link = json!({
            "requestId": uuid::Uuid::new_v4(),
            "timestamp": now(),
            "link": {"accessToken": token, "patient": {
                "referenceNumber": format!("PAT-{visit}"),
                "display": "Registration desk patient",
                "careContexts": [{"referenceNumber": format!("VISIT-{visit}"), "display": "OPD visit"}],
            }},
        });
        self.call("/v0.5/links/link/add-contexts", link).await;
    }
}

async fn receive(hip: web::Data<Arc<Hip>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if let Err(why) = hip.verify(&req).await {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"code": 1000, "message": format!("invalid gateway token: {why}")}}));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = req.path().to_string();
    if path.ends_with("/patients/profile/share") && hip.has(Fault::No202) {
        return HttpResponse::InternalServerError().finish();
    }
    let hip = hip.get_ref().clone();
    tokio::spawn(async move {
        match path.as_str() {
            "/v0.5/patients/profile/share" => hip.on_share("v0.5", body).await,
            "/v1.0/patients/profile/share" => hip.on_share("v1.0", body).await,
            "/v0.5/users/auth/on-init" => hip.on_init(body).await,
            "/v0.5/users/auth/on-confirm" => hip.on_confirm(body).await,
            _ => {}
        }
    });
    HttpResponse::Accepted().finish()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let hip = Arc::new(Hip {
        gateway: cli.gateway.trim_end_matches('/').to_string(),
        client_id: cli.client_id,
        client_secret: cli.client_secret,
        hip_id: cli.hip_id,
        faults: cli.faults.into_iter().collect(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(std::io::Error::other)?,
        key: Mutex::new(None),
        tokens: Mutex::new(HashMap::new()),
        next_token: AtomicU32::new(0),
        next_visit: AtomicU32::new(0),
        pending: Mutex::new(HashMap::new()),
    });
    let data = web::Data::new(hip);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(receive)))
        .workers(1)
        .bind(&cli.addr)?;
    println!("reference-hip listening on http://{}", server.addrs()[0]);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.run().await
}
