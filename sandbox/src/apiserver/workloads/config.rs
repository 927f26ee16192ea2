//! The simulator's timing and cluster shape, and the per-workload behaviour knobs (Rust overrides
//! and `sandbox.secret-rotator.dev/...` annotations).
//!
//! Invariant: parsing is pure and total: an annotation that cannot be parsed is reported as a
//! [`KnobError`] and leaves the default in force, it never stops the simulation.

use std::collections::BTreeMap;
use std::time::Duration;

/// Annotation on a workload selecting its rollout behaviour: `stall` or `fail` (`normal` or
/// absent: replicas become ready).
pub const ROLLOUT_ANNOTATION: &str = "sandbox.secret-rotator.dev/rollout";
/// Annotation on a workload overriding [`SimulatorConfig::ready_after`] (`2s`, `150ms`, `1m`).
pub const READY_AFTER_ANNOTATION: &str = "sandbox.secret-rotator.dev/ready-after";
/// Annotation on a workload overriding [`SimulatorConfig::start_after`].
pub const START_AFTER_ANNOTATION: &str = "sandbox.secret-rotator.dev/start-after";

/// Timing and cluster shape of the workload simulator.
///
/// The defaults are short so that tests running a real controller see rollouts finish in well
/// under a second per replica: a replica starts (resolves its Secrets) 50 ms after it is created
/// and is ready 100 ms later, so a one-replica rollout takes about 150 ms plus the write round
/// trips; a replaced replica keeps running for 50 ms of termination grace. Mounted Secret
/// volumes are refreshed 1 s after the Secret changes (a real kubelet takes up to about a minute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimulatorConfig {
    /// From a replica's creation to its containers starting (Secrets resolved, env frozen).
    pub start_after: Duration,
    /// From a container start to the replica being ready.
    pub ready_after: Duration,
    /// How long a replaced replica keeps running (terminating) before it is gone.
    pub terminate_after: Duration,
    /// Time between restarts of a crash-looping replica.
    pub crash_restart_after: Duration,
    /// From a Secret change to mounted (non-`subPath`) Secret volumes showing the new content.
    pub volume_sync_delay: Duration,
    /// Nodes in the simulated cluster: a DaemonSet's `desiredNumberScheduled`.
    pub nodes: u32,
    /// How often an unfinished rollout is re-examined for `progressDeadlineSeconds`.
    pub deadline_recheck: Duration,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            start_after: Duration::from_millis(50),
            ready_after: Duration::from_millis(100),
            terminate_after: Duration::from_millis(50),
            crash_restart_after: Duration::from_millis(500),
            volume_sync_delay: Duration::from_secs(1),
            nodes: 2,
            deadline_recheck: Duration::from_secs(1),
        }
    }
}

/// How new replicas of a workload behave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RolloutMode {
    /// Replicas become ready after their ready delay.
    #[default]
    Normal,
    /// Replicas that are not ready yet never become ready (a failing readiness probe); a
    /// Deployment rollout then exceeds its progress deadline.
    Stall,
    /// Replicas that start crash-loop (`CrashLoopBackOff`), restarting periodically.
    Fail,
}

impl std::str::FromStr for RolloutMode {
    type Err = KnobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" | "normal" => Ok(RolloutMode::Normal),
            "stall" => Ok(RolloutMode::Stall),
            "fail" => Ok(RolloutMode::Fail),
            other => Err(KnobError {
                annotation: ROLLOUT_ANNOTATION,
                message: format!("unknown rollout mode {other:?} (expected stall, fail or normal)"),
            }),
        }
    }
}

/// Per-workload behaviour. Unset fields fall back to the workload's annotations, then to the
/// [`SimulatorConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// Rollout behaviour.
    pub rollout: Option<RolloutMode>,
    /// Overrides [`SimulatorConfig::ready_after`].
    pub ready_after: Option<Duration>,
    /// Overrides [`SimulatorConfig::start_after`].
    pub start_after: Option<Duration>,
}

/// An annotation knob that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("annotation {annotation}: {message}")]
pub struct KnobError {
    /// The annotation.
    pub annotation: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// The behaviour in force for one workload: Rust overrides over annotations over defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// Rollout behaviour.
    pub rollout: RolloutMode,
    /// Creation to container start.
    pub start_after: Duration,
    /// Container start to ready.
    pub ready_after: Duration,
    /// Termination grace.
    pub terminate_after: Duration,
    /// Crash-loop restart interval.
    pub crash_restart_after: Duration,
    /// Secret volume refresh delay.
    pub volume_sync_delay: Duration,
}

