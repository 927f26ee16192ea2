//! The `Ready`, `Rotating` and `Degraded` conditions, computed from the status the core is about to
//! persist.
//!
//! Invariants: `lastTransitionTime` changes only when a condition's `status` changes (it is the
//! `now` passed in, truncated to seconds); every condition carries the `observedGeneration` it was
//! computed for; reasons are the constants of [`crate::api::wellknown::reason`]; messages are
//! stable for a given state (no "now" in them), so a pass that changes nothing writes nothing.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::schedule::floor;
use crate::api::{
    ClientSecretRotationStatus, RotationPhase,
    wellknown::{condition, reason},
};

/// What the conditions need to know beyond the status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// No progress is possible: (reason, message).
    pub blocked: Option<(&'static str, String)>,
    /// A rollout is stalled: message.
    pub stalled: Option<String>,
    /// A concurrency cap holds the next step back.
    pub waiting_for_capacity: bool,
    /// The resource is being deleted.
    pub deleting: bool,
    /// `spec.suspend` is set.
    pub suspended: bool,
}

/// Sets a condition, keeping `lastTransitionTime` unless the status changes.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) {
    let transition = match conditions.iter().find(|c| c.type_ == type_) {
        Some(existing) if existing.status == status => existing.last_transition_time.clone(),
        _ => Time(floor(now)),
    };
    let new = Condition {
        last_transition_time: transition,
        message,
        observed_generation: generation,
        reason: reason.to_owned(),
        status: status.to_owned(),
        type_: type_.to_owned(),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => *existing = new,
        None => conditions.push(new),
    }
}

/// The condition of `type_`, if set.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn fmt_time(t: &Time) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", t.0).unwrap_or_else(|_| t.0.to_string())
}

/// Recomputes the three conditions of `status`.
pub fn update(
    status: &mut ClientSecretRotationStatus,
    secret_name: &str,
    health: &Health,
    generation: Option<i64>,
    now: Timestamp,
) {
    let (ready, ready_reason, ready_message) = ready(status, secret_name, health, now);
    let (rotating, rotating_reason, rotating_message) = rotating(status, health);
    let (degraded, degraded_reason, degraded_message) = degraded(status, health);
    let conds = &mut status.conditions;
    set(
        conds,
        condition::READY,
        ready,
        ready_reason,
        ready_message,
        generation,
        now,
    );
    set(
        conds,
        condition::ROTATING,
        rotating,
        rotating_reason,
        rotating_message,
        generation,
        now,
    );
    set(
        conds,
        condition::DEGRADED,
        degraded,
        degraded_reason,
        degraded_message,
        generation,
        now,
    );
}

fn ready(
    status: &ClientSecretRotationStatus,
    secret_name: &str,
    health: &Health,
    now: Timestamp,
) -> (&'static str, &'static str, String) {
    if health.deleting {
        return (
            "False",
            reason::DELETING,
            "the rotation is being deleted; cleaning up".to_owned(),
        );
    }
    if let Some((reason, message)) = &health.blocked {
        return ("False", reason, message.clone());
    }
    let Some(current) = &status.current else {
        return (
            "False",
            reason::NOT_ISSUED,
            format!("Secret {secret_name:?} holds no managed credential yet"),
        );
    };
    if current.expires_at.0 <= now {
        return (
            "False",
            reason::EXPIRED,
            format!(
                "the credential in Secret {secret_name:?} expired at {}",
                fmt_time(&current.expires_at)
            ),
        );
    }
    let next = status
        .renewal_time
        .as_ref()
        .map(fmt_time)
        .unwrap_or_else(|| "unscheduled".to_owned());
    let hint = current.hint.as_deref().unwrap_or("");
    if health.suspended {
        return (
            "True",
            reason::SUSPENDED,
            format!(
                "Secret {secret_name:?} holds credential {hint}… (keyId {}) valid until {}; rotation is suspended",
                current.key_id,
                fmt_time(&current.expires_at)
            ),
        );
    }
    (
        "True",
        reason::UP_TO_DATE,
        format!(
            "Secret {secret_name:?} holds credential {hint}… (keyId {}) valid until {}; next rotation at {next}",
            current.key_id,
            fmt_time(&current.expires_at)
        ),
    )
}

