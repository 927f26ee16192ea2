//! Arithmetic the measurements share: percentiles, a least-squares slope, the busiest sliding
//! window, and the operator's requests from the API server's access log grouped by verb and
//! resource.
//!
//! Invariant: pure functions over plain data.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use sandbox::apiserver::AccessRecord;
use serde::Serialize;

/// p50, p99 and max of a sample, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// Nearest-rank percentiles of `sample`.
pub fn percentiles(sample: &[Duration]) -> Percentiles {
    let mut s: Vec<Duration> = sample.to_vec();
    s.sort();
    let at = |p: f64| -> f64 {
        if s.is_empty() {
            return 0.0;
        }
        let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
        s[rank - 1].as_secs_f64() * 1000.0
    };
    Percentiles {
        count: s.len(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// Least-squares slope of `y` over `x` (`None` with fewer than two distinct `x`).
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    Some(sxy / sxx)
}

/// The most events inside any window of length `window` (events given as sorted or unsorted
/// timestamps).
pub fn busiest_window(times: &[Timestamp], window: Duration) -> usize {
    let mut t: Vec<Timestamp> = times.to_vec();
    t.sort();
    let span = jiff::SignedDuration::try_from(window).unwrap_or(jiff::SignedDuration::MAX);
    let mut best = 0;
    let mut start = 0;
    for end in 0..t.len() {
        while t[end].duration_since(t[start]) >= span {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Whether an access-log verb changes state.
pub fn is_mutating(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// `resource` or `resource/subresource`.
pub fn resource_of(r: &AccessRecord) -> String {
    if r.subresource.is_empty() {
        r.resource.clone()
    } else {
        format!("{}/{}", r.resource, r.subresource)
    }
}

/// The operator's requests, counted by `verb resource[/subresource]`, and how many got each
/// error status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RequestCounts {
    /// Mutating requests by `verb resource`.
    pub writes: BTreeMap<String, u64>,
    /// Reads (get, list) by `verb resource`.
    pub reads: BTreeMap<String, u64>,
    /// Watch requests (started or resumed) by resource.
    pub watches: BTreeMap<String, u64>,
    /// Answers with a status of 400 or more, by status code.
    pub errors: BTreeMap<u16, u64>,
}

impl RequestCounts {
    /// Counts the records of `user`.
    pub fn of(log: &[AccessRecord], user: &str) -> Self {
        let mut c = Self::default();
        for r in log.iter().filter(|r| r.user == user && r.resource_request) {
            let key = format!("{} {}", r.verb, resource_of(r));
            let bucket = if is_mutating(&r.verb) {
                &mut c.writes
            } else if r.verb == "watch" {
                &mut c.watches
            } else {
                &mut c.reads
            };
            let key = if r.verb == "watch" { resource_of(r) } else { key };
            *bucket.entry(key).or_default() += 1;
            if r.code >= 400 {
                *c.errors.entry(r.code).or_default() += 1;
            }
        }
        c
    }

    /// Mutating requests except Lease renewals.
    pub fn writes_except_leases(&self) -> u64 {
        self.writes
            .iter()
            .filter(|(k, _)| !k.ends_with(" leases"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Non-watch requests except those on Leases.
    pub fn non_watch_except_leases(&self) -> u64 {
        self.writes
            .iter()
            .chain(&self.reads)
            .filter(|(k, _)| !k.ends_with(" leases"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests on Leases.
    pub fn lease_requests(&self) -> u64 {
        self.writes
            .iter()
            .chain(&self.reads)
            .filter(|(k, _)| k.ends_with(" leases"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Mutating requests whose key matches `pred`.
    pub fn writes_where(&self, pred: impl Fn(&str) -> bool) -> u64 {
        self.writes.iter().filter(|(k, _)| pred(k)).map(|(_, n)| n).sum()
    }
}

/// Rounds to `digits` decimals (for readable JSON).
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = percentiles(&s);
        assert_eq!((p.p50_ms, p.p99_ms, p.max_ms), (50.0, 99.0, 100.0));
    }

    #[test]
    fn slope_of_a_line() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), Some(2.0));
        assert_eq!(slope(&[(1.0, 1.0)]), None);
    }

    #[test]
    fn busiest_window_counts_events_closer_than_the_window() {
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let times = [t(0), t(1), t(2), t(10), t(11)];
        assert_eq!(busiest_window(&times, Duration::from_secs(3)), 3);
        assert_eq!(busiest_window(&times, Duration::from_secs(100)), 5);
        assert_eq!(busiest_window(&[], Duration::from_secs(1)), 0);
    }
}