fn parse_duration(annotation: &'static str, s: &str) -> Result<Duration, KnobError> {
    let d: jiff::SignedDuration = s.trim().parse().map_err(|e| KnobError {
        annotation,
        message: format!("invalid duration {s:?}: {e}"),
    })?;
    Duration::try_from(d).map_err(|_| KnobError {
        annotation,
        message: format!("negative duration {s:?}"),
    })
}

impl Knobs {
    /// The knobs a workload's annotations set, and the annotations that could not be parsed.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> (Knobs, Vec<KnobError>) {
        let mut knobs = Knobs::default();
        let mut errors = vec![];
        if let Some(v) = annotations.get(ROLLOUT_ANNOTATION) {
            match v.parse() {
                Ok(m) => knobs.rollout = Some(m),
                Err(e) => errors.push(e),
            }
        }
        if let Some(v) = annotations.get(READY_AFTER_ANNOTATION) {
            match parse_duration(READY_AFTER_ANNOTATION, v) {
                Ok(d) => knobs.ready_after = Some(d),
                Err(e) => errors.push(e),
            }
        }
        if let Some(v) = annotations.get(START_AFTER_ANNOTATION) {
            match parse_duration(START_AFTER_ANNOTATION, v) {
                Ok(d) => knobs.start_after = Some(d),
                Err(e) => errors.push(e),
            }
        }
        (knobs, errors)
    }

    /// The behaviour with `self` over `annotations` over `config`.
    pub fn resolve(&self, annotations: &Knobs, config: &SimulatorConfig) -> Behaviour {
        Behaviour {
            rollout: self.rollout.or(annotations.rollout).unwrap_or_default(),
            start_after: self
                .start_after
                .or(annotations.start_after)
                .unwrap_or(config.start_after),
            ready_after: self
                .ready_after
                .or(annotations.ready_after)
                .unwrap_or(config.ready_after),
            terminate_after: config.terminate_after,
            crash_restart_after: config.crash_restart_after,
            volume_sync_delay: config.volume_sync_delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn annotations_set_knobs() {
        let (k, errors) = Knobs::from_annotations(&annotations(&[
            (ROLLOUT_ANNOTATION, "stall"),
            (READY_AFTER_ANNOTATION, "2s"),
            (START_AFTER_ANNOTATION, "150ms"),
        ]));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(k.rollout, Some(RolloutMode::Stall));
        assert_eq!(k.ready_after, Some(Duration::from_secs(2)));
        assert_eq!(k.start_after, Some(Duration::from_millis(150)));
        let (k, _) = Knobs::from_annotations(&annotations(&[(ROLLOUT_ANNOTATION, "fail")]));
        assert_eq!(k.rollout, Some(RolloutMode::Fail));
    }

    #[test]
    fn bad_annotations_are_reported_and_ignored() {
        let (k, errors) = Knobs::from_annotations(&annotations(&[
            (ROLLOUT_ANNOTATION, "explode"),
            (READY_AFTER_ANNOTATION, "soon"),
            (START_AFTER_ANNOTATION, "-1s"),
        ]));
        assert_eq!(k, Knobs::default());
        assert_eq!(errors.len(), 3);
        assert!(errors[0].to_string().contains("explode"), "{}", errors[0]);
        assert_eq!(errors[1].annotation, READY_AFTER_ANNOTATION);
    }

    #[test]
    fn rust_overrides_win_over_annotations_over_defaults() {
        let config = SimulatorConfig::default();
        let from_annotations = Knobs {
            rollout: Some(RolloutMode::Stall),
            ready_after: Some(Duration::from_secs(2)),
            start_after: None,
        };
        let b = Knobs::default().resolve(&from_annotations, &config);
        assert_eq!(b.rollout, RolloutMode::Stall);
        assert_eq!(b.ready_after, Duration::from_secs(2));
        assert_eq!(b.start_after, config.start_after);
        let overrides = Knobs {
            rollout: Some(RolloutMode::Normal),
            ..Default::default()
        };
        assert_eq!(
            overrides.resolve(&from_annotations, &config).rollout,
            RolloutMode::Normal
        );
    }
}
