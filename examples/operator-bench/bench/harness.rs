//! The world every measurement runs in, built once per benchmark run:
//! * the sandbox API server, served on loopback (plain HTTP), with the CRDs installed, a
//!   workload simulator with fast rollouts (5 ms to start, 10 ms to ready), and the operator's own
//!   bearer token so the access log tells its requests apart;
//! * the Entra emulator, served on loopback, with propagation delay 0 and the real
//!   per-(application, tenant) Graph write bucket (3,000 writes per 150 s); one tenant, the
//!   operator's application, and one target application per rotation, owned by the operator;
//! * the [`Proxy`] the operator connects through, and the [`Tracker`] of the change feed;
//! * the operator itself as a separate process ([`OperatorProcess`]).
//!
//! Rotation `i` is `rot-NNNNN` in namespace `bench`, writing Secret `creds-NNNNN` and rolling
//! Deployment `app-NNNNN` (1 replica, reading the Secret through `secretKeyRef`).
//!
//! Invariant: the benchmark's own writes go in-process ([`ApiServer::create`], not HTTP), so the
//! access log and the proxy hold the operator's requests only (and the handful of set-up calls made
//! before the operator starts).

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, ResourceExt, api::PostParams};
use sandbox::apiserver::{AccessRecord, ApiServer, ResourceType, ServingHandle, workloads::SimulatorConfig};
use sandbox::entra::{
    ApplicationSpec, AuditEntry, CreatedApplication, Emulator, PasswordSpec, ServerHandle, TenantSpec,
};
use secrecy::{ExposeSecret, SecretString};
use secret_rotator::api::wellknown;
use serde_json::{Value, json};

use super::process::{Launch, OperatorProcess};
use super::proxy::Proxy;
use super::tracker::Tracker;

/// Namespace of the rotations, their Secrets and Deployments.
pub const NS: &str = "bench";
/// The operator's namespace (its Lease).
pub const OPERATOR_NS: &str = "secret-rotator";
/// The operator's bearer token.
pub const OPERATOR_TOKEN: &str = "secret-rotator-bench-operator-token";
/// The user that token authenticates as.
pub const OPERATOR_USER: &str = "secret-rotator-bench-operator";
/// Marker in the names of unrelated Secrets (counted in what the operator receives).
pub const UNRELATED_SECRET_MARKER: &str = "unrelated-secret-";
/// Marker in the names of unrelated Deployments.
pub const UNRELATED_DEPLOYMENT_MARKER: &str = "unrelated-deploy-";
/// The field manager of the benchmark's own writes.
const MANAGER: &str = "operator-bench";

/// Name of rotation `i`.
pub fn rotation_name(i: usize) -> String {
    format!("rot-{i:05}")
}
/// Name of the Secret of rotation `i`.
pub fn secret_name(i: usize) -> String {
    format!("creds-{i:05}")
}
/// Name of the Deployment of rotation `i`.
pub fn deployment_name(i: usize) -> String {
    format!("app-{i:05}")
}

/// The served resource types the benchmark writes.
pub struct Types {
    /// `clientsecretrotations`.
    pub rotations: Arc<ResourceType>,
    /// `deployments`.
    pub deployments: Arc<ResourceType>,
    /// `secrets`.
    pub secrets: Arc<ResourceType>,
    /// `namespaces`.
    pub namespaces: Arc<ResourceType>,
}

/// Everything a measurement needs.
pub struct World {
    /// The API server.
    pub api: ApiServer,
    api_handle: ServingHandle,
    /// The Entra emulator.
    pub em: Emulator,
    em_handle: ServerHandle,
    /// The tenant id.
    pub tenant: String,
    /// The operator's application.
    pub operator_app: CreatedApplication,
    operator_sp: String,
    apps: Vec<CreatedApplication>,
    /// What the operator sends and receives.
    pub proxy: Proxy,
    /// The change feed of the benchmark namespace.
    pub tracker: Tracker,
    /// How the operator is started.
    pub launch: Launch,
    /// The running operator.
    pub operator: Option<OperatorProcess>,
    /// Resource types.
    pub types: Types,
    /// Warnings and errors logged by operator processes that ended, and samples of them.
    pub ended_logs: (u64, u64, Vec<String>),
    _dir: tempfile::TempDir,
}

fn fast_workloads() -> SimulatorConfig {
    SimulatorConfig {
        start_after: Duration::from_millis(5),
        ready_after: Duration::from_millis(10),
        terminate_after: Duration::from_millis(5),
        ..SimulatorConfig::default()
    }
}

fn crd_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

