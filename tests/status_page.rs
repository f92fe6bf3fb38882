//! The status page in a real headless Chromium (driven over WebDriver by
//! `common/browser.rs`) against the real server on loopback: health-checked
//! regions probing loopback HTTP targets this test starts and kills, DNS
//! queries over real UDP, API writes over real HTTP.
//!
//! Browser tests skip with a printed reason when Chromium is missing,
//! unless `SWITCHYARD_REQUIRE_CHROMIUM=1` (as `.ci/run` sets).
//!
//! `SWITCHYARD_SCREENSHOTS=docs cargo test --test status_page screenshots`
//! rewrites the README's screenshots.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "status_page/setup.rs"]
mod setup;
#[path = "common/targets.rs"]
mod targets;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use browser::Browser;
use common::api::{ALICE, call};
use common::{TestServer, query};
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};
use setup::{
    Setup, errors, full_page, region_state_js, wait_for_regions, wait_for_state, wait_for_verdicts,
};
use targets::Behavior;

#[test]
fn page_loads_clean_on_its_own_origin() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let setup = Setup::start("", "127.0.0.1:0");

    // The page's security headers.
    let response =
        switchyard::ctl::http::request(&setup.server.api.to_string(), "GET", "/", None, None)
            .unwrap();
    assert_eq!(response.status, 200);
    let csp = response.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    let missing = switchyard::ctl::http::request(
        &setup.server.api.to_string(),
        "GET",
        "/ui/nothing.js",
        None,
        None,
    )
    .unwrap();
    assert_eq!(missing.status, 404);

    browser.goto(&setup.url());
    wait_for_regions(&browser);
    // Every region is up, on the map as a dot of its state.
    for region in ["us-east", "eu-west", "ap-south", "sa-east"] {
        wait_for_state(&browser, region, "up", Duration::from_secs(5));
        let dot = browser.eval(
            &format!("const c = document.querySelector('#dots g[data-region=\"{region}\"] circle'); return c ? [c.getAttribute('class'), +c.getAttribute('cx'), +c.getAttribute('cy')] : null;"),
            vec![],
        );
        assert_eq!(dot[0], "dot up", "{region}: {dot}");
    }
    let dot = browser.eval(
        "const c = document.querySelector('#dots g[data-region=\"eu-west\"] circle'); return [+c.getAttribute('cx'), +c.getAttribute('cy')];",
        vec![],
    );
    assert_eq!(dot, json!([-6.26, -53.35]), "x = lon, y = -lat");
    // The traffic panel shows every service with its configuration.
    browser.wait_for(
        "traffic cards",
        Duration::from_secs(5),
        "return document.querySelectorAll('#traffic-services .card').length === 3;",
    );
    let config = browser.text("#traffic-services .card[data-service='api.example.com.'] .config");
    assert!(
        config.contains("1. us-east") && config.contains("2. eu-west, ap-south"),
        "{config}"
    );
    // No instances list on a lone server (it reports only itself)...
    assert_eq!(
        browser.eval(
            "return document.getElementById('instances').hidden;",
            vec![]
        ),
        json!(true)
    );
    // ... and one when `/v1/status` lists them (the cluster's `instances`;
    // added here to the real answer on its way into the page).
    browser.eval(
        "const real = window.fetch;
         window.fetch = async (url, options) => {
           const response = await real(url, options);
           if (!String(url).startsWith('/v1/status')) return response;
           const body = await response.json();
           body.instances = [
             {instance: 'dns-a', live: true, config_digest: 'sha256:0123456789abcdef0123', generation: 7, last_contact: new Date().toISOString(), config_matches: true},
             {instance: 'dns-b', live: false, config_digest: 'sha256:fedcba9876543210fedc', generation: 6, last_contact: Date.now() - 90000, config_matches: false},
           ];
           return new Response(JSON.stringify(body), {status: response.status, headers: response.headers});
         };",
        vec![],
    );
    browser.wait_for(
        "the instances list",
        Duration::from_secs(3),
        "return !document.getElementById('instances').hidden && document.querySelectorAll('#instances tr[data-instance]').length === 2;",
    );
    let a = browser.text("#instances tr[data-instance='dns-a']");
    assert!(
        a.contains("live") && a.contains("sha256:01234567") && a.contains("matches"),
        "{a}"
    );
    let b = browser.text("#instances tr[data-instance='dns-b']");
    assert!(
        b.contains("gone") && b.contains("differs") && b.contains("1m 30s ago"),
        "{b}"
    );
    browser.eval("location.reload();", vec![]);
    wait_for_regions(&browser);
    // A few polls later: no console errors, and every request the page
    // made went to the API's own origin.
    std::thread::sleep(Duration::from_millis(2500));
    let console = browser.console();
    assert!(errors(&console).is_empty(), "console errors: {console:?}");
    let origin = format!("http://{}", setup.server.api);
    let requests = browser.eval(
        "return performance.getEntriesByType('resource').map(e => e.name);",
        vec![],
    );
    let requests: Vec<&str> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for wanted in [
        "/ui/app.js",
        "/ui/style.css",
        "/ui/world.svg",
        "/v1/traffic",
    ] {
        assert!(
            requests.iter().any(|r| r.ends_with(wanted)),
            "{wanted} not loaded: {requests:?}"
        );
    }
    let elsewhere: Vec<&&str> = requests
        .iter()
        .filter(|r| !r.starts_with(&format!("{origin}/")))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests off the API's origin: {elsewhere:?}"
    );
    assert_eq!(
        browser.eval("return document.location.origin;", vec![]),
        json!(origin)
    );
}

