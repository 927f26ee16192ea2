//! Setting the stage (I/O): the sandbox API server (HTTPS on loopback, so kubectl sends its token)
//! and the Entra emulator, sharing one clock; the user's kubeconfig; the CRDs, the operator's
//! RBAC, the Entra tenant and application, the provider and the Deployment; and the operator
//! itself, the controller `secret-rotator run` runs, connected over HTTPS as its own service
//! account.
//!
//! Invariant: every listener and task started here is stopped by [`Stage::close`] (or dropped
//! with the stage); the kubeconfig's temporary directory is removed with it.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use kube::Client;
use sandbox::{
    apiserver::{ADMIN_TOKEN, ApiServer, ServingHandle, workloads::SimulatorConfig},
    entra::{
        ApplicationSpec, Consistency, CreatedApplication, Emulator, FederatedCredentialSpec, ServerHandle,
        TenantSpec,
    },
};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{
    DemoError,
    objects::{self, FIELD_MANAGER, NAMESPACE, OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT},
};
use crate::{
    cli::sandboxed::{self, EmulatorClock, OperatorIdentity, Warp},
    controller::{ControllerConfig, Operator},
};

/// How long Entra takes to accept a new key: a realistic few seconds, so the first verification
/// probe is refused (`AADSTS7000215`) and the operator has to wait, as it does in real tenants.
const PROPAGATION_DELAY: Duration = Duration::from_secs(2);

/// Where to listen and write.
#[derive(Clone, Debug)]
pub struct Listen {
    /// Address of both servers.
    pub address: IpAddr,
    /// Port of the API server (0: any free port).
    pub apiserver_port: u16,
    /// Port of the Entra emulator (0: any free port).
    pub entra_port: u16,
    /// Where to write the kubeconfig (`None`: a fresh temporary directory).
    pub kubeconfig: Option<PathBuf>,
}

/// The running servers and what the demo needs to reach them.
pub struct Stage {
    /// The sandbox API server.
    pub api: ApiServer,
    /// The Entra emulator.
    pub em: Emulator,
    /// `https://127.0.0.1:PORT`.
    pub api_url: String,
    /// `http://127.0.0.1:PORT`.
    pub entra_url: String,
    /// The user's kubeconfig (administrator, context namespace `demo`).
    pub kubeconfig: PathBuf,
    api_handle: Option<ServingHandle>,
    em_handle: Option<ServerHandle>,
    temp_dir: Option<PathBuf>,
}

fn listen_error(
    what: &'static str,
    flag: &'static str,
    address: IpAddr,
    port: u16,
) -> impl FnOnce(std::io::Error) -> DemoError {
    move |source| DemoError::Listen {
        what,
        flag,
        address: SocketAddr::new(address, port),
        source,
    }
}

/// The workload simulator's pace: a replica starts 0.3 s after it is created and is ready 0.7 s
/// later (sped up with the clock), so a rollout is visible replica by replica.
fn simulator(speed: u32) -> SimulatorConfig {
    let scaled = |ms: u64| Duration::from_millis((ms / u64::from(speed.max(1))).max(10));
    SimulatorConfig {
        start_after: scaled(300),
        ready_after: scaled(700),
        terminate_after: scaled(300),
        volume_sync_delay: scaled(1000),
        ..SimulatorConfig::default()
    }
}

impl Stage {
    /// Starts both servers and writes the kubeconfig.
    pub async fn open(listen: &Listen, speed: u32) -> Result<Self, DemoError> {
        let em = Emulator::builder()
            .consistency(Consistency {
                propagation_delay: PROPAGATION_DELAY,
                ..Consistency::default()
            })
            .build()
            .map_err(|e| DemoError::Setup {
                what: "starting the Entra emulator".into(),
                detail: e.to_string(),
            })?;
        let api =
            sandboxed::api_server_on(&em, ApiServer::builder().workload_config(simulator(speed))).build();
        // NB: HTTPS, because kubectl sends a kubeconfig's token only to TLS servers.
        let api_handle = api
            .serve_tls((listen.address, listen.apiserver_port))
            .await
            .map_err(listen_error(
                "the sandbox Kubernetes API server",
                "--apiserver-port",
                listen.address,
                listen.apiserver_port,
            ))?;
        let em_handle = em
            .serve(SocketAddr::new(listen.address, listen.entra_port))
            .await
            .map_err(listen_error(
                "the Entra emulator",
                "--entra-port",
                listen.address,
                listen.entra_port,
            ))?;
        let (kubeconfig, temp_dir) = match &listen.kubeconfig {
            Some(path) => (path.clone(), None),
            None => {
                let dir = std::env::temp_dir().join(format!("secret-rotator-demo-{}", std::process::id()));
                std::fs::create_dir_all(&dir).map_err(|source| DemoError::Kubeconfig {
                    path: dir.clone(),
                    source,
                })?;
                (dir.join("kubeconfig"), Some(dir))
            }
        };
        let text = api_handle.kubeconfig(ADMIN_TOKEN).replacen(
            "    namespace: default\n",
            &format!("    namespace: {NAMESPACE}\n"),
            1,
        );
        crate::cli::sandboxed::kubeconfig_file::write_private(&kubeconfig, &text).map_err(|source| {
            DemoError::Kubeconfig {
                path: kubeconfig.clone(),
                source,
            }
        })?;
        Ok(Self {
            api_url: api_handle.url(),
            entra_url: em_handle.url().to_owned(),
            api,
            em,
            kubeconfig,
            api_handle: Some(api_handle),
            em_handle: Some(em_handle),
            temp_dir,
        })
    }

