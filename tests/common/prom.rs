//! A small strict parser of the Prometheus text exposition format (0.0.4),
//! so tests can both check that `/metrics` is well-formed and read values
//! from it.
#![allow(unreachable_pub)] // a private module of each test (or bench) crate that includes it

use std::collections::{BTreeMap, HashMap, HashSet};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// Family name to its `# TYPE`.
    pub types: HashMap<String, String>,
    /// Family names with `# HELP`.
    pub helped: HashSet<String>,
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse::<f64>()
            .map_err(|_| format!("bad value {text:?}")),
    }
}

/// Parses `{a="b",c="d"}` from the start of `text`; the labels and the rest.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = &text[1..];
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without '='")?;
        let name = rest[..eq].trim();
        if !valid_label(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].trim_start();
        rest = rest.strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        rest = &rest[end + 1..];
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// The family a sample belongs to, given the declared types.
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && matches!(
                types.get(base).map(String::as_str),
                Some("histogram") | Some("summary")
            )
        {
            return base;
        }
    }
    name
}

/// Parses and validates a scrape; the first problem, with its line.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut seen = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _)
                    if !valid_name(name) || !out.helped.insert(name.to_string()) =>
                {
                    return Err(at("bad or repeated HELP".into()));
                }
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !valid_name(name)
                        || !["counter", "gauge", "histogram", "summary", "untyped"]
                            .contains(&kind.trim())
                    {
                        return Err(at("bad TYPE".into()));
                    }
                    if out.types.contains_key(name) || finished.contains(name) {
                        return Err(at("TYPE repeated or after its samples".into()));
                    }
                    out.types.insert(name.to_string(), kind.trim().to_string());
                }
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(at("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().ok_or_else(|| at("no value".into()))?).map_err(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        let fam = family(name, &out.types).to_string();
        if current.as_deref() != Some(fam.as_str()) {
            if let Some(previous) = current.take() {
                finished.insert(previous);
            }
            if finished.contains(&fam) {
                return Err(at(format!("samples of {fam} are not grouped together")));
            }
            current = Some(fam.clone());
        }
        match out.types.get(&fam).map(String::as_str) {
            Some("counter") if value < 0.0 || value.is_nan() => {
                return Err(at("negative counter".into()));
            }
            Some("histogram") if name.ends_with("_bucket") && !labels.contains_key("le") => {
                return Err(at("bucket without le".into()));
            }
            _ => {}
        }
        if !seen.insert((name.to_string(), labels.clone())) {
            return Err(at("duplicate sample".into()));
        }
        out.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    check_histograms(&out)?;
    Ok(out)
}

/// Buckets are cumulative and the `+Inf` bucket equals `_count`.
fn check_histograms(out: &Exposition) -> Result<(), String> {
    for (fam, kind) in &out.types {
        if kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in out
            .samples
            .iter()
            .filter(|s| s.name == format!("{fam}_bucket"))
        {
            let mut key = s.labels.clone();
            let le = parse_value(&key.remove("le").unwrap())?;
            series.entry(key).or_default().push((le, s.value));
        }
        for (key, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{fam}{key:?}: buckets are not cumulative"));
            }
            let inf = buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
            let count = out
                .samples
                .iter()
                .find(|s| s.name == format!("{fam}_count") && s.labels == key)
                .map(|s| s.value);
            if inf.is_none() || inf != count {
                return Err(format!(
                    "{fam}{key:?}: +Inf bucket {inf:?} != count {count:?}"
                ));
            }
        }
    }
    Ok(())
}

impl Exposition {
    /// The sum of `name`'s samples whose labels include every `(key, value)`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// True when some sample has this exact name.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

#[test]
fn rejects_what_prometheus_rejects() {
    assert!(parse("# TYPE a counter\na 1\n").is_ok());
    assert!(parse("a{b=\"c\\\"\"} 1\n").is_ok());
    assert!(parse("a{b=c} 1\n").is_err());
    assert!(parse("1a 1\n").is_err());
    assert!(parse("a x\n").is_err());
    assert!(parse("a 1\nb 1\na{x=\"1\"} 2\n").is_err());
    assert!(parse("a 1\na 2\n").is_err());
    assert!(parse("# TYPE a counter\na -1\n").is_err());
    assert!(
        parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n")
            .is_err()
    );
}
