//! The Deployment controller, simulated: one ReplicaSet per pod template (named
//! `<deployment>-<pod-template-hash>`), rolling replacement paced by `maxSurge` and
//! `maxUnavailable` (or `Recreate`), history trimmed to `revisionHistoryLimit`, and the status
//! kube-controller-manager writes: counts, `observedGeneration`, and the `Available` and
//! `Progressing` conditions with their real reasons (`NewReplicaSetCreated`,
//! `ReplicaSetUpdated`, `NewReplicaSetAvailable`, `ProgressDeadlineExceeded`,
//! `MinimumReplicasAvailable`/`Unavailable`, `DeploymentPaused`/`Resumed`).
//!
//! Invariant: [`reconcile`] is pure: the Deployment as stored, the simulator's memory of its
//! replicas, time and Secrets in; the replica sets and status to store out. It follows
//! `syncRolloutStatus`/`calculateStatus` so that `kubectl rollout status` and "rollout
//! complete" checks see what they would see on a real cluster.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::conditions::{self, Condition};
use super::hash::{POD_TEMPLATE_HASH_LABEL, pod_template_hash, replica_suffix};
use super::intstr::fenceposts;
use super::kubelet::PodTemplate;
use super::replica::{Counts, Replica, Slot, Step, removal_order};
use crate::apiserver::format_timestamp;

/// Revision of a Deployment and of its ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// `spec.replicas` of the Deployment, on its ReplicaSets.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
/// `spec.replicas + maxSurge`, on its ReplicaSets.
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";

/// Annotations of a Deployment that its ReplicaSets do not inherit.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION,
    "deprecated.deployment.rollback.to",
];

/// What the controller reads from a Deployment.
#[derive(Clone, Debug)]
pub struct DeploymentInput {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `metadata.annotations`.
    pub annotations: Map<String, Value>,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `spec.strategy.type == Recreate`.
    pub recreate: bool,
    /// `spec.strategy.rollingUpdate.maxSurge`.
    pub max_surge: Option<Value>,
    /// `spec.strategy.rollingUpdate.maxUnavailable`.
    pub max_unavailable: Option<Value>,
    /// `spec.minReadySeconds`.
    pub min_ready: Duration,
    /// `spec.progressDeadlineSeconds` (`None`: no deadline).
    pub progress_deadline: Option<i64>,
    /// `spec.revisionHistoryLimit`.
    pub history_limit: usize,
    /// `spec.paused`.
    pub paused: bool,
    /// `spec.selector`.
    pub selector: Value,
    /// `spec.template`.
    pub template: Value,
    /// `status` as stored.
    pub status: Value,
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

impl DeploymentInput {
    /// Reads a stored Deployment (defaults already applied by the server).
    pub fn from_object(v: &Value) -> Self {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let deadline = int(v, "/spec/progressDeadlineSeconds").filter(|d| *d != i64::from(i32::MAX));
        DeploymentInput {
            name: s("/metadata/name"),
            namespace: s("/metadata/namespace"),
            uid: s("/metadata/uid"),
            generation: int(v, "/metadata/generation").unwrap_or(0),
            annotations: v
                .pointer("/metadata/annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            replicas: int(v, "/spec/replicas")
                .unwrap_or(1)
                .clamp(0, i64::from(i32::MAX)) as i32,
            recreate: v.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate"),
            max_surge: v.pointer("/spec/strategy/rollingUpdate/maxSurge").cloned(),
            max_unavailable: v.pointer("/spec/strategy/rollingUpdate/maxUnavailable").cloned(),
            min_ready: Duration::from_secs(int(v, "/spec/minReadySeconds").unwrap_or(0).max(0) as u64),
            progress_deadline: deadline,
            history_limit: int(v, "/spec/revisionHistoryLimit").unwrap_or(10).max(0) as usize,
            paused: v.pointer("/spec/paused").and_then(Value::as_bool) == Some(true),
            selector: v.pointer("/spec/selector").cloned().unwrap_or(json!({})),
            template: v.pointer("/spec/template").cloned().unwrap_or(json!({})),
            status: v.get("status").cloned().unwrap_or(json!({})),
        }
    }

    /// (maxSurge, maxUnavailable) resolved against `spec.replicas`.
    pub fn fenceposts(&self) -> (i32, i32) {
        if self.recreate {
            (0, 0)
        } else {
            fenceposts(
                self.max_surge.as_ref(),
                self.max_unavailable.as_ref(),
                self.replicas,
            )
        }
    }

    /// `MaxUnavailable(deployment)` as the Available condition uses it.
    fn max_unavailable_for_availability(&self) -> i32 {
        if self.recreate || self.replicas == 0 {
            return 0;
        }
        self.fenceposts().1.min(self.replicas)
    }
}

/// One ReplicaSet as the simulator remembers it.
#[derive(Clone, Debug)]
pub struct SetSim {
    /// `<deployment>-<hash>`.
    pub name: String,
    /// pod-template-hash.
    pub hash: String,
    /// Revision number.
    pub revision: i64,
    /// Its pod template (with the hash label).
    pub template: Value,
    /// The template as the kubelet reads it.
    pub parsed: Arc<PodTemplate>,
    /// Its replicas.
    pub replicas: Vec<Replica>,
    /// Replicas created so far (names are derived from it).
    pub serial: u64,
}

impl SetSim {
    fn live(&self) -> i32 {
        self.replicas.iter().filter(|r| !r.is_terminating()).count() as i32
    }
}

/// What the simulator remembers of one Deployment.
#[derive(Clone, Debug, Default)]
pub struct DeploymentSim {
    /// The uid it belongs to (a recreated Deployment starts afresh).
    pub uid: String,
    /// Its ReplicaSets, in creation order.
    pub sets: Vec<SetSim>,
    /// `status.collisionCount`.
    pub collision_count: u32,
}

/// A ReplicaSet to store.
#[derive(Clone, Debug, PartialEq)]
pub struct SetOutcome {
    /// Name.
    pub name: String,
    /// pod-template-hash.
    pub hash: String,
    /// Revision.
    pub revision: i64,
    /// Pod template (with the hash label).
    pub template: Value,
    /// Counts (live is `spec.replicas` and `status.replicas`).
    pub counts: Counts,
}

/// What a reconcile decided.
#[derive(Clone, Debug)]
pub struct DeploymentOutcome {
    /// Every ReplicaSet that remains.
    pub sets: Vec<SetOutcome>,
    /// ReplicaSets removed by `revisionHistoryLimit`.
    pub removed_sets: Vec<String>,
    /// The new ReplicaSet (current template), if there is one.
    pub new_set: Option<String>,
    /// Revision annotation the Deployment should carry.
    pub revision: Option<i64>,
    /// The status to store.
    pub status: Value,
    /// `maxSurge` resolved (for the `max-replicas` annotation).
    pub max_surge: i32,
    /// When to reconcile again on its own.
    pub next_wake: Option<Duration>,
}

fn without_hash_label(t: &Value) -> Value {
    let mut t = t.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove(POD_TEMPLATE_HASH_LABEL);
    }
    t
}

fn with_hash_label(t: &Value, hash: &str) -> Value {
    let mut t = t.clone();
    if !t.is_object() {
        t = json!({});
    }
    let m = t.as_object_mut().expect("an object");
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let labels = meta
        .as_object_mut()
        .expect("an object")
        .entry("labels")
        .or_insert_with(|| json!({}));
    if let Some(l) = labels.as_object_mut() {
        l.insert(POD_TEMPLATE_HASH_LABEL.into(), json!(hash));
    }
    t
}

/// The kubelet's reading of a template; a template that is not a valid pod template runs as a
/// pod without containers (the real API server would have refused it).
pub fn parse_template(template: &Value) -> Arc<PodTemplate> {
    Arc::new(PodTemplate::parse(template).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "workload simulator: unusable pod template");
        PodTemplate::parse(&json!({})).expect("the empty template parses")
    }))
}

