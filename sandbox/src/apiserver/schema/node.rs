//! One node of a structural schema, read from its `openAPIV3Schema` JSON.
//!
//! Invariant: reading is lenient (unknown keywords are ignored, malformed ones read as absent);
//! [`super::structural`] is what rejects schemas kube-apiserver would refuse.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;
use serde_json::{Number, Value};

use crate::apiserver::shape::{
    ListShape, ListType, MapType, ObjectShape, OtherKeys, PatchStrategy, TypeShape,
};

/// A compiled schema node.
#[derive(Clone, Debug, Default)]
pub struct SchemaNode {
    /// `type` (`object`, `array`, `string`, `integer`, `number`, `boolean`), if set.
    pub type_: Option<String>,
    /// `nullable`.
    pub nullable: bool,
    /// `format`.
    pub format: Option<String>,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource`.
    pub embedded_resource: bool,
    /// `properties`.
    pub properties: BTreeMap<String, SchemaNode>,
    /// `additionalProperties` when it is a schema.
    pub additional_properties: Option<Box<SchemaNode>>,
    /// `additionalProperties: true`.
    pub additional_properties_any: bool,
    /// `items`.
    pub items: Option<Box<SchemaNode>>,
    /// `default`.
    pub default: Option<Value>,
    /// `required`.
    pub required: Vec<String>,
    /// `enum`.
    pub enum_values: Option<Vec<Value>>,
    /// `pattern`, with its compiled regular expression (`None` when it does not compile).
    pub pattern: Option<(String, Option<Regex>)>,
    /// `minimum`.
    pub minimum: Option<Number>,
    /// `maximum`.
    pub maximum: Option<Number>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: bool,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: bool,
    /// `multipleOf`.
    pub multiple_of: Option<Number>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `x-kubernetes-list-type`.
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type`.
    pub map_type: Option<String>,
    /// `allOf` value validations.
    pub all_of: Vec<SchemaNode>,
    /// `anyOf` value validations.
    pub any_of: Vec<SchemaNode>,
    /// `oneOf` value validations.
    pub one_of: Vec<SchemaNode>,
    /// `not` value validation.
    pub not: Option<Box<SchemaNode>>,
    /// The node's `x-kubernetes-validations` compiled for kube-cel (rules of this node only).
    pub cel: Option<Arc<kube_cel::CompiledSchema>>,
    /// The raw `x-kubernetes-validations`.
    pub rules: Vec<Value>,
}

fn u64_of(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn number_of(v: &Value, k: &str) -> Option<Number> {
    match v.get(k) {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    }
}

fn bool_of(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn nodes_of(v: &Value, k: &str) -> Vec<SchemaNode> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(SchemaNode::parse).collect())
        .unwrap_or_default()
}

