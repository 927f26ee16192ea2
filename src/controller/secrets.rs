//! The Secrets a rotation reads and writes: the staging Secret (a new credential before it is
//! verified) and the target Secret (what consumers read).
//!
//! * Observing ([`observe_staging`], [`observe_target`]) reads metadata only, the operator's
//!   annotations saying which credential a Secret holds; only a target Secret the operator has not
//!   written yet (adoption) is read whole, to see whether it holds a value and its first three
//!   characters.
//! * Values are read ([`read_value`]) only when a step needs one, and checked against the
//!   credential the step expects before use.
//! * Writes are server-side applies with the core's field managers, a controller ownerReference
//!   to the rotation and the operator's labels (so the label-selected Secret watch sees them).
//!
//! Invariants:
//! * a secret value is a `SecretString` (or the `ByteString` of the request body) and appears in
//!   no log, error, event or status;
//! * the operator never writes or deletes a Secret that belongs to someone else: a staging Secret
//!   must carry the staging role label and this rotation's ownerReference, a target Secret must not
//!   be controlled by another owner.

use std::collections::BTreeMap;

use k8s_openapi::{
    ByteString,
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, Preconditions},
    core::PartialObjectMeta,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::failure::{self, SECRET_CONTENT_MISMATCH, SECRET_NOT_OWNED};
use crate::{
    api::{ClientSecretRotation, wellknown},
    rotation::{SecretObservation, SecretValue, SecretWrite, StepFailure, ValueSource, plan::rfc3339},
};

fn controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .as_ref()
        .is_some_and(|refs| refs.iter().any(|r| r.controller == Some(true) && r.uid == uid))
}

fn foreign_controller(meta: &ObjectMeta, uid: &str) -> Option<String> {
    meta.owner_references.as_ref().and_then(|refs| {
        refs.iter()
            .find(|r| r.controller == Some(true) && r.uid != uid)
            .map(|r| format!("{} {}", r.kind, r.name))
    })
}

fn is_staging(meta: &ObjectMeta) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(wellknown::LABEL_ROLE))
        .is_some_and(|r| r == wellknown::ROLE_STAGING)
}

fn first_chars(value: &[u8], n: usize) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    Some(text.chars().take(n).collect())
}

/// Why a Secret cannot be trusted as the rotation's staging Secret, if it cannot.
pub fn staging_refusal(meta: &ObjectMeta, uid: &str) -> Option<String> {
    if is_staging(meta) && controlled_by(meta, uid) {
        return None;
    }
    Some(format!(
        "Secret {:?} exists but is not this rotation's staging Secret (it lacks the {}={} label or the ownerReference to the rotation)",
        meta.name.as_deref().unwrap_or_default(),
        wellknown::LABEL_ROLE,
        wellknown::ROLE_STAGING
    ))
}

/// The staging Secret as the core sees it; a Secret of that name that is not the rotation's own
/// staging Secret is not reported (the core would otherwise delete it).
pub async fn observe_staging(
    api: &Api<Secret>,
    name: &str,
    uid: &str,
) -> Result<Option<SecretObservation>, kube::Error> {
    let Some(meta) = api.get_metadata_opt(name).await? else {
        return Ok(None);
    };
    if staging_refusal(&meta.metadata, uid).is_some() {
        return Ok(None);
    }
    let annotations = meta.metadata.annotations.clone().unwrap_or_default();
    // The operator writes the value and the annotations in one apply.
    let has_value = annotations
        .get(wellknown::ANNOTATION_KEY_ID)
        .is_some_and(|k| !k.is_empty());
    Ok(Some(SecretObservation {
        annotations,
        owned: true,
        has_value,
        value_hint: None,
    }))
}

