//! NSID (RFC 5001): which server answered, for operators debugging an
//! anycast or multi-instance deployment.
//!
//! The option is encoded once per snapshot; answering appends those bytes
//! to the OPT record when the query carried an empty NSID option.

use std::sync::Arc;

/// EDNS option code of NSID.
pub(crate) const NSID_CODE: u16 = 3;

/// The host name, for the default NSID (empty when it cannot be read).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The NSID option as it goes on the wire (code, length, value); empty
/// (never sent) for `None` or `""`.
pub fn encode(nsid: Option<&str>) -> Arc<[u8]> {
    let value = nsid.unwrap_or("").as_bytes();
    // Config validation caps the length far below an option's 65535.
    if value.is_empty() || value.len() > u16::MAX as usize - 4 {
        return Arc::from(&[][..]);
    }
    let mut option = Vec::with_capacity(4 + value.len());
    option.extend_from_slice(&NSID_CODE.to_be_bytes());
    option.extend_from_slice(&(value.len() as u16).to_be_bytes());
    option.extend_from_slice(value);
    option.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_code_length_value_and_disables_on_empty() {
        assert_eq!(&encode(Some("ns1"))[..], &[0, 3, 0, 3, b'n', b's', b'1']);
        assert!(encode(Some("")).is_empty());
        assert!(encode(None).is_empty());
    }
}
