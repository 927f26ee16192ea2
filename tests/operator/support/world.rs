//! One isolated world per test: the sandbox API server (in-process, CRDs installed), the Entra
//! emulator (served on loopback, so the operator's Graph client talks real HTTP), a tenant with
//! the operator's application and target applications it owns, a namespace with an
//! `IdentityProvider`, and the real controller running in-process on the emulator's clock.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, Client,
    api::{Patch, PatchParams, PostParams},
    runtime::wait::await_condition,
};
use sandbox::{
    apiserver::{ApiServer, ServingHandle},
    entra::{ApplicationSpec, CreatedApplication, Emulator, PasswordSpec, ServerHandle, TenantSpec},
};
use secrecy::{ExposeSecret, SecretString};
use secret_rotator::{
    api::{ClientSecretRotation, IdentityProvider, wellknown},
    cli::sandboxed::{self, Warp},
    controller::{ControllerConfig, Operator, StepHook},
    metrics::{Metrics, endpoint},
    provider::entra::RetryPolicy,
};
use serde_json::{Value, json};
use tokio::{sync::mpsc, task::JoinHandle};

/// The namespace the tests' rotations live in.
pub const NS: &str = "team-a";
/// The Graph app role the operator's application holds.
/// The operator's bearer token at the sandbox API server.
pub const OPERATOR_TOKEN: &str = "secret-rotator-operator-token";
/// The user the operator's token authenticates as.
pub const OPERATOR_USER: &str = "secret-rotator-operator";
/// Generous bound on anything a test waits for (a loaded 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The emulator's clock, as the operator's.
pub use secret_rotator::cli::sandboxed::EmulatorClock;

/// A running operator.
struct Running {
    task: JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What a test runs against.
pub struct World {
    pub api: ApiServer,
    /// The administrator's client (what the tests use).
    pub client: Client,
    /// The operator's client: its own bearer token, so the access log tells its requests apart.
    pub operator_client: Client,
    /// The user the operator's client authenticates as.
    pub operator_user: String,
    pub em: Emulator,
    pub em_server: ServerHandle,
    pub tenant: String,
    pub operator_app: CreatedApplication,
    pub operator_secret: SecretString,
    /// Applications the operator owns, free for rotations.
    pub apps: Vec<CreatedApplication>,
    reconcile_all: Option<mpsc::UnboundedSender<()>>,
    running: Option<Running>,
    warp: Option<Warp>,
    pub config: ControllerConfig,
    /// What the in-process operator records into (its registry is served at `metrics_url`).
    pub metrics: Metrics,
    /// `http://127.0.0.1:<port>/metrics`, served by the operator's own `/metrics` route.
    pub metrics_url: String,
    metrics_server: JoinHandle<()>,
}

impl World {
    /// A world with `apps` target applications.
    pub async fn new(apps: usize) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        // `RUST_LOG=secret_rotator=debug cargo test ...` shows what the operator does.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let em = Emulator::new();
        let em_server = em.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let api = sandboxed::api_server_on(&em, ApiServer::builder()).build();
        let client = api.client();
        // The operator signs in with a token of its own (all-powerful: the RBAC it needs is the
        // chart's concern), so the access log tells its requests apart from the test's.
        api.add_token(OPERATOR_TOKEN, OPERATOR_USER, &["system:masters"]);
        let operator_client = api.client_with_token(OPERATOR_TOKEN);

        sandboxed::install_crds(&client, PATIENCE).await.unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": NS, "labels": {"team": "a"}}})).unwrap(),
            )
            .await
            .unwrap();

        let operator = sandboxed::seed_operator(
            &em,
            TenantSpec {
                domains: vec!["contoso.onmicrosoft.com".into()],
                ..TenantSpec::default()
            },
            "secret-rotator",
        )
        .unwrap();
        let operator_secret = em
            .seed_password(&operator.app.app_id, PasswordSpec::default())
            .unwrap()
            .secret;
        let apps = (0..apps)
            .map(|i| {
                sandboxed::add_owned_application(&em, &operator, ApplicationSpec::new(&format!("app-{i}")))
                    .unwrap()
            })
            .collect();
        let (tenant, operator_app) = (operator.tenant, operator.app);

