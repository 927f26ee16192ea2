//! What every reconcile pass shares: the API client, the watch caches, the rotation index, the
//! provider cache, the capacity gate, the event recorder, time, and the optional step hook.
//!
//! Invariant: nothing here holds a secret value: the caches hold rotation resources (pruned of
//! managedFields) and provider resources; Secrets are never cached, only read when a step needs
//! them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use kube::{
    Client,
    runtime::{events::Recorder, reflector::ObjectRef, reflector::Store},
};

use super::{
    capacity::CapacityGate,
    config::ControllerConfig,
    freshness::Freshness,
    hooks::{Point, StepHook},
    index::RotationIndex,
    providers::{ProviderCache, ProviderEnv},
};
use crate::{
    api::{ClientSecretRotation, ClusterIdentityProvider, IdentityProvider},
    clock::Clock,
    metrics::Metrics,
    provider::sleeper::Sleeper,
};

/// The reconciler's shared state.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Settings.
    pub config: ControllerConfig,
    /// Time (the wall clock in production).
    pub clock: Arc<dyn Clock>,
    /// Waits of provider retries.
    pub sleeper: Arc<dyn Sleeper>,
    /// Publishes Events.
    pub recorder: Recorder,
    /// The rotations (watch cache).
    pub rotations: Store<ClientSecretRotation>,
    /// Namespaced providers (watch cache).
    pub identity_providers: Store<IdentityProvider>,
    /// Cluster providers (watch cache).
    pub cluster_providers: Store<ClusterIdentityProvider>,
    /// Targets, providers and phases of the rotations.
    pub index: Arc<RotationIndex>,
    /// Built providers.
    pub providers: ProviderCache,
    /// The operator-wide caps.
    pub capacity: CapacityGate,
    /// What the operator last wrote, to tell a stale cache entry from a fresh one.
    pub freshness: Freshness,
    /// Optional test hook.
    pub hook: Option<Arc<dyn StepHook>>,
    /// Where the controller's metrics go.
    pub metrics: Metrics,
    /// Whether each cache holds its initial list.
    pub synced: CacheSync,
    /// Consecutive pass errors per rotation, for the error backoff.
    pub(crate) errors: Mutex<HashMap<ObjectRef<ClientSecretRotation>, u32>>,
}

/// One cache's "initial list received" flag.
///
/// NB: kube-runtime's `Store::wait_until_ready` wakes only the last of several concurrent waiters
/// (a oneshot underneath), so concurrent passes must not wait on it; this flag wakes them all.
#[derive(Clone, Debug)]
pub struct Synced(tokio::sync::watch::Receiver<bool>);

impl Synced {
    /// A flag, and the sender that raises it.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Self(rx))
    }

    /// Waits until raised.
    pub async fn wait(&self) -> Result<(), super::Error> {
        let mut rx = self.0.clone();
        rx.wait_for(|s| *s)
            .await
            .map(|_| ())
            .map_err(|_| super::Error::CachesStopped)
    }
}

/// The flags of the operator's caches.
#[derive(Clone, Debug)]
pub struct CacheSync {
    /// Rotations.
    pub rotations: Synced,
    /// Namespaced providers.
    pub identity_providers: Synced,
    /// Cluster providers.
    pub cluster_providers: Synced,
}

impl CacheSync {
    /// Waits until every cache holds its initial list.
    pub async fn all(&self) -> Result<(), super::Error> {
        self.rotations.wait().await?;
        self.identity_providers.wait().await?;
        self.cluster_providers.wait().await
    }
}

impl Context {
    /// What provider resolution needs.
    pub fn provider_env(&self) -> ProviderEnv<'_> {
        ProviderEnv {
            client: &self.client,
            config: &self.config,
            clock: &self.clock,
            sleeper: &self.sleeper,
            requests: self.metrics.requests.clone(),
        }
    }

    /// Runs the step hook, if any.
    pub async fn hook(&self, rotation: &ObjectRef<ClientSecretRotation>, point: Point) {
        if let Some(hook) = &self.hook {
            hook.reached(rotation, point).await;
        }
    }

    /// Waits until the provider caches have their initial lists (a pass that looked earlier
    /// would see a missing provider and block for nothing).
    pub async fn providers_ready(&self) -> Result<(), super::Error> {
        self.synced.identity_providers.wait().await?;
        self.synced.cluster_providers.wait().await
    }

    /// The wait after the `n`th consecutive failed pass of a rotation.
    pub fn error_delay(&self, n: u32) -> Duration {
        let (base, cap) = self.config.error_backoff;
        base.saturating_mul(1u32 << n.saturating_sub(1).min(16)).min(cap)
    }
}
