//! Measurement 2: the steady-state cost of N Ready rotations, none due. After the operator has
//! been quiet for a moment, over a wall-clock window: Graph and token calls (emulator audit log),
//! the operator's API requests by kind (access log; watches and Lease renewals apart), its CPU in
//! millicores (`utime + stime` delta), and its memory at the end of the window (measurement 3's
//! point for this N).
//!
//! Invariant: the window starts only once the operator has been quiet (or a generous limit has
//! passed, in which case whatever it keeps doing is what the window measures).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::harness::{OPERATOR_USER, World};
use super::stats::{RequestCounts, round};
use super::writes::GraphCalls;

/// What the idle window measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IdleReport {
    /// Ready rotations.
    pub rotations: usize,
    /// Whether the operator got quiet before the window (false: still busy after the limit).
    pub quiet_before: bool,
    /// Window, seconds.
    pub window_s: f64,
    /// Graph and token calls in the window.
    pub graph_and_token_calls: u64,
    /// API requests that are not watches, Lease requests excluded.
    pub non_watch_requests: u64,
    /// Requests on the Lease (renewals).
    pub lease_requests: u64,
    /// Watch requests started or resumed.
    pub watch_requests: u64,
    /// The operator's requests in detail.
    pub api: RequestCounts,
    /// Operator CPU over the window, millicores.
    pub cpu_millicores: f64,
    /// Bytes the operator received in the window.
    pub bytes_received: u64,
    /// `VmRSS` at the end of the window, KiB.
    pub rss_kib: u64,
    /// `VmHWM` at the end of the window, KiB.
    pub hwm_kib: u64,
}

/// Measures an idle window of `window` with `rotations` Ready rotations.
pub async fn run(world: &mut World, rotations: usize, window: Duration) -> anyhow::Result<IdleReport> {
    let quiet_before = world
        .wait_quiet(Duration::from_secs(3), Duration::from_secs(60))
        .await;
    world.api.clear_access_log();
    let audit_from = world.audit_len();
    let bytes_from = world.proxy.stats.bytes_down();
    let cpu_before = world.operator()?.cpu_seconds()?;
    let t0 = Instant::now();
    tokio::time::sleep(window).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let p = world.operator()?;
    let cpu = p.cpu_seconds()? - cpu_before;
    let memory = p.memory()?;
    let api = RequestCounts::of(&world.operator_access_log(), OPERATOR_USER);
    let graph = GraphCalls::of(&world.audit_since(audit_from), &world.operator_app.app_id);
    Ok(IdleReport {
        rotations,
        quiet_before,
        window_s: round(elapsed, 2),
        graph_and_token_calls: graph.total,
        non_watch_requests: api.non_watch_except_leases(),
        lease_requests: api.lease_requests(),
        watch_requests: api.watches.values().sum(),
        cpu_millicores: round(cpu / elapsed * 1000.0, 2),
        bytes_received: world.proxy.stats.bytes_down() - bytes_from,
        rss_kib: memory.rss_kib,
        hwm_kib: memory.hwm_kib,
        api,
    })
}
