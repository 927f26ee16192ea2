//! The `autoscaling/v1` `Scale` subresource of Deployments, StatefulSets and ReplicaSets: a view of
//! `spec.replicas`, `status.replicas` and the label selector, writable through `spec.replicas`.
//!
//! Invariant: a scale write is an ordinary update of the parent's `spec.replicas` (same
//! resourceVersion preconditions, generation bump and watch events).

use serde_json::{Value, json};

use super::Shared;
use super::operations::{PatchType, WriteOptions, apply_json_patch_request};
use super::resources::ResourceType;
use super::status::ApiError;

/// `matchLabels` (and simple `matchExpressions`) as a selector string.
fn selector_string(object: &Value) -> String {
    let mut parts = vec![];
    if let Some(m) = object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    {
        parts.extend(m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))));
    }
    if let Some(exprs) = object
        .pointer("/spec/selector/matchExpressions")
        .and_then(Value::as_array)
    {
        for e in exprs {
            let key = e.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<&str> = e
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => parts.push(format!("{key} in ({})", values.join(","))),
                "NotIn" => parts.push(format!("{key} notin ({})", values.join(","))),
                "Exists" => parts.push(key.to_string()),
                "DoesNotExist" => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

fn scale_of(object: &Value) -> Value {
    let meta = object.get("metadata").cloned().unwrap_or(json!({}));
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": pick("name"), "namespace": pick("namespace"), "uid": pick("uid"),
            "resourceVersion": pick("resourceVersion"), "creationTimestamp": pick("creationTimestamp")},
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector_string(object)},
    })
}

/// Serves get, update and patch of `<resource>/scale`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn handle(
    shared: &Shared,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    verb: &str,
    patch_type: Option<PatchType>,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let current = shared.get(rt, namespace, name)?;
    let scale = scale_of(&current.value);
    let wanted = match verb {
        "get" => return Ok(scale),
        "update" => serde_json::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding Scale: {e}")))?,
        "patch" => {
            let patch: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut patched = scale.clone();
            match patch_type {
                Some(PatchType::Merge) | Some(PatchType::Strategic) => {
                    json_patch::merge(&mut patched, &patch)
                }
                Some(PatchType::Json) => {
                    apply_json_patch_request(&mut patched, &patch)?;
                }
                _ => {
                    return Err(ApiError::unsupported_media_type(&[
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                    ]));
                }
            }
            patched
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    let replicas = wanted
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale.autoscaling",
            "autoscaling",
            "Scale",
            name,
            vec![super::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                field: "spec.replicas".into(),
            }],
        ));
    }
    let mut next = current.value.clone();
    if let Some(rv) = wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        next["metadata"]["resourceVersion"] = json!(rv);
    }
    next["spec"]["replicas"] = json!(replicas);
    let written = shared.update(rt, namespace, name, next, None, opts)?;
    Ok(scale_of(&written.object.value))
}
