//! Measurement 3 (growth and slope): the operator's memory at each N, and the marginal KiB per
//! rotation.
//!
//! Rotations beyond the burst are added by **adoption**: each gets a credential seeded at the
//! emulator (as if minted before the operator), a Secret holding it, a Deployment, and a rotation
//! naming the credential's `keyId`. Adoption makes a rotation Ready without minting or verifying
//! (no 4-second verification, no cap), so 10,000 rotations fit in a few minutes; the steady state
//! it leaves (a rotation with a current credential in status, a Secret, a Deployment) is the one
//! a minted rotation leaves. The memory point of each N is taken from a fresh process (restarted
//! at that N, [`super::cold_start`]) at the end of its idle window ([`super::idle`]), so what an
//! earlier burst left in the allocator does not flatten the slope.
//!
//! Invariant: the slope is fitted over the points with rotations (the empty operator's baseline is
//! reported apart), by least squares.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::harness::{World, rotation_name};
use super::stats::{round, slope};

/// Memory at one N.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MemoryPoint {
    /// Ready rotations.
    pub rotations: usize,
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM` (peak so far), KiB.
    pub hwm_kib: u64,
}

/// Adding rotations by adoption.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Growth {
    /// Rotations before.
    pub from: usize,
    /// Rotations after.
    pub to: usize,
    /// Rotations Ready within the limit.
    pub ready: usize,
    /// First create to last Ready, seconds.
    pub seconds: f64,
    /// Adoptions per second.
    pub per_s: f64,
}

/// The memory figures of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryReport {
    /// The operator leading with no rotation.
    pub baseline: MemoryPoint,
    /// The first process right after the burst (before any restart).
    pub after_burst: MemoryPoint,
    /// One point per N: a fresh process (restarted at that N) at the end of its idle window.
    pub points: Vec<MemoryPoint>,
    /// Least-squares KiB per rotation over `points`.
    pub slope_kib_per_rotation: Option<f64>,
    /// RSS at 10,000 rotations: measured, or extrapolated from the largest point with the slope.
    pub rss_at_10k_kib: Option<u64>,
    /// Whether `rss_at_10k_kib` was measured (false: extrapolated).
    pub rss_at_10k_measured: bool,
}

impl MemoryReport {
    /// Fits the slope and the 10k figure.
    pub fn finish(&mut self) {
        let points: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|p| (p.rotations as f64, p.rss_kib as f64))
            .collect();
        self.slope_kib_per_rotation = slope(&points).map(|s| round(s, 3));
        if let Some(p) = self.points.iter().find(|p| p.rotations == 10_000) {
            self.rss_at_10k_kib = Some(p.rss_kib);
            self.rss_at_10k_measured = true;
        } else if let (Some(s), Some(last)) = (self.slope_kib_per_rotation, self.points.last()) {
            let extra = (10_000.0 - last.rotations as f64) * s.max(0.0);
            self.rss_at_10k_kib = Some((last.rss_kib as f64 + extra).round() as u64);
        }
    }
}

/// Adds rotations `from..to` by adoption and waits until they are Ready.
pub async fn grow(world: &mut World, from: usize, to: usize) -> anyhow::Result<Growth> {
    world.ensure_apps(to)?;
    world.create_deployments(from..to).await?;
    let mut keys = Vec::with_capacity(to - from);
    let mut secrets = Vec::with_capacity(to - from);
    for i in from..to {
        let (key, value) = world.seed_credential(i, Duration::from_secs(2160 * 3600))?;
        keys.push(key);
        secrets.push((i, value));
    }
    world.create_adoptable_secrets(secrets).await?;
    let t0 = Instant::now();
    world.create_rotations(from..to, Some(keys)).await?;
    let names: Vec<String> = (from..to).map(rotation_name).collect();
    let limit = Duration::from_secs(120) + Duration::from_millis(100 * (to - from) as u64);
    world
        .tracker
        .wait_until(limit, |t| {
            t.count_where(&names, |v| v.first_ready.is_some()) == names.len()
        })
        .await;
    let views = world.tracker.rotations();
    let ready_times: Vec<Instant> = names
        .iter()
        .filter_map(|n| views.get(n).and_then(|v| v.first_ready))
        .collect();
    let last = ready_times.iter().max().copied().unwrap_or(t0);
    let seconds = last.saturating_duration_since(t0).as_secs_f64();
    Ok(Growth {
        from,
        to,
        ready: ready_times.len(),
        seconds: round(seconds, 2),
        per_s: round(ready_times.len() as f64 / seconds.max(1e-9), 1),
    })
}
