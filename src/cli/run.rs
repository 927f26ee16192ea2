//! `secret-rotator run`: the operator process. Connects (kubeconfig or in-cluster, as kubectl
//! does), checks that the API server answers and serves the CRDs, serves `/healthz`, `/readyz`
//! and `/metrics`, and runs the controller while it holds the leader lease (or always, with
//! `--leader-elect=false`), scoped to `--namespace` and `--selector`, until SIGTERM.
//!
//! Invariant: every way the start can fail ends in an error that says what was tried and what to
//! do (which kubeconfig and server, which CRDs to install, which flag to change); the process owns
//! the one metrics registry and hands it to the HTTP server and the controller.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use kube::Client;
use prometheus_client::registry::Registry;
use tokio::sync::{oneshot, watch};

use super::{
    health::Readiness,
    http_server::{self, ListenError},
    kubeconfig::{ConnectError, Connection, KubeconfigArgs},
    label_selector::{self, SelectorError},
    leader::{self, LeaderError, LeaseSettings},
    logging::{self, LogFormat, LoggingError},
    signals,
};
use crate::{
    api::wellknown,
    controller::{ControllerConfig, Operator, config},
    metrics::Metrics,
    provider::entra::WorkloadIdentitySignIn,
};

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Logging could not be set up.
    #[error(transparent)]
    Logging(#[from] LoggingError),
    /// Flags that contradict each other.
    #[error("{0}")]
    Flags(String),
    /// `--selector` does not parse.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// The cluster configuration could not be used.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The API server did not answer as it should.
    #[error(
        "cannot {what} the Kubernetes API server at {server} (configured by {from}): {error}; check that the cluster is reachable and that this is the kubeconfig and context you meant (--kubeconfig, --context)"
    )]
    Unreachable {
        /// What was attempted.
        what: &'static str,
        /// The API server's URL.
        server: String,
        /// Where the configuration came from.
        from: String,
        /// kube's error.
        error: Box<kube::Error>,
    },
    /// The CRDs are not installed.
    #[error(
        "the secret-rotator CustomResourceDefinitions are not installed in the cluster at {server} (missing: {missing}): install them with `kubectl apply -f crds/` (or `kubectl apply --server-side -f charts/secret-rotator/crds/`) or the Helm chart, then start the operator again"
    )]
    CrdsMissing {
        /// The API server's URL.
        server: String,
        /// The missing resources (`plural.group`).
        missing: String,
    },
    /// The HTTP server could not listen.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// Leader election failed.
    #[error(transparent)]
    Leader(#[from] LeaderError),
}

/// Where an in-cluster pod finds its namespace.
const IN_CLUSTER_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The resources the operator needs from its CRDs.
const CRD_RESOURCES: [&str; 3] = [
    "clientsecretrotations",
    "identityproviders",
    "clusteridentityproviders",
];

const EXAMPLES: &str = "\
Examples:
  # In a pod (the chart and deploy/ run this): in-cluster config, leader election, JSON logs
  secret-rotator run --log-format=json

  # From a workstation, against the current kubeconfig context, one namespace, no election
  secret-rotator run --namespace team-a --leader-elect=false

  # Another cluster and context, only the rotations labelled shard=a
  secret-rotator run --kubeconfig ~/.kube/prod --context prod-westeurope -l shard=a

  # Probes and metrics on separate ports
  secret-rotator run --health-address 0.0.0.0:8081 --metrics-address 0.0.0.0:9090

Endpoints: GET /healthz (alive), GET /readyz (leading with synced caches, or standby),
GET /metrics (OpenMetrics text; the metrics are listed in docs/metrics.md).";

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = EXAMPLES)]
pub struct RunArgs {
    /// Connection flags.
    #[command(flatten, next_help_heading = "Cluster connection")]
    kube: KubeconfigArgs,

