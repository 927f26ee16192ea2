//! What a user types, with kubectl 1.33, kubectl 1.29 (strict validation through
//! `/openapi/v3`) and the `kubectl` dispatcher (which picks its client from `/version`), each
//! with a fresh HOME and discovery cache, against the sandbox API server over TCP with its
//! workload simulator:
//!
//! * a CRD and an instance with `apply -f`, `wait --for=condition=Established`, `get -o yaml`,
//!   `get -o jsonpath`, `get --watch`, a status condition set with
//!   `patch --subresource=status --type=merge` that a waiting `wait --for=condition=Ready`
//!   sees, `apply --server-side`, and `delete`;
//! * a Deployment using a Secret: `wait --for=condition=Available`, `rollout restart` then
//!   `rollout status`, `scale`, `set image`, and the simulator's stall and fail knobs set from YAML and
//!   `kubectl annotate`, as `rollout status` reports them, and their removal.
//!
//! * the imperative `kubectl create namespace|secret|configmap|serviceaccount|role|rolebinding|
//!   clusterrole|clusterrolebinding` (kubectl 1.33 sends these bodies as protobuf), read back as
//!   JSON with the fields they set; kinds the sandbox cannot read from protobuf (Deployment) are
//!   refused with kube-apiserver's 415, never a garbled object; the RBAC they create is enforced,
//!   for a ServiceAccount's own token and through impersonation (`--as`).
//!
//! kubectl talks HTTPS with the admin token (client-go sends credentials only over TLS).

use std::time::Duration;

use sandbox::apiserver::workloads::WorkloadKind;
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer};
use sandbox::kubectl::{Kubectl, binary};

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.suite.example.com
spec:
  group: suite.example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gdg]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
"#;

fn gadget(name: &str, size: u32) -> String {
    format!(
        "apiVersion: suite.example.com/v1\nkind: Gadget\nmetadata:\n  name: {name}\nspec:\n  size: {size}\n"
    )
}

const APP: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: s3cret-v1
---
apiVersion: apps/v1
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
        image: example:1
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef: {name: creds, key: password}
"#;

const STUCK: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
  annotations:
    sandbox.secret-rotator.dev/rollout: stall
spec:
  replicas: 2
  progressDeadlineSeconds: 2
  selector:
    matchLabels: {app: stuck}
  template:
    metadata:
      labels: {app: stuck}
    spec:
      containers:
      - name: app
        image: example:1
"#;

const LONG: Duration = Duration::from_secs(60);

fn custom_resources(k: &Kubectl) {
    let out = k.ok(&["apply", "-f", "-"], Some(CRD));
    assert!(out.contains("gadgets.suite.example.com created"), "{out}");
    let out = k.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/gadgets.suite.example.com",
            "--timeout=60s",
        ],
        None,
    );
    assert!(out.contains("condition met"), "{out}");
    let out = k.ok(&["apply", "-f", "-"], Some(&gadget("g1", 3)));
    assert!(out.contains("gadget.suite.example.com/g1 created"), "{out}");

    let yaml = k.ok(&["get", "gadget", "g1", "-o", "yaml"], None);
    assert!(
        yaml.contains("kind: Gadget") && yaml.contains("size: 3"),
        "{yaml}"
    );
    assert_eq!(
        k.ok(&["get", "gdg", "g1", "-o", "jsonpath={.spec.size}"], None),
        "3"
    );

    // A waiting `kubectl wait` sees the condition a status patch sets.
    let mut waiter = k.spawn(&["wait", "--for=condition=Ready", "gadget/g1", "--timeout=60s"]);
    std::thread::sleep(Duration::from_millis(300));
    let out = k.ok(
        &[
            "patch",
            "gadget",
            "g1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Assembled"}]}}"#,
        ],
        None,
    );
    assert!(out.contains("patched"), "{out}");
    waiter.expect_line(&["gadget.suite.example.com/g1", "condition met"], LONG);
    assert!(waiter.wait(LONG));
    assert_eq!(
        k.ok(
            &[
                "get",
                "gadget",
                "g1",
                "-o",
                "jsonpath={.status.conditions[0].reason}"
            ],
            None
        ),
        "Assembled"
    );

    // `get --watch` shows the change as it happens.
    let mut watch = k.spawn(&["get", "gadgets", "--watch", "--output-watch-events"]);
    watch.expect_line(&["ADDED", "g1"], LONG);
    k.ok(
        &[
            "patch",
            "gadget",
            "g1",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":5}}"#,
        ],
        None,
    );
    watch.expect_line(&["MODIFIED", "g1"], LONG);
    drop(watch);

    // Server-side apply.
    let out = k.ok(&["apply", "--server-side", "-f", "-"], Some(&gadget("g2", 4)));
    assert!(
        out.contains("gadget.suite.example.com/g2 serverside-applied"),
        "{out}"
    );
    let yaml = k.ok(
        &["get", "gadget", "g2", "-o", "yaml", "--show-managed-fields"],
        None,
    );
    assert!(
        yaml.contains("manager: kubectl") && yaml.contains("operation: Apply"),
        "{yaml}"
    );
    k.ok(&["delete", "gadget", "g2"], None);

    let out = k.ok(&["delete", "gadget", "g1"], None);
    assert!(out.contains("deleted"), "{out}");
    let gone = k.fails(&["get", "gadget", "g1"], None);
    assert!(gone.stderr.contains("NotFound"), "{}", gone.stderr);
    k.ok(&["delete", "-f", "-"], Some(CRD));
}

