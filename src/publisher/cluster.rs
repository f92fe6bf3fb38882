//! The publisher's side of a cluster store (`[cluster] store = "etcd"`):
//! the override set arrives whole from the cluster (the watcher, or the
//! write path after its compare-and-swap) and replaces ours. The publisher
//! stays the only snapshot writer; it also saves the set to the state dir,
//! so a restart while the store is unreachable serves the last known state.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Publisher, change_for};
use crate::overrides::{Applied, Change, ChangeError, OverrideSet, Report, Request, newly_starved};

/// A boxed, sendable future (the trait below must be object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where override changes go when they are shared by a cluster: the
/// cluster's write path (read, safety rule, compare-and-swap, publish).
/// A trait so the publisher does not depend on the cluster module.
pub trait SharedOverrides: Send + Sync + Debug {
    /// Applies `request` to the cluster's set; returns once the change is
    /// in the store and published here.
    fn change(&self, request: Request) -> BoxFuture<'_, Result<Report, ChangeError>>;
}

/// What a request would do to a cluster's set, as the publisher judges it.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The change (ids and times minted).
    pub change: Change,
    /// The set it leaves.
    pub next: OverrideSet,
    /// What it did.
    pub applied: Applied,
    /// Services it leaves with no region because the caller forced it.
    pub forced_past: Vec<String>,
}

/// A request's description (for the audit trail) and how it evaluates.
pub type Evaluated = (String, Result<Evaluation, ChangeError>);

impl Publisher {
    /// Evaluates `request` against `base` (the cluster's set as just read):
    /// the change, the set it leaves and the safety rule, with the plan and
    /// health this instance serves. Pure with respect to what is served:
    /// nothing is stored or published here. The cluster write path calls it
    /// through [`Command::Evaluate`](super::Command::Evaluate) so the rule
    /// lives in the publisher for both stores.
    pub fn evaluate(
        &mut self,
        request: &Request,
        base: &OverrideSet,
        now: SystemTime,
    ) -> Evaluated {
        let change = change_for(request, base, &mut self.rng, now);
        let what = change.describe();
        let plan = &self.inputs.plan;
        let outcome = base.apply(plan, &change).and_then(|(next, applied)| {
            let starved = newly_starved(plan, &self.health, base, &next);
            let mut forced_past = Vec::new();
            if !starved.is_empty() {
                if !request.force {
                    return Err(ChangeError::Unsafe(starved));
                }
                forced_past = starved;
            }
            Ok(Evaluation {
                change: change.clone(),
                next,
                applied,
                forced_past,
            })
        });
        (what, outcome)
    }

