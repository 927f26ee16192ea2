//! Verifying that a freshly minted secret really works before anything depends on it: repeat
//! [`CredentialProvider::check`] until it succeeds N times in a row, spaced by an interval, through
//! the provider's propagation delay, up to a timeout.
//!
//! The state of the loop is a small serialisable value ([`VerificationState`]) so the controller can
//! run bounded bursts ([`verify_burst`]) and persist progress between reconciles: propagation can take
//! minutes (24 hours was normal for SharePoint add-ins).
//!
//! Invariants:
//! * [`VerificationState::record`] is pure (state, policy, time and one check result in; new state
//!   and progress out) and is where every rule lives:
//!   - a success counts; a rejection (`NotAccepted`) resets the count, since different requests land
//!     on different replicas and only consecutive successes show the secret has spread;
//!   - `Expired` and permanent errors end the loop at once;
//!   - transient errors neither count nor reset; if the deadline passes on one, it is the outcome;
//! * the deadline is `first attempt + timeout`; the last check happens no later than the deadline
//!   and the loop ends on the first result recorded at or after it;
//! * the secret is only ever passed to the provider, never stored in the state.

use std::time::Duration;

use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{ApplicationRef, CheckOutcome, CredentialProvider, ProviderError, sleeper::Sleeper};
use crate::clock::Clock;

/// The shortest spacing of checks, whatever the policy says (a zero interval would hammer the
/// token endpoint until the timeout).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How to verify a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerificationPolicy {
    /// Consecutive successful checks needed.
    pub required_successes: u32,
    /// Time between two checks (at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// Time from the first check after which an unverified secret is reported as not accepted.
    pub timeout: Duration,
}

impl Default for VerificationPolicy {
    /// Three consecutive successes, five seconds apart, within fifteen minutes.
    fn default() -> Self {
        Self {
            required_successes: 3,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// Progress of one verification, to persist between bursts (e.g. in a resource's status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationState {
    /// When the first check was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt: Option<Timestamp>,
    /// When the last check was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Timestamp>,
    /// Successful checks since the last rejection.
    #[serde(default)]
    pub consecutive_successes: u32,
    /// Checks made so far.
    #[serde(default)]
    pub attempts: u32,
}

/// How a verification ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerificationOutcome {
    /// The secret authenticated the required number of times in a row.
    Verified,
    /// The timeout passed without enough consecutive successes.
    NotAcceptedAtTimeout,
    /// The provider says the secret has expired (or is not valid yet).
    Expired,
    /// A permanent error, or a transient one still there at the timeout.
    Failed(ProviderError),
}

/// Where a verification stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerificationProgress {
    /// Not finished; the next check is due at this time.
    Pending {
        /// When to check next.
        next_check_at: Timestamp,
    },
    /// Finished.
    Finished(VerificationOutcome),
}

impl VerificationState {
    /// When the verification times out, once it has started.
    pub fn deadline(&self, policy: &VerificationPolicy) -> Option<Timestamp> {
        self.first_attempt.map(|first| first + policy.timeout)
    }

    /// When the next check is due; `None` means "now" (nothing checked yet).
    pub fn next_check_at(&self, policy: &VerificationPolicy) -> Option<Timestamp> {
        let last = self.last_attempt?;
        let next = last + policy.interval.max(MIN_INTERVAL);
        Some(self.deadline(policy).map_or(next, |deadline| next.min(deadline)))
    }

