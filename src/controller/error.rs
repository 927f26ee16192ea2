//! The controller's own errors: a reconcile pass that could not read or persist what the decision
//! core depends on. Failures of the steps themselves (provider calls, Secret and workload writes)
//! are not errors here: they go back to the core as `Outcome::Failed` and back off in status.
//!
//! Invariant: messages name what was being attempted and never carry a secret value (Kubernetes
//! error messages never quote Secret data).

/// A reconcile pass that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading an object the pass needs failed.
    #[error("reading {what}: {source}")]
    Read {
        /// What was read.
        what: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// Persisting the status (the intent the next step depends on) failed.
    #[error("persisting the status of {name}: {source}")]
    PersistStatus {
        /// The rotation.
        name: String,
        /// Why it failed.
        #[source]
        source: kube::Error,
    },
    /// The resource lacks a namespace or name (it cannot come from the API server).
    #[error("the ClientSecretRotation has no namespace or name")]
    MissingObjectKey,
    /// The informer caches never became ready.
    #[error("the informer caches stopped before they were ready")]
    CachesStopped,
}

impl Error {
    /// A stable, low-cardinality label for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Error::Read { .. } => "read",
            Error::PersistStatus { .. } => "persist_status",
            Error::MissingObjectKey => "missing_object_key",
            Error::CachesStopped => "caches_stopped",
        }
    }

    pub(crate) fn read(what: impl Into<String>, source: kube::Error) -> Self {
        Error::Read {
            what: what.into(),
            source,
        }
    }
}
