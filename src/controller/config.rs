//! What the controller is told at start: which namespaces it watches, where the operator lives,
//! how much it does at once, and how hard it retries the identity provider.
//!
//! Invariant: plain data with safe defaults; the binary fills it from flags and the environment,
//! tests build it directly. Nothing here is read from the cluster.

use std::time::Duration;

use crate::provider::entra::{RetryPolicy, WorkloadIdentitySignIn};

/// Default number of reconciles running at once.
pub const DEFAULT_CONCURRENCY: u16 = 8;
/// Default cap on rotations between their start and their promotion, operator-wide.
pub const DEFAULT_MAX_ROTATIONS_IN_FLIGHT: usize = 20;
/// Default cap on rotations between promotion and the end of their rollouts, operator-wide.
pub const DEFAULT_MAX_ROLLOUTS_IN_FLIGHT: usize = 20;
/// Page size of the initial lists of every watch (kube-apiserver's own default is unbounded).
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Most plan/act steps one reconcile pass takes before it yields and requeues.
pub const DEFAULT_MAX_STEPS_PER_PASS: usize = 16;

/// The controller's settings.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Watch only this namespace; `None` watches all.
    pub namespace: Option<String>,
    /// Manage only the `ClientSecretRotation`s whose labels match this selector (Kubernetes
    /// label-selector syntax, validated by the caller); `None` manages all.
    pub selector: Option<String>,
    /// The namespace the operator runs in (where its own Secrets and Lease live).
    pub operator_namespace: String,
    /// Reconciles running at once (never two for the same resource).
    pub concurrency: u16,
    /// Cap on rotations between start and promotion.
    pub max_rotations_in_flight: usize,
    /// Cap on rotations between promotion and rollout completion.
    pub max_rollouts_in_flight: usize,
    /// Page size of initial lists.
    pub page_size: u32,
    /// Steps per reconcile pass.
    pub max_steps_per_pass: usize,
    /// How hard provider calls retry transient failures before the step fails and backs off.
    pub provider_retry: RetryPolicy,
    /// The operator's own workload identity (`AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`), for
    /// `ClusterIdentityProvider`s that use it; `None` when the pod has none.
    pub operator_workload_identity: Option<WorkloadIdentitySignIn>,
    /// Overrides the IMDS endpoint for managed-identity sign-in (tests and special networks).
    pub imds_endpoint: Option<String>,
    /// `controller` of the Events the operator publishes.
    pub event_reporter: String,
    /// Shortest and longest wait after a reconcile fails on the Kubernetes API itself.
    pub error_backoff: (Duration, Duration),
}

impl ControllerConfig {
    /// Defaults for an operator running in `operator_namespace`, watching every namespace.
    pub fn new(operator_namespace: impl Into<String>) -> Self {
        Self {
            namespace: None,
            selector: None,
            operator_namespace: operator_namespace.into(),
            concurrency: DEFAULT_CONCURRENCY,
            max_rotations_in_flight: DEFAULT_MAX_ROTATIONS_IN_FLIGHT,
            max_rollouts_in_flight: DEFAULT_MAX_ROLLOUTS_IN_FLIGHT,
            page_size: DEFAULT_PAGE_SIZE,
            max_steps_per_pass: DEFAULT_MAX_STEPS_PER_PASS,
            provider_retry: RetryPolicy::default(),
            operator_workload_identity: None,
            imds_endpoint: None,
            event_reporter: "secret-rotator".to_owned(),
            error_backoff: (Duration::from_secs(5), Duration::from_secs(300)),
        }
    }
}
