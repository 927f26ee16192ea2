//! HTTP-level behaviour of the sandbox API server that typed clients do not exercise: error
//! bodies for bad input, status-subresource and generation rules, CRD lifecycle, representations
//! (Table, PartialObjectMetadata), streaming lists and the legacy watch path.

use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Resp {
    status: u16,
    body: Value,
    raw: Vec<u8>,
}

async fn call(
    server: &ApiServer,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: impl Into<Body>,
    accept: Option<&str>,
) -> Resp {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"));
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    if let Some(a) = accept {
        b = b.header("accept", a);
    }
    let resp = server
        .router()
        .oneshot(b.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let raw = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Resp { status, body, raw }
}

async fn post(server: &ApiServer, path: &str, body: Value) -> Resp {
    call(
        server,
        "POST",
        path,
        Some("application/json"),
        body.to_string(),
        None,
    )
    .await
}

async fn patch(server: &ApiServer, path: &str, ct: &str, body: Value) -> Resp {
    call(server, "PATCH", path, Some(ct), body.to_string(), None).await
}

async fn get(server: &ApiServer, path: &str) -> Resp {
    call(server, "GET", path, None, Body::empty(), None).await
}

const DEPLOY: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "img:1"}]}}},
        "status": {"replicas": 99}})
}

#[tokio::test]
async fn bad_input_gets_kube_apiserver_errors_and_never_corrupts_the_store() {
    let server = ApiServer::builder().max_body_bytes(1024).build();
    let rv = server.resource_version();
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y".repeat(4096)}});
    let r = post(&server, "/api/v1/namespaces/default/configmaps", big).await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (413, Some("RequestEntityTooLarge"))
    );

    let r = get(&server, "/api/v1/namespaces/default/widgets").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["message"],
        "the server could not find the requested resource"
    );
    assert_eq!(get(&server, "/apis/nope.example.com/v1/things").await.status, 404);

    let r = call(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps/x",
        Some("application/json"),
        "{}",
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (405, Some("MethodNotAllowed"))
    );

    let r = call(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/yaml"),
        "a: [b",
        None,
    )
    .await;
    assert_eq!((r.status, r.body["reason"].as_str()), (400, Some("BadRequest")));
    let r = call(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        Some("text/plain"),
        "{}",
        None,
    )
    .await;
    assert_eq!(r.status, 415);
    let r = get(
        &server,
        "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20b",
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        &server,
        "/api/v1/namespaces/default/configmaps",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["details"]["causes"][0]["field"], "metadata.name");
    assert_eq!(
        server.resource_version(),
        rv,
        "no failed request changed the store"
    );

    // YAML bodies are accepted; generateName gets a suffix.
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: gen-\ndata:\n  a: b\n";
    let r = call(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/yaml"),
        yaml,
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let name = r.body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
}

