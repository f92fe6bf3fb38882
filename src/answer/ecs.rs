//! EDNS Client Subnet (RFC 7871): validating the option strictly, as sent.
//!
//! hickory-proto decodes ECS but accepts address bits beyond the source
//! prefix and trailing bytes, both of which RFC 7871 §7.1.1 says to answer
//! with FORMERR. So the query reader (`query.rs`, which walks the query's
//! records once for every path) hands each ECS option's bytes to
//! [`parse_option`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A valid ECS option from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// The client network's address (bits beyond `source_prefix` are zero).
    pub addr: IpAddr,
    /// How many leading bits of `addr` the resolver sent.
    pub source_prefix: u8,
}

/// Why an ECS option was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Validates one ECS option value (RFC 7871 §6, §7.1.1).
pub(crate) fn parse_option(value: &[u8]) -> Result<ClientSubnet, Malformed> {
    let [f0, f1, source_prefix, _scope, address @ ..] = value else {
        return Err(Malformed);
    };
    let family = u16::from_be_bytes([*f0, *f1]);
    let max_bits = match family {
        1 => 32,
        2 => 128,
        _ => return Err(Malformed),
    };
    let source_prefix = *source_prefix;
    if source_prefix > max_bits || address.len() != (source_prefix as usize).div_ceil(8) {
        return Err(Malformed);
    }
    // Bits past the prefix in the last octet must be zero.
    if source_prefix % 8 != 0 {
        let last = address[address.len() - 1];
        if last & (0xff >> (source_prefix % 8)) != 0 {
            return Err(Malformed);
        }
    }
    let addr = if family == 1 {
        let mut octets = [0u8; 4];
        octets[..address.len()].copy_from_slice(address);
        IpAddr::V4(Ipv4Addr::from(octets))
    } else {
        let mut octets = [0u8; 16];
        octets[..address.len()].copy_from_slice(address);
        IpAddr::V6(Ipv6Addr::from(octets))
    };
    Ok(ClientSubnet {
        addr,
        source_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_options_parse() {
        let ecs = parse_option(&[0, 1, 24, 0, 81, 2, 69]).unwrap();
        assert_eq!(ecs.addr, "81.2.69.0".parse::<IpAddr>().unwrap());
        assert_eq!(ecs.source_prefix, 24);
        let ecs = parse_option(&[0, 2, 0, 0]).unwrap();
        assert_eq!(ecs.source_prefix, 0);
    }

    #[test]
    fn malformed_options_are_rejected() {
        // bits set beyond a /23 prefix
        assert_eq!(parse_option(&[0, 1, 23, 0, 81, 2, 69]), Err(Malformed));
        // address longer than the prefix needs
        assert_eq!(parse_option(&[0, 1, 16, 0, 81, 2, 69]), Err(Malformed));
        // prefix longer than the family allows
        assert_eq!(parse_option(&[0, 1, 33, 0, 1, 2, 3, 4, 5]), Err(Malformed));
        // unknown family, and too short
        assert_eq!(parse_option(&[0, 3, 0, 0]), Err(Malformed));
        assert_eq!(parse_option(&[0, 1, 0]), Err(Malformed));
    }
}
