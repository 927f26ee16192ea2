//! Measurement 3 (flatness): does the operator pay for objects it does not own?
//!
//! 1. Unrelated Secrets (default 20,000 of 10 KiB, in namespaces `unrelated-NNN`, 1,000 each)
//!    are created while the operator runs: the proxy counts how many of them reach it on its live
//!    watches (their names carry a marker).
//! 2. The operator is restarted ([`super::cold_start`]) with them present: RSS, peak and bytes
//!    received are compared with the restart without them, and the unrelated Secrets in its
//!    initial lists are counted the same way.
//! 3. Unrelated Deployments (default 1,000, 0 replicas) are created while it runs, and counted the
//!    same way: the operator's Deployment watch is not label-selected, so this shows what that
//!    costs.
//!
//! Invariant: the unrelated objects live outside the operator's namespaces and carry none of its
//! labels; nothing the operator owns changes during the measurement.

use std::time::Duration;

use base64::Engine;
use serde::Serialize;
use serde_json::json;

use super::cold_start::{self, ColdStartReport};
use super::harness::{UNRELATED_DEPLOYMENT_MARKER, UNRELATED_SECRET_MARKER, World};
use super::stats::round;

/// How many unrelated objects to create.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Ballast {
    /// Unrelated Secrets.
    pub secrets: usize,
    /// Bytes of data in each.
    pub secret_bytes: usize,
    /// Unrelated Deployments.
    pub deployments: usize,
}

/// What the flatness measurement found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlatnessReport {
    /// Ready rotations.
    pub rotations: usize,
    /// Unrelated Secrets created.
    pub unrelated_secrets: usize,
    /// Their data size, bytes each.
    pub unrelated_secret_bytes: usize,
    /// Unrelated Secrets delivered to the operator while they were created.
    pub unrelated_secrets_delivered_live: u64,
    /// Unrelated Secrets delivered to the operator during its restart.
    pub unrelated_secrets_delivered_on_restart: u64,
    /// The restart with them present.
    pub restart: ColdStartReport,
    /// RSS with / without them (both steady after a restart).
    pub rss_ratio: f64,
    /// Peak with / without them.
    pub hwm_ratio: f64,
    /// Bytes received during the restart, with / without them.
    pub bytes_ratio: f64,
    /// Unrelated Deployments created.
    pub unrelated_deployments: usize,
    /// Deliveries of them (creation and status updates) to the operator.
    pub unrelated_deployments_delivered: u64,
}

const PER_NAMESPACE: usize = 1000;

/// Measures flatness against `without`, the restart at the same N without unrelated objects.
pub async fn run(
    world: &mut World,
    rotations: usize,
    ballast: Ballast,
    without: &ColdStartReport,
) -> anyhow::Result<FlatnessReport> {
    let stats = world.proxy.stats.clone();
    let namespaces = world.create_namespaces("unrelated", ballast.secrets.div_ceil(PER_NAMESPACE).max(1))?;
    let before = stats.marker(UNRELATED_SECRET_MARKER);
    let data = base64::engine::general_purpose::STANDARD.encode(
        (0..ballast.secret_bytes)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    {
        let api = world.api.clone();
        let rt = world.types.secrets.clone();
        let namespaces = namespaces.clone();
        let count = ballast.secrets;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for j in 0..count {
                let ns = &namespaces[j / PER_NAMESPACE];
                api.create(
                    &rt,
                    ns,
                    json!({"metadata": {"name": format!("{UNRELATED_SECRET_MARKER}{j:06}"),
                                        "labels": {"team": "someone-else"}},
                           "type": "Opaque",
                           "data": {"payload": data}}),
                    "someone-else",
                )
                .map_err(|e| anyhow::anyhow!("unrelated Secret {j}: {e:?}"))?;
            }
            Ok(())
        })
        .await??;
    }
    // Let any watch deliveries drain.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let live = stats.marker(UNRELATED_SECRET_MARKER) - before;

    let before_restart = stats.marker(UNRELATED_SECRET_MARKER);
    let restart = cold_start::run(world, rotations).await?;
    let on_restart = stats.marker(UNRELATED_SECRET_MARKER) - before_restart;

    let before_deployments = stats.marker(UNRELATED_DEPLOYMENT_MARKER);
    {
        let api = world.api.clone();
        let rt = world.types.deployments.clone();
        let count = ballast.deployments;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for j in 0..count {
                let ns = &namespaces[j % namespaces.len()];
                let name = format!("{UNRELATED_DEPLOYMENT_MARKER}{j:06}");
                api.create(
                    &rt,
                    ns,
                    json!({"metadata": {"name": name, "labels": {"team": "someone-else"}},
                           "spec": {"replicas": 0,
                                    "selector": {"matchLabels": {"unrelated": format!("u{j}")}},
                                    "template": {"metadata": {"labels": {"unrelated": format!("u{j}")}},
                                                 "spec": {"containers": [{"name": "c", "image": "example.com/other:1"}]}}}}),
                    "someone-else",
                )
                .map_err(|e| anyhow::anyhow!("unrelated Deployment {j}: {e:?}"))?;
            }
            Ok(())
        })
        .await??;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deployments_delivered = stats.marker(UNRELATED_DEPLOYMENT_MARKER) - before_deployments;

    let ratio = |a: u64, b: u64| round(a as f64 / b.max(1) as f64, 3);
    Ok(FlatnessReport {
        rotations,
        unrelated_secrets: ballast.secrets,
        unrelated_secret_bytes: ballast.secret_bytes,
        unrelated_secrets_delivered_live: live,
        unrelated_secrets_delivered_on_restart: on_restart,
        rss_ratio: ratio(restart.rss_steady_kib, without.rss_steady_kib),
        hwm_ratio: ratio(restart.hwm_kib, without.hwm_kib),
        bytes_ratio: ratio(restart.bytes_received, without.bytes_received),
        restart,
        unrelated_deployments: ballast.deployments,
        unrelated_deployments_delivered: deployments_delivered,
    })
}
