//! Every example in `README.md` is exercised here.
//!
//! Each fenced block carries a `<!-- example: NAME -->` marker right before it, and [`COVERAGE`]
//! says which test exercises it; a block without a marker, or a marker without a test, fails
//! [`every_block_has_a_marker_and_every_marker_a_test`].
//!
//! * The walkthrough (providers, the annotated rotation, its workload, adoption, manual,
//!   annotation, GitOps and emergency rotations, status) runs for real, in one shared world: the
//!   sandbox API server (CRDs installed, served over TLS to kubectl 1.33 and the `secret-rotator`
//!   binary), the Entra emulator seeded with the README's own tenant and client ids, and the real
//!   controller in-process. Shell blocks run verbatim in `bash` with `kubectl` and
//!   `secret-rotator` on the PATH; YAML blocks are applied verbatim with `kubectl apply` (the only
//!   addition: the provider's `spec.endpoints`, pointing it at the emulator).
//! * What cannot run here is checked against what it drives: the Helm values render with Helm's
//!   Go SDK (the chart tests' toolchain), `kubectl apply -k deploy/` applies the rendered base to
//!   the sandbox, `az` commands are the ones of `docs/entra-setup.md` and parse as shell, the
//!   benchmark examples exist.
//! * The troubleshooting table lists exactly the reasons the code can set.

#[path = "operator/support/mod.rs"]
mod support;

mod packaging_support;
mod readme_support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, api::PostParams};
use packaging_support::helm::{self, toolchain};
use readme_support::{block, blocks, commands, normalize, read, readme, reasons_in_code, repo, table_names};
use sandbox::{
    apiserver::ADMIN_TOKEN,
    entra::{ApplicationSpec, PasswordSpec},
};
use secrecy::ExposeSecret;
use secret_rotator::api::{
    ClientSecretRotation, ClusterIdentityProvider, CredentialOrigin, IdentityProvider, RotationPhase,
    wellknown,
};
use secret_rotator::cli::sandboxed::tenant::OWNED_BY;
use serde_json::{Value, json};
use support::{
    workloads::Workloads,
    world::{NS, World, condition, merge},
};

const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Which test exercises each marked block.
const COVERAGE: &[(&str, &str)] = &[
    ("demo", "tests/demo.rs (runs `secret-rotator demo`)"),
    (
        "test-suite",
        "CI: .ci/run (checked by ci_runs_the_readme_test_command)",
    ),
    ("helm-values", "helm_example_renders_with_the_chart"),
    ("helm-install", "helm_example_renders_with_the_chart"),
    ("helm-crds", "walkthrough"),
    ("kustomize", "walkthrough"),
    ("entra-permission", "entra_commands_are_the_documented_ones"),
    ("entra-federation", "entra_commands_are_the_documented_ones"),
    ("sign-in-secret", "walkthrough"),
    ("identity-provider", "walkthrough"),
    ("annotated-rotation", "walkthrough"),
    ("consumer-deployment", "walkthrough"),
    ("cluster-identity-provider", "walkthrough"),
    ("adopt", "walkthrough"),
    ("rotate", "walkthrough"),
    ("rotate-annotate", "walkthrough"),
    ("rotate-gitops", "walkthrough"),
    ("emergency", "walkthrough"),
    ("status", "walkthrough"),
    ("status-output", "walkthrough"),
    ("benchmarks", "benchmark_examples_exist"),
];

/// The block marked `name`, checked to be covered by `test`.
fn example(name: &str, test: &str) -> readme_support::Block {
    let covered_by = COVERAGE
        .iter()
        .find(|(m, _)| *m == name)
        .unwrap_or_else(|| panic!("{name} is not in COVERAGE"))
        .1;
    assert_eq!(
        covered_by, test,
        "{name} is exercised by {test}, but COVERAGE says {covered_by}"
    );
    block(name)
}

