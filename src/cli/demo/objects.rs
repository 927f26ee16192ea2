//! Everything the demo puts into the sandbox cluster, as plain data: the namespaces, the
//! operator's service account with the RBAC it ships (`deploy/rbac.yaml`, embedded at build
//! time), a namespaced `IdentityProvider` that signs in with workload identity, a Deployment that
//! reads the rotated Secret both as an environment variable and as a mounted file, and the
//! `ClientSecretRotation`.
//!
//! Invariant: pure functions of names and settings; no secret value appears in any object (the
//! provider signs in with a federated service-account token, not a stored secret).

use serde_json::{Value, json};

use super::settings::{Timing, go};
use crate::api::wellknown;

/// Namespace of the application and its rotation.
pub const NAMESPACE: &str = "demo";
/// Namespace of the operator (its service account and RBAC live there).
pub const OPERATOR_NAMESPACE: &str = "secret-rotator";
/// The operator's service account (the subject of `deploy/rbac.yaml`).
pub const OPERATOR_SERVICE_ACCOUNT: &str = "secret-rotator";
/// The service account the provider signs in as (through a federated identity credential).
pub const SIGN_IN_SERVICE_ACCOUNT: &str = "entra-workload-identity";
/// The `IdentityProvider`.
pub const PROVIDER: &str = "entra";
/// The `ClientSecretRotation`, and the application's display name at Entra.
pub const ROTATION: &str = "payments-api";
/// The Secret the operator writes and the Deployment reads.
pub const SECRET: &str = "payments-api-credentials";
/// The key of the client secret in that Secret.
pub const SECRET_KEY: &str = "client-secret";
/// The Deployment.
pub const DEPLOYMENT: &str = "web";
/// The environment variable the Deployment's container reads the secret from.
pub const ENV_VAR: &str = "CLIENT_SECRET";
/// Where the Secret is mounted in the Deployment's container.
pub const MOUNT_PATH: &str = "/etc/payments-api";
/// The Entra tenant, by its domain name.
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
/// Field manager of the objects the demo creates.
pub const FIELD_MANAGER: &str = "secret-rotator-demo";

/// The operator's least-privilege RBAC, as shipped.
const RBAC: &str = include_str!("../../../deploy/rbac.yaml");

/// Why the embedded RBAC could not be read (a broken build, never bad input).
#[derive(Debug, thiserror::Error)]
#[error("deploy/rbac.yaml (embedded) is not valid YAML: {0}")]
pub struct RbacError(String);

/// The namespaces, operator's first.
pub fn namespaces() -> Vec<Value> {
    [OPERATOR_NAMESPACE, NAMESPACE]
        .into_iter()
        .map(|name| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
        .collect()
}

/// The operator's service account and every object of `deploy/rbac.yaml`.
pub fn operator_rbac() -> Result<Vec<Value>, RbacError> {
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": OPERATOR_SERVICE_ACCOUNT, "namespace": OPERATOR_NAMESPACE},
    })];
    let documents = serde_saphyr::from_multiple::<Value>(RBAC).map_err(|e| RbacError(e.to_string()))?;
    objects.extend(documents.into_iter().filter(|d| !d.is_null()));
    Ok(objects)
}

/// The service account the provider's workload identity uses.
pub fn sign_in_service_account() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": SIGN_IN_SERVICE_ACCOUNT, "namespace": NAMESPACE},
    })
}

/// The `IdentityProvider`: the emulator's tenant, reached at `entra_url`, signing in as the
/// application `client_id` with a token of [`SIGN_IN_SERVICE_ACCOUNT`].
pub fn identity_provider(entra_url: &str, client_id: &str) -> Value {
    json!({
        "apiVersion": wellknown::API_VERSION,
        "kind": "IdentityProvider",
        "metadata": {"name": PROVIDER, "namespace": NAMESPACE},
        "spec": {
            "tenantId": TENANT_DOMAIN,
            "endpoints": {"authority": entra_url, "graph": entra_url},
            "auth": {"workloadIdentity": {
                "clientId": client_id,
                "serviceAccountName": SIGN_IN_SERVICE_ACCOUNT,
            }},
        },
    })
}

/// The Deployment of `replicas` replicas that reads the client secret as [`ENV_VAR`] and as the
/// file `MOUNT_PATH/client-secret`. Until the Secret exists its replicas wait, as kubelet makes
/// them.
pub fn deployment(replicas: u16) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": NAMESPACE, "labels": {"app": DEPLOYMENT}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": DEPLOYMENT}},
            "template": {
                "metadata": {"labels": {"app": DEPLOYMENT}},
                "spec": {
                    "containers": [{
                        "name": "app",
                        "image": "example.com/payments-web:1.0",
                        "env": [
                            {"name": "CLIENT_ID", "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "client-id"}}},
                            {"name": ENV_VAR, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": SECRET_KEY}}},
                        ],
                        "volumeMounts": [{"name": "credentials", "mountPath": MOUNT_PATH, "readOnly": true}],
                    }],
                    "volumes": [{"name": "credentials", "secret": {"secretName": SECRET}}],
                },
            },
        },
    })
}

/// The `ClientSecretRotation` of application `client_id`.
pub fn rotation(client_id: &str, timing: &Timing) -> Value {
    json!({
        "apiVersion": wellknown::API_VERSION,
        "kind": "ClientSecretRotation",
        "metadata": {"name": ROTATION, "namespace": NAMESPACE},
        "spec": {
            "providerRef": {"name": PROVIDER},
            "application": {"clientId": client_id},
            "secret": {"name": SECRET},
            "lifetime": go(timing.lifetime),
            "renewBefore": go(timing.renew_before),
            "overlap": go(timing.overlap),
            "rolloutTargets": [{"kind": "Deployment", "name": DEPLOYMENT}],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClientSecretRotation, IdentityProvider};

    #[test]
    fn the_custom_resources_fit_the_api_types() {
        let timing = Timing::from_flags("1m", "10s").unwrap();
        let id = "46e6adf4-0000-4b60-9390-0ba6fb00bf6b";
        let rotation: ClientSecretRotation = serde_json::from_value(rotation(id, &timing)).unwrap();
        assert_eq!(rotation.spec.lifetime.as_str(), "1m");
        assert_eq!(rotation.spec.renew_before.unwrap().as_str(), "30s");
        assert_eq!(rotation.spec.overlap.as_str(), "10s");
        let provider: IdentityProvider =
            serde_json::from_value(identity_provider("http://127.0.0.1:1234", id)).unwrap();
        assert_eq!(provider.spec.directory.tenant_id, TENANT_DOMAIN);
    }

    #[test]
    fn the_operator_gets_the_rbac_it_ships() {
        let objects = operator_rbac().unwrap();
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert!(kinds.contains(&"ClusterRole") && kinds.contains(&"ClusterRoleBinding"), "{kinds:?}");
        assert_eq!(kinds[0], "ServiceAccount");
    }

    #[test]
    fn the_deployment_reads_the_secret_as_env_and_file() {
        let d = deployment(3);
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        assert!(container["env"].as_array().unwrap().iter().any(|e| e["name"] == ENV_VAR));
        assert_eq!(container["volumeMounts"][0]["mountPath"], MOUNT_PATH);
        assert_eq!(d["spec"]["replicas"], 3);
    }
}
