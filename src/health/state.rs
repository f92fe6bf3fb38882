//! The per-endpoint state machine: consecutive probe results in, up/down
//! verdicts out, with hysteresis so a flapping target does not flap answers.
//!
//! Pure and clock-free: the scheduler feeds it results and records times.

use serde::{Deserialize, Serialize};

/// What the checker believes about an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// No verdict yet (and nothing persisted): counts as up.
    Unknown,
    /// `rise` consecutive successes (or one, from unknown).
    Up,
    /// `fall` consecutive failures.
    Down,
}

impl HealthState {
    /// Whether answers may include the endpoint in this state.
    pub(crate) fn counts_as_up(self) -> bool {
        self != HealthState::Down
    }
}

/// A change of verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: HealthState,
    /// The state after.
    pub to: HealthState,
}

impl Transition {
    /// Does the change move the endpoint in or out of answers? (Unknown to
    /// up does not: unknown already counted as up.)
    pub(crate) fn changes_answers(&self) -> bool {
        self.from.counts_as_up() != self.to.counts_as_up()
    }
}

/// One endpoint's verdict and the streaks that lead to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    state: HealthState,
    successes: u32,
    failures: u32,
    fall: u32,
    rise: u32,
}

impl EndpointHealth {
    /// Starts in `state` (configured initial state or a restored one);
    /// `fall` and `rise` are at least 1 (validated config).
    pub fn new(state: HealthState, fall: u32, rise: u32) -> EndpointHealth {
        EndpointHealth {
            state,
            successes: 0,
            failures: 0,
            fall: fall.max(1),
            rise: rise.max(1),
        }
    }

    /// The current verdict.
    pub fn state(&self) -> HealthState {
        self.state
    }

    /// Consecutive successful probes, up to now.
    pub fn consecutive_successes(&self) -> u32 {
        self.successes
    }

    /// Consecutive failed probes, up to now.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// Records one probe result; returns the transition it caused, if any.
    ///
    /// - down to up after `rise` consecutive successes;
    /// - up (or unknown) to down after `fall` consecutive failures;
    /// - unknown to up on the first success: unknown already counted as up,
    ///   so this only settles the verdict.
    pub(crate) fn observe(&mut self, success: bool) -> Option<Transition> {
        let from = self.state;
        if success {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
            let up = match from {
                HealthState::Up => false,
                HealthState::Unknown => true,
                HealthState::Down => self.successes >= self.rise,
            };
            up.then(|| self.move_to(HealthState::Up))
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
            let down = from != HealthState::Down && self.failures >= self.fall;
            down.then(|| self.move_to(HealthState::Down))
        }
    }

    fn move_to(&mut self, to: HealthState) -> Transition {
        let from = self.state;
        self.state = to;
        Transition { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthState::*;

    fn run(machine: &mut EndpointHealth, results: &str) -> Vec<HealthState> {
        results
            .chars()
            .map(|c| {
                machine.observe(c == '+');
                machine.state()
            })
            .collect()
    }

    #[test]
    fn fall_consecutive_failures_mark_down() {
        let mut m = EndpointHealth::new(Up, 3, 2);
        assert_eq!(run(&mut m, "--"), [Up, Up]);
        assert_eq!(m.consecutive_failures(), 2);
        assert_eq!(m.observe(false), Some(Transition { from: Up, to: Down }));
        assert_eq!(m.observe(false), None, "already down");
    }

    #[test]
    fn rise_consecutive_successes_bring_it_back() {
        let mut m = EndpointHealth::new(Down, 2, 3);
        assert_eq!(run(&mut m, "++"), [Down, Down]);
        assert_eq!(m.observe(true), Some(Transition { from: Down, to: Up }));
        assert_eq!(m.consecutive_successes(), 3);
    }

    #[test]
    fn a_failure_resets_the_success_streak() {
        let mut m = EndpointHealth::new(Down, 2, 3);
        assert_eq!(run(&mut m, "++-++"), [Down; 5]);
        assert_eq!(run(&mut m, "+"), [Up]);
    }

    #[test]
    fn a_success_resets_the_failure_streak() {
        let mut m = EndpointHealth::new(Up, 2, 2);
        assert_eq!(run(&mut m, "-+-+-+-+"), [Up; 8]);
    }

    #[test]
    fn flapping_target_never_flaps_answers() {
        // Alternating results, and pairs of failures between single
        // successes: with rise = 2 a lucky probe never brings it back.
        let mut m = EndpointHealth::new(Up, 2, 2);
        let states = run(&mut m, "--+--+--+-+-+-+--+");
        let transitions = states.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(states[1], Down);
        assert_eq!(transitions, 1, "went down once and stayed down: {states:?}");
        assert_eq!(*states.last().unwrap(), Down);
    }

    #[test]
    fn unknown_counts_as_up_and_settles_on_first_success() {
        let mut m = EndpointHealth::new(Unknown, 2, 2);
        assert!(m.state().counts_as_up());
        let t = m.observe(true).unwrap();
        assert_eq!(
            t,
            Transition {
                from: Unknown,
                to: Up
            }
        );
        assert!(!t.changes_answers());
    }

    #[test]
    fn unknown_goes_down_after_fall_failures() {
        let mut m = EndpointHealth::new(Unknown, 2, 2);
        assert_eq!(m.observe(false), None);
        let t = m.observe(false).unwrap();
        assert_eq!(
            t,
            Transition {
                from: Unknown,
                to: Down
            }
        );
        assert!(t.changes_answers());
    }

    #[test]
    fn restored_down_needs_rise_successes() {
        // A restart that restored "down" must not serve the endpoint on one
        // good probe.
        let mut m = EndpointHealth::new(Down, 2, 3);
        assert!(!m.state().counts_as_up());
        assert_eq!(run(&mut m, "++"), [Down, Down]);
        assert_eq!(run(&mut m, "+"), [Up]);
    }

    #[test]
    fn thresholds_of_one_act_on_every_result() {
        let mut m = EndpointHealth::new(Up, 1, 1);
        assert_eq!(run(&mut m, "-+-"), [Down, Up, Down]);
    }
}
