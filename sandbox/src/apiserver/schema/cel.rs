//! CRD `x-kubernetes-validations` (CEL) rules, evaluated with the `kube-cel` crate (Kubernetes'
//! CEL libraries on the `cel` interpreter) and reported as kube-apiserver reports them:
//! `spec: Invalid value: sizes above 5 must be red` (the value itself is not printed), with the
//! rule's `reason` and `fieldPath` honoured.
//!
//! Invariant: each schema node evaluates only its own rules (nested nodes are visited by the
//! caller with their correlated old value), so `oldSelf` follows kube-apiserver's correlation
//! (object keys and `map`-list keys), not list indexes.

use serde_json::Value;

use super::node::SchemaNode;
use crate::apiserver::field_errors::{BadValue, ErrorType, FieldError};

thread_local! {
    // NB: building a validator registers every CEL extension function; do it once per thread.
    static VALIDATOR: kube_cel::Validator = kube_cel::Validator::new();
}

/// The type and version of the resource, bound as `apiVersion`, `apiGroup` and `kind` for rules
/// at the schema root.
#[derive(Clone, Debug, Default)]
pub struct RootVars {
    /// e.g. `conformance.example.com/v1`.
    pub api_version: String,
    /// e.g. `conformance.example.com`.
    pub api_group: String,
    /// e.g. `Widget`.
    pub kind: String,
}

fn join_rule_path(node_path: &str, rule_path: &str) -> String {
    let rel = rule_path.trim_start_matches('.');
    match (node_path.is_empty(), rel.is_empty()) {
        (_, true) => node_path.to_string(),
        (true, false) => rel.to_string(),
        (false, false) if rule_path.starts_with('[') => format!("{node_path}{rule_path}"),
        (false, false) => format!("{node_path}.{rel}"),
    }
}

/// Evaluates the rules of `node` on `value` (at `path`), with `old` the correlated value of the
/// object being updated, if any.
pub fn evaluate(
    node: &SchemaNode,
    value: &Value,
    old: Option<&Value>,
    path: &str,
    root: Option<&RootVars>,
) -> Vec<FieldError> {
    let Some(compiled) = node.cel.as_deref() else {
        return Vec::new();
    };
    let ctx = root.map(|r| kube_cel::RootContext {
        api_version: r.api_version.clone(),
        api_group: r.api_group.clone(),
        kind: r.kind.clone(),
    });
    let result = VALIDATOR.with(|v| v.validate_compiled_with_context(compiled, value, old, ctx.as_ref()));
    let Err(errors) = result else {
        return Vec::new();
    };
    errors
        .into_vec()
        .into_iter()
        .map(|e| {
            let field = join_rule_path(path, &e.field_path);
            match e.kind {
                kube_cel::ErrorKind::ValidationFailure => {
                    let t = e
                        .reason
                        .as_deref()
                        .and_then(ErrorType::from_reason)
                        .unwrap_or(ErrorType::Invalid);
                    FieldError::of_type(t, field, BadValue::Omitted, e.message)
                }
                _ => FieldError::of_type(ErrorType::Invalid, field, BadValue::Omitted, e.message),
            }
        })
        .collect()
}

/// The compilation errors of `node`'s rules, as CRD validation errors under `schema_path`
/// (`...openAPIV3Schema.properties[spec]`).
pub fn compilation_errors(node: &SchemaNode, schema_path: &str) -> Vec<FieldError> {
    let Some(compiled) = node.cel.as_deref() else {
        return Vec::new();
    };
    compiled
        .validations
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let e = r.as_ref().err()?;
            let rule = node
                .rules
                .get(i)
                .and_then(|r| r.get("rule"))
                .cloned()
                .unwrap_or(Value::Null);
            Some(FieldError::invalid(
                format!("{schema_path}.x-kubernetes-validations[{i}].rule"),
                rule,
                format!("compilation failed: {e}"),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rule_outcomes() {
        let node = SchemaNode::parse(&json!({
            "type": "object",
            "properties": {"size": {"type": "integer"}, "color": {"type": "string"}, "min": {"type": "integer"}},
            "x-kubernetes-validations": [
                {"rule": "self.size <= 5 || self.color == 'red'", "message": "sizes above 5 must be red"},
                {"rule": "!has(self.min) || self.min <= self.size", "messageExpression": "'min ' + string(self.min) + ' above size'", "fieldPath": ".min", "reason": "FieldValueForbidden"},
                {"rule": "self.size >= oldSelf.size", "message": "size may not shrink"},
                {"rule": "self.size != 4"},
            ],
        }));
        let cases: Vec<(&str, Value, Option<Value>, Vec<&str>)> = vec![
            ("valid", json!({"size": 2}), None, vec![]),
            (
                "message",
                json!({"size": 7, "color": "blue"}),
                None,
                vec!["spec: Invalid value: sizes above 5 must be red"],
            ),
            (
                "messageExpression, fieldPath, reason",
                json!({"size": 2, "min": 3}),
                None,
                vec!["spec.min: Forbidden: min 3 above size"],
            ),
            (
                "transition rule skipped on create",
                json!({"size": 1}),
                None,
                vec![],
            ),
            (
                "transition rule on update",
                json!({"size": 1}),
                Some(json!({"size": 2})),
                vec!["spec: Invalid value: size may not shrink"],
            ),
            (
                "default message",
                json!({"size": 4}),
                None,
                vec!["spec: Invalid value: failed rule: self.size != 4"],
            ),
        ];
        for (name, value, old, want) in cases {
            let got: Vec<String> = evaluate(&node, &value, old.as_ref(), "spec", None)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn root_rules_see_type_variables() {
        let node = SchemaNode::parse(
            &json!({"type": "object", "x-kubernetes-validations": [{"rule": "kind == 'Widget'"}]}),
        );
        let vars = RootVars {
            api_version: "g/v1".into(),
            api_group: "g".into(),
            kind: "Gadget".into(),
        };
        let errs = evaluate(&node, &json!({}), None, "", Some(&vars));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "<nil>");
    }

    #[test]
    fn compilation_errors_are_reported() {
        let node = SchemaNode::parse(
            &json!({"type": "object", "x-kubernetes-validations": [{"rule": "self.size >="}]}),
        );
        let errs = compilation_errors(&node, "spec.versions[0].schema.openAPIV3Schema");
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].field,
            "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule"
        );
        assert!(
            errs[0]
                .body()
                .starts_with("Invalid value: \"self.size >=\": compilation failed"),
            "{}",
            errs[0].body()
        );
    }
}
