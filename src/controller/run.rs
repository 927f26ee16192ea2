//! Assembling and running the controller: the watches of [`super::watches`], the kube-runtime
//! `Controller` with explicit concurrency, and the shared [`Context`].
//!
//! [`Operator`] is also how tests run the real controller in-process: against any `kube::Client`
//! (e.g. the sandbox API server's), with an injected clock (e.g. the Entra emulator's), a step
//! hook, and a trigger that re-reconciles every rotation (after a test moved the clock).
//!
//! Invariant: only the caller decides when the controller runs (the binary runs it only while it
//! holds the leader lease); everything it starts stops when [`Operator::run`] returns.

use std::{future::Future, pin::Pin, sync::Arc};

use futures::{Stream, StreamExt, TryStreamExt, stream::BoxStream};
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{Namespace, Secret},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller, PredicateConfig, WatchStreamExt,
        controller::Config as ControllerSettings,
        events::{Recorder, Reporter},
        reflector::{self, ObjectRef},
        watcher,
    },
};
use tokio::sync::{mpsc, watch};

use super::{
    Context,
    capacity::CapacityGate,
    config::ControllerConfig,
    context::{CacheSync, Synced},
    freshness::Freshness,
    hooks::StepHook,
    index::RotationIndex,
    provider_status,
    providers::{ProviderCache, ProviderObject},
    reconcile::{error_policy, reconcile},
    watches,
};
use crate::{
    api::{ClientSecretRotation, ClusterIdentityProvider, IdentityProvider},
    clock::{Clock, SystemClock},
    metrics::Metrics,
    provider::sleeper::{Sleeper, TokioSleeper},
};

type Shutdown = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// The controller, ready to run.
pub struct Operator {
    client: Client,
    config: ControllerConfig,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    hook: Option<Arc<dyn StepHook>>,
    reconcile_all: Option<BoxStream<'static, ()>>,
    ready: Option<watch::Sender<bool>>,
    metrics: Metrics,
}

impl Operator {
    /// A controller on the wall clock.
    pub fn new(client: Client, config: ControllerConfig) -> Self {
        Self {
            client,
            config,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            hook: None,
            reconcile_all: None,
            ready: None,
            metrics: Metrics::unregistered(),
        }
    }

