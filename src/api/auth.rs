//! Bearer tokens on requests: the `Writer`/`Reader` extractors check a
//! request's `Authorization` header against the token table (loaded and
//! validated in `config::tokens`, re-exported here) in constant time.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, Uri, header};

use super::ApiContext;
use super::errors::ApiError;

pub use crate::config::tokens::{EXAMPLE_TOKENS_FILE, MIN_TOKEN_LEN, Tokens};

/// A request carrying a valid token: the token's name, who the override
/// and audit trail say acted. Rejects with 401 when missing or wrong
/// (logged, bounded, in `audit-rejected.log`) before the body is even
/// read, and with 429 while the client's address is locked out after too
/// many failures ([`super::guard`]).
#[derive(Debug, Clone)]
pub struct Writer(pub String);

impl FromRequestParts<ApiContext> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Writer, ApiError> {
        authorize(ctx, parts, Access::Write).map(Writer)
    }
}

/// Read access: needs a token like [`Writer`] unless `api.protect_reads =
/// false` (then open).
#[derive(Debug, Clone)]
pub(crate) struct Reader;

impl FromRequestParts<ApiContext> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Reader, ApiError> {
        let protect_reads = ctx.settings.borrow().tokens.protect_reads;
        if protect_reads {
            authorize(ctx, parts, Access::Read)?;
        }
        Ok(Reader)
    }
}

/// What a request asks to do, for its error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// The client address the accept loop attached to the request.
pub(crate) fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The token name for the request, or 429 (address locked out) or 401
/// (counted against the address, and logged).
fn authorize(ctx: &ApiContext, parts: &Parts, access: Access) -> Result<String, ApiError> {
    let client = client_ip(parts);
    let now = Instant::now();
    ctx.guard
        .admit(client, now)
        .map_err(ApiError::too_many_attempts)?;
    let tokens = ctx.settings.borrow().tokens.clone();
    match check(&tokens, parts, access) {
        Ok(name) => {
            ctx.guard.succeeded(client);
            Ok(name)
        }
        Err(e) => {
            let what = request_line(&parts.method, &parts.uri);
            if parts
                .headers
                .contains_key(axum::http::header::AUTHORIZATION)
            {
                ctx.guard.failed(client, &what, &e.message, now);
            } else {
                ctx.guard.missing(client, &what, &e.message);
            }
            Err(e)
        }
    }
}

/// The token name for a request's `Authorization` header, or why not.
fn check(tokens: &Tokens, parts: &Parts, access: Access) -> Result<String, ApiError> {
    if tokens.is_empty() {
        return Err(ApiError::unauthorized(match access {
            Access::Write => {
                "no API tokens are configured ([api] tokens_file or tokens_env): changes are disabled"
            }
            Access::Read => {
                "no API tokens are configured ([api] tokens_file or tokens_env) and reads are protected (set [api] protect_reads = false to open them)"
            }
        }));
    }
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "missing bearer token: send `Authorization: Bearer <token>`",
        ));
    };
    tokens
        .authenticate(Some(value.as_bytes()))
        .map(str::to_string)
        .ok_or_else(|| ApiError::unauthorized("invalid bearer token"))
}

/// `PUT /v1/regions/x/weight`, bounded, for audit lines about requests that
/// never got as far as a change.
pub(crate) fn request_line(method: &Method, uri: &Uri) -> String {
    let path: String = uri.path().chars().take(200).collect();
    format!("{method} {path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_tokens_and_comments() {
        let tokens = Tokens::parse(
            "# operators\nalice:aaaaaaaaaaaaaaaaaaaa\n\n  bob : bbbbbbbbbbbbbbbbbbbb  # not a comment\n",
        );
        // A `#` after the token is part of it only if it has no space, so the
        // second line is malformed (spaces in the token).
        let errors = tokens.unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 4);
        let tokens =
            Tokens::parse("alice:aaaaaaaaaaaaaaaaaaaa\nbob:bbbbbbbbbbbbbbbbbbbb\n").unwrap();
        assert_eq!(tokens.names().collect::<Vec<_>>(), ["alice", "bob"]);
        assert!(
            !format!("{tokens:?}").contains("aaaa"),
            "no secrets in Debug"
        );
    }

    #[test]
    fn malformed_lines_are_located() {
        let errors =
            Tokens::parse("ok:cccccccccccccccccccc\nnocolon\nshort:abc\nok:dddddddddddddddddddd\n:eeeeeeeeeeeeeeeeeeeeeee\nx:cccccccccccccccccccc\n")
                .unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6], "{errors:?}");
    }

    #[test]
    fn the_shipped_example_token_is_recognised_by_content() {
        let example = Tokens::parse(EXAMPLE_TOKENS_FILE).unwrap();
        assert_eq!(example.example_token_names(), ["operator"]);
        let token = EXAMPLE_TOKENS_FILE
            .lines()
            .find(|l| !l.starts_with('#'))
            .and_then(|l| l.split_once(':'))
            .unwrap()
            .1;
        let renamed = Tokens::parse(&format!("bob:{token}\nalice:aaaaaaaaaaaaaaaaaaaa\n")).unwrap();
        assert_eq!(renamed.example_token_names(), ["bob"]);
        assert!(renamed.example_token_warning().unwrap().contains("bob"));
        let own = Tokens::parse("alice:aaaaaaaaaaaaaaaaaaaa\n").unwrap();
        assert!(own.example_token_warning().is_none());
    }

    #[test]
    fn authenticates_bearer_tokens_only() {
        let tokens =
            Tokens::parse("alice:aaaaaaaaaaaaaaaaaaaa\nbob:bbbbbbbbbbbbbbbbbbbb\n").unwrap();
        assert_eq!(
            tokens.authenticate(Some(b"Bearer bbbbbbbbbbbbbbbbbbbb")),
            Some("bob")
        );
        assert_eq!(
            tokens.authenticate(Some(b"bearer aaaaaaaaaaaaaaaaaaaa")),
            Some("alice")
        );
        for bad in [
            &b"Bearer aaaaaaaaaaaaaaaaaaab"[..],
            b"Bearer aaaaaaaaaaaaaaaaaaaaa",
            b"Basic aaaaaaaaaaaaaaaaaaaa",
            b"Bearer ",
            b"Bearer",
            b"",
            b"aaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(tokens.authenticate(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(tokens.authenticate(None), None);
        assert_eq!(Tokens::default().authenticate(Some(b"Bearer x")), None);
    }
}
