//! The bridge to the field-semantics libraries being written on the `sandbox-fields` branch:
//! strategic merge patch, server-side apply (managedFields), and CRD structural-schema
//! validation, pruning and defaulting.
//!
//! Invariant: the request handlers reach those semantics only through the functions here, so
//! wiring the libraries in is a change to this file alone. Until then each function states what it
//! does instead.

use serde_json::Value;

use super::resources::ResourceType;
use super::status::ApiError;

/// The result of schema processing of a custom resource.
#[derive(Debug, Default)]
pub struct SchemaOutcome {
    /// Paths of unknown fields that were pruned (`spec.extra`), for warnings or strict rejection.
    pub pruned: Vec<String>,
}

/// Applies a strategic merge patch to a built-in object.
///
/// Pending `sandbox-fields`: until its `patch` module lands this applies the patch as an RFC 7386
/// JSON merge patch, which is what strategic merge does for maps and scalars (labels,
/// annotations, pod-template annotations); lists are replaced whole instead of merged by key.
pub fn strategic_merge_patch(_rt: &ResourceType, original: &Value, patch: &Value) -> Result<Value, ApiError> {
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was not a JSON object",
        ));
    }
    let mut out = original.clone();
    json_patch::merge(&mut out, patch);
    Ok(out)
}

/// Server-side apply of `applied` by `manager` onto `current` (absent: create).
///
/// Pending `sandbox-fields`: its `fieldmanager` module owns managedFields, conflicts and field
/// removal; until it lands apply requests are refused with 415 so that nothing silently diverges
/// from kube-apiserver's semantics.
pub fn server_side_apply(
    _rt: &ResourceType,
    _current: Option<&Value>,
    _applied: &Value,
    _manager: &str,
    _force: bool,
    _subresource: Option<&str>,
    _now: &str,
) -> Result<Value, ApiError> {
    Err(ApiError::unsupported_media_type(&[
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    ]))
}

/// Records an Update-operation write by `manager` in `new`'s managedFields.
///
/// Pending `sandbox-fields`: managedFields are left as the client sent them (or as they were).
pub fn track_update(
    _rt: &ResourceType,
    _old: Option<&Value>,
    new: Value,
    _manager: &str,
    _subresource: Option<&str>,
    _now: &str,
) -> Result<Value, ApiError> {
    Ok(new)
}

/// Validates, prunes and defaults a custom resource against its CRD version's structural schema.
///
/// Pending `sandbox-fields`: its `schema` module provides this; until then objects are stored as
/// sent (no pruning, no defaulting, no validation beyond metadata).
pub fn process_custom_resource(
    _rt: &ResourceType,
    _object: &mut Value,
    _old: Option<&Value>,
) -> Result<SchemaOutcome, ApiError> {
    Ok(SchemaOutcome::default())
}
