//! `GET /metrics`: the Prometheus text exposition (format 0.0.4).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::auth::Reader;

/// The content type Prometheus expects for the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` on the API listener: open unless `api.protect_reads`
/// (Prometheus can send a bearer token).
pub(super) async fn on_api(_: Reader) -> Response {
    exposition().await
}

/// The exposition as an HTTP response, rendered off the async runtime
/// and shared between concurrent scrapes (see `metrics::scrape`).
async fn exposition() -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        crate::metrics::scrape::exposition().await,
    )
        .into_response()
}

/// A router serving only `GET /metrics`, unauthenticated (for
/// `[metrics] listen`, an address only the scraper reaches).
pub(super) fn router() -> Router {
    Router::new().route("/metrics", get(exposition))
}
