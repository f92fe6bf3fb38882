//! The drill tests' world, shared by `tests/drills.rs` and
//! `tests/paused_time.rs`: example.com, alice's token, three regions
//! (us-east, eu-west, ap-south) with documentation addresses, and a geo
//! service steering each vantage's continent to its own region.

use std::path::{Path, PathBuf};

use super::api::{ALICE, ZONE};
use super::{TestServer, zones_dir};

/// A European client subnet (GeoIP test data: GB).
pub const EU: &str = "81.2.69.0/24";
/// A North American client subnet (US).
pub const US: &str = "216.160.83.0/24";
/// An Asian client subnet (SG).
pub const AP: &str = "202.196.224.0/24";

/// The config tail: `[api]` with `tokens`, `[drills]` holding `drills`
/// (limits, probe interval, vantages, schedules), the geo networks, the
/// regions, `geo.example.com`, and `extra` appended.
fn tail(tokens: &Path, drills: &str, extra: &str) -> String {
    format!(
        r#"
[api]
tokens_file = {tokens:?}

[drills]
{drills}

[geo.networks]
"{EU}" = {{ country = "GB", continent = "EU" }}
"{US}" = {{ country = "US", continent = "NA" }}
"{AP}" = {{ country = "SG", continent = "AS" }}

[regions.us-east]
endpoints = [{{ address = "192.0.2.1" }}]
[regions.eu-west]
endpoints = [{{ address = "198.51.100.1" }}]
[regions.ap-south]
endpoints = [{{ address = "203.0.113.1" }}]

[services."geo.example.com"]
policy = "geo"
ttl = 30
[services."geo.example.com".geo]
default = ["us-east", "eu-west"]
continent = {{ EU = ["eu-west", "us-east"], NA = ["us-east", "eu-west"], AS = ["ap-south", "us-east"] }}

{extra}
"#,
        tokens = tokens.display().to_string()
    )
}

/// A config on disk (zones, tokens, state dir beside it).
pub struct DrillSetup {
    /// Holds the files for the test's life.
    pub dir: tempfile::TempDir,
    /// The config file.
    pub config: PathBuf,
}

impl DrillSetup {
    /// Writes the config with `drills` as the `[drills]` body and `extra`
    /// appended.
    pub fn new(drills: &str, extra: &str) -> DrillSetup {
        let dir = zones_dir(&[("example.com", ZONE)]);
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, format!("alice:{ALICE}\n")).unwrap();
        let config = TestServer::builder()
            .zones(dir.path())
            .state_dir(&dir.path().join("state"))
            .tail(&tail(&tokens, drills, extra))
            .config();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, config).unwrap();
        DrillSetup { dir, config: path }
    }

    /// The state dir.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }
}
