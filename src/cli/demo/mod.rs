//! `secret-rotator demo`: the operator at work in a minute or two, on a machine with no cluster
//! and no tenant. It starts the sandbox Kubernetes API server (HTTPS on loopback, with a
//! kubeconfig for kubectl) and the Microsoft Entra emulator in-process, sets the stage (CRDs from
//! the binary, the operator's RBAC, a tenant with the application and the operator's
//! least-privilege identity, a workload-identity `IdentityProvider`, a Deployment reading the
//! Secret as an environment variable and a file, a short-lived `ClientSecretRotation`), runs the
//! real controller, and prints a timeline of every step through several rotations while it probes
//! every secret every live replica holds at Entra; then a summary (zero downtime or not).
//!
//! Layout: [`settings`] (timing from the flags), [`objects`] (what is created), [`setup`] (the
//! servers, the seeding and the operator), [`observe`] (keys at Entra, replicas, the prober),
//! [`timeline`] (what changed, as steps), [`summary`], [`render`] (formatting).
//!
//! Invariants: nothing secret is printed (keys appear by their public hint); Ctrl-C stops
//! everything cleanly at any moment; every error says what to do.

pub mod objects;
pub mod observe;
pub mod render;
pub mod settings;
pub mod setup;
pub mod summary;
pub mod timeline;

use std::{
    io::{IsTerminal, Write},
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    time::Duration,
};

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use sandbox::apiserver::{Change, ChangeKind};

use self::{
    objects::{DEPLOYMENT, NAMESPACE, ROTATION, SECRET},
    observe::{Prober, Sources, rollout_counts},
    render::{Style, short_id},
    settings::{Timing, TimingError, go},
    setup::{Listen, RunningOperator, Stage},
    summary::{Final, Summary},
    timeline::{Entry, Observation, Tag, Timeline},
};
use super::{sandboxed, signals};
use crate::api::{ClientSecretRotation, ClientSecretRotationStatus, wellknown};

/// Arguments of `secret-rotator demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Rotations to show after the first key is issued.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub rotations: u32,
    /// Lifetime of each client secret, as a Go duration (1m to 24h). The operator renews it when
    /// half of it is left.
    #[arg(long, default_value = "1m")]
    pub lifetime: String,
    /// How long the previous secret stays valid after every replica moved to the new one (at most
    /// a quarter of the lifetime).
    #[arg(long, default_value = "10s")]
    pub overlap: String,
    /// Replicas of the demo's Deployment.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    pub replicas: u16,
    /// Run the sandbox's clock this many times faster than real time (1: real time). NB: kubectl
    /// then shows ages as `<invalid>`, the sandbox's clock being ahead of yours.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub speed: u32,
    /// Give up (exit status 1) if the rotations have not all finished after this much real time,
    /// as a Go duration (default: the rotations' sandbox time at --speed, plus 3m for a slow
    /// machine).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Stay up after the summary (the operator keeps rotating) so you can explore with kubectl and
    /// `secret-rotator status`/`rotate`; Ctrl-C stops.
    #[arg(long)]
    pub keep_running: bool,
    /// No colours (also off when NO_COLOR is set or the output is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// Where to write the kubeconfig (default: a fresh temporary directory, removed at exit).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Address the API server and the Entra emulator listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// Port of the sandbox API server (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub apiserver_port: u16,
    /// Port of the Entra emulator (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub entra_port: u16,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A timing flag.
    #[error(transparent)]
    Timing(#[from] TimingError),
    /// A server could not listen.
    #[error("{}", listen_message(what, flag, address, source))]
    Listen {
        /// Which server.
        what: &'static str,
        /// The flag that picks its port.
        flag: &'static str,
        /// Where.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The kubeconfig could not be written.
    #[error("cannot write the kubeconfig {}: {source}; choose another place with --kubeconfig", path.display())]
    Kubeconfig {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Setting the stage failed.
    #[error("{what}: {detail}")]
    Setup {
        /// What was being done.
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// The CRDs could not be installed.
    #[error(transparent)]
    Crds(#[from] sandboxed::CrdInstallError),
    /// The rotations did not finish in time.
    #[error(
        "rotation {rotation} did not finish within {waited:?} (last seen: {state}); the machine may be overloaded: try again, or with a longer --lifetime"
    )]
    Timeout {
        /// The rotation waited for.
        rotation: i64,
        /// How long.
        waited: Duration,
        /// The rotation's conditions when we gave up.
        state: String,
    },
    /// The operator gave a rotation up.
    #[error(
        "rotation {rotation} failed: {why}; the operator would retry with a new key, but in the demo a failure is a failure (run with RUST_LOG=secret_rotator=debug to see why)"
    )]
    Abandoned {
        /// The rotation.
        rotation: i64,
        /// Why, from its status.
        why: String,
    },
    /// The controller stopped by itself.
    #[error("the operator stopped unexpectedly")]
    OperatorStopped,
    /// The API server's change feed ended.
    #[error("the sandbox API server stopped unexpectedly")]
    ApiServerStopped,
    /// Keys left valid at Entra that no rotation tracks.
    #[error("{0} key(s) left valid at Entra that the rotation no longer tracks (see the summary)")]
    Orphans(usize),
    /// A replica held a secret Entra refused.
    #[error("downtime: {failures} of {probes} probes of the replicas' secrets were refused by Entra (see the summary)")]
    Downtime {
        /// Refused probes.
        failures: usize,
        /// All probes.
        probes: u64,
    },
}

