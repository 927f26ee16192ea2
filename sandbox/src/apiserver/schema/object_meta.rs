//! The `metadata` rules kube-apiserver applies to every object (`ValidateObjectMeta`): name and
//! generateName format, namespace presence, label keys and values, annotation keys and size,
//! finalizer names, owner references, with apimachinery's exact messages, e.g. `metadata.name:
//! Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of ...`.
//!
//! Invariant: checks only read the object; a missing or mistyped `metadata` is reported, never a
//! panic.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

use crate::apiserver::field_errors::FieldError;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";

fn anchored(fmt: &str) -> Regex {
    Regex::new(&format!("^{fmt}$")).expect("validation regex")
}

static DNS1123_LABEL: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL_FMT));
static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_SUBDOMAIN_FMT));
static QUALIFIED_NAME: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIED_NAME_FMT));
static LABEL_VALUE: LazyLock<Regex> = LazyLock::new(|| anchored(LABEL_VALUE_FMT));

/// apimachinery's `RegexError`: `<msg> (e.g. 'a',  or 'b', regex used for validation is '<fmt>')`.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push_str(&format!("'{e}', "));
    }
    out.push_str(&format!("regex used for validation is '{fmt}')"));
    out
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `IsDNS1123Subdomain`: the problems with `value`, empty when valid.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !DNS1123_SUBDOMAIN.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `IsDNS1123Label`.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !DNS1123_LABEL.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// `IsQualifiedName` (label and annotation keys, finalizer names).
pub fn qualified_name(value: &str) -> Vec<String> {
    let name_msg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(name_msg, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".into());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !QUALIFIED_NAME.is_match(name) {
        errs.push(format!(
            "name part {}",
            regex_error(name_msg, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
        ));
    }
    errs
}

/// `IsValidLabelValue`.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !LABEL_VALUE.is_match(value) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Which names a kind accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most kinds, custom resources).
    DnsSubdomain,
    /// DNS-1123 label (Namespace, Service).
    DnsLabel,
    /// Any path segment (RBAC roles and bindings): not `.`/`..`, no `/` or `%`.
    PathSegment,
}

impl NameRule {
    /// The problems with `name`; `prefix` for a `generateName` (a trailing `-` is allowed).
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        let name = if prefix && name.ends_with('-') {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::DnsSubdomain => dns1123_subdomain(name),
            NameRule::DnsLabel => dns1123_label(name),
            NameRule::PathSegment => {
                let mut errs = Vec::new();
                if !prefix && (name == "." || name == "..") {
                    errs.push(format!("may not be '{name}'"));
                }
                for bad in ["/", "%"] {
                    if name.contains(bad) {
                        errs.push(format!("may not contain '{bad}'"));
                    }
                }
                errs
            }
        }
    }
}

