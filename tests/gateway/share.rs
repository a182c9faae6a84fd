//! The profile share a patient starts by scanning the HIP's QR code, and the HIP's on-share.

use super::*;

// ---- share profile -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_profile_reaches_the_hip_and_its_on_share_matches() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let id = gw.share_asha().await;
    Uuid::parse_str(&id).expect("requestId is a UUID");

    let got = gw.hip.wait_for(SHARE, WAIT).await;
    assert_eq!(got.path, SHARE);
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    assert_eq!(got.hiu_id, None);
    assert_eq!(jsonwebtoken::decode_header(got.bearer()).unwrap().alg, Algorithm::RS256);
    let claims = hip::verify_jwt(&got, &jwks);
    assert_eq!(claims["aud"], "account");

    let body = &got.body;
    assert_eq!(body["requestId"], json!(id));
    let ts = body["timestamp"].as_str().expect("timestamp");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "timestamp {ts:?}");
    assert_eq!(body["profile"]["hipCode"], "OPD1");
    let p = &body["profile"]["patient"];
    assert_eq!(p["healthId"], ASHA);
    assert_eq!(p["healthIdNumber"], "91-2345-6789-0129");
    assert_eq!(p["name"], "Asha Verma");
    assert_eq!(p["gender"], "F");
    assert_eq!(p["yearOfBirth"], 1990);
    assert_eq!(p["monthOfBirth"], 4);
    assert_eq!(p["dayOfBirth"], 15);
    assert_eq!(
        p["address"],
        json!({"line": "12 MG Road", "district": "Bengaluru Urban", "state": "Karnataka",
            "pincode": "560001"})
    );
    let ids = p["identifiers"].as_array().expect("identifiers");
    assert!(ids.iter().all(|i| i["type"].is_string() && i["value"].is_string()), "{ids:?}");
    assert!(ids.contains(&json!({"type": "MOBILE", "value": "9876543210"})), "{ids:?}");
    assert!(body.get("intent").is_none() && body.get("location").is_none(), "v0.5 has no intent/location");

    let out = gw.delivered(&id).await;
    assert_eq!(out["delivered"], true, "{out}");
    assert_eq!(out["hipStatus"], 202);
    assert_eq!(out["attempts"], 1);
    assert_eq!(out["onShare"], Value::Null);
    assert_eq!((out["hipId"].as_str(), out["code"].as_str()), (Some(HIP1), Some("OPD1")));
    assert_eq!(out["abhaAddress"], ASHA);
    assert_eq!(out["version"], "v0.5");

    let ack = gw.on_share("v0.5", &id, ASHA, None).await;
    assert_eq!(ack.status, 202, "on-share: {}", ack.body);
    let out = gw.outcome(&id).await;
    let on_share = &out["onShare"];
    assert_eq!(on_share["matched"], true, "{out}");
    assert_eq!(on_share["withinDeadline"], true);
    assert_eq!(on_share["status"], "SUCCESS");
    assert_eq!(on_share["healthId"], ASHA);
    assert_eq!(on_share["problems"], json!([]));
    assert_eq!(out["delivered"], true);
    assert_eq!(out["hipStatus"], 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_identifiers_use_the_types_of_the_share_schema() {
    let gw = setup().await;
    gw.share_asha().await;
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    let ids = got.body["profile"]["patient"]["identifiers"].as_array().expect("identifiers").clone();
    for i in &ids {
        let kind = i["type"].as_str().unwrap_or_default();
        assert!(
            SHARE_IDENTIFIER_TYPES.contains(&kind),
            "identifier type {kind:?} is not one of {SHARE_IDENTIFIER_TYPES:?} (reference §3.1): {ids:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_only_patient_is_shared_with_year_of_birth() {
    let gw = setup().await;
    let reply = gw.share(json!({"hipId": HIP1, "code": "OPD2", "abhaAddress": MEENA})).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    let p = &got.body["profile"]["patient"];
    assert_eq!(p["healthId"], MEENA);
    assert_eq!(p["name"], "Meena Iyer");
    assert_eq!(p["yearOfBirth"], 1972);
    assert!(p["monthOfBirth"].is_null() && p["dayOfBirth"].is_null(), "{p}");
    assert_eq!(got.body["profile"]["hipCode"], "OPD2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_share_with_another_health_id_does_not_match() {
    let gw = setup().await;
    let id = gw.share_asha().await;
    gw.hip.wait_for(SHARE, WAIT).await;
    let ack = gw.on_share("v0.5", &id, RAVI, None).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    let out = gw.outcome(&id).await;
    assert_eq!(out["onShare"]["matched"], false, "{out}");
    assert_eq!(out["onShare"]["withinDeadline"], true);
    let problems = out["onShare"]["problems"].as_array().expect("problems");
    assert!(problems.iter().any(|p| p.as_str().is_some_and(|p| p.contains("healthId"))), "{problems:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_share_after_thirty_seconds_is_late() {
    let gw = setup().await;
    let id = gw.share_asha().await;
    gw.hip.wait_for(SHARE, WAIT).await;
    gw.sb.advance(31).await;
    let ack = gw.on_share("v0.5", &id, ASHA, None).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    let out = gw.outcome(&id).await;
    assert_eq!(out["onShare"]["withinDeadline"], false, "{out}");
    assert_eq!(out["onShare"]["matched"], false);
    assert!(!out["onShare"]["problems"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_share_for_an_unknown_share_is_refused_and_journalled() {
    let gw = setup().await;
    let unknown = rid();
    let ack = gw.on_share("v0.5", &unknown, ASHA, None).await;
    assert_eq!(ack.status, 400, "{}", ack.body);
    assert_eq!(ack.body["rule"], "resp-unknown", "{}", ack.body);
    assert_eq!(ack.body["error"]["code"], 2500, "{}", ack.body);
    assert_eq!(ack.body["field"], "resp.requestId");
    assert!(ack.body["message"].as_str().is_some_and(|m| m.contains("resp.requestId")), "{}", ack.body);

    let journal = gw.sb.get("/_sandbox/journal").await;
    let entry = journal
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["direction"] == "inbound" && e["path"] == "/gateway/v0.5/patients/profile/on-share")
        .cloned()
        .expect("the on-share is journalled");
    assert_eq!(entry["status"], 400);
    assert_eq!(entry["responseBody"]["rule"], "resp-unknown", "{entry}");
    assert_eq!(entry["requestBody"]["resp"]["requestId"], json!(unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_is_refused_for_unknown_hips_hips_without_a_bridge_and_unknown_addresses() {
    let gw = setup().await;
    gw.share(json!({"hipId": "IN9999999999", "code": "OPD1", "abhaAddress": ASHA})).await.refused(
        422,
        "hipId",
        "hip-unknown",
    );
    // IN0910000002 belongs to SBX_000002, which has registered no bridge.
    gw.share(json!({"hipId": HIP2, "code": "REG1", "abhaAddress": ASHA})).await.refused(
        422,
        "hipId",
        "no-bridge",
    );
    gw.share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": NOBODY})).await.refused(
        422,
        "abhaAddress",
        "abha-address-unknown",
    );
    gw.share(json!({"hipId": HIP1, "abhaAddress": ASHA})).await.refused(400, "code", "required");
    gw.share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA, "version": "v2.0"}))
        .await
        .refused(400, "version", "version");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.hip.received(SHARE).is_empty(), "nothing is shared: {:?}", gw.hip.requests());
}

#[tokio::test]
async fn the_outcome_of_an_unknown_share_is_not_found() {
    let sb = TestSandbox::start().await;
    sb.get(&format!("/_sandbox/share-profile/{}", rid())).await.refused(404, "requestId", "share-unknown");
    sb.get("/_sandbox/share-profile/not-a-uuid").await.refused(400, "requestId", "uuid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_share_carries_intent_and_location_and_its_on_share_needs_a_token_number() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let reply = gw
        .share(json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA, "version": "v1.0",
            "latitude": "28.6139", "longitude": "77.2090"}))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.body["requestId"].as_str().unwrap().to_string();
    let got = gw.hip.wait_for(SHARE_V1, WAIT).await;
    assert_eq!(got.path, SHARE_V1);
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&got, &jwks);
    assert_eq!(got.body["requestId"], json!(id));
    assert!(got.body["intent"]["type"].as_str().is_some_and(|t| !t.is_empty()), "{}", got.body);
    assert_eq!(got.body["location"], json!({"latitude": "28.6139", "longitude": "77.2090"}));
    assert_eq!(got.body["profile"]["patient"]["healthId"], ASHA);
    assert!(gw.hip.received(SHARE).is_empty());

    gw.on_share("v1.0", &id, ASHA, None).await.refused(400, "acknowledgement.tokenNumber", "required");
    let ack = gw.on_share("v1.0", &id, ASHA, Some("17")).await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    let out = gw.outcome(&id).await;
    assert_eq!(out["version"], "v1.0");
    assert_eq!(out["onShare"]["matched"], true, "{out}");
    assert_eq!(out["onShare"]["tokenNumber"], "17");
}
