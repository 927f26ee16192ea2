//! The in-memory object store: JSON objects keyed by (group, plural, namespace, name), one global
//! monotonically increasing resourceVersion, a bounded per-resource change history for watch
//! resumption, per-resource broadcast channels for live watches, and owner/uid indexes for the
//! garbage collector.
//!
//! Invariants:
//! * every committed change gets the next resourceVersion, is recorded in its resource's history
//!   and broadcast while the write lock is held, so a reader that snapshots under the lock and
//!   subscribes in the same critical section sees every later change exactly once;
//! * a mutation closure decides from the current object alone; if it fails nothing changes;
//! * stored objects are immutable `Arc`s: readers never copy a collection, only pointers.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::resources::ResourceKey;
use super::status::ApiError;

/// A stored object version: its resourceVersion and JSON (with `metadata.resourceVersion` set).
#[derive(Debug, PartialEq)]
pub struct StoredObject {
    /// resourceVersion of this version.
    pub rv: u64,
    /// The object.
    pub value: Value,
}

impl StoredObject {
    /// `metadata.uid`.
    pub fn uid(&self) -> Option<&str> {
        self.value.pointer("/metadata/uid").and_then(Value::as_str)
    }
}

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created.
    Added,
    /// Updated.
    Modified,
    /// Removed.
    Deleted,
}

/// One committed change, as watchers and in-process subscribers see it.
#[derive(Debug)]
pub struct Change {
    /// resourceVersion of the change.
    pub rv: u64,
    /// What happened.
    pub kind: ChangeKind,
    /// Which resource.
    pub key: ResourceKey,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The object after the change (for deletes: its last state, with the deletion's resourceVersion).
    pub object: Arc<StoredObject>,
    /// The object before the change (updates and deletes).
    pub previous: Option<Arc<StoredObject>>,
}

/// Identity of a stored object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Resource.
    pub key: ResourceKey,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// What a mutation closure wants done.
#[derive(Debug)]
pub enum Write {
    /// Store this new object (the current one must be absent).
    Create(Value),
    /// Replace the current object.
    Update(Value),
    /// Remove the current object; `Some` gives the final state to report (e.g. after the update
    /// that removed the last finalizer).
    Delete(Option<Value>),
    /// Nothing changes.
    Unchanged,
}

/// Result of a committed (or dry-run) mutation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Created.
    Created(Arc<StoredObject>),
    /// Updated.
    Updated(Arc<StoredObject>),
    /// Deleted; the object's last state with the deletion's resourceVersion.
    Deleted(Arc<StoredObject>),
    /// No change; the current object (absent when there was nothing).
    Unchanged(Option<Arc<StoredObject>>),
}

impl Outcome {
    /// The object the outcome carries, if any.
    pub fn object(&self) -> Option<&Arc<StoredObject>> {
        match self {
            Outcome::Created(o) | Outcome::Updated(o) | Outcome::Deleted(o) => Some(o),
            Outcome::Unchanged(o) => o.as_ref(),
        }
    }
}

struct Collection {
    objects: BTreeMap<(String, String), Arc<StoredObject>>,
    history: VecDeque<Arc<Change>>,
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<Change>>,
}

struct Inner {
    rv: u64,
    collections: HashMap<ResourceKey, Collection>,
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
    by_uid: HashMap<String, ObjectRef>,
    subscribers: Vec<mpsc::UnboundedSender<Arc<Change>>>,
}

/// A page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Matching objects, in key order.
    pub items: Vec<Arc<StoredObject>>,
    /// The store's resourceVersion at the time of the read.
    pub rv: u64,
    /// Key after which the next page starts, when there is one.
    pub next: Option<(String, String)>,
    /// Objects left after this page (counted without filtering).
    pub remaining: usize,
}

/// What a watch starts from.
#[derive(Debug)]
pub struct WatchStart {
    /// Changes to replay (newer than the requested version).
    pub replay: Vec<Arc<Change>>,
    /// Current objects, when the watch starts from "now" and wants synthetic ADDED events.
    pub snapshot: Vec<Arc<StoredObject>>,
    /// Live changes after `rv`.
    pub receiver: broadcast::Receiver<Arc<Change>>,
    /// Store resourceVersion at subscription time.
    pub rv: u64,
}

/// Tunables of the store.
#[derive(Clone, Copy, Debug)]
pub struct StoreLimits {
    /// Changes kept per resource for watch resumption.
    pub history: usize,
    /// Changes buffered per live watcher before it is cut off with 410.
    pub watch_buffer: usize,
}

