//! `ClusterIdentityProvider` (cluster-scoped) and `IdentityProvider` (namespaced): which Entra
//! tenant and cloud a rotation works in, and how the operator signs in there.
//!
//! Invariants, enforced by the types and the schema rather than by code:
//! * a namespaced `IdentityProvider` can only name Secrets and service accounts of its own
//!   namespace (its references have no `namespace` field), and cannot use the operator's ambient
//!   identity (its pod's workload identity or the node's managed identity): those are shared by
//!   every namespace, so only a cluster administrator may hand them out, through a
//!   `ClusterIdentityProvider` and its `grants`;
//! * a `ClusterIdentityProvider` with no grant can be used by no namespace.

// NB: kube's repeated `printcolumn(type_ = ...)` looks like a duplicated attribute to clippy.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::schema::{self, Rule};

/// The Microsoft cloud (national deployment of Entra ID and Graph).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Cloud {
    /// The global cloud (`login.microsoftonline.com`, `graph.microsoft.com`); Microsoft 365 GCC
    /// tenants use it too.
    #[default]
    Global,
    /// US Government L4, GCC High (`login.microsoftonline.us`, `graph.microsoft.us`).
    UsGovernment,
    /// US Government L5, DoD (`login.microsoftonline.us`, `dod-graph.microsoft.us`).
    UsGovernmentDoD,
    /// Azure China, operated by 21Vianet (`login.chinacloudapi.cn`,
    /// `microsoftgraph.chinacloudapi.cn`).
    China,
}

/// Where the directory lives: the part of a provider both kinds share.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// The Entra tenant: its id (a GUID) or one of its verified domain names
    /// (`contoso.onmicrosoft.com`). Written into the target Secret under the tenant-id key.
    #[schemars(regex(pattern = schema::TENANT_PATTERN), length(max = 253))]
    pub tenant_id: String,
    /// The Microsoft cloud the tenant lives in. Picks the sign-in (authority) and Graph endpoints.
    #[serde(default)]
    pub cloud: Cloud,
    /// Overrides of the cloud's endpoints, for private deployments and test emulators. Both
    /// endpoints must belong to the same cloud: tokens of one cloud are refused by another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
}

/// Endpoint overrides. Each is an `https://` URL (plain `http://` is allowed only to localhost).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// The Entra authority host that serves `/{tenant}/oauth2/v2.0/token`, e.g.
    /// `https://login.microsoftonline.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_schema")]
    pub authority: Option<String>,
    /// The Microsoft Graph root that serves `/v1.0/...`, e.g. `https://graph.microsoft.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "endpoint_schema")]
    pub graph: Option<String>,
}

fn endpoint_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = schemars::json_schema!({ "type": "string", "maxLength": 2048 });
    schema::add_rules(
        &mut s,
        [Rule::new(
            r"self.startsWith('https://') || self.matches('^http://(localhost|127\\.0\\.0\\.1|\\[::1\\])(:[0-9]+)?(/.*)?$')",
            "must be an https:// URL (plain http:// is allowed only to localhost)",
        )],
    );
    s
}

/// A key of a Secret in the provider's own namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSecretKeyRef {
    /// Name of the Secret, in the namespace of the `IdentityProvider`.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data.
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret in the provider's own namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSecretRef {
    /// Name of the Secret, in the namespace of the `IdentityProvider`.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
}

/// A key of a Secret in a named namespace (cluster-scoped providers only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Namespace of the Secret.
    #[schemars(regex(pattern = schema::DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the Secret.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data.
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub key: String,
}

/// A Secret in a named namespace (cluster-scoped providers only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Namespace of the Secret.
    #[schemars(regex(pattern = schema::DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the Secret.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
}

/// A service account in a named namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountRef {
    /// Namespace of the service account.
    #[schemars(regex(pattern = schema::DNS_LABEL_PATTERN), length(min = 1, max = 63))]
    pub namespace: String,
    /// Name of the service account.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
}

