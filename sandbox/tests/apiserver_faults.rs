//! Fault injection and disruption of the sandbox API server, seen by real clients: failures N
//! times and at a seeded rate, Retry-After on 429/503, latency, the `/_sandbox` admin API over
//! HTTP, a kube-runtime watcher surviving dropped watches and a 410 after history compaction, and
//! clients recovering across a server stop and restart on the same store and port.

mod rbac_support;

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use rbac_support::*;
use sandbox::apiserver::{ApiServer, FaultRule};
use serde_json::{Value, json};

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

fn secret(name: &str) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

#[tokio::test]
async fn a_rule_fails_matching_requests_n_times_with_kube_apiserver_statuses() {
    let server = ApiServer::new();
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    cms.create(&PostParams::default(), &config_map("c"))
        .await
        .unwrap();
    let id = server
        .inject_fault(
            FaultRule::fail(409)
                .verb("update")
                .resource("configmaps")
                .name("c")
                .times(2),
        )
        .unwrap();
    let current = cms.get("c").await.unwrap();
    for _ in 0..2 {
        let conflict = status_of(cms.replace("c", &PostParams::default(), &current).await);
        assert_eq!(
            (conflict.code, conflict.reason.as_str(), conflict.message.as_str()),
            (
                409,
                "Conflict",
                "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
            )
        );
        // Other verbs and objects are untouched.
        cms.get("c").await.unwrap();
    }
    cms.replace("c", &PostParams::default(), &current).await.unwrap();
    assert!(server.faults().is_empty(), "a spent rule is removed");
    assert!(!server.remove_fault(id));
    // The access log shows what the client saw.
    let codes: Vec<u16> = server
        .access_log()
        .iter()
        .filter(|r| r.verb == "update")
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, vec![409, 409, 200]);
}

#[tokio::test]
async fn throttling_and_unavailability_carry_retry_after() {
    let server = ApiServer::new();
    let handle = server.serve("127.0.0.1:0").await.unwrap();
    let http = reqwest::Client::new();
    server
        .inject_fault(FaultRule::fail(429).resource("secrets").retry_after(2).times(1))
        .unwrap();
    server
        .inject_fault(
            FaultRule::fail(503)
                .user("system:serviceaccount:*")
                .retry_after(5)
                .times(1),
        )
        .unwrap();
    let get = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/namespaces/default/secrets", handle.url());
        async move { http.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let r = get(sandbox::apiserver::ADMIN_TOKEN.into()).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Too many requests, please try again later.", "reason": "TooManyRequests",
            "details": {"kind": "secrets", "retryAfterSeconds": 2}, "code": 429})
    );
    assert_eq!(get(sandbox::apiserver::ADMIN_TOKEN.into()).await.status(), 200);
    // Matched by user: the admin passes, a service account gets 503.
    let token = sa_token(&server, "default", "app");
    let r = get(token.clone()).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "ServiceUnavailable");
    // Faults apply after authentication and before authorization: now RBAC answers.
    assert_eq!(get(token).await.status(), 403);
    handle.shutdown().await;
}

#[tokio::test]
async fn a_seeded_rate_reproduces_the_same_failures() {
    let run = || async {
        let server = ApiServer::builder().fault_seed(7).build();
        let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
        cms.create(&PostParams::default(), &config_map("c"))
            .await
            .unwrap();
        server
            .inject_fault(FaultRule::fail(500).verb("get").rate(0.5))
            .unwrap();
        let mut outcomes = vec![];
        for _ in 0..60 {
            outcomes.push(code_of(&cms.get("c").await));
        }
        outcomes
    };
    let first = run().await;
    assert_eq!(first, run().await);
    let failures = first.iter().filter(|c| **c == 500).count();
    assert!((10..50).contains(&failures), "{failures} of 60");
    assert!(first.iter().all(|c| *c == 500 || *c == 200));
}

#[tokio::test]
async fn latency_delays_matching_requests() {
    let server = ApiServer::new();
    let cms: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    server
        .inject_fault(FaultRule::latency(Duration::from_millis(400)).verb("list"))
        .unwrap();
    let start = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(400));
    server.clear_faults();
    assert!(server.faults().is_empty());
}

