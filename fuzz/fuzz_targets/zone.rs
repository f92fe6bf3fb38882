//! Zone file loading (our entry splitter around hickory's parser, then
//! validation) on arbitrary text: errors or a zone, never a panic. The text
//! goes through a file because loading starts from one.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;
use switchyard::zone::Zone;

fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("switchyard-fuzz-zone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("example.com.zone")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("write zone");
    let origin = Name::from_ascii("example.com.").unwrap();
    if let Err(errors) = Zone::load(path, &origin) {
        assert!(!errors.is_empty());
    }
});