#[test]
fn a_stopped_backend_turns_its_region_down_within_3s() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut setup = Setup::start("", "127.0.0.1:0");
    browser.goto(&setup.url());
    wait_for_regions(&browser);
    wait_for_state(&browser, "eu-west", "up", Duration::from_secs(5));

    // eu-west's only backend dies.
    let killed = Instant::now();
    setup.targets[2].kill();
    wait_for_state(&browser, "eu-west", "down", Duration::from_secs(3));
    let took = killed.elapsed();
    eprintln!("backend killed to region down on the page: {took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The map agrees, and the failing endpoint says why and when.
    assert_eq!(
        browser.eval(
            "return document.querySelector('#dots g[data-region=\"eu-west\"] circle').getAttribute('class');",
            vec![]
        ),
        json!("dot down")
    );
    let failing = browser.text("#regions tr[data-region='eu-west'] li[data-endpoint='euw-1']");
    assert!(failing.contains("connection refused"), "{failing}");
    assert!(failing.contains("last probe"), "{failing}");
    assert!(
        browser
            .text("#regions tr[data-region='eu-west']")
            .contains("0 / 1")
    );
    assert_eq!(
        browser.eval("return document.title;", vec![]),
        json!("1 of 4 regions not up · Switchyard status")
    );
    // The others are untouched; one of us-east's two backends failing
    // leaves it up with 1 of 2 endpoints.
    setup.targets[0].set(Behavior::Status(503));
    browser.wait_for(
        "us-east's failing endpoint",
        Duration::from_secs(3),
        "const li = document.querySelector('#regions tr[data-region=\"us-east\"] li[data-endpoint=\"use-1\"]'); return li ? li.innerText : null;",
    );
    let us = browser.text("#regions tr[data-region='us-east']");
    assert!(
        us.contains("unexpected status 503") && us.contains("1 / 2"),
        "{us}"
    );
    assert_eq!(
        browser.eval(&region_state_js("us-east"), vec![]),
        json!("up")
    );

    // It comes back.
    setup.targets[2].revive();
    wait_for_state(&browser, "eu-west", "up", Duration::from_secs(3));
}

