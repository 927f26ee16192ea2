//! Field paths and sets of them, as structured-merge-diff models ownership, and their `FieldsV1`
//! encoding in `metadata.managedFields[].fieldsV1`.
//!
//! A path is a sequence of [`PathElement`]s: `f:name` (a field), `k:{"type":"Ready"}` (an item of a
//! `map` list), `v:"value"` (an item of a `set` list), `i:3` (an index; never used by typed lists).
//! A [`FieldSet`] is a tree of them where each node may itself be a member (`"."` in `FieldsV1`
//! when it also has children, `{}` when it is a leaf).
//!
//! Invariant: a `FieldSet` never holds empty child nodes, so structural equality is set equality.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::apiserver::json_value::{json_cmp, smd_to_string};

/// One step of a field path.
#[derive(Clone, Debug)]
pub enum PathElement {
    /// An object key (`f:<name>`, printed `.name`).
    Field(String),
    /// An item of a `map` list, identified by its key fields sorted by name (`k:{...}`, printed
    /// `[type="Ready"]`).
    Key(Vec<(String, Value)>),
    /// An item of a `set` list, identified by its value (`v:<json>`, printed `[="a"]`).
    Value(Value),
    /// A list index (`i:<n>`, printed `[n]`).
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key for this element (`f:name`, `k:{"name":"c"}`, `v:"x"`, `i:0`).
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(kv) => {
                let obj: Map<String, Value> = kv.iter().cloned().collect();
                format!("k:{}", Value::Object(obj))
            }
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key. `"."` is not an element and is handled by the set decoder.
    pub fn from_fields_v1_key(key: &str) -> Result<PathElement, String> {
        let Some((prefix, rest)) = key.split_once(':') else {
            return Err(format!("unexpected key in fieldsV1: {key:?}"));
        };
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => match serde_json::from_str::<Value>(rest) {
                Ok(Value::Object(m)) => Ok(PathElement::Key(m.into_iter().collect())),
                _ => Err(format!(
                    "invalid key in fieldsV1, expected a JSON object: {key:?}"
                )),
            },
            "v" => serde_json::from_str(rest)
                .map(PathElement::Value)
                .map_err(|_| format!("invalid value in fieldsV1: {key:?}")),
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("invalid index in fieldsV1: {key:?}")),
            _ => Err(format!("unknown path element prefix in fieldsV1: {key:?}")),
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b) {
                    let c = an.cmp(bn).then_with(|| json_cmp(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => json_cmp(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(kv) => {
                let parts: Vec<String> = kv
                    .iter()
                    .map(|(k, v)| format!("{k}={}", smd_to_string(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", smd_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A field path; prints as structured-merge-diff does (`.status.conditions[type="Ready"].reason`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct FieldPath(pub Vec<PathElement>);

impl FieldPath {
    /// A path of object keys.
    pub fn fields<S: AsRef<str>>(names: &[S]) -> FieldPath {
        FieldPath(
            names
                .iter()
                .map(|n| PathElement::Field(n.as_ref().to_string()))
                .collect(),
        )
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

/// A set of field paths (structured-merge-diff's `fieldpath.Set`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds `path`; the empty path (the whole object) is never tracked.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is a member.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The paths below `pe`, re-rooted at `pe`.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// Whether `pe` is a member of this node.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The subtree at `path` (re-rooted), if any path goes through it.
    pub fn subtree(&self, path: &[PathElement]) -> Option<&FieldSet> {
        let mut cur = self;
        for pe in path {
            cur = cur.children.get(pe)?;
        }
        Some(cur)
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, c) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let i = c.intersection(o);
                if !i.is_empty() {
                    out.children.insert(pe.clone(), i);
                }
            }
        }
        out
    }

    /// Paths of `self` that are not paths of `other` (members compared exactly; a member of `other`
    /// does not remove `self`'s paths below it).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            let d = match other.children.get(pe) {
                Some(o) => c.difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// Paths of `self` that are neither paths of `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, c) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let d = match other.children.get(pe) {
                Some(o) => c.recursive_difference(o),
                None => c.clone(),
            };
            if !d.is_empty() {
                out.children.insert(pe.clone(), d);
            }
        }
        out
    }

    /// Every member path, members of a node before its children, each group in sorted order.
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<FieldPath>) {
        for m in &self.members {
            prefix.push(m.clone());
            out.push(FieldPath(prefix.clone()));
            prefix.pop();
        }
        for (pe, c) in &self.children {
            prefix.push(pe.clone());
            c.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The set's direct members.
    pub fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    /// The set's child nodes.
    pub fn children(&self) -> impl Iterator<Item = (&PathElement, &FieldSet)> {
        self.children.iter()
    }

    pub(crate) fn insert_member(&mut self, pe: PathElement) {
        self.members.insert(pe);
    }

    pub(crate) fn insert_child(&mut self, pe: PathElement, set: FieldSet) {
        if set.is_empty() {
            return;
        }
        let merged = match self.children.remove(&pe) {
            Some(existing) => existing.union(&set),
            None => set,
        };
        self.children.insert(pe, merged);
    }

    /// The `FieldsV1` JSON form (`{"f:spec": {".": {}, "f:size": {}}}`).
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        for m in &self.members {
            if !self.children.contains_key(m) {
                out.insert(m.to_fields_v1_key(), Value::Object(Map::new()));
            }
        }
        for (pe, c) in &self.children {
            out.insert(
                pe.to_fields_v1_key(),
                Value::Object(c.emit(self.members.contains(pe))),
            );
        }
        out
    }

    /// Parses the `FieldsV1` JSON form.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(map) = v else {
            return Err("fieldsV1 must be a JSON object".into());
        };
        let mut set = FieldSet::new();
        for (k, child) in map {
            if k == "." {
                continue;
            }
            let pe = PathElement::from_fields_v1_key(k)?;
            let Value::Object(cm) = child else {
                return Err(format!("fieldsV1 entry {k:?} must be a JSON object"));
            };
            if cm.is_empty() {
                set.members.insert(pe);
                continue;
            }
            if cm.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let c = FieldSet::from_fields_v1(child)?;
            if !c.is_empty() {
                set.children.insert(pe, c);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(n: &str) -> PathElement {
        PathElement::Field(n.into())
    }

    #[test]
    fn fields_v1_round_trips_recorded_shapes() {
        let recorded = [
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:type": {}}),
            json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}, "f:phase": {}}}),
            json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"example.com/hold\"": {}}}, "f:spec": {".": {}, "f:size": {}}}),
            json!({"f:metadata": {"f:ownerReferences": {".": {}, "k:{\"uid\":\"cdcf76a0\"}": {}}}, "f:type": {}}),
        ];
        for r in recorded {
            let set = FieldSet::from_fields_v1(&r).unwrap();
            assert_eq!(set.to_fields_v1(), r);
        }
    }

    #[test]
    fn paths_print_like_structured_merge_diff() {
        let set = FieldSet::from_fields_v1(&json!({
            "f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {"f:reason": {}}}},
            "f:metadata": {"f:finalizers": {"v:\"a\"": {}}},
            "f:stringData": {"f:shared": {}},
        }))
        .unwrap();
        let printed: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            printed,
            vec![
                ".metadata.finalizers[=\"a\"]",
                ".status.conditions[type=\"Ready\"].reason",
                ".stringData.shared"
            ]
        );
        let ports = PathElement::Key(vec![
            ("containerPort".into(), json!(80)),
            ("protocol".into(), json!("TCP")),
        ]);
        assert_eq!(ports.to_string(), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(
            ports.to_fields_v1_key(),
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"
        );
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("a")]);
        a.insert(&[f("spec"), f("b")]);
        a.insert(&[f("spec")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("a")]);

        let d = a.difference(&b);
        assert!(d.has(&[f("spec")]) && d.has(&[f("spec"), f("b")]) && !d.has(&[f("spec"), f("a")]));
        let i = a.intersection(&b);
        assert_eq!(i.paths().len(), 1);
        assert_eq!(a.union(&b), a);

        let mut spec = FieldSet::new();
        spec.insert(&[f("spec")]);
        assert!(a.recursive_difference(&spec).is_empty());
        assert!(!a.difference(&spec).is_empty(), "plain difference keeps children");
        assert!(b.difference(&a).is_empty(), "no empty nodes left behind");
    }

    #[test]
    fn rejects_malformed_fields_v1() {
        for bad in [
            json!([]),
            json!({"x:y": {}}),
            json!({"f:a": 1}),
            json!({"k:[1]": {}}),
            json!({"i:x": {}}),
        ] {
            assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }
}
