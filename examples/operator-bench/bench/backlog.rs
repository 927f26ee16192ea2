//! Measurement 5: a backlog of N rotations all due at once, against the emulator's real
//! per-(application, tenant) Graph write bucket (3,000 writes per 150 s). The rotations of the
//! burst (each holding an operator-minted credential) get a rotation request at the same moment
//! (`secret-rotator.dev/rotate`: the operator handles it exactly as a scheduled renewal, through
//! the same caps), so each one mints, verifies, writes its Secret, restarts its Deployment and
//! revokes the previous credential (overlap 0): two Graph writes per rotation. Measured: the
//! makespan (first request to last rotation Ready again), 429s received, the most Graph writes in
//! any 150-s window, the caps, and for measurement 6 the API writes per rotation and pod-template
//! patches per Deployment.
//!
//! Invariant: a rotation counts as done when the change feed shows it Ready and idle with the
//! request recorded as handled; anything not done within the limit is reported, not waited for.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::burst::Caps;
use super::harness::{OPERATOR_USER, World, deployment_name, rotation_name};
use super::stats::{Percentiles, RequestCounts, busiest_window, percentiles, round};
use super::steps::{StepLatency, step_latencies};
use super::writes::{GraphCalls, RolloutDiscipline, WritesPerRotation, is_write, peak_request_rate};

/// Graph's write window.
pub const WRITE_WINDOW: Duration = Duration::from_secs(150);

/// What the backlog measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BacklogReport {
    /// Rotations requested.
    pub rotations: usize,
    /// Rotations done within the limit.
    pub done: usize,
    /// First request → last done, seconds.
    pub makespan_s: f64,
    /// Request → done.
    pub latency: Percentiles,
    /// Time spent in each step of the rotation.
    pub steps: Vec<StepLatency>,
    /// Rotations done per second.
    pub throughput_per_s: f64,
    /// Entra calls.
    pub graph: GraphCalls,
    /// Most Graph writes (attempted) in any 150-s window.
    pub max_writes_per_150s: usize,
    /// Graph writes per second over the makespan.
    pub graph_writes_per_s: f64,
    /// The caps.
    pub caps: Caps,
    /// The operator's API requests.
    pub api: RequestCounts,
    /// API writes per rotation.
    pub writes: WritesPerRotation,
    /// Pod-template patches per Deployment.
    pub rollouts: RolloutDiscipline,
    /// Operator CPU over the backlog, seconds.
    pub operator_cpu_s: f64,
    /// Most non-watch requests the operator sent in one second.
    pub peak_requests_per_s: u64,
}

/// Requests a rotation of rotations `0..n`, all at once, and follows them to the end.
pub async fn run(world: &mut World, n: usize) -> anyhow::Result<BacklogReport> {
    world
        .wait_quiet(Duration::from_secs(3), Duration::from_secs(60))
        .await;
    world.api.clear_access_log();
    let audit_from = world.audit_len();
    let requests_from = world.proxy.stats.request_count();
    world.tracker.reset_peaks();
    world.tracker.reset_template_changes();
    let cpu_before = world.operator()?.cpu_seconds()?;
    let token = format!("operator-bench-{}", jiff::Timestamp::now().as_second());
    let t0 = Instant::now();
    let requested = world
        .annotate_rotations(0..n, secret_rotator::api::wellknown::ANNOTATION_ROTATE, &token)
        .await?;
    let names: Vec<String> = (0..n).map(rotation_name).collect();
    // NB: rotations beyond the rotation cap wait for a free slot (each rotation spends ~4 s in
    // verification), so the phase takes about n / cap × 4 s; the limit is far above that, and
    // still fits the 30-s re-check an operator without capacity wake-ups would need.
    let limit = Duration::from_secs(120) + Duration::from_secs(3 * n as u64);
    let done_when = |v: &super::tracker::RotationView| {
        v.handled_rotate.as_deref() == Some(token.as_str()) && v.ready_since.is_some()
    };
    world
        .tracker
        .wait_until(limit, |t| t.count_where(&names, done_when) == names.len())
        .await;
    let cpu_after = world.operator()?.cpu_seconds()?;

    let views = world.tracker.rotations();
    let mut latencies = vec![];
    let mut last = t0;
    for (name, at) in &requested {
        if let Some(v) = views.get(name).filter(|v| done_when(v))
            && let Some(ready) = v.ready_since
        {
            latencies.push(ready.saturating_duration_since(*at));
            last = last.max(ready);
        }
    }
    let done = latencies.len();
    let steps = step_latencies(
        requested
            .iter()
            .filter_map(|(name, at)| views.get(name).map(|v| (*at, v.phase_changes.as_slice()))),
    );
    let makespan = last.saturating_duration_since(t0).as_secs_f64();
    let audit = world.audit_since(audit_from);
    let write_times: Vec<jiff::Timestamp> = audit
        .iter()
        .filter(|e| e.path.starts_with("/v1.0/") && is_write(&e.method))
        .map(|e| e.time)
        .collect();
    let api = RequestCounts::of(&world.operator_access_log(), OPERATOR_USER);
    let deployments: Vec<String> = (0..n).map(deployment_name).collect();
    let requests = world.proxy.stats.requests_since(requests_from);
    Ok(BacklogReport {
        rotations: n,
        done,
        makespan_s: round(makespan, 2),
        latency: percentiles(&latencies),
        steps,
        throughput_per_s: round(done as f64 / makespan.max(1e-9), 2),
        max_writes_per_150s: busiest_window(&write_times, WRITE_WINDOW),
        graph_writes_per_s: round(write_times.len() as f64 / makespan.max(1e-9), 2),
        graph: GraphCalls::of(&audit, &world.operator_app.app_id),
        caps: Caps::from_peaks(world.tracker.peaks()),
        writes: WritesPerRotation::of(&api, done),
        api,
        rollouts: RolloutDiscipline::of(&world.tracker.template_changes(), &deployments),
        operator_cpu_s: round(cpu_after - cpu_before, 2),
        peak_requests_per_s: peak_request_rate(&requests, t0),
    })
}
