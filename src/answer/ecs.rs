//! EDNS Client Subnet (RFC 7871): reading the option strictly from the raw
//! query, and the scope rule for the echoed option.
//!
//! hickory-proto decodes ECS but accepts address bits beyond the source
//! prefix and trailing bytes, both of which RFC 7871 §7.1.1 says to answer
//! with FORMERR. So we walk the query's records ourselves (with hickory's
//! decoder for names) and check the option's bytes as sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// The EDNS option code of Client Subnet.
const ECS_CODE: u16 = 8;
/// The OPT pseudo-record type.
const OPT_TYPE: u16 = 41;

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

/// Finds and validates the ECS option of a query that hickory already
/// decoded successfully. `Ok(None)` when there is none.
pub fn read_client_subnet(packet: &[u8]) -> Result<Option<ClientSubnet>, Malformed> {
    let mut decoder = BinDecoder::new(packet);
    let u16_at =
        |d: &mut BinDecoder<'_>| d.read_u16().map(|v| v.unverified()).map_err(|_| Malformed);
    let mut counts = [0u16; 4];
    decoder.read_slice(4).map_err(|_| Malformed)?;
    for count in &mut counts {
        *count = u16_at(&mut decoder)?;
    }
    for _ in 0..counts[0] {
        Name::read(&mut decoder).map_err(|_| Malformed)?;
        decoder.read_slice(4).map_err(|_| Malformed)?;
    }
    let records = counts[1] as usize + counts[2] as usize + counts[3] as usize;
    let mut found = None;
    for _ in 0..records {
        Name::read(&mut decoder).map_err(|_| Malformed)?;
        let rtype = u16_at(&mut decoder)?;
        decoder.read_slice(6).map_err(|_| Malformed)?;
        let len = u16_at(&mut decoder)? as usize;
        let rdata = decoder.read_slice(len).map_err(|_| Malformed)?.unverified();
        if rtype == OPT_TYPE {
            found = options(rdata)?;
        }
    }
    Ok(found)
}

/// The ECS option among an OPT record's options; at most one is allowed.
fn options(mut rdata: &[u8]) -> Result<Option<ClientSubnet>, Malformed> {
    let mut found = None;
    while !rdata.is_empty() {
        let [c0, c1, l0, l1, rest @ ..] = rdata else {
            return Err(Malformed);
        };
        let (code, len) = (
            u16::from_be_bytes([*c0, *c1]),
            u16::from_be_bytes([*l0, *l1]) as usize,
        );
        let (value, rest) = rest.split_at_checked(len).ok_or(Malformed)?;
        if code == ECS_CODE {
            if found.is_some() {
                return Err(Malformed);
            }
            found = Some(parse_option(value)?);
        }
        rdata = rest;
    }
    Ok(found)
}

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
        // two ECS options in one OPT
        let one = [0, 8, 0, 4, 0, 1, 0, 0];
        assert_eq!(options(&[one, one].concat()), Err(Malformed));
    }
}
