//! What users do to a rotation: request a rotation (`secret-rotator.dev/rotate`), an emergency
//! rotation (`secret-rotator.dev/emergency-rotate`), suspend it, delete it with `Retain` or
//! `Revoke`.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt, api::DeleteParams};
use secret_rotator::api::wellknown::{self, condition, event, reason};
use serde_json::json;

use crate::support::{
    workloads::web_rotation,
    world::{NS, PATIENCE, World, condition as cond, spec},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_rotation_replaces_the_secret_and_retires_the_previous_after_the_overlap() {
    let (w, sim) = web_rotation(
        "manual",
        json!({
            "overlap": "10m",
            "secret": {"keys": {"previousClientSecret": "previous-client-secret"}},
        }),
    )
    .await;
    let first = w.wait_ready("manual").await.status.unwrap().current.unwrap();
    let old_value = w.secret_value("creds", "client-secret").await.unwrap();

    w.annotate("manual", wellknown::ANNOTATION_ROTATE, "2026-01-01T00:00:00Z")
        .await;
    let retiring = w
        .wait_for("manual", "retiring", |o| {
            o.status
                .as_ref()
                .and_then(|s| s.rotation.as_ref())
                .is_some_and(|r| r.phase == secret_rotator::api::RotationPhase::Retiring)
        })
        .await;
    let status = retiring.status.unwrap();
    assert_eq!(
        status.handled_rotate_request.as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    assert_eq!(status.previous.as_ref().unwrap().key_id, first.key_id);
    // During the overlap both secrets work, and the Secret offers the previous one alongside.
    let new_value = w.secret_value("creds", "client-secret").await.unwrap();
    assert_ne!(new_value, old_value);
    assert_eq!(
        w.secret_value("creds", "previous-client-secret").await.as_deref(),
        Some(old_value.as_str())
    );
    assert!(w.authenticates(0, &old_value) && w.authenticates(0, &new_value));
    // Every replica restarted with the new secret (replaced ones are gone once they terminate).
    let deadline = std::time::Instant::now() + PATIENCE;
    while !sim.live_values().iter().all(|(_, v)| *v == new_value) {
        assert!(
            std::time::Instant::now() < deadline,
            "replicas still hold the old secret"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The overlap passes: the previous credential goes, and with it the previous key.
    w.advance(Duration::from_secs(11 * 60));
    let done = w.wait_ready("manual").await;
    assert_eq!(done.status.unwrap().previous, None);
    assert!(!w.authenticates(0, &old_value));
    assert_eq!(w.secret_value("creds", "previous-client-secret").await, None);
    assert_eq!(w.passwords(0).len(), 1);

    // The same request value again does nothing.
    let mints = w.mints();
    w.annotate("manual", "unrelated", "x").await;
    w.annotate("manual", wellknown::ANNOTATION_ROTATE, "2026-01-01T00:00:00Z")
        .await;
    w.reconcile_all();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.mints(), mints, "a handled request is not handled twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_rotation_revokes_the_previous_secret_before_restarting_anything() {
    let (w, sim) = web_rotation("leaked", json!({"overlap": "1h"})).await;
    w.wait_ready("leaked").await;
    let leaked = w.secret_value("creds", "client-secret").await.unwrap();
    // The rollout will not finish: the emergency must not wait for it.
    sim.stall("deployments", "web", true);

    w.annotate("leaked", wellknown::ANNOTATION_EMERGENCY_ROTATE, "incident-42")
        .await;
    w.wait_for("leaked", "rolling out without the previous credential", |o| {
        o.status.as_ref().is_some_and(|s| {
            s.previous.is_none()
                && s.rotation
                    .as_ref()
                    .is_some_and(|r| r.emergency && r.phase == secret_rotator::api::RotationPhase::RollingOut)
        })
    })
    .await;
    assert!(
        !w.authenticates(0, &leaked),
        "the leaked secret is revoked at once"
    );
    let fresh = w.secret_value("creds", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &fresh));
    w.wait_events("leaked", &[event::EMERGENCY_REVOKED]).await;

    sim.stall("deployments", "web", false);
    let done = w.wait_ready("leaked").await;
    assert_eq!(
        done.status.unwrap().handled_emergency_request.as_deref(),
        Some("incident-42")
    );
    assert_eq!(w.passwords(0).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_freezes_rotations_until_cleared() {
    let mut w = World::new(1).await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("paused", spec(&client_id, "creds", json!({"overlap": "0s"})))
        .await;
    w.wait_ready("paused").await;
    let value = w.secret_value("creds", "client-secret").await.unwrap();
    let mints = w.mints();

    w.patch_spec("paused", json!({"suspend": true})).await;
    let suspended = w
        .wait_for("paused", "suspended", |o| {
            cond(o, condition::READY).is_some_and(|c| c.reason == reason::SUSPENDED)
                && o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation
        })
        .await;
    assert_eq!(cond(&suspended, condition::READY).unwrap().status, "True");
    // Neither a request nor the renewal time starts anything.
    w.annotate("paused", wellknown::ANNOTATION_ROTATE, "now").await;
    w.advance(Duration::from_secs(23 * 3600));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.mints(), mints, "no mint while suspended");
    assert_eq!(w.secret_value("creds", "client-secret").await.unwrap(), value);

    w.patch_spec("paused", json!({"suspend": false})).await;
    w.wait_for("paused", "rotated after resuming", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.rotation_count >= 2 && s.rotation.is_none())
    })
    .await;
    assert_ne!(w.secret_value("creds", "client-secret").await.unwrap(), value);
}

async fn delete_and_wait(w: &World, name: &str) {
    let uid = w.rotations().get(name).await.unwrap().uid().unwrap();
    w.rotations()
        .delete(name, &DeleteParams::default())
        .await
        .unwrap();
    let gone = kube::runtime::wait::await_condition(
        w.rotations(),
        name,
        kube::runtime::conditions::is_deleted(&uid),
    );
    tokio::time::timeout(PATIENCE, gone)
        .await
        .expect("the rotation is deleted in time")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_with_retain_keeps_the_secret_and_its_credential() {
    let mut w = World::new(1).await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("kept", spec(&client_id, "creds", json!({})))
        .await;
    let ready = w.wait_ready("kept").await;
    assert!(ready.finalizers().iter().any(|f| f == wellknown::FINALIZER));
    let value = w.secret_value("creds", "client-secret").await.unwrap();

    delete_and_wait(&w, "kept").await;
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    let secret = secrets.get("creds").await.expect("the Secret is kept");
    assert!(
        secret
            .owner_references()
            .iter()
            .all(|r| Some(&r.uid) != ready.metadata.uid.as_ref()),
        "released from the rotation"
    );
    assert_eq!(w.secret_value("creds", "client-secret").await.unwrap(), value);
    assert!(w.authenticates(0, &value), "the credential stays valid");
    assert_eq!(w.passwords(0).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_with_revoke_revokes_what_it_minted_and_the_secret_goes() {
    let mut w = World::new(1).await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "revoked",
        spec(&client_id, "creds", json!({"deletionPolicy": "Revoke"})),
    )
    .await;
    w.wait_ready("revoked").await;
    let value = w.secret_value("creds", "client-secret").await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    let secret_uid = secrets.get("creds").await.unwrap().uid().unwrap();

    delete_and_wait(&w, "revoked").await;
    assert!(!w.authenticates(0, &value), "the credential is revoked");
    assert!(w.passwords(0).is_empty());
    // The Secret is garbage-collected with its owner.
    let gone = kube::runtime::wait::await_condition(
        secrets,
        "creds",
        kube::runtime::conditions::is_deleted(&secret_uid),
    );
    tokio::time::timeout(PATIENCE, gone)
        .await
        .expect("the Secret is garbage-collected")
        .unwrap();
}
