//! `switchyard check` catches what real geo configs get wrong, each error
//! or warning naming the file, the line of the offending value and the
//! field: codes that are not ISO 3166 or continents, CIDR keys with host
//! bits, the same network twice, misspelt database fields, continent rules
//! with a database that has no continent data, weighted services whose
//! regions all weigh 0, values inside a service (a /33, `bias_km`,
//! `max_answers`, coordinates for `nearest`) and a missing database file.

mod geo_support;

use std::path::PathBuf;
use std::process::{Command, Output};

use geo_support::{Row, write_flat, write_nested};
use mmdb_writer::IpVersion;

const HEAD: &str = r#"version = 1
[server]
dns_listen = ["127.0.0.1:0"]
api_listen = "127.0.0.1:0"
zones_dir = "zones"
state_dir = "state"

[regions.a]
coordinates = [51.5, -0.1]
endpoints = [{ address = "192.0.2.1" }]
[regions.b]
coordinates = [40.7, -74.0]
endpoints = [{ address = "192.0.2.2" }]
[regions.c]
endpoints = [{ address = "192.0.2.3" }]
"#;

const ZONE: &str = "$TTL 300\n@ SOA ns1 host 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n";

struct Fixture {
    dir: tempfile::TempDir,
    text: String,
}

impl Fixture {
    /// A config of [`HEAD`] plus `tail`, with the zone and the databases
    /// `flat.mmdb` (no continent) and `nested.mmdb` (GeoLite2 layout).
    fn new(tail: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        std::fs::write(dir.path().join("zones/example.com.zone"), ZONE).unwrap();
        write_flat(
            &dir.path().join("flat.mmdb"),
            IpVersion::V4,
            &[("198.51.100.0/24", "DE", 52.5, 13.4)],
        );
        write_nested(
            &dir.path().join("nested.mmdb"),
            &[Row {
                net: "198.51.100.0/24".into(),
                country: Some("DE".into()),
                continent: Some("EU".into()),
                coordinates: Some((52.5, 13.4)),
                ..Row::default()
            }],
        );
        let text = format!("{HEAD}{tail}");
        std::fs::write(dir.path().join("switchyard.toml"), &text).unwrap();
        Fixture { dir, text }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("switchyard.toml")
    }

