//! `ClientSecretRotation` (short name `csrot`): one application's client secret, kept fresh in one
//! Kubernetes Secret, with the workloads that read it.
//!
//! Invariants, enforced by the schema: names are DNS subdomains with no namespace field anywhere,
//! so a rotation can only write, watch or restart objects of its own namespace; cross-field rules
//! (one of `renewBefore`/`renewBeforePercentage`, `renewBefore` < `lifetime`, one of
//! `clientId`/`objectId`, one of `name`/`selector` per target, distinct Secret keys) are CEL rules
//! that `kubectl apply` reports with the messages listed in `tests/data/invalid-manifests/`.
//!
//! The status is the rotation's durable state machine; see [`crate::rotation`] for how it moves.

// NB: kube's repeated `printcolumn(type_ = ...)` looks like a duplicated attribute to clippy.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

use super::{
    duration::GoDuration,
    schema::{self, Rule, is_duration},
};

/// Default `lifetime`: 90 days, below Microsoft's recommended maximum of 12 months.
pub const DEFAULT_LIFETIME: &str = "2160h";
/// Default `overlap`: how long the previous credential stays valid after every consumer moved.
pub const DEFAULT_OVERLAP: &str = "1h";
/// Default `verifyTimeout`: Entra usually accepts a new secret within seconds, sometimes minutes.
pub const DEFAULT_VERIFY_TIMEOUT: &str = "10m";

/// The kind of provider a rotation uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ProviderKind {
    /// A namespaced `IdentityProvider` in the rotation's namespace.
    #[default]
    IdentityProvider,
    /// A `ClusterIdentityProvider` whose grants allow the rotation's namespace.
    ClusterIdentityProvider,
}

/// Which provider a rotation uses. There is no namespace field: a namespaced provider is always
/// looked up in the rotation's own namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    /// `IdentityProvider` (default) or `ClusterIdentityProvider`.
    #[serde(default)]
    pub kind: ProviderKind,
    /// Name of the provider.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
}

/// Where the application's password credentials live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CredentialHolderKind {
    /// On the application (app registration). The usual place.
    #[default]
    Application,
    /// On the application's service principal (enterprise application), as legacy SharePoint
    /// add-ins keep them.
    ServicePrincipal,
}

/// The application whose client secret is rotated. Set exactly one of `clientId` and `objectId`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = application_rules)]
pub struct ApplicationSpec {
    /// The application's client id (Entra `appId`), the value consumers configure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub client_id: Option<String>,
    /// The object id of the credential holder: the application object, or the service principal
    /// when `credentialHolder` is `ServicePrincipal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub object_id: Option<String>,
    /// Whether the credentials live on the `Application` (default) or its `ServicePrincipal`.
    #[serde(default)]
    pub credential_holder: CredentialHolderKind,
}

fn application_rules(s: &mut Schema) {
    schema::add_rules(
        s,
        [Rule::new(
            schema::exactly_one_of(&["clientId", "objectId"]),
            "set exactly one of clientId and objectId",
        )],
    );
}

fn default_client_id_key() -> String {
    "client-id".to_owned()
}
fn default_client_secret_key() -> String {
    "client-secret".to_owned()
}
fn default_tenant_id_key() -> String {
    "tenant-id".to_owned()
}
fn default_expires_at_key() -> String {
    "expires-at".to_owned()
}

/// The keys the operator writes in the target Secret. The defaults are file-name friendly for
/// volume mounts; set them to `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` and `AZURE_TENANT_ID` to
/// feed the Azure SDKs' environment credential through `envFrom`. An empty key name (except
/// `clientSecret`) leaves that value out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = secret_keys_rules)]
pub struct SecretKeys {
    /// Key of the application's client id.
    #[serde(default = "default_client_id_key")]
    #[schemars(regex(pattern = schema::OPTIONAL_SECRET_KEY_PATTERN), length(max = 253))]
    pub client_id: String,
    /// Key of the client secret.
    #[serde(default = "default_client_secret_key")]
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub client_secret: String,
    /// Key of the tenant id.
    #[serde(default = "default_tenant_id_key")]
    #[schemars(regex(pattern = schema::OPTIONAL_SECRET_KEY_PATTERN), length(max = 253))]
    pub tenant_id: String,
    /// Key of the secret's expiry time (RFC 3339).
    #[serde(default = "default_expires_at_key")]
    #[schemars(regex(pattern = schema::OPTIONAL_SECRET_KEY_PATTERN), length(max = 253))]
    pub expires_at: String,
    /// When set, the previous client secret is also written under this key while it is still
    /// valid (between the promotion of a new secret and the revocation of the old one), for
    /// applications that accept two secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub previous_client_secret: Option<String>,
}

