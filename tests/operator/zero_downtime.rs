//! Zero downtime: through several consecutive rotations of a Deployment and a StatefulSet, every
//! replica's secret authenticates at Entra at every moment, and each previous credential is
//! revoked only after both rollouts completed and the overlap passed.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::json;

use crate::support::{
    workloads::{Workloads, create_workload, workload},
    world::{World, spec},
};

const OVERLAP: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_downtime_through_consecutive_rotations_of_a_deployment_and_a_stateful_set() {
    let mut w = World::new(1).await;
    let sim = Arc::new(Workloads::start(&w.api, &w.em));
    create_workload(
        &w.client,
        workload("Deployment", "web", 3, "creds", "client-secret"),
    )
    .await;
    create_workload(
        &w.client,
        workload("StatefulSet", "db", 2, "creds", "client-secret"),
    )
    .await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "always-on",
        spec(
            &client_id,
            "creds",
            json!({
                "lifetime": "1h",
                "renewBefore": "30m",
                "overlap": "2m",
                "rolloutTargets": [
                    {"kind": "Deployment", "name": "web"},
                    {"kind": "StatefulSet", "selector": {"matchLabels": {"app": "db"}}},
                ],
            }),
        ),
    )
    .await;
    w.wait_ready("always-on").await;

    // Watch every replica's secret, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let checker = {
        let (sim, em, tenant, client_id) = (sim.clone(), w.em.clone(), w.tenant.clone(), client_id.clone());
        let (stop, checks, violations) = (stop.clone(), checks.clone(), violations.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                for (workload, value) in sim.live_values() {
                    checks.fetch_add(1, Ordering::SeqCst);
                    if !em.authenticates(&tenant, &client_id, &value) {
                        violations.lock().unwrap().push(format!(
                            "{workload} holds a secret starting {:?} that does not authenticate at {}",
                            &value[..3],
                            em.now()
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // Three more rotations, each at its renewal time, 30 times faster than real time.
    w.warp(30);
    for round in 2..=4 {
        let status = w.rotations().get("always-on").await.unwrap().status.unwrap();
        let renewal = status.renewal_time.unwrap().0;
        let now = w.em.now();
        if renewal > now {
            w.advance(renewal.duration_since(now).unsigned_abs() + Duration::from_secs(1));
        }
        w.wait_for("always-on", "rotated again", |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.rotation_count >= round && s.rotation.is_none())
        })
        .await;
    }
    w.normal_time();
    stop.store(true, Ordering::SeqCst);
    checker.await.unwrap();

    let violations = violations.lock().unwrap().clone();
    assert_eq!(
        violations,
        Vec::<String>::new(),
        "a replica held a secret that did not work"
    );
    assert!(
        checks.load(Ordering::SeqCst) > 100,
        "the replicas were checked throughout"
    );

    // Each revocation came after both rollouts completed and the overlap passed.
    let revocations: Vec<_> = w
        .graph_calls()
        .into_iter()
        .filter(|e| e.path.ends_with("/removePassword") && e.status == 204)
        .collect();
    assert_eq!(revocations.len(), 3, "one revocation per replaced credential");
    // Rotation n restarts the workloads into generation n + 1 (generation 1 is their creation);
    // the k-th revocation retires the credential rotation k + 1 replaced.
    for (k, revoked) in revocations.iter().enumerate() {
        let generation = k as i64 + 3;
        for (kind, name) in [("deployments", "web"), ("statefulsets", "db")] {
            let completed = sim
                .completed_at(kind, name, generation)
                .unwrap_or_else(|| panic!("{name} never completed generation {generation}"));
            // NB: status times are whole seconds: the overlap counts from the start of the second
            // in which the operator saw the rollout complete.
            assert!(
                completed + OVERLAP <= revoked.time + Duration::from_secs(1),
                "{name} completed generation {generation} at {completed}, but the previous credential was revoked at {} before the overlap passed",
                revoked.time
            );
        }
    }
    assert_eq!(w.passwords(0).len(), 1, "one credential left at Entra");
}
