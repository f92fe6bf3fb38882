//! Verification from the client's side, and the drill's life.
//!
//! Every round, each vantage × service pair sends real A queries over UDP
//! to Switchyard's own DNS listener, with the vantage's subnet as EDNS
//! Client Subnet, and the answers are compared with the drilled regions'
//! endpoints. Randomised policies (weighted, multivalue) get several
//! samples per round so one lucky answer does not hide the drilled region.
//!
//! Per pair:
//! - *convergence* is the time from the drill's start to the first probe of
//!   the final run of probes that no longer pointed at a drilled region
//!   (a relapse resets it); none within `converge_timeout` fails the pair;
//! - *restore* is the time from rollback until answers were back: the
//!   pre-drill answer set for deterministic policies, or the drilled
//!   region seen again for randomised ones (unaffected pairs: the first
//!   good answer);
//! - any error answer (SERVFAIL, REFUSED, NXDOMAIN, NODATA, timeout) fails it.

use std::collections::{BTreeSet, HashSet};
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use ipnet::IpNet;
use tokio::sync::watch;

use super::report::{DrillReport, PairReport, Phase, Verdict, ms_between};
use super::{Drills, Rollback, Vantage};
use crate::overrides::{Request, RequestKind};
use crate::traffic::{EndpointAnswer, Policy, TrafficPlan};

/// How long a drill whose overrides vanished waits for a stop request to
/// name who stopped it (the API removes the overrides, then signals).
const STOP_WORD_GRACE: Duration = Duration::from_millis(250);

/// How long one verification query may take before it counts as a timeout.
const QUERY_TIMEOUT: Duration = Duration::from_secs(1);

/// Samples per round for randomised policies.
const RANDOM_SAMPLES: usize = 3;

/// Samples of the answers before the drill for randomised policies (their
/// union is the "before" set).
const RANDOM_BEFORE_SAMPLES: usize = 8;

