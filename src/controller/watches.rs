//! What the controller watches, and how each event maps to the rotations to reconcile
//! (performance anchors §9: watch only what the operator owns or needs, as little of it as
//! possible, in small pages):
//! * `ClientSecretRotation`s, whole but pruned of managedFields, cached; a change triggers the
//!   rotation itself when its generation, annotations, finalizers or deletion changed (not on the
//!   operator's own status writes);
//! * Secrets, **metadata only** and **label-selected** (`secret-rotator.dev/managed=true`): the
//!   operator's own staging and target Secrets, mapped to their controlling rotation; never cached;
//! * Deployments, StatefulSets and DaemonSets, **metadata only**, never cached, mapped through the
//!   rotation index to the rotations that target them by name or selector and have a rotation in
//!   flight (an idle rotation does not care how its workloads change);
//! * `IdentityProvider`s and `ClusterIdentityProvider`s, cached, mapped to the rotations that use
//!   them; and namespaces (metadata only), mapped to the rotations of the namespace that use a
//!   cluster provider (grants may select namespaces by label).
//!
//! Invariant: every watch lists in pages of `page_size` and backs off on errors; none holds a
//! Secret's data.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    sync::Arc,
};

use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    core::v1::{Namespace, Secret},
};
use kube::{
    Resource, ResourceExt,
    core::PartialObjectMeta,
    runtime::{reflector::ObjectRef, watcher},
};

use super::index::RotationIndex;
use crate::api::{ClientSecretRotation, WorkloadKind, wellknown};

/// The label selector of the Secret watch.
pub fn managed_secrets_selector() -> String {
    format!("{}={}", wellknown::LABEL_MANAGED, wellknown::LABEL_MANAGED_VALUE)
}

/// What about a rotation triggers a reconcile when it changes: the spec (generation), the
/// request annotations, the finalizers and the deletion. The operator's own status writes do not.
pub fn trigger_fingerprint(csr: &ClientSecretRotation) -> Option<u64> {
    let mut h = DefaultHasher::new();
    csr.metadata.generation.hash(&mut h);
    csr.metadata.annotations.hash(&mut h);
    csr.metadata.finalizers.hash(&mut h);
    csr.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    csr.metadata.uid.hash(&mut h);
    Some(h.finish())
}

/// The rotation that controls a Secret the operator wrote, if the operator watches it (a
/// `--selector` may leave the owner to another operator).
pub fn managed_secret_owner(
    index: &Arc<RotationIndex>,
) -> impl Fn(PartialObjectMeta<Secret>) -> Option<ObjectRef<ClientSecretRotation>> + Send + Sync + 'static {
    let index = index.clone();
    move |secret| secret_owner(secret).filter(|r| index.contains(r))
}

/// The rotation that controls a Secret the operator wrote.
pub fn secret_owner(secret: PartialObjectMeta<Secret>) -> Option<ObjectRef<ClientSecretRotation>> {
    let namespace = secret.metadata.namespace.clone()?;
    secret
        .metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|r| {
            r.controller == Some(true)
                && r.kind == ClientSecretRotation::kind(&())
                && r.api_version == ClientSecretRotation::api_version(&())
        })
        .map(|r| ObjectRef::new(&r.name).within(&namespace))
}

/// The rotations in flight that target a workload.
pub fn workload_rotations<K: Resource>(
    index: &Arc<RotationIndex>,
    kind: WorkloadKind,
) -> impl Fn(PartialObjectMeta<K>) -> Vec<ObjectRef<ClientSecretRotation>> + Send + Sync + 'static {
    let index = index.clone();
    move |w: PartialObjectMeta<K>| {
        let (Some(namespace), Some(name)) = (w.metadata.namespace.as_deref(), w.metadata.name.as_deref())
        else {
            return vec![];
        };
        let labels = w.metadata.labels.clone().unwrap_or_default();
        index.rotations_rolling(kind, namespace, name, &labels)
    }
}