#[test]
fn an_override_counts_down_and_goes_at_expiry() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let setup = Setup::start("", "127.0.0.1:0");
    browser.goto(&setup.url());
    wait_for_regions(&browser);
    assert!(browser.text("#overrides").contains("No overrides in force"));

    let created = Instant::now();
    let change = setup.api(
        "POST",
        "/v1/regions/ap-south/drain",
        Some(json!({"why": "page test: maintenance window", "expires_in_secs": 5})),
    );
    let id = change["created"]["id"].as_str().unwrap().to_string();
    let row = format!("#overrides-table tr[data-override='{id}']");
    let (_, shown) = browser.wait_for(
        "the override on the page",
        Duration::from_secs(2),
        &format!("return !!document.querySelector(\"{row}\");"),
    );
    eprintln!("override written to shown: {shown:?}");
    let text = browser.text(&row);
    for part in [
        "ap-south",
        "drain",
        "alice",
        "page test: maintenance window",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // The region shows drained, weight 0 of 10.
    wait_for_state(&browser, "ap-south", "drained", Duration::from_secs(2));
    assert!(
        browser
            .text("#regions tr[data-region='ap-south']")
            .contains("0 / 10")
    );

    // A live countdown: whole seconds, going down between polls.
    let countdown = |browser: &Browser| -> u64 {
        let text = browser.text(&format!("{row} td.countdown"));
        text.trim_start_matches("in ")
            .trim_end_matches('s')
            .parse()
            .unwrap_or_else(|_| panic!("countdown {text:?}"))
    };
    let first = countdown(&browser);
    assert!((1..=6).contains(&first), "{first}");
    std::thread::sleep(Duration::from_millis(1600));
    let second = countdown(&browser);
    assert!(second < first, "{first} then {second}");

    // Gone at expiry: not before, and within a poll or two after.
    let (_, _) = browser.wait_for(
        "the override gone",
        Duration::from_secs(9),
        &format!("return !document.querySelector(\"{row}\");"),
    );
    let gone = created.elapsed();
    eprintln!("override with 5 s expiry gone from the page after {gone:?}");
    assert!(gone >= Duration::from_secs(4), "left early: {gone:?}");
    assert!(gone < Duration::from_secs(5 + 3), "{gone:?}");
    assert!(
        setup.api("GET", "/v1/overrides", None)["overrides"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    wait_for_state(&browser, "ap-south", "up", Duration::from_secs(2));
    assert!(browser.text("#overrides").contains("No overrides in force"));
}

#[test]
fn the_explain_form_shows_what_the_api_answers() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let setup = Setup::start("", "127.0.0.1:0");
    wait_for_verdicts(&setup);
    browser.goto(&setup.url());
    wait_for_regions(&browser);

    for (name, qtype, client, seed) in [
        ("geo.example.com", "A", "81.2.69.0/24", "7"),
        ("app.example.com", "A", "216.160.83.9", "12345"),
        ("www.example.com", "A", "192.0.2.7", "1"),
    ] {
        browser.eval(
            "for (const id of ['explain-name', 'explain-client', 'explain-seed']) document.getElementById(id).value = '';
             document.getElementById('explain-raw').textContent = '';",
            vec![],
        );
        browser.type_into("#explain-name", name);
        browser.eval(
            "document.getElementById('explain-type').value = arguments[0];",
            vec![json!(qtype)],
        );
        browser.type_into("#explain-client", client);
        browser.type_into("#explain-seed", seed);
        browser.click("#explain-form button[type=submit]");
        let (raw, _) = browser.wait_for(
            "the explain result",
            Duration::from_secs(5),
            "return document.getElementById('explain-raw').textContent;",
        );
        let shown: Value = serde_json::from_str(raw.as_str().unwrap()).unwrap();
        let api = setup.api(
            "GET",
            &format!("/v1/explain?name={name}&type={qtype}&client={client}&seed={seed}"),
            None,
        );
        assert_eq!(shown, api, "{name} from {client}");
        // And what is rendered is that answer.
        let records = browser.text("#explain-records");
        for record in api["answer"]["records"].as_array().unwrap() {
            assert!(
                records.contains(record["data"].as_str().unwrap()),
                "{record} in {records}"
            );
        }
        if let Some(summary) = api["service"]["decision"]["summary"].as_str() {
            assert_eq!(browser.text("#explain-decision"), summary);
        }
    }
    // A bad question shows the API's error.
    browser.eval(
        "document.getElementById('explain-client').value = '';",
        vec![],
    );
    browser.type_into("#explain-client", "not-an-address");
    browser.click("#explain-form button[type=submit]");
    let (error, _) = browser.wait_for(
        "the error",
        Duration::from_secs(5),
        "return document.getElementById('explain-error').textContent;",
    );
    assert!(
        error.as_str().unwrap().contains("not-an-address"),
        "{error}"
    );
}

#[test]
fn protected_reads_show_nothing_without_a_token() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let setup = Setup::start("protect_reads = true", "127.0.0.1:0");
    browser.goto(&setup.url());
    browser.wait_for(
        "the token form",
        Duration::from_secs(5),
        "return !document.getElementById('login').hidden;",
    );
    // Give the page time to (wrongly) show anything, then look.
    std::thread::sleep(Duration::from_millis(1500));
    let nothing = |browser: &Browser| {
        let shown = browser.eval(
            "return {
                main: !document.getElementById('main').hidden,
                regions: document.querySelectorAll('[data-region]').length,
                overrides: document.querySelectorAll('[data-override]').length,
                cards: document.querySelectorAll('[data-service]').length,
                text: document.body.innerText,
             };",
            vec![],
        );
        assert_eq!(shown["main"], json!(false), "{shown}");
        assert_eq!(shown["regions"], json!(0), "{shown}");
        assert_eq!(shown["overrides"], json!(0), "{shown}");
        assert_eq!(shown["cards"], json!(0), "{shown}");
        let text = shown["text"].as_str().unwrap();
        for secret in [
            "us-east",
            "eu-west",
            "192.0.2.1",
            "app.example.com",
            "generation",
        ] {
            assert!(
                !text.contains(secret),
                "{secret} shown without a token: {text}"
            );
        }
    };
    nothing(&browser);

    // A wrong token is refused and still shows nothing.
    browser.type_into("#token", "wrong-token-0123456789");
    browser.click("#login-form button[type=submit]");
    browser.wait_for(
        "the refusal",
        Duration::from_secs(5),
        "return document.getElementById('login-error').textContent;",
    );
    nothing(&browser);
    assert_eq!(
        browser.eval("return sessionStorage.length;", vec![]),
        json!(0),
        "a refused token is not kept"
    );

    // The right one shows the page, and lives in this tab's session only.
    browser.type_into("#token", ALICE);
    browser.click("#login-form button[type=submit]");
    wait_for_regions(&browser);
    let storage = browser.eval(
        "return [sessionStorage.getItem('switchyard.token'), localStorage.length, document.cookie];",
        vec![],
    );
    assert_eq!(storage, json!([ALICE, 0, ""]));

    // Forgetting it hides everything again.
    browser.click("#forget");
    browser.wait_for(
        "the token form again",
        Duration::from_secs(5),
        "return !document.getElementById('login').hidden;",
    );
    nothing(&browser);
}

