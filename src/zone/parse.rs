//! Reads an RFC 1035 master file into records that remember their line.
//!
//! hickory-proto's zone parser does the record syntax but reports errors
//! without a position. We split the file into logical entries ourselves
//! (following parentheses, quotes and comments), track `$ORIGIN`, `$TTL` and
//! the previous owner, and hand hickory one entry at a time, so every error
//! and every record carries the line its entry starts on.

use hickory_proto::rr::{Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

use super::store::{MAX_NAME_LEN, decode_rdata, name_from_wire, wire_lower, wire_lower_into};

/// A record together with the line of the zone file it came from.
#[derive(Debug, Clone)]
pub struct LocatedRecord {
    /// The parsed record (owner is absolute).
    pub record: Record,
    /// 1-based line its entry starts on.
    pub line: usize,
}

/// A syntax error at a line of a zone file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line of the entry that failed.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One logical entry: text that may span lines inside parentheses.
struct Entry<'a> {
    text: &'a str,
    line: usize,
}

/// Splits master-file text into logical entries, skipping blank and
/// comment-only lines, and hands each to `each` as it is found (a list of
/// a million entries would be 24 MB more at a reload's peak).
fn entries<'a>(text: &'a str, mut each: impl FnMut(Entry<'a>)) -> Result<(), SyntaxError> {
    let bytes = text.as_bytes();
    let (mut start, mut start_line, mut line) = (0, 1, 1);
    let (mut depth, mut in_quote, mut in_comment, mut escaped) = (0u32, false, false, false);
    let mut i = 0;
    while i <= bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(b'\n');
        let at_end = i == bytes.len();
        if b == b'\n' {
            in_comment = false;
            if (depth == 0 && !in_quote) || at_end {
                if in_quote || depth > 0 {
                    let what = if in_quote { "quote" } else { "parenthesis" };
                    return Err(SyntaxError {
                        line: start_line,
                        message: format!("unclosed {what} in entry"),
                    });
                }
                let entry = &text[start..i.min(text.len())];
                if !is_blank(entry) {
                    each(Entry {
                        text: entry,
                        line: start_line,
                    });
                }
                start = i + 1;
                start_line = line + 1;
            }
            line += 1;
        } else if in_comment {
        } else if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quote = !in_quote;
        } else if in_quote {
        } else if b == b';' {
            in_comment = true;
        } else if b == b'(' {
            depth += 1;
        } else if b == b')' {
            if depth == 0 {
                return Err(SyntaxError {
                    line,
                    message: "unbalanced ')'".into(),
                });
            }
            depth -= 1;
        }
        i += 1;
    }
    Ok(())
}

/// True when an entry holds nothing but whitespace and comments.
fn is_blank(entry: &str) -> bool {
    let content = entry.split(';').next().unwrap_or("");
    content.trim().is_empty()
}

/// One record as the parser leaves it: wire-form pieces in [`Parsed`]'s
/// arenas, so a million records cost a few flat arrays, not a million
/// hickory `Record`s.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord {
    /// Offset of the owner (lower-cased wire form) in [`Parsed::names`].
    pub owner: u32,
    /// Its length.
    pub owner_len: u8,
    /// Type code.
    pub rtype: u16,
    /// TTL as written or inherited.
    pub ttl: u32,
    /// Offset of the RDATA (wire form, names uncompressed) in [`Parsed::rdata`].
    pub rdata: u32,
    /// Its length.
    pub rdata_len: u16,
    /// 1-based line its entry starts on.
    pub line: u32,
}

/// A parsed master file: every record, in wire form.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Owner names back to back (a run of records with one owner shares it).
    pub names: Vec<u8>,
    /// The records in file order.
    pub records: Vec<RawRecord>,
    /// RDATA back to back.
    pub rdata: Vec<u8>,
    /// Where the last owner pushed starts (for sharing).
    last_owner: Option<(u32, u8)>,
}

