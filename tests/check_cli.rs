//! `switchyard check`: the real binary against temp configs and zones. A bad
//! input fails with an error naming the file, the line and the field; the
//! repository's own config and zones pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONFIG: &str = r#"version = 1
[server]
dns_listen = ["127.0.0.1:5300"]
api_listen = "127.0.0.1:8053"
zones_dir = "zones"
state_dir = "state"
"#;

/// Lines 1-5 of every test zone; line 6 onwards is the test's own.
const HEAD: &str = "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";

/// A temp dir holding `switchyard.toml` (`config`) and `zones/` (`zones`).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(config: &str, zones: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("switchyard.toml"), config).unwrap();
        std::fs::create_dir(dir.path().join("zones")).unwrap();
        for (file, text) in zones {
            std::fs::write(dir.path().join("zones").join(file), text).unwrap();
        }
        Fixture { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("switchyard.toml")
    }

    fn zone(&self, file: &str) -> String {
        self.dir
            .path()
            .join("zones")
            .join(file)
            .display()
            .to_string()
    }

    fn check(&self) -> Output {
        check(&self.config())
    }
}

fn check(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("run switchyard check")
}

/// Asserts `check` failed and returns its stderr.
fn failed(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "check should fail; stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("check failed"), "{stderr}");
    stderr
}

/// Asserts `check` succeeded with an "ok" line.
fn passed(output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("ok"), "{stdout}");
}

fn zone_with(line6: &str) -> String {
    format!("{HEAD}{line6}\n")
}

#[test]
fn typo_in_record_type_names_file_line_and_type() {
    let fx = Fixture::new(
        CONFIG,
        &[("example.com.zone", &zone_with("www IN AA 192.0.2.80"))],
    );
    let stderr = failed(&fx.check());
    let prefix = format!("{}:6: ", fx.zone("example.com.zone"));
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {stderr}"));
    assert!(line.contains("AA"), "{line}");
}

#[test]
fn record_outside_its_zone_names_file_line_and_owner() {
    let fx = Fixture::new(
        CONFIG,
        &[(
            "example.com.zone",
            &zone_with("www.example.org. A 192.0.2.80"),
        )],
    );
    let stderr = failed(&fx.check());
    let expected = format!(
        "{}:6: record www.example.org. A is outside the zone example.com.",
        fx.zone("example.com.zone")
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn cname_beside_other_data_names_file_lines_and_types() {
    let fx = Fixture::new(
        CONFIG,
        &[(
            "example.com.zone",
            &format!("{HEAD}www CNAME ns1\nwww TXT \"x\"\n"),
        )],
    );
    let stderr = failed(&fx.check());
    let expected = format!(
        "{}:6: CNAME at www.example.com. beside other data: TXT (line 7)",
        fx.zone("example.com.zone")
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn missing_soa_names_file_and_apex() {
    let zone = "$TTL 3600\n@ NS ns1\nns1 A 192.0.2.53\n";
    let fx = Fixture::new(CONFIG, &[("example.com.zone", zone)]);
    let stderr = failed(&fx.check());
    let expected = format!(
        "{}: missing SOA record at the zone apex example.com.",
        fx.zone("example.com.zone")
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn every_zone_error_is_reported_in_one_run() {
    let fx = Fixture::new(
        CONFIG,
        &[(
            "example.com.zone",
            &format!("{HEAD}a IN AA 192.0.2.1\nb A 192.0.2.2\nc MXX 10 b\n"),
        )],
    );
    let stderr = failed(&fx.check());
    let zone = fx.zone("example.com.zone");
    assert!(stderr.contains(&format!("{zone}:6: ")), "{stderr}");
    assert!(stderr.contains(&format!("{zone}:8: ")), "{stderr}");
    assert!(!stderr.contains(&format!("{zone}:7: ")), "{stderr}");
}

#[test]
fn unknown_config_key_names_file_line_and_field() {
    let config = CONFIG.replace("state_dir", "stat_dir");
    let fx = Fixture::new(
        &config,
        &[("example.com.zone", &zone_with("www A 192.0.2.80"))],
    );
    let stderr = failed(&fx.check());
    let expected = format!("{}:6: server.stat_dir: ", fx.config().display());
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("no {expected:?} in {stderr}"));
    assert!(line.contains("unknown field"), "{line}");
}

#[test]
fn unparsable_listen_address_names_file_line_and_field() {
    let config = CONFIG.replace("127.0.0.1:5300", "127.0.0.1:99999");
    let fx = Fixture::new(
        &config,
        &[("example.com.zone", &zone_with("www A 192.0.2.80"))],
    );
    let stderr = failed(&fx.check());
    let expected = format!("{}:3: server.dns_listen[0]: ", fx.config().display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn missing_config_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let stderr = failed(&check(&path));
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn repo_config_passes() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/switchyard.toml");
    let output = check(&config);
    passed(&output);
    // Only the warnings the example config earns: the shipped example token
    // and open reads.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("example token"), "{stderr}");
    assert!(
        stderr.lines().all(
            |l| l.starts_with("WARNING: the API accepts the example token")
                || l.starts_with("note: [api] protect_reads = false")
        ),
        "{stderr}"
    );
}

#[test]
fn every_repo_fixture_passes_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut configs = 0;
    for entry in std::fs::read_dir(root.join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            passed(&check(&path));
            configs += 1;
        }
    }
    assert!(configs > 0, "no configs in config/");
    // Each zone on its own, so one bad file cannot hide behind another.
    let mut zones = 0;
    for entry in std::fs::read_dir(root.join("zones")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(name.ends_with(".zone"), "stray file in zones/: {name}");
        let fx = Fixture::new(CONFIG, &[(&name, &text)]);
        let output = fx.check();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        zones += 1;
    }
    assert!(zones > 0, "no zones in zones/");
}

#[test]
fn health_check_mistakes_name_file_line_and_field() {
    let config = format!(
        "{CONFIG}[checks.web]\nkind = \"http\"\ninterval_ms = 200\ntimeout_ms = 300\n[regions.r]\ncheck = \"webb\"\nendpoints = [{{ address = \"192.0.2.1\" }}]\n"
    );
    let fx = Fixture::new(
        &config,
        &[("example.com.zone", &zone_with("www A 192.0.2.80"))],
    );
    let stderr = failed(&fx.check());
    let file = fx.config().display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:10: checks.web.timeout_ms: must be at least 1 and below interval_ms (200)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:12: regions.r.check: unknown check \"webb\" (defined: web)"
        )),
        "{stderr}"
    );
}
