//! Load figures for the sandbox API server, through real HTTP on loopback with kube clients:
//! create throughput per kind (10,000 custom resources, Secrets and Deployments, with the workload
//! simulator rolling the Deployments out), list latency (full and `limit=500` pages), watch
//! fan-out latency to 8 watchers (sequential and under load) with events/s, write throughput
//! under watchers, and memory (VmRSS/VmHWM).
//!
//! ```text
//! cargo run --release -p sandbox --example apiserver-bench [-- --objects 10000 --watchers 8]
//! ```
//!
//! Prints figures; asserts nothing. Client and server share the process (and its 2 worker
//! threads), so the figures are end-to-end costs of both sides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchParams,
};
use kube::core::WatchEvent;
use kube::{Client, Resource};
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer};
use serde::de::DeserializeOwned;
use serde_json::json;

const NAMESPACE: &str = "bench";
const CONCURRENCY: usize = 64;

struct Options {
    objects: usize,
    watchers: usize,
    sequential_probes: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        objects: 10_000,
        watchers: 8,
        sequential_probes: 1_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> anyhow::Result<usize> {
            args.next()
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--objects" => o.objects = value("--objects")?,
            "--watchers" => o.watchers = value("--watchers")?,
            "--probes" => o.sequential_probes = value("--probes")?,
            other => bail!("unknown argument {other} (expected --objects N, --watchers N, --probes N)"),
        }
    }
    Ok(o)
}

/// Matches watch deliveries to the writes that caused them (by `spec.seq`).
#[derive(Default)]
struct Tracker {
    inner: Mutex<TrackerInner>,
}

#[derive(Default)]
struct TrackerInner {
    watchers: u32,
    pending: HashMap<u64, (Instant, u32)>,
    latencies: Vec<Duration>,
    delivered: u64,
    last_delivery: Option<Instant>,
}

impl Tracker {
    fn reset(&self, watchers: u32) {
        *self.inner.lock().unwrap() = TrackerInner {
            watchers,
            ..Default::default()
        };
    }

    fn sent(&self, seq: u64) {
        let mut t = self.inner.lock().unwrap();
        let w = t.watchers;
        t.pending.insert(seq, (Instant::now(), w));
    }

    fn delivered(&self, seq: u64) {
        let now = Instant::now();
        let mut t = self.inner.lock().unwrap();
        t.delivered += 1;
        t.last_delivery = Some(now);
        let done = match t.pending.get_mut(&seq) {
            Some((sent, left)) => {
                *left -= 1;
                (*left == 0).then_some(now - *sent)
            }
            None => None,
        };
        if let Some(latency) = done {
            t.pending.remove(&seq);
            t.latencies.push(latency);
        }
    }

    fn outstanding(&self) -> usize {
        self.inner.lock().unwrap().pending.len()
    }

    async fn drain(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.outstanding() > 0 {
            if Instant::now() > deadline {
                bail!("{} writes not delivered to every watcher", self.outstanding());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    fn report(&self) -> (Vec<Duration>, u64, Option<Instant>) {
        let t = self.inner.lock().unwrap();
        let mut l = t.latencies.clone();
        l.sort();
        (l, t.delivered, t.last_delivery)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l[name.len()..].trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!("VmRSS {}, VmHWM {}", field("VmRSS:"), field("VmHWM:"))
}

fn widget_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bench.example.com", "v1", "Widget"),
        "widgets",
    )
}

fn widget(i: usize, seq: u64) -> DynamicObject {
    let mut o = DynamicObject::new(&format!("w-{i:05}"), &widget_resource());
    o.data = json!({"spec": {"seq": seq, "size": i, "owner": format!("team-{}", i % 50)}});
    o
}

fn secret(i: usize) -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": format!("s-{i:05}"), "labels": {"app": format!("app-{i:05}")}},
        "stringData": {"client-secret": "x".repeat(1000), "client-id": format!("id-{i}")}
    }))
    .expect("a valid Secret")
}

fn deployment(i: usize) -> Deployment {
    let app = format!("app-{i:05}");
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{
                "name": "app", "image": "example:1",
                "env": [{"name": "CLIENT_SECRET", "valueFrom": {"secretKeyRef": {"name": format!("s-{i:05}"), "key": "client-secret"}}}]
            }]}}}
    }))
    .expect("a valid Deployment")
}