fn default_audience() -> String {
    "api://AzureADTokenExchange".to_owned()
}

fn default_certificate_key() -> String {
    "tls.crt".to_owned()
}

fn default_private_key_key() -> String {
    "tls.key".to_owned()
}

/// How a `ClusterIdentityProvider` signs in to Entra. Set exactly one method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cluster_auth_rules)]
pub struct ClusterProviderAuth {
    /// Azure Workload Identity: a Kubernetes service-account token exchanged for an Entra token
    /// through a federated identity credential on the operator's application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<ClusterWorkloadIdentity>,
    /// A client secret of the operator's application, read from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClusterClientSecretAuth>,
    /// A certificate of the operator's application, read from a `kubernetes.io/tls`-shaped Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClusterClientCertificateAuth>,
    /// The Azure managed identity of the node or pod (IMDS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<ManagedIdentityAuth>,
}

fn cluster_auth_rules(s: &mut Schema) {
    schema::add_rules(
        s,
        [Rule::new(
            schema::exactly_one_of(&[
                "workloadIdentity",
                "clientSecret",
                "clientCertificate",
                "managedIdentity",
            ]),
            "set exactly one sign-in method: workloadIdentity, clientSecret, clientCertificate or managedIdentity",
        )],
    );
}

/// How an `IdentityProvider` signs in to Entra. Set exactly one method. Every reference stays in
/// the provider's namespace, and the operator's own (ambient) identity is not available here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = namespaced_auth_rules)]
pub struct ProviderAuth {
    /// Azure Workload Identity with a service account of this namespace: the operator requests a
    /// token for it (TokenRequest API) and exchanges it through the federated identity credential
    /// that trusts that service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentity>,
    /// A client secret of the signing-in application, read from a Secret in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecretAuth>,
    /// A certificate of the signing-in application, read from a Secret in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateAuth>,
}

fn namespaced_auth_rules(s: &mut Schema) {
    schema::add_rules(
        s,
        [Rule::new(
            schema::exactly_one_of(&["workloadIdentity", "clientSecret", "clientCertificate"]),
            "set exactly one sign-in method: workloadIdentity, clientSecret or clientCertificate",
        )],
    );
}

/// Workload identity for a `ClusterIdentityProvider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterWorkloadIdentity {
    /// Client id of the application (or user-assigned managed identity) that holds the federated
    /// identity credential. Defaults to the operator pod's `AZURE_CLIENT_ID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: Option<String>,
    /// The service account whose token is exchanged. Defaults to the operator's own (the token
    /// file the Azure Workload Identity webhook projects, `AZURE_FEDERATED_TOKEN_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountRef>,
    /// Audience of the requested service-account token.
    #[serde(default = "default_audience")]
    #[schemars(length(min = 1, max = 253))]
    pub audience: String,
}

/// Workload identity for a namespaced `IdentityProvider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentity {
    /// Client id of the application (or user-assigned managed identity) whose federated identity
    /// credential trusts the service account.
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: String,
    /// Name of the service account, in the provider's namespace.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub service_account_name: String,
    /// Audience of the requested service-account token.
    #[serde(default = "default_audience")]
    #[schemars(length(min = 1, max = 253))]
    pub audience: String,
}

/// Client-secret sign-in for a `ClusterIdentityProvider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterClientSecretAuth {
    /// Client id of the signing-in application.
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: String,
    /// Where its client secret is.
    pub secret_ref: SecretKeyRef,
}

/// Client-secret sign-in for an `IdentityProvider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretAuth {
    /// Client id of the signing-in application.
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: String,
    /// Where its client secret is, in the provider's namespace.
    pub secret_ref: LocalSecretKeyRef,
}

