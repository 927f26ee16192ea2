//! The operator's CRDs (`crds/*.yaml`) served by the sandbox API server, which validates custom
//! resources with kube-apiserver's structural-schema, CEL and pruning semantics and messages:
//! every manifest in `tests/data/valid-manifests/` is accepted, and every manifest in
//! `tests/data/invalid-manifests/` is refused with an error containing each of its `# expect:`
//! lines, over real HTTP, both as `kubectl apply` creates a new object (`POST` with
//! `fieldValidation=Strict`) and as `kubectl apply --server-side` does (apply patch with
//! `fieldValidation=Strict`, here through kube's `Api::patch`).
//!
//! This is the authority on what the CRDs accept (it replaced a test-only client-side validator);
//! `tests/crd_cel_cost_budget.rs` checks what the sandbox does not: the CEL rules' cost budget.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer, ServingHandle};
use serde_json::{Value, json};

fn yaml_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn parse(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("manifest parses as YAML")
}

/// The served API server and a kube client for it, with the operator's CRDs installed and the
/// manifests' namespaces created.
struct Cluster {
    _server: ApiServer,
    handle: ServingHandle,
    client: kube::Client,
    http: reqwest::Client,
}

impl Cluster {
    async fn start() -> Cluster {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let server = ApiServer::new();
        let handle = server.serve("127.0.0.1:0").await.unwrap();
        let kubeconfig =
            kube::config::Kubeconfig::from_yaml(&ApiServer::kubeconfig(&handle.url(), ADMIN_TOKEN)).unwrap();
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let cluster = Cluster {
            _server: server,
            handle,
            client,
            http: reqwest::Client::new(),
        };
        cluster.install_crds().await;
        cluster
    }

    async fn install_crds(&self) {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let files = yaml_files(&repo("crds"));
        assert_eq!(files.len(), 3, "crds/ holds the operator's three CRDs");
        for (path, text) in files {
            let crd: CustomResourceDefinition =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let created = crds
                .create(&PostParams::default(), &crd)
                .await
                .unwrap_or_else(|e| panic!("{}: the API server refused the CRD: {e}", path.display()));
            let name = created.metadata.name.clone().unwrap();
            let established = crds.get(&name).await.unwrap();
            let conditions = established.status.and_then(|s| s.conditions).unwrap_or_default();
            assert!(
                conditions
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True"),
                "{name} is not established: {conditions:?}"
            );
        }
    }

    async fn ensure_namespace(&self, namespace: &str) {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        let ns = serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        match namespaces.create(&PostParams::default(), &ns).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => panic!("namespace {namespace}: {e}"),
        }
    }

    fn resource(manifest: &Value) -> (ApiResource, Option<String>) {
        let api_version = manifest["apiVersion"].as_str().unwrap();
        let kind = manifest["kind"].as_str().unwrap();
        let (group, version) = api_version.split_once('/').unwrap();
        let plural = format!("{}s", kind.to_lowercase());
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let namespace = manifest["metadata"]["namespace"].as_str().map(String::from);
        (ApiResource::from_gvk_with_plural(&gvk, &plural), namespace)
    }

    /// `POST` with `fieldValidation=Strict`, as `kubectl apply` creates a new object: the status
    /// code and the `Status` message (or the created object).
    async fn create(&self, manifest: &Value) -> (u16, Value) {
        let (ar, namespace) = Self::resource(manifest);
        let path = match &namespace {
            Some(ns) => format!("/apis/{}/namespaces/{ns}/{}", ar.api_version, ar.plural),
            None => format!("/apis/{}/{}", ar.api_version, ar.plural),
        };
        let resp = self
            .http
            .post(format!(
                "{}{path}?fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
                self.handle.url()
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(manifest)
            .send()
            .await
            .unwrap();
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap())
    }

    /// Server-side apply with `fieldValidation=Strict`, as `kubectl apply --server-side` does.
    async fn apply(&self, manifest: &Value) -> Result<DynamicObject, kube::Error> {
        let (ar, namespace) = Self::resource(manifest);
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let name = manifest["metadata"]["name"].as_str().unwrap();
        api.patch(
            name,
            &PatchParams::apply("kubectl").validation_strict(),
            &Patch::Apply(manifest),
        )
        .await
    }

    async fn delete(&self, manifest: &Value) {
        let (ar, namespace) = Self::resource(manifest);
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let name = manifest["metadata"]["name"].as_str().unwrap();
        api.delete(name, &Default::default()).await.unwrap();
    }
}

