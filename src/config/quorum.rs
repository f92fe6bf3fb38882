//! The quorum rule of `[health] quorum`: how the live instances' health
//! votes on one endpoint make the cluster's verdict.
//!
//! The rule says how many of the live checkers must see an endpoint *down*
//! before the cluster takes it out of answers. The default is `majority`:
//! down only when more than half of the live checkers say down, so one
//! checker whose own network is broken (a partitioned instance, a bad
//! route from one region) cannot fail a region over for everyone, while a
//! region that most of the world cannot reach still leaves the answers.
//! Route 53 leans further the same way (an endpoint is healthy when more
//! than 18% of its checkers say so, i.e. down needs 82%); `all` or a
//! fraction such as `0.82` gives that behaviour, `any` the opposite (one
//! checker's failure suffices: fast, and fragile).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// How many of the live votes must say down for the endpoint to be down.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Quorum {
    /// More than half of the live votes (the default; see the module docs).
    #[default]
    Majority,
    /// At least one vote.
    Any,
    /// Every live vote.
    All,
    /// At least this share of the live votes, in (0, 1].
    Fraction(f64),
}

impl Quorum {
    /// The cluster verdict from `down` down-votes among `total` live votes:
    /// `Some(true)` for up, `Some(false)` for down, `None` when there is no
    /// vote at all (the caller falls back to its own verdict).
    pub fn verdict(self, down: usize, total: usize) -> Option<bool> {
        if total == 0 {
            return None;
        }
        let is_down = match self {
            Quorum::Majority => down * 2 > total,
            Quorum::Any => down >= 1,
            Quorum::All => down == total,
            // A small tolerance, so that 2/3 of 3 votes is exactly 2.
            Quorum::Fraction(f) => down as f64 >= (f * total as f64) - 1e-9,
        };
        Some(!is_down)
    }

    /// Parses the config's spelling; the error says what is accepted.
    pub(crate) fn parse_name(name: &str) -> Result<Quorum, String> {
        match name {
            "majority" => Ok(Quorum::Majority),
            "any" => Ok(Quorum::Any),
            "all" => Ok(Quorum::All),
            other => Err(format!(
                "unknown quorum {other:?}: expected \"majority\", \"any\", \"all\" or a fraction in (0, 1]"
            )),
        }
    }

    /// Checks a fraction is in (0, 1].
    pub fn fraction(f: f64) -> Result<Quorum, String> {
        if f > 0.0 && f <= 1.0 {
            Ok(Quorum::Fraction(f))
        } else {
            Err(format!("quorum fraction {f} is not in (0, 1]"))
        }
    }
}

impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quorum::Majority => f.write_str("majority"),
            Quorum::Any => f.write_str("any"),
            Quorum::All => f.write_str("all"),
            Quorum::Fraction(x) => write!(f, "{x}"),
        }
    }
}

impl<'de> Deserialize<'de> for Quorum {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quorum, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Fraction(f64),
            Integer(i64),
        }
        let parsed = match Raw::deserialize(deserializer)? {
            Raw::Name(name) => Quorum::parse_name(&name),
            Raw::Fraction(f) => Quorum::fraction(f),
            Raw::Integer(i) => Quorum::fraction(i as f64),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_needs_more_than_half_down() {
        let q = Quorum::Majority;
        assert_eq!(q.verdict(0, 0), None);
        assert_eq!(
            q.verdict(1, 3),
            Some(true),
            "one partitioned checker of three"
        );
        assert_eq!(q.verdict(2, 3), Some(false));
        assert_eq!(q.verdict(1, 2), Some(true), "a tie keeps it up");
        assert_eq!(q.verdict(1, 1), Some(false), "a lone checker decides");
    }

    #[test]
    fn any_all_and_fractions() {
        assert_eq!(Quorum::Any.verdict(1, 3), Some(false));
        assert_eq!(Quorum::Any.verdict(0, 3), Some(true));
        assert_eq!(Quorum::All.verdict(2, 3), Some(true));
        assert_eq!(Quorum::All.verdict(3, 3), Some(false));
        let two_thirds = Quorum::fraction(2.0 / 3.0).unwrap();
        assert_eq!(two_thirds.verdict(2, 3), Some(false));
        assert_eq!(two_thirds.verdict(1, 3), Some(true));
        // Route 53's rule: healthy while more than 18% say healthy.
        let route53 = Quorum::fraction(0.82).unwrap();
        assert_eq!(route53.verdict(4, 5), Some(true));
        assert_eq!(route53.verdict(5, 5), Some(false));
    }

    #[test]
    fn parses_names_and_fractions_and_rejects_the_rest() {
        #[derive(Deserialize)]
        struct T {
            q: Quorum,
        }
        let parse = |s: &str| toml::from_str::<T>(s).map(|t| t.q);
        assert_eq!(parse("q = \"majority\"").unwrap(), Quorum::Majority);
        assert_eq!(parse("q = \"all\"").unwrap(), Quorum::All);
        assert_eq!(parse("q = 0.5").unwrap(), Quorum::Fraction(0.5));
        assert_eq!(parse("q = 1").unwrap(), Quorum::Fraction(1.0));
        let err = parse("q = \"most\"").unwrap_err().to_string();
        assert!(err.contains("unknown quorum \"most\""), "{err}");
        let err = parse("q = 1.5").unwrap_err().to_string();
        assert!(err.contains("not in (0, 1]"), "{err}");
        assert!(parse("q = 0").is_err());
    }
}

#[cfg(test)]
mod config_tests {
    use std::path::Path;

    use crate::config::Config;

    const BASE: &str = "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"z\"\nstate_dir = \"s\"\n[health]\n";

    #[test]
    fn a_bad_quorum_names_file_line_and_field() {
        let path = Path::new("/etc/sy/switchyard.toml");
        let err = Config::parse(&format!("{BASE}quorum = \"most\"\n"), path).unwrap_err();
        assert_eq!(err.line, Some(8), "{err}");
        assert_eq!(err.field.as_deref(), Some("health.quorum"), "{err}");
        assert!(err.message.contains("unknown quorum"), "{err}");
        let config = Config::parse(
            &format!("{BASE}quorum = 0.82\nsource_address = \"127.0.0.2\"\n"),
            path,
        )
        .unwrap();
        assert_eq!(config.health.quorum, super::Quorum::Fraction(0.82));
        assert_eq!(
            config.health.source_address,
            Some("127.0.0.2".parse().unwrap())
        );
        let err =
            Config::parse(&format!("{BASE}source_address = \"nowhere\"\n"), path).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("health.source_address"), "{err}");
    }
}