    /// Takes the cluster's set at `revision` (ignored when older than the
    /// one served: the watcher and the write path race), drops what has
    /// expired by our clock (the cluster removes it too, once), saves it
    /// locally and publishes. Returns the generation serving it.
    pub fn cluster_state(&mut self, set: OverrideSet, revision: i64, now: SystemTime) -> u64 {
        let current = self.snapshot.load().generation;
        if revision < self.cluster_revision {
            return current;
        }
        self.cluster_revision = revision;
        let (set, _) = set.expire(now);
        if set == *self.overrides {
            return current;
        }
        if let Err(e) = self.durable.store.save(&set) {
            // Serving it matters more than caching it; the next restart
            // without the store would serve the previous copy.
            tracing::error!(error = %e, "cannot save the cluster's overrides locally");
        }
        let known: Vec<&str> = self.overrides.iter().map(|o| o.id.as_str()).collect();
        let fresh: Vec<SystemTime> = set
            .iter()
            .filter(|o| !known.contains(&o.id.as_str()))
            .filter_map(|o| o.expires)
            .collect();
        self.replace_overrides(Arc::new(set));
        for at in fresh {
            self.schedule_expiry(at);
        }
        let generation = self.publish();
        tracing::info!(revision, generation, "published the cluster's overrides");
        generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Inputs;
    use crate::overrides::{Action, Override};
    use crate::traffic::HealthInputs;
    use std::time::Duration;

    fn publisher(dir: &std::path::Path) -> Publisher {
        std::fs::create_dir_all(dir.join("zones")).unwrap();
        std::fs::write(
            dir.join("zones/c.test.zone"),
            "$ORIGIN c.test.\n@ 300 SOA ns1 host 1 7200 900 1209600 60\n@ 300 NS ns1\nns1 300 A 127.0.0.53\n",
        )
        .unwrap();
        let path = dir.join("switchyard.toml");
        std::fs::write(
            &path,
            "version = 1\n[server]\ndns_listen = [\"127.0.0.1:0\"]\napi_listen = \"127.0.0.1:0\"\nzones_dir = \"zones\"\nstate_dir = \"state\"\n[regions.r]\nendpoints = [{ address = \"192.0.2.1\" }]\n",
        )
        .unwrap();
        let durable =
            crate::overrides::store::restore(&dir.join("state"), false, SystemTime::now()).unwrap();
        Publisher::new(
            path.clone(),
            Inputs::load(&path).unwrap(),
            HealthInputs::new(),
            durable,
        )
    }

    fn set(ids: &[&str], expires: Option<SystemTime>) -> OverrideSet {
        OverrideSet::from_vec(
            ids.iter()
                .map(|id| Override {
                    id: id.to_string(),
                    region: "r".into(),
                    action: Action::Weight { weight: 5 },
                    who: "alice".into(),
                    why: "test".into(),
                    created: SystemTime::UNIX_EPOCH,
                    expires,
                    drill: None,
                })
                .collect(),
        )
    }

    #[test]
    fn newer_cluster_state_replaces_ours_older_is_ignored_and_it_is_saved() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = publisher(dir.path());
        let now = SystemTime::now();
        assert_eq!(p.cluster_state(set(&["ov-1"], None), 5, now), 2);
        assert_eq!(p.snapshot.load().overrides.len(), 1);
        // The watcher delivering the same revision again publishes nothing.
        assert_eq!(p.cluster_state(set(&["ov-1"], None), 5, now), 2);
        // An older revision (a late watch event) never rolls us back.
        assert_eq!(p.cluster_state(set(&[], None), 4, now), 2);
        assert_eq!(p.snapshot.load().overrides.len(), 1);
        assert_eq!(p.cluster_state(set(&["ov-1", "ov-2"], None), 9, now), 3);
        // Saved locally, for a restart while the store is unreachable.
        let saved = crate::overrides::store::OverrideStore::open(&dir.path().join("state"))
            .unwrap()
            .load()
            .unwrap();
        assert_eq!(saved, set(&["ov-1", "ov-2"], None));
        // An override already expired by our clock is not served.
        let past = now - Duration::from_secs(1);
        p.cluster_state(set(&["ov-3"], Some(past)), 10, now);
        assert!(p.snapshot.load().overrides.is_empty());
    }

    #[test]
    fn evaluation_applies_the_safety_rule_to_the_given_set_and_changes_nothing() {
        use crate::overrides::RequestKind;
        let dir = tempfile::tempdir().unwrap();
        let mut p = publisher(dir.path());
        let drain = Request {
            kind: RequestKind::Set {
                region: "r".into(),
                action: Action::Drain,
            },
            who: "alice".into(),
            why: "test".into(),
            force: false,
            expires_in_secs: None,
        };
        let now = SystemTime::now();
        // (No service uses `r` here, so the rule has nothing to refuse;
        // the cluster tests cover refusals between instances.)
        let (what, outcome) = p.evaluate(&drain, &OverrideSet::default(), now);
        assert_eq!(what, "drain r");
        let evaluation = outcome.unwrap();
        assert_eq!(evaluation.next.weight_of("r"), Some(0));
        assert!(evaluation.applied.created.is_some());
        // Judged against the given set: an existing weight is replaced.
        let (_, outcome) = p.evaluate(&drain, &set(&["ov-1"], None), now);
        assert_eq!(outcome.unwrap().applied.removed.len(), 1);
        // Unknown regions fail; nothing was published either way.
        let unknown = Request {
            kind: RequestKind::ClearForce {
                region: "nope".into(),
            },
            ..drain.clone()
        };
        assert_eq!(
            p.evaluate(&unknown, &OverrideSet::default(), now)
                .1
                .unwrap_err(),
            ChangeError::UnknownRegion("nope".into())
        );
        assert_eq!(p.snapshot.load().generation, 1);
        assert!(p.snapshot.load().overrides.is_empty());
    }
}
