//! The web console in a real browser (headless Chromium over WebDriver): the page loads with no
//! console error and no request leaving the machine; every panel shows real data; a patient scans
//! a counter's QR code (decoded by an independent QR reader to the README's payloads) and the
//! share's outcome appears live; a request made elsewhere appears in the journal live; an OTP a
//! flow sent is in the inbox; the clock moves on; the patient links records, reads a decrypted
//! transfer and decides an HIU's consent request; the runner panel runs a scenario through the
//! binary. Each step leaves a screenshot under `target/ui-screenshots/`.

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use browser::{Browser, WAIT};
use common::hip::{register_bridge, Hip};
use common::hpr::{HprStep, Paths};
use common::*;
use serde_json::{json, Value};

const CLINIC: &str = "IN2910000001";
const ASHA: &str = "asha.verma@sbx";
const MEENA: &str = "meena.iyer@sbx";
const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (390, 844);

/// The reference HIP (`src/bin/reference-hip`) against `gateway`; killed when dropped.
struct ReferenceHip {
    child: Child,
    url: String,
}

impl ReferenceHip {
    fn start(gateway: &str) -> ReferenceHip {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reference-hip"))
            .args(["--gateway", gateway, "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("reference-hip starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("its first line");
        let url = line.trim().rsplit(' ').next().unwrap_or_default().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "reference-hip said {line:?}");
        ReferenceHip { child, url }
    }
}

impl Drop for ReferenceHip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sandbox with the reference HIP as the bridge of `SBX_000001` (HIP `IN2910000001`).
async fn with_reference_hip() -> (TestSandbox, ReferenceHip) {
    let sb = TestSandbox::start().await;
    let hip = ReferenceHip::start(&sb.url);
    let token = sb.session().await;
    register_bridge(&sb, &token, &hip.url).await;
    (sb, hip)
}

/// Nothing the page wrote to the console at level SEVERE (errors, failed loads, CSP refusals).
async fn assert_no_console_error(b: &Browser) {
    let errors: Vec<Value> = b.console().await.into_iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// Every request the browser made over the network went to the sandbox (Chromium's own
/// `chrome://` pages and `data:` URLs never touch the network).
async fn assert_nothing_left(b: &Browser, origin: &str) {
    let urls = b.requested_urls().await;
    assert!(
        urls.iter().any(|u| u.starts_with(origin)),
        "the network log shows no request to the sandbox: {urls:?}"
    );
    let network = ["http:", "https:", "ws:", "wss:", "ftp:"];
    let away: Vec<&String> = urls
        .iter()
        .filter(|u| network.iter().any(|s| u.starts_with(s)) && !u.starts_with(&format!("{origin}/")))
        .collect();
    assert!(away.is_empty(), "requests left the machine: {away:?}");
}

/// The text a QR code in a PNG holds, read by `rqrr` (an independent decoder).
fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let luma = |x: usize, y: usize| {
        let p = &buf[(y * w + x) * channels..];
        if channels >= 3 {
            ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
        } else {
            p[0]
        }
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, luma);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the {w}x{h} image");
    grids[0].decode().expect("the QR code decodes").1
}

#[tokio::test]
async fn the_page_loads_every_panel_with_no_console_error_and_nothing_leaving_the_machine() {
    let sb = TestSandbox::start().await;
    // `/` sends a browser to the console; an API client still gets the JSON 404.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let root =
        plain.get(format!("{}/", sb.url)).header("Accept", "text/html,*/*;q=0.8").send().await.unwrap();
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "_sandbox/ui");
    sb.get("/").await.refused(404, "path", "no-route");
    // The page and everything it loads, compiled in: under 300 KB.
    let page = sb.http.get(format!("{}/_sandbox/ui", sb.url)).send().await.unwrap();
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    let html = page.text().await.unwrap();
    let mut total = html.len();
    for asset in html.split("/_sandbox/ui/assets/").skip(1) {
        let name = asset.split('"').next().unwrap();
        let body = sb.http.get(format!("{}/_sandbox/ui/assets/{name}", sb.url)).send().await.unwrap();
        assert_eq!(body.status(), 200, "{name}");
        total += body.bytes().await.unwrap().len();
    }
    assert!(total < 300 * 1024, "the page is {total} bytes");

    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else { return };
    b.open(&format!("{}/", sb.url)).await;
    b.wait_for("return document.getElementById('live').textContent === 'live'", WAIT).await;
    // Identities: the fixtures, with their OTPs and credentials.
    b.panel("identities").await;
    let ids = b.text("#identities-view").await;
    for shown in [
        "Asha Verma",
        "234567890127",
        "123456",
        "asha.verma@sbx",
        "Dr Kavita Rao",
        "111111",
        "SBX_000001",
        "sandbox-secret-0001",
        "sandbox-api-key",
    ] {
        assert!(ids.contains(shown), "identities show {shown}");
    }
    b.find("button[data-copy='123456']").await;
    b.screenshot("identities").await;
    for (panel, expect) in [
        ("otp", "No OTP sent yet"),
        ("journal", "GET"),
        ("scan", "counter OPD1"),
        ("patient-app", "Find and link records at a HIP"),
        ("transfers", "No health-information request seen yet"),
        ("tools", "Virtual clock"),
        ("runner", "abdm-sandbox check --html report.html"),
    ] {
        b.panel(panel).await;
        let text = b.text(&format!("#panel-{panel}")).await;
        assert!(text.contains(expect), "{panel} shows {expect:?}: {text}");
        b.screenshot(panel).await;
    }
    // Keyboard: from the skip link at the top, Tab reaches the patient, then the panels' tabs.
    b.panel("journal").await;
    b.js("document.querySelector('a.skip').focus()", json!([])).await;
    let mut reached = Vec::new();
    loop {
        let focused = b.tab(1).await;
        reached.push(focused["text"].as_str().unwrap_or_default().chars().take(30).collect::<String>());
        if focused["href"] == "#scan" {
            break;
        }
        assert!(reached.len() < 10, "Tab never reached the Scan tab: {reached:?}");
    }
    assert!(
        reached.iter().any(|t| t.starts_with("Asha Verma")),
        "the patient's select on the way: {reached:?}"
    );
    b.enter().await;
    b.wait_for("return !document.getElementById('panel-scan').hidden", WAIT).await;
    // A phone-width window.
    b.viewport(PHONE.0, PHONE.1).await;
    for panel in ["journal", "scan", "patient-app", "identities"] {
        b.panel(panel).await;
        let wide = b.js("return document.documentElement.scrollWidth", json!([])).await;
        assert!(wide.as_u64().unwrap() <= u64::from(PHONE.0) + 1, "{panel} fits a phone: {wide}px");
        b.screenshot(&format!("phone-{panel}")).await;
    }
    assert_no_console_error(&b).await;
    assert_nothing_left(&b, &sb.url).await;
}

