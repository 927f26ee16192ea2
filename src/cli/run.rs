//! `secret-rotator run`: the operator process. Connects (kubeconfig or in-cluster, kube's
//! `Config::infer`), serves `/healthz` and `/readyz`, and runs the controller while it holds the
//! leader lease (or always, with `--leader-elect=false`), until SIGTERM.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::sync::{oneshot, watch};

use super::{
    health::{self, Readiness},
    kubeconfig::{ConnectError, KubeconfigArgs},
    leader::{self, LeaderError, LeaseSettings},
    logging::{self, LogFormat, LoggingError},
    signals,
};
use crate::{
    controller::{ControllerConfig, Operator, config},
    provider::entra::WorkloadIdentitySignIn,
};

/// Why the operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Logging could not be set up.
    #[error(transparent)]
    Logging(#[from] LoggingError),
    /// The cluster could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The health server could not listen.
    #[error("cannot serve /healthz and /readyz on {address}: {source}")]
    Health {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Leader election failed.
    #[error(transparent)]
    Leader(#[from] LeaderError),
}

/// Where an in-cluster pod finds its namespace.
const IN_CLUSTER_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Connection flags.
    #[command(flatten)]
    kube: KubeconfigArgs,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// The namespace the operator runs in (its Lease lives there). Default: the pod's namespace,
    /// or `secret-rotator`.
    #[arg(long, env = "POD_NAMESPACE")]
    operator_namespace: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "LOG_FORMAT")]
    log_format: LogFormat,
    /// Log level or filter (`RUST_LOG` wins when set).
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Address of the HTTP server (`/healthz`, `/readyz`); the chart's container port.
    #[arg(long, default_value = "0.0.0.0:8080")]
    health_address: SocketAddr,
    /// Reconciles running at once.
    #[arg(long, default_value_t = config::DEFAULT_CONCURRENCY)]
    concurrency: u16,
    /// Cap on rotations between their start and their promotion, operator-wide (0: none).
    #[arg(long, default_value_t = config::DEFAULT_MAX_ROTATIONS_IN_FLIGHT)]
    max_rotations_in_flight: usize,
    /// Cap on rotations rolling out their workloads, operator-wide (0: none).
    #[arg(long, default_value_t = config::DEFAULT_MAX_ROLLOUTS_IN_FLIGHT)]
    max_rollouts_in_flight: usize,
    /// Elect a leader through a Lease, so several replicas can run (only the leader acts).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "secret-rotator")]
    lease_name: String,
    /// Namespace of the Lease (default: the operator namespace).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Seconds a lease stays valid without renewal (a dead leader is replaced after this).
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds before expiry the leader renews.
    #[arg(long, default_value_t = 5)]
    lease_renew_grace_seconds: u64,
    /// This replica's identity in the Lease (default: the pod name, or host name plus a random
    /// suffix).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
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

/// Runs `run`.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    logging::init(args.log_format, &args.log_level)?;
    let client = args.kube.connect().await?.client;
    let operator_namespace = operator_namespace(&args);
    let mut config = ControllerConfig::new(&operator_namespace);
    config.namespace = args.namespace.clone();
    config.concurrency = args.concurrency;
    config.max_rotations_in_flight = args.max_rotations_in_flight;
    config.max_rollouts_in_flight = args.max_rollouts_in_flight;
    config.imds_endpoint = args.imds_endpoint.clone();
    config.operator_workload_identity = WorkloadIdentitySignIn::from_env().ok();

    let (readiness, ready_rx) = watch::channel(Readiness::Starting);
    let readiness = Arc::new(readiness);
    let bound = health::serve(args.health_address, ready_rx)
        .await
        .map_err(|source| RunError::Health {
            address: args.health_address,
            source,
        })?;
    tracing::info!(
        health = %bound,
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
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
            Operator::new(client.clone(), config.clone())
                .ready(synced)
                .run(async move {
                    let _ = stopped.await;
                })
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
