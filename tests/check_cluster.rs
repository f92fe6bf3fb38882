//! `switchyard check` on the `[cluster]` table: the real binary against temp
//! configs. A bad table fails naming the file, the line and the field; a good
//! one (password file relative to the config, TLS files present) passes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CONFIG: &str = r#"version = 1
[server]
dns_listen = ["127.0.0.1:5300"]
api_listen = "127.0.0.1:8053"
zones_dir = "zones"
state_dir = "state"
[cluster]
"#;

const ZONE: &str = "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";

/// A temp dir with `switchyard.toml` (CONFIG + `cluster`), one zone, and `files`.
fn fixture(cluster: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, format!("{CONFIG}{cluster}")).unwrap();
    std::fs::create_dir(dir.path().join("zones")).unwrap();
    std::fs::write(dir.path().join("zones/example.com.zone"), ZONE).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    (dir, config)
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
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("check failed"), "{stderr}");
    stderr
}

#[test]
fn etcd_store_with_password_and_tls_files_passes() {
    let (_dir, config) = fixture(
        "store = \"etcd\"\nendpoints = [\"https://127.0.0.1:2379\", \"https://127.0.0.2:2379\"]\nprefix = \"/switchyard/prod/\"\ninstance = \"eu-west-1\"\nusername = \"switchyard\"\npassword_file = \"etcd.password\"\nca_file = \"ca.pem\"\ncert_file = \"client.pem\"\nkey_file = \"client.key\"\n",
        &[
            ("etcd.password", "s3cret\n"),
            ("ca.pem", "x"),
            ("client.pem", "x"),
            ("client.key", "x"),
        ],
    );
    let output = check(&config);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("ok"));
}

#[test]
fn etcd_store_without_endpoints_names_file_line_and_field() {
    let (_dir, config) = fixture("store = \"etcd\"\n", &[]);
    let stderr = failed(&check(&config));
    let expected = format!("{}:8: cluster.endpoints: ", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn bad_endpoint_names_its_index() {
    let (_dir, config) = fixture(
        "store = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\", \"127.0.0.1:2380\"]\n",
        &[],
    );
    let stderr = failed(&check(&config));
    let expected = format!("{}:9: cluster.endpoints[1]: ", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}

#[test]
fn missing_password_file_names_the_resolved_path() {
    let (dir, config) = fixture(
        "store = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\nusername = \"root\"\npassword_file = \"nope\"\n",
        &[],
    );
    let stderr = failed(&check(&config));
    let expected = format!(
        "{}:11: cluster.password_file: cannot read ",
        config.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains(&dir.path().join("nope").display().to_string()),
        "{stderr}"
    );
}

#[test]
fn cert_without_key_is_rejected() {
    let (_dir, config) = fixture(
        "store = \"etcd\"\nendpoints = [\"https://127.0.0.1:2379\"]\ncert_file = \"client.pem\"\n",
        &[("client.pem", "x")],
    );
    let stderr = failed(&check(&config));
    let expected = format!("{}:10: cluster.cert_file: ", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("key_file"), "{stderr}");
}

#[test]
fn unknown_cluster_key_is_an_error() {
    let (_dir, config) = fixture(
        "store = \"local\"\nendpoint = \"http://127.0.0.1:2379\"\n",
        &[],
    );
    let stderr = failed(&check(&config));
    let expected = format!("{}:9: cluster.endpoint: ", config.display());
    assert!(stderr.contains(&expected), "{stderr}");
}
