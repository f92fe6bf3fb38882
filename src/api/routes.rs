//! The route table and the read handlers.
//!
//! Routes are added through [`Routes::add`], which records each (path,
//! method) as it goes: [`table`] is what the router really serves, and the
//! OpenAPI test compares the document against it.

use std::str::FromStr;

use axum::Json;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post, put};
use hickory_proto::rr::Name;
use serde_json::Value;

use crate::contract::{
    Alive, ClusterState, Override, OverrideList, Ready, Region, RegionList, Service, ServiceList,
    Status,
};

use super::auth::Reader;
use super::errors::{self, ApiError, ErrorCode};
use super::{
    ApiContext, BODY_LIMIT, drills, explain, openapi, prometheus, traffic, ui, views, writes,
};

/// A router that remembers what it serves.
struct Routes {
    router: Router<ApiContext>,
    table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    /// Serves `method` at `path` with `handler` (routes at one path merge).
    fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<ApiContext>,
    ) -> Routes {
        self.table.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }
}

/// Every route: `(method, path)`, paths in OpenAPI/axum `{param}` form.
fn routes() -> Routes {
    Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .add("GET", "/healthz", get(healthz))
    .add("GET", "/readyz", get(readyz))
    .add("GET", "/v1/openapi.json", get(openapi_doc))
    .add("GET", "/v1/status", get(status))
    .add("GET", "/v1/regions", get(regions))
    .add("GET", "/v1/regions/{region}", get(region))
    .add(
        "PUT",
        "/v1/regions/{region}/weight",
        put(writes::put_weight),
    )
    .add(
        "POST",
        "/v1/regions/{region}/drain",
        post(writes::post_drain),
    )
    .add(
        "POST",
        "/v1/regions/{region}/force",
        post(writes::post_force),
    )
    .add("GET", "/v1/services", get(services))
    .add("GET", "/v1/services/{name}", get(service))
    .add("GET", "/v1/overrides", get(overrides))
    .add("GET", "/v1/overrides/{id}", get(one_override))
    .add(
        "DELETE",
        "/v1/overrides/{id}",
        delete(writes::delete_override),
    )
    .add("POST", "/v1/drills", post(drills::start))
    .add("GET", "/v1/drills", get(drills::list))
    .add("GET", "/v1/drills/{id}", get(drills::show))
    .add("POST", "/v1/drills/{id}/stop", post(drills::stop))
    .add("GET", "/metrics", get(prometheus::on_api))
    .add("GET", "/v1/explain", get(explain::explain))
    .add("GET", "/v1/traffic", get(traffic::traffic))
}

/// The `(method, path)` pairs the API serves.
pub fn table() -> Vec<(&'static str, &'static str)> {
    routes().table
}

/// The complete API router over `context`.
pub fn router(context: ApiContext) -> Router {
    routes()
        .router
        // The status page: HTML and static files, not JSON API routes.
        .merge(ui::router())
        .fallback(errors::fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Last, so it sees every answer, axum's own 404/405/413 included.
        .layer(axum::middleware::map_response(errors::normalize))
        .with_state(context)
}

/// `GET /healthz`: the process is alive and answering HTTP.
async fn healthz() -> Json<Alive> {
    Json(Alive {
        status: "alive".into(),
    })
}

/// `GET /readyz`: zones loaded and the first snapshot published.
async fn readyz(State(ctx): State<ApiContext>) -> Response {
    let snapshot = ctx.snapshot.load();
    match views::ready(&snapshot) {
        // Stale cluster state keeps the instance ready: answering from the
        // last known state is what it should do while etcd is away; the
        // body says since when, for operators and probes that care.
        Ok(()) => Json(Ready {
            status: "ready".into(),
            generation: snapshot.generation,
            cluster: ClusterState::from(&**ctx.cluster.load()),
        })
        .into_response(),
        Err(why) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NotReady, why).into_response()
        }
    }
}