        let mut config = ControllerConfig::new("secret-rotator");
        config.provider_retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            total_budget: Duration::from_secs(2),
            replication_lag_window: Duration::from_secs(2),
            replication_lag_delay: Duration::from_millis(100),
        };
        config.error_backoff = (Duration::from_millis(200), Duration::from_secs(2));
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Metrics::register(&mut registry);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let router = endpoint::router(Arc::new(registry));
        let metrics_server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let world = Self {
            api,
            client,
            operator_client,
            operator_user: OPERATOR_USER.to_owned(),
            em,
            em_server,
            tenant,
            operator_app,
            operator_secret,
            apps,
            reconcile_all: None,
            running: None,
            warp: None,
            config,
            metrics,
            metrics_url,
            metrics_server,
        };
        world.create_operator_secret(NS, "entra-operator").await;
        world
            .create_identity_provider(NS, "entra", "entra-operator")
            .await;
        world
    }

    /// The target application `i`.
    pub fn app(&self, i: usize) -> &CreatedApplication {
        &self.apps[i]
    }

    /// Creates namespace `name`.
    pub async fn create_namespace(&self, name: &str) {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        namespaces
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            )
            .await
            .unwrap();
    }

    /// Writes `dir/<replica>`, a kubeconfig for `serving` whose user `operator-<replica>` may do
    /// anything (`system:masters`), for an operator process of its own; returns its path.
    pub fn operator_kubeconfig(&self, serving: &ServingHandle, dir: &Path, replica: &str) -> PathBuf {
        let token = format!("operator-{replica}-token");
        self.api
            .add_token(&token, &format!("operator-{replica}"), &["system:masters"]);
        let path = dir.join(replica);
        std::fs::write(&path, serving.kubeconfig(&token)).unwrap();
        path
    }

    /// A Secret holding the operator's client secret.
    pub async fn create_operator_secret(&self, ns: &str, name: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "stringData": {"client-secret": self.operator_secret.expose_secret()},
                }))
                .unwrap(),
            )
            .await
            .unwrap();
    }

    /// The `entra` endpoints of the emulator.
    pub fn endpoints(&self) -> Value {
        json!({"authority": self.em_server.url(), "graph": self.em_server.url()})
    }

    /// An `IdentityProvider` signing in with the client secret in Secret `secret`.
    pub async fn create_identity_provider(&self, ns: &str, name: &str, secret: &str) {
        let providers: Api<IdentityProvider> = Api::namespaced(self.client.clone(), ns);
        providers
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": wellknown::API_VERSION,
                    "kind": "IdentityProvider",
                    "metadata": {"name": name},
                    "spec": {
                        "tenantId": self.tenant,
                        "endpoints": self.endpoints(),
                        "auth": {"clientSecret": {
                            "clientId": self.operator_app.app_id,
                            "secretRef": {"name": secret, "key": "client-secret"},
                        }},
                    },
                }))
                .unwrap(),
            )
            .await
            .unwrap();
    }

    /// Starts the controller in-process (with `hook`, if any).
    pub fn start_operator_with(&mut self, hook: Option<Arc<dyn StepHook>>) {
        assert!(self.running.is_none(), "the operator is already running");
        let (tx, rx) = mpsc::unbounded_channel();
        self.reconcile_all = Some(tx);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut operator = Operator::new(self.operator_client.clone(), self.config.clone())
            .metrics(self.metrics.clone())
            .clock(Arc::new(EmulatorClock(self.em.clone())))
            .reconcile_all_on(futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|()| ((), rx))
            }));
        if let Some(hook) = hook {
            operator = operator.hook(hook);
        }
        let task = tokio::spawn(operator.run(async move {
            let _ = stop_rx.await;
        }));
        self.running = Some(Running {
            task,
            stop: Some(stop_tx),
        });
    }

    /// Starts the controller in-process.
    pub fn start_operator(&mut self) {
        self.start_operator_with(None);
    }

    /// Kills the controller at once (as `kill -9` would: whatever it was doing stops there).
    pub async fn kill_operator(&mut self) {
        if let Some(running) = self.running.take() {
            running.task.abort();
            let _ = running.task.await;
        }
        self.reconcile_all = None;
    }

    /// Stops the controller gracefully.
    pub async fn stop_operator(&mut self) {
        if let Some(mut running) = self.running.take() {
            if let Some(stop) = running.stop.take() {
                let _ = stop.send(());
            }
            let _ = tokio::time::timeout(PATIENCE, &mut running.task).await;
            running.task.abort();
        }
        self.reconcile_all = None;
    }

    /// Asks the controller to reconcile every rotation now.
    pub fn reconcile_all(&self) {
        if let Some(tx) = &self.reconcile_all {
            let _ = tx.send(());
        }
    }

    /// Moves the emulator's (and so the operator's and API server's) clock, then has every
    /// rotation looked at.
    pub fn advance(&self, by: Duration) {
        self.em.advance(by);
        self.reconcile_all();
    }

    /// Makes time pass `factor` times faster than real time (until [`World::normal_time`]):
    /// every 100 ms the clock moves `(factor - 1) * 100 ms` more and every rotation is looked at.
    pub fn warp(&mut self, factor: u32) {
        self.normal_time();
        let tx = self.reconcile_all.clone();
        self.warp = Some(Warp::start(self.em.clone(), factor, move || {
            if let Some(tx) = &tx {
                let _ = tx.send(());
            }
        }));
    }

    /// Back to real time.
    pub fn normal_time(&mut self) {
        self.warp = None;
    }

    /// The rotations API of the test namespace.
    pub fn rotations(&self) -> Api<ClientSecretRotation> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// Creates a rotation from a spec (JSON) in the test namespace.
    pub async fn create_rotation(&self, name: &str, spec: Value) -> ClientSecretRotation {
        self.rotations()
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": wellknown::API_VERSION,
                    "kind": "ClientSecretRotation",
                    "metadata": {"name": name},
                    "spec": spec,
                }))
                .unwrap(),
            )
            .await
            .unwrap()
    }

    /// Sets an annotation on a rotation.
    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        self.rotations()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .unwrap();
    }

    /// Merges `spec` into a rotation's spec.
    pub async fn patch_spec(&self, name: &str, spec: Value) {
        self.rotations()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .unwrap();
    }

    /// Waits (watching, not polling) until the rotation satisfies `done`; panics with its last
    /// state after [`PATIENCE`].
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&ClientSecretRotation) -> bool,
    ) -> ClientSecretRotation {
        let cond = move |o: Option<&ClientSecretRotation>| o.is_some_and(&done);
        match tokio::time::timeout(PATIENCE, await_condition(self.rotations(), name, cond)).await {
            Ok(Ok(Some(o))) => o,
            other => {
                let last = self.rotations().get_opt(name).await.ok().flatten();
                panic!(
                    "{name}: not {what} within {PATIENCE:?} ({other:?}); last seen: {}",
                    serde_json::to_string_pretty(&last.map(|l| l.status)).unwrap()
                )
            }
        }
    }

    /// Waits until the rotation is Ready=True for its current generation and idle.
    pub async fn wait_ready(&self, name: &str) -> ClientSecretRotation {
        self.wait_for(name, "Ready and idle", |o| {
            condition(o, wellknown::condition::READY)
                .is_some_and(|c| c.status == "True" && c.observed_generation == o.metadata.generation)
                && o.status.as_ref().is_some_and(|s| s.rotation.is_none())
        })
        .await
    }

    /// A Secret's value under `key`, if any.
    pub async fn secret_value(&self, name: &str, key: &str) -> Option<String> {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), NS);
        let secret = secrets.get_opt(name).await.unwrap()?;
        let bytes = secret.data?.remove(key)?;
        Some(String::from_utf8(bytes.0).unwrap())
    }

    /// Whether `secret` authenticates as application `i` at the emulator now.
    pub fn authenticates(&self, i: usize, secret: &str) -> bool {
        self.em.authenticates(&self.tenant, &self.app(i).app_id, secret)
    }

    /// The passwords of application `i` at the emulator that are not removed.
    pub fn passwords(&self, i: usize) -> Vec<sandbox::entra::PasswordCredentialState> {
        self.em
            .credentials(&self.app(i).object_id)
            .unwrap()
            .into_iter()
            .filter(|p| p.removed_at.is_none())
            .collect()
    }

    /// Graph calls (any, by the operator) in the emulator's audit log.
    pub fn graph_calls(&self) -> Vec<sandbox::entra::AuditEntry> {
        self.em
            .audit_log()
            .into_iter()
            .filter(|e| e.path.starts_with("/v1.0/"))
            .collect()
    }

    /// Requests the operator made to the API server, except watches.
    pub fn operator_requests(&self) -> Vec<sandbox::apiserver::AccessRecord> {
        let operator = self.operator_user();
        self.api
            .access_log()
            .into_iter()
            .filter(|r| r.user == operator && r.verb != "watch" && r.resource_request)
            .collect()
    }

    /// The user name the operator's token authenticates as.
    pub fn operator_user(&self) -> String {
        self.operator_user.clone()
    }

    /// Runs the operator (from its next start) as `user`, with `token`.
    pub fn operator_identity(&mut self, token: &str, user: &str) {
        self.operator_client = self.api.client_with_token(token);
        self.operator_user = user.to_owned();
    }

    /// addPassword calls so far.
    pub fn mints(&self) -> usize {
        self.graph_calls()
            .iter()
            .filter(|e| e.path.ends_with("/addPassword") && e.status == 200)
            .count()
    }

    /// Events about a rotation, oldest first (reason, note).
    pub async fn events(&self, name: &str) -> Vec<(String, String)> {
        let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(self.client.clone(), NS);
        let mut list: Vec<_> = events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .collect();
        list.sort_by_key(|e| e.event_time.as_ref().map(|t| t.0));
        list.into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
            .collect()
    }
}