fn create_replicas(set: &mut SetSim, n: i32, step: &Step<'_>) {
    for _ in 0..n.max(0) {
        set.serial += 1;
        let name = format!("{}-{}", set.name, replica_suffix(&set.name, set.serial));
        let mut r = Replica::new(name, set.hash.clone(), Slot::None, set.parsed.clone(), step);
        r.advance(step);
        set.replicas.push(r);
    }
}

fn remove_replicas(set: &mut SetSim, n: i32, step: &Step<'_>) -> i32 {
    let order = removal_order(&set.replicas);
    let mut removed = 0;
    for i in order.into_iter().take(n.max(0) as usize) {
        set.replicas[i].terminate(step.now, step.behaviour.terminate_after);
        removed += 1;
    }
    set.replicas.retain_mut(|r| r.advance(step));
    removed
}

fn remove_unavailable(set: &mut SetSim, limit: i32, step: &Step<'_>) -> i32 {
    let mut removed = 0;
    for r in set.replicas.iter_mut() {
        if removed >= limit {
            break;
        }
        if !r.is_terminating() && !r.is_available(step.now, step.min_ready) {
            r.terminate(step.now, step.behaviour.terminate_after);
            removed += 1;
        }
    }
    set.replicas.retain_mut(|r| r.advance(step));
    removed
}