impl Parsed {
    /// Adds a record; `owner` is lower-cased wire form.
    pub(crate) fn push(&mut self, owner: &[u8], rtype: u16, ttl: u32, rdata: &[u8], line: usize) {
        let (owner_at, owner_len) = match self.last_owner {
            Some((at, len)) if self.names[at as usize..at as usize + len as usize] == *owner => {
                (at, len)
            }
            _ => {
                let at = self.names.len() as u32;
                self.names.extend_from_slice(owner);
                self.last_owner = Some((at, owner.len() as u8));
                (at, owner.len() as u8)
            }
        };
        let rdata_at = self.rdata.len() as u32;
        self.rdata.extend_from_slice(rdata);
        self.records.push(RawRecord {
            owner: owner_at,
            owner_len,
            rtype,
            ttl,
            rdata: rdata_at,
            rdata_len: rdata.len() as u16,
            line: line as u32,
        });
    }

    /// Adds a hickory record (lower-casing its owner); `Err` when its
    /// RDATA cannot be encoded.
    pub(crate) fn push_record(&mut self, record: &Record, line: usize) -> Result<(), String> {
        let mut owner = [0u8; MAX_NAME_LEN];
        let owner_len = wire_lower_into(&record.name, &mut owner);
        let mut rdata = Vec::new();
        {
            let mut encoder = BinEncoder::new(&mut rdata);
            encoder.set_name_encoding(NameEncoding::Uncompressed);
            record
                .data
                .emit(&mut encoder)
                .map_err(|e| format!("cannot encode {} record: {e}", record.record_type()))?;
        }
        if rdata.len() > u16::MAX as usize {
            return Err(format!("{} record too long", record.record_type()));
        }
        self.push(
            &owner[..owner_len],
            u16::from(record.record_type()),
            record.ttl,
            &rdata,
            line,
        );
        Ok(())
    }

    /// Bytes held on the heap (for `zone::memory`).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.names.capacity()
            + self.records.capacity() * size_of::<RawRecord>()
            + self.rdata.capacity()
    }

    /// The owner of `record`.
    pub(crate) fn owner(&self, record: &RawRecord) -> &[u8] {
        &self.names[record.owner as usize..record.owner as usize + record.owner_len as usize]
    }

    /// The RDATA of `record`.
    pub(crate) fn rdata_of(&self, record: &RawRecord) -> &[u8] {
        &self.rdata[record.rdata as usize..record.rdata as usize + record.rdata_len as usize]
    }
}

/// Parses a whole master file whose default origin is `origin`, into
/// hickory records (decoded from the compact form; for tools and tests).
///
/// Returns every record, or every syntax error found (parsing continues past
/// a bad entry so one run of `check` reports them all).
pub fn parse_zone_text(text: &str, origin: &Name) -> Result<Vec<LocatedRecord>, Vec<SyntaxError>> {
    let parsed = parse_compact(text, origin)?;
    Ok(parsed
        .records
        .iter()
        .filter_map(|raw| {
            let rtype = RecordType::from(raw.rtype);
            let data = decode_rdata(rtype, parsed.rdata_of(raw))?;
            Some(LocatedRecord {
                record: Record::from_rdata(name_from_wire(parsed.owner(raw)), raw.ttl, data),
                line: raw.line as usize,
            })
        })
        .collect())
}