/// The schema of a node with every nested `x-kubernetes-validations` removed, so a kube-cel
/// compilation of it evaluates only this node's rules (nested nodes get their own).
fn without_nested_rules(raw: &Value, top: bool) -> Value {
    match raw {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| top || k.as_str() != "x-kubernetes-validations")
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "properties" => match v {
                            Value::Object(props) => Value::Object(
                                props
                                    .iter()
                                    .map(|(pk, pv)| (pk.clone(), without_nested_rules(pv, false)))
                                    .collect(),
                            ),
                            other => other.clone(),
                        },
                        "items" | "additionalProperties" | "not" => without_nested_rules(v, false),
                        "allOf" | "anyOf" | "oneOf" => match v {
                            Value::Array(a) => {
                                Value::Array(a.iter().map(|x| without_nested_rules(x, false)).collect())
                            }
                            other => other.clone(),
                        },
                        _ => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

impl SchemaNode {
    /// Reads a node (and its subtree).
    pub fn parse(v: &Value) -> SchemaNode {
        let rules: Vec<Value> = v
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let cel =
            (!rules.is_empty()).then(|| Arc::new(kube_cel::compile_schema(&without_nested_rules(v, true))));
        SchemaNode {
            type_: v
                .get("type")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            nullable: bool_of(v, "nullable"),
            format: v
                .get("format")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            int_or_string: bool_of(v, "x-kubernetes-int-or-string"),
            preserve_unknown: bool_of(v, "x-kubernetes-preserve-unknown-fields"),
            embedded_resource: bool_of(v, "x-kubernetes-embedded-resource"),
            properties: v
                .get("properties")
                .and_then(Value::as_object)
                .map(|p| p.iter().map(|(k, s)| (k.clone(), SchemaNode::parse(s))).collect())
                .unwrap_or_default(),
            additional_properties: v
                .get("additionalProperties")
                .filter(|a| a.is_object())
                .map(|a| Box::new(SchemaNode::parse(a))),
            additional_properties_any: v.get("additionalProperties") == Some(&Value::Bool(true)),
            items: v
                .get("items")
                .filter(|i| i.is_object())
                .map(|i| Box::new(SchemaNode::parse(i))),
            default: v.get("default").cloned(),
            required: v
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            enum_values: v.get("enum").and_then(Value::as_array).cloned(),
            pattern: v
                .get("pattern")
                .and_then(Value::as_str)
                .map(|p| (p.to_string(), Regex::new(p).ok())),
            minimum: number_of(v, "minimum"),
            maximum: number_of(v, "maximum"),
            exclusive_minimum: bool_of(v, "exclusiveMinimum"),
            exclusive_maximum: bool_of(v, "exclusiveMaximum"),
            multiple_of: number_of(v, "multipleOf"),
            min_length: u64_of(v, "minLength"),
            max_length: u64_of(v, "maxLength"),
            min_items: u64_of(v, "minItems"),
            max_items: u64_of(v, "maxItems"),
            min_properties: u64_of(v, "minProperties"),
            max_properties: u64_of(v, "maxProperties"),
            list_type: v
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            list_map_keys: v
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default(),
            map_type: v
                .get("x-kubernetes-map-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            all_of: nodes_of(v, "allOf"),
            any_of: nodes_of(v, "anyOf"),
            one_of: nodes_of(v, "oneOf"),
            not: v
                .get("not")
                .filter(|n| n.is_object())
                .map(|n| Box::new(SchemaNode::parse(n))),
            cel,
            rules,
        }
    }

    /// Whether any node of the subtree has CEL rules.
    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
            || self.properties.values().any(SchemaNode::has_rules)
            || self.additional_properties.as_ref().is_some_and(|a| a.has_rules())
            || self.items.as_ref().is_some_and(|i| i.has_rules())
    }

    /// The schema for key `key` of an object value: a property, else `additionalProperties`.
    pub fn child(&self, key: &str) -> Option<&SchemaNode> {
        self.properties.get(key).or(self.additional_properties.as_deref())
    }

    /// The merge semantics this node gives server-side apply.
    pub fn type_shape(&self) -> TypeShape {
        if self.int_or_string {
            return TypeShape::Scalar;
        }
        let is_object = self.type_.as_deref() == Some("object")
            || (self.type_.is_none() && (!self.properties.is_empty() || self.embedded_resource));
        if is_object {
            let mut fields: BTreeMap<String, TypeShape> = self
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.type_shape()))
                .collect();
            if self.embedded_resource {
                fields.entry("apiVersion".into()).or_insert(TypeShape::Scalar);
                fields.entry("kind".into()).or_insert(TypeShape::Scalar);
                fields.insert("metadata".into(), crate::apiserver::shape::builtin::object_meta());
            }
            let other_keys = match (
                &self.additional_properties,
                self.additional_properties_any || self.preserve_unknown,
            ) {
                (Some(a), _) => OtherKeys::Elements(a.type_shape()),
                (None, true) => OtherKeys::Elements(TypeShape::Untyped),
                (None, false) => OtherKeys::None,
            };
            let map_type = if self.map_type.as_deref() == Some("atomic") {
                MapType::Atomic
            } else {
                MapType::Granular
            };
            return TypeShape::Object(Box::new(ObjectShape {
                fields,
                other_keys,
                map_type,
            }));
        }
        match self.type_.as_deref() {
            Some("array") => {
                let items = self
                    .items
                    .as_ref()
                    .map(|i| i.type_shape())
                    .unwrap_or(TypeShape::Untyped);
                let list_type = match self.list_type.as_deref() {
                    Some("set") => ListType::Set,
                    Some("map") => ListType::Map {
                        keys: self.list_map_keys.clone(),
                        key_defaults: self
                            .list_map_keys
                            .iter()
                            .filter_map(|k| {
                                let d = self.items.as_ref()?.properties.get(k)?.default.clone()?;
                                Some((k.clone(), d))
                            })
                            .collect(),
                    },
                    _ => ListType::Atomic,
                };
                TypeShape::List(Box::new(ListShape {
                    items,
                    list_type,
                    patch: PatchStrategy::Replace,
                }))
            }
            None if self.preserve_unknown => TypeShape::Untyped,
            None => TypeShape::Untyped,
            _ => TypeShape::Scalar,
        }
    }
}
