//! The merge semantics of a kind: which parts of an object are maps merged key by key, which lists
//! are `atomic`, `set`s or `map`s keyed by some fields, and which strategic-merge-patch key a list
//! uses. Server-side apply ([`super::fieldmanager`]) and strategic merge patch ([`super::patch`])
//! both read it, so the two stay consistent.
//!
//! A [`TypeShape`] comes either from a CRD schema ([`super::schema::StructuralSchema::type_shape`])
//! or from the built-in table ([`builtin`]) for the kinds the sandbox serves.
//!
//! Invariant: a shape never has to match the value exactly. Where the value disagrees (a string
//! where the shape says object), the value wins and is treated as one opaque leaf, the way
//! structured-merge-diff deduces atoms; unknown regions are `Untyped` (maps merged granularly,
//! lists atomic).

pub mod builtin;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

/// The merge semantics of one node of an object.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeShape {
    /// A single value replaced as a whole (strings, numbers, booleans, int-or-string).
    Scalar,
    /// An object: a struct with named fields and/or a map with free-form keys.
    Object(Box<ObjectShape>),
    /// A list.
    List(Box<ListShape>),
    /// No schema (`x-kubernetes-preserve-unknown-fields` without properties): maps are merged key by
    /// key with each key an element, lists are atomic.
    Untyped,
}

/// An object node.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ObjectShape {
    /// Declared fields (struct fields, CRD `properties`).
    pub fields: BTreeMap<String, TypeShape>,
    /// What keys outside `fields` are.
    pub other_keys: OtherKeys,
    /// `x-kubernetes-map-type` / `+structType`: granular (default) or atomic.
    pub map_type: MapType,
}

/// What the keys of an object that are not declared fields are.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum OtherKeys {
    /// Map entries of this shape (`additionalProperties`, Go `map[string]T`): each key is an element
    /// that managed fields mark with `.` when it has children.
    Elements(TypeShape),
    /// Struct fields of a built-in type that the table does not spell out: named fields whose
    /// own content is again an open struct (lists atomic).
    OpenStructFields,
    /// Not expected (pruned by the schema); treated as untyped elements when present.
    #[default]
    None,
}

/// Whether an object is merged key by key or replaced as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MapType {
    /// Merged key by key (`x-kubernetes-map-type: granular`, the default).
    #[default]
    Granular,
    /// Replaced as a whole and owned as one field (`x-kubernetes-map-type: atomic`, `+structType=atomic`).
    Atomic,
}

/// A list node.
#[derive(Clone, Debug, PartialEq)]
pub struct ListShape {
    /// The shape of each item.
    pub items: TypeShape,
    /// `x-kubernetes-list-type`.
    pub list_type: ListType,
    /// What strategic merge patch does with it (built-in kinds only).
    pub patch: PatchStrategy,
}

/// `x-kubernetes-list-type`.
#[derive(Clone, Debug, PartialEq)]
pub enum ListType {
    /// Replaced as a whole and owned as one field (the default).
    Atomic,
    /// A set of scalars: merged by value, each value owned as `v:<value>`.
    Set,
    /// A list of objects identified by `keys`: merged item by item, each owned as `k:{...}`.
    Map {
        /// `x-kubernetes-list-map-keys`.
        keys: Vec<String>,
        /// Values used for a key field an item omits (e.g. container port `protocol: TCP`).
        key_defaults: BTreeMap<String, Value>,
    },
}

/// What strategic merge patch does with a list (`x-kubernetes-patch-strategy`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum PatchStrategy {
    /// The patch's list replaces the original (no strategy; the default).
    #[default]
    Replace,
    /// Merged: lists of objects item by item on `key` (`x-kubernetes-patch-merge-key`), lists of
    /// scalars as a union.
    Merge {
        /// The merge key for lists of objects; `None` for lists of scalars.
        key: Option<String>,
    },
}

static OPEN_STRUCT: LazyLock<TypeShape> = LazyLock::new(|| {
    TypeShape::Object(Box::new(ObjectShape {
        other_keys: OtherKeys::OpenStructFields,
        ..Default::default()
    }))
});
static UNTYPED: TypeShape = TypeShape::Untyped;

/// How a key of an object relates to the object's shape.
#[derive(Clone, Copy, Debug)]
pub struct ChildShape<'a> {
    /// The shape of the key's value.
    pub shape: &'a TypeShape,
    /// Whether the key is a named (struct) field rather than a map element. Managed fields mark
    /// map elements, not named fields, as owned when they have children (`"."`).
    pub named: bool,
}