/// One rolling-update pass: scale the new set up within `maxSurge`, then scale old sets down
/// while keeping `replicas - maxUnavailable` available. `true` when something changed.
fn rolling_pass(
    sim: &mut DeploymentSim,
    new: usize,
    desired: i32,
    surge: i32,
    unavailable: i32,
    step: &Step<'_>,
) -> bool {
    let mut changed = false;
    let total: i32 = sim.sets.iter().map(SetSim::live).sum();
    let new_live = sim.sets[new].live();
    if new_live > desired {
        changed |= remove_replicas(&mut sim.sets[new], new_live - desired, step) > 0;
    } else if new_live < desired {
        let add = (desired - new_live).min(desired + surge - total).max(0);
        if add > 0 {
            create_replicas(&mut sim.sets[new], add, step);
            changed = true;
        }
    }
    let min_available = desired - unavailable;
    let all: i32 = sim.sets.iter().map(SetSim::live).sum();
    let new_counts = Counts::of(&sim.sets[new].replicas, step.now, step.min_ready);
    let new_unavailable = new_counts.live - new_counts.available;
    let max_scaled_down = all - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return changed;
    }
    // Old sets, oldest revision first.
    let mut old: Vec<usize> = (0..sim.sets.len()).filter(|i| *i != new).collect();
    old.sort_by_key(|i| sim.sets[*i].revision);
    // Unhealthy old replicas first: they give no availability.
    let mut budget = max_scaled_down;
    for i in &old {
        if budget <= 0 {
            break;
        }
        let removed = remove_unavailable(&mut sim.sets[*i], budget, step);
        budget -= removed;
        changed |= removed > 0;
    }
    let available: i32 = sim
        .sets
        .iter()
        .map(|s| Counts::of(&s.replicas, step.now, step.min_ready).available)
        .sum();
    let mut budget = available - min_available;
    for i in &old {
        if budget <= 0 {
            break;
        }
        let live = sim.sets[*i].live();
        let removed = remove_replicas(&mut sim.sets[*i], live.min(budget), step);
        budget -= removed;
        changed |= removed > 0;
    }
    changed
}

fn recreate_pass(sim: &mut DeploymentSim, new: usize, desired: i32, step: &Step<'_>) -> bool {
    let mut changed = false;
    let mut old_exist = false;
    for (i, set) in sim.sets.iter_mut().enumerate() {
        if i == new || set.replicas.is_empty() {
            continue;
        }
        old_exist = true;
        let live = set.live();
        if live > 0 {
            changed |= remove_replicas(set, live, step) > 0;
        }
    }
    if old_exist {
        return changed;
    }
    let live = sim.sets[new].live();
    if live < desired {
        create_replicas(&mut sim.sets[new], desired - live, step);
        changed = true;
    } else if live > desired {
        changed |= remove_replicas(&mut sim.sets[new], live - desired, step) > 0;
    }
    changed
}

fn status_int(status: &Value, key: &str) -> i64 {
    status.get(key).and_then(Value::as_i64).unwrap_or(0)
}

/// Reconciles one Deployment at `step.now`.
pub fn reconcile(
    d: &DeploymentInput,
    sim: &mut DeploymentSim,
    step: &Step<'_>,
    recheck: Duration,
) -> DeploymentOutcome {
    let now_s = format_timestamp(step.wall);
    for set in &mut sim.sets {
        set.replicas.retain_mut(|r| r.advance(step));
    }
    let (surge, unavailable) = d.fenceposts();
    let bare_template = without_hash_label(&d.template);
    let hash = loop {
        let h = pod_template_hash(&d.template, sim.collision_count);
        match sim.sets.iter().find(|s| s.hash == h) {
            Some(s) if without_hash_label(&s.template) != bare_template => sim.collision_count += 1,
            _ => break h,
        }
    };
    let max_revision = sim.sets.iter().map(|s| s.revision).max().unwrap_or(0);
    let mut created = None;
    let new = match sim.sets.iter().position(|s| s.hash == hash) {
        Some(i) => {
            // A rollback to an older template reuses its ReplicaSet under a new revision.
            if sim.sets[i].revision < max_revision && !d.paused {
                sim.sets[i].revision = max_revision + 1;
            }
            Some(i)
        }
        None if d.paused => None,
        None => {
            let name = format!("{}-{hash}", d.name);
            let template = with_hash_label(&d.template, &hash);
            sim.sets.push(SetSim {
                name: name.clone(),
                hash: hash.clone(),
                revision: max_revision + 1,
                parsed: parse_template(&template),
                template,
                replicas: vec![],
                serial: 0,
            });
            created = Some(name);
            Some(sim.sets.len() - 1)
        }
    };
    if let Some(new) = new {
        let others_live = sim
            .sets
            .iter()
            .enumerate()
            .any(|(i, s)| i != new && !s.replicas.is_empty());
        for _ in 0..4 {
            let changed = if d.paused {
                // A paused Deployment only scales a settled ReplicaSet.
                !others_live && rolling_pass(sim, new, d.replicas, surge, unavailable, step)
            } else if d.recreate {
                recreate_pass(sim, new, d.replicas, step)
            } else {
                rolling_pass(sim, new, d.replicas, surge, unavailable, step)
            };
            if !changed {
                break;
            }
        }
    }
    // History: old, empty sets beyond revisionHistoryLimit go, oldest first.
    let new_name = new.map(|i| sim.sets[i].name.clone());
    let mut empty_old: Vec<(i64, String)> = sim
        .sets
        .iter()
        .filter(|s| Some(&s.name) != new_name.as_ref() && s.replicas.is_empty())
        .map(|s| (s.revision, s.name.clone()))
        .collect();
    empty_old.sort();
    let excess = empty_old.len().saturating_sub(d.history_limit);
    let removed_sets: Vec<String> = empty_old.into_iter().take(excess).map(|(_, n)| n).collect();
    sim.sets.retain(|s| !removed_sets.contains(&s.name));

    let sets: Vec<SetOutcome> = sim
        .sets
        .iter()
        .map(|s| SetOutcome {
            name: s.name.clone(),
            hash: s.hash.clone(),
            revision: s.revision,
            template: s.template.clone(),
            counts: Counts::of(&s.replicas, step.now, d.min_ready),
        })
        .collect();
    let total = sets.iter().fold(Counts::default(), |a, s| a + s.counts);
    let updated = sets
        .iter()
        .find(|s| Some(&s.name) == new_name.as_ref())
        .map(|s| s.counts.live)
        .unwrap_or(0);
    let status = deployment_status(
        d,
        sim.collision_count,
        total,
        updated,
        created.as_deref(),
        new_name.as_deref(),
        step,
        &now_s,
    );

    let complete = is_complete(d, &status);
    let timed_out = conditions::field(conditions::get(conditions_of(&status), "Progressing"), "reason")
        == Some("ProgressDeadlineExceeded");
    let mut next_wake = sim
        .sets
        .iter()
        .flat_map(|s| s.replicas.iter())
        .filter_map(|r| r.next_event(step.now, step.behaviour, d.min_ready))
        .min();
    if d.progress_deadline.is_some() && !complete && !timed_out && !d.paused {
        let at = step.now + recheck;
        next_wake = Some(next_wake.map_or(at, |w| w.min(at)));
    }
    DeploymentOutcome {
        revision: new_name
            .as_ref()
            .and_then(|n| sim.sets.iter().find(|s| &s.name == n))
            .map(|s| s.revision),
        sets,
        removed_sets,
        new_set: new_name,
        status,
        max_surge: surge,
        next_wake,
    }
}