/// The most bytes all annotations of an object may take together.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Validates `object.metadata` for a create or update (`ValidateObjectMeta`). The caller has
/// already turned a `generateName` into a `name`.
pub fn validate_object_meta(object: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = json!({});
    let meta = object.get("metadata").unwrap_or(&empty);
    let s = |k: &str| meta.get(k).and_then(Value::as_str).unwrap_or("");

    let generate_name = s("generateName");
    if !generate_name.is_empty() {
        for m in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid(
                "metadata.generateName",
                json!(generate_name),
                m,
            ));
        }
    }
    let name = s("name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for m in name_rule.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", json!(name), m));
        }
    }

    let namespace = s("namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for m in dns1123_label(namespace) {
                errs.push(FieldError::invalid("metadata.namespace", json!(namespace), m));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden(
            "metadata.namespace",
            "not allowed on this type",
        ));
    }

    if let Some(g) = meta.get("generation").and_then(Value::as_i64)
        && g < 0
    {
        errs.push(FieldError::invalid(
            "metadata.generation",
            json!(g),
            "must be greater than or equal to 0",
        ));
    }

    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (k, v) in labels {
            for m in qualified_name(k) {
                errs.push(FieldError::invalid("metadata.labels", json!(k), m));
            }
            let v = v.as_str().unwrap_or("");
            for m in label_value(v) {
                errs.push(FieldError::invalid("metadata.labels", json!(v), m));
            }
        }
    }

    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in annotations {
            for m in qualified_name(&k.to_lowercase()) {
                errs.push(FieldError::invalid("metadata.annotations", json!(k), m));
            }
            total += k.len() + v.as_str().map_or(0, str::len);
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errs.push(FieldError::too_long(
                "metadata.annotations",
                json!(""),
                Some(TOTAL_ANNOTATION_SIZE_LIMIT as u64),
            ));
        }
    }

    if let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) {
        let mut controllers = Vec::new();
        for r in refs {
            let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
            if f("apiVersion").is_empty() {
                errs.push(FieldError::invalid(
                    "metadata.ownerReferences.apiVersion",
                    json!(""),
                    "version must not be empty",
                ));
            }
            if f("kind").is_empty() {
                errs.push(FieldError::invalid(
                    "metadata.ownerReferences.kind",
                    json!(""),
                    "kind must not be empty",
                ));
            }
            if f("name").is_empty() {
                errs.push(FieldError::invalid(
                    "metadata.ownerReferences.name",
                    json!(""),
                    "name must not be empty",
                ));
            }
            if f("uid").is_empty() {
                errs.push(FieldError::invalid(
                    "metadata.ownerReferences.uid",
                    json!(""),
                    "uid must not be empty",
                ));
            }
            if r.get("controller").and_then(Value::as_bool) == Some(true) {
                controllers.push(format!("{}/{}", f("kind"), f("name")));
            }
        }
        if controllers.len() > 1 {
            errs.push(FieldError::invalid(
                "metadata.ownerReferences",
                Value::Array(refs.clone()),
                format!(
                    "Only one reference can have Controller set to true. Found \"true\" in references for {}",
                    controllers.join(" and ")
                ),
            ));
        }
    }

    if let Some(finalizers) = meta.get("finalizers").and_then(Value::as_array) {
        for (i, f) in finalizers.iter().enumerate() {
            let f = f.as_str().unwrap_or("");
            for m in qualified_name(f) {
                errs.push(FieldError::invalid(
                    format!("metadata.finalizers[{i}]"),
                    json!(f),
                    m,
                ));
            }
        }
    }
    if let Some(entries) = meta.get("managedFields").and_then(Value::as_array) {
        for (i, e) in entries.iter().enumerate() {
            let path = format!("metadata.managedFields[{i}]");
            let f = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
            if !matches!(f("operation"), "Apply" | "Update") {
                errs.push(FieldError::invalid(
                    format!("{path}.operation"),
                    json!(f("operation")),
                    "must be `Apply` or `Update`",
                ));
            }
            if !f("fieldsType").is_empty() && f("fieldsType") != "FieldsV1" {
                errs.push(FieldError::invalid(
                    format!("{path}.fieldsType"),
                    json!(f("fieldsType")),
                    "must be `FieldsV1`",
                ));
            }
            if f("manager").len() > 128 {
                errs.push(FieldError::too_long(
                    format!("{path}.manager"),
                    json!(f("manager")),
                    Some(128),
                ));
            }
            if f("subresource").len() > 256 {
                errs.push(FieldError::too_long(
                    format!("{path}.subresource"),
                    json!(f("subresource")),
                    Some(256),
                ));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::field_errors::invalid_status;
    use crate::apiserver::recordings::exchange;

    #[test]
    fn replays_the_recorded_invalid_name() {
        let ex = exchange("secret-create-invalid-name");
        let mut obj = ex.request_body().clone();
        obj["metadata"]["namespace"] = json!("conformance");
        let errs = validate_object_meta(&obj, true, NameRule::DnsSubdomain);
        assert_eq!(
            &invalid_status("", "Secret", "Bad_Name", &errs),
            ex.response_body()
        );
    }

    #[test]
    fn metadata_cases() {
        let cases: Vec<(&str, Value, bool, NameRule, Vec<&str>)> = vec![
            (
                "valid",
                json!({"name": "a.b-c", "namespace": "ns"}),
                true,
                NameRule::DnsSubdomain,
                vec![],
            ),
            (
                "missing name",
                json!({"namespace": "ns"}),
                true,
                NameRule::DnsSubdomain,
                vec!["metadata.name: Required value: name or generateName is required"],
            ),
            (
                "label name for namespaces",
                json!({"name": "a.b"}),
                false,
                NameRule::DnsLabel,
                vec![
                    "metadata.name: Invalid value: \"a.b\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                ],
            ),
            (
                "path segment",
                json!({"name": "system:viewer"}),
                false,
                NameRule::PathSegment,
                vec![],
            ),
            (
                "path segment slash",
                json!({"name": "a/b"}),
                false,
                NameRule::PathSegment,
                vec!["metadata.name: Invalid value: \"a/b\": may not contain '/'"],
            ),
            (
                "namespace on cluster-scoped",
                json!({"name": "a", "namespace": "x"}),
                false,
                NameRule::DnsSubdomain,
                vec!["metadata.namespace: Forbidden: not allowed on this type"],
            ),
            (
                "generateName prefix may end with a dash",
                json!({"name": "w-abcde", "generateName": "w-", "namespace": "ns"}),
                true,
                NameRule::DnsSubdomain,
                vec![],
            ),
            (
                "bad label value",
                json!({"name": "a", "namespace": "n", "labels": {"app": "no way"}}),
                true,
                NameRule::DnsSubdomain,
                vec![
                    "metadata.labels: Invalid value: \"no way\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ],
            ),
            (
                "bad label key prefix",
                json!({"name": "a", "namespace": "n", "labels": {"Ex.com/app": "x"}}),
                true,
                NameRule::DnsSubdomain,
                vec![
                    "metadata.labels: Invalid value: \"Ex.com/app\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                ],
            ),
            (
                "bad finalizer",
                json!({"name": "a", "namespace": "n", "finalizers": ["a/b/c"]}),
                true,
                NameRule::DnsSubdomain,
                vec![
                    "metadata.finalizers[0]: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                ],
            ),
            (
                "bad managed fields entry",
                json!({"name": "a", "namespace": "n", "managedFields": [{"manager": "m", "operation": "Patch", "fieldsType": "FieldsV2"}]}),
                true,
                NameRule::DnsSubdomain,
                vec![
                    "metadata.managedFields[0].operation: Invalid value: \"Patch\": must be `Apply` or `Update`",
                    "metadata.managedFields[0].fieldsType: Invalid value: \"FieldsV2\": must be `FieldsV1`",
                ],
            ),
            (
                "owner reference without uid",
                json!({"name": "a", "namespace": "n", "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "o"}]}),
                true,
                NameRule::DnsSubdomain,
                vec!["metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"],
            ),
        ];
        for (name, meta, namespaced, rule, want) in cases {
            let got: Vec<String> = validate_object_meta(&json!({"metadata": meta}), namespaced, rule)
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }
}
