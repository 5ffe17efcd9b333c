//! The dashboard in a real headless Chromium: a meta server and three
//! `rollcall node` processes; the hosts table shows three ONLINE storage
//! rows; one node is SIGKILLed and its row turns OFFLINE without a
//! reload; no console errors. A screenshot is saved under `target/` for
//! a human to look at.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cdp::{chromium, Browser};
use crate::harness::*;

/// The hosts table's rows as (host, role, status), read through the DOM.
const ROWS: &str = "JSON.stringify([...document.querySelectorAll('#hosts tbody tr')]\
    .map(r => [r.dataset.host, r.dataset.role, r.dataset.status, r.cells[2].textContent]))";

fn rows(b: &mut Browser) -> Vec<(String, String, String, String)> {
    let v = b.eval(ROWS);
    serde_json::from_str::<Vec<(String, String, String, String)>>(v.as_str().unwrap_or("[]"))
        .unwrap_or_default()
}

#[test]
fn the_dashboard_shows_hosts_live_in_chromium() {
    let Some(chrome) = chromium() else {
        if std::env::var("ROLLCALL_SKIP_BROWSER").as_deref() == Ok("1") {
            eprintln!("SKIPPED on purpose (ROLLCALL_SKIP_BROWSER=1): the dashboard browser test");
            return;
        }
        panic!(
            "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it); \
             ROLLCALL_SKIP_BROWSER=1 skips this test on purpose"
        );
    };
    let tmp = tempfile::tempdir().unwrap();
    let meta = start_meta(&tmp.path().join("m"), "127.0.0.1:0", &[]);
    let http = http_addr(&meta.dir);
    let mut nodes = start_storage_nodes(&meta.addr, tmp.path(), 3);
    cli_ok(
        &meta.addr,
        &[
            "spaces",
            "create",
            "s1",
            "--partitions",
            "6",
            "--replicas",
            "2",
        ],
    );

    let mut b = Browser::start(&chrome, &tmp.path().join("chromium-profile"));
    b.navigate(&format!("http://{http}/"));
    let online = poll("three ONLINE storage rows in the page", DEADLINE, || {
        let r = rows(&mut b);
        let n = r
            .iter()
            .filter(|(_, role, status, text)| {
                role == "storage" && status == "ONLINE" && text == "ONLINE"
            })
            .count();
        (n == 3 && r.len() == 3).then_some(r)
    });
    let ports: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
    for (host, ..) in &online {
        assert!(
            ports.contains(host),
            "row {host} is one of the nodes {ports:?}"
        );
    }
    // The page was loaded once: a marker set now must survive the update.
    b.eval("window.__rollcallMarker = 42; performance.getEntriesByType('navigation').length");
    let live = b.eval("document.getElementById('live').textContent");
    let spaces = b.eval("document.getElementById('spaces').textContent");
    assert!(
        spaces.as_str().is_some_and(|s| s.contains("s1")),
        "the space is shown: {spaces}"
    );

    let gone = nodes.remove(1);
    let gone_addr = gone.addr.clone();
    let mut gone = gone;
    gone.proc.kill9();
    let after = poll(
        "the killed node's row to turn OFFLINE",
        Duration::from_secs(30),
        || {
            let r = rows(&mut b);
            r.iter()
                .any(|(host, _, status, text)| {
                    *host == gone_addr && status == "OFFLINE" && text == "OFFLINE"
                })
                .then_some(r)
        },
    );
    // The event came over the stream (the tables also refresh on a timer;
    // the events list is the stream's alone).
    poll(
        "the offline event in the page's event list",
        Duration::from_secs(30),
        || {
            let v = b.eval("document.getElementById('events').textContent");
            v.as_str()
                .is_some_and(|t| t.contains(&format!("offline    {gone_addr}")))
                .then_some(())
        },
    );
    let marker = b.eval("window.__rollcallMarker");
    assert_eq!(marker, Value::from(42), "the page was not reloaded");
    assert_eq!(
        b.eval("performance.getEntriesByType('navigation').length"),
        Value::from(1),
        "one navigation only"
    );
    let still_online = after.iter().filter(|(_, _, s, _)| s == "ONLINE").count();
    assert_eq!(still_online, 2, "the other two stay ONLINE: {after:?}");

    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard.png");
    b.screenshot(&shot);
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "a screenshot was written to {}",
        shot.display()
    );
    assert!(
        b.errors.is_empty(),
        "console errors: {:?} (live: {live})",
        b.errors
    );
    eprintln!("dashboard screenshot: {}", shot.display());
}
