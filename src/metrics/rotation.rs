//! The per-rotation series of `docs/metrics.md`, labelled `namespace` and `name`:
//! `secret_rotator_secret_expiration_timestamp_seconds`, `..._secret_renewal_timestamp_seconds`,
//! `..._ready`, `..._rollout_stuck`, `..._unmanaged_credential_expiration_timestamp_seconds`
//! (plus `key_id`), and the counters `..._rotations_total` (by `result`) and
//! `..._rotation_failures_total` (by `reason`).
//!
//! The gauges are a pure function of a rotation's status ([`Snapshot::of`]); the counters count
//! what one status write changed ([`Transition::between`]). [`RotationSeries`] follows the same
//! feed as the controller's rotation index: every watch event of the rotation watcher, and every
//! status or metadata write of the operator's own.
//!
//! Invariants:
//! * series exist only while exporting (the controller runs, i.e. this replica leads): the
//!   [`Exporting`] guard removes every series when the controller stops, so a standby exports none;
//! * a rotation's series are removed when it is deleted (or leaves the watch's scope), including
//!   during a relist, and an old write of the operator's own that lands after the deletion does not
//!   bring them back; series are otherwise replaced only from an equal or newer
//!   `resourceVersion`;
//! * the unmanaged-credential series are exactly the status's unmanaged credentials (one per
//!   `keyId`, removed when the credential is gone).

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use kube::{ResourceExt, runtime::watcher};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};

use crate::{
    api::{ClientSecretRotation, ClientSecretRotationStatus, CredentialRole, RotationPhase, wellknown},
    rotation::conditions::{self, known_reason},
};

/// How many deleted rotations are remembered, so a late write of the operator's own about one of
/// them does not recreate its series.
const REMEMBERED_DELETIONS: usize = 1024;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RotationLabels {
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    namespace: String,
    name: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    namespace: String,
    name: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    namespace: String,
    name: String,
    key_id: String,
}

/// What the per-rotation gauges show for one status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Expiry of the credential in the target Secret (Unix seconds), once there is one.
    pub expiration: Option<i64>,
    /// `status.renewalTime` (Unix seconds), when scheduled.
    pub renewal: Option<i64>,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// The `Degraded` condition says `RolloutStalled`.
    pub rollout_stuck: bool,
    /// Expiry of each unmanaged credential, by `keyId`.
    pub unmanaged: BTreeMap<String, i64>,
}

impl Snapshot {
    /// The gauges of a rotation whose status is `status` (`None`: nothing written yet).
    pub fn of(status: Option<&ClientSecretRotationStatus>) -> Self {
        let Some(status) = status else {
            return Self::default();
        };
        let condition = |type_| conditions::get(&status.conditions, type_);
        Self {
            expiration: status.current.as_ref().map(|c| c.expires_at.0.as_second()),
            renewal: status.renewal_time.as_ref().map(|t| t.0.as_second()),
            ready: condition(wellknown::condition::READY).is_some_and(|c| c.status == "True"),
            rollout_stuck: condition(wellknown::condition::DEGRADED)
                .is_some_and(|c| c.status == "True" && c.reason == wellknown::reason::ROLLOUT_STALLED),
            unmanaged: status
                .credentials
                .iter()
                .filter(|c| c.role == CredentialRole::Unmanaged)
                .map(|c| (c.key_id.clone(), c.expires_at.0.as_second()))
                .collect(),
        }
    }
}

/// How a rotation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The new credential is current and the previous one was retired.
    Succeeded,
    /// The attempt was abandoned and its new credential revoked.
    Failed,
}

impl Ended {
    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Succeeded => "succeeded",
            Ended::Failed => "failed",
        }
    }
}

/// What one status write changed, as the counters count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// A rotation in flight ended.
    pub ended: Option<Ended>,
    /// A step failure was recorded, with the reason the `Degraded` condition shows.
    pub failure: Option<&'static str>,
}

