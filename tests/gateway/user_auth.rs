//! User auth (fetch-modes, init, confirm, notify) by demographics, mobile OTP and direct auth, up
//! to the linking token, and what it refuses.

use super::*;

// ---- user auth ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demographic_auth_yields_a_linking_token() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    // Seed 003 step 3: init.
    let init_id = gw.init(ASHA, "LINK", "DEMOGRAPHICS").await;
    // Step 4: on-init.
    let on_init = gw.hip.wait_for_reply(ON_INIT, &init_id).await;
    assert_eq!(on_init.hip_id.as_deref(), Some(HIP1));
    assert_eq!(on_init.hiu_id, None);
    hip::verify_jwt(&on_init, &jwks);
    let b = &on_init.body;
    assert_eq!(b["error"], Value::Null, "{b}");
    let txn = b["auth"]["transactionId"].as_str().expect("auth.transactionId");
    Uuid::parse_str(txn).expect("transactionId is a UUID");
    assert_eq!(b["auth"]["mode"], "DEMOGRAPHICS");
    let sent = parse_naive(&b["timestamp"]);
    let expiry = parse_naive(&b["auth"]["meta"]["expiry"]);
    let lifetime = (expiry - sent).num_seconds();
    assert!((7195..=7205).contains(&lifetime), "meta.expiry is {lifetime} s after the callback: {b}");
    Uuid::parse_str(b["requestId"].as_str().expect("requestId")).expect("a UUID");

    // Step 5: confirm; step 6: on-confirm with the linking token.
    let on_confirm = gw.confirm(txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(on_confirm.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&on_confirm, &jwks);
    let b = &on_confirm.body;
    assert_eq!(b["error"], Value::Null, "{b}");
    assert!(b["auth"]["patient"].is_null(), "LINK gives no patient: {b}");
    let token = b["auth"]["accessToken"].as_str().expect("auth.accessToken");
    assert_eq!(jsonwebtoken::decode_header(token).unwrap().alg, Algorithm::RS512);
    let claims = hip::try_verify(token, &jwks, Algorithm::RS512, None).expect("the linking token verifies");
    assert_eq!(claims["sub"], ASHA);
    assert_eq!(claims["requesterId"], HIP1);
    assert_eq!(claims["requesterType"], "HIP");
    assert_eq!(claims["patientId"], ASHA);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 86_400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_only_patient_confirms_with_january_first() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let (txn, _) = gw.start_auth(MEENA, "LINK", "DEMOGRAPHICS").await;
    let on_confirm = gw.confirm(&txn, demographic("Meena Iyer", "F", "1972-01-01")).await;
    assert_eq!(on_confirm.body["error"], Value::Null, "{}", on_confirm.body);
    let token = on_confirm.body["auth"]["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &jwks, Algorithm::RS512, None).expect("verifies");
    assert_eq!(claims["sub"], MEENA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mismatched_demographics_and_a_second_confirm_answer_1441() {
    let gw = setup().await;
    let (txn, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    let wrong = [
        demographic("Asha Varma", "F", "1990-04-15"),
        demographic("Asha Verma", "M", "1990-04-15"),
        demographic("Asha Verma", "F", "1990-01-01"),
        json!({"demographic": {"name": "Asha Verma", "gender": "F", "dateOfBirth": "1990-04-15",
            "identifier": {"type": "MOBILE", "value": "9000000000"}}}),
    ];
    for credential in wrong {
        let on_confirm = gw.confirm(&txn, credential.clone()).await;
        let b = &on_confirm.body;
        assert_eq!(b["error"]["code"], 1441, "{credential}: {b}");
        assert!(b["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(b["auth"].is_null(), "{b}");
    }
    // The right demographics still succeed, with the mobile too.
    let right = json!({"demographic": {"name": "Asha Verma", "gender": "F", "dateOfBirth": "1990-04-15",
        "identifier": {"type": "MOBILE", "value": "9876543210"}}});
    let on_confirm = gw.confirm(&txn, right.clone()).await;
    assert!(on_confirm.body["auth"]["accessToken"].is_string(), "{}", on_confirm.body);
    // A done transaction cannot be confirmed again.
    let again = gw.confirm(&txn, right).await;
    assert_eq!(again.body["error"]["code"], 1441, "{}", again.body);
    assert!(again.body["auth"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failed_confirmations_end_the_transaction() {
    let gw = setup().await;
    let (txn, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    for _ in 0..5 {
        let wrong = gw.confirm(&txn, demographic("Someone Else", "F", "1990-04-15")).await;
        assert_eq!(wrong.body["error"]["code"], 1441, "{}", wrong.body);
    }
    let right = gw.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(right.body["error"]["code"], 1441, "{}", right.body);
    assert!(right.body["auth"].is_null());
    // Journalled confirms never show the credential of an OTP flow either.
    let (otp_txn, _) = gw.start_auth(ASHA, "LINK", "MOBILE_OTP").await;
    let otp = gw.sb.otp(&otp_txn).await;
    gw.confirm(&otp_txn, json!({"authCode": otp})).await;
    let journal = gw.sb.get("/_sandbox/journal").await;
    let confirms: Vec<&Value> =
        journal.ok().as_array().unwrap().iter().filter(|e| e["path"] == CONFIRM).collect();
    assert!(confirms.iter().any(|e| e["requestBody"]["credential"]["authCode"] == "******"), "{confirms:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_modes_and_init_for_an_unknown_address_answer_1437() {
    let gw = setup().await;
    let modes_id = rid();
    let reply = gw.call(FETCH_MODES, auth_body(&modes_id, ASHA, "KYC_AND_LINK", None, ("HIP", HIP1))).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let got = gw.hip.wait_for_reply(ON_FETCH_MODES, &modes_id).await;
    assert_eq!(got.hip_id.as_deref(), Some(HIP1));
    assert_eq!(got.body["error"], Value::Null);
    assert_eq!(got.body["auth"]["purpose"], "KYC_AND_LINK");
    let modes = got.body["auth"]["modes"].as_array().expect("modes");
    assert!(modes.contains(&json!("DEMOGRAPHICS")) && modes.contains(&json!("MOBILE_OTP")), "{modes:?}");
    for m in modes {
        assert!(
            ["MOBILE_OTP", "AADHAAR_OTP", "DEMOGRAPHICS", "DIRECT"].contains(&m.as_str().unwrap_or("")),
            "{m}"
        );
    }

    let unknown_id = rid();
    gw.call(FETCH_MODES, auth_body(&unknown_id, NOBODY, "LINK", None, ("HIP", HIP1))).await;
    let got = gw.hip.wait_for_reply(ON_FETCH_MODES, &unknown_id).await;
    assert_eq!(got.body["error"]["code"], 1437, "{}", got.body);
    assert!(got.body["auth"].is_null());

    let init_id = gw.init(NOBODY, "LINK", "DEMOGRAPHICS").await;
    let got = gw.hip.wait_for_reply(ON_INIT, &init_id).await;
    assert_eq!(got.body["error"]["code"], 1437, "{}", got.body);
    assert!(got.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(got.body["auth"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mobile_otp_auth_sends_an_otp_and_confirms_with_the_auth_code() {
    let gw = setup().await;
    let (txn, on_init) = gw.start_auth(ASHA, "LINK", "MOBILE_OTP").await;
    assert_eq!(on_init.body["auth"]["mode"], "MOBILE_OTP");
    let hint = on_init.body["auth"]["meta"]["hint"].as_str().expect("meta.hint");
    assert!(hint.ends_with("3210") && !hint.contains("98765"), "a masked mobile: {hint}");
    let otp = gw.sb.otp(&txn).await;

    let wrong = gw.confirm(&txn, json!({"authCode": "000000"})).await;
    assert_eq!(wrong.body["error"]["code"], 1441, "{}", wrong.body);
    let on_confirm = gw.confirm(&txn, json!({"authCode": otp})).await;
    assert_eq!(on_confirm.body["error"], Value::Null, "{}", on_confirm.body);
    let token = on_confirm.body["auth"]["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &hip::jwks(&gw.sb).await, Algorithm::RS512, None).expect("verifies");
    assert_eq!(claims["sub"], ASHA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyc_gives_the_patient_and_kyc_and_link_gives_both() {
    let gw = setup().await;
    // Purpose KYC, asked as an HIU: the callbacks carry X-HIU-ID.
    let init_id = gw.init_as(ASHA, "KYC", "DEMOGRAPHICS", ("HIU", HIP1)).await;
    let on_init = gw.hip.wait_for_reply(ON_INIT, &init_id).await;
    assert_eq!(on_init.hiu_id.as_deref(), Some(HIP1));
    assert_eq!(on_init.hip_id, None);
    let txn = on_init.body["auth"]["transactionId"].as_str().unwrap().to_string();
    let kyc = gw.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(kyc.hiu_id.as_deref(), Some(HIP1));
    let auth = &kyc.body["auth"];
    assert!(auth["accessToken"].is_null(), "KYC gives no linking token: {auth}");
    assert_eq!(auth["patient"]["id"], ASHA);
    assert_eq!(auth["patient"]["name"], "Asha Verma");
    assert_eq!(auth["patient"]["gender"], "F");
    assert_eq!(auth["patient"]["yearOfBirth"], 1990);

    let (txn, _) = gw.start_auth(ASHA, "KYC_AND_LINK", "DEMOGRAPHICS").await;
    let both = gw.confirm(&txn, demographic("Asha Verma", "F", "1990-04-15")).await;
    let auth = &both.body["auth"];
    assert!(auth["accessToken"].is_string(), "{auth}");
    assert_eq!(auth["patient"]["id"], ASHA);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_auth_notifies_the_hip_that_access_was_granted() {
    let gw = setup().await;
    let jwks = hip::jwks(&gw.sb).await;
    let (txn, on_init) = gw.start_auth(ASHA, "LINK", "DIRECT").await;
    assert_eq!(on_init.body["auth"]["mode"], "DIRECT");
    let notify = gw.hip.wait_for(NOTIFY, WAIT).await;
    assert_eq!(notify.hip_id.as_deref(), Some(HIP1));
    hip::verify_jwt(&notify, &jwks);
    let auth = &notify.body["auth"];
    assert_eq!(auth["status"], "GRANTED", "{}", notify.body);
    assert_eq!(auth["transactionId"], json!(txn));
    let token = auth["accessToken"].as_str().expect("accessToken");
    let claims = hip::try_verify(token, &jwks, Algorithm::RS512, None).expect("verifies");
    assert_eq!(claims["sub"], ASHA);
    let notify_id = notify.body["requestId"].as_str().expect("requestId");
    Uuid::parse_str(notify_id).expect("a UUID");
    // The HIP acknowledges the notify.
    let ack = gw
        .call(
            "/gateway/v0.5/users/auth/on-notify",
            json!({"requestId": rid(), "timestamp": chrono_now(), "acknowledgement": {"status": "OK"},
                "resp": {"requestId": notify_id}}),
        )
        .await;
    assert_eq!(ack.status, 202, "{}", ack.body);
    gw.call("/gateway/v0.5/users/auth/on-notify", json!({"requestId": rid(), "timestamp": chrono_now()}))
        .await
        .refused(400, "resp", "required");
    // A DIRECT transaction is done: there is nothing to confirm.
    let confirm = gw.confirm(txn.as_str(), demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(confirm.body["error"]["code"], 1441, "{}", confirm.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_auth_notifies_only_after_the_hip_has_taken_the_on_init() {
    let gw = setup().await;
    // The HIP learns the transactionId from on-init and answers 202 once it has stored it; the
    // notify naming that transaction must not overtake it.
    let answer = Duration::from_millis(300);
    gw.hip.delay_answers(answer);
    let init = gw.init(ASHA, "LINK", "DIRECT").await;
    let on_init = gw.hip.wait_for_reply(ON_INIT, &init).await;
    let txn = on_init.body["auth"]["transactionId"].clone();
    let notify = gw.hip.wait_for_where(NOTIFY, WAIT, |r| r.body["auth"]["transactionId"] == txn).await;
    let gap = notify.at.checked_duration_since(on_init.at);
    let when = match gap {
        Some(g) => format!("{g:?} after on-init arrived"),
        None => format!("{:?} before on-init arrived", on_init.at - notify.at),
    };
    assert!(
        gap.is_some_and(|g| g >= answer),
        "notify came {when}, before the HIP had answered on-init (it answers after {answer:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_auth_refuses_other_clients_requesters_and_missing_headers() {
    let gw = setup().await;
    let body = |q: Value| json!({"requestId": rid(), "timestamp": chrono_now(), "query": q});
    // IN0910000002 is SBX_000002's HIP; SBX_000001's token may not ask for it.
    gw.call(INIT, body(query(ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP2)))).await.refused(
        403,
        "query.requester.id",
        "requester-not-yours",
    );
    let auth = format!("Bearer {}", gw.token);
    let init = body(query(ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP1)));
    gw.sb
        .send(Method::POST, INIT, Some(&init), &[("Authorization", &auth)])
        .await
        .refused(400, "X-CM-ID", "required");
    gw.sb
        .send(Method::POST, INIT, Some(&init), &[("Authorization", &auth), ("X-CM-ID", "abdm")])
        .await
        .refused(400, "X-CM-ID", "cm-id");
    gw.call(INIT, body(query(ASHA, "LOGIN", Some("DEMOGRAPHICS"), ("HIP", HIP1)))).await.refused(
        400,
        "query.purpose",
        "purpose",
    );
    gw.call(INIT, body(query(ASHA, "LINK", Some("PASSWORD"), ("HIP", HIP1)))).await.refused(
        400,
        "query.authMode",
        "auth-mode",
    );
    gw.call(INIT, json!({"requestId": "not-a-uuid", "timestamp": chrono_now(), "query": init["query"]}))
        .await
        .refused(400, "requestId", "uuid");
    gw.call(INIT, json!({"requestId": rid(), "timestamp": "yesterday", "query": init["query"]}))
        .await
        .refused(400, "timestamp", "timestamp");

    // A transaction of SBX_000002 cannot be confirmed with SBX_000001's token.
    let token2 = gw.sb.session_for(CLIENT2, SECRET2).await;
    let hip2 = Hip::start().await;
    hip::register_bridge(&gw.sb, &token2, &hip2.url).await;
    let init2 = rid();
    call_as(&gw.sb, &token2, INIT, auth_body(&init2, ASHA, "LINK", Some("DEMOGRAPHICS"), ("HIP", HIP2)))
        .await;
    let on_init = hip2.wait_for_reply(ON_INIT, &init2).await;
    assert_eq!(on_init.hip_id.as_deref(), Some(HIP2));
    let txn2 = on_init.body["auth"]["transactionId"].as_str().unwrap();
    gw.call(
        CONFIRM,
        json!({"requestId": rid(), "timestamp": chrono_now(), "transactionId": txn2,
            "credential": demographic("Asha Verma", "F", "1990-04-15")}),
    )
    .await
    .refused(403, "transactionId", "requester-not-yours");
    // Exactly one of authCode and demographic.
    gw.call(
        CONFIRM,
        json!({"requestId": rid(), "timestamp": chrono_now(), "transactionId": txn2,
            "credential": {"authCode": "123456",
                "demographic": demographic("Asha Verma", "F", "1990-04-15")["demographic"]}}),
    )
    .await
    .refused(400, "credential", "credential");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_can_be_confirmed_for_two_hours_and_not_after() {
    let gw = setup().await;
    let (in_time, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    let (too_late, _) = gw.start_auth(ASHA, "LINK", "DEMOGRAPHICS").await;
    gw.sb.advance(7100).await;
    // The session token lasts 20 minutes: a new one.
    let gw = Gw { token: gw.sb.session_for(CLIENT1, SECRET1).await, ..gw };
    let ok = gw.confirm(&in_time, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert!(ok.body["auth"]["accessToken"].is_string(), "{}", ok.body);

    gw.sb.advance(101).await;
    let late = gw.confirm(&too_late, demographic("Asha Verma", "F", "1990-04-15")).await;
    assert_eq!(late.hip_id.as_deref(), Some(HIP1));
    assert_eq!(late.body["error"]["code"], 1441, "{}", late.body);
    assert!(late.body["auth"].is_null());
    assert!(late.body["error"]["message"].as_str().is_some_and(|m| m.contains("expired")), "{}", late.body);
}
