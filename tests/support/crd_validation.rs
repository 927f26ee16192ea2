//! A client-side stand-in for what kube-apiserver does with a manifest on `kubectl apply`
//! (strict field validation, defaulting, OpenAPI schema checks, then the CEL rules), producing
//! messages in the API server's words (see `/work/shared/conformance`). Used until the sandbox
//! API server validates custom resources; the same data files then go through `kubectl`.
//!
//! NB: like kube-apiserver 1.36, CEL rules are not evaluated when the schema checks failed.

use regex::Regex;
use serde_json::{Map, Value};

/// The `openAPIV3Schema` of the CRD serving `kind`.
pub fn schema_for(kind: &str) -> Value {
    let crd = secret_rotator::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .unwrap()
        .open_api_v3_schema
        .as_ref()
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

/// Every error the API server would report for `object`, as messages.
pub fn validate(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let schema = schema_for(kind);
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("metadata");
    }
    let mut unknown = vec![];
    unknown_fields(&schema, &object, "", &mut unknown);
    if !unknown.is_empty() {
        return unknown
            .into_iter()
            .map(|p| format!("{kind} in version \"v1alpha1\" cannot be handled as a {kind}: strict decoding error: unknown field \"{p}\""))
            .collect();
    }
    apply_defaults(&schema, &mut object);
    let mut errors = vec![];
    structural(&schema, &object, "", &mut errors);
    if !errors.is_empty() {
        errors.push("<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into());
        return errors;
    }
    if let Err(cel) = kube_cel::Validator::new().validate(&schema, &object, None) {
        for e in cel.iter() {
            assert!(
                e.kind == kube_cel::ErrorKind::ValidationFailure,
                "rule {:?} could not be evaluated: {e} ({:?})",
                e.rule,
                e.kind
            );
            errors.push(format!("{}: Invalid value: {}", e.field_path, e.message));
        }
    }
    errors
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn unknown_fields(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
                return;
            }
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in map {
                match (props.and_then(|p| p.get(k)), additional) {
                    (Some(s), _) => unknown_fields(s, v, &join(path, k), out),
                    (None, Some(a)) if a.is_object() => unknown_fields(a, v, &join(path, k), out),
                    _ => out.push(join(path, k)),
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    unknown_fields(s, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if !map.contains_key(k)
                        && let Some(d) = s.get("default")
                    {
                        map.insert(k.clone(), d.clone());
                    }
                    if let Some(v) = map.get_mut(k) {
                        apply_defaults(s, v);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                items.iter_mut().for_each(|v| apply_defaults(s, v));
            }
        }
        _ => {}
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn structural(schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) {
            out.push(format!(
                "{path}: Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                schema["type"].as_str().unwrap_or("object")
            ));
        }
        return;
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        if actual != t && !(t == "number" && actual == "integer") {
            out.push(format!(
                "{path}: Invalid value: {}: {path} in body must be of type {t}: \"{actual}\"",
                show(value)
            ));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && !values.contains(value)
    {
        let supported: Vec<String> = values.iter().map(show).collect();
        out.push(format!(
            "{path}: Unsupported value: {}: supported values: {}",
            show(value),
            supported.join(", ")
        ));
    }
    match value {
        Value::String(s) => {
            if let Some(p) = schema.get("pattern").and_then(Value::as_str)
                && !Regex::new(p).unwrap().is_match(s)
            {
                out.push(format!(
                    "{path}: Invalid value: {}: {path} in body should match '{p}'",
                    show(value)
                ));
            }
            if let Some(n) = schema.get("maxLength").and_then(Value::as_u64)
                && s.chars().count() as u64 > n
            {
                out.push(format!("{path}: Too long: may not be more than {n} bytes"));
            }
            if let Some(n) = schema.get("minLength").and_then(Value::as_u64)
                && (s.chars().count() as u64) < n
            {
                out.push(format!(
                    "{path}: Invalid value: {}: {path} in body should be at least {n} chars long",
                    show(value)
                ));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && x < min
            {
                out.push(format!(
                    "{path}: Invalid value: {n}: {path} in body should be greater than or equal to {min}"
                ));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && x > max
            {
                out.push(format!(
                    "{path}: Invalid value: {n}: {path} in body should be less than or equal to {max}"
                ));
            }
        }
        Value::Array(items) => {
            if let Some(n) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > n
            {
                out.push(format!(
                    "{path}: Too many: {}: must have at most {n} items",
                    items.len()
                ));
            }
            if let Some(n) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < n
            {
                out.push(format!(
                    "{path}: Invalid value: {}: {path} in body should have at least {n} items",
                    items.len()
                ));
            }
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    structural(s, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(map) => object(schema, map, path, out),
        _ => {}
    }
}

fn object(schema: &Value, map: &Map<String, Value>, path: &str, out: &mut Vec<String>) {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                out.push(format!("{}: Required value", join(path, r)));
            }
        }
    }
    if let Some(n) = schema.get("maxProperties").and_then(Value::as_u64)
        && map.len() as u64 > n
    {
        out.push(format!(
            "{path}: Too many: {}: must have at most {n} items",
            map.len()
        ));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    for (k, v) in map {
        if let Some(s) = props.and_then(|p| p.get(k)) {
            structural(s, v, &join(path, k), out);
        } else if let Some(a) = schema.get("additionalProperties").filter(|a| a.is_object()) {
            structural(a, v, &join(path, k), out);
        }
    }
}
