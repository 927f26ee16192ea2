//! The simulator's I/O shell: follows the store's change feed, keeps per-workload timers, runs
//! the pure controllers, and writes their decisions (ReplicaSets, ControllerRevisions, status,
//! the Deployment revision annotation) through the API server's verbs as
//! `kube-controller-manager`.
//!
//! Invariants: it reacts only to changes that matter (creation, a generation bump, a knob
//! annotation, a Secret a workload uses, a deleted ReplicaSet), never to its own status and
//! ReplicaSet writes, so a settled cluster costs nothing; it writes only what differs from what is
//! stored; it holds a weak reference to the server and ends with it; while paused it records
//! work but does none.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use super::config::Knobs;
use super::daemonset::{self, DaemonSetInput};
use super::deployment::{self, DeploymentInput, REVISION_ANNOTATION};
use super::kubelet::{SecretData, SecretSource};
use super::replica::Step;
use super::revisions::{self, Owner, RevisionSim, RevisionedOutcome};
use super::statefulset::{self, StatefulSetInput};
use super::{Behaviour, Simulator, State, WorkloadKind, WorkloadRef};
use crate::apiserver::operations::is_terminating;
use crate::apiserver::resources::{ResourceKey, ResourceType};
use crate::apiserver::status::ApiError;
use crate::apiserver::store::{Change, ChangeKind, StoredObject};
use crate::apiserver::{ApiServer, DeleteOptions, Shared, WriteOptions};

/// The field manager the simulator writes as.
pub const MANAGER: &str = "kube-controller-manager";

/// Delay before retrying a reconcile whose writes failed.
const RETRY: Duration = Duration::from_millis(200);

/// Secrets as the kubelet reads them: from the store, `data` decoded.
struct StoreSecrets<'a>(&'a Shared);

impl SecretSource for StoreSecrets<'_> {
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretData>> {
        let obj = self
            .0
            .store
            .get(&ResourceKey::new("", "secrets"), namespace, name)?;
        let data = obj
            .value
            .get("data")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(v.as_str()?)
                            .ok()?;
                        Some((k.clone(), bytes))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Arc::new(data))
    }
}

