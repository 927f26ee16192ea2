//! kubectl 1.33 against the sandbox API server over TCP with a generated kubeconfig: apply a CRD
//! and an instance of it (client-side apply: JSON merge patch for custom resources), wait for the
//! CRD to be established, read it back as YAML and as a table, then delete it; server-side apply
//! with its conflicts and `--force-conflicts`; client-side apply of a Deployment and
//! `kubectl rollout restart` (strategic merge patches); pruning warnings and strict validation.
//!
//! Fails (never skips) when the kubectl binary is not installed: the machine image provides it.

use sandbox::apiserver::{ADMIN_TOKEN, ApiServer, ServingHandle};
use sandbox::kubectl::{Kubectl, Run, binary};

/// The kubectl these tests drive.
const KUBECTL: &str = "kubectl.1.33";

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.smoke.example.com
spec:
  group: smoke.example.com
  scope: Namespaced
  names:
    plural: gadgets
    singular: gadget
    kind: Gadget
    shortNames: [gdg]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"#;

const GADGET: &str = r#"apiVersion: smoke.example.com/v1
kind: Gadget
metadata:
  name: g1
  labels: {app: smoke}
spec:
  size: 3
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_waits_gets_and_deletes() {
    let server = ApiServer::new();
    // kubectl sends no credentials to a plain-HTTP server: it is system:anonymous here.
    server.allow_anonymous_admin();
    let handle = server.serve("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    ApiServer::write_kubeconfig(&kubeconfig, &handle.url(), ADMIN_TOKEN).unwrap();
    let kubeconfig = std::fs::read_to_string(&kubeconfig).unwrap();
    let k = Kubectl::new(binary(KUBECTL), &kubeconfig, dir.path());

    let out = tokio::task::spawn_blocking(move || {
        let mut transcript = String::new();
        transcript += &k.ok(&["version", "-o", "json"], None);
        transcript += &k.ok(&["apply", "-f", "-"], Some(CRD));
        transcript += &k.ok(
            &[
                "wait",
                "--for=condition=Established",
                "crd/gadgets.smoke.example.com",
                "--timeout=60s",
            ],
            None,
        );
        transcript += &k.ok(&["apply", "-f", "-"], Some(GADGET));
        // Re-applying a changed manifest goes through client-side apply's JSON merge patch.
        transcript += &k.ok(&["apply", "-f", "-"], Some(&GADGET.replace("size: 3", "size: 4")));
        let yaml = k.ok(&["get", "gadget", "g1", "-o", "yaml"], None);
        assert!(yaml.contains("size: 4"), "{yaml}");
        assert!(
            yaml.contains("kubectl.kubernetes.io/last-applied-configuration"),
            "{yaml}"
        );
        let table = k.ok(&["get", "gdg"], None);
        assert!(
            table.contains("SIZE") && table.contains("g1") && table.contains('4'),
            "{table}"
        );
        let names = k.ok(&["get", "gadgets", "-l", "app=smoke", "-o", "name"], None);
        assert_eq!(names.trim(), "gadget.smoke.example.com/g1");
        // Built-ins: client-side apply computes a strategic merge patch from compiled-in types.
        let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: one\n";
        transcript += &k.ok(&["apply", "-f", "-"], Some(cm));
        transcript += &k.ok(&["apply", "-f", "-"], Some(&cm.replace("one", "two")));
        let value = k.ok(
            &["get", "configmap", "settings", "-o", "jsonpath={.data.a}"],
            None,
        );
        assert_eq!(value, "two");
        let listing = k.ok(&["get", "configmaps"], None);
        assert!(
            listing.contains("NAME") && listing.contains("AGE") && listing.contains("settings"),
            "{listing}"
        );
        transcript += &k.ok(&["delete", "gadget", "g1"], None);
        transcript += &k.ok(&["delete", "-f", "-"], Some(CRD));
        let Run {
            ok: found,
            stderr: err,
            ..
        } = k.run(&["get", "crd", "gadgets.smoke.example.com"], None);
        assert!(!found && err.contains("NotFound"), "{err}");
        transcript
    })
    .await
    .unwrap();
    assert!(out.contains("v1.33"), "{out}");
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/gadgets.smoke.example.com created"),
        "{out}"
    );
    assert!(out.contains("condition met"), "{out}");
    assert!(out.contains("gadget.smoke.example.com/g1 configured"), "{out}");
    let log = server.access_log();
    assert!(
        log.iter()
            .any(|r| r.verb == "patch" && r.resource == "gadgets" && r.code == 200)
    );
    assert!(
        log.iter()
            .any(|r| r.verb == "watch" && r.resource == "customresourcedefinitions")
    );
    handle.shutdown().await;
}