/// The address to query for a listener bound to `addr` (an unspecified
/// address means every interface; loopback is one of them).
pub(crate) fn loopback_for(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// One vantage × service to verify.
#[derive(Debug, Clone)]
struct Target {
    service: Name,
    /// The vantage's name.
    vantage: String,
    subnet: IpNet,
    /// Policy is randomised: several samples per round, and "restored"
    /// means the drilled region is seen again.
    random: bool,
}

/// What a drill verifies: the pairs (in report order) and the drilled
/// regions' answers.
#[derive(Debug, Clone)]
pub(crate) struct Targets {
    pairs: Vec<Target>,
    /// Every answer a drilled region's endpoints produce, as text.
    drilled: HashSet<String>,
    /// Names of the drilled regions (for messages).
    regions: Vec<String>,
}

/// Answers as text: A/AAAA addresses and CNAME targets.
pub type Answers = BTreeSet<String>;

impl Targets {
    /// Pairs for every vantage × service, in service-then-vantage order.
    pub(crate) fn new(
        plan: &TrafficPlan,
        regions: &[String],
        services: &[usize],
        vantages: &[Vantage],
    ) -> Targets {
        let pairs = services
            .iter()
            .flat_map(|&s| {
                let service = &plan.services[s];
                let random = matches!(service.policy, Policy::Weighted | Policy::Multivalue { .. });
                vantages.iter().map(move |v| Target {
                    service: service.name.clone(),
                    vantage: v.name.clone(),
                    subnet: v.subnet,
                    random,
                })
            })
            .collect();
        Targets {
            pairs,
            drilled: drilled_answers(plan, regions),
            regions: regions.to_vec(),
        }
    }

    /// Rebuilds the targets of a report (after a restart, or in the runner).
    pub(crate) fn for_report(plan: &TrafficPlan, report: &DrillReport) -> Targets {
        let pairs = report
            .pairs
            .iter()
            .map(|p| {
                let index = super::find_service(plan, &p.service);
                Target {
                    service: Name::from_ascii(&p.service).unwrap_or_else(|_| Name::root()),
                    vantage: p.vantage.clone(),
                    subnet: p
                        .subnet
                        .parse()
                        .unwrap_or_else(|_| IpNet::from(IpAddr::from(Ipv4Addr::UNSPECIFIED))),
                    random: index.is_some_and(|s| {
                        matches!(
                            plan.services[s].policy,
                            Policy::Weighted | Policy::Multivalue { .. }
                        )
                    }),
                }
            })
            .collect();
        Targets {
            pairs,
            drilled: drilled_answers(plan, &report.regions),
            regions: report.regions.clone(),
        }
    }

    /// Samples every pair before the drill and returns the fresh pair reports.
    pub(crate) async fn sample_before(&self, dns: SocketAddr) -> Vec<PairReport> {
        let samples = |t: &Target| if t.random { RANDOM_BEFORE_SAMPLES } else { 2 };
        let observed = self.round(dns, samples).await;
        self.pairs
            .iter()
            .zip(observed)
            .map(|(t, (before, _))| {
                let mut pair = PairReport::pending(
                    t.service.to_string(),
                    t.vantage.clone(),
                    t.subnet.to_string(),
                );
                match before {
                    Ok(answers) => {
                        pair.was_on_drilled = answers.iter().any(|a| self.drilled.contains(a));
                        pair.before = answers.into_iter().collect();
                    }
                    Err(e) => pair.fail(format!("before the drill: {e}")),
                }
                pair
            })
            .collect()
    }

    /// One round: every pair queried concurrently, `samples(pair)` times
    /// each; per pair the union of the answers (or the first error) and
    /// when its last answer arrived, so times are per pair, not per round.
    async fn round(
        &self,
        dns: SocketAddr,
        samples: impl Fn(&Target) -> usize,
    ) -> Vec<(Result<Answers, String>, SystemTime)> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, t) in self.pairs.iter().enumerate() {
            let (t, n) = (t.clone(), samples(t));
            tasks.spawn(async move {
                let mut all = Answers::new();
                for _ in 0..n {
                    match ask(dns, &t.service, t.subnet).await {
                        Ok(answers) => all.extend(answers),
                        Err(e) => return (i, Err(e), crate::clock::now()),
                    }
                }
                (i, Ok(all), crate::clock::now())
            });
        }
        let mut out: Vec<(Result<Answers, String>, SystemTime)> =
            vec![(Err("not queried".into()), crate::clock::now()); self.pairs.len()];
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, result, at)) = done {
                out[i] = (result, at);
            }
        }
        out
    }

    /// Drilled-region answers among `answers`, for messages.
    fn on_drilled<'a>(&self, answers: &'a Answers) -> Vec<&'a str> {
        answers
            .iter()
            .filter(|a| self.drilled.contains(*a))
            .map(String::as_str)
            .collect()
    }
}

/// Every answer the endpoints of `regions` produce, as text.
fn drilled_answers(plan: &TrafficPlan, regions: &[String]) -> HashSet<String> {
    regions
        .iter()
        .filter_map(|r| plan.region_index.get(r))
        .flat_map(|&r| plan.regions[r].endpoints.iter())
        .map(|e| match &e.answer {
            EndpointAnswer::V4(a) => a.to_string(),
            EndpointAnswer::V6(a) => a.to_string(),
            EndpointAnswer::Target(n) => n.to_string(),
        })
        .collect()
}