async fn create_all<K, F>(
    api: &Api<K>,
    n: usize,
    make: F,
    before: impl Fn(usize) + Sync,
) -> anyhow::Result<Duration>
where
    K: Resource + Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + Sync + 'static,
    F: Fn(usize) -> K + Sync,
{
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let obj = make(i);
            before(i);
            let api = api.clone();
            async move { api.create(&PostParams::default(), &obj).await }
        })
        .buffer_unordered(CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    Ok(start.elapsed())
}

async fn list_latency<K>(api: &Api<K>, rounds: usize) -> anyhow::Result<(Duration, Duration, usize)>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut full = vec![];
    let mut paged = vec![];
    let mut count = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        count = api.list(&ListParams::default()).await?.items.len();
        full.push(t.elapsed());
        let t = Instant::now();
        let mut lp = ListParams::default().limit(500);
        let mut paged_count = 0;
        loop {
            let page = api.list(&lp).await?;
            paged_count += page.items.len();
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(c) => lp = lp.continue_token(&c),
                None => break,
            }
        }
        paged.push(t.elapsed());
        if paged_count != count {
            bail!("paged list returned {paged_count} items, full list {count}");
        }
    }
    full.sort();
    paged.sort();
    Ok((full[full.len() / 2], paged[paged.len() / 2], count))
}

