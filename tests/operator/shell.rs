//! The shell scenario, as a user would run it: `secret-rotator sandbox` and `secret-rotator run`
//! as processes, the Entra emulator seeded over its admin HTTP API, and `kubectl` (fresh HOME)
//! applying the CRDs, a provider, a Deployment and a rotation, waiting for `Ready`, reading the
//! Secret, requesting a rotation with `kubectl annotate`, and waiting for the new key.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{Value, json};

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Shell {
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Shell {
    fn kubectl(&self, args: &[&str]) -> String {
        self.kubectl_with_input(args, None)
    }

    fn kubectl_with_input(&self, args: &[&str], input: Option<&str>) -> String {
        let mut child = Command::new(KUBECTL)
            .args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", "/usr/bin:/bin")
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(input) = input {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn apply(&self, yaml: &str) {
        self.kubectl_with_input(&["apply", "-f", "-"], Some(yaml));
    }
}

async fn post(client: &reqwest::Client, url: &str, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "POST {url}: {status} {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

/// Reads the sandbox's `key: value` lines until `entra:`.
fn sandbox_urls(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut apiserver, mut entra) = (None, None);
    while entra.is_none() {
        let line = lines.next().expect("the sandbox prints where it is").unwrap();
        if let Some(url) = line.strip_prefix("apiserver: ") {
            apiserver = Some(url.trim().to_owned());
        }
        if let Some(url) = line.strip_prefix("entra: ") {
            entra = Some(url.trim().to_owned());
        }
    }
    // Keep draining so the sandbox never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (apiserver.unwrap(), entra.unwrap())
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

// NB: kubectl runs as blocking child processes on the test's own thread; nothing else shares
// this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_scenario_sandbox_run_and_kubectl_as_a_user_would() {
    let binary = env!("CARGO_BIN_EXE_secret-rotator");
    let home = tempfile::tempdir().unwrap();
    let kubeconfig = home.path().join("kubeconfig");
    let mut sandbox = Process(
        Command::new(binary)
            .args(["sandbox", "--kubeconfig", kubeconfig.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (_apiserver, entra) = sandbox_urls(&mut sandbox.0);
    let shell = Shell { home, kubeconfig };

    // Seed the Entra emulator: a tenant, the operator's application with its Graph role and a
    // secret, and the application whose secret will be rotated, owned by the operator.
    let http = reqwest::Client::new();
    let admin = format!("{entra}/_emulator");
    let tenant = post(
        &http,
        &format!("{admin}/tenants"),
        json!({"domains": ["contoso.onmicrosoft.com"]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let operator = post(
        &http,
        &format!("{admin}/tenants/{tenant}/applications"),
        json!({"displayName": "secret-rotator"}),
    )
    .await;
    let operator_sp = operator["servicePrincipalId"].as_str().unwrap();
    post(
        &http,
        &format!("{admin}/objects/{operator_sp}/appRoles"),
        json!({"roles": ["Application.ReadWrite.OwnedBy"]}),
    )
    .await;
    let operator_id = operator["appId"].as_str().unwrap();
    let operator_secret = post(
        &http,
        &format!("{admin}/objects/{operator_id}/passwords"),
        json!({}),
    )
    .await["secretText"]
        .as_str()
        .unwrap()
        .to_owned();
    let app = post(
        &http,
        &format!("{admin}/tenants/{tenant}/applications"),
        json!({"displayName": "payments"}),
    )
    .await;
    let app_object = app["objectId"].as_str().unwrap();
    let app_id = app["appId"].as_str().unwrap().to_owned();
    post(
        &http,
        &format!("{admin}/objects/{app_object}/owners"),
        json!({"ownerId": operator_sp}),
    )
    .await;

    // Install the CRDs and what a platform team would apply.
    shell.kubectl(&["apply", "-f", repo("crds").to_str().unwrap()]);
    shell.apply(&format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: secret-rotator
---
apiVersion: v1
kind: Namespace
metadata:
  name: team-a
---
apiVersion: v1
kind: Secret
metadata:
  name: entra-operator
  namespace: team-a
stringData:
  client-secret: "{operator_secret}"
---
apiVersion: secret-rotator.dev/v1alpha1
kind: IdentityProvider
metadata:
  name: entra
  namespace: team-a
spec:
  tenantId: {tenant}
  endpoints:
    authority: {entra}
    graph: {entra}
  auth:
    clientSecret:
      clientId: {operator_id}
      secretRef:
        name: entra-operator
        key: client-secret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team-a
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: example.com/web:1
        env:
        - name: CLIENT_SECRET
          valueFrom:
            secretKeyRef:
              name: app-credentials
              key: client-secret
              optional: true
---
apiVersion: secret-rotator.dev/v1alpha1
kind: ClientSecretRotation
metadata:
  name: my-app
  namespace: team-a
spec:
  providerRef:
    name: entra
  application:
    clientId: {app_id}
  secret:
    name: app-credentials
  lifetime: 24h
  overlap: 0s
  rolloutTargets:
  - kind: Deployment
    name: web
"#
    ));

    // Run the operator.
    let _operator = Process(
        Command::new(binary)
            .args([
                "run",
                "--kubeconfig",
                shell.kubeconfig.to_str().unwrap(),
                "--health-address",
                "127.0.0.1:0",
                "--lease-duration-seconds",
                "5",
                "--lease-renew-grace-seconds",
                "2",
            ])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    shell.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "csrot/my-app",
        "-n",
        "team-a",
        "--timeout=120s",
    ]);
    let table = shell.kubectl(&["get", "csrot", "-n", "team-a"]);
    assert!(table.contains("my-app") && table.contains("True"), "{table}");

    let read_secret = || {
        let b64 = shell.kubectl(&[
            "get",
            "secret",
            "app-credentials",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.data.client-secret}",
        ]);
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .unwrap(),
        )
        .unwrap()
    };
    let authenticates = async |secret: &str| {
        post(
            &http,
            &format!("{admin}/authenticates"),
            json!({"tenant": tenant, "clientId": app_id, "secret": secret}),
        )
        .await["authenticates"]
            .as_bool()
            .unwrap()
    };
    let first = read_secret();
    assert!(authenticates(&first).await, "the Secret's secret works");
    let first_key = shell.kubectl(&[
        "get",
        "csrot",
        "my-app",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.status.current.keyId}",
    ]);

    // Ask for a rotation, wait for the new key.
    shell.kubectl(&[
        "annotate",
        "--overwrite",
        "csrot/my-app",
        "-n",
        "team-a",
        "secret-rotator.dev/rotate=please",
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let new_key = loop {
        let key = shell.kubectl(&[
            "get",
            "csrot",
            "my-app",
            "-n",
            "team-a",
            "-o",
            "jsonpath={.status.current.keyId}",
        ]);
        if !key.is_empty() && key != first_key {
            break key;
        }
        assert!(Instant::now() < deadline, "no new key within 120 s");
        std::thread::sleep(Duration::from_millis(300));
    };
    shell.kubectl(&[
        "wait",
        "--for=jsonpath={.status.rotationCount}=2",
        "csrot/my-app",
        "-n",
        "team-a",
        "--timeout=120s",
    ]);
    shell.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "csrot/my-app",
        "-n",
        "team-a",
        "--timeout=120s",
    ]);
    let second = read_secret();
    assert_ne!(second, first);
    assert!(authenticates(&second).await, "the new secret works");
    assert_ne!(new_key, first_key);
}
