//! Verifying a freshly minted credential before anything depends on it: the one place that says
//! what a check result means for the verification in flight (persisted in
//! `status.rotation.verification`, so it resumes across reconciles, restarts and leader changes).
//!
//! The rules, applied by [`record_check`]:
//! * a success counts; [`REQUIRED_SUCCESSES`] in a row verify the credential (different Entra
//!   replicas answer different requests, so only consecutive successes show it has spread);
//! * a rejection (`NotAccepted`: unknown or not propagated yet) resets the count;
//! * a transient failure (throttling, an outage) neither counts nor resets: it says nothing about
//!   the credential;
//! * `Expired` and permanent failures end the verification at once: waiting will not help;
//! * checks are spaced ([`SUCCESS_SPACING`] after a success, a growing delay after anything else)
//!   and never scheduled after the deadline; the decision core times the verification out once
//!   `now` reaches the deadline without enough successes.
//!
//! Invariant: pure; the secret is never part of the state (only counts, times and result words).

use jiff::{SignedDuration, Timestamp};

use super::{
    decision::StepFailure,
    schedule::{VERIFY_REQUIRED_SUCCESSES, VERIFY_SUCCESS_SPACING, after, verify_retry_delay},
};
use crate::{api::VerificationProgress, provider::CheckOutcome};

/// Successful checks in a row that verify a credential.
pub const REQUIRED_SUCCESSES: i32 = VERIFY_REQUIRED_SUCCESSES;
/// Pause after a successful check.
pub const SUCCESS_SPACING: SignedDuration = VERIFY_SUCCESS_SPACING;

/// What a recorded check means for the verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not finished: check again at `next_attempt_at` (before the deadline).
    Pending,
    /// Enough consecutive successes.
    Verified,
    /// The provider refused the credential for good; `reason` is stable, `message` for humans.
    Refused {
        /// Stable reason (`Expired` or the failure's reason).
        reason: String,
        /// For humans.
        message: String,
    },
}

/// A verification that starts at `now` and times out `timeout` later.
pub fn start(now: Timestamp, timeout: SignedDuration) -> VerificationProgress {
    VerificationProgress {
        started_at: now.into(),
        deadline: after(now, timeout).into(),
        attempts: 0,
        consecutive_successes: 0,
        next_attempt_at: None,
        last_result: None,
    }
}

/// Whether enough consecutive checks succeeded.
pub fn is_verified(v: &VerificationProgress) -> bool {
    v.consecutive_successes >= REQUIRED_SUCCESSES
}

/// Whether the deadline has come without enough successes.
pub fn timed_out(v: &VerificationProgress, now: Timestamp) -> bool {
    !is_verified(v) && now >= v.deadline.0
}

/// When the next check is due: `None` means now.
pub fn next_check_at(v: &VerificationProgress) -> Option<Timestamp> {
    v.next_attempt_at.as_ref().map(|t| t.0.min(v.deadline.0))
}