#[tokio::test]
async fn a_patient_scans_a_counter_qr_and_the_share_is_delivered() {
    let (sb, _hip) = with_reference_hip().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else { return };
    b.open(&format!("{}/_sandbox/ui#scan", sb.url)).await;
    b.wait_for(
        "return [...document.querySelectorAll('figure.qr img')].every(i => i.complete && i.naturalWidth > 0)",
        WAIT,
    )
    .await;
    // The QR images hold what the README documents, read back by an independent decoder.
    let counter = format!("[data-counter='{CLINIC}/OPD1']");
    let v05 = decode_qr(&b.element_png(&format!("{counter} figure[data-form='v0.5'] img")).await);
    assert_eq!(v05, r#"{"hipId":"IN2910000001","code":"OPD1"}"#);
    let v3 = decode_qr(&b.element_png(&format!("{counter} figure[data-form='v3'] img")).await);
    assert_eq!(v3, "https://phrsbx.abdm.gov.in/share-profile?hip-id=IN2910000001&counter-id=OPD1");

    b.js("const s = document.getElementById('patient'); s.value = arguments[0]; s.dispatchEvent(new Event('change'))", json!([ASHA])).await;
    b.click(&format!("[data-scan='{CLINIC}/OPD1/v0.5']")).await;
    let token =
        b.wait_for("const t = document.querySelector('.scan .token'); return t && t.textContent", WAIT).await;
    let card = b.text(".scan").await;
    for shown in ["delivered", "HTTP 202", "SUCCESS", "matched", "asha.verma@sbx"] {
        assert!(card.contains(shown), "the scan shows {shown}: {card}");
    }
    // What the page shows is what the control API says became of the share.
    let id = b.js("return document.querySelector('.scan').dataset.request", json!([])).await;
    let outcome = sb.get(&format!("/_sandbox/share-profile/{}", id.as_str().unwrap())).await;
    let outcome = outcome.ok();
    assert_eq!(outcome["delivered"], true);
    assert_eq!(outcome["onShare"]["matched"], true);
    assert_eq!(outcome["onShare"]["tokenNumber"], token);
    b.screenshot("scan-delivered").await;
    assert_no_console_error(&b).await;
}

#[tokio::test]
async fn a_request_made_elsewhere_appears_in_the_journal_live() {
    let sb = TestSandbox::start().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else { return };
    // The console of a workspace follows that workspace only.
    const WS: &str = "/w/console-journal";
    b.open(&format!("{}{WS}/_sandbox/ui#journal", sb.url)).await;
    b.wait_for("return document.getElementById('live').textContent === 'live'", WAIT).await;
    // Outside the page: a session in the default workspace (not this page's), then in this one
    // a session and one refused for a wrong secret.
    sb.session().await;
    let path = format!("{WS}/gateway/v0.5/sessions");
    sb.post(&path, json!({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET})).await.ok();
    let refused = sb.post(&path, json!({"clientId": CLIENT_ID, "clientSecret": "not-the-secret-42"})).await;
    assert_eq!(refused.status, 401);
    b.wait_for("return document.querySelectorAll('#journal-rows tr[data-path=\"/gateway/v0.5/sessions\"]').length === 2", WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rows = b.js("return document.querySelectorAll('#journal-rows tr[data-seq]').length", json!([])).await;
    assert_eq!(rows, 2, "only this workspace's requests");
    // The failure stands out, and the filters find it.
    let failed = b
        .js(
            "return [...document.querySelectorAll('#journal-rows tr.fail')].map(r => r.dataset.status)",
            json!([]),
        )
        .await;
    assert_eq!(failed, json!(["401"]));
    b.js("const s = document.getElementById('f-status'); s.value = 'fail'; s.dispatchEvent(new Event('change', {bubbles: true}))", json!([])).await;
    b.wait_for("return document.querySelectorAll('#journal-rows tr[data-seq]').length === 1", WAIT).await;
    // Opened, the row shows the masked bodies.
    b.click("#journal-rows tr[data-seq] button.expand").await;
    let detail = b.text("#journal-rows tr.detail").await;
    assert!(detail.contains("\"clientSecret\": \"******\""), "the secret is masked: {detail}");
    assert!(!detail.contains("not-the-secret-42"), "the secret does not show: {detail}");
    b.screenshot("journal-failure-opened").await;
    b.click("#journal-filters button[type=reset]").await;
    b.wait_for("return document.querySelectorAll('#journal-rows tr[data-seq]').length === 2", WAIT).await;
    b.screenshot("journal").await;
    assert_no_console_error(&b).await;
    assert_nothing_left(&b, &sb.url).await;
}

#[tokio::test]
async fn an_otp_a_flow_sent_is_in_the_inbox_and_the_clock_moves_on() {
    let sb = TestSandbox::start().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else { return };
    b.open(&format!("{}/_sandbox/ui#otp", sb.url)).await;
    b.wait_for("return document.getElementById('live').textContent === 'live'", WAIT).await;
    // Dr Kavita Rao starts HPR registration: the Aadhaar OTP goes to her Aadhaar mobile.
    let txn = sb.hpr(Paths::Abdm, HprStep::GenerateOtp, json!({"aadhaar": "567890123458"})).await.txn();
    let otp = sb.otp(&txn).await;
    let card = format!("#otp-list [data-txn='{txn}']");
    b.find(&card).await;
    let shown = b.text(&format!("{card} .code")).await;
    assert_eq!(shown, otp);
    assert!(b.text(&card).await.contains("hpr-aadhaar-otp"));
    b.screenshot("otp-inbox").await;

    b.panel("tools").await;
    b.wait_for("return /ahead of real time/.test(document.getElementById('tools-now').textContent)", WAIT)
        .await;
    b.click("[data-advance='3600']").await;
    b.wait_for(
        "return /\\(3600(\\.\\d+)? s ahead/.test(document.getElementById('tools-now').textContent)",
        WAIT,
    )
    .await;
    let clock = sb.get("/_sandbox/clock").await;
    let ahead = clock.ok()["offsetSeconds"].as_f64().unwrap();
    assert!((3600.0..3601.0).contains(&ahead), "the clock moved on an hour: {ahead}");
    b.wait_for("return /\\(\\+3600 s\\)/.test(document.getElementById('clock-now').textContent)", WAIT).await;
    // A fault written on the page is in force.
    b.js(
        "document.getElementById('faults-text').value = arguments[0]",
        json!([r#"{"faults": [{"path": "/v0.5/patients/profile/share", "delaySeconds": 31}]}"#]),
    )
    .await;
    b.click("#faults-save").await;
    b.wait_for("return document.querySelector('#faults-now td.mono')", WAIT).await;
    let faults = sb.get("/_sandbox/faults").await;
    assert_eq!(faults.ok()["faults"][0]["delaySeconds"].as_f64(), Some(31.0));
    b.screenshot("clock-and-faults").await;
    // Reset, after a second thought.
    b.click("#reset").await;
    b.click("#reset-yes").await;
    b.wait_for("return /\\(0 s ahead/.test(document.getElementById('tools-now').textContent)", WAIT).await;
    assert!(sb.outbox(None).await.is_empty(), "the reset emptied the outbox");
    assert_no_console_error(&b).await;
}

/// An HIU (`SBX_000003`, its bridge a recording test server) asks for `patient`'s records;
/// returns the consent request id.
async fn hiu_asks(sb: &TestSandbox, inbox: &Hip, patient: &str) -> String {
    let token = sb.session_for("SBX_000003", "sandbox-secret-0003").await;
    register_bridge(sb, &token, &inbox.url).await;
    let now = chrono_now();
    let body = json!({"requestId": uuid::Uuid::new_v4(), "timestamp": now, "consent": {
        "purpose": {"text": "Care Management", "code": "CAREMGT"}, "patient": {"id": patient},
        "hiu": {"id": "IN2710000003"}, "requester": {"name": "Dr. Rao", "identifier": {"type": "REGNO", "value": "MH1001"}},
        "hiTypes": ["OPConsultation", "ImmunizationRecord"],
        "permission": {"accessMode": "VIEW", "dateRange": {"from": "2015-01-01T00:00:00.000Z", "to": now},
            "dataEraseAt": "2035-01-01T00:00:00.000Z", "frequency": {"unit": "HOUR", "value": 1, "repeats": 0}}}});
    let auth = format!("Bearer {token}");
    let r = sb
        .send(
            reqwest::Method::POST,
            "/gateway/v0.5/consent-requests/init",
            Some(&body),
            &[("Authorization", &auth), ("X-CM-ID", "sbx")],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let on_init = inbox.wait_for("/v0.5/consent-requests/on-init", common::hip::WAIT).await;
    on_init.body["consentRequest"]["id"].as_str().expect("a consent request id").to_string()
}

#[tokio::test]
async fn the_patient_links_records_reads_a_transfer_and_decides_consents() {
    let (sb, _hip) = with_reference_hip().await;
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else { return };
    b.open(&format!("{}/_sandbox/ui#patient-app", sb.url)).await;
    b.js("const s = document.getElementById('patient'); s.value = arguments[0]; s.dispatchEvent(new Event('change'))", json!([ASHA])).await;
    // Discover, link, and confirm with the OTP the HIP sent (the reference HIP's 246810).
    b.click("#pa-discover").await;
    b.click("#pa-link").await;
    b.type_into("#pa-otp", "246810").await;
    b.click("#pa-confirm").await;
    b.wait_for(
        "const s = document.getElementById('pa-status'); return s && s.textContent === 'linked'",
        WAIT,
    )
    .await;
    b.wait_for("return /OPD-1001-01/.test(document.getElementById('pa-links').textContent)", WAIT).await;
    let links = sb.get(&format!("/_sandbox/links?abhaAddress={ASHA}")).await;
    assert!(links.ok()["links"][0]["careContexts"].to_string().contains("OPD-1001-01"));
    b.screenshot("patient-linked").await;
    // A care context the HIP does not hold, linked behind its back, so that its transfer has a
    // problem to tell.
    let seeded = json!({"hipId": CLINIC, "abhaAddress": ASHA, "patientReference": "MR-1001",
        "careContexts": [{"referenceNumber": "OPD-9999-99", "display": "A visit the HIP never had"}]});
    sb.post("/_sandbox/care-contexts", seeded).await.ok();
    // Back to the app, which reads the links again; the page is still before a click.
    b.panel("scan").await;
    b.panel("patient-app").await;
    b.wait_for("return /OPD-9999-99/.test(document.getElementById('pa-links').textContent)", WAIT).await;
    // Grant a consent to the sandbox HIU and ask for the data: the HIP pushes, the page reads.
    b.click("#pa-grant").await;
    b.click("[data-fetch]").await;
    b.panel("transfers").await;
    b.wait_for(
        "return document.querySelectorAll('#transfers-view [data-read]').length === 3",
        Duration::from_secs(20),
    )
    .await;
    let table = b.text("#transfers-view").await;
    assert!(table.contains("TRANSFERRED") && table.contains("MD5 matches"), "{table}");
    assert!(
        table.contains("The HIP reported OPD-9999-99 ERRORED: the HIP holds no record for it."),
        "problems in plain sentences: {table}"
    );
    b.screenshot("transfers").await;
    b.click("#transfers-view [data-care-context='LAB-1001-01']").await;
    b.wait_for(
        "return !document.getElementById('reader').hidden && document.querySelector('#reader .doc-title')",
        WAIT,
    )
    .await;
    let reader = b.text("#reader").await;
    assert!(
        reader.contains("Diagnostic Report")
            && reader.contains("Hemoglobin")
            && reader.contains("Observation × 1"),
        "{reader}"
    );
    b.screenshot("transfer-bundle").await;
    b.click("#raw-toggle").await;
    assert!(b.text("#reader pre.raw-json").await.contains("\"resourceType\": \"Composition\""));
    b.screenshot("transfer-bundle-raw").await;

    // An HIU asks for Meena's records; she decides in the app.
    let inbox = Hip::start().await;
    let request = hiu_asks(&sb, &inbox, MEENA).await;
    b.panel("patient-app").await;
    b.js("const s = document.getElementById('patient'); s.value = arguments[0]; s.dispatchEvent(new Event('change'))", json!([MEENA])).await;
    b.find(&format!("[data-approve='{request}']")).await;
    b.screenshot("consent-request-pending").await;
    b.click(&format!("[data-approve='{request}']")).await;
    let granted = sb.get(&format!("/_sandbox/consent-requests/{request}")).await;
    assert_eq!(granted.ok()["status"], "GRANTED");
    let artefact = granted.body["artefacts"][0]["consentId"].as_str().unwrap().to_string();
    // The artefact is listed with the patient's consents; she revokes it.
    b.click(&format!("[data-revoke='{artefact}']")).await;
    b.wait_for(
        &format!(
            "return /REVOKED/.test(document.querySelector(\"[data-consent='{artefact}']\").textContent)"
        ),
        WAIT,
    )
    .await;
    let revoked = sb.get(&format!("/_sandbox/consents/{artefact}")).await;
    assert_eq!(revoked.ok()["status"], "REVOKED");
    b.screenshot("consent-revoked").await;
    assert_no_console_error(&b).await;
}

#[tokio::test]
async fn the_runner_panel_runs_a_scenario_through_the_binary() {
    let fixtures: Value =
        serde_json::from_str(include_str!("../fixtures/default.json")).expect("the default fixtures");
    let sb = TestSandbox::serve_binary(&fixtures);
    let Some(b) = Browser::start(DESKTOP.0, DESKTOP.1).await else { return };
    b.open(&format!("{}/_sandbox/ui#runner", sb.url)).await;
    b.click("[data-scenario='gateway-session']").await;
    b.click("#run").await;
    b.wait_for("return document.querySelector('#run-last iframe')", Duration::from_secs(60)).await;
    let last = b.text("#run-last").await;
    assert!(last.contains("every mandatory step passed") && last.contains("gateway-session"), "{last}");
    b.wait_for("const f = document.querySelector('#run-last iframe'); return f.contentDocument && /gateway-session|Gateway session/.test(f.contentDocument.body.textContent)", WAIT).await;
    b.screenshot("runner").await;
    assert_no_console_error(&b).await;
}
