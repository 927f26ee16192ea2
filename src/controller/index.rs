//! The rotation index: for every `ClientSecretRotation` the operator watches, which provider it
//! uses, which workloads it restarts, and the phase of its rotation in flight. Fed by the same watch
//! events as the reflector store (and by the operator's own status writes), it answers the mapping
//! questions of the secondary watches without scanning every rotation:
//! * which rotations target this Deployment/StatefulSet/DaemonSet (by name or label selector)?
//! * which rotations use this `IdentityProvider`/`ClusterIdentityProvider`?
//! * how many rotations hold a slot of the operator-wide caps?
//!
//! Invariants:
//! * entries are replaced whole, per rotation, keyed by namespace and name;
//! * a phase is only replaced by one of an equal or later `resourceVersion` (when both parse as
//!   numbers, as kube-apiserver's do), so a late watch event never undoes the operator's own newer
//!   write.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use kube::{
    ResourceExt,
    core::{Selector, SelectorExt},
    runtime::{reflector::ObjectRef, watcher},
};

use crate::{
    api::{ClientSecretRotation, ProviderKind, RotationPhase, WorkloadKind},
    rotation::{holds_rollout_slot, holds_rotation_slot},
    rotation_feed::{RotationKey, key_of, newer_or_equal},
};

#[derive(Clone, Debug)]
struct Entry {
    provider: (ProviderKind, String),
    named: Vec<(WorkloadKind, String)>,
    selected: Vec<(WorkloadKind, Option<Selector>)>,
    phase: Option<RotationPhase>,
    resource_version: Option<String>,
}

impl Entry {
    fn of(csr: &ClientSecretRotation) -> Self {
        let spec = &csr.spec;
        let mut named = vec![];
        let mut selected = vec![];
        for t in &spec.rollout_targets {
            match (&t.name, &t.selector) {
                (Some(name), _) => named.push((t.kind, name.clone())),
                // An invalid selector matches nothing (the schema refuses empty ones).
                (None, Some(s)) => selected.push((t.kind, Selector::try_from(s.clone()).ok())),
                (None, None) => {}
            }
        }
        Self {
            provider: (spec.provider_ref.kind, spec.provider_ref.name.clone()),
            named,
            selected,
            phase: csr.phase(),
            resource_version: csr.resource_version(),
        }
    }

    fn targets(&self, kind: WorkloadKind, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.named.iter().any(|(k, n)| *k == kind && n == name)
            || self
                .selected
                .iter()
                .any(|(k, s)| *k == kind && s.as_ref().is_some_and(|s| s.matches(labels)))
    }
}

#[derive(Default, Debug)]
struct Inner {
    entries: HashMap<RotationKey, Entry>,
    /// Rebuilt during a relist (`Init` .. `InitDone`), then swapped in.
    relist: Option<HashMap<RotationKey, Entry>>,
}

/// The index. Shared by the watch mappers and the reconciler.
#[derive(Default, Debug)]
pub struct RotationIndex {
    inner: Mutex<Inner>,
}

impl RotationIndex {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Follows a watch event of the rotation watcher.
    pub fn apply_event(&self, event: &watcher::Event<ClientSecretRotation>) {
        let mut inner = self.lock();
        match event {
            watcher::Event::Apply(csr) => Self::upsert(&mut inner.entries, csr),
            watcher::Event::Delete(csr) => {
                if let Some(key) = key_of(csr) {
                    inner.entries.remove(&key);
                }
            }
            watcher::Event::Init => inner.relist = Some(HashMap::new()),
            watcher::Event::InitApply(csr) => {
                let inner = &mut *inner;
                let target = inner.relist.as_mut().unwrap_or(&mut inner.entries);
                Self::upsert(target, csr);
            }
            watcher::Event::InitDone => {
                if let Some(fresh) = inner.relist.take() {
                    inner.entries = fresh;
                }
            }
        }
    }

    /// Records a rotation as the operator just wrote it (a status or metadata write).
    pub fn note_written(&self, csr: &ClientSecretRotation) {
        let mut inner = self.lock();
        Self::upsert(&mut inner.entries, csr);
    }

