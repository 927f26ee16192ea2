//! The rotation decision core: pure, synchronous, no I/O, no clock. Observed state and `now` in,
//! one next step out ([`plan`]); the step's outcome in, the status to persist out ([`record`]).
//!
//! # The state machine
//!
//! `status` is the durable state. A rotation in flight (`status.rotation`) moves through
//! [`RotationPhase`]s; each transition is persisted before the side effect that depends on it:
//!
//! ```text
//!  idle ──due/requested──▶ Pending ──Mint+stage──▶ Verifying ──N successes──▶ Verified
//!   ▲                         │                        │ timeout / refused         │ WriteSecret
//!   │                         │                        ▼                           ▼
//!   │                         └──────────────────▶ Abandoning ──revoke──▶ idle   RollingOut
//!   │                                               (backoff, retry)              │ all targets done
//!   └──────────── Complete ◀── revoke previous ◀── Retiring (wait overlap) ◀──────┘
//! ```
//!
//! An emergency rotation revokes the previous credential on entering `RollingOut`, before any
//! restart. `suspend` freezes everything (no provider call, no Secret or workload write) until
//! cleared; deletion still cleans up.
//!
//! # The contract for the controller shell
//!
//! One reconcile pass, for one `ClientSecretRotation`:
//!
//! 1. **Gather** an [`Observed`]:
//!    * the resource (from the reflector);
//!    * the referenced provider: `IdentityProvider` `providerRef.name` in the rotation's namespace,
//!      or the `ClusterIdentityProvider` (→ [`ProviderLookup`]); for a cluster provider, the labels
//!      of the rotation's namespace;
//!    * the staging Secret ([`crate::api::wellknown::staging_secret_name`]) and the target Secret
//!      (`spec.secret.name`) as [`SecretObservation`]s: annotations, whether they carry a controller
//!      ownerReference to this rotation, whether the client-secret key is non-empty, and (target
//!      only) the first three characters of that value. Never the value itself;
//!    * every workload the `rolloutTargets` resolve to (named ones by GET, NotFound skipped;
//!      selector ones by LIST in the namespace), converted with [`WorkloadState::from_deployment`]
//!      and friends, using [`crate::api::wellknown::pod_template_annotation_key`];
//!    * [`Capacity`]: whether the operator-wide caps on rotations between start and promotion, and
//!      on rotations between promotion and rollout completion, leave a slot (count the phases of the
//!      rotations in the reflector's cache);
//!    * `credentials: None` — except right after a `FetchCredentials` of this same pass.
//! 2. **Plan**: `let d = plan(&observed, clock.now())`.
//! 3. **Persist** `d.status` with server-side apply on the status subresource (field manager
//!    [`crate::api::wellknown::FIELD_MANAGER_STATUS`], forced) if it differs from the observed
//!    status, then publish `d.events`. This write records the intent the action depends on
//!    (for example the rotation number and display name before a mint): it must succeed before
//!    the action runs.
//! 4. **Act** on `d.action` (see [`Action`] for each one's exact duty) and produce an [`Outcome`]:
//!    `Wait`/`Blocked` end the pass (requeue at [`Action::requeue_at`]); `UpdateStatus` has nothing
//!    to do (go to 1); every other action is performed once.
//! 5. **Record**: `let r = record(&observed, &d, outcome, clock.now())`; persist `r.status`,
//!    publish `r.events`. Then go to 1 (re-gather; keep a fetched credential list for the next
//!    `plan` only, and drop it after a `Mint` or `Revoke`). Bound the loop (e.g. 16 steps) and
//!    requeue immediately when the bound is hit.
//!
//! Errors of the shell's own (a failed Kubernetes write) are fed back as [`Outcome::Failed`] so
//! they back off like provider failures; nothing hot-loops. Only the lease holder runs passes.
//!
//! # Crash points
//!
//! Every step is idempotent or recognisable afterwards, so dying at any instant resumes correctly:
//!
//! | dies…                                   | the next pass sees                              | and does |
//! |-----------------------------------------|-------------------------------------------------|----------|
//! | before `StartRotation` is persisted     | the same due time                               | starts again (same number) |
//! | after it, before the mint call          | `Pending`, no staged credential                 | fetches, mints |
//! | after the mint, before staging          | `Pending`; the list shows a credential with this rotation's display name, held nowhere | revokes it as an orphan, mints again |
//! | after staging, before recording         | `Pending`; the staging Secret names this rotation's `keyId` | records it (`RecordMinted`), verifies |
//! | during verification                     | `Verifying` with attempts and deadline          | keeps probing until the deadline |
//! | after the target write, before recording| `Verified`; the target Secret names the new `keyId` | records the promotion |
//! | between promotion and rollout           | `RollingOut`, nothing restarted                 | restarts the targets |
//! | after a restart, before recording       | `RollingOut`; the template carries the version  | records the target with its generation |
//! | during the rollout                      | `RollingOut` with recorded generations          | waits for completion |
//! | before the revoke                       | `Retiring` past `revokeAfter`                   | revokes (revoking twice succeeds) |
//! | after the revoke, before recording      | `Retiring`, previous still recorded             | revokes again (a no-op), completes |
//!
//! Restarts, upgrades and leader changes therefore never mint, write or restart anything that is
//! not due: an idle resource plans `Wait` until its renewal time.
//!
//! # Verification timeout
//!
//! A credential that never authenticates within `verifyTimeout` (or that the provider refuses for
//! good) is revoked, never promoted: no consumer ever saw it, it counts against Entra's password
//! limits, and its value sits in a staging Secret. The failure is recorded (`Degraded`,
//! `VerificationTimedOut`/`VerificationFailed`) and a fresh rotation (new number, new credential)
//! starts after the backoff; consumers keep the current credential meanwhile.

