//! The strict EDNS Client Subnet parser (RFC 7871) on arbitrary packets:
//! never a panic, and what it accepts is canonical (no address bits past
//! the source prefix, prefix within the family's length).
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use switchyard::answer::read_client_subnet;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(subnet)) = read_client_subnet(data) {
        let (bits, max) = match subnet.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        };
        assert!(subnet.source_prefix <= max);
        let kept = u128::MAX
            .checked_shl(128 - u32::from(subnet.source_prefix))
            .unwrap_or(0);
        assert_eq!(bits & !kept, 0, "bits past the source prefix accepted");
    }
});