#[test]
fn the_page_reconnects_after_a_server_restart() {
    let Some(browser) = Browser::start() else {
        return;
    };
    // A fixed port, so the restarted server is at the same origin.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let setup = Setup::start("", &format!("127.0.0.1:{port}"));
    browser.goto(&setup.url());
    wait_for_regions(&browser);
    let Setup {
        mut server,
        targets,
        _zones,
        runtime,
    } = setup;
    // Stop it: the page says so, keeps the last view, and keeps trying.
    let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
    let config_path = server.config_path.clone();
    drop(server);
    browser.wait_for(
        "disconnected",
        Duration::from_secs(5),
        "return document.getElementById('conn').dataset.state === 'down';",
    );
    assert!(browser.text("#conn").contains("retrying"));
    assert_eq!(
        browser.eval(
            "return document.querySelectorAll('#regions tbody tr').length;",
            vec![]
        ),
        json!(4),
        "the last view stays"
    );
    std::thread::sleep(Duration::from_millis(1500));
    // Back on the same port: the page picks it up by itself.
    let server = TestServer::start_in(dir, config_path);
    assert_eq!(server.api.port(), port);
    let (_, took) = browser.wait_for(
        "live again",
        Duration::from_secs(5),
        "return document.getElementById('conn').dataset.state === 'live';",
    );
    eprintln!("server back to page live: {took:?}");
    assert!(browser.text("#meta").contains("restarted"));
    drop((server, targets, _zones, runtime));
}

