//! A headless Chromium for the console tests, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them). WebDriver is JSON over HTTP, so the client is
//! the tests' own `reqwest`: new session, navigate, find, click, type, run a script, take a
//! screenshot (of the page or of one element), read the browser's console and network logs.
//!
//! Chromium runs with no network of its own: headless, no sandbox (root in CI), no GPU, no QUIC,
//! no background networking, component updates or sync, and a fresh empty profile, so the only
//! requests it makes are the page's. chromedriver listens on a free port of 127.0.0.1. Both are
//! ended when the [`Browser`] is dropped, even by a failing test.
//!
//! Without Chromium the tests cannot run: [`Browser::start`] fails the test in CI (`CI` set) and
//! says why; elsewhere it says so and the test returns without checking anything.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The key WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a test waits for the page to show something unless it says otherwise.
pub const WAIT: Duration = Duration::from_secs(15);

/// One browser at a time per test binary: two cores are shared by everything.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Where the screenshots go: `target/ui-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/ui-screenshots"))
}

/// The Chromium binary: `$CHROME_BIN`, or Debian's.
fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("CHROME_BIN").ok(),
        Some("/usr/bin/chromium".into()),
        Some("/usr/lib/chromium/chromium".into()),
    ];
    candidates.into_iter().flatten().map(PathBuf::from).find(|p| p.is_file())
}

/// chromedriver: `$CHROMEDRIVER`, or Debian's.
fn chromedriver() -> Option<PathBuf> {
    let candidates = [std::env::var("CHROMEDRIVER").ok(), Some("/usr/bin/chromedriver".into())];
    candidates.into_iter().flatten().map(PathBuf::from).find(|p| p.is_file())
}

