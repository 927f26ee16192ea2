//! Failures: Graph throttling and outages, slow propagation, a lifetime policy, a rollout that
//! never completes, API server faults and dropped watches. Each ends in its documented condition
//! reason, backs off (attempts and next retry in status, no hot loop), and recovers by itself once
//! the fault clears.

use std::time::Duration;

use sandbox::{
    apiserver::faults::FaultRule as ApiFault,
    entra::{
        AppManagementConfiguration, Consistency, ConsistencyScope, FaultAction, FaultRule,
        PasswordCredentialConfiguration, TenantAppManagementPolicy,
    },
};
use secret_rotator::api::{
    ClientSecretRotation, RotationPhase,
    wellknown::{self, condition, reason},
};
use serde_json::json;

use crate::support::{
    workloads::web_rotation,
    world::{OPERATOR_USER, World, condition as cond, spec},
};

fn failure_of(o: &ClientSecretRotation) -> Option<(String, i32)> {
    let f = o.status.as_ref()?.failure.as_ref()?;
    Some((f.reason.clone(), f.attempts))
}

fn graph_fault(path: &str, status: u16, retry_after: Option<u64>) -> FaultRule {
    FaultRule {
        method: None,
        path: path.into(),
        action: FaultAction::Status { status, retry_after },
        times: None,
        rate: None,
    }
}