fn listen_message(what: &str, flag: &str, address: &SocketAddr, source: &std::io::Error) -> String {
    if source.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "cannot start {what} on {address}: the port is in use (another `secret-rotator demo` or `sandbox`?); stop that program, or choose another port with {flag} (0 picks a free one)"
        )
    } else {
        format!(
            "cannot start {what} on {address}: {source}; choose another address with --address or port with {flag}"
        )
    }
}

/// How the demo ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Every rotation done with zero downtime (and, with `--keep-running`, stopped by the user).
    Completed,
    /// Interrupted before the summary.
    Interrupted,
}

/// Writes lines to standard output (a closed pipe is not an error worth dying for).
#[derive(Clone, Copy)]
struct Printer {
    style: Style,
    start: Timestamp,
}

impl Printer {
    fn line(&self, text: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", text.as_ref());
        let _ = out.flush();
    }

    fn entry(&self, e: &Entry) {
        for line in render::entry(e, self.start, self.style) {
            self.line(line);
        }
    }

    fn setup(&self, now: Timestamp, text: String) {
        self.entry(&Entry::Step {
            at: now,
            tag: Tag::Setup,
            text,
        });
    }
}

/// Runs `demo`.
pub async fn run(args: DemoArgs) -> Result<Finished, DemoError> {
    let timing = Timing::from_flags(&args.lifetime, &args.overlap)?;
    let timeout = args.timeout.as_deref().map(settings::parse_timeout).transpose()?;
    init_logging();
    let style = Style {
        color: !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal(),
    };
    let listen = Listen {
        address: args.address,
        apiserver_port: args.apiserver_port,
        entra_port: args.entra_port,
        kubeconfig: args.kubeconfig.clone(),
    };
    let stage = Stage::open(&listen, args.speed).await?;
    let printer = Printer {
        style,
        start: stage.em.now(),
    };
    let shutdown = signals::shutdown();
    tokio::pin!(shutdown);
    let mut operator = None;
    let mut follow = None;
    let mut result = tokio::select! {
        r = show(&stage, &args, &timing, timeout, printer, &mut operator, &mut follow) => r,
        _ = &mut shutdown => Ok(Finished::Interrupted),
    };
    match (&result, follow.as_mut()) {
        (Ok(Finished::Completed), Some(follow)) if args.keep_running => {
            keep_running_hints(&stage, printer);
            tokio::select! {
                r = follow.until(|_| false, None, operator.as_ref()) => {
                    if let Err(e) = r {
                        result = Err(e);
                    }
                }
                _ = &mut shutdown => {
                    printer.line("");
                    printer.line("Stopping the operator and the sandbox.");
                }
            }
        }
        (Ok(Finished::Interrupted), _) => {
            printer.line("");
            printer.line("Interrupted: stopping the operator and the sandbox.");
        }
        _ => {}
    }
    if let Some(op) = operator {
        RunningOperator::stop(op).await;
    }
    stage.close().await;
    result
}

