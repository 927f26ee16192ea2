//! Validation of a custom resource against its structural schema with kube-apiserver's semantics
//! and messages (kube-openapi's `... in body should ...`), the `x-kubernetes-list-type`
//! invariants, and the CEL rules, which only run when no "blocking" error (type, required, enum,
//! too long, too many) was found.
//!
//! On update, validation ratchets like kube-apiserver 1.33+: a value equal to the correlated old
//! value is not validated again, so objects stored before a schema tightened stay updatable.
//!
//! Invariant: errors come out in a stable order (schema errors sorted by field path, then
//! list-type errors, then CEL errors in schema order).

use serde_json::{Map, Value, json};

use super::cel::{self, RootVars};
use super::formats;
use super::node::SchemaNode;
use crate::apiserver::field_errors::{ErrorType, FieldError};
use crate::apiserver::json_value::{go_float, go_quote, json_eq, json_type_name};

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn shown_path(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

struct CelJob<'a> {
    node: &'a SchemaNode,
    value: &'a Value,
    old: Option<&'a Value>,
    path: String,
}

#[derive(Default)]
struct Collector<'a> {
    schema: Vec<FieldError>,
    list: Vec<FieldError>,
    cel: Vec<CelJob<'a>>,
}

/// Validates `value` (a whole custom resource) against `root`; `old` is the stored object on
/// update. `vars` are bound for root-level CEL rules.
pub fn validate(
    root: &SchemaNode,
    value: &Value,
    old: Option<&Value>,
    vars: Option<&RootVars>,
) -> Vec<FieldError> {
    validate_after(root, value, old, vars, &[])
}

/// Like [`validate`], after `earlier` errors (e.g. metadata errors) that also decide whether the
/// CEL rules may run. Returns only the new errors.
pub fn validate_after(
    root: &SchemaNode,
    value: &Value,
    old: Option<&Value>,
    vars: Option<&RootVars>,
    earlier: &[FieldError],
) -> Vec<FieldError> {
    let mut c = Collector::default();
    walk(root, value, old, String::new(), &mut c, true);
    c.schema.sort_by(|a, b| a.field.cmp(&b.field));
    let mut errors = c.schema;
    errors.extend(c.list);
    if root.has_rules() {
        if is_blocking(earlier) || is_blocking(&errors) {
            errors.push(not_checked());
        } else {
            for job in c.cel {
                let root_vars = if job.path.is_empty() { vars } else { None };
                errors.extend(cel::evaluate(job.node, job.value, job.old, &job.path, root_vars));
            }
        }
    }
    errors
}

/// Validates `value` against `node` alone (no CEL rules, no ratcheting), reporting paths under
/// `base_path`; used for `default`s in CRD validation.
pub fn validate_value_at(node: &SchemaNode, value: &Value, base_path: &str) -> Vec<FieldError> {
    let mut c = Collector::default();
    walk(node, value, None, base_path.to_string(), &mut c, false);
    c.schema.sort_by(|a, b| a.field.cmp(&b.field));
    let mut errors = c.schema;
    errors.extend(c.list);
    errors
}

/// Whether `errors` hold an error that stops CEL rules from running (kube-apiserver's
/// `hasBlockingErr`).
pub fn is_blocking(errors: &[FieldError]) -> bool {
    errors.iter().any(|e| {
        matches!(
            e.error_type,
            ErrorType::NotSupported
                | ErrorType::Required
                | ErrorType::TooLong
                | ErrorType::TooMany
                | ErrorType::TypeInvalid
        )
    })
}

/// The error kube-apiserver appends when CEL rules were skipped because of blocking errors.
pub fn not_checked() -> FieldError {
    FieldError::invalid(
        "",
        Value::Null,
        "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
    )
}

