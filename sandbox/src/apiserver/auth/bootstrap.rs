//! The bootstrap RBAC policy a fresh cluster starts with, limited to what matters to clients:
//!
//! | ClusterRole | grants | bound to |
//! |---|---|---|
//! | `cluster-admin` | everything | group `system:masters` |
//! | `system:discovery` | `/api*`, `/apis*`, `/openapi*`, `/version`, health paths | `system:authenticated` |
//! | `system:public-info-viewer` | `/version`, `/healthz`, `/livez`, `/readyz` | `system:authenticated`, `system:unauthenticated` |
//! | `system:basic-user` | create self-subject access/rules reviews and self-subject reviews | `system:authenticated` |
//! | `system:service-account-issuer-discovery` | the OIDC discovery document and JWKS | `system:serviceaccounts`; and, through ClusterRoleBinding `oidc-reviewer` (the binding the Kubernetes docs recommend so external verifiers can fetch keys), `system:unauthenticated` |
//!
//! The objects carry the `kubernetes.io/bootstrapping: rbac-defaults` label and the autoupdate
//! annotation, as kube-apiserver creates them. Not bootstrapped: the aggregated `admin`, `edit` and
//! `view` roles, and the controllers' `system:controller:*` roles (there are no controllers).
//!
//! Invariant: these are ordinary stored objects: listing, editing or deleting them changes what
//! RBAC allows, exactly as on a real cluster (except that `system:masters` never needs them).

use serde_json::{Value, json};

fn meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(name), "rules": rules})
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

/// The bootstrap ClusterRoles, in creation order.
pub fn cluster_roles() -> Vec<Value> {
    vec![
        cluster_role(
            "cluster-admin",
            json!([
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ]),
        ),
        cluster_role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            json!([{"nonResourceURLs": ["/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                "/openid/v1/jwks", "/openid/v1/jwks/"], "verbs": ["get"]}]),
        ),
    ]
}

/// The bootstrap ClusterRoleBindings, in creation order.
pub fn cluster_role_bindings() -> Vec<Value> {
    vec![
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding("system:discovery", "system:discovery", &["system:authenticated"]),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            &["system:serviceaccounts"],
        ),
        binding(
            "oidc-reviewer",
            "system:service-account-issuer-discovery",
            &["system:unauthenticated"],
        ),
    ]
}
