//! The sandbox API server as real kube clients see it: typed `Api` CRUD, pagination, watches
//! with selector transitions, 410 recovery, finalizers through kube-runtime's helper, garbage
//! collection, namespace deletion, a running `Controller`, and serving over TCP across runtimes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchParams};
use kube::core::WatchEvent;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use sandbox::apiserver::ApiServer;
use tokio::time::timeout;

const LONG: Duration = Duration::from_secs(60);

/// Waits (up to [`LONG`]) until `name` is gone from `api`; returns what the wait last saw of it.
async fn await_deleted<K>(api: &Api<K>, name: &str) -> Option<K>
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
{
    timeout(
        LONG,
        await_condition(api.clone(), name, conditions::is_deleted("")),
    )
    .await
    .unwrap_or_else(|_| panic!("{name} still exists after {LONG:?}"))
    .unwrap()
}

fn secret(name: &str, labels: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    }
}

#[tokio::test]
async fn typed_crud_round_trips_with_kube_semantics() {
    let server = ApiServer::new();
    let api: Api<Secret> = Api::default_namespaced(server.client());
    let created = api
        .create(&PostParams::default(), &secret("s1", &[("app", "a")]))
        .await
        .unwrap();
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert_eq!(created.data.as_ref().unwrap()["k"].0, b"v");
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());

    let dup = api
        .create(&PostParams::default(), &secret("s1", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(dup, kube::Error::Api(ref s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{dup:?}"
    );

    let mut stale = created.clone();
    stale.metadata.resource_version = Some("1".into());
    let conflict = api
        .replace("s1", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(conflict, kube::Error::Api(ref s) if s.code == 409 && s.reason == "Conflict"));

    let patched = api
        .patch(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.labels().get("tier").map(String::as_str), Some("b"));
    assert_eq!(patched.labels().get("app").map(String::as_str), Some("a"));
    // A patch that changes nothing keeps the resourceVersion.
    let again = api
        .patch(
            "s1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {"tier": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(again.resource_version(), patched.resource_version());

    let deleted = api.delete("s1", &DeleteParams::default()).await.unwrap();
    assert!(
        deleted.is_right(),
        "an object without finalizers is deleted at once and a Status returned"
    );
    let missing = api.get("s1").await.unwrap_err();
    assert!(matches!(missing, kube::Error::Api(ref s) if s.code == 404));

    let ns_missing: Api<Secret> = Api::namespaced(server.client(), "nope");
    let e = ns_missing
        .create(&PostParams::default(), &secret("x", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, kube::Error::Api(ref s) if s.code == 404 && s.message == "namespaces \"nope\" not found")
    );

    let log = server.access_log();
    assert!(log.iter().any(|r| r.verb == "create"
        && r.resource == "secrets"
        && r.code == 201
        && r.user == "kubernetes-admin"));
    assert!(
        log.iter()
            .any(|r| r.verb == "patch" && r.resource == "secrets" && r.name == "s1")
    );
}

#[tokio::test]
async fn lists_paginate_with_continue_tokens() {
    let server = ApiServer::new();
    let api: Api<Secret> = Api::default_namespaced(server.client());
    for i in 0..25 {
        api.create(
            &PostParams::default(),
            &secret(&format!("p{i:02}"), &[("page", "yes")]),
        )
        .await
        .unwrap();
    }
    let mut names = vec![];
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(10);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.metadata.resource_version.is_some());
        if pages == 1 {
            assert_eq!(page.metadata.remaining_item_count, Some(15));
        }
        names.extend(page.items.iter().map(|s| s.name_any()));
        token = page.metadata.continue_.filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    // A continuation whose snapshot has left the history window gets 410 Expired.
    let first = api.list(&ListParams::default().limit(10)).await.unwrap();
    api.create(&PostParams::default(), &secret("later", &[]))
        .await
        .unwrap();
    server.compact_history();
    let expired = api
        .list(
            &ListParams::default()
                .limit(10)
                .continue_token(first.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(expired, kube::Error::Api(ref s) if s.code == 410 && s.reason == "Expired"),
        "{expired:?}"
    );
    assert_eq!(names.len(), 25);
    assert!(names.windows(2).all(|w| w[0] < w[1]));
    let selected = api
        .list(
            &ListParams::default()
                .labels("page in (yes)")
                .fields("metadata.name=p03"),
        )
        .await
        .unwrap();
    assert_eq!(selected.items.len(), 1);
    let bad = api
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .unwrap_err();
    assert!(
        matches!(bad, kube::Error::Api(ref s) if s.code == 400 && s.message == "field label not supported: data.k")
    );
}

#[tokio::test]
async fn watches_report_selector_transitions_and_expire_old_versions() {
    let server = ApiServer::new();
    let api: Api<Secret> = Api::default_namespaced(server.client());
    let start = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("group=a").timeout(30), &start)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &secret("w", &[("group", "a")]))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"group": "b"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {"group": "a"}}})),
    )
    .await
    .unwrap();
    let mut seen = vec![];
    while seen.len() < 3 {
        match timeout(LONG, stream.try_next()).await.unwrap().unwrap().unwrap() {
            WatchEvent::Added(s) => seen.push(("ADDED", s.labels()["group"].clone())),
            WatchEvent::Deleted(s) => seen.push(("DELETED", s.labels()["group"].clone())),
            WatchEvent::Modified(s) => seen.push(("MODIFIED", s.labels()["group"].clone())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
        }
    }
    // Leaving the selector reports DELETED with the last matching state.
    assert_eq!(
        seen,
        vec![
            ("ADDED", "a".into()),
            ("DELETED", "a".into()),
            ("ADDED", "a".into())
        ]
    );

    server.compact_history();
    let mut old = api.watch(&WatchParams::default(), &start).await.unwrap().boxed();
    match timeout(LONG, old.try_next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Error(s) => {
            assert_eq!(s.code, 410);
            assert_eq!(s.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
    assert!(
        timeout(LONG, old.try_next()).await.unwrap().unwrap().is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn bookmarks_and_timeouts_end_watches_cleanly() {
    let server = ApiServer::builder()
        .bookmark_interval(Duration::from_millis(100))
        .build();
    let api: Api<Secret> = Api::default_namespaced(server.client());
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let wp = WatchParams::default().timeout(2);
    let events: Vec<_> = timeout(LONG, api.watch(&wp, &rv).await.unwrap().collect::<Vec<_>>())
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Ok(WatchEvent::Bookmark(_)))),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.is_ok()));
}

#[tokio::test]
async fn finalizers_hold_deletion_and_gc_removes_dependents() {
    let server = ApiServer::new();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let owner = cms
        .create(
            &PostParams::default(),
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    finalizers: Some(vec!["test/hold".into()]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut dep = secret("dep", &[]);
    dep.metadata.owner_references = Some(vec![owner.controller_owner_ref(&()).unwrap()]);
    secrets.create(&PostParams::default(), &dep).await.unwrap();

    let pending = cms.delete("owner", &DeleteParams::default()).await.unwrap();
    let terminating = pending.left().expect("finalizers keep the object");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert!(cms.get("owner").await.is_ok());
    assert!(secrets.get("dep").await.is_ok(), "the owner still exists");

    // kube-runtime's finalizer removal: a JSON patch with a `test` op.
    let remove = serde_json::json!([
        {"op": "test", "path": "/metadata/finalizers/0", "value": "test/hold"},
        {"op": "remove", "path": "/metadata/finalizers/0"}
    ]);
    let stale = serde_json::json!([{"op": "test", "path": "/metadata/finalizers/0", "value": "other"}]);
    let e = cms
        .patch(
            "owner",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(stale).unwrap()),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, kube::Error::Api(ref s) if s.code == 422));
    cms.patch(
        "owner",
        &PatchParams::default(),
        &Patch::<()>::Json(serde_json::from_value(remove).unwrap()),
    )
    .await
    .unwrap();
    assert!(matches!(cms.get("owner").await, Err(kube::Error::Api(s)) if s.code == 404));
    assert!(await_deleted(&secrets, "dep").await.is_none());
}

#[tokio::test]
async fn foreground_and_orphan_propagation() {
    let server = ApiServer::new();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    for policy in ["fg", "orphan"] {
        let owner = cms
            .create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some(policy.into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut dep = secret(&format!("{policy}-dep"), &[]);
        let mut oref: OwnerReference = owner.controller_owner_ref(&()).unwrap();
        oref.block_owner_deletion = Some(true);
        dep.metadata.owner_references = Some(vec![oref]);
        secrets.create(&PostParams::default(), &dep).await.unwrap();
    }
    cms.delete("fg", &DeleteParams::foreground()).await.unwrap();
    await_deleted(&secrets, "fg-dep").await;
    await_deleted(&cms, "fg").await;

    cms.delete("orphan", &DeleteParams::orphan()).await.unwrap();
    await_deleted(&cms, "orphan").await;
    let kept = secrets.get("orphan-dep").await.unwrap();
    assert!(kept.metadata.owner_references.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_contents() {
    let server = ApiServer::new();
    let client = server.client();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some("doomed".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "doomed");
    secrets
        .create(&PostParams::default(), &secret("a", &[]))
        .await
        .unwrap();
    let mut held = secret("held", &[]);
    held.metadata.finalizers = Some(vec!["test/hold".into()]);
    secrets.create(&PostParams::default(), &held).await.unwrap();
    let ns = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    await_deleted(&secrets, "a").await;
    let e = secrets
        .create(&PostParams::default(), &secret("b", &[]))
        .await
        .unwrap_err();
    assert!(matches!(e, kube::Error::Api(ref s) if s.code == 403), "{e:?}");
    // The namespace waits for the finalizer of what it holds.
    assert!(
        secrets
            .get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    assert!(namespaces.get("doomed").await.is_ok());
    secrets
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    await_deleted(&namespaces, "doomed").await;
    assert!(
        Api::<Secret>::all(client)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<kube::Error>>),
}

struct Ctx {
    client: Client,
}

const FINALIZER: &str = "sandbox.test/mirror";

/// Mirrors each ConfigMap's data into an owned Secret `mirror-<name>`; holds a finalizer.
async fn reconcile(cm: Arc<ConfigMap>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    let ns = cm.namespace().unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&cms, FINALIZER, cm, |event| async move {
        match event {
            FinalizerEvent::Apply(cm) => {
                let name = format!("mirror-{}", cm.name_any());
                let mut s = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        owner_references: Some(vec![cm.controller_owner_ref(&()).unwrap()]),
                        ..Default::default()
                    },
                    string_data: cm.data.clone(),
                    ..Default::default()
                };
                match secrets.get_opt(&name).await? {
                    None => {
                        secrets.create(&PostParams::default(), &s).await?;
                    }
                    Some(existing) => {
                        s.metadata.resource_version = existing.metadata.resource_version;
                        secrets.replace(&name, &PostParams::default(), &s).await?;
                    }
                }
                Ok(Action::await_change())
            }
            FinalizerEvent::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

fn error_policy(_: Arc<ConfigMap>, _: &ReconcileError, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(100))
}

async fn await_mirror(secrets: &Api<Secret>, name: &str, want: &str) {
    let want = want.as_bytes().to_vec();
    let cond = move |s: Option<&Secret>| {
        s.and_then(|s| s.data.as_ref())
            .and_then(|d| d.get("v"))
            .is_some_and(|v| v.0 == want)
    };
    timeout(LONG, await_condition(secrets.clone(), name, cond))
        .await
        .expect("mirror converges")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_reconciles_through_watches_across_410_and_dropped_connections() {
    let server = ApiServer::new();
    let client = server.client();
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let controller = Controller::new(cms.clone(), watcher::Config::default())
        .owns(secrets.clone(), watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client: client.clone(),
            }),
        )
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    let cm = |v: &str| ConfigMap {
        metadata: ObjectMeta {
            name: Some("src".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("v".to_string(), v.to_string())])),
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm("one")).await.unwrap();
    await_mirror(&secrets, "mirror-src", "one").await;
    let with_finalizer = cms.get("src").await.unwrap();
    assert_eq!(with_finalizer.finalizers(), [FINALIZER.to_string()]);

    // Forget history and cut every watch: the controller must resume (410 → relist) on its own.
    server.compact_history();
    server.drop_watches();
    cms.patch(
        "src",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"v": "two"}})),
    )
    .await
    .unwrap();
    await_mirror(&secrets, "mirror-src", "two").await;

    server.drop_watches();
    cms.patch(
        "src",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"v": "three"}})),
    )
    .await
    .unwrap();
    await_mirror(&secrets, "mirror-src", "three").await;

    cms.delete("src", &DeleteParams::default()).await.unwrap();
    await_deleted(&cms, "src").await;
    await_deleted(&secrets, "mirror-src").await;
    handle.abort();
}

