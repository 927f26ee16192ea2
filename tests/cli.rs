//! `secret-rotator rotate` and `secret-rotator status` against the sandbox API server: the
//! command logic through an in-process `kube::Client`, and the real binary through a kubeconfig
//! pointing at the server's TCP listener (flags, `KUBECONFIG`, `--context`, exit codes).

use std::{path::Path, process::Command, time::Duration};

use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::Namespace, apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::wait::{await_condition, conditions},
};
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer};
use secret_rotator::{
    api::{ClientSecretRotation, wellknown},
    cli::{
        rotate::{self, RequestKind, RotateError},
        status::{self, Scope, StatusError},
    },
};
use serde_json::json;

fn install_rustls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in secret_rotator::api::crds() {
        let name = crd.metadata.name.clone().unwrap();
        crds.create(&PostParams::default(), &crd).await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(60),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD established in time")
        .unwrap();
    }
}

async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

/// Creates a rotation (the shape of deploy/examples/client-secret-rotation.yaml) and, when given,
/// its status (as the operator would write it).
async fn create_rotation(client: &Client, namespace: &str, name: &str, status: Option<serde_json::Value>) {
    let api: Api<ClientSecretRotation> = Api::namespaced(client.clone(), namespace);
    let rotation: ClientSecretRotation = serde_json::from_value(json!({
        "apiVersion": wellknown::API_VERSION,
        "kind": "ClientSecretRotation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "providerRef": {"kind": "ClusterIdentityProvider", "name": "corp-entra"},
            "application": {"clientId": "46e6adf4-0000-4b60-9390-0ba6fb00bf6b"},
            "secret": {"name": format!("{name}-credentials")},
            "rolloutTargets": [{"kind": "Deployment", "name": "web"}]
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &rotation).await.unwrap();
    if let Some(status) = status {
        api.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
    }
}

fn healthy_status() -> serde_json::Value {
    json!({
        "observedGeneration": 1,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "UpToDate", "message": "", "lastTransitionTime": "2026-11-25T09:00:00Z", "observedGeneration": 1},
            {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": "", "lastTransitionTime": "2026-11-25T09:00:00Z", "observedGeneration": 1}
        ],
        "current": {
            "keyId": "3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80",
            "hint": "Abc",
            "origin": "Minted",
            "rotation": 2,
            "expiresAt": "2099-02-23T10:00:00Z"
        },
        "renewalTime": "2099-01-24T10:00:00Z",
        "rotationCount": 2
    })
}

fn failing_status() -> serde_json::Value {
    json!({
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "NotIssued", "message": "no credential yet", "lastTransitionTime": "2026-11-25T09:00:00Z"},
            {"type": "Degraded", "status": "True", "reason": "AuthorizationDenied", "message": "Graph answered 403", "lastTransitionTime": "2026-11-25T09:00:00Z"}
        ],
        "rotationCount": 1
    })
}

async fn annotations(
    client: &Client,
    namespace: &str,
    name: &str,
) -> std::collections::BTreeMap<String, String> {
    let api: Api<ClientSecretRotation> = Api::namespaced(client.clone(), namespace);
    api.get(name)
        .await
        .unwrap()
        .metadata
        .annotations
        .unwrap_or_default()
}

#[tokio::test]
async fn rotate_sets_the_request_annotation_and_every_request_is_new() {
    let server = ApiServer::new();
    let client = server.client();
    install_crds(&client).await;
    create_namespace(&client, "team-a").await;
    create_rotation(&client, "team-a", "my-app", Some(healthy_status())).await;
    let api: Api<ClientSecretRotation> = Api::namespaced(client.clone(), "team-a");

    let first: Timestamp = "2026-11-25T10:00:00.5Z".parse().unwrap();
    let requested = rotate::request(&api, "team-a", "my-app", RequestKind::Manual, first)
        .await
        .unwrap();
    assert_eq!(requested.annotation, wellknown::ANNOTATION_ROTATE);
    assert_eq!(requested.value, "2026-11-25T10:00:00.5Z");
    assert!(!requested.suspended);
    let a = annotations(&client, "team-a", "my-app").await;
    assert_eq!(
        a.get(wellknown::ANNOTATION_ROTATE).map(String::as_str),
        Some("2026-11-25T10:00:00.5Z")
    );
    assert!(!a.contains_key(wellknown::ANNOTATION_EMERGENCY_ROTATE));

    // A second request, even at the same instant, is a new value: the operator acts on it again.
    let again = rotate::request(&api, "team-a", "my-app", RequestKind::Manual, first)
        .await
        .unwrap();
    assert_ne!(again.value, requested.value);
    let a = annotations(&client, "team-a", "my-app").await;
    assert_eq!(a.get(wellknown::ANNOTATION_ROTATE), Some(&again.value));

    // The spec and status are untouched.
    let after = api.get("my-app").await.unwrap();
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "annotations do not bump the generation"
    );
    assert_eq!(
        after.status.unwrap().current.unwrap().hint.as_deref(),
        Some("Abc")
    );
}