/// The target Secret as the core sees it.
///
/// NB: a Secret the operator wrote (it carries the `key-id` annotation) is trusted to hold the
/// value the annotations describe, without reading it; an edit of its data alone is noticed when
/// the value is next read (the step fails with `SecretContentMismatch`).
pub async fn observe_target(
    api: &Api<Secret>,
    name: &str,
    uid: &str,
    value_key: &str,
) -> Result<Option<SecretObservation>, kube::Error> {
    let Some(meta): Option<PartialObjectMeta<Secret>> = api.get_metadata_opt(name).await? else {
        return Ok(None);
    };
    let annotations = meta.metadata.annotations.clone().unwrap_or_default();
    let owned = controlled_by(&meta.metadata, uid);
    if annotations
        .get(wellknown::ANNOTATION_KEY_ID)
        .is_some_and(|k| !k.is_empty())
    {
        let value_hint = annotations.get(wellknown::ANNOTATION_HINT).cloned();
        return Ok(Some(SecretObservation {
            annotations,
            owned,
            has_value: true,
            value_hint,
        }));
    }
    // Not written by the operator (yet): look at the value itself, keep three characters.
    let Some(secret) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(value_key))
        .filter(|v| !v.0.is_empty());
    Ok(Some(SecretObservation {
        annotations,
        owned,
        has_value: value.is_some(),
        value_hint: value.and_then(|v| first_chars(&v.0, 3)),
    }))
}

/// Where a value is read from.
pub struct Sources<'a> {
    /// Secrets of the rotation's namespace.
    pub api: &'a Api<Secret>,
    /// The rotation.
    pub rotation: &'a ClientSecretRotation,
}

impl Sources<'_> {
    fn staging_name(&self) -> String {
        wellknown::staging_secret_name(&self.rotation.name_any())
    }

    /// Reads the value `v` describes, checking that the source holds that credential.
    pub async fn read_value(&self, v: &SecretValue) -> Result<SecretString, StepFailure> {
        let keys = &self.rotation.spec.secret.keys;
        let (name, key, annotation) = match v.from {
            ValueSource::Staging => (
                self.staging_name(),
                keys.client_secret.clone(),
                wellknown::ANNOTATION_KEY_ID,
            ),
            ValueSource::TargetCurrent => (
                self.rotation.spec.secret.name.clone(),
                keys.client_secret.clone(),
                wellknown::ANNOTATION_KEY_ID,
            ),
            ValueSource::TargetPrevious => (
                self.rotation.spec.secret.name.clone(),
                keys.previous_client_secret.clone().ok_or_else(|| {
                    failure::failure(
                        SECRET_CONTENT_MISMATCH,
                        "no previousClientSecret key is configured",
                        false,
                    )
                })?,
                wellknown::ANNOTATION_PREVIOUS_KEY_ID,
            ),
        };
        let mismatch = |why: &str| {
            failure::failure(
                SECRET_CONTENT_MISMATCH,
                format!(
                    "Secret {name:?} does not hold credential {} under key {key:?}: {why}",
                    v.key_id
                ),
                true,
            )
        };
        let secret = self
            .api
            .get_opt(&name)
            .await
            .map_err(|e| failure::from_kube(&format!("reading Secret {name:?}"), &e))?
            .ok_or_else(|| mismatch("the Secret does not exist"))?;
        let uid = self.rotation.uid().unwrap_or_default();
        if v.from == ValueSource::Staging
            && let Some(why) = staging_refusal(&secret.metadata, &uid)
        {
            return Err(failure::failure(SECRET_NOT_OWNED, why, false));
        }
        let value = secret
            .data
            .and_then(|mut d| d.remove(&key))
            .filter(|v| !v.0.is_empty())
            .ok_or_else(|| mismatch("no value"))?;
        let value = String::from_utf8(value.0).map_err(|_| mismatch("the value is not UTF-8"))?;
        let value = SecretString::from(value);
        let recorded = secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotation))
            .filter(|k| !k.is_empty());
        let matches = match recorded {
            Some(k) => k.eq_ignore_ascii_case(&v.key_id),
            None => v
                .hint
                .as_deref()
                .is_some_and(|h| value.expose_secret().starts_with(h)),
        };
        if !matches {
            return Err(mismatch(match recorded {
                Some(_) => "its annotation names another credential",
                None => "its value does not start with the credential's hint",
            }));
        }
        Ok(value)
    }
}

