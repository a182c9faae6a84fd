//! HIE-CM v3 beside v0.5, as an integrator starting now meets it: v3 sessions and certs, a bridge
//! registered with the v3 call and called on `{bridge}/api/v3/...` with the v3 envelope, the v3
//! profile share and on-share, HIP-initiated linking with generate-token and link/carecontext,
//! user-initiated discovery and linking in both versions, and the request hygiene every message
//! passes (UUID request ids, the timestamp window, duplicates, answers to requests never sent).

mod common;

use common::hip::{self, Hip, Recorded, WAIT};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

const HIP1: &str = "IN2910000001";
const HIP2: &str = "IN0910000002";
const ASHA: &str = "asha.verma@sbx";
const ASHA_NUMBER: &str = "91234567890129";
const V3: &str = "/api/hiecm";

fn rid() -> String {
    Uuid::new_v4().to_string()
}

/// A sandbox with a test HIP registered as SBX_000001's bridge, through the v3 call or the v1 one.
struct Setup {
    sb: TestSandbox,
    hip: Hip,
    token: String,
}

async fn setup(v3: bool) -> Setup {
    let sb = TestSandbox::start().await;
    let hip = Hip::start().await;
    let token =
        if v3 { v3_session(&sb).await } else { sb.session_for("SBX_000001", "sandbox-secret-0001").await };
    if v3 {
        let r =
            v3_call(&sb, &token, Method::PATCH, "/gateway/v3/bridge/url", json!({"url": hip.url}), &[]).await;
        assert_eq!(r.status, 202, "v3 bridge url: {}", r.body);
    } else {
        hip::register_bridge(&sb, &token, &hip.url).await;
    }
    Setup { sb, hip, token }
}

/// A session opened the v3 way: `POST /api/hiecm/gateway/v3/sessions` with the v3 envelope.
async fn v3_session(sb: &TestSandbox) -> String {
    let creds = json!({"clientId": "SBX_000001", "clientSecret": "sandbox-secret-0001", "grantType": "client_credentials"});
    let (id, ts) = (rid(), chrono_now());
    let headers = [("REQUEST-ID", id.as_str()), ("TIMESTAMP", ts.as_str()), ("X-CM-ID", "sbx")];
    let r = sb.send(Method::POST, "/api/hiecm/gateway/v3/sessions", Some(&creds), &headers).await;
    assert_eq!(r.status, 200, "v3 session: {}", r.body);
    r.body["accessToken"].as_str().expect("accessToken").to_string()
}

/// A v3 call under `/api/hiecm` (see [`TestSandbox::v3_call`]).
async fn v3_call(
    sb: &TestSandbox,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
    extra: &[(&str, &str)],
) -> Reply {
    sb.v3_call(token, (method, &format!("{V3}{path}")), body, extra).await
}

impl Setup {
    async fn v3(&self, path: &str, body: Value, extra: &[(&str, &str)]) -> Reply {
        v3_call(&self.sb, &self.token, Method::POST, path, body, extra).await
    }

    /// A v0.5 HIP → gateway call.
    async fn v05(&self, path: &str, body: Value) -> Reply {
        let auth = format!("Bearer {}", self.token);
        self.sb.send(Method::POST, path, Some(&body), &[("Authorization", &auth), ("X-CM-ID", "sbx")]).await
    }

    /// A v3 answer to a request the HIP received: `response.requestId` = its REQUEST-ID.
    async fn answer_v3(&self, path: &str, to: &Recorded, mut body: Value) -> Reply {
        body["response"] =
            json!({"requestId": to.request_id.clone().expect("a v3 request carries REQUEST-ID")});
        self.v3(path, body, &[("X-HIP-ID", HIP1)]).await
    }

