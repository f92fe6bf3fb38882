//! The publisher as the health checker's verdict sink.

use super::PublisherHandle;
use crate::health::sink::{ReportFuture, VerdictSink};

/// Verdicts go to the publisher's command queue without waiting for a
/// publish (see [`PublisherHandle::report_health`]).
impl VerdictSink for PublisherHandle {
    fn report_health<'a>(
        &'a self,
        region: &'a str,
        endpoint: &'a str,
        up: bool,
    ) -> ReportFuture<'a> {
        Box::pin(PublisherHandle::report_health(self, region, endpoint, up))
    }
}
