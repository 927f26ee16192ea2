//! Retrying transient failures: the policy (plain data), the pure delay arithmetic, and the small
//! async driver that runs an attempt until it succeeds, fails for good, or the budget runs out.
//!
//! Invariants:
//! * a server's `Retry-After` is honoured exactly; otherwise delays grow exponentially with jitter,
//!   capped per interval (the Graph SDK's policy, reference §4.4);
//! * the sum of elapsed time and the next delay never exceeds the policy's total budget: when it
//!   would, the last error comes out at once, carrying the server's `Retry-After` so the caller can
//!   requeue;
//! * replication-lag retries (a 404 just after a write of ours) are bounded by their own deadline.

use std::{future::Future, time::Duration};

use jiff::Timestamp;
use rand::Rng;

use crate::{
    clock::Clock,
    provider::{ProviderError, Reason, sleeper::Sleeper},
};

/// How hard the client retries transient failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included (Graph SDK: 10).
    pub max_attempts: u32,
    /// First back-off interval when the server gives no `Retry-After` (Graph SDK: 3 s).
    pub initial_backoff: Duration,
    /// Cap on one back-off interval (Graph SDK: 180 s; shorter here, the controller requeues).
    pub max_backoff: Duration,
    /// Cap on the time one call may spend, waits included.
    pub total_budget: Duration,
    /// How long after a write of ours a 404 on the same object counts as replication lag.
    pub replication_lag_window: Duration,
    /// Base wait between replication-lag retries; each wait adds up to as much again as jitter
    /// (Vault waits 2–7 s, 80 s in total).
    pub replication_lag_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_secs(3),
            max_backoff: Duration::from_secs(60),
            total_budget: Duration::from_secs(120),
            replication_lag_window: Duration::from_secs(80),
            replication_lag_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            replication_lag_window: Duration::ZERO,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ProviderError> {
        if self.max_attempts == 0 {
            return Err(ProviderError::new(
                Reason::InvalidConfiguration,
                "retry: max_attempts must be at least 1",
            ));
        }
        if self.initial_backoff > self.max_backoff {
            return Err(ProviderError::new(
                Reason::InvalidConfiguration,
                "retry: initial_backoff must not exceed max_backoff",
            ));
        }
        if self.replication_lag_delay.is_zero() && !self.replication_lag_window.is_zero() {
            return Err(ProviderError::new(
                Reason::InvalidConfiguration,
                "retry: replication_lag_delay must be positive when replication_lag_window is",
            ));
        }
        Ok(())
    }

    /// The back-off before retry number `retry` (1 for the first retry) when the server gave no
    /// `Retry-After`: `initial × 2^(retry-1)`, capped at `max_backoff`, then "equal jitter": half of
    /// it fixed, the other half scaled by `unit` (a random number in `[0, 1)`).
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        base / 2 + (base / 2).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before a replication-lag retry: `replication_lag_delay × (1 + unit)`.
    pub fn lag_delay(&self, unit: f64) -> Duration {
        self.replication_lag_delay + self.replication_lag_delay.mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Why an attempt should be retried.
#[derive(Debug)]
pub(crate) enum RetryCause {
    /// Throttling, unavailability, a dropped connection or a timeout. `retry_after` is the
    /// server's hint, when it gave one.
    Transient { retry_after: Option<Duration> },
    /// A 404 that is probably a replica that has not seen our recent write yet; retried until
    /// `until`.
    ReplicationLag { until: Timestamp },
}

/// What one attempt produced.
#[derive(Debug)]
pub(crate) enum Attempt<T> {
    /// Finished (successfully or with a final error).
    Done(Result<T, ProviderError>),
    /// Failed in a way worth retrying; `error` is what the caller gets if it is not retried.
    Retry { cause: RetryCause, error: ProviderError },
}

/// Where the driver gets time and jitter from.
pub(crate) struct RetryContext<'a> {
    pub policy: &'a RetryPolicy,
    pub clock: &'a dyn Clock,
    pub sleeper: &'a dyn Sleeper,
}

/// Runs `attempt` (given the attempt number, from 1) until it is done or retrying is no longer
/// allowed. `what` names the call in logs.
pub(crate) async fn run<T, F, Fut>(
    ctx: &RetryContext<'_>,
    what: &str,
    mut attempt: F,
) -> Result<T, ProviderError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let started = ctx.clock.now();
    let mut transient_retries = 0u32;
    let mut number = 0u32;
    loop {
        number = number.saturating_add(1);
        let (cause, error) = match attempt(number).await {
            Attempt::Done(result) => return result,
            Attempt::Retry { cause, error } => (cause, error),
        };
        let now = ctx.clock.now();
        let unit: f64 = rand::rng().random();
        let (delay, retry_after) = match cause {
            RetryCause::Transient { retry_after } => {
                transient_retries += 1;
                if transient_retries >= ctx.policy.max_attempts {
                    tracing::debug!(what, attempts = number, reason = %error.reason, "giving up: attempts exhausted");
                    return Err(error.with_retry_after(retry_after));
                }
                (
                    retry_after.unwrap_or_else(|| ctx.policy.backoff(transient_retries, unit)),
                    retry_after,
                )
            }
            RetryCause::ReplicationLag { until } => {
                let delay = ctx.policy.lag_delay(unit);
                if now + delay > until {
                    tracing::debug!(what, attempts = number, "giving up: replication-lag window over");
                    return Err(error);
                }
                (delay, None)
            }
        };
        let elapsed = now.duration_since(started).unsigned_abs();
        if elapsed + delay > ctx.policy.total_budget {
            tracing::debug!(what, attempts = number, reason = %error.reason, ?delay, "giving up: retry budget spent");
            return Err(error.with_retry_after(retry_after.or(Some(delay))));
        }
        tracing::info!(what, attempt = number, reason = %error.reason, ?delay, "retrying after a transient failure");
        ctx.sleeper.sleep(delay).await;
    }
}

