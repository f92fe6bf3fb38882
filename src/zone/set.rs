//! The set of served zones, indexed for longest-suffix lookup. Lives in
//! `zone` so that `traffic` and `health` can read zones without depending
//! on `snapshot`.

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::rr::Name;

use super::Zone;

/// Every served zone, indexed for longest-suffix lookup.
#[derive(Debug, Default)]
pub struct ZoneSet {
    by_origin: HashMap<Name, Arc<Zone>>,
}

impl ZoneSet {
    /// Indexes `zones` by their (lower-cased) origin.
    pub fn new(zones: Vec<Arc<Zone>>) -> ZoneSet {
        let by_origin = zones.into_iter().map(|z| (z.origin.clone(), z)).collect();
        ZoneSet { by_origin }
    }

    /// The most specific served zone containing `name` (lower-cased), if any.
    pub fn find(&self, name: &Name) -> Option<&Arc<Zone>> {
        (0..=name.num_labels())
            .rev()
            .find_map(|n| self.by_origin.get(&name.trim_to(n as usize)))
    }

    /// The zone whose origin is exactly `origin` (lower-cased).
    pub(crate) fn get(&self, origin: &Name) -> Option<&Arc<Zone>> {
        self.by_origin.get(origin)
    }

    /// Iterates the zones in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.by_origin.values()
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    /// True when no zone is served.
    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}
