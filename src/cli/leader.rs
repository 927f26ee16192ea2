//! Leader election through a `coordination.k8s.io` Lease (kube-lease-manager): only the holder
//! runs the controller, so only it reconciles or calls Graph.
//!
//! * A replica that gains the lease starts the controller; one that loses it stops the
//!   controller at once (abort: another replica may already act) and goes back to standby.
//! * On shutdown the controller stops gracefully (passes in flight finish, bounded), then the
//!   lease is released so a standby takes over without waiting for it to expire.

use std::{future::Future, sync::Arc, time::Duration};

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::{oneshot, watch};

use super::health::Readiness;

/// Lease settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Name of the Lease.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// How long a lease stays valid after its last renewal.
    pub duration: Duration,
    /// Renew this long before it would expire.
    pub grace: Duration,
}

/// Why leader election ended other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be used (missing namespace, no permission).
    #[error("cannot use Lease {namespace}/{name} for leader election (does the namespace exist?): {source}")]
    Lease {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// Why.
        source: kube_lease_manager::LeaseManagerError,
    },
    /// The lease machinery stopped.
    #[error("leader election stopped")]
    Stopped,
    /// The controller ended while it should have run.
    #[error("the controller stopped by itself")]
    ControllerStopped,
}

/// How long passes in flight get to finish on shutdown.
const GRACEFUL_STOP: Duration = Duration::from_secs(20);

/// Runs `controller(stop)` whenever this replica holds the lease, until `shutdown` completes.
pub async fn run<C, F>(
    client: Client,
    lease: LeaseSettings,
    readiness: Arc<watch::Sender<Readiness>>,
    shutdown: impl Future<Output = ()>,
    controller: C,
) -> Result<(), LeaderError>
where
    C: Fn(oneshot::Receiver<()>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let manager = LeaseManagerBuilder::new(client, &lease.name)
        .with_namespace(&lease.namespace)
        .with_identity(&lease.identity)
        .with_duration(lease.duration.as_secs().max(1))
        .with_grace(lease.grace.as_secs().max(1))
        .with_field_manager("secret-rotator.dev/leader-election")
        .build()
        .await
        .map_err(|source| LeaderError::Lease {
            namespace: lease.namespace.clone(),
            name: lease.name.clone(),
            source,
        })?;
    let (mut leading, lease_task) = manager.watch().await;
    tokio::pin!(shutdown);
    let _ = readiness.send(Readiness::Standby);
    tracing::info!(identity = %lease.identity, lease = %lease.name, "waiting for the lease");
    'standby: loop {
        tokio::select! {
            _ = &mut shutdown => break 'standby,
            changed = leading.wait_for(|l| *l) => {
                if changed.is_err() {
                    return Err(LeaderError::Stopped);
                }
            }
        }
        tracing::info!(identity = %lease.identity, "acquired the lease; starting the controller");
        let _ = readiness.send(Readiness::Syncing);
        let (stop, stopped) = oneshot::channel();
        let mut task = tokio::spawn(controller(stopped));
        tokio::select! {
            _ = &mut shutdown => {
                let _ = stop.send(());
                if tokio::time::timeout(GRACEFUL_STOP, &mut task).await.is_err() {
                    task.abort();
                }
                break 'standby;
            }
            changed = leading.wait_for(|l| !*l) => {
                task.abort();
                let _ = task.await;
                if changed.is_err() {
                    return Err(LeaderError::Stopped);
                }
                tracing::warn!(identity = %lease.identity, "lost the lease; controller stopped");
                let _ = readiness.send(Readiness::Standby);
            }
            _ = &mut task => {
                return Err(LeaderError::ControllerStopped);
            }
        }
    }
    // Dropping the receiver makes the lease task release the lease and end.
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(10), lease_task).await {
        Ok(Ok(Ok(_))) => tracing::info!("released the lease"),
        Ok(Ok(Err(error))) => tracing::warn!(%error, "could not release the lease"),
        Ok(Err(error)) => tracing::warn!(%error, "the lease task failed"),
        Err(_) => tracing::warn!("releasing the lease timed out"),
    }
    Ok(())
}