/// A served API server and a kubectl configured for it (fresh `HOME` and cache), or `None` when
/// kubectl is not installed.
async fn setup() -> Option<(ApiServer, ServingHandle, tempfile::TempDir, Kubectl)> {
    let server = ApiServer::new();
    // NB: client-go sends credentials only over TLS, so kubectl talks HTTPS with the admin token.
    let handle = server.serve_tls("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(binary(KUBECTL), &handle.kubeconfig(ADMIN_TOKEN), dir.path());
    Some((server, handle, dir, k))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_conflicts_and_forces() {
    let Some((server, handle, _dir, k)) = setup().await else {
        return;
    };
    let out = tokio::task::spawn_blocking(move || {
        k.ok(&["apply", "--server-side", "-f", "-"], Some(CRD));
        k.ok(
            &[
                "wait",
                "--for=condition=Established",
                "crd/gadgets.smoke.example.com",
                "--timeout=60s",
            ],
            None,
        );
        let mut transcript = k.ok(&["apply", "--server-side", "-f", "-"], Some(GADGET));
        let rv = |k: &Kubectl| {
            k.ok(
                &[
                    "get",
                    "gadget",
                    "g1",
                    "-o",
                    "jsonpath={.metadata.resourceVersion}",
                ],
                None,
            )
        };
        let before = rv(&k);
        // Re-applying the same manifest changes nothing, not even the resourceVersion.
        transcript += &k.ok(&["apply", "--server-side", "-f", "-"], Some(GADGET));
        assert_eq!(rv(&k), before, "a no-op apply wrote the object");

        // Another manager changing a field kubectl owns conflicts.
        let other = GADGET.replace("size: 3", "size: 5");
        let Run {
            ok,
            stdout: out,
            stderr: err,
        } = k.run(
            &["apply", "--server-side", "--field-manager=gitops", "-f", "-"],
            Some(&other),
        );
        assert!(!ok, "conflicting apply succeeded: {out}");
        assert!(
            err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl": .spec.size"#),
            "{err}"
        );
        assert_eq!(rv(&k), before);
        transcript += &k.ok(
            &[
                "apply",
                "--server-side",
                "--field-manager=gitops",
                "--force-conflicts",
                "-f",
                "-",
            ],
            Some(&other),
        );
        let yaml = k.ok(
            &["get", "gadget", "g1", "-o", "yaml", "--show-managed-fields"],
            None,
        );
        assert!(yaml.contains("size: 5"), "{yaml}");
        assert!(
            yaml.contains("manager: gitops") && yaml.contains("operation: Apply"),
            "{yaml}"
        );
        // kubectl still owns the labels it applied; gitops now owns the size.
        let owners = k.ok(
            &[
                "get",
                "gadget",
                "g1",
                "-o",
                r#"jsonpath={range .metadata.managedFields[*]}{.manager}={.fieldsV1}{"\n"}{end}"#,
            ],
            None,
        );
        let line = |m: &str| {
            owners
                .lines()
                .find(|l| l.starts_with(&format!("{m}=")))
                .unwrap_or("")
                .to_string()
        };
        assert!(
            line("kubectl").contains("f:labels") && !line("kubectl").contains("f:size"),
            "{owners}"
        );
        assert!(line("gitops").contains("f:size"), "{owners}");
        transcript
    })
    .await
    .unwrap();
    assert!(
        out.contains("gadget.smoke.example.com/g1 serverside-applied"),
        "{out}"
    );
    let log = server.access_log();
    assert!(
        log.iter()
            .any(|r| r.verb == "patch" && r.resource == "gadgets" && r.code == 409)
    );
    handle.shutdown().await;
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: example/app:1.0
        env:
        - {name: A, value: "1"}
        ports:
        - containerPort: 8080
      - name: sidecar
        image: example/sidecar:1.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_client_side_apply_and_rollout_restart_use_strategic_merge() {
    let Some((server, handle, _dir, k)) = setup().await else {
        return;
    };
    let rt = server.resource("apps", "v1", "deployments").unwrap();
    let out = tokio::task::spawn_blocking(move || {
        let mut transcript = k.ok(&["apply", "-f", "-"], Some(DEPLOYMENT));
        // A changed manifest: client-side apply sends a strategic merge patch that merges the
        // containers and their env by name.
        let changed = DEPLOYMENT.replace("example/app:1.0", "example/app:1.1").replace(
            r#"- {name: A, value: "1"}"#,
            "- {name: A, value: \"1\"}\n        - {name: B, value: \"2\"}",
        );
        transcript += &k.ok(&["apply", "-f", "-"], Some(&changed));
        transcript += &k.ok(&["rollout", "restart", "deployment/web"], None);
        transcript
    })
    .await
    .unwrap();
    assert!(out.contains("deployment.apps/web created"), "{out}");
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    assert!(out.contains("deployment.apps/web restarted"), "{out}");

    let web = server.get(&rt, "default", "web").unwrap();
    let pod = &web["spec"]["template"];
    assert!(
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string(),
        "{pod}"
    );
    let containers = pod["spec"]["containers"].as_array().unwrap();
    let names: Vec<&str> = containers.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["app", "sidecar"]);
    assert_eq!(containers[0]["image"], "example/app:1.1");
    assert_eq!(
        containers[0]["env"],
        serde_json::json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(
        containers[0]["ports"][0]["protocol"], "TCP",
        "defaults survive the patches"
    );
    assert_eq!(web["metadata"]["generation"], 3, "create, apply, restart");
    let managers: Vec<&str> = web["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert!(managers.contains(&"kubectl-client-side-apply"), "{managers:?}");
    assert!(managers.contains(&"kubectl-rollout"), "{managers:?}");
    let log = server.access_log();
    assert!(
        log.iter()
            .filter(|r| r.verb == "patch" && r.resource == "deployments" && r.code == 200)
            .count()
            >= 2
    );
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_pruning_warnings_and_strict_validation_errors() {
    let Some((_server, handle, _dir, k)) = setup().await else {
        return;
    };
    tokio::task::spawn_blocking(move || {
        k.ok(&["apply", "-f", "-"], Some(CRD));
        k.ok(
            &[
                "wait",
                "--for=condition=Established",
                "crd/gadgets.smoke.example.com",
                "--timeout=60s",
            ],
            None,
        );
        let unknown = GADGET.replace("size: 3", "size: 3\n  colour: red");
        // kubectl's default validation asks the server to be strict.
        let Run { ok, stderr: err, .. } = k.run(&["apply", "-f", "-"], Some(&unknown));
        assert!(!ok);
        assert!(
            err.contains(r#"strict decoding error: unknown field "spec.colour""#),
            "{err}"
        );
        // With --validate=warn the field is pruned and kubectl prints the server's warning.
        let Run {
            ok,
            stdout: out,
            stderr: err,
        } = k.run(&["create", "--validate=warn", "-f", "-"], Some(&unknown));
        assert!(ok, "{out}{err}");
        assert!(err.contains(r#"Warning: unknown field "spec.colour""#), "{err}");
        let spec = k.ok(&["get", "gadget", "g1", "-o", "jsonpath={.spec}"], None);
        assert_eq!(spec, r#"{"size":3}"#);
        // A schema violation is the server's 422.
        let Run { ok, stderr: err, .. } = k.run(
            &["apply", "-f", "-"],
            Some(&GADGET.replace("size: 3", "size: big")),
        );
        assert!(!ok);
        assert!(
            err.contains(
                r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#
            ),
            "{err}"
        );
    })
    .await
    .unwrap();
    handle.shutdown().await;
}