fn keep_running_hints(stage: &Stage, p: Printer) {
    let k = stage.kubeconfig.display();
    let me = program();
    p.line("");
    p.line(p.style.bold("Still running: the operator keeps rotating. Try:"));
    p.line(format!("  kubectl --kubeconfig {k} get csrot,secrets,deployments -n {NAMESPACE}"));
    p.line(format!("  kubectl --kubeconfig {k} describe csrot {ROTATION} -n {NAMESPACE}"));
    p.line(format!("  {me} status --kubeconfig {k} -n {NAMESPACE}"));
    p.line(format!("  {me} rotate {ROTATION} --kubeconfig {k} -n {NAMESPACE}"));
    p.line("Ctrl-C stops.");
}

/// `RUST_LOG=secret_rotator=debug secret-rotator demo 2>operator.log` shows what the operator
/// does; without `RUST_LOG` nothing is logged (the timeline is the output).
fn init_logging() {
    if std::env::var("RUST_LOG").is_ok_and(|v| !v.trim().is_empty()) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

fn program() -> String {
    std::env::args().next().unwrap_or_else(|| "secret-rotator".to_owned())
}

fn header(stage: &Stage, args: &DemoArgs, p: Printer) {
    let s = p.style;
    let kubeconfig = stage.kubeconfig.display();
    p.line(s.bold(&format!(
        "secret-rotator demo: the operator rotates an Entra client secret {} times, with zero downtime.",
        args.rotations
    )));
    p.line("No cluster and no tenant needed: a sandbox Kubernetes API server and a Microsoft Entra");
    p.line("emulator run in this process; the operator is the real one.");
    p.line("");
    p.line(format!("  Kubernetes API  {}  (sandbox)", stage.api_url));
    p.line(format!("  Entra           {}  (emulator)", stage.entra_url));
    p.line(format!("  kubeconfig      {kubeconfig}"));
    p.line("");
    p.line("Watch it from a second terminal:");
    p.line(format!("  kubectl --kubeconfig {kubeconfig} get csrot -n {NAMESPACE} -w"));
    p.line("");
    let speed = if args.speed > 1 {
        format!(
            "; the sandbox's clock runs {}x faster than real time (--speed {})",
            args.speed, args.speed
        )
    } else {
        String::new()
    };
    p.line(s.dim(&format!("Times are elapsed sandbox time{speed}. Ctrl-C stops the demo.")));
}

async fn show(
    stage: &Stage,
    args: &DemoArgs,
    timing: &Timing,
    timeout: Option<Duration>,
    p: Printer,
    operator: &mut Option<RunningOperator>,
    follow_slot: &mut Option<Follow>,
) -> Result<Finished, DemoError> {
    header(stage, args, p);
    p.line("");
    let em = &stage.em;
    let names = sandboxed::install_crds(&stage.api.client(), Duration::from_secs(60)).await?;
    p.setup(
        em.now(),
        format!("CRDs from the binary's own generator: {}", names.join(", ")),
    );
    for object in objects::namespaces() {
        stage.create(object)?;
    }
    let rbac = objects::operator_rbac().map_err(|e| DemoError::Setup {
        what: "reading the operator's RBAC".into(),
        detail: e.to_string(),
    })?;
    for object in rbac {
        stage.create(object)?;
    }
    p.setup(
        em.now(),
        format!(
            "service account {}/{} with the RBAC the operator ships (deploy/rbac.yaml)",
            objects::OPERATOR_NAMESPACE,
            objects::OPERATOR_SERVICE_ACCOUNT
        ),
    );
    let (identity, app) = setup::seed_entra(stage)?;
    p.setup(
        em.now(),
        format!(
            "Entra tenant {}: application {} (client id {}…), owned by the operator's identity, which holds {}",
            objects::TENANT_DOMAIN,
            objects::ROTATION,
            short_id(&app.app_id),
            sandboxed::OWNED_BY
        ),
    );
    stage.create(objects::sign_in_service_account())?;
    stage.create(objects::identity_provider(&stage.entra_url, &identity.app.app_id))?;
    p.setup(
        em.now(),
        format!(
            "IdentityProvider {NAMESPACE}/{}: signs in as service account {NAMESPACE}/{} through a federated credential (workload identity: no secret of its own)",
            objects::PROVIDER,
            objects::SIGN_IN_SERVICE_ACCOUNT
        ),
    );
    stage.create(objects::deployment(args.replicas))?;
    p.setup(
        em.now(),
        format!(
            "Deployment {NAMESPACE}/{DEPLOYMENT}: {} replicas read the Secret {SECRET} as ${} and as {}/{} (they wait until it exists)",
            args.replicas,
            objects::ENV_VAR,
            objects::MOUNT_PATH,
            objects::SECRET_KEY
        ),
    );
    *operator = Some(RunningOperator::start(stage, args.speed).await?);
    p.setup(
        em.now(),
        format!(
            "operator running: the controller of `secret-rotator run`, over HTTPS as {}/{}",
            objects::OPERATOR_NAMESPACE,
            objects::OPERATOR_SERVICE_ACCOUNT
        ),
    );
    // Subscribe before creating the rotation, so no change of it is missed.
    let changes = stage.api.subscribe();
    stage.create(objects::rotation(&app.app_id, timing))?;
    p.setup(
        em.now(),
        format!(
            "ClientSecretRotation {NAMESPACE}/{ROTATION}: lifetime {}, renewed {} before expiry, overlap {}",
            go(timing.lifetime),
            go(timing.renew_before),
            go(timing.overlap)
        ),
    );

    let sources = Sources {
        api: stage.api.clone(),
        em: em.clone(),
        tenant: identity.tenant.clone(),
        client_id: app.app_id.clone(),
        object_id: app.object_id.clone(),
    };
    let prober = Prober::start(sources.clone(), Duration::from_millis(50));
    let follow = follow_slot.insert(Follow {
        changes,
        rotation: None,
        deployment: None,
        timeline: Timeline::new(p.start, &format!("{NAMESPACE}/{SECRET}")),
        sources,
        printer: p,
    });
    let wanted = args.rotations as usize + 1;
    // Generous: each rotation should take about half a lifetime; a loaded machine slows it down.
    let lifetime = Duration::from_secs(timing.lifetime.as_secs().unsigned_abs());
    let patience =
        timeout.unwrap_or_else(|| lifetime * (wanted as u32) / args.speed + Duration::from_secs(180));
    follow
        .until(
            |t| t.completed().len() >= wanted,
            Some(patience),
            operator.as_ref(),
        )
        .await?;

    let summary = follow.summary(prober.tally());
    for line in summary.lines(p.style) {
        p.line(line);
    }
    if !summary.zero_downtime() {
        return Err(DemoError::Downtime {
            failures: summary.downtime.failures.len(),
            probes: summary.downtime.probes,
        });
    }
    let orphans = summary.orphans().len();
    if orphans > 0 {
        return Err(DemoError::Orphans(orphans));
    }
    Ok(Finished::Completed)
}

/// Follows the rotation: store changes and a steady tick in, timeline lines out.
struct Follow {
    changes: tokio::sync::mpsc::UnboundedReceiver<std::sync::Arc<Change>>,
    rotation: Option<ClientSecretRotation>,
    deployment: Option<Deployment>,
    timeline: Timeline,
    sources: Sources,
    printer: Printer,
}

fn is(change: &Change, group: &str, plural: &str, name: &str) -> bool {
    change.key.group == group
        && change.key.plural == plural
        && change.namespace == NAMESPACE
        && change.name == name
}

impl Follow {
    /// Takes in a change; whether it is one the timeline looks at.
    fn absorb(&mut self, change: &Change) -> bool {
        let deleted = change.kind == ChangeKind::Deleted;
        if is(change, wellknown::GROUP, "clientsecretrotations", ROTATION) {
            self.rotation = (!deleted)
                .then(|| serde_json::from_value(change.object.value.clone()).ok())
                .flatten();
            return true;
        }
        if is(change, "apps", "deployments", DEPLOYMENT) {
            self.deployment = (!deleted)
                .then(|| serde_json::from_value(change.object.value.clone()).ok())
                .flatten();
            return true;
        }
        false
    }

    fn status(&self) -> Option<&ClientSecretRotationStatus> {
        self.rotation.as_ref().and_then(|r| r.status.as_ref())
    }

    fn look(&mut self) {
        let keys = self.sources.keys();
        let replicas = self.sources.holdings();
        let status = self.rotation.as_ref().and_then(|r| r.status.clone());
        let o = Observation {
            now: self.sources.em.now(),
            status: status.as_ref(),
            rollout: self.deployment.as_ref().map(rollout_counts),
            keys: &keys,
            replicas: &replicas,
        };
        for e in self.timeline.observe(&o) {
            self.printer.entry(&e);
        }
    }

    async fn until(
        &mut self,
        done: impl Fn(&Timeline) -> bool,
        patience: Option<Duration>,
        operator: Option<&RunningOperator>,
    ) -> Result<(), DemoError> {
        let deadline = patience.map(|p| tokio::time::Instant::now() + p);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            if done(&self.timeline) {
                return Ok(());
            }
            if operator.is_some_and(RunningOperator::has_stopped) {
                return Err(DemoError::OperatorStopped);
            }
            if let Some(a) = self.timeline.abandoned().first() {
                return Err(DemoError::Abandoned {
                    rotation: a.id,
                    why: a.why.clone(),
                });
            }
            let expired = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => futures::future::pending().await,
                }
            };
            tokio::select! {
                change = self.changes.recv() => match change {
                    Some(change) => {
                        if !self.absorb(&change) {
                            continue;
                        }
                    }
                    None => return Err(DemoError::ApiServerStopped),
                },
                _ = tick.tick() => {}
                _ = expired => return Err(self.timeout(patience.unwrap_or_default())),
            }
            self.look();
        }
    }

    fn timeout(&self, waited: Duration) -> DemoError {
        let status = self.status();
        let state = status
            .map(|s| {
                s.conditions
                    .iter()
                    .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "no status yet".to_owned());
        DemoError::Timeout {
            rotation: status.map(|s| s.rotation_count).unwrap_or(1),
            waited,
            state,
        }
    }

    fn summary(&self, downtime: summary::Downtime) -> Summary {
        let status = self.status();
        let ready = status
            .and_then(|s| {
                s.conditions
                    .iter()
                    .find(|c| c.type_ == wellknown::condition::READY)
            })
            .map(|c| (c.status.clone(), c.reason.clone()))
            .unwrap_or_else(|| ("Unknown".into(), "NoStatus".into()));
        let name = self
            .rotation
            .as_ref()
            .map(|r| format!("{}/{}", r.namespace().unwrap_or_default(), SECRET))
            .unwrap_or_else(|| format!("{NAMESPACE}/{SECRET}"));
        Summary {
            start: self.printer.start,
            now: self.sources.em.now(),
            secret: name,
            completed: self.timeline.completed().to_vec(),
            downtime,
            keys: self.sources.keys(),
            tracked: status
                .map(|s| {
                    let in_flight = s.rotation.as_ref().and_then(|r| r.credential.as_ref());
                    [s.current.as_ref(), s.previous.as_ref(), in_flight]
                        .into_iter()
                        .flatten()
                        .map(|c| c.key_id.clone())
                        .collect()
                })
                .unwrap_or_default(),
            end: Final {
                ready,
                current: status
                    .and_then(|s| s.current.as_ref())
                    .map(|c| (c.hint.clone().unwrap_or_default(), c.expires_at.0)),
                renewal: status.and_then(|s| s.renewal_time.as_ref()).map(|t| t.0),
            },
        }
    }
}
