//! When things happen: the renewal time of a credential, its deterministic jitter, the backoff
//! after failures, the pace of verification attempts, and the rotation's validated timing.
//!
//! Invariants:
//! * every time this module returns is truncated to whole seconds: status stores RFC 3339 with
//!   seconds (k8s `Time`), and a time that lost its nanoseconds on the way through the API server
//!   must compare equal to the one computed again (cert-manager learned this the hard way: an
//!   untruncated renewal time requeued early and never fired, cert-manager PR 4399);
//! * jitter only ever moves a renewal *earlier*, by less than [`JITTER_FRACTION`] of the renew
//!   window, so a credential is never renewed later than the spec asks;
//! * backoff grows exponentially from [`Backoff::base`] and never exceeds [`Backoff::cap`].

use jiff::{SignedDuration, Timestamp, TimestampRound, Unit};
use sha2::{Digest, Sha256};

use crate::api::{ClientSecretRotationSpec, duration::InvalidDuration};

/// At most this fraction of the renew window is taken off the renewal time as jitter.
pub const JITTER_FRACTION: f64 = 0.1;
/// Default backoff after a failed step.
pub const BACKOFF: Backoff = Backoff {
    base: SignedDuration::from_secs(30),
    cap: SignedDuration::from_secs(60 * 60),
};
/// Successful verification attempts in a row required before a secret counts as working: Entra is
/// eventually consistent, and different replicas may answer different attempts.
pub const VERIFY_REQUIRED_SUCCESSES: i32 = 3;
/// Pause between two successful verification attempts.
pub const VERIFY_SUCCESS_SPACING: SignedDuration = SignedDuration::from_secs(2);
/// Pause after the first rejected verification attempt; doubles up to [`VERIFY_RETRY_CAP`].
pub const VERIFY_RETRY_BASE: SignedDuration = SignedDuration::from_secs(5);
/// Longest pause between two rejected verification attempts.
pub const VERIFY_RETRY_CAP: SignedDuration = SignedDuration::from_secs(30);
/// A rollout target that has not finished this long after it was restarted is reported stalled
/// (Deployments report `ProgressDeadlineExceeded` sooner when they know).
pub const ROLLOUT_STALL_AFTER: SignedDuration = SignedDuration::from_secs(30 * 60);
/// How often the application's credentials are read while nothing else is due, to report
/// unmanaged credentials and notice a credential removed out of band.
pub const INVENTORY_REFRESH: SignedDuration = SignedDuration::from_hours(24);
/// How soon to look again when a concurrency cap stopped a rotation or a rollout from starting.
pub const CAPACITY_RECHECK: SignedDuration = SignedDuration::from_secs(30);
/// How long a revoked credential is remembered (stale provider reads may still list it).
pub const REVOKED_MEMORY: SignedDuration = SignedDuration::from_hours(1);
/// At most this many revoked credentials are remembered.
pub const REVOKED_MEMORY_ENTRIES: usize = 16;

/// Exponential backoff parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: SignedDuration,
    /// Longest delay.
    pub cap: SignedDuration,
}

impl Backoff {
    /// The delay after `attempts` failures in a row (1 = first failure): `base * 2^(attempts-1)`,
    /// capped.
    pub fn delay(&self, attempts: i32) -> SignedDuration {
        let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
        let secs = self.base.as_secs().saturating_mul(1i64 << exponent);
        SignedDuration::from_secs(secs.min(self.cap.as_secs()))
    }

    /// When to retry after `attempts` failures, the last at `failed_at`; a provider's own
    /// "retry after" is honoured when longer (still capped).
    pub fn next_retry(
        &self,
        failed_at: Timestamp,
        attempts: i32,
        retry_after: Option<SignedDuration>,
    ) -> Timestamp {
        let delay = retry_after.map_or(self.delay(attempts), |r| {
            r.max(self.delay(attempts)).min(self.cap)
        });
        truncate(
            failed_at
                .saturating_add(delay)
                .expect("saturating add of a bounded duration"),
        )
    }
}

/// How far before expiry a credential is renewed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RenewBefore {
    /// A fixed duration before expiry.
    Duration(SignedDuration),
    /// A percentage of the credential's lifetime before expiry.
    Percentage(i32),
    /// A third of the lifetime (the default).
    OneThird,
}

/// The timing fields of a spec, parsed and checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Lifetime of each new credential.
    pub lifetime: SignedDuration,
    /// Renewal window.
    pub renew_before: RenewBefore,
    /// Minimum overlap after rollouts.
    pub overlap: SignedDuration,
    /// Verification timeout.
    pub verify_timeout: SignedDuration,
}

/// A spec whose timing the schema should have refused (an older CRD, a bypassed validation).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// A duration does not parse.
    #[error("spec.{field}: {source}")]
    Duration {
        /// The field.
        field: &'static str,
        /// Why.
        source: InvalidDuration,
    },
    /// A value is out of range or conflicts with another.
    #[error("{0}")]
    Invalid(String),
}