#[test]
fn traffic_counts_answers_per_region_over_the_last_minute() {
    // A service only this test queries: the counters are process-wide.
    let setup = Setup::start_with(
        "",
        "127.0.0.1:0",
        "[services.\"count.example.com\"]\npolicy = \"weighted\"\nregions = [\"us-east\", \"eu-west\"]\n",
    );
    let before = setup.api("GET", "/v1/traffic", None);
    let service = |traffic: &Value| -> Value {
        traffic["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "count.example.com.")
            .unwrap()
            .clone()
    };
    let count = |traffic: &Value, region: &str, field: &str| -> u64 {
        service(traffic)["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["region"] == region && a["reason"] == "policy")
            .unwrap()[field]
            .as_u64()
            .unwrap()
    };
    let s = service(&before);
    assert_eq!(s["policy"], "weighted");
    assert_eq!(s["counted"], true);
    assert_eq!(s["regions"][0]["configured_weight"], 60);

    // 200 queries, each counted where its answer pointed.
    std::thread::sleep(Duration::from_millis(1000));
    let mut answered = std::collections::HashMap::<String, u64>::new();
    for _ in 0..200 {
        let reply = query(setup.server.addr, "count.example.com", RecordType::A);
        let data = reply.answers[0].data.to_string();
        let region = if data.starts_with("192.0.2.") {
            "us-east"
        } else {
            "eu-west"
        };
        *answered.entry(region.to_string()).or_default() += 1;
    }
    let after = setup.api("GET", "/v1/traffic", None);
    assert!(after["window_secs"].as_f64().unwrap() >= 1.0, "{after}");
    for region in ["us-east", "eu-west"] {
        let sent = answered.get(region).copied().unwrap_or(0);
        assert_eq!(count(&after, region, "last_minute"), sent, "{region}");
        assert_eq!(
            count(&after, region, "total") - count(&before, region, "total"),
            sent,
            "{region}"
        );
    }
    let s = service(&after);
    assert_eq!(s["last_minute_total"], 200);
    let shares: f64 = s["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["share"].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    // Same numbers as /metrics.
    let metrics = String::from_utf8(
        switchyard::ctl::http::request(
            &setup.server.api.to_string(),
            "GET",
            "/metrics",
            None,
            None,
        )
        .unwrap()
        .body,
    )
    .unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("switchyard_answers_total{")
                && l.contains("service=\"count.example.com\"")
                && l.contains("region=\"us-east\"")
                && l.contains("reason=\"policy\"")
        })
        .unwrap();
    let exported: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(exported, count(&after, "us-east", "total"));

    // With protect_reads, the endpoint wants a token like every read.
    let guarded = Setup::start("protect_reads = true", "127.0.0.1:0");
    let (status, _) = call(guarded.server.api, "GET", "/v1/traffic", None, None);
    assert_eq!(status, 401);
    let (status, _) = call(guarded.server.api, "GET", "/v1/traffic", Some(ALICE), None);
    assert_eq!(status, 200);
    // The page's files are not data: they load without a token.
    let page =
        switchyard::ctl::http::request(&guarded.server.api.to_string(), "GET", "/", None, None)
            .unwrap();
    assert_eq!(page.status, 200);
}

#[test]
fn screenshots() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut setup = Setup::start("", "127.0.0.1:0");
    let scratch = tempfile::tempdir().unwrap();
    let out: PathBuf = match std::env::var("SWITCHYARD_SCREENSHOTS") {
        Ok(dir) => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir),
        Err(_) => scratch.path().to_path_buf(),
    };
    wait_for_verdicts(&setup);
    browser.goto(&setup.url());
    wait_for_regions(&browser);
    browser.wait_for(
        "the first traffic sample",
        Duration::from_secs(5),
        "return document.getElementById('traffic-meta').textContent;",
    );
    // Some traffic, so the bars have something to show.
    let send = |setup: &Setup| {
        for (name, n) in [
            ("app.example.com", 300),
            ("api.example.com", 120),
            ("geo.example.com", 80),
        ] {
            for _ in 0..n {
                query(setup.server.addr, name, RecordType::A);
            }
        }
    };
    std::thread::sleep(Duration::from_millis(1100));
    send(&setup);
    browser.wait_for(
        "300 answers in the app.example.com card",
        Duration::from_secs(5),
        "const c = document.querySelector('.card[data-service=\"app.example.com.\"]'); return !!c && c.innerText.includes('300 answers in the window');",
    );
    let healthy = full_page(&browser);
    std::fs::write(out.join("status-overview-healthy.png"), &healthy).unwrap();

    // Degraded: eu-west's backend dies, one of us-east's two answers 503,
    // ap-south is drained for maintenance, and a drill takes sa-east out.
    setup.targets[2].kill();
    setup.targets[0].set(Behavior::Status(503));
    setup.api(
        "POST",
        "/v1/regions/ap-south/drain",
        Some(json!({"why": "kernel upgrade", "expires_in_secs": 1800})),
    );
    let drill = setup.api(
        "POST",
        "/v1/drills",
        Some(json!({"regions": ["sa-east"], "duration_secs": 600, "why": "quarterly failover drill"})),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_state(&browser, "eu-west", "down", Duration::from_secs(5));
    wait_for_state(&browser, "ap-south", "drained", Duration::from_secs(5));
    wait_for_state(&browser, "sa-east", "forced-down", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1100));
    send(&setup);
    browser.wait_for(
        "the drill's verification",
        Duration::from_secs(10),
        "const r = document.querySelector('#drill-report'); return !!r && r.innerText.includes('verified');",
    );
    // The drill's report on the page is the API's: its timeline events and
    // one row per (service, vantage) with the same answers.
    let report = setup.api("GET", &format!("/v1/drills/{drill}"), None);
    let shown = browser.eval(
        "const r = document.querySelector('#drill-report .report');
         const tables = r.querySelectorAll('table');
         return {
           id: r.dataset.drill,
           events: [...tables[0].querySelectorAll('tbody tr')].map(t => t.cells[1].innerText),
           pairs: [...tables[1].querySelectorAll('tbody tr')].map(t => [t.dataset.vantage, t.cells[3].innerText]),
         };",
        vec![],
    );
    assert_eq!(shown["id"], json!(drill));
    let events: Vec<&Value> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["what"])
        .collect();
    assert_eq!(shown["events"], json!(events), "{shown}");
    let pairs: Vec<Value> = report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let during: Vec<&str> = p["during"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            json!([p["vantage"], during.join(" ")])
        })
        .collect();
    assert_eq!(shown["pairs"], json!(pairs), "{shown}");
    assert!(
        browser
            .text(&format!("#drills-table tr[data-drill='{drill}']"))
            .contains("running")
    );
    std::thread::sleep(Duration::from_millis(1200));
    let degraded = full_page(&browser);
    assert_ne!(healthy, degraded);
    std::fs::write(out.join("status-overview-degraded.png"), &degraded).unwrap();
    eprintln!("screenshots written to {}", out.display());
}
