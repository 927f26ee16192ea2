//! `/healthz` (the process serves requests) and `/readyz` (the leader's caches hold their initial
//! lists, or the replica is a healthy standby).

use axum::{Router, extract::State, http::StatusCode, routing::get};
use tokio::sync::watch;

/// What `/readyz` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Starting: not connected to the API server's lease yet.
    Starting,
    /// Waiting for the lease held by another replica.
    Standby,
    /// Leading, caches not synced yet.
    Syncing,
    /// Leading with synced caches.
    Leading,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(ready): State<watch::Receiver<Readiness>>) -> (StatusCode, &'static str) {
    match *ready.borrow() {
        Readiness::Leading => (StatusCode::OK, "ok: leading, caches synced"),
        // A standby replica is ready to take over; reporting it unready would block rollouts of
        // the operator's own Deployment forever.
        Readiness::Standby => (StatusCode::OK, "ok: standby"),
        Readiness::Syncing => (StatusCode::SERVICE_UNAVAILABLE, "leading, caches syncing"),
        Readiness::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
    }
}

/// `GET /healthz` and `GET /readyz`.
pub fn router(ready: watch::Receiver<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ready)
}
