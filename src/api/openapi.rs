//! The OpenAPI 3.1 document for the whole API, served at
//! `/v1/openapi.json`. The schemas of every request and response body the
//! API types are derived from [`crate::contract`] (utoipa); the operations,
//! their error answers and the `links` between them are written here, and
//! tests keep them true: every route in [`super::routes::table`] is here
//! with its methods and nothing else is, and every `$ref` resolves.

use serde_json::{Value, json};

/// A domain name as `/v1/explain` reads it (the DNS library's rule):
/// dot-separated labels of 1 to 63 letters, digits, `_` and `-` (`-` not
/// first; `*` only first), optionally ending in the root dot; or the root.
pub(crate) const NAME_PATTERN: &str =
    r"^(\.|([A-Za-z0-9_*][A-Za-z0-9_-]{0,62}\.)*[A-Za-z0-9_*][A-Za-z0-9_-]{0,62}\.?)$";

/// An IPv4 client subnet (`81.2.69.0/24`).
pub(crate) const IPV4_SUBNET_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$";

use crate::contract::{
    Alive, ChangeResult, DeleteRequest, DrainRequest, DrillList, DrillRequest, ErrorBody,
    Explanation, ForceRequest, Override, OverrideList, Ready, Region, RegionList, Service,
    ServiceList, Status, Traffic, WeightRequest,
};
use crate::drills::report::DrillReport;

/// The contract's types whose schemas the document carries (with every
/// type they refer to).
#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    Alive,
    Ready,
    ErrorBody,
    WeightRequest,
    DrainRequest,
    ForceRequest,
    DeleteRequest,
    DrillRequest,
    Override,
    OverrideList,
    ChangeResult,
    Region,
    RegionList,
    Service,
    ServiceList,
    Status,
    DrillList,
    DrillReport,
    Explanation,
    Traffic,
)))]
struct Contract;

/// The schemas derived from the contract, by name.
fn derived_schemas() -> Value {
    let doc = serde_json::to_value(<Contract as utoipa::OpenApi>::openapi()).unwrap_or_default();
    doc["components"]["schemas"].clone()
}

/// The error response every failure uses.
fn error(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})
}

fn query_param(name: &str, description: &str, required: bool, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": description, "schema": schema})
}

fn body(schema: &str) -> Value {
    json!({
        "required": true,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// A read operation.
fn read(summary: &str, schema: &str, params: &[Value], not_found: bool) -> Value {
    let mut responses = json!({
        "200": ok(summary, schema),
        "401": error("reads are protected (`api.protect_reads`, the default) and the token is missing or wrong"),
        "429": error("too many failed authentications from this address; see `Retry-After`"),
    });
    if not_found {
        responses["404"] = error("no such object");
    }
    json!({
        "summary": summary,
        "parameters": params,
        "security": [{}, {"bearer": []}],
        "responses": responses,
    })
}

/// A write operation.
fn write(summary: &str, request: &str, params: &[Value]) -> Value {
    json!({
        "summary": summary,
        "parameters": params,
        "requestBody": body(request),
        "security": [{"bearer": []}],
        "responses": {
            "200": ok("applied: persisted, published and audited", "ChangeResult"),
            "400": error("body is not JSON, or `why` is missing or empty"),
            "401": error("missing or wrong bearer token; nothing changed"),
            "404": error("unknown region or override"),
            "408": error("the body did not arrive within `api.body_timeout_secs`"),
            "429": error("too many failed authentications from this address; see `Retry-After`"),
            "409": error("refused by the safety rule: a service would be left with no available region (repeat with `force: true`)"),
            "413": error("body too large"),
            "422": error("valid JSON with invalid values (types, ranges, unknown fields)"),
            "500": error("the change could not be persisted; nothing changed"),
            "503": error("`cluster_unavailable`: the cluster store (etcd) cannot take writes now; nothing changed, answers continue from the last known state"),
        }
    })
}

/// A drill write: like [`write`], answering with the drill's report.
fn drill_write(summary: &str, request: &str, params: &[Value]) -> Value {
    let mut op = write(summary, request, params);
    op["responses"]["200"] = ok("the drill's report as it stands", "DrillReport");
    op["responses"]["404"] = error("unknown region, service or drill");
    op["responses"]["409"] = error(
        "refused: the safety rule (repeat with `force: true`), a region already forced, or the drill is not running",
    );
    op["responses"]["422"] = error(
        "invalid values: duration above `drills.max_duration_secs`, no regions, no vantages configured...",
    );
    op
}

/// The document: every operation with an `operationId` and the `links`
/// that lead from one answer to the next operation.
pub fn document() -> Value {
    let mut doc = operations();
    add_operation_ids(&mut doc);
    add_links(&mut doc);
    doc
}

/// `get /v1/regions/{region}` → `get_v1_regions_region`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for part in path.split(['/', '.']).filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(part.chars().filter(|c| !matches!(c, '{' | '}')));
    }
    id
}

/// Names every operation after its method and path.
fn add_operation_ids(doc: &mut Value) {
    for (path, ops) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (method, op) in ops.as_object_mut().into_iter().flatten() {
            op["operationId"] = json!(operation_id(method, path));
        }
    }
}

