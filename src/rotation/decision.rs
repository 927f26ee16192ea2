//! What [`super::plan`] returns (one [`Action`] and the status to persist before performing it),
//! and what the shell feeds back to [`super::record`] after performing it ([`Outcome`]).
//!
//! Invariant: every action is idempotent or guarded by persisted state, so that performing it
//! twice (a crash between the effect and the status write) is harmless; see the crash-point table
//! in the module docs of [`crate::rotation`].

use std::{collections::BTreeMap, time::Duration};

use jiff::Timestamp;

use crate::{
    api::{ClientSecretRotationStatus, RolledTarget, RotationReason, SecretKeys, WorkloadKind},
    provider::{ApplicationCredentials, CheckOutcome, Credential, MintRequest, ProviderError},
};

/// The one next step.
// One value per step, never stored in bulk: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Add [`crate::api::wellknown::FINALIZER`] (field manager `FIELD_MANAGER_FINALIZER`).
    AddFinalizer,
    /// Nothing but the status change in [`Decision::status`]; plan again right away.
    UpdateStatus(StatusChange),
    /// Read the application's credentials from the provider and pass them, once, to the next
    /// `plan` call in [`super::Observed::credentials`].
    FetchCredentials,
    /// Mint a credential with `request`, then **before anything else** write its secret into the
    /// staging Secret `staging_secret` (labels and annotations from
    /// [`super::staging_metadata`]), then feed back [`Outcome::Minted`].
    Mint {
        /// Rotation number.
        rotation: i64,
        /// What to ask the provider for.
        request: MintRequest,
        /// Name of the staging Secret.
        staging_secret: String,
    },
    /// Try once to authenticate with the staged secret `key_id` (read from the staging Secret, which
    /// must carry that `keyId`); feed back [`Outcome::Checked`].
    Verify {
        /// The credential being verified.
        key_id: String,
    },
    /// Apply the target Secret as described.
    WriteSecret(SecretWrite),
    /// Set the pod-template annotation `annotation_key` to `version` on each target (server-side
    /// apply, field manager `FIELD_MANAGER_ROLLOUT`); feed back the generation each one has after
    /// the patch.
    Rollout {
        /// The pod-template annotation key.
        annotation_key: String,
        /// Its value: the secret version.
        version: String,
        /// The workloads to restart.
        targets: Vec<WorkloadRef>,
    },
    /// Revoke a credential minted by the operator for this resource.
    Revoke {
        /// The credential.
        key_id: String,
        /// Why it goes.
        why: RevokeReason,
    },
    /// Delete the staging Secret.
    DeleteStagingSecret,
    /// Remove the rotation's ownerReference from the target Secret, so that deleting the rotation
    /// does not delete it (deletion with `Retain`).
    ReleaseTargetSecret,
    /// Remove the finalizer: cleanup is done.
    RemoveFinalizer,
    /// Nothing is due. Requeue at `until` (never earlier); `None` means only a watch event (spec,
    /// Secret, workload or provider change) needs to wake the resource.
    Wait {
        /// When to plan again.
        until: Option<Timestamp>,
    },
    /// No progress is possible until something changes; conditions say why. Requeue at
    /// `retry_at` if set, otherwise on a watch event.
    Blocked {
        /// Stable reason (also the condition reason).
        reason: &'static str,
        /// For humans.
        message: String,
        /// When to try again regardless of events.
        retry_at: Option<Timestamp>,
    },
}

impl Action {
    /// The step name used in failure records and logs.
    pub fn step(&self) -> &'static str {
        match self {
            Action::AddFinalizer => "AddFinalizer",
            Action::UpdateStatus(_) => "UpdateStatus",
            Action::FetchCredentials => "FetchCredentials",
            Action::Mint { .. } => "Mint",
            Action::Verify { .. } => "Verify",
            Action::WriteSecret(_) => "WriteSecret",
            Action::Rollout { .. } => "Rollout",
            Action::Revoke { .. } => "Revoke",
            Action::DeleteStagingSecret => "DeleteStagingSecret",
            Action::ReleaseTargetSecret => "ReleaseTargetSecret",
            Action::RemoveFinalizer => "RemoveFinalizer",
            Action::Wait { .. } => "Wait",
            Action::Blocked { .. } => "Blocked",
        }
    }

    /// When the shell should plan again if no watch event comes first: right away after an
    /// effect, at the given time for `Wait`/`Blocked`.
    pub fn requeue_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Action::Wait { until } => *until,
            Action::Blocked { retry_at, .. } => *retry_at,
            _ => Some(now),
        }
    }
}

/// Bookkeeping that needs no side effect, named for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// Record the intent to rotate before minting anything.
    StartRotation {
        /// Rotation number.
        id: i64,
        /// Why.
        reason: RotationReason,
    },
    /// Take an existing credential as the current one.
    Adopt {
        /// The credential.
        key_id: String,
    },
    /// Record a credential found in the staging Secret (a crash between staging and status).
    RecordMinted {
        /// The credential.
        key_id: String,
    },
    /// The new credential authenticates.
    RecordVerified,
    /// Record a promotion found in the target Secret (a crash between the write and status).
    RecordPromoted {
        /// The credential.
        key_id: String,
    },
    /// Record restarts found in pod templates (a crash between the patch and status).
    RecordRolledOut,
    /// Every rollout target finished.
    RolloutComplete,
    /// New rollout targets appeared after the rollout had completed.
    ResumeRollout,
    /// An emergency request upgraded the rotation in flight.
    Emergency,
    /// The previous credential was minted elsewhere: leave it to expire.
    ReleasePrevious,
    /// The rotation finished.
    Complete,
    /// The attempt failed before promotion; revoke its credential and retry later.
    Abandon,
    /// The abandoned attempt is cleaned up.
    Abandoned,
    /// Renewal time, inventory or conditions changed.
    Refresh,
}

