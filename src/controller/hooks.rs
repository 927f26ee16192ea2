//! Step hooks: named points of a reconcile pass where a test can stop the operator
//! deterministically (to kill it there and prove a restart resumes correctly), or just observe it.
//!
//! Invariant: production runs without a hook; with one, the pass awaits the hook at each point and
//! does nothing else meanwhile, so a hook that never returns freezes the pass exactly there.

use std::fmt;

use kube::runtime::reflector::ObjectRef;

use crate::api::ClientSecretRotation;

/// Where in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// The plan's status is persisted; the action (named by `Action::step`) is about to run.
    BeforeAction(&'static str),
    /// The provider minted a credential; its secret is not in the staging Secret yet.
    MintedBeforeStaging,
    /// The action ran; its outcome is not recorded in status yet.
    AfterAction(&'static str),
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Point::BeforeAction(step) => write!(f, "before {step}"),
            Point::MintedBeforeStaging => f.write_str("minted, before staging"),
            Point::AfterAction(step) => write!(f, "after {step}"),
        }
    }
}

/// Called at every [`Point`] of every pass.
#[async_trait::async_trait]
pub trait StepHook: Send + Sync {
    /// Returns when the pass may go on.
    async fn reached(&self, rotation: &ObjectRef<ClientSecretRotation>, point: Point);
}
