//! `ctl`'s HTTP client: one request per run over reqwest's blocking
//! client (`ctl` has no runtime of its own), plain HTTP or HTTPS (rustls
//! with the platform's roots, for an API behind a TLS proxy). Also what
//! the demo and the tests use to call the API.

use std::io::{self, Read};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HeaderMap, HeaderValue};

/// Largest response read (the API's biggest, `/v1/regions` with many
/// regions, is far smaller).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// Connect and read timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A response: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Header `(name lower-cased, value)` pairs.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The base URL for `api`: `host:port`, `http://host:port[/]` or
/// `https://host:port[/]`, without the trailing slash.
pub fn base_url(api: &str) -> io::Result<String> {
    let url = if api.starts_with("http://") || api.starts_with("https://") {
        api.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", api.trim_end_matches('/'))
    };
    match reqwest::Url::parse(&url) {
        Ok(parsed) if parsed.host().is_some() && parsed.path() == "/" => Ok(url),
        Ok(_) => Err(bad_address(api, "expected host:port, with no path")),
        Err(e) => Err(bad_address(api, &e.to_string())),
    }
}

fn bad_address(api: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("bad API address {api:?}: {why}"),
    )
}

/// The one client: no connection pool (one request per connection, as the
/// API's connection cap counts them), no proxy from the environment, no
/// redirects.
fn client() -> io::Result<&'static Client> {
    static CLIENT: OnceLock<Result<Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // reqwest is built without a crypto provider; ring is the one
            // the rest of the binary uses.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
            Client::builder()
                .user_agent(concat!("switchyard-ctl/", env!("CARGO_PKG_VERSION")))
                .default_headers(headers)
                .connect_timeout(TIMEOUT)
                .timeout(TIMEOUT)
                .pool_max_idle_per_host(0)
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))
        })
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))
}

/// An error and its causes, `: `-separated (reqwest's own message alone
/// does not say "connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text += ": ";
            text += &more;
        }
        source = cause.source();
    }
    text
}

/// Sends one request to the API at `api` and reads the response. `path`
/// starts with `/` and is already percent-encoded.
pub fn request(
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let url = format!("{}{path}", base_url(api)?);
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut builder = client()?.request(method, &url);
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(body) = body {
        builder = builder
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_vec());
    }
    let response = builder.send().map_err(|e| io::Error::other(chain(&e)))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_string(), value)
        })
        .collect();
    let mut bytes = Vec::new();
    response.take(MAX_RESPONSE).read_to_end(&mut bytes)?;
    Ok(Response {
        status,
        headers,
        body: bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_or_without_scheme() {
        assert_eq!(
            base_url("http://127.0.0.1:8053/").unwrap(),
            "http://127.0.0.1:8053"
        );
        assert_eq!(base_url("127.0.0.1:8053").unwrap(), "http://127.0.0.1:8053");
        assert_eq!(
            base_url("https://api.example:8443").unwrap(),
            "https://api.example:8443"
        );
        assert!(base_url("http://127.0.0.1:8053/v1").is_err());
        assert!(base_url("http://").is_err());
    }
}
