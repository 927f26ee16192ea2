//! The StatefulSet controller, simulated: replicas `<name>-<ordinal>` created in order
//! (`OrderedReady`, each after the previous one is ready) or all at once (`Parallel`); a
//! `RollingUpdate` replaces them one at a time from the highest ordinal down to the partition,
//! each after every replica is ready again; `OnDelete` never replaces. Revisions are
//! ControllerRevisions; the status carries `currentRevision`/`updateRevision` and the replica
//! counts per revision, with `currentRevision` taking the update revision once all replicas run
//! it, as the real controller does.
//!
//! Invariant: [`reconcile`] is pure, like the Deployment controller's.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::replica::{Replica, Slot, Step};
use super::revisions::{self, RevisionSim, RevisionedOutcome};

/// What the controller reads from a StatefulSet.
#[derive(Clone, Debug)]
pub struct StatefulSetInput {
    /// Name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `podManagementPolicy: Parallel`.
    pub parallel: bool,
    /// `updateStrategy.type: OnDelete`.
    pub on_delete: bool,
    /// `updateStrategy.rollingUpdate.partition`.
    pub partition: i32,
    /// `minReadySeconds`.
    pub min_ready: Duration,
    /// `revisionHistoryLimit`.
    pub history_limit: usize,
    /// `spec.template`.
    pub template: Value,
    /// `status.collisionCount` as stored.
    pub collision_count: i64,
}

impl StatefulSetInput {
    /// Reads a stored StatefulSet.
    pub fn from_object(v: &Value) -> Self {
        let int = |p: &str| v.pointer(p).and_then(Value::as_i64);
        StatefulSetInput {
            name: v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            generation: int("/metadata/generation").unwrap_or(0),
            replicas: int("/spec/replicas").unwrap_or(1).clamp(0, 100_000) as i32,
            parallel: v.pointer("/spec/podManagementPolicy").and_then(Value::as_str) == Some("Parallel"),
            on_delete: v.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete"),
            partition: int("/spec/updateStrategy/rollingUpdate/partition")
                .unwrap_or(0)
                .clamp(0, 100_000) as i32,
            min_ready: Duration::from_secs(int("/spec/minReadySeconds").unwrap_or(0).max(0) as u64),
            history_limit: int("/spec/revisionHistoryLimit").unwrap_or(10).max(0) as usize,
            template: v.pointer("/spec/template").cloned().unwrap_or(json!({})),
            collision_count: int("/status/collisionCount").unwrap_or(0),
        }
    }
}

/// What the simulator remembers of one StatefulSet.
#[derive(Clone, Debug, Default)]
pub struct StatefulSetSim {
    /// Owner uid.
    pub uid: String,
    /// ControllerRevisions.
    pub revisions: Vec<RevisionSim>,
    /// `status.currentRevision`.
    pub current_revision: String,
    /// Replicas by ordinal (at most one live and one terminating per ordinal).
    pub pods: BTreeMap<u32, Vec<Replica>>,
}

fn live(pods: &[Replica]) -> Option<&Replica> {
    pods.iter().find(|r| !r.is_terminating())
}

