//! Measurement 6, and the counts other measurements reuse: what the operator wrote per rotation
//! (API server access log, by resource), what it asked of Entra (emulator audit log, by call),
//! rollout discipline (pod-template changes per Deployment, from the change feed), renewal jitter
//! (from `status.renewalTime` of rotations created together), and the operator's peak request
//! rate (from the proxy's request times).
//!
//! Invariant: pure summaries of logs taken by the caller; nothing here talks to a server.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use sandbox::entra::AuditEntry;
use serde::Serialize;

use super::proxy::WireRequest;
use super::stats::{RequestCounts, round};
use super::tracker::RotationView;

/// What the operator asked of Entra.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GraphCalls {
    /// Successful `addPassword` calls (mints).
    pub add_password: u64,
    /// Successful `removePassword` calls (revocations).
    pub remove_password: u64,
    /// Graph writes attempted (POST/PATCH/DELETE/PUT on `/v1.0/`), whatever the answer.
    pub graph_writes_attempted: u64,
    /// Graph reads.
    pub graph_reads: u64,
    /// Token requests with the operator's own application (Graph access tokens).
    pub operator_token_requests: u64,
    /// Token requests with a target application's secret (verification checks).
    pub verification_token_requests: u64,
    /// Answers 429 (throttled), any endpoint.
    pub throttled_429: u64,
    /// Every call.
    pub total: u64,
}

impl GraphCalls {
    /// Summarises `audit` (entries of one phase); `operator_app` is the operator's client id.
    pub fn of(audit: &[AuditEntry], operator_app: &str) -> Self {
        let mut g = Self::default();
        for e in audit {
            g.total += 1;
            if e.status == 429 {
                g.throttled_429 += 1;
            }
            if e.path.starts_with("/v1.0/") {
                if is_write(&e.method) {
                    g.graph_writes_attempted += 1;
                    if e.path.ends_with("/addPassword") && e.status == 200 {
                        g.add_password += 1;
                    }
                    if e.path.ends_with("/removePassword") && e.status < 300 {
                        g.remove_password += 1;
                    }
                } else {
                    g.graph_reads += 1;
                }
            } else if e.path.ends_with("/token") {
                if e.caller_app.as_deref() == Some(operator_app) {
                    g.operator_token_requests += 1;
                } else {
                    g.verification_token_requests += 1;
                }
            }
        }
        g
    }
}

/// Whether an HTTP method writes.
pub fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PATCH" | "DELETE" | "PUT")
}

/// Mutating API requests per rotation, total and by resource.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WritesPerRotation {
    /// Rotations the phase completed.
    pub rotations: usize,
    /// All mutating requests (Leases excluded) divided by rotations.
    pub total: f64,
    /// Mutating requests except Events (and Leases) divided by rotations.
    pub without_events: f64,
    /// Reads (get, list; Leases excluded) divided by rotations.
    pub reads: f64,
    /// By `verb resource[/subresource]`, divided by rotations.
    pub by_resource: BTreeMap<String, f64>,
    /// Answers 409 (conflicts) to any request of the operator.
    pub conflicts: u64,
}

impl WritesPerRotation {
    /// From the phase's request counts.
    pub fn of(counts: &RequestCounts, rotations: usize) -> Self {
        let per = |n: u64| round(n as f64 / rotations.max(1) as f64, 3);
        Self {
            rotations,
            total: per(counts.writes_except_leases()),
            without_events: per(counts.writes_where(|k| !k.ends_with(" leases") && !k.ends_with(" events"))),
            reads: per(counts
                .reads
                .iter()
                .filter(|(k, _)| !k.ends_with(" leases"))
                .map(|(_, n)| n)
                .sum()),
            by_resource: counts
                .writes
                .iter()
                .filter(|(k, _)| !k.ends_with(" leases"))
                .map(|(k, n)| (k.clone(), per(*n)))
                .collect(),
            conflicts: counts.errors.get(&409).copied().unwrap_or(0),
        }
    }