/// Records the result of a check made at `now`.
pub fn record_check(
    v: &mut VerificationProgress,
    now: Timestamp,
    result: Result<CheckOutcome, &StepFailure>,
) -> Verdict {
    v.attempts = v.attempts.saturating_add(1);
    let retry_at = |v: &VerificationProgress, hint: Option<SignedDuration>| {
        let delay = verify_retry_delay(v.attempts);
        after(now, hint.map_or(delay, |h| h.max(delay)))
    };
    match result {
        Ok(CheckOutcome::Authenticated) => {
            v.consecutive_successes = v.consecutive_successes.saturating_add(1);
            v.last_result = Some("Authenticated".to_owned());
            v.next_attempt_at = Some(after(now, SUCCESS_SPACING).into());
            if is_verified(v) {
                Verdict::Verified
            } else {
                Verdict::Pending
            }
        }
        Ok(CheckOutcome::NotAccepted) => {
            v.consecutive_successes = 0;
            v.last_result = Some("NotAccepted".to_owned());
            v.next_attempt_at = Some(retry_at(v, None).into());
            Verdict::Pending
        }
        Ok(CheckOutcome::Expired) => {
            v.consecutive_successes = 0;
            v.last_result = Some("Expired".to_owned());
            v.next_attempt_at = None;
            Verdict::Refused {
                reason: "Expired".to_owned(),
                message: "the provider says the credential has expired or is not valid yet".to_owned(),
            }
        }
        Err(f) if f.transient => {
            v.last_result = Some(f.reason.clone());
            let hint = f.retry_after.and_then(|d| SignedDuration::try_from(d).ok());
            v.next_attempt_at = Some(retry_at(v, hint).into());
            Verdict::Pending
        }
        Err(f) => {
            v.last_result = Some(f.reason.clone());
            v.next_attempt_at = None;
            Verdict::Refused {
                reason: f.reason.clone(),
                message: f.message.clone(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t0() -> Timestamp {
        "2026-10-01T08:00:00Z".parse().unwrap()
    }

    fn secs(n: i64) -> SignedDuration {
        SignedDuration::from_secs(n)
    }

    fn failure(transient: bool) -> StepFailure {
        StepFailure {
            reason: if transient {
                "Throttled"
            } else {
                "ApplicationNotFound"
            }
            .into(),
            message: "m".into(),
            transient,
            retry_after: None,
        }
    }

    #[test]
    fn consecutive_successes_verify() {
        let mut v = start(t0(), secs(600));
        assert_eq!(next_check_at(&v), None, "the first check is due at once");
        for n in 1..REQUIRED_SUCCESSES {
            assert_eq!(
                record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated)),
                Verdict::Pending,
                "{n}"
            );
        }
        assert_eq!(
            record_check(&mut v, t0() + secs(4), Ok(CheckOutcome::Authenticated)),
            Verdict::Verified
        );
        assert!(is_verified(&v));
        assert!(!timed_out(&v, t0() + secs(10_000)), "verified never times out");
    }

    #[test]
    fn a_rejection_resets_the_count_and_backs_off() {
        let mut v = start(t0(), secs(600));
        record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated));
        record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated));
        assert_eq!(
            record_check(&mut v, t0(), Ok(CheckOutcome::NotAccepted)),
            Verdict::Pending
        );
        assert_eq!(v.consecutive_successes, 0);
        assert!(next_check_at(&v).unwrap() > t0() + SUCCESS_SPACING);
    }

    #[test]
    fn transient_failures_neither_count_nor_reset() {
        let mut v = start(t0(), secs(600));
        record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated));
        record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated));
        assert_eq!(record_check(&mut v, t0(), Err(&failure(true))), Verdict::Pending);
        assert_eq!(v.consecutive_successes, 2);
        assert_eq!(v.last_result.as_deref(), Some("Throttled"));
        assert_eq!(
            record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated)),
            Verdict::Verified
        );
    }

    #[test]
    fn a_retry_after_hint_is_honoured() {
        let mut v = start(t0(), secs(600));
        let f = StepFailure {
            retry_after: Some(Duration::from_secs(90)),
            ..failure(true)
        };
        record_check(&mut v, t0(), Err(&f));
        assert_eq!(next_check_at(&v), Some(t0() + secs(90)));
    }

    #[test]
    fn expired_and_permanent_failures_end_at_once() {
        let mut v = start(t0(), secs(600));
        record_check(&mut v, t0(), Ok(CheckOutcome::Authenticated));
        assert!(matches!(
            record_check(&mut v, t0(), Ok(CheckOutcome::Expired)),
            Verdict::Refused { reason, .. } if reason == "Expired"
        ));
        let mut v = start(t0(), secs(600));
        assert!(matches!(
            record_check(&mut v, t0(), Err(&failure(false))),
            Verdict::Refused { reason, .. } if reason == "ApplicationNotFound"
        ));
    }

    #[test]
    fn checks_never_go_past_the_deadline_and_time_out_there() {
        let mut v = start(t0(), secs(20));
        for _ in 0..4 {
            record_check(&mut v, t0() + secs(15), Ok(CheckOutcome::NotAccepted));
        }
        assert_eq!(next_check_at(&v), Some(t0() + secs(20)));
        assert!(!timed_out(&v, t0() + secs(19)));
        assert!(timed_out(&v, t0() + secs(20)));
    }
}
