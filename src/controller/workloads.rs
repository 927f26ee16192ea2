//! Rollout targets: reading the workloads a rotation restarts (only while its rollout is in
//! flight), and restarting them.
//!
//! A restart is a JSON merge patch of one pod-template annotation
//! (`rollout.secret-rotator.dev/<rotation>`) under its own field manager
//! ([`crate::api::wellknown::FIELD_MANAGER_ROLLOUT`]): GitOps tools see a separate owner of that
//! one field and nothing users keep in Git is touched. A merge patch, unlike an apply, can never
//! create a workload that was deleted meanwhile.
//!
//! Invariant: the value written is the secret version (a digest of the credential's `keyId`), so
//! patching twice with the same version is a no-op and a crash between the patch and the status
//! write is recognised from the template itself.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::{
    Api, Client,
    api::{ListParams, Patch, PatchParams},
    core::Selector,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{Error, failure};
use crate::{
    api::{RolledTarget, RolloutTarget, WorkloadKind, wellknown},
    rotation::{StepFailure, WorkloadRef, WorkloadState},
};

/// A workload kind (Deployment, StatefulSet, DaemonSet) as this module reads and patches it:
/// namespaced, and read as JSON.
trait Workload:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
}

impl Workload for Deployment {}
impl Workload for StatefulSet {}
impl Workload for DaemonSet {}

fn convert(kind: WorkloadKind, value: serde_json::Value, key: &str) -> Option<WorkloadState> {
    Some(match kind {
        WorkloadKind::Deployment => WorkloadState::from_deployment(&serde_json::from_value(value).ok()?, key),
        WorkloadKind::StatefulSet => {
            WorkloadState::from_stateful_set(&serde_json::from_value(value).ok()?, key)
        }
        WorkloadKind::DaemonSet => WorkloadState::from_daemon_set(&serde_json::from_value(value).ok()?, key),
    })
}

async fn get<K>(client: &Client, ns: &str, name: &str) -> Result<Option<serde_json::Value>, kube::Error>
where
    K: Workload,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    Ok(api
        .get_opt(name)
        .await?
        .map(|o| serde_json::to_value(o).unwrap_or_default()))
}

async fn list<K>(
    client: &Client,
    ns: &str,
    selector: &str,
    page: u32,
) -> Result<Vec<serde_json::Value>, kube::Error>
where
    K: Workload,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let mut params = ListParams::default().labels(selector).limit(page);
    let mut out = vec![];
    loop {
        let list = api.list(&params).await?;
        out.extend(
            list.items
                .into_iter()
                .map(|o| serde_json::to_value(o).unwrap_or_default()),
        );
        match list.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(out),
        }
    }
}

/// Every workload `targets` resolve to now in `namespace` (named ones that exist, plus those the
/// selectors match), each once, as the core reads them.
pub async fn observe(
    client: &Client,
    namespace: &str,
    targets: &[RolloutTarget],
    annotation_key: &str,
    page: u32,
) -> Result<Vec<WorkloadState>, Error> {
    let mut found: Vec<WorkloadState> = vec![];
    for target in targets {
        let values = match (&target.name, &target.selector) {
            (Some(name), _) => {
                let what = || format!("{} {namespace}/{name}", target.kind.as_str());
                let got = match target.kind {
                    WorkloadKind::Deployment => get::<Deployment>(client, namespace, name).await,
                    WorkloadKind::StatefulSet => get::<StatefulSet>(client, namespace, name).await,
                    WorkloadKind::DaemonSet => get::<DaemonSet>(client, namespace, name).await,
                };
                got.map_err(|e| Error::read(what(), e))?.into_iter().collect()
            }
            (None, Some(selector)) => {
                // An invalid selector matches nothing rather than everything.
                let Ok(selector) = Selector::try_from(selector.clone()) else {
                    continue;
                };
                if selector.selects_all() {
                    continue;
                }
                let expr = selector.to_string();
                let what = || format!("{}s in {namespace} matching {expr}", target.kind.as_str());
                let got = match target.kind {
                    WorkloadKind::Deployment => list::<Deployment>(client, namespace, &expr, page).await,
                    WorkloadKind::StatefulSet => list::<StatefulSet>(client, namespace, &expr, page).await,
                    WorkloadKind::DaemonSet => list::<DaemonSet>(client, namespace, &expr, page).await,
                };
                got.map_err(|e| Error::read(what(), e))?
            }
            (None, None) => vec![],
        };
        for value in values {
            if let Some(state) = convert(target.kind, value, annotation_key)
                && !found.iter().any(|w| w.kind == state.kind && w.name == state.name)
            {
                found.push(state);
            }
        }
    }
    Ok(found)
}

async fn patch_one<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    patch: &serde_json::Value,
) -> Result<Option<i64>, kube::Error>
where
    K: Workload,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(wellknown::FIELD_MANAGER_ROLLOUT.to_owned()),
        ..Default::default()
    };
    match api.patch(name, &params, &Patch::Merge(patch)).await {
        Ok(o) => Ok(Some(o.meta().generation.unwrap_or(0))),
        Err(e) if failure::is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets the pod-template annotation `key` to `version` on each of `targets`. Returns the targets
/// patched, with their generation after the patch (a target deleted meanwhile is skipped), and
/// the failure for the rest.
pub async fn restart(
    client: &Client,
    namespace: &str,
    targets: &[WorkloadRef],
    key: &str,
    version: &str,
) -> (Vec<RolledTarget>, Option<StepFailure>) {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {key: version}}}}});
    let mut patched = vec![];
    let mut failed: Option<StepFailure> = None;
    for t in targets {
        let result = match t.kind {
            WorkloadKind::Deployment => patch_one::<Deployment>(client, namespace, &t.name, &patch).await,
            WorkloadKind::StatefulSet => patch_one::<StatefulSet>(client, namespace, &t.name, &patch).await,
            WorkloadKind::DaemonSet => patch_one::<DaemonSet>(client, namespace, &t.name, &patch).await,
        };
        match result {
            Ok(Some(generation)) => patched.push(RolledTarget {
                kind: t.kind,
                name: t.name.clone(),
                generation,
            }),
            Ok(None) => {}
            Err(e) => {
                if failed.is_none() {
                    failed = Some(failure::from_kube(
                        &format!("restarting {} {namespace}/{}", t.kind.as_str(), t.name),
                        &e,
                    ));
                }
            }
        }
    }
    (patched, failed)
}