#[tokio::test]
async fn status_subresource_and_generation_follow_kube_rules() {
    // No controller: the status written here must stay as written.
    let server = ApiServer::builder().workload_simulator(false).build();
    let r = post(&server, DEPLOY, deployment()).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["metadata"]["generation"], 1);
    assert_eq!(r.body["status"], json!({}), "status is reset on create");
    assert_eq!(r.body["spec"]["replicas"], 1);

    // Metadata-only changes do not bump generation.
    let r = patch(
        &server,
        &format!("{DEPLOY}/web"),
        "application/merge-patch+json",
        json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .await;
    assert_eq!(r.body["metadata"]["generation"], 1);
    // Status through the main resource is ignored.
    let before = r.body["metadata"]["resourceVersion"].clone();
    let r = patch(
        &server,
        &format!("{DEPLOY}/web"),
        "application/merge-patch+json",
        json!({"status": {"replicas": 5}}),
    )
    .await;
    assert_eq!(
        (
            r.status,
            &r.body["status"],
            &r.body["metadata"]["resourceVersion"]
        ),
        (200, &json!({}), &before)
    );
    // Spec changes (strategic merge patch of the pod template) bump generation.
    let r = patch(
        &server,
        &format!("{DEPLOY}/web"),
        "application/strategic-merge-patch+json",
        json!({"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}}),
    )
    .await;
    assert_eq!(r.body["metadata"]["generation"], 2);
    // /status writes change only status, never generation.
    let r = patch(
        &server,
        &format!("{DEPLOY}/web/status"),
        "application/merge-patch+json",
        json!({"spec": {"replicas": 7}, "status": {"observedGeneration": 2, "replicas": 1}}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"]["observedGeneration"], 2);
    assert_eq!(r.body["spec"]["replicas"], 1);
    assert_eq!(r.body["metadata"]["generation"], 2);
    // The scale subresource reads and writes spec.replicas.
    let r = get(&server, &format!("{DEPLOY}/web/scale")).await;
    assert_eq!(r.body["kind"], "Scale");
    assert_eq!(r.body["status"]["selector"], "app=web");
    let r = patch(
        &server,
        &format!("{DEPLOY}/web/scale"),
        "application/merge-patch+json",
        json!({"spec": {"replicas": 3}}),
    )
    .await;
    assert_eq!((r.status, &r.body["spec"]["replicas"]), (200, &json!(3)));
    let r = get(&server, &format!("{DEPLOY}/web")).await;
    assert_eq!(
        (&r.body["spec"]["replicas"], &r.body["metadata"]["generation"]),
        (&json!(3), &json!(3))
    );
    // Secrets have no status subresource.
    assert_eq!(
        get(&server, "/api/v1/namespaces/default/secrets/x/status")
            .await
            .status,
        404
    );
}

fn crd(scope: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.t.example.com"},
        "spec": {"group": "t.example.com", "scope": scope,
            "names": {"plural": "things", "singular": "thing", "kind": "Thing", "shortNames": ["th"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                 "additionalPrinterColumns": [{"name": "Color", "type": "string", "jsonPath": ".spec.color"}],
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

#[tokio::test]
async fn crds_serve_their_resource_until_deleted() {
    let server = ApiServer::new();
    let r = post(
        &server,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd("Cluster"),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = get(
        &server,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.t.example.com",
    )
    .await;
    let conds: Vec<&str> = r.body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(conds, ["NamesAccepted", "Established"]);

    let groups = get(&server, "/apis").await.body;
    let g = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "t.example.com")
        .unwrap();
    assert_eq!(g["preferredVersion"]["version"], "v1");
    let list = get(&server, "/apis/t.example.com/v1").await.body;
    assert_eq!(list["resources"][0]["categories"], json!(["all"]));
    assert_eq!(list["resources"][0]["namespaced"], false);
    let index = get(&server, "/openapi/v3").await.body;
    assert!(
        index["paths"]["apis/t.example.com/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .starts_with("/openapi/v3/apis/t.example.com/v1?hash=")
    );
    let doc = get(&server, "/openapi/v3/apis/t.example.com/v1").await.body;
    let op = &doc["paths"]["/apis/t.example.com/v1/things/{name}"]["patch"];
    assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Thing");
    assert!(
        op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );

    let thing = json!({"apiVersion": "t.example.com/v1", "kind": "Thing", "metadata": {"name": "a"}, "spec": {"color": "red"}, "status": {"x": 1}});
    let r = post(&server, "/apis/t.example.com/v1/things", thing).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(
        r.body.get("status").is_none(),
        "status is dropped on create when the subresource is enabled"
    );
    // Another served version reads and writes the same storage.
    let beta = json!({"apiVersion": "t.example.com/v1beta1", "kind": "Thing", "metadata": {"name": "b"}, "spec": {"color": "blue"}});
    let r = post(&server, "/apis/t.example.com/v1beta1/things", beta).await;
    assert_eq!(
        (r.status, &r.body["apiVersion"]),
        (201, &json!("t.example.com/v1beta1"))
    );
    let r = get(&server, "/apis/t.example.com/v1/things/b").await;
    assert_eq!(r.body["apiVersion"], "t.example.com/v1");
    let table = call(
        &server,
        "GET",
        "/apis/t.example.com/v1/things",
        None,
        Body::empty(),
        Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
    )
    .await
    .body;
    assert_eq!(table["columnDefinitions"][1]["name"], "Color");
    assert_eq!(table["rows"][0]["cells"], json!(["a", "red"]));
    assert_eq!(table["rows"][1]["cells"], json!(["b", "blue"]));
    let meta = call(
        &server,
        "GET",
        "/apis/t.example.com/v1/things",
        None,
        Body::empty(),
        Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
    )
    .await
    .body;
    assert_eq!(meta["items"][0]["kind"], "PartialObjectMetadata");
    assert!(meta["items"][0].get("spec").is_none());

    let r = call(
        &server,
        "DELETE",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.t.example.com",
        None,
        Body::empty(),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["metadata"]["finalizers"],
        json!(["customresourcecleanup.apiextensions.k8s.io"])
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while get(&server, "/apis/t.example.com/v1/things").await.status != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the CRD's resource is withdrawn"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get(
            &server,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/things.t.example.com"
        )
        .await
        .status,
        404
    );
    // Recreating serves an empty collection: the old objects went with the CRD.
    assert_eq!(
        post(
            &server,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd("Namespaced")
        )
        .await
        .status,
        201
    );
    let r = get(&server, "/apis/t.example.com/v1/namespaces/default/things").await;
    assert_eq!(r.body["items"], json!([]));
}

#[tokio::test]
async fn streaming_lists_and_the_legacy_watch_path() {
    let server = ApiServer::new();
    for n in ["a", "b"] {
        post(
            &server,
            "/api/v1/namespaces/default/configmaps",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}}),
        )
        .await;
    }
    let r = get(
        &server,
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1",
    )
    .await;
    let events: Vec<Value> = r
        .raw
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "ADDED");
    assert_eq!(events[2]["type"], "BOOKMARK");
    assert_eq!(
        events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    let r = get(
        &server,
        "/api/v1/watch/namespaces/default/configmaps?timeoutSeconds=1",
    )
    .await;
    let lines = r.raw.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(
        lines, 2,
        "a watch without resourceVersion starts with the current objects"
    );
    let r = get(
        &server,
        "/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault",
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    assert!(
        r.body["items"][0].get("kind").is_none(),
        "items of built-in lists carry no kind"
    );
}
