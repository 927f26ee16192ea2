//! Measurement 1: a burst of N new rotations (each with its Deployment already rolled out and no
//! Secret yet), created as fast as the API server takes them. For each, the time from just
//! before its create to the first instant the change feed shows it Ready and idle; the makespan
//! (first create to last Ready); the most rotations holding a slot of each operator-wide cap at
//! once (the caps held?). The same phase gives measurement 6's figures for a first rotation:
//! API writes per rotation, Graph calls, pod-template patches per Deployment, and the renewal
//! jitter of rotations created together.
//!
//! Invariant: the Deployments exist and have rolled out before the first rotation is created, so
//! the phase's writes and template changes are the operator's alone.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::harness::{OPERATOR_USER, World, deployment_name, rotation_name};
use super::stats::{Percentiles, RequestCounts, percentiles, round};
use super::steps::{StepLatency, step_latencies};
use super::writes::{GraphCalls, JitterReport, RolloutDiscipline, WritesPerRotation, peak_request_rate};

/// `renewBefore` of the benchmark's rotations, seconds.
pub const RENEW_BEFORE_S: i64 = 720 * 3600;

/// Whether the operator-wide caps held.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Caps {
    /// Most rotations between start and promotion at once.
    pub max_rotations_in_flight: usize,
    /// The operator's cap on those (its default).
    pub rotation_cap: usize,
    /// Most rotations rolling out at once.
    pub max_rollouts_in_flight: usize,
    /// The operator's cap on those (its default).
    pub rollout_cap: usize,
}

impl Caps {
    /// The tracker's peaks against the operator's default caps.
    pub fn from_peaks((rotations, rollouts): (usize, usize)) -> Self {
        Self {
            max_rotations_in_flight: rotations,
            rotation_cap: secret_rotator::controller::config::DEFAULT_MAX_ROTATIONS_IN_FLIGHT,
            max_rollouts_in_flight: rollouts,
            rollout_cap: secret_rotator::controller::config::DEFAULT_MAX_ROLLOUTS_IN_FLIGHT,
        }
    }

    /// Whether neither cap was exceeded.
    pub fn held(&self) -> bool {
        self.max_rotations_in_flight <= self.rotation_cap && self.max_rollouts_in_flight <= self.rollout_cap
    }
}

/// What the burst measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BurstReport {
    /// Rotations created.
    pub rotations: usize,
    /// How long creating them all took, ms.
    pub create_span_ms: f64,
    /// Rotations Ready within the time limit.
    pub ready: usize,
    /// Create → Ready.
    pub latency: Percentiles,
    /// Time spent in each step of the rotation.
    pub steps: Vec<StepLatency>,
    /// First create → last Ready, seconds.
    pub makespan_s: f64,
    /// Rotations Ready per second over the makespan.
    pub throughput_per_s: f64,
    /// The caps.
    pub caps: Caps,
    /// Entra calls.
    pub graph: GraphCalls,
    /// The operator's API requests.
    pub api: RequestCounts,
    /// API writes per rotation.
    pub writes: WritesPerRotation,
    /// Pod-template patches per Deployment.
    pub rollouts: RolloutDiscipline,
    /// Renewal jitter.
    pub jitter: JitterReport,
    /// Operator CPU time over the phase, seconds.
    pub operator_cpu_s: f64,
    /// Most non-watch requests the operator sent in one second.
    pub peak_requests_per_s: u64,
}

/// Runs the burst on rotations `0..n` (whose target applications exist).
pub async fn run(world: &mut World, n: usize) -> anyhow::Result<BurstReport> {
    world.ensure_apps(n)?;
    world.create_deployments(0..n).await?;
    world
        .wait_quiet(Duration::from_secs(2), Duration::from_secs(30))
        .await;

    world.api.clear_access_log();
    let audit_from = world.audit_len();
    let requests_from = world.proxy.stats.request_count();
    world.tracker.reset_peaks();
    world.tracker.reset_template_changes();
    let cpu_before = world.operator()?.cpu_seconds()?;
    let t0 = Instant::now();

    let created = world.create_rotations(0..n, None).await?;
    let create_span = t0.elapsed();
    let names: Vec<String> = created.iter().map(|(n, _)| n.clone()).collect();
    // NB: rotations beyond the rotation cap wait for a free slot (each rotation spends ~4 s in
    // verification), so the phase takes about n / cap × 4 s; the limit is far above that, and
    // still fits the 30-s re-check an operator without capacity wake-ups would need.
    let limit = Duration::from_secs(120) + Duration::from_secs(3 * n as u64);
    world
        .tracker
        .wait_until(limit, |t| {
            t.count_where(&names, |v| v.first_ready.is_some()) == names.len()
        })
        .await;
    let cpu_after = world.operator()?.cpu_seconds()?;

    let views = world.tracker.rotations();
    let mut latencies = vec![];
    let mut last_ready = t0;
    for (name, at) in &created {
        if let Some(ready) = views.get(name).and_then(|v| v.first_ready) {
            latencies.push(ready.saturating_duration_since(*at));
            last_ready = last_ready.max(ready);
        }
    }
    let makespan = last_ready.saturating_duration_since(t0);
    let steps = step_latencies(
        created
            .iter()
            .filter_map(|(name, at)| views.get(name).map(|v| (*at, v.phase_changes.as_slice()))),
    );
    let log = world.operator_access_log();
    let api = RequestCounts::of(&log, OPERATOR_USER);
    let ready = latencies.len();
    let deployments: Vec<String> = (0..n).map(deployment_name).collect();
    let burst_views: Vec<_> = (0..n)
        .filter_map(|i| views.get(&rotation_name(i)).cloned())
        .collect();
    let requests = world.proxy.stats.requests_since(requests_from);
    Ok(BurstReport {
        rotations: n,
        create_span_ms: round(create_span.as_secs_f64() * 1000.0, 1),
        ready,
        latency: percentiles(&latencies),
        steps,
        makespan_s: round(makespan.as_secs_f64(), 2),
        throughput_per_s: round(ready as f64 / makespan.as_secs_f64().max(1e-9), 2),
        caps: Caps::from_peaks(world.tracker.peaks()),
        graph: GraphCalls::of(&world.audit_since(audit_from), &world.operator_app.app_id),
        writes: WritesPerRotation::of(&api, ready),
        api,
        rollouts: RolloutDiscipline::of(&world.tracker.template_changes(), &deployments),
        jitter: JitterReport::of(&burst_views, RENEW_BEFORE_S),
        operator_cpu_s: round(cpu_after - cpu_before, 2),
        peak_requests_per_s: peak_request_rate(&requests, t0),
    })
}