/// The mappers of the three workload kinds.
pub fn deployment_rotations(
    index: &Arc<RotationIndex>,
) -> impl Fn(PartialObjectMeta<Deployment>) -> Vec<ObjectRef<ClientSecretRotation>> + Send + Sync + 'static {
    workload_rotations::<Deployment>(index, WorkloadKind::Deployment)
}

/// See [`deployment_rotations`].
pub fn stateful_set_rotations(
    index: &Arc<RotationIndex>,
) -> impl Fn(PartialObjectMeta<StatefulSet>) -> Vec<ObjectRef<ClientSecretRotation>> + Send + Sync + 'static {
    workload_rotations::<StatefulSet>(index, WorkloadKind::StatefulSet)
}

/// See [`deployment_rotations`].
pub fn daemon_set_rotations(
    index: &Arc<RotationIndex>,
) -> impl Fn(PartialObjectMeta<DaemonSet>) -> Vec<ObjectRef<ClientSecretRotation>> + Send + Sync + 'static {
    workload_rotations::<DaemonSet>(index, WorkloadKind::DaemonSet)
}

/// The rotations of a namespace that use cluster providers.
pub fn namespace_rotations(
    index: &Arc<RotationIndex>,
) -> impl Fn(PartialObjectMeta<Namespace>) -> Vec<ObjectRef<ClientSecretRotation>> + Send + Sync + 'static {
    let index = index.clone();
    move |ns: PartialObjectMeta<Namespace>| {
        index.rotations_in_namespace_using_cluster_providers(&ns.name_any())
    }
}

/// The watcher configuration every watch starts from.
pub fn base_config(page_size: u32) -> watcher::Config {
    watcher::Config::default().page_size(page_size)
}

/// Drops managedFields from a cached or mapped object (they are most of its size).
pub fn prune<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;

    #[test]
    fn secrets_map_to_their_controlling_rotation_only() {
        let owner = |kind: &str, controller: bool| OwnerReference {
            api_version: wellknown::API_VERSION.into(),
            kind: kind.into(),
            name: "my-app".into(),
            uid: "u".into(),
            controller: Some(controller),
            block_owner_deletion: None,
        };
        let secret = |refs: Vec<OwnerReference>| PartialObjectMeta::<Secret> {
            types: None,
            metadata: ObjectMeta {
                namespace: Some("team-a".into()),
                name: Some("s".into()),
                owner_references: Some(refs),
                ..Default::default()
            },
            _phantom: Default::default(),
        };
        assert_eq!(
            secret_owner(secret(vec![owner("ClientSecretRotation", true)])),
            Some(ObjectRef::new("my-app").within("team-a"))
        );
        assert_eq!(
            secret_owner(secret(vec![owner("ClientSecretRotation", false)])),
            None
        );
        assert_eq!(secret_owner(secret(vec![owner("Deployment", true)])), None);
    }

    #[test]
    fn status_writes_do_not_change_the_trigger_fingerprint() {
        let mut csr: ClientSecretRotation = serde_json::from_value(serde_json::json!({
            "apiVersion": wellknown::API_VERSION,
            "kind": "ClientSecretRotation",
            "metadata": {"name": "a", "namespace": "n", "generation": 1, "uid": "u"},
            "spec": {
                "providerRef": {"name": "p"},
                "application": {"clientId": "46e6adf4-0000-4b60-9390-0ba6fb00bf6b"},
                "secret": {"name": "s"}
            }
        }))
        .unwrap();
        let before = trigger_fingerprint(&csr);
        csr.status = Some(Default::default());
        csr.metadata.resource_version = Some("9".into());
        assert_eq!(trigger_fingerprint(&csr), before);
        csr.annotations_mut()
            .insert(wellknown::ANNOTATION_ROTATE.into(), "now".into());
        assert_ne!(trigger_fingerprint(&csr), before);
    }
}
