//! [`record`]: folds the outcome of the action a [`Decision`] asked for into the status, which the
//! shell persists before planning again.
//!
//! Invariant: the status `record` returns describes the world after the action, so that the next
//! `plan` starts from it; and when the shell dies before persisting it, the next `plan` finds the
//! same facts in the world (staging Secret annotations, target Secret annotations, pod templates,
//! the provider's list) and records them itself — no outcome is ever needed twice.

use jiff::Timestamp;

use super::{
    conditions::{self, Health},
    decision::{Action, Decision, EventRecord, EventType, Outcome, RevokeReason, StepFailure, ValueSource},
    inventory,
    observed::Observed,
    plan::{new_verification, promote, rfc3339},
    schedule::{BACKOFF, REVOKED_MEMORY_ENTRIES, Timing, floor},
    verification::{self, Verdict},
};
use crate::{
    api::{
        ClientSecretRotationStatus, CredentialOrigin, CredentialRecord, FailureRecord, RevokedKey,
        RotationPhase,
        wellknown::{event, reason},
    },
    provider::CheckOutcome,
};

/// The status to persist after an action, and the events to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The new status.
    pub status: ClientSecretRotationStatus,
    /// Events to publish.
    pub events: Vec<EventRecord>,
}

/// Records the `outcome` of `decision.action`, performed at `now`, on top of `decision.status`.
pub fn record(observed: &Observed, decision: &Decision, outcome: Outcome, now: Timestamp) -> Recorded {
    let now = floor(now);
    let mut r = Recorder {
        o: observed,
        now,
        status: decision.status.clone(),
        events: Vec::new(),
    };
    r.apply(&decision.action, outcome);
    let meta = &observed.resource.metadata;
    let health = Health {
        deleting: meta.deletion_timestamp.is_some(),
        suspended: observed.resource.spec.suspend && meta.deletion_timestamp.is_none(),
        ..Default::default()
    };
    conditions::update(
        &mut r.status,
        &observed.resource.spec.secret.name,
        &health,
        meta.generation,
        now,
    );
    Recorded {
        status: r.status,
        events: r.events,
    }
}

struct Recorder<'a> {
    o: &'a Observed,
    now: Timestamp,
    status: ClientSecretRotationStatus,
    events: Vec<EventRecord>,
}