    /// The state after a check made at `now`, and where that leaves the verification.
    pub fn record(
        self,
        policy: &VerificationPolicy,
        now: Timestamp,
        result: Result<CheckOutcome, ProviderError>,
    ) -> (Self, VerificationProgress) {
        let mut state = Self {
            first_attempt: Some(self.first_attempt.unwrap_or(now)),
            last_attempt: Some(now),
            attempts: self.attempts.saturating_add(1),
            ..self
        };
        let transient = match result {
            Ok(CheckOutcome::Authenticated) => {
                state.consecutive_successes = state.consecutive_successes.saturating_add(1);
                if state.consecutive_successes >= policy.required_successes.max(1) {
                    return (
                        state,
                        VerificationProgress::Finished(VerificationOutcome::Verified),
                    );
                }
                None
            }
            Ok(CheckOutcome::NotAccepted) => {
                state.consecutive_successes = 0;
                None
            }
            Ok(CheckOutcome::Expired) => {
                return (
                    state,
                    VerificationProgress::Finished(VerificationOutcome::Expired),
                );
            }
            Err(error) if !error.is_transient() => {
                return (
                    state,
                    VerificationProgress::Finished(VerificationOutcome::Failed(error)),
                );
            }
            Err(error) => Some(error),
        };
        let deadline = state.deadline(policy).unwrap_or(now);
        if now >= deadline {
            let outcome = match transient {
                Some(error) => VerificationOutcome::Failed(error),
                None => VerificationOutcome::NotAcceptedAtTimeout,
            };
            return (state, VerificationProgress::Finished(outcome));
        }
        let next_check_at = state.next_check_at(policy).unwrap_or(now);
        (state, VerificationProgress::Pending { next_check_at })
    }
}

/// Runs checks from `state` for at most `burst` (waiting between checks included) and returns the
/// new state and progress. A burst always makes at least one check if one is due when it starts.
#[allow(clippy::too_many_arguments)]
pub async fn verify_burst(
    provider: &dyn CredentialProvider,
    app: &ApplicationRef,
    secret: &SecretString,
    policy: &VerificationPolicy,
    mut state: VerificationState,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
    burst: Duration,
) -> (VerificationState, VerificationProgress) {
    let burst_end = clock.now() + burst;
    loop {
        let now = clock.now();
        if let Some(due) = state.next_check_at(policy)
            && due > now
        {
            if due > burst_end {
                return (state, VerificationProgress::Pending { next_check_at: due });
            }
            sleeper.sleep(due.duration_since(now).unsigned_abs()).await;
        }
        let result = provider.check(app, secret).await;
        let checked_at = clock.now();
        tracing::debug!(
            outcome = ?result.as_ref().map_err(|e| e.reason),
            consecutive_successes = state.consecutive_successes,
            "verification check"
        );
        let (next, progress) = state.record(policy, checked_at, result);
        state = next;
        if let VerificationProgress::Finished(outcome) = &progress {
            tracing::info!(attempts = state.attempts, outcome = ?outcome_word(outcome), "verification finished");
            return (state, progress);
        }
    }
}

/// Verifies from scratch until an outcome (bounded by the policy's timeout).
pub async fn verify(
    provider: &dyn CredentialProvider,
    app: &ApplicationRef,
    secret: &SecretString,
    policy: &VerificationPolicy,
    clock: &dyn Clock,
    sleeper: &dyn Sleeper,
) -> (VerificationState, VerificationOutcome) {
    let mut state = VerificationState::default();
    loop {
        let burst = policy.timeout + policy.interval;
        match verify_burst(provider, app, secret, policy, state, clock, sleeper, burst).await {
            (next, VerificationProgress::Finished(outcome)) => return (next, outcome),
            (next, VerificationProgress::Pending { .. }) => state = next,
        }
    }
}

