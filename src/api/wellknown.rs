//! Every identity string the operator writes into the cluster or reads back from it: API group and
//! version, finalizer, annotation and label keys, field managers, condition types, condition and
//! event reasons.
//!
//! Invariant: these strings are part of the public contract (users select on the labels, GitOps
//! tools ignore the annotations, alerts match the reasons). Once released they never change; new
//! ones are added instead.

use sha2::{Digest, Sha256};

/// The API group of every custom resource of the operator.
pub const GROUP: &str = "secret-rotator.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of the custom resources.
pub const API_VERSION: &str = "secret-rotator.dev/v1alpha1";
/// The `kubectl get` category that lists every kind of the operator (`kubectl get secret-rotator`).
pub const CATEGORY: &str = "secret-rotator";

/// Finalizer on a `ClientSecretRotation`: held until the credentials that deletion must revoke are
/// revoked (see `deletionPolicy`).
pub const FINALIZER: &str = "secret-rotator.dev/cleanup";

/// Annotation on a `ClientSecretRotation`: each new value requests one rotation, like
/// `cmctl renew`. `secret-rotator rotate <name>` sets it to the current time.
pub const ANNOTATION_ROTATE: &str = "secret-rotator.dev/rotate";
/// Annotation on a `ClientSecretRotation`: each new value requests one *emergency* rotation: the
/// previous credential is revoked as soon as the new one is verified and written, without waiting
/// for rollouts or the overlap. For a leaked secret.
pub const ANNOTATION_EMERGENCY_ROTATE: &str = "secret-rotator.dev/emergency-rotate";

/// Annotation on the target and staging Secrets: the `keyId` of the credential whose value the
/// Secret holds under the client-secret key.
pub const ANNOTATION_KEY_ID: &str = "secret-rotator.dev/key-id";
/// Annotation on the target Secret: the `keyId` of the credential held under the previous-secret
/// key, while there is one.
pub const ANNOTATION_PREVIOUS_KEY_ID: &str = "secret-rotator.dev/previous-key-id";
/// Annotation on the target and staging Secrets: the rotation number that minted the credential.
pub const ANNOTATION_ROTATION: &str = "secret-rotator.dev/rotation";
/// Annotation on the target and staging Secrets: the credential's end of validity (RFC 3339).
pub const ANNOTATION_EXPIRES_AT: &str = "secret-rotator.dev/expires-at";
/// Annotation on the staging Secret: the credential's start of validity (RFC 3339), when known.
pub const ANNOTATION_STARTS_AT: &str = "secret-rotator.dev/starts-at";
/// Annotation on the target and staging Secrets: the first characters of the secret, as the
/// provider shows them publicly (Entra's `hint`).
pub const ANNOTATION_HINT: &str = "secret-rotator.dev/hint";
/// Annotation on the target Secret: the secret version (see [`secret_version`]) it holds.
pub const ANNOTATION_VERSION: &str = "secret-rotator.dev/version";

/// Label on every Secret the operator writes; the operator watches only Secrets carrying it.
pub const LABEL_MANAGED: &str = "secret-rotator.dev/managed";
/// Value of [`LABEL_MANAGED`].
pub const LABEL_MANAGED_VALUE: &str = "true";
/// Label on every Secret the operator writes: `target` or `staging`.
pub const LABEL_ROLE: &str = "secret-rotator.dev/role";
/// [`LABEL_ROLE`] of the Secret consumers read.
pub const ROLE_TARGET: &str = "target";
/// [`LABEL_ROLE`] of the Secret that holds a new credential before it is verified.
pub const ROLE_STAGING: &str = "staging";

/// Prefix of the pod-template annotation a rollout sets; the name part identifies the rotation
/// (see [`pod_template_annotation_key`]), so one workload may consume several rotated Secrets.
pub const POD_TEMPLATE_ANNOTATION_PREFIX: &str = "rollout.secret-rotator.dev";

/// Field manager of the status subresource.
pub const FIELD_MANAGER_STATUS: &str = "secret-rotator.dev/status";
/// Field manager of the target Secret.
pub const FIELD_MANAGER_SECRET: &str = "secret-rotator.dev/secret";
/// Field manager of the staging Secret.
pub const FIELD_MANAGER_STAGING: &str = "secret-rotator.dev/staging";
/// Field manager of the pod-template annotation on rollout targets.
pub const FIELD_MANAGER_ROLLOUT: &str = "secret-rotator.dev/rollout";
/// Field manager of the finalizer.
pub const FIELD_MANAGER_FINALIZER: &str = "secret-rotator.dev/finalizer";
/// Field manager of the status of `IdentityProvider`s and `ClusterIdentityProvider`s.
pub const FIELD_MANAGER_PROVIDER_STATUS: &str = "secret-rotator.dev/provider-status";
/// Field manager of the `secret-rotator` CLI's writes (the rotation request annotations).
pub const FIELD_MANAGER_CLI: &str = "secret-rotator.dev/cli";

