//! The DaemonSet controller, simulated: one replica per node of the simulated cluster
//! ([`super::SimulatorConfig::nodes`] nodes named `sandbox-node-<i>`), a `RollingUpdate` that
//! replaces at most `maxUnavailable` nodes' replicas at a time (or surges up to `maxSurge` new
//! ones next to the old), `OnDelete` that never replaces, ControllerRevisions, and the status
//! counts `kubectl rollout status` reads (`desiredNumberScheduled`, `updatedNumberScheduled`,
//! `numberAvailable`, `numberReady`, `observedGeneration`).
//!
//! Invariant: [`reconcile`] is pure; a node runs at most one live replica of a revision.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::intstr::scaled;
use super::replica::{Replica, Slot, Step};
use super::revisions::{self, RevisionSim, RevisionedOutcome};

/// The name of simulated node `i`.
pub fn node_name(i: u32) -> String {
    format!("sandbox-node-{i}")
}

/// What the controller reads from a DaemonSet.
#[derive(Clone, Debug)]
pub struct DaemonSetInput {
    /// Name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `updateStrategy.type: OnDelete`.
    pub on_delete: bool,
    /// `rollingUpdate.maxUnavailable`.
    pub max_unavailable: Option<Value>,
    /// `rollingUpdate.maxSurge`.
    pub max_surge: Option<Value>,
    /// `minReadySeconds`.
    pub min_ready: Duration,
    /// `revisionHistoryLimit`.
    pub history_limit: usize,
    /// `spec.template`.
    pub template: Value,
}

impl DaemonSetInput {
    /// Reads a stored DaemonSet.
    pub fn from_object(v: &Value) -> Self {
        let int = |p: &str| v.pointer(p).and_then(Value::as_i64);
        DaemonSetInput {
            name: v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            generation: int("/metadata/generation").unwrap_or(0),
            on_delete: v.pointer("/spec/updateStrategy/type").and_then(Value::as_str) == Some("OnDelete"),
            max_unavailable: v
                .pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable")
                .cloned(),
            max_surge: v.pointer("/spec/updateStrategy/rollingUpdate/maxSurge").cloned(),
            min_ready: Duration::from_secs(int("/spec/minReadySeconds").unwrap_or(0).max(0) as u64),
            history_limit: int("/spec/revisionHistoryLimit").unwrap_or(10).max(0) as usize,
            template: v.pointer("/spec/template").cloned().unwrap_or(json!({})),
        }
    }
}

/// What the simulator remembers of one DaemonSet.
#[derive(Clone, Debug, Default)]
pub struct DaemonSetSim {
    /// Owner uid.
    pub uid: String,
    /// ControllerRevisions.
    pub revisions: Vec<RevisionSim>,
    /// Replicas (each with a `Slot::Node`).
    pub pods: Vec<Replica>,
    /// Replicas created so far (names are derived from it).
    pub serial: u64,
}

fn on_node<'a>(pods: &'a [Replica], node: &str) -> impl Iterator<Item = (usize, &'a Replica)> {
    pods.iter()
        .enumerate()
        .filter(move |(_, r)| r.slot == Slot::Node(node.to_string()))
}