/// One A query for `name` from `subnet` to `dns`: the answers, or why there
/// are none (`SERVFAIL`, `NODATA`, `timeout`...).
pub async fn ask(dns: SocketAddr, name: &Name, subnet: IpNet) -> Result<Answers, String> {
    let id = fastrand::u16(..);
    let mut query = Message::new(id, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(name.clone(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    let ecs = ClientSubnet::new(subnet.addr(), subnet.prefix_len(), 0);
    edns.options_mut().insert(EdnsOption::Subnet(ecs));
    query.set_edns(edns);
    let bytes = query
        .to_vec()
        .map_err(|e| format!("cannot encode query: {e}"))?;
    // The exchange runs on a blocking thread with a real-time read timeout:
    // the bound is about the network, so it must not shrink when a test
    // pauses tokio's clock (and a blocking task in flight keeps paused time
    // from auto-advancing past an answer that is on its way).
    let reply = tokio::task::spawn_blocking(move || exchange(dns, &bytes, id))
        .await
        .map_err(|e| format!("query task failed: {e}"))??;
    let rcode = reply.metadata.response_code;
    if rcode != ResponseCode::NoError {
        return Err(rcode.to_string().to_uppercase());
    }
    let answers: Answers = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            RData::CNAME(c) => Some(c.0.to_string()),
            _ => None,
        })
        .collect();
    if answers.is_empty() {
        return Err("NODATA (empty answer)".into());
    }
    Ok(answers)
}

/// Sends `bytes` to `dns` over UDP from loopback and waits up to
/// [`QUERY_TIMEOUT`] (real time) for the reply with id `id`.
fn exchange(dns: SocketAddr, bytes: &[u8], id: u16) -> Result<Message, String> {
    let bind: SocketAddr = if dns.is_ipv6() {
        (Ipv6Addr::LOCALHOST, 0).into()
    } else {
        (Ipv4Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("cannot bind: {e}"))?;
    socket
        .connect(dns)
        .map_err(|e| format!("cannot reach {dns}: {e}"))?;
    socket.send(bytes).map_err(|e| format!("send: {e}"))?;
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let timeout = || format!("timeout (no answer in {} ms)", QUERY_TIMEOUT.as_millis());
    let mut buf = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout());
        }
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("receive: {e}"))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timeout());
            }
            Err(e) => return Err(format!("receive: {e}")),
        };
        // Ignore anything that is not the answer to this query.
        if let Ok(reply) = Message::from_vec(&buf[..n])
            && reply.metadata.id == id
        {
            return Ok(reply);
        }
    }
}

/// Folds one probe during the drill into `pair`; `at_ms` is since the start.
pub(crate) fn observe_during(
    pair: &mut PairReport,
    observed: Result<Answers, String>,
    at_ms: f64,
    targets: &Targets,
) {
    let answers = match observed {
        Ok(answers) => answers,
        Err(e) => {
            pair.fail(format!("{e} at +{at_ms:.0} ms during the drill"));
            return;
        }
    };
    pair.probes += 1;
    for a in &answers {
        if !pair.during.contains(a) {
            pair.during.push(a.clone());
            pair.during.sort();
        }
    }
    if targets.on_drilled(&answers).is_empty() {
        if pair.convergence_ms.is_none() {
            pair.convergence_ms = Some(at_ms);
        }
    } else {
        pair.last_on_drilled_ms = Some(at_ms);
        pair.convergence_ms = None;
    }
}

/// Fails `pair` when, `at_ms` after the start, answers still point (or
/// point again) at a drilled region past `timeout_ms`, or took longer than
/// that to leave.
pub(crate) fn check_convergence(
    pair: &mut PairReport,
    at_ms: f64,
    timeout_ms: f64,
    targets: &Targets,
) {
    if pair.result == Verdict::Fail {
        return;
    }
    let regions = targets.regions.join(", ");
    match pair.convergence_ms {
        None if at_ms >= timeout_ms => {
            let seen: Vec<&str> = pair
                .during
                .iter()
                .filter(|a| targets.drilled.contains(*a))
                .map(String::as_str)
                .collect();
            pair.fail(format!(
                "answers still pointed at {regions} ({}) {:.0} ms after the drill started, past converge_timeout_secs = {}",
                seen.join(" "),
                pair.last_on_drilled_ms.unwrap_or(at_ms),
                timeout_ms / 1e3
            ));
        }
        Some(c) if c > timeout_ms => pair.fail(format!(
            "answers took {c:.0} ms to leave {regions}, past converge_timeout_secs = {}",
            timeout_ms / 1e3
        )),
        _ => {}
    }
}

