//! The background collector: what kube-controller-manager's garbage collector, namespace
//! controller and kube-apiserver's CRD finalizer do, reacting to store changes.
//!
//! * dependents (by `metadata.ownerReferences`) of a deleted owner are deleted, or lose the owner
//!   reference when another owner still exists;
//! * an owner deleted with `propagationPolicy=Foreground` keeps its `foregroundDeletion` finalizer
//!   until its dependents are gone; with `Orphan`, its dependents lose their references first;
//! * a terminating namespace is emptied, then removed;
//! * a terminating CRD has its instances deleted, then its cleanup finalizer removed.
//!
//! Invariant: the collector is level-triggered: it rescans everything when it starts (so a
//! restart on another runtime loses nothing) and afterwards retries pending work until the
//! condition it waits for holds. It holds only a weak reference, so it ends with the server.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use super::Shared;
use super::operations::{
    CRD_CLEANUP_FINALIZER, DeleteOptions, FOREGROUND_FINALIZER, ORPHAN_FINALIZER, Propagation, WriteOptions,
    finalizers, is_terminating,
};
use super::resources::ResourceKey;
use super::store::{Change, ChangeKind, ObjectRef, StoredObject, Write, key_of};

const MANAGER: &str = "kube-controller-manager";

#[derive(Default)]
struct Work {
    gone_owners: VecDeque<String>,
    pending: BTreeSet<ObjectRef>,
    dangling_check: BTreeSet<ObjectRef>,
}

fn namespaces_key() -> ResourceKey {
    ResourceKey::new("", "namespaces")
}

fn crds_key() -> ResourceKey {
    ResourceKey::new("apiextensions.k8s.io", "customresourcedefinitions")
}

fn needs_finalizing(key: &ResourceKey, v: &Value) -> bool {
    if !is_terminating(v) {
        return false;
    }
    if *key == namespaces_key() {
        return true;
    }
    finalizers(v)
        .iter()
        .any(|f| f == FOREGROUND_FINALIZER || f == ORPHAN_FINALIZER || f == CRD_CLEANUP_FINALIZER)
}