#[tokio::test]
async fn emergency_rotate_sets_only_the_emergency_annotation_and_says_so() {
    let server = ApiServer::new();
    let client = server.client();
    install_crds(&client).await;
    create_namespace(&client, "team-a").await;
    create_rotation(&client, "team-a", "leaked", None).await;
    let api: Api<ClientSecretRotation> = Api::namespaced(client.clone(), "team-a");
    let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
    let requested = rotate::request(&api, "team-a", "leaked", RequestKind::Emergency, now)
        .await
        .unwrap();
    let a = annotations(&client, "team-a", "leaked").await;
    assert_eq!(
        a.get(wellknown::ANNOTATION_EMERGENCY_ROTATE).map(String::as_str),
        Some("2026-11-25T10:00:00Z")
    );
    assert!(!a.contains_key(wellknown::ANNOTATION_ROTATE));
    let message = requested.to_string();
    assert!(
        message.contains("EMERGENCY rotation of clientsecretrotation team-a/leaked"),
        "{message}"
    );
}

#[tokio::test]
async fn rotate_of_a_missing_rotation_says_which_and_where() {
    let server = ApiServer::new();
    let client = server.client();
    install_crds(&client).await;
    create_namespace(&client, "team-a").await;
    let api: Api<ClientSecretRotation> = Api::namespaced(client.clone(), "team-a");
    let err = rotate::request(&api, "team-a", "nope", RequestKind::Manual, Timestamp::now())
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "clientsecretrotation \"nope\" not found in namespace \"team-a\" (list them with: secret-rotator status -A)"
    );
}

#[tokio::test]
async fn a_cluster_without_the_crds_is_reported_as_such() {
    let server = ApiServer::new();
    let client = server.client();
    let api: Api<ClientSecretRotation> = Api::namespaced(client.clone(), "default");
    let err = rotate::request(&api, "default", "my-app", RequestKind::Manual, Timestamp::now())
        .await
        .unwrap_err();
    assert!(matches!(err, RotateError::ApiNotInstalled), "{err:?}");
    assert!(err.to_string().contains("install the CRDs"), "{err}");
    let err = status::list(client, &Scope::All).await.unwrap_err();
    assert!(matches!(err, StatusError::ApiNotInstalled), "{err:?}");
}

#[tokio::test]
async fn status_lists_one_namespace_or_all_with_what_the_status_says() {
    let server = ApiServer::new();
    let client = server.client();
    install_crds(&client).await;
    for ns in ["team-a", "team-b"] {
        create_namespace(&client, ns).await;
    }
    create_rotation(&client, "team-a", "my-app", Some(healthy_status())).await;
    create_rotation(&client, "team-a", "broken", Some(failing_status())).await;
    create_rotation(&client, "team-b", "reporting", None).await;
    let now: Timestamp = "2099-01-01T10:00:00Z".parse().unwrap();

    let scope = Scope::Namespace("team-a".into());
    let rows = status::rows(&status::list(client.clone(), &scope).await.unwrap(), now);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["broken", "my-app"]);
    let healthy = &rows[1];
    assert_eq!(healthy.ready, "True");
    assert_eq!(healthy.key, "Abc…");
    assert_eq!(healthy.expires, "2099-02-23 10:00 (in 53d)");
    assert_eq!(healthy.next_rotation, "2099-01-24 10:00 (in 23d)");
    assert_eq!(healthy.last_error, "-");
    let broken = &rows[0];
    assert_eq!(broken.ready, "False");
    assert_eq!(broken.last_error, "AuthorizationDenied: Graph answered 403");

    let all = status::rows(&status::list(client.clone(), &Scope::All).await.unwrap(), now);
    assert_eq!(all.len(), 3);
    let table = status::render(&all, &Scope::All);
    assert!(table.starts_with("NAMESPACE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("team-b") && l.contains("reporting")),
        "{table}"
    );

    let empty = status::list(client, &Scope::Namespace("default".into()))
        .await
        .unwrap();
    assert_eq!(
        status::render(&status::rows(&empty, now), &Scope::Namespace("default".into())),
        "No ClientSecretRotations found in namespace \"default\".\n"
    );
}