impl World {
    /// Waits until Events with every one of `reasons` were published about a rotation (they
    /// follow the status write that makes a test go on by a moment), and returns them all.
    pub async fn wait_events(&self, name: &str, reasons: &[&str]) -> Vec<(String, String)> {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let events = self.events(name).await;
            if reasons.iter().all(|want| events.iter().any(|(r, _)| r == want)) {
                return events;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: events {reasons:?} not all published; got {events:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl World {
    /// Scrapes the in-process operator's `/metrics`.
    pub async fn scrape(&self) -> super::metrics::Scrape {
        super::metrics::scrape(&self.metrics_url).await
    }

    /// Scrapes until `done` holds.
    pub async fn scrape_until(
        &self,
        what: &str,
        done: impl Fn(&super::metrics::Scrape) -> bool,
    ) -> super::metrics::Scrape {
        super::metrics::scrape_until(&self.metrics_url, what, done).await
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.metrics_server.abort();
        self.normal_time();
        if let Some(running) = self.running.take() {
            running.task.abort();
        }
    }
}

/// A condition of a rotation.
pub fn condition<'a>(
    o: &'a ClientSecretRotation,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    o.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

/// A rotation spec for application `client_id` writing Secret `secret`, with `extra` merged in.
pub fn spec(client_id: &str, secret: &str, extra: Value) -> Value {
    let mut spec = json!({
        "providerRef": {"name": "entra"},
        "application": {"clientId": client_id},
        "secret": {"name": secret},
        "lifetime": "24h",
    });
    merge(&mut spec, &extra);
    spec
}

/// RFC 7386 merge of `patch` into `target`.
pub fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Streams every change of every rotation (for tests that want to see transitions).
pub fn watch_rotations(
    api: Api<ClientSecretRotation>,
) -> impl futures::Stream<Item = ClientSecretRotation> + Send {
    use kube::runtime::WatchStreamExt;
    kube::runtime::watcher(api, Default::default())
        .applied_objects()
        .filter_map(|e| async move { e.ok() })
}