fn outcome_word(outcome: &VerificationOutcome) -> &'static str {
    match outcome {
        VerificationOutcome::Verified => "Verified",
        VerificationOutcome::NotAcceptedAtTimeout => "NotAcceptedAtTimeout",
        VerificationOutcome::Expired => "Expired",
        VerificationOutcome::Failed(error) => error.reason.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::provider::{
        ApplicationCredentials, ApplicationId, CredentialHolder, MintRequest, MintedCredential, Reason,
    };

    fn t0() -> Timestamp {
        "2026-10-01T08:00:00Z".parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn policy() -> VerificationPolicy {
        VerificationPolicy {
            required_successes: 3,
            interval: secs(5),
            timeout: secs(60),
        }
    }

    fn pending(at: Timestamp) -> VerificationProgress {
        VerificationProgress::Pending { next_check_at: at }
    }

    fn transient() -> ProviderError {
        ProviderError::new(Reason::Throttled, "429")
    }

    #[test]
    fn three_consecutive_successes_verify() {
        let p = policy();
        let (s, progress) = VerificationState::default().record(&p, t0(), Ok(CheckOutcome::Authenticated));
        assert_eq!(progress, pending(t0() + secs(5)));
        assert_eq!(
            (s.first_attempt, s.consecutive_successes, s.attempts),
            (Some(t0()), 1, 1)
        );
        let (s, _) = s.record(&p, t0() + secs(5), Ok(CheckOutcome::Authenticated));
        let (s, progress) = s.record(&p, t0() + secs(10), Ok(CheckOutcome::Authenticated));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Verified)
        );
        assert_eq!(s.attempts, 3);
    }

    #[test]
    fn a_rejection_resets_the_count() {
        let p = policy();
        let s = VerificationState {
            first_attempt: Some(t0()),
            last_attempt: Some(t0()),
            consecutive_successes: 2,
            attempts: 2,
        };
        let (s, progress) = s.record(&p, t0() + secs(5), Ok(CheckOutcome::NotAccepted));
        assert_eq!(s.consecutive_successes, 0);
        assert_eq!(progress, pending(t0() + secs(10)));
    }

    #[test]
    fn transient_errors_neither_count_nor_reset() {
        let p = policy();
        let s = VerificationState {
            first_attempt: Some(t0()),
            last_attempt: Some(t0()),
            consecutive_successes: 2,
            attempts: 2,
        };
        let (s, progress) = s.record(&p, t0() + secs(5), Err(transient()));
        assert_eq!(s.consecutive_successes, 2);
        assert_eq!(progress, pending(t0() + secs(10)));
        let (_, progress) = s.record(&p, t0() + secs(10), Ok(CheckOutcome::Authenticated));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Verified)
        );
    }

    #[test]
    fn expired_and_permanent_errors_end_at_once() {
        let p = policy();
        let (_, progress) = VerificationState::default().record(&p, t0(), Ok(CheckOutcome::Expired));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Expired)
        );
        let error = ProviderError::new(Reason::ApplicationNotFound, "AADSTS700016");
        let (_, progress) = VerificationState::default().record(&p, t0(), Err(error.clone()));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Failed(error))
        );
    }

    #[test]
    fn the_last_check_is_at_the_deadline_and_ends_the_loop() {
        let p = policy();
        let s = VerificationState {
            first_attempt: Some(t0()),
            last_attempt: Some(t0() + secs(57)),
            consecutive_successes: 0,
            attempts: 12,
        };
        assert_eq!(s.next_check_at(&p), Some(t0() + secs(60)));
        let (_, progress) = s.record(&p, t0() + secs(60), Ok(CheckOutcome::Authenticated));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::NotAcceptedAtTimeout)
        );
        let (_, progress) = s.record(&p, t0() + secs(60), Err(transient()));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Failed(transient()))
        );
        // Success on the final required check still wins at the deadline.
        let almost = VerificationState {
            consecutive_successes: 2,
            ..s
        };
        let (_, progress) = almost.record(&p, t0() + secs(60), Ok(CheckOutcome::Authenticated));
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Verified)
        );
    }

    #[test]
    fn a_zero_interval_still_spaces_checks() {
        let p = VerificationPolicy {
            interval: Duration::ZERO,
            ..policy()
        };
        let (_, progress) = VerificationState::default().record(&p, t0(), Ok(CheckOutcome::NotAccepted));
        assert_eq!(progress, pending(t0() + MIN_INTERVAL));
    }

    #[test]
    fn state_round_trips_through_json() {
        let s = VerificationState {
            first_attempt: Some(t0()),
            last_attempt: Some(t0() + secs(5)),
            consecutive_successes: 1,
            attempts: 2,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"firstAttempt":"2026-10-01T08:00:00Z","lastAttempt":"2026-10-01T08:00:05Z","consecutiveSuccesses":1,"attempts":2}"#
        );
        assert_eq!(serde_json::from_str::<VerificationState>(&json).unwrap(), s);
        assert_eq!(
            serde_json::from_str::<VerificationState>("{}").unwrap(),
            VerificationState::default()
        );
    }

    /// A provider whose checks follow a script, on a clock moved by the sleeper.
    #[derive(Debug)]
    struct Scripted {
        script: Mutex<Vec<Result<CheckOutcome, ProviderError>>>,
        now: Mutex<Timestamp>,
        slept: Mutex<Vec<Duration>>,
    }

    impl Scripted {
        fn new(mut script: Vec<Result<CheckOutcome, ProviderError>>) -> Self {
            script.reverse();
            Self {
                script: Mutex::new(script),
                now: Mutex::new(t0()),
                slept: Mutex::default(),
            }
        }
    }

    impl Clock for Scripted {
        fn now(&self) -> Timestamp {
            *self.now.lock().unwrap()
        }
    }

    #[async_trait::async_trait]
    impl Sleeper for Scripted {
        async fn sleep(&self, duration: Duration) {
            self.slept.lock().unwrap().push(duration);
            let mut now = self.now.lock().unwrap();
            *now += duration;
        }
    }

    #[async_trait::async_trait]
    impl CredentialProvider for Scripted {
        async fn list_credentials(
            &self,
            _: &ApplicationRef,
        ) -> Result<ApplicationCredentials, ProviderError> {
            unreachable!("verification only checks")
        }
        async fn mint(&self, _: &ApplicationRef, _: &MintRequest) -> Result<MintedCredential, ProviderError> {
            unreachable!("verification only checks")
        }
        async fn check(&self, _: &ApplicationRef, _: &SecretString) -> Result<CheckOutcome, ProviderError> {
            self.script
                .lock()
                .unwrap()
                .pop()
                .unwrap_or(Ok(CheckOutcome::NotAccepted))
        }
        async fn revoke(&self, _: &ApplicationRef, _: &str) -> Result<(), ProviderError> {
            unreachable!("verification only checks")
        }
    }

    fn app() -> ApplicationRef {
        ApplicationRef {
            id: ApplicationId::ClientId("c".into()),
            holder: CredentialHolder::Application,
        }
    }

    #[tokio::test]
    async fn bursts_resume_from_persisted_state() {
        use CheckOutcome::*;
        let fake = Scripted::new(vec![
            Ok(NotAccepted),
            Ok(Authenticated),
            Ok(NotAccepted),
            Ok(Authenticated),
            Ok(Authenticated),
            Ok(Authenticated),
        ]);
        let secret: SecretString = "s".into();
        let p = policy();
        // A 12-second burst fits checks at 0, 5 and 10 s.
        let (state, progress) = verify_burst(
            &fake,
            &app(),
            &secret,
            &p,
            VerificationState::default(),
            &fake,
            &fake,
            secs(12),
        )
        .await;
        assert_eq!(progress, pending(t0() + secs(15)));
        assert_eq!((state.attempts, state.consecutive_successes), (3, 0));
        // Persist, resume later.
        let state: VerificationState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
        let (state, progress) = verify_burst(&fake, &app(), &secret, &p, state, &fake, &fake, secs(60)).await;
        assert_eq!(
            progress,
            VerificationProgress::Finished(VerificationOutcome::Verified)
        );
        assert_eq!(state.attempts, 6);
        assert_eq!(fake.now(), t0() + secs(25));
        assert!(fake.slept.lock().unwrap().iter().all(|d| *d == secs(5)));
    }

    #[tokio::test]
    async fn verify_times_out_when_never_accepted() {
        let fake = Scripted::new(vec![]);
        let secret: SecretString = "s".into();
        let (state, outcome) = verify(&fake, &app(), &secret, &policy(), &fake, &fake).await;
        assert_eq!(outcome, VerificationOutcome::NotAcceptedAtTimeout);
        assert_eq!(state.attempts, 13, "checks at 0, 5, ..., 60 s");
        assert_eq!(fake.now(), t0() + secs(60));
    }
}
