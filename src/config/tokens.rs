//! The API's bearer tokens: loading and validating the `name:token` lines
//! named by `[api]`, and recognising a presented token in constant time.
//! Here, below `snapshot` and `control`, because both carry the table;
//! `api::auth` checks requests against it.

use std::fmt;
use std::path::Path;

use subtle::ConstantTimeEq;

use super::{Config, ConfigError};

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
    pub(crate) fn example_token_names(&self) -> Vec<&str> {
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
