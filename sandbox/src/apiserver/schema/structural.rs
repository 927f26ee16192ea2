//! Whether a CRD's `openAPIV3Schema` is structural, with kube-apiserver's CRD validation errors
//! for the common mistakes.
//!
//! Covered: missing or unsupported `type` (root, properties, items, additionalProperties), root
//! type other than `object`, `array` without `items`, tuple `items`, `uniqueItems: true`,
//! `properties` with `additionalProperties`, `additionalProperties: false` and at the root,
//! `x-kubernetes-preserve-unknown-fields: false`, int-or-string combined with
//! preserve-unknown/embedded, embedded resources that are not objects or have no properties,
//! `metadata` restricted to `name`/`generateName`, `apiVersion`/`kind` of type string, invalid
//! `pattern`s, `x-kubernetes-list-type` / `-list-map-keys` / `-map-type` misuse, `$ref` and other
//! unsupported keywords, `default`s that do not validate or hold unknown fields, and CEL rules
//! that do not compile. Not covered: CEL cost estimation, `nullable` with value validations,
//! value validations on `metadata` beyond name/generateName.
//!
//! Invariant: error paths use kube-apiserver's notation under the given prefix
//! (`spec.versions[0].schema.openAPIV3Schema.properties[spec].type`).

use serde_json::{Value, json};

use super::node::SchemaNode;
use super::prune::{apply_defaults, prune};
use super::{cel, validate};
use crate::apiserver::field_errors::FieldError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Field,
    Item,
}

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];
const UNSUPPORTED: &[&str] = &[
    "$ref",
    "additionalItems",
    "patternProperties",
    "dependencies",
    "definitions",
    "id",
    "$schema",
];

/// The structural-schema errors of `schema`, reported under `path`.
pub fn check(schema: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if !schema.is_object() {
        errs.push(FieldError::required(path, "must be a JSON object"));
        return errs;
    }
    check_node(schema, path, Level::Root, &mut errs);
    errs
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn flag(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool) == Some(true)
}