#[test]
fn every_block_has_a_marker_and_every_marker_a_test() {
    let text = readme();
    let all = blocks(&text);
    let unmarked: Vec<String> = all
        .iter()
        .filter(|b| b.marker.is_none())
        .map(|b| format!("README.md:{} ({})", b.line, b.lang))
        .collect();
    assert!(
        unmarked.is_empty(),
        "fenced blocks without a `<!-- example: NAME -->` marker right before them: {unmarked:?}"
    );
    let mut seen = BTreeSet::new();
    for b in &all {
        let name = b.marker.clone().unwrap();
        assert!(seen.insert(name.clone()), "marker {name:?} is used twice");
    }
    let covered: BTreeSet<String> = COVERAGE.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(COVERAGE.len(), covered.len(), "COVERAGE names a marker twice");
    let untested: Vec<&String> = seen.difference(&covered).collect();
    assert!(untested.is_empty(), "README markers with no test: {untested:?}");
    let stale: Vec<&String> = covered.difference(&seen).collect();
    assert!(
        stale.is_empty(),
        "COVERAGE names markers the README no longer has: {stale:?}"
    );
}

#[test]
fn ci_runs_the_readme_test_command() {
    let b = block("test-suite");
    let cmds = commands(&b.body);
    assert_eq!(cmds, ["cargo test --workspace"]);
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == cmds[0]),
        ".ci/run must run the README's test command:\n{ci}"
    );
    // The README names the checks CI runs before it, as .ci/run runs them.
    let text = readme();
    for check in [
        "cargo fmt --all --check",
        "cargo clippy --workspace --all-targets -- -D warnings",
    ] {
        assert!(ci.lines().any(|l| l.trim() == check), ".ci/run: {check}");
        assert!(text.contains(check), "README.md: {check}");
    }
}

#[test]
fn demo_command_is_exercised_by_its_own_test() {
    let b = block("demo");
    assert_eq!(commands(&b.body), ["cargo run -- demo"]);
    let demo_test = read("tests/demo.rs");
    assert!(
        demo_test.contains("\"demo\""),
        "tests/demo.rs must run the `demo` command the README shows"
    );
}

#[test]
fn benchmark_examples_exist() {
    let b = example("benchmarks", "benchmark_examples_exist");
    let cmds = commands(&b.body);
    assert!(!cmds.is_empty());
    for cmd in cmds {
        let words: Vec<&str> = cmd.split(' ').collect();
        if words[..3] == ["cargo", "build", "--release"] {
            // Building the operator binary the benchmark runs as a process.
            assert_eq!(&words[3..], ["--bin", "secret-rotator"], "{cmd}");
            continue;
        }
        assert_eq!(&words[..3], ["cargo", "run", "--release"], "{cmd}");
        let package = words.iter().position(|w| *w == "-p").map(|i| words[i + 1]);
        let name = words[words.iter().position(|w| *w == "--example").expect("--example") + 1];
        let dir = match package {
            Some(p) => repo().join(p),
            None => repo().to_owned(),
        };
        let file = dir.join("examples").join(format!("{name}.rs"));
        let folder = dir.join("examples").join(name).join("main.rs");
        assert!(
            file.exists() || folder.exists(),
            "{cmd}: no example {name} in {}",
            dir.display()
        );
    }
}