/// Calls whose path matches `suffix` the emulator saw (answered or faulted).
fn calls(w: &World, suffix: &str) -> usize {
    w.em.audit_log()
        .iter()
        .filter(|e| e.path.ends_with(suffix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_throttling_backs_off_in_status_and_recovers() {
    let mut w = World::new(1).await;
    w.em.inject_fault(graph_fault("addPassword$", 429, Some(90)))
        .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("throttled", spec(&client_id, "creds", json!({})))
        .await;
    let failed = w
        .wait_for("throttled", "failing with Throttled", |o| {
            failure_of(o).is_some_and(|(r, _)| r == "Throttled")
        })
        .await;
    let f = failed.status.clone().unwrap().failure.unwrap();
    assert_eq!((f.step.as_str(), f.attempts, f.retryable), ("Mint", 1, true));
    assert!(
        f.next_retry_time.0 >= f.last_failure_time.0 + Duration::from_secs(90),
        "Retry-After is honoured"
    );
    assert_eq!(cond(&failed, condition::DEGRADED).unwrap().reason, "Throttled");
    assert_eq!(cond(&failed, condition::READY).unwrap().status, "False");

    // No hot loop: nothing more happens before the retry time.
    let attempts = calls(&w, "/addPassword");
    w.reconcile_all();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        calls(&w, "/addPassword"),
        attempts,
        "no call before the retry time"
    );

    // The next attempt fails too and backs off further; then the storm passes.
    w.advance(Duration::from_secs(91));
    w.wait_for("throttled", "a second failure", |o| {
        failure_of(o).is_some_and(|(_, n)| n == 2)
    })
    .await;
    w.em.clear_faults();
    w.advance(Duration::from_secs(3600));
    let ready = w.wait_ready("throttled").await;
    assert_eq!(ready.status.clone().unwrap().failure, None, "the failure clears");
    assert_eq!(
        cond(&ready, condition::DEGRADED).unwrap().reason,
        reason::AS_EXPECTED
    );
    assert_eq!(
        w.passwords(0).len(),
        1,
        "no orphan left by the throttled attempts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_outage_backs_off_and_recovers() {
    let mut w = World::new(1).await;
    w.em.inject_fault(graph_fault("^/v1.0/", 503, None)).unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("outage", spec(&client_id, "creds", json!({})))
        .await;
    let failed = w
        .wait_for("outage", "failing with ProviderUnavailable", |o| {
            failure_of(o).is_some_and(|(r, _)| r == "ProviderUnavailable")
        })
        .await;
    assert_eq!(
        cond(&failed, condition::DEGRADED).unwrap().reason,
        "ProviderUnavailable"
    );
    let attempts = calls(&w, "");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(calls(&w, ""), attempts, "no call before the retry time");
    w.em.clear_faults();
    w.advance(Duration::from_secs(120));
    w.wait_ready("outage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_propagation_is_waited_out_before_anything_uses_the_secret() {
    let mut w = World::new(1).await;
    w.em.set_consistency(
        ConsistencyScope::Application(w.app(0).app_id.clone()),
        Consistency {
            propagation_delay: Duration::from_secs(180),
            ..Consistency::default()
        },
    )
    .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("slow", spec(&client_id, "creds", json!({"verifyTimeout": "10m"})))
        .await;
    w.wait_for("slow", "verifying", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.rotation.as_ref())
            .is_some_and(|r| r.phase == RotationPhase::Verifying)
    })
    .await;
    assert_eq!(
        w.secret_value("creds", "client-secret").await,
        None,
        "not written before it works"
    );
    // Minutes pass (30 times faster than real time).
    w.warp(30);
    let ready = w.wait_ready("slow").await;
    w.normal_time();
    let value = w.secret_value("creds", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &value));
    let refused =
        w.em.audit_log()
            .iter()
            .filter(|e| e.path.ends_with("/token") && e.caller_app.as_deref() == Some(client_id.as_str()))
            .filter(|e| e.status != 200)
            .count();
    assert!(
        refused >= 3,
        "checks were refused while the secret propagated ({refused})"
    );
    assert_eq!(ready.status.unwrap().rotation_count, 1, "one rotation, no retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifetime_policy_blocks_with_its_reason_until_the_spec_fits() {
    let mut w = World::new(1).await;
    w.em.set_tenant_app_management_policy(
        &w.tenant,
        TenantAppManagementPolicy {
            is_enabled: true,
            application_restrictions: AppManagementConfiguration {
                password_credentials: vec![PasswordCredentialConfiguration {
                    restriction_type: "passwordLifetime".into(),
                    max_lifetime: Some("P1D".into()),
                    restrict_for_apps_created_after_date_time: None,
                    state: None,
                }],
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("capped", spec(&client_id, "creds", json!({"lifetime": "48h"})))
        .await;
    let failed = w
        .wait_for("capped", "refused by the policy", |o| {
            failure_of(o).is_some_and(|(r, _)| r == "LifetimeExceedsPolicy")
        })
        .await;
    let f = failed.status.clone().unwrap().failure.unwrap();
    assert!(!f.retryable, "a policy does not go away by waiting");
    assert_eq!(
        cond(&failed, condition::DEGRADED).unwrap().reason,
        "LifetimeExceedsPolicy"
    );
    // A spec that fits is retried at once (new generation), without waiting for the backoff.
    w.patch_spec("capped", json!({"lifetime": "12h"})).await;
    let ready = w.wait_ready("capped").await;
    let current = ready.status.unwrap().current.unwrap();
    assert!(current.expires_at.0 <= w.em.now() + Duration::from_secs(12 * 3600 + 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_that_never_completes_keeps_the_previous_secret_and_says_so() {
    let (w, sim) = web_rotation("stuck", json!({"overlap": "0s"})).await;
    w.wait_ready("stuck").await;
    let old = w.secret_value("creds", "client-secret").await.unwrap();
    sim.stall("deployments", "web", true);
    w.annotate("stuck", wellknown::ANNOTATION_ROTATE, "1").await;
    w.wait_for("stuck", "rolling out", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.rotation.as_ref())
            .is_some_and(|r| r.phase == RotationPhase::RollingOut && !r.rolled_targets.is_empty())
    })
    .await;
    w.advance(Duration::from_secs(31 * 60));
    let stalled = w
        .wait_for("stuck", "reported stalled", |o| {
            cond(o, condition::DEGRADED).is_some_and(|c| c.reason == reason::ROLLOUT_STALLED)
        })
        .await;
    assert_eq!(cond(&stalled, condition::ROTATING).unwrap().status, "True");
    assert!(
        w.authenticates(0, &old),
        "the previous secret stays valid while pods may use it"
    );
    assert!(stalled.status.unwrap().previous.is_some());

    sim.stall("deployments", "web", false);
    let done = w.wait_ready("stuck").await;
    assert_eq!(
        cond(&done, condition::DEGRADED).unwrap().reason,
        reason::AS_EXPECTED
    );
    assert!(!w.authenticates(0, &old), "retired once the rollout completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_faults_and_dropped_watches_are_survived() {
    let mut w = World::new(2).await;
    w.start_operator();
    // Watches dropped and their history compacted (every watcher relists on 410 Gone).
    w.api.drop_watches();
    w.api.compact_history();
    let client_id = w.app(0).app_id.clone();
    // The Secret write conflicts twice; status writes fail with 500 three times.
    w.api
        .inject_fault(
            ApiFault::fail(409)
                .verb("patch")
                .resource("secrets")
                .name("creds")
                .user(OPERATOR_USER)
                .times(2),
        )
        .unwrap();
    w.api
        .inject_fault(
            ApiFault::fail(500)
                .verb("patch")
                .resource("clientsecretrotations")
                .subresource("status")
                .user(OPERATOR_USER)
                .times(3),
        )
        .unwrap();
    w.create_rotation("bumpy", spec(&client_id, "creds", json!({})))
        .await;
    let failed = w
        .wait_for("bumpy", "the Secret write failed", |o| {
            failure_of(o).is_some_and(|(r, _)| r == "KubernetesApiError")
        })
        .await;
    assert_eq!(failed.status.unwrap().failure.unwrap().step, "WriteSecret");
    // Backed off in status; at the retry time it conflicts once more, then the conflicts are over.
    w.advance(Duration::from_secs(31));
    w.wait_for("bumpy", "failed twice", |o| {
        failure_of(o).is_some_and(|(_, n)| n == 2)
    })
    .await;
    w.advance(Duration::from_secs(61));
    w.wait_ready("bumpy").await;
    assert_eq!(w.mints(), 1, "the failures did not mint twice");

    // A watch drop in the middle of another rotation does not lose it.
    let second = w.app(1).app_id.clone();
    w.create_rotation("after-drop", spec(&second, "creds-2", json!({})))
        .await;
    w.api.drop_watches();
    w.api.compact_history();
    w.wait_ready("after-drop").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mint_whose_answer_is_lost_leaves_no_orphan() {
    let mut w = World::new(1).await;
    // Entra adds the credential, but the answer (with its secret) never reaches the operator.
    w.em.inject_fault(FaultRule {
        method: Some("POST".into()),
        path: "addPassword$".into(),
        action: FaultAction::LoseResponse,
        times: Some(1),
        rate: None,
    })
    .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("lost", spec(&client_id, "creds", json!({})))
        .await;
    let ready = w.wait_ready("lost").await;
    assert!(calls(&w, "/addPassword") >= 2, "the mint was tried again");
    let value = w.secret_value("creds", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &value), "the Secret holds a working secret");
    // The credential whose secret was lost is an orphan: nobody can use it, so it is revoked.
    let current = ready.status.clone().unwrap().current.unwrap().key_id;
    let started = std::time::Instant::now();
    loop {
        let left: Vec<String> = w.passwords(0).into_iter().map(|p| p.key_id).collect();
        if left == [current.clone()] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "credentials left at Entra: {left:?}, current {current}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