    /// Creates `object` as an administrator would (`kubectl create`).
    pub fn create(&self, object: Value) -> Result<(), DemoError> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let what = || format!("creating {kind} {name}");
        let rt = self
            .api
            .resource_for_kind(&api_version, &kind)
            .ok_or_else(|| DemoError::Setup {
                what: what(),
                detail: format!("the API server does not serve {api_version} {kind}"),
            })?;
        self.api
            .create(&rt, &namespace, object, FIELD_MANAGER)
            .map(|_| ())
            .map_err(|e| DemoError::Setup {
                what: what(),
                detail: e.message.clone(),
            })
    }

    /// Stops both servers and removes the temporary kubeconfig.
    pub async fn close(mut self) {
        if let Some(h) = self.api_handle.take() {
            h.shutdown().await;
        }
        if let Some(h) = self.em_handle.take() {
            h.shutdown().await;
        }
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if let Some(dir) = self.temp_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn admin(what: &str) -> impl FnOnce(sandbox::entra::AdminError) -> DemoError + '_ {
    move |e| DemoError::Setup {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

/// The Entra side: the tenant, the operator's identity (with `Application.ReadWrite.OwnedBy`)
/// trusting the sandbox's service-account issuer for the provider's service account, and the
/// application whose secret is rotated, owned by the operator.
pub fn seed_entra(stage: &Stage) -> Result<(OperatorIdentity, CreatedApplication), DemoError> {
    let em = &stage.em;
    let operator = sandboxed::seed_operator(
        em,
        TenantSpec {
            domains: vec![objects::TENANT_DOMAIN.to_owned()],
            ..TenantSpec::default()
        },
        "secret-rotator",
    )
    .map_err(admin("seeding the Entra tenant"))?;
    let app = sandboxed::add_owned_application(em, &operator, ApplicationSpec::new(objects::ROTATION))
        .map_err(admin("creating the application at Entra"))?;
    let issuer = stage.api.service_account_issuer();
    let jwks = stage.api.service_account_jwks().map_err(|e| DemoError::Setup {
        what: "reading the sandbox's service-account keys".into(),
        detail: e.message,
    })?;
    em.trust_issuer(&issuer, jwks)
        .map_err(admin("trusting the sandbox's service-account issuer"))?;
    em.add_federated_credential(
        &operator.app.app_id,
        FederatedCredentialSpec::kubernetes(
            "demo-entra-workload-identity",
            &issuer,
            NAMESPACE,
            objects::SIGN_IN_SERVICE_ACCOUNT,
        ),
    )
    .map_err(admin("adding the federated identity credential"))?;
    Ok((operator, app))
}

/// The operator, running in-process.
pub struct RunningOperator {
    task: JoinHandle<()>,
    stop: Option<oneshot::Sender<()>>,
    warp: Option<Warp>,
}

impl RunningOperator {
    /// Starts the controller (the one `secret-rotator run` runs while it leads), connected over
    /// HTTPS as its service account, on the emulator's clock (warped `speed` times); returns once
    /// its caches are synced.
    pub async fn start(stage: &Stage, speed: u32) -> Result<Self, DemoError> {
        let token = stage
            .api
            .service_account_token(
                OPERATOR_NAMESPACE,
                OPERATOR_SERVICE_ACCOUNT,
                &[],
                Duration::from_secs(365 * 24 * 3600),
            )
            .map_err(|e| DemoError::Setup {
                what: "issuing the operator's service-account token".into(),
                detail: e.message,
            })?;
        let config = match &stage.api_handle {
            Some(h) => h.kube_config(token.expose_secret()),
            None => {
                return Err(DemoError::Setup {
                    what: "starting the operator".into(),
                    detail: "the API server is not serving".into(),
                });
            }
        };
        let client = Client::try_from(config).map_err(|e| DemoError::Setup {
            what: "connecting the operator to the API server".into(),
            detail: e.to_string(),
        })?;
        let (synced_tx, mut synced) = watch::channel(false);
        let mut operator = Operator::new(client, ControllerConfig::new(OPERATOR_NAMESPACE))
            .clock(Arc::new(EmulatorClock(stage.em.clone())))
            .ready(synced_tx);
        let mut warp = None;
        if speed > 1 {
            // The controller's timers run in real time; with time warped, it is asked to look at
            // every rotation at each move of the clock.
            let (tx, rx) = mpsc::unbounded_channel::<()>();
            operator = operator.reconcile_all_on(futures::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|()| ((), rx))
            }));
            warp = Some(Warp::start(stage.em.clone(), speed, move || {
                let _ = tx.send(());
            }));
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(operator.run(async move {
            let _ = stopped.await;
        }));
        match tokio::time::timeout(Duration::from_secs(60), synced.wait_for(|s| *s)).await {
            Ok(Ok(_)) => Ok(Self {
                task,
                stop: Some(stop),
                warp,
            }),
            _ => {
                task.abort();
                Err(DemoError::Setup {
                    what: "starting the operator".into(),
                    detail: "its caches did not sync within 60 s".into(),
                })
            }
        }
    }

    /// Whether the controller has stopped by itself.
    pub fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the controller (letting passes in flight finish, for up to 10 s).
    pub async fn stop(mut self) {
        self.warp = None;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

impl Drop for RunningOperator {
    fn drop(&mut self) {
        self.task.abort();
    }
}
