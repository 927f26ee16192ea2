//! Graph throttling: per-(application, tenant) token buckets for resource units and writes, and
//! the cost of a request.
//!
//! Invariant: buckets refill continuously at `capacity / window` and never hold more than
//! `capacity`; a request is admitted only if every bucket it draws from can pay its full cost,
//! and a rejected request draws nothing.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::consistency::seconds;
use super::protocol::throttle as defaults;

/// Bucket sizes. Over HTTP, windows are numbers of seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ThrottleLimits {
    /// Writes allowed per `write_window` for one application in one tenant.
    pub write_capacity: u32,
    /// Window of the write quota.
    #[serde(with = "seconds")]
    pub write_window: Duration,
    /// Resource units allowed per `ru_window` for one application in one tenant.
    pub ru_capacity: u32,
    /// Window of the resource-unit quota.
    #[serde(with = "seconds")]
    pub ru_window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            write_capacity: defaults::WRITE_CAPACITY,
            write_window: defaults::WRITE_WINDOW,
            ru_capacity: defaults::RU_CAPACITY,
            ru_window: defaults::RU_WINDOW,
        }
    }
}

/// What a request costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Resource units.
    pub(crate) resource_units: u32,
    /// Writes (0 or 1).
    pub(crate) writes: u32,
}

/// The cost of a Graph request \[doc: G-limits\]: `GET applications` 2 RU, other paths 1 RU,
/// `$select` −1, `$expand` +1, at least 1; POST/PATCH/DELETE also cost one write.
pub(crate) fn cost(
    method: &http::Method,
    is_application_get: bool,
    has_select: bool,
    has_expand: bool,
) -> Cost {
    let mut ru: i64 = if is_application_get { 2 } else { 1 };
    if has_select {
        ru -= 1;
    }
    if has_expand {
        ru += 1;
    }
    let writes = u32::from(matches!(
        *method,
        http::Method::POST | http::Method::PATCH | http::Method::DELETE | http::Method::PUT
    ));
    Cost {
        resource_units: ru.max(1) as u32,
        writes,
    }
}

/// Which quota ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The write quota (`WriteLimitExceeded`).
    Write,
    /// The resource-unit quota (`ResourceUnitLimitExceeded`).
    ResourceUnits,
}

impl Exceeded {
    /// `x-ms-throttle-information`.
    pub(crate) fn information(self) -> &'static str {
        match self {
            Exceeded::Write => "WriteLimitExceeded",
            Exceeded::ResourceUnits => "ResourceUnitLimitExceeded",
        }
    }
    /// The `<Read|Write|ReadWrite>` part of `x-ms-throttle-scope`.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Exceeded::Write => "Write",
            Exceeded::ResourceUnits => "ReadWrite",
        }
    }
}

/// The outcome of admitting a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Admission {
    /// Admitted; `used_fraction` is the fullest bucket's use after this request (0..=1).
    Admitted { used_fraction: f64 },
    /// Rejected; retry after this many whole seconds.
    Throttled {
        exceeded: Exceeded,
        retry_after_secs: u64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Timestamp,
}

impl Bucket {
    fn full(capacity: u32, now: Timestamp) -> Self {
        Self {
            tokens: f64::from(capacity),
            updated: now,
        }
    }

    fn refill(&mut self, capacity: u32, window: Duration, now: Timestamp) {
        let elapsed = now.duration_since(self.updated).as_secs_f64().max(0.0);
        let rate = f64::from(capacity) / window.as_secs_f64().max(f64::EPSILON);
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(capacity));
        self.updated = now;
    }

    fn wait_for(&self, cost: u32, capacity: u32, window: Duration) -> u64 {
        let rate = f64::from(capacity) / window.as_secs_f64().max(f64::EPSILON);
        let missing = f64::from(cost) - self.tokens;
        (missing / rate).ceil().max(1.0) as u64
    }
}

/// All buckets, keyed by (tenant id, client id).
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    pub(crate) limits: ThrottleLimits,
    buckets: HashMap<(String, String), (Bucket, Bucket)>,
}

impl Throttle {
    /// Replaces the limits and refills every bucket.
    pub(crate) fn set_limits(&mut self, limits: ThrottleLimits) {
        self.limits = limits;
        self.buckets.clear();
    }