#[test]
fn helm_example_renders_with_the_chart() {
    let values = example("helm-values", "helm_example_renders_with_the_chart");
    let install = example("helm-install", "helm_example_renders_with_the_chart");
    // The values file's name is its first line's comment; the install command passes it.
    let file_name = values
        .body
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# "))
        .expect("the values block starts with `# <file name>`")
        .trim()
        .to_owned();
    let cmds = commands(&install.body);
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    let words: Vec<&str> = cmds[0].split(' ').collect();
    assert_eq!(
        &words[..4],
        ["helm", "install", helm::RELEASE, "./charts/secret-rotator"]
    );
    let flag = |name: &str| words.iter().position(|w| *w == name).map(|i| words[i + 1]);
    assert_eq!(flag("--namespace"), Some(helm::NAMESPACE));
    assert!(words.contains(&"--create-namespace"));
    assert_eq!(flag("-f"), Some(file_name.as_str()));
    assert!(repo().join(helm::CHART).join("Chart.yaml").exists());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(&file_name);
    std::fs::write(&path, &values.body).unwrap();
    let tools = toolchain();
    if let Err(e) = tools.validate_values(&path) {
        panic!("values.schema.json rejects the README's values: {e}");
    }
    let rendered = tools.render(&path);
    let parsed: Value = serde_saphyr::from_str(&values.body).unwrap();
    let client_id = parsed["workloadIdentity"]["clientId"].as_str().unwrap();
    let sa = packaging_support::manifests::find(&rendered.templates, "ServiceAccount", "secret-rotator");
    assert_eq!(
        sa["metadata"]["annotations"]["azure.workload.identity/client-id"],
        client_id
    );
    let deployment = packaging_support::manifests::find(&rendered.templates, "Deployment", "secret-rotator");
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"],
        "true"
    );
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        assert_eq!(
            packaging_support::manifests::of_kind(&rendered.templates, kind).len(),
            1,
            "the README's values create a {kind}"
        );
    }
}

#[test]
fn entra_commands_are_the_documented_ones() {
    let setup = read("docs/entra-setup.md");
    let documented = normalize(&setup);
    for name in ["entra-permission", "entra-federation"] {
        let b = example(name, "entra_commands_are_the_documented_ones");
        // It parses as shell.
        let out = Command::new("bash").args(["-n", "-c", &b.body]).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: not valid shell: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Each command, or the command of an assignment, is the one docs/entra-setup.md documents.
        for cmd in commands(&b.body) {
            let az = cmd.find("az ").map(|i| &cmd[i..]).unwrap_or(&cmd);
            let az = az.trim_end_matches(')');
            assert!(
                documented.contains(&normalize(az)),
                "{name}: `{az}` is not a command of docs/entra-setup.md"
            );
        }
    }
    // The federated credential's subject is the service account the chart and deploy/ create.
    let federation = block("entra-federation").body;
    let subject = format!("system:serviceaccount:{}:{}", helm::NAMESPACE, helm::RELEASE);
    assert!(federation.contains(&subject), "{federation}");
    let sa: Value = serde_saphyr::from_str(&read("deploy/serviceaccount.yaml")).unwrap();
    assert_eq!(sa["metadata"]["name"], helm::RELEASE);
    // Application.ReadWrite.OwnedBy is the app role the README grants.
    assert!(setup.contains("`Application.ReadWrite.OwnedBy`** on\nMicrosoft Graph (app role id `18a4783c-866b-4cc7-a460-3d5e5662c884`)"));
    assert!(
        block("entra-permission")
            .body
            .contains("18a4783c-866b-4cc7-a460-3d5e5662c884=Role")
    );
}