impl Default for SecretKeys {
    fn default() -> Self {
        Self {
            client_id: default_client_id_key(),
            client_secret: default_client_secret_key(),
            tenant_id: default_tenant_id_key(),
            expires_at: default_expires_at_key(),
            previous_client_secret: None,
        }
    }
}

fn secret_keys_rules(s: &mut Schema) {
    // Pairwise comparisons rather than a comprehension: constant CEL cost.
    let fields = ["clientId", "clientSecret", "tenantId", "expiresAt"];
    let distinct = |a: &str, b: &str| format!("(self.{a} == '' || self.{a} != self.{b})");
    let mut pairs = vec![];
    for (i, a) in fields.iter().enumerate() {
        for b in &fields[i + 1..] {
            pairs.push(distinct(a, b));
        }
    }
    let previous: Vec<String> = fields
        .iter()
        .map(|f| format!("self.previousClientSecret != self.{f}"))
        .collect();
    let rule = format!(
        "{} && (!has(self.previousClientSecret) || ({}))",
        pairs.join(" && "),
        previous.join(" && ")
    );
    schema::add_rules(s, [Rule::new(rule, "secret key names must be distinct")]);
}

/// The Secret consumers read. The operator creates it (server-side apply, owned by the rotation,
/// labelled `secret-rotator.dev/managed=true`) or adopts an existing one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSecretSpec {
    /// Name of the Secret, in the rotation's namespace.
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: String,
    /// The key names to write.
    #[serde(default)]
    pub keys: SecretKeys,
    /// Extra labels on the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = labels_rules, extend("maxProperties" = 32))]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = annotations_rules, extend("maxProperties" = 32))]
    pub annotations: BTreeMap<String, String>,
    /// When the Secret already holds a working secret minted elsewhere (day one), the `keyId` of
    /// its credential. Without it the operator identifies the credential by the secret's first
    /// three characters (Entra's `hint`), and asks for this field when two credentials share them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::GUID_PATTERN), length(max = 36))]
    pub adopt_key_id: Option<String>,
}

fn labels_rules(s: &mut Schema) {
    schema::add_rules(s, [schema::no_reserved_keys_rule("labels")]);
}

fn annotations_rules(s: &mut Schema) {
    schema::add_rules(s, [schema::no_reserved_keys_rule("annotations")]);
}

/// A workload kind that can be rolled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
}

impl ClientSecretRotation {
    /// The phase of the rotation in flight, if any.
    pub fn phase(&self) -> Option<RotationPhase> {
        self.status.as_ref()?.rotation.as_ref().map(|r| r.phase)
    }
}

impl WorkloadKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
        }
    }
}

/// Workloads restarted after each new secret is written: one by `name`, or every one of `kind` in
/// the namespace whose labels match `selector`. Set exactly one of `name` and `selector`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = rollout_target_rules)]
pub struct RolloutTarget {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: WorkloadKind,
    /// Name of the workload, in the rotation's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DNS_SUBDOMAIN_PATTERN), length(min = 1, max = 253))]
    pub name: Option<String>,
    /// Label selector over the workloads of `kind` in the rotation's namespace. Must not be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

fn rollout_target_rules(s: &mut Schema) {
    schema::add_rules(
        s,
        [
            Rule::new(
                schema::exactly_one_of(&["name", "selector"]),
                "set exactly one of name and selector",
            ),
            Rule::new(
                "!has(self.selector) || (has(self.selector.matchLabels) && size(self.selector.matchLabels) > 0) \
                 || (has(self.selector.matchExpressions) && size(self.selector.matchExpressions) > 0)",
                "selector must not be empty: it would select every workload of this kind in the namespace",
            ),
        ],
    );
}

/// What happens to the credentials when the rotation is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the current and previous credentials valid until they expire, and keep the target
    /// Secret (its ownerReference is removed, so garbage collection spares it). Credentials of an
    /// unfinished rotation are revoked all the same: no consumer ever saw them.
    #[default]
    Retain,
    /// Revoke every credential the operator minted for this rotation; the target Secret is
    /// garbage-collected with the rotation. Credentials minted elsewhere are never revoked.
    Revoke,
}