impl Transition {
    /// What writing `after` over `before` recorded.
    ///
    /// A rotation ends when `status.rotation` goes away: after its completion (which stamps
    /// `lastRotationTime`) it succeeded; after abandoning it failed. A failure is recorded when
    /// `status.failure` is set anew (each failed attempt increments its `attempts`).
    pub fn between(
        before: Option<&ClientSecretRotationStatus>,
        after: Option<&ClientSecretRotationStatus>,
    ) -> Self {
        let in_flight = before.and_then(|s| s.rotation.as_ref());
        let ended = match (in_flight, after) {
            (Some(rotation), Some(after)) if after.rotation.is_none() => {
                let completed = after.last_rotation_time.is_some()
                    && after.last_rotation_time != before.and_then(|b| b.last_rotation_time.clone());
                if rotation.phase == RotationPhase::Abandoning || !completed {
                    Some(Ended::Failed)
                } else {
                    Some(Ended::Succeeded)
                }
            }
            _ => None,
        };
        let identity = |s: Option<&ClientSecretRotationStatus>| {
            s.and_then(|s| s.failure.as_ref()).map(|f| {
                (
                    f.step.clone(),
                    f.reason.clone(),
                    f.attempts,
                    f.last_failure_time.clone(),
                )
            })
        };
        let failure = match after.and_then(|s| s.failure.as_ref()) {
            Some(f) if identity(before) != identity(after) => Some(known_reason(&f.reason)),
            _ => None,
        };
        Self { ended, failure }
    }
}

type Key = (String, String);

#[derive(Debug, Default)]
struct Exported {
    uid: Option<String>,
    resource_version: Option<String>,
    unmanaged: BTreeSet<String>,
    reasons: BTreeSet<&'static str>,
}

#[derive(Debug, Default)]
struct State {
    exporting: bool,
    exported: HashMap<Key, Exported>,
    /// Keys seen during a relist (`Init` .. `InitDone`).
    relist: Option<HashSet<Key>>,
    /// Uids of rotations deleted lately, oldest first.
    deleted: VecDeque<String>,
}

/// The per-rotation series.
#[derive(Debug)]
pub struct RotationSeries {
    expiration: Family<RotationLabels, Gauge>,
    renewal: Family<RotationLabels, Gauge>,
    ready: Family<RotationLabels, Gauge>,
    rollout_stuck: Family<RotationLabels, Gauge>,
    rotations: Family<ResultLabels, Counter>,
    failures: Family<ReasonLabels, Counter>,
    unmanaged: Family<CredentialLabels, Gauge>,
    state: Mutex<State>,
}

fn key_of(csr: &ClientSecretRotation) -> Option<Key> {
    Some((csr.metadata.namespace.clone()?, csr.metadata.name.clone()?))
}

fn newer_or_equal(candidate: Option<&str>, current: Option<&str>) -> bool {
    match (
        candidate.and_then(|c| c.parse::<u64>().ok()),
        current.and_then(|c| c.parse::<u64>().ok()),
    ) {
        (Some(c), Some(cur)) => c >= cur,
        _ => true,
    }
}