impl Timing {
    /// Parses and checks the timing fields of `spec`, with the same rules as the CRD's schema.
    pub fn from_spec(spec: &ClientSecretRotationSpec) -> Result<Self, TimingError> {
        let parse = |field: &'static str, d: &crate::api::GoDuration| {
            d.to_signed()
                .map_err(|source| TimingError::Duration { field, source })
        };
        let lifetime = parse("lifetime", &spec.lifetime)?;
        let overlap = parse("overlap", &spec.overlap)?;
        let verify_timeout = parse("verifyTimeout", &spec.verify_timeout)?;
        let invalid = |m: &str| Err(TimingError::Invalid(m.to_owned()));
        if lifetime < SignedDuration::from_mins(1) || lifetime > SignedDuration::from_hours(17520) {
            return invalid("lifetime must be between 1m and 17520h");
        }
        if overlap >= lifetime {
            return invalid("overlap must be shorter than lifetime");
        }
        if verify_timeout < SignedDuration::from_secs(10) || verify_timeout > SignedDuration::from_hours(24) {
            return invalid("verifyTimeout must be between 10s and 24h");
        }
        let renew_before = match (&spec.renew_before, spec.renew_before_percentage) {
            (Some(_), Some(_)) => return invalid("set at most one of renewBefore and renewBeforePercentage"),
            (Some(d), None) => {
                let d = parse("renewBefore", d)?;
                if d < SignedDuration::from_secs(10) {
                    return invalid("renewBefore must be between 10s and 17520h");
                }
                if d >= lifetime {
                    return invalid("renewBefore must be shorter than lifetime");
                }
                RenewBefore::Duration(d)
            }
            (None, Some(p)) if !(1..=99).contains(&p) => {
                return invalid("renewBeforePercentage must be between 1 and 99");
            }
            (None, Some(p)) => RenewBefore::Percentage(p),
            (None, None) => RenewBefore::OneThird,
        };
        Ok(Self {
            lifetime,
            renew_before,
            overlap,
            verify_timeout,
        })
    }

    /// The renew window of a credential valid from `start` (when known) to `end`: how long before
    /// `end` it is renewed, before jitter. Never longer than the credential's lifetime.
    pub fn renew_window(&self, start: Option<Timestamp>, end: Timestamp) -> SignedDuration {
        let lifetime = match start {
            Some(start) if start < end => end.duration_since(start),
            _ => self.lifetime,
        };
        let window = match self.renew_before {
            RenewBefore::Duration(d) => d,
            RenewBefore::Percentage(p) => lifetime * p / 100,
            RenewBefore::OneThird => lifetime / 3,
        };
        window.min(lifetime)
    }

    /// The renewal time of a credential valid from `start` to `end`, for the rotation whose uid is
    /// `uid`, where `rotation` numbers the credential (0 for an adopted one). Whole seconds.
    pub fn renewal_time(
        &self,
        start: Option<Timestamp>,
        end: Timestamp,
        uid: &str,
        rotation: i64,
    ) -> Timestamp {
        let window = self.renew_window(start, end);
        let jitter = jitter(window, uid, rotation);
        floor(end.saturating_sub(window + jitter).expect("bounded durations"))
    }
}

