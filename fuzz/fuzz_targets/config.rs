//! Config parsing and validation on arbitrary text: an error or a config,
//! never a panic; errors name the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use switchyard::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/switchyard.toml");
    if let Err(e) = Config::parse(text, path) {
        assert!(e.to_string().starts_with("/fuzz/switchyard.toml"), "{e}");
    }
});
