//! A real headless Chromium driven through ChromeDriver's WebDriver
//! protocol (W3C), for the status page tests.
//!
//! The protocol is JSON over HTTP on loopback, and the handful of commands
//! the tests need (new session, navigate, find, click, type, run a script,
//! read the console log, screenshot) fit in this file with `ctl`'s HTTP
//! response parser, so no WebDriver crate (and no second async HTTP stack)
//! is pulled in for it.
//!
//! ChromeDriver is started on a free loopback port (`--port=0`, the port
//! read from its banner) and stopped by PID when the [`Browser`] drops;
//! Chromium gets a fresh profile in a temp dir and the flags that keep it
//! from reaching anything but the page under test.
//!
//! When Chromium or ChromeDriver is missing, [`Browser::start`] returns
//! `None` after printing why, unless `SWITCHYARD_REQUIRE_CHROMIUM=1` (set
//! by `.ci/run`), which makes it a failure.
#![allow(dead_code)] // each test uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::common::raw_http as http;
use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One browser at a time per test binary: the machine has two cores, and
/// timing assertions ("down within 3 s") need a browser that is not
/// fighting another one for them.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A ChromeDriver process with one Chromium session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

/// Where Chromium and ChromeDriver are, if installed.
fn installed() -> Result<(PathBuf, PathBuf), String> {
    let find = |candidates: &[&str]| candidates.iter().map(PathBuf::from).find(|p| p.is_file());
    // Debian's /usr/bin/chromium is a wrapper script; the binary is what
    // ChromeDriver should start.
    let chromium = find(&[
        "/usr/lib/chromium/chromium",
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ])
    .ok_or("chromium is not installed (apt-get install chromium chromium-driver)")?;
    let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
        .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session, or explains
    /// why not (see the module docs).
    pub fn start() -> Option<Browser> {
        let (chromium, driver) = match installed() {
            Ok(found) => found,
            Err(why) => {
                if std::env::var("SWITCHYARD_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
                    panic!("SWITCHYARD_REQUIRE_CHROMIUM=1 but {why}");
                }
                eprintln!("skipping browser test: {why}");
                return None;
            }
        };
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let profile = tempfile::tempdir().expect("profile dir");
        let (child, port) = start_driver(&driver);
        let mut browser = Browser {
            driver: child,
            port,
            session: String::new(),
            _profile: profile,
            _turn: turn,
        };
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-dev-shm-usage",
            // Loopback only, whatever proxy the environment names.
            "--no-proxy-server",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let value = browser.command("POST", "/session", Some(capabilities));
        browser.session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {value}"))
            .to_string();
        Some(browser)
    }

    /// One WebDriver command; its `value`. Panics on a WebDriver error.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let response = exchange(self.port, method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let value: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        if response.status != 200 {
            panic!(
                "webdriver {method} {path}: {} {}",
                response.status, value["value"]
            );
        }
        value["value"].clone()
    }

    fn session_command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.command(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Navigates to `url` and waits for the load.
    pub fn goto(&self, url: &str) {
        self.session_command("POST", "/url", Some(json!({"url": url})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the
    /// page and returns what it returns.
    pub fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.session_command(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Polls `script` until it returns something other than
    /// null/false/empty, or panics after `timeout` with `what`. Returns
    /// the value and how long it took.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> (Value, Duration) {
        let start = Instant::now();
        loop {
            let value = self.eval(script, vec![]);
            let done = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            };
            if done {
                return (value, start.elapsed());
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what}; page text:\n{}",
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let found = self.session_command(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        found.as_array()?.first()?[ELEMENT]
            .as_str()
            .map(str::to_string)
    }

    fn must_find(&self, css: &str) -> String {
        self.find(css)
            .unwrap_or_else(|| panic!("no element matches {css:?}"))
    }

    /// Clicks the element matching `css`, as a user would.
    pub fn click(&self, css: &str) {
        let id = self.must_find(css);
        self.session_command("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Types `text` into the element matching `css`, as a user would.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.must_find(css);
        self.session_command(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    /// The rendered text of the first element matching `css` ("" if none).
    pub fn text(&self, css: &str) -> String {
        self.eval(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            vec![json!(css)],
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Console and network messages logged since the last call.
    pub fn console(&self) -> Vec<Value> {
        self.session_command("POST", "/se/log", Some(json!({"type": "browser"})))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.session_command("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("screenshot is base64")
    }

    /// Resizes the window (for screenshots of the whole overview).
    pub fn set_window(&self, width: u32, height: u32) {
        self.session_command(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends Chromium (ChromeDriver's child, which would outlive it);
        // then ChromeDriver, by its PID.
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = exchange(self.port, "DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One HTTP/1.1 request to ChromeDriver on `port`. ChromeDriver keeps
/// connections open whatever `Connection: close` says, so the body is read
/// by its `Content-Length` rather than to the end of the stream (`ctl`'s
/// client does the latter); parsing is `ctl`'s.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> std::io::Result<http::Response> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    // Starting Chromium is the slowest command; on a loaded 2-core
    // machine it can take a while.
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|len| bytes.len() >= end + 4 + len) {
                break;
            }
        }
    }
    http::parse_response(&bytes)
}

/// Starts ChromeDriver on a free loopback port; the child and the port.
fn start_driver(driver: &Path) -> (Child, u16) {
    let mut child = Command::new(driver)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let stdout = child.stdout.take().expect("chromedriver stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads the banner, then keeps draining so ChromeDriver never blocks
    // on a full pipe.
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(port) => (child, port),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not report its port within 20 s");
        }
    }
}