fn type_matches(t: &str, v: &Value) -> bool {
    match (t, v) {
        ("object", Value::Object(_)) | ("array", Value::Array(_)) | ("string", Value::String(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        _ => false,
    }
}

fn type_error(path: &str, expected: &str, v: &Value) -> FieldError {
    let actual = json_type_name(v);
    FieldError::type_invalid(
        path,
        json!(actual),
        format!(
            "{} in body must be of type {expected}: {}",
            shown_path(path),
            go_quote(actual)
        ),
    )
}

fn walk<'a>(
    node: &'a SchemaNode,
    value: &'a Value,
    old: Option<&'a Value>,
    path: String,
    c: &mut Collector<'a>,
    is_root: bool,
) {
    if old.is_some_and(|o| json_eq(o, value)) {
        // Ratcheting: an unchanged value is not validated again.
        return;
    }
    if value.is_null() {
        if node.nullable {
            return;
        }
        if node.int_or_string {
            c.schema.push(type_error(&path, "integer,string", value));
        } else if let Some(t) = &node.type_ {
            c.schema.push(type_error(&path, t, value));
        }
        return;
    }
    if node.int_or_string {
        if !(type_matches("integer", value) || value.is_string()) {
            c.schema.push(type_error(&path, "integer,string", value));
            return;
        }
    } else if let Some(t) = &node.type_
        && !type_matches(t, value)
    {
        c.schema.push(type_error(&path, t, value));
        return;
    }

    value_validations(node, value, &path, &mut c.schema);

    match value {
        Value::Array(items) => walk_array(node, items, old, &path, c),
        Value::Object(map) if property_count_error(node, map, &path).is_none() => {
            walk_object(node, map, old, &path, c, is_root)
        }
        _ => {}
    }
    if node.cel.is_some() {
        c.cel.push(CelJob {
            node,
            value,
            old,
            path,
        });
    }
}

fn value_validations(node: &SchemaNode, value: &Value, path: &str, out: &mut Vec<FieldError>) {
    let p = shown_path(path);
    for sub in &node.all_of {
        value_validations(sub, value, path, out);
    }
    if !node.any_of.is_empty() && !node.any_of.iter().any(|s| passes(s, value)) {
        out.push(FieldError::invalid(
            path,
            json!(""),
            format!("{p} in body must validate at least one schema (anyOf)"),
        ));
    }
    if !node.one_of.is_empty() && node.one_of.iter().filter(|s| passes(s, value)).count() != 1 {
        out.push(FieldError::invalid(
            path,
            json!(""),
            format!("{p} in body must validate one and only one schema (oneOf)"),
        ));
    }
    if let Some(not) = &node.not
        && passes(not, value)
    {
        out.push(FieldError::invalid(
            path,
            json!(""),
            format!("{p} in body must not validate the schema (not)"),
        ));
    }

    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if let Some(max) = node.max_length
            && len > max
        {
            out.push(FieldError::too_long(path, value.clone(), Some(max)));
        }
        if let Some(min) = node.min_length
            && len < min
        {
            out.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{p} in body should be at least {min} chars long"),
            ));
        }
        if let Some((pattern, Some(re))) = &node.pattern
            && !re.is_match(s)
        {
            out.push(FieldError::invalid(
                path,
                value.clone(),
                format!("{p} in body should match '{pattern}'"),
            ));
        }
        if let Some(f) = &node.format
            && formats::check(f, s) == Some(false)
        {
            out.push(FieldError::type_invalid(
                path,
                value.clone(),
                format!("{p} in body must be of type {f}: {}", go_quote(s)),
            ));
        }
    }

    if let Some(allowed) = &node.enum_values
        && !allowed.iter().any(|a| json_eq(a, value))
    {
        let shown: Vec<String> = allowed
            .iter()
            .map(|a| a.as_str().map(str::to_string).unwrap_or_else(|| a.to_string()))
            .collect();
        out.push(FieldError::not_supported(path, value.clone(), &shown));
    }

    if let Value::Number(n) = value {
        let f = n.as_f64().unwrap_or(0.0);
        if let Some(m) = &node.multiple_of {
            let m = m.as_f64().unwrap_or(1.0);
            if m != 0.0 && (f / m).fract().abs() > 1e-9 {
                out.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{p} in body should be a multiple of {}", go_float(m)),
                ));
            }
        }
        if let Some(max) = &node.maximum {
            let max = max.as_f64().unwrap_or(f64::INFINITY);
            if node.exclusive_maximum && f >= max {
                out.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{p} in body should be less than {}", go_float(max)),
                ));
            } else if !node.exclusive_maximum && f > max {
                out.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{p} in body should be less than or equal to {}", go_float(max)),
                ));
            }
        }
        if let Some(min) = &node.minimum {
            let min = min.as_f64().unwrap_or(f64::NEG_INFINITY);
            if node.exclusive_minimum && f <= min {
                out.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{p} in body should be greater than {}", go_float(min)),
                ));
            } else if !node.exclusive_minimum && f < min {
                out.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{p} in body should be greater than or equal to {}", go_float(min)),
                ));
            }
        }
    }

    if let Value::Array(items) = value {
        let len = items.len() as u64;
        if let Some(max) = node.max_items
            && len > max
        {
            out.push(FieldError::too_many(path, Some(len), Some(max)));
        }
        if let Some(min) = node.min_items
            && len < min
        {
            out.push(FieldError::invalid(
                path,
                json!(len),
                format!("{p} in body should have at least {min} items"),
            ));
        }
    }

    if let Value::Object(map) = value {
        if let Some(e) = property_count_error(node, map, path) {
            out.push(e);
            return;
        }
        for r in &node.required {
            if !map.contains_key(r) {
                out.push(FieldError::required(join(path, r), ""));
            }
        }
    }
}

