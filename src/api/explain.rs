//! `GET /v1/explain?name=&type=&client=[&seed=]`: why a client gets the
//! answer it gets (see [`crate::explain`]).

use std::str::FromStr;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use hickory_proto::rr::{Name, RecordType};
use serde::Deserialize;

use super::ApiContext;
use super::auth::Reader;
use super::errors::{ApiError, ErrorCode};
use crate::contract::Explanation;
use crate::explain::{ClientSpec, Question, explain as run};

/// The record types `type` may name (any case): the document lists the
/// same ones ([`type_pattern`]), so what it allows the server answers.
pub(super) const TYPES: &[&str] = &[
    "A", "AAAA", "ANY", "CAA", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA",
    "SRV", "SSHFP", "SVCB", "TLSA", "TXT",
];

/// A JSON Schema pattern matching exactly [`TYPES`], in any letter case
/// (JSON Schema patterns have no case-insensitive flag).
pub(super) fn type_pattern() -> String {
    let any_case = |t: &str| -> String {
        t.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let alternatives: Vec<String> = TYPES.iter().map(|t| any_case(t)).collect();
    format!("^({})$", alternatives.join("|"))
}

/// The query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// The name asked.
    name: Option<String>,
    /// The type asked (default `A`).
    #[serde(rename = "type")]
    qtype: Option<String>,
    /// `192.0.2.7` (a resolver's address) or `192.0.2.0/24` (an ECS subnet).
    client: Option<String>,
    /// Seed for weighted and multivalue draws (default: random; the answer
    /// says which, so a draw can be repeated).
    seed: Option<u64>,
}

/// The `name` parameter: a domain name (the root is `.`; empty is not a
/// name, though the DNS library would read it as the root).
pub(super) fn parse_name(text: &str) -> Result<Name, ApiError> {
    if text.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::BadQuery,
            "name must not be empty (the root is `.`)",
        ));
    }
    // As the document says: ASCII only, so internationalised names are
    // asked in their `xn--` form, which is what resolvers send.
    if !text.is_ascii() {
        return Err(ApiError::bad_request(
            ErrorCode::BadQuery,
            format!("name {text:?}: not ASCII (use the xn-- form)"),
        ));
    }
    let mut name = Name::from_str(text)
        .map_err(|e| ApiError::bad_request(ErrorCode::BadQuery, format!("name {text:?}: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

/// `GET /v1/explain`.
pub(super) async fn explain(
    State(ctx): State<ApiContext>,
    _: Reader,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Explanation>, ApiError> {
    let Query(params) =
        params.map_err(|e| ApiError::bad_request(ErrorCode::BadQuery, e.body_text()))?;
    let name = params
        .name
        .ok_or_else(|| ApiError::bad_request(ErrorCode::BadQuery, "name is required"))?;
    let name = parse_name(&name)?;
    let qtype_text = params.qtype.unwrap_or_else(|| "A".into());
    let upper = qtype_text.to_ascii_uppercase();
    let qtype = TYPES
        .contains(&upper.as_str())
        .then(|| RecordType::from_str(&upper).ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::bad_request(ErrorCode::BadQuery, format!("unknown type {qtype_text:?}"))
        })?;
    let client = params
        .client
        .ok_or_else(|| ApiError::bad_request(ErrorCode::BadQuery, "client is required"))?;
    let client =
        ClientSpec::parse(&client).map_err(|e| ApiError::bad_request(ErrorCode::BadQuery, e))?;
    let seed = params.seed.unwrap_or_else(|| fastrand::u64(..));
    let snapshot = ctx.snapshot.load();
    let question = Question {
        name,
        qtype,
        client,
    };
    Ok(Json(run(&snapshot, &question, seed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every listed type is one the DNS library knows, and the pattern the
    /// document publishes matches each in any case and nothing else.
    #[test]
    fn listed_types_parse_and_the_pattern_matches_them() {
        let pattern = regex::Regex::new(&type_pattern()).unwrap();
        for t in TYPES {
            assert!(RecordType::from_str(t).is_ok(), "{t}");
            assert!(pattern.is_match(t), "{t}");
            assert!(pattern.is_match(&t.to_lowercase()), "{t}");
        }
        for bad in ["", "BOGUS", "AA", "A ", "TYPE1", "AAAAA"] {
            assert!(!pattern.is_match(bad), "{bad:?}");
        }
    }
}
