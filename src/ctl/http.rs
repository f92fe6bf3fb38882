//! A tiny HTTP/1.1 client over `std::net::TcpStream`, enough for `ctl` to
//! talk to the control API: one request per connection (`Connection:
//! close`), JSON bodies, `Content-Length` or chunked responses. It keeps
//! `ctl` free of an HTTP client stack and a TLS library the API (plain HTTP
//! on a private address) does not use.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest response read (the API's biggest, `/v1/regions` with many
/// regions, is far smaller).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// Connect and read timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A response: status and body.
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

/// Resolves `api` (`host:port` or `http://host:port[/]`) to addresses.
pub fn resolve(api: &str) -> io::Result<(String, Vec<SocketAddr>)> {
    if api.starts_with("https://") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "https is not supported: the API speaks plain HTTP on a private address (put a TLS proxy in front for remote use)",
        ));
    }
    let host = api
        .strip_prefix("http://")
        .unwrap_or(api)
        .trim_end_matches('/');
    let addrs: Vec<SocketAddr> = host
        .to_socket_addrs()
        .map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad API address {api:?}: {e}"),
            )
        })?
        .collect();
    Ok((host.to_string(), addrs))
}

/// Sends one request to the API at `api` and reads the response.
pub fn request(
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> io::Result<Response> {
    let (host, addrs) = resolve(api)?;
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: switchyard-ctl/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(token) = token {
        raw += &format!("Authorization: Bearer {token}\r\n");
    }
    if let Some(body) = body {
        raw += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    raw += "\r\n";
    let mut bytes = raw.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{api:?} resolves to no address"),
    );
    for addr in addrs {
        match exchange(addr, &bytes) {
            Ok(response) => return Ok(response),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Writes `raw` (a complete request) to `addr` and parses the response.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(raw)?;
    let mut bytes = Vec::new();
    stream.take(MAX_RESPONSE).read_to_end(&mut bytes)?;
    parse_response(&bytes)
}

/// Parses a complete HTTP/1.1 response.
pub fn parse_response(bytes: &[u8]) -> io::Result<Response> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad HTTP response: {what}"),
        )
    };
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&bytes[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &bytes[end + 4..];
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest).ok_or_else(|| bad("broken chunked body"))?
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        rest.get(..len)
            .ok_or_else(|| bad("body shorter than content-length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// Decodes a chunked body (trailers ignored).
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    // Each round consumes one chunk, so this ends within rest.len() rounds.
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() {
        let r =
            parse_response(b"HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\nX: y\r\n\r\n{}extra")
                .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x")),
            (409, &b"{}"[..], Some("y"))
        );
        let r = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }

    #[test]
    fn addresses_with_or_without_scheme() {
        assert_eq!(
            resolve("http://127.0.0.1:8053/").unwrap().0,
            "127.0.0.1:8053"
        );
        assert_eq!(resolve("127.0.0.1:8053").unwrap().1.len(), 1);
        assert!(resolve("https://127.0.0.1:8053").is_err());
        assert!(resolve("no-port").is_err());
    }
}
