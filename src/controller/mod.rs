//! The controller: the thin I/O shell around the rotation core ([`crate::rotation`]). It watches
//! what it must, gathers what the core plans from, persists the core's status before acting,
//! performs the one action decided, records the outcome, and requeues exactly when the core says
//! the next thing is due.
//!
//! Layout, one concern per module:
//! * [`run`]: [`Operator`], assembling the watches and the kube-runtime `Controller`;
//! * [`watches`]: what is watched and how events map to rotations; [`index`]: the rotation index
//!   those mappings (and the capacity count) read;
//! * [`reconcile`]: the pass loop; [`gather`]: its input; [`act`]: its executors, with
//!   [`secrets`], [`workloads`], [`status`] (status and finalizer writes) and [`events`];
//! * [`providers`]: provider resolution and caching; [`service_account_token`]: TokenRequest;
//!   [`provider_status`]: the providers' `Ready` condition;
//! * [`capacity`]: the operator-wide caps; [`freshness`]: never planning from a stale copy;
//! * [`hooks`]: step hooks for tests; [`config`], [`context`], [`failure`], [`error`].
//!
//! Invariants: every secret value stays a `SecretString` (or the request body's `ByteString`) and
//! reaches no log, event, status or error; Secret data is never cached; nothing is polled while
//! nothing is due.

pub mod act;
pub mod capacity;
pub mod config;
pub mod context;
pub mod error;
pub mod events;
pub mod failure;
pub mod freshness;
pub mod gather;
pub mod hooks;
pub mod index;
pub mod provider_status;
pub mod providers;
pub mod reconcile;
pub mod run;
pub mod secrets;
pub mod service_account_token;
pub mod status;
pub mod watches;
pub mod workloads;

pub use config::ControllerConfig;
pub use context::Context;
pub use error::Error;
pub use hooks::{Point, StepHook};
pub use run::Operator;
