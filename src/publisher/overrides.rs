//! The publisher's override commands: apply a change (safety rule, persist,
//! publish, audit) and lapse expired overrides. Kept beside the publisher's
//! core so each file stays about one thing.

use std::sync::Arc;
use std::time::SystemTime;

use super::{Command, PublishMode, Publisher};
use crate::overrides::audit::{Entry, Outcome};
use crate::overrides::{
    Action, Change, ChangeError, ForceState, Override, OverrideSet, Report, Request, RequestKind,
    expiry_after, new_id, newly_starved, newly_starved_full,
};

impl Publisher {
    /// Applies an override change: compute the would-be set (pure), check
    /// the safety rule, persist, and only then publish; audit whatever
    /// happened. A refused or failed change leaves the set as it was.
    pub fn change_overrides(
        &mut self,
        request: Request,
        now: SystemTime,
    ) -> Result<Report, ChangeError> {
        let change = change_for(&request, &self.overrides, &mut self.rng, now);
        let plan = &self.inputs.plan;
        let mut forced_past = Vec::new();
        let outcome = self
            .overrides
            .apply(plan, &change)
            .and_then(|(next, applied)| {
                let starved = match self.mode {
                    PublishMode::Incremental => {
                        newly_starved(plan, &self.health, &self.overrides, &next)
                    }
                    PublishMode::Full => {
                        newly_starved_full(plan, &self.health, &self.overrides, &next)
                    }
                };
                if !starved.is_empty() {
                    if !request.force {
                        return Err(ChangeError::Unsafe(starved));
                    }
                    forced_past = starved;
                }
                self.durable.store.save(&next).map_err(|e| {
                    ChangeError::Storage(format!("{}: {e}", self.durable.store.path().display()))
                })?;
                Ok((next, applied))
            });
        let entry = |result: Outcome, detail: String| Entry {
            time: now,
            who: request.who.clone(),
            what: change.describe(),
            why: request.why.clone(),
            result,
            detail: Some(detail),
        };
        match outcome {
            Ok((next, applied)) => {
                self.replace_overrides(Arc::new(next));
                let generation = self.publish();
                if let Some(at) = applied.created.as_ref().and_then(|o| o.expires) {
                    self.schedule_expiry(at);
                }
                let detail = applied.audit_detail(format!("generation {generation}"), &forced_past);
                tracing::info!(
                    who = request.who,
                    what = change.describe(),
                    why = request.why,
                    detail,
                    "override change applied"
                );
                self.durable
                    .audit
                    .record_or_log(&entry(Outcome::Ok, detail));
                metrics::counter!("switchyard_override_changes_total", "result" => "ok")
                    .increment(1);
                Ok(Report {
                    generation,
                    applied,
                })
            }
            Err(e) => {
                let result = e.count_outcome();
                tracing::warn!(who = request.who, what = change.describe(), error = %e, "override change not applied");
                self.durable
                    .audit
                    .record_or_log(&entry(result, e.to_string()));
                Err(e)
            }
        }
    }

    /// Drops the overrides expired at `now`, persists and publishes the
    /// rest, and audits each one as `expired`. Expiry never waits on the
    /// safety rule: an operator asked for it to end.
    pub(crate) fn expire_overrides(&mut self, now: SystemTime) {
        let (next, gone) = self.overrides.expire(now);
        if gone.is_empty() {
            // Woken early (timer granularity, clock steps): try again later.
            if let Some(at) = next.next_expiry() {
                self.schedule_expiry(at);
            }
            return;
        }
        if let Err(e) = self.durable.store.save(&next) {
            // Still lapse them: were the server to restart now, they would
            // be restored expired and dropped on load anyway.
            tracing::error!(error = %e, "cannot persist overrides after expiry");
        }
        self.replace_overrides(Arc::new(next));
        let generation = self.publish();
        metrics::counter!("switchyard_override_changes_total", "result" => "expired")
            .increment(gone.len() as u64);
        for o in gone {
            tracing::info!(
                id = o.id,
                region = o.region,
                action = o.action.describe(),
                "override expired"
            );
            self.durable.audit.record_or_log(&Entry {
                time: now,
                who: "system".into(),
                what: o.describe(),
                why: o.why.clone(),
                result: Outcome::Expired,
                detail: Some(format!("generation {generation}; made by {}", o.who)),
            });
        }
    }

    /// Sends [`Command::ExpireDue`] to the running publisher at `at`.
    pub(super) fn schedule_expiry(&self, at: SystemTime) {
        let Some(tx) = self.expiry_tx.clone() else {
            return;
        };
        let wait = at.duration_since(crate::clock::now()).unwrap_or_default();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            if let Some(tx) = tx.upgrade() {
                let _ = tx.send(Command::ExpireDue).await;
            }
        });
    }
}

/// The [`Change`] a request asks for against `current`: mints ids (unique
/// in `current`) and times. Shared by the local path here and the cluster
/// write path, which computes it against the cluster's set.
pub(crate) fn change_for(
    request: &Request,
    current: &OverrideSet,
    rng: &mut fastrand::Rng,
    now: SystemTime,
) -> Change {
    match request.kind.clone() {
        RequestKind::Set { region, action } => Change::Create(Override {
            id: new_id(current, rng),
            region,
            action,
            who: request.who.clone(),
            why: request.why.clone(),
            created: now,
            expires: request.expires_in_secs.map(|secs| expiry_after(now, secs)),
            drill: None,
        }),
        RequestKind::Delete { id } => Change::Delete(id),
        RequestKind::ClearForce { region } => Change::ClearForce(region),
        RequestKind::StartDrill { drill, regions } => {
            // Ids are minted against the set growing as we go, so the
            // drill's own overrides never collide with each other.
            let mut ids = current.clone();
            let list = regions
                .into_iter()
                .map(|region| {
                    let o = Override {
                        id: new_id(&ids, rng),
                        region,
                        action: Action::Force {
                            state: ForceState::Down,
                        },
                        who: request.who.clone(),
                        why: request.why.clone(),
                        created: now,
                        expires: request.expires_in_secs.map(|secs| expiry_after(now, secs)),
                        drill: Some(drill.clone()),
                    };
                    ids = OverrideSet::from_vec(ids.iter().cloned().chain([o.clone()]).collect());
                    o
                })
                .collect();
            Change::StartDrill(list)
        }
        RequestKind::EndDrill { drill } => Change::EndDrill(drill),
    }
}
