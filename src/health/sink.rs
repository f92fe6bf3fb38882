//! Where the health checker sends verdicts that change answers. A trait
//! here, implemented by the publisher's handle, so that `health` (a run-time
//! input below the snapshot) does not depend on `publisher` above it.

use std::future::Future;
use std::pin::Pin;

/// The future [`VerdictSink::report_health`] returns.
pub(crate) type ReportFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Receives endpoint verdicts (`publisher::PublisherHandle` in the app).
pub trait VerdictSink: Send + Sync + 'static {
    /// Records that `endpoint` of `region` is `up` (or not); an error means
    /// the receiver is gone (the app is stopping).
    fn report_health<'a>(
        &'a self,
        region: &'a str,
        endpoint: &'a str,
        up: bool,
    ) -> ReportFuture<'a>;
}
