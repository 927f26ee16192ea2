//! Tenancy: a rotation cannot use a provider, an application, a Secret or a workload it was not
//! granted. Each denial ends in a `Degraded` condition with a stable reason, before any Graph
//! call and without touching anything.

use std::time::Duration;

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Namespace, Secret},
};
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use secret_rotator::api::{
    ClusterIdentityProvider,
    wellknown::{self, condition, reason},
};
use serde_json::{Value, json};

use crate::support::{
    workloads::workload,
    world::{NS, World, condition as cond, spec},
};

async fn create_namespace(w: &World, name: &str, labels: Value) {
    let namespaces: Api<Namespace> = Api::all(w.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap(),
        )
        .await
        .unwrap();
}

async fn create_cluster_provider(w: &World, name: &str, grants: Value) {
    w.create_operator_secret("secret-rotator", "entra-operator").await;
    let providers: Api<ClusterIdentityProvider> = Api::all(w.client.clone());
    providers
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": wellknown::API_VERSION,
                "kind": "ClusterIdentityProvider",
                "metadata": {"name": name},
                "spec": {
                    "tenantId": w.tenant,
                    "endpoints": w.endpoints(),
                    "auth": {"clientSecret": {
                        "clientId": w.operator_app.app_id,
                        "secretRef": {"namespace": "secret-rotator", "name": "entra-operator", "key": "client-secret"},
                    }},
                    "grants": grants,
                },
            }))
            .unwrap(),
        )
        .await
        .unwrap();
}

async fn degraded_with(w: &World, ns: &str, name: &str, want: &str) {
    let api: Api<secret_rotator::api::ClientSecretRotation> = Api::namespaced(w.client.clone(), ns);
    let cond_of = |o: &secret_rotator::api::ClientSecretRotation| {
        cond(o, condition::DEGRADED).map(|c| (c.status.clone(), c.reason.clone()))
    };
    let found = tokio::time::timeout(
        crate::support::world::PATIENCE,
        kube::runtime::wait::await_condition(
            api,
            name,
            move |o: Option<&secret_rotator::api::ClientSecretRotation>| {
                o.and_then(cond_of) == Some(("True".into(), want.into()))
            },
        ),
    )
    .await;
    assert!(found.is_ok(), "{ns}/{name}: Degraded={want} in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_denies_providers_applications_secrets_and_workloads_not_granted() {
    let mut w = World::new(3).await;
    create_namespace(&w, "secret-rotator", json!({})).await;
    create_namespace(&w, "team-b", json!({"team": "b"})).await;
    create_cluster_provider(
        &w,
        "shared",
        json!([
            {"namespaces": ["team-a"], "applicationIds": [w.app(0).app_id]},
            {"namespaceSelector": {"matchLabels": {"team": "c"}}},
        ]),
    )
    .await;
    // A Secret and a Deployment of someone else, in team-a and team-b.
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "collides-staging"}, "stringData": {"x": "users data"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let team_b_deployments: Api<Deployment> = Api::namespaced(w.client.clone(), "team-b");
    team_b_deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(workload("Deployment", "web-b", 1, "creds", "client-secret")).unwrap(),
        )
        .await
        .unwrap();
    w.start_operator();
    let rotations_b: Api<secret_rotator::api::ClientSecretRotation> =
        Api::namespaced(w.client.clone(), "team-b");

    // 1. A namespaced provider of another namespace: rotations have no namespace field, so the
    //    `entra` provider of team-a is simply not there for team-b.
    rotations_b
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": wellknown::API_VERSION, "kind": "ClientSecretRotation",
                "metadata": {"name": "borrows-provider"},
                "spec": spec(&w.app(0).app_id, "creds", json!({})),
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    degraded_with(&w, "team-b", "borrows-provider", reason::PROVIDER_NOT_FOUND).await;

    // 2. A cluster provider that does not grant the namespace.
    rotations_b
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": wellknown::API_VERSION, "kind": "ClientSecretRotation",
                "metadata": {"name": "not-granted"},
                "spec": spec(&w.app(0).app_id, "creds", json!({"providerRef": {"kind": "ClusterIdentityProvider", "name": "shared"}})),
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    degraded_with(&w, "team-b", "not-granted", reason::PROVIDER_NOT_ALLOWED).await;

    // 3. A granted namespace, but an application outside the grant.
    w.create_rotation(
        "other-app",
        spec(
            &w.app(1).app_id,
            "creds-1",
            json!({"providerRef": {"kind": "ClusterIdentityProvider", "name": "shared"}}),
        ),
    )
    .await;
    degraded_with(&w, NS, "other-app", reason::APPLICATION_NOT_ALLOWED).await;

    // 4. A Secret that is not the rotation's: its staging name is taken by a user's Secret.
    w.create_rotation("collides", spec(&w.app(2).app_id, "creds-2", json!({})))
        .await;
    degraded_with(&w, NS, "collides", "SecretNotOwned").await;
    assert_eq!(
        secrets.get("collides-staging").await.unwrap().data.unwrap()["x"].0,
        b"users data",
        "the user's Secret is untouched"
    );

    // None of them minted anything.
    w.reconcile_all();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.mints(), 0, "nothing minted for a denied rotation");

    // 5. The granted application works through the cluster provider, and its rollout target
    //    can only be a workload of its own namespace: team-b's Deployment of the same name is
    //    never touched.
    team_b_deployments
        .patch(
            "web-b",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"probe": "1"}}})),
        )
        .await
        .unwrap();
    w.create_rotation(
        "granted",
        spec(
            &w.app(0).app_id,
            "creds-0",
            json!({
                "providerRef": {"kind": "ClusterIdentityProvider", "name": "shared"},
                "rolloutTargets": [{"kind": "Deployment", "name": "web-b"}],
            }),
        ),
    )
    .await;
    w.wait_ready("granted").await;
    let untouched = team_b_deployments.get("web-b").await.unwrap();
    assert!(
        untouched
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap_or_default()
            .is_empty(),
        "team-b's workload is not restarted"
    );

    // 6. Labels granting a namespace: team-b becomes team c, and the denied rotation goes through.
    let namespaces: Api<Namespace> = Api::all(w.client.clone());
    namespaces
        .patch(
            "team-b",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"team": "c"}}})),
        )
        .await
        .unwrap();
    let ready = w_wait_ready_in(&w, "team-b", "not-granted").await;
    assert_eq!(cond(&ready, condition::READY).unwrap().status, "True");
    w.stop_operator().await;
}

async fn w_wait_ready_in(w: &World, ns: &str, name: &str) -> secret_rotator::api::ClientSecretRotation {
    let api: Api<secret_rotator::api::ClientSecretRotation> = Api::namespaced(w.client.clone(), ns);
    tokio::time::timeout(
        crate::support::world::PATIENCE,
        kube::runtime::wait::await_condition(
            api,
            name,
            |o: Option<&secret_rotator::api::ClientSecretRotation>| {
                o.is_some_and(|o| cond(o, condition::READY).is_some_and(|c| c.status == "True"))
            },
        ),
    )
    .await
    .expect("Ready in time")
    .unwrap()
    .unwrap()
}
