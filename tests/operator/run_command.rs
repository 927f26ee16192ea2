//! `secret-rotator run` as processes, as deployed: `/healthz`, `/readyz` (ready only once the
//! leader's caches hold their lists), `/metrics` on a leader and on a standby (the leader gauge;
//! per-rotation series on the leader only), `--selector` (a rotation that does not match is left
//! alone) and `--log-format json` (valid JSON lines with the rotation's `namespace` and `name` at
//! the top level).

use std::path::Path;

use kube::{
    Api,
    api::{DeleteParams, PostParams},
};
use sandbox::apiserver::faults::FaultRule as ApiFault;
use secret_rotator::api::{ClientSecretRotation, wellknown};
use serde_json::{Value, json};

use crate::support::{
    metrics::{Scrape, scrape, scrape_until},
    process::{self, OperatorProcess},
    world::{NS, World, spec},
};

/// Starts `run` with `--selector shard=a`, JSON logs to `log`, probes and metrics on one free port.
fn start(kubeconfig: &Path, identity: &str, log: &Path) -> OperatorProcess {
    let extra = ["-l", "shard=a", "--log-format", "json", "--log-level", "debug"];
    process::start(
        kubeconfig,
        identity,
        &extra,
        std::fs::File::create(log).unwrap().into(),
    )
}

async fn create_labelled(w: &World, name: &str, shard: &str, app: usize) {
    let api: Api<ClientSecretRotation> = Api::namespaced(w.client.clone(), NS);
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": wellknown::API_VERSION, "kind": "ClientSecretRotation",
            "metadata": {"name": name, "labels": {"shard": shard}},
            "spec": spec(&w.app(app).app_id, name, json!({"overlap": "0s"})),
        }))
        .unwrap(),
    )
    .await
    .unwrap();
}

fn per_rotation(scrape: &Scrape) -> Vec<String> {
    scrape
        .samples
        .iter()
        .filter(|s| s.labels.contains_key("name"))
        .map(|s| format!("{} {:?}", s.name, s.labels))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_probes_and_metrics_leader_only_within_its_selector_with_json_logs() {
    let w = World::new(2).await;
    w.create_namespace("secret-rotator").await;
    let serving = w.api.serve_tls("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let config_a = w.operator_kubeconfig(&serving, dir.path(), "a");
    let config_b = w.operator_kubeconfig(&serving, dir.path(), "b");

    // The leader cannot list the rotations at first: it leads but is not ready until its
    // caches hold their lists.
    let blocked = w
        .api
        .inject_fault(
            ApiFault::fail(503)
                .verb("list")
                .resource("clientsecretrotations")
                .user("operator-a"),
        )
        .unwrap();
    let a = start(&config_a, "a", &log_a);
    a.wait_for("/healthz", 200, "ok").await;
    a.wait_for("/readyz", 503, "leading, caches syncing").await;
    scrape_until(&a.metrics_url(), "a leading", |s| {
        s.value("secret_rotator_leader", &[]) == Some(1.0)
    })
    .await;
    assert!(w.api.remove_fault(blocked));
    a.wait_for("/readyz", 200, "ok: leading, caches synced").await;

    let b = start(&config_b, "b", &log_b);
    b.wait_for("/readyz", 200, "ok: standby").await;
    assert_eq!(b.get("/healthz").await, (200, "ok".to_owned()));

    // Only the rotation within the selector is managed.
    create_labelled(&w, "ignored", "b", 1).await;
    create_labelled(&w, "picked", "a", 0).await;
    let picked = w.wait_ready("picked").await;
    let leader = scrape_until(&a.metrics_url(), "picked's series", |s| {
        s.value("secret_rotator_ready", &[("namespace", NS), ("name", "picked")]) == Some(1.0)
    })
    .await;
    let expiry = picked
        .status
        .as_ref()
        .unwrap()
        .current
        .as_ref()
        .unwrap()
        .expires_at
        .0;
    assert_eq!(
        leader.value(
            "secret_rotator_secret_expiration_timestamp_seconds",
            &[("namespace", NS), ("name", "picked")]
        ),
        Some(expiry.as_second() as f64)
    );
    assert!(leader.of_rotation(NS, "ignored").is_empty(), "{}", leader.text);
    assert!(
        leader
            .value("secret_rotator_reconcile_total", &[("result", "ok")])
            .is_some_and(|v| v >= 1.0)
    );
    let ignored = w.rotations().get("ignored").await.unwrap();
    assert_eq!(ignored.status, None, "no status outside the selector");
    assert!(
        ignored.metadata.finalizers.is_none(),
        "no finalizer outside the selector"
    );
    assert!(w.passwords(1).is_empty(), "nothing minted outside the selector");

    // The standby: leader 0, no per-rotation series, operator-wide series present.
    let standby = scrape(&b.metrics_url()).await;
    assert_eq!(standby.value("secret_rotator_leader", &[]), Some(0.0));
    assert_eq!(
        per_rotation(&standby),
        Vec::<String>::new(),
        "a standby exports no per-rotation series"
    );
    assert_eq!(
        standby.value("secret_rotator_reconcile_total", &[("result", "ok")]),
        Some(0.0)
    );
    assert_eq!(leader.value("secret_rotator_leader", &[]), Some(1.0));

    // Deleted: the leader's series go.
    w.rotations()
        .delete("picked", &DeleteParams::default())
        .await
        .unwrap();
    scrape_until(&a.metrics_url(), "picked's series gone", |s| {
        s.of_rotation(NS, "picked").is_empty()
    })
    .await;
    drop(a);
    drop(b);
    serving.shutdown().await;

    // JSON logs: every line one object; the lines about the rotation carry it at the top level.
    let text = std::fs::read_to_string(&log_a).unwrap();
    let lines: Vec<serde_json::Map<String, Value>> = text
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(m)) => m,
            other => panic!("not a JSON object: {l} ({other:?})"),
        })
        .collect();
    let about_picked: Vec<_> = lines
        .iter()
        .filter(|l| l.get("namespace") == Some(&json!(NS)) && l.get("name") == Some(&json!("picked")))
        .collect();
    assert!(!about_picked.is_empty(), "lines about the rotation: {text}");
    assert!(
        about_picked.iter().any(|l| l.contains_key("step")),
        "lines logged during a step carry it: {text}"
    );
    assert!(
        !lines.iter().any(|l| l.get("name") == Some(&json!("ignored"))),
        "nothing logged about a rotation outside the selector"
    );
    assert!(
        !std::fs::read_to_string(&log_b).unwrap().is_empty(),
        "the standby logs too"
    );
}
