//! The shared, bounded cache of signatures made on first use: multivalue
//! subsets, compact-denial NSECs for names asked about, wildcard
//! expansions. Sharded mutexes taken with `try_lock` only: a worker that
//! finds its shard busy signs without the cache rather than wait, so no
//! query ever blocks on another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::signer::Sig;

/// Number of shards (a power of two).
const SHARDS: usize = 16;

/// Hashing for cache keys (names come from queries; a seeded hash).
type Hasher = foldhash::fast::RandomState;

/// One shard: RRset key to signatures.
type Shard = Mutex<HashMap<Box<[u8]>, Arc<Sig>, Hasher>>;

/// A bounded map from RRset key to its signatures.
#[derive(Debug)]
pub struct SigCache {
    shards: Vec<Shard>,
    /// Entries per shard before the shard is emptied.
    per_shard: usize,
    hasher: Hasher,
}

impl SigCache {
    /// A cache holding at most about `capacity` signatures.
    pub fn new(capacity: usize) -> SigCache {
        SigCache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::default()))
                .collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: Hasher::default(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        use std::hash::BuildHasher;
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// The cached signatures for `key`, if present and its shard is free.
    pub fn get(&self, key: &[u8]) -> Option<Arc<Sig>> {
        let shard = self.shard(key).try_lock().ok()?;
        shard.get(key).cloned()
    }

    /// Stores `sig` under `key` if the shard is free; a full shard is
    /// emptied first (simple, bounded, and the hot entries come back on
    /// their next use).
    pub fn put(&self, key: Box<[u8]>, sig: Arc<Sig>) {
        let Ok(mut shard) = self.shard(&key).try_lock() else {
            return;
        };
        if shard.len() >= self.per_shard {
            shard.clear();
        }
        shard.insert(key, sig);
    }

    /// Number of cached signatures (for tests and status).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|s| s.len()).unwrap_or(0))
            .sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keyed() {
        let cache = SigCache::new(32);
        for i in 0..1000u32 {
            cache.put(
                i.to_be_bytes().to_vec().into_boxed_slice(),
                Arc::new(Sig {
                    rrsigs: Vec::new(),
                    expires: i,
                    wire: Box::new([]),
                }),
            );
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        let key = 999u32.to_be_bytes();
        assert_eq!(cache.get(&key).unwrap().expires, 999);
    }
}