fn owner(rotation: &ClientSecretRotation) -> Result<OwnerReference, StepFailure> {
    rotation.controller_owner_ref(&()).ok_or_else(|| {
        failure::failure(
            failure::KUBERNETES_API_ERROR,
            "the rotation has no uid to own Secrets with",
            false,
        )
    })
}

fn apply_params(manager: &str) -> PatchParams {
    PatchParams::apply(manager).force()
}

/// Refuses (before anything is minted) when a Secret named like the staging Secret exists and is
/// not the rotation's own.
pub async fn check_staging_is_ours(
    api: &Api<Secret>,
    rotation: &ClientSecretRotation,
) -> Result<(), StepFailure> {
    let name = wellknown::staging_secret_name(&rotation.name_any());
    let uid = rotation.uid().unwrap_or_default();
    match api.get_metadata_opt(&name).await {
        Ok(None) => Ok(()),
        Ok(Some(meta)) => match staging_refusal(&meta.metadata, &uid) {
            None => Ok(()),
            Some(why) => Err(failure::failure(SECRET_NOT_OWNED, why, false)),
        },
        Err(e) => Err(failure::from_kube(&format!("reading Secret {name:?}"), &e)),
    }
}

/// Writes the staging Secret `name` with `value` and the core's `labels`/`annotations`.
pub async fn write_staging(
    api: &Api<Secret>,
    rotation: &ClientSecretRotation,
    name: &str,
    value: &SecretString,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> Result<(), StepFailure> {
    let key = &rotation.spec.secret.keys.client_secret;
    let body = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: rotation.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner(rotation)?]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            key.clone(),
            ByteString(value.expose_secret().as_bytes().to_vec()),
        )])),
        type_: Some("Opaque".to_owned()),
        ..Default::default()
    };
    api.patch(
        name,
        &apply_params(wellknown::FIELD_MANAGER_STAGING),
        &Patch::Apply(with_type_meta(&body)),
    )
    .await
    .map(|_| ())
    .map_err(|e| failure::from_kube(&format!("writing the staging Secret {name:?}"), &e))
}

/// `body` with `apiVersion` and `kind`, as server-side apply wants them.
fn with_type_meta(body: &Secret) -> serde_json::Value {
    let mut v = serde_json::to_value(body).unwrap_or_else(|_| json!({}));
    if let Some(m) = v.as_object_mut() {
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("kind".into(), json!("Secret"));
    }
    v
}