impl ObjectShape {
    /// The shape of key `key`.
    pub fn child(&self, key: &str) -> ChildShape<'_> {
        if let Some(s) = self.fields.get(key) {
            return ChildShape {
                shape: s,
                named: true,
            };
        }
        match &self.other_keys {
            OtherKeys::Elements(s) => ChildShape {
                shape: s,
                named: false,
            },
            OtherKeys::OpenStructFields => ChildShape {
                shape: &OPEN_STRUCT,
                named: true,
            },
            OtherKeys::None => ChildShape {
                shape: &UNTYPED,
                named: false,
            },
        }
    }

    /// Whether the object is replaced as a whole.
    pub fn is_atomic(&self) -> bool {
        self.map_type == MapType::Atomic
    }
}

/// The shape of the object node an untyped map stands for (keys are untyped elements).
static UNTYPED_OBJECT: LazyLock<ObjectShape> = LazyLock::new(|| ObjectShape {
    other_keys: OtherKeys::Elements(TypeShape::Untyped),
    ..Default::default()
});

/// How a node is to be treated for a given value, after reconciling shape and value.
#[derive(Clone, Copy, Debug)]
pub enum Resolved<'a> {
    /// One opaque value (scalar, atomic map or list, or a value that disagrees with its shape).
    Leaf,
    /// A granular object.
    Object(&'a ObjectShape),
    /// A list merged by items (`set` or `map`).
    List(&'a ListShape),
}

impl TypeShape {
    /// An open struct: a built-in struct whose fields are not spelled out.
    pub fn open_struct() -> TypeShape {
        OPEN_STRUCT.clone()
    }

    /// The object view of this shape, if it is (or may be, when untyped) an object.
    pub fn as_object(&self) -> Option<&ObjectShape> {
        match self {
            TypeShape::Object(o) => Some(o),
            TypeShape::Untyped => Some(&UNTYPED_OBJECT),
            _ => None,
        }
    }

    /// The list view of this shape.
    pub fn as_list(&self) -> Option<&ListShape> {
        match self {
            TypeShape::List(l) => Some(l),
            _ => None,
        }
    }

    /// How to treat the node given the values on either side (`None` = absent). Objects are
    /// granular only when every present, non-null side is an object; lists are item-wise only when
    /// they are `set`/`map` lists and every present side is an array.
    pub fn resolve(&self, values: &[Option<&Value>]) -> Resolved<'_> {
        let present: Vec<&Value> = values
            .iter()
            .flatten()
            .copied()
            .filter(|v| !v.is_null())
            .collect();
        match self {
            TypeShape::Object(o) if present.iter().all(|v| v.is_object()) => {
                if o.is_atomic() {
                    Resolved::Leaf
                } else {
                    Resolved::Object(o)
                }
            }
            TypeShape::Untyped if !present.is_empty() && present.iter().all(|v| v.is_object()) => {
                Resolved::Object(&UNTYPED_OBJECT)
            }
            TypeShape::List(l) if present.iter().all(|v| v.is_array()) => match l.list_type {
                ListType::Atomic => Resolved::Leaf,
                _ => Resolved::List(l),
            },
            _ => Resolved::Leaf,
        }
    }

    /// Navigates to the shape at `path`, where each element is an object key or `[]` for "an item
    /// of this list". Returns `None` when the path leaves the shape (a key under a scalar).
    ///
    /// ```
    /// use sandbox::apiserver::shape::{ListType, builtin};
    ///
    /// let deploy = builtin::builtin_kind("apps", "Deployment").unwrap();
    /// let containers = deploy.shape.at(&["spec", "template", "spec", "containers"]).unwrap();
    /// let list = containers.as_list().unwrap();
    /// assert!(matches!(&list.list_type, ListType::Map { keys, .. } if keys == &["name"]));
    /// ```
    pub fn at(&self, path: &[&str]) -> Option<&TypeShape> {
        let mut cur = self;
        for step in path {
            cur = if *step == "[]" {
                match cur {
                    TypeShape::List(l) => &l.items,
                    TypeShape::Untyped => &UNTYPED,
                    _ => return None,
                }
            } else {
                cur.as_object()?.child(step).shape
            };
        }
        Some(cur)
    }

    /// The list type of the node at `path`; `None` when it is not a list. Lists of unknown shape
    /// are atomic.
    pub fn list_type_at(&self, path: &[&str]) -> Option<&ListType> {
        self.at(path)?.as_list().map(|l| &l.list_type)
    }

    /// The map type of the node at `path`; `None` when it is not an object.
    pub fn map_type_at(&self, path: &[&str]) -> Option<MapType> {
        self.at(path)?.as_object().map(|o| o.map_type)
    }
}

/// Builders for shape tables, used by [`builtin`] and tests.
pub mod build {
    use super::*;

