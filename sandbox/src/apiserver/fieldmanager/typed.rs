//! Structured-merge-diff's typed operations on JSON values guided by a [`TypeShape`]: the set of
//! fields a value sets, the comparison of two values, the merge of an applied configuration into
//! an object, and the removal of a set of fields.
//!
//! Invariant: the same path elements are produced for a list item everywhere (`k:` for `map`
//! lists with key defaults filled in, `v:` for `set` lists), so sets computed by one operation can
//! drive another.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement};
use crate::apiserver::json_value::json_eq;
use crate::apiserver::shape::{ListShape, ListType, ObjectShape, Resolved, TypeShape};

/// A value that does not fit its list semantics (an item missing a key field, a duplicate key, a
/// non-scalar in a set). The message names the path the way structured-merge-diff does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TypedError {
    /// Where, e.g. `.status.conditions`.
    pub path: String,
    /// What, e.g. `duplicate entries for key [type="Ready"]`.
    pub message: String,
}

fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// The path element identifying item `index` of a list.
pub fn list_item_element(list: &ListShape, index: usize, item: &Value) -> Result<PathElement, String> {
    match &list.list_type {
        ListType::Atomic => Ok(PathElement::Index(index)),
        ListType::Set => match item {
            Value::Object(_) | Value::Array(_) => Err(format!(
                "element {index}: only scalar values may be items of a set list"
            )),
            v => Ok(PathElement::Value(v.clone())),
        },
        ListType::Map { keys, key_defaults } => {
            let Value::Object(obj) = item else {
                return Err(format!(
                    "element {index}: associative list with keys has an element that is not a map"
                ));
            };
            let mut kv = Vec::with_capacity(keys.len());
            for k in keys {
                match obj
                    .get(k)
                    .filter(|v| !v.is_null())
                    .or_else(|| key_defaults.get(k))
                {
                    Some(v) => kv.push((k.clone(), v.clone())),
                    None => {
                        return Err(format!(
                            "element {index}: associative list with keys has an element that omits key field {} (and doesn't have default value)",
                            crate::apiserver::json_value::go_quote(k)
                        ));
                    }
                }
            }
            kv.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(kv))
        }
    }
}

/// A list's items with their path elements.
type IndexedItems<'v> = Vec<(PathElement, &'v Value)>;

/// The items of a list with their path elements, first occurrence of each element only; `Err`
/// when an item has no valid element, `Ok` with the duplicates seen otherwise.
fn index_items<'v>(
    list: &ListShape,
    items: &'v [Value],
) -> Result<(IndexedItems<'v>, Vec<PathElement>), String> {
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(items.len());
    let mut dups = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pe = list_item_element(list, i, item)?;
        if out.iter().any(|(p, _)| *p == pe) {
            dups.push(pe);
            continue;
        }
        out.push((pe, item));
    }
    Ok((out, dups))
}