/// kube-openapi checks `minProperties` then `maxProperties` first and, when one fails, reports
/// nothing else about the object (neither `required` nor its properties).
fn property_count_error(node: &SchemaNode, map: &Map<String, Value>, path: &str) -> Option<FieldError> {
    let len = map.len() as u64;
    if let Some(min) = node.min_properties
        && len < min
    {
        return Some(FieldError::invalid(
            path,
            json!(len),
            format!(
                "{} in body should have at least {min} properties",
                shown_path(path)
            ),
        ));
    }
    if let Some(max) = node.max_properties
        && len > max
    {
        return Some(FieldError::too_many(path, Some(len), Some(max)));
    }
    None
}

/// Whether `value` passes `node`'s value validations (for `anyOf`/`oneOf`/`not`).
fn passes(node: &SchemaNode, value: &Value) -> bool {
    let mut c = Collector::default();
    walk(node, value, None, String::new(), &mut c, false);
    c.schema.is_empty() && c.list.is_empty()
}

fn walk_array<'a>(
    node: &'a SchemaNode,
    items: &'a [Value],
    old: Option<&'a Value>,
    path: &str,
    c: &mut Collector<'a>,
) {
    let keys = &node.list_map_keys;
    let is_map_list = node.list_type.as_deref() == Some("map") && !keys.is_empty();
    match node.list_type.as_deref() {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].iter().any(|prev| json_eq(prev, item)) {
                    c.list
                        .push(FieldError::duplicate(format!("{path}[{i}]"), item.clone()));
                }
            }
        }
        _ if is_map_list => {
            let mut seen: Vec<Value> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(obj) = item.as_object() else { continue };
                let key_values: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| {
                        let v = obj
                            .get(k)
                            .cloned()
                            .or_else(|| node.items.as_ref()?.properties.get(k)?.default.clone())?;
                        Some((k.clone(), v))
                    })
                    .collect();
                let kv = Value::Object(key_values);
                if seen.iter().any(|s| json_eq(s, &kv)) {
                    c.list.push(FieldError::duplicate(format!("{path}[{i}]"), kv));
                } else {
                    seen.push(kv);
                }
            }
        }
        _ => {}
    }
    let Some(item_node) = node.items.as_deref() else {
        return;
    };
    let old_items = old.and_then(Value::as_array);
    for (i, item) in items.iter().enumerate() {
        let old_item = if is_map_list {
            old_items.and_then(|olds| {
                olds.iter().find(|o| {
                    keys.iter().all(|k| match (o.get(k), item.get(k)) {
                        (Some(a), Some(b)) => json_eq(a, b),
                        (None, None) => true,
                        _ => false,
                    })
                })
            })
        } else {
            None
        };
        walk(item_node, item, old_item, format!("{path}[{i}]"), c, false);
    }
}