/// Folds one probe after rollback into `pair`; `at_ms` is since rollback.
pub(crate) fn observe_restore(
    pair: &mut PairReport,
    observed: Result<Answers, String>,
    at_ms: f64,
    targets: &Targets,
    random: bool,
) {
    let answers = match observed {
        Ok(answers) => answers,
        Err(e) => {
            pair.fail(format!("{e} at +{at_ms:.0} ms after rollback"));
            return;
        }
    };
    pair.probes += 1;
    if pair.restore_ms.is_some() {
        return;
    }
    let before: Answers = pair.before.iter().cloned().collect();
    let back = match (pair.was_on_drilled, random) {
        (true, true) => !targets.on_drilled(&answers).is_empty(),
        (false, true) => true,
        (_, false) => answers == before,
    };
    pair.after = answers.into_iter().collect();
    if back {
        pair.restore_ms = Some(at_ms);
    }
}

/// The drill's life: verify while the regions are out, roll back at the
/// end (or on stop, or when its overrides vanish), verify the restore,
/// finish the report. Resumes from whatever phase `report` is in.
pub(super) async fn run(
    drills: Drills,
    mut report: DrillReport,
    mut stop: watch::Receiver<Rollback>,
) {
    let inner = drills.inner.clone();
    let settings = inner.settings.borrow().drills.clone();
    let targets = Targets::for_report(&inner.snapshot.load().plan, &report);
    let interval = settings.probe_interval;
    let timeout_ms = settings.converge_timeout.as_secs_f64() * 1e3;
    if report.phase == Phase::Running {
        let (at, reason) = loop {
            if let Some(rollback) = stop.borrow_and_update().clone() {
                break rollback;
            }
            let now = crate::clock::now();
            let ours = inner
                .snapshot
                .load()
                .overrides
                .iter()
                .any(|o| o.drill.as_deref() == Some(report.id.as_str()));
            if !ours {
                // A stop through the API removes the overrides first and
                // says who stopped the drill right after: give that word a
                // moment to arrive before calling the removal anonymous.
                let said = tokio::time::timeout(STOP_WORD_GRACE, stop.changed()).await;
                if matches!(said, Ok(Ok(())))
                    && let Some(rollback) = stop.borrow_and_update().clone()
                {
                    break rollback;
                }
                // Expired (the publisher's timer fired first, or while the
                // server was down), or someone deleted the overrides.
                let reason = if now >= report.ends_at {
                    "expired"
                } else {
                    "its overrides were removed"
                };
                break (
                    now.min(report.ends_at).max(report.started),
                    reason.to_string(),
                );
            }
            if now >= report.ends_at {
                let ended = inner
                    .publisher
                    .change_overrides(Request {
                        kind: RequestKind::EndDrill {
                            drill: report.id.clone(),
                        },
                        who: "system".into(),
                        why: format!("drill {} reached its end", report.id),
                        force: false,
                        expires_in_secs: None,
                    })
                    .await;
                if let Err(e) = ended {
                    tracing::error!(drill = report.id, error = %e, "cannot end drill; its overrides expire by themselves");
                }
                break (crate::clock::now(), "expired".to_string());
            }
            let observed = targets
                .round(inner.dns, |t| if t.random { RANDOM_SAMPLES } else { 1 })
                .await;
            let started = report.started;
            for (pair, (obs, at)) in report.pairs.iter_mut().zip(observed) {
                // An answer from the moment the drill ended on may already
                // come from the restored routing (the publisher's expiry
                // timer fires at `ends_at` too): it says nothing about the drill.
                if at >= report.ends_at {
                    continue;
                }
                let at_ms = ms_between(started, at);
                observe_during(pair, obs, at_ms, &targets);
                check_convergence(pair, at_ms, timeout_ms, &targets);
            }
            let at_ms = report.since_start(crate::clock::now());
            verification_events(&drills, &mut report, at_ms, timeout_ms);
            let wait = interval.min(
                report
                    .ends_at
                    .duration_since(crate::clock::now())
                    .unwrap_or_default(),
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        };
        // A pair still on the drilled region when the drill ended never left it.
        let at_ms = report.since_start(at);
        for pair in &mut report.pairs {
            check_convergence(pair, at_ms.max(timeout_ms), timeout_ms, &targets);
        }
        verification_events(&drills, &mut report, at_ms.max(timeout_ms), timeout_ms);
        report.mark_rolling_back(at, reason.clone());
        report.event(at, "rolled_back", Some(reason));
        report.summarize();
        drills.persist(&report);
    }
    if report.phase == Phase::RollingBack {
        let rolled_back = report.rolled_back.unwrap_or_else(crate::clock::now);
        let deadline = rolled_back.max(crate::clock::now() - settings.converge_timeout)
            + settings.converge_timeout;
        loop {
            let pending: Vec<usize> = (0..report.pairs.len())
                .filter(|&i| {
                    report.pairs[i].restore_ms.is_none() && report.pairs[i].result != Verdict::Fail
                })
                .collect();
            if pending.is_empty() {
                break;
            }
            if crate::clock::now() >= deadline {
                for &i in &pending {
                    let pair = &mut report.pairs[i];
                    let reason = format!(
                        "answers did not return to [{}] within {} s after rollback (last: [{}])",
                        pair.before.join(" "),
                        settings.converge_timeout.as_secs(),
                        pair.after.join(" ")
                    );
                    pair.fail(reason);
                }
                break;
            }
            let observed = targets
                .round(inner.dns, |t| if t.random { RANDOM_SAMPLES } else { 1 })
                .await;
            // Failed pairs are observed too: their "after" belongs in the report.
            for ((pair, (obs, at)), target) in
                report.pairs.iter_mut().zip(observed).zip(&targets.pairs)
            {
                observe_restore(
                    pair,
                    obs,
                    ms_between(rolled_back, at),
                    &targets,
                    target.random,
                );
            }
            drills.update(&report);
            tokio::time::sleep(interval).await;
        }
        let restored: Vec<f64> = report.pairs.iter().filter_map(|p| p.restore_ms).collect();
        if restored.len() == report.pairs.len() {
            let worst = restored.iter().cloned().fold(0.0, f64::max);
            report.event(
                crate::clock::now(),
                "restored",
                Some(format!(
                    "every vantage back within {worst:.1} ms of rollback"
                )),
            );
        }
        for pair in &mut report.pairs {
            if pair.result == Verdict::Pending {
                pair.result = Verdict::Pass;
            }
        }
        let now = crate::clock::now();
        report.phase = Phase::Finished;
        report.finished = Some(now);
        report.summarize();
        let failed = report
            .pairs
            .iter()
            .filter(|p| p.result == Verdict::Fail)
            .count();
        report.event(
            now,
            "finished",
            Some(if failed == 0 {
                "pass".into()
            } else {
                format!(
                    "fail: {failed} of {} vantage × service pairs failed",
                    report.pairs.len()
                )
            }),
        );
        drills.persist(&report);
        if report.result == Verdict::Pass {
            tracing::info!(drill = report.id, "drill passed");
        } else {
            tracing::warn!(drill = report.id, failed, "drill failed");
        }
    }
}

/// Adds `verified` once every pair converged, or `verification_failed`
/// once the convergence bound passed with some that did not (each once),
/// saving the report when the timeline changes.
fn verification_events(drills: &Drills, report: &mut DrillReport, at_ms: f64, timeout_ms: f64) {
    let decided = |p: &PairReport| p.result == Verdict::Fail || p.convergence_ms.is_some();
    let failed: Vec<String> = report
        .pairs
        .iter()
        .filter(|p| p.result == Verdict::Fail)
        .map(|p| format!("{} from {}", p.service, p.vantage))
        .collect();
    let mut changed = false;
    if !report.has_event("verified") && !report.has_event("verification_failed") {
        if failed.is_empty() && report.pairs.iter().all(|p| p.convergence_ms.is_some()) {
            let worst = report
                .pairs
                .iter()
                .filter_map(|p| p.convergence_ms)
                .fold(0.0, f64::max);
            report.event(
                crate::clock::now(),
                "verified",
                Some(format!(
                    "every vantage off the drilled regions; slowest {worst:.1} ms"
                )),
            );
            changed = true;
        } else if !failed.is_empty() && (at_ms >= timeout_ms || report.pairs.iter().all(decided)) {
            report.event(
                crate::clock::now(),
                "verification_failed",
                Some(failed.join("; ")),
            );
            changed = true;
        }
    }
    report.summarize();
    if changed {
        drills.persist(report);
    } else {
        drills.update(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets {
            pairs: Vec::new(),
            drilled: ["198.51.100.1".to_string()].into_iter().collect(),
            regions: vec!["eu-west".into()],
        }
    }

    fn pair(before: &[&str]) -> PairReport {
        let mut pair = PairReport::pending(
            "geo.example.com.".into(),
            "eu".into(),
            "81.2.69.0/24".into(),
        );
        pair.before = before.iter().map(|s| s.to_string()).collect();
        pair.was_on_drilled = before.contains(&"198.51.100.1");
        pair
    }

    fn answers(list: &[&str]) -> Result<Answers, String> {
        Ok(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn convergence_is_the_start_of_the_final_clean_run() {
        let t = targets();
        let mut p = pair(&["198.51.100.1"]);
        observe_during(&mut p, answers(&["198.51.100.1"]), 1.0, &t);
        observe_during(&mut p, answers(&["192.0.2.1"]), 5.0, &t);
        assert_eq!(p.convergence_ms, Some(5.0));
        // A relapse resets it; the next clean probe starts the run again.
        observe_during(&mut p, answers(&["198.51.100.1"]), 9.0, &t);
        assert_eq!(p.convergence_ms, None);
        observe_during(&mut p, answers(&["192.0.2.1"]), 12.0, &t);
        assert_eq!(p.convergence_ms, Some(12.0));
        assert_eq!(p.last_on_drilled_ms, Some(9.0));
        check_convergence(&mut p, 100.0, 50.0, &t);
        assert_eq!(p.result, Verdict::Pending);
        assert_eq!(p.during, ["192.0.2.1", "198.51.100.1"]);
    }

    #[test]
    fn never_leaving_or_an_error_fails_with_the_reason() {
        let t = targets();
        let mut p = pair(&["198.51.100.1"]);
        observe_during(&mut p, answers(&["198.51.100.1", "192.0.2.1"]), 10.0, &t);
        check_convergence(&mut p, 10.0, 1000.0, &t);
        assert_eq!(p.result, Verdict::Pending, "not yet past the bound");
        check_convergence(&mut p, 1000.0, 1000.0, &t);
        assert_eq!(p.result, Verdict::Fail);
        let reason = p.reason.clone().unwrap();
        assert!(reason.contains("eu-west (198.51.100.1)"), "{reason}");
        let mut q = pair(&["192.0.2.1"]);
        observe_during(&mut q, Err("SERVFAIL".into()), 3.0, &t);
        assert_eq!(
            q.reason.as_deref(),
            Some("SERVFAIL at +3 ms during the drill")
        );
    }

    #[test]
    fn restore_means_the_same_answers_or_the_drilled_region_again() {
        let t = targets();
        let mut p = pair(&["198.51.100.1"]);
        observe_restore(&mut p, answers(&["192.0.2.1"]), 1.0, &t, false);
        assert_eq!(p.restore_ms, None);
        observe_restore(&mut p, answers(&["198.51.100.1"]), 2.0, &t, false);
        assert_eq!(p.restore_ms, Some(2.0));
        // Weighted: any answer in the drilled region counts.
        let mut w = pair(&["192.0.2.1", "198.51.100.1"]);
        observe_restore(&mut w, answers(&["192.0.2.1"]), 1.0, &t, true);
        assert_eq!(w.restore_ms, None);
        observe_restore(&mut w, answers(&["198.51.100.1"]), 4.0, &t, true);
        assert_eq!(w.restore_ms, Some(4.0));
        assert_eq!(w.after, ["198.51.100.1"]);
    }
}