/// Parses a whole master file into wire form.
///
/// The common record types written plainly (A, AAAA, NS, CNAME, PTR, MX,
/// TXT with simple names and strings) are encoded here directly; any other
/// entry (other types, escapes, parentheses, classes other than IN, and
/// anything that fails) goes through hickory's parser on its own, which
/// also words the errors. `tests` compare the two on every entry form.
pub(crate) fn parse_compact(text: &str, origin: &Name) -> Result<Parsed, Vec<SyntaxError>> {
    let mut origin = origin.clone();
    let mut origin_lower = wire_lower(&origin);
    let mut origin_cased = wire_cased(&origin);
    let mut default_ttl: Option<u32> = None;
    let mut last_ttl: Option<u32> = None;
    let mut last_owner: Option<Vec<u8>> = None;
    let mut out = Parsed::default();
    let mut errors = Vec::new();
    // About one record per line; sized up front (doubling would hold up
    // to twice the memory at a reload's peak).
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    out.records.reserve_exact(lines);
    out.names.reserve(text.len() / 2);
    out.rdata.reserve(lines * 6);
    let mut tokens: Vec<(&str, bool)> = Vec::with_capacity(16);
    let mut rdata: Vec<u8> = Vec::with_capacity(512);
    let split = entries(text, |entry| {
        let fail = |message: String| SyntaxError {
            line: entry.line,
            message,
        };
        let trimmed = entry.text.trim_start();
        let first = trimmed.split_whitespace().next().unwrap_or("");
        if first.starts_with('$') {
            match first.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let arg = directive_arg(trimmed);
                    match Name::parse(arg, Some(&origin)) {
                        Ok(name) if !arg.is_empty() => {
                            origin = name;
                            origin_lower = wire_lower(&origin);
                            origin_cased = wire_cased(&origin);
                        }
                        _ => errors.push(fail(format!("$ORIGIN: invalid name {arg:?}"))),
                    }
                }
                "$TTL" => {
                    let arg = directive_arg(trimmed);
                    match parse_ttl(arg) {
                        Ok(ttl) if !arg.is_empty() => default_ttl = Some(ttl),
                        _ => errors.push(fail(format!("$TTL: invalid time value {arg:?}"))),
                    }
                }
                "$INCLUDE" => errors.push(fail(
                    "$INCLUDE is not supported: put each zone in one file".into(),
                )),
                _ => errors.push(fail(format!("unknown directive {first}"))),
            }
            return;
        }
        // The owner: inherited, the origin, or a name relative to it.
        let inherits_owner = entry.text.starts_with([' ', '\t']);
        let rest = if inherits_owner {
            if last_owner.is_none() {
                errors.push(fail(
                    "record has no owner name and no previous owner".into(),
                ));
                return;
            }
            entry.text
        } else {
            let mut wire = Vec::with_capacity(first.len() + origin_lower.len() + 2);
            let parsed = if first == "@" {
                wire.extend_from_slice(&origin_lower);
                Ok(())
            } else if simple_name(first.as_bytes(), &origin_lower, &mut wire) {
                Ok(())
            } else {
                Name::parse(first, Some(&origin)).map(|name| {
                    wire.clear();
                    wire.extend_from_slice(&wire_lower(&name));
                })
            };
            if let Err(e) = parsed {
                errors.push(fail(format!("invalid owner name {first:?}: {e}")));
                return;
            }
            last_owner = Some(wire);
            &trimmed[first.len()..]
        };
        let Some(owner) = last_owner.as_deref() else {
            return;
        };
        // The common forms, encoded here; everything else through hickory.
        rdata.clear();
        if let Some((rtype, ttl, explicit)) = fast_entry(
            rest,
            &origin_cased,
            default_ttl,
            last_ttl,
            &mut tokens,
            &mut rdata,
        ) {
            if explicit {
                last_ttl = Some(ttl);
            }
            out.push(owner, rtype, ttl, &rdata, entry.line);
            return;
        }
        let owner_name = name_from_wire(owner);
        let ttl = default_ttl.or(last_ttl);
        let mut single = format!("$ORIGIN {origin}\n");
        if let Some(ttl) = ttl {
            single.push_str(&format!("$TTL {ttl}\n"));
        }
        single.push_str(&owner_name.to_string());
        // The owner token was consumed; keep the separator hickory needs.
        if inherits_owner {
            single.push_str(rest);
        } else {
            single.push(' ');
            single.push_str(rest);
        }
        single.push('\n');
        match Parser::new(single, None, Some(origin.clone())).parse() {
            Ok((_, sets)) => {
                for set in sets.into_values() {
                    for record in set.records_without_rrsigs() {
                        last_ttl = Some(record.ttl);
                        if let Err(message) = out.push_record(record, entry.line) {
                            errors.push(fail(message));
                        }
                    }
                }
            }
            Err(e) => errors.push(fail(describe(&e.to_string(), rest))),
        }
    });
    split.map_err(|e| vec![e])?;
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Wire form of `name` in the case it has.
fn wire_cased(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// Appends the wire form of a plain name token to `out`: labels of
/// lower-case letters, digits and hyphens (a leading `*` too), relative
/// ones completed with `origin` (wire form). False, with `out` unchanged in
/// length, for anything else (escapes, upper case, IDNs, `@`, `_`...): those
/// go through hickory's `Name::parse`, whose rules (UTS 46) they need.
fn simple_name(token: &[u8], origin: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    if token == b"." {
        out.push(0);
        return true;
    }
    let (body, absolute) = match token.strip_suffix(b".") {
        Some(body) => (body, true),
        None => (token, false),
    };
    if body.is_empty() {
        return false;
    }
    for (i, label) in body.split(|&b| b == b'.').enumerate() {
        let plain = !label.is_empty()
            && label.len() <= 63
            && label
                .iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && label.get(2..4) != Some(b"--");
        if !(plain || (i == 0 && label == b"*")) {
            out.truncate(start);
            return false;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    if absolute {
        out.push(0);
    } else {
        out.extend_from_slice(origin);
    }
    if out.len() - start > MAX_NAME_LEN {
        out.truncate(start);
        return false;
    }
    true
}

/// Splits the part of an entry after its owner into tokens (text, was
/// quoted). `None` for what only hickory's lexer reads right: escapes,
/// parentheses, empty or multi-line strings.
fn tokenize<'a>(rest: &'a str, tokens: &mut Vec<(&'a str, bool)>) -> Option<()> {
    tokens.clear();
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b';' => break,
            b'(' | b')' | b'\\' => return None,
            b'"' => {
                let start = i + 1;
                let len = bytes[start..].iter().position(|&b| b == b'"')?;
                let text = &bytes[start..start + len];
                if text.is_empty() || text.iter().any(|&b| b == b'\\' || b == b'\n') {
                    return None;
                }
                tokens.push((&rest[start..start + len], true));
                i = start + len + 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'"' | b'(' | b')'
                    )
                {
                    if bytes[i] == b'\\' {
                        return None;
                    }
                    i += 1;
                }
                tokens.push((&rest[start..i], false));
            }
        }
    }
    Some(())
}

