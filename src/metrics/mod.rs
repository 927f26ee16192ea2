//! The operator's Prometheus metrics, exactly as `docs/metrics.md` (the contract the alerts and the
//! dashboard read) lists them: [`Metrics`] registers every family in a `Registry` the process owns
//! and hands down (no global registry: tests build their own), and is what the controller, the
//! Entra client (through the provider's [`RequestObserver`] seam) and leader election record into.
//!
//! Layout, one concern per module:
//! * [`rotation`]: the per-rotation series (leader only, removed with their rotation), derived
//!   from each rotation's status;
//! * [`requests`]: Graph and token-endpoint requests by operation and outcome;
//! * [`timer`]: the drop-guard timers of steps and reconciles;
//! * [`endpoint`]: the OpenMetrics text encoding and the `/metrics` route.
//!
//! Invariants: every label value comes from a bounded set (rotation names and namespaces, the
//! provider's credential ids of unmanaged credentials, and fixed sets of reasons, steps,
//! operations, outcomes and results); no secret value, hint, token or client id is ever a label.
//!
//! [`RequestObserver`]: crate::provider::observer::RequestObserver

pub mod endpoint;
pub mod requests;
pub mod rotation;
pub mod timer;

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::{Registry, Unit},
};

pub use self::{
    endpoint::{CONTENT_TYPE, encode},
    requests::GraphRequests,
    rotation::{Exporting, RotationSeries},
    timer::Timer,
};

/// The prefix of every metric name.
pub const PREFIX: &str = "secret_rotator";

/// Bucket bounds (seconds) of the step and reconcile histograms: from a Kubernetes write (a few
/// milliseconds) to a Graph call that retried through its whole budget (two minutes).
pub const DURATION_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 120.0,
];

/// `step` of `secret_rotator_step_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    step: &'static str,
}

/// `result` of `secret_rotator_reconcile_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric of the operator. Cheap to clone: clones share the same series.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// The per-rotation series.
    pub rotations: Arc<RotationSeries>,
    /// Graph and token-endpoint requests (the provider's request observer).
    pub requests: Arc<GraphRequests>,
    step_duration: Family<StepLabels, Histogram, fn() -> Histogram>,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: Histogram,
    leader: Gauge,
}

impl Metrics {
    /// Registers every metric in `registry`, under the `secret_rotator_` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix(PREFIX);
        let rotations = Arc::new(RotationSeries::register(registry));
        let requests = Arc::new(GraphRequests::register(registry));
        let step_duration: Family<StepLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "step_duration",
            "Duration of each executed rotation step, by step",
            Unit::Seconds,
            step_duration.clone(),
        );
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register(
            "reconcile",
            "Reconciliations, by result (ok or error)",
            reconciles.clone(),
        );
        let reconcile_duration = duration_histogram();
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of each reconciliation",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 on the replica that holds the leader Lease, 0 on the others",
            leader.clone(),
        );
        // Both results exist from the start, so a rate of errors is 0 rather than absent.
        for result in ["ok", "error"] {
            let _ = reconciles.get_or_create(&ResultLabels { result });
        }
        Self {
            rotations,
            requests,
            step_duration,
            reconciles,
            reconcile_duration,
            leader,
        }
    }

    /// Metrics registered nowhere (nothing serves them): for an operator whose caller does not
    /// collect metrics.
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    /// Times one executed step (`Mint`, `Verify`, ...) until the returned timer is dropped.
    pub fn time_step(&self, step: &'static str) -> Timer {
        Timer::start(self.step_duration.get_or_create_owned(&StepLabels { step }))
    }

    /// Times one reconciliation until the returned timer is dropped.
    pub fn time_reconcile(&self) -> Timer {
        Timer::start(self.reconcile_duration.clone())
    }

    /// Counts one reconciliation that ended `ok` or not.
    pub fn reconciled(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&ResultLabels { result }).inc();
    }

    /// Marks this replica as the leader until the returned guard is dropped.
    pub fn leading(&self) -> Leading {
        self.leader.set(1);
        Leading(self.leader.clone())
    }
}

/// While alive, `secret_rotator_leader` is 1.
#[derive(Debug)]
#[must_use = "the replica stops counting as leader when this is dropped"]
pub struct Leading(Gauge);

impl Drop for Leading {
    fn drop(&mut self) {
        self.0.set(0);
    }
}