/// Parses a `Retry-After` header: delay-seconds, or an HTTP date relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(when.duration_since(now).try_into().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    /// A clock moved only by the sleeper below.
    #[derive(Debug, Default)]
    struct TestTime {
        now: Mutex<Timestamp>,
        slept: Mutex<Vec<Duration>>,
    }

    impl Clock for TestTime {
        fn now(&self) -> Timestamp {
            *self.now.lock().unwrap()
        }
    }

    #[async_trait::async_trait]
    impl Sleeper for TestTime {
        async fn sleep(&self, duration: Duration) {
            self.slept.lock().unwrap().push(duration);
            let mut now = self.now.lock().unwrap();
            *now += duration;
        }
    }

    fn unavailable() -> ProviderError {
        ProviderError::new(Reason::ProviderUnavailable, "503")
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_and_caps() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(3),
            max_backoff: Duration::from_secs(20),
            ..RetryPolicy::default()
        };
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(1500));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_secs(3));
        assert_eq!(policy.backoff(2, 0.5), Duration::from_millis(4500));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_secs(12));
        assert_eq!(policy.backoff(4, 1.0), Duration::from_secs(20), "capped");
        assert_eq!(policy.backoff(200, 0.0), Duration::from_secs(10), "no overflow");
        assert_eq!(policy.lag_delay(0.5), Duration::from_secs(3));
    }

    #[test]
    fn retry_after_as_seconds_or_http_date() {
        let now: Timestamp = "2026-10-01T08:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        assert_eq!(
            parse_retry_after("Thu, 01 Oct 2026 08:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn invalid_policies_are_rejected() {
        assert!(
            RetryPolicy {
                max_attempts: 0,
                ..RetryPolicy::default()
            }
            .validate()
            .is_err()
        );
        let inverted = RetryPolicy {
            initial_backoff: Duration::from_secs(9),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert!(inverted.validate().is_err());
        assert!(RetryPolicy::default().validate().is_ok());
    }

    #[tokio::test]
    async fn honours_retry_after_then_succeeds() {
        let time = Arc::new(TestTime::default());
        let policy = RetryPolicy::default();
        let ctx = RetryContext {
            policy: &policy,
            clock: &*time,
            sleeper: &*time,
        };
        let result = run(&ctx, "test", |n| async move {
            if n < 3 {
                Attempt::Retry {
                    cause: RetryCause::Transient {
                        retry_after: Some(Duration::from_secs(n as u64 * 10)),
                    },
                    error: unavailable(),
                }
            } else {
                Attempt::Done(Ok(n))
            }
        })
        .await;
        assert_eq!(result, Ok(3));
        assert_eq!(
            *time.slept.lock().unwrap(),
            [Duration::from_secs(10), Duration::from_secs(20)]
        );
    }

    #[tokio::test]
    async fn stops_after_max_attempts_with_exponential_waits() {
        let time = Arc::new(TestTime::default());
        let policy = RetryPolicy {
            max_attempts: 4,
            total_budget: Duration::from_secs(3600),
            ..RetryPolicy::default()
        };
        let ctx = RetryContext {
            policy: &policy,
            clock: &*time,
            sleeper: &*time,
        };
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = run(&ctx, "test", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Attempt::Retry {
                    cause: RetryCause::Transient { retry_after: None },
                    error: unavailable(),
                }
            }
        })
        .await;
        assert_eq!(result.unwrap_err().reason, Reason::ProviderUnavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let slept = time.slept.lock().unwrap().clone();
        assert_eq!(slept.len(), 3);
        for (i, d) in slept.iter().enumerate() {
            let base = Duration::from_secs(3) * (1 << i);
            assert!(
                *d >= base / 2 && *d <= base,
                "retry {i}: {d:?} outside [{:?}, {base:?}]",
                base / 2
            );
        }
    }

    #[tokio::test]
    async fn a_retry_after_beyond_the_budget_fails_at_once_and_carries_the_hint() {
        let time = Arc::new(TestTime::default());
        let policy = RetryPolicy {
            total_budget: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let ctx = RetryContext {
            policy: &policy,
            clock: &*time,
            sleeper: &*time,
        };
        let result: Result<(), _> = run(&ctx, "test", |_| async {
            Attempt::Retry {
                cause: RetryCause::Transient {
                    retry_after: Some(Duration::from_secs(60)),
                },
                error: ProviderError::new(Reason::Throttled, "429"),
            }
        })
        .await;
        let err = result.unwrap_err();
        assert_eq!(
            (err.reason, err.retry_after),
            (Reason::Throttled, Some(Duration::from_secs(60)))
        );
        assert!(time.slept.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn replication_lag_retries_stop_at_their_deadline() {
        let time = Arc::new(TestTime::default());
        let policy = RetryPolicy {
            replication_lag_delay: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let ctx = RetryContext {
            policy: &policy,
            clock: &*time,
            sleeper: &*time,
        };
        let until = time.now() + Duration::from_secs(20);
        let result: Result<(), _> = run(&ctx, "test", |_| async move {
            Attempt::Retry {
                cause: RetryCause::ReplicationLag { until },
                error: ProviderError::new(Reason::ApplicationNotFound, "404"),
            }
        })
        .await;
        assert_eq!(result.unwrap_err().reason, Reason::ApplicationNotFound);
        let total: Duration = time.slept.lock().unwrap().iter().sum();
        assert!(
            total <= Duration::from_secs(20) && total >= Duration::from_secs(16),
            "{total:?}"
        );
    }
}