/// Encodes a plainly written entry of a common type into `rdata`: returns
/// (type code, TTL, whether the TTL was written), or `None` to leave the
/// entry to hickory.
fn fast_entry<'a>(
    rest: &'a str,
    origin: &[u8],
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    tokens: &mut Vec<(&'a str, bool)>,
    rdata: &mut Vec<u8>,
) -> Option<(u16, u32, bool)> {
    tokenize(rest, tokens)?;
    let mut ttl = None;
    let mut at = 0;
    let rtype = loop {
        let (token, quoted) = *tokens.get(at)?;
        at += 1;
        if quoted {
            return None;
        }
        if token.as_bytes()[0].is_ascii_digit() {
            ttl = Some(parse_ttl(token).ok()?);
            continue;
        }
        if token.eq_ignore_ascii_case("IN") {
            continue;
        }
        break match token.to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::AAAA,
            "NS" => RecordType::NS,
            "CNAME" => RecordType::CNAME,
            "PTR" => RecordType::PTR,
            "MX" => RecordType::MX,
            "TXT" => RecordType::TXT,
            _ => return None,
        };
    };
    let args = &tokens[at..];
    let plain = |i: usize| args.get(i).filter(|(_, quoted)| !quoted).map(|(t, _)| *t);
    match rtype {
        RecordType::A if args.len() == 1 => {
            let addr: std::net::Ipv4Addr = plain(0)?.parse().ok()?;
            rdata.extend_from_slice(&addr.octets());
        }
        RecordType::AAAA if args.len() == 1 => {
            let addr: std::net::Ipv6Addr = plain(0)?.parse().ok()?;
            rdata.extend_from_slice(&addr.octets());
        }
        RecordType::NS | RecordType::CNAME | RecordType::PTR if args.len() == 1 => {
            if !simple_name(plain(0)?.as_bytes(), origin, rdata) {
                return None;
            }
        }
        RecordType::MX if args.len() == 2 => {
            let preference: u16 = plain(0)?.parse().ok()?;
            rdata.extend_from_slice(&preference.to_be_bytes());
            if !simple_name(plain(1)?.as_bytes(), origin, rdata) {
                return None;
            }
        }
        RecordType::TXT if !args.is_empty() => {
            for (text, _) in args {
                if text.len() > 255 {
                    return None;
                }
                rdata.push(text.len() as u8);
                rdata.extend_from_slice(text.as_bytes());
            }
        }
        _ => return None,
    }
    let explicit = ttl.is_some();
    let ttl = ttl.or(default_ttl).or(last_ttl)?;
    Some((u16::from(rtype), ttl, explicit))
}

