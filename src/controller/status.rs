//! Writes to the rotation itself: the status (server-side apply on the status subresource, forced,
//! with the core's field manager, the complete status every time so fields the core dropped are
//! removed) and the finalizer.
//!
//! Invariant: every successful write is remembered ([`super::freshness`]) and indexed
//! ([`super::index`]) before the pass goes on, so neither a later pass nor the capacity count ever
//! works from an older copy than the operator's own.

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{Context, Error, failure};
use crate::{
    api::{ClientSecretRotation, ClientSecretRotationStatus, wellknown},
    rotation::StepFailure,
};

fn api(ctx: &Context, rotation: &ClientSecretRotation) -> Api<ClientSecretRotation> {
    Api::namespaced(ctx.client.clone(), &rotation.namespace().unwrap_or_default())
}

fn remember(ctx: &Context, written: &ClientSecretRotation) {
    ctx.freshness.wrote(written);
    ctx.index.note_written(written);
    ctx.metrics.rotations.written(written);
}

/// Persists `status` and returns the rotation as written.
pub async fn persist(
    ctx: &Context,
    rotation: &ClientSecretRotation,
    status: &ClientSecretRotationStatus,
) -> Result<ClientSecretRotation, Error> {
    let body = json!({
        "apiVersion": wellknown::API_VERSION,
        "kind": "ClientSecretRotation",
        "status": status,
    });
    let written = api(ctx, rotation)
        .patch_status(
            &rotation.name_any(),
            &PatchParams::apply(wellknown::FIELD_MANAGER_STATUS).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(|source| Error::PersistStatus {
            name: format!(
                "{}/{}",
                rotation.namespace().unwrap_or_default(),
                rotation.name_any()
            ),
            source,
        })?;
    remember(ctx, &written);
    // Counted only once the write succeeded: a pass that fails here plans the same step again.
    ctx.metrics.rotations.status_written(rotation, &written);
    Ok(written)
}

/// Adds the finalizer (server-side apply of `metadata.finalizers`, a set, with its own field
/// manager).
pub async fn add_finalizer(
    ctx: &Context,
    rotation: &ClientSecretRotation,
) -> Result<ClientSecretRotation, StepFailure> {
    let body = json!({
        "apiVersion": wellknown::API_VERSION,
        "kind": "ClientSecretRotation",
        "metadata": {"name": rotation.name_any(), "finalizers": [wellknown::FINALIZER]},
    });
    let written = api(ctx, rotation)
        .patch(
            &rotation.name_any(),
            &PatchParams::apply(wellknown::FIELD_MANAGER_FINALIZER).force(),
            &Patch::Apply(body),
        )
        .await
        .map_err(|e| failure::from_kube("adding the finalizer", &e))?;
    remember(ctx, &written);
    Ok(written)
}

/// Removes the finalizer (a merge patch of the finalizer list with a `resourceVersion`
/// precondition, retried at once on a conflict), whoever added it.
pub async fn remove_finalizer(
    ctx: &Context,
    rotation: &ClientSecretRotation,
) -> Result<Option<ClientSecretRotation>, StepFailure> {
    let api = api(ctx, rotation);
    let name = rotation.name_any();
    let mut current = rotation.clone();
    for _ in 0..3 {
        let finalizers = current.finalizers().to_vec();
        if !finalizers.iter().any(|f| f == wellknown::FINALIZER) {
            return Ok(Some(current));
        }
        let kept: Vec<String> = finalizers
            .into_iter()
            .filter(|f| f != wellknown::FINALIZER)
            .collect();
        let patch = json!({
            "metadata": {"resourceVersion": current.resource_version(), "finalizers": kept}
        });
        let params = PatchParams {
            field_manager: Some(wellknown::FIELD_MANAGER_FINALIZER.to_owned()),
            ..Default::default()
        };
        match api.patch(&name, &params, &Patch::Merge(patch)).await {
            Ok(written) => {
                remember(ctx, &written);
                return Ok(Some(written));
            }
            Err(e) if failure::is_not_found(&e) => return Ok(None),
            Err(e) if failure::is_conflict(&e) => match api.get_opt(&name).await {
                Ok(Some(fresh)) => current = fresh,
                Ok(None) => return Ok(None),
                Err(e) => return Err(failure::from_kube("re-reading the rotation", &e)),
            },
            Err(e) => return Err(failure::from_kube("removing the finalizer", &e)),
        }
    }
    Err(failure::failure(
        failure::KUBERNETES_API_ERROR,
        "removing the finalizer: the rotation kept changing",
        true,
    ))
}