fn has_owners(v: &Value) -> bool {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn object_ref(key: &ResourceKey, v: &Value) -> ObjectRef {
    let (namespace, name) = key_of(v);
    ObjectRef {
        key: key.clone(),
        namespace,
        name,
    }
}

impl Work {
    fn note(&mut self, change: &Change) {
        let r = ObjectRef {
            key: change.key.clone(),
            namespace: change.namespace.clone(),
            name: change.name.clone(),
        };
        match change.kind {
            ChangeKind::Deleted => {
                if let Some(uid) = change.object.uid() {
                    self.gone_owners.push_back(uid.to_string());
                }
            }
            ChangeKind::Added | ChangeKind::Modified => {
                if needs_finalizing(&change.key, &change.object.value) {
                    self.pending.insert(r.clone());
                }
                if change.kind == ChangeKind::Added && has_owners(&change.object.value) {
                    self.dangling_check.insert(r);
                }
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.gone_owners.is_empty() && self.pending.is_empty() && self.dangling_check.is_empty()
    }
}

/// Runs until the server is dropped.
pub(crate) async fn run(weak: Weak<Shared>) {
    let Some(shared) = weak.upgrade() else { return };
    let mut changes = shared.store.subscribe();
    let mut work = Work::default();
    initial_scan(&shared, &mut work);
    drop(shared);
    loop {
        {
            let Some(shared) = weak.upgrade() else { return };
            while let Ok(change) = changes.try_recv() {
                work.note(&change);
            }
            step(&shared, &mut work);
        }
        let wait = if work.is_idle() {
            Duration::from_secs(5)
        } else {
            Duration::from_millis(50)
        };
        tokio::select! {
            change = changes.recv() => match change {
                Some(change) => work.note(&change),
                None => return,
            },
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn initial_scan(shared: &Shared, work: &mut Work) {
    let keys: Vec<ResourceKey> = {
        let reg = shared.registry();
        let mut keys: Vec<ResourceKey> = reg.all().map(|t| t.key()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    for key in keys {
        for obj in shared.store.all(&key, None) {
            if needs_finalizing(&key, &obj.value) {
                work.pending.insert(object_ref(&key, &obj.value));
            }
            if has_owners(&obj.value) {
                work.dangling_check.insert(object_ref(&key, &obj.value));
            }
        }
    }
}

fn step(shared: &Shared, work: &mut Work) {
    while let Some(uid) = work.gone_owners.pop_front() {
        for dep in shared.store.dependents_of(&uid) {
            release_dependent(shared, &dep);
        }
    }
    for r in std::mem::take(&mut work.dangling_check) {
        release_dependent(shared, &r);
    }
    let pending: Vec<ObjectRef> = work.pending.iter().cloned().collect();
    for r in pending {
        if finalize(shared, &r) {
            work.pending.remove(&r);
        }
    }
}

fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn delete(shared: &Shared, r: &ObjectRef, propagation: Propagation) {
    let Some(rt) = shared.registry().any_version(&r.key) else {
        return;
    };
    let opts = DeleteOptions {
        propagation,
        ..Default::default()
    };
    if let Err(e) = shared.delete(&rt, &r.namespace, &r.name, &opts) {
        tracing::debug!(error = %e, name = %r.name, "collector delete failed");
    }
}

/// Rewrites an object through the normal update path (retrying later on conflict).
fn rewrite(shared: &Shared, r: &ObjectRef, obj: &StoredObject, change: impl FnOnce(&mut Value)) {
    let Some(rt) = shared.registry().any_version(&r.key) else {
        return;
    };
    let mut next = obj.value.clone();
    change(&mut next);
    let opts = WriteOptions {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    if let Err(e) = shared.update(&rt, &r.namespace, &r.name, next, None, &opts) {
        tracing::debug!(error = %e, name = %r.name, "collector update failed");
    }
}

/// A dependent whose owners are all gone is deleted; one that still has a live owner loses the
/// references to the gone ones.
fn release_dependent(shared: &Shared, r: &ObjectRef) {
    let Some(obj) = shared.store.get(&r.key, &r.namespace, &r.name) else {
        return;
    };
    let owners = owner_uids(&obj.value);
    if owners.is_empty() {
        return;
    }
    let alive: Vec<&String> = owners
        .iter()
        .filter(|u| shared.store.locate_uid(u).is_some())
        .collect();
    if alive.len() == owners.len() {
        return;
    }
    if alive.is_empty() {
        if !is_terminating(&obj.value) {
            delete(shared, r, Propagation::Background);
        }
        return;
    }
    let alive: BTreeSet<String> = alive.into_iter().cloned().collect();
    rewrite(shared, r, &obj, |v| {
        if let Some(Value::Array(refs)) = v.pointer_mut("/metadata/ownerReferences") {
            refs.retain(|o| {
                o.get("uid")
                    .and_then(Value::as_str)
                    .is_some_and(|u| alive.contains(u))
            });
        }
    });
}

fn remove_finalizer(shared: &Shared, r: &ObjectRef, obj: &StoredObject, finalizer: &str) {
    rewrite(shared, r, obj, |v| {
        if let Some(Value::Array(f)) = v.pointer_mut("/metadata/finalizers") {
            f.retain(|x| x.as_str() != Some(finalizer));
        }
    });
}

/// Advances one terminating object; `true` when nothing is left to do for it.
fn finalize(shared: &Shared, r: &ObjectRef) -> bool {
    let Some(obj) = shared.store.get(&r.key, &r.namespace, &r.name) else {
        return true;
    };
    if !needs_finalizing(&r.key, &obj.value) {
        return true;
    }
    if r.key == namespaces_key() {
        return finalize_namespace(shared, r, &obj);
    }
    let fins = finalizers(&obj.value);
    if r.key == crds_key() && fins.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
        let group = obj
            .value
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = obj
            .value
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        let key = ResourceKey::new(group, plural);
        let instances = shared.store.all(&key, None);
        if instances.is_empty() {
            remove_finalizer(shared, r, &obj, CRD_CLEANUP_FINALIZER);
        } else {
            for i in instances.iter().filter(|i| !is_terminating(&i.value)) {
                delete(shared, &object_ref(&key, &i.value), Propagation::Background);
            }
        }
        return false;
    }
    let uid = obj.uid().unwrap_or("").to_string();
    let dependents = shared.store.dependents_of(&uid);
    if fins.iter().any(|f| f == ORPHAN_FINALIZER) {
        for dep in &dependents {
            if let Some(d) = shared.store.get(&dep.key, &dep.namespace, &dep.name) {
                rewrite(shared, dep, &d, |v| {
                    if let Some(Value::Array(refs)) = v.pointer_mut("/metadata/ownerReferences") {
                        refs.retain(|o| o.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
                    }
                });
            }
        }
        if shared.store.dependents_of(&uid).is_empty() {
            remove_finalizer(shared, r, &obj, ORPHAN_FINALIZER);
        }
        return false;
    }
    if fins.iter().any(|f| f == FOREGROUND_FINALIZER) {
        if dependents.is_empty() {
            remove_finalizer(shared, r, &obj, FOREGROUND_FINALIZER);
        } else {
            for dep in &dependents {
                if let Some(d) = shared.store.get(&dep.key, &dep.namespace, &dep.name)
                    && !is_terminating(&d.value)
                {
                    delete(shared, dep, Propagation::Foreground);
                }
            }
        }
    }
    false
}

fn finalize_namespace(shared: &Shared, r: &ObjectRef, obj: &Arc<StoredObject>) -> bool {
    let keys = shared.store.keys_with_objects_in(&r.name);
    if keys.is_empty() {
        let result = shared
            .store
            .mutate(&r.key, "", &r.name, false, |current, _| match current {
                Some(cur) if cur.rv == obj.rv => {
                    let mut last = cur.value.clone();
                    if let Some(spec) = last.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.insert("finalizers".into(), json!([]));
                    }
                    Ok(Write::Delete(Some(last)))
                }
                _ => Ok(Write::Unchanged),
            });
        return matches!(result, Ok(super::store::Outcome::Deleted(_)));
    }
    for key in keys {
        for item in shared.store.all(&key, Some(&r.name)) {
            if !is_terminating(&item.value) {
                delete(shared, &object_ref(&key, &item.value), Propagation::Background);
            }
        }
    }
    false
}