/// The argument of a `$DIRECTIVE arg ; comment` entry.
fn directive_arg(entry: &str) -> &str {
    let content = entry.split(';').next().unwrap_or("");
    content.split_whitespace().nth(1).unwrap_or("")
}

/// Turns hickory's parse message into one that shows the offending entry.
fn describe(message: &str, rest: &str) -> String {
    let shown: String = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{message} (in `{shown}`)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn origin() -> Name {
        Name::from_str("example.com.").unwrap()
    }

    #[test]
    fn records_remember_their_lines_across_parentheses() {
        let text = "$TTL 300\n@ IN SOA ns1 host (\n 1 2 3\n 4 5 )\n\n; comment\nwww A 192.0.2.1\n  AAAA 2001:db8::1\n";
        let records = parse_zone_text(text, &origin()).unwrap();
        let lines: Vec<_> = records
            .iter()
            .map(|r| (r.record.record_type(), r.line))
            .collect();
        assert_eq!(
            lines,
            vec![
                (RecordType::SOA, 2),
                (RecordType::A, 7),
                (RecordType::AAAA, 8)
            ]
        );
        assert_eq!(
            records[2].record.name,
            Name::from_str("www.example.com.").unwrap()
        );
        assert_eq!(records[2].record.ttl, 300);
    }

    #[test]
    fn errors_name_the_line_and_keep_going() {
        let text = "$TTL 300\nwww A 192.0.2.1\nbad AA 192.0.2.2\nmail A 300.1.1.1\n";
        let errors = parse_zone_text(text, &origin()).unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4], "{errors:?}");
        assert!(errors[0].message.contains("AA"), "{errors:?}");
    }

    #[test]
    fn origin_directive_and_semicolons_in_quotes() {
        let text = "$TTL 60\n$ORIGIN sub.example.com.\nt TXT \"a;b\" ; real comment\n";
        let records = parse_zone_text(text, &origin()).unwrap();
        assert_eq!(
            records[0].record.name,
            Name::from_str("t.sub.example.com.").unwrap()
        );
        assert_eq!(records[0].record.data.to_string(), "a;b");
    }

    #[test]
    fn unclosed_parenthesis_is_reported_at_its_entry() {
        let errors = parse_zone_text("$TTL 1\n@ SOA a b ( 1 2\n", &origin()).unwrap_err();
        assert_eq!(errors[0].line, 2);
    }
}