fn default_lifetime() -> GoDuration {
    GoDuration::from(DEFAULT_LIFETIME)
}
fn default_overlap() -> GoDuration {
    GoDuration::from(DEFAULT_OVERLAP)
}
fn default_verify_timeout() -> GoDuration {
    GoDuration::from(DEFAULT_VERIFY_TIMEOUT)
}

fn lifetime_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = schema::duration_schema([schema::duration_range_rule("lifetime", "1m", "17520h")]);
    s.insert("default".into(), DEFAULT_LIFETIME.into());
    s
}
fn renew_before_schema(_: &mut SchemaGenerator) -> Schema {
    schema::duration_schema([schema::duration_range_rule("renewBefore", "10s", "17520h")])
}
fn overlap_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = schema::duration_schema([schema::duration_range_rule("overlap", "0s", "8760h")]);
    s.insert("default".into(), DEFAULT_OVERLAP.into());
    s
}
fn verify_timeout_schema(_: &mut SchemaGenerator) -> Schema {
    let mut s = schema::duration_schema([schema::duration_range_rule("verifyTimeout", "10s", "24h")]);
    s.insert("default".into(), DEFAULT_VERIFY_TIMEOUT.into());
    s
}

fn spec_rules(s: &mut Schema) {
    let both_durations = |a: &str, b: &str| {
        format!(
            "{} && {}",
            is_duration(&format!("self.{a}")),
            is_duration(&format!("self.{b}"))
        )
    };
    schema::add_rules(
        s,
        [
            Rule::new(
                "!(has(self.renewBefore) && has(self.renewBeforePercentage))",
                "set at most one of renewBefore and renewBeforePercentage",
            ),
            Rule::new(
                format!(
                    "!has(self.renewBefore) || !has(self.lifetime) || !({}) || duration(self.renewBefore) < duration(self.lifetime)",
                    both_durations("renewBefore", "lifetime")
                ),
                "renewBefore must be shorter than lifetime",
            )
            .at(".renewBefore"),
            Rule::new(
                format!(
                    "!has(self.overlap) || !has(self.lifetime) || !({}) || duration(self.overlap) < duration(self.lifetime)",
                    both_durations("overlap", "lifetime")
                ),
                "overlap must be shorter than lifetime",
            )
            .at(".overlap"),
        ],
    );
}

