//! A stand-in for the workload controllers and kubelets, until the sandbox's workload simulator
//! (branch `sandbox-workloads`) lands: Deployments and StatefulSets in the test namespace get
//! replicas that read the Secret values their pod template references (`env[].valueFrom.
//! secretKeyRef`) when they start, a rolling replacement one replica at a time after each
//! template change, and the status fields `kubectl rollout status` reads.
//!
//! Knobs: per-workload stall (a rollout that never completes). Query: the secret values live in
//! replicas now, and when each generation finished rolling out (emulator time).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine;
use jiff::Timestamp;
use sandbox::{apiserver::ApiServer, entra::Emulator};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::world::NS;

const TICK: Duration = Duration::from_millis(50);
const STEP: Duration = Duration::from_millis(100);
const READY_AFTER: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
struct Replica {
    generation: i64,
    values: Vec<String>,
    ready_at: Instant,
}

#[derive(Debug, Default)]
struct Sim {
    replicas: Vec<Replica>,
    last_step: Option<Instant>,
    stalled: bool,
    completed: BTreeMap<i64, Timestamp>,
}

#[derive(Default)]
struct State {
    sims: BTreeMap<(String, String), Sim>,
}

/// The running stand-in.
pub struct Workloads {
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Workloads {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn secret_refs(object: &Value) -> Vec<(String, String)> {
    let mut refs = vec![];
    let containers = object
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in containers {
        for env in c
            .get("env")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if let (Some(name), Some(key)) = (
                env.pointer("/valueFrom/secretKeyRef/name")
                    .and_then(Value::as_str),
                env.pointer("/valueFrom/secretKeyRef/key").and_then(Value::as_str),
            ) {
                refs.push((name.to_owned(), key.to_owned()));
            }
        }
    }
    refs
}

fn read_values(api: &ApiServer, refs: &[(String, String)]) -> Vec<String> {
    let secrets = api.resource("", "v1", "secrets").unwrap();
    refs.iter()
        .filter_map(|(name, key)| {
            let s = api.get(&secrets, NS, name)?;
            let b64 = s.pointer(&format!("/data/{key}"))?.as_str()?.to_owned();
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            String::from_utf8(bytes).ok()
        })
        .collect()
}

impl Workloads {
    /// Starts simulating every Deployment and StatefulSet of the test namespace.
    pub fn start(api: &ApiServer, em: &Emulator) -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let (api, em, shared) = (api.clone(), em.clone(), state.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                for kind in ["deployments", "statefulsets"] {
                    let rt = api.resource("apps", "v1", kind).unwrap();
                    for object in api.list(&rt, Some(NS)) {
                        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                        let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
                        let desired = object
                            .pointer("/spec/replicas")
                            .and_then(Value::as_i64)
                            .unwrap_or(1) as usize;
                        let refs = secret_refs(&object);
                        let now = Instant::now();
                        let status = {
                            let mut state = shared.lock().unwrap();
                            let sim = state.sims.entry((kind.to_owned(), name.clone())).or_default();
                            if sim.replicas.is_empty() && sim.completed.is_empty() {
                                let values = read_values(&api, &refs);
                                sim.replicas = (0..desired)
                                    .map(|_| Replica {
                                        generation,
                                        values: values.clone(),
                                        ready_at: now,
                                    })
                                    .collect();
                            }
                            let stepped = sim.last_step.is_some_and(|t| now.duration_since(t) < STEP);
                            if !sim.stalled && !stepped {
                                if let Some(old) = sim.replicas.iter().position(|r| r.generation < generation)
                                {
                                    sim.replicas[old] = Replica {
                                        generation,
                                        values: read_values(&api, &refs),
                                        ready_at: now + READY_AFTER,
                                    };
                                    sim.last_step = Some(now);
                                } else if sim.replicas.len() < desired {
                                    sim.replicas.push(Replica {
                                        generation,
                                        values: read_values(&api, &refs),
                                        ready_at: now + READY_AFTER,
                                    });
                                    sim.last_step = Some(now);
                                } else if sim.replicas.len() > desired {
                                    sim.replicas.pop();
                                }
                            }
                            let updated = sim.replicas.iter().filter(|r| r.generation == generation).count();
                            let available = sim
                                .replicas
                                .iter()
                                .filter(|r| r.generation == generation && r.ready_at <= now)
                                .count();
                            if updated == desired && available == desired && sim.replicas.len() == desired {
                                sim.completed.entry(generation).or_insert_with(|| em.now());
                            }
                            let oldest = sim
                                .replicas
                                .iter()
                                .map(|r| r.generation)
                                .min()
                                .unwrap_or(generation);
                            match kind {
                                "deployments" => json!({
                                    "observedGeneration": generation,
                                    "replicas": sim.replicas.len(),
                                    "updatedReplicas": updated,
                                    "readyReplicas": available,
                                    "availableReplicas": available,
                                }),
                                _ => json!({
                                    "observedGeneration": generation,
                                    "replicas": sim.replicas.len(),
                                    "updatedReplicas": updated,
                                    "readyReplicas": available,
                                    "availableReplicas": available,
                                    "currentReplicas": updated,
                                    "currentRevision": format!("{name}-{oldest}"),
                                    "updateRevision": format!("{name}-{generation}"),
                                }),
                            }
                        };
                        if object.get("status") != Some(&status) {
                            let _ = api.modify(&rt, NS, &name, "kube-controller-manager", true, |o| {
                                o["status"] = status.clone();
                                true
                            });
                        }
                    }
                }
            }
        });
        Self { state, task }
    }

    /// Stops (or resumes) replacing the replicas of a workload.
    pub fn stall(&self, kind: &str, name: &str, stalled: bool) {
        let mut state = self.state.lock().unwrap();
        state
            .sims
            .entry((kind.to_owned(), name.to_owned()))
            .or_default()
            .stalled = stalled;
    }

    /// Every secret value held by a replica now, with the workload holding it.
    pub fn live_values(&self) -> Vec<(String, String)> {
        let state = self.state.lock().unwrap();
        state
            .sims
            .iter()
            .flat_map(|((_, name), sim)| {
                sim.replicas
                    .iter()
                    .flat_map(move |r| r.values.iter().map(move |v| (name.clone(), v.clone())))
            })
            .collect()
    }

    /// When generation `generation` of a workload finished rolling out (emulator time).
    pub fn completed_at(&self, kind: &str, name: &str, generation: i64) -> Option<Timestamp> {
        let state = self.state.lock().unwrap();
        state
            .sims
            .get(&(kind.to_owned(), name.to_owned()))?
            .completed
            .get(&generation)
            .copied()
    }

    /// Every rollout completion of a workload: generation → time.
    pub fn completions(&self, kind: &str, name: &str) -> BTreeMap<i64, Timestamp> {
        let state = self.state.lock().unwrap();
        state
            .sims
            .get(&(kind.to_owned(), name.to_owned()))
            .map(|s| s.completed.clone())
            .unwrap_or_default()
    }
}

/// A Deployment (or StatefulSet, `kind` `StatefulSet`) of `replicas` whose container reads
/// `key` of Secret `secret` into an environment variable.
pub fn workload(kind: &str, name: &str, replicas: i32, secret: &str, key: &str) -> Value {
    let mut spec = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{
                "name": "app",
                "image": "example.com/app:1",
                "env": [{"name": "CLIENT_SECRET", "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": true}}}],
            }]},
        },
    });
    if kind == "StatefulSet" {
        spec["serviceName"] = json!(name);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "labels": {"app": name, "tier": "web"}},
        "spec": spec,
    })
}

/// Creates a workload in the test namespace.
pub async fn create_workload(client: &kube::Client, object: Value) {
    let kind = object["kind"].as_str().unwrap().to_owned();
    match kind.as_str() {
        "Deployment" => {
            let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                kube::Api::namespaced(client.clone(), NS);
            api.create(&Default::default(), &serde_json::from_value(object).unwrap())
                .await
                .unwrap();
        }
        _ => {
            let api: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
                kube::Api::namespaced(client.clone(), NS);
            api.create(&Default::default(), &serde_json::from_value(object).unwrap())
                .await
                .unwrap();
        }
    }
}