/// Applies the target Secret described by `write`, reading the values from their sources.
pub async fn write_target(sources: &Sources<'_>, write: &SecretWrite) -> Result<(), StepFailure> {
    let rotation = sources.rotation;
    let uid = rotation.uid().unwrap_or_default();
    if let Some(meta) = sources
        .api
        .get_metadata_opt(&write.name)
        .await
        .map_err(|e| failure::from_kube(&format!("reading Secret {:?}", write.name), &e))?
        && let Some(other) = foreign_controller(&meta.metadata, &uid)
    {
        return Err(failure::failure(
            SECRET_NOT_OWNED,
            format!("Secret {:?} is controlled by {other}", write.name),
            false,
        ));
    }
    let current = sources.read_value(&write.current).await?;
    let mut annotations = write.annotations.clone();
    let previous = match (&write.previous, &write.keys.previous_client_secret) {
        (Some(p), Some(_)) => match sources.read_value(p).await {
            Ok(v) => Some(v),
            // The previous value is a convenience for consumers that accept two secrets; its
            // loss must not hold the promotion back.
            Err(f) => {
                tracing::warn!(reason = %f.reason, message = %f.message, "the previous secret is not kept alongside");
                annotations.remove(wellknown::ANNOTATION_PREVIOUS_KEY_ID);
                None
            }
        },
        _ => None,
    };
    let keys = &write.keys;
    let mut data = BTreeMap::from([(
        keys.client_secret.clone(),
        ByteString(current.expose_secret().as_bytes().to_vec()),
    )]);
    for (key, value) in [
        (&keys.client_id, write.client_id.clone()),
        (&keys.tenant_id, write.tenant_id.clone()),
        (&keys.expires_at, rfc3339(write.expires_at)),
    ] {
        if !key.is_empty() {
            data.insert(key.clone(), ByteString(value.into_bytes()));
        }
    }
    if let (Some(key), Some(value)) = (&keys.previous_client_secret, &previous) {
        data.insert(key.clone(), ByteString(value.expose_secret().as_bytes().to_vec()));
    }
    let body = Secret {
        metadata: ObjectMeta {
            name: Some(write.name.clone()),
            namespace: rotation.namespace(),
            labels: Some(write.labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![owner(rotation)?]),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    sources
        .api
        .patch(
            &write.name,
            &apply_params(wellknown::FIELD_MANAGER_SECRET),
            &Patch::Apply(with_type_meta(&body)),
        )
        .await
        .map(|_| ())
        .map_err(|e| failure::from_kube(&format!("writing Secret {:?}", write.name), &e))
}

/// Deletes the rotation's staging Secret, if it is its own.
pub async fn delete_staging(api: &Api<Secret>, rotation: &ClientSecretRotation) -> Result<(), StepFailure> {
    let name = wellknown::staging_secret_name(&rotation.name_any());
    let uid = rotation.uid().unwrap_or_default();
    let meta = match api.get_metadata_opt(&name).await {
        Ok(Some(meta)) => meta,
        Ok(None) => return Ok(()),
        Err(e) => return Err(failure::from_kube(&format!("reading Secret {name:?}"), &e)),
    };
    if let Some(why) = staging_refusal(&meta.metadata, &uid) {
        return Err(failure::failure(SECRET_NOT_OWNED, why, false));
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: meta.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if failure::is_not_found(&e) => Ok(()),
        Err(e) => Err(failure::from_kube(&format!("deleting Secret {name:?}"), &e)),
    }
}

/// Removes the rotation's ownerReference from the target Secret, so garbage collection spares it
/// when the rotation goes (deletion with `Retain`).
pub async fn release_target(api: &Api<Secret>, rotation: &ClientSecretRotation) -> Result<(), StepFailure> {
    let name = &rotation.spec.secret.name;
    let uid = rotation.uid().unwrap_or_default();
    // Read-modify-write with a resourceVersion precondition; a conflict is retried at once.
    for _ in 0..3 {
        let meta = match api.get_metadata_opt(name).await {
            Ok(Some(meta)) => meta.metadata,
            Ok(None) => return Ok(()),
            Err(e) => return Err(failure::from_kube(&format!("reading Secret {name:?}"), &e)),
        };
        let refs = meta.owner_references.clone().unwrap_or_default();
        if !refs.iter().any(|r| r.uid == uid) {
            return Ok(());
        }
        let kept: Vec<OwnerReference> = refs.into_iter().filter(|r| r.uid != uid).collect();
        let patch = json!({
            "metadata": {
                "resourceVersion": meta.resource_version,
                "ownerReferences": kept,
            }
        });
        match api
            .patch(
                name,
                &PatchParams {
                    field_manager: Some(wellknown::FIELD_MANAGER_SECRET.to_owned()),
                    ..Default::default()
                },
                &Patch::Merge(patch),
            )
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if failure::is_conflict(&e) => continue,
            Err(e) if failure::is_not_found(&e) => return Ok(()),
            Err(e) => return Err(failure::from_kube(&format!("releasing Secret {name:?}"), &e)),
        }
    }
    Err(failure::failure(
        failure::KUBERNETES_API_ERROR,
        format!("releasing Secret {name:?}: it kept changing"),
        true,
    ))
}
