//! The workloads of a test, run by the sandbox's workload simulator (kube-controller-manager and
//! kubelets: rollouts progress, replicas resolve the Secrets they reference when they start), plus
//! what the tests ask about them: the secret values live in replicas now, when each generation
//! finished rolling out (emulator time, seen on a watch of the workloads' status), and a stall knob.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::{
    Api, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use sandbox::{
    apiserver::{
        ApiServer,
        workloads::{Knobs, RolloutMode, WorkloadKind},
    },
    entra::Emulator,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::world::{NS, World, merge, spec};

type Completions = Arc<Mutex<BTreeMap<(String, String), BTreeMap<i64, Timestamp>>>>;

/// The test's view of the simulated workloads of the test namespace.
pub struct Workloads {
    api: ApiServer,
    completions: Completions,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Workloads {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn kind_of(plural: &str) -> WorkloadKind {
    WorkloadKind::from_plural(plural).unwrap_or_else(|| panic!("unknown workload kind {plural}"))
}

/// Whether a workload's status says the rollout of its current generation is complete (what
/// `kubectl rollout status` checks).
fn complete(object: &Value) -> Option<i64> {
    let generation = object["metadata"]["generation"].as_i64()?;
    let status = &object["status"];
    let desired = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let n = |k: &str| status[k].as_i64().unwrap_or(0);
    (status["observedGeneration"].as_i64() == Some(generation)
        && n("updatedReplicas") == desired
        && n("availableReplicas").max(n("readyReplicas")) >= desired
        && n("replicas") == desired)
        .then_some(generation)
}

fn follow<K>(
    client: kube::Client,
    plural: &'static str,
    em: Emulator,
    completions: Completions,
) -> JoinHandle<()>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + 'static,
{
    tokio::spawn(async move {
        let api: Api<K> = Api::namespaced(client, NS);
        let mut stream = watcher(api, Default::default()).applied_objects().boxed();
        while let Some(item) = stream.next().await {
            let Ok(object) = item else { continue };
            let name = object.name_any();
            if let Some(generation) = complete(&serde_json::to_value(&object).unwrap_or_default()) {
                completions
                    .lock()
                    .unwrap()
                    .entry((plural.to_owned(), name))
                    .or_default()
                    .entry(generation)
                    .or_insert_with(|| em.now());
            }
        }
    })
}

impl Workloads {
    /// Starts following the workloads of the test namespace.
    pub fn start(api: &ApiServer, em: &Emulator) -> Self {
        let completions: Completions = Arc::default();
        let client = api.client();
        let tasks = vec![
            follow::<Deployment>(client.clone(), "deployments", em.clone(), completions.clone()),
            follow::<StatefulSet>(client, "statefulsets", em.clone(), completions.clone()),
        ];
        Self {
            api: api.clone(),
            completions,
            tasks,
        }
    }

    /// Holds new replicas of a workload unready (a rollout that never completes), or lets them be.
    pub fn stall(&self, kind: &str, name: &str, stalled: bool) {
        let sim = self.api.workloads();
        if stalled {
            sim.set_knobs(
                NS,
                kind_of(kind),
                name,
                Knobs {
                    rollout: Some(RolloutMode::Stall),
                    ..Knobs::default()
                },
            );
        } else {
            sim.clear_knobs(NS, kind_of(kind), name);
        }
    }

    /// Every value of `secret`'s `key` held by a replica of a workload now, with the workload.
    pub fn live_values_of(&self, secret: &str, key: &str) -> Vec<(String, String)> {
        let sim = self.api.workloads();
        let mut out = vec![];
        for (plural, kind) in [
            ("deployments", WorkloadKind::Deployment),
            ("statefulsets", WorkloadKind::StatefulSet),
        ] {
            let rt = self.api.resource("apps", "v1", plural).unwrap();
            for object in self.api.list(&rt, Some(NS)) {
                let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                for v in sim.live_secret_values(NS, kind, &name, secret, key) {
                    out.push((name.clone(), v.expose_secret().to_owned()));
                }
            }
        }
        out
    }

    /// Every `client-secret` value of Secret `creds` held by a replica now (what the tests'
    /// workloads read).
    pub fn live_values(&self) -> Vec<(String, String)> {
        self.live_values_of("creds", "client-secret")
    }

    /// When generation `generation` of a workload finished rolling out (emulator time).
    pub fn completed_at(&self, kind: &str, name: &str, generation: i64) -> Option<Timestamp> {
        self.completions
            .lock()
            .unwrap()
            .get(&(kind.to_owned(), name.to_owned()))?
            .get(&generation)
            .copied()
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
            let api: Api<Deployment> = Api::namespaced(client.clone(), NS);
            api.create(&Default::default(), &serde_json::from_value(object).unwrap())
                .await
                .unwrap();
        }
        _ => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), NS);
            api.create(&Default::default(), &serde_json::from_value(object).unwrap())
                .await
                .unwrap();
        }
    }
}

/// The set-up of the rollout tests: one application, the workload simulator running, Deployment
/// `web` (2 replicas) reading key `client-secret` of Secret `creds`, the operator started, and
/// rotation `name` of the first application writing `creds` and rolling out `web`, with `extra`
/// merged into its spec.
pub async fn web_rotation(name: &str, extra: Value) -> (World, Workloads) {
    let mut w = World::new(1).await;
    let sim = Workloads::start(&w.api, &w.em);
    create_workload(
        &w.client,
        workload("Deployment", "web", 2, "creds", "client-secret"),
    )
    .await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    let mut fields = json!({"rolloutTargets": [{"kind": "Deployment", "name": "web"}]});
    merge(&mut fields, &extra);
    w.create_rotation(name, spec(&client_id, "creds", fields)).await;
    (w, sim)
}