/// `GET /v1/openapi.json`.
async fn openapi_doc(State(ctx): State<ApiContext>) -> Json<Value> {
    let mut doc = openapi::document();
    // The longest drill is configuration (`drills.max_duration_secs`): the
    // served document states the limit this server applies.
    let max = ctx.settings.borrow().drills.max_duration_secs;
    doc["components"]["schemas"]["DrillRequest"]["properties"]["duration_secs"]["maximum"] =
        Value::from(max);
    Json(doc)
}

/// `GET /v1/status`.
async fn status(State(ctx): State<ApiContext>, _: Reader) -> Json<Status> {
    let snapshot = ctx.snapshot.load();
    Json(views::status(&ctx, &snapshot, crate::clock::now()))
}

/// `GET /v1/regions`.
async fn regions(State(ctx): State<ApiContext>, _: Reader) -> Json<RegionList> {
    let snapshot = ctx.snapshot.load();
    let now = crate::clock::now();
    let regions = (0..snapshot.plan.regions.len())
        .map(|r| views::region(&snapshot, &ctx.health, r, now))
        .collect();
    Json(RegionList {
        generation: snapshot.generation,
        regions,
    })
}

/// `GET /v1/regions/{region}`.
async fn region(
    State(ctx): State<ApiContext>,
    _: Reader,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Region>, ApiError> {
    let name = param(path)?;
    let snapshot = ctx.snapshot.load();
    let r = snapshot
        .plan
        .region_index
        .get(&name)
        .copied()
        .ok_or_else(|| {
            ApiError::not_found(ErrorCode::UnknownRegion, format!("unknown region {name:?}"))
        })?;
    Ok(Json(views::region(
        &snapshot,
        &ctx.health,
        r,
        crate::clock::now(),
    )))
}

/// `GET /v1/services`.
async fn services(State(ctx): State<ApiContext>, _: Reader) -> Json<ServiceList> {
    let snapshot = ctx.snapshot.load();
    let now = crate::clock::now();
    let services = snapshot
        .plan
        .services
        .iter()
        .map(|s| views::service(&snapshot, &ctx.health, s, now))
        .collect();
    Json(ServiceList {
        generation: snapshot.generation,
        services,
    })
}

/// `GET /v1/services/{name}`: the name with or without the trailing dot,
/// in any case.
async fn service(
    State(ctx): State<ApiContext>,
    _: Reader,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Service>, ApiError> {
    let name = param(path)?;
    let snapshot = ctx.snapshot.load();
    let unknown = || {
        ApiError::not_found(
            ErrorCode::UnknownService,
            format!("unknown service {name:?}"),
        )
    };
    let mut parsed = Name::from_str(&name).map_err(|_| unknown())?;
    parsed.set_fqdn(true);
    let index = *snapshot
        .plan
        .by_name
        .get(&parsed.to_lowercase())
        .ok_or_else(unknown)?;
    let service = &snapshot.plan.services[index];
    Ok(Json(views::service(
        &snapshot,
        &ctx.health,
        service,
        crate::clock::now(),
    )))
}

/// `GET /v1/overrides`.
async fn overrides(State(ctx): State<ApiContext>, _: Reader) -> Json<OverrideList> {
    let snapshot = ctx.snapshot.load();
    Json(OverrideList {
        generation: snapshot.generation,
        overrides: views::overrides(&snapshot.overrides, crate::clock::now()),
    })
}

/// `GET /v1/overrides/{id}`.
async fn one_override(
    State(ctx): State<ApiContext>,
    _: Reader,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Override>, ApiError> {
    let id = param(path)?;
    let snapshot = ctx.snapshot.load();
    let o = snapshot.overrides.get(&id).ok_or_else(|| {
        ApiError::not_found(
            ErrorCode::UnknownOverride,
            format!("no override with id {id:?}"),
        )
    })?;
    Ok(Json(Override::of(o, crate::clock::now())))
}

/// The path parameter, or 400 when it cannot be decoded.
pub(super) fn param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::bad_request(ErrorCode::BadPath, e.body_text()))
}