impl World {
    /// Builds the world (the operator is not started).
    pub async fn build(operator_binary: PathBuf, pin: bool) -> anyhow::Result<Self> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let em = Emulator::new();
        let em_handle = em
            .serve("127.0.0.1:0".parse()?)
            .await
            .context("serving the Entra emulator")?;
        let clock = em.clone();
        let api = ApiServer::builder()
            .clock(move || clock.now())
            .workload_config(fast_workloads())
            .access_log_capacity(4_000_000)
            .build();
        let api_handle = api.serve("127.0.0.1:0").await.context("serving the API server")?;
        api.add_token(OPERATOR_TOKEN, OPERATOR_USER, &["system:masters"]);
        let admin = api.client();

        let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
        for crd in secret_rotator::api::crds() {
            let name = crd.name_any();
            crds.create(&PostParams::default(), &crd).await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !crds.get(&name).await.is_ok_and(|c| crd_established(&c)) {
                if Instant::now() > deadline {
                    bail!("CRD {name} not established");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let types = Types {
            rotations: api
                .resource_for_kind(wellknown::API_VERSION, "ClientSecretRotation")
                .context("the rotation CRD is served")?,
            deployments: api.resource("apps", "v1", "deployments").context("deployments")?,
            secrets: api.resource("", "v1", "secrets").context("secrets")?,
            namespaces: api.resource("", "v1", "namespaces").context("namespaces")?,
        };
        for ns in [NS, OPERATOR_NS] {
            api.create(&types.namespaces, "", json!({"metadata": {"name": ns}}), MANAGER)
                .map_err(|e| anyhow::anyhow!("namespace {ns}: {e:?}"))?;
        }

        let tenant = em
            .create_tenant(TenantSpec {
                domains: vec!["bench.onmicrosoft.com".into()],
                ..TenantSpec::default()
            })
            .map_err(|e| anyhow::anyhow!("tenant: {e}"))?
            .id;
        let operator_app = em
            .create_application(&tenant, ApplicationSpec::new("secret-rotator"))
            .map_err(|e| anyhow::anyhow!("operator application: {e}"))?;
        let operator_sp = operator_app
            .service_principal_id
            .clone()
            .context("the operator's service principal")?;
        em.grant_app_roles(&operator_sp, &["Application.ReadWrite.OwnedBy"])
            .map_err(|e| anyhow::anyhow!("app role: {e}"))?;
        let operator_secret = em
            .seed_password(&operator_app.app_id, PasswordSpec::default())
            .map_err(|e| anyhow::anyhow!("operator secret: {e}"))?
            .secret;
        api.create(
            &types.secrets,
            NS,
            json!({"metadata": {"name": "entra-operator"},
                   "stringData": {"client-secret": operator_secret.expose_secret()}}),
            MANAGER,
        )
        .map_err(|e| anyhow::anyhow!("operator Secret: {e:?}"))?;
        let provider_type = api
            .resource_for_kind(wellknown::API_VERSION, "IdentityProvider")
            .context("the provider CRD is served")?;
        api.create(
            &provider_type,
            NS,
            json!({
                "metadata": {"name": "entra"},
                "spec": {
                    "tenantId": tenant,
                    "endpoints": {"authority": em_handle.url(), "graph": em_handle.url()},
                    "auth": {"clientSecret": {
                        "clientId": operator_app.app_id,
                        "secretRef": {"name": "entra-operator", "key": "client-secret"},
                    }},
                },
            }),
            MANAGER,
        )
        .map_err(|e| anyhow::anyhow!("IdentityProvider: {e:?}"))?;

        let proxy = Proxy::start(
            api_handle.local_addr(),
            &[UNRELATED_SECRET_MARKER, UNRELATED_DEPLOYMENT_MARKER],
        )
        .await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("operator.kubeconfig");
        ApiServer::write_kubeconfig(&kubeconfig, &proxy.url, OPERATOR_TOKEN)?;
        let tracker = Tracker::start(&api, NS);
        api.clear_access_log();
        em.clear_audit_log();
        Ok(Self {
            api,
            api_handle,
            em,
            em_handle,
            tenant,
            operator_app,
            operator_sp,
            apps: vec![],
            proxy,
            tracker,
            launch: Launch {
                binary: operator_binary,
                kubeconfig,
                identity: "secret-rotator-bench-0".into(),
                pin,
            },
            operator: None,
            types,
            ended_logs: (0, 0, vec![]),
            _dir: dir,
        })
    }

    /// Starts the operator and waits until it leads with synced caches; returns when it was
    /// started, first led, and synced.
    pub async fn start_operator(&mut self) -> anyhow::Result<(Instant, Instant, Instant)> {
        if self.operator.is_some() {
            bail!("the operator is already running");
        }
        let mut p = OperatorProcess::spawn(&self.launch)?;
        let started = p.started;
        let (leader, synced) = p.wait_leading(Duration::from_secs(120)).await?;
        self.operator = Some(p);
        Ok((started, leader, synced))
    }

    /// The running operator.
    pub fn operator(&mut self) -> anyhow::Result<&mut OperatorProcess> {
        let p = self.operator.as_mut().context("the operator is not running")?;
        if !p.running() {
            let (_, _, lines) = p.log_summary();
            bail!("the operator died; last lines:\n{}", lines.join("\n"));
        }
        Ok(p)
    }

    /// `kill -9` of the operator.
    pub async fn kill_operator(&mut self) -> anyhow::Result<()> {
        if let Some(p) = self.operator.take() {
            let (warnings, errors, _) = p.log_summary();
            self.ended_logs.0 += warnings;
            self.ended_logs.1 += errors;
            for line in p.log_samples() {
                if self.ended_logs.2.len() < 10 {
                    self.ended_logs.2.push(line);
                }
            }
            p.kill9().await?;
        }
        Ok(())
    }

    /// Makes sure target applications `0..n` exist, owned by the operator.
    pub fn ensure_apps(&mut self, n: usize) -> anyhow::Result<()> {
        while self.apps.len() < n {
            let i = self.apps.len();
            let app = self
                .em
                .create_application(&self.tenant, ApplicationSpec::new(&format!("bench-app-{i:05}")))
                .map_err(|e| anyhow::anyhow!("application {i}: {e}"))?;
            self.em
                .add_owner(&app.object_id, &self.operator_sp)
                .map_err(|e| anyhow::anyhow!("owner of application {i}: {e}"))?;
            self.apps.push(app);
        }
        Ok(())
    }

    /// Seeds a credential on application `i` (as if minted elsewhere), valid for `lifetime`.
    pub fn seed_credential(&self, i: usize, lifetime: Duration) -> anyhow::Result<(String, SecretString)> {
        let now = self.em.now();
        let seeded = self
            .em
            .seed_password(
                &self.apps[i].app_id,
                PasswordSpec {
                    display_name: Some("created before the operator".into()),
                    start: Some(now),
                    end: Some(now + lifetime),
                    ..Default::default()
                },
            )
            .map_err(|e| anyhow::anyhow!("seeding a credential on application {i}: {e}"))?;
        Ok((seeded.key_id, seeded.secret))
    }

    /// Creates Deployments `range` (in-process) and waits until every Deployment of the
    /// namespace has rolled out.
    pub async fn create_deployments(&self, range: Range<usize>) -> anyhow::Result<()> {
        let api = self.api.clone();
        let rt = self.types.deployments.clone();
        let want = range.end;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for i in range {
                api.create(&rt, NS, deployment(i), MANAGER)
                    .map_err(|e| anyhow::anyhow!("Deployment {i}: {e:?}"))?;
            }
            Ok(())
        })
        .await??;
        let limit = Duration::from_secs(120) + Duration::from_millis(20 * want as u64);
        if !self
            .tracker
            .wait_until(limit, |t| t.complete_deployments() >= want)
            .await
        {
            bail!(
                "only {} of {want} Deployments rolled out within {limit:?}",
                self.tracker.complete_deployments()
            );
        }
        Ok(())
    }

