//! Restarting the operator is a no-op: with several Ready rotations, a fresh operator looks at
//! every one of them and mints nothing, writes no Secret, patches no workload and writes no status.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use secret_rotator::api::wellknown;
use serde_json::json;

use crate::support::{
    workloads::{Workloads, create_workload, workload},
    world::{NS, PATIENCE, World, spec},
};

const ROTATIONS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_ready_rotations_mints_writes_and_restarts_nothing() {
    let mut w = World::new(ROTATIONS).await;
    let _sim = Workloads::start(&w.api, &w.em);
    create_workload(
        &w.client,
        workload("Deployment", "web", 2, "creds-0", "client-secret"),
    )
    .await;
    w.start_operator();
    for i in 0..ROTATIONS {
        let client_id = w.app(i).app_id.clone();
        w.create_rotation(
            &format!("r{i}"),
            spec(
                &client_id,
                &format!("creds-{i}"),
                json!({"rolloutTargets": [{"kind": "Deployment", "name": "web"}]}),
            ),
        )
        .await;
    }
    for i in 0..ROTATIONS {
        w.wait_ready(&format!("r{i}")).await;
        // The last Event follows the last status write: wait for it, so nothing of the first
        // operator is in flight when it is killed.
        w.wait_events(&format!("r{i}"), &[wellknown::event::ROTATED])
            .await;
    }
    let deployments: Api<Deployment> = Api::namespaced(w.client.clone(), NS);
    let generation = deployments.get("web").await.unwrap().metadata.generation;

    w.kill_operator().await;
    w.api.clear_access_log();
    w.em.clear_audit_log();
    w.start_operator();

    // Every rotation gets looked at (its staging Secret is read) ...
    let staging: Vec<String> = (0..ROTATIONS)
        .map(|i| wellknown::staging_secret_name(&format!("r{i}")))
        .collect();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let looked_at = w
            .operator_requests()
            .iter()
            .filter(|r| r.verb == "get" && r.resource == "secrets" && staging.contains(&r.name))
            .map(|r| r.name.clone())
            .collect::<std::collections::BTreeSet<_>>();
        if looked_at.len() == ROTATIONS {
            break;
        }
        assert!(Instant::now() < deadline, "only {looked_at:?} were looked at");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ... and the passes settle.
    w.reconcile_all();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let writes: Vec<_> = w
        .operator_requests()
        .into_iter()
        .filter(|r| {
            matches!(
                r.verb.as_str(),
                "create" | "update" | "patch" | "delete" | "deletecollection"
            )
        })
        .collect();
    assert_eq!(writes, vec![], "no write of any kind after a restart");
    assert_eq!(w.graph_calls(), vec![], "no Graph call after a restart");
    assert_eq!(
        deployments.get("web").await.unwrap().metadata.generation,
        generation,
        "no workload restarted"
    );
}