/// Reconciles one StatefulSet at `step.now`.
pub fn reconcile(s: &StatefulSetInput, sim: &mut StatefulSetSim, step: &Step<'_>) -> RevisionedOutcome {
    for pods in sim.pods.values_mut() {
        pods.retain_mut(|r| r.advance(step));
    }
    sim.pods.retain(|_, p| !p.is_empty());
    let update = revisions::current(&mut sim.revisions, &s.name, &s.template);
    let update_name = sim.revisions[update].name.clone();
    if sim.current_revision.is_empty() || !sim.revisions.iter().any(|r| r.name == sim.current_revision) {
        sim.current_revision = update_name.clone();
    }
    let current_name = sim.current_revision.clone();
    let replicas = s.replicas.max(0) as u32;
    let healthy = |sim: &StatefulSetSim, upto: u32| {
        (0..upto).all(|o| sim.pods.get(&o).is_some_and(|p| p.len() == 1 && p[0].is_ready()))
    };
    let any_terminating = |sim: &StatefulSetSim| sim.pods.values().flatten().any(Replica::is_terminating);

    // Scale down: condemned ordinals go from the highest.
    let condemned: Vec<u32> = sim
        .pods
        .keys()
        .copied()
        .filter(|o| *o >= replicas)
        .rev()
        .collect();
    for o in condemned {
        if !s.parallel && any_terminating(sim) {
            break;
        }
        if let Some(pods) = sim.pods.get_mut(&o) {
            for p in pods.iter_mut() {
                p.terminate(step.now, step.behaviour.terminate_after);
            }
        }
        if !s.parallel {
            break;
        }
    }
    // Scale up / recreate: missing ordinals, in order unless Parallel.
    for o in 0..replicas {
        let occupied = sim.pods.get(&o).is_some_and(|p| !p.is_empty());
        if occupied {
            continue;
        }
        if !s.parallel && !healthy(sim, o) {
            break;
        }
        let rev_name = if (o as i32) < s.partition && !s.on_delete {
            current_name.clone()
        } else {
            update_name.clone()
        };
        let rev = sim
            .revisions
            .iter()
            .find(|r| r.name == rev_name)
            .unwrap_or(&sim.revisions[update]);
        let mut r = Replica::new(
            format!("{}-{o}", s.name),
            rev.name.clone(),
            Slot::Ordinal(o),
            rev.parsed.clone(),
            step,
        );
        r.advance(step);
        sim.pods.insert(o, vec![r]);
        if !s.parallel {
            break;
        }
    }
    // Rolling update: one replica at a time, highest ordinal first, once all are ready.
    if !s.on_delete && healthy(sim, replicas) && !any_terminating(sim) {
        let target = (s.partition.max(0) as u32..replicas).rev().find(|o| {
            sim.pods
                .get(o)
                .and_then(|p| live(p))
                .is_some_and(|r| r.revision != update_name)
        });
        if let Some(o) = target
            && let Some(pods) = sim.pods.get_mut(&o)
        {
            for p in pods.iter_mut() {
                p.terminate(step.now, step.behaviour.terminate_after);
            }
        }
    }

    // Status, as `computeReplicaStatus` counts: terminating replicas still count in `replicas`.
    let mut st = Map::new();
    let all: Vec<&Replica> = sim.pods.values().flatten().collect();
    let count = |f: &dyn Fn(&Replica) -> bool| all.iter().filter(|r| f(r)).count() as i64;
    let total = all.len() as i64;
    let ready = count(&|r| r.is_ready());
    let available = count(&|r| r.is_available(step.now, s.min_ready));
    let current = count(&|r| !r.is_terminating() && r.revision == current_name);
    let updated = count(&|r| !r.is_terminating() && r.revision == update_name);
    let mut current_out = (current_name.clone(), current);
    if !s.on_delete && updated == total && ready == total {
        sim.current_revision = update_name.clone();
        current_out = (update_name.clone(), updated);
    }
    st.insert("replicas".into(), json!(total));
    st.insert("availableReplicas".into(), json!(available));
    for (k, v) in [
        ("observedGeneration", s.generation),
        ("readyReplicas", ready),
        ("currentReplicas", current_out.1),
        ("updatedReplicas", updated),
    ] {
        if v != 0 {
            st.insert(k.into(), json!(v));
        }
    }
    st.insert("currentRevision".into(), json!(current_out.0));
    st.insert("updateRevision".into(), json!(update_name));
    st.insert("collisionCount".into(), json!(s.collision_count));

    let in_use: BTreeSet<String> = sim
        .pods
        .values()
        .flatten()
        .map(|r| r.revision.clone())
        .chain([sim.current_revision.clone(), update_name.clone()])
        .collect();
    let removed_revisions = revisions::trim(&mut sim.revisions, s.history_limit.max(1), &in_use);
    let next_wake = all_next(sim, step, s.min_ready);
    RevisionedOutcome {
        revisions: sim.revisions.clone(),
        removed_revisions,
        status: Value::Object(st),
        next_wake,
    }
}