fn conditions_of(status: &Value) -> &[Value] {
    status
        .get("conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `DeploymentComplete`: every replica updated and available, and the generation observed.
pub fn is_complete(d: &DeploymentInput, status: &Value) -> bool {
    let n = i64::from(d.replicas);
    status_int(status, "updatedReplicas") == n
        && status_int(status, "replicas") == n
        && status_int(status, "availableReplicas") == n
        && status_int(status, "observedGeneration") >= d.generation
}

#[allow(clippy::too_many_arguments)]
fn deployment_status(
    d: &DeploymentInput,
    collision_count: u32,
    total: Counts,
    updated: i32,
    created: Option<&str>,
    new_name: Option<&str>,
    step: &Step<'_>,
    now: &str,
) -> Value {
    let has_deadline = d.progress_deadline.is_some();
    // The stored status, with what `getNewReplicaSet` and the pause handling put into it first.
    let mut base: Vec<Value> = conditions_of(&d.status).to_vec();
    let progressing_reason =
        |cs: &[Value]| conditions::field(conditions::get(cs, "Progressing"), "reason").map(String::from);
    if let Some(name) = created
        && has_deadline
    {
        conditions::set(
            &mut base,
            &Condition {
                type_: "Progressing",
                status: "True",
                reason: "NewReplicaSetCreated",
                message: format!("Created new replica set \"{name}\""),
            },
            now,
        );
    }
    if d.paused && progressing_reason(&base).as_deref() != Some("DeploymentPaused") {
        conditions::set(
            &mut base,
            &Condition {
                type_: "Progressing",
                status: "Unknown",
                reason: "DeploymentPaused",
                message: "Deployment is paused".into(),
            },
            now,
        );
    } else if !d.paused && progressing_reason(&base).as_deref() == Some("DeploymentPaused") {
        conditions::set(
            &mut base,
            &Condition {
                type_: "Progressing",
                status: "Unknown",
                reason: "DeploymentResumed",
                message: "Deployment is resumed".into(),
            },
            now,
        );
    }

    let unavailable = (total.live - total.available).max(0);
    let mut st = Map::new();
    let mut put = |k: &str, v: i64| {
        if v != 0 {
            st.insert(k.into(), json!(v));
        }
    };
    put("observedGeneration", d.generation);
    put("replicas", i64::from(total.live));
    put("updatedReplicas", i64::from(updated));
    put("readyReplicas", i64::from(total.ready));
    put("availableReplicas", i64::from(total.available));
    put("unavailableReplicas", i64::from(unavailable));
    st.insert("terminatingReplicas".into(), json!(total.terminating));
    let collisions = u64::from(collision_count).max(
        d.status
            .get("collisionCount")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    );
    if collisions > 0 {
        st.insert("collisionCount".into(), json!(collisions));
    }
    let mut conds = base.clone();
    if total.available >= d.replicas - d.max_unavailable_for_availability() {
        conditions::set(
            &mut conds,
            &Condition {
                type_: "Available",
                status: "True",
                reason: "MinimumReplicasAvailable",
                message: "Deployment has minimum availability.".into(),
            },
            now,
        );
    } else {
        conditions::set(
            &mut conds,
            &Condition {
                type_: "Available",
                status: "False",
                reason: "MinimumReplicasUnavailable",
                message: "Deployment does not have minimum availability.".into(),
            },
            now,
        );
    }
    let mut status = Value::Object(st);
    if !d.paused {
        if !has_deadline {
            conditions::remove(&mut conds, "Progressing");
        }
        let current = conditions::get(&base, "Progressing");
        let replicas = status_int(&status, "replicas");
        let is_complete_deployment = replicas == status_int(&status, "updatedReplicas")
            && conditions::field(current, "reason") == Some("NewReplicaSetAvailable");
        if has_deadline && !is_complete_deployment {
            let rs_msg = |what: &str, fallback: &str| match new_name {
                Some(n) => format!("ReplicaSet \"{n}\" {what}"),
                None => format!("Deployment \"{}\" {fallback}", d.name),
            };
            let old = &d.status;
            let progressing = {
                let old_old = status_int(old, "replicas") - status_int(old, "updatedReplicas");
                let new_old = replicas - status_int(&status, "updatedReplicas");
                status_int(&status, "updatedReplicas") > status_int(old, "updatedReplicas")
                    || new_old < old_old
                    || status_int(&status, "readyReplicas") > status_int(old, "readyReplicas")
                    || status_int(&status, "availableReplicas") > status_int(old, "availableReplicas")
            };
            if is_complete(d, &status) {
                conditions::set(
                    &mut conds,
                    &Condition {
                        type_: "Progressing",
                        status: "True",
                        reason: "NewReplicaSetAvailable",
                        message: rs_msg("has successfully progressed.", "has successfully progressed."),
                    },
                    now,
                );
            } else if progressing {
                // Progress refreshes lastUpdateTime even when the reason stays the same.
                let transition = match current {
                    Some(c) if conditions::field(Some(c), "status") == Some("True") => {
                        conditions::field(Some(c), "lastTransitionTime").map(String::from)
                    }
                    _ => None,
                };
                conditions::remove(&mut conds, "Progressing");
                conds.push(conditions::make(
                    &Condition {
                        type_: "Progressing",
                        status: "True",
                        reason: "ReplicaSetUpdated",
                        message: rs_msg("is progressing.", "is progressing."),
                    },
                    now,
                    transition.as_deref(),
                ));
            } else if timed_out(d, &conds, step) {
                conditions::set(
                    &mut conds,
                    &Condition {
                        type_: "Progressing",
                        status: "False",
                        reason: "ProgressDeadlineExceeded",
                        message: rs_msg("has timed out progressing.", "has timed out progressing."),
                    },
                    now,
                );
            }
        }
    }
    if !conds.is_empty() {
        status["conditions"] = Value::Array(conds);
    }
    status
}

/// `DeploymentTimedOut`: the Progressing condition has not been updated for longer than the
/// progress deadline (by the server's clock, as the real controller compares timestamps).
fn timed_out(d: &DeploymentInput, conds: &[Value], step: &Step<'_>) -> bool {
    let Some(deadline) = d.progress_deadline else {
        return false;
    };
    let c = conditions::get(conds, "Progressing");
    match conditions::field(c, "reason") {
        None | Some("NewReplicaSetAvailable") => return false,
        Some("ProgressDeadlineExceeded") => return true,
        _ => {}
    }
    let Some(from) = conditions::field(c, "lastUpdateTime").and_then(|t| t.parse::<jiff::Timestamp>().ok())
    else {
        return false;
    };
    from + jiff::SignedDuration::from_secs(deadline) < step.wall
}

/// The ReplicaSet object to create for a set of `d`.
pub fn replica_set_object(d: &DeploymentInput, set: &SetOutcome, max_surge: i32) -> Value {
    let mut annotations: Map<String, Value> = d
        .annotations
        .iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(DESIRED_REPLICAS_ANNOTATION.into(), json!(d.replicas.to_string()));
    annotations.insert(
        MAX_REPLICAS_ANNOTATION.into(),
        json!((d.replicas + max_surge).to_string()),
    );
    annotations.insert(REVISION_ANNOTATION.into(), json!(set.revision.to_string()));
    let mut labels = set
        .template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    if let Some(l) = labels.as_object_mut() {
        l.insert(POD_TEMPLATE_HASH_LABEL.into(), json!(set.hash));
    }
    let mut selector = d.selector.clone();
    if let Some(s) = selector.as_object_mut() {
        let ml = s.entry("matchLabels").or_insert_with(|| json!({}));
        if let Some(ml) = ml.as_object_mut() {
            ml.insert(POD_TEMPLATE_HASH_LABEL.into(), json!(set.hash));
        }
    }
    let mut spec = json!({
        "replicas": set.counts.live,
        "selector": selector,
        "template": set.template,
    });
    if !d.min_ready.is_zero() {
        spec["minReadySeconds"] = json!(d.min_ready.as_secs());
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": set.name,
            "namespace": d.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": d.name,
                "uid": d.uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    })
}

/// An existing ReplicaSet with its annotations and `spec.replicas` brought in line, or `None`
/// when it already is (without copying it).
pub fn updated_replica_set(
    rs: &Value,
    d: &DeploymentInput,
    set: &SetOutcome,
    max_surge: i32,
    is_new: bool,
) -> Option<Value> {
    let mut wanted: Vec<(&str, String)> = vec![(REVISION_ANNOTATION, set.revision.to_string())];
    if is_new {
        wanted.push((DESIRED_REPLICAS_ANNOTATION, d.replicas.to_string()));
        wanted.push((MAX_REPLICAS_ANNOTATION, (d.replicas + max_surge).to_string()));
    }
    let annotations = rs.pointer("/metadata/annotations").and_then(Value::as_object);
    let current = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str);
    let in_line = wanted.iter().all(|(k, v)| current(k) == Some(v.as_str()))
        && rs.pointer("/spec/replicas").and_then(Value::as_i64) == Some(i64::from(set.counts.live));
    if in_line {
        return None;
    }
    let mut rs = rs.clone();
    let m = rs.as_object_mut()?;
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if !ann.is_object() {
            *ann = json!({});
        }
        for (k, v) in wanted {
            ann[k] = json!(v);
        }
    }
    let spec = m.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.insert("replicas".into(), json!(set.counts.live));
    }
    Some(rs)
}