    /// Watch only this namespace (default: all namespaces). The operator then needs RBAC only
    /// there (the chart's `watchNamespaces`).
    #[arg(
        long,
        short = 'n',
        env = "WATCH_NAMESPACE",
        value_name = "NAMESPACE",
        help_heading = "Scope"
    )]
    namespace: Option<String>,
    /// Manage only the ClientSecretRotations whose labels match this selector (kubectl `-l`
    /// syntax: `team=payments`, `tier in (prod,staging)`, `!legacy`, comma-separated to combine).
    /// Others are left alone: no finalizer, no status, no Graph call. Lets several operators
    /// share a cluster, one per label value.
    #[arg(long, short = 'l', value_name = "SELECTOR", help_heading = "Scope")]
    selector: Option<String>,
    /// The namespace the operator runs in (its Lease lives there). Default: the pod's namespace,
    /// or `secret-rotator`.
    #[arg(long, env = "POD_NAMESPACE", value_name = "NAMESPACE", help_heading = "Scope")]
    operator_namespace: Option<String>,

    /// Address of `/healthz` and `/readyz` (the probes), e.g. `0.0.0.0:8080` or `127.0.0.1:0`
    /// (any free port).
    #[arg(
        long,
        default_value = "0.0.0.0:8080",
        value_name = "ADDRESS",
        help_heading = "HTTP"
    )]
    health_address: SocketAddr,
    /// Address of `/metrics` (OpenMetrics text for Prometheus). Default: the `--health-address`,
    /// and when both are equal one listener serves all three paths (the chart's container port
    /// `http`, 8080).
    #[arg(long, value_name = "ADDRESS", help_heading = "HTTP")]
    metrics_address: Option<SocketAddr>,

    /// Log format: `text` for people, `json` for log pipelines (one object per line; lines about
    /// a rotation carry its `namespace`, `name`, `rotation` number and `step`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "LOG_FORMAT", help_heading = "Logging")]
    log_format: LogFormat,
    /// Log level or filter directives, e.g. `info` or `info,secret_rotator=debug` (`RUST_LOG`
    /// wins when set).
    #[arg(long, default_value = "info", value_name = "FILTER", help_heading = "Logging")]
    log_level: String,

    /// Elect a leader through a Lease, so several replicas can run (only the leader acts).
    /// `--leader-elect=false` runs the controller at once: never run two such processes on one
    /// cluster.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, help_heading = "Leader election")]
    leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "secret-rotator", help_heading = "Leader election")]
    lease_name: String,
    /// Namespace of the Lease (default: the operator namespace).
    #[arg(long, value_name = "NAMESPACE", help_heading = "Leader election")]
    lease_namespace: Option<String>,
    /// Seconds a lease stays valid without renewal (a dead leader is replaced after this).
    #[arg(
        long,
        default_value_t = 15,
        value_name = "SECONDS",
        help_heading = "Leader election"
    )]
    lease_duration_seconds: u64,
    /// Seconds before expiry the leader renews (shorter than the lease duration).
    #[arg(
        long,
        default_value_t = 5,
        value_name = "SECONDS",
        help_heading = "Leader election"
    )]
    lease_renew_grace_seconds: u64,
    /// This replica's identity in the Lease (default: the pod name, or host name plus a random
    /// suffix).
    #[arg(long, env = "POD_NAME", help_heading = "Leader election")]
    identity: Option<String>,

    /// Reconciles running at once (never two for the same rotation).
    #[arg(long, default_value_t = config::DEFAULT_CONCURRENCY, help_heading = "Throughput")]
    concurrency: u16,
    /// Cap on rotations between their start and their promotion, operator-wide (0: none).
    #[arg(long, default_value_t = config::DEFAULT_MAX_ROTATIONS_IN_FLIGHT, help_heading = "Throughput")]
    max_rotations_in_flight: usize,
    /// Cap on rotations rolling out their workloads, operator-wide (0: none).
    #[arg(long, default_value_t = config::DEFAULT_MAX_ROLLOUTS_IN_FLIGHT, help_heading = "Throughput")]
    max_rollouts_in_flight: usize,
    /// Overrides the Azure Instance Metadata Service token endpoint (managed identity).
    #[arg(long, hide = true, env = "SECRET_ROTATOR_IMDS_ENDPOINT")]
    imds_endpoint: Option<String>,
}

fn operator_namespace(args: &RunArgs) -> String {
    args.operator_namespace
        .clone()
        .or_else(|| {
            std::fs::read_to_string(IN_CLUSTER_NAMESPACE_FILE)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "secret-rotator".to_owned())
}

fn identity(args: &RunArgs) -> String {
    args.identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "secret-rotator".to_owned());
        format!("{host}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
    })
}

fn check_flags(args: &RunArgs) -> Result<(), RunError> {
    if args.leader_elect && args.lease_renew_grace_seconds >= args.lease_duration_seconds {
        return Err(RunError::Flags(format!(
            "--lease-renew-grace-seconds ({}) must be shorter than --lease-duration-seconds ({}), or the lease expires before it is renewed",
            args.lease_renew_grace_seconds, args.lease_duration_seconds
        )));
    }
    if args.namespace.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(RunError::Flags(
            "--namespace is empty: name a namespace, or leave the flag out to watch all of them".to_owned(),
        ));
    }
    Ok(())
}

/// Checks that the API server answers and serves the three CRDs (discovery only: no RBAC on the
/// resources needed, and a standby makes no resource request).
async fn preflight(connection: &Connection) -> Result<(), RunError> {
    let unreachable = |what, error| RunError::Unreachable {
        what,
        server: connection.server.clone(),
        from: connection.source.clone(),
        error: Box::new(error),
    };
    let client: &Client = &connection.client;
    let version = client
        .apiserver_version()
        .await
        .map_err(|e| unreachable("reach", e))?;
    let group_version = wellknown::API_VERSION;
    let served = match client.list_api_group_resources(group_version).await {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect::<Vec<_>>(),
        Err(kube::Error::Api(status)) if status.code == 404 => vec![],
        Err(e) => return Err(unreachable("read API discovery from", e)),
    };
    let missing: Vec<String> = CRD_RESOURCES
        .iter()
        .filter(|r| !served.iter().any(|s| s == *r))
        .map(|r| format!("{r}.{}", wellknown::GROUP))
        .collect();
    if !missing.is_empty() {
        return Err(RunError::CrdsMissing {
            server: connection.server.clone(),
            missing: missing.join(", "),
        });
    }
    tracing::info!(
        server = %connection.server,
        from = %connection.source,
        version = %version.git_version,
        "connected to the API server"
    );
    Ok(())
}