/// Prefix of the display name of every credential the operator mints (see
/// `rotation::marker`).
pub const DISPLAY_NAME_PREFIX: &str = "secret-rotator";

/// Condition types.
pub mod condition {
    /// Summary: the target Secret holds a valid credential and nothing needs a human.
    pub const READY: &str = "Ready";
    /// A rotation is in flight.
    pub const ROTATING: &str = "Rotating";
    /// Something failed or is stuck and is being retried, or needs a human.
    pub const DEGRADED: &str = "Degraded";
}

/// Condition reasons. CamelCase, stable, low-cardinality.
pub mod reason {
    // Ready
    /// Ready=True: the target Secret holds a valid, managed credential.
    pub const UP_TO_DATE: &str = "UpToDate";
    /// Ready=True: as [`UP_TO_DATE`], but `spec.suspend` stops rotations.
    pub const SUSPENDED: &str = "Suspended";
    /// Ready=False: no credential has been written yet.
    pub const NOT_ISSUED: &str = "NotIssued";
    /// Ready=False: the credential in the target Secret has expired.
    pub const EXPIRED: &str = "Expired";
    /// Ready=False: the resource is being deleted.
    pub const DELETING: &str = "Deleting";

    // Rotating
    /// Rotating=False.
    pub const IDLE: &str = "Idle";
    /// Rotating=True: minting a new credential.
    pub const MINTING: &str = "Minting";
    /// Rotating=True: waiting for the new credential to authenticate.
    pub const VERIFYING: &str = "Verifying";
    /// Rotating=True: verified, writing the target Secret.
    pub const PROMOTING: &str = "Promoting";
    /// Rotating=True: restarting the rollout targets.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Rotating=True: every consumer moved; waiting for the overlap before revoking the previous
    /// credential.
    pub const RETIRING: &str = "Retiring";
    /// Rotating=True: an attempt failed before its credential reached consumers; revoking it.
    pub const ABANDONING: &str = "Abandoning";
    /// Rotating=True: waiting for a free slot under the operator's concurrency caps.
    pub const WAITING_FOR_CAPACITY: &str = "WaitingForCapacity";

    // Degraded
    /// Degraded=False.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// The spec is invalid in a way the schema could not catch.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The referenced provider does not exist.
    pub const PROVIDER_NOT_FOUND: &str = "ProviderNotFound";
    /// The referenced provider does not let this namespace use it.
    pub const PROVIDER_NOT_ALLOWED: &str = "ProviderNotAllowed";
    /// The referenced provider does not let this namespace rotate this application.
    pub const APPLICATION_NOT_ALLOWED: &str = "ApplicationNotAllowed";
    /// The namespace's labels were needed to authorize and could not be read.
    pub const NAMESPACE_UNKNOWN: &str = "NamespaceUnknown";
    /// The credential in the target Secret could not be identified unambiguously.
    pub const ADOPTION_AMBIGUOUS: &str = "AdoptionAmbiguous";
    /// The credential named in `spec.secret.adoptKeyId` is not on the application.
    pub const ADOPTION_FAILED: &str = "AdoptionFailed";
    /// The target Secret holds a value the operator did not write.
    pub const TARGET_SECRET_CONFLICT: &str = "TargetSecretConflict";
    /// A new credential never authenticated within `verifyTimeout`.
    pub const VERIFICATION_TIMED_OUT: &str = "VerificationTimedOut";
    /// The provider rejected a new credential for good (expired, wrong tenant).
    pub const VERIFICATION_FAILED: &str = "VerificationFailed";
    /// A rollout target has not finished rolling out in time.
    pub const ROLLOUT_STALLED: &str = "RolloutStalled";
    /// A step failed; it is retried with exponential backoff (the failure's own reason is used
    /// when it has one, e.g. a provider [`crate::provider::Reason`]).
    pub const STEP_FAILED: &str = "StepFailed";

    // Ready of IdentityProvider and ClusterIdentityProvider
    /// Ready=True: the operator signed in with the provider (Ready=False carries the provider's
    /// failure reason, e.g. `InvalidOperatorCredential`, or `SignInSecretUnavailable`).
    pub const SIGNED_IN: &str = "SignedIn";
}

