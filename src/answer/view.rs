//! The narrow view of the routing tables the query path reads.
//!
//! `answer` sits below `snapshot` and `load`: it knows nothing of how a
//! snapshot is built or published, only these borrowed tables. A snapshot
//! hands one out per batch of queries (`Snapshot::view`); `explain` and
//! the precompiler build their own.

use crate::geo::GeoDb;
use crate::metrics::answers::AnswerMetrics;
use crate::traffic::{TrafficPlan, TrafficState};
use crate::zone::ZoneSet;

use super::FastTable;

/// What answering a query reads, borrowed from one snapshot. Cheap to
/// make and to copy (references and one integer), so the listeners take
/// one per batch and nothing is reference-counted per query.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The served zones.
    pub zones: &'a ZoneSet,
    /// Regions and services as configured.
    pub plan: &'a TrafficPlan,
    /// Per-region health and effective weight now.
    pub state: &'a TrafficState,
    /// Client location sources.
    pub geo: &'a GeoDb,
    /// Precompiled wire answers for the static part of the zones.
    pub fast: &'a FastTable,
    /// The NSID option (code, length, value) added to answers of queries
    /// that ask for it; empty when disabled.
    pub nsid: &'a [u8],
    /// Largest UDP response for EDNS clients (`server.edns_udp_payload`).
    pub edns_udp_payload: u16,
    /// Where managed answers are counted (laid out like `plan`).
    pub answers: &'a AnswerMetrics,
}