#[test]
fn serving_survives_a_runtime_restart_on_the_same_store() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = ApiServer::new();
    let client_over_tcp = |url: String| {
        let mut config = kube::Config::new(url.parse().unwrap());
        config.auth_info.token = Some(sandbox::apiserver::ADMIN_TOKEN.to_string().into());
        Client::try_from(config).unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = server.serve("127.0.0.1:0").await.unwrap();
        assert!(handle.url().starts_with("http://127.0.0.1:"));
        let api: Api<Secret> = Api::default_namespaced(client_over_tcp(handle.url()));
        api.create(&PostParams::default(), &secret("persist", &[]))
            .await
            .unwrap();
        // A watch open at shutdown must not hold the shutdown up.
        let _watch = api
            .watch(&WatchParams::default().timeout(290), "0")
            .await
            .unwrap();
        handle.shutdown().await;
    });
    drop(rt);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let handle = server.serve("127.0.0.1:0").await.unwrap();
        let api: Api<Secret> = Api::default_namespaced(client_over_tcp(handle.url()));
        assert_eq!(api.get("persist").await.unwrap().name_any(), "persist");
        // The collector runs on the new runtime too.
        let owner = api.get("persist").await.unwrap();
        let mut dep = secret("dep", &[]);
        dep.metadata.owner_references = Some(vec![owner.controller_owner_ref(&()).unwrap()]);
        api.create(&PostParams::default(), &dep).await.unwrap();
        api.delete("persist", &DeleteParams::default()).await.unwrap();
        await_deleted(&api, "dep").await;
        handle.shutdown().await;
    });
}