/// The links between operations: where the id or name the next request
/// needs comes from in an answer (regions from the region list, override
/// ids from a change or the override list, drill ids from a started drill
/// or the drill list). Clients and schemathesis's stateful phase follow
/// them to real objects instead of guessing names.
fn add_links(doc: &mut Value) {
    let link = |to: (&str, &str), parameter: &str, from: &str| -> (String, Value) {
        let name = format!(
            "{}_{}",
            to.0,
            operation_id("", to.1).trim_start_matches('_')
        );
        let value = json!({
            "operationId": operation_id(to.0, to.1),
            "parameters": {parameter: format!("$response.body#{from}")},
        });
        (name, value)
    };
    let region_ops = [
        ("get", "/v1/regions/{region}"),
        ("put", "/v1/regions/{region}/weight"),
        ("post", "/v1/regions/{region}/drain"),
        ("post", "/v1/regions/{region}/force"),
    ];
    let override_ops = [
        ("get", "/v1/overrides/{id}"),
        ("delete", "/v1/overrides/{id}"),
    ];
    let drill_ops = [("get", "/v1/drills/{id}"), ("post", "/v1/drills/{id}/stop")];
    let mut add = |from: (&str, &str), links: Vec<(String, Value)>| {
        let target = &mut doc["paths"][from.1][from.0]["responses"]["200"]["links"];
        for (name, value) in links {
            target[name] = value;
        }
    };
    // The example has three regions; link to each so every one is reached.
    let mut from_regions = Vec::new();
    for i in 0..3 {
        for to in region_ops {
            let (name, value) = link(to, "region", &format!("/regions/{i}/name"));
            from_regions.push((format!("{name}_{i}"), value));
        }
    }
    // A drill over the listed regions (the first alone, the second alone).
    for i in 0..2 {
        from_regions.push((
            format!("post_v1_drills_{i}"),
            json!({
                "operationId": operation_id("post", "/v1/drills"),
                "requestBody": {
                    "regions": [format!("$response.body#/regions/{i}/name")],
                    "duration_secs": 60,
                    "why": "linked drill",
                },
            }),
        ));
    }
    add(("get", "/v1/regions"), from_regions);
    add(
        ("get", "/v1/services"),
        vec![link(
            ("get", "/v1/services/{name}"),
            "name",
            "/services/0/name",
        )],
    );
    let created = |ops: &[(&'static str, &'static str)]| -> Vec<(String, Value)> {
        ops.iter()
            .map(|&to| link(to, "id", "/created/id"))
            .collect()
    };
    for from in &region_ops[1..] {
        add(*from, created(&override_ops));
    }
    add(
        ("get", "/v1/overrides"),
        override_ops
            .iter()
            .map(|&to| link(to, "id", "/overrides/0/id"))
            .collect(),
    );
    add(
        ("post", "/v1/drills"),
        drill_ops.iter().map(|&to| link(to, "id", "/id")).collect(),
    );
    add(
        ("get", "/v1/drills"),
        drill_ops
            .iter()
            .map(|&to| link(to, "id", "/drills/0/id"))
            .collect(),
    );
}

