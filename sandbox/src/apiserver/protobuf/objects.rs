//! Schemas of the built-in objects `kubectl create <kind>` sends as protobuf (kubectl ≥ 1.31 sends
//! `create namespace|secret|configmap|serviceaccount|role|clusterrole|rolebinding|clusterrolebinding`
//! bodies as protobuf and does not fall back to JSON). Field numbers are those of `k8s.io/api`'s
//! `generated.proto`. Server-owned fields (`uid`, `resourceVersion`, timestamps, `status`) are not
//! read: the server sets them. Empty strings Go omits from JSON are omitted here too.

use serde_json::{Map, Value, json};

use super::{Kind, Schema, envelope, message};

const OWNER_REFERENCE: Schema = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];
const OBJECT_META: Schema = &[
    (1, "name", Kind::OptStr),
    (2, "generateName", Kind::OptStr),
    (3, "namespace", Kind::OptStr),
    (11, "labels", Kind::StrMap),
    (12, "annotations", Kind::StrMap),
    (13, "ownerReferences", Kind::Messages(OWNER_REFERENCE)),
    (14, "finalizers", Kind::Strings),
];
const NAMESPACE: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(&[(1, "finalizers", Kind::Strings)])),
];
const SECRET: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::BytesMap),
    (3, "type", Kind::OptStr),
    (4, "stringData", Kind::StrMap),
    (5, "immutable", Kind::Bool),
];
const CONFIG_MAP: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::StrMap),
    (3, "binaryData", Kind::BytesMap),
    (4, "immutable", Kind::Bool),
];
const OBJECT_REFERENCE: Schema = &[
    (1, "kind", Kind::OptStr),
    (2, "namespace", Kind::OptStr),
    (3, "name", Kind::OptStr),
    (4, "uid", Kind::OptStr),
    (5, "apiVersion", Kind::OptStr),
    (6, "resourceVersion", Kind::OptStr),
    (7, "fieldPath", Kind::OptStr),
];
const SERVICE_ACCOUNT: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "secrets", Kind::Messages(OBJECT_REFERENCE)),
    (
        3,
        "imagePullSecrets",
        Kind::Messages(&[(1, "name", Kind::OptStr)]),
    ),
    (4, "automountServiceAccountToken", Kind::Bool),
];
const POLICY_RULE: Schema = &[
    (1, "verbs", Kind::Strings),
    (2, "apiGroups", Kind::Strings),
    (3, "resources", Kind::Strings),
    (4, "resourceNames", Kind::Strings),
    (5, "nonResourceURLs", Kind::Strings),
];
const LABEL_SELECTOR: Schema = &[
    (1, "matchLabels", Kind::StrMap),
    (
        2,
        "matchExpressions",
        Kind::Messages(&[
            (1, "key", Kind::Str),
            (2, "operator", Kind::Str),
            (3, "values", Kind::Strings),
        ]),
    ),
];
const ROLE: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "rules", Kind::Messages(POLICY_RULE)),
];
const CLUSTER_ROLE: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "rules", Kind::Messages(POLICY_RULE)),
    (
        3,
        "aggregationRule",
        Kind::Message(&[(1, "clusterRoleSelectors", Kind::Messages(LABEL_SELECTOR))]),
    ),
];
const SUBJECT: Schema = &[
    (1, "kind", Kind::Str),
    (2, "apiGroup", Kind::OptStr),
    (3, "name", Kind::Str),
    (4, "namespace", Kind::OptStr),
];
const ROLE_BINDING: Schema = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "subjects", Kind::Messages(SUBJECT)),
    (
        3,
        "roleRef",
        Kind::Message(&[
            (1, "apiGroup", Kind::Str),
            (2, "kind", Kind::Str),
            (3, "name", Kind::Str),
        ]),
    ),
];

/// The schema of a built-in kind this module decodes, by API group and kind.
fn schema(group: &str, kind: &str) -> Option<Schema> {
    match (group, kind) {
        ("", "Namespace") => Some(NAMESPACE),
        ("", "Secret") => Some(SECRET),
        ("", "ConfigMap") => Some(CONFIG_MAP),
        ("", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("rbac.authorization.k8s.io", "Role") => Some(ROLE),
        ("rbac.authorization.k8s.io", "ClusterRole") => Some(CLUSTER_ROLE),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => Some(ROLE_BINDING),
        _ => None,
    }
}

/// Whether bodies of this group and kind can be decoded from protobuf.
pub fn supported(group: &str, kind: &str) -> bool {
    schema(group, kind).is_some()
}

/// Decodes a protobuf body for a resource of `group`/`kind` into its JSON object (with the
/// envelope's `apiVersion` and `kind`, which the caller checks against the resource), or `None`
/// when this kind has no schema here.
pub fn decode(group: &str, kind: &str, body: &[u8]) -> Result<Option<Value>, String> {
    let Some(schema) = schema(group, kind) else {
        return Ok(None);
    };
    let (api_version, found_kind, raw) = envelope(body)?;
    let mut object = match message(raw, schema)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(found_kind));
    Ok(Some(Value::Object(object)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubectl 1.33 sent for `kubectl create namespace foo`.
    const CREATE_NAMESPACE: &[u8] = b"k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1b\n\x13\n\x03foo\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x00\x1a\x02\n\x00\x1a\x00\"\x00";

    #[test]
    fn decodes_kubectls_namespace() {
        let v = decode("", "Namespace", CREATE_NAMESPACE).unwrap().unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}, "spec": {}})
        );
    }

    #[test]
    fn kinds_without_a_schema_are_not_decoded() {
        assert_eq!(decode("apps", "Deployment", CREATE_NAMESPACE).unwrap(), None);
        assert!(!supported("apps", "Deployment"));
        assert!(supported("", "Secret"));
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(decode("", "Namespace", b"{}").is_err());
        assert!(decode("", "Namespace", &CREATE_NAMESPACE[..30]).is_err());
        assert!(decode("", "Namespace", b"k8s\x00\n\x02v1\x12\x00").is_err());
    }
}