fn annotations(v: &Value) -> BTreeMap<String, String> {
    v.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn knob_annotations(v: &Value) -> Vec<(String, String)> {
    annotations(v)
        .into_iter()
        .filter(|(k, _)| k.starts_with("sandbox.secret-rotator.dev/"))
        .collect()
}

fn generation(v: &Value) -> i64 {
    v.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn owner_uid(v: &Value) -> Option<&str> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// Runs until the server is dropped.
pub(crate) async fn run(weak: Weak<Shared>, sim: Arc<Simulator>) {
    let Some(shared) = weak.upgrade() else { return };
    let mut changes = shared.store.subscribe();
    {
        let mut st = sim.lock();
        st.now();
        for kind in WorkloadKind::ALL {
            for obj in shared.store.all(&ResourceKey::new("apps", kind.plural()), None) {
                let (ns, name) = crate::apiserver::store::key_of(&obj.value);
                st.dirty.insert(WorkloadRef::new(kind, &ns, &name));
            }
        }
    }
    drop(shared);
    loop {
        let next = {
            let Some(shared) = weak.upgrade() else { return };
            while let Ok(change) = changes.try_recv() {
                note(&sim, &change);
            }
            process(&shared, &sim);
            let st = sim.lock();
            st.timers.first().map(|(at, _)| *at).zip(st.epoch)
        };
        let sleep_until = match next {
            Some((at, epoch)) => epoch + at,
            None => tokio::time::Instant::now() + Duration::from_secs(3600),
        };
        tokio::select! {
            change = changes.recv() => match change {
                Some(change) => note(&sim, &change),
                None => return,
            },
            _ = tokio::time::sleep_until(sleep_until) => {}
            _ = sim.wake.notified() => {}
        }
    }
}

/// Records what a change means for the simulator.
fn note(sim: &Simulator, change: &Change) {
    let mut st = sim.lock();
    let now = st.now();
    if change.key.group == "apps" {
        if let Some(kind) = WorkloadKind::from_plural(&change.key.plural) {
            let w = WorkloadRef::new(kind, &change.namespace, &change.name);
            match change.kind {
                ChangeKind::Deleted => st.forget(&w),
                ChangeKind::Added => {
                    st.dirty.insert(w);
                }
                ChangeKind::Modified => {
                    let cur = &change.object.value;
                    let relevant = match &change.previous {
                        None => true,
                        Some(prev) => {
                            generation(&prev.value) != generation(cur)
                                || knob_annotations(&prev.value) != knob_annotations(cur)
                                || prev.value.pointer("/metadata/uid") != cur.pointer("/metadata/uid")
                        }
                    };
                    if relevant {
                        st.dirty.insert(w);
                    }
                }
            }
            return;
        }
        if change.key.plural == "replicasets" && change.kind == ChangeKind::Deleted {
            // A deleted ReplicaSet of a Deployment is recreated, its replicas gone with it.
            let Some(uid) = owner_uid(&change.object.value) else {
                return;
            };
            let owner = st
                .deployments
                .iter()
                .find(|(w, d)| d.uid == uid && w.namespace == change.namespace)
                .map(|(w, _)| w.clone());
            if let Some(w) = owner {
                if let Some(d) = st.deployments.get_mut(&w) {
                    d.sets.retain(|s| s.name != change.name);
                }
                st.dirty.insert(w);
            }
        }
        return;
    }
    if change.key.group.is_empty() && change.key.plural == "secrets" {
        let users: Vec<WorkloadRef> = st
            .secret_users
            .get(&(change.namespace.clone(), change.name.clone()))
            .map(|u| u.iter().cloned().collect())
            .unwrap_or_default();
        for w in users {
            let delay = sim.config.volume_sync_delay;
            let name = change.name.as_str();
            let touch = |r: &mut super::replica::Replica| {
                r.secret_changed(name, now, delay);
                r.retry_start(now);
            };
            match w.kind {
                WorkloadKind::Deployment => {
                    if let Some(d) = st.deployments.get_mut(&w) {
                        d.sets
                            .iter_mut()
                            .flat_map(|s| s.replicas.iter_mut())
                            .for_each(touch);
                    }
                }
                WorkloadKind::StatefulSet => {
                    if let Some(s) = st.statefulsets.get_mut(&w) {
                        s.pods.values_mut().flatten().for_each(touch);
                    }
                }
                WorkloadKind::DaemonSet => {
                    if let Some(d) = st.daemonsets.get_mut(&w) {
                        d.pods.iter_mut().for_each(touch);
                    }
                }
            }
            st.dirty.insert(w);
        }
    }
}

/// Reconciles every workload that is dirty or whose timer is due (unless paused).
fn process(shared: &Arc<Shared>, sim: &Simulator) {
    let mut st = sim.lock();
    if st.paused {
        return;
    }
    let now = st.now();
    while let Some((at, w)) = st.timers.first().cloned() {
        if at > now {
            break;
        }
        st.timers.pop_first();
        st.scheduled.remove(&w);
        st.dirty.insert(w);
    }
    let dirty = std::mem::take(&mut st.dirty);
    let api = ApiServer {
        shared: shared.clone(),
    };
    for w in dirty {
        let next = match w.kind {
            WorkloadKind::Deployment => sync_deployment(&api, sim, &mut st, &w, now),
            WorkloadKind::StatefulSet => sync_statefulset(&api, sim, &mut st, &w, now),
            WorkloadKind::DaemonSet => sync_daemonset(&api, sim, &mut st, &w, now),
        };
        st.schedule(&w, next);
    }
}

fn behaviour(sim: &Simulator, st: &State, w: &WorkloadRef, object: &Value) -> Behaviour {
    let (from_annotations, errors) = Knobs::from_annotations(&annotations(object));
    for e in errors {
        tracing::warn!(workload = %w.name, namespace = %w.namespace, error = %e, "workload simulator: ignoring knob");
    }
    st.overrides
        .get(w)
        .cloned()
        .unwrap_or_default()
        .resolve(&from_annotations, &sim.config)
}

fn resource(api: &ApiServer, plural: &str) -> Option<Arc<ResourceType>> {
    api.resource("apps", "v1", plural)
}

/// Read-modify-write through the server's update path (as [`MANAGER`]), retrying conflicts.
/// `change` sees the stored object and returns the object to write, or `None` to leave it; an
/// unchanged object is never copied. Returns the stored result (`None`: left alone).
// NB: not `ApiServer::modify`, which copies the object to return it even when nothing changes;
// the simulator makes most of its writes in bulk and most of its checks find nothing to do.
fn update_if(
    shared: &Shared,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    status_only: bool,
    mut change: impl FnMut(&Value) -> Option<Value>,
) -> Result<Option<Arc<StoredObject>>, ApiError> {
    let opts = WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    loop {
        let current = shared.get(rt, namespace, name)?;
        let Some(next) = change(&current.value) else {
            return Ok(None);
        };
        match shared.update(rt, namespace, name, next, status_only.then_some("status"), &opts) {
            Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
            other => return other.map(|r| Some(r.object)),
        }
    }
}

/// Creates an object as [`MANAGER`]; returns it as stored.
fn create(
    shared: &Shared,
    rt: &ResourceType,
    namespace: &str,
    object: Value,
) -> Result<Arc<StoredObject>, ApiError> {
    let opts = WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    shared.create(rt, namespace, object, &opts).map(|r| r.object)
}

/// Writes `status` (and, for Deployments, the revision annotation, which kube-controller-manager
/// sets through `/status` too) to a workload's status subresource if it differs and the workload
/// is still at `generation_seen`. `false` when the write failed.
fn write_status(
    api: &ApiServer,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    generation_seen: i64,
    status: &Value,
    annotation: Option<(&str, &str)>,
) -> bool {
    let annotation_differs = |v: &Value| {
        annotation.is_some_and(|(k, want)| {
            v.pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                != Some(want)
        })
    };
    let result = update_if(&api.shared, rt, namespace, name, true, |v| {
        if generation(v) != generation_seen || (v.get("status") == Some(status) && !annotation_differs(v)) {
            return None;
        }
        let mut v = v.clone();
        if let Some((k, want)) = annotation
            && let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut)
        {
            let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
            if !annotations.is_object() {
                *annotations = json!({});
            }
            annotations[k] = json!(want);
        }
        v["status"] = status.clone();
        Some(v)
    });
    match result {
        Ok(_) => true,
        Err(e) if e.code == 404 => true,
        Err(e) => {
            tracing::debug!(object = %name, error = %e, "workload simulator: status write failed");
            false
        }
    }
}

/// The stored workload `w`, if there is anything to reconcile: `None` (and `w` forgotten) once it
/// is gone, `None` while it is being deleted.
fn workload_to_reconcile(
    api: &ApiServer,
    st: &mut State,
    rt: &ResourceType,
    w: &WorkloadRef,
) -> Option<Arc<StoredObject>> {
    let Some(obj) = api.shared.store.get(&rt.key(), &w.namespace, &w.name) else {
        st.forget(w);
        return None;
    };
    if is_terminating(&obj.value) {
        // Being deleted (e.g. foreground): the garbage collector removes what it owns; creating
        // anything now would only feed it more, as the real controllers know.
        return None;
    }
    Some(obj)
}

fn sync_deployment(
    api: &ApiServer,
    sim: &Simulator,
    st: &mut State,
    w: &WorkloadRef,
    now: Duration,
) -> Option<Duration> {
    let (Some(rt), Some(rs_rt)) = (resource(api, "deployments"), resource(api, "replicasets")) else {
        return None;
    };
    let obj = workload_to_reconcile(api, st, &rt, w)?;
    let input = DeploymentInput::from_object(&obj.value);
    let behaviour = behaviour(sim, st, w, &obj.value);
    let secrets = StoreSecrets(&api.shared);
    let step = Step {
        now,
        wall: api.shared.now(),
        namespace: &w.namespace,
        behaviour: &behaviour,
        secrets: &secrets,
        min_ready: input.min_ready,
    };
    let d = st.deployments.entry(w.clone()).or_default();
    if d.uid != input.uid {
        *d = deployment::DeploymentSim {
            uid: input.uid.clone(),
            ..Default::default()
        };
    }
    let out = deployment::reconcile(&input, d, &step, sim.config.deadline_recheck);
    let used: BTreeSet<String> = d
        .sets
        .iter()
        .flat_map(|s| s.parsed.secrets().iter().cloned())
        .collect();
    st.set_secrets(w, used);

    let mut ok = true;
    for set in &out.sets {
        let is_new = out.new_set.as_deref() == Some(set.name.as_str());
        let existing = api.shared.store.get(&rs_rt.key(), &w.namespace, &set.name);
        let rs_generation = match existing {
            Some(rs) if owner_uid(&rs.value) != Some(input.uid.as_str()) => {
                tracing::warn!(replicaset = %set.name, "workload simulator: ReplicaSet name taken by another owner");
                continue;
            }
            Some(rs) => update_if(&api.shared, &rs_rt, &w.namespace, &set.name, false, |v| {
                deployment::updated_replica_set(v, &input, set, out.max_surge, is_new)
            })
            .map(|written| written.unwrap_or(rs)),
            None => create(
                &api.shared,
                &rs_rt,
                &w.namespace,
                deployment::replica_set_object(&input, set, out.max_surge),
            ),
        };
        let rs_generation = match rs_generation {
            Ok(rs) => generation(&rs.value),
            Err(e) => {
                tracing::debug!(replicaset = %set.name, error = %e, "workload simulator: ReplicaSet write failed");
                ok = false;
                continue;
            }
        };
        let status = deployment::replica_set_status(set, rs_generation);
        ok &= write_status(api, &rs_rt, &w.namespace, &set.name, rs_generation, &status, None);
    }
    for name in &out.removed_sets {
        if let Err(e) = api.delete(&rs_rt, &w.namespace, name, &DeleteOptions::default())
            && e.code != 404
        {
            ok = false;
        }
    }
    let revision = out.revision.map(|r| r.to_string());
    ok &= write_status(
        api,
        &rt,
        &w.namespace,
        &w.name,
        input.generation,
        &out.status,
        revision.as_deref().map(|r| (REVISION_ANNOTATION, r)),
    );
    retry_if_failed(out.next_wake, ok, now)
}

fn retry_if_failed(next: Option<Duration>, ok: bool, now: Duration) -> Option<Duration> {
    if ok {
        next
    } else {
        Some(next.map_or(now + RETRY, |n| n.min(now + RETRY)))
    }
}

/// Creates or renumbers a workload's ControllerRevisions and deletes trimmed ones.
fn write_revisions(
    api: &ApiServer,
    owner: Owner,
    w: &WorkloadRef,
    uid: &str,
    revisions: &[RevisionSim],
    removed: &[String],
) -> bool {
    let Some(rt) = resource(api, "controllerrevisions") else {
        return false;
    };
    let mut ok = true;
    for rev in revisions {
        let result = match api.shared.store.get(&rt.key(), &w.namespace, &rev.name) {
            Some(existing) if owner_uid(&existing.value) != Some(uid) => continue,
            Some(_) => update_if(&api.shared, &rt, &w.namespace, &rev.name, false, |v| {
                if v.get("revision").and_then(Value::as_i64) == Some(rev.revision) {
                    return None;
                }
                let mut v = v.clone();
                v["revision"] = json!(rev.revision);
                Some(v)
            })
            .map(|_| ()),
            None => create(
                &api.shared,
                &rt,
                &w.namespace,
                revisions::object(owner, &w.name, &w.namespace, uid, rev),
            )
            .map(|_| ()),
        };
        ok &= result.is_ok();
    }
    for name in removed {
        if let Err(e) = api.delete(&rt, &w.namespace, name, &DeleteOptions::default())
            && e.code != 404
        {
            ok = false;
        }
    }
    ok
}

/// The Secrets the pods of `revisions` use.
fn secrets_used(revisions: &[RevisionSim]) -> BTreeSet<String> {
    revisions
        .iter()
        .flat_map(|r| r.parsed.secrets().iter().cloned())
        .collect()
}

/// Writes what a controller whose history is ControllerRevisions (StatefulSet, DaemonSet) decided
/// for workload `w` (of resource `rt`, uid `uid`, seen at `generation`): its revisions, then its
/// status. `false` when a write failed.
fn write_revisioned(
    api: &ApiServer,
    rt: &ResourceType,
    owner: Owner,
    w: &WorkloadRef,
    uid: &str,
    generation: i64,
    out: &RevisionedOutcome,
) -> bool {
    let revisions_ok = write_revisions(api, owner, w, uid, &out.revisions, &out.removed_revisions);
    // NB: the status is written even when a revision write failed; either failure retries the
    // whole reconcile (see `retry_if_failed`).
    let status_ok = write_status(api, rt, &w.namespace, &w.name, generation, &out.status, None);
    revisions_ok && status_ok
}

fn sync_statefulset(
    api: &ApiServer,
    sim: &Simulator,
    st: &mut State,
    w: &WorkloadRef,
    now: Duration,
) -> Option<Duration> {
    let rt = resource(api, "statefulsets")?;
    let obj = workload_to_reconcile(api, st, &rt, w)?;
    let input = StatefulSetInput::from_object(&obj.value);
    let uid = obj.uid().unwrap_or("").to_string();
    let behaviour = behaviour(sim, st, w, &obj.value);
    let secrets = StoreSecrets(&api.shared);
    let step = Step {
        now,
        wall: api.shared.now(),
        namespace: &w.namespace,
        behaviour: &behaviour,
        secrets: &secrets,
        min_ready: input.min_ready,
    };
    let s = st.statefulsets.entry(w.clone()).or_default();
    if s.uid != uid {
        *s = statefulset::StatefulSetSim {
            uid: uid.clone(),
            ..Default::default()
        };
    }
    let out = statefulset::reconcile(&input, s, &step);
    let used = secrets_used(&s.revisions);
    st.set_secrets(w, used);
    let ok = write_revisioned(api, &rt, Owner::StatefulSet, w, &uid, input.generation, &out);
    retry_if_failed(out.next_wake, ok, now)
}

fn sync_daemonset(
    api: &ApiServer,
    sim: &Simulator,
    st: &mut State,
    w: &WorkloadRef,
    now: Duration,
) -> Option<Duration> {
    let rt = resource(api, "daemonsets")?;
    let obj = workload_to_reconcile(api, st, &rt, w)?;
    let input = DaemonSetInput::from_object(&obj.value);
    let uid = obj.uid().unwrap_or("").to_string();
    let behaviour = behaviour(sim, st, w, &obj.value);
    let secrets = StoreSecrets(&api.shared);
    let step = Step {
        now,
        wall: api.shared.now(),
        namespace: &w.namespace,
        behaviour: &behaviour,
        secrets: &secrets,
        min_ready: input.min_ready,
    };
    let d = st.daemonsets.entry(w.clone()).or_default();
    if d.uid != uid {
        *d = daemonset::DaemonSetSim {
            uid: uid.clone(),
            ..Default::default()
        };
    }
    let out = daemonset::reconcile(&input, d, sim.config.nodes, &step);
    let used = secrets_used(&d.revisions);
    st.set_secrets(w, used);
    let ok = write_revisioned(api, &rt, Owner::DaemonSet, w, &uid, input.generation, &out);
    retry_if_failed(out.next_wake, ok, now)
}