fn all_next(sim: &StatefulSetSim, step: &Step<'_>, min_ready: Duration) -> Option<Duration> {
    sim.pods
        .values()
        .flatten()
        .filter_map(|r| r.next_event(step.now, step.behaviour, min_ready))
        .min()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use jiff::Timestamp;

    use super::super::config::{Behaviour, Knobs, RolloutMode, SimulatorConfig};
    use super::super::kubelet::SecretData;
    use super::*;

    type Secrets = BTreeMap<(String, String), Arc<SecretData>>;

    fn sts(replicas: i32, image: &str, generation: i64) -> Value {
        json!({
            "metadata": {"name": "db", "namespace": "ns", "uid": "u", "generation": generation},
            "spec": {"replicas": replicas, "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "revisionHistoryLimit": 10,
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}
        })
    }

    struct World {
        v: Value,
        sim: StatefulSetSim,
        behaviour: Behaviour,
        now: Duration,
        /// (ordinal, revision) of each replica creation, in order.
        created: Vec<(u32, String)>,
    }

    impl World {
        fn new(v: Value) -> Self {
            World {
                v,
                sim: StatefulSetSim::default(),
                behaviour: Knobs::default().resolve(&Knobs::default(), &SimulatorConfig::default()),
                now: Duration::ZERO,
                created: vec![],
            }
        }

        fn tick(&mut self) -> RevisionedOutcome {
            let secrets = Secrets::new();
            let input = StatefulSetInput::from_object(&self.v);
            let before: BTreeSet<String> = self
                .sim
                .pods
                .values()
                .flatten()
                .map(|r| r.name.clone() + &r.revision)
                .collect();
            let out = reconcile(
                &input,
                &mut self.sim,
                &Step {
                    now: self.now,
                    wall: Timestamp::UNIX_EPOCH,
                    namespace: "ns",
                    behaviour: &self.behaviour,
                    secrets: &secrets,
                    min_ready: Duration::ZERO,
                },
            );
            for (o, pods) in &self.sim.pods {
                for r in pods {
                    if !before.contains(&(r.name.clone() + &r.revision)) {
                        self.created.push((*o, r.revision.clone()));
                    }
                }
            }
            self.v["status"] = out.status.clone();
            self.now = out.next_wake.unwrap_or(self.now + Duration::from_secs(1));
            out
        }

        fn run_until(&mut self, done: impl Fn(&Value) -> bool) -> RevisionedOutcome {
            for _ in 0..200 {
                let out = self.tick();
                if done(&out.status) {
                    return out;
                }
            }
            panic!("not done: {}", self.v["status"]);
        }
    }

    fn settled(replicas: i64) -> impl Fn(&Value) -> bool {
        move |s: &Value| {
            s["readyReplicas"] == replicas
                && s["updatedReplicas"] == replicas
                && s["currentRevision"] == s["updateRevision"]
                && s["replicas"] == replicas
        }
    }

    #[test]
    fn ordered_creation_then_rolling_update_from_the_highest_ordinal() {
        let mut w = World::new(sts(3, "a", 1));
        let out = w.run_until(settled(3));
        assert_eq!(
            w.created.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let rev1 = out.status["currentRevision"].clone();
        assert_eq!(out.status["currentReplicas"], 3);
        assert_eq!(out.status["observedGeneration"], 1);
        assert_eq!(out.revisions.len(), 1);
        w.created.clear();
        let status = w.v["status"].clone();
        w.v = sts(3, "b", 2);
        w.v["status"] = status;
        let first = w.tick();
        assert_eq!(first.status["currentRevision"], rev1);
        assert_ne!(first.status["updateRevision"], rev1);
        let out = w.run_until(settled(3));
        assert_eq!(
            w.created.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        assert!(w.created.iter().all(|(_, r)| *r == out.status["updateRevision"]));
        assert_eq!(out.status["currentRevision"], out.status["updateRevision"]);
        assert_eq!(out.revisions.len(), 2);
    }

    #[test]
    fn partition_keeps_lower_ordinals_on_the_current_revision() {
        let mut w = World::new(sts(3, "a", 1));
        w.run_until(settled(3));
        let status = w.v["status"].clone();
        w.v = sts(3, "b", 2);
        w.v["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = json!(2);
        w.v["status"] = status;
        let out = w.run_until(|s| s["updatedReplicas"] == 1 && s["readyReplicas"] == 3);
        assert_ne!(out.status["currentRevision"], out.status["updateRevision"]);
        assert_eq!(out.status["currentReplicas"], 2);
        for _ in 0..10 {
            w.tick();
        }
        assert_eq!(w.v["status"]["updatedReplicas"], 1);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinals_and_stalled_pods_block() {
        let mut w = World::new(sts(3, "a", 1));
        w.run_until(settled(3));
        w.v["spec"]["replicas"] = json!(1);
        w.run_until(|s| s["replicas"] == 1);
        assert_eq!(w.sim.pods.keys().copied().collect::<Vec<_>>(), vec![0]);
        w.behaviour.rollout = RolloutMode::Stall;
        w.v["spec"]["replicas"] = json!(3);
        for _ in 0..20 {
            w.tick();
        }
        assert_eq!(w.sim.pods.len(), 2, "ordinal 2 waits for ordinal 1 to be ready");
        w.behaviour.rollout = RolloutMode::Normal;
        w.run_until(settled(3));
    }

    #[test]
    fn parallel_creates_all_at_once() {
        let mut v = sts(3, "a", 1);
        v["spec"]["podManagementPolicy"] = json!("Parallel");
        let mut w = World::new(v);
        w.tick();
        assert_eq!(w.sim.pods.len(), 3);
    }
}