/// Runs `run`.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    logging::init(args.log_format, &args.log_level)?;
    check_flags(&args)?;
    let selector =
        label_selector::parse(args.selector.as_deref().unwrap_or_default())?.map(|s| s.to_string());
    let operator_namespace = operator_namespace(&args);

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (readiness, ready_rx) = watch::channel(Readiness::Starting);
    let readiness = Arc::new(readiness);
    let bound = http_server::serve(
        args.health_address,
        // NB: following --health-address, so moving the probes alone never leaves /metrics
        // binding the default port (two processes on one host would collide there).
        args.metrics_address.unwrap_or(args.health_address),
        ready_rx,
        Arc::new(registry),
    )
    .await?;

    let connection = args.kube.connect().await?;
    preflight(&connection).await?;
    let client = connection.client;
    let mut config = ControllerConfig::new(&operator_namespace);
    config.namespace = args.namespace.clone();
    config.selector = selector.clone();
    config.concurrency = args.concurrency;
    config.max_rotations_in_flight = args.max_rotations_in_flight;
    config.max_rollouts_in_flight = args.max_rollouts_in_flight;
    config.imds_endpoint = args.imds_endpoint.clone();
    config.operator_workload_identity = WorkloadIdentitySignIn::from_env().ok();
    tracing::info!(
        health = %bound.health,
        metrics = %bound.metrics,
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
        selector = selector.as_deref().unwrap_or("<all>"),
        operator_namespace,
        "secret-rotator starting"
    );

    let start = {
        let client = client.clone();
        let readiness = readiness.clone();
        move |stopped: oneshot::Receiver<()>| {
            let (synced, mut synced_rx) = watch::channel(false);
            let readiness = readiness.clone();
            tokio::spawn(async move {
                if synced_rx.wait_for(|s| *s).await.is_ok() {
                    let _ = readiness.send(Readiness::Leading);
                }
            });
            let leading = metrics.leading();
            let operator = Operator::new(client.clone(), config.clone())
                .metrics(metrics.clone())
                .ready(synced);
            async move {
                // `secret_rotator_leader` is 1 exactly while the controller runs.
                let _leading = leading;
                operator
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await;
            }
        }
    };
    if args.leader_elect {
        let lease = LeaseSettings {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone().unwrap_or(operator_namespace),
            identity: identity(&args),
            duration: Duration::from_secs(args.lease_duration_seconds),
            grace: Duration::from_secs(args.lease_renew_grace_seconds),
        };
        leader::run(client, lease, readiness, signals::shutdown(), start).await?;
    } else {
        let _ = readiness.send(Readiness::Syncing);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(start(stopped));
        signals::shutdown().await;
        let _ = stop.send(());
        let _ = task.await;
    }
    tracing::info!("secret-rotator stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> Result<RunArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map(|c| c.run)
    }

    #[test]
    fn health_and_metrics_share_the_charts_port_by_default() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.health_address, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(args.metrics_address, None, "follows --health-address");
        assert_eq!(args.selector, None);
    }

    #[test]
    fn metrics_follow_a_moved_health_address_unless_given() {
        let args = parse(&["--health-address", "127.0.0.1:9000"]).unwrap();
        assert_eq!(
            args.metrics_address.unwrap_or(args.health_address),
            args.health_address
        );
        let args = parse(&[
            "--health-address",
            "127.0.0.1:9000",
            "--metrics-address",
            "127.0.0.1:9001",
        ])
        .unwrap();
        assert_eq!(args.metrics_address, Some("127.0.0.1:9001".parse().unwrap()));
    }

    #[test]
    fn selector_has_a_short_form() {
        let args = parse(&["-l", "shard=a", "--metrics-address", "127.0.0.1:9090"]).unwrap();
        assert_eq!(args.selector.as_deref(), Some("shard=a"));
        assert_eq!(args.metrics_address, Some("127.0.0.1:9090".parse().unwrap()));
    }

    #[test]
    fn contradicting_lease_timings_are_refused_with_the_flags_to_change() {
        let args = parse(&[
            "--lease-duration-seconds",
            "5",
            "--lease-renew-grace-seconds",
            "5",
        ])
        .unwrap();
        let error = check_flags(&args).unwrap_err().to_string();
        assert!(error.contains("--lease-renew-grace-seconds (5)"), "{error}");
        assert!(check_flags(&parse(&[]).unwrap()).is_ok());
    }
}
