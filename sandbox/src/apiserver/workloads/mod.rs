//! The workload simulator: what kube-controller-manager and the kubelets would do for
//! Deployments, StatefulSets and DaemonSets, so that rollouts progress, workload status moves
//! the way `kubectl rollout status` and controllers expect, and tests can ask which Secret
//! values the running replicas hold at any moment.
//!
//! Layout: [`deployment`], [`statefulset`] and [`daemonset`] are the pure controllers;
//! [`replica`] is a simulated pod's lifecycle and [`kubelet`] how it resolves Secrets (env frozen
//! at container start, Secret volumes refreshed after [`SimulatorConfig::volume_sync_delay`],
//! `subPath` mounts never); `driver` is the I/O shell that follows store changes, runs timers
//! and writes ReplicaSets, ControllerRevisions and status back through the server's own write
//! path; [`view`] is what tests see.
//!
//! Time: replica pacing follows tokio's clock (real time, or virtual time under
//! `tokio::time::pause`), so rollouts progress on their own while a real controller runs;
//! timestamps in status and the progress-deadline check follow the server's injected clock, as
//! the real controller compares condition timestamps.
//!
//! Behaviour knobs per workload come from [`Workloads::set_knobs`] or from annotations on the
//! workload ([`ROLLOUT_ANNOTATION`] `stall`|`fail`, [`READY_AFTER_ANNOTATION`],
//! [`START_AFTER_ANNOTATION`]); removing a knob lets a held rollout recover.
//!
//! Invariants: the simulator writes only through the API server's verbs (as
//! `kube-controller-manager`), so every write has real semantics and reaches watchers; replicas
//! and their Secret values live only in memory and are never logged; while
//! [`Workloads::pause`]d it writes nothing.

mod conditions;
pub mod config;
pub mod daemonset;
pub mod deployment;
mod driver;
pub mod hash;
mod intstr;
pub mod kubelet;
pub mod replica;
pub mod revisions;
pub mod statefulset;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;

pub use config::{
    Behaviour, KnobError, Knobs, READY_AFTER_ANNOTATION, ROLLOUT_ANNOTATION, RolloutMode,
    START_AFTER_ANNOTATION, SimulatorConfig,
};
pub use kubelet::SecretKeyRef;
pub use view::{ContainerView, EnvVarView, FileView, ReplicaPhase, ReplicaView};

use super::Shared;
use daemonset::DaemonSetSim;
use deployment::DeploymentSim;
use statefulset::StatefulSetSim;

/// The kinds of workload the simulator runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
}

impl WorkloadKind {
    /// Every kind.
    pub const ALL: [WorkloadKind; 3] = [
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
    ];

    /// The resource (plural) in group `apps`.
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
        }
    }

    /// The kind of a resource plural in group `apps`.
    pub fn from_plural(plural: &str) -> Option<Self> {
        WorkloadKind::ALL.into_iter().find(|k| k.plural() == plural)
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        })
    }
}

/// One workload.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct WorkloadRef {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
}