/// The jitter taken off a renewal time: a deterministic fraction in `[0, JITTER_FRACTION)` of
/// `window`, from a digest of the resource's uid and the rotation number. Deterministic, so that a
/// restart computes the same renewal time; spread, so that a thousand resources created together
/// do not all rotate in the same second.
pub fn jitter(window: SignedDuration, uid: &str, rotation: i64) -> SignedDuration {
    let digest = Sha256::digest(format!("{uid}/{rotation}").as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    // 53 bits give an exactly representable fraction in [0, 1).
    let unit = (u64::from_be_bytes(word) >> 11) as f64 / (1u64 << 53) as f64;
    let max = window.as_secs_f64() * JITTER_FRACTION;
    SignedDuration::from_secs((unit * max).floor() as i64)
}

/// `t` truncated to whole seconds (towards the past).
pub fn floor(t: Timestamp) -> Timestamp {
    t.round(
        TimestampRound::new()
            .smallest(Unit::Second)
            .mode(jiff::RoundMode::Floor),
    )
    .expect("rounding to seconds stays in range")
}

/// Alias of [`floor`]: every time the core stores is truncated this way.
pub fn truncate(t: Timestamp) -> Timestamp {
    floor(t)
}

/// `t + d`, truncated, saturating at the edges of time.
pub fn after(t: Timestamp, d: SignedDuration) -> Timestamp {
    floor(t.saturating_add(d).expect("saturating add of a duration"))
}

/// The pause before verification attempt number `attempts + 1` after a rejected attempt.
pub fn verify_retry_delay(attempts: i32) -> SignedDuration {
    Backoff {
        base: VERIFY_RETRY_BASE,
        cap: VERIFY_RETRY_CAP,
    }
    .delay(attempts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApplicationSpec, GoDuration, ProviderRef, TargetSecretSpec};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn spec(lifetime: &str, renew_before: Option<&str>, pct: Option<i32>) -> ClientSecretRotationSpec {
        ClientSecretRotationSpec {
            provider_ref: ProviderRef {
                kind: Default::default(),
                name: "p".into(),
            },
            application: ApplicationSpec::default(),
            secret: TargetSecretSpec {
                name: "s".into(),
                ..Default::default()
            },
            lifetime: GoDuration::from(lifetime),
            renew_before: renew_before.map(GoDuration::from),
            renew_before_percentage: pct,
            overlap: GoDuration::from("1h"),
            verify_timeout: GoDuration::from("10m"),
            rollout_targets: vec![],
            suspend: false,
            deletion_policy: Default::default(),
        }
    }

    #[test]
    fn renew_windows_follow_the_spec() {
        let start = ts("2026-01-01T00:00:00Z");
        let end = ts("2026-03-31T00:00:00Z"); // 89 days
        let lifetime = end.duration_since(start);
        let cases: [(&str, Option<&str>, Option<i32>, SignedDuration); 4] = [
            ("2160h", None, None, lifetime / 3),
            ("2160h", Some("720h"), None, SignedDuration::from_hours(720)),
            ("2160h", None, Some(25), lifetime / 4),
            // A window longer than the credential's real lifetime is clamped to it.
            ("17520h", Some("17000h"), None, lifetime),
        ];
        for (lifetime_text, rb, pct, want) in cases {
            let timing = Timing::from_spec(&spec(lifetime_text, rb, pct)).unwrap();
            assert_eq!(
                timing.renew_window(Some(start), end),
                want,
                "{lifetime_text} {rb:?} {pct:?}"
            );
        }
        // Unknown start: the spec's lifetime stands in.
        let timing = Timing::from_spec(&spec("90m", None, None)).unwrap();
        assert_eq!(timing.renew_window(None, end), SignedDuration::from_mins(30));
    }

    #[test]
    fn renewal_is_whole_seconds_and_never_later_than_the_window() {
        let timing = Timing::from_spec(&spec("2160h", None, None)).unwrap();
        let start = ts("2026-01-01T00:00:00.123456789Z");
        let end = ts("2026-03-31T08:00:00.987654321Z");
        let window = timing.renew_window(Some(start), end);
        for rotation in 0..50 {
            let r = timing.renewal_time(Some(start), end, "uid-1", rotation);
            assert_eq!(r.subsec_nanosecond(), 0);
            assert!(r <= end - window, "renewal {r} later than {}", end - window);
            let earliest =
                end - window - SignedDuration::from_secs_f64(window.as_secs_f64() * JITTER_FRACTION);
            assert!(
                r >= floor(earliest) - SignedDuration::from_secs(1),
                "renewal {r} too early"
            );
            // Round-tripping through the API server (whole seconds) changes nothing.
            let reparsed: Timestamp = jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", r)
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(reparsed, r);
            assert_eq!(
                timing.renewal_time(Some(start), end, "uid-1", rotation),
                r,
                "deterministic"
            );
        }
    }

    #[test]
    fn jitter_spreads_a_thousand_resources_evenly() {
        let window = SignedDuration::from_hours(720);
        let max = window.as_secs_f64() * JITTER_FRACTION;
        let mut buckets = [0u32; 100];
        for i in 0..1000 {
            let j = jitter(window, &format!("0000-{i:08}-uid"), 1).as_secs_f64();
            assert!((0.0..max).contains(&j), "jitter {j} outside [0, {max})");
            buckets[((j / max) * 100.0) as usize] += 1;
        }
        let fullest = *buckets.iter().max().unwrap();
        assert!(fullest <= 30, "a 1% slice holds {fullest} of 1000 (over 3%)");
        assert!(
            buckets.iter().filter(|&&b| b == 0).count() < 5,
            "too many empty slices: {buckets:?}"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = BACKOFF;
        let delays: Vec<i64> = (1..=10).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(b.delay(i32::MAX), b.cap);
        let t = ts("2026-01-01T00:00:00.5Z");
        assert_eq!(b.next_retry(t, 1, None), ts("2026-01-01T00:00:30Z"));
        // A longer "retry after" from the provider wins, still under the cap.
        assert_eq!(
            b.next_retry(t, 1, Some(SignedDuration::from_secs(90))),
            ts("2026-01-01T00:01:30Z")
        );
        assert_eq!(
            b.next_retry(t, 1, Some(SignedDuration::from_hours(5))),
            ts("2026-01-01T01:00:00Z")
        );
    }

    #[test]
    fn timing_refuses_what_the_schema_refuses() {
        let cases: [(ClientSecretRotationSpec, &str); 6] = [
            (spec("90d", None, None), "spec.lifetime"),
            (
                spec("2160h", Some("2160h"), None),
                "renewBefore must be shorter than lifetime",
            ),
            (spec("2160h", Some("720h"), Some(20)), "at most one"),
            (spec("30s", None, None), "lifetime must be between"),
            (spec("2160h", None, Some(100)), "renewBeforePercentage"),
            (spec("2160h", Some("1s"), None), "renewBefore must be between"),
        ];
        for (s, want) in cases {
            let err = Timing::from_spec(&s).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }
}