/// The desired rotation: which application, with which provider, into which Secret, on what
/// schedule, and which workloads to restart.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secret-rotator.dev",
    version = "v1alpha1",
    kind = "ClientSecretRotation",
    namespaced,
    status = "ClientSecretRotationStatus",
    shortname = "csrot",
    category = "secret-rotator",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Key",
        type_ = "string",
        description = "First characters of the current secret",
        json_path = ".status.current.hint"
    ),
    printcolumn(
        name = "Expires",
        type_ = "string",
        description = "When the current secret expires",
        json_path = ".status.current.expiresAt"
    ),
    printcolumn(
        name = "Next Rotation",
        type_ = "string",
        description = "When the next rotation is due",
        json_path = ".status.renewalTime"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        priority = 1,
        description = "Phase of the rotation in flight",
        json_path = ".status.rotation.phase"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    doc = "A client secret kept fresh: minted before the current one expires, verified, written into a Secret, rolled out to the workloads that read it, and only then is the old one revoked."
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = spec_rules)]
pub struct ClientSecretRotationSpec {
    /// The identity provider to mint with.
    pub provider_ref: ProviderRef,
    /// The application whose secret is rotated.
    pub application: ApplicationSpec,
    /// The Secret consumers read.
    pub secret: TargetSecretSpec,
    /// How long each new secret is valid, e.g. `2160h` (90 days, the default). Between 1m and
    /// 17520h (two years, Entra's portal maximum); a tenant lifetime policy may require less.
    #[serde(default = "default_lifetime")]
    #[schemars(schema_with = "lifetime_schema")]
    pub lifetime: GoDuration,
    /// Rotate this long before the current secret expires, e.g. `720h`. Must be shorter than
    /// `lifetime`. Without it and without `renewBeforePercentage`, rotation starts when a third of
    /// the lifetime remains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "renew_before_schema")]
    pub renew_before: Option<GoDuration>,
    /// Rotate when this percentage of the secret's lifetime remains (1 to 99). Exclusive with
    /// `renewBefore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub renew_before_percentage: Option<i32>,
    /// The minimum time the previous secret stays valid after every rollout target finished
    /// rolling out, for consumers the operator does not restart. Default `1h`.
    #[serde(default = "default_overlap")]
    #[schemars(schema_with = "overlap_schema")]
    pub overlap: GoDuration,
    /// How long a new secret may take to authenticate (Entra propagates new secrets within
    /// seconds to minutes). On timeout the new secret is revoked, consumers keep the current one,
    /// and the rotation is retried with backoff. Default `10m`.
    #[serde(default = "default_verify_timeout")]
    #[schemars(schema_with = "verify_timeout_schema")]
    pub verify_timeout: GoDuration,
    /// Workloads of this namespace to restart after each new secret is written. Revocation of the
    /// previous secret waits until every one has finished rolling out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub rollout_targets: Vec<RolloutTarget>,
    /// Stop rotating: no new rotation starts and a rotation in flight takes no further step until
    /// `suspend` is cleared. Status keeps being reported; deletion still cleans up.
    #[serde(default)]
    pub suspend: bool,
    /// `Retain` (default) or `Revoke` the credentials when this resource is deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// Whether the operator minted a credential or found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CredentialOrigin {
    /// Minted by the operator for this rotation; it may revoke it.
    Minted,
    /// Minted elsewhere and adopted; the operator never revokes it, it is left to expire.
    Adopted,
}

/// A credential the rotation tracks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRecord {
    /// The provider's id of the credential (Entra `keyId`).
    pub key_id: String,
    /// First characters of the secret, as the provider shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// `Minted` by the operator or `Adopted`.
    pub origin: CredentialOrigin,
    /// The rotation number that minted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<i64>,
    /// Start of validity, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<Time>,
    /// End of validity.
    pub expires_at: Time,
    /// When it was written into the target Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<Time>,
}

/// Why a rotation started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RotationReason {
    /// There was no credential yet.
    Initial,
    /// The current credential reached its renewal time.
    Scheduled,
    /// Requested with the `secret-rotator.dev/rotate` annotation.
    Manual,
    /// Requested with the `secret-rotator.dev/emergency-rotate` annotation.
    Emergency,
    /// The current credential disappeared from the application.
    CredentialMissing,
    /// The target Secret was deleted.
    TargetSecretMissing,
    /// The target Secret held a value that matches no credential of the application.
    SecretNotRecognized,
}

/// Where a rotation in flight stands. Each phase is entered only after the previous step's
/// outcome was persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum RotationPhase {
    /// Intent recorded; minting (and staging) the new credential.
    Pending,
    /// Minted and staged; waiting for it to authenticate.
    Verifying,
    /// Authenticates; waiting to be written into the target Secret.
    Verified,
    /// Written into the target Secret; restarting and watching the rollout targets.
    RollingOut,
    /// Every target rolled out; waiting for the overlap, then revoking the previous credential.
    Retiring,
    /// Failed before reaching consumers; revoking the new credential before a retry.
    Abandoning,
}

/// Progress of the verification of a new credential.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationProgress {
    /// First attempt.
    pub started_at: Time,
    /// After this, verification has timed out.
    pub deadline: Time,
    /// Attempts so far.
    pub attempts: i32,
    /// Successful attempts in a row (several are required: different Entra replicas answer).
    pub consecutive_successes: i32,
    /// Earliest time of the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Time>,
    /// Result of the last attempt (`Authenticated`, `NotAccepted`, `Expired` or a failure reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
}