fn deployments(k: &Kubectl, server: &ApiServer) {
    let out = k.ok(&["apply", "-f", "-"], Some(APP));
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = k.ok(
        &[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
        None,
    );
    assert!(out.contains("condition met"), "{out}");

    let out = k.ok(&["rollout", "restart", "deployment", "web"], None);
    assert!(out.contains("deployment.apps/web restarted"), "{out}");
    let out = k.ok(&["rollout", "status", "deployment", "web", "--timeout=60s"], None);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    let revision = k.ok(
        &[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ],
        None,
    );
    assert_eq!(revision, "2");
    let sets = k.ok(&["get", "replicasets", "-l", "app=web", "-o", "name"], None);
    assert_eq!(sets.lines().count(), 2, "{sets}");
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::Deployment, "web");
    assert!(
        views.iter().filter(|r| r.current && r.ready).count() == 2,
        "{views:?}"
    );

    let out = k.ok(&["scale", "deployment", "web", "--replicas=3"], None);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    k.ok(&["rollout", "status", "deployment", "web", "--timeout=60s"], None);
    assert_eq!(
        k.ok(
            &[
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.status.availableReplicas}"
            ],
            None
        ),
        "3"
    );

    // A broken new version: the fail knob, set with kubectl annotate.
    k.ok(
        &[
            "annotate",
            "deployment",
            "web",
            "sandbox.secret-rotator.dev/rollout=fail",
        ],
        None,
    );
    // NB: a second `rollout restart` within the same second is refused by kubectl (its
    // restartedAt has second resolution); a new image is what a broken release looks like anyway.
    k.ok(&["set", "image", "deployment/web", "app=example:2"], None);
    let held = k.fails(&["rollout", "status", "deployment", "web", "--timeout=3s"], None);
    assert!(
        held.stdout
            .contains("Waiting for deployment \"web\" rollout to finish"),
        "{}",
        held.stdout
    );
    assert!(held.stderr.contains("timed out"), "{}", held.stderr);
    k.ok(
        &[
            "annotate",
            "deployment",
            "web",
            "sandbox.secret-rotator.dev/rollout-",
        ],
        None,
    );
    let out = k.ok(&["rollout", "status", "deployment", "web", "--timeout=60s"], None);
    assert!(out.contains("successfully rolled out"), "{out}");

    // A rollout that never becomes ready, from YAML: it exceeds its progress deadline.
    k.ok(&["apply", "-f", "-"], Some(STUCK));
    let stuck = k.fails(
        &["rollout", "status", "deployment", "stuck", "--timeout=60s"],
        None,
    );
    assert!(
        stuck
            .stderr
            .contains("deployment \"stuck\" exceeded its progress deadline"),
        "{}",
        stuck.stderr
    );
    let reason = k.ok(
        &[
            "get",
            "deployment",
            "stuck",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}",
        ],
        None,
    );
    assert_eq!(reason, "ProgressDeadlineExceeded");
    k.ok(
        &[
            "annotate",
            "deployment",
            "stuck",
            "sandbox.secret-rotator.dev/rollout-",
        ],
        None,
    );
    let out = k.ok(
        &["rollout", "status", "deployment", "stuck", "--timeout=60s"],
        None,
    );
    assert!(out.contains("successfully rolled out"), "{out}");

    let out = k.ok(&["delete", "deployment", "web", "stuck"], None);
    assert!(
        out.contains("\"web\" deleted") && out.contains("\"stuck\" deleted"),
        "{out}"
    );
    k.ok(&["delete", "secret", "creds"], None);
}