    /// A struct with the given fields; other keys are open struct fields.
    pub fn strukt<const N: usize>(fields: [(&str, TypeShape); N]) -> TypeShape {
        TypeShape::Object(Box::new(ObjectShape {
            fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            other_keys: OtherKeys::OpenStructFields,
            map_type: MapType::Granular,
        }))
    }

    /// A struct replaced as a whole (`+structType=atomic`).
    pub fn atomic_struct() -> TypeShape {
        TypeShape::Object(Box::new(ObjectShape {
            other_keys: OtherKeys::OpenStructFields,
            map_type: MapType::Atomic,
            ..Default::default()
        }))
    }

    /// A `map[string]T`.
    pub fn map_of(element: TypeShape) -> TypeShape {
        TypeShape::Object(Box::new(ObjectShape {
            other_keys: OtherKeys::Elements(element),
            ..Default::default()
        }))
    }

    /// A `map[string]string`.
    pub fn string_map() -> TypeShape {
        map_of(TypeShape::Scalar)
    }

    /// A `map[string]string` replaced as a whole (`+mapType=atomic`).
    pub fn atomic_string_map() -> TypeShape {
        TypeShape::Object(Box::new(ObjectShape {
            other_keys: OtherKeys::Elements(TypeShape::Scalar),
            map_type: MapType::Atomic,
            ..Default::default()
        }))
    }

    /// An atomic list (strategic merge patch replaces it too).
    pub fn atomic_list(items: TypeShape) -> TypeShape {
        TypeShape::List(Box::new(ListShape {
            items,
            list_type: ListType::Atomic,
            patch: PatchStrategy::Replace,
        }))
    }

    /// A set of scalars that strategic merge patch merges as a union (e.g. `finalizers`).
    pub fn merged_set() -> TypeShape {
        TypeShape::List(Box::new(ListShape {
            items: TypeShape::Scalar,
            list_type: ListType::Set,
            patch: PatchStrategy::Merge { key: None },
        }))
    }

    /// A list of objects keyed by `keys` for server-side apply and merged on `patch_key` by
    /// strategic merge patch.
    pub fn keyed_list(keys: &[&str], patch_key: &str, items: TypeShape) -> TypeShape {
        keyed_list_with_defaults(keys, &[], patch_key, items)
    }

    /// Like [`keyed_list`], with default values for key fields items may omit.
    pub fn keyed_list_with_defaults(
        keys: &[&str],
        defaults: &[(&str, Value)],
        patch_key: &str,
        items: TypeShape,
    ) -> TypeShape {
        TypeShape::List(Box::new(ListShape {
            items,
            list_type: ListType::Map {
                keys: keys.iter().map(|k| k.to_string()).collect(),
                key_defaults: defaults.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            },
            patch: PatchStrategy::Merge {
                key: Some(patch_key.to_string()),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::build::*;
    use super::*;

    #[test]
    fn resolve_follows_values() {
        let s = strukt([("a", TypeShape::Scalar)]);
        assert!(matches!(s.resolve(&[Some(&json!({}))]), Resolved::Object(_)));
        assert!(matches!(s.resolve(&[Some(&json!("x"))]), Resolved::Leaf));
        assert!(matches!(
            s.resolve(&[None, Some(&Value::Null)]),
            Resolved::Object(_)
        ));
        assert!(matches!(
            atomic_struct().resolve(&[Some(&json!({}))]),
            Resolved::Leaf
        ));
        assert!(matches!(
            TypeShape::Untyped.resolve(&[Some(&json!({"a": 1}))]),
            Resolved::Object(_)
        ));
        assert!(matches!(
            TypeShape::Untyped.resolve(&[Some(&json!([1]))]),
            Resolved::Leaf
        ));
        assert!(matches!(
            merged_set().resolve(&[Some(&json!(["a"]))]),
            Resolved::List(_)
        ));
        assert!(matches!(
            atomic_list(TypeShape::Scalar).resolve(&[Some(&json!(["a"]))]),
            Resolved::Leaf
        ));
    }

    #[test]
    fn children_are_named_or_elements() {
        let s = strukt([("labels", string_map())]);
        let o = s.as_object().unwrap();
        assert!(o.child("labels").named);
        assert!(o.child("unknown").named, "open struct fields are named");
        let labels = o.child("labels").shape.as_object().unwrap();
        assert!(!labels.child("app").named);
        assert!(!TypeShape::Untyped.as_object().unwrap().child("x").named);
    }

    #[test]
    fn at_walks_lists() {
        let s = strukt([(
            "items",
            keyed_list(&["name"], "name", strukt([("v", merged_set())])),
        )]);
        assert_eq!(s.list_type_at(&["items", "[]", "v"]), Some(&ListType::Set));
        assert!(s.at(&["items", "x"]).is_none());
        assert_eq!(s.map_type_at(&["items", "[]"]), Some(MapType::Granular));
    }
}