pub mod conditions;
pub mod decision;
pub mod inventory;
pub mod marker;
pub mod observed;
pub mod plan;
pub mod record;
pub mod rollout;
pub mod schedule;
pub mod tenancy;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use decision::{
    Action, Decision, EventRecord, EventType, Outcome, RevokeReason, SecretValue, SecretWrite, StatusChange,
    StepFailure, ValueSource, WorkloadRef,
};
pub use observed::{Capacity, Observed, SecretObservation};
pub use plan::plan;
pub use record::{Recorded, record};
pub use rollout::WorkloadState;
pub use tenancy::{Denial, ProviderLookup};

use crate::{
    api::{
        RotationPhase,
        wellknown::{self, ANNOTATION_EXPIRES_AT, ANNOTATION_HINT, ANNOTATION_KEY_ID, ANNOTATION_ROTATION},
    },
    provider::Credential,
};

/// Labels and annotations of the staging Secret that holds `credential`, minted by rotation
/// number `rotation`. The shell writes them with the secret value (field manager
/// `FIELD_MANAGER_STAGING`, controller ownerReference to the rotation, `type: Opaque`, the value
/// under the spec's client-secret key).
pub fn staging_metadata(
    rotation: i64,
    credential: &Credential,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let labels = BTreeMap::from([
        (
            wellknown::LABEL_MANAGED.to_owned(),
            wellknown::LABEL_MANAGED_VALUE.to_owned(),
        ),
        (
            wellknown::LABEL_ROLE.to_owned(),
            wellknown::ROLE_STAGING.to_owned(),
        ),
    ]);
    let mut annotations = BTreeMap::from([
        (ANNOTATION_KEY_ID.to_owned(), credential.key_id.clone()),
        (ANNOTATION_ROTATION.to_owned(), rotation.to_string()),
        (ANNOTATION_EXPIRES_AT.to_owned(), plan::rfc3339(credential.end)),
    ]);
    if let Some(start) = credential.start {
        annotations.insert(wellknown::ANNOTATION_STARTS_AT.to_owned(), plan::rfc3339(start));
    }
    if let Some(hint) = &credential.hint {
        annotations.insert(ANNOTATION_HINT.to_owned(), hint.clone());
    }
    (labels, annotations)
}

/// Whether a rotation in `phase` occupies a slot of the rotation cap (start to promotion).
pub fn holds_rotation_slot(phase: RotationPhase) -> bool {
    matches!(
        phase,
        RotationPhase::Pending
            | RotationPhase::Verifying
            | RotationPhase::Verified
            | RotationPhase::Abandoning
    )
}

/// Whether a rotation in `phase` occupies a slot of the rollout cap (promotion to completion).
pub fn holds_rollout_slot(phase: RotationPhase) -> bool {
    matches!(phase, RotationPhase::RollingOut)
}
