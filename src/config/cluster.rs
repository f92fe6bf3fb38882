//! The `[cluster]` table: where shared state lives. `store = "local"` (the
//! default) keeps everything in `server.state_dir` as a single instance;
//! `store = "etcd"` shares overrides, drills, votes and membership through an
//! etcd cluster (see [`crate::cluster`]).
//!
//! The table is read in two steps: serde fills [`ClusterToml`] (spanned, so
//! errors name a line), then [`resolve`] checks it, applies defaults, resolves
//! paths against the config file's directory and reads the password file,
//! giving the plain [`ClusterConfig`] the rest of the program uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Config, ConfigError};

/// Where shared state is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    /// Files in `server.state_dir`; one instance, no etcd.
    #[default]
    Local,
    /// An etcd (v3 API) cluster shared by every instance.
    Etcd,
}

/// The `[cluster]` table as written (before validation and defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClusterToml {
    store: Option<Spanned<StoreKind>>,
    endpoints: Option<Spanned<Vec<Spanned<String>>>>,
    prefix: Option<Spanned<String>>,
    instance: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    ca_file: Option<Spanned<PathBuf>>,
    cert_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    request_timeout_ms: Option<Spanned<u64>>,
    lease_ttl_secs: Option<Spanned<u64>>,
}

/// The validated `[cluster]` settings, defaults applied and paths resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `local` or `etcd`.
    pub store: StoreKind,
    /// etcd client URLs (`http://host:2379`, `https://...`); non-empty for etcd.
    pub endpoints: Vec<String>,
    /// Key namespace in etcd; starts and ends with `/` (default `/switchyard/`).
    pub prefix: String,
    /// This instance's stable name ([A-Za-z0-9._-], 1-63); default the host name.
    pub instance: String,
    /// etcd user, when etcd has auth enabled.
    pub username: Option<String>,
    /// The password read from `password_file` at load (trailing newline removed).
    pub password: Option<String>,
    /// The file the password came from (resolved against the config's directory).
    pub password_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) that sign etcd's server certificates.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's client-cert auth; with `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM); with `cert_file`.
    pub key_file: Option<PathBuf>,
    /// How long one etcd request may take at one endpoint before the next is tried.
    pub request_timeout: Duration,
    /// TTL of the leases that hold this instance's membership and votes.
    pub lease_ttl: Duration,
}

/// Default key namespace.
pub(crate) const DEFAULT_PREFIX: &str = "/switchyard/";
/// Default per-request timeout (milliseconds).
pub(crate) const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 2000;
/// Default lease TTL (seconds): long enough to ride out one endpoint's
/// failover, short enough that a dead instance's votes vanish quickly.
pub(crate) const DEFAULT_LEASE_TTL_SECS: u64 = 10;
/// Shortest lease TTL accepted: etcd itself raises shorter TTLs to its
/// minimum (about 1.5 election timeouts), so asking for less would mislead.
pub(crate) const MIN_LEASE_TTL_SECS: u64 = 2;

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig {
            store: StoreKind::Local,
            endpoints: Vec::new(),
            prefix: DEFAULT_PREFIX.to_string(),
            instance: default_instance().unwrap_or_else(|_| "switchyard".to_string()),
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            lease_ttl: Duration::from_secs(DEFAULT_LEASE_TTL_SECS),
        }
    }
}

impl ClusterConfig {
    /// True when shared state lives in etcd.
    pub(crate) fn is_etcd(&self) -> bool {
        self.store == StoreKind::Etcd
    }
}

/// True for a valid instance name: 1-63 of `[A-Za-z0-9._-]`. It appears in
/// etcd keys and the NSID option, so nothing else is allowed.
pub fn valid_instance(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The host name, from the kernel or `HOSTNAME`, if it is a valid instance name.
fn default_instance() -> Result<String, String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().map(|s| s.trim().to_string()))
        .ok_or_else(|| "cannot read the host name; set `instance`".to_string())?;
    if valid_instance(&name) {
        Ok(name)
    } else {
        Err(format!(
            "the host name {name:?} is not a valid instance name (1-63 of A-Z a-z 0-9 . _ -); set `instance`"
        ))
    }
}

/// Validates `raw` (from `config`'s text) and resolves it against `base`, the
/// config file's directory.
pub(crate) fn resolve(
    raw: &ClusterToml,
    config: &Config,
    base: &Path,
) -> Result<ClusterConfig, ConfigError> {
    let err = |span: std::ops::Range<usize>, field: &str, message: String| {
        config.error_at(span, format!("cluster.{field}"), message)
    };
    let mut out = ClusterConfig {
        store: raw.store.as_ref().map(|s| *s.get_ref()).unwrap_or_default(),
        ..ClusterConfig::default()
    };
    // The span that best locates "something is missing": the `store` line.
    let store_span = raw.store.as_ref().map(|s| s.span()).unwrap_or(0..0);

    if let Some(endpoints) = &raw.endpoints {
        for (i, endpoint) in endpoints.get_ref().iter().enumerate() {
            check_endpoint(endpoint.get_ref())
                .map_err(|m| err(endpoint.span(), &format!("endpoints[{i}]"), m))?;
            out.endpoints
                .push(endpoint.get_ref().trim_end_matches('/').to_string());
        }
    }
    if out.is_etcd() && out.endpoints.is_empty() {
        let (span, field) = match &raw.endpoints {
            Some(e) => (e.span(), "endpoints"),
            None => (store_span, "endpoints"),
        };
        return Err(err(
            span,
            field,
            "store = \"etcd\" needs at least one endpoint (e.g. endpoints = [\"http://127.0.0.1:2379\"])"
                .into(),
        ));
    }

    if let Some(prefix) = &raw.prefix {
        let p = prefix.get_ref();
        if !p.starts_with('/') || !p.ends_with('/') {
            return Err(err(
                prefix.span(),
                "prefix",
                format!("prefix {p:?} must start and end with \"/\" (e.g. \"/switchyard/prod/\")"),
            ));
        }
        if p.chars().any(|c| c.is_control()) {
            return Err(err(
                prefix.span(),
                "prefix",
                "prefix must not contain control characters".into(),
            ));
        }
        out.prefix = p.clone();
    }

    out.instance = match &raw.instance {
        Some(name) => {
            if !valid_instance(name.get_ref()) {
                return Err(err(
                    name.span(),
                    "instance",
                    format!(
                        "instance {:?} must be 1-63 characters of A-Z a-z 0-9 . _ -",
                        name.get_ref()
                    ),
                ));
            }
            name.get_ref().clone()
        }
        // Instance names matter only when several instances share a store;
        // a lone instance on a host with an odd name still starts.
        None => match default_instance() {
            Ok(name) => name,
            Err(m) if out.is_etcd() => return Err(err(store_span, "instance", m)),
            Err(_) => "switchyard".to_string(),
        },
    };

    match (&raw.username, &raw.password_file) {
        (Some(user), Some(file)) => {
            if user.get_ref().is_empty() {
                return Err(err(user.span(), "username", "username is empty".into()));
            }
            let path = base.join(file.get_ref());
            let text = std::fs::read_to_string(&path).map_err(|e| {
                err(
                    file.span(),
                    "password_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(err(
                    file.span(),
                    "password_file",
                    format!("{} is empty", path.display()),
                ));
            }
            out.username = Some(user.get_ref().clone());
            out.password = Some(password.to_string());
            out.password_file = Some(path);
        }
        (Some(user), None) => {
            return Err(err(
                user.span(),
                "username",
                "username needs password_file (the password is never written in the config)".into(),
            ));
        }
        (None, Some(file)) => {
            return Err(err(
                file.span(),
                "password_file",
                "password_file needs username".into(),
            ));
        }
        (None, None) => {}
    }

    let tls_file = |value: &Option<Spanned<PathBuf>>, field: &str| {
        value
            .as_ref()
            .map(|file| {
                let path = base.join(file.get_ref());
                std::fs::File::open(&path)
                    .map(|_| path.clone())
                    .map_err(|e| {
                        err(
                            file.span(),
                            field,
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })
            })
            .transpose()
    };
    out.ca_file = tls_file(&raw.ca_file, "ca_file")?;
    out.cert_file = tls_file(&raw.cert_file, "cert_file")?;
    out.key_file = tls_file(&raw.key_file, "key_file")?;
    match (&raw.cert_file, &raw.key_file) {
        (Some(cert), None) => {
            return Err(err(
                cert.span(),
                "cert_file",
                "cert_file needs key_file (a client certificate goes with its key)".into(),
            ));
        }
        (None, Some(key)) => {
            return Err(err(
                key.span(),
                "key_file",
                "key_file needs cert_file (a client key goes with its certificate)".into(),
            ));
        }
        _ => {}
    }

    if let Some(ms) = &raw.request_timeout_ms {
        if !(1..=600_000).contains(ms.get_ref()) {
            return Err(err(
                ms.span(),
                "request_timeout_ms",
                "request_timeout_ms must be between 1 and 600000".into(),
            ));
        }
        out.request_timeout = Duration::from_millis(*ms.get_ref());
    }
    if let Some(secs) = &raw.lease_ttl_secs {
        if !(MIN_LEASE_TTL_SECS..=86_400).contains(secs.get_ref()) {
            return Err(err(
                secs.span(),
                "lease_ttl_secs",
                format!("lease_ttl_secs must be between {MIN_LEASE_TTL_SECS} and 86400"),
            ));
        }
        out.lease_ttl = Duration::from_secs(*secs.get_ref());
    }
    Ok(out)
}

/// An endpoint must be a bare `http(s)://host:port` base URL.
fn check_endpoint(text: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{text:?} must be a base URL without path or query (e.g. \"http://10.0.0.1:2379\")"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{text:?} must not carry credentials; use username and password_file"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "version = 1\n[server]\ndns_listen = [\"127.0.0.1:5353\"]\napi_listen = \"127.0.0.1:8053\"\nzones_dir = \"z\"\nstate_dir = \"s\"\n";

    fn parse(cluster: &str) -> Result<Config, ConfigError> {
        Config::parse(
            &format!("{HEAD}[cluster]\n{cluster}"),
            Path::new("/nonexistent/sy.toml"),
        )
    }

    #[test]
    fn missing_table_is_local_with_defaults() {
        let config = Config::parse(HEAD, Path::new("/x/sy.toml")).unwrap();
        assert!(!config.cluster.is_etcd());
        assert_eq!(config.cluster.prefix, "/switchyard/");
        assert_eq!(config.cluster.request_timeout, Duration::from_secs(2));
        assert_eq!(config.cluster.lease_ttl, Duration::from_secs(10));
        assert!(valid_instance(&config.cluster.instance));
    }

    #[test]
    fn etcd_store_reads_every_key() {
        let config = parse(
            "store = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379/\", \"https://[::1]:2379\"]\nprefix = \"/sy/prod/\"\ninstance = \"eu-1\"\nrequest_timeout_ms = 500\nlease_ttl_secs = 5\n",
        )
        .unwrap();
        let c = &config.cluster;
        assert!(c.is_etcd());
        assert_eq!(c.endpoints, ["http://127.0.0.1:2379", "https://[::1]:2379"]);
        assert_eq!(c.prefix, "/sy/prod/");
        assert_eq!(c.instance, "eu-1");
        assert_eq!(c.request_timeout, Duration::from_millis(500));
        assert_eq!(c.lease_ttl, Duration::from_secs(5));
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            (
                "store = \"etcd\"\n",
                8,
                "cluster.endpoints",
                "at least one endpoint",
            ),
            (
                "store = \"etcd\"\nendpoints = []\n",
                9,
                "cluster.endpoints",
                "at least one",
            ),
            ("store = \"zk\"\n", 8, "cluster.store", "unknown variant"),
            (
                "endpoints = [\"http://a:1\", \"ftp://b:2\"]\n",
                8,
                "cluster.endpoints[1]",
                "http://",
            ),
            (
                "endpoints = [\"http://a:1/v3\"]\n",
                8,
                "cluster.endpoints[0]",
                "base URL",
            ),
            (
                "prefix = \"switchyard/\"\n",
                8,
                "cluster.prefix",
                "start and end",
            ),
            (
                "prefix = \"/switchyard\"\n",
                8,
                "cluster.prefix",
                "start and end",
            ),
            ("instance = \"a b\"\n", 8, "cluster.instance", "1-63"),
            (
                "username = \"root\"\n",
                8,
                "cluster.username",
                "password_file",
            ),
            (
                "password_file = \"pw\"\n",
                8,
                "cluster.password_file",
                "needs username",
            ),
            (
                "username = \"root\"\npassword_file = \"pw\"\n",
                9,
                "cluster.password_file",
                "cannot read",
            ),
            (
                "request_timeout_ms = 0\n",
                8,
                "cluster.request_timeout_ms",
                "between",
            ),
            (
                "lease_ttl_secs = 1\n",
                8,
                "cluster.lease_ttl_secs",
                "between",
            ),
            ("\n\nbogus = 1\n", 10, "cluster.bogus", "unknown field"),
        ];
        for (text, line, field, message) in cases {
            let err = parse(text).expect_err(text);
            assert_eq!(err.line, Some(line), "{text}: {err}");
            assert_eq!(err.field.as_deref(), Some(field), "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
        }
    }
}