    /// Admits or rejects a request of `cost` from `app_id` in `tenant_id` at `now`.
    pub(crate) fn admit(&mut self, tenant_id: &str, app_id: &str, cost: Cost, now: Timestamp) -> Admission {
        let l = &self.limits;
        let (ru, wr) = self
            .buckets
            .entry((tenant_id.to_owned(), app_id.to_owned()))
            .or_insert_with(|| {
                (
                    Bucket::full(l.ru_capacity, now),
                    Bucket::full(l.write_capacity, now),
                )
            });
        ru.refill(l.ru_capacity, l.ru_window, now);
        wr.refill(l.write_capacity, l.write_window, now);
        if cost.writes > 0 && wr.tokens < f64::from(cost.writes) {
            return Admission::Throttled {
                exceeded: Exceeded::Write,
                retry_after_secs: wr.wait_for(cost.writes, l.write_capacity, l.write_window),
            };
        }
        if ru.tokens < f64::from(cost.resource_units) {
            return Admission::Throttled {
                exceeded: Exceeded::ResourceUnits,
                retry_after_secs: ru.wait_for(cost.resource_units, l.ru_capacity, l.ru_window),
            };
        }
        ru.tokens -= f64::from(cost.resource_units);
        wr.tokens -= f64::from(cost.writes);
        let used = |b: &Bucket, cap: u32| 1.0 - b.tokens / f64::from(cap.max(1));
        Admission::Admitted {
            used_fraction: used(ru, l.ru_capacity).max(used(wr, l.write_capacity)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    const WRITE: Cost = Cost {
        resource_units: 1,
        writes: 1,
    };

    #[test]
    fn costs_follow_the_documented_rules() {
        let get = http::Method::GET;
        assert_eq!(
            cost(&get, true, false, false),
            Cost {
                resource_units: 2,
                writes: 0
            }
        );
        assert_eq!(
            cost(&get, true, true, false),
            Cost {
                resource_units: 1,
                writes: 0
            }
        );
        assert_eq!(
            cost(&get, false, true, false),
            Cost {
                resource_units: 1,
                writes: 0
            }
        );
        assert_eq!(
            cost(&get, false, false, true),
            Cost {
                resource_units: 2,
                writes: 0
            }
        );
        assert_eq!(cost(&http::Method::POST, false, false, false), WRITE);
    }

    #[test]
    fn write_bucket_empties_then_refills_over_the_window() {
        let mut th = Throttle::default();
        th.set_limits(ThrottleLimits {
            write_capacity: 2,
            write_window: Duration::from_secs(10),
            ..Default::default()
        });
        assert!(matches!(
            th.admit("t", "a", WRITE, t(0)),
            Admission::Admitted { .. }
        ));
        assert!(
            matches!(th.admit("t", "a", WRITE, t(0)), Admission::Admitted { used_fraction } if used_fraction == 1.0)
        );
        assert_eq!(
            th.admit("t", "a", WRITE, t(0)),
            Admission::Throttled {
                exceeded: Exceeded::Write,
                retry_after_secs: 5
            }
        );
        // Another app in the same tenant has its own bucket.
        assert!(matches!(
            th.admit("t", "b", WRITE, t(0)),
            Admission::Admitted { .. }
        ));
        // Half a window refills one write.
        assert!(matches!(
            th.admit("t", "a", WRITE, t(5)),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            th.admit("t", "a", WRITE, t(5)),
            Admission::Throttled { .. }
        ));
    }

    #[test]
    fn reads_do_not_draw_on_the_write_bucket() {
        let mut th = Throttle::default();
        th.set_limits(ThrottleLimits {
            write_capacity: 1,
            ru_capacity: 3,
            ..Default::default()
        });
        let read = Cost {
            resource_units: 1,
            writes: 0,
        };
        assert!(matches!(
            th.admit("t", "a", WRITE, t(0)),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            th.admit("t", "a", read, t(0)),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            th.admit("t", "a", read, t(0)),
            Admission::Admitted { .. }
        ));
        assert!(matches!(
            th.admit("t", "a", read, t(0)),
            Admission::Throttled {
                exceeded: Exceeded::ResourceUnits,
                ..
            }
        ));
    }
}