/// Event reasons (events.k8s.io `reason`), CamelCase and stable.
pub mod event {
    /// A rotation started.
    pub const ROTATION_STARTED: &str = "RotationStarted";
    /// A new credential was minted and staged.
    pub const MINTED: &str = "Minted";
    /// The new credential authenticates.
    pub const VERIFIED: &str = "Verified";
    /// The new credential was written into the target Secret.
    pub const PROMOTED: &str = "Promoted";
    /// Rollout targets were restarted.
    pub const ROLLOUT_STARTED: &str = "RolloutStarted";
    /// Every rollout target finished rolling out.
    pub const ROLLOUT_COMPLETE: &str = "RolloutComplete";
    /// A rollout target has not finished in time.
    pub const ROLLOUT_STALLED: &str = "RolloutStalled";
    /// The previous credential was revoked.
    pub const REVOKED: &str = "Revoked";
    /// The previous credential was revoked at once, without waiting for rollouts or the overlap.
    pub const EMERGENCY_REVOKED: &str = "EmergencyRevoked";
    /// A credential minted for this resource but recorded nowhere was revoked.
    pub const ORPHAN_REVOKED: &str = "OrphanRevoked";
    /// A credential of a failed attempt was revoked.
    pub const ABANDONED: &str = "Abandoned";
    /// The previous credential was not minted by the operator; it is left to expire.
    pub const PREVIOUS_LEFT_TO_EXPIRE: &str = "PreviousLeftToExpire";
    /// The rotation finished.
    pub const ROTATED: &str = "Rotated";
    /// An existing credential was adopted.
    pub const ADOPTED: &str = "Adopted";
    /// A credential the operator does not manage expires soon.
    pub const UNMANAGED_EXPIRING: &str = "UnmanagedCredentialExpiring";
    /// A step failed and will be retried.
    pub const STEP_FAILED: &str = "StepFailed";
    /// Verification timed out.
    pub const VERIFICATION_TIMED_OUT: &str = "VerificationTimedOut";
    /// A rotation request annotation was seen.
    pub const ROTATION_REQUESTED: &str = "RotationRequested";
    /// The resource cannot make progress until its spec or provider changes.
    pub const BLOCKED: &str = "Blocked";
    /// Cleanup on deletion was skipped (the provider could not be used).
    pub const CLEANUP_SKIPPED: &str = "CleanupSkipped";
    /// The target Secret was released (ownerReference removed) on deletion.
    pub const SECRET_RELEASED: &str = "SecretReleased";
}

/// The secret version of a credential: a short digest of its `keyId`, never of its value. It goes
/// into the pod-template annotation and the target Secret, so a restart can be traced back to the
/// rotation without exposing anything.
pub fn secret_version(key_id: &str) -> String {
    let digest = Sha256::digest(format!("{GROUP}/secret-version:{key_id}").as_bytes());
    hex(&digest[..8])
}

/// The pod-template annotation key that carries the secret version for the rotation `name`
/// (`rollout.secret-rotator.dev/<name>`). Names longer than the 63 characters an annotation name
/// allows are shortened and made unique with a digest.
pub fn pod_template_annotation_key(name: &str) -> String {
    format!("{POD_TEMPLATE_ANNOTATION_PREFIX}/{}", bounded_name(name, 63))
}

/// The name of the staging Secret of the rotation `name`: `<name>-staging`, shortened with a
/// digest when that would exceed the 253 characters a Secret name allows.
///
/// NB: a user's Secret may already carry this name; the shell must refuse to write a Secret that
/// does not carry [`LABEL_ROLE`]=[`ROLE_STAGING`] and an ownerReference to the rotation.
pub fn staging_secret_name(name: &str) -> String {
    format!("{}-staging", bounded_name(name, 253 - "-staging".len()))
}

/// `name` itself when it fits in `max` characters, otherwise a prefix, a dash and a 12-character
/// digest of the whole name (unique, deterministic, and still valid in a DNS subdomain).
pub(crate) fn bounded_name(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let digest = hex(&Sha256::digest(name.as_bytes())[..6]);
    let keep = max - digest.len() - 1;
    let prefix = name[..keep].trim_end_matches(['-', '.']);
    format!("{prefix}-{digest}")
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_versions_are_short_stable_digests_of_the_key_id() {
        let v = secret_version("3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80");
        assert_eq!(v.len(), 16);
        assert_eq!(v, secret_version("3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80"));
        assert_ne!(v, secret_version("3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f81"));
    }

    #[test]
    fn long_names_are_bounded_and_stay_distinct() {
        assert_eq!(
            pod_template_annotation_key("my-app"),
            "rollout.secret-rotator.dev/my-app"
        );
        let long_a = format!("{}a", "x".repeat(100));
        let long_b = format!("{}b", "x".repeat(100));
        let (ka, kb) = (
            pod_template_annotation_key(&long_a),
            pod_template_annotation_key(&long_b),
        );
        assert_ne!(ka, kb);
        assert!(ka.split('/').nth(1).unwrap().len() <= 63);
        assert_eq!(staging_secret_name("my-app"), "my-app-staging");
        let long = "y".repeat(253);
        assert!(staging_secret_name(&long).len() <= 253);
    }
}