/// The status a ReplicaSet's status subresource should hold.
pub fn replica_set_status(set: &SetOutcome, observed_generation: i64) -> Value {
    let mut st = Map::new();
    st.insert("replicas".into(), json!(set.counts.live));
    let c = set.counts;
    for (k, v) in [
        ("fullyLabeledReplicas", c.live),
        ("readyReplicas", c.ready),
        ("availableReplicas", c.available),
    ] {
        if v != 0 {
            st.insert(k.into(), json!(v));
        }
    }
    st.insert("terminatingReplicas".into(), json!(c.terminating));
    if observed_generation > 0 {
        st.insert("observedGeneration".into(), json!(observed_generation));
    }
    Value::Object(st)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use jiff::Timestamp;

    use super::super::config::{Behaviour, Knobs, RolloutMode, SimulatorConfig};
    use super::super::kubelet::SecretData;
    use super::*;

    type Secrets = BTreeMap<(String, String), Arc<SecretData>>;

    fn deployment(replicas: i32, restarted: &str) -> Value {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"restartedAt": restarted}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {}
        });
        if restarted != "0" {
            v["metadata"]["generation"] = json!(2);
        }
        v
    }

    struct World {
        d: Value,
        sim: DeploymentSim,
        behaviour: Behaviour,
        secrets: Secrets,
        now: Duration,
        wall: Timestamp,
        history: Vec<Value>,
    }

    impl World {
        fn new(d: Value, mode: RolloutMode) -> Self {
            World {
                d,
                sim: DeploymentSim::default(),
                behaviour: Knobs {
                    rollout: Some(mode),
                    ..Default::default()
                }
                .resolve(&Knobs::default(), &SimulatorConfig::default()),
                secrets: Secrets::new(),
                now: Duration::ZERO,
                wall: "2026-01-01T00:00:00Z".parse().unwrap(),
                history: vec![],
            }
        }

        /// Reconciles, stores the status, and advances time to the next wake (at most `max`).
        fn tick(&mut self, max: Duration) -> DeploymentOutcome {
            let input = DeploymentInput::from_object(&self.d);
            let step = Step {
                now: self.now,
                wall: self.wall,
                namespace: "ns",
                behaviour: &self.behaviour,
                secrets: &self.secrets,
                min_ready: input.min_ready,
            };
            let out = reconcile(&input, &mut self.sim, &step, Duration::from_secs(1));
            self.d["status"] = out.status.clone();
            self.history.push(out.status.clone());
            let dt = out.next_wake.map(|w| w - self.now).unwrap_or(max).min(max);
            self.now += dt;
            self.wall += jiff::SignedDuration::try_from(dt).unwrap();
            out
        }

        fn run_until(&mut self, max_steps: usize, done: impl Fn(&Value) -> bool) -> DeploymentOutcome {
            for _ in 0..max_steps {
                let out = self.tick(Duration::from_secs(1));
                if done(&out.status) {
                    return out;
                }
            }
            panic!("not done after {max_steps} steps: {}", self.d["status"]);
        }
    }

    fn reason(status: &Value, type_: &str) -> String {
        conditions::field(conditions::get(conditions_of(status), type_), "reason")
            .unwrap_or("")
            .to_string()
    }

    fn complete(s: &Value) -> bool {
        reason(s, "Progressing") == "NewReplicaSetAvailable" && s["terminatingReplicas"] == 0
    }

    #[test]
    fn a_new_deployment_settles_like_the_recording() {
        let mut w = World::new(deployment(2, "0"), RolloutMode::Normal);
        let first = w.tick(Duration::from_secs(1));
        assert_eq!(first.sets.len(), 1);
        let rs = &first.sets[0];
        assert_eq!(rs.name, format!("web-{}", rs.hash));
        assert_eq!(reason(&first.status, "Progressing"), "ReplicaSetUpdated");
        assert_eq!(reason(&first.status, "Available"), "MinimumReplicasUnavailable");
        let out = w.run_until(20, complete);
        assert_eq!(
            out.status,
            json!({
                "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                "availableReplicas": 2, "terminatingReplicas": 0,
                "conditions": out.status["conditions"].clone()
            })
        );
        let conds = conditions_of(&out.status);
        assert_eq!(conds[0]["type"], "Available");
        assert_eq!(conds[0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(conds[0]["message"], "Deployment has minimum availability.");
        assert_eq!(conds[1]["type"], "Progressing");
        assert_eq!(
            conds[1]["message"],
            format!("ReplicaSet \"{}\" has successfully progressed.", out.sets[0].name)
        );
        assert_eq!(out.revision, Some(1));
    }

    #[test]
    fn a_template_change_rolls_within_surge_and_keeps_availability() {
        let mut w = World::new(deployment(4, "0"), RolloutMode::Normal);
        let before = w.run_until(20, complete);
        let old_name = before.sets[0].name.clone();
        let status = w.d["status"].clone();
        w.d = deployment(4, "restart-1");
        w.d["status"] = status;
        let first = w.tick(Duration::from_secs(1));
        assert_eq!(first.sets.len(), 2);
        assert_eq!(first.revision, Some(2));
        assert_eq!(first.status["observedGeneration"], 2);
        let new_name = first.new_set.clone().unwrap();
        assert_ne!(new_name, old_name);
        let out = w.run_until(50, complete);
        assert_eq!(out.status["updatedReplicas"], 4);
        assert_eq!(out.status["availableReplicas"], 4);
        // maxSurge 25% of 4 = 1, maxUnavailable 25% of 4 = 1: never more than 5 live or fewer than
        // 3 available at any step.
        for s in &w.history {
            let live = s["replicas"].as_i64().unwrap_or(0);
            assert!(live <= 5, "{s}");
            if s["observedGeneration"] == 2 {
                assert!(s["availableReplicas"].as_i64().unwrap_or(0) >= 3, "{s}");
            }
        }
        let reasons: Vec<String> = w.history.iter().map(|s| reason(s, "Progressing")).collect();
        assert!(
            reasons.contains(&"NewReplicaSetCreated".to_string())
                || reasons.contains(&"ReplicaSetUpdated".to_string())
        );
        // The old set stays (scaled to zero) as history.
        let old = out.sets.iter().find(|s| s.name == old_name).unwrap();
        assert_eq!(old.counts.live, 0);
        assert_eq!(old.revision, 1);
    }

    #[test]
    fn a_stalled_rollout_exceeds_its_deadline_and_recovers() {
        let mut w = World::new(deployment(2, "0"), RolloutMode::Normal);
        w.d["spec"]["progressDeadlineSeconds"] = json!(5);
        w.run_until(20, complete);
        let status = w.d["status"].clone();
        w.d = deployment(2, "r1");
        w.d["spec"]["progressDeadlineSeconds"] = json!(5);
        w.d["status"] = status;
        w.behaviour.rollout = RolloutMode::Stall;
        let out = w.run_until(30, |s| reason(s, "Progressing") == "ProgressDeadlineExceeded");
        assert_eq!(
            conditions::field(
                conditions::get(conditions_of(&out.status), "Progressing"),
                "status"
            ),
            Some("False")
        );
        assert!(
            conditions::field(
                conditions::get(conditions_of(&out.status), "Progressing"),
                "message"
            )
            .unwrap()
            .ends_with("has timed out progressing.")
        );
        // Old replicas keep serving: still available.
        assert_eq!(reason(&out.status, "Available"), "MinimumReplicasAvailable");
        assert_eq!(out.status["updatedReplicas"], 1);
        assert!(
            out.next_wake.is_none(),
            "nothing happens on its own while stalled"
        );
        w.behaviour.rollout = RolloutMode::Normal;
        let out = w.run_until(30, complete);
        assert_eq!(out.status["updatedReplicas"], 2);
    }

    #[test]
    fn a_failing_rollout_holds_old_replicas() {
        let mut w = World::new(deployment(2, "0"), RolloutMode::Normal);
        w.run_until(20, complete);
        let status = w.d["status"].clone();
        w.d = deployment(2, "r1");
        w.d["status"] = status;
        w.behaviour.rollout = RolloutMode::Fail;
        for _ in 0..20 {
            w.tick(Duration::from_secs(1));
        }
        let s = &w.d["status"];
        assert_eq!(s["updatedReplicas"], 1);
        assert_eq!(s["availableReplicas"], 2);
        assert_eq!(s["replicas"], 3);
        let new = w.sim.sets.last().unwrap();
        assert!(new.replicas[0].restarts > 0);
    }

    #[test]
    fn recreate_stops_old_replicas_before_starting_new_ones() {
        let mut w = World::new(deployment(2, "0"), RolloutMode::Normal);
        w.d["spec"]["strategy"] = json!({"type": "Recreate"});
        w.run_until(20, complete);
        let status = w.d["status"].clone();
        w.d = deployment(2, "r1");
        w.d["spec"]["strategy"] = json!({"type": "Recreate"});
        w.d["status"] = status;
        let first = w.tick(Duration::from_secs(1));
        let new = first
            .sets
            .iter()
            .find(|s| Some(&s.name) == first.new_set.as_ref())
            .unwrap();
        assert_eq!(new.counts.live, 0);
        assert_eq!(first.status["terminatingReplicas"], 2);
        let out = w.run_until(20, complete);
        assert_eq!(out.status["updatedReplicas"], 2);
    }

    #[test]
    fn scaling_and_history_limit() {
        let mut w = World::new(deployment(1, "0"), RolloutMode::Normal);
        w.d["spec"]["revisionHistoryLimit"] = json!(1);
        w.run_until(20, complete);
        for r in ["a", "b", "c"] {
            let status = w.d["status"].clone();
            w.d = deployment(1, r);
            w.d["spec"]["revisionHistoryLimit"] = json!(1);
            w.d["status"] = status;
            w.run_until(30, |s| complete(s) && s["observedGeneration"] == 2);
        }
        assert_eq!(w.sim.sets.len(), 2, "the current set and one old one");
        w.d["spec"]["replicas"] = json!(3);
        let out = w.run_until(20, |s| s["availableReplicas"] == 3);
        assert_eq!(out.status["replicas"], 3);
        w.d["spec"]["replicas"] = json!(0);
        let out = w.run_until(20, |s| {
            s.get("replicas").is_none() && s["terminatingReplicas"] == 0
        });
        assert_eq!(reason(&out.status, "Available"), "MinimumReplicasAvailable");
    }

    #[test]
    fn paused_deployments_do_not_roll_and_say_so() {
        let mut w = World::new(deployment(1, "0"), RolloutMode::Normal);
        w.run_until(20, complete);
        let status = w.d["status"].clone();
        w.d = deployment(1, "r1");
        w.d["spec"]["paused"] = json!(true);
        w.d["status"] = status;
        let out = w.tick(Duration::from_secs(1));
        assert_eq!(out.sets.len(), 1);
        assert_eq!(reason(&out.status, "Progressing"), "DeploymentPaused");
        w.d["spec"]["paused"] = json!(false);
        let out = w.run_until(20, complete);
        assert_eq!(out.sets.len(), 2);
    }

    #[test]
    fn replica_set_objects_carry_the_hash_owner_and_annotations() {
        let mut w = World::new(deployment(2, "0"), RolloutMode::Normal);
        w.d["metadata"]["annotations"] =
            json!({"team": "a", "kubectl.kubernetes.io/last-applied-configuration": "{}"});
        let out = w.tick(Duration::from_secs(1));
        let input = DeploymentInput::from_object(&w.d);
        let rs = replica_set_object(&input, &out.sets[0], out.max_surge);
        let hash = &out.sets[0].hash;
        assert_eq!(rs["metadata"]["labels"]["pod-template-hash"], json!(hash));
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"]["pod-template-hash"],
            json!(hash)
        );
        assert_eq!(
            rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"],
            json!(hash)
        );
        assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
            "1"
        );
        assert_eq!(
            rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
            "3"
        );
        assert_eq!(rs["metadata"]["annotations"]["team"], "a");
        assert!(
            rs["metadata"]["annotations"]
                .get("kubectl.kubernetes.io/last-applied-configuration")
                .is_none()
        );
        let mut stored = rs.clone();
        assert!(updated_replica_set(&stored, &input, &out.sets[0], out.max_surge, true).is_none());
        stored["spec"]["replicas"] = json!(5);
        let fixed = updated_replica_set(&stored, &input, &out.sets[0], out.max_surge, true).unwrap();
        assert_eq!(fixed["spec"]["replicas"], 2);
        let st = replica_set_status(&out.sets[0], 1);
        assert_eq!(st["replicas"], 2);
        assert_eq!(st["observedGeneration"], 1);
    }
}