    /// Creates Secrets holding already-minted credentials (for adoption), in-process.
    pub async fn create_adoptable_secrets(&self, secrets: Vec<(usize, SecretString)>) -> anyhow::Result<()> {
        let api = self.api.clone();
        let rt = self.types.secrets.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for (i, value) in secrets {
                api.create(
                    &rt,
                    NS,
                    json!({"metadata": {"name": secret_name(i)},
                           "stringData": {"client-secret": value.expose_secret()}}),
                    MANAGER,
                )
                .map_err(|e| anyhow::anyhow!("Secret {i}: {e:?}"))?;
            }
            Ok(())
        })
        .await?
    }

    /// Creates rotations `range` as fast as the server takes them (in-process); `adopt` gives the
    /// keyId to adopt for rotation `i`. Returns the instant just before each create.
    pub async fn create_rotations(
        &self,
        range: Range<usize>,
        adopt: Option<Vec<String>>,
    ) -> anyhow::Result<Vec<(String, Instant)>> {
        let api = self.api.clone();
        let rt = self.types.rotations.clone();
        let client_ids: Vec<String> = range.clone().map(|i| self.apps[i].app_id.clone()).collect();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, Instant)>> {
            let mut created = Vec::with_capacity(range.len());
            for (k, i) in range.enumerate() {
                let mut spec = rotation_spec(i, &client_ids[k]);
                if let Some(keys) = &adopt {
                    spec["secret"]["adoptKeyId"] = json!(keys[k]);
                }
                let name = rotation_name(i);
                let at = Instant::now();
                api.create(
                    &rt,
                    NS,
                    json!({"metadata": {"name": name}, "spec": spec}),
                    MANAGER,
                )
                .map_err(|e| anyhow::anyhow!("rotation {name}: {e:?}"))?;
                created.push((name, at));
            }
            Ok(created)
        })
        .await?
    }

    /// Sets an annotation on rotations `range` (in-process); returns the instant before each.
    pub async fn annotate_rotations(
        &self,
        range: Range<usize>,
        key: &str,
        value: &str,
    ) -> anyhow::Result<Vec<(String, Instant)>> {
        let api = self.api.clone();
        let rt = self.types.rotations.clone();
        let (key, value) = (key.to_owned(), value.to_owned());
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(String, Instant)>> {
            let mut out = Vec::with_capacity(range.len());
            for i in range {
                let name = rotation_name(i);
                let at = Instant::now();
                api.modify(&rt, NS, &name, MANAGER, false, |o| {
                    o["metadata"]["annotations"][key.as_str()] = json!(value);
                    true
                })
                .map_err(|e| anyhow::anyhow!("annotating {name}: {e:?}"))?;
                out.push((name, at));
            }
            Ok(out)
        })
        .await?
    }

    /// Creates `count` namespaces `prefix-NNN` (in-process).
    pub fn create_namespaces(&self, prefix: &str, count: usize) -> anyhow::Result<Vec<String>> {
        let mut names = vec![];
        for k in 0..count {
            let name = format!("{prefix}-{k:03}");
            if self.api.get(&self.types.namespaces, "", &name).is_none() {
                self.api
                    .create(
                        &self.types.namespaces,
                        "",
                        json!({"metadata": {"name": name}}),
                        MANAGER,
                    )
                    .map_err(|e| anyhow::anyhow!("namespace {name}: {e:?}"))?;
            }
            names.push(name);
        }
        Ok(names)
    }

    /// The operator's records in the access log (which the caller may have cleared).
    pub fn operator_access_log(&self) -> Vec<AccessRecord> {
        self.api
            .access_log()
            .into_iter()
            .filter(|r| r.user == OPERATOR_USER)
            .collect()
    }

    /// Emulator audit entries from position `from` on.
    pub fn audit_since(&self, from: usize) -> Vec<AuditEntry> {
        let mut log = self.em.audit_log();
        log.drain(..from.min(log.len()));
        log
    }

    /// Current length of the emulator's audit log.
    pub fn audit_len(&self) -> usize {
        self.em.audit_log().len()
    }

    /// Waits until the operator has sent no request (watches and Lease renewals aside) for
    /// `quiet`, at most `limit`; returns whether it got quiet.
    pub async fn wait_quiet(&self, quiet: Duration, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut seen = self.proxy.stats.request_count();
        let mut last_activity = Instant::now();
        loop {
            let now = Instant::now();
            let new = self.proxy.stats.requests_since(seen);
            seen += new.len();
            if new.iter().any(|r| !r.is_watch() && !r.path.contains("/leases")) {
                last_activity = now;
            }
            if now.duration_since(last_activity) >= quiet {
                return true;
            }
            if now > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Warnings and errors of every operator process so far, and the first of them.
    pub fn log_totals(&self) -> (u64, u64, Vec<String>) {
        let (mut w, mut e, mut samples) = self.ended_logs.clone();
        if let Some(p) = &self.operator {
            let (pw, pe, _) = p.log_summary();
            w += pw;
            e += pe;
            samples.extend(
                p.log_samples()
                    .into_iter()
                    .take(10usize.saturating_sub(samples.len())),
            );
        }
        (w, e, samples)
    }

    /// Stops the listeners.
    pub async fn shutdown(mut self) {
        let _ = self.kill_operator().await;
        self.api_handle.shutdown().await;
        self.em_handle.shutdown().await;
    }
}

/// The spec of rotation `i`: 90-day secrets renewed 30 days before expiry, the previous one
/// revoked as soon as the rollout is done (overlap 0, so a rotation is two Graph writes within
/// the run), one Deployment restarted.
pub fn rotation_spec(i: usize, client_id: &str) -> Value {
    json!({
        "providerRef": {"name": "entra"},
        "application": {"clientId": client_id},
        "secret": {"name": secret_name(i)},
        "lifetime": "2160h",
        "renewBefore": "720h",
        "overlap": "0s",
        "rolloutTargets": [{"kind": "Deployment", "name": deployment_name(i)}],
    })
}

/// Deployment `i`: one replica reading the rotation's Secret.
pub fn deployment(i: usize) -> Value {
    let app = deployment_name(i);
    json!({
        "metadata": {"name": app, "labels": {"app": app}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{
                    "name": "app",
                    "image": "example.com/app:1",
                    "env": [{"name": "CLIENT_SECRET", "valueFrom": {"secretKeyRef": {
                        "name": secret_name(i), "key": "client-secret", "optional": true}}}],
                }]},
            },
        },
    })
}