    /// A v0.5 answer: `requestId`, `timestamp`, `resp.requestId`.
    async fn answer_v05(&self, path: &str, to: &Recorded, mut body: Value) -> Reply {
        body["requestId"] = json!(rid());
        body["timestamp"] = json!(chrono_now());
        body["resp"] = json!({"requestId": to.body["requestId"]});
        self.v05(path, body).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_sessions_certs_and_openid() {
    let sb = TestSandbox::start().await;
    let creds = json!({"clientId": "SBX_000001", "clientSecret": "sandbox-secret-0001", "grantType": "client_credentials"});
    let (id, ts) = (rid(), chrono_now());
    let headers = [("REQUEST-ID", id.as_str()), ("TIMESTAMP", ts.as_str()), ("X-CM-ID", "sbx")];
    let r = sb.send(Method::POST, "/api/hiecm/gateway/v3/sessions", Some(&creds), &headers).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.body["accessToken"].as_str().unwrap().to_string();
    assert_eq!(r.body["expiresIn"], 1200);
    // The same REQUEST-ID again is a duplicate.
    sb.send(Method::POST, "/api/hiecm/gateway/v3/sessions", Some(&creds), &headers).await.refused(
        429,
        "REQUEST-ID",
        "duplicate-request-id",
    );
    let r =
        sb.send(Method::POST, "/api/hiecm/gateway/v3/sessions", Some(&creds), &[("X-CM-ID", "sbx")]).await;
    r.refused(400, "REQUEST-ID", "required");
    // v3 certs need a session token, as observed live.
    sb.get("/api/hiecm/gateway/v3/certs").await.refused(401, "Authorization", "session-token");
    let certs = sb
        .send(
            Method::GET,
            "/api/hiecm/gateway/v3/certs",
            None,
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert!(certs.ok()["keys"][0]["n"].is_string());
    let oidc = sb.get("/api/hiecm/gateway/v3/.well-known/openid-configuration").await;
    assert!(oidc.ok()["jwks_uri"].as_str().unwrap().ends_with("/api/hiecm/gateway/v3/certs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_bridge_gets_the_v3_share_and_its_on_share_is_matched() {
    let s = setup(true).await;
    let services =
        v3_call(&s.sb, &s.token, Method::GET, "/gateway/v3/bridge-services", Value::Null, &[]).await;
    assert_eq!(services.ok()["bridge"]["url"], json!(s.hip.url));
    let r =
        s.sb.post("/_sandbox/share-profile", json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA}))
            .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.body["requestId"].as_str().unwrap().to_string();
    let share = s.hip.wait_for("/api/v3/hip/patient/share", WAIT).await;
    assert_eq!(share.request_id.as_deref(), Some(id.as_str()));
    assert_eq!(share.cm_id.as_deref(), Some("sbx"));
    assert!(share.timestamp.is_some());
    assert_eq!(share.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&share, &hip::jwks(&s.sb).await);
    assert_eq!(share.body["intent"], "PROFILE_SHARE");
    assert_eq!(share.body["metaData"]["context"], "OPD1");
    assert_eq!(share.body["profile"]["patient"]["abhaAddress"], ASHA);
    assert_eq!(share.body["profile"]["patient"]["yearOfBirth"], "1990");
    assert!(share.body.get("requestId").is_none(), "v3 keeps the envelope in headers: {}", share.body);

    let ack = json!({"acknowledgement": {"abhaAddress": ASHA, "status": "SUCCESS", "profile": {"context": "OPD1", "tokenNumber": "7", "expiry": "1800"}}});
    let r = s.answer_v3("/patient-share/v3/on-share", &share, ack.clone()).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let out = s.sb.get(&format!("/_sandbox/share-profile/{id}")).await;
    assert_eq!(out.ok()["onShare"]["matched"], true, "{}", out.body);
    assert_eq!(out.body["version"], "v3");
    assert_eq!(out.body["onShare"]["tokenNumber"], "7");
    // Answered once: a second answer to it is refused.
    let again = s.answer_v3("/patient-share/v3/on-share", &share, ack.clone()).await;
    again.refused(400, "response.requestId", "resp-answered");
    assert_eq!(again.body["error"]["code"], "ABDM-1052");
    // `resp` instead of `response` is a v0.5 habit v3 does not accept.
    let mut v05_style = ack;
    v05_style["resp"] = json!({"requestId": rid()});
    s.v3("/patient-share/v3/on-share", v05_style, &[("X-HIP-ID", HIP1)])
        .await
        .refused(400, "response", "required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_version_overrides_the_bridge_and_v05_shares_stay_v05() {
    let s = setup(false).await;
    let r =
        s.sb.post(
            "/_sandbox/share-profile",
            json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA, "version": "v3"}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    s.hip.wait_for("/api/v3/hip/patient/share", WAIT).await;
    let r =
        s.sb.post("/_sandbox/share-profile", json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA}))
            .await;
    assert_eq!(r.status, 202);
    let share = s.hip.wait_for("/v0.5/patients/profile/share", WAIT).await;
    assert!(share.request_id.is_none());
    let r = s
        .answer_v05(
            "/gateway/v0.5/patients/profile/on-share",
            &share,
            json!({"acknowledgement": {"status": "SUCCESS", "healthId": ASHA}}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r =
        s.sb.post(
            "/_sandbox/share-profile",
            json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA, "version": "v2"}),
        )
        .await;
    r.refused(400, "version", "version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hygiene_refuses_bad_ids_stale_times_duplicates_and_unknown_answers_in_both_versions() {
    let s = setup(false).await;
    let notify = |id: &str, ts: &str| {
        json!({"requestId": id, "timestamp": ts, "notification": {"patient": {"id": ASHA},
            "careContext": {"patientReference": "P1", "careContextReference": "C1"}, "hiTypes": ["OPConsultation"],
            "date": chrono_now(), "hip": {"id": HIP1}}})
    };
    const NOTIFY_V05: &str = "/gateway/v0.5/links/context/notify";
    s.v05(NOTIFY_V05, notify("not-a-uuid", &chrono_now())).await.refused(400, "requestId", "uuid");
    let stale = stamp(chrono::Utc::now() - chrono::Duration::minutes(2));
    s.v05(NOTIFY_V05, notify(&rid(), &stale)).await.refused(400, "timestamp", "timestamp-window");
    let early = stamp(chrono::Utc::now() + chrono::Duration::minutes(10));
    s.v05(NOTIFY_V05, notify(&rid(), &early)).await.refused(400, "timestamp", "timestamp-window");
    let id = rid();
    assert_eq!(s.v05(NOTIFY_V05, notify(&id, &chrono_now())).await.status, 202);
    let dup = s.v05(NOTIFY_V05, notify(&id, &chrono_now())).await;
    dup.refused(429, "requestId", "duplicate-request-id");
    assert_eq!(dup.body["error"]["code"], 2429);
    let unknown = json!({"requestId": rid(), "timestamp": chrono_now(), "acknowledgement": {"status": "SUCCESS", "healthId": ASHA}, "resp": {"requestId": rid()}});
    s.v05("/gateway/v0.5/patients/profile/on-share", unknown).await.refused(
        400,
        "resp.requestId",
        "resp-unknown",
    );

    // v3: the same rules on the headers.
    let body = notify(&rid(), &chrono_now());
    let auth = format!("Bearer {}", s.token);
    let send = |id: String, ts: String| {
        let (sb, auth, body) = (&s.sb, auth.clone(), body.clone());
        async move {
            let headers = [
                ("Authorization", auth.as_str()),
                ("REQUEST-ID", id.as_str()),
                ("TIMESTAMP", ts.as_str()),
                ("X-CM-ID", "sbx"),
            ];
            sb.send(Method::POST, "/api/hiecm/hip/v3/link/context/notify", Some(&body), &headers).await
        }
    };
    let bad = send("42".into(), chrono_now()).await;
    bad.refused(400, "REQUEST-ID", "uuid");
    assert_eq!(bad.body["error"]["code"], "ABDM-1030");
    send(rid(), stale.clone()).await.refused(400, "TIMESTAMP", "timestamp-window");
    let id = rid();
    assert_eq!(send(id.clone(), chrono_now()).await.status, 202);
    let dup = send(id, chrono_now()).await;
    dup.refused(429, "REQUEST-ID", "duplicate-request-id");
    assert_eq!(dup.body["error"]["code"], "ABDM-1030");
    let on_notify = s.hip.wait_for("/api/v3/links/context/on-notify", WAIT).await;
    assert!(on_notify.body["response"]["requestId"].is_string(), "{}", on_notify.body);
    assert_eq!(on_notify.body["error"]["code"], "ABDM-9999", "C1 is not linked: {}", on_notify.body);
    // The routing header must name the caller's own HIP.
    let r = s
        .v3(
            "/v3/token/generate-token",
            json!({"abhaAddress": ASHA, "name": "Asha Verma", "gender": "F", "yearOfBirth": 1990}),
            &[("X-HIP-ID", HIP2)],
        )
        .await;
    r.refused(403, "X-HIP-ID", "requester-not-yours");
}

fn token_body(name: &str) -> Value {
    json!({"abhaNumber": ASHA_NUMBER, "abhaAddress": ASHA, "name": name, "gender": "F", "yearOfBirth": 1990})
}

fn link_body(refs: &[&str], count: usize, hi_type: Value) -> Value {
    let cs: Vec<Value> =
        refs.iter().map(|r| json!({"referenceNumber": r, "display": format!("Visit {r}")})).collect();
    json!({"abhaNumber": ASHA_NUMBER, "abhaAddress": ASHA,
        "patient": [{"referenceNumber": "MR-1", "display": "Asha Verma", "careContexts": cs, "hiType": hi_type, "count": count}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_hip_initiated_linking_generate_token_link_and_notify() {
    let s = setup(true).await;
    let hip = [("X-HIP-ID", HIP1)];
    assert_eq!(s.v3("/v3/token/generate-token", token_body("Someone Else"), &hip).await.status, 202);
    let cb = s.hip.wait_for("/api/v3/hip/token/on-generate-token", WAIT).await;
    assert_eq!(cb.body["error"]["code"], "ABDM-1024", "{}", cb.body);
    assert!(cb.body["error"]["message"].as_str().unwrap().contains("name"));
    assert!(cb.body["response"]["requestId"].is_string());

    assert_eq!(s.v3("/v3/token/generate-token", token_body("asha verma"), &hip).await.status, 202);
    let cb = s
        .hip
        .wait_for_where("/api/v3/hip/token/on-generate-token", WAIT, |r| r.body["linkToken"].is_string())
        .await;
    let token = cb.body["linkToken"].as_str().unwrap().to_string();
    let with_token = [("X-HIP-ID", HIP1), ("X-LINK-TOKEN", token.as_str())];

    s.v3("/hip/v3/link/carecontext", link_body(&["C1"], 1, json!(["OPConsultation"])), &with_token)
        .await
        .refused(400, "patient[0].hiType", "hi-type");
    s.v3("/hip/v3/link/carecontext", link_body(&["C1", "C2"], 3, json!("OPConsultation")), &with_token)
        .await
        .refused(400, "patient[0].count", "care-context-count");
    let many: Vec<String> = (0..21).map(|i| format!("C{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    s.v3("/hip/v3/link/carecontext", link_body(&many, 21, json!("OPConsultation")), &with_token)
        .await
        .refused(400, "patient[0].count", "care-context-count");
    let mut dashed = link_body(&["C1"], 1, json!("OPConsultation"));
    dashed["abhaNumber"] = json!("91-2345-6789-0129");
    s.v3("/hip/v3/link/carecontext", dashed, &with_token).await.refused(
        400,
        "abhaNumber",
        "abha-number-format",
    );
    s.v3("/hip/v3/link/carecontext", link_body(&["C1"], 1, json!("OPConsultation")), &hip).await.refused(
        400,
        "X-LINK-TOKEN",
        "required",
    );

    assert_eq!(
        s.v3("/hip/v3/link/carecontext", link_body(&["C1", "C2"], 2, json!("OPConsultation")), &with_token)
            .await
            .status,
        202
    );
    let cb = s.hip.wait_for("/api/v3/link/on_carecontext", WAIT).await;
    assert_eq!(cb.body["status"], "Successfully Linked care context", "{}", cb.body);
    let links = s.sb.get(&format!("/_sandbox/links?abhaAddress={ASHA}")).await;
    assert_eq!(links.ok()["links"], json!([{"hipId": HIP1, "careContexts": ["C1", "C2"]}]));
    assert_eq!(
        s.v3("/hip/v3/link/carecontext", link_body(&["C2"], 1, json!("OPConsultation")), &with_token)
            .await
            .status,
        202
    );
    let again = s.hip.wait_for_count("/api/v3/link/on_carecontext", 2, WAIT).await;
    assert_eq!(again[1].body["error"]["code"], "ABDM-1056", "{}", again[1].body);

    // Two more tokens make three in 24 hours (one was refused for its name); a fourth is blocked.
    for _ in 0..2 {
        assert_eq!(s.v3("/v3/token/generate-token", token_body("Asha Verma"), &hip).await.status, 202);
    }
    assert_eq!(s.v3("/v3/token/generate-token", token_body("Asha Verma"), &hip).await.status, 202);
    let all = s.hip.wait_for_count("/api/v3/hip/token/on-generate-token", 5, WAIT).await;
    assert!(all[..4].iter().skip(1).all(|r| r.body["linkToken"].is_string()));
    assert_eq!(all[4].body["error"]["code"], "ABDM-1027", "{}", all[4].body);
}

/// Discovery → link → confirm with a test HIP answering in `v3` or v0.5, checking each message.
async fn discovery_flow(v3: bool) {
    let s = setup(v3).await;
    let r = s.sb.post("/_sandbox/discover", json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let txn = r.body["transactionId"].as_str().unwrap().to_string();
    let (discover_path, on_discover) = if v3 {
        (
            "/api/v3/hip/patient/care-context/discover",
            "/user-initiated-linking/v3/patient/care-context/on-discover",
        )
    } else {
        ("/v0.5/care-contexts/discover", "/gateway/v0.5/care-contexts/on-discover")
    };
    let discover = s.hip.wait_for(discover_path, WAIT).await;
    assert_eq!(discover.body["transactionId"], json!(txn));
    let kinds: Vec<&str> = discover.body["patient"]["verifiedIdentifiers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    let expected: &[&str] =
        if v3 { &["MOBILE", "ABHA_NUMBER", "ABHA_ADDRESS"] } else { &["MOBILE", "NDHM_HEALTH_NUMBER"] };
    assert_eq!(kinds, expected);
    assert_eq!(discover.body["patient"]["yearOfBirth"], 1990);

    let contexts = json!([{"referenceNumber": "V1", "display": "OPD 2024"}, {"referenceNumber": "V2", "display": "Lab 2025"}]);
    let patient = if v3 {
        json!([{"referenceNumber": "MR-1", "display": "Asha Verma", "careContexts": contexts, "hiType": "OPConsultation", "count": 2}])
    } else {
        json!({"referenceNumber": "MR-1", "display": "Asha Verma", "careContexts": contexts})
    };
    let mut found = json!({"transactionId": txn, "patient": patient, "matchedBy": ["MOBILE"]});
    let reply = if v3 {
        s.answer_v3(on_discover, &discover, found.take()).await
    } else {
        s.answer_v05(on_discover, &discover, found.take()).await
    };
    assert_eq!(reply.status, 202, "{}", reply.body);

    let r = s.sb.post(&format!("/_sandbox/discover/{txn}/confirm"), json!({"token": "123456"})).await;
    r.refused(422, "transactionId", "step-order");
    let r = s.sb.post(&format!("/_sandbox/discover/{txn}/link"), json!({"careContexts": ["V9"]})).await;
    r.refused(422, "careContexts", "care-context-unknown");
    let r = s.sb.post(&format!("/_sandbox/discover/{txn}/link"), json!({"careContexts": ["V2"]})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let (init_path, on_init, confirm_path, on_confirm) = if v3 {
        (
            "/api/v3/hip/link/care-context/init",
            "/user-initiated-linking/v3/link/care-context/on-init",
            "/api/v3/hip/link/care-context/confirm",
            "/user-initiated-linking/v3/link/care-context/on-confirm",
        )
    } else {
        (
            "/v0.5/links/link/init",
            "/gateway/v0.5/links/link/on-init",
            "/v0.5/links/link/confirm",
            "/gateway/v0.5/links/link/on-confirm",
        )
    };
    let init = s.hip.wait_for(init_path, WAIT).await;
    if v3 {
        assert_eq!(
            init.body["patient"][0]["careContexts"],
            json!([{"referenceNumber": "V2", "display": "Lab 2025"}])
        );
        assert_eq!(init.body["patient"][0]["count"], 1);
        assert_eq!(init.body["abhaAddress"], ASHA);
    } else {
        assert_eq!(init.body["patient"]["careContexts"], json!([{"referenceNumber": "V2"}]));
        assert_eq!(init.body["patient"]["referenceNumber"], "MR-1");
    }
    let link = json!({"transactionId": txn, "link": {"referenceNumber": "LINK-7", "authenticationType": "MEDIATED",
        "meta": {"communicationMedium": "MOBILE", "communicationHint": "XXXXXX3210", "communicationExpiry": chrono_now()}}});
    let reply =
        if v3 { s.answer_v3(on_init, &init, link).await } else { s.answer_v05(on_init, &init, link).await };
    assert_eq!(reply.status, 202, "{}", reply.body);

    let r = s.sb.post(&format!("/_sandbox/discover/{txn}/confirm"), json!({"token": "654321"})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let confirm = s.hip.wait_for(confirm_path, WAIT).await;
    assert_eq!(confirm.body["confirmation"], json!({"linkRefNumber": "LINK-7", "token": "654321"}));
    let linked = json!([{"referenceNumber": "V2", "display": "Lab 2025"}]);
    let patient = if v3 {
        json!([{"referenceNumber": "MR-1", "display": "Asha Verma", "careContexts": linked, "hiType": "OPConsultation", "count": 1}])
    } else {
        json!({"referenceNumber": "MR-1", "display": "Asha Verma", "careContexts": linked})
    };
    let body = json!({"patient": patient});
    let reply = if v3 {
        s.answer_v3(on_confirm, &confirm, body).await
    } else {
        s.answer_v05(on_confirm, &confirm, body).await
    };
    assert_eq!(reply.status, 202, "{}", reply.body);

    let out = s.sb.get(&format!("/_sandbox/discover/{txn}")).await;
    let out = out.ok();
    assert_eq!(out["status"], "linked", "{out}");
    assert_eq!(out["problems"], json!([]), "{out}");
    assert_eq!(out["linked"], json!(["V2"]));
    assert_eq!(out["steps"].as_array().unwrap().len(), 3);
    assert!(out["steps"].as_array().unwrap().iter().all(|s| s["matched"] == true), "{out}");
    let links = s.sb.get(&format!("/_sandbox/links?abhaAddress={ASHA}")).await;
    assert_eq!(links.ok()["links"], json!([{"hipId": HIP1, "careContexts": ["V2"]}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_initiated_discovery_and_linking_v05() {
    discovery_flow(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_initiated_discovery_and_linking_v3() {
    discovery_flow(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_on_discover_is_checked_and_its_problems_kept() {
    let on_discover = "/user-initiated-linking/v3/patient/care-context/on-discover";
    let cases: [(Value, &str); 4] = [
        (
            json!({"referenceNumber": "MR-1", "display": "A", "careContexts": [], "hiType": "OPConsultation", "count": 0}),
            "array",
        ),
        (
            json!([{"referenceNumber": "MR-1", "display": "A", "careContexts": [{"referenceNumber": "V1", "display": "x"}], "hiType": ["OPConsultation"], "count": 1}]),
            "hiType",
        ),
        (
            json!([{"referenceNumber": "MR-1", "display": "A", "careContexts": [{"referenceNumber": "V1", "display": "x"}], "hiType": "OPConsultation", "count": 2}]),
            "count",
        ),
        (
            json!([{"referenceNumber": "MR-1", "display": "A", "careContexts": [{"referenceNumber": "V1", "display": "x"}], "hiType": "OPConsultation", "count": 1}]),
            "matchedBy",
        ),
    ];
    for (i, (patient, problem)) in cases.into_iter().enumerate() {
        let s = setup(true).await;
        let r = s.sb.post("/_sandbox/discover", json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
        let txn = r.body["transactionId"].as_str().unwrap().to_string();
        let discover = s.hip.wait_for("/api/v3/hip/patient/care-context/discover", WAIT).await;
        let mut body = json!({"transactionId": txn, "patient": patient});
        if i < 3 {
            body["matchedBy"] = json!(["MOBILE"]);
        }
        let reply = s.answer_v3(on_discover, &discover, body).await;
        assert_eq!(reply.status, 400, "case {problem}: {}", reply.body);
        let out = s.sb.get(&format!("/_sandbox/discover/{txn}")).await;
        let problems = out.ok()["problems"].to_string();
        assert!(problems.contains(problem), "case {problem}: {problems}");
        assert_eq!(out.body["status"], "failed");
    }
    // An on-discover naming another transaction is a problem too.
    let s = setup(false).await;
    let r = s.sb.post("/_sandbox/discover", json!({"hipId": HIP1, "abhaAddress": ASHA})).await;
    let txn = r.body["transactionId"].as_str().unwrap().to_string();
    let discover = s.hip.wait_for("/v0.5/care-contexts/discover", WAIT).await;
    let body = json!({"transactionId": rid(), "patient": {"referenceNumber": "MR-1", "display": "A", "careContexts": [{"referenceNumber": "V1", "display": "x"}]}});
    assert_eq!(s.answer_v05("/gateway/v0.5/care-contexts/on-discover", &discover, body).await.status, 400);
    let out = s.sb.get(&format!("/_sandbox/discover/{txn}")).await;
    assert!(out.ok()["problems"][0].as_str().unwrap().contains("transactionId"), "{}", out.body);
    let r = s.sb.post("/_sandbox/discover", json!({"hipId": HIP1, "abhaAddress": "nobody.here@sbx"})).await;
    r.refused(422, "abhaAddress", "abha-address-unknown");
}
