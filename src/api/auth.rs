//! Bearer tokens: loading and validating the `name:token` lines named by
//! `[api]`, and checking a request's `Authorization` header against them in
//! constant time.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, Uri, header};
use subtle::ConstantTimeEq;

use super::ApiContext;
use super::errors::ApiError;
use crate::config::{Config, ConfigError};

/// The tokens file shipped as `config/tokens.example`: a server that
/// accepts its token accepts anyone who has read the repository.
pub const EXAMPLE_TOKENS_FILE: &str = include_str!("../../config/tokens.example");

/// Shortest token accepted: anything shorter is guessable.
pub const MIN_TOKEN_LEN: usize = 16;

/// The API's tokens, and whether reads need one.
#[derive(Clone, Default)]
pub struct Tokens {
    /// `(name, token)` pairs; names and tokens are unique.
    entries: Vec<(String, Vec<u8>)>,
    /// From `api.protect_reads`.
    pub protect_reads: bool,
}

// Hand-written so a debug print of the inputs never shows a secret.
impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("protect_reads", &self.protect_reads)
            .finish()
    }
}

impl Tokens {
    /// Loads the tokens `config.api` names. `check` and `serve` both come
    /// through here, so a malformed line fails both with file:line errors.
    pub fn load(config: &Config) -> Result<Tokens, Vec<ConfigError>> {
        let api = &config.api;
        let mut tokens = match (&api.tokens_file, &api.tokens_env) {
            (Some(_), Some(env)) => {
                return Err(vec![config.error_at(
                    env.span(),
                    "api.tokens_env",
                    "set one of `tokens_file` or `tokens_env`, not both",
                )]);
            }
            (Some(file), None) => {
                let path = file.get_ref();
                let text = std::fs::read_to_string(path).map_err(|e| {
                    vec![config.error_at(
                        file.span(),
                        "api.tokens_file",
                        format!("cannot read tokens file {}: {e}", path.display()),
                    )]
                })?;
                Tokens::parse(&text).map_err(|errors| {
                    errors
                        .into_iter()
                        .map(|(line, message)| at_file_line(path, line, message))
                        .collect::<Vec<_>>()
                })?
            }
            (None, Some(env)) => {
                let var = env.get_ref();
                let text = std::env::var(var).map_err(|e| {
                    vec![config.error_at(
                        env.span(),
                        "api.tokens_env",
                        format!("environment variable {var}: {e}"),
                    )]
                })?;
                Tokens::parse(&text).map_err(|errors| {
                    errors
                        .into_iter()
                        .map(|(line, message)| {
                            config.error_at(
                                env.span(),
                                "api.tokens_env",
                                format!("line {line} of ${var}: {message}"),
                            )
                        })
                        .collect::<Vec<_>>()
                })?
            }
            (None, None) => Tokens::default(),
        };
        tokens.protect_reads = api.protect_reads;
        Ok(tokens)
    }

    /// Parses `name:token` lines (`#` comments and blank lines allowed).
    /// Errors are `(1-based line, message)`.
    pub fn parse(text: &str) -> Result<Tokens, Vec<(usize, String)>> {
        let mut tokens = Tokens::default();
        let mut errors = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut error = |message: String| errors.push((n + 1, message));
            let Some((name, token)) = line.split_once(':') else {
                error("expected `name:token`".into());
                continue;
            };
            let (name, token) = (name.trim(), token.trim());
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
            {
                error(format!(
                    "token name {name:?} must be 1-64 letters, digits, '.', '_', '@' or '-'"
                ));
                continue;
            }
            // Header values are visible ASCII; a token that cannot be sent
            // in one could never match.
            if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
                error(format!(
                    "token for {name:?} must be at least {MIN_TOKEN_LEN} visible ASCII characters without spaces"
                ));
                continue;
            }
            if tokens.entries.iter().any(|(other, _)| other == name) {
                error(format!("duplicate token name {name:?}"));
                continue;
            }
            if tokens.entries.iter().any(|(_, t)| t == token.as_bytes()) {
                error(format!(
                    "token for {name:?} is also another name's token: the audit trail could not tell them apart"
                ));
                continue;
            }
            tokens
                .entries
                .push((name.to_string(), token.as_bytes().to_vec()));
        }
        if errors.is_empty() {
            Ok(tokens)
        } else {
            Err(errors)
        }
    }

    /// The token names (never the tokens).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// True when no token is configured (every write is refused).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Names of configured tokens that are the shipped example's token
    /// (compared by content, whatever name or file they come from).
    pub fn example_token_names(&self) -> Vec<&str> {
        let Ok(example) = Tokens::parse(EXAMPLE_TOKENS_FILE) else {
            return Vec::new();
        };
        self.entries
            .iter()
            .filter(|(_, token)| example.entries.iter().any(|(_, t)| t == token))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The loud warning for a config that accepts the example token, if it does.
    pub fn example_token_warning(&self) -> Option<String> {
        let names = self.example_token_names();
        (!names.is_empty()).then(|| {
            format!(
                "WARNING: the API accepts the example token from config/tokens.example (token name(s): {}). \
                 Anyone who has read the repository can drain regions. Replace it, e.g. `echo \"alice:$(openssl rand -hex 32)\" > tokens`.",
                names.join(", ")
            )
        })
    }

    /// The name of the token an `Authorization` header value presents, if
    /// it is `Bearer <a configured token>`.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Option<&str> {
        let value = authorization?;
        let presented = strip_bearer(value)?;
        // Every configured token is compared, and each comparison takes the
        // same time whatever bytes differ (`ct_eq`), so response timing does
        // not reveal how much of a token was right. (`ct_eq` on slices of
        // different lengths returns at once: only the length can leak.)
        let mut found = None;
        for (name, token) in &self.entries {
            if bool::from(token.as_slice().ct_eq(presented)) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

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
pub struct Reader;

impl FromRequestParts<ApiContext> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &ApiContext) -> Result<Reader, ApiError> {
        if ctx.control.load().tokens.protect_reads {
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
    let tokens = ctx.control.load().tokens.clone();
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

/// The token of a `Bearer <token>` header value (scheme case-insensitive).
fn strip_bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn at_file_line(path: &Path, line: usize, message: String) -> ConfigError {
    ConfigError {
        file: path.to_path_buf(),
        line: Some(line),
        field: Some("api.tokens_file".into()),
        message,
    }
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
