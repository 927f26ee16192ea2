//! The workload simulator as a real `kube::Client` sees it: Deployment rollouts with the
//! controller-manager's status progression and ReplicaSets, env values frozen at start versus
//! mounted Secret files refreshed after the sync delay, replicas held unavailable by a missing
//! Secret, the stall and fail knobs (annotation and Rust API) and their recovery, StatefulSet and
//! DaemonSet rollouts, and the replica query API.
//!
//! Timing-sensitive tests run on tokio's paused clock with the server clock derived from it, so
//! "not yet refreshed" and "past the progress deadline" are exact, not races.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::core::WatchEvent;
use kube::runtime::wait::await_condition;
use kube::{Client, ResourceExt};
use sandbox::apiserver::workloads::{
    Knobs, ROLLOUT_ANNOTATION, ReplicaPhase, RolloutMode, SimulatorConfig, WorkloadKind,
};
use sandbox::apiserver::{ApiServer, ChangeKind};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::time::timeout;

const LONG: Duration = Duration::from_secs(120);

/// A server clock that follows tokio's (virtual, when paused) clock.
fn tokio_clock() -> impl Fn() -> Timestamp + Send + Sync + 'static {
    let base: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let start = tokio::time::Instant::now();
    move || base + SignedDuration::try_from(tokio::time::Instant::now() - start).unwrap()
}

fn paused_server(config: SimulatorConfig) -> ApiServer {
    ApiServer::builder()
        .clock(tokio_clock())
        .workload_config(config)
        .build()
}

fn secret(name: &str, password: &str) -> Secret {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "stringData": {"password": password, "user": "app"}
    }))
    .unwrap()
}

/// A pod template using Secret `creds` every way a kubelet supports.
fn pod_template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [{
                "name": "app", "image": "example:1",
                "env": [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                "envFrom": [{"secretRef": {"name": "creds"}, "prefix": "CREDS_"}],
                "volumeMounts": [
                    {"name": "creds", "mountPath": "/etc/creds"},
                    {"name": "creds", "mountPath": "/app/password", "subPath": "password"},
                    {"name": "projected", "mountPath": "/etc/projected"}
                ]
            }],
            "volumes": [
                {"name": "creds", "secret": {"secretName": "creds"}},
                {"name": "projected", "projected": {"sources": [
                    {"secret": {"name": "creds", "items": [{"key": "password", "path": "pw"}]}}
                ]}}
            ]
        }
    })
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name)}
    }))
    .unwrap()
}

fn condition_reason(d: &Deployment, type_: &str) -> Option<String> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .and_then(|c| c.reason.clone())
}

/// What `kubectl rollout status` and a controller's "rollout complete" check require.
fn rollout_complete(d: &Deployment) -> bool {
    let Some(s) = &d.status else { return false };
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    d.metadata.generation.unwrap_or(0) <= s.observed_generation.unwrap_or(0)
        && s.updated_replicas.unwrap_or(0) == want
        && s.replicas.unwrap_or(0) == want
        && s.available_replicas.unwrap_or(0) == want
        && condition_reason(d, "Progressing").as_deref() == Some("NewReplicaSetAvailable")
}

async fn wait_deployment(
    api: &Api<Deployment>,
    name: &str,
    cond: impl Fn(&Deployment) -> bool,
) -> Deployment {
    let found = timeout(
        LONG,
        await_condition(api.clone(), name, move |d: Option<&Deployment>| {
            d.is_some_and(&cond)
        }),
    )
    .await
    .expect("condition reached in time")
    .unwrap();
    found.unwrap()
}

