//! Bridge registration under both prefixes (`/gateway` and `/devservice`) and the services on a
//! bridge.

use super::*;

// ---- bridges -----------------------------------------------------------------------------------

async fn get_services(sb: &TestSandbox, prefix: &str, auth: &str) -> Reply {
    let path = format!("{prefix}/v1/bridges/getServices");
    sb.send(Method::GET, &path, None, &[("Authorization", auth)]).await
}

#[tokio::test]
async fn bridges_are_registered_under_both_prefixes() {
    let sb = TestSandbox::start().await;
    let token = sb.session_for(CLIENT1, SECRET1).await;
    let other = sb.session_for(CLIENT2, SECRET2).await;
    let auth = format!("Bearer {token}");
    let h = [("Authorization", auth.as_str())];

    let set = sb
        .send(Method::PATCH, "/gateway/v1/bridges", Some(&json!({"url": "http://127.0.0.1:7001/"})), &h)
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let got = get_services(&sb, "/devservice", &auth).await;
    assert_eq!(
        got.ok()["bridge"]["url"].as_str().map(|u| u.trim_end_matches('/')),
        Some("http://127.0.0.1:7001")
    );
    assert_eq!(got.body["bridge"]["id"], CLIENT1);

    // One URL per client: the last one registered wins, under either prefix.
    let set = sb
        .send(
            Method::PATCH,
            "/devservice/v1/bridges",
            Some(&json!({"url": "https://hip.example.org/abdm"})),
            &h,
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(
        get_services(&sb, "/gateway", &auth).await.ok()["bridge"]["url"],
        "https://hip.example.org/abdm"
    );

    // addUpdateServices: POST with an array, PUT with a single object.
    let added = sb
        .send(
            Method::POST,
            "/gateway/v1/bridges/addUpdateServices",
            Some(&json!([{"id": HIP1, "name": "Sandbox Clinic", "type": "HIP", "active": true,
                "alias": ["clinic"], "endpoints": [{"address": "https://hip.example.org",
                    "connectionType": "HTTP", "use": "registration"}]}])),
            &h,
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let added = sb
        .send(
            Method::PUT,
            "/devservice/v1/bridges/addUpdateServices",
            Some(&json!({"id": "IN2910000009", "name": "Clinic Lab", "type": "HIU", "active": true})),
            &h,
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let got = get_services(&sb, "/gateway", &auth).await;
    let list = got.ok()["services"].as_array().expect("services").clone();
    assert_eq!(list.len(), 2, "{list:?}");
    let find =
        |id: &str| list.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("{id} in {list:?}")).clone();
    assert_eq!(find(HIP1)["types"], json!(["HIP"]));
    assert_eq!(find(HIP1)["name"], "Sandbox Clinic");
    assert_eq!(find(HIP1)["active"], true);
    assert_eq!(find("IN2910000009")["types"], json!(["HIU"]));

    // The same id again updates it.
    let updated = sb
        .send(
            Method::POST,
            "/devservice/v1/bridges/addUpdateServices",
            Some(&json!([{"id": HIP1, "name": "Renamed Clinic", "type": "HIP", "active": false}])),
            &h,
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let got = get_services(&sb, "/devservice", &auth).await;
    let list = got.ok()["services"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let clinic = list.iter().find(|s| s["id"] == HIP1).unwrap();
    assert_eq!(clinic["name"], "Renamed Clinic");
    assert_eq!(clinic["active"], false);

    // Another client sees its own bridge only.
    let auth2 = format!("Bearer {other}");
    let theirs =
        sb.send(Method::GET, "/gateway/v1/bridges/getServices", None, &[("Authorization", &auth2)]).await;
    assert_eq!(theirs.ok()["bridge"]["url"], Value::Null);
    assert_eq!(theirs.body["services"], json!([]));

    for url in [json!("not a url"), json!("ftp://files.example.org/"), json!("http://"), json!(42)] {
        let reply = sb.send(Method::PATCH, "/gateway/v1/bridges", Some(&json!({"url": url})), &h).await;
        assert_eq!(reply.status, 400, "url {url}: {}", reply.body);
        assert_eq!(reply.body["field"], "url", "{}", reply.body);
        assert!(reply.body["error"]["message"].as_str().is_some_and(|m| m.contains("url")), "{}", reply.body);
    }
    sb.send(Method::PATCH, "/devservice/v1/bridges", Some(&json!({})), &h)
        .await
        .refused(400, "url", "required");
    sb.send(Method::POST, "/gateway/v1/bridges/addUpdateServices", Some(&json!([{"name": "No id"}])), &h)
        .await
        .refused(400, "[0].id", "required");
    sb.send(
        Method::PUT,
        "/gateway/v1/bridges/addUpdateServices",
        Some(&json!({"id": "X1", "name": "Pharmacy", "type": "PHARMACY"})),
        &h,
    )
    .await
    .refused(400, "[0].type", "service-type");
    // The URL was left as it was.
    assert_eq!(
        get_services(&sb, "/gateway", &auth).await.ok()["bridge"]["url"],
        "https://hip.example.org/abdm"
    );
}
