//! Pruning (dropping fields the schema does not specify), dropping `null`s of non-nullable
//! fields, and defaulting, in the order kube-apiserver decodes a custom resource: prune, drop
//! nulls, default.
//!
//! Invariant: `apiVersion`, `kind` and `metadata` of the resource root and of embedded resources
//! are never pruned; unknown `metadata` fields are, like the rest, reported by path.

use serde_json::{Map, Value};

use super::node::SchemaNode;

/// The fields `metav1.ObjectMeta` knows; anything else under `metadata` is dropped.
pub const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Removes unknown fields from `value` (a whole resource when `is_resource_root`), pushing the
/// path of each removed field (`spec.extra`, `spec.items[0].x`) to `pruned`.
pub fn prune(
    value: &mut Value,
    node: &SchemaNode,
    is_resource_root: bool,
    path: &str,
    pruned: &mut Vec<String>,
) {
    match value {
        Value::Object(map) => prune_object(map, node, is_resource_root, path, pruned),
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, item_node, false, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

fn prune_object(
    map: &mut Map<String, Value>,
    node: &SchemaNode,
    is_resource_root: bool,
    path: &str,
    pruned: &mut Vec<String>,
) {
    let keeps_meta = is_resource_root || node.embedded_resource;
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        let child_path = join(path, &k);
        if keeps_meta && (k == "apiVersion" || k == "kind") {
            continue;
        }
        if keeps_meta && k == "metadata" {
            if let Some(Value::Object(meta)) = map.get_mut(&k) {
                meta.retain(|mk, mv| {
                    let known = OBJECT_META_FIELDS.contains(&mk.as_str());
                    if !known {
                        pruned.push(join(&child_path, mk));
                    }
                    known && !is_omitted_meta_value(mk, mv)
                });
            }
            continue;
        }
        let child_node = node.properties.get(&k).or(node.additional_properties.as_deref());
        match child_node {
            Some(c) => {
                if let Some(v) = map.get_mut(&k) {
                    prune(v, c, false, &child_path, pruned);
                }
            }
            None if node.preserve_unknown || node.additional_properties_any => {}
            None => {
                map.remove(&k);
                pruned.push(child_path);
            }
        }
    }
}

/// Whether an `ObjectMeta` field with this value disappears when kube-apiserver round-trips the
/// metadata through its Go type (every field is `omitempty`; `deletionGracePeriodSeconds` is a
/// pointer, so only `null` disappears).
fn is_omitted_meta_value(key: &str, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(n) => key == "generation" && n.as_i64() == Some(0),
        Value::Bool(_) => false,
    }
}

/// Removes `null` values of properties that are neither nullable nor defaulted.
pub fn drop_non_nullable_nulls(value: &mut Value, node: &SchemaNode) {
    match value {
        Value::Object(map) => {
            map.retain(|k, v| match node.properties.get(k) {
                Some(p) => !(v.is_null() && !p.nullable && p.default.is_none()),
                None => true,
            });
            for (k, v) in map.iter_mut() {
                if let Some(c) = node.child(k) {
                    drop_non_nullable_nulls(v, c);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for item in items {
                    drop_non_nullable_nulls(item, item_node);
                }
            }
        }
        _ => {}
    }
}

fn is_non_nullable_null(v: &Value, node: &SchemaNode) -> bool {
    v.is_null() && !node.nullable
}

/// Applies `default`s: a missing (or non-nullable `null`) property gets a copy of its default,
/// then defaulting continues inside it, so objects created by a default get their own nested
/// defaults too.
pub fn apply_defaults(value: &mut Value, node: &SchemaNode) {
    match value {
        Value::Object(map) => {
            for (k, prop) in &node.properties {
                let Some(default) = &prop.default else { continue };
                let missing = map.get(k).is_none_or(|v| is_non_nullable_null(v, prop));
                if missing {
                    map.insert(k.clone(), default.clone());
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(prop) = node.properties.get(k) {
                    apply_defaults(v, prop);
                } else if let Some(addl) = node.additional_properties.as_deref() {
                    if is_non_nullable_null(v, addl)
                        && let Some(d) = &addl.default
                    {
                        *v = d.clone();
                    }
                    apply_defaults(v, addl);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_node) = node.items.as_deref() {
                for item in items.iter_mut() {
                    if is_non_nullable_null(item, item_node)
                        && let Some(d) = &item_node.default
                    {
                        *item = d.clone();
                    }
                    apply_defaults(item, item_node);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(v: Value) -> SchemaNode {
        SchemaNode::parse(&v)
    }

    #[test]
    fn prune_cases() {
        let schema = node(json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "a": {"type": "string"},
                    "list": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"k": {"type": "string"}}}},
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "string"}}},
                }},
            },
        }));
        let mut obj = json!({
            "apiVersion": "v1", "kind": "K",
            "metadata": {"name": "n", "bogus": 1},
            "spec": {
                "a": "x", "extra": 1,
                "list": [{"x": "1", "y": 2}],
                "free": {"anything": {"goes": true}},
                "map": {"m1": {"k": "v", "z": 1}},
                "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": "s", "other": 1},
            },
            "status": {"x": 1},
        });
        let mut pruned = Vec::new();
        prune(&mut obj, &schema, true, "", &mut pruned);
        pruned.sort();
        assert_eq!(
            pruned,
            vec![
                "metadata.bogus",
                "spec.embedded.metadata.junk",
                "spec.embedded.other",
                "spec.extra",
                "spec.list[0].y",
                "spec.map.m1.z",
                "status",
            ]
        );
        assert_eq!(obj["spec"]["free"], json!({"anything": {"goes": true}}));
        assert_eq!(obj["metadata"], json!({"name": "n"}));
    }

    #[test]
    fn nulls_and_defaults() {
        let schema = node(json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "default": {}, "properties": {
                    "replicas": {"type": "integer", "default": 1},
                    "mode": {"type": "string"},
                    "opt": {"type": "string", "nullable": true},
                    "nested": {"type": "object", "default": {"inner": "x"}, "properties": {
                        "inner": {"type": "string"}, "deep": {"type": "string", "default": "d"}}},
                    "items": {"type": "array", "items": {"type": "object", "properties": {"p": {"type": "integer", "default": 80}}}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string", "default": "v"}},
                }},
            },
        }));
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "defaults create nested objects",
                json!({}),
                json!({"spec": {"replicas": 1, "nested": {"inner": "x", "deep": "d"}}}),
            ),
            (
                "nulls: non-nullable dropped or defaulted, nullable kept",
                json!({"spec": {"replicas": null, "mode": null, "opt": null}}),
                json!({"spec": {"replicas": 1, "opt": null, "nested": {"inner": "x", "deep": "d"}}}),
            ),
            (
                "items and map values defaulted",
                json!({"spec": {"items": [{}], "labels": {"a": null}}}),
                json!({"spec": {"replicas": 1, "items": [{"p": 80}], "labels": {"a": "v"}, "nested": {"inner": "x", "deep": "d"}}}),
            ),
        ];
        for (name, mut obj, want) in cases {
            drop_non_nullable_nulls(&mut obj, &schema);
            apply_defaults(&mut obj, &schema);
            assert_eq!(obj, want, "{name}");
        }
    }
}
