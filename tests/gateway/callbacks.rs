//! Callbacks that never hold up the gateway however the HIP behaves (dead, slow, failing), and
//! the scripted faults (dropped, duplicated, delayed callbacks; inbound statuses).

use super::*;

// ---- callbacks never hold the gateway up -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_to_a_dead_bridge_do_not_block_and_are_tried_three_times() {
    let sb = TestSandbox::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let dead = dead_url();
    hip::register_bridge(&sb, &token, &dead).await;

    let started = Instant::now();
    let reply =
        sb.post("/_sandbox/share-profile", json!({"hipId": HIP1, "code": "OPD1", "abhaAddress": ASHA})).await;
    assert!(started.elapsed() < Duration::from_secs(2), "share-profile took {:?}", started.elapsed());
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.body["requestId"].as_str().unwrap().to_string();

    let started = Instant::now();
    let init = call_as(&sb, &token, INIT, asha_init(HIP1)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "init took {:?}", started.elapsed());
    assert_eq!(init.status, 202);

    let deadline = Instant::now() + WAIT;
    let out = loop {
        let out = sb.get(&format!("/_sandbox/share-profile/{id}")).await.ok().clone();
        if out["attempts"] == 3 {
            break out;
        }
        assert!(Instant::now() < deadline, "the delivery never ended: {out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(out["delivered"], false, "{out}");
    assert_eq!(out["hipStatus"], Value::Null);
    assert!(out["deliveryError"].as_str().is_some_and(|e| !e.is_empty()), "{out}");

    let attempts = outbound(&sb, SHARE).await;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    for a in &attempts {
        assert_eq!(a["status"], 0, "{a}");
        assert_eq!(a["path"], json!(format!("{dead}{SHARE}")));
        assert!(a["responseBody"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{a}");
        assert_eq!(a["correlationId"], json!(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hip_does_not_delay_the_gateway() {
    let gw = setup().await;
    gw.hip.delay_answers(Duration::from_secs(3));
    let started = Instant::now();
    let id = gw.share_asha().await;
    gw.init(ASHA, "LINK", "DEMOGRAPHICS").await;
    assert!(started.elapsed() < Duration::from_secs(2), "share and init took {:?}", started.elapsed());
    gw.hip.wait_for(SHARE, WAIT).await;
    let out = gw.delivered(&id).await;
    assert_eq!(out["delivered"], true, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hip_answering_500_gets_three_attempts_and_one_answering_4xx_gets_one() {
    let gw = setup().await;
    gw.hip.answer_with(500);
    let id = gw.share_asha().await;
    let out = gw.outcome_when(&id, |o| o["attempts"] == 3).await;
    assert_eq!(out["delivered"], false, "{out}");
    assert_eq!(out["hipStatus"], 500);
    assert_eq!(gw.hip.received(SHARE).len(), 3);
    let attempts = outbound(&gw.sb, SHARE).await;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(attempts.iter().all(|a| a["status"] == 500), "{attempts:?}");

    // A 4xx is the HIP's answer, not a failure to deliver: no retry.
    gw.hip.answer_with(401);
    let id = gw.share_asha().await;
    let out = gw.delivered(&id).await;
    assert_eq!(out["hipStatus"], 401, "{out}");
    assert_eq!(out["delivered"], false);
    assert_eq!(out["attempts"], 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gw.hip.received(SHARE).iter().filter(|r| r.body["requestId"] == json!(id)).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hip_answering_202_gets_exactly_one_attempt() {
    let gw = setup().await;
    let id = gw.share_asha().await;
    let out = gw.delivered(&id).await;
    assert_eq!(out["delivered"], true, "{out}");
    // Longer than the retry back-off: no second attempt comes.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(gw.hip.received(SHARE).len(), 1);
    let attempts = outbound(&gw.sb, SHARE).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status"], 202);
    assert_eq!(attempts[0]["path"], json!(format!("{}{SHARE}", gw.hip.url)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_registered_on_a_bridge_receive_their_callbacks() {
    let gw = setup().await;
    let auth = format!("Bearer {}", gw.token);
    let added = gw
        .sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&json!([{"id": "IN2910000099", "name": "Clinic Annexe", "type": "HIP", "active": true}])),
            &[("Authorization", &auth)],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let reply = gw.share(json!({"hipId": "IN2910000099", "code": "ANX1", "abhaAddress": RAVI})).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    assert_eq!(got.hip_id.as_deref(), Some("IN2910000099"));
    assert_eq!(got.body["profile"]["patient"]["healthId"], RAVI);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_cannot_take_over_another_clients_hip() {
    let gw = setup().await;
    let hip2 = Hip::start().await;
    let token2 = gw.sb.session_for(CLIENT2, SECRET2).await;
    hip::register_bridge(&gw.sb, &token2, &hip2.url).await;
    // SBX_000002 lists IN2910000001, SBX_000001's HIP, among its own services.
    let auth2 = format!("Bearer {token2}");
    let claimed = gw
        .sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&json!([{"id": HIP1, "name": "Not mine", "type": "HIP", "active": true}])),
            &[("Authorization", &auth2)],
        )
        .await;
    // SBX_000001 still acts for its HIP, and its patients' profiles still reach its own bridge.
    let init = gw.call(INIT, asha_init(HIP1)).await;
    assert_eq!(
        init.status, 202,
        "after SBX_000002 registered {HIP1} ({} {}), SBX_000001's init for it: {}",
        claimed.status, claimed.body, init.body
    );
    let id = gw.share_asha().await;
    gw.hip.wait_for_where(SHARE, WAIT, |r| r.body["requestId"] == json!(id)).await;
    assert!(
        hip2.received(SHARE).is_empty(),
        "another client's bridge received the profile: {:?}",
        hip2.received(SHARE)
    );
}

// ---- scripted faults ---------------------------------------------------------------------------

async fn set_faults(sb: &TestSandbox, faults: Value) -> Reply {
    sb.send(Method::PUT, "/_sandbox/faults", Some(&json!({"faults": faults})), &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_callback_never_arrives_and_is_journalled() {
    let gw = setup().await;
    let set = set_faults(&gw.sb, json!([{"path": SHARE, "drop": true}])).await;
    assert_eq!(set.ok()["faults"][0]["path"], SHARE);
    let id = gw.share_asha().await;
    // Other callbacks still go out.
    let init = gw.init(ASHA, "LINK", "DEMOGRAPHICS").await;
    gw.hip.wait_for_reply(ON_INIT, &init).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gw.hip.received(SHARE).is_empty(), "{:?}", gw.hip.requests());
    let entries = outbound(&gw.sb, SHARE).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]["responseBody"]["error"].as_str().is_some_and(|e| e.contains("dropped")),
        "{entries:?}"
    );
    assert_eq!(entries[0]["correlationId"], json!(id));
    assert_eq!(gw.outcome(&id).await["delivered"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_callback_arrives_twice() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": SHARE, "duplicate": true}])).await.ok();
    let id = gw.share_asha().await;
    let got = gw.hip.wait_for_count(SHARE, 2, WAIT).await;
    assert!(got.iter().all(|r| r.body["requestId"] == json!(id)), "{got:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gw.hip.received(SHARE).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_callback_arrives_after_the_delay() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": SHARE, "delaySeconds": 1}])).await.ok();
    let started = Instant::now();
    gw.share_asha().await;
    let replied = Instant::now();
    let got = gw.hip.wait_for(SHARE, WAIT).await;
    assert!(got.at >= started + Duration::from_secs(1), "arrived after {:?}", got.at - started);
    assert!(replied < got.at, "share-profile answered before the callback went out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_fault_answers_with_its_status() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": INIT, "status": 503}])).await.ok();
    let listed = gw.sb.get("/_sandbox/faults").await;
    assert_eq!(
        listed.ok()["faults"],
        json!([{"path": INIT, "drop": false, "duplicate": false, "status": 503}])
    );
    let body = asha_init(HIP1);
    let reply = gw.call(INIT, body.clone()).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body["error"]["code"].is_i64(), "{}", reply.body);
    // Other paths are untouched.
    assert_eq!(gw.call(FETCH_MODES, body).await.status, 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gw.hip.received(ON_INIT).is_empty());
}

#[tokio::test]
async fn malformed_faults_are_refused_and_reset_clears_them() {
    let sb = TestSandbox::start().await;
    set_faults(&sb, json!([{"path": SHARE}])).await.refused(400, "faults[0].path", "fault");
    set_faults(&sb, json!([{"path": "v0.5/patients/profile/share", "drop": true}])).await.refused(
        400,
        "faults[0].path",
        "fault",
    );
    set_faults(&sb, json!([{"path": INIT, "status": 42}])).await.refused(400, "faults[0].status", "fault");
    set_faults(&sb, json!([{"path": SHARE, "drop": true}, {"path": SHARE, "delaySeconds": 500}]))
        .await
        .refused(400, "faults[1].delaySeconds", "fault");
    set_faults(&sb, json!([{"path": SHARE, "explode": true}])).await.refused(400, "faults", "fault");
    sb.send(Method::PUT, "/_sandbox/faults", Some(&json!({})), &[]).await.refused(400, "faults", "required");
    assert_eq!(sb.get("/_sandbox/faults").await.ok()["faults"], json!([]), "refused faults are not kept");

    set_faults(&sb, json!([{"path": INIT, "status": 503}, {"path": SHARE, "drop": true}])).await.ok();
    assert_eq!(sb.get("/_sandbox/faults").await.ok()["faults"].as_array().unwrap().len(), 2);
    sb.post("/_sandbox/reset", json!({})).await.ok();
    assert_eq!(sb.get("/_sandbox/faults").await.ok()["faults"], json!([]));
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let init = call_as(&sb, &token, INIT, asha_init(HIP1)).await;
    assert_eq!(init.status, 202, "{}", init.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_drops_the_callbacks_still_waiting_to_go_out() {
    let gw = setup().await;
    set_faults(&gw.sb, json!([{"path": SHARE, "delaySeconds": 1}])).await.ok();
    gw.share_asha().await;
    gw.sb.post("/_sandbox/reset", json!({})).await.ok();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(gw.hip.received(SHARE).is_empty(), "delivered after the reset: {:?}", gw.hip.requests());
    assert!(outbound(&gw.sb, SHARE).await.is_empty(), "the fresh journal holds an earlier flow's callback");
}
