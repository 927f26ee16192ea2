//! Follows the sandbox API server's in-process change feed (no HTTP, no load on the operator's
//! view) for the benchmark namespace, and keeps what the measurements ask about:
//! * per rotation: its phase, since when it has been Ready and idle, the request it handled last,
//!   its renewal and expiry times;
//! * rotations holding a slot of each operator-wide cap now, and the most at once since the last
//!   [`Tracker::reset_peaks`] (the caps are counted from persisted phases, as the operator counts
//!   them);
//! * per Deployment: pod-template changes since the last [`Tracker::reset_template_changes`],
//!   and whether its rollout is complete.
//!
//! Invariant: every committed change is seen once, in commit order, at the instant the server
//! commits it (plus the feed's delivery delay, microseconds in-process).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sandbox::apiserver::{ApiServer, ChangeKind};
use secret_rotator::api::{RotationPhase, wellknown};
use secret_rotator::rotation::{holds_rollout_slot, holds_rotation_slot};
use serde_json::Value;
use tokio::task::JoinHandle;

/// What the tracker knows about one rotation.
#[derive(Clone, Debug, Default)]
pub struct RotationView {
    /// Phase of the rotation in flight, if any.
    pub phase: Option<RotationPhase>,
    /// Ready=True for the current generation with nothing in flight, since this instant.
    pub ready_since: Option<Instant>,
    /// The first instant it was Ready and idle.
    pub first_ready: Option<Instant>,
    /// `status.handledRotateRequest`.
    pub handled_rotate: Option<String>,
    /// `status.renewalTime`.
    pub renewal_time: Option<Timestamp>,
    /// `status.current.expiresAt`.
    pub expires_at: Option<Timestamp>,
    /// `status.current.startsAt`.
    pub starts_at: Option<Timestamp>,
    /// Every phase change seen (`None`: no rotation in flight), with the instant it was seen.
    pub phase_changes: Vec<(Option<RotationPhase>, Instant)>,
}

#[derive(Default)]
struct State {
    rotations: HashMap<String, RotationView>,
    rotation_slots: usize,
    rollout_slots: usize,
    max_rotation_slots: usize,
    max_rollout_slots: usize,
    template_changes: HashMap<String, u32>,
    complete: HashSet<String>,
    changes_seen: u64,
}

/// The tracker. Dropping it stops it.
pub struct Tracker {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether a rotation object is Ready=True for its generation with no rotation in flight.
pub fn ready_and_idle(o: &Value) -> bool {
    let generation = o.pointer("/metadata/generation").and_then(Value::as_i64);
    let status = &o["status"];
    let ready = status["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == wellknown::condition::READY
                && c["status"] == "True"
                && c["observedGeneration"].as_i64() == generation
        })
    });
    ready && status.get("rotation").is_none_or(Value::is_null)
}

fn timestamp(v: &Value) -> Option<Timestamp> {
    v.as_str().and_then(|s| s.parse().ok())
}

fn rollout_complete(o: &Value) -> bool {
    let generation = o.pointer("/metadata/generation").and_then(Value::as_i64);
    let status = &o["status"];
    let desired = o["spec"]["replicas"].as_i64().unwrap_or(1);
    let n = |k: &str| status[k].as_i64().unwrap_or(0);
    status["observedGeneration"].as_i64() == generation
        && n("updatedReplicas") >= desired
        && n("availableReplicas") >= desired
        && n("replicas") == desired
}

impl State {
    fn slots(phase: Option<RotationPhase>) -> (usize, usize) {
        (
            usize::from(phase.is_some_and(holds_rotation_slot)),
            usize::from(phase.is_some_and(holds_rollout_slot)),
        )
    }

    fn set_phase(&mut self, old: Option<RotationPhase>, new: Option<RotationPhase>) {
        let (or, oo) = Self::slots(old);
        let (nr, no) = Self::slots(new);
        self.rotation_slots = self.rotation_slots + nr - or;
        self.rollout_slots = self.rollout_slots + no - oo;
        self.max_rotation_slots = self.max_rotation_slots.max(self.rotation_slots);
        self.max_rollout_slots = self.max_rollout_slots.max(self.rollout_slots);
    }