/// The shared store.
pub struct Store {
    inner: RwLock<Inner>,
    limits: StoreLimits,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("rv", &self.current_rv()).finish()
    }
}

fn owner_uids(v: &Value) -> Vec<String> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn uid_of(v: &Value) -> Option<String> {
    v.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(String::from)
}

fn set_rv(v: &mut Value, rv: u64) {
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl Store {
    /// An empty store.
    pub fn new(limits: StoreLimits) -> Self {
        Store {
            inner: RwLock::new(Inner {
                rv: 1,
                collections: HashMap::new(),
                dependents: HashMap::new(),
                by_uid: HashMap::new(),
                subscribers: vec![],
            }),
            limits,
        }
    }

    // NB: a panic while the lock is held cannot leave a half-applied change (closures decide before
    // anything is modified), so a poisoned lock is safe to keep using.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest resourceVersion handed out.
    pub fn current_rv(&self) -> u64 {
        self.read().rv
    }

    /// One object.
    pub fn get(&self, key: &ResourceKey, namespace: &str, name: &str) -> Option<Arc<StoredObject>> {
        let inner = self.read();
        inner
            .collections
            .get(key)?
            .objects
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Where an object with this uid lives, if it exists.
    pub fn locate_uid(&self, uid: &str) -> Option<ObjectRef> {
        self.read().by_uid.get(uid).cloned()
    }

    /// Objects whose `ownerReferences` name this uid.
    pub fn dependents_of(&self, uid: &str) -> Vec<ObjectRef> {
        self.read()
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every object of a resource (optionally in one namespace); pointers only.
    pub fn all(&self, key: &ResourceKey, namespace: Option<&str>) -> Vec<Arc<StoredObject>> {
        self.list(key, namespace, None, None, |_| true).items
    }

    /// Resource keys that currently hold objects in a namespace.
    pub fn keys_with_objects_in(&self, namespace: &str) -> Vec<ResourceKey> {
        let inner = self.read();
        inner
            .collections
            .iter()
            .filter(|(_, c)| {
                c.objects
                    .range((namespace.to_string(), String::new())..)
                    .next()
                    .is_some_and(|((ns, _), _)| ns == namespace)
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// A page of objects in key order after `after`, keeping those `filter` accepts.
    pub fn list(
        &self,
        key: &ResourceKey,
        namespace: Option<&str>,
        after: Option<&(String, String)>,
        limit: Option<usize>,
        filter: impl Fn(&Value) -> bool,
    ) -> ListPage {
        let inner = self.read();
        let rv = inner.rv;
        let Some(c) = inner.collections.get(key) else {
            return ListPage {
                items: vec![],
                rv,
                next: None,
                remaining: 0,
            };
        };
        let start = match (after, namespace) {
            (Some(a), _) => std::ops::Bound::Excluded(a.clone()),
            (None, Some(ns)) => std::ops::Bound::Included((ns.to_string(), String::new())),
            (None, None) => std::ops::Bound::Unbounded,
        };
        let mut items = vec![];
        let mut next = None;
        let mut remaining = 0;
        let mut iter = c.objects.range((start, std::ops::Bound::Unbounded));
        for ((ns, name), obj) in iter.by_ref() {
            if namespace.is_some_and(|want| want != ns) {
                break;
            }
            if !filter(&obj.value) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                // The page is full and at least one more object matches.
                next = items.last().map(|o: &Arc<StoredObject>| key_of(&o.value));
                remaining = 1;
                let _ = (ns, name);
                break;
            }
            items.push(obj.clone());
        }
        if next.is_some() {
            for ((ns, _), _) in iter {
                if namespace.is_some_and(|want| want != ns) {
                    break;
                }
                remaining += 1;
            }
        }
        ListPage {
            items,
            rv,
            next,
            remaining,
        }
    }

    /// Starts a watch: replays history after `since` (410 when it has left the window), or, with
    /// `since = None`, snapshots the current objects; either way subscribes to live changes.
    pub fn watch(&self, key: &ResourceKey, since: Option<u64>) -> Result<WatchStart, ApiError> {
        let mut inner = self.write();
        let rv = inner.rv;
        let capacity = self.limits.watch_buffer;
        let c = collection(&mut inner.collections, key, capacity);
        let receiver = c.tx.subscribe();
        match since {
            Some(since) => {
                if since < c.compacted_rv {
                    return Err(ApiError::expired(since, c.compacted_rv));
                }
                let replay = c.history.iter().filter(|ch| ch.rv > since).cloned().collect();
                Ok(WatchStart {
                    replay,
                    snapshot: vec![],
                    receiver,
                    rv,
                })
            }
            None => {
                let snapshot = c.objects.values().cloned().collect();
                Ok(WatchStart {
                    replay: vec![],
                    snapshot,
                    receiver,
                    rv,
                })
            }
        }
    }

    /// Oldest resourceVersion a watch of this resource can resume from.
    pub fn oldest_resumable(&self, key: &ResourceKey) -> u64 {
        self.read()
            .collections
            .get(key)
            .map(|c| c.compacted_rv)
            .unwrap_or(0)
    }

    /// Forgets all watch history: any watch resuming from a version before now gets 410 Expired.
    pub fn compact(&self) {
        let mut inner = self.write();
        let rv = inner.rv;
        for c in inner.collections.values_mut() {
            c.history.clear();
            c.compacted_rv = rv;
        }
    }

    /// Subscribes to every committed change (unbounded: the subscriber must keep up).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Arc<Change>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.write().subscribers.push(tx);
        rx
    }

    /// Drops a resource's storage (its CRD is gone); live watches of it end.
    pub fn drop_resource(&self, key: &ResourceKey) {
        let mut inner = self.write();
        if let Some(c) = inner.collections.remove(key) {
            for ((ns, name), obj) in c.objects {
                let r = ObjectRef {
                    key: key.clone(),
                    namespace: ns,
                    name,
                };
                unindex(&mut inner, &r, &obj.value);
            }
        }
    }

    /// Atomically reads the current object, lets `decide` choose a write, and commits it (unless
    /// `dry_run`). `decide` gets the current object and the resourceVersion the write will get.
    pub fn mutate(
        &self,
        key: &ResourceKey,
        namespace: &str,
        name: &str,
        dry_run: bool,
        decide: impl FnOnce(Option<&Arc<StoredObject>>, u64) -> Result<Write, ApiError>,
    ) -> Result<Outcome, ApiError> {
        let mut inner = self.write();
        let next_rv = inner.rv + 1;
        let capacity = self.limits.watch_buffer;
        let map_key = (namespace.to_string(), name.to_string());
        let current = inner
            .collections
            .get(key)
            .and_then(|c| c.objects.get(&map_key))
            .cloned();
        let write = decide(current.as_ref(), next_rv)?;
        let (kind, mut value) = match (write, &current) {
            (Write::Unchanged, _) => return Ok(Outcome::Unchanged(current)),
            (Write::Create(v), None) => (ChangeKind::Added, v),
            (Write::Create(_), Some(_)) => {
                return Err(ApiError::internal("create decided for an object that exists"));
            }
            (Write::Update(v), Some(_)) => (ChangeKind::Modified, v),
            (Write::Delete(last), Some(cur)) => {
                (ChangeKind::Deleted, last.unwrap_or_else(|| cur.value.clone()))
            }
            (Write::Update(_) | Write::Delete(_), None) => {
                return Err(ApiError::internal(
                    "update decided for an object that does not exist",
                ));
            }
        };
        set_rv(&mut value, next_rv);
        let stored = Arc::new(StoredObject { rv: next_rv, value });
        let outcome = match kind {
            ChangeKind::Added => Outcome::Created(stored.clone()),
            ChangeKind::Modified => Outcome::Updated(stored.clone()),
            ChangeKind::Deleted => Outcome::Deleted(stored.clone()),
        };
        if dry_run {
            return Ok(outcome);
        }
        inner.rv = next_rv;
        let r = ObjectRef {
            key: key.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        if let Some(cur) = &current {
            unindex(&mut inner, &r, &cur.value);
        }
        if kind != ChangeKind::Deleted {
            index(&mut inner, &r, &stored.value);
        }
        let history_limit = self.limits.history;
        let c = collection(&mut inner.collections, key, capacity);
        if kind == ChangeKind::Deleted {
            c.objects.remove(&map_key);
        } else {
            c.objects.insert(map_key, stored.clone());
        }
        let change = Arc::new(Change {
            rv: next_rv,
            kind,
            key: key.clone(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            object: stored,
            previous: current,
        });
        c.history.push_back(change.clone());
        while c.history.len() > history_limit {
            if let Some(old) = c.history.pop_front() {
                c.compacted_rv = old.rv;
            }
        }
        let _ = c.tx.send(change.clone());
        inner.subscribers.retain(|s| s.send(change.clone()).is_ok());
        Ok(outcome)
    }
}

fn collection<'a>(
    collections: &'a mut HashMap<ResourceKey, Collection>,
    key: &ResourceKey,
    capacity: usize,
) -> &'a mut Collection {
    collections.entry(key.clone()).or_insert_with(|| Collection {
        objects: BTreeMap::new(),
        history: VecDeque::new(),
        compacted_rv: 0,
        tx: broadcast::channel(capacity.max(1)).0,
    })
}

fn index(inner: &mut Inner, r: &ObjectRef, v: &Value) {
    if let Some(uid) = uid_of(v) {
        inner.by_uid.insert(uid, r.clone());
    }
    for owner in owner_uids(v) {
        inner.dependents.entry(owner).or_default().insert(r.clone());
    }
}

fn unindex(inner: &mut Inner, r: &ObjectRef, v: &Value) {
    if let Some(uid) = uid_of(v)
        && inner.by_uid.get(&uid) == Some(r)
    {
        inner.by_uid.remove(&uid);
    }
    for owner in owner_uids(v) {
        if let Some(set) = inner.dependents.get_mut(&owner) {
            set.remove(r);
            if set.is_empty() {
                inner.dependents.remove(&owner);
            }
        }
    }
}

/// (namespace, name) of an object.
pub fn key_of(v: &Value) -> (String, String) {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    (s("/metadata/namespace"), s("/metadata/name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(history: usize) -> Store {
        Store::new(StoreLimits {
            history,
            watch_buffer: 16,
        })
    }

    fn create(s: &Store, k: &ResourceKey, ns: &str, name: &str) -> Outcome {
        s.mutate(k, ns, name, false, |_, _| {
            Ok(Write::Create(
                json!({"metadata": {"name": name, "namespace": ns, "uid": format!("u-{name}")}}),
            ))
        })
        .unwrap()
    }

    #[test]
    fn versions_increase_and_history_replays_after_a_version() {
        let s = store(10);
        let k = ResourceKey::new("", "secrets");
        let a = create(&s, &k, "ns", "a");
        let b = create(&s, &k, "ns", "b");
        assert!(b.object().unwrap().rv > a.object().unwrap().rv);
        let w = s.watch(&k, Some(a.object().unwrap().rv)).unwrap();
        assert_eq!(w.replay.len(), 1);
        assert_eq!(w.replay[0].name, "b");
        assert_eq!(
            b.object().unwrap().value["metadata"]["resourceVersion"],
            json!(b.object().unwrap().rv.to_string())
        );
    }

    #[test]
    fn history_window_expires_old_versions() {
        let s = store(2);
        let k = ResourceKey::new("", "secrets");
        let first = create(&s, &k, "ns", "a").object().unwrap().rv;
        for n in ["b", "c", "d"] {
            create(&s, &k, "ns", n);
        }
        assert_eq!(s.watch(&k, Some(first)).unwrap_err().code, 410);
        s.compact();
        assert_eq!(
            s.watch(&k, Some(s.current_rv() - 1)).unwrap_err().reason,
            "Expired"
        );
        assert!(s.watch(&k, Some(s.current_rv())).is_ok());
    }

    #[test]
    fn pages_follow_key_order_and_count_the_rest() {
        let s = store(10);
        let k = ResourceKey::new("", "secrets");
        for (ns, n) in [("a", "x"), ("b", "x"), ("b", "y"), ("b", "z"), ("c", "x")] {
            create(&s, &k, ns, n);
        }
        let p = s.list(&k, Some("b"), None, Some(2), |_| true);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.remaining, 1);
        let p2 = s.list(&k, Some("b"), p.next.as_ref(), Some(2), |_| true);
        assert_eq!(p2.items.len(), 1);
        assert!(p2.next.is_none());
        assert_eq!(s.list(&k, None, None, None, |_| true).items.len(), 5);
    }

    #[test]
    fn failed_decisions_change_nothing_and_indexes_follow_writes() {
        let s = store(10);
        let k = ResourceKey::new("", "secrets");
        let rv = s.current_rv();
        assert!(
            s.mutate(&k, "ns", "a", false, |_, _| Err(ApiError::bad_request("no")))
                .is_err()
        );
        assert_eq!(s.current_rv(), rv);
        s.mutate(&k, "ns", "dep", false, |_, _| {
            Ok(Write::Create(
                json!({"metadata": {"name": "dep", "namespace": "ns", "uid": "d1",
                "ownerReferences": [{"uid": "owner1"}]}}),
            ))
        })
        .unwrap();
        assert_eq!(s.dependents_of("owner1").len(), 1);
        assert!(s.locate_uid("d1").is_some());
        s.mutate(&k, "ns", "dep", false, |_, _| Ok(Write::Delete(None)))
            .unwrap();
        assert!(s.dependents_of("owner1").is_empty());
        assert!(s.locate_uid("d1").is_none());
    }
}