/// Reconciles one DaemonSet over `nodes` nodes at `step.now`.
pub fn reconcile(
    d: &DaemonSetInput,
    sim: &mut DaemonSetSim,
    nodes: u32,
    step: &Step<'_>,
) -> RevisionedOutcome {
    sim.pods.retain_mut(|r| r.advance(step));
    let update = revisions::current(&mut sim.revisions, &d.name, &d.template);
    let update_rev = sim.revisions[update].clone();
    let desired = nodes as i32;
    let surge = scaled(d.max_surge.as_ref(), desired, true);
    let mut max_unavailable = scaled(d.max_unavailable.as_ref(), desired, true);
    if surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    let node_names: Vec<String> = (0..nodes).map(node_name).collect();
    // Replicas on nodes that no longer exist go.
    for r in sim.pods.iter_mut() {
        if !matches!(&r.slot, Slot::Node(n) if node_names.contains(n)) {
            r.terminate(step.now, step.behaviour.terminate_after);
        }
    }
    let available = |r: &Replica| r.is_available(step.now, d.min_ready);
    let mut unavailable_nodes = node_names
        .iter()
        .filter(|n| !on_node(&sim.pods, n).any(|(_, r)| !r.is_terminating() && available(r)))
        .count() as i32;
    let mut surging = node_names
        .iter()
        .filter(|n| on_node(&sim.pods, n).filter(|(_, r)| !r.is_terminating()).count() > 1)
        .count() as i32;
    let mut to_create = vec![];
    for node in &node_names {
        let live: Vec<(usize, bool, bool)> = on_node(&sim.pods, node)
            .filter(|(_, r)| !r.is_terminating())
            .map(|(i, r)| (i, r.revision == update_rev.name, available(r)))
            .collect();
        let terminating = on_node(&sim.pods, node).any(|(_, r)| r.is_terminating());
        let new = live.iter().find(|(_, is_new, _)| *is_new);
        let old: Vec<&(usize, bool, bool)> = live.iter().filter(|(_, is_new, _)| !is_new).collect();
        match (new, old.is_empty()) {
            (None, true) => {
                if !terminating {
                    to_create.push(node.clone());
                }
            }
            (Some(_), true) => {}
            _ if d.on_delete => {}
            (Some((_, _, new_available)), false) => {
                // Surged: the old replica goes once the new one is available.
                if *new_available {
                    for (i, _, _) in &old {
                        sim.pods[*i].terminate(step.now, step.behaviour.terminate_after);
                    }
                    surging -= 1;
                }
            }
            (None, false) => {
                let old_available = old.iter().any(|(_, _, a)| *a);
                if surge > 0 && old_available {
                    if surging < surge {
                        to_create.push(node.clone());
                        surging += 1;
                    }
                } else if !old_available || unavailable_nodes < max_unavailable {
                    for (i, _, _) in &old {
                        sim.pods[*i].terminate(step.now, step.behaviour.terminate_after);
                    }
                    if old_available {
                        unavailable_nodes += 1;
                    }
                }
            }
        }
    }
    for node in to_create {
        sim.serial += 1;
        let name = format!("{}-{}", d.name, super::hash::replica_suffix(&d.name, sim.serial));
        let mut r = Replica::new(
            name,
            update_rev.name.clone(),
            Slot::Node(node),
            update_rev.parsed.clone(),
            step,
        );
        r.advance(step);
        sim.pods.push(r);
    }

    let live: Vec<&Replica> = sim.pods.iter().filter(|r| !r.is_terminating()).collect();
    let scheduled: BTreeSet<&Slot> = live.iter().map(|r| &r.slot).collect();
    let updated: BTreeSet<&Slot> = live
        .iter()
        .filter(|r| r.revision == update_rev.name)
        .map(|r| &r.slot)
        .collect();
    let ready_nodes: BTreeSet<&Slot> = live.iter().filter(|r| r.is_ready()).map(|r| &r.slot).collect();
    let available_nodes: BTreeSet<&Slot> = live.iter().filter(|r| available(r)).map(|r| &r.slot).collect();
    let mut st = Map::new();
    st.insert("desiredNumberScheduled".into(), json!(desired));
    st.insert("currentNumberScheduled".into(), json!(scheduled.len()));
    st.insert("numberMisscheduled".into(), json!(0));
    st.insert("numberReady".into(), json!(ready_nodes.len()));
    let unavailable = (desired - available_nodes.len() as i32).max(0);
    for (k, v) in [
        ("observedGeneration", d.generation),
        ("updatedNumberScheduled", updated.len() as i64),
        ("numberAvailable", available_nodes.len() as i64),
        ("numberUnavailable", i64::from(unavailable)),
    ] {
        if v != 0 {
            st.insert(k.into(), json!(v));
        }
    }
    let in_use: BTreeSet<String> = sim
        .pods
        .iter()
        .map(|r| r.revision.clone())
        .chain([update_rev.name.clone()])
        .collect();
    let removed_revisions = revisions::trim(&mut sim.revisions, d.history_limit.max(1), &in_use);
    let next_wake = sim
        .pods
        .iter()
        .filter_map(|r| r.next_event(step.now, step.behaviour, d.min_ready))
        .min();
    RevisionedOutcome {
        revisions: sim.revisions.clone(),
        removed_revisions,
        status: Value::Object(st),
        next_wake,
    }
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

    fn ds(image: &str, generation: i64, strategy: Value) -> Value {
        json!({
            "metadata": {"name": "agent", "namespace": "ns", "uid": "u", "generation": generation},
            "spec": {"updateStrategy": strategy, "revisionHistoryLimit": 10,
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}
        })
    }

    fn rolling(max_unavailable: Value, max_surge: Value) -> Value {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": max_surge}})
    }

    struct World {
        v: Value,
        sim: DaemonSetSim,
        behaviour: Behaviour,
        now: Duration,
        nodes: u32,
        statuses: Vec<Value>,
    }

    impl World {
        fn new(v: Value, nodes: u32) -> Self {
            World {
                v,
                sim: DaemonSetSim::default(),
                behaviour: Knobs::default().resolve(&Knobs::default(), &SimulatorConfig::default()),
                now: Duration::ZERO,
                nodes,
                statuses: vec![],
            }
        }

        fn tick(&mut self) -> RevisionedOutcome {
            let secrets = Secrets::new();
            let input = DaemonSetInput::from_object(&self.v);
            let out = reconcile(
                &input,
                &mut self.sim,
                self.nodes,
                &Step {
                    now: self.now,
                    wall: Timestamp::UNIX_EPOCH,
                    namespace: "ns",
                    behaviour: &self.behaviour,
                    secrets: &secrets,
                    min_ready: Duration::ZERO,
                },
            );
            self.v["status"] = out.status.clone();
            self.statuses.push(out.status.clone());
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

    fn settled(n: i64) -> impl Fn(&Value) -> bool {
        move |s: &Value| {
            s["updatedNumberScheduled"] == n && s["numberAvailable"] == n && s["currentNumberScheduled"] == n
        }
    }

    #[test]
    fn one_replica_per_node_and_a_rolling_update_within_max_unavailable() {
        let mut w = World::new(ds("a", 1, rolling(json!(1), json!(0))), 3);
        let out = w.run_until(settled(3));
        assert_eq!(out.status["desiredNumberScheduled"], 3);
        assert_eq!(out.status["observedGeneration"], 1);
        let status = w.v["status"].clone();
        w.v = ds("b", 2, rolling(json!(1), json!(0)));
        w.v["status"] = status;
        w.statuses.clear();
        let out = w.run_until(|s| settled(3)(s) && s["observedGeneration"] == 2);
        assert_eq!(out.revisions.len(), 2);
        for s in &w.statuses {
            assert!(s["numberAvailable"].as_i64().unwrap_or(0) >= 2, "{s}");
        }
        let nodes: BTreeSet<&Slot> = w.sim.pods.iter().map(|r| &r.slot).collect();
        assert_eq!(nodes.len(), 3);
    }

    #[test]
    fn surge_starts_new_replicas_before_stopping_old_ones() {
        let mut w = World::new(ds("a", 1, rolling(json!(0), json!(1))), 2);
        w.run_until(settled(2));
        let status = w.v["status"].clone();
        w.v = ds("b", 2, rolling(json!(0), json!(1)));
        w.v["status"] = status;
        w.statuses.clear();
        w.run_until(|s| settled(2)(s) && s["observedGeneration"] == 2);
        for s in &w.statuses {
            assert_eq!(s["numberAvailable"], 2, "{s}");
        }
    }

    #[test]
    fn a_stalled_update_holds_and_on_delete_never_replaces() {
        let mut w = World::new(ds("a", 1, rolling(json!(1), json!(0))), 2);
        w.run_until(settled(2));
        w.behaviour.rollout = RolloutMode::Stall;
        let status = w.v["status"].clone();
        w.v = ds("b", 2, rolling(json!(1), json!(0)));
        w.v["status"] = status;
        for _ in 0..20 {
            w.tick();
        }
        assert_eq!(w.v["status"]["updatedNumberScheduled"], 1);
        assert_eq!(w.v["status"]["numberAvailable"], 1);
        w.behaviour.rollout = RolloutMode::Normal;
        w.run_until(settled(2));

        let mut w = World::new(ds("a", 1, json!({"type": "OnDelete"})), 2);
        w.run_until(settled(2));
        w.v = ds("b", 2, json!({"type": "OnDelete"}));
        for _ in 0..10 {
            w.tick();
        }
        assert!(w.v["status"].get("updatedNumberScheduled").is_none());
        assert_eq!(w.v["status"]["numberAvailable"], 2);
    }
}