fn namespaces(files: &[(PathBuf, String)]) -> BTreeSet<String> {
    files
        .iter()
        .filter_map(|(_, text)| parse(text)["metadata"]["namespace"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_manifests_are_accepted_by_the_api_server() {
    let cluster = Cluster::start().await;
    let files = yaml_files(&repo("tests/data/valid-manifests"));
    assert!(files.len() >= 4, "only {} valid manifests", files.len());
    for ns in namespaces(&files) {
        cluster.ensure_namespace(&ns).await;
    }
    for (path, text) in &files {
        let manifest = parse(text);
        let (code, body) = cluster.create(&manifest).await;
        assert_eq!(code, 201, "{}: {body:#}", path.display());
        assert_eq!(
            body["spec"]["tenantId"],
            manifest["spec"]["tenantId"],
            "{}",
            path.display()
        );
        // The same manifest applied server-side is a no-op for its new owner's values, and the
        // stored object deserializes into the operator's types.
        cluster.delete(&manifest).await;
        let applied = cluster
            .apply(&manifest)
            .await
            .unwrap_or_else(|e| panic!("{}: server-side apply refused: {e}", path.display()));
        let stored = serde_json::to_value(&applied).unwrap();
        let fits = match manifest["kind"].as_str().unwrap() {
            "ClientSecretRotation" => {
                serde_json::from_value::<secret_rotator::api::ClientSecretRotation>(stored).map(|_| ())
            }
            "ClusterIdentityProvider" => {
                serde_json::from_value::<secret_rotator::api::ClusterIdentityProvider>(stored).map(|_| ())
            }
            "IdentityProvider" => {
                serde_json::from_value::<secret_rotator::api::IdentityProvider>(stored).map(|_| ())
            }
            other => panic!("unexpected kind {other}"),
        };
        fits.unwrap_or_else(|e| {
            panic!(
                "{}: stored object does not fit the Rust type: {e}",
                path.display()
            )
        });
        cluster.delete(&manifest).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_refused_with_their_messages() {
    let cluster = Cluster::start().await;
    let files = yaml_files(&repo("tests/data/invalid-manifests"));
    assert!(files.len() >= 30, "only {} invalid manifests", files.len());
    for ns in namespaces(&files) {
        cluster.ensure_namespace(&ns).await;
    }
    let mut problems = vec![];
    for (path, text) in &files {
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expected.is_empty(), "{} has no `# expect:` line", path.display());
        let manifest = parse(text);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();

        let (code, body) = cluster.create(&manifest).await;
        let message = body["message"].as_str().unwrap_or_default().to_string();
        if code != 422 && code != 400 {
            problems.push(format!("{file}: create answered {code}, not 422/400: {body}"));
        }
        for want in &expected {
            if !message.contains(want) {
                problems.push(format!("{file}: create message lacks {want:?}: {message}"));
            }
        }

        match cluster.apply(&manifest).await {
            Ok(_) => problems.push(format!("{file}: server-side apply accepted it")),
            Err(kube::Error::Api(status)) => {
                if status.code != 422 && status.code != 400 {
                    problems.push(format!(
                        "{file}: apply answered {}: {}",
                        status.code, status.message
                    ));
                }
                for want in &expected {
                    if !status.message.contains(want) {
                        problems.push(format!(
                            "{file}: apply message lacks {want:?}: {}",
                            status.message
                        ));
                    }
                }
            }
            Err(e) => problems.push(format!("{file}: apply failed without a Status: {e}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
