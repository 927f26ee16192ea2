//! The examples in `deploy/examples/`: every custom resource fits the Rust types and the
//! examples refer to each other consistently; the GitOps examples name the operator's real field
//! manager and pod-template annotation, so what users copy matches what the operator writes. (The
//! CRDs' schemas and CEL rules are applied to the examples by the sandbox API server, in
//! tests/chart.rs.)

use std::path::Path;

use secret_rotator::api::{ClientSecretRotation, ClusterIdentityProvider, IdentityProvider, wellknown};
use serde_json::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn custom_resource_examples_fit_the_rust_types() {
    let mut kinds = vec![];
    for file in [
        "cluster-identity-provider-workload-identity.yaml",
        "identity-provider-client-secret.yaml",
        "client-secret-rotation.yaml",
    ] {
        for doc in documents(file) {
            let kind = doc["kind"].as_str().unwrap().to_owned();
            let fits = match kind.as_str() {
                "ClientSecretRotation" => serde_json::from_value::<ClientSecretRotation>(doc).map(|_| ()),
                "ClusterIdentityProvider" => {
                    serde_json::from_value::<ClusterIdentityProvider>(doc).map(|_| ())
                }
                "IdentityProvider" => serde_json::from_value::<IdentityProvider>(doc).map(|_| ()),
                other => panic!("{file}: unexpected kind {other}"),
            };
            fits.unwrap_or_else(|e| panic!("{file}: {e}"));
            kinds.push(kind);
        }
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "ClientSecretRotation",
            "ClusterIdentityProvider",
            "IdentityProvider"
        ]
    );
}

#[test]
fn examples_reference_each_other_consistently() {
    let cidp = &documents("cluster-identity-provider-workload-identity.yaml")[0];
    let idp = &documents("identity-provider-client-secret.yaml")[0];
    assert!(cidp["spec"]["auth"]["workloadIdentity"].is_object());
    assert!(idp["spec"]["auth"]["clientSecret"].is_object());
    let rotations = documents("client-secret-rotation.yaml");
    let by_provider = |kind: &str| {
        rotations
            .iter()
            .find(|r| {
                r["spec"]["providerRef"]["kind"]
                    .as_str()
                    .unwrap_or("IdentityProvider")
                    == kind
            })
            .unwrap_or_else(|| panic!("a rotation using a {kind}"))
    };
    let cluster = by_provider("ClusterIdentityProvider");
    assert_eq!(cluster["spec"]["providerRef"]["name"], cidp["metadata"]["name"]);
    // The cluster provider grants the rotation's namespace this application.
    let ns = &cluster["metadata"]["namespace"];
    let app = &cluster["spec"]["application"]["clientId"];
    assert!(cidp["spec"]["grants"].as_array().unwrap().iter().any(|g| {
        g["namespaces"].as_array().is_some_and(|n| n.contains(ns))
            && g["applicationIds"].as_array().is_some_and(|a| a.contains(app))
    }));
    let local = by_provider("IdentityProvider");
    assert_eq!(local["spec"]["providerRef"]["name"], idp["metadata"]["name"]);
    assert_eq!(local["metadata"]["namespace"], idp["metadata"]["namespace"]);
}

#[test]
fn argo_cd_example_ignores_exactly_what_the_operator_writes() {
    let app = &documents("argocd-application.yaml")[0];
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    let ignored = app["spec"]["ignoreDifferences"]
        .as_array()
        .expect("ignoreDifferences");
    for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
        let entry = ignored
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no ignoreDifferences entry for {kind}"));
        assert_eq!(entry["group"], "apps");
        assert_eq!(
            entry["managedFieldsManagers"],
            serde_json::json!([wellknown::FIELD_MANAGER_ROLLOUT]),
            "{kind}: the manager must be the operator's rollout field manager"
        );
    }
    let options: Vec<&str> = app["spec"]["syncPolicy"]["syncOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(options.contains(&"RespectIgnoreDifferences=true"));
    // The commented jq alternative names the real annotation prefix.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/argocd-application.yaml"),
    )
    .unwrap();
    let prefix = format!("{}/", wellknown::POD_TEMPLATE_ANNOTATION_PREFIX);
    assert!(text.contains(&format!("startswith(\"{prefix}\")")));
    assert!(wellknown::pod_template_annotation_key("my-app").starts_with(&prefix));
}

#[test]
fn flux_example_is_a_kustomization_and_names_the_annotation() {
    let ks = &documents("flux-kustomization.yaml")[0];
    assert_eq!(ks["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(ks["kind"], "Kustomization");
    assert!(ks["spec"]["sourceRef"]["name"].is_string());
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples/flux-kustomization.yaml"),
    )
    .unwrap();
    assert!(text.contains(wellknown::POD_TEMPLATE_ANNOTATION_PREFIX));
    assert!(text.contains(wellknown::FIELD_MANAGER_ROLLOUT));
}
