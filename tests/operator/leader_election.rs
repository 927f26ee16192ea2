//! Leader election with two `secret-rotator run` processes: only the lease holder reconciles (the
//! other makes no request beyond the Lease), a follower takes over within seconds of the leader's
//! death (`kill -9`), and on SIGTERM the leader releases the lease and exits cleanly.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use secret_rotator::api::wellknown;
use serde_json::json;

use crate::support::{
    process::{self, LEASE_SECONDS, OperatorProcess},
    world::{PATIENCE, World, spec},
};

/// Starts operator replica `identity`.
fn start(kubeconfig: &Path, identity: &str) -> OperatorProcess {
    process::start(kubeconfig, identity, &[], Stdio::null())
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("secret-rotator")
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec?.holder_identity)
}

async fn wait_holder(leases: &Api<Lease>, want: Option<&str>, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if holder(leases).await.as_deref() == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "the lease holder is {:?}, not {want:?}, after {within:?}",
            holder(leases).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn readyz(client: &reqwest::Client, op: &OperatorProcess) -> Option<String> {
    let response = client.get(format!("{}/readyz", op.base)).send().await.ok()?;
    response.status().is_success().then_some(())?;
    response.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_acts_a_follower_takes_over_and_sigterm_releases_the_lease() {
    let w = World::new(1).await;
    w.create_namespace("secret-rotator").await;
    let serving = w.api.serve_tls("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_a = w.operator_kubeconfig(&serving, dir.path(), "a");
    let config_b = w.operator_kubeconfig(&serving, dir.path(), "b");
    let leases: Api<Lease> = Api::namespaced(w.client.clone(), "secret-rotator");
    let http = reqwest::Client::new();

    let mut a = start(&config_a, "a");
    wait_holder(&leases, Some("a"), PATIENCE).await;
    let b = start(&config_b, "b");
    let deadline = Instant::now() + PATIENCE;
    while readyz(&http, &b).await.as_deref() != Some("ok: standby") {
        assert!(Instant::now() < deadline, "b never reported standby");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let client_id = w.app(0).app_id.clone();
    w.create_rotation("led", spec(&client_id, "creds", json!({"overlap": "0s"})))
        .await;
    w.wait_ready("led").await;
    let followers_requests: Vec<_> = w
        .api
        .access_log()
        .into_iter()
        .filter(|r| r.user == "operator-b" && r.resource_request && r.resource != "leases")
        .collect();
    assert_eq!(followers_requests, vec![], "the follower only touches the Lease");

    // The leader dies without releasing anything; the follower takes over once the lease expires.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let took = wait_holder(&leases, Some("b"), Duration::from_secs(LEASE_SECONDS + 20)).await;
    assert!(
        took <= Duration::from_secs(LEASE_SECONDS + 5),
        "takeover took {took:?}"
    );
    let deadline = Instant::now() + PATIENCE;
    while readyz(&http, &b).await.as_deref() != Some("ok: leading, caches synced") {
        assert!(Instant::now() < deadline, "b never reported leading");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.annotate("led", wellknown::ANNOTATION_ROTATE, "after-failover")
        .await;
    w.wait_for("led", "rotated by the new leader", |o| {
        o.status.as_ref().is_some_and(|s| {
            s.handled_rotate_request.as_deref() == Some("after-failover") && s.rotation.is_none()
        })
    })
    .await;

    // SIGTERM: the leader stops gracefully and releases the lease.
    let status = Command::new("kill")
        .args(["-TERM", &b.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut b = b;
    let deadline = Instant::now() + PATIENCE;
    let exit = loop {
        if let Some(exit) = b.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "b did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "a clean exit: {exit:?}");
    assert_eq!(holder(&leases).await, None, "the lease is released");
    serving.shutdown().await;
}
