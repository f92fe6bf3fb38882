//! The `[api]` table: who may use the control API.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// `[api]`: bearer tokens for the control API and whether reads need one.
///
/// Tokens come from a file (`tokens_file`, relative to the config file) or
/// an environment variable (`tokens_env`), never from the config itself, so
/// the config can be shared and committed. Both hold one `name:token` per
/// line; `#` starts a comment. With neither, every write is refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// File of `name:token` lines; the name is who the audit trail says acted.
    pub tokens_file: Option<Spanned<PathBuf>>,
    /// Environment variable holding the same `name:token` lines.
    pub tokens_env: Option<Spanned<String>>,
    /// Reads need a token too (default: reads are open, writes never are).
    #[serde(default)]
    pub protect_reads: bool,
}