impl Recorder<'_> {
    fn note(&mut self, reason: &'static str, action: &'static str, message: String) {
        self.events.push(EventRecord {
            type_: EventType::Normal,
            reason,
            action,
            message,
        });
    }

    fn warn(&mut self, reason: &'static str, action: &'static str, message: String) {
        self.events.push(EventRecord {
            type_: EventType::Warning,
            reason,
            action,
            message,
        });
    }

    fn timing(&self) -> Option<Timing> {
        Timing::from_spec(&self.o.resource.spec).ok()
    }

    fn apply(&mut self, action: &Action, outcome: Outcome) {
        let step = action.step();
        let failure = match (action, outcome) {
            (Action::Verify { key_id }, Outcome::Failed(f)) => {
                self.checked(key_id, Err(&f));
                None
            }
            (_, Outcome::Failed(f)) => Some(f),
            (Action::FetchCredentials, Outcome::Fetched(credentials)) => {
                self.fetched(&credentials);
                None
            }
            (Action::Mint { rotation, .. }, Outcome::Minted(credential)) => {
                self.minted(*rotation, &credential);
                None
            }
            (Action::Verify { key_id }, Outcome::Checked(check)) => {
                self.checked(key_id, Ok(check));
                None
            }
            (Action::WriteSecret(write), Outcome::Done) => {
                let promoting = write.current.from == ValueSource::Staging
                    && self
                        .status
                        .rotation
                        .as_ref()
                        .is_some_and(|r| r.phase == RotationPhase::Verified);
                if promoting {
                    let timing = self.timing();
                    let uid = self.o.resource.metadata.uid.clone().unwrap_or_default();
                    promote(&mut self.status, timing.as_ref(), &uid, self.now);
                    let with_previous = write.previous.as_ref().map_or(String::new(), |p| {
                        format!(" (previous {} kept alongside)", p.key_id)
                    });
                    self.note(
                        event::PROMOTED,
                        "WriteSecret",
                        format!(
                            "wrote credential {} into Secret {:?}{with_previous}",
                            write.current.key_id, write.name
                        ),
                    );
                }
                None
            }
            (Action::Rollout { targets, .. }, Outcome::RolledOut { patched, failure }) => {
                if let Some(rot) = self.status.rotation.as_mut() {
                    for t in &patched {
                        if !rot
                            .rolled_targets
                            .iter()
                            .any(|r| r.kind == t.kind && r.name == t.name)
                        {
                            rot.rolled_targets.push(t.clone());
                        }
                    }
                    if !patched.is_empty() {
                        rot.rollout_started_at.get_or_insert(self.now.into());
                    }
                }
                if !patched.is_empty() {
                    let names: Vec<String> = patched
                        .iter()
                        .map(|t| format!("{} {}", t.kind.as_str(), t.name))
                        .collect();
                    self.note(
                        event::ROLLOUT_STARTED,
                        "Rollout",
                        format!("restarted {}", names.join(", ")),
                    );
                }
                let _ = targets;
                failure
            }
            (Action::Revoke { key_id, why }, Outcome::Done) => {
                self.revoked(key_id, *why);
                None
            }
            _ => None,
        };
        match failure {
            Some(f) => self.failed(step, f),
            None => {
                if self.status.failure.as_ref().is_some_and(|f| f.step == step) {
                    self.status.failure = None;
                }
            }
        }
    }

    fn failed(&mut self, step: &str, f: StepFailure) {
        let attempts = self
            .status
            .failure
            .as_ref()
            .map_or(0, |f| f.attempts)
            .saturating_add(1);
        let retry_after = f.retry_after.and_then(|d| jiff::SignedDuration::try_from(d).ok());
        let next = BACKOFF.next_retry(self.now, attempts, retry_after);
        self.warn(
            event::STEP_FAILED,
            "Failed",
            format!(
                "{step} failed ({}): {}; retrying at {}",
                f.reason,
                f.message,
                rfc3339(next)
            ),
        );
        self.status.failure = Some(FailureRecord {
            step: step.to_owned(),
            reason: f.reason,
            message: f.message,
            attempts,
            last_failure_time: self.now.into(),
            next_retry_time: next.into(),
            observed_generation: self.o.resource.metadata.generation,
            retryable: f.transient,
        });
    }

    fn fetched(&mut self, credentials: &crate::provider::ApplicationCredentials) {
        self.status.client_id = Some(credentials.client_id.clone());
        self.status.credentials_observed_at = Some(self.now.into());
        let ns = self.o.resource.metadata.namespace.clone().unwrap_or_default();
        let name = self.o.resource.metadata.name.clone().unwrap_or_default();
        let summary = inventory::Context::of(&ns, &name, &self.status, self.o).summarize(credentials);
        self.status.credentials = summary;
        if let Some(timing) = self.timing() {
            let window = timing.renew_window(None, self.now + timing.lifetime);
            let expiring: Vec<String> =
                inventory::expiring_unmanaged(&self.status.credentials, self.now, window)
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({}) expires at {}",
                            c.key_id,
                            c.display_name.as_deref().unwrap_or("no display name"),
                            rfc3339(c.expires_at.0)
                        )
                    })
                    .collect();
            if !expiring.is_empty() {
                self.warn(
                    event::UNMANAGED_EXPIRING,
                    "Inventory",
                    format!(
                        "credentials this rotation does not manage expire soon: {}",
                        expiring.join("; ")
                    ),
                );
            }
        }
    }

    fn minted(&mut self, rotation: i64, credential: &crate::provider::Credential) {
        let timing = self.timing();
        let Some(rot) = self
            .status
            .rotation
            .as_mut()
            .filter(|r| r.id == rotation && r.phase == RotationPhase::Pending)
        else {
            return;
        };
        rot.credential = Some(CredentialRecord {
            key_id: credential.key_id.clone(),
            hint: credential.hint.clone(),
            origin: CredentialOrigin::Minted,
            rotation: Some(rotation),
            starts_at: credential.start.map(|t| floor(t).into()),
            expires_at: floor(credential.end).into(),
            promoted_at: None,
        });
        rot.phase = RotationPhase::Verifying;
        if let Some(timing) = &timing {
            rot.verification = Some(new_verification(self.now, timing));
        }
        let message = format!(
            "minted credential {} ({}) valid until {}, staged for verification",
            credential.key_id,
            rot.display_name,
            rfc3339(credential.end)
        );
        self.note(event::MINTED, "Mint", message);
    }

    /// A verification check's result (an answer or a failure), through the rules of
    /// [`verification`]; a refusal for good abandons the rotation at once.
    fn checked(&mut self, key_id: &str, result: Result<CheckOutcome, &StepFailure>) {
        let now = self.now;
        let Some(rot) = self.status.rotation.as_mut().filter(|r| {
            r.phase == RotationPhase::Verifying && r.credential.as_ref().is_some_and(|c| c.key_id == key_id)
        }) else {
            return;
        };
        let Some(v) = rot.verification.as_mut() else {
            return;
        };
        let Verdict::Refused { reason, message } = verification::record_check(v, now, result) else {
            return;
        };
        rot.phase = RotationPhase::Abandoning;
        rot.abandon_reason = Some(reason::VERIFICATION_FAILED.to_owned());
        rot.abandon_message = Some(format!("{reason}: {message}"));
        let id = rot.id;
        self.warn(
            event::STEP_FAILED,
            "Verify",
            format!(
                "rotation {id} abandoned: the provider refused credential {key_id} for good ({reason}: {message}); it is revoked and the rotation retried with backoff"
            ),
        );
    }

    fn revoked(&mut self, key_id: &str, why: RevokeReason) {
        self.status.recently_revoked.push(RevokedKey {
            key_id: key_id.to_owned(),
            revoked_at: self.now.into(),
        });
        let excess = self
            .status
            .recently_revoked
            .len()
            .saturating_sub(REVOKED_MEMORY_ENTRIES);
        self.status.recently_revoked.drain(..excess);
        self.status
            .credentials
            .retain(|c| !c.key_id.eq_ignore_ascii_case(key_id));
        let is =
            |c: &Option<CredentialRecord>| c.as_ref().is_some_and(|c| c.key_id.eq_ignore_ascii_case(key_id));
        match why {
            RevokeReason::Previous => {
                if is(&self.status.previous) {
                    self.status.previous = None;
                }
                self.note(
                    event::REVOKED,
                    "Revoke",
                    format!("revoked previous credential {key_id}"),
                );
            }
            RevokeReason::Emergency => {
                if is(&self.status.previous) {
                    self.status.previous = None;
                }
                self.warn(
                    event::EMERGENCY_REVOKED,
                    "Revoke",
                    format!(
                        "revoked previous credential {key_id} at once, without waiting for rollouts or the overlap (emergency rotation): pods not yet restarted may fail to authenticate until they are"
                    ),
                );
            }
            RevokeReason::Abandoned => {
                self.warn(
                    event::ABANDONED,
                    "Revoke",
                    format!("revoked credential {key_id} of an abandoned attempt"),
                );
            }
            RevokeReason::Orphan => {
                self.warn(
                    event::ORPHAN_REVOKED,
                    "Revoke",
                    format!("revoked credential {key_id}, minted for this rotation but recorded nowhere"),
                );
            }
            RevokeReason::Deletion => {
                if is(&self.status.previous) {
                    self.status.previous = None;
                }
                if is(&self.status.current) {
                    self.status.current = None;
                }
                self.note(
                    event::REVOKED,
                    "Revoke",
                    format!("revoked credential {key_id} (deletionPolicy Revoke)"),
                );
            }
        }
    }
}