fn imperative_creates(k: &Kubectl) {
    k.ok(&["create", "namespace", "imperative"], None);
    let ns = k.ok(
        &["get", "namespace", "imperative", "-o", "jsonpath={.status.phase}"],
        None,
    );
    assert_eq!(ns.trim(), "Active");
    let n = ["-n", "imperative"];
    let with_ns =
        |args: &[&'static str]| -> Vec<&'static str> { args.iter().chain(n.iter()).copied().collect() };
    k.ok(
        &with_ns(&[
            "create",
            "secret",
            "generic",
            "app",
            "--from-literal=id=abc",
            "--from-literal=empty=",
        ]),
        None,
    );
    let data = k.ok(
        &with_ns(&["get", "secret", "app", "-o", "jsonpath={.type} {.data}"]),
        None,
    );
    assert_eq!(data.trim(), r#"Opaque {"empty":"","id":"YWJj"}"#);
    k.ok(
        &with_ns(&["create", "configmap", "settings", "--from-literal=mode=fast"]),
        None,
    );
    let cm = k.ok(
        &with_ns(&["get", "configmap", "settings", "-o", "jsonpath={.data.mode}"]),
        None,
    );
    assert_eq!(cm.trim(), "fast");
    k.ok(&with_ns(&["create", "serviceaccount", "bot"]), None);
    k.ok(
        &with_ns(&[
            "create",
            "role",
            "reader",
            "--verb=get,list",
            "--resource=secrets",
            "--resource-name=app",
        ]),
        None,
    );
    let rules = k.ok(
        &with_ns(&["get", "role", "reader", "-o", "jsonpath={.rules}"]),
        None,
    );
    assert_eq!(
        rules.trim(),
        r#"[{"apiGroups":[""],"resourceNames":["app"],"resources":["secrets"],"verbs":["get","list"]}]"#
    );
    k.ok(
        &with_ns(&[
            "create",
            "rolebinding",
            "bot-reads",
            "--role=reader",
            "--serviceaccount=imperative:bot",
        ]),
        None,
    );
    let binding = k.ok(
        &with_ns(&[
            "get",
            "rolebinding",
            "bot-reads",
            "-o",
            "jsonpath={.roleRef.kind}/{.roleRef.name} {.subjects}",
        ]),
        None,
    );
    assert_eq!(
        binding.trim(),
        r#"Role/reader [{"kind":"ServiceAccount","name":"bot","namespace":"imperative"}]"#
    );
    // The binding is enforced: the ServiceAccount may read that one Secret and nothing else.
    let token = k.ok(&with_ns(&["create", "token", "bot"]), None);
    let as_bot = format!("--token={}", token.trim());
    let can = |what: &str| -> String {
        let r = k.run(&["auth", "can-i", "get", what, "-n", "imperative", &as_bot], None);
        r.stdout.trim().to_string()
    };
    assert_eq!(can("secret/app"), "yes");
    assert_eq!(can("secret/other"), "no");
    assert_eq!(can("configmap/settings"), "no");
    // The same answers through impersonation (`--as`), which the admin may use and the bot may not.
    let as_sa = "--as=system:serviceaccount:imperative:bot";
    let can_as = |what: &str| -> String {
        let r = k.run(&["auth", "can-i", "get", what, "-n", "imperative", as_sa], None);
        r.stdout.trim().to_string()
    };
    assert_eq!(can_as("secret/app"), "yes");
    assert_eq!(can_as("secret/other"), "no");
    let refused = k.run(
        &["get", "secrets", "-n", "imperative", "--as=alice", &as_bot],
        None,
    );
    assert!(!refused.ok);
    assert!(
        refused.stderr.contains("cannot impersonate resource \"users\""),
        "{}",
        refused.stderr
    );
    k.ok(
        &[
            "create",
            "clusterrole",
            "ns-reader",
            "--verb=get",
            "--resource=namespaces",
        ],
        None,
    );
    k.ok(
        &[
            "create",
            "clusterrolebinding",
            "ns-readers",
            "--clusterrole=ns-reader",
            "--user=alice",
            "--group=devs",
        ],
        None,
    );
    let subjects = k.ok(
        &[
            "get",
            "clusterrolebinding",
            "ns-readers",
            "-o",
            "jsonpath={.subjects[*].name}",
        ],
        None,
    );
    assert_eq!(subjects.trim(), "alice devs");
    let refused = k.run(&with_ns(&["create", "deployment", "web", "--image=nginx"]), None);
    if !refused.ok {
        // kubectl 1.33 sends protobuf for Deployments, which the sandbox does not read.
        assert!(refused.stderr.contains("unknown format"), "{}", refused.stderr);
    }
    k.ok(&["delete", "namespace", "imperative"], None);
    k.ok(&["delete", "clusterrolebinding", "ns-readers"], None);
    k.ok(&["delete", "clusterrole", "ns-reader"], None);
}

async fn suite(client: &str) {
    let bin = binary(client);
    let server = ApiServer::new();
    let handle = server.serve_tls("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(bin, &handle.kubeconfig(ADMIN_TOKEN), dir.path());
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        let version = k.ok(&["version", "-o", "json"], None);
        assert!(version.contains("v1.33"), "{version}");
        custom_resources(&k);
        deployments(&k, &s);
        imperative_creates(&k);
    })
    .await
    .unwrap();
    handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_33_workflows() {
    suite("kubectl.1.33").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_29_workflows() {
    suite("kubectl.1.29").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_dispatcher_workflows() {
    suite("kubectl").await;
}
