//! The `[rrl]` table: response rate limiting of UDP answers, as NSD and
//! Knot do it (see `server::rrl`).

use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, line_of};

/// `[rrl]`: how many answers per second one client network gets per answer
/// class before answers are dropped (every `slip`-th one sent truncated).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrlConfig {
    /// On by default, as in NSD: an open authoritative server without it is
    /// an amplifier.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Answers per second per (client network, answer class); NSD's default.
    #[serde(default = "default_rate")]
    pub responses_per_second: Spanned<u32>,
    /// Every `slip`-th limited answer is sent as an empty TC=1 answer, so a
    /// real client behind a spoofed flood retries over TCP; 0 never slips,
    /// 1 slips every one.
    #[serde(default = "default_slip")]
    pub slip: u32,
    /// Clients are grouped by this IPv4 prefix length.
    #[serde(default = "default_v4")]
    pub ipv4_prefix: Spanned<u8>,
    /// Clients are grouped by this IPv6 prefix length.
    #[serde(default = "default_v6")]
    pub ipv6_prefix: Spanned<u8>,
    /// Networks never limited (CIDR strings, e.g. monitoring or resolvers
    /// you operate).
    #[serde(default)]
    pub whitelist: Vec<Spanned<String>>,
    /// Buckets in the rate table (8 bytes each), rounded up to a power of
    /// two; NSD's default size.
    #[serde(default = "default_size")]
    pub table_size: Spanned<usize>,
}

fn yes() -> bool {
    true
}
fn default_rate() -> Spanned<u32> {
    Spanned::new(0..0, 200)
}
fn default_slip() -> u32 {
    2
}
fn default_v4() -> Spanned<u8> {
    Spanned::new(0..0, 24)
}
fn default_v6() -> Spanned<u8> {
    Spanned::new(0..0, 56)
}
fn default_size() -> Spanned<usize> {
    Spanned::new(0..0, 1_000_000)
}

impl Default for RrlConfig {
    fn default() -> Self {
        RrlConfig {
            enabled: true,
            responses_per_second: default_rate(),
            slip: default_slip(),
            ipv4_prefix: default_v4(),
            ipv6_prefix: default_v6(),
            whitelist: Vec::new(),
            table_size: default_size(),
        }
    }
}

impl RrlConfig {
    /// The whitelist as networks (valid after [`RrlConfig::validate`]).
    pub(crate) fn whitelist_nets(&self) -> Vec<IpNet> {
        self.whitelist
            .iter()
            .filter_map(|n| n.get_ref().parse().ok())
            .collect()
    }

    /// Checks ranges and CIDRs; errors name file, line and field.
    pub(super) fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let error = |span: std::ops::Range<usize>, field: String, message: String| ConfigError {
            file: path.to_path_buf(),
            line: Some(line_of(text, span.start)),
            field: Some(field),
            message,
        };
        let rate = &self.responses_per_second;
        if *rate.get_ref() == 0 || *rate.get_ref() > 1_000_000 {
            return Err(error(
                rate.span(),
                "rrl.responses_per_second".into(),
                "must be between 1 and 1000000 (set enabled = false to turn rate limiting off)"
                    .into(),
            ));
        }
        for (value, max, field) in [
            (&self.ipv4_prefix, 32, "rrl.ipv4_prefix"),
            (&self.ipv6_prefix, 128, "rrl.ipv6_prefix"),
        ] {
            if *value.get_ref() > max {
                return Err(error(
                    value.span(),
                    field.into(),
                    format!("prefix length must be at most {max}"),
                ));
            }
        }
        let size = *self.table_size.get_ref();
        if !(1024..=1 << 26).contains(&size) {
            return Err(error(
                self.table_size.span(),
                "rrl.table_size".into(),
                "must be between 1024 and 67108864".into(),
            ));
        }
        for (i, net) in self.whitelist.iter().enumerate() {
            if let Err(e) = net.get_ref().parse::<IpNet>() {
                return Err(error(
                    net.span(),
                    format!("rrl.whitelist[{i}]"),
                    format!("not a network in CIDR notation ({e})"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const BASE: &str = "version = 1\n[server]\ndns_listen = [\"127.0.0.1:53\"]\napi_listen = \"127.0.0.1:8053\"\nzones_dir = \"z\"\nstate_dir = \"s\"\n";

    fn parse(rrl: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(&format!("{BASE}[rrl]\n{rrl}"), Path::new("/c.toml"))
    }

    #[test]
    fn defaults_are_on_with_nsds_rate() {
        let config = parse("").unwrap();
        assert!(config.rrl.enabled);
        assert_eq!(*config.rrl.responses_per_second.get_ref(), 200);
        assert_eq!(config.rrl.slip, 2);
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let err = parse("slip = 3\nwhitelist = [\"10.0.0.0/8\", \"nope\"]\n").unwrap_err();
        assert_eq!(err.line, Some(9), "{err}");
        assert_eq!(err.field.as_deref(), Some("rrl.whitelist[1]"));
        let err = parse("ipv4_prefix = 33\n").unwrap_err();
        assert_eq!(
            (err.line, err.field.as_deref()),
            (Some(8), Some("rrl.ipv4_prefix"))
        );
        let err = parse("responses_per_second = 0\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/c.toml:8: rrl.responses_per_second"),
            "{err}"
        );
        let err = parse("burst = 3\n").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("rrl.burst"), "{err}");
    }
}