impl WorkloadRef {
    pub(crate) fn new(kind: WorkloadKind, namespace: &str, name: &str) -> Self {
        WorkloadRef {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// Everything the simulator remembers.
#[derive(Default)]
pub(crate) struct State {
    /// Start of simulator time (set when the driver first runs).
    epoch: Option<tokio::time::Instant>,
    paused: bool,
    deployments: HashMap<WorkloadRef, DeploymentSim>,
    statefulsets: HashMap<WorkloadRef, StatefulSetSim>,
    daemonsets: HashMap<WorkloadRef, DaemonSetSim>,
    overrides: HashMap<WorkloadRef, Knobs>,
    /// Workloads using each (namespace, Secret).
    secret_users: HashMap<(String, String), BTreeSet<WorkloadRef>>,
    /// Secrets each workload uses.
    workload_secrets: HashMap<WorkloadRef, BTreeSet<String>>,
    dirty: BTreeSet<WorkloadRef>,
    timers: BTreeSet<(Duration, WorkloadRef)>,
    scheduled: HashMap<WorkloadRef, Duration>,
}

impl State {
    /// Simulator time now.
    fn now(&mut self) -> Duration {
        let epoch = *self.epoch.get_or_insert_with(tokio::time::Instant::now);
        tokio::time::Instant::now().saturating_duration_since(epoch)
    }

    fn schedule(&mut self, w: &WorkloadRef, at: Option<Duration>) {
        if let Some(old) = self.scheduled.remove(w) {
            self.timers.remove(&(old, w.clone()));
        }
        if let Some(at) = at {
            self.scheduled.insert(w.clone(), at);
            self.timers.insert((at, w.clone()));
        }
    }

    fn set_secrets(&mut self, w: &WorkloadRef, secrets: BTreeSet<String>) {
        if self.workload_secrets.get(w) == Some(&secrets) {
            return;
        }
        if let Some(old) = self.workload_secrets.remove(w) {
            for s in old {
                let k = (w.namespace.clone(), s);
                if let Some(users) = self.secret_users.get_mut(&k) {
                    users.remove(w);
                    if users.is_empty() {
                        self.secret_users.remove(&k);
                    }
                }
            }
        }
        for s in &secrets {
            self.secret_users
                .entry((w.namespace.clone(), s.clone()))
                .or_default()
                .insert(w.clone());
        }
        if !secrets.is_empty() {
            self.workload_secrets.insert(w.clone(), secrets);
        }
    }

    fn forget(&mut self, w: &WorkloadRef) {
        self.deployments.remove(w);
        self.statefulsets.remove(w);
        self.daemonsets.remove(w);
        self.set_secrets(w, BTreeSet::new());
        self.schedule(w, None);
        self.dirty.remove(w);
    }

    /// Every replica of a workload with whether it runs the current template.
    fn replicas_of(&self, w: &WorkloadRef) -> Vec<(&replica::Replica, bool)> {
        match w.kind {
            WorkloadKind::Deployment => self
                .deployments
                .get(w)
                .map(|d| {
                    let newest = d.sets.iter().map(|s| s.revision).max();
                    d.sets
                        .iter()
                        .flat_map(|s| s.replicas.iter().map(move |r| (r, Some(s.revision) == newest)))
                        .collect()
                })
                .unwrap_or_default(),
            WorkloadKind::StatefulSet => self
                .statefulsets
                .get(w)
                .map(|s| {
                    let update = s
                        .revisions
                        .iter()
                        .max_by_key(|r| r.revision)
                        .map(|r| r.name.clone());
                    s.pods
                        .values()
                        .flatten()
                        .map(|r| (r, Some(&r.revision) == update.as_ref()))
                        .collect()
                })
                .unwrap_or_default(),
            WorkloadKind::DaemonSet => self
                .daemonsets
                .get(w)
                .map(|d| {
                    let update = d
                        .revisions
                        .iter()
                        .max_by_key(|r| r.revision)
                        .map(|r| r.name.clone());
                    d.pods
                        .iter()
                        .map(|r| (r, Some(&r.revision) == update.as_ref()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// The simulator: configuration, memory and its driver task.
pub(crate) struct Simulator {
    config: SimulatorConfig,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Simulator {
    pub(crate) fn new(config: SimulatorConfig) -> Arc<Self> {
        Arc::new(Simulator {
            config,
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
            task: Mutex::new(None),
        })
    }

    // NB: the state is only mutated by whole reconciles; a panic mid-way leaves replicas as the
    // last completed step left them, so a poisoned lock is safe to keep using.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the driver on the current tokio runtime unless it runs there already.
    pub(crate) fn ensure_running(self: &Arc<Self>, shared: &Arc<Shared>) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut slot = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        *slot = Some(handle.spawn(driver::run(Arc::downgrade(shared), self.clone())));
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

/// Handle on the workload simulator of an [`super::ApiServer`] (from
/// [`super::ApiServer::workloads`]). When the simulator is disabled, queries return nothing and
/// knobs have no effect.
#[derive(Clone)]
pub struct Workloads {
    sim: Option<Arc<Simulator>>,
}

impl std::fmt::Debug for Workloads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workloads")
            .field("enabled", &self.is_enabled())
            .finish()
    }
}

impl Workloads {
    pub(crate) fn new(sim: Option<Arc<Simulator>>) -> Self {
        Workloads { sim }
    }

    /// Whether the simulator runs.
    pub fn is_enabled(&self) -> bool {
        self.sim.is_some()
    }

    /// Its configuration (`None` when disabled).
    pub fn config(&self) -> Option<SimulatorConfig> {
        self.sim.as_ref().map(|s| s.config.clone())
    }

    /// The replicas of a workload right now, oldest revision first.
    pub fn replicas(&self, namespace: &str, kind: WorkloadKind, name: &str) -> Vec<ReplicaView> {
        let Some(sim) = &self.sim else { return vec![] };
        let st = sim.lock();
        st.replicas_of(&WorkloadRef::new(kind, namespace, name))
            .into_iter()
            .map(|(r, current)| view::replica_view(r, current))
            .collect()
    }

    /// Every distinct value of Secret `secret`'s key `key` held right now by the replicas of a
    /// workload (env vars and mounted files of running, crash-looping and terminating replicas).
    pub fn live_secret_values(
        &self,
        namespace: &str,
        kind: WorkloadKind,
        name: &str,
        secret: &str,
        key: &str,
    ) -> Vec<SecretString> {
        let mut out: Vec<Vec<u8>> = vec![];
        for r in self.replicas(namespace, kind, name) {
            for v in r.values_of(secret, key) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out.into_iter()
            .map(|v| SecretString::from(String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    /// Every distinct value of Secret `secret`'s key `key` held right now by any workload in
    /// `namespace`.
    pub fn live_values_in_namespace(&self, namespace: &str, secret: &str, key: &str) -> Vec<SecretString> {
        let Some(sim) = &self.sim else { return vec![] };
        let workloads: Vec<WorkloadRef> = {
            let st = sim.lock();
            st.secret_users
                .get(&(namespace.to_string(), secret.to_string()))
                .map(|u| u.iter().cloned().collect())
                .unwrap_or_default()
        };
        let mut out: Vec<SecretString> = vec![];
        for w in workloads {
            for v in self.live_secret_values(namespace, w.kind, &w.name, secret, key) {
                if !out.iter().any(|o| o.expose_secret() == v.expose_secret()) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// Overrides a workload's behaviour (over its annotations); takes effect at once.
    pub fn set_knobs(&self, namespace: &str, kind: WorkloadKind, name: &str, knobs: Knobs) {
        let Some(sim) = &self.sim else { return };
        let w = WorkloadRef::new(kind, namespace, name);
        {
            let mut st = sim.lock();
            st.overrides.insert(w.clone(), knobs);
            st.dirty.insert(w);
        }
        sim.wake.notify_one();
    }

    /// Removes [`Workloads::set_knobs`] overrides; annotations and defaults apply again.
    pub fn clear_knobs(&self, namespace: &str, kind: WorkloadKind, name: &str) {
        let Some(sim) = &self.sim else { return };
        let w = WorkloadRef::new(kind, namespace, name);
        {
            let mut st = sim.lock();
            st.overrides.remove(&w);
            st.dirty.insert(w);
        }
        sim.wake.notify_one();
    }

    /// Stops all simulated controller activity (no writes, no replica transitions) until
    /// [`Workloads::resume`]; changes that arrive meanwhile are handled then. Returns once no
    /// write is in flight.
    pub fn pause(&self) {
        if let Some(sim) = &self.sim {
            sim.lock().paused = true;
        }
    }

    /// Resumes after [`Workloads::pause`].
    pub fn resume(&self) {
        if let Some(sim) = &self.sim {
            sim.lock().paused = false;
            sim.wake.notify_one();
        }
    }

    /// Whether it is paused.
    pub fn is_paused(&self) -> bool {
        self.sim.as_ref().is_some_and(|s| s.lock().paused)
    }

    /// Names of the workloads that currently have replicas, by kind and namespace.
    pub fn workloads(&self) -> BTreeMap<(WorkloadKind, String), Vec<String>> {
        let Some(sim) = &self.sim else {
            return BTreeMap::new();
        };
        let st = sim.lock();
        let mut out: BTreeMap<(WorkloadKind, String), Vec<String>> = BTreeMap::new();
        let refs = st
            .deployments
            .keys()
            .chain(st.statefulsets.keys())
            .chain(st.daemonsets.keys());
        for w in refs {
            out.entry((w.kind, w.namespace.clone()))
                .or_default()
                .push(w.name.clone());
        }
        for names in out.values_mut() {
            names.sort();
        }
        out
    }
}