#[tokio::test]
async fn the_admin_api_drives_faults_tokens_and_disruptions_over_http() {
    let server = ApiServer::new();
    let handle = server.serve("127.0.0.1:0").await.unwrap();
    let http = reqwest::Client::new();
    let admin = |p: &str| format!("{}/_sandbox{p}", handle.url());
    let r = http
        .post(admin("/faults"))
        .json(&json!({"verb": "create", "resource": "configmaps", "action": {"type": "fail", "code": 500, "message": "disk full"}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let listed: Value = http
        .get(admin("/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["rule"]["times"], 1);
    let bad = http
        .post(admin("/faults"))
        .json(&json!({"action": {"type": "fail", "code": 200}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("200")
    );

    // A static token registered over HTTP, used by a kube client over TCP.
    let r = http
        .post(admin("/tokens"))
        .json(&json!({"token": "shell-token", "user": "shell", "groups": ["system:masters"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    install_crypto();
    let client = kube::Client::try_from(handle.kube_config("shell-token")).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let failed = status_of(cms.create(&PostParams::default(), &config_map("c")).await);
    assert_eq!((failed.code, failed.message.as_str()), (500, "disk full"));
    cms.create(&PostParams::default(), &config_map("c"))
        .await
        .unwrap();
    let used: Value = http
        .get(admin("/permissions?user=shell"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        used,
        json!([{"verb": "create", "group": "", "resource": "configmaps", "subresource": ""}])
    );
    for (method, path) in [
        ("DELETE", "/faults"),
        ("POST", "/watches/drop"),
        ("POST", "/history/compact"),
        ("DELETE", "/access-log"),
    ] {
        let r = http
            .request(method.parse().unwrap(), admin(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{method} {path}");
    }
    assert!(server.access_log().is_empty(), "admin requests are not logged");
    assert_eq!(
        http.delete(admin(&format!("/faults/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(http.get(admin("/nope")).send().await.unwrap().status(), 404);
    handle.shutdown().await;
}

/// Names of applied objects from a watcher stream (errors are retried by the backoff).
fn applied_names(
    api: Api<Secret>,
) -> impl Stream<Item = Result<String, watcher::Error>> + Send + Unpin + 'static {
    Box::pin(
        watcher(api, watcher::Config::default())
            .default_backoff()
            .try_filter_map(|e| async move {
                Ok(match e {
                    watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s.metadata.name,
                    _ => None,
                })
            }),
    )
}

async fn next_name(s: &mut (impl Stream<Item = Result<String, watcher::Error>> + Unpin), want: &str) {
    loop {
        let name = tokio::time::timeout(LONG, s.next())
            .await
            .unwrap_or_else(|_| panic!("no event for {want}"))
            .expect("watcher ended");
        if let Ok(n) = name
            && n == want
        {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_survives_dropped_watches_and_a_410_after_compaction() {
    let server = ApiServer::new();
    let client = sa_client(&server, "default", "op");
    grant(
        &server,
        Some("default"),
        "op",
        "default",
        "op",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}]),
    );
    let admin: Api<Secret> = Api::namespaced(server.client(), "default");
    let mut names = applied_names(Api::namespaced(client, "default"));
    admin
        .create(&PostParams::default(), &secret("one"))
        .await
        .unwrap();
    next_name(&mut names, "one").await;
    let lists = |server: &ApiServer| {
        server
            .access_log()
            .iter()
            .filter(|r| r.user == sa_user("default", "op") && r.verb == "list")
            .count()
    };
    let lists_before = lists(&server);

    // A dropped watch is resumed from the last resourceVersion, without a relist.
    server.drop_watches();
    admin
        .create(&PostParams::default(), &secret("two"))
        .await
        .unwrap();
    next_name(&mut names, "two").await;
    assert_eq!(lists(&server), lists_before);

    // Compacted history: a watch resumed from before the compaction (the watcher's last version
    // is older than a change it did not see, in another namespace) gets 410 Expired, and the
    // watcher relists.
    ensure_namespace(&server, "other");
    Api::<Secret>::namespaced(server.client(), "other")
        .create(&PostParams::default(), &secret("elsewhere"))
        .await
        .unwrap();
    server.compact_history();
    server.drop_watches();
    admin
        .create(&PostParams::default(), &secret("three"))
        .await
        .unwrap();
    next_name(&mut names, "three").await;
    assert!(lists(&server) > lists_before, "the watcher relisted after 410");
}

#[test]
fn clients_recover_across_a_server_stop_and_restart_on_the_same_store_and_port() {
    install_crypto();
    let server = ApiServer::new();
    let token = sa_token(&server, "default", "op");
    grant(
        &server,
        Some("default"),
        "op",
        "default",
        "op",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let handle = server.serve_tls("127.0.0.1:0").await.unwrap();
        let addr = handle.local_addr();
        let client = kube::Client::try_from(handle.kube_config(&token)).unwrap();
        let api: Api<Secret> = Api::namespaced(client.clone(), "default");
        let admin: Api<Secret> = Api::namespaced(server.client(), "default");
        let mut names = applied_names(api.clone());
        admin
            .create(&PostParams::default(), &secret("before"))
            .await
            .unwrap();
        next_name(&mut names, "before").await;

        // Stop: calls fail; writes through the store go on.
        handle.shutdown().await;
        assert!(api.get("before").await.is_err());
        admin
            .create(&PostParams::default(), &secret("during"))
            .await
            .unwrap();

        // Restart on the same port (same CA, same token key): the same client and watcher recover.
        let handle = server.serve_tls(addr).await.unwrap();
        assert_eq!(handle.local_addr(), addr);
        next_name(&mut names, "during").await;
        assert_eq!(
            api.get("during").await.unwrap().metadata.name.as_deref(),
            Some("during")
        );
        admin
            .create(&PostParams::default(), &secret("after"))
            .await
            .unwrap();
        next_name(&mut names, "after").await;
        handle.shutdown().await;
    });
}
