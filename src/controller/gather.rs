//! Step 1 of a pass: gathering the [`Observed`] the decision core plans from (see the contract in
//! [`crate::rotation`]), with as few reads as the rotation's state needs:
//! * the rotation itself and its provider come from the watch caches;
//! * the namespace's labels are read only for a cluster provider whose grants select namespaces
//!   by label;
//! * the staging and target Secrets are read as metadata (see [`super::secrets`]);
//! * workloads are read (named ones by GET, selected ones by a paged LIST) only while the rotation
//!   rolls them out or retires the previous credential;
//! * capacity comes from the rotation index, with the gate held if a slot may be taken.
//!
//! Invariant: reads of things the pass may have just written (Secrets, workloads) go to the API
//! server, never to a cache, so a plan never misses the pass's own last step.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{Api, ResourceExt, runtime::reflector::ObjectRef};
use tokio::sync::OwnedMutexGuard;

use super::{Context, Error, providers::ProviderObject, secrets, workloads};
use crate::{
    api::{ClientSecretRotation, ProviderKind, RotationPhase, wellknown},
    provider::ApplicationCredentials,
    rotation::{Observed, ProviderLookup},
};

/// What a pass planned from, plus what acting on the plan needs.
pub struct Gathered {
    /// The core's input.
    pub observed: Observed,
    /// The provider object, when found.
    pub provider: Option<ProviderObject>,
    /// Held while this plan may take a capacity slot, until its status is persisted.
    pub guard: Option<OwnedMutexGuard<()>>,
}

/// Gathers the observed state of `rotation` (as the pass currently knows it).
pub async fn gather(
    ctx: &Context,
    rotation: &ClientSecretRotation,
    credentials: Option<ApplicationCredentials>,
) -> Result<Gathered, Error> {
    let namespace = rotation.namespace().ok_or(Error::MissingObjectKey)?;
    let name = rotation.metadata.name.clone().ok_or(Error::MissingObjectKey)?;
    let uid = rotation.uid().unwrap_or_default();
    let spec = &rotation.spec;

    let (provider_lookup, provider) = match spec.provider_ref.kind {
        ProviderKind::IdentityProvider => {
            match ctx
                .identity_providers
                .get(&ObjectRef::new(&spec.provider_ref.name).within(&namespace))
            {
                Some(p) => (
                    ProviderLookup::Namespaced {
                        namespace: p.namespace().unwrap_or_default(),
                        spec: p.spec.clone(),
                    },
                    Some(ProviderObject::Namespaced(p)),
                ),
                None => (ProviderLookup::NotFound, None),
            }
        }
        ProviderKind::ClusterIdentityProvider => {
            match ctx
                .cluster_providers
                .get(&ObjectRef::new(&spec.provider_ref.name))
            {
                Some(p) => (
                    ProviderLookup::Cluster { spec: p.spec.clone() },
                    Some(ProviderObject::Cluster(p)),
                ),
                None => (ProviderLookup::NotFound, None),
            }
        }
    };

    let namespace_labels = match &provider_lookup {
        ProviderLookup::Cluster { spec } if spec.grants.iter().any(|g| g.namespace_selector.is_some()) => {
            let api: Api<Namespace> = Api::all(ctx.client.clone());
            match api.get_metadata_opt(&namespace).await {
                Ok(meta) => meta.map(|m| m.metadata.labels.unwrap_or_default()),
                // The core reports NamespaceUnknown if the labels were needed.
                Err(error) => {
                    tracing::warn!(%error, namespace, "cannot read the namespace's labels");
                    None
                }
            }
        }
        _ => None,
    };

    let secrets_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let staging_name = wellknown::staging_secret_name(&name);
    let staging = secrets::observe_staging(&secrets_api, &staging_name, &uid)
        .await
        .map_err(|e| Error::read(format!("Secret {namespace}/{staging_name}"), e))?;
    let target = secrets::observe_target(
        &secrets_api,
        &spec.secret.name,
        &uid,
        &spec.secret.keys.client_secret,
    )
    .await
    .map_err(|e| Error::read(format!("Secret {namespace}/{}", spec.secret.name), e))?;

    let phase = rotation.phase();
    let deleting = rotation.metadata.deletion_timestamp.is_some();
    let workloads = match phase {
        Some(RotationPhase::RollingOut | RotationPhase::Retiring) if !deleting => {
            workloads::observe(
                &ctx.client,
                &namespace,
                &spec.rollout_targets,
                &wellknown::pod_template_annotation_key(&name),
                ctx.config.page_size,
            )
            .await?
        }
        _ => vec![],
    };

    let (capacity, guard) = if deleting {
        (Default::default(), None)
    } else {
        let offer = ctx
            .capacity
            .offer(&ctx.index, &ObjectRef::from_obj(rotation), phase)
            .await;
        (offer.capacity, offer.guard)
    };

    Ok(Gathered {
        observed: Observed {
            resource: rotation.clone(),
            provider: provider_lookup,
            namespace_labels,
            credentials,
            staging,
            target,
            workloads,
            capacity,
        },
        provider,
        guard,
    })
}
