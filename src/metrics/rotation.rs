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
    rotation_feed::{RotationKey, key_of, newer_or_equal},
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
    exported: HashMap<RotationKey, Exported>,
    /// Keys seen during a relist (`Init` .. `InitDone`).
    relist: Option<HashSet<RotationKey>>,
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
                    let gone: Vec<RotationKey> = state
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

    fn remove_key(&self, state: &mut State, key: &RotationKey) {
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

#[cfg(test)]
mod tests {
    use kube::runtime::watcher::Event;
    use serde_json::{Value, json};

    use super::*;

    const T0: &str = "2026-01-01T00:00:00Z";
    const T1: &str = "2026-01-02T00:00:00Z";
    const T2: &str = "2026-03-01T00:00:00Z";

    fn second(t: &str) -> i64 {
        t.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    fn status(v: Value) -> ClientSecretRotationStatus {
        serde_json::from_value(v).unwrap()
    }

    fn in_flight(phase: &str) -> Value {
        json!({"id": 2, "reason": "Manual", "phase": phase, "startedAt": T0, "displayName": "d"})
    }

    fn failure(attempts: i32, at: &str) -> Value {
        json!({"step": "Mint", "reason": "Throttled", "message": "m", "attempts": attempts,
               "lastFailureTime": at, "nextRetryTime": at, "retryable": true})
    }

    fn condition(type_: &str, status: &str, reason: &str) -> Value {
        json!({"type": type_, "status": status, "reason": reason, "message": "",
               "lastTransitionTime": T0})
    }

    #[test]
    fn a_snapshot_is_the_status_gauges() {
        assert_eq!(Snapshot::of(None), Snapshot::default());
        let s = status(json!({
            "current": {"keyId": "k1", "origin": "Minted", "expiresAt": T2},
            "renewalTime": T1,
            "conditions": [
                condition("Ready", "True", "Ready"),
                condition("Degraded", "True", "RolloutStalled"),
            ],
            "credentials": [
                {"keyId": "k1", "expiresAt": T2, "role": "Current"},
                {"keyId": "u1", "expiresAt": T1, "role": "Unmanaged"},
            ],
        }));
        let snapshot = Snapshot::of(Some(&s));
        assert_eq!(snapshot.expiration, Some(second(T2)));
        assert_eq!(snapshot.renewal, Some(second(T1)));
        assert!(snapshot.ready);
        assert!(snapshot.rollout_stuck);
        assert_eq!(
            snapshot.unmanaged,
            BTreeMap::from([("u1".to_owned(), second(T1))])
        );

        let other = status(json!({"conditions": [
            condition("Ready", "False", "Failing"),
            condition("Degraded", "True", "Throttled"),
        ]}));
        let snapshot = Snapshot::of(Some(&other));
        assert_eq!((snapshot.ready, snapshot.rollout_stuck), (false, false));
        assert_eq!((snapshot.expiration, snapshot.renewal), (None, None));
    }

    #[test]
    fn transitions_count_ends_and_new_failures() {
        let idle = status(json!({"lastRotationTime": T0}));
        let flying = status(json!({"lastRotationTime": T0, "rotation": in_flight("Retiring")}));
        let completed = status(json!({"lastRotationTime": T1}));
        let abandoning = status(json!({"lastRotationTime": T0, "rotation": in_flight("Abandoning")}));
        let failed_once = status(json!({"rotation": in_flight("Pending"), "failure": failure(1, T0)}));
        let failed_twice = status(json!({"rotation": in_flight("Pending"), "failure": failure(2, T1)}));
        let cases = [
            (None, Some(&idle), None, None),
            (Some(&idle), Some(&flying), None, None),
            (Some(&flying), Some(&flying), None, None),
            (Some(&flying), Some(&completed), Some(Ended::Succeeded), None),
            (Some(&abandoning), Some(&idle), Some(Ended::Failed), None),
            // Gone without a new completion time: abandoned, not succeeded.
            (Some(&flying), Some(&idle), Some(Ended::Failed), None),
            (Some(&flying), Some(&failed_once), None, Some("Throttled")),
            (Some(&failed_once), Some(&failed_once), None, None),
            (Some(&failed_once), Some(&failed_twice), None, Some("Throttled")),
        ];
        for (i, (before, after, ended, failure)) in cases.into_iter().enumerate() {
            assert_eq!(
                Transition::between(before, after),
                Transition { ended, failure },
                "case {i}"
            );
        }
        let odd = status(
            json!({"failure": {"step": "Mint", "reason": "SomethingNew", "message": "",
            "attempts": 1, "lastFailureTime": T0, "nextRetryTime": T0, "retryable": true}}),
        );
        assert_eq!(
            Transition::between(None, Some(&odd)).failure,
            Some("StepFailed"),
            "reasons are a fixed set"
        );
    }

    fn csr(name: &str, uid: &str, rv: u64, s: Value) -> ClientSecretRotation {
        serde_json::from_value(json!({
            "apiVersion": "secret-rotator.dev/v1alpha1", "kind": "ClientSecretRotation",
            "metadata": {"name": name, "namespace": "team-a", "uid": uid, "resourceVersion": rv.to_string()},
            "spec": {"providerRef": {"name": "entra"}, "application": {"clientId": "c"},
                     "secret": {"name": "s"}},
            "status": s,
        }))
        .unwrap()
    }

    fn exposition(registry: &Registry) -> String {
        crate::metrics::encode(registry).unwrap()
    }

    fn series_of(text: &str, name: &str) -> usize {
        let needle = format!("name=\"{name}\"");
        text.lines().filter(|l| l.contains(&needle)).count()
    }

    fn ready_status(expires: &str) -> Value {
        json!({
            "current": {"keyId": "k1", "origin": "Minted", "expiresAt": expires},
            "conditions": [condition("Ready", "True", "Ready")],
            "credentials": [{"keyId": "u1", "expiresAt": T1, "role": "Unmanaged"}],
        })
    }

    #[test]
    fn series_live_while_exporting_and_while_the_rotation_exists() {
        let mut registry = Registry::default();
        let series = Arc::new(RotationSeries::register(&mut registry));
        let a = csr("a", "uid-a", 5, ready_status(T2));

        // Not exporting (a standby): nothing.
        series.apply_event(&Event::Apply(a.clone()));
        assert_eq!(series_of(&exposition(&registry), "a"), 0);

        let exporting = series.export();
        series.apply_event(&Event::Apply(a.clone()));
        let text = exposition(&registry);
        assert!(text.contains(&format!(
            "secret_expiration_timestamp_seconds{{namespace=\"team-a\",name=\"a\"}} {}",
            second(T2)
        )));
        assert!(
            text.contains("ready{namespace=\"team-a\",name=\"a\"} 1"),
            "{text}"
        );
        assert!(text.contains("rotations_total{namespace=\"team-a\",name=\"a\",result=\"failed\"} 0"));
        assert!(text.contains("key_id=\"u1\""));

        // An older resourceVersion does not go back in time.
        series.written(&csr("a", "uid-a", 4, ready_status(T1)));
        assert!(exposition(&registry).contains(&format!("name=\"a\"}} {}", second(T2))));

        // A failure is counted once per recorded failure; the credential goes away with status.
        let mut failing = ready_status(T2);
        failing["failure"] = failure(1, T0);
        failing["credentials"] = json!([]);
        failing["conditions"] = json!([condition("Ready", "False", "Failing")]);
        let before = csr("a", "uid-a", 6, ready_status(T2));
        series.status_written(&before, &csr("a", "uid-a", 7, failing.clone()));
        let text = exposition(&registry);
        assert!(
            text.contains("rotation_failures_total{namespace=\"team-a\",name=\"a\",reason=\"Throttled\"} 1")
        );
        assert!(text.contains("ready{namespace=\"team-a\",name=\"a\"} 0"));
        assert!(
            !text.contains("key_id=\"u1\""),
            "the unmanaged credential is gone: {text}"
        );

        // Deleted: every series goes, and a late write of the operator's own does not revive it.
        series.apply_event(&Event::Delete(a.clone()));
        assert_eq!(series_of(&exposition(&registry), "a"), 0);
        series.written(&csr("a", "uid-a", 8, failing));
        assert_eq!(series_of(&exposition(&registry), "a"), 0);

        // Recreated under the same name: a new uid starts over.
        series.apply_event(&Event::Apply(csr("a", "uid-a2", 9, ready_status(T2))));
        assert!(series_of(&exposition(&registry), "a") > 0);

        // A relist that no longer contains it (deleted while the watch was down) removes it.
        series.apply_event(&Event::Init);
        series.apply_event(&Event::InitApply(csr("b", "uid-b", 10, ready_status(T2))));
        series.apply_event(&Event::InitDone);
        let text = exposition(&registry);
        assert_eq!(series_of(&text, "a"), 0, "{text}");
        assert!(series_of(&text, "b") > 0);

        // Losing the lead: no per-rotation series at all.
        drop(exporting);
        assert_eq!(series_of(&exposition(&registry), "b"), 0);
    }
}