/// A free port on 127.0.0.1 (bound, read and released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A headless Chromium under chromedriver, with one WebDriver session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and Chromium with a `width`×`height` viewport. `None` (with a
    /// message) when they are not installed and this is not CI; a failed test in CI.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let (Some(chrome), Some(driver)) = (chromium(), chromedriver()) else {
            let why = "the console tests need Chromium and chromedriver (Debian: apt-get install chromium chromium-driver; .ci/run installs them)";
            if std::env::var_os("CI").is_some() {
                panic!("{why}, and they are not installed");
            }
            eprintln!("NOT RUN: {why}; they are not installed here, so this test checked nothing");
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let http = reqwest::Client::new();
        // The port is free when picked but may be taken before chromedriver binds it (the other
        // tests start servers on port 0 meanwhile): a driver that exits is started again.
        let mut attempt = 0;
        let (mut child, port, base) = loop {
            attempt += 1;
            let port = free_port();
            let mut child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{} does not start: {e}", driver.display()));
            let base = format!("http://127.0.0.1:{port}");
            let started = Instant::now();
            let ready = loop {
                let answer = http.get(format!("{base}/status")).send().await.ok();
                if let Some(r) = answer {
                    let status: Value = r.json().await.unwrap_or(Value::Null);
                    if status["value"]["ready"] == json!(true) {
                        break true;
                    }
                }
                if child.try_wait().ok().flatten().is_some() || started.elapsed() > Duration::from_secs(20) {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            if ready {
                break (child, port, base);
            }
            let _ = child.kill();
            if attempt == 3 {
                panic!("chromedriver did not get ready on port {port} within 20 s (3 attempts)");
            }
        };
        let profile = tempfile::tempdir().expect("a profile folder");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={},{}", width.max(800), height.max(600)),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
            "goog:chromeOptions": {"binary": chrome, "args": args},
        }}});
        let created = http.post(format!("{base}/session")).json(&caps).send().await;
        let body: Value = match created {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => {
                let _ = child.kill();
                panic!("chromedriver refused a session: {e}");
            }
        };
        let Some(session) = body["value"]["sessionId"].as_str().map(str::to_string) else {
            let _ = child.kill();
            panic!("Chromium did not start: {body}");
        };
        let browser = Browser { driver: child, port, session, http, _profile: profile, _turn: turn };
        browser.viewport(width, height).await;
        Some(browser)
    }

    /// A WebDriver command of this session; panics naming the command when it is refused.
    pub async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        match self.try_command(method.clone(), path, body).await {
            Ok(v) => v,
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    /// A WebDriver command, its error as text.
    pub async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:{}/session/{}{path}", self.port, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let ok = res.status().is_success();
        let v: Value = res.json().await.map_err(|e| e.to_string())?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(format!("{}: {}", v["value"]["error"], v["value"]["message"]))
        }
    }

    /// The viewport: `width`×`height` CSS pixels at scale 1 (phone-like below 700 px).
    pub async fn viewport(&self, width: u32, height: u32) {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 700});
        let body = json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": params});
        self.command(reqwest::Method::POST, "/goog/cdp/execute", Some(body)).await;
    }

    /// Opens `url` and waits until the console has started (`body[data-ready]`).
    pub async fn open(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
        self.wait_for("return document.body && document.body.dataset.ready === 'true'", WAIT).await;
    }

    /// Runs a script in the page (`arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.command(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args})))
            .await
    }

    /// Waits until `script` returns something truthy and returns it; panics after `timeout`,
    /// saving what the page showed as `timeout.png`.
    pub async fn wait_for(&self, script: &str, timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let v = self
                .try_command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({"script": script, "args": []})),
                )
                .await;
            match v {
                Ok(v) if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) => return v,
                _ => {}
            }
            if started.elapsed() > timeout {
                self.screenshot("timeout").await;
                let said = self
                    .try_command(
                        reqwest::Method::POST,
                        "/execute/sync",
                        Some(json!({"script": "return window.SBX ? SBX.state.said : null", "args": []})),
                    )
                    .await;
                let console = self.log("browser").await;
                panic!("waited {timeout:?} for: {script}\nthe page said: {said:?}\nits console: {console:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Shows a panel by its hash (`journal`, `scan`, ...), as its tab does.
    pub async fn panel(&self, name: &str) {
        self.js("location.hash = arguments[0]", json!([name])).await;
        let check = format!("return !document.getElementById('panel-{name}').hidden");
        self.wait_for(&check, WAIT).await;
    }

    /// The element `css` matches; waits for it to be there.
    pub async fn find(&self, css: &str) -> String {
        let check = format!("return document.querySelector({})", json!(css));
        self.wait_for(&check, WAIT).await;
        let found = self
            .command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element for {css}: {found}")).to_string()
    }

    /// Clicks what `css` matches (scrolled into view as a person would), again if the page drew
    /// it anew in between.
    pub async fn click(&self, css: &str) {
        for _ in 0..5 {
            self.find(css).await;
            self.settle(css).await;
            let el = self.find(css).await;
            let path = format!("/element/{el}/click");
            match self.try_command(reqwest::Method::POST, &path, Some(json!({}))).await {
                Ok(_) => return,
                Err(e)
                    if e.contains("stale") || e.contains("not interactable") || e.contains("intercepted") =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
        panic!("{css} could not be clicked");
    }

    /// Brings what `css` matches to the middle of the viewport and waits until the live panels
    /// stop moving it (a click lands where the element was when the click was aimed).
    async fn settle(&self, css: &str) {
        let place = "const e = document.querySelector(arguments[0]); if (!e) return null; \
                     e.scrollIntoView({block: 'center', inline: 'nearest'}); \
                     const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height];";
        let mut last = Value::Null;
        for _ in 0..20 {
            let now = self.js(place, json!([css])).await;
            if now == last && !now.is_null() {
                return;
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }

    /// Types `text` into what `css` matches.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{el}/value"), Some(json!({"text": text})))
            .await;
    }

    /// The visible text of what `css` matches.
    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Presses Tab `n` times and returns a description of the element that has the focus.
    pub async fn tab(&self, n: usize) -> Value {
        let keys: Vec<Value> = (0..n)
            .flat_map(|_| {
                [
                    json!({"type": "keyDown", "value": "\u{E004}"}),
                    json!({"type": "keyUp", "value": "\u{E004}"}),
                ]
            })
            .collect();
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]});
        self.command(reqwest::Method::POST, "/actions", Some(actions)).await;
        self.js("const e = document.activeElement; return {tag: e.tagName, text: e.textContent.trim(), id: e.id, href: e.getAttribute('href')}", json!([])).await
    }

    /// Presses Enter on the focused element.
    pub async fn enter(&self) {
        let keys =
            [json!({"type": "keyDown", "value": "\u{E007}"}), json!({"type": "keyUp", "value": "\u{E007}"})];
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]});
        self.command(reqwest::Method::POST, "/actions", Some(actions)).await;
    }

    /// Saves the viewport as `target/ui-screenshots/{name}.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let shot = self.command(reqwest::Method::GET, "/screenshot", None).await;
        save(name, &shot)
    }

    /// The PNG of one element, as the page draws it.
    pub async fn element_png(&self, css: &str) -> Vec<u8> {
        let el = self.find(css).await;
        let shot = self.command(reqwest::Method::GET, &format!("/element/{el}/screenshot"), None).await;
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// What the page wrote to the console since the last call: `[{level, message}]`.
    pub async fn console(&self) -> Vec<Value> {
        self.log("browser").await
    }

    /// Every URL the browser requested since the last call (from its network log).
    pub async fn requested_urls(&self) -> Vec<String> {
        self.log("performance")
            .await
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|m| m["message"]["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }

    async fn log(&self, kind: &str) -> Vec<Value> {
        let v = self.command(reqwest::Method::POST, "/se/log", Some(json!({"type": kind}))).await;
        v.as_array().cloned().unwrap_or_default()
    }
}

/// Writes a base64 PNG under the screenshot folder.
fn save(name: &str, shot: &Value) -> PathBuf {
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.as_str().unwrap_or_default())
        .expect("a base64 PNG");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("the screenshot folder");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("the screenshot is written");
    path
}

impl Drop for Browser {
    /// Ends the session (chromedriver closes Chromium), then chromedriver. Plain blocking HTTP,
    /// so it also runs while a failed test unwinds.
    fn drop(&mut self) {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                self.session, self.port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut answer = Vec::new();
                let _ = stream.read_to_end(&mut answer);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
