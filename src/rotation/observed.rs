//! Everything [`super::plan`] looks at: the resource, what the shell read from Kubernetes, what the
//! provider reported (only when the plan asked for it), and the operator's spare capacity.
//!
//! Invariant: nothing here carries a secret value. Secrets are seen through their metadata (which
//! `keyId` and rotation they hold, per the operator's annotations) and, for the target Secret
//! only, the first three characters of its client secret, which Entra itself publishes as `hint`.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{rollout::WorkloadState, tenancy::ProviderLookup};
use crate::{
    api::{ClientSecretRotation, wellknown},
    provider::ApplicationCredentials,
};

/// The metadata of a Secret the operator reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretObservation {
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// Whether it carries an ownerReference to this rotation (by uid).
    pub owned: bool,
    /// Whether it has a non-empty value under the client-secret key.
    pub has_value: bool,
    /// The first three characters of the value under the client-secret key (target Secret only;
    /// used to identify a credential minted elsewhere, as Entra's `hint` does).
    pub value_hint: Option<String>,
}

impl SecretObservation {
    /// The `keyId` the operator's annotation says the Secret holds.
    pub fn key_id(&self) -> Option<&str> {
        self.annotations
            .get(wellknown::ANNOTATION_KEY_ID)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The `keyId` the Secret holds under the previous-secret key, if any.
    pub fn previous_key_id(&self) -> Option<&str> {
        self.annotations
            .get(wellknown::ANNOTATION_PREVIOUS_KEY_ID)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The rotation number the operator's annotation records.
    pub fn rotation(&self) -> Option<i64> {
        self.annotations.get(wellknown::ANNOTATION_ROTATION)?.parse().ok()
    }

    /// The end of validity the operator's annotation records.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.annotations
            .get(wellknown::ANNOTATION_EXPIRES_AT)?
            .parse()
            .ok()
    }

    /// The start of validity the operator's annotation records.
    pub fn starts_at(&self) -> Option<Timestamp> {
        self.annotations
            .get(wellknown::ANNOTATION_STARTS_AT)?
            .parse()
            .ok()
    }

    /// The hint the operator's annotation records.
    pub fn hint(&self) -> Option<&str> {
        self.annotations
            .get(wellknown::ANNOTATION_HINT)
            .map(String::as_str)
    }
}

/// Whether the operator-wide concurrency caps let this resource start work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Another rotation may start (the number of rotations between start and promotion is under
    /// the cap).
    pub rotation_slot: bool,
    /// Another rollout may start (the number of rotations between promotion and the end of their
    /// rollouts is under the cap).
    pub rollout_slot: bool,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            rotation_slot: true,
            rollout_slot: true,
        }
    }
}

/// The observed state `plan` decides from. See the module docs of [`crate::rotation`] for what
/// the shell must gather.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The resource as read (metadata incl. generation, annotations, finalizers and
    /// deletionTimestamp; spec; status as persisted).
    pub resource: ClientSecretRotation,
    /// The referenced provider.
    pub provider: ProviderLookup,
    /// Labels of the resource's namespace (needed for cluster providers with namespace selectors).
    pub namespace_labels: Option<BTreeMap<String, String>>,
    /// The application's credentials, when the shell fetched them in this pass because an
    /// earlier decision asked for [`super::Action::FetchCredentials`]; `None` otherwise.
    pub credentials: Option<ApplicationCredentials>,
    /// The staging Secret, if it exists.
    pub staging: Option<SecretObservation>,
    /// The target Secret, if it exists.
    pub target: Option<SecretObservation>,
    /// Every workload the rollout targets resolve to now (named ones that exist, plus those the
    /// selectors match), each once.
    pub workloads: Vec<WorkloadState>,
    /// The operator's spare capacity.
    pub capacity: Capacity,
}
