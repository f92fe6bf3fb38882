//! Reads an RFC 1035 master file into records that remember their line.
//!
//! hickory-proto's zone parser does the record syntax but reports errors
//! without a position. We split the file into logical entries ourselves
//! (following parentheses, quotes and comments), track `$ORIGIN`, `$TTL` and
//! the previous owner, and hand hickory one entry at a time, so every error
//! and every record carries the line its entry starts on.

use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::txt::Parser;

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
/// comment-only lines.
fn entries(text: &str) -> Result<Vec<Entry<'_>>, SyntaxError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
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
                    out.push(Entry {
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
    Ok(out)
}

/// True when an entry holds nothing but whitespace and comments.
fn is_blank(entry: &str) -> bool {
    let content = entry.split(';').next().unwrap_or("");
    content.trim().is_empty()
}

/// Parses a whole master file whose default origin is `origin`.
///
/// Returns every record, or every syntax error found (parsing continues past
/// a bad entry so one run of `check` reports them all).
pub fn parse_zone_text(text: &str, origin: &Name) -> Result<Vec<LocatedRecord>, Vec<SyntaxError>> {
    let mut origin = origin.clone();
    let mut default_ttl: Option<String> = None;
    let mut last_ttl: Option<u32> = None;
    let mut last_owner: Option<Name> = None;
    let mut records = Vec::new();
    let mut errors = Vec::new();
    let all = entries(text).map_err(|e| vec![e])?;
    for entry in all {
        let fail = |message: String| SyntaxError {
            line: entry.line,
            message,
        };
        let trimmed = entry.text.trim_start();
        let first = trimmed.split_whitespace().next().unwrap_or("");
        match first.to_ascii_uppercase().as_str() {
            "$ORIGIN" => {
                let arg = directive_arg(trimmed);
                match Name::parse(arg, Some(&origin)) {
                    Ok(name) if !arg.is_empty() => origin = name,
                    _ => errors.push(fail(format!("$ORIGIN: invalid name {arg:?}"))),
                }
                continue;
            }
            "$TTL" => {
                let arg = directive_arg(trimmed);
                match hickory_proto::serialize::txt::Parser::new(
                    format!("$TTL {arg}\n"),
                    None,
                    Some(origin.clone()),
                )
                .parse()
                {
                    Ok(_) if !arg.is_empty() => default_ttl = Some(arg.to_string()),
                    _ => errors.push(fail(format!("$TTL: invalid time value {arg:?}"))),
                }
                continue;
            }
            "$INCLUDE" => {
                errors.push(fail(
                    "$INCLUDE is not supported: put each zone in one file".into(),
                ));
                continue;
            }
            d if d.starts_with('$') => {
                errors.push(fail(format!("unknown directive {first}")));
                continue;
            }
            _ => {}
        }
        // Rebuild the entry with an absolute owner so hickory sees it alone.
        let inherits_owner = entry.text.starts_with([' ', '\t']);
        let (owner, rest) = if inherits_owner {
            match &last_owner {
                Some(owner) => (owner.clone(), entry.text),
                None => {
                    errors.push(fail(
                        "record has no owner name and no previous owner".into(),
                    ));
                    continue;
                }
            }
        } else {
            let rest = &trimmed[first.len()..];
            let owner = if first == "@" {
                Ok(origin.clone())
            } else {
                Name::parse(first, Some(&origin))
            };
            match owner {
                Ok(owner) => (owner, rest),
                Err(e) => {
                    errors.push(fail(format!("invalid owner name {first:?}: {e}")));
                    continue;
                }
            }
        };
        last_owner = Some(owner.clone());
        let ttl = default_ttl
            .clone()
            .or_else(|| last_ttl.map(|t| t.to_string()));
        let mut single = format!("$ORIGIN {origin}\n");
        if let Some(ttl) = ttl {
            single.push_str(&format!("$TTL {ttl}\n"));
        }
        single.push_str(&owner.to_string());
        single.push_str(rest);
        single.push('\n');
        match Parser::new(single, None, Some(origin.clone())).parse() {
            Ok((_, sets)) => {
                for set in sets.into_values() {
                    for record in set.records_without_rrsigs() {
                        last_ttl = Some(record.ttl);
                        records.push(LocatedRecord {
                            record: record.clone(),
                            line: entry.line,
                        });
                    }
                }
            }
            Err(e) => errors.push(fail(describe(&e.to_string(), rest))),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
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
    use hickory_proto::rr::RecordType;
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