fn as_items(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn as_map(v: Option<&Value>) -> Option<&Map<String, Value>> {
    v.and_then(Value::as_object)
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// ToFieldSet

/// The fields `value` sets (structured-merge-diff's `ToFieldSet`): scalars and atomic values as
/// leaves, map elements and list items as members themselves, struct fields only through their
/// children. This is what an applier owns.
pub fn to_field_set(value: &Value, shape: &TypeShape) -> Result<FieldSet, TypedError> {
    let mut set = FieldSet::new();
    let mut path = Vec::new();
    walk_to_set(value, shape, &mut path, &mut set)?;
    Ok(set)
}

fn walk_to_set(
    v: &Value,
    shape: &TypeShape,
    path: &mut Vec<PathElement>,
    set: &mut FieldSet,
) -> Result<(), TypedError> {
    match shape.resolve(&[Some(v)]) {
        Resolved::Leaf => set.insert(path),
        Resolved::Object(o) => {
            let Some(m) = v.as_object() else { return Ok(()) };
            for (k, child) in m {
                let c = o.child(k);
                path.push(PathElement::Field(k.clone()));
                walk_to_set(child, c.shape, path, set)?;
                if !c.named {
                    set.insert(path);
                }
                path.pop();
            }
        }
        Resolved::List(l) => {
            let items = as_items(Some(v));
            let (indexed, dups) = index_items(l, items).map_err(|message| TypedError {
                path: path_string(path),
                message,
            })?;
            if let Some(d) = dups.first() {
                return Err(TypedError {
                    path: path_string(path),
                    message: format!("duplicate entries for key {d}"),
                });
            }
            for (pe, item) in indexed {
                path.push(pe);
                walk_to_set(item, &l.items, path, set)?;
                set.insert(path);
                path.pop();
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Compare

/// What changed between two versions of an object, as paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Paths present only in the new version (containers included).
    pub added: FieldSet,
    /// Leaf paths whose value changed.
    pub modified: FieldSet,
    /// Paths present only in the old version (containers included).
    pub removed: FieldSet,
}

impl Comparison {
    /// Whether nothing changed.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// Compares `old` with `new` (structured-merge-diff's `Compare`). A present `null` is not an
/// absent field: replacing `containers: null` with a list does not add `containers` itself.
pub fn compare(old: Option<&Value>, new: Option<&Value>, shape: &TypeShape) -> Comparison {
    let mut c = Comparison::default();
    walk_compare(old, new, shape, &mut Vec::new(), &mut c);
    c
}

fn leaf_rule(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], c: &mut Comparison) {
    match (l, r) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        (Some(a), Some(b)) if !json_eq(a, b) => c.modified.insert(path),
        _ => {}
    }
}

fn post_rule(l: Option<&Value>, r: Option<&Value>, path: &[PathElement], c: &mut Comparison) {
    match (l, r) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        _ => {}
    }
}

fn walk_compare(
    l: Option<&Value>,
    r: Option<&Value>,
    shape: &TypeShape,
    path: &mut Vec<PathElement>,
    c: &mut Comparison,
) {
    match shape.resolve(&[l, r]) {
        Resolved::Leaf => leaf_rule(l, r, path, c),
        Resolved::Object(o) => {
            if is_empty_container(l) && is_empty_container(r) {
                return leaf_rule(l, r, path, c);
            }
            let (lm, rm) = (as_map(l), as_map(r));
            for k in ordered_keys(lm, rm) {
                let child = o.child(&k);
                path.push(PathElement::Field(k.clone()));
                walk_compare(
                    lm.and_then(|m| m.get(&k)),
                    rm.and_then(|m| m.get(&k)),
                    child.shape,
                    path,
                    c,
                );
                path.pop();
            }
            post_rule(l, r, path, c);
        }
        Resolved::List(ls) => {
            if is_empty_container(l) && is_empty_container(r) {
                return leaf_rule(l, r, path, c);
            }
            let (Ok((li, _)), Ok((ri, _))) = (index_items(ls, as_items(l)), index_items(ls, as_items(r)))
            else {
                // Items without a valid identity: the list can only be compared as a whole.
                return leaf_rule(l, r, path, c);
            };
            let mut seen: Vec<&PathElement> = Vec::new();
            for (pe, _) in li.iter().chain(ri.iter()) {
                if seen.contains(&pe) {
                    continue;
                }
                seen.push(pe);
                let lv = li.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                let rv = ri.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
                path.push(pe.clone());
                walk_compare(lv, rv, &ls.items, path, c);
                path.pop();
            }
            post_rule(l, r, path, c);
        }
    }
}

fn ordered_keys(l: Option<&Map<String, Value>>, r: Option<&Map<String, Value>>) -> Vec<String> {
    let mut keys: Vec<String> = l.map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let known: HashSet<String> = keys.iter().cloned().collect();
    if let Some(r) = r {
        keys.extend(r.keys().filter(|k| !known.contains(*k)).cloned());
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Merge

/// Merges `applied` into `live` (structured-merge-diff's `Merge`): granular maps key by key,
/// `map` lists item by item on their keys, `set` lists by value, everything else replaced by the
/// applied value. Item order follows the live list, with new items placed where the applied list
/// puts them relative to the items both share.
pub fn merge(live: Option<&Value>, applied: Option<&Value>, shape: &TypeShape) -> Option<Value> {
    match shape.resolve(&[live, applied]) {
        Resolved::Leaf => applied.or(live).cloned(),
        Resolved::Object(o) => {
            if is_empty_container(live) && is_empty_container(applied) {
                return applied.or(live).cloned();
            }
            Some(Value::Object(merge_map(o, as_map(live), as_map(applied))))
        }
        Resolved::List(ls) => {
            if is_empty_container(live) && is_empty_container(applied) {
                return applied.or(live).cloned();
            }
            match merge_list(ls, as_items(live), as_items(applied)) {
                Some(items) => Some(Value::Array(items)),
                None => applied.or(live).cloned(),
            }
        }
    }
}

fn merge_map(
    o: &ObjectShape,
    l: Option<&Map<String, Value>>,
    r: Option<&Map<String, Value>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for k in ordered_keys(l, r) {
        let child = o.child(&k);
        if let Some(v) = merge(l.and_then(|m| m.get(&k)), r.and_then(|m| m.get(&k)), child.shape) {
            out.insert(k, v);
        }
    }
    out
}

/// Merges two keyed lists; `None` when an item has no valid identity (the caller then replaces).
fn merge_list(ls: &ListShape, l: &[Value], r: &[Value]) -> Option<Vec<Value>> {
    let (lhs, _) = index_items(ls, l).ok()?;
    let (rhs, _) = index_items(ls, r).ok()?;
    let in_lhs = |pe: &PathElement| lhs.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);
    let in_rhs = |pe: &PathElement| rhs.iter().find(|(p, _)| p == pe).map(|(_, v)| *v);

    // Items present on both sides, in the applied order: they anchor where new items go.
    let mut shared = rhs.iter().map(|(p, _)| p).filter(|p| in_lhs(p).is_some());
    let mut next_shared = shared.next();

    let mut out = Vec::with_capacity(l.len().max(r.len()));
    let mut push = |v: Option<Value>| {
        if let Some(v) = v {
            out.push(v);
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                push(merge(Some(lhs[li].1), Some(rhs[ri].1), &ls.items));
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if in_rhs(pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                // Shared, but another shared item comes first in the applied order.
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li].0;
            if in_rhs(pe).is_none() {
                push(merge(Some(lhs[li].1), None, &ls.items));
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rhs[ri].0;
            push(merge(in_lhs(pe), Some(rhs[ri].1), &ls.items));
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.next();
            }
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Remove

/// `value` without the paths that are members of `set` (each removed with everything below it).
/// A container emptied by the removal disappears too (kube-apiserver turns it into `null`, which
/// decoding then drops).
pub fn remove(value: &Value, set: &FieldSet, shape: &TypeShape) -> Value {
    remove_inner(value, set, shape).unwrap_or_else(|| match value {
        Value::Array(_) => Value::Array(Vec::new()),
        _ => Value::Object(Map::new()),
    })
}

fn remove_inner(v: &Value, set: &FieldSet, shape: &TypeShape) -> Option<Value> {
    match shape.resolve(&[Some(v)]) {
        Resolved::Leaf => Some(v.clone()),
        Resolved::Object(o) => {
            let m = v.as_object()?;
            if m.is_empty() {
                return Some(v.clone());
            }
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if set.has_member(&pe) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => {
                        if let Some(kept) = remove_inner(child, sub, o.child(k).shape) {
                            out.insert(k.clone(), kept);
                        }
                    }
                    None => {
                        out.insert(k.clone(), child.clone());
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Resolved::List(ls) => {
            let items = v.as_array()?;
            if items.is_empty() {
                return Some(v.clone());
            }
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Ok(pe) = list_item_element(ls, i, item) else {
                    out.push(item.clone());
                    continue;
                };
                if set.has_member(&pe) {
                    continue;
                }
                match set.child(&pe) {
                    Some(sub) => {
                        if let Some(kept) = remove_inner(item, sub, &ls.items) {
                            out.push(kept);
                        }
                    }
                    None => out.push(item.clone()),
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EnsureNamedFieldsAreMembers

/// `set` plus, as members, every named (struct) field that has paths below it. Map elements and
/// list items already are members when they have children, so the result is closed under
/// ancestors; pruning relies on that to remove a struct an applier no longer sets.
pub fn with_named_fields_as_members(set: &FieldSet, shape: &TypeShape) -> FieldSet {
    let mut out = FieldSet::new();
    for m in set.members() {
        out.insert_member(m.clone());
    }
    for (pe, child) in set.children() {
        let child_shape: &TypeShape = match (pe, shape) {
            (PathElement::Field(name), s) => match s.as_object() {
                Some(o) => {
                    let c = o.child(name);
                    if c.named {
                        out.insert_member(pe.clone());
                    }
                    c.shape
                }
                None => &TypeShape::Untyped,
            },
            (_, TypeShape::List(l)) => &l.items,
            _ => &TypeShape::Untyped,
        };
        out.insert_child(pe.clone(), with_named_fields_as_members(child, child_shape));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apiserver::shape::build::*;
    use crate::apiserver::shape::builtin::object_meta;

    fn widget() -> TypeShape {
        strukt([
            ("metadata", object_meta()),
            (
                "spec",
                strukt([
                    ("tags", atomic_list(TypeShape::Scalar)),
                    ("size", TypeShape::Scalar),
                ]),
            ),
            (
                "status",
                strukt([("conditions", keyed_list(&["type"], "type", strukt([])))]),
            ),
            ("extra", TypeShape::Untyped),
        ])
    }

    fn v1(set: &FieldSet) -> Value {
        set.to_fields_v1()
    }

    #[test]
    fn to_field_set_cases() {
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "struct fields only through children, map-list items as members",
                json!({"status": {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]}}),
                json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}, "f:phase": {}}}),
            ),
            (
                "map elements are members, atomic lists leaves",
                json!({"metadata": {"labels": {"a": "1"}}, "spec": {"tags": ["x"]}}),
                json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:tags": {}}}),
            ),
            (
                "set items by value",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"f:metadata": {"f:finalizers": {"v:\"a\"": {}, "v:\"b\"": {}}}}),
            ),
            ("empty struct owns nothing", json!({"spec": {}}), json!({})),
            (
                "untyped region: every key below a declared field is an element",
                json!({"extra": {"a": {"b": 1}}}),
                json!({"f:extra": {"f:a": {".": {}, "f:b": {}}}}),
            ),
        ];
        let shape = widget();
        for (name, value, want) in cases {
            let s = to_field_set(&value, &shape).unwrap();
            assert_eq!(v1(&s), want, "{name}");
        }
    }

    #[test]
    fn to_field_set_rejects_bad_lists() {
        let shape = widget();
        let e = to_field_set(&json!({"status": {"conditions": [{"status": "x"}]}}), &shape).unwrap_err();
        assert_eq!(e.path, ".status.conditions");
        assert!(e.message.contains("omits key field \"type\""), "{}", e.message);
        let e = to_field_set(
            &json!({"status": {"conditions": [{"type": "A"}, {"type": "A"}]}}),
            &shape,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            ".status.conditions: duplicate entries for key [type=\"A\"]"
        );
        let e = to_field_set(&json!({"metadata": {"finalizers": [{"a": 1}]}}), &shape).unwrap_err();
        assert!(e.message.contains("only scalar values"));
    }

    #[test]
    fn key_defaults_fill_missing_key_fields() {
        let shape = strukt([(
            "ports",
            keyed_list_with_defaults(
                &["containerPort", "protocol"],
                &[("protocol", json!("TCP"))],
                "containerPort",
                strukt([]),
            ),
        )]);
        let s = to_field_set(&json!({"ports": [{"containerPort": 80}]}), &shape).unwrap();
        assert_eq!(
            v1(&s),
            json!({"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}})
        );
    }

    #[test]
    fn compare_cases() {
        let shape = widget();
        type Case = (&'static str, Option<Value>, Value, Value, Value, Value);
        let cases: Vec<Case> = vec![
            (
                "create from nothing marks containers added",
                None,
                json!({"spec": {"size": 1}}),
                json!({"f:spec": {".": {}, "f:size": {}}}),
                json!({}),
                json!({}),
            ),
            (
                "changed leaf is modified, container is not",
                Some(json!({"spec": {"size": 1}})),
                json!({"spec": {"size": 2}}),
                json!({}),
                json!({"f:spec": {"f:size": {}}}),
                json!({}),
            ),
            (
                "present null is not absent",
                Some(json!({"spec": {"tags": null}, "metadata": {"labels": null}})),
                json!({"spec": {"tags": ["a"]}, "metadata": {"labels": {"x": "y"}}}),
                json!({"f:metadata": {"f:labels": {"f:x": {}}}}),
                json!({"f:spec": {"f:tags": {}}}),
                json!({}),
            ),
            (
                "removed item with its fields",
                Some(json!({"status": {"conditions": [{"type": "A", "status": "x"}]}})),
                json!({"status": {}}),
                json!({}),
                json!({}),
                json!({"f:status": {"f:conditions": {".": {}, "k:{\"type\":\"A\"}": {".": {}, "f:status": {}, "f:type": {}}}}}),
            ),
            (
                "empty on both sides is a leaf",
                Some(json!({})),
                json!({"spec": {}}),
                json!({"f:spec": {}}),
                json!({}),
                json!({}),
            ),
            (
                "numbers compare by value",
                Some(json!({"spec": {"size": 1}})),
                json!({"spec": {"size": 1.0}}),
                json!({}),
                json!({}),
                json!({}),
            ),
        ];
        for (name, old, new, added, modified, removed) in cases {
            let c = compare(old.as_ref(), Some(&new), &shape);
            assert_eq!(v1(&c.added), added, "{name}: added");
            assert_eq!(v1(&c.modified), modified, "{name}: modified");
            assert_eq!(v1(&c.removed), removed, "{name}: removed");
        }
    }

    #[test]
    fn merge_cases() {
        let shape = widget();
        let cases: Vec<(&str, Value, Value, Value)> = vec![
            (
                "maps merge granularly",
                json!({"spec": {"size": 1}, "metadata": {"labels": {"a": "1"}}}),
                json!({"metadata": {"labels": {"b": "2"}}}),
                json!({"spec": {"size": 1}, "metadata": {"labels": {"a": "1", "b": "2"}}}),
            ),
            (
                "atomic list replaced",
                json!({"spec": {"tags": ["a", "b"]}}),
                json!({"spec": {"tags": ["c"]}}),
                json!({"spec": {"tags": ["c"]}}),
            ),
            (
                "map list merged by key, new items after",
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                json!({"status": {"conditions": [{"type": "Degraded", "status": "False"}]}}),
                json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}]}}),
            ),
            (
                "shared item merged in place",
                json!({"status": {"conditions": [{"type": "A", "x": 1}, {"type": "B", "x": 2}]}}),
                json!({"status": {"conditions": [{"type": "B", "y": 3}]}}),
                json!({"status": {"conditions": [{"type": "A", "x": 1}, {"type": "B", "x": 2, "y": 3}]}}),
            ),
            (
                "new item placed before the shared item that follows it in the applied list",
                json!({"status": {"conditions": [{"type": "A"}, {"type": "B"}]}}),
                json!({"status": {"conditions": [{"type": "N"}, {"type": "B"}]}}),
                json!({"status": {"conditions": [{"type": "A"}, {"type": "N"}, {"type": "B"}]}}),
            ),
            (
                "set union keeps live order",
                json!({"metadata": {"finalizers": ["a", "b"]}}),
                json!({"metadata": {"finalizers": ["c", "a"]}}),
                json!({"metadata": {"finalizers": ["c", "a", "b"]}}),
            ),
            (
                "null replaces a scalar",
                json!({"spec": {"size": 1}}),
                json!({"spec": {"size": null}}),
                json!({"spec": {"size": null}}),
            ),
        ];
        for (name, live, applied, want) in cases {
            assert_eq!(merge(Some(&live), Some(&applied), &shape), Some(want), "{name}");
        }
    }

    #[test]
    fn remove_cases() {
        let shape = widget();
        let set = FieldSet::from_fields_v1(&json!({
            "f:metadata": {"f:labels": {"f:a": {}}, "f:finalizers": {"v:\"x\"": {}}},
            "f:status": {"f:conditions": {"k:{\"type\":\"A\"}": {}}},
            "f:spec": {"f:size": {}},
        }))
        .unwrap();
        let obj = json!({
            "metadata": {"name": "n", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"]},
            "status": {"conditions": [{"type": "A"}, {"type": "B"}]},
            "spec": {"size": 3},
        });
        assert_eq!(
            remove(&obj, &set, &shape),
            json!({
                "metadata": {"name": "n", "labels": {"b": "2"}},
                "status": {"conditions": [{"type": "B"}]},
            })
        );
    }

    #[test]
    fn named_fields_become_members() {
        let shape = widget();
        let set = FieldSet::from_fields_v1(&json!({
            "f:metadata": {"f:labels": {"f:a": {}}},
            "f:status": {"f:conditions": {"k:{\"type\":\"A\"}": {".": {}, "f:status": {}}}},
        }))
        .unwrap();
        let e = with_named_fields_as_members(&set, &shape);
        assert_eq!(
            v1(&e),
            json!({
                "f:metadata": {".": {}, "f:labels": {".": {}, "f:a": {}}},
                "f:status": {".": {}, "f:conditions": {".": {}, "k:{\"type\":\"A\"}": {".": {}, "f:status": {}}}},
            })
        );
    }
}
