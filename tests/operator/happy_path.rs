//! The happy path: a provider and a rotation in, a working secret out, conditions for
//! `kubectl wait`, printer-column fields, events for each step, and a requeue exactly at the
//! renewal time with nothing polled meanwhile.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use secret_rotator::api::wellknown::{self, condition, event, reason};
use serde_json::json;

use crate::support::{
    workloads::{Workloads, create_workload, workload},
    world::{NS, World, condition as cond, spec},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path_issues_a_working_secret_and_requeues_at_the_renewal_time() {
    let mut w = World::new(1).await;
    let _sim = Workloads::start(&w.api, &w.em);
    create_workload(
        &w.client,
        workload("Deployment", "web", 2, "app-credentials", "client-secret"),
    )
    .await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "my-app",
        spec(
            &client_id,
            "app-credentials",
            json!({
                "lifetime": "1m",
                "renewBefore": "40s",
                "overlap": "0s",
                "rolloutTargets": [{"kind": "Deployment", "name": "web"}],
                "secret": {"labels": {"team": "a"}, "annotations": {"owner": "payments"}},
            }),
        ),
    )
    .await;
    let ready = w.wait_ready("my-app").await;
    let status = ready.status.clone().unwrap();

    // The Secret holds a working secret, the client and tenant ids, and its expiry.
    let value = w.secret_value("app-credentials", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &value), "the written secret authenticates");
    assert_eq!(
        w.secret_value("app-credentials", "client-id").await.as_deref(),
        Some(client_id.as_str())
    );
    assert_eq!(
        w.secret_value("app-credentials", "tenant-id").await.as_deref(),
        Some(w.tenant.as_str())
    );
    let current = status.current.clone().unwrap();
    assert_eq!(
        w.secret_value("app-credentials", "expires-at").await.unwrap(),
        secret_rotator::rotation::plan::rfc3339(current.expires_at.0)
    );
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    let secret = secrets.get("app-credentials").await.unwrap();
    assert_eq!(
        secret.labels().get(wellknown::LABEL_MANAGED).map(String::as_str),
        Some("true")
    );
    assert_eq!(
        secret.labels().get(wellknown::LABEL_ROLE).map(String::as_str),
        Some("target")
    );
    assert_eq!(secret.labels().get("team").map(String::as_str), Some("a"));
    assert_eq!(
        secret.annotations().get("owner").map(String::as_str),
        Some("payments")
    );
    assert_eq!(
        secret.annotations().get(wellknown::ANNOTATION_KEY_ID),
        Some(&current.key_id)
    );
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("ClientSecretRotation", Some(true))
    );
    assert_eq!(Some(&owner.uid), ready.metadata.uid.as_ref());
    assert!(
        secrets
            .get_opt(&wellknown::staging_secret_name("my-app"))
            .await
            .unwrap()
            .is_none(),
        "the staging Secret is gone"
    );

    // Conditions `kubectl wait --for=condition=Ready` reads, and the printer-column fields.
    let ready_cond = cond(&ready, condition::READY).unwrap();
    assert_eq!(
        (ready_cond.status.as_str(), ready_cond.reason.as_str()),
        ("True", reason::UP_TO_DATE)
    );
    assert_eq!(ready_cond.observed_generation, ready.metadata.generation);
    assert_eq!(cond(&ready, condition::ROTATING).unwrap().status, "False");
    assert_eq!(cond(&ready, condition::DEGRADED).unwrap().status, "False");
    assert_eq!(status.observed_generation, ready.metadata.generation);
    let renewal = status
        .renewal_time
        .clone()
        .expect("renewalTime (Next Rotation column)");
    assert!(renewal.0 < current.expires_at.0, "renewal before expiry");
    assert!(
        renewal.0 >= current.expires_at.0 - Duration::from_secs(44),
        "renewal within the 40 s window (plus at most 10 % jitter)"
    );
    assert_eq!(status.rotation_count, 1);
    assert!(status.last_rotation_time.is_some());

    // The workload was restarted with the new secret version and rolled out.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(w.client.clone(), NS);
    let web = deployments.get("web").await.unwrap();
    let template = web.spec.unwrap().template.metadata.unwrap().annotations.unwrap();
    assert_eq!(
        template.get(&wellknown::pod_template_annotation_key("my-app")),
        Some(&wellknown::secret_version(&current.key_id))
    );
    assert!(
        web.metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|m| { m.manager.as_deref() == Some(wellknown::FIELD_MANAGER_ROLLOUT) }),
        "the restart has its own field manager"
    );

    // An event for each step.
    w.wait_events(
        "my-app",
        &[
            event::ROTATION_STARTED,
            event::MINTED,
            event::VERIFIED,
            event::PROMOTED,
            event::ROLLOUT_STARTED,
            event::ROLLOUT_COMPLETE,
            event::ROTATED,
        ],
    )
    .await;

    // Idle until the renewal time: no Graph call, no API request beyond watches.
    w.api.clear_access_log();
    w.em.clear_audit_log();
    let idle_until = renewal.0 - Duration::from_secs(1);
    let idle = idle_until.duration_since(w.em.now()).unsigned_abs();
    assert!(
        idle > Duration::from_secs(1),
        "an idle window to observe ({idle:?})"
    );
    tokio::time::sleep(idle).await;
    assert_eq!(w.graph_calls(), vec![], "no Graph call while idle");
    assert_eq!(
        w.operator_requests(),
        vec![],
        "no API request beyond watches while idle"
    );

    // At the renewal time the operator wakes up by itself and rotates.
    let second = w
        .wait_for("my-app", "rotated a second time", |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.rotation_count >= 2 && s.rotation.is_none())
        })
        .await;
    let started = w
        .graph_calls()
        .into_iter()
        .find(|e| e.path.ends_with("/addPassword"))
        .expect("a mint");
    assert!(started.time >= renewal.0, "not before the renewal time");
    assert!(
        started.time <= renewal.0 + Duration::from_secs(10),
        "soon after the renewal time ({} vs {})",
        started.time,
        renewal.0
    );
    let new_value = w.secret_value("app-credentials", "client-secret").await.unwrap();
    assert_ne!(new_value, value);
    assert!(w.authenticates(0, &new_value));
    assert!(
        !w.authenticates(0, &value),
        "the previous secret is revoked after the overlap"
    );
    assert_eq!(second.status.unwrap().previous, None);
}