fn spawn_watchers(client: &Client, n: usize, tracker: Arc<Tracker>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &widget_resource());
            let tracker = tracker.clone();
            tokio::spawn(async move {
                let Ok(stream) = api.watch(&WatchParams::default().timeout(290), "0").await else {
                    eprintln!("watch failed to start");
                    return;
                };
                let mut stream = stream.boxed();
                while let Ok(Some(event)) = stream.try_next().await {
                    if let WatchEvent::Added(o) | WatchEvent::Modified(o) = event
                        && let Some(seq) = o.data.pointer("/spec/seq").and_then(|s| s.as_u64())
                    {
                        tracker.delivered(seq);
                    }
                }
            })
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let opts = options()?;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let total = Instant::now();
    let server = ApiServer::new();
    let handle = server.serve("127.0.0.1:0").await?;
    let mut config = kube::Config::new(handle.url().parse()?);
    config.default_namespace = NAMESPACE.into();
    config.auth_info.token = Some(ADMIN_TOKEN.to_string().into());
    let client = Client::try_from(config)?;
    println!(
        "sandbox API server on {} ({} objects per kind, {} watchers)",
        handle.url(),
        opts.objects,
        opts.watchers
    );
    println!("memory at start: {}", memory());

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
            )?,
        )
        .await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.bench.example.com"},
            "spec": {"group": "bench.example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
                        "properties": {"seq": {"type": "integer"}, "size": {"type": "integer"}, "owner": {"type": "string"}}}}}}}]}
        }))?,
    )
    .await?;
    let established = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let crd = crds.get("widgets.bench.example.com").await?;
            let ok = crd
                .status
                .and_then(|s| s.conditions)
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Established" && c.status == "True"));
            if ok {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    established.context("CRD not established")??;

    let tracker = Arc::new(Tracker::default());
    tracker.reset(opts.watchers as u32);
    let watchers = spawn_watchers(&client, opts.watchers, tracker.clone());
    // Let the watches connect before the first write.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let n = opts.objects;
    println!("\n== create throughput (concurrency {CONCURRENCY})");
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), NAMESPACE, &widget_resource());
    let t = create_all(&widgets, n, |i| widget(i, i as u64), |i| tracker.sent(i as u64)).await?;
    println!(
        "custom resources: {n} in {:.2} s = {:.0}/s ({} watchers attached)",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64(),
        opts.watchers
    );
    let load_start = Instant::now() - t;
    tracker.drain(Duration::from_secs(60)).await?;
    let (lat, delivered, last) = tracker.report();
    let span = last.map(|l| l - load_start).unwrap_or(t);
    println!(
        "  fan-out during creates: p50 {}, p99 {}, max {}; {delivered} events in {:.2} s = {:.0} events/s",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0)),
        span.as_secs_f64(),
        delivered as f64 / span.as_secs_f64()
    );
    println!("  memory: {}", memory());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let t = create_all(&secrets, n, secret, |_| {}).await?;
    println!(
        "secrets (1 KB): {n} in {:.2} s = {:.0}/s",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64()
    );
    println!("  memory: {}", memory());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    // Rollout completion is followed on the server's in-process change feed (no copies, no
    // extra HTTP load on the figures).
    let mut changes = server.subscribe();
    let rolled_out = tokio::spawn(async move {
        let mut available = std::collections::HashSet::new();
        while available.len() < n {
            let Some(change) = changes.recv().await else { break };
            if change.key.plural == "deployments"
                && change
                    .object
                    .value
                    .pointer("/status/availableReplicas")
                    .and_then(|a| a.as_i64())
                    == Some(1)
            {
                available.insert(change.name.clone());
            }
        }
        Instant::now()
    });
    let t = create_all(&deployments, n, deployment, |_| {}).await?;
    println!(
        "deployments: {n} in {:.2} s = {:.0}/s",
        t.as_secs_f64(),
        n as f64 / t.as_secs_f64()
    );
    let rollout_start = Instant::now();
    let done = tokio::time::timeout(Duration::from_secs(120), rolled_out)
        .await
        .context("deployments did not all roll out")??;
    println!(
        "  all {n} deployments available {:.2} s after the last create ({:.2} s after the first)",
        (done - rollout_start).as_secs_f64(),
        (done - rollout_start + t).as_secs_f64()
    );
    let live = server
        .workloads()
        .live_values_in_namespace(NAMESPACE, "s-00042", "client-secret")
        .len();
    println!("  simulator: replicas hold their Secret (distinct live values of s-00042: {live})");
    println!("memory after load: {}", memory());

    println!("\n== list latency (median of 3; kube client, typed decoding included)");
    let (full, paged, count) = list_latency(&widgets, 3).await?;
    println!(
        "custom resources ({count}): full {}, paged limit=500 {}",
        ms(full),
        ms(paged)
    );
    let (full, paged, count) = list_latency(&secrets, 3).await?;
    println!(
        "secrets ({count}): full {}, paged limit=500 {}",
        ms(full),
        ms(paged)
    );
    let (full, paged, count) = list_latency(&deployments, 3).await?;
    println!(
        "deployments ({count}): full {}, paged limit=500 {}",
        ms(full),
        ms(paged)
    );

    println!(
        "\n== watch fan-out, one write at a time ({} watchers)",
        opts.watchers
    );
    tracker.reset(opts.watchers as u32);
    let pp = PatchParams::default();
    for probe in 0..opts.sequential_probes {
        let seq = 1_000_000 + probe as u64;
        let name = format!("w-{:05}", (probe * 7919) % n);
        tracker.sent(seq);
        widgets
            .patch(&name, &pp, &Patch::Merge(json!({"spec": {"seq": seq}})))
            .await?;
        tracker.drain(Duration::from_secs(10)).await?;
    }
    let (lat, _, _) = tracker.report();
    println!(
        "write → delivered to all: p50 {}, p99 {}, max {} ({} writes)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0)),
        lat.len()
    );

    println!("\n== write throughput under watchers (merge patches, concurrency {CONCURRENCY})");
    tracker.reset(opts.watchers as u32);
    let start = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let seq = 2_000_000 + i as u64;
            tracker.sent(seq);
            let widgets = widgets.clone();
            async move {
                widgets
                    .patch(
                        &format!("w-{i:05}"),
                        &PatchParams::default(),
                        &Patch::Merge(json!({"spec": {"seq": seq}})),
                    )
                    .await
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await?;
    let writes = start.elapsed();
    tracker.drain(Duration::from_secs(60)).await?;
    let (lat, delivered, last) = tracker.report();
    let span = last.map(|l| l - start).unwrap_or(writes);
    println!(
        "writes: {n} in {:.2} s = {:.0}/s",
        writes.as_secs_f64(),
        n as f64 / writes.as_secs_f64()
    );
    println!(
        "fan-out: p50 {}, p99 {}, max {}; {delivered} events delivered in {:.2} s = {:.0} events/s",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0)),
        span.as_secs_f64(),
        delivered as f64 / span.as_secs_f64()
    );

    println!("\nmemory at end: {}", memory());
    println!("total {:.1} s", total.elapsed().as_secs_f64());
    for w in watchers {
        w.abort();
    }
    handle.shutdown().await;
    Ok(())
}
