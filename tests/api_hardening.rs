//! The control API against hostile clients, on the real listener: slow and
//! idle clients are closed at their deadline, the connection cap holds,
//! token guessing gets 429 per address while the right token keeps working
//! elsewhere and after the window, rejected attempts cannot fill the disk,
//! and reads are protected by default.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::api::{ALICE, Api, BOB};
use common::raw_http::{Response, parse_response};
use serde_json::json;

/// Waits (bounded by `limit`) for the server to close `stream`, reading
/// and discarding whatever it sends; returns when it closed, or `None` if
/// it was still open at `limit`. `dribble` writes one byte per poll, as a
/// slowloris client does.
fn closed_within(stream: &mut TcpStream, limit: Duration, dribble: bool) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        if dribble && stream.write_all(b"X").is_err() {
            return Some(started.elapsed());
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// Sends `raw` from source address `from` and reads the whole response.
fn raw_from(api: SocketAddr, from: IpAddr, raw: &[u8]) -> Response {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .expect("bind a loopback source address");
    socket.connect(&api.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    parse_response(&bytes).unwrap()
}

/// A weight change from `from` with `token`.
fn set_weight(api: SocketAddr, from: &str, token: &str, weight: u32) -> Response {
    let body = json!({"weight": weight, "why": "test"}).to_string();
    let raw = format!(
        "PUT /v1/regions/us/weight HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw_from(api, from.parse().unwrap(), raw.as_bytes())
}

#[test]
fn slow_headers_idle_clients_and_idle_keep_alive_are_closed_at_the_deadline() {
    let api = Api::start_with("header_timeout_secs = 1");
    let addr = api.server.api;
    let limit = Duration::from_secs(8);

    // Slowloris: a request line and one header byte at a time.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let took = closed_within(&mut slow, limit, true).expect("slow client never closed");
    assert!(took >= Duration::from_millis(800), "closed early: {took:?}");

    // Connected, never sends anything.
    let mut idle = TcpStream::connect(addr).unwrap();
    closed_within(&mut idle, limit, false).expect("idle client never closed");

    // A finished request on a keep-alive connection, then silence.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    closed_within(&mut kept, limit, false).expect("idle keep-alive connection never closed");

    // The listener still serves.
    assert_eq!(api.call("GET", "/healthz", None, None).0, 200);
}

#[test]
fn a_client_that_pipelines_requests_and_never_reads_is_closed() {
    let api = Api::start_with("header_timeout_secs = 1");
    let mut client = TcpStream::connect(api.server.api).unwrap();
    // Far more responses than the socket buffers hold (bounded in count and time).
    let request = b"GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    client
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut sent = 0;
    let started = Instant::now();
    while sent < 20_000 && started.elapsed() < Duration::from_secs(10) {
        match client.write_all(request) {
            Ok(()) => sent += 1,
            // Our send buffer is full too: the server stopped reading
            // because its writes are stuck, or it closed the connection.
            Err(_) => break,
        }
    }
    // Past the write deadline, the connection is gone: reading gets the
    // responses the kernel still holds, then the end, well before all.
    std::thread::sleep(Duration::from_secs(3));
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0usize;
    let ended = loop {
        match client.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(
        ended,
        "the connection was still open after {received} bytes"
    );
    let one = api
        .call("GET", "/v1/openapi.json", None, None)
        .1
        .to_string()
        .len();
    assert!(
        received < sent * one,
        "every response was delivered ({sent} requests, {received} bytes)"
    );
}

#[test]
fn a_slow_body_gets_408_and_a_large_one_413() {
    let api = Api::start_with("body_timeout_secs = 1");
    let addr = api.server.api;
    let head = format!(
        "POST /v1/regions/us/drain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"why\""
    );
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(head.as_bytes()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let mut bytes = Vec::new();
    slow.read_to_end(&mut bytes).unwrap();
    let response = parse_response(&bytes).unwrap();
    assert_eq!(response.status, 408, "{}", String::from_utf8_lossy(&bytes));

    let big = format!(
        "POST /v1/regions/us/drain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ALICE}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{{"
    );
    let response = common::raw_http::exchange(addr, big.as_bytes()).unwrap();
    assert_eq!(response.status, 413);
    assert!(api.overrides().is_empty(), "nothing changed");
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once() {
    // The default cap (256): 300 clients that never send anything.
    let api = Api::start_with("header_timeout_secs = 30");
    let addr = api.server.api;
    let clients: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Give the accept loop time to see them all (bounded polling).
    let deadline = Instant::now() + Duration::from_secs(10);
    let held = loop {
        let mut held = 0;
        let mut buf = [0u8; 1];
        for c in &clients {
            c.set_nonblocking(true).unwrap();
            match (&*c).read(&mut buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => held += 1,
                _ => {}
            }
        }
        if held <= 256 || Instant::now() > deadline {
            break held;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(held <= 256, "{held} connections held open");
    assert!(held >= 200, "the first connections are kept: {held}");
    drop(clients);
    let refused = |api: &Api| -> f64 {
        let text = switchyard::ctl::http::request(
            &api.server.api.to_string(),
            "GET",
            "/metrics",
            None,
            None,
        )
        .unwrap()
        .body;
        String::from_utf8_lossy(&text)
            .lines()
            .find_map(|l| l.strip_prefix("switchyard_api_connections_refused_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    // Slots come back as clients leave.
    let deadline = Instant::now() + Duration::from_secs(10);
    while switchyard::ctl::http::request(&addr.to_string(), "GET", "/healthz", None, None)
        .map(|r| r.status)
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "the API did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(refused(&api) >= 44.0, "refusals are counted");
}

#[test]
fn token_guessing_gets_429_per_address_while_the_right_token_works_elsewhere_and_later() {
    let api = Api::start_with("max_auth_failures = 3\nauth_window_secs = 2");
    let addr = api.server.api;
    for _ in 0..3 {
        assert_eq!(
            set_weight(addr, "127.0.0.1", "guess-guess-guess-guess", 50).status,
            401
        );
    }
    // Locked out: even the right token (checking it would tell a guesser).
    let locked = set_weight(addr, "127.0.0.1", ALICE, 50);
    assert_eq!(locked.status, 429);
    let retry: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another address is not affected.
    assert_eq!(set_weight(addr, "127.0.0.2", ALICE, 40).status, 200);
    // Guessing on is answered 429, and is neither counted nor logged.
    for _ in 0..20 {
        assert_eq!(
            set_weight(addr, "127.0.0.1", "guess-guess-guess-guess", 50).status,
            429
        );
    }
    let rejected = api.rejected();
    let from_one: Vec<_> = rejected
        .iter()
        .filter(|e| e["client"] == "127.0.0.1")
        .collect();
    assert_eq!(from_one.len(), 3, "{rejected:?}");
    assert_eq!(from_one[2]["result"], "rate_limited");
    // After the window, the right token works from the locked address.
    std::thread::sleep(Duration::from_millis(retry * 1000 + 200));
    assert_eq!(set_weight(addr, "127.0.0.1", ALICE, 30).status, 200);
    // The operators' audit log has only the operators' changes.
    let audit = api.audit();
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(audit.iter().all(|e| e["who"] == "alice"));
}

#[test]
fn a_flood_of_rejected_requests_is_logged_at_a_bounded_rate_and_operators_still_write() {
    let api = Api::start_with("max_auth_failures = 1000");
    let addr = api.server.api;
    let started = Instant::now();
    // 600 bad attempts from 60 loopback addresses.
    for n in 0..600 {
        let from = format!("127.0.3.{}", n % 60 + 1);
        assert_eq!(
            set_weight(addr, &from, "guess-guess-guess-guess", 50).status,
            401
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let lines = api.rejected().len();
    // The log's burst (100) plus its rate (20/s) over the flood.
    let bound = (100.0 + 20.0 * elapsed).ceil() as usize + 1;
    assert!(lines <= bound && lines < 600, "{lines} lines > {bound}");
    assert!(lines >= 100, "the first ones are logged: {lines}");
    let size = std::fs::metadata(api.state_dir().join("audit-rejected.log"))
        .unwrap()
        .len();
    assert!(size <= 4 << 20);
    // The operator's change goes through and is audited.
    assert_eq!(
        api.call(
            "POST",
            "/v1/regions/us/drain",
            Some(BOB),
            Some(json!({"why": "flood"}))
        )
        .0,
        200
    );
    assert_eq!(api.audit().len(), 1);
}

#[test]
fn reads_need_a_token_by_default() {
    // Naming the key keeps the harness from opening reads: the default applies.
    let api = Api::start_with("# protect_reads: the default");
    for path in [
        "/v1/status",
        "/v1/regions",
        "/v1/services",
        "/v1/overrides",
        "/v1/drills",
        "/v1/explain?name=w.example.com&type=A&client=192.0.2.1",
        "/metrics",
    ] {
        assert_eq!(api.call("GET", path, None, None).0, 401, "{path}");
    }
    assert_eq!(
        api.call("GET", "/v1/status", Some(BOB), None).1["auth"]["protect_reads"],
        true
    );
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        assert_eq!(api.call("GET", path, None, None).0, 200, "{path}");
    }
}
