//! Strategic merge patch (`application/strategic-merge-patch+json`) as apimachinery's
//! `strategicpatch` applies it on the server: maps merge recursively, `null` deletes, lists follow
//! their patch strategy ([`PatchStrategy`]): replaced by default, merged item by item on their
//! merge key (or as a union for scalars) when the strategy is `merge`.
//!
//! Directives: `$patch: replace | delete | merge` (in maps and as list items), `$retainKeys`,
//! `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`.
//!
//! Invariant: the result never contains a directive key, and the relative order of items the
//! patch names follows the patch (or its `$setElementOrder`), while items only the server has keep
//! their place relative to each other.

use serde_json::{Map, Value};

use super::PatchError;
use crate::apiserver::json_value::{go_sharp_v, json_eq};
use crate::apiserver::shape::{PatchStrategy, TypeShape};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies strategic merge patch `patch` to `original`, guided by the kind's `shape` (see
/// [`crate::apiserver::shape::builtin`]).
///
/// ```
/// use sandbox::apiserver::patch::strategic_merge_patch;
/// use sandbox::apiserver::shape::builtin::builtin_kind;
/// use serde_json::json;
///
/// let deploy = builtin_kind("apps", "Deployment").unwrap();
/// let live = json!({"spec": {"template": {"spec": {"containers": [
///     {"name": "app", "image": "v1", "env": [{"name": "A", "value": "1"}]}]}}}});
/// // What `kubectl rollout restart` sends, plus a container change merged on `name`.
/// let patch = json!({"spec": {"template": {
///     "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-22T00:00:00Z"}},
///     "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}});
/// let out = strategic_merge_patch(&live, &patch, &deploy.shape).unwrap();
/// assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["env"],
///            json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]));
/// assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "v1");
/// ```
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    shape: &TypeShape,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_json_kind(patch)
        )));
    };
    let original = original.as_object().cloned().unwrap_or_default();
    merge_map(original, patch.clone(), shape).map(Value::Object)
}

fn go_json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

fn child_shape<'a>(shape: &'a TypeShape, key: &str) -> &'a TypeShape {
    match shape.as_object() {
        Some(o) => o.child(key).shape,
        None => &TypeShape::Untyped,
    }
}

fn same_json_type(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64(),
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

fn bad_patch_type(directive: &Value, m: &Map<String, Value>) -> PatchError {
    let d = directive
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| directive.to_string());
    PatchError::Internal(format!(
        "unknown patch type: {d} in map: {}",
        go_sharp_v(&Value::Object(m.clone()))
    ))
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    shape: &TypeShape,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                // The patch is the new content; it may still carry directives and nulls.
                merge_map(Map::new(), patch, shape)
            }
            Some("delete") => Ok(Map::new()),
            Some("merge") => {
                patch.remove(DIRECTIVE);
                merge_map(original, patch, shape)
            }
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, shape)?;

    for (k, patch_value) in patch {
        let (key, is_delete_list) = match k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(rest) => (rest.to_string(), true),
            None => (k, false),
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let child = child_shape(shape, &key);
        let Some(original_value) = original.remove(&key) else {
            if !is_delete_list {
                original.insert(key, new_value(patch_value, child)?);
            }
            continue;
        };
        if !same_json_type(&original_value, &patch_value) {
            let replaced = if is_delete_list {
                original_value
            } else {
                new_value(patch_value, child)?
            };
            original.insert(key, replaced);
            continue;
        }
        let merged = match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) => Value::Object(merge_map(o, p, child)?),
            (Value::Array(o), Value::Array(p)) => {
                Value::Array(merge_list_field(o, p, child, is_delete_list)?)
            }
            (_, p) => p,
        };
        original.insert(key, merged);
    }
    Ok(original)
}

/// A patch value for a key the original lacks: its directives processed and its nulls dropped.
fn new_value(patch_value: Value, shape: &TypeShape) -> Result<Value, PatchError> {
    Ok(match patch_value {
        Value::Object(p) => Value::Object(merge_map(Map::new(), p, shape)?),
        Value::Array(items) => Value::Array(merge_list_field(Vec::new(), items, shape, false)?),
        other => other,
    })
}

fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    shape: &TypeShape,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    match shape.as_list().map(|l| (&l.patch, &l.items)) {
        Some((PatchStrategy::Merge { key }, items)) => {
            merge_list(original, patch, key.as_deref(), items, is_delete_list)
        }
        _ => {
            // Replaced: the patch's list as is, minus nulls inside its objects.
            Ok(patch.into_iter().map(discard_nulls).collect())
        }
    }
}

fn discard_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, discard_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(discard_nulls).collect()),
        other => other,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ElementKind {
    Map,
    Scalar,
}

fn element_kind(original: &[Value], patch: &[Value]) -> Result<ElementKind, PatchError> {
    let mut kind: Option<ElementKind> = None;
    for v in original.iter().chain(patch) {
        let k = match v {
            Value::Array(_) => return Err(PatchError::Invalid("lists of lists are not supported".into())),
            Value::Object(_) => ElementKind::Map,
            Value::Null => continue,
            _ => ElementKind::Scalar,
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                return Err(PatchError::Internal(
                    "the elements of a list to merge must all be maps or all be scalars".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(kind.unwrap_or(ElementKind::Scalar))
}

fn key_of<'a>(item: &'a Value, key: &str) -> Option<&'a Value> {
    item.as_object().and_then(|m| m.get(key))
}

fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        go_sharp_v(item)
    ))
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&str>,
    item_shape: &TypeShape,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&original, &patch)?;
    if kind == ElementKind::Scalar {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|o| !patch.iter().any(|p| json_eq(o, p)))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::new();
        for v in original.iter().chain(&patch) {
            if !merged.iter().any(|m| json_eq(m, v)) {
                merged.push(v.clone());
            }
        }
        let in_patch = |v: &Value| patch.iter().any(|p| json_eq(p, v));
        let (patch_items, server_only): (Vec<Value>, Vec<Value>) =
            merged.into_iter().partition(|v| in_patch(v));
        let identity = |v: &Value| Some(v.clone());
        let patch_items = sort_by_order(patch_items, &patch, identity);
        let server_only = sort_by_order(server_only, &original, identity);
        return Ok(merge_sorted(server_only, patch_items, &original, identity));
    }

    let Some(key) = merge_key else {
        return Err(PatchError::Internal(
            "cannot merge lists without merge key".into(),
        ));
    };
    // Special elements: `{"$patch": "delete", <key>: v}` deletes, `{"$patch": "replace"}` replaces.
    let mut original = original;
    let mut patch_items_raw = Vec::new();
    let mut replace = false;
    for item in patch {
        match item.as_object().and_then(|m| m.get(DIRECTIVE)).cloned() {
            None => patch_items_raw.push(item),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let Some(v) = key_of(&item, key).cloned() else {
                        return Err(no_merge_key(&item, key));
                    };
                    original.retain(|o| !key_of(o, key).is_some_and(|ov| json_eq(ov, &v)));
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    return Err(PatchError::Internal(
                        "merging lists cannot yet be specified in the patch".into(),
                    ));
                }
                _ => return Err(bad_patch_type(&d, item.as_object().unwrap_or(&Map::new()))),
            },
        }
    }
    let (original, patch) = if replace {
        let mut cleaned = Vec::new();
        for item in patch_items_raw {
            cleaned.push(new_value(item, item_shape)?);
        }
        (cleaned, Vec::new())
    } else {
        (original, patch_items_raw)
    };

    let mut merged = original.clone();
    for item in &patch {
        let Some(kv) = key_of(item, key) else {
            return Err(no_merge_key(item, key));
        };
        match merged
            .iter()
            .position(|o| key_of(o, key).is_some_and(|ov| json_eq(ov, kv)))
        {
            Some(i) => {
                let o = merged[i].as_object().cloned().unwrap_or_default();
                let p = item.as_object().cloned().unwrap_or_default();
                merged[i] = Value::Object(merge_map(o, p, item_shape)?);
            }
            None => merged.push(new_value(item.clone(), item_shape)?),
        }
    }

    let ident = |v: &Value| key_of(v, key).cloned();
    let in_patch = |v: &Value| {
        ident(v).is_some_and(|k| {
            patch
                .iter()
                .any(|p| key_of(p, key).is_some_and(|pk| json_eq(pk, &k)))
        })
    };
    let (patch_items, server_only): (Vec<Value>, Vec<Value>) = merged.into_iter().partition(|v| in_patch(v));
    let patch_items = sort_by_order(patch_items, &patch, ident);
    let server_only = sort_by_order(server_only, &original, ident);
    Ok(merge_sorted(server_only, patch_items, &original, ident))
}