    /// Writes per rotation to Deployments (pod-template patches).
    pub fn deployments(&self) -> f64 {
        self.by_resource
            .iter()
            .filter(|(k, _)| k.ends_with(" deployments"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Pod-template changes per Deployment over a phase in which each Deployment's rotation rotated
/// once.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RolloutDiscipline {
    /// Deployments whose rotation rotated.
    pub deployments: usize,
    /// Deployments restarted exactly once.
    pub exactly_once: usize,
    /// Deployments never restarted.
    pub never: usize,
    /// Deployments restarted more than once.
    pub more_than_once: usize,
    /// Every pod-template change counted.
    pub template_changes: u64,
}

impl RolloutDiscipline {
    /// From the tracker's counts for the Deployments named in `expected`.
    pub fn of(changes: &HashMap<String, u32>, expected: &[String]) -> Self {
        let mut r = Self {
            deployments: expected.len(),
            template_changes: changes.values().map(|n| u64::from(*n)).sum(),
            ..Self::default()
        };
        for d in expected {
            match changes.get(d).copied().unwrap_or(0) {
                0 => r.never += 1,
                1 => r.exactly_once += 1,
                _ => r.more_than_once += 1,
            }
        }
        r
    }

    /// Whether every Deployment was restarted exactly once and nothing else was.
    pub fn exact(&self) -> bool {
        self.exactly_once == self.deployments && self.template_changes == self.deployments as u64
    }
}

/// How renewal times are spread by jitter.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JitterReport {
    /// Rotations with a renewal time.
    pub rotations: usize,
    /// Renew window (renewBefore), seconds.
    pub window_s: i64,
    /// Jitter (how much earlier than `expiresAt - renewBefore`) as a fraction of the window: the
    /// smallest and the largest seen.
    pub min_fraction: f64,
    /// See `min_fraction`.
    pub max_fraction: f64,
    /// `max_fraction - min_fraction`: the part of the window the renewals spread over.
    pub spread_fraction: f64,
    /// The largest share of rotations in any 1 % slice of the window.
    pub busiest_percent_slice_share: f64,
    /// Spread of the raw renewal times (jitter plus the spread of the mint times), seconds.
    pub raw_spread_s: i64,
}

impl JitterReport {
    /// From the rotations' views; `renew_before_s` is the spec's `renewBefore`.
    pub fn of(views: &[RotationView], renew_before_s: i64) -> Self {
        let mut fractions = vec![];
        let mut raw = vec![];
        for v in views {
            let (Some(renewal), Some(expires)) = (v.renewal_time, v.expires_at) else {
                continue;
            };
            let nominal = expires.as_second() - renew_before_s;
            let jitter = nominal - renewal.as_second();
            fractions.push(jitter as f64 / renew_before_s as f64);
            raw.push(renewal.as_second());
        }
        if fractions.is_empty() {
            return Self::default();
        }
        let min = fractions.iter().copied().fold(f64::INFINITY, f64::min);
        let max = fractions.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut slices = [0usize; 100];
        for f in &fractions {
            slices[((f * 100.0).floor() as usize).min(99)] += 1;
        }
        let busiest = *slices.iter().max().unwrap_or(&0);
        Self {
            rotations: fractions.len(),
            window_s: renew_before_s,
            min_fraction: round(min, 4),
            max_fraction: round(max, 4),
            spread_fraction: round(max - min, 4),
            busiest_percent_slice_share: round(busiest as f64 / fractions.len() as f64, 4),
            raw_spread_s: raw.iter().max().unwrap_or(&0) - raw.iter().min().unwrap_or(&0),
        }
    }
}

/// The most non-watch requests the operator sent in any one-second bucket from `t0`.
pub fn peak_request_rate(requests: &[WireRequest], t0: Instant) -> u64 {
    let mut buckets: HashMap<u64, u64> = HashMap::new();
    for r in requests.iter().filter(|r| !r.is_watch()) {
        let second = r.at.saturating_duration_since(t0).as_secs();
        *buckets.entry(second).or_default() += 1;
    }
    buckets.values().copied().max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_discipline_counts_each_deployment() {
        let changes = HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
        let r = RolloutDiscipline::of(&changes, &["a".into(), "b".into(), "c".into()]);
        assert_eq!((r.exactly_once, r.more_than_once, r.never), (1, 1, 1));
        assert!(!r.exact());
    }

    #[test]
    fn jitter_is_measured_against_expiry_minus_renew_before() {
        let at = |s: i64| Some(jiff::Timestamp::from_second(1_800_000_000 + s).unwrap());
        let view = |renewal: i64| RotationView {
            renewal_time: at(renewal),
            expires_at: at(1000),
            ..RotationView::default()
        };
        // renewBefore 100 s: nominal renewal at 900; 10 s earlier is 10 % of the window.
        let r = JitterReport::of(&[view(900), view(890)], 100);
        assert_eq!(
            (r.min_fraction, r.max_fraction, r.spread_fraction),
            (0.0, 0.1, 0.1)
        );
        assert_eq!(r.busiest_percent_slice_share, 0.5);
    }
}