/// Runs the real binary with `args`, HOME in `home` (so no user kubeconfig is found) and
/// optionally `KUBECONFIG`.
fn binary(args: &[&str], home: &Path, kubeconfig_env: Option<&Path>) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secret-rotator"));
    cmd.args(args).env("HOME", home).env_remove("KUBECONFIG");
    // Not in a pod: no in-cluster fallback.
    cmd.env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT");
    if let Some(path) = kubeconfig_env {
        cmd.env("KUBECONFIG", path);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_rotates_and_shows_status_through_a_kubeconfig() {
    install_rustls();
    let server = ApiServer::new();
    let client = server.client();
    install_crds(&client).await;
    create_namespace(&client, "team-a").await;
    create_rotation(&client, "team-a", "my-app", Some(healthy_status())).await;
    let handle = server.serve("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    ApiServer::write_kubeconfig(&kubeconfig, &handle.url(), ADMIN_TOKEN).unwrap();
    let home = dir.path().to_owned();
    let kc = kubeconfig.display().to_string();

    let (ok, out, err) = tokio::task::spawn_blocking({
        let (home, kc) = (home.clone(), kc.clone());
        move || {
            binary(
                &["rotate", "my-app", "-n", "team-a", "--kubeconfig", &kc],
                &home,
                None,
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "rotate failed: {err}");
    assert!(
        out.starts_with("Requested a rotation of clientsecretrotation team-a/my-app"),
        "{out}"
    );
    let a = annotations(&client, "team-a", "my-app").await;
    let value = a.get(wellknown::ANNOTATION_ROTATE).expect("annotation set");
    assert!(value.parse::<Timestamp>().is_ok(), "{value} is a timestamp");

    // --emergency, with the kubeconfig from KUBECONFIG and the namespace from its context
    // (`default`): the rotation is not there.
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (home, kubeconfig) = (home.clone(), kubeconfig.clone());
        move || binary(&["rotate", "my-app", "--emergency"], &home, Some(&kubeconfig))
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("clientsecretrotation \"my-app\" not found in namespace \"default\""),
        "{err}"
    );
    let (ok, out, err) = tokio::task::spawn_blocking({
        let (home, kubeconfig) = (home.clone(), kubeconfig.clone());
        move || {
            binary(
                &["rotate", "my-app", "-n", "team-a", "--emergency"],
                &home,
                Some(&kubeconfig),
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains("EMERGENCY"), "{out}");
    assert!(
        annotations(&client, "team-a", "my-app")
            .await
            .contains_key(wellknown::ANNOTATION_EMERGENCY_ROTATE)
    );

    let (ok, out, err) = tokio::task::spawn_blocking({
        let (home, kc) = (home.clone(), kc.clone());
        move || {
            binary(
                &["status", "-A", "--kubeconfig", &kc, "--context", "sandbox"],
                &home,
                None,
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "status failed: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("NAMESPACE   NAME     READY   KEY    EXPIRES"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("team-a      my-app   True    Abc…   2099-02-23 10:00 (in "),
        "{out}"
    );

    // A context the kubeconfig does not have, and no kubeconfig at all.
    let (ok, _, err) = tokio::task::spawn_blocking({
        let (home, kc) = (home.clone(), kc.clone());
        move || binary(&["status", "--kubeconfig", &kc, "--context", "nope"], &home, None)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        err.contains("cannot use the kubeconfig") && err.contains("\"nope\""),
        "{err}"
    );
    let (ok, _, err) = tokio::task::spawn_blocking({
        let home = home.clone();
        move || binary(&["status"], &home, None)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("no cluster configured"), "{err}");
    handle.shutdown().await;
}

#[test]
fn run_refuses_a_bad_selector_or_a_taken_port_with_what_to_change() {
    let home = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = binary(
        &["run", "-l", "tier in (prod", "--health-address", "127.0.0.1:0"],
        home.path(),
        None,
    );
    assert!(!ok);
    assert!(
        stderr.contains("invalid label selector \"tier in (prod\": unbalanced parentheses"),
        "{stderr}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (ok, _, stderr) = binary(
        &[
            "run",
            "--health-address",
            "127.0.0.1:0",
            "--metrics-address",
            &address,
        ],
        home.path(),
        None,
    );
    assert!(!ok);
    assert!(
        stderr.contains(&format!("cannot serve /metrics on {address}"))
            && stderr.contains("--metrics-address"),
        "{stderr}"
    );
}