    fn check(&self) -> Output {
        Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["check", "--config"])
            .arg(self.config())
            .output()
            .expect("run switchyard check")
    }

    /// The 1-based line of the first line containing `needle` (after the head).
    fn line(&self, needle: &str) -> usize {
        let head_lines = HEAD.lines().count();
        self.text
            .lines()
            .enumerate()
            .skip(head_lines)
            .find(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .unwrap_or_else(|| panic!("{needle:?} not in the config"))
    }

    /// `<file>:<line of needle>: <field>: ` as check prints it.
    fn at(&self, needle: &str, field: &str) -> String {
        format!(
            "{}:{}: {field}: ",
            self.config().display(),
            self.line(needle)
        )
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts `check` failed with a line starting `at` and containing `words`.
fn fails_with(fx: &Fixture, at: &str, words: &str) {
    let output = fx.check();
    let err = stderr(&output);
    assert!(!output.status.success(), "check passed:\n{}", fx.text);
    let line = err
        .lines()
        .find(|l| l.starts_with(at))
        .unwrap_or_else(|| panic!("no line starting {at:?} in:\n{err}"));
    assert!(line.contains(words), "{line}");
}

/// Asserts `check` passed and warned with a line `warning: <at>...words`.
fn warns_with(fx: &Fixture, at: &str, words: &str) {
    let output = fx.check();
    let err = stderr(&output);
    assert!(output.status.success(), "check failed:\n{err}");
    let prefix = format!("warning: {at}");
    let line = err
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{err}"));
    assert!(line.contains(words), "{line}");
}

fn geo_service(rules: &str) -> String {
    format!(
        "[services.\"g.example.com\"]\npolicy = \"geo\"\n[services.\"g.example.com\".geo]\ndefault = [\"a\"]\n{rules}\n"
    )
}

const SERVICE: &str = "services.\"g.example.com\"";

#[test]
fn country_and_continent_codes_must_exist() {
    let fx = Fixture::new(&geo_service("country.UK = [\"a\"]\ncontinent.XX = [\"b\"]"));
    fails_with(
        &fx,
        &fx.at("country.UK", &format!("{SERVICE}.geo.country.UK")),
        "\"UK\" is not an ISO 3166-1 country code (the United Kingdom is GB)",
    );
    fails_with(
        &fx,
        &fx.at("continent.XX", &format!("{SERVICE}.geo.continent.XX")),
        "\"XX\" is not a continent code",
    );
    let fx = Fixture::new("[geo.networks]\n\"198.51.100.0/24\" = { country = \"UK\" }\n");
    fails_with(
        &fx,
        &fx.at("UK", "geo.networks.\"198.51.100.0/24\".country"),
        "not an ISO 3166-1 country code",
    );
}

#[test]
fn cidr_keys_with_host_bits_or_twice_or_too_long_are_errors() {
    let fx = Fixture::new(&geo_service(
        "[services.\"g.example.com\".geo.cidr]\n\"10.1.2.3/8\" = [\"a\"]\n\"2001:db8::/32\" = [\"b\"]\n\"2001:0db8::/32\" = [\"c\"]\n\"10.0.0.0/33\" = [\"c\"]",
    ));
    fails_with(
        &fx,
        &fx.at("10.1.2.3/8", &format!("{SERVICE}.geo.cidr.\"10.1.2.3/8\"")),
        "has host bits set past the prefix (did you mean 10.0.0.0/8?)",
    );
    // BTreeMap order: "2001:0db8::/32" sorts first, so the other is the repeat.
    fails_with(
        &fx,
        &fx.at(
            "\"2001:db8::/32\"",
            &format!("{SERVICE}.geo.cidr.\"2001:db8::/32\""),
        ),
        "2001:db8::/32 has a rule already",
    );
    fails_with(
        &fx,
        &fx.at(
            "10.0.0.0/33",
            &format!("{SERVICE}.geo.cidr.\"10.0.0.0/33\""),
        ),
        "is not a network",
    );
    let fx = Fixture::new(
        "[geo.networks]\n\"10.0.0.0/8\" = { country = \"US\" }\n\"10.0.0.0/08\" = { country = \"GB\" }\n\"10.1.0.1/16\" = { country = \"GB\" }\n",
    );
    fails_with(
        &fx,
        &fx.at("10.1.0.1/16", "geo.networks.\"10.1.0.1/16\""),
        "did you mean 10.1.0.0/16?",
    );
    let output = fx.check();
    assert!(
        stderr(&output).contains("10.0.0.0/8 is listed twice"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn values_inside_a_service_are_located_on_their_own_line() {
    let fx = Fixture::new(
        r#"[services."n.example.com"]
policy = "nearest"
regions = ["a",
  "c"]
bias_km = { a = 100.0,
  z = 5.0 }

[services."m.example.com"]
policy = "multivalue"
regions = ["a"]
max_answers = 0
"#,
    );
    fails_with(
        &fx,
        &fx.at("  \"c\"]", "services.\"n.example.com\".regions[1]"),
        "policy nearest needs coordinates on region c",
    );
    fails_with(
        &fx,
        &fx.at("z = 5.0", "services.\"n.example.com\".bias_km.z"),
        "\"z\" is not one of this service's regions",
    );
    fails_with(
        &fx,
        &fx.at("max_answers", "services.\"m.example.com\".max_answers"),
        "must be between 1 and 16",
    );
}

#[test]
fn a_weighted_service_whose_regions_all_weigh_zero_is_an_error() {
    let fx = Fixture::new(
        "[regions.z1]\nweight = 0\nendpoints = [{ address = \"192.0.2.9\" }]\n[regions.z2]\nweight = 0\nendpoints = [{ address = \"192.0.2.10\" }]\n[services.\"w.example.com\"]\npolicy = \"weighted\"\nregions = [\"z1\", \"z2\"]\n",
    );
    fails_with(
        &fx,
        &fx.at("regions = [\"z1\"", "services.\"w.example.com\".regions"),
        "every region of this weighted service has weight 0",
    );
}

#[test]
fn a_missing_database_file_names_its_line() {
    let fx = Fixture::new("[geo]\ndatabase = [\"flat.mmdb\", \"missing.mmdb\"]\n");
    fails_with(
        &fx,
        &fx.at("missing.mmdb", "geo.database[1]"),
        "cannot open",
    );
}

#[test]
fn a_field_that_cannot_be_read_is_an_error() {
    // The latitude path names a string; the country path names a map.
    let fx = Fixture::new(
        "[geo]\ndatabase = \"nested.mmdb\"\nlatitude_field = \"country.iso_code\"\ncountry_field = \"country\"\n",
    );
    fails_with(
        &fx,
        &fx.at("latitude_field", "geo.latitude_field"),
        "\"country.iso_code\" in",
    );
    fails_with(
        &fx,
        &fx.at("country_field", "geo.country_field"),
        "cannot be read as a two-letter code",
    );
}

#[test]
fn a_misspelt_field_and_continent_rules_without_continent_data_are_warnings() {
    let fx = Fixture::new(&format!(
        "[geo]\ndatabase = \"nested.mmdb\"\ncountry_field = \"country.isocode\"\n{}",
        geo_service("country.DE = [\"b\"]")
    ));
    warns_with(
        &fx,
        &fx.at("country_field", "geo.country_field"),
        "has \"country.isocode\": country rules will never match",
    );
    // The flat file has no continent at all.
    let fx = Fixture::new(&format!(
        "[geo]\ndatabase = \"flat.mmdb\"\ncountry_field = \"country_code\"\n{}",
        geo_service("continent.EU = [\"b\"]")
    ));
    warns_with(
        &fx,
        &fx.at("continent.EU", &format!("{SERVICE}.geo.continent.EU")),
        "continent rules will never match",
    );
    // The GeoLite2 layout has it: no warning.
    let fx = Fixture::new(&format!(
        "[geo]\ndatabase = \"nested.mmdb\"\n{}",
        geo_service("continent.EU = [\"b\"]\ncountry.DE = [\"a\"]")
    ));
    let output = fx.check();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
}
