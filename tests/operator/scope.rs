//! `--namespace`: an operator scoped to one namespace watches, acts and exports metrics only there.

use std::time::Duration;

use kube::{Api, api::PostParams};
use secret_rotator::api::{ClientSecretRotation, wellknown};
use serde_json::json;

use crate::support::world::{NS, World, spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_scoped_to_one_namespace_leaves_the_others_alone() {
    let mut w = World::new(2).await;
    w.create_namespace("team-b").await;
    w.create_operator_secret("team-b", "entra-operator").await;
    w.create_identity_provider("team-b", "entra", "entra-operator")
        .await;
    w.config.namespace = Some(NS.to_owned());
    w.start_operator();

    let outside: Api<ClientSecretRotation> = Api::namespaced(w.client.clone(), "team-b");
    outside
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": wellknown::API_VERSION, "kind": "ClientSecretRotation",
                "metadata": {"name": "elsewhere"},
                "spec": spec(&w.app(1).app_id, "creds", json!({})),
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation("inside", spec(&client_id, "creds", json!({})))
        .await;
    w.wait_ready("inside").await;
    w.reconcile_all();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let untouched = outside.get("elsewhere").await.unwrap();
    assert_eq!(untouched.status, None, "no status written outside the namespace");
    assert!(
        untouched.metadata.finalizers.is_none(),
        "no finalizer added outside the namespace"
    );
    assert!(
        w.passwords(1).is_empty(),
        "nothing minted for the other namespace"
    );
    let elsewhere: Vec<_> = w
        .operator_requests()
        .into_iter()
        .filter(|r| r.namespace == "team-b")
        .collect();
    assert_eq!(elsewhere, vec![], "no request into the other namespace");
    let scrape = w.scrape().await;
    assert!(!scrape.of_rotation(NS, "inside").is_empty(), "{}", scrape.text);
    assert!(
        scrape.of_rotation("team-b", "elsewhere").is_empty(),
        "no series for a rotation outside the namespace"
    );
}
