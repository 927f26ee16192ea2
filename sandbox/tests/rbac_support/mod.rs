//! Shared set-up for the API server's authentication, RBAC and fault tests: namespaces,
//! ServiceAccounts with `kube::Client`s presenting their tokens, and Role/ClusterRole grants,
//! all created through the server's Rust API as an administrator would.

#![allow(dead_code)]

use std::time::Duration;

use sandbox::apiserver::ApiServer;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// Generous bound for awaiting events on a loaded machine.
pub const LONG: Duration = Duration::from_secs(60);

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn ensure_namespace(server: &ApiServer, ns: &str) {
    let rt = server.resource("", "v1", "namespaces").unwrap();
    if server.get(&rt, "", ns).is_none() {
        server
            .create(&rt, "", json!({"metadata": {"name": ns}}), "test")
            .unwrap();
    }
}

/// Creates ServiceAccount `ns/name` (and its namespace) if missing.
pub fn service_account(server: &ApiServer, ns: &str, name: &str) {
    ensure_namespace(server, ns);
    let rt = server.resource("", "v1", "serviceaccounts").unwrap();
    if server.get(&rt, ns, name).is_none() {
        server
            .create(&rt, ns, json!({"metadata": {"name": name}}), "test")
            .unwrap();
    }
}

/// A token for ServiceAccount `ns/name` (created if missing), valid for an hour.
pub fn sa_token(server: &ApiServer, ns: &str, name: &str) -> String {
    service_account(server, ns, name);
    server
        .service_account_token(ns, name, &[], Duration::from_secs(3600))
        .unwrap()
        .expose_secret()
        .to_string()
}

/// An in-process client authenticated as ServiceAccount `ns/name` (created if missing).
pub fn sa_client(server: &ApiServer, ns: &str, name: &str) -> kube::Client {
    server.client_with_token(&sa_token(server, ns, name))
}

/// `system:serviceaccount:<ns>:<name>`.
pub fn sa_user(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

/// Grants `rules` to ServiceAccount `sa_ns/sa_name`: a Role and RoleBinding named `name` in
/// `namespace`, or with `namespace` None a ClusterRole and ClusterRoleBinding.
pub fn grant(
    server: &ApiServer,
    namespace: Option<&str>,
    name: &str,
    sa_ns: &str,
    sa_name: &str,
    rules: Value,
) {
    let subject = json!({"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns});
    grant_to(server, namespace, name, subject, rules)
}

/// Like [`grant`], to any subject (`{"kind": "Group", "name": ...}` ...).
pub fn grant_to(server: &ApiServer, namespace: Option<&str>, name: &str, subject: Value, rules: Value) {
    let (role_kind, binding_kind, role_plural, binding_plural, ns) = match namespace {
        Some(ns) => ("Role", "RoleBinding", "roles", "rolebindings", ns),
        None => (
            "ClusterRole",
            "ClusterRoleBinding",
            "clusterroles",
            "clusterrolebindings",
            "",
        ),
    };
    let g = "rbac.authorization.k8s.io";
    let role_rt = server.resource(g, "v1", role_plural).unwrap();
    let binding_rt = server.resource(g, "v1", binding_plural).unwrap();
    server
        .create(
            &role_rt,
            ns,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind,
                "metadata": {"name": name}, "rules": rules}),
            "test",
        )
        .unwrap();
    server
        .create(
            &binding_rt,
            ns,
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind,
                "metadata": {"name": name},
                "roleRef": {"apiGroup": g, "kind": role_kind, "name": name},
                "subjects": [subject]}),
            "test",
        )
        .unwrap();
}

/// The `Status` of a failed kube call (panics on other errors).
pub fn status_of<T>(r: Result<T, kube::Error>) -> kube::core::Status {
    match r {
        Err(kube::Error::Api(s)) => *s,
        Err(e) => panic!("expected an API error, got {e:?}"),
        Ok(_) => panic!("expected an API error, got success"),
    }
}

/// The HTTP code of a kube call: 200 for success.
pub fn code_of<T>(r: &Result<T, kube::Error>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(kube::Error::Api(s)) => s.code,
        Err(e) => panic!("unexpected client error: {e}"),
    }
}
