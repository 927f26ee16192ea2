//! The operator's HTTP server (axum): the probes of [`super::health`] on `--health-address` and
//! `/metrics` ([`crate::metrics::endpoint`]) on `--metrics-address`; one listener serves both
//! when the addresses are equal (the default: `--metrics-address` follows `--health-address`,
//! `0.0.0.0:8080`, the chart's container port).
//!
//! Invariant: every listener is bound before `run` goes on, so a taken port fails the start with
//! the address and the flag to change, instead of a process that runs without its probes.

use std::{net::SocketAddr, sync::Arc};

use axum::Router;
use prometheus_client::registry::Registry;
use tokio::{net::TcpListener, sync::watch};

use super::health::{self, Readiness};
use crate::metrics::endpoint;

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot serve {what} on {address}: {source} (is another process using that port? choose another address with {flag})"
)]
pub struct ListenError {
    /// What was to be served there.
    pub what: &'static str,
    /// The address.
    pub address: SocketAddr,
    /// The flag that sets it.
    pub flag: &'static str,
    /// Why.
    pub source: std::io::Error,
}

/// Where the server listens (the bound addresses, so port 0 is resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// `/healthz`, `/readyz`.
    pub health: SocketAddr,
    /// `/metrics`.
    pub metrics: SocketAddr,
}

async fn bind(
    address: SocketAddr,
    what: &'static str,
    flag: &'static str,
) -> Result<(TcpListener, SocketAddr), ListenError> {
    let error = |source| ListenError {
        what,
        address,
        flag,
        source,
    };
    let listener = TcpListener::bind(address).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}

fn spawn(listener: TcpListener, router: Router) {
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the HTTP server stopped");
        }
    });
}

/// Serves the probes on `health` and the metrics of `registry` on `metrics` until the process
/// ends.
pub async fn serve(
    health: SocketAddr,
    metrics: SocketAddr,
    ready: watch::Receiver<Readiness>,
    registry: Arc<Registry>,
) -> Result<Bound, ListenError> {
    let probes = health::router(ready);
    let exposition = endpoint::router(registry);
    if health == metrics {
        let (listener, bound) = bind(
            health,
            "/healthz, /readyz and /metrics",
            "--health-address and --metrics-address",
        )
        .await?;
        spawn(listener, probes.merge(exposition));
        return Ok(Bound {
            health: bound,
            metrics: bound,
        });
    }
    let (health_listener, health_bound) = bind(health, "/healthz and /readyz", "--health-address").await?;
    let (metrics_listener, metrics_bound) = bind(metrics, "/metrics", "--metrics-address").await?;
    spawn(health_listener, probes);
    spawn(metrics_listener, exposition);
    Ok(Bound {
        health: health_bound,
        metrics: metrics_bound,
    })
}