fn rotating(status: &ClientSecretRotationStatus, health: &Health) -> (&'static str, &'static str, String) {
    let Some(rotation) = &status.rotation else {
        if health.waiting_for_capacity {
            return (
                "True",
                reason::WAITING_FOR_CAPACITY,
                "a rotation is due and waits for a free slot under the operator's concurrency cap".to_owned(),
            );
        }
        return ("False", reason::IDLE, "no rotation in flight".to_owned());
    };
    let reason = match rotation.phase {
        RotationPhase::Pending => reason::MINTING,
        RotationPhase::Verifying => reason::VERIFYING,
        RotationPhase::Verified if health.waiting_for_capacity => reason::WAITING_FOR_CAPACITY,
        RotationPhase::Verified => reason::PROMOTING,
        RotationPhase::RollingOut => reason::ROLLING_OUT,
        RotationPhase::Retiring => reason::RETIRING,
        RotationPhase::Abandoning => reason::ABANDONING,
    };
    let mut message = format!("rotation {} ({:?}", rotation.id, rotation.reason);
    if rotation.emergency {
        message.push_str(", emergency");
    }
    message.push(')');
    match rotation.phase {
        RotationPhase::Pending => message.push_str(": minting a new credential"),
        RotationPhase::Verifying => message.push_str(": waiting for the new credential to authenticate"),
        RotationPhase::Verified => message.push_str(": writing the new credential into the target Secret"),
        RotationPhase::RollingOut => message.push_str(": restarting the rollout targets"),
        RotationPhase::Retiring => match &rotation.revoke_after {
            Some(t) => message.push_str(&format!(": previous credential revoked after {}", fmt_time(t))),
            None => message.push_str(": revoking the previous credential"),
        },
        RotationPhase::Abandoning => {
            message.push_str(": revoking the new credential before a retry");
            if let Some(why) = &rotation.abandon_reason {
                message.push_str(&format!(" ({why})"));
            }
        }
    }
    ("True", reason, message)
}

fn degraded(status: &ClientSecretRotationStatus, health: &Health) -> (&'static str, &'static str, String) {
    if let Some((reason, message)) = &health.blocked {
        return ("True", reason, message.clone());
    }
    if let Some(f) = &status.failure {
        let reason = known_reason(&f.reason);
        return (
            "True",
            reason,
            format!(
                "{} failed ({} in a row): {}; next attempt at {}",
                f.step,
                f.attempts,
                f.message,
                fmt_time(&f.next_retry_time)
            ),
        );
    }
    if let Some(message) = &health.stalled {
        return ("True", reason::ROLLOUT_STALLED, message.clone());
    }
    ("False", reason::AS_EXPECTED, "no failure".to_owned())
}

/// Maps a failure reason onto the fixed set of reasons conditions (and the
/// `secret_rotator_rotation_failures_total` metric) may carry: failure reasons come from the
/// provider seam or the shell; anything unknown becomes `StepFailed`.
pub fn known_reason(r: &str) -> &'static str {
    use crate::provider::Reason as P;
    const PROVIDER: [P; 12] = [
        P::AuthorizationDenied,
        P::LifetimeExceedsPolicy,
        P::CredentialTypeNotAllowed,
        P::PasswordLimitReached,
        P::ApplicationNotFound,
        P::TenantNotFound,
        P::InvalidOperatorCredential,
        P::Throttled,
        P::ProviderUnavailable,
        P::InvalidConfiguration,
        P::UnexpectedResponse,
        P::RequestRejected,
    ];
    if let Some(p) = PROVIDER.iter().find(|p| p.as_str() == r) {
        return p.as_str();
    }
    match r {
        reason::VERIFICATION_TIMED_OUT => reason::VERIFICATION_TIMED_OUT,
        reason::VERIFICATION_FAILED => reason::VERIFICATION_FAILED,
        "SecretContentMismatch" => "SecretContentMismatch",
        "SecretNotOwned" => "SecretNotOwned",
        "StagingSecretLost" => "StagingSecretLost",
        "KubernetesApiError" => "KubernetesApiError",
        "SignInSecretUnavailable" => "SignInSecretUnavailable",
        _ => reason::STEP_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_status() {
        let t0: Timestamp = "2026-01-01T00:00:00.7Z".parse().unwrap();
        let t1: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let mut c = vec![];
        set(&mut c, "Ready", "False", "NotIssued", "a".into(), Some(1), t0);
        assert_eq!(
            c[0].last_transition_time.0,
            "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        set(&mut c, "Ready", "False", "Other", "b".into(), Some(2), t1);
        assert_eq!(
            c[0].last_transition_time.0,
            "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            (c[0].reason.as_str(), c[0].observed_generation),
            ("Other", Some(2))
        );
        set(&mut c, "Ready", "True", "UpToDate", "c".into(), Some(2), t1);
        assert_eq!(c[0].last_transition_time.0, t1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn unknown_failure_reasons_are_folded() {
        assert_eq!(known_reason("Throttled"), "Throttled");
        assert_eq!(known_reason("SomethingNew"), reason::STEP_FAILED);
    }
}
