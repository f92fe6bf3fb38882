//! Request bodies of the control API's write endpoints, sent over loopback
//! to a real in-process server (the example zones, three regions, an
//! operator token): whatever the body, the answer is a 2xx or 4xx, never a
//! 5xx, a dropped connection or a panic. The first byte picks the endpoint.
#![no_main]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use switchyard::app::App;

const TOKEN: &str = "fuzz-token-0123456789abcdef";

const ENDPOINTS: &[(&str, &str)] = &[
    ("PUT", "/v1/regions/us-east/weight"),
    ("POST", "/v1/regions/eu-west/drain"),
    ("POST", "/v1/regions/ap-south/force"),
    ("POST", "/v1/drills"),
    ("POST", "/v1/drills/none/stop"),
];

struct Server {
    api: SocketAddr,
    connection: Mutex<Option<BufReader<TcpStream>>>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("switchyard-fuzz-api-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zones");
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/switchyard.toml"),
        )
        .unwrap();
        // The example from its geo networks on (drills, regions, services),
        // with our own listeners, tokens and paths.
        let traffic = &example[example.find("\n[geo").or_else(|| example.find("\n[regions")).unwrap()..];
        std::fs::write(dir.join("tokens"), format!("fuzzer:{TOKEN}\n")).unwrap();
        let config = dir.join("switchyard.toml");
        std::fs::write(
            &config,
            format!(
                "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = {zones:?}\nstate_dir = \"state\"\nudp_workers = 1\n[api]\ntokens_file = \"tokens\"\n[log]\nlevel = \"off\"\n{traffic}"
            ),
        )
        .unwrap();
        let runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        ));
        let app = runtime.block_on(async { App::start(&config) }).expect("server starts");
        let api = app.api_addr;
        Box::leak(Box::new(app));
        Server { api, connection: Mutex::new(None) }
    })
}

/// One request on the kept-alive connection; the status code.
fn request(server: &Server, method: &str, path: &str, body: &[u8]) -> u16 {
    let mut slot = server.connection.lock().unwrap();
    let reader = slot.get_or_insert_with(|| {
        let stream = TcpStream::connect(server.api).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        BufReader::new(stream)
    });
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: fuzz\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let stream = reader.get_mut();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a response");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let (mut length, mut close) = (0usize, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "connection: close" {
            close = true;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    if close {
        *slot = None;
    }
    status
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let server = server();
    let (method, path) = ENDPOINTS[selector as usize % ENDPOINTS.len()];
    let status = request(server, method, path, body);
    assert!(
        (200..500).contains(&status),
        "{method} {path} -> {status} for {body:?}"
    );
});