impl RotationSeries {
    /// Registers the families in `registry` (already prefixed).
    pub fn register(registry: &mut Registry) -> Self {
        let series = Self {
            expiration: Family::default(),
            renewal: Family::default(),
            ready: Family::default(),
            rollout_stuck: Family::default(),
            rotations: Family::default(),
            failures: Family::default(),
            unmanaged: Family::default(),
            state: Mutex::default(),
        };
        registry.register_with_unit(
            "secret_expiration_timestamp",
            "When the client secret currently in the target Secret expires (Unix seconds)",
            Unit::Seconds,
            series.expiration.clone(),
        );
        registry.register_with_unit(
            "secret_renewal_timestamp",
            "When the next rotation is due (status.renewalTime, Unix seconds)",
            Unit::Seconds,
            series.renewal.clone(),
        );
        registry.register(
            "ready",
            "1 when the rotation's Ready condition is True, else 0",
            series.ready.clone(),
        );
        registry.register(
            "rotations",
            "Rotations that ended, by result (succeeded or failed)",
            series.rotations.clone(),
        );
        registry.register(
            "rotation_failures",
            "Failed rotation steps, by the reason the Degraded condition shows",
            series.failures.clone(),
        );
        registry.register(
            "rollout_stuck",
            "1 while a rollout target has not finished rolling out in time (RolloutStalled), else 0",
            series.rollout_stuck.clone(),
        );
        registry.register_with_unit(
            "unmanaged_credential_expiration_timestamp",
            "Expiry (Unix seconds) of each credential on the rotated application that the operator did not mint",
            Unit::Seconds,
            series.unmanaged.clone(),
        );
        series
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts exporting; every series is removed (and nothing is exported) once the returned
    /// guard is dropped.
    pub fn export(self: &Arc<Self>) -> Exporting {
        self.lock().exporting = true;
        Exporting(self.clone())
    }

    fn stop(&self) {
        let mut state = self.lock();
        *state = State::default();
        self.expiration.clear();
        self.renewal.clear();
        self.ready.clear();
        self.rollout_stuck.clear();
        self.rotations.clear();
        self.failures.clear();
        self.unmanaged.clear();
    }

    /// Follows one event of the rotation watcher.
    pub fn apply_event(&self, event: &watcher::Event<ClientSecretRotation>) {
        let mut state = self.lock();
        if !state.exporting {
            return;
        }
        match event {
            watcher::Event::Apply(csr) => self.set(&mut state, csr, false),
            watcher::Event::Delete(csr) => self.remove(&mut state, csr),
            watcher::Event::Init => state.relist = Some(HashSet::new()),
            watcher::Event::InitApply(csr) => {
                if let (Some(relist), Some(key)) = (state.relist.as_mut(), key_of(csr)) {
                    relist.insert(key);
                }
                self.set(&mut state, csr, false);
            }
            watcher::Event::InitDone => {
                if let Some(seen) = state.relist.take() {
                    let gone: Vec<Key> = state
                        .exported
                        .keys()
                        .filter(|k| !seen.contains(*k))
                        .cloned()
                        .collect();
                    for key in gone {
                        self.remove_key(&mut state, &key);
                    }
                }
            }
        }
    }

    /// Follows a write of the operator's own that answered `written`.
    pub fn written(&self, written: &ClientSecretRotation) {
        let mut state = self.lock();
        if state.exporting {
            self.set(&mut state, written, true);
        }
    }

    /// Counts what a status write changed (`before` as the pass had it, `after` as written), and
    /// follows `after`.
    pub fn status_written(&self, before: &ClientSecretRotation, after: &ClientSecretRotation) {
        let mut state = self.lock();
        if !state.exporting {
            return;
        }
        self.set(&mut state, after, true);
        let Some(key) = key_of(after) else { return };
        let Some(exported) = state.exported.get_mut(&key) else {
            return;
        };
        let transition = Transition::between(before.status.as_ref(), after.status.as_ref());
        let (namespace, name) = key;
        if let Some(ended) = transition.ended {
            self.rotations
                .get_or_create(&ResultLabels {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    result: ended.as_str(),
                })
                .inc();
        }
        if let Some(reason) = transition.failure {
            exported.reasons.insert(reason);
            self.failures
                .get_or_create(&ReasonLabels {
                    namespace,
                    name,
                    reason,
                })
                .inc();
        }
    }

    /// Removes a rotation's series at once (it is gone).
    pub fn deleted(&self, csr: &ClientSecretRotation) {
        let mut state = self.lock();
        if state.exporting {
            self.remove(&mut state, csr);
        }
    }

    fn set(&self, state: &mut State, csr: &ClientSecretRotation, own_write: bool) {
        let Some(key) = key_of(csr) else { return };
        let uid = csr.uid();
        if let Some(uid) = &uid {
            if own_write && state.deleted.contains(uid) {
                return;
            }
            // The watch saw it (again): it exists, e.g. back within the selector.
            state.deleted.retain(|d| d != uid);
        }
        let resource_version = csr.resource_version();
        let snapshot = Snapshot::of(csr.status.as_ref());
        let labels = RotationLabels {
            namespace: key.0.clone(),
            name: key.1.clone(),
        };
        let replaced = match state.exported.get(&key) {
            // Recreated under the same name: start over.
            Some(old) if old.uid != uid => {
                self.remove_key(state, &key);
                true
            }
            Some(old) => {
                if !newer_or_equal(resource_version.as_deref(), old.resource_version.as_deref()) {
                    return;
                }
                false
            }
            None => true,
        };
        let exported = state.exported.entry(key.clone()).or_default();
        exported.uid = uid;
        exported.resource_version = resource_version;
        if replaced {
            // Both results exist from the first sight of a rotation, so the first one that ends
            // is an increase Prometheus sees.
            for result in [Ended::Succeeded, Ended::Failed] {
                let _ = self.rotations.get_or_create(&ResultLabels {
                    namespace: key.0.clone(),
                    name: key.1.clone(),
                    result: result.as_str(),
                });
            }
        }
        let gauge = |family: &Family<RotationLabels, Gauge>, value: Option<i64>| match value {
            Some(v) => {
                family.get_or_create(&labels).set(v);
            }
            None => {
                family.remove(&labels);
            }
        };
        gauge(&self.expiration, snapshot.expiration);
        gauge(&self.renewal, snapshot.renewal);
        gauge(&self.ready, Some(i64::from(snapshot.ready)));
        gauge(&self.rollout_stuck, Some(i64::from(snapshot.rollout_stuck)));
        let credential = |key_id: &str| CredentialLabels {
            namespace: key.0.clone(),
            name: key.1.clone(),
            key_id: key_id.to_owned(),
        };
        for gone in exported
            .unmanaged
            .iter()
            .filter(|k| !snapshot.unmanaged.contains_key(*k))
        {
            self.unmanaged.remove(&credential(gone));
        }
        for (key_id, expires) in &snapshot.unmanaged {
            self.unmanaged.get_or_create(&credential(key_id)).set(*expires);
        }
        exported.unmanaged = snapshot.unmanaged.into_keys().collect();
    }

    fn remove(&self, state: &mut State, csr: &ClientSecretRotation) {
        if let Some(uid) = csr.uid() {
            if state.deleted.len() >= REMEMBERED_DELETIONS {
                state.deleted.pop_front();
            }
            state.deleted.push_back(uid);
        }
        if let Some(key) = key_of(csr) {
            self.remove_key(state, &key);
        }
    }

    fn remove_key(&self, state: &mut State, key: &Key) {
        let Some(exported) = state.exported.remove(key) else {
            return;
        };
        let (namespace, name) = key.clone();
        let labels = RotationLabels {
            namespace: namespace.clone(),
            name: name.clone(),
        };
        for family in [&self.expiration, &self.renewal, &self.ready, &self.rollout_stuck] {
            family.remove(&labels);
        }
        for result in [Ended::Succeeded, Ended::Failed] {
            self.rotations.remove(&ResultLabels {
                namespace: namespace.clone(),
                name: name.clone(),
                result: result.as_str(),
            });
        }
        for reason in exported.reasons {
            self.failures.remove(&ReasonLabels {
                namespace: namespace.clone(),
                name: name.clone(),
                reason,
            });
        }
        for key_id in exported.unmanaged {
            self.unmanaged.remove(&CredentialLabels {
                namespace: namespace.clone(),
                name: name.clone(),
                key_id,
            });
        }
    }
}

/// While alive, the per-rotation series are exported; dropping it removes them all.
#[derive(Debug)]
#[must_use = "the series are removed when this is dropped"]
pub struct Exporting(Arc<RotationSeries>);

impl Drop for Exporting {
    fn drop(&mut self) {
        self.0.stop();
    }
}