    fn upsert(entries: &mut HashMap<RotationKey, Entry>, csr: &ClientSecretRotation) {
        let Some(key) = key_of(csr) else { return };
        let entry = Entry::of(csr);
        match entries.get(&key) {
            Some(old)
                if !newer_or_equal(entry.resource_version.as_deref(), old.resource_version.as_deref()) => {}
            _ => {
                entries.insert(key, entry);
            }
        }
    }

    /// Whether the operator watches the rotation `r` (it is in scope and exists).
    pub fn contains(&self, r: &ObjectRef<ClientSecretRotation>) -> bool {
        let Some(namespace) = r.namespace.clone() else {
            return false;
        };
        let key = (namespace, r.name.clone());
        let inner = self.lock();
        inner.entries.contains_key(&key) || inner.relist.as_ref().is_some_and(|l| l.contains_key(&key))
    }

    /// The rotations of `namespace` that restart the workload `kind`/`name` with `labels`, and
    /// have a rotation in flight (idle rotations do not look at workloads).
    pub fn rotations_rolling(
        &self,
        kind: WorkloadKind,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<ObjectRef<ClientSecretRotation>> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .filter(|((ns, _), e)| ns == namespace && e.phase.is_some() && e.targets(kind, name, labels))
            .map(|((ns, n), _)| ObjectRef::new(n).within(ns))
            .collect()
    }

    /// The rotations that use the `IdentityProvider` `namespace`/`name`.
    pub fn rotations_using_identity_provider(
        &self,
        namespace: &str,
        name: &str,
    ) -> Vec<ObjectRef<ClientSecretRotation>> {
        self.rotations_where(|(ns, _), e| {
            ns == namespace && e.provider.0 == ProviderKind::IdentityProvider && e.provider.1 == name
        })
    }

    /// The rotations that use the `ClusterIdentityProvider` `name`.
    pub fn rotations_using_cluster_provider(&self, name: &str) -> Vec<ObjectRef<ClientSecretRotation>> {
        self.rotations_where(|_, e| {
            e.provider.0 == ProviderKind::ClusterIdentityProvider && e.provider.1 == name
        })
    }

    /// The rotations of `namespace` that use a cluster provider (whose grants may depend on the
    /// namespace's labels).
    pub fn rotations_in_namespace_using_cluster_providers(
        &self,
        namespace: &str,
    ) -> Vec<ObjectRef<ClientSecretRotation>> {
        self.rotations_where(|(ns, _), e| {
            ns == namespace && e.provider.0 == ProviderKind::ClusterIdentityProvider
        })
    }

    fn rotations_where(
        &self,
        keep: impl Fn(&RotationKey, &Entry) -> bool,
    ) -> Vec<ObjectRef<ClientSecretRotation>> {
        let inner = self.lock();
        inner
            .entries
            .iter()
            .filter(|(k, e)| keep(k, e))
            .map(|((ns, n), _)| ObjectRef::new(n).within(ns))
            .collect()
    }

    /// How many rotations other than `me` hold a slot of the rotation cap and of the rollout cap.
    pub fn slots_held(&self, me: &ObjectRef<ClientSecretRotation>) -> (usize, usize) {
        let inner = self.lock();
        let mut rotations = 0;
        let mut rollouts = 0;
        let mine: Option<RotationKey> = me.namespace.clone().map(|ns| (ns, me.name.clone()));
        for (key, e) in &inner.entries {
            if Some(key) == mine.as_ref() {
                continue;
            }
            match e.phase {
                Some(p) if holds_rotation_slot(p) => rotations += 1,
                Some(p) if holds_rollout_slot(p) => rollouts += 1,
                _ => {}
            }
        }
        (rotations, rollouts)
    }