/// A workload the rotation restarted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolledTarget {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
    /// Its `metadata.generation` right after the restart; the rollout is complete once the
    /// controller observed at least this generation and every replica is updated and available.
    pub generation: i64,
}

/// A rotation in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationProgress {
    /// Rotation number (1, 2, ...), part of the new credential's display name.
    pub id: i64,
    /// Why it started.
    pub reason: RotationReason,
    /// Revoke the previous credential as soon as the new one is written (leaked secret).
    #[serde(default)]
    pub emergency: bool,
    /// Where it stands.
    pub phase: RotationPhase,
    /// When it started.
    pub started_at: Time,
    /// Display name of the new credential at the provider.
    pub display_name: String,
    /// The new credential, once minted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialRecord>,
    /// Verification progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationProgress>,
    /// The secret version written into the target Secret and the pod templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Workloads restarted so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_targets: Vec<RolledTarget>,
    /// When the first workload was restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_started_at: Option<Time>,
    /// When every workload had finished rolling out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_completed_at: Option<Time>,
    /// Earliest time the previous credential may be revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_after: Option<Time>,
    /// Why the rotation is being abandoned (phase `Abandoning`): a stable reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandon_reason: Option<String>,
    /// Why the rotation is being abandoned, for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandon_message: Option<String>,
}

/// A failed step, retried with exponential backoff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    /// The step that failed (`Mint`, `Verify`, `WriteSecret`, ...).
    pub step: String,
    /// Stable reason.
    pub reason: String,
    /// Human-readable detail.
    pub message: String,
    /// Failures in a row.
    pub attempts: i32,
    /// When the last failure happened.
    pub last_failure_time: Time,
    /// No step is retried before this time (unless the spec changes).
    pub next_retry_time: Time,
    /// The generation the failure happened at; a spec change retries at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Whether the failure may go away by itself (throttling, outages) rather than needing a
    /// change (permissions, policy).
    #[serde(default)]
    pub retryable: bool,
}

/// What a credential on the application is to this rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum CredentialRole {
    /// In the target Secret.
    Current,
    /// Replaced, still valid during the overlap.
    Previous,
    /// Minted by a rotation in flight, not yet in the target Secret.
    InFlight,
    /// Minted for this rotation but recorded nowhere (a crash between mint and record); revoked.
    Orphan,
    /// Not managed by this rotation (minted elsewhere, or by another rotation); never revoked.
    Unmanaged,
}

/// A credential on the application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSummary {
    /// The provider's id (Entra `keyId`).
    pub key_id: String,
    /// Display name at the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// First characters of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// End of validity.
    pub expires_at: Time,
    /// What it is to this rotation.
    pub role: CredentialRole,
}

/// A credential revoked recently; remembered for a while so that stale provider reads (Entra is
/// eventually consistent) do not make it look like an orphan again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokedKey {
    /// The revoked credential's id.
    pub key_id: String,
    /// When it was revoked.
    pub revoked_at: Time,
}

/// Observed state of a `ClientSecretRotation`: the durable state machine of its rotations.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretRotationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (summary, for `kubectl wait`), `Rotating` and `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::conditions_list_map)]
    pub conditions: Vec<Condition>,
    /// The credential in the target Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<CredentialRecord>,
    /// The credential it replaced, valid until rollouts and the overlap are over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CredentialRecord>,
    /// The rotation in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationProgress>,
    /// When the next rotation is due (whole seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Time>,
    /// When the last rotation finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,
    /// Number of the latest rotation started (rotation numbers count from 1).
    #[serde(default)]
    pub rotation_count: i64,
    /// The last value of the `secret-rotator.dev/rotate` annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_rotate_request: Option<String>,
    /// The last value of the `secret-rotator.dev/emergency-rotate` annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_emergency_request: Option<String>,
    /// The last failure, while steps are being retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureRecord>,
    /// The application's client id, as the provider reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Every credential on the application at the last look, managed or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialSummary>,
    /// When the credentials were last read from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_observed_at: Option<Time>,
    /// Credentials revoked recently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recently_revoked: Vec<RevokedKey>,
}