/// Certificate sign-in for a `ClusterIdentityProvider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterClientCertificateAuth {
    /// Client id of the signing-in application.
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: String,
    /// The Secret holding the PEM certificate and private key.
    pub secret_ref: SecretRef,
    /// Key of the PEM certificate (chain) in the Secret.
    #[serde(default = "default_certificate_key")]
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub certificate_key: String,
    /// Key of the PEM private key in the Secret.
    #[serde(default = "default_private_key_key")]
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub private_key_key: String,
}

/// Certificate sign-in for an `IdentityProvider`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificateAuth {
    /// Client id of the signing-in application.
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: String,
    /// The Secret holding the PEM certificate and private key, in the provider's namespace.
    pub secret_ref: LocalSecretRef,
    /// Key of the PEM certificate (chain) in the Secret.
    #[serde(default = "default_certificate_key")]
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub certificate_key: String,
    /// Key of the PEM private key in the Secret.
    #[serde(default = "default_private_key_key")]
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub private_key_key: String,
}

/// Managed-identity sign-in (IMDS).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentityAuth {
    /// Client id of a user-assigned managed identity; omit for the system-assigned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: Option<String>,
}

/// Lets the namespaces it matches use a `ClusterIdentityProvider`, optionally only for some
/// applications. A namespace matches when it is listed in `namespaces` or its labels match
/// `namespaceSelector`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = grant_rules)]
pub struct Grant {
    /// Namespaces, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), inner(regex(pattern = schema::DNS_LABEL_PATTERN), length(max = 63)))]
    pub namespaces: Option<Vec<String>>,
    /// Namespaces, by their labels. An empty selector (`{}`) matches every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// The applications these namespaces may rotate, by client id or object id (whichever the
    /// rotations name in `spec.application`). Omit to allow every application the operator's
    /// identity can manage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), inner(regex(pattern = schema::GUID_PATTERN), length(max = 36)))]
    pub application_ids: Option<Vec<String>>,
}

fn grant_rules(s: &mut Schema) {
    schema::add_rules(
        s,
        [Rule::new(
            "has(self.namespaces) || has(self.namespaceSelector)",
            "a grant needs namespaces or a namespaceSelector (an empty namespaceSelector {} matches every namespace)",
        )],
    );
}

/// Observed state of a provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderStatus {
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the operator could sign in with this provider the last time it tried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::conditions_list_map)]
    pub conditions: Vec<Condition>,
}

/// The desired cluster-wide provider: tenant, sign-in method and grants.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secret-rotator.dev",
    version = "v1alpha1",
    kind = "ClusterIdentityProvider",
    status = "IdentityProviderStatus",
    shortname = "cidp",
    category = "secret-rotator",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantId"),
    printcolumn(name = "Cloud", type_ = "string", json_path = ".spec.cloud"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "A cluster-wide identity provider: an Entra tenant, how the operator signs in there, and which namespaces may use it, for which applications."
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterIdentityProviderSpec {
    /// The tenant, cloud and endpoints.
    #[serde(flatten)]
    pub directory: Directory,
    /// How the operator signs in to the tenant.
    pub auth: ClusterProviderAuth,
    /// Which namespaces may use this provider, and optionally for which applications. A rotation
    /// is allowed when any grant matches it; with no grant, no namespace may use the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub grants: Vec<Grant>,
}

/// The desired namespaced provider: tenant and sign-in method.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secret-rotator.dev",
    version = "v1alpha1",
    kind = "IdentityProvider",
    namespaced,
    status = "IdentityProviderStatus",
    shortname = "idp",
    category = "secret-rotator",
    printcolumn(name = "Tenant", type_ = "string", json_path = ".spec.tenantId"),
    printcolumn(name = "Cloud", type_ = "string", json_path = ".spec.cloud"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "A namespaced identity provider: an Entra tenant and how the operator signs in there, usable only by rotations in the same namespace."
)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderSpec {
    /// The tenant, cloud and endpoints.
    #[serde(flatten)]
    pub directory: Directory,
    /// How the operator signs in to the tenant, with credentials of this namespace only.
    pub auth: ProviderAuth,
}
