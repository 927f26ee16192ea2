//! The shell's own step failures (next to the provider's reasons): what the reconcile pass feeds
//! back to the decision core as `Outcome::Failed` when a Kubernetes read or write of a step fails,
//! so they back off in status like provider failures instead of hot-looping.
//!
//! Invariant: reasons are stable CamelCase words; messages say what was attempted and never hold
//! a secret value.

use crate::rotation::StepFailure;

/// A Kubernetes API call of a step failed.
pub const KUBERNETES_API_ERROR: &str = "KubernetesApiError";
/// A Secret does not hold the credential its annotations (or the plan) say it holds.
pub const SECRET_CONTENT_MISMATCH: &str = "SecretContentMismatch";
/// A Secret the step would write belongs to someone else.
pub const SECRET_NOT_OWNED: &str = "SecretNotOwned";
/// The Secret a provider signs in with is missing or unusable.
pub const SIGN_IN_SECRET_UNAVAILABLE: &str = "SignInSecretUnavailable";

/// A failure with `reason` and `message`.
pub fn failure(reason: &str, message: impl Into<String>, transient: bool) -> StepFailure {
    StepFailure {
        reason: reason.to_owned(),
        message: message.into(),
        transient,
        retry_after: None,
    }
}

/// The failure of a Kubernetes call made while `what`.
pub fn from_kube(what: &str, e: &kube::Error) -> StepFailure {
    let transient = match e {
        kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
        _ => true,
    };
    failure(KUBERNETES_API_ERROR, format!("{what}: {e}"), transient)
}

/// Whether `e` is a 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Whether `e` is a 409 (a conflict on a precondition or resourceVersion).
pub fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}