    fn rotation(&mut self, name: &str, kind: ChangeKind, o: &Value, now: Instant) {
        if kind == ChangeKind::Deleted {
            if let Some(old) = self.rotations.remove(name) {
                self.set_phase(old.phase, None);
            }
            return;
        }
        let status = &o["status"];
        let phase: Option<RotationPhase> = status
            .pointer("/rotation/phase")
            .and_then(|p| serde_json::from_value(p.clone()).ok());
        let idle = ready_and_idle(o);
        let view = self.rotations.entry(name.to_owned()).or_default();
        let old = view.phase;
        if old != phase {
            view.phase_changes.push((phase, now));
        }
        view.phase = phase;
        if idle {
            view.ready_since.get_or_insert(now);
            view.first_ready.get_or_insert(now);
        } else {
            view.ready_since = None;
        }
        view.handled_rotate = status["handledRotateRequest"].as_str().map(str::to_owned);
        view.renewal_time = timestamp(&status["renewalTime"]);
        view.expires_at = timestamp(&status["current"]["expiresAt"]);
        view.starts_at = timestamp(&status["current"]["startsAt"]);
        self.set_phase(old, phase);
    }

    fn deployment(&mut self, name: &str, kind: ChangeKind, o: &Value, previous: Option<&Value>) {
        if kind == ChangeKind::Deleted {
            self.complete.remove(name);
            return;
        }
        if kind == ChangeKind::Modified
            && let Some(before) = previous
            && before["spec"]["template"] != o["spec"]["template"]
        {
            *self.template_changes.entry(name.to_owned()).or_default() += 1;
        }
        if rollout_complete(o) {
            self.complete.insert(name.to_owned());
        } else {
            self.complete.remove(name);
        }
    }
}

impl Tracker {
    /// Starts following changes in `namespace`.
    pub fn start(api: &ApiServer, namespace: &str) -> Self {
        let mut feed = api.subscribe();
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let namespace = namespace.to_owned();
        let task = tokio::spawn(async move {
            while let Some(change) = feed.recv().await {
                if change.namespace != namespace {
                    continue;
                }
                let now = Instant::now();
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                s.changes_seen += 1;
                match change.key.plural.as_str() {
                    "clientsecretrotations" => {
                        s.rotation(&change.name, change.kind, &change.object.value, now)
                    }
                    "deployments" => s.deployment(
                        &change.name,
                        change.kind,
                        &change.object.value,
                        change.previous.as_ref().map(|p| &p.value),
                    ),
                    _ => {}
                }
            }
        });
        Self { state, task }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of every rotation's view.
    pub fn rotations(&self) -> HashMap<String, RotationView> {
        self.lock().rotations.clone()
    }

    /// How many of `names` satisfy `pred`.
    pub fn count_where(&self, names: &[String], pred: impl Fn(&RotationView) -> bool) -> usize {
        let s = self.lock();
        names
            .iter()
            .filter(|n| s.rotations.get(n.as_str()).is_some_and(&pred))
            .count()
    }

    /// Starts counting the peak of slots held from the current values.
    pub fn reset_peaks(&self) {
        let mut s = self.lock();
        s.max_rotation_slots = s.rotation_slots;
        s.max_rollout_slots = s.rollout_slots;
    }

    /// Most rotations holding a rotation slot, and a rollout slot, at once since the last reset.
    pub fn peaks(&self) -> (usize, usize) {
        let s = self.lock();
        (s.max_rotation_slots, s.max_rollout_slots)
    }

    /// Forgets the pod-template changes counted so far.
    pub fn reset_template_changes(&self) {
        self.lock().template_changes.clear();
    }

    /// Pod-template changes per Deployment since the last reset.
    pub fn template_changes(&self) -> HashMap<String, u32> {
        self.lock().template_changes.clone()
    }

    /// Deployments of the namespace whose rollout is complete.
    pub fn complete_deployments(&self) -> usize {
        self.lock().complete.len()
    }

    /// Polls `done` (every 100 ms) until it holds or `limit` passes; returns whether it held.
    pub async fn wait_until(&self, limit: Duration, mut done: impl FnMut(&Tracker) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