/// Why a credential is revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    /// The previous credential, after rollouts and the overlap.
    Previous,
    /// The previous credential, at once: emergency rotation.
    Emergency,
    /// The credential of an attempt that failed before reaching consumers.
    Abandoned,
    /// Minted for this resource but recorded nowhere.
    Orphan,
    /// The current credential, on deletion with `deletionPolicy: Revoke`.
    Deletion,
}

/// A workload to restart.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkloadRef {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its name (in the rotation's namespace).
    pub name: String,
}

/// Where a secret value comes from when writing the target Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueSource {
    /// The staging Secret's client-secret key.
    Staging,
    /// The target Secret's client-secret key (its current value).
    TargetCurrent,
    /// The target Secret's previous-secret key.
    TargetPrevious,
}

/// A value to write, with the credential it must belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretValue {
    /// The credential whose secret it is. The shell checks that the source Secret's
    /// `secret-rotator.dev/key-id` (or `previous-key-id` for [`ValueSource::TargetPrevious`])
    /// annotation is this, and fails the step with reason `SecretContentMismatch` otherwise.
    pub key_id: String,
    /// The credential's hint: for a source Secret written elsewhere (no `key-id` annotation, an
    /// adopted credential) the shell checks that the value starts with it instead.
    pub hint: Option<String>,
    /// Where to read it.
    pub from: ValueSource,
}

/// The complete desired content of the target Secret, except the secret values, which the shell
/// reads from the named sources. Applied with server-side apply, field manager
/// `FIELD_MANAGER_SECRET`, forced, with a controller ownerReference to the rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretWrite {
    /// Name of the target Secret.
    pub name: String,
    /// Key names (an empty name leaves that value out).
    pub keys: SecretKeys,
    /// The value under `keys.client_secret`.
    pub current: SecretValue,
    /// The value under `keys.previous_client_secret`, when that key is set and a previous
    /// credential is still valid.
    pub previous: Option<SecretValue>,
    /// Value under `keys.client_id`.
    pub client_id: String,
    /// Value under `keys.tenant_id`.
    pub tenant_id: String,
    /// Value under `keys.expires_at` (RFC 3339).
    pub expires_at: Timestamp,
    /// Labels (the spec's plus the operator's).
    pub labels: BTreeMap<String, String>,
    /// Annotations (the spec's plus the operator's, which identify what the Secret holds).
    pub annotations: BTreeMap<String, String>,
}

/// Whether an event is routine or a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Routine.
    Normal,
    /// Something a human may need to look at.
    Warning,
}

/// A Kubernetes Event to publish about the rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// Normal or Warning.
    pub type_: EventType,
    /// Stable CamelCase reason ([`crate::api::wellknown::event`]).
    pub reason: &'static str,
    /// The step that led to it (events.k8s.io `action`).
    pub action: &'static str,
    /// For humans; never a secret value.
    pub message: String,
}

/// One decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The next step.
    pub action: Action,
    /// The status to persist **before** performing the action (it records the intent the action
    /// depends on). Equal to the observed status when nothing changed.
    pub status: ClientSecretRotationStatus,
    /// Events to publish.
    pub events: Vec<EventRecord>,
}

/// A failed step, as the shell reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailure {
    /// Stable reason (a provider [`crate::provider::Reason`], or the shell's own such as
    /// `KubernetesApiError`, `SecretContentMismatch`, `SecretNotOwned`).
    pub reason: String,
    /// For humans; never a secret value.
    pub message: String,
    /// Whether retrying later, unchanged, may succeed.
    pub transient: bool,
    /// How long the other side asked us to wait.
    pub retry_after: Option<Duration>,
}

impl From<&ProviderError> for StepFailure {
    fn from(e: &ProviderError) -> Self {
        Self {
            reason: e.reason.as_str().to_owned(),
            message: e.message.clone(),
            transient: e.is_transient(),
            retry_after: e.retry_after,
        }
    }
}

/// What performing an action produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The action succeeded and produced nothing to report.
    Done,
    /// [`Action::FetchCredentials`] succeeded.
    Fetched(ApplicationCredentials),
    /// [`Action::Mint`] succeeded and the secret is in the staging Secret.
    Minted(Credential),
    /// [`Action::Verify`] got an answer.
    Checked(CheckOutcome),
    /// [`Action::Rollout`] restarted these targets (and failed on the rest with `failure`).
    RolledOut {
        /// Targets restarted, with their generation after the patch.
        patched: Vec<RolledTarget>,
        /// The failure for the targets not restarted.
        failure: Option<StepFailure>,
    },
    /// The action failed.
    Failed(StepFailure),
}