fn restart_patch(at: &str) -> Patch<Value> {
    Patch::Strategic(json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": at}}}}}))
}

fn values(v: &[SecretString]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.expose_secret().to_string()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_rollout_completes_with_the_controller_managers_status_progression() {
    let server = ApiServer::new();
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    secrets
        .create(&PostParams::default(), &secret("creds", "v1"))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut events = deployments
        .watch(
            &WatchParams::default().fields("metadata.name=web").timeout(290),
            "0",
        )
        .await
        .unwrap()
        .boxed();
    deployments
        .create(&PostParams::default(), &deployment("web", 4))
        .await
        .unwrap();

    let mut seen: Vec<Deployment> = vec![];
    let mut until_complete = async |generation: i64, seen: &mut Vec<Deployment>| loop {
        let event = timeout(LONG, events.try_next()).await.unwrap().unwrap().unwrap();
        if let WatchEvent::Added(d) | WatchEvent::Modified(d) = event {
            seen.push(d.clone());
            if d.metadata.generation == Some(generation) && rollout_complete(&d) {
                return d;
            }
        }
    };
    let first = until_complete(1, &mut seen).await;
    assert_eq!(
        first
            .annotations()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );
    // Every status the controller-manager wrote, in order.
    let reasons: Vec<(Option<String>, Option<String>)> = seen
        .iter()
        .filter(|d| d.status.as_ref().is_some_and(|s| s.observed_generation.is_some()))
        .map(|d| {
            (
                condition_reason(d, "Available"),
                condition_reason(d, "Progressing"),
            )
        })
        .collect();
    assert_eq!(
        reasons.first().unwrap(),
        &(
            Some("MinimumReplicasUnavailable".to_string()),
            Some("ReplicaSetUpdated".to_string())
        ),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.last().unwrap(),
        &(
            Some("MinimumReplicasAvailable".to_string()),
            Some("NewReplicaSetAvailable".to_string())
        )
    );
    let available: Vec<i32> = seen
        .iter()
        .filter_map(|d| d.status.as_ref()?.available_replicas)
        .collect();
    assert!(available.windows(2).all(|w| w[0] <= w[1]), "{available:?}");

    // `kubectl rollout restart`: a pod-template annotation.
    seen.clear();
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &restart_patch("2026-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let done = until_complete(2, &mut seen).await;
    let status = done.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.updated_replicas, Some(4));
    let progressing = status
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(progressing.status, "True");
    // maxSurge and maxUnavailable are 25% of 4: at most 5 replicas, at least 3 available.
    for d in seen
        .iter()
        .filter(|d| d.status.as_ref().and_then(|s| s.observed_generation) == Some(2))
    {
        let s = d.status.as_ref().unwrap();
        assert!(s.replicas.unwrap_or(0) <= 5, "{s:?}");
        assert!(s.available_replicas.unwrap_or(0) >= 3, "{s:?}");
    }
    assert!(
        seen.iter()
            .any(|d| condition_reason(d, "Progressing").as_deref() == Some("ReplicaSetUpdated")),
        "the rollout reported progress"
    );
    // Right after the patch, before the controller reacts, nothing looks complete.
    assert!(!rollout_complete(&seen[0]));
    assert_eq!(
        done.annotations()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("2")
    );

    // Two ReplicaSets, owned by the Deployment, named after their pod-template-hash.
    let rs_api: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let new_name = progressing
        .message
        .as_deref()
        .unwrap()
        .split('"')
        .nth(1)
        .unwrap()
        .to_string();
    let settled = timeout(LONG, async {
        loop {
            let list = rs_api.list(&ListParams::default()).await.unwrap();
            let old_gone = list
                .items
                .iter()
                .all(|rs| rs.name_any() == new_name || rs.status.as_ref().is_some_and(|s| s.replicas == 0));
            if old_gone && list.items.len() == 2 {
                return list.items;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    for rs in &settled {
        let hash = rs.labels().get("pod-template-hash").unwrap().clone();
        assert_eq!(rs.name_any(), format!("web-{hash}"));
        let owner = &rs.owner_references()[0];
        assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("Deployment", "web"));
        assert_eq!(owner.controller, Some(true));
        let revision = rs.annotations().get("deployment.kubernetes.io/revision").unwrap();
        let replicas = rs.spec.as_ref().unwrap().replicas.unwrap();
        if rs.name_any() == new_name {
            assert_eq!((revision.as_str(), replicas), ("2", 4));
            assert_eq!(rs.status.as_ref().unwrap().available_replicas, Some(4));
        } else {
            assert_eq!((revision.as_str(), replicas), ("1", 0));
        }
    }
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::Deployment, "web");
    assert!(
        views
            .iter()
            .filter(|r| r.current)
            .all(|r| r.name.starts_with(&new_name))
    );

    // Deleting the Deployment (in the foreground: it waits for its dependents) takes its
    // ReplicaSets (garbage collector) and replicas with it, and nothing is recreated meanwhile.
    let mut changes = server.subscribe();
    deployments
        .delete("web", &DeleteParams::foreground())
        .await
        .unwrap();
    timeout(
        LONG,
        await_condition(
            deployments.clone(),
            "web",
            kube::runtime::conditions::is_deleted(""),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    while let Ok(change) = changes.try_recv() {
        assert!(
            !(change.key.plural == "replicasets" && change.kind == ChangeKind::Added),
            "{} recreated during deletion",
            change.name
        );
    }
    // The ReplicaSets are collected and the simulated replicas stop (both asynchronously, after
    // the Deployment is gone): wait for both, or fail at the timeout.
    timeout(LONG, async {
        loop {
            let sets_left = !rs_api
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty();
            let replicas_left = !server
                .workloads()
                .replicas("default", WorkloadKind::Deployment, "web")
                .is_empty();
            if !sets_left && !replicas_left {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the ReplicaSets and replicas of a deleted Deployment go away");
}

#[tokio::test(start_paused = true)]
async fn env_is_frozen_at_start_while_mounted_files_follow_the_secret_after_the_sync_delay() {
    let sync = Duration::from_secs(30);
    let server = paused_server(SimulatorConfig {
        volume_sync_delay: sync,
        ..Default::default()
    });
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    secrets
        .create(&PostParams::default(), &secret("creds", "v1"))
        .await
        .unwrap();
    deployments
        .create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    wait_deployment(&deployments, "web", rollout_complete).await;

    let workloads = server.workloads();
    let views = workloads.replicas("default", WorkloadKind::Deployment, "web");
    assert_eq!(views.len(), 2);
    for r in &views {
        assert_eq!((r.phase, r.ready, r.current), (ReplicaPhase::Running, true, true));
        let c = &r.containers[0];
        let env: BTreeMap<&str, &str> = c
            .env
            .iter()
            .map(|e| (e.name.as_str(), e.value.expose_secret()))
            .collect();
        assert_eq!(
            env,
            BTreeMap::from([
                ("PASSWORD", "v1"),
                ("CREDS_password", "v1"),
                ("CREDS_user", "app")
            ])
        );
        let files: BTreeMap<&str, (Vec<u8>, bool)> = c
            .files
            .iter()
            .map(|f| (f.path.as_str(), (f.value.expose_secret().to_vec(), f.refreshes)))
            .collect();
        assert_eq!(
            files,
            BTreeMap::from([
                ("/app/password", (b"v1".to_vec(), false)),
                ("/etc/creds/password", (b"v1".to_vec(), true)),
                ("/etc/creds/user", (b"app".to_vec(), true)),
                ("/etc/projected/pw", (b"v1".to_vec(), true)),
            ])
        );
        assert!(r.started_at.is_some() && r.created_at <= r.started_at.unwrap());
    }

    // Rotate the Secret.
    secrets
        .patch(
            "creds",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"password": "v2-rotated"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(sync - Duration::from_secs(1)).await;
    assert_eq!(
        values(&workloads.live_secret_values(
            "default",
            WorkloadKind::Deployment,
            "web",
            "creds",
            "password"
        )),
        vec!["v1"],
        "nothing refreshes before the sync delay"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = &workloads.replicas("default", WorkloadKind::Deployment, "web")[0];
    let c = &r.containers[0];
    let file = |p: &str| {
        c.files
            .iter()
            .find(|f| f.path == p)
            .map(|f| String::from_utf8(f.value.expose_secret().to_vec()).unwrap())
            .unwrap()
    };
    assert_eq!(file("/etc/creds/password"), "v2-rotated");
    assert_eq!(file("/etc/projected/pw"), "v2-rotated");
    assert_eq!(file("/app/password"), "v1", "subPath mounts never refresh");
    let env = |n: &str| {
        c.env
            .iter()
            .find(|e| e.name == n)
            .unwrap()
            .value
            .expose_secret()
            .to_string()
    };
    assert_eq!(env("PASSWORD"), "v1", "env is frozen at container start");
    assert_eq!(
        values(&workloads.live_secret_values(
            "default",
            WorkloadKind::Deployment,
            "web",
            "creds",
            "password"
        )),
        vec!["v1", "v2-rotated"]
    );
    assert_eq!(
        values(&workloads.live_values_in_namespace("default", "creds", "password")),
        vec!["v1", "v2-rotated"]
    );

    // A restart replaces the replicas: only the new value remains live.
    deployments
        .patch("web", &PatchParams::default(), &restart_patch("r1"))
        .await
        .unwrap();
    wait_deployment(&deployments, "web", |d| {
        d.metadata.generation == Some(2) && rollout_complete(d)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        values(&workloads.live_secret_values(
            "default",
            WorkloadKind::Deployment,
            "web",
            "creds",
            "password"
        )),
        vec!["v2-rotated"]
    );
    // Values never show in Debug output.
    let debug = format!(
        "{:?}",
        workloads.replicas("default", WorkloadKind::Deployment, "web")
    );
    assert!(!debug.contains("v2-rotated"), "{debug}");
    assert!(debug.contains("REDACTED") && debug.contains("PASSWORD"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_keeps_replicas_unavailable_until_it_appears() {
    let server = paused_server(SimulatorConfig::default());
    let client = server.client();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut d = deployment("web", 2);
    // Only env references: the pod gets as far as CreateContainerConfigError.
    d.spec.as_mut().unwrap().template.spec.as_mut().unwrap().volumes = None;
    d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .volume_mounts = None;
    deployments.create(&PostParams::default(), &d).await.unwrap();
    wait_deployment(&deployments, "web", |d| {
        d.status.as_ref().is_some_and(|s| s.replicas == Some(2))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let d = deployments.get("web").await.unwrap();
    let s = d.status.clone().unwrap();
    assert_eq!(s.available_replicas, None);
    assert_eq!(s.unavailable_replicas, Some(2));
    assert_eq!(
        condition_reason(&d, "Available").as_deref(),
        Some("MinimumReplicasUnavailable")
    );
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::Deployment, "web");
    assert_eq!(views.len(), 2);
    for r in &views {
        assert_eq!(r.phase, ReplicaPhase::Pending);
        assert!(!r.holds_values());
        assert_eq!(
            r.waiting,
            Some((
                "CreateContainerConfigError".to_string(),
                "secret \"creds\" not found".to_string()
            ))
        );
    }
    // The Secret appears: the kubelet retries and the rollout completes with its values.
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    secrets
        .create(&PostParams::default(), &secret("creds", "late"))
        .await
        .unwrap();
    wait_deployment(&deployments, "web", rollout_complete).await;
    assert_eq!(
        values(&server.workloads().live_secret_values(
            "default",
            WorkloadKind::Deployment,
            "web",
            "creds",
            "password"
        )),
        vec!["late"]
    );

    // A missing Secret volume keeps a new replica in ContainerCreating.
    let mut with_volume = deployment("vol", 1);
    let pod = with_volume.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    pod.containers[0].env = None;
    pod.containers[0].env_from = None;
    pod.volumes.as_mut().unwrap()[0]
        .secret
        .as_mut()
        .unwrap()
        .secret_name = Some("absent".into());
    deployments
        .create(&PostParams::default(), &with_volume)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let r = &server
        .workloads()
        .replicas("default", WorkloadKind::Deployment, "vol")[0];
    assert_eq!(r.waiting.as_ref().unwrap().0, "ContainerCreating");
    assert_eq!(
        r.waiting.as_ref().unwrap().1,
        "MountVolume.SetUp failed for volume \"creds\" : secret \"absent\" not found"
    );
}

#[tokio::test(start_paused = true)]
async fn stall_and_fail_knobs_hold_a_rollout_until_removed() {
    let server = paused_server(SimulatorConfig::default());
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    secrets
        .create(&PostParams::default(), &secret("creds", "v1"))
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::default_namespaced(client.clone());
    let mut d = deployment("web", 2);
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(30);
    deployments.create(&PostParams::default(), &d).await.unwrap();
    wait_deployment(&deployments, "web", rollout_complete).await;

    // Stall, from YAML: the annotation on the workload.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ROLLOUT_ANNOTATION: "stall"}}})),
        )
        .await
        .unwrap();
    deployments
        .patch("web", &PatchParams::default(), &restart_patch("r1"))
        .await
        .unwrap();
    let timed_out = wait_deployment(&deployments, "web", |d| {
        condition_reason(d, "Progressing").as_deref() == Some("ProgressDeadlineExceeded")
    })
    .await;
    let s = timed_out.status.clone().unwrap();
    assert_eq!(s.observed_generation, Some(2));
    assert_eq!(
        s.updated_replicas,
        Some(1),
        "maxSurge 1: one new replica, never ready"
    );
    assert_eq!(s.available_replicas, Some(2), "the old replicas keep serving");
    assert!(!rollout_complete(&timed_out));
    let msg = timed_out.status.as_ref().unwrap().conditions.as_ref().unwrap()[1]
        .message
        .clone()
        .unwrap();
    assert!(msg.ends_with("has timed out progressing."), "{msg}");
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::Deployment, "web");
    let new: Vec<_> = views.iter().filter(|r| r.current).collect();
    assert_eq!(new.len(), 1);
    assert_eq!((new[0].phase, new[0].ready), (ReplicaPhase::Running, false));

    // Removing the knob recovers the rollout.
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {ROLLOUT_ANNOTATION: null}}})),
        )
        .await
        .unwrap();
    wait_deployment(&deployments, "web", |d| {
        d.metadata.generation == Some(2) && rollout_complete(d)
    })
    .await;

    // Fail, from the Rust API: new replicas crash-loop.
    let workloads = server.workloads();
    workloads.set_knobs(
        "default",
        WorkloadKind::Deployment,
        "web",
        Knobs {
            rollout: Some(RolloutMode::Fail),
            ..Default::default()
        },
    );
    deployments
        .patch("web", &PatchParams::default(), &restart_patch("r2"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let d = deployments.get("web").await.unwrap();
    assert!(!rollout_complete(&d));
    assert_eq!(d.status.as_ref().unwrap().updated_replicas, Some(1));
    let crashing: Vec<_> = workloads
        .replicas("default", WorkloadKind::Deployment, "web")
        .into_iter()
        .filter(|r| r.current)
        .collect();
    assert_eq!(crashing.len(), 1);
    assert_eq!(crashing[0].phase, ReplicaPhase::CrashLoopBackOff);
    assert!(crashing[0].restarts >= 10, "{}", crashing[0].restarts);
    workloads.clear_knobs("default", WorkloadKind::Deployment, "web");
    wait_deployment(&deployments, "web", |d| {
        d.metadata.generation == Some(3) && rollout_complete(d)
    })
    .await;
    let current: Vec<_> = workloads
        .replicas("default", WorkloadKind::Deployment, "web")
        .into_iter()
        .filter(|r| r.current)
        .collect();
    assert!(
        current
            .iter()
            .all(|r| r.ready && r.phase == ReplicaPhase::Running)
    );
    // The crash-looping replica recovered in place at its next restart.
    assert!(
        current
            .iter()
            .any(|r| r.name == crashing[0].name && r.restarts > crashing[0].restarts)
    );
}

fn statefulset(name: &str, image: &str) -> StatefulSet {
    let mut template = pod_template(name);
    template["spec"]["containers"][0]["image"] = json!(image);
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
        "spec": {"replicas": 3, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": template}
    }))
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn statefulset_rollouts_replace_from_the_highest_ordinal() {
    let server = paused_server(SimulatorConfig::default());
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    secrets
        .create(&PostParams::default(), &secret("creds", "v1"))
        .await
        .unwrap();
    let api: Api<StatefulSet> = Api::default_namespaced(client.clone());
    api.create(&PostParams::default(), &statefulset("db", "db:1"))
        .await
        .unwrap();
    let settled = |generation: i64| {
        move |s: Option<&StatefulSet>| {
            s.and_then(|s| Some((s.metadata.generation?, s.status.clone()?)))
                .is_some_and(|(g, st)| {
                    g == generation
                        && st.observed_generation == Some(g)
                        && st.ready_replicas == Some(3)
                        && st.updated_replicas == Some(3)
                        && st.current_revision == st.update_revision
                        && st.replicas == 3
                })
        }
    };
    let first = timeout(LONG, await_condition(api.clone(), "db", settled(1)))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let rev1 = first.status.as_ref().unwrap().current_revision.clone().unwrap();
    assert!(rev1.starts_with("db-"));
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::StatefulSet, "db");
    let mut names: Vec<&str> = views.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["db-0", "db-1", "db-2"]);
    assert!(views.iter().all(|r| r.revision == rev1));

    // Change the template and follow the rollout on the watch: one ordinal at a time, from 2 down.
    let mut events = api
        .watch(
            &WatchParams::default().fields("metadata.name=db").timeout(290),
            &first.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    api.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "db:2"}]}}}}),
        ),
    )
    .await
    .unwrap();
    let mut order = vec![];
    let done = timeout(LONG, async {
        loop {
            if let WatchEvent::Modified(s) = events.try_next().await.unwrap().unwrap() {
                let st = s.status.clone().unwrap();
                let updated: Vec<u32> = server
                    .workloads()
                    .replicas("default", WorkloadKind::StatefulSet, "db")
                    .iter()
                    .filter(|r| r.current && r.phase != ReplicaPhase::Terminating)
                    .filter_map(|r| r.ordinal)
                    .collect();
                for o in updated {
                    if !order.contains(&o) {
                        order.push(o);
                    }
                }
                if settled(2)(Some(&s)) {
                    return st;
                }
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(order, vec![2, 1, 0]);
    assert_ne!(done.update_revision.as_deref(), Some(rev1.as_str()));
    assert_eq!(done.current_replicas, Some(3));
    let revisions: Api<ControllerRevision> = Api::default_namespaced(client.clone());
    let list = revisions.list(&ListParams::default()).await.unwrap();
    let mut numbers: Vec<i64> = list.items.iter().map(|r| r.revision).collect();
    numbers.sort();
    assert_eq!(numbers, vec![1, 2]);
    assert!(list.items.iter().all(|r| r.owner_references()[0].name == "db"));
}

#[tokio::test(start_paused = true)]
async fn daemonset_rollouts_cover_every_node_within_max_unavailable() {
    let server = paused_server(SimulatorConfig {
        nodes: 3,
        ..Default::default()
    });
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    secrets
        .create(&PostParams::default(), &secret("creds", "v1"))
        .await
        .unwrap();
    let api: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let ds: DaemonSet = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": pod_template("agent")}
    }))
    .unwrap();
    api.create(&PostParams::default(), &ds).await.unwrap();
    let settled = |generation: i64| {
        move |d: Option<&DaemonSet>| {
            d.and_then(|d| Some((d.metadata.generation?, d.status.clone()?)))
                .is_some_and(|(g, s)| {
                    g == generation
                        && s.observed_generation == Some(g)
                        && s.desired_number_scheduled == 3
                        && s.updated_number_scheduled == Some(3)
                        && s.number_available == Some(3)
                        && s.number_ready == 3
                })
        }
    };
    let first = timeout(LONG, await_condition(api.clone(), "agent", settled(1)))
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::DaemonSet, "agent");
    let mut nodes: Vec<String> = views.iter().filter_map(|r| r.node.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["sandbox-node-0", "sandbox-node-1", "sandbox-node-2"]);

    let mut events = api
        .watch(
            &WatchParams::default().fields("metadata.name=agent").timeout(290),
            &first.resource_version().unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    api.patch("agent", &PatchParams::default(), &restart_patch("r1"))
        .await
        .unwrap();
    timeout(LONG, async {
        loop {
            if let WatchEvent::Modified(d) = events.try_next().await.unwrap().unwrap() {
                // Default maxUnavailable 1: at least 2 of 3 nodes available throughout.
                assert!(
                    d.status.as_ref().unwrap().number_available.unwrap_or(0) >= 2,
                    "{:?}",
                    d.status
                );
                if settled(2)(Some(&d)) {
                    return;
                }
            }
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let views = server
        .workloads()
        .replicas("default", WorkloadKind::DaemonSet, "agent");
    assert_eq!(views.len(), 3);
    assert!(views.iter().all(|r| r.current && r.ready));
}

#[tokio::test]
async fn a_disabled_simulator_leaves_workloads_alone() {
    let server = ApiServer::builder().workload_simulator(false).build();
    assert!(!server.workloads().is_enabled());
    let client: Client = server.client();
    let deployments: Api<Deployment> = Api::default_namespaced(client);
    let created = deployments
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.resource_version(), created.resource_version());
    assert!(
        server
            .workloads()
            .replicas("default", WorkloadKind::Deployment, "web")
            .is_empty()
    );
}

#[test]
fn rollouts_continue_when_serving_moves_to_another_runtime() {
    let server = ApiServer::new();
    let first = tokio::runtime::Runtime::new().unwrap();
    first.block_on(async {
        let client = server.client();
        let secrets: Api<Secret> = Api::default_namespaced(client.clone());
        secrets
            .create(&PostParams::default(), &secret("creds", "v1"))
            .await
            .unwrap();
        let deployments: Api<Deployment> = Api::default_namespaced(client);
        deployments
            .create(&PostParams::default(), &deployment("web", 2))
            .await
            .unwrap();
        wait_deployment(&deployments, "web", rollout_complete).await;
    });
    drop(first);
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let deployments: Api<Deployment> = Api::default_namespaced(server.client());
        deployments
            .patch("web", &PatchParams::default(), &restart_patch("moved"))
            .await
            .unwrap();
        wait_deployment(&deployments, "web", |d| {
            d.metadata.generation == Some(2) && rollout_complete(d)
        })
        .await;
        let views = server
            .workloads()
            .replicas("default", WorkloadKind::Deployment, "web");
        assert_eq!(views.iter().filter(|r| r.current && r.ready).count(), 2);
    });
}
