//! Care-context linking with the linking token, and the context notify.

use super::*;

// ---- care-context linking ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_contexts_link_once_and_notify_only_when_linked() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let token = gw.linking_token().await;

    let add = rid();
    let reply = gw.call(ADD_CONTEXTS, add_contexts_body(&add, &token, "PAT-1", &["CC-1", "CC-2"])).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&got, &jwks);
    assert_eq!(got.body["acknowledgement"]["status"], "SUCCESS", "{}", got.body);
    assert_eq!(got.body["error"], Value::Null);

    let again = rid();
    gw.call(ADD_CONTEXTS, add_contexts_body(&again, &token, "PAT-1", &["CC-2"])).await;
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &again).await;
    assert_eq!(got.body["error"]["code"], 1439, "{}", got.body);
    assert!(got.body["acknowledgement"].is_null());

    let linked = rid();
    let reply = gw.call(CONTEXT_NOTIFY, notify_body(&linked, ASHA, "PAT-1", "CC-1", HIP1)).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_NOTIFY, &linked).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    assert_eq!(got.body["acknowledgement"]["status"], "SUCCESS", "{}", got.body);
    assert_eq!(got.body["error"], Value::Null);

    let unlinked = rid();
    gw.call(CONTEXT_NOTIFY, notify_body(&unlinked, ASHA, "PAT-1", "CC-9", HIP1)).await;
    let got = gw.hip.wait_for_reply(ON_NOTIFY, &unlinked).await;
    assert!(got.body["error"]["code"].is_i64(), "{}", got.body);
    assert!(got.body["acknowledgement"].is_null());

    gw.call(CONTEXT_NOTIFY, notify_body(&rid(), ASHA, "PAT-1", "CC-1", HIP2)).await.refused(
        403,
        "notification.hip.id",
        "requester-not-yours",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_contexts_refuses_garbage_and_other_clients_linking_tokens() {
    let gw = setup().await;
    for bad in ["garbage-token", gw.token.as_str()] {
        let add = rid();
        let reply = gw.call(ADD_CONTEXTS, add_contexts_body(&add, bad, "PAT-1", &["CC-1"])).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
        assert_eq!(got.hip_id.as_deref(), Some(HIP1));
        assert_eq!(got.body["error"]["code"], 1000, "{}", got.body);
        assert!(got.body["acknowledgement"].is_null());
    }

    // A linking token issued to SBX_000002's HIP, obtained through SBX_000002's own bridge.
    let hip2 = Hip::start().await;
    let token2 = gw.sb.session_for(CLIENT2, SECRET2).await;
    hip::register_bridge(&gw.sb, &token2, &hip2.url).await;
    let init = rid();
    let reply =
        call_as(&gw.sb, &token2, INIT, auth_body(&init, ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP2)))
            .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let on_init = hip2.wait_for_reply(ON_INIT, &init).await;
    let txn = on_init.body["auth"]["transactionId"].as_str().unwrap();
    let confirm = rid();
    call_as(
        &gw.sb,
        &token2,
        CONFIRM,
        json!({"requestId": confirm, "timestamp": chrono_now(), "transactionId": txn,
            "credential": demographic("Asha Verma", "F", "1990-04-15")}),
    )
    .await;
    let on_confirm = hip2.wait_for_reply(ON_CONFIRM, &confirm).await;
    assert_eq!(on_confirm.hip_id.as_deref(), Some(HIP2));
    let theirs = on_confirm.body["auth"]["accessToken"].as_str().expect("accessToken").to_string();

    let add = rid();
    gw.call(ADD_CONTEXTS, add_contexts_body(&add, &theirs, "PAT-1", &["CC-1"])).await;
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
    assert!(got.body["error"]["code"].is_i64(), "{}", got.body);
    assert!(got.body["acknowledgement"].is_null(), "{}", got.body);
    assert!(got.body["error"]["message"].as_str().is_some_and(|m| m.contains(HIP2)), "{}", got.body);

    // Nothing was linked: SBX_000002 links the same context with its own token.
    let own = rid();
    call_as(&gw.sb, &token2, ADD_CONTEXTS, add_contexts_body(&own, &theirs, "PAT-1", &["CC-1"])).await;
    let got = hip2.wait_for_reply(ON_ADD_CONTEXTS, &own).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP2));
    assert_eq!(got.body["acknowledgement"]["status"], "SUCCESS", "{}", got.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linking_token_expires_after_a_day() {
    let gw = setup().await;
    let token = gw.linking_token().await;
    gw.sb.advance(86_401).await;
    let gw = Gw { token: gw.sb.session_for(CLIENT1, SECRET1).await, ..gw };
    let add = rid();
    let reply = gw.call(ADD_CONTEXTS, add_contexts_body(&add, &token, "PAT-1", &["CC-1"])).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_ADD_CONTEXTS, &add).await;
    assert_eq!(got.body["error"]["code"], 1000, "{}", got.body);
    assert!(got.body["error"]["message"].as_str().is_some_and(|m| m.contains("expired")), "{}", got.body);
    assert!(got.body["acknowledgement"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_contexts_names_the_malformed_field() {
    let gw = setup().await;
    let mut empty = add_contexts_body(&rid(), "t", "PAT-1", &[]);
    gw.call(ADD_CONTEXTS, empty.clone()).await.refused(400, "link.patient.careContexts", "required");
    empty["link"]["patient"].as_object_mut().unwrap().remove("display");
    // A request id is spent once seen, whatever became of the request.
    empty["requestId"] = json!(rid());
    gw.call(ADD_CONTEXTS, empty).await.refused(400, "link.patient.display", "required");
    let mut no_display = add_contexts_body(&rid(), "t", "PAT-1", &["CC-1"]);
    no_display["link"]["patient"]["careContexts"][0].as_object_mut().unwrap().remove("display");
    gw.call(ADD_CONTEXTS, no_display).await.refused(400, "link.patient.careContexts[0].display", "required");
}