/// The operations, schemas and security schemes.
fn operations() -> Value {
    let region = param("region", "region name as in `[regions.<name>]`");
    let id = param("id", "override id (`ov-...`)");
    let name = param("name", "managed name, with or without the trailing dot");
    let drill = param("id", "drill id (`dr-...`)");
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchyard control API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read region and service health and decisions; set weights, drain and force regions. Every write needs `Authorization: Bearer <token>` and a `why`; every change is persisted before it takes effect and audited. Errors are `{\"error\": {\"code\", \"message\"}}`."
        },
        "paths": {
            "/healthz": {"get": {
                "summary": "the process is alive",
                "responses": {"200": ok("alive", "Alive")}
            }},
            "/readyz": {"get": {
                "summary": "zones loaded and the first snapshot published",
                "responses": {"200": ok("ready", "Ready"), "503": error("not ready")}
            }},
            "/v1/openapi.json": {"get": {
                "summary": "this document",
                "responses": {"200": {"description": "the OpenAPI document"}}
            }},
            "/v1/status": {"get": read("version, uptime, snapshot, counts, last reload", "Status", &[], false)},
            "/v1/regions": {"get": read("every region", "RegionList", &[], false)},
            "/v1/regions/{region}": {"get": read("one region", "Region", std::slice::from_ref(&region), true)},
            "/v1/regions/{region}/weight": {"put": write("set the region's effective weight", "WeightRequest", std::slice::from_ref(&region))},
            "/v1/regions/{region}/drain": {"post": write("drain the region (weight 0; health checks keep running)", "DrainRequest", std::slice::from_ref(&region))},
            "/v1/regions/{region}/force": {"post": write("force the region up or down, or clear its forced state", "ForceRequest", std::slice::from_ref(&region))},
            "/v1/services": {"get": read("every managed name", "ServiceList", &[], false)},
            "/v1/services/{name}": {"get": read("one managed name", "Service", &[name], true)},
            "/v1/overrides": {"get": read("active overrides, oldest first", "OverrideList", &[], false)},
            "/v1/traffic": {"get": read("where each service's answers went (per region, total and over the last minute, from the answer counters /metrics exposes), with its configured weights or rules", "Traffic", &[], false)},
            "/v1/explain": {"get": {
                "summary": "why a client gets the answer it gets: its location, the policy, every candidate region and the final answer (from the query path itself)",
                "parameters": [
                    query_param("name", "the name asked (trailing dot optional)", true, json!({"type": "string", "minLength": 1, "maxLength": 253, "pattern": NAME_PATTERN})),
                    query_param("type", "the record type asked (default A; any letter case)", false, json!({"type": "string", "default": "A", "pattern": super::explain::type_pattern()})),
                    query_param("client", "a resolver's address (`81.2.69.7`), or a client subnet as sent in ECS (`81.2.69.0/24`; IPv6 subnets such as `2001:db8::/48` are accepted too)", true, json!({"type": "string", "anyOf": [
                        {"format": "ipv4"}, {"format": "ipv6"}, {"pattern": IPV4_SUBNET_PATTERN},
                    ]})),
                    query_param("seed", "seed for weighted and multivalue draws (default random; echoed back)", false, json!({"type": "integer", "minimum": 0, "maximum": u64::MAX})),
                ],
                "security": [{}, {"bearer": []}],
                "responses": {
                    "200": ok("the explanation", "Explanation"),
                    "400": error("missing or invalid name, type or client"),
                    "401": error("reads are protected (`api.protect_reads`, the default) and the token is missing or wrong"),
                }
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "security": [{}, {"bearer": []}],
                "responses": {
                    "200": {"description": "the metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": error("reads are protected (`api.protect_reads`, the default) and the token is missing or wrong"),
                }
            }},
            "/v1/overrides/{id}": {
                "get": read("one override", "Override", std::slice::from_ref(&id), true),
                "delete": write("remove an override", "DeleteRequest", std::slice::from_ref(&id)),
            },
            "/v1/drills": {
                "get": read("every drill, oldest first", "DrillList", &[], false),
                "post": drill_write("start a drill: force the regions down until `duration_secs` passes, verify answers from every vantage, roll back, keep a report", "DrillRequest", &[]),
            },
            "/v1/drills/{id}": {"get": read("one drill's report", "DrillReport", std::slice::from_ref(&drill), true)},
            "/v1/drills/{id}/stop": {"post": drill_write("roll the drill back now", "DeleteRequest", std::slice::from_ref(&drill))},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        }
    })
}

/// The derived schemas, with what the types cannot say: `clear` has no
/// expiry.
fn schemas() -> Value {
    let mut schemas = derived_schemas();
    // `clear` ends a forced state: it has no expiry of its own.
    schemas["ForceRequest"]["if"] =
        json!({"properties": {"state": {"const": "clear"}}, "required": ["state"]});
    schemas["ForceRequest"]["then"] = json!({"properties": {"expires_in_secs": {"type": "null"}}});
    schemas
}

#[cfg(test)]
mod tests;
