//! A small Chrome DevTools Protocol client for the dashboard test: starts
//! Debian's headless Chromium with a fresh profile, opens one page, and
//! evaluates JavaScript in it over the page's WebSocket (tungstenite),
//! collecting console errors and uncaught exceptions as they come.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Where Debian's Chromium is, when installed.
pub fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A running headless Chromium with one page.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Console errors and uncaught exceptions seen so far.
    pub errors: Vec<String>,
}

impl Browser {
    /// Starts Chromium (profile in `profile`) at a laptop's window size.
    pub fn start(binary: &Path, profile: &Path) -> Browser {
        std::fs::create_dir_all(profile).expect("profile dir");
        let log = std::fs::File::create(profile.with_extension("log")).expect("chromium log");
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1366,850",
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chromium");
        // Chromium writes its DevTools port here once it listens.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort within 60 s (see {})",
                profile.with_extension("log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let page_ws = loop {
            let list = http_json(port, "/json/list");
            if let Some(url) = list.as_array().and_then(|a| {
                a.iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
            }) {
                break url;
            }
            assert!(Instant::now() < deadline, "chromium shows no page target");
            std::thread::sleep(Duration::from_millis(50));
        };
        let sock = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let (ws, _) =
            tungstenite::client(page_ws.as_str(), sock).expect("open the page's WebSocket");
        let mut b = Browser {
            child,
            ws,
            next_id: 1,
            errors: Vec::new(),
        };
        b.call("Runtime.enable", json!({}));
        b.call("Log.enable", json!({}));
        b.call("Page.enable", json!({}));
        b
    }

    /// Sends one command and returns its result (panics on a protocol
    /// error). Events that arrive meanwhile are scanned for errors.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send a DevTools command");
        loop {
            let m = self.ws.read().expect("read from DevTools");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("DevTools JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method} failed: {}", v["error"]);
                return v["result"].clone();
            }
            self.note_event(&v);
        }
    }

    fn note_event(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => self
                .errors
                .push(format!("exception: {}", v["params"]["exceptionDetails"])),
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => self
                .errors
                .push(format!("console.error: {}", v["params"]["args"])),
            Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => self
                .errors
                .push(format!("log: {}", v["params"]["entry"]["text"])),
            _ => {}
        }
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Evaluates `expr` in the page and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Saves a PNG of the page to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let data = r["data"].as_str().expect("screenshot data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET `path` of the DevTools HTTP endpoint on `port`, as JSON.
fn http_json(port: u16, path: &str) -> Value {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return Value::Null;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}
