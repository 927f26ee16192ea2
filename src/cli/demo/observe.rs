//! Looking at the world for the timeline: the application's keys at the Entra emulator, and what
//! every replica of the Deployment holds (from the sandbox's workload simulator), each value
//! checked at Entra; and the prober that does that check all the time, for the downtime verdict.
//!
//! Invariant: secret values are read only to take their hint and ask Entra whether they
//! authenticate; they leave this module as neither (only hints and booleans).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use k8s_openapi::api::apps::v1::Deployment;
use sandbox::{
    apiserver::{
        ApiServer,
        workloads::{ReplicaPhase, ReplicaView, WorkloadKind},
    },
    entra::Emulator,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;

use super::{
    objects::{DEPLOYMENT, ENV_VAR, NAMESPACE, SECRET, SECRET_KEY},
    summary::{Downtime, Failure},
    timeline::{EntraKey, Held, Holding, RolloutCounts},
};

/// Where the demo looks.
#[derive(Clone, Debug)]
pub struct Sources {
    /// The sandbox API server (and its workload simulator).
    pub api: ApiServer,
    /// The Entra emulator.
    pub em: Emulator,
    /// The tenant id.
    pub tenant: String,
    /// The application's client id.
    pub client_id: String,
    /// The application's object id.
    pub object_id: String,
}

fn phase_word(phase: ReplicaPhase) -> &'static str {
    match phase {
        ReplicaPhase::Pending => "pending",
        ReplicaPhase::Running => "running",
        ReplicaPhase::CrashLoopBackOff => "crashloop",
        ReplicaPhase::Terminating => "terminating",
    }
}

impl Sources {
    /// The application's keys at Entra (removed ones included).
    pub fn keys(&self) -> Vec<EntraKey> {
        self.em
            .credentials(&self.object_id)
            .unwrap_or_default()
            .into_iter()
            .map(|c| EntraKey {
                key_id: c.key_id,
                hint: c.hint,
                expires_at: c.end,
                revoked: c.removed_at.is_some(),
            })
            .collect()
    }

    fn held(&self, value: &SecretString) -> Held {
        Held {
            hint: value.expose_secret().chars().take(3).collect(),
            authenticates: self
                .em
                .authenticates_secret(&self.tenant, &self.client_id, value),
        }
    }

    fn holding(&self, r: &ReplicaView) -> Holding {
        let from_secret = |s: &Option<sandbox::apiserver::workloads::SecretKeyRef>| {
            s.as_ref().is_some_and(|s| s.secret == SECRET && s.key == SECRET_KEY)
        };
        let env = r
            .containers
            .iter()
            .flat_map(|c| c.env.iter())
            .find(|e| e.name == ENV_VAR && from_secret(&e.source))
            .map(|e| self.held(&e.value));
        let file = r
            .containers
            .iter()
            .flat_map(|c| c.files.iter())
            .find(|f| from_secret(&f.source))
            .map(|f| self.held(&SecretString::from(String::from_utf8_lossy(f.value.expose_secret()).into_owned())));
        Holding {
            replica: r.name.clone(),
            phase: phase_word(r.phase),
            env,
            file,
        }
    }

    /// What every replica of the Deployment holds now, each value checked at Entra.
    pub fn holdings(&self) -> Vec<Holding> {
        self.api
            .workloads()
            .replicas(NAMESPACE, WorkloadKind::Deployment, DEPLOYMENT)
            .iter()
            .map(|r| self.holding(r))
            .collect()
    }
}

/// The Deployment's rollout counts.
pub fn rollout_counts(d: &Deployment) -> RolloutCounts {
    let status = d.status.clone().unwrap_or_default();
    RolloutCounts {
        desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        replicas: status.replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        observed_generation: status.observed_generation.unwrap_or(0),
    }
}

/// Probes every value every live replica holds, at Entra, every `every`, until dropped.
pub struct Prober {
    tally: Arc<Mutex<Downtime>>,
    task: JoinHandle<()>,
}

impl Prober {
    /// Starts probing.
    pub fn start(sources: Sources, every: Duration) -> Self {
        let tally = Arc::new(Mutex::new(Downtime::default()));
        let shared = tally.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let now = sources.em.now();
                let holdings = sources.holdings();
                let mut tally = shared.lock().unwrap_or_else(|e| e.into_inner());
                for h in holdings {
                    for (source, held) in [("env", h.env), ("file", h.file)] {
                        let Some(held) = held else { continue };
                        tally.probes += 1;
                        if !held.authenticates {
                            tally.failures.push(Failure {
                                at: now,
                                replica: h.replica.clone(),
                                source,
                                hint: held.hint,
                            });
                        }
                    }
                }
            }
        });
        Self { tally, task }
    }

    /// The tally so far.
    pub fn tally(&self) -> Downtime {
        self.tally.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.task.abort();
    }
}