#[test]
fn troubleshooting_table_lists_every_reason_the_code_can_set() {
    let in_code = reasons_in_code();
    // The parsing found the reasons it should (a guard against a silently broken parser).
    for sure in [
        "UpToDate",
        "Verifying",
        "AuthorizationDenied",
        "KubernetesApiError",
        "StagingSecretLost",
        "SignedIn",
    ] {
        assert!(
            in_code.contains(sure),
            "{sure} not found in the code: {in_code:?}"
        );
    }
    // Every failure reason read from the code does reach the Degraded condition unchanged.
    for r in &in_code {
        let folded = secret_rotator::rotation::conditions::known_reason(r);
        assert!(
            folded == r || folded == wellknown::reason::STEP_FAILED,
            "{r} folds into {folded}"
        );
    }
    let text = readme();
    let rows = table_names(&text, "Troubleshooting");
    let in_readme: BTreeSet<String> = rows.iter().cloned().collect();
    assert_eq!(rows.len(), in_readme.len(), "a reason appears twice in the table");
    let missing: Vec<&String> = in_code.difference(&in_readme).collect();
    assert!(
        missing.is_empty(),
        "reasons the code can set that README.md's troubleshooting table does not explain: {missing:?}"
    );
    let unknown: Vec<&String> = in_readme.difference(&in_code).collect();
    assert!(
        unknown.is_empty(),
        "README.md's troubleshooting table lists reasons the code never sets: {unknown:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// The walkthrough.

/// A shell with the README's tools on its PATH, pointed at the sandbox.
struct Shell {
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
    bin: PathBuf,
}

/// What a shell block printed.
struct Ran {
    stdout: String,
}

impl Shell {
    fn new(kubeconfig_yaml: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = home.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml).unwrap();
        let bin = home.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(KUBECTL, bin.join("kubectl")).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_secret-rotator"), bin.join("secret-rotator")).unwrap();
        Shell {
            home,
            kubeconfig,
            bin,
        }
    }

    fn command(&self, script: &str, env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.args(["-euo", "pipefail", "-c", script])
            .current_dir(repo())
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
            .env("KUBECONFIG", &self.kubeconfig);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `script` (off the async runtime's threads); fails the test when it fails.
    async fn run(&self, what: &str, script: &str, env: &[(&str, &str)]) -> Ran {
        let mut cmd = self.command(script, env);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{what} failed:\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ran { stdout }
    }

    /// `kubectl apply -f -` of `yaml`.
    async fn apply(&self, what: &str, yaml: &str) -> Ran {
        let dir = self.home.path().join("manifests");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{what}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        self.run(what, &format!("kubectl apply -f {}", file.display()), &[])
            .await
    }
}

fn yaml_doc(b: &readme_support::Block) -> Value {
    serde_saphyr::from_str(&b.body).unwrap_or_else(|e| panic!("README.md:{}: {e}", b.line))
}

/// Waits until rotation `name` finishes rotation number `n`: when it reaches `Retiring`, `check`
/// sees it (both secrets valid), then the overlap passes on the emulator's clock.
async fn finish_rotation(
    w: &World,
    name: &str,
    n: i64,
    check: impl AsyncFnOnce(&ClientSecretRotation),
) -> ClientSecretRotation {
    let retiring = w
        .wait_for(name, &format!("retiring rotation {n}"), |o| {
            o.status.as_ref().is_some_and(|s| {
                s.rotation
                    .as_ref()
                    .is_some_and(|r| r.id == n && r.phase == RotationPhase::Retiring)
            })
        })
        .await;
    check(&retiring).await;
    let overlap = retiring.spec.overlap.to_signed().expect("overlap").unsigned_abs();
    w.advance(overlap + Duration::from_secs(60));
    let done = w.wait_ready(name).await;
    assert_eq!(done.status.as_ref().unwrap().rotation_count, n);
    done
}

async fn secret_data(w: &World, name: &str) -> BTreeMap<String, String> {
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    let secret = secrets.get(name).await.unwrap();
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
        .collect()
}

/// Splits a table line into its columns (separated by two or more spaces).
fn columns(line: &str) -> Vec<String> {
    regex::Regex::new(r"\s{2,}")
        .unwrap()
        .split(line.trim())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough() {
    const T: &str = "walkthrough";
    let mut w = World::new(0).await;
    let tls = w.api.serve_tls("127.0.0.1:0").await.unwrap();
    let sh = Shell::new(&tls.kubeconfig(ADMIN_TOKEN));

    // The README's objects, parsed: the ids it uses are seeded into the emulator as they are.
    let provider_block = example("identity-provider", T);
    let rotation_block = example("annotated-rotation", T);
    let adopt_block = example("adopt", T);
    let mut provider = yaml_doc(&provider_block);
    let rotation = yaml_doc(&rotation_block);
    let adopt = yaml_doc(&adopt_block);
    serde_json::from_value::<IdentityProvider>(provider.clone()).expect("the provider fits the type");
    serde_json::from_value::<ClientSecretRotation>(rotation.clone()).expect("the rotation fits the type");
    let ns = rotation["metadata"]["namespace"].as_str().unwrap();
    assert_eq!(ns, NS, "the walkthrough's namespace");
    let name = rotation["metadata"]["name"].as_str().unwrap().to_owned();
    let secret_name = rotation["spec"]["secret"]["name"].as_str().unwrap().to_owned();
    let app_id = rotation["spec"]["application"]["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let tenant_id = provider["spec"]["tenantId"].as_str().unwrap().to_owned();
    assert_eq!(
        rotation["spec"]["providerRef"]["name"],
        provider["metadata"]["name"]
    );
    assert_eq!(adopt["spec"]["providerRef"]["name"], provider["metadata"]["name"]);

    // Entra: the README's tenant (the world's tenant has that domain), the operator's
    // application (Application.ReadWrite.OwnedBy, a secret) and the two applications it owns.
    assert!(w.em.authenticates(
        &tenant_id,
        &w.operator_app.app_id,
        w.operator_secret.expose_secret()
    ));
    let operator_id = provider["spec"]["auth"]["clientSecret"]["clientId"]
        .as_str()
        .unwrap();
    let operator =
        w.em.create_application(
            &w.tenant,
            ApplicationSpec {
                app_id: Some(operator_id.to_owned()),
                ..ApplicationSpec::new("secret-rotator (README)")
            },
        )
        .unwrap();
    let operator_sp = operator.service_principal_id.clone().unwrap();
    w.em.grant_app_roles(&operator_sp, &[OWNED_BY]).unwrap();
    let operator_secret =
        w.em.seed_password(operator_id, PasswordSpec::default())
            .unwrap()
            .secret;
    let own = |client_id: &str, display: &str| {
        let app =
            w.em.create_application(
                &w.tenant,
                ApplicationSpec {
                    app_id: Some(client_id.to_owned()),
                    ..ApplicationSpec::new(display)
                },
            )
            .unwrap();
        w.em.add_owner(&app.object_id, &operator_sp).unwrap();
        app
    };
    own(&app_id, "my-app");
    let legacy_id = adopt["spec"]["application"]["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    own(&legacy_id, "legacy-app");
    // The legacy application's secret, made "in the portal", already in its Secret.
    let legacy =
        w.em.seed_password(
            &legacy_id,
            PasswordSpec {
                display_name: Some("made in the portal".into()),
                end: Some(w.em.now() + Duration::from_secs(180 * 24 * 3600)),
                ..Default::default()
            },
        )
        .unwrap();
    let legacy_secret = adopt["spec"]["secret"]["name"].as_str().unwrap();
    Api::<Secret>::namespaced(w.client.clone(), NS)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": legacy_secret},
                "stringData": {"client-secret": legacy.secret.expose_secret()},
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    let _workloads = Workloads::start(&w.api, &w.em);
    w.start_operator();

    // Installing: deploy/ applies to the cluster, word for word, and the chart's CRDs apply
    // server-side over the installed ones.
    let kustomize = example("kustomize", T);
    assert_eq!(commands(&kustomize.body), ["kubectl apply -k deploy/"]);
    let (base, _) = packaging_support::manifests::kustomize("deploy");
    let applied = sh.run("kustomize", &kustomize.body, &[]).await;
    assert_eq!(applied.stdout.lines().count(), base.len(), "{}", applied.stdout);
    for kind in [
        "service/secret-rotator-metrics",
        "poddisruptionbudget.policy/secret-rotator",
    ] {
        assert!(applied.stdout.contains(kind), "{}", applied.stdout);
    }
    let replicas = sh
        .run(
            "deployment",
            "kubectl get deployment secret-rotator -n secret-rotator -o jsonpath='{.spec.replicas}'",
            &[],
        )
        .await;
    assert_eq!(replicas.stdout, "2");
    sh.run("helm-crds", &example("helm-crds", T).body, &[]).await;

    // The provider and its sign-in Secret.
    sh.run(
        "sign-in-secret",
        &example("sign-in-secret", T).body,
        &[("OPERATOR_CLIENT_SECRET", operator_secret.expose_secret())],
    )
    .await;
    let sign_in = provider["spec"]["auth"]["clientSecret"]["secretRef"].clone();
    let data = secret_data(&w, sign_in["name"].as_str().unwrap()).await;
    assert_eq!(
        data.get(sign_in["key"].as_str().unwrap()).map(String::as_str),
        Some(operator_secret.expose_secret())
    );
    // NB: the one change to a README example: the emulator's endpoints.
    provider["spec"]["endpoints"] = w.endpoints();
    sh.apply("identity-provider", &serde_json::to_string(&provider).unwrap())
        .await;

    // The workload and the annotated rotation, verbatim.
    sh.apply("consumer-deployment", &example("consumer-deployment", T).body)
        .await;
    sh.apply("annotated-rotation", &rotation_block.body).await;
    let ready = w.wait_ready(&name).await;
    let status = ready.status.clone().unwrap();
    let data = secret_data(&w, &secret_name).await;
    let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
    let promised = [
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_SECRET_EXPIRES_AT",
        "AZURE_TENANT_ID",
    ];
    assert_eq!(keys, BTreeSet::from(promised), "the keys the README promises");
    let text = readme();
    let promise = format!(
        "`{secret_name}` holds\n`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`, `AZURE_TENANT_ID` and `AZURE_CLIENT_SECRET_EXPIRES_AT`"
    );
    assert!(text.contains(&promise), "README.md no longer says: {promise}");
    assert_eq!(data["AZURE_CLIENT_ID"], app_id);
    assert_eq!(data["AZURE_TENANT_ID"], tenant_id);
    assert!(w.em.authenticates(&w.tenant, &app_id, &data["AZURE_CLIENT_SECRET"]));
    assert_eq!(
        data["AZURE_CLIENT_SECRET_EXPIRES_AT"],
        secret_rotator::rotation::plan::rfc3339(status.current.as_ref().unwrap().expires_at.0)
    );
    let idp: Api<IdentityProvider> = Api::namespaced(w.client.clone(), NS);
    let idp = idp
        .get(provider["metadata"]["name"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        idp.status
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == wellknown::reason::SIGNED_IN),
        "the provider reports it signs in: {:?}",
        idp.status
    );

    // Adoption: the existing secret is taken over, nothing is minted for it.
    let mints = w.mints();
    sh.apply("adopt", &adopt_block.body).await;
    let adopted = w.wait_ready(adopt["metadata"]["name"].as_str().unwrap()).await;
    let current = adopted.status.unwrap().current.unwrap();
    assert_eq!(current.key_id, legacy.key_id);
    assert_eq!(current.origin, CredentialOrigin::Adopted);
    assert_eq!(w.mints(), mints, "adoption mints nothing");

    // Reading status.
    let out = sh.run("status", &example("status", T).body, &[]).await.stdout;
    assert!(
        out.lines().any(|l| l.starts_with(&name) && l.contains("True")),
        "kubectl get csrot lists the rotation Ready:\n{out}"
    );
    assert!(out.contains("Ready\tTrue\tUpToDate\n"), "{out}");
    assert!(out.contains("Rotating\tFalse\tIdle\n"), "{out}");
    assert!(out.contains("Degraded\tFalse\tAsExpected\n"), "{out}");
    let real = sh.run("status -A", "secret-rotator status -A", &[]).await.stdout;
    assert!(
        out.contains(&real),
        "the status block ends with `secret-rotator status -A`"
    );
    let sample = example("status-output", T);
    let sample_lines: Vec<&str> = sample.body.lines().collect();
    let real_lines: Vec<&str> = real.lines().collect();
    assert_eq!(
        columns(sample_lines[0]),
        columns(real_lines[0]),
        "status header:\n{real}"
    );
    let real_row = real_lines
        .iter()
        .find(|l| columns(l).get(1) == Some(&name))
        .unwrap_or_else(|| panic!("{real}"));
    let (sample_row, real_row) = (columns(sample_lines[1]), columns(real_row));
    assert_eq!(sample_row.len(), real_row.len(), "{sample_row:?} vs {real_row:?}");
    assert_eq!(sample_row[..3], real_row[..3], "namespace, name, Ready");
    assert_eq!(sample_row[6..], real_row[6..], "no rotation in flight, no error");
    assert!(real_row[3].ends_with('…'), "the key's hint: {real_row:?}");
    let when = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d \(in \d+d\d+h\)$").unwrap();
    for value in &real_row[4..6] {
        assert!(when.is_match(value), "a time and how far away it is: {value}");
    }

    // A manual rotation with the CLI: both secrets work during the overlap, then the old one goes.
    let first = data["AZURE_CLIENT_SECRET"].clone();
    let out = sh.run("rotate", &example("rotate", T).body, &[]).await.stdout;
    assert!(
        out.contains(&format!(
            "Requested a rotation of clientsecretrotation {NS}/{name}"
        )),
        "{out}"
    );
    let secret_for_check = secret_name.clone();
    finish_rotation(&w, &name, 2, async |_| {
        let data = secret_data(&w, &secret_for_check).await;
        assert_ne!(data["AZURE_CLIENT_SECRET"], first);
        assert_eq!(data.get("AZURE_CLIENT_SECRET_PREVIOUS"), Some(&first));
        assert!(w.em.authenticates(&w.tenant, &app_id, &first));
    })
    .await;
    assert!(
        !w.em.authenticates(&w.tenant, &app_id, &first),
        "revoked after the overlap"
    );
    let data = secret_data(&w, &secret_name).await;
    assert!(!data.contains_key("AZURE_CLIENT_SECRET_PREVIOUS"));

    // The same with kubectl annotate.
    sh.run("rotate-annotate", &example("rotate-annotate", T).body, &[])
        .await;
    let done = finish_rotation(&w, &name, 3, async |_| {}).await;
    let handled = done.status.unwrap().handled_rotate_request.unwrap();
    assert!(handled.ends_with('Z') && handled.contains('T'), "{handled}");

    // The GitOps way: the annotation in the manifest, applied.
    let fragment = yaml_doc(&example("rotate-gitops", T));
    let mut manifest = rotation.clone();
    merge(&mut manifest, &fragment);
    sh.apply("rotate-gitops", &serde_json::to_string(&manifest).unwrap())
        .await;
    let done = finish_rotation(&w, &name, 4, async |_| {}).await;
    assert_eq!(
        done.status.unwrap().handled_rotate_request,
        fragment["metadata"]["annotations"][wellknown::ANNOTATION_ROTATE]
            .as_str()
            .map(str::to_owned)
    );

    // Emergency: the leaked secret stops working as soon as the new one is written.
    let leaked = secret_data(&w, &secret_name).await["AZURE_CLIENT_SECRET"].clone();
    let out = sh
        .run("emergency", &example("emergency", T).body, &[])
        .await
        .stdout;
    assert!(out.contains("EMERGENCY"), "{out}");
    w.wait_for(&name, "emergency rotation done", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.rotation_count == 5 && s.rotation.is_none() && s.previous.is_none())
            && condition(o, "Ready").is_some_and(|c| c.status == "True")
    })
    .await;
    assert!(
        !w.em.authenticates(&w.tenant, &app_id, &leaked),
        "the leaked secret is revoked"
    );
    let fresh = secret_data(&w, &secret_name).await["AZURE_CLIENT_SECRET"].clone();
    assert!(w.em.authenticates(&w.tenant, &app_id, &fresh));
    w.wait_events(&name, &[wellknown::event::EMERGENCY_REVOKED]).await;

    // The cluster-wide provider is valid against the schema and its rules.
    let cidp_block = example("cluster-identity-provider", T);
    serde_json::from_value::<ClusterIdentityProvider>(yaml_doc(&cidp_block)).expect("fits the type");
    sh.apply("cluster-identity-provider", &cidp_block.body).await;
    let listed = sh.run("cidp", "kubectl get cidp -o name", &[]).await.stdout;
    assert!(listed.contains("corp-entra"), "{listed}");

    w.stop_operator().await;
    tls.shutdown().await;
}
