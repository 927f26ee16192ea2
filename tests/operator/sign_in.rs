//! How the operator signs in: a namespaced provider's workload identity through a service-account
//! token from the TokenRequest API (exchanged at Entra through a federated credential that trusts
//! the cluster's issuer), and the operator itself running with nothing but the RBAC it ships
//! (`deploy/rbac.yaml`) under its own service account.

use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::{
    Api,
    api::{DynamicObject, PostParams},
    discovery::ApiResource,
};
use sandbox::entra::FederatedCredentialSpec;
use secret_rotator::api::{IdentityProvider, wellknown};
use serde_json::{Value, json};

use crate::support::{
    workloads::{Workloads, create_workload, workload},
    world::{NS, World, spec},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaced_provider_signs_in_as_its_service_account_through_token_request() {
    let mut w = World::new(1).await;
    // Entra trusts the cluster's service-account issuer for `team-a/rotator`.
    let issuer = w.api.service_account_issuer();
    w.em.trust_issuer(&issuer, w.api.service_account_jwks().unwrap())
        .unwrap();
    w.em.add_federated_credential(
        &w.operator_app.app_id,
        FederatedCredentialSpec::kubernetes("team-a-rotator", &issuer, NS, "rotator"),
    )
    .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(w.client.clone(), NS);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "rotator"}})).unwrap(),
        )
        .await
        .unwrap();
    let providers: Api<IdentityProvider> = Api::namespaced(w.client.clone(), NS);
    providers
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": wellknown::API_VERSION,
                "kind": "IdentityProvider",
                "metadata": {"name": "federated"},
                "spec": {
                    "tenantId": w.tenant,
                    "endpoints": w.endpoints(),
                    "auth": {"workloadIdentity": {
                        "clientId": w.operator_app.app_id,
                        "serviceAccountName": "rotator",
                    }},
                },
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "federated",
        spec(&client_id, "creds", json!({"providerRef": {"name": "federated"}})),
    )
    .await;
    w.wait_ready("federated").await;
    let value = w.secret_value("creds", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &value));
    let token_requests = w
        .operator_requests()
        .into_iter()
        .filter(|r| r.resource == "serviceaccounts" && r.subresource == "token" && r.name == "rotator")
        .count();
    assert!(
        token_requests >= 1,
        "the operator asked for the service account's token"
    );
    // Signed in with the federated token, not with a secret.
    let sign_ins: Vec<_> =
        w.em.audit_log()
            .into_iter()
            .filter(|e| {
                e.path.ends_with("/token") && e.caller_app.as_deref() == Some(w.operator_app.app_id.as_str())
            })
            .collect();
    assert!(!sign_ins.is_empty() && sign_ins.iter().all(|e| e.status == 200));
}

/// Creates every object of a multi-document manifest through the generic API.
async fn apply_manifest(w: &World, path: &str) {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
        if doc.is_null() {
            continue;
        }
        let (api_version, kind) = (doc["apiVersion"].as_str().unwrap(), doc["kind"].as_str().unwrap());
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let plural = format!("{}s", kind.to_lowercase());
        let resource = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural,
        };
        let object: DynamicObject = serde_json::from_value(doc.clone()).unwrap();
        let api: Api<DynamicObject> = match object.metadata.namespace.as_deref() {
            Some(ns) => Api::namespaced_with(w.client.clone(), ns, &resource),
            None => Api::all_with(w.client.clone(), &resource),
        };
        api.create(&PostParams::default(), &object).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_needs_nothing_beyond_the_rbac_it_ships() {
    let mut w = World::new(1).await;
    w.create_namespace("secret-rotator").await;
    apply_manifest(&w, "deploy/serviceaccount.yaml").await;
    apply_manifest(&w, "deploy/rbac.yaml").await;
    let token = w
        .api
        .service_account_token("secret-rotator", "secret-rotator", &[], Duration::from_secs(3600))
        .unwrap();
    use secrecy::ExposeSecret;
    w.operator_identity(
        token.expose_secret(),
        "system:serviceaccount:secret-rotator:secret-rotator",
    );

    let sim = Workloads::start(&w.api, &w.em);
    create_workload(
        &w.client,
        workload("Deployment", "web", 1, "creds", "client-secret"),
    )
    .await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "least-privilege",
        spec(
            &client_id,
            "creds",
            json!({"overlap": "0s", "deletionPolicy": "Revoke", "rolloutTargets": [{"kind": "Deployment", "name": "web"}]}),
        ),
    )
    .await;
    w.wait_ready("least-privilege").await;
    w.annotate("least-privilege", wellknown::ANNOTATION_ROTATE, "again")
        .await;
    w.wait_for("least-privilege", "rotated again", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.handled_rotate_request.is_some() && s.rotation.is_none())
    })
    .await;
    drop(sim);
    let denied: Vec<_> = w
        .api
        .access_log()
        .into_iter()
        .filter(|r| r.user == w.operator_user() && (r.code == 401 || r.code == 403))
        .collect();
    assert_eq!(
        denied,
        vec![],
        "every request of the operator is allowed by deploy/rbac.yaml"
    );
    assert!(
        w.operator_requests()
            .iter()
            .any(|r| r.resource == "deployments" && r.verb == "patch"),
        "the rotation went through the whole cycle"
    );
}

async fn provider_ready(w: &World, name: &str) -> (String, String) {
    let providers: Api<IdentityProvider> = Api::namespaced(w.client.clone(), NS);
    let deadline = std::time::Instant::now() + crate::support::world::PATIENCE;
    loop {
        let p = providers.get(name).await.unwrap();
        let ready = p.status.as_ref().and_then(|s| {
            (s.observed_generation == p.metadata.generation)
                .then(|| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .flatten()
        });
        if let Some(c) = ready {
            return (c.status.clone(), c.reason.clone());
        }
        assert!(std::time::Instant::now() < deadline, "{name}: no Ready condition");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_report_whether_the_operator_can_sign_in() {
    let mut w = World::new(0).await;
    w.start_operator();
    assert_eq!(
        provider_ready(&w, "entra").await,
        ("True".into(), wellknown::reason::SIGNED_IN.into())
    );

    // A wrong secret, and a missing Secret.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(w.client.clone(), NS);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "wrong"}, "stringData": {"client-secret": "not-the-secret"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    w.create_identity_provider(NS, "wrong-secret", "wrong").await;
    w.create_identity_provider(NS, "no-secret", "missing").await;
    assert_eq!(
        provider_ready(&w, "wrong-secret").await,
        ("False".into(), "InvalidOperatorCredential".into())
    );
    assert_eq!(
        provider_ready(&w, "no-secret").await,
        ("False".into(), "SignInSecretUnavailable".into())
    );

    // Fixed (pointed at the right Secret): Ready again.
    let providers: Api<IdentityProvider> = Api::namespaced(w.client.clone(), NS);
    providers
        .patch(
            "no-secret",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"spec": {"auth": {"clientSecret": {"secretRef": {"name": "entra-operator"}}}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        provider_ready(&w, "no-secret").await,
        ("True".into(), wellknown::reason::SIGNED_IN.into())
    );
}
