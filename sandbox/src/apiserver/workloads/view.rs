//! What tests can see of simulated replicas: [`ReplicaView`]s with each container's resolved
//! environment and mounted files, built from the simulator's memory.
//!
//! Invariant: values are only exposed as [`SecretString`]/[`SecretSlice`], so a view can be
//! logged or `{:?}`-printed without leaking them.

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::kubelet::{SecretKeyRef, container_files};
use super::replica::{Phase, Replica, Slot};

/// The phase of a simulated replica, as `kubectl get pods` would summarise it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaPhase {
    /// Created, containers not started (see [`ReplicaView::waiting`] when it is stuck).
    Pending,
    /// Containers running (see [`ReplicaView::ready`]).
    Running,
    /// Containers crash and are restarted.
    CrashLoopBackOff,
    /// Being replaced or removed; containers still running.
    Terminating,
}

/// An environment variable of a running container.
#[derive(Clone, Debug)]
pub struct EnvVarView {
    /// Variable name.
    pub name: String,
    /// Value, as resolved when the container started.
    pub value: SecretString,
    /// The Secret key it came from (`None`: a literal `value`).
    pub source: Option<SecretKeyRef>,
}

/// A file from a mounted Secret volume.
#[derive(Clone, Debug)]
pub struct FileView {
    /// Absolute path in the container.
    pub path: String,
    /// Content.
    pub value: SecretSlice<u8>,
    /// The Secret key it came from.
    pub source: Option<SecretKeyRef>,
    /// Whether it follows Secret changes (`false` for `subPath` mounts).
    pub refreshes: bool,
}

/// One container's Secret-derived state.
#[derive(Clone, Debug)]
pub struct ContainerView {
    /// Container name.
    pub name: String,
    /// Environment (sorted by name).
    pub env: Vec<EnvVarView>,
    /// Files from Secret volumes (sorted by path).
    pub files: Vec<FileView>,
}

/// A simulated replica (pod) of a workload.
#[derive(Clone, Debug)]
pub struct ReplicaView {
    /// Pod-like name (`web-674589f8d8-x2b7k`, `db-0`, `agent-4bq5c`).
    pub name: String,
    /// pod-template-hash (Deployment) or ControllerRevision name (StatefulSet, DaemonSet).
    pub revision: String,
    /// Whether it runs the workload's current template.
    pub current: bool,
    /// StatefulSet ordinal.
    pub ordinal: Option<u32>,
    /// DaemonSet node.
    pub node: Option<String>,
    /// Phase.
    pub phase: ReplicaPhase,
    /// Ready (counts towards `readyReplicas`).
    pub ready: bool,
    /// Why it is stuck in `Pending`: (`CreateContainerConfigError` or `ContainerCreating`,
    /// kubelet's message).
    pub waiting: Option<(String, String)>,
    /// Creation time (server clock).
    pub created_at: Timestamp,
    /// Last container start (server clock).
    pub started_at: Option<Timestamp>,
    /// Container restarts.
    pub restarts: u32,
    /// Containers with the values they hold (empty while none run).
    pub containers: Vec<ContainerView>,
}

impl ReplicaView {
    /// Whether its containers exist and hold Secret values (running, crash-looping or
    /// terminating).
    pub fn holds_values(&self) -> bool {
        !self.containers.is_empty()
    }

    /// Every distinct value of a Secret key this replica holds (env or files).
    pub fn values_of(&self, secret: &str, key: &str) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = vec![];
        let wanted =
            |s: &Option<SecretKeyRef>| s.as_ref().is_some_and(|s| s.secret == secret && s.key == key);
        for c in &self.containers {
            let env = c
                .env
                .iter()
                .filter(|e| wanted(&e.source))
                .map(|e| e.value.expose_secret().as_bytes().to_vec());
            let files = c
                .files
                .iter()
                .filter(|f| wanted(&f.source))
                .map(|f| f.value.expose_secret().to_vec());
            for v in env.chain(files) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }
}

/// The view of `r`; `current` says whether it runs the workload's current template.
pub fn replica_view(r: &Replica, current: bool) -> ReplicaView {
    let (phase, waiting) = match &r.phase {
        Phase::Pending { waiting, .. } => (
            ReplicaPhase::Pending,
            waiting
                .as_ref()
                .map(|w| (w.reason.to_string(), w.message.clone())),
        ),
        Phase::Running { .. } => (ReplicaPhase::Running, None),
        Phase::CrashLoop { .. } => (ReplicaPhase::CrashLoopBackOff, None),
        Phase::Terminating { .. } => (ReplicaPhase::Terminating, None),
    };
    let containers = match &r.held {
        Some(held) => held
            .containers
            .iter()
            .map(|c| {
                let env = c
                    .env
                    .iter()
                    .map(|(name, h)| EnvVarView {
                        name: name.clone(),
                        value: SecretString::from(
                            String::from_utf8_lossy(h.value.expose_secret()).into_owned(),
                        ),
                        source: h.source.clone(),
                    })
                    .collect();
                let mut files: Vec<FileView> = container_files(c, &held.volumes)
                    .into_iter()
                    .map(|(path, h, refreshes)| FileView {
                        path,
                        value: h.value.clone(),
                        source: h.source.clone(),
                        refreshes,
                    })
                    .collect();
                files.sort_by(|a, b| a.path.cmp(&b.path));
                ContainerView {
                    name: c.name.clone(),
                    env,
                    files,
                }
            })
            .collect(),
        None => vec![],
    };
    ReplicaView {
        name: r.name.clone(),
        revision: r.revision.clone(),
        current,
        ordinal: match r.slot {
            Slot::Ordinal(o) => Some(o),
            _ => None,
        },
        node: match &r.slot {
            Slot::Node(n) => Some(n.clone()),
            _ => None,
        },
        phase,
        ready: r.is_ready(),
        waiting,
        created_at: r.created_wall,
        started_at: r.started_wall,
        restarts: r.restarts,
        containers,
    }
}
