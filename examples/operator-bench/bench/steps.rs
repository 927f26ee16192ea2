//! Rotation latency per step: from the phase changes the change feed showed for each rotation,
//! how long rotations waited before their first step (a slot of the rotation cap) and how long
//! they spent in each phase (`Pending`: minting; `Verifying`: the new credential must
//! authenticate several times in a row; `Verified`: waiting to write the Secret; `RollingOut`;
//! `Retiring`: revoking the previous credential).
//!
//! Invariant: pure; only phase changes at or after a rotation's request instant count, so an
//! earlier rotation of the same object (the burst, before the backlog) never leaks into a step.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secret_rotator::api::RotationPhase;
use serde::Serialize;

use super::stats::{Percentiles, percentiles};

/// The name of the wait before the first phase.
pub const QUEUED: &str = "queued (request → Pending)";

/// One step's latency over the rotations that went through it.
#[derive(Clone, Debug, Serialize)]
pub struct StepLatency {
    /// `queued (request → Pending)` or the phase's name.
    pub step: String,
    /// Time spent in it.
    pub latency: Percentiles,
}

/// The order steps are listed in.
fn rank(phase: RotationPhase) -> u8 {
    match phase {
        RotationPhase::Pending => 1,
        RotationPhase::Verifying => 2,
        RotationPhase::Verified => 3,
        RotationPhase::RollingOut => 4,
        RotationPhase::Retiring => 5,
        RotationPhase::Abandoning => 6,
    }
}

/// Per-step latencies of rotations, each given as (request instant, its phase changes in order).
/// A phase still in flight at the end (no later change) is not counted.
pub fn step_latencies<'a>(
    rotations: impl IntoIterator<Item = (Instant, &'a [(Option<RotationPhase>, Instant)])>,
) -> Vec<StepLatency> {
    let mut queued = vec![];
    let mut by_phase: BTreeMap<u8, (RotationPhase, Vec<Duration>)> = BTreeMap::new();
    for (requested, changes) in rotations {
        let changes: Vec<_> = changes.iter().filter(|(_, at)| *at >= requested).collect();
        if let Some((_, first)) = changes.iter().find(|(p, _)| p.is_some()) {
            queued.push(first.saturating_duration_since(requested));
        }
        for pair in changes.windows(2) {
            let ((phase, entered), (_, left)) = (pair[0], pair[1]);
            if let Some(phase) = phase {
                by_phase
                    .entry(rank(*phase))
                    .or_insert_with(|| (*phase, vec![]))
                    .1
                    .push(left.saturating_duration_since(*entered));
            }
        }
    }
    let mut out = vec![];
    if !queued.is_empty() {
        out.push(StepLatency {
            step: QUEUED.to_owned(),
            latency: percentiles(&queued),
        });
    }
    for (_, (phase, sample)) in by_phase {
        out.push(StepLatency {
            step: format!("{phase:?}"),
            latency: percentiles(&sample),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_measured_from_the_request_and_between_phase_changes() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let changes = vec![
            (Some(RotationPhase::Pending), ms(10)),
            (Some(RotationPhase::Verifying), ms(30)),
            (Some(RotationPhase::RollingOut), ms(4030)),
            (None, ms(4100)),
        ];
        let steps = step_latencies([(t0, changes.as_slice())]);
        let got: Vec<(&str, f64)> = steps
            .iter()
            .map(|s| (s.step.as_str(), s.latency.p50_ms))
            .collect();
        assert_eq!(
            got,
            [
                (QUEUED, 10.0),
                ("Pending", 20.0),
                ("Verifying", 4000.0),
                ("RollingOut", 70.0)
            ]
        );
    }

    #[test]
    fn changes_before_the_request_and_unfinished_phases_are_ignored() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let changes = vec![
            // An earlier rotation of the same object.
            (Some(RotationPhase::Pending), ms(0)),
            (None, ms(50)),
            // The one requested at 100 ms, still verifying at the end.
            (Some(RotationPhase::Pending), ms(150)),
            (Some(RotationPhase::Verifying), ms(160)),
        ];
        let steps = step_latencies([(ms(100), changes.as_slice())]);
        let got: Vec<(&str, f64)> = steps
            .iter()
            .map(|s| (s.step.as_str(), s.latency.max_ms))
            .collect();
        assert_eq!(got, [(QUEUED, 50.0), ("Pending", 10.0)]);
    }

    #[test]
    fn no_rotation_gives_no_step() {
        assert!(step_latencies([]).is_empty());
    }
}