fn index_in(order: &[Value], v: &Value, ident: impl Fn(&Value) -> Option<Value>) -> Option<usize> {
    let id = ident(v)?;
    order
        .iter()
        .position(|o| ident(o).is_some_and(|oi| json_eq(&oi, &id)))
}

/// Stable sort of `items` by their position in `order`; items `order` lacks go last, in their
/// current order.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    ident: impl Fn(&Value) -> Option<Value> + Copy,
) -> Vec<Value> {
    let mut keyed: Vec<(usize, Value)> = items
        .into_iter()
        .map(|v| (index_in(order, &v, ident).unwrap_or(usize::MAX), v))
        .collect();
    keyed.sort_by_key(|(i, _)| *i);
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// apimachinery's `mergeSortedSlice`: inserts the server-only items (`left`) into the patch items
/// (`right`), a left item going first only when both are in the live list and it comes earlier.
fn merge_sorted(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    ident: impl Fn(&Value) -> Option<Value> + Copy,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => out.extend(l.next()),
            (None, Some(_)) => out.extend(r.next()),
            (Some(lv), Some(rv)) => {
                let left_first = match (
                    index_in(server_order, lv, ident),
                    index_in(server_order, rv, ident),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                };
                if left_first {
                    out.extend(l.next());
                } else {
                    out.extend(r.next());
                }
            }
        }
    }
    out
}

fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || PatchError::BadRequest("invalid patch format of retainKeys".into());
    let Value::Array(retain) = retain else {
        return Err(bad());
    };
    let keys: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !keys.contains(&k.as_str()) {
            return Err(bad());
        }
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    shape: &TypeShape,
) -> Result<(), PatchError> {
    let directives: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive in directives {
        let order = patch.remove(&directive).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(PatchError::BadRequest(
                "invalid patch format of setElementOrder list".into(),
            ));
        };
        let field = directive[SET_ELEMENT_ORDER.len()..].to_string();
        let list_shape = child_shape(shape, &field);
        let merge_key = match list_shape.as_list().map(|l| &l.patch) {
            Some(PatchStrategy::Merge { key }) => key.clone(),
            _ => None,
        };
        let ident = |v: &Value| match &merge_key {
            Some(k) => key_of(v, k).cloned(),
            None => Some(v.clone()),
        };

        let original_list = match original.get(&field) {
            Some(Value::Array(items)) => items.clone(),
            _ => Vec::new(),
        };
        let patch_list = match patch.remove(&field) {
            Some(Value::Array(items)) => Some(items),
            Some(other) => {
                // Not a list: leave it to the ordinary merge.
                patch.insert(field.clone(), other);
                None
            }
            None => Some(Vec::new()),
        };
        let Some(patch_list) = patch_list else { continue };

        // Every item the patch names must be listed, in the same relative order.
        let mut last = None;
        for item in patch_list.iter().filter(|i| key_of(i, DIRECTIVE).is_none()) {
            match index_in(&order, item, ident) {
                Some(i) if last.is_none_or(|l| i > l) => last = Some(i),
                _ => {
                    return Err(PatchError::BadRequest(format!(
                        "the order in patch list {} doesn't match {directive} list {}",
                        go_sharp_v(&Value::Array(patch_list.clone())),
                        go_sharp_v(&Value::Array(order.clone()))
                    )));
                }
            }
        }

        let merged = if original_list.is_empty() && patch_list.is_empty() {
            Vec::new()
        } else if patch_list.is_empty() {
            original_list.clone()
        } else {
            merge_list_field(original_list.clone(), patch_list, list_shape, false)?
        };
        let ordered = sort_by_order(merged, &order, ident);
        if !ordered.is_empty() || original.contains_key(&field) {
            original.insert(field, Value::Array(ordered));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apiserver::recordings::exchange;
    use crate::apiserver::shape::builtin::builtin_kind;

    fn deploy() -> &'static TypeShape {
        &builtin_kind("apps", "Deployment").unwrap().shape
    }

    fn pod(containers: Value) -> Value {
        json!({"spec": {"template": {"spec": {"containers": containers}}}})
    }

    fn containers(v: &Value) -> &Value {
        &v["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn map_cases() {
        let shape = deploy();
        let cases: Vec<(&str, Value, Value, Value)> = vec![
            (
                "merge maps",
                json!({"metadata": {"labels": {"a": "1"}}}),
                json!({"metadata": {"labels": {"b": "2"}}}),
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            ),
            (
                "null deletes",
                json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
                json!({"metadata": {"labels": {"a": null}}}),
                json!({"metadata": {"labels": {"b": "2"}}}),
            ),
            (
                "null for a missing key is dropped",
                json!({}),
                json!({"metadata": {"labels": {"a": null, "b": "2"}}}),
                json!({"metadata": {"labels": {"b": "2"}}}),
            ),
            (
                "$patch replace",
                json!({"metadata": {"labels": {"a": "1"}}}),
                json!({"metadata": {"labels": {"$patch": "replace", "b": "2"}}}),
                json!({"metadata": {"labels": {"b": "2"}}}),
            ),
            (
                "$patch delete",
                json!({"metadata": {"labels": {"a": "1"}, "name": "x"}}),
                json!({"metadata": {"labels": {"$patch": "delete"}}}),
                json!({"metadata": {"labels": {}, "name": "x"}}),
            ),
            (
                "type change replaces",
                json!({"spec": {"replicas": {"x": 1}}}),
                json!({"spec": {"replicas": 3}}),
                json!({"spec": {"replicas": 3}}),
            ),
            (
                "atomic list replaced",
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}]}}}}),
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b"}]}}}}),
                json!({"spec": {"template": {"spec": {"tolerations": [{"key": "b"}]}}}}),
            ),
            (
                "$retainKeys clears other keys",
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
                json!({"spec": {"strategy": {"type": "Recreate"}}}),
            ),
        ];
        for (name, orig, patch, want) in cases {
            assert_eq!(
                strategic_merge_patch(&orig, &patch, shape).unwrap(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn keyed_list_cases() {
        let shape = deploy();
        let orig = pod(json!([{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]));
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "merge item by key",
                json!([{"name": "b", "image": "3"}]),
                json!([{"name": "a", "image": "1"}, {"name": "b", "image": "3"}]),
            ),
            (
                "new item goes before server-only items",
                json!([{"name": "c", "image": "9"}]),
                json!([{"name": "c", "image": "9"}, {"name": "a", "image": "1"}, {"name": "b", "image": "2"}]),
            ),
            (
                "delete item",
                json!([{"name": "a", "$patch": "delete"}]),
                json!([{"name": "b", "image": "2"}]),
            ),
            (
                "replace list",
                json!([{"$patch": "replace"}, {"name": "z"}]),
                json!([{"name": "z"}]),
            ),
            (
                "null inside item deletes the field",
                json!([{"name": "a", "image": null}]),
                json!([{"name": "a"}, {"name": "b", "image": "2"}]),
            ),
        ];
        for (name, patch, want) in cases {
            let out = strategic_merge_patch(&orig, &pod(patch), shape).unwrap();
            assert_eq!(containers(&out), &want, "{name}");
        }
    }

    #[test]
    fn primitive_lists() {
        let shape = deploy();
        let orig = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["x", "y"]}]}}}});
        let out =
            strategic_merge_patch(&orig, &json!({"metadata": {"finalizers": ["c", "a"]}}), shape).unwrap();
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["c", "a", "b"]),
            "set-merge union"
        );
        let out = strategic_merge_patch(
            &orig,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            shape,
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        let out = strategic_merge_patch(&orig, &pod(json!([{"name": "c", "args": ["z"]}])), shape).unwrap();
        assert_eq!(containers(&out)[0]["args"], json!(["z"]), "args are replaced");
    }

    #[test]
    fn set_element_order() {
        let shape = deploy();
        let orig = pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
            "containers": [{"name": "a", "image": "new"}],
        }}}});
        let out = strategic_merge_patch(&orig, &patch, shape).unwrap();
        assert_eq!(
            containers(&out),
            &json!([{"name": "c"}, {"name": "a", "image": "new"}, {"name": "b"}])
        );
        let bad = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a"}, {"name": "b"}],
        }}}});
        assert_eq!(strategic_merge_patch(&orig, &bad, shape).unwrap_err().code(), 400);
    }

    #[test]
    fn errors() {
        let shape = deploy();
        let orig = pod(json!([{"name": "a"}]));
        let cases: Vec<(&str, Value, Value, u16, Option<&str>)> = vec![
            (
                "not an object",
                json!({}),
                json!([1]),
                400,
                Some("json: cannot unmarshal array into Go value of type map[string]interface {}"),
            ),
            (
                "bad retainKeys",
                json!({}),
                json!({"spec": {"strategy": {"$retainKeys": "type"}}}),
                400,
                Some("invalid patch format of retainKeys"),
            ),
            (
                "patch outside retainKeys",
                json!({}),
                json!({"spec": {"strategy": {"$retainKeys": ["type"], "x": 1}}}),
                400,
                Some("invalid patch format of retainKeys"),
            ),
            (
                "bad setElementOrder",
                json!({}),
                json!({"metadata": {"$setElementOrder/finalizers": "x"}}),
                400,
                Some("invalid patch format of setElementOrder list"),
            ),
            (
                "lists of lists",
                json!({"metadata": {"finalizers": ["a"]}}),
                json!({"metadata": {"finalizers": [["b"]]}}),
                422,
                None,
            ),
            (
                "missing merge key",
                orig.clone(),
                pod(json!([{"image": "x"}])),
                500,
                None,
            ),
            (
                "unknown directive",
                json!({}),
                json!({"metadata": {"$patch": "frobnicate"}}),
                500,
                None,
            ),
        ];
        for (name, o, p, code, msg) in cases {
            let err = strategic_merge_patch(&o, &p, shape).unwrap_err();
            assert_eq!(err.code(), code, "{name}");
            assert_eq!(err.status()["code"], code, "{name}");
            if let Some(m) = msg {
                assert_eq!(err.status()["message"], m, "{name}");
            }
        }
    }

    #[test]
    fn replays_recorded_strategic_patches() {
        let secret = builtin_kind("", "Secret").unwrap();
        let before = exchange("secret-patch-merge").response_body().clone();
        let ex = exchange("secret-patch-strategic");
        let out = strategic_merge_patch(&before, ex.request_body(), &secret.shape).unwrap();
        let mut want = ex.response_body().clone();
        want["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"].clone();
        want["metadata"]["managedFields"] = before["metadata"]["managedFields"].clone();
        assert_eq!(out, want);

        let live = exchange("deploy-status-settled").response_body().clone();
        let ex = exchange("deploy-restart-annotation");
        let out = strategic_merge_patch(
            &live,
            ex.request_body(),
            &builtin_kind("apps", "Deployment").unwrap().shape,
        )
        .unwrap();
        assert_eq!(out["spec"], ex.response_body()["spec"]);
    }

    #[test]
    fn bad_input_never_panics() {
        let shape = deploy();
        let originals = [
            json!({}),
            json!({"spec": "x"}),
            pod(json!([1, "a", null])),
            pod(json!({"name": "a"})),
            json!({"metadata": {"finalizers": [{"a": 1}]}}),
        ];
        let patches = [
            pod(json!([{"name": "a", "$patch": "replace"}])),
            pod(json!([[1]])),
            pod(json!("x")),
            json!({"metadata": {"finalizers": ["x", {"y": 1}]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "x"}}),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [1, null], "containers": [{"name": "a"}]}}}}),
            json!({"$patch": "delete"}),
            json!({"$retainKeys": ["spec"], "spec": null}),
        ];
        for o in &originals {
            for p in &patches {
                let _ = strategic_merge_patch(o, p, shape);
            }
        }
    }
}
