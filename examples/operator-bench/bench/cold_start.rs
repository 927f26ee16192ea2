//! Measurement 4: cold start. With N Ready rotations and the operator quiet, `kill -9` it and
//! start it again with the same identity (a container restarted in its pod: it takes its own
//! Lease back at once; a new pod would first wait out the 15-s lease). Timed from the new
//! process's start: leader (`/readyz` leaves standby), caches synced (`/readyz` ok), and all
//! rotations confirmed (the proxy has seen the first pass's GET of every rotation's target Secret:
//! a pass reads it before it plans). Then, once the operator is quiet again: every write it made
//! since the restart (access log, by resource; Lease requests apart), every Entra call (audit
//! log), every pod-template change (change feed), its steady `VmRSS` and its peak `VmHWM`, and the
//! bytes it received.
//!
//! Invariant: the counters are taken from the instant before the kill, so nothing the restart
//! causes escapes them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::harness::{NS, OPERATOR_USER, World, secret_name};
use super::stats::{RequestCounts, round};
use super::writes::GraphCalls;

/// What the restart measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ColdStartReport {
    /// Ready rotations.
    pub rotations: usize,
    /// Process start → leader, seconds.
    pub to_leader_s: f64,
    /// Process start → caches synced, seconds.
    pub to_synced_s: f64,
    /// Process start → every rotation confirmed, seconds.
    pub to_all_confirmed_s: f64,
    /// Rotations confirmed within the limit.
    pub confirmed: usize,
    /// Mutating API requests (Lease requests excluded).
    pub writes: u64,
    /// Status writes to rotations.
    pub status_writes: u64,
    /// Writes to Secrets.
    pub secret_writes: u64,
    /// Writes to Deployments.
    pub workload_writes: u64,
    /// Pod-template changes seen on the change feed.
    pub template_changes: u64,
    /// `addPassword` calls.
    pub mints: u64,
    /// Every Entra call (Graph and token).
    pub graph_and_token_calls: u64,
    /// The operator's requests since the restart.
    pub api: RequestCounts,
    /// `VmRSS` once quiet, KiB.
    pub rss_steady_kib: u64,
    /// `VmHWM` (the restart's peak), KiB.
    pub hwm_kib: u64,
    /// `VmHWM / VmRSS`.
    pub peak_over_steady: f64,
    /// Bytes received from the restart until quiet.
    pub bytes_received: u64,
}

/// Kills and restarts the operator with `rotations` Ready rotations.
pub async fn run(world: &mut World, rotations: usize) -> anyhow::Result<ColdStartReport> {
    world
        .wait_quiet(Duration::from_secs(3), Duration::from_secs(60))
        .await;
    let targets: HashSet<String> = (0..rotations)
        .map(|i| format!("/api/v1/namespaces/{NS}/secrets/{}", secret_name(i)))
        .collect();
    world.kill_operator().await?;
    world.api.clear_access_log();
    let audit_from = world.audit_len();
    let requests_from = world.proxy.stats.request_count();
    let bytes_from = world.proxy.stats.bytes_down();
    world.tracker.reset_template_changes();

    let (started, leader, synced) = world.start_operator().await?;
    let limit = Duration::from_secs(120) + Duration::from_millis(20 * rotations as u64);
    let deadline = Instant::now() + limit;
    let mut seen: HashSet<&str> = HashSet::new();
    let mut last_first_get = synced;
    let mut scanned = requests_from;
    while seen.len() < targets.len() && Instant::now() < deadline {
        let new = world.proxy.stats.requests_since(scanned);
        scanned += new.len();
        for r in &new {
            if r.method == "GET"
                && let Some(t) = targets.get(r.path.as_str())
                && seen.insert(t.as_str())
            {
                last_first_get = last_first_get.max(r.at);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world
        .wait_quiet(Duration::from_secs(3), Duration::from_secs(60))
        .await;
    let p = world.operator()?;
    let memory = p.memory()?;
    let api = RequestCounts::of(&world.operator_access_log(), OPERATOR_USER);
    let graph = GraphCalls::of(&world.audit_since(audit_from), &world.operator_app.app_id);
    let secs = |t: Instant| round(t.saturating_duration_since(started).as_secs_f64(), 3);
    Ok(ColdStartReport {
        rotations,
        to_leader_s: secs(leader),
        to_synced_s: secs(synced),
        to_all_confirmed_s: secs(last_first_get),
        confirmed: seen.len(),
        writes: api.writes_except_leases(),
        status_writes: api.writes_where(|k| k.ends_with("clientsecretrotations/status")),
        secret_writes: api.writes_where(|k| k.ends_with(" secrets")),
        workload_writes: api.writes_where(|k| {
            k.ends_with(" deployments") || k.ends_with(" statefulsets") || k.ends_with(" daemonsets")
        }),
        template_changes: world
            .tracker
            .template_changes()
            .values()
            .map(|n| u64::from(*n))
            .sum(),
        mints: graph.add_password,
        graph_and_token_calls: graph.total,
        api,
        rss_steady_kib: memory.rss_kib,
        hwm_kib: memory.hwm_kib,
        peak_over_steady: round(memory.hwm_kib as f64 / memory.rss_kib.max(1) as f64, 3),
        bytes_received: world.proxy.stats.bytes_down() - bytes_from,
    })
}