    /// Records into `metrics` (the process's registry); by default the metrics go nowhere.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Uses `clock` for every decision and for the provider.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `sleeper` for provider retries.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Calls `hook` at every step of every pass.
    pub fn hook(mut self, hook: Arc<dyn StepHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Reconciles every rotation whenever `trigger` yields.
    pub fn reconcile_all_on(mut self, trigger: impl Stream<Item = ()> + Send + 'static) -> Self {
        self.reconcile_all = Some(trigger.boxed());
        self
    }

    /// Sets `ready` to true once the caches hold their initial lists.
    pub fn ready(mut self, ready: watch::Sender<bool>) -> Self {
        self.ready = Some(ready);
        self
    }

    /// Runs until `shutdown` completes, then lets the passes in flight finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
        let shutdown: Shutdown = Box::pin(shutdown);
        let Operator {
            client,
            config,
            clock,
            sleeper,
            hook,
            reconcile_all,
            ready,
            metrics,
        } = self;
        // Per-rotation series exist only while the controller runs (only the leader's); declared
        // first so it is dropped last, after everything that could still record.
        let _exporting = metrics.rotations.export();
        let page = config.page_size;
        let scope = config.namespace.clone();
        fn api<K>(client: &Client, scope: &Option<String>) -> Api<K>
        where
            K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
            K::DynamicType: Default,
        {
            match scope {
                Some(ns) => Api::namespaced(client.clone(), ns),
                None => Api::all(client.clone()),
            }
        }

        let index = Arc::new(RotationIndex::default());
        let mut background = tokio::task::JoinSet::new();

        // Providers: cached by their own tasks (so a pass can wait for them), changes mapped to
        // the rotations that use them.
        let (provider_events, provider_triggers) =
            mpsc::unbounded_channel::<ObjectRef<ClientSecretRotation>>();
        let (ip_synced_tx, ip_synced) = Synced::new();
        let (cp_synced_tx, cp_synced) = Synced::new();
        let (rotations_synced_tx, rotations_synced) = Synced::new();
        let synced = CacheSync {
            rotations: rotations_synced,
            identity_providers: ip_synced,
            cluster_providers: cp_synced,
        };
        // Provider changes also go to the provider-status task (started once the context is).
        let (status_checks, mut status_queue) = mpsc::unbounded_channel::<ProviderObject>();
        let (identity_providers, ip_writer) = reflector::store::<IdentityProvider>();
        {
            let index = index.clone();
            let tx = provider_events.clone();
            let checks = status_checks.clone();
            let stream = watcher(
                api::<IdentityProvider>(&client, &scope),
                watches::base_config(page),
            )
            .default_backoff()
            .modify(watches::prune)
            .inspect_ok(move |e| raise_on_init_done(e, &ip_synced_tx))
            .reflect(ip_writer);
            background.spawn(stream.for_each(move |event| {
                match event {
                    Ok(event) => {
                        if let Some((p, initial)) = changed(event) {
                            let rotations = index.rotations_using_identity_provider(
                                &p.namespace().unwrap_or_default(),
                                &p.name_any(),
                            );
                            for r in rotations {
                                let _ = tx.send(r);
                            }
                            if !initial
                                || !provider_status::up_to_date(p.metadata.generation, p.status.as_ref())
                            {
                                let _ = checks.send(ProviderObject::Namespaced(Arc::new(p)));
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "watching IdentityProviders"),
                }
                futures::future::ready(())
            }));
        }
        let (cluster_providers, cp_writer) = reflector::store::<ClusterIdentityProvider>();
        {
            let index = index.clone();
            let tx = provider_events.clone();
            let checks = status_checks.clone();
            let stream = watcher(
                Api::<ClusterIdentityProvider>::all(client.clone()),
                watches::base_config(page),
            )
            .default_backoff()
            .modify(watches::prune)
            .inspect_ok(move |e| raise_on_init_done(e, &cp_synced_tx))
            .reflect(cp_writer);
            background.spawn(stream.for_each(move |event| {
                match event {
                    Ok(event) => {
                        if let Some((p, initial)) = changed(event) {
                            for r in index.rotations_using_cluster_provider(&p.name_any()) {
                                let _ = tx.send(r);
                            }
                            if !initial
                                || !provider_status::up_to_date(p.metadata.generation, p.status.as_ref())
                            {
                                let _ = checks.send(ProviderObject::Cluster(Arc::new(p)));
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "watching ClusterIdentityProviders"),
                }
                futures::future::ready(())
            }));
        }
        drop(status_checks);
        drop(provider_events);

        // Rotations: the controller's own stream, feeding the cache and the index.
        let (rotations, writer) = reflector::store::<ClientSecretRotation>();
        let rotation_stream = {
            let index = index.clone();
            let series = metrics.rotations.clone();
            let mut rotations_config = watches::base_config(page);
            if let Some(selector) = &config.selector {
                rotations_config = rotations_config.labels(selector);
            }
            watcher(api::<ClientSecretRotation>(&client, &scope), rotations_config)
                .default_backoff()
                .modify(watches::prune)
                .map_ok(move |event| {
                    index.apply_event(&event);
                    series.apply_event(&event);
                    raise_on_init_done(&event, &rotations_synced_tx);
                    event
                })
                .reflect(writer)
                .applied_objects()
                .predicate_filter(watches::trigger_fingerprint, PredicateConfig::default())
        };

        if let Some(ready) = ready {
            let synced = synced.clone();
            background.spawn(async move {
                if synced.all().await.is_ok() {
                    let _ = ready.send(true);
                    tracing::info!("caches synced");
                }
            });
        }

        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: config.event_reporter.clone(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        let ctx = Arc::new(Context {
            client: client.clone(),
            capacity: CapacityGate::new(config.max_rotations_in_flight, config.max_rollouts_in_flight),
            config: config.clone(),
            clock,
            sleeper,
            recorder,
            rotations: rotations.clone(),
            identity_providers,
            cluster_providers,
            index: index.clone(),
            providers: ProviderCache::default(),
            freshness: Freshness::default(),
            hook,
            metrics,
            synced,
            errors: Default::default(),
        });

        {
            let ctx = ctx.clone();
            background.spawn(async move {
                while let Some(provider) = status_queue.recv().await {
                    provider_status::report(&ctx, &provider).await;
                }
            });
        }

        let managed = watches::base_config(page).labels(&watches::managed_secrets_selector());
        let secrets = watcher(api::<PartialObjectMeta<Secret>>(&client, &scope), managed)
            .default_backoff()
            .touched_objects();
        let deployments = watcher(
            api::<PartialObjectMeta<Deployment>>(&client, &scope),
            watches::base_config(page),
        )
        .default_backoff()
        .touched_objects();
        let stateful_sets = watcher(
            api::<PartialObjectMeta<StatefulSet>>(&client, &scope),
            watches::base_config(page),
        )
        .default_backoff()
        .touched_objects();
        let daemon_sets = watcher(
            api::<PartialObjectMeta<DaemonSet>>(&client, &scope),
            watches::base_config(page),
        )
        .default_backoff()
        .touched_objects();

        let capacity_wakeups = futures::stream::iter(ctx.capacity.wakeups()).flat_map(|rx| {
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|r| (r, rx)) })
        });
        let mut controller = Controller::for_stream(rotation_stream, rotations)
            .with_config(ControllerSettings::default().concurrency(config.concurrency))
            .watches_stream(secrets, watches::managed_secret_owner(&index))
            .watches_stream(deployments, watches::deployment_rotations(&index))
            .watches_stream(stateful_sets, watches::stateful_set_rotations(&index))
            .watches_stream(daemon_sets, watches::daemon_set_rotations(&index))
            .reconcile_on(futures::stream::unfold(provider_triggers, |mut rx| async move {
                rx.recv().await.map(|r| (r, rx))
            }))
            .reconcile_on(capacity_wakeups);
        if scope.is_none() {
            let namespaces = watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
                watches::base_config(page),
            )
            .default_backoff()
            .touched_objects();
            controller = controller.watches_stream(namespaces, watches::namespace_rotations(&index));
        }
        if let Some(trigger) = reconcile_all {
            controller = controller.reconcile_all_on(trigger);
        }
        controller
            .graceful_shutdown_on(shutdown)
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                match result {
                    Ok((rotation, _)) => tracing::trace!(
                        namespace = rotation.namespace.as_deref().unwrap_or_default(),
                        name = %rotation.name,
                        "reconciled"
                    ),
                    Err(error) => tracing::warn!(%error, "controller"),
                }
            })
            .await;
        background.shutdown().await;
    }
}

/// The provider an event is about, and whether it comes from an initial list (`None` for a
/// deletion or a list boundary: a deleted provider needs no status, its rotations learn of it
/// through the watch of rotations' own requeue).
fn changed<K>(event: watcher::Event<K>) -> Option<(K, bool)> {
    match event {
        watcher::Event::Apply(p) => Some((p, false)),
        watcher::Event::InitApply(p) => Some((p, true)),
        watcher::Event::Delete(_) | watcher::Event::Init | watcher::Event::InitDone => None,
    }
}

fn raise_on_init_done<K>(event: &watcher::Event<K>, synced: &watch::Sender<bool>) {
    if matches!(event, watcher::Event::InitDone) {
        synced.send_replace(true);
    }
}