fn check_node(v: &Value, path: &str, level: Level, errs: &mut Vec<FieldError>) {
    let Some(map) = v.as_object() else {
        errs.push(FieldError::invalid(path, v.clone(), "must be a JSON object"));
        return;
    };
    let ty = s(v, "type").unwrap_or("");
    let int_or_string = flag(v, "x-kubernetes-int-or-string");
    let embedded = flag(v, "x-kubernetes-embedded-resource");
    let preserve = flag(v, "x-kubernetes-preserve-unknown-fields");

    for kw in UNSUPPORTED {
        if map.contains_key(*kw) {
            errs.push(FieldError::forbidden(
                format!("{path}.{kw}"),
                format!("{kw} is not supported"),
            ));
        }
    }

    if !ty.is_empty() && !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(
            format!("{path}.type"),
            json!(ty),
            &TYPES.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        ));
    }
    if embedded && ty != "object" {
        if ty.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.type"),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        } else {
            errs.push(FieldError::invalid(
                format!("{path}.type"),
                json!(ty),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
    } else if ty.is_empty() && !int_or_string && !(preserve && level != Level::Root) {
        let msg = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(format!("{path}.type"), msg));
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(
            format!("{path}.type"),
            json!(ty),
            "must be object at the root",
        ));
    }
    if level == Level::Root && flag(v, "nullable") {
        errs.push(FieldError::forbidden(
            format!("{path}.nullable"),
            "must be false at the root",
        ));
    }
    if v.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        errs.push(FieldError::invalid(
            format!("{path}.x-kubernetes-preserve-unknown-fields"),
            json!(false),
            "must be true or undefined",
        ));
    }
    if int_or_string && preserve {
        errs.push(FieldError::invalid(
            format!("{path}.x-kubernetes-preserve-unknown-fields"),
            json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if int_or_string && embedded {
        errs.push(FieldError::invalid(
            format!("{path}.x-kubernetes-embedded-resource"),
            json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if embedded
        && !preserve
        && v.get("properties")
            .and_then(Value::as_object)
            .is_none_or(|p| p.is_empty())
    {
        errs.push(FieldError::required(
            format!("{path}.properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
    if flag(v, "uniqueItems") {
        errs.push(FieldError::forbidden(
            format!("{path}.uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    if let Some(p) = s(v, "pattern")
        && let Err(e) = regex::Regex::new(p)
    {
        errs.push(FieldError::invalid(
            format!("{path}.pattern"),
            json!(p),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }

    // Objects.
    let props = v.get("properties").and_then(Value::as_object);
    match v.get("additionalProperties") {
        Some(Value::Bool(false)) => {
            errs.push(FieldError::forbidden(
                format!("{path}.additionalProperties"),
                "must not be used",
            ));
        }
        Some(a) if a.is_object() || a == &Value::Bool(true) => {
            if level == Level::Root {
                errs.push(FieldError::forbidden(
                    format!("{path}.additionalProperties"),
                    "must not be used at the root",
                ));
            }
            if props.is_some_and(|p| !p.is_empty()) {
                errs.push(FieldError::forbidden(
                    format!("{path}.additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                ));
            }
            if a.is_object() {
                check_node(a, &format!("{path}.additionalProperties"), Level::Field, errs);
            }
        }
        _ => {}
    }
    if let Some(props) = props {
        for (k, child) in props {
            check_node(child, &format!("{path}.properties[{k}]"), Level::Field, errs);
        }
        let check_meta = level == Level::Root || embedded;
        if check_meta {
            for k in ["apiVersion", "kind"] {
                if let Some(t) = props.get(k).and_then(|p| s(p, "type"))
                    && t != "string"
                {
                    errs.push(FieldError::invalid(
                        format!("{path}.properties[{k}].type"),
                        json!(t),
                        "must be string",
                    ));
                }
            }
        }
        if let Some(meta) = props.get("metadata") {
            check_metadata(meta, check_meta, &format!("{path}.properties[metadata]"), errs);
        }
    }

    // Arrays.
    match v.get("items") {
        Some(Value::Array(_)) => {
            errs.push(FieldError::forbidden(
                format!("{path}.items"),
                "items must be a schema object and not an array",
            ));
        }
        Some(items) => check_node(items, &format!("{path}.items"), Level::Item, errs),
        None if ty == "array" => {
            errs.push(FieldError::required(format!("{path}.items"), "must be specified"))
        }
        None => {}
    }
    check_list_extensions(v, ty, path, errs);

    for kw in ["allOf", "anyOf", "oneOf"] {
        if let Some(branches) = v.get(kw).and_then(Value::as_array) {
            for (i, b) in branches.iter().enumerate() {
                check_value_validation(b, &format!("{path}.{kw}[{i}]"), errs);
            }
        }
    }
    if let Some(not) = v.get("not") {
        check_value_validation(not, &format!("{path}.not"), errs);
    }

    check_default(v, path, errs);
    errs.extend(cel::compilation_errors(
        &SchemaNode::parse(&strip_children(v)),
        path,
    ));
}

/// A node without its children (so compiling its rules does not recompile the subtree's).
fn strip_children(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        for k in [
            "properties",
            "items",
            "additionalProperties",
            "allOf",
            "anyOf",
            "oneOf",
            "not",
        ] {
            m.remove(k);
        }
    }
    c
}

/// `allOf`/`anyOf`/`oneOf`/`not` branches may only hold value validations.
fn check_value_validation(v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    for kw in [
        "type",
        "default",
        "nullable",
        "additionalProperties",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
    ] {
        if v.get(kw).is_some() {
            // NB: int-or-string's `anyOf: [{type: integer}, {type: string}]` is the one allowed use of type.
            if kw == "type" && matches!(s(v, "type"), Some("integer" | "string")) {
                continue;
            }
            errs.push(FieldError::forbidden(
                format!("{path}.{kw}"),
                "must be empty to be structural",
            ));
        }
    }
}

fn check_metadata(meta: &Value, check: bool, path: &str, errs: &mut Vec<FieldError>) {
    if !check {
        return;
    }
    let allowed = ["name", "generateName"];
    let only_names = meta.as_object().is_some_and(|m| {
        m.iter().all(|(k, val)| match k.as_str() {
            "type" => val == "object",
            "description" => true,
            "properties" => val.as_object().is_some_and(|p| {
                p.iter().all(|(pk, pv)| {
                    allowed.contains(&pk.as_str()) && s(pv, "type").is_none_or(|t| t == "string")
                })
            }),
            _ => false,
        })
    });
    if !only_names {
        errs.push(FieldError::forbidden(
            path,
            "must not specify anything other than name and generateName, but metadata is implicitly specified",
        ));
    }
}

fn check_list_extensions(v: &Value, ty: &str, path: &str, errs: &mut Vec<FieldError>) {
    let list_type = s(v, "x-kubernetes-list-type");
    let keys: Vec<&str> = v
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|k| k.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(lt) = list_type {
        if !["atomic", "set", "map"].contains(&lt) {
            errs.push(FieldError::not_supported(
                format!("{path}.x-kubernetes-list-type"),
                json!(lt),
                &["atomic".into(), "set".into(), "map".into()],
            ));
        }
        if ty != "array" {
            errs.push(FieldError::invalid(
                format!("{path}.x-kubernetes-list-type"),
                json!(lt),
                "must only be used on type=array",
            ));
        }
    }
    if !keys.is_empty() {
        match list_type {
            None => errs.push(FieldError::required(
                format!("{path}.x-kubernetes-list-type"),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(lt) if lt != "map" => errs.push(FieldError::invalid(
                format!("{path}.x-kubernetes-list-type"),
                json!(lt),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            _ => {}
        }
    }
    if list_type == Some("map") {
        if keys.is_empty() {
            errs.push(FieldError::required(
                format!("{path}.x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
        match v.get("items") {
            None => errs.push(FieldError::required(
                format!("{path}.items"),
                "must have a schema if x-kubernetes-list-type is map",
            )),
            Some(items) => {
                let item_props = items.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = items
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut seen = Vec::new();
                for k in &keys {
                    let Some(prop) = item_props.and_then(|p| p.get(*k)) else {
                        errs.push(FieldError::invalid(
                            format!("{path}.x-kubernetes-list-map-keys"),
                            json!(keys),
                            "entries must all be names of item properties",
                        ));
                        break;
                    };
                    if let Some(t @ ("array" | "object")) = s(prop, "type") {
                        errs.push(FieldError::invalid(
                            format!("{path}.items.properties[{k}].type"),
                            json!(t),
                            "must be a scalar type if parent array's x-kubernetes-list-type is map",
                        ));
                    }
                    if !required.contains(k) && prop.get("default").is_none() {
                        errs.push(FieldError::required(
                            format!("{path}.items.properties[{k}]"),
                            "all map keys must be required or have a default value",
                        ));
                    }
                    if seen.contains(k) {
                        errs.push(FieldError::invalid(
                            format!("{path}.x-kubernetes-list-map-keys"),
                            json!(keys),
                            "must not contain duplicate entries",
                        ));
                        break;
                    }
                    seen.push(k);
                }
            }
        }
    }
    if list_type == Some("set")
        && let Some(items) = v.get("items")
    {
        match s(items, "type") {
            Some("array") if s(items, "x-kubernetes-list-type").is_some_and(|t| t != "atomic") => {
                errs.push(FieldError::invalid(
                    format!("{path}.items.x-kubernetes-list-type"),
                    json!(s(items, "x-kubernetes-list-type")),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            }
            Some("object") if s(items, "x-kubernetes-map-type") != Some("atomic") => {
                errs.push(FieldError::invalid(
                    format!("{path}.items.x-kubernetes-map-type"),
                    json!(s(items, "x-kubernetes-map-type")),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            }
            _ => {}
        }
    }
    if let Some(mt) = s(v, "x-kubernetes-map-type") {
        if !["granular", "atomic"].contains(&mt) {
            errs.push(FieldError::not_supported(
                format!("{path}.x-kubernetes-map-type"),
                json!(mt),
                &["granular".into(), "atomic".into()],
            ));
        }
        if ty != "object" {
            errs.push(FieldError::invalid(
                format!("{path}.x-kubernetes-map-type"),
                json!(mt),
                "must only be used on type=object",
            ));
        }
    }
}

fn check_default(v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(default) = v.get("default") else { return };
    let node = SchemaNode::parse(v);
    let mut pruned_copy = default.clone();
    let mut unknown = Vec::new();
    prune(&mut pruned_copy, &node, false, "", &mut unknown);
    if !unknown.is_empty() {
        errs.push(FieldError::invalid(
            format!("{path}.default"),
            default.clone(),
            "must not have unknown fields",
        ));
        return;
    }
    let mut defaulted = default.clone();
    apply_defaults(&mut defaulted, &node);
    errs.extend(validate::validate_value_at(
        &node,
        &defaulted,
        &format!("{path}.default"),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "spec.versions[0].schema.openAPIV3Schema";

    fn errs(schema: Value) -> Vec<String> {
        check(&schema, ROOT).iter().map(ToString::to_string).collect()
    }

    fn obj(props: Value) -> Value {
        json!({"type": "object", "properties": props})
    }

    #[test]
    fn recorded_crd_schema_is_structural() {
        let ex = crate::apiserver::recordings::exchange("crd-create");
        let schema = &ex.request_body()["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        assert_eq!(errs(schema.clone()), Vec::<String>::new());
    }

    #[test]
    fn common_mistakes() {
        let p = |s: &str| format!("{ROOT}{s}");
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            (
                "root without type",
                json!({"properties": {}}),
                vec![p(".type: Required value: must not be empty at the root")],
            ),
            (
                "root not object",
                json!({"type": "string"}),
                vec![p(".type: Invalid value: \"string\": must be object at the root")],
            ),
            (
                "field without type",
                obj(json!({"spec": {"properties": {}}})),
                vec![p(
                    ".properties[spec].type: Required value: must not be empty for specified object fields",
                )],
            ),
            (
                "item without type",
                obj(json!({"l": {"type": "array", "items": {}}})),
                vec![p(
                    ".properties[l].items.type: Required value: must not be empty for specified array items",
                )],
            ),
            (
                "array without items",
                obj(json!({"l": {"type": "array"}})),
                vec![p(".properties[l].items: Required value: must be specified")],
            ),
            (
                "unknown type",
                obj(json!({"x": {"type": "float"}})),
                vec![p(
                    ".properties[x].type: Unsupported value: \"float\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
                )],
            ),
            (
                "preserve without type is fine",
                obj(json!({"x": {"x-kubernetes-preserve-unknown-fields": true}})),
                vec![],
            ),
            (
                "int-or-string without type is fine",
                obj(
                    json!({"x": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}),
                ),
                vec![],
            ),
            (
                "uniqueItems",
                obj(json!({"l": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}})),
                vec![p(
                    ".properties[l].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
                )],
            ),
            (
                "properties and additionalProperties",
                obj(
                    json!({"m": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}}}),
                ),
                vec![p(
                    ".properties[m].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
                )],
            ),
            (
                "preserve false",
                obj(json!({"m": {"type": "object", "x-kubernetes-preserve-unknown-fields": false}})),
                vec![p(
                    ".properties[m].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined",
                )],
            ),
            (
                "metadata beyond name",
                obj(json!({"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}})),
                vec![p(
                    ".properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
                )],
            ),
            (
                "metadata name only is fine",
                obj(
                    json!({"metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}}),
                ),
                vec![],
            ),
            (
                "map list without keys",
                obj(
                    json!({"l": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object"}}}),
                ),
                vec![p(
                    ".properties[l].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map",
                )],
            ),
            (
                "map list key not a property",
                obj(
                    json!({"l": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"], "items": {"type": "object", "properties": {"n": {"type": "string"}}}}}),
                ),
                vec![p(
                    ".properties[l].x-kubernetes-list-map-keys: Invalid value: []interface {}{\"name\"}: entries must all be names of item properties",
                )],
            ),
            (
                "bad list type",
                obj(
                    json!({"l": {"type": "array", "x-kubernetes-list-type": "bag", "items": {"type": "string"}}}),
                ),
                vec![p(
                    ".properties[l].x-kubernetes-list-type: Unsupported value: \"bag\": supported values: \"atomic\", \"set\", \"map\"",
                )],
            ),
            (
                "list type on object",
                obj(json!({"o": {"type": "object", "x-kubernetes-list-type": "set"}})),
                vec![p(
                    ".properties[o].x-kubernetes-list-type: Invalid value: \"set\": must only be used on type=array",
                )],
            ),
            (
                "bad pattern",
                obj(json!({"s": {"type": "string", "pattern": "["}})),
                vec![],
            ),
            (
                "default of wrong type",
                obj(json!({"n": {"type": "integer", "default": "x"}})),
                vec![p(
                    ".properties[n].default: Invalid value: \"string\": spec.versions[0].schema.openAPIV3Schema.properties[n].default in body must be of type integer: \"string\"",
                )],
            ),
            (
                "default with unknown fields",
                obj(
                    json!({"o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"b": 1}}}),
                ),
                vec![p(
                    ".properties[o].default: Invalid value: map[string]interface {}{\"b\":1}: must not have unknown fields",
                )],
            ),
            (
                "embedded not object",
                obj(json!({"r": {"type": "string", "x-kubernetes-embedded-resource": true}})),
                vec![
                    p(
                        ".properties[r].type: Invalid value: \"string\": must be object if x-kubernetes-embedded-resource is true",
                    ),
                    p(
                        ".properties[r].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
                    ),
                ],
            ),
            (
                "$ref",
                obj(json!({"r": {"type": "object", "$ref": "#/x"}})),
                vec![p(".properties[r].$ref: Forbidden: $ref is not supported")],
            ),
            (
                "bad CEL",
                obj(json!({"s": {"type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}]}})),
                vec![],
            ),
        ];
        for (name, schema, want) in cases {
            let got = errs(schema);
            match name {
                "bad pattern" => assert!(got.len() == 1 && got[0].contains(".pattern: Invalid value: \"[\": must be a valid regular expression"), "{name}: {got:?}"),
                "bad CEL" => assert!(got.len() == 1 && got[0].contains("x-kubernetes-validations[0].rule: Invalid value: \"self.a >\": compilation failed"), "{name}: {got:?}"),
                _ => assert_eq!(got, want, "{name}"),
            }
        }
    }
}