fn walk_object<'a>(
    node: &'a SchemaNode,
    map: &'a Map<String, Value>,
    old: Option<&'a Value>,
    path: &str,
    c: &mut Collector<'a>,
    is_root: bool,
) {
    if node.embedded_resource && !is_root {
        for k in ["apiVersion", "kind"] {
            if map.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                c.schema
                    .push(FieldError::required(join(path, k), "must not be empty"));
            }
        }
    }
    for (k, v) in map {
        let child = match node.properties.get(k) {
            Some(p) => p,
            None if is_root || node.embedded_resource => {
                if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                match node.additional_properties.as_deref() {
                    Some(a) => a,
                    None => continue,
                }
            }
            None => match node.additional_properties.as_deref() {
                Some(a) => a,
                None => continue,
            },
        };
        walk(child, v, old.and_then(|o| o.get(k)), join(path, k), c, false);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errs(schema: Value, value: Value, old: Option<Value>) -> Vec<String> {
        let node = SchemaNode::parse(&schema);
        validate(&node, &value, old.as_ref(), None)
            .iter()
            .map(|e| format!("{} [{}]", e, e.error_type.reason()))
            .collect()
    }

    fn spec(props: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props}}})
    }

    #[test]
    fn keyword_cases() {
        let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
            (
                "integer type",
                spec(json!({"n": {"type": "integer"}})),
                json!({"spec": {"n": "x"}}),
                vec![
                    "spec.n: Invalid value: \"string\": spec.n in body must be of type integer: \"string\" [FieldValueTypeInvalid]",
                ],
            ),
            (
                "integral float is an integer",
                spec(json!({"n": {"type": "integer"}})),
                json!({"spec": {"n": 2.0}}),
                vec![],
            ),
            (
                "fraction is not",
                spec(json!({"n": {"type": "integer"}})),
                json!({"spec": {"n": 2.5}}),
                vec![
                    "spec.n: Invalid value: \"number\": spec.n in body must be of type integer: \"number\" [FieldValueTypeInvalid]",
                ],
            ),
            (
                "null not nullable",
                spec(json!({"l": {"type": "array", "items": {"type": "string"}}})),
                json!({"spec": {"l": [null]}}),
                vec![
                    "spec.l[0]: Invalid value: \"null\": spec.l[0] in body must be of type string: \"null\" [FieldValueTypeInvalid]",
                ],
            ),
            (
                "nullable",
                spec(json!({"s": {"type": "string", "nullable": true}})),
                json!({"spec": {"s": null}}),
                vec![],
            ),
            (
                "int-or-string",
                spec(json!({"p": {"x-kubernetes-int-or-string": true}})),
                json!({"spec": {"p": true}}),
                vec![
                    "spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer,string: \"boolean\" [FieldValueTypeInvalid]",
                ],
            ),
            (
                "int-or-string ok",
                spec(json!({"p": {"x-kubernetes-int-or-string": true}})),
                json!({"spec": {"p": "25%"}}),
                vec![],
            ),
            (
                "enum",
                spec(json!({"c": {"type": "string", "enum": ["red", "blue"]}})),
                json!({"spec": {"c": "green"}}),
                vec![
                    "spec.c: Unsupported value: \"green\": supported values: \"red\", \"blue\" [FieldValueNotSupported]",
                ],
            ),
            (
                "integer enum",
                spec(json!({"c": {"type": "integer", "enum": [1, 2]}})),
                json!({"spec": {"c": 3}}),
                vec!["spec.c: Unsupported value: 3: supported values: \"1\", \"2\" [FieldValueNotSupported]"],
            ),
            (
                "pattern",
                spec(json!({"s": {"type": "string", "pattern": "^[a-z]+$"}})),
                json!({"spec": {"s": "A1"}}),
                vec![
                    "spec.s: Invalid value: \"A1\": spec.s in body should match '^[a-z]+$' [FieldValueInvalid]",
                ],
            ),
            (
                "maxLength",
                spec(json!({"s": {"type": "string", "maxLength": 2}})),
                json!({"spec": {"s": "abc"}}),
                vec!["spec.s: Too long: may not be more than 2 bytes [FieldValueTooLong]"],
            ),
            (
                "minLength",
                spec(json!({"s": {"type": "string", "minLength": 3}})),
                json!({"spec": {"s": "ab"}}),
                vec![
                    "spec.s: Invalid value: \"ab\": spec.s in body should be at least 3 chars long [FieldValueInvalid]",
                ],
            ),
            (
                "minimum",
                spec(json!({"n": {"type": "integer", "minimum": 1}})),
                json!({"spec": {"n": 0}}),
                vec![
                    "spec.n: Invalid value: 0: spec.n in body should be greater than or equal to 1 [FieldValueInvalid]",
                ],
            ),
            (
                "exclusiveMinimum",
                spec(json!({"n": {"type": "integer", "minimum": 1, "exclusiveMinimum": true}})),
                json!({"spec": {"n": 1}}),
                vec!["spec.n: Invalid value: 1: spec.n in body should be greater than 1 [FieldValueInvalid]"],
            ),
            (
                "maximum",
                spec(json!({"n": {"type": "number", "maximum": 1.5}})),
                json!({"spec": {"n": 2}}),
                vec![
                    "spec.n: Invalid value: 2: spec.n in body should be less than or equal to 1.5 [FieldValueInvalid]",
                ],
            ),
            (
                "exclusiveMaximum",
                spec(json!({"n": {"type": "integer", "maximum": 10, "exclusiveMaximum": true}})),
                json!({"spec": {"n": 10}}),
                vec!["spec.n: Invalid value: 10: spec.n in body should be less than 10 [FieldValueInvalid]"],
            ),
            (
                "multipleOf",
                spec(json!({"n": {"type": "integer", "multipleOf": 5}})),
                json!({"spec": {"n": 7}}),
                vec![
                    "spec.n: Invalid value: 7: spec.n in body should be a multiple of 5 [FieldValueInvalid]",
                ],
            ),
            (
                "maxItems",
                spec(json!({"l": {"type": "array", "maxItems": 1, "items": {"type": "string"}}})),
                json!({"spec": {"l": ["a", "b"]}}),
                vec!["spec.l: Too many: 2: must have at most 1 item [FieldValueTooMany]"],
            ),
            (
                "minItems",
                spec(json!({"l": {"type": "array", "minItems": 1, "items": {"type": "string"}}})),
                json!({"spec": {"l": []}}),
                vec![
                    "spec.l: Invalid value: 0: spec.l in body should have at least 1 items [FieldValueInvalid]",
                ],
            ),
            (
                "maxProperties",
                spec(
                    json!({"m": {"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}}),
                ),
                json!({"spec": {"m": {"a": "1", "b": "2"}}}),
                vec!["spec.m: Too many: 2: must have at most 1 item [FieldValueTooMany]"],
            ),
            (
                "minProperties",
                spec(
                    json!({"m": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}}),
                ),
                json!({"spec": {"m": {}}}),
                vec![
                    "spec.m: Invalid value: 0: spec.m in body should have at least 1 properties [FieldValueInvalid]",
                ],
            ),
            (
                "property count error hides everything else about the object",
                spec(
                    json!({"m": {"type": "object", "minProperties": 2, "required": ["x"], "additionalProperties": {"type": "integer"}}}),
                ),
                json!({"spec": {"m": {"a": "x"}}}),
                vec![
                    "spec.m: Invalid value: 1: spec.m in body should have at least 2 properties [FieldValueInvalid]",
                ],
            ),
            (
                "required",
                json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {"size": {"type": "integer"}}}}}),
                json!({"spec": {}}),
                vec!["spec.size: Required value [FieldValueRequired]"],
            ),
            (
                "date-time format",
                spec(json!({"t": {"type": "string", "format": "date-time"}})),
                json!({"spec": {"t": "soon"}}),
                vec![
                    "spec.t: Invalid value: \"soon\": spec.t in body must be of type date-time: \"soon\" [FieldValueTypeInvalid]",
                ],
            ),
            (
                "duration format",
                spec(json!({"t": {"type": "string", "format": "duration"}})),
                json!({"spec": {"t": "1h"}}),
                vec![],
            ),
            (
                "additionalProperties values",
                spec(json!({"m": {"type": "object", "additionalProperties": {"type": "integer"}}})),
                json!({"spec": {"m": {"a": "x"}}}),
                vec![
                    "spec.m.a: Invalid value: \"string\": spec.m.a in body must be of type integer: \"string\" [FieldValueTypeInvalid]",
                ],
            ),
            (
                "set duplicates",
                spec(
                    json!({"l": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}}),
                ),
                json!({"spec": {"l": ["a", "b", "a"]}}),
                vec!["spec.l[2]: Duplicate value: \"a\" [FieldValueDuplicate]"],
            ),
            (
                "map-list duplicate keys",
                spec(
                    json!({"l": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"], "items": {"type": "object", "properties": {"type": {"type": "string"}, "x": {"type": "integer"}}}}}),
                ),
                json!({"spec": {"l": [{"type": "A", "x": 1}, {"type": "A", "x": 2}]}}),
                vec![
                    "spec.l[1]: Duplicate value: map[string]interface {}{\"type\":\"A\"} [FieldValueDuplicate]",
                ],
            ),
            (
                "anyOf",
                spec(json!({"v": {"type": "integer", "anyOf": [{"minimum": 10}, {"maximum": 1}]}})),
                json!({"spec": {"v": 5}}),
                vec![
                    "spec.v: Invalid value: \"\": spec.v in body must validate at least one schema (anyOf) [FieldValueInvalid]",
                ],
            ),
            (
                "embedded resource needs kind",
                spec(
                    json!({"r": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}),
                ),
                json!({"spec": {"r": {"apiVersion": "v1"}}}),
                vec!["spec.r.kind: Required value: must not be empty [FieldValueRequired]"],
            ),
            (
                "root type fields are not validated",
                json!({"type": "object", "properties": {}}),
                json!({"apiVersion": 1, "kind": {}, "metadata": {}}),
                vec![],
            ),
        ];
        for (name, schema, value, want) in cases {
            assert_eq!(errs(schema, value, None), want, "{name}");
        }
    }

    #[test]
    fn cel_runs_only_without_blocking_errors() {
        let schema = json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.n < 5", "message": "small"}],
            "properties": {"n": {"type": "integer", "minimum": 0}, "c": {"type": "string", "enum": ["a"]}},
        }}});
        assert_eq!(
            errs(schema.clone(), json!({"spec": {"n": 7}}), None),
            vec!["spec: Invalid value: small [FieldValueInvalid]"]
        );
        assert_eq!(
            errs(schema.clone(), json!({"spec": {"n": -1}}), None),
            vec![
                "spec.n: Invalid value: -1: spec.n in body should be greater than or equal to 0 [FieldValueInvalid]"
            ],
            "non-blocking errors let CEL run"
        );
        assert_eq!(
            errs(schema, json!({"spec": {"n": 7, "c": "z"}}), None),
            vec![
                "spec.c: Unsupported value: \"z\": supported values: \"a\" [FieldValueNotSupported]",
                "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation [FieldValueInvalid]",
            ]
        );
    }

    #[test]
    fn ratcheting_and_old_self_correlation() {
        let schema = spec(json!({
            "name": {"type": "string", "maxLength": 3},
            "conds": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"type": {"type": "string"}, "n": {"type": "integer"}},
                    "x-kubernetes-validations": [{"rule": "self.n >= oldSelf.n", "message": "n may not decrease"}]}},
        }));
        let old =
            json!({"spec": {"name": "toolong", "conds": [{"type": "A", "n": 5}, {"type": "B", "n": 1}]}});
        // Unchanged invalid name: ratcheted. Items reordered: correlated by key, not index.
        let new =
            json!({"spec": {"name": "toolong", "conds": [{"type": "B", "n": 1}, {"type": "A", "n": 6}]}});
        assert!(errs(schema.clone(), new, Some(old.clone())).is_empty());
        let shrunk = json!({"spec": {"name": "toolong", "conds": [{"type": "A", "n": 4}]}});
        assert_eq!(
            errs(schema.clone(), shrunk, Some(old.clone())),
            vec!["spec.conds[0]: Invalid value: n may not decrease [FieldValueInvalid]"]
        );
        let renamed = json!({"spec": {"name": "toolonger", "conds": []}});
        assert_eq!(
            errs(schema, renamed, Some(old)),
            vec![
                "spec.name: Too long: may not be more than 3 bytes [FieldValueTooLong]",
                "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation [FieldValueInvalid]",
            ]
        );
    }
}