    /// Namespaces with at least one rotation (for tests and diagnostics).
    pub fn namespaces(&self) -> HashSet<String> {
        self.lock().entries.keys().map(|(ns, _)| ns.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;
    use crate::api::{
        ApplicationSpec, ClientSecretRotationSpec, ClientSecretRotationStatus, GoDuration, ProviderRef,
        RolloutTarget, RotationProgress, RotationReason, TargetSecretSpec,
    };

    fn csr(
        name: &str,
        rv: &str,
        phase: Option<RotationPhase>,
        targets: Vec<RolloutTarget>,
    ) -> ClientSecretRotation {
        let mut c = ClientSecretRotation::new(
            name,
            ClientSecretRotationSpec {
                provider_ref: ProviderRef {
                    kind: ProviderKind::IdentityProvider,
                    name: "entra".into(),
                },
                application: ApplicationSpec::default(),
                secret: TargetSecretSpec {
                    name: "s".into(),
                    ..Default::default()
                },
                lifetime: GoDuration::from("2160h"),
                renew_before: None,
                renew_before_percentage: None,
                overlap: GoDuration::from("1h"),
                verify_timeout: GoDuration::from("10m"),
                rollout_targets: targets,
                suspend: false,
                deletion_policy: Default::default(),
            },
        );
        c.metadata.namespace = Some("team-a".into());
        c.metadata.resource_version = Some(rv.into());
        c.status = phase.map(|phase| ClientSecretRotationStatus {
            rotation: Some(RotationProgress {
                id: 1,
                reason: RotationReason::Scheduled,
                emergency: false,
                phase,
                started_at: jiff::Timestamp::UNIX_EPOCH.into(),
                display_name: "d".into(),
                credential: None,
                verification: None,
                version: None,
                rolled_targets: vec![],
                rollout_started_at: None,
                rollout_completed_at: None,
                revoke_after: None,
                abandon_reason: None,
                abandon_message: None,
            }),
            ..Default::default()
        });
        c
    }

    fn by_name(name: &str) -> RolloutTarget {
        RolloutTarget {
            kind: WorkloadKind::Deployment,
            name: Some(name.into()),
            selector: None,
        }
    }

    fn by_label(k: &str, v: &str) -> RolloutTarget {
        RolloutTarget {
            kind: WorkloadKind::Deployment,
            name: None,
            selector: Some(LabelSelector {
                match_labels: Some([(k.to_string(), v.to_string())].into()),
                match_expressions: None,
            }),
        }
    }

    #[test]
    fn maps_workloads_by_name_and_selector_only_while_rotating() {
        let index = RotationIndex::default();
        let web = [("app".to_string(), "web".to_string())].into();
        index.apply_event(&watcher::Event::Apply(csr(
            "a",
            "1",
            Some(RotationPhase::RollingOut),
            vec![by_name("web")],
        )));
        index.apply_event(&watcher::Event::Apply(csr(
            "b",
            "2",
            Some(RotationPhase::Retiring),
            vec![by_label("app", "web")],
        )));
        index.apply_event(&watcher::Event::Apply(csr(
            "idle",
            "3",
            None,
            vec![by_name("web")],
        )));
        let mut hits: Vec<String> = index
            .rotations_rolling(WorkloadKind::Deployment, "team-a", "web", &web)
            .into_iter()
            .map(|r| r.name)
            .collect();
        hits.sort();
        assert_eq!(hits, ["a", "b"]);
        assert!(
            index
                .rotations_rolling(WorkloadKind::StatefulSet, "team-a", "web", &web)
                .is_empty()
        );
        assert!(
            index
                .rotations_rolling(WorkloadKind::Deployment, "team-b", "web", &web)
                .is_empty()
        );
    }

    #[test]
    fn late_events_do_not_undo_newer_writes_and_relists_replace_everything() {
        let index = RotationIndex::default();
        let me = ObjectRef::new("other").within("team-a");
        index.note_written(&csr("a", "10", Some(RotationPhase::Pending), vec![]));
        index.apply_event(&watcher::Event::Apply(csr("a", "9", None, vec![])));
        assert_eq!(index.slots_held(&me), (1, 0), "the stale event is ignored");
        index.apply_event(&watcher::Event::Apply(csr(
            "a",
            "11",
            Some(RotationPhase::RollingOut),
            vec![],
        )));
        assert_eq!(index.slots_held(&me), (0, 1));
        assert_eq!(index.slots_held(&ObjectRef::new("a").within("team-a")), (0, 0));
        index.apply_event(&watcher::Event::Init);
        index.apply_event(&watcher::Event::InitApply(csr(
            "b",
            "12",
            Some(RotationPhase::Verifying),
            vec![],
        )));
        assert_eq!(
            index.slots_held(&me),
            (0, 1),
            "old entries serve until the relist is done"
        );
        index.apply_event(&watcher::Event::InitDone);
        assert_eq!(index.slots_held(&me), (1, 0));
    }
}
