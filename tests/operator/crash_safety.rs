//! Crash safety: the operator is killed at each step of a rotation (frozen there by a step hook,
//! then its task aborted, as `kill -9` would) and a fresh operator started. Every time the
//! rotation ends with exactly one current and at most one previous credential at Entra (none
//! once it completed), a target Secret that authenticates, no staging Secret and no orphan.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secret_rotator::{
    api::wellknown,
    controller::{Point, StepHook},
};
use serde_json::json;

use crate::support::{
    hooks::StopAt,
    workloads::{Workloads, create_workload, workload},
    world::{NS, World, spec},
};

async fn killed_at(point: Point) {
    let mut w = World::new(1).await;
    let _sim = Workloads::start(&w.api, &w.em);
    create_workload(
        &w.client,
        workload("Deployment", "web", 2, "creds", "client-secret"),
    )
    .await;
    let hook = Arc::new(StopAt::new(point));
    w.start_operator_with(Some(hook.clone() as Arc<dyn StepHook>));
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "crashy",
        spec(
            &client_id,
            "creds",
            json!({"overlap": "0s", "rolloutTargets": [{"kind": "Deployment", "name": "web"}]}),
        ),
    )
    .await;
    let first = w.wait_ready("crashy").await;
    let first_key = first.status.unwrap().current.unwrap().key_id;

    // A second rotation (it has a previous credential to retire), killed at `point`.
    hook.arm();
    w.annotate("crashy", wellknown::ANNOTATION_ROTATE, "1").await;
    tokio::time::timeout(crate::support::world::PATIENCE, hook.reached())
        .await
        .unwrap_or_else(|_| panic!("the operator never reached {point}"));
    w.kill_operator().await;

    // Whatever state it died in, a fresh operator finishes the rotation.
    w.start_operator();
    let done = w
        .wait_for("crashy", "done with rotation 2", |o| {
            o.status.as_ref().is_some_and(|s| {
                s.rotation.is_none() && s.last_rotation_time.is_some() && s.rotation_count >= 2
            }) && crate::support::world::condition(o, wellknown::condition::READY)
                .is_some_and(|c| c.status == "True")
        })
        .await;
    let status = done.status.unwrap();
    let current = status.current.unwrap();
    assert_ne!(current.key_id, first_key, "{point}: a new credential is current");
    assert_eq!(
        status.previous, None,
        "{point}: the previous credential is retired"
    );

    // Exactly the current credential at Entra: no orphan, no leftover.
    let at_entra: Vec<String> = w.passwords(0).into_iter().map(|p| p.key_id).collect();
    assert_eq!(
        at_entra,
        vec![current.key_id.clone()],
        "{point}: credentials at Entra"
    );
    let value = w.secret_value("creds", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &value), "{point}: the Secret authenticates");
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    assert!(
        secrets
            .get_opt(&wellknown::staging_secret_name("crashy"))
            .await
            .unwrap()
            .is_none(),
        "{point}: no staging Secret left"
    );
    // At most one mint beyond the two rotations (a credential minted but never staged is
    // revoked as an orphan and minted again).
    let mints = w.mints();
    assert!(
        (2..=3).contains(&mints),
        "{point}: {mints} mints for two rotations"
    );
    if point != Point::MintedBeforeStaging {
        assert_eq!(mints, 2, "{point}: nothing minted twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_intent_is_recorded_before_the_mint() {
    killed_at(Point::BeforeAction("Mint")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_the_mint_and_staging() {
    killed_at(Point::MintedBeforeStaging).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_staging_and_the_status_write() {
    killed_at(Point::AfterAction("Mint")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_verification() {
    killed_at(Point::AfterAction("Verify")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_the_secret_write_and_the_status_write() {
    killed_at(Point::AfterAction("WriteSecret")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_promotion_and_rollout() {
    killed_at(Point::BeforeAction("Rollout")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_during_the_rollout() {
    killed_at(Point::AfterAction("Rollout")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_before_the_revoke() {
    killed_at(Point::BeforeAction("Revoke")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_after_the_revoke_before_recording_it() {
    killed_at(Point::AfterAction("Revoke")).await;
}
