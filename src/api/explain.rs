//! `GET /v1/explain?name=&type=&client=[&seed=]`: why a client gets the
//! answer it gets (see [`crate::explain`]).

use std::str::FromStr;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use hickory_proto::rr::{Name, RecordType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiContext;
use super::auth::Reader;
use super::errors::ApiError;
use crate::explain::{ClientSpec, Question, explain as run};

/// The query string.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
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

/// `GET /v1/explain`.
pub async fn explain(
    State(ctx): State<ApiContext>,
    _: Reader,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let name = params
        .name
        .ok_or_else(|| ApiError::bad_request("bad_query", "name is required"))?;
    let mut name = Name::from_str(&name)
        .map_err(|e| ApiError::bad_request("bad_query", format!("name {name:?}: {e}")))?;
    name.set_fqdn(true);
    let qtype_text = params.qtype.unwrap_or_else(|| "A".into());
    let qtype = RecordType::from_str(&qtype_text.to_uppercase())
        .map_err(|_| ApiError::bad_request("bad_query", format!("unknown type {qtype_text:?}")))?;
    let client = params
        .client
        .ok_or_else(|| ApiError::bad_request("bad_query", "client is required"))?;
    let client = ClientSpec::parse(&client).map_err(|e| ApiError::bad_request("bad_query", e))?;
    let seed = params.seed.unwrap_or_else(|| fastrand::u64(..));
    let snapshot = ctx.snapshot.load();
    let question = Question {
        name,
        qtype,
        client,
    };
    let mut value = run(&snapshot, &question, seed);
    value["seed"] = json!(seed);
    Ok(Json(value))
}
