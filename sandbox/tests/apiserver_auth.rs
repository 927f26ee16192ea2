//! Authentication and RBAC of the sandbox API server through real clients: 401 shapes, anonymous
//! requests, the TokenRequest API, token audience/expiry/ServiceAccount checks, static tokens,
//! RBAC allow and deny through `kube::Client`s holding ServiceAccount tokens (Role vs ClusterRole,
//! namespaces, resourceNames, subresources, watch vs list, server-side apply as patch, events),
//! discovery for any authenticated user, the review APIs, `kubectl auth can-i`, and the RBAC
//! coverage helpers fed from the access log.

mod rbac_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::Body;
use futures::{StreamExt, TryStreamExt};
use http::Request;
use http_body_util::BodyExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec, SelfSubjectRulesReview,
    SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use rbac_support::*;
use sandbox::apiserver::auth::coverage::{self, Permission};
use sandbox::apiserver::{ADMIN_TOKEN, ApiServer, UserInfo};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn raw(server: &ApiServer, method: &str, path: &str, auth: Option<&str>) -> (u16, Value) {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    let resp = server
        .router()
        .oneshot(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes))),
    )
}

fn secret(name: &str) -> Secret {
    serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {"k": "v"}})).unwrap()
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn unknown_tokens_get_401_and_requests_without_credentials_are_anonymous() {
    let server = ApiServer::new();
    let unauthorized = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401});
    for auth in ["Bearer nope", "Bearer ", "Bearer a.b.c", "bearer nope"] {
        assert_eq!(
            raw(&server, "GET", "/api/v1/namespaces/default/secrets", Some(auth)).await,
            (401, unauthorized.clone()),
            "{auth}"
        );
    }
    // Even public paths refuse a bad token rather than downgrading to anonymous.
    assert_eq!(raw(&server, "GET", "/version", Some("Bearer nope")).await.0, 401);

    // No credentials: system:anonymous, allowed /version and health only.
    assert_eq!(raw(&server, "GET", "/version", None).await.0, 200);
    assert_eq!(raw(&server, "GET", "/healthz", None).await, (200, json!("ok")));
    let (code, body) = raw(&server, "GET", "/api", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        "forbidden: User \"system:anonymous\" cannot get path \"/api\""
    );
    assert_eq!(body["details"], json!({}));
    let (code, body) = raw(&server, "GET", "/api/v1/namespaces/default/secrets", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        "secrets is forbidden: User \"system:anonymous\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
    // The 401 is recorded without a user.
    let log = server.access_log();
    assert!(log.iter().any(|r| r.code == 401 && r.user.is_empty()));

    let strict = ApiServer::builder().anonymous_auth(false).build();
    assert_eq!(raw(&strict, "GET", "/version", None).await.0, 401);
    assert_eq!(
        raw(&strict, "GET", "/version", Some(&format!("Bearer {ADMIN_TOKEN}")))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn the_token_request_api_issues_service_account_tokens() {
    let server = ApiServer::new();
    service_account(&server, "team", "app");
    let sas: Api<ServiceAccount> = Api::namespaced(server.client(), "team");
    let uid = sas.get("app").await.unwrap().metadata.uid.unwrap();
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec!["https://kubernetes.default.svc".into()],
            expiration_seconds: Some(1200),
            ..Default::default()
        },
        ..Default::default()
    };
    let before = Timestamp::now().as_second();
    let answer = sas
        .create_token_request("app", &PostParams::default(), &request)
        .await
        .unwrap();
    let status = answer.status.unwrap();
    let expires = status.expiration_timestamp.0.as_second();
    assert!((before + 1200..=before + 1205).contains(&expires), "{expires}");
    let claims = jwt_claims(&status.token);
    assert_eq!(claims["iss"], "https://kubernetes.default.svc.cluster.local");
    assert_eq!(claims["sub"], "system:serviceaccount:team:app");
    assert_eq!(claims["aud"], json!(["https://kubernetes.default.svc"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        1200
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert_eq!(
        claims["kubernetes.io"],
        json!({"namespace": "team", "serviceaccount": {"name": "app", "uid": uid}})
    );
    assert_eq!(answer.spec.expiration_seconds, Some(1200));

    // The token authenticates as the service account, with its groups.
    let me: Api<SelfSubjectReview> = Api::all(server.client_with_token(&status.token));
    let review = me
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .unwrap();
    let info = review.status.unwrap().user_info.unwrap();
    assert_eq!(info.username.as_deref(), Some("system:serviceaccount:team:app"));
    assert_eq!(info.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(
        info.groups.unwrap(),
        vec![
            "system:serviceaccounts",
            "system:serviceaccounts:team",
            "system:authenticated"
        ]
    );

    // Defaults: the API server's audiences and one hour.
    let default = sas
        .create_token_request("app", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap();
    assert_eq!(
        default.spec.audiences,
        vec![
            "https://kubernetes.default.svc.cluster.local",
            "https://kubernetes.default.svc"
        ]
    );
    assert_eq!(default.spec.expiration_seconds, Some(3600));

    // A missing ServiceAccount is 404; too short a lifetime 422.
    let missing = status_of(
        sas.create_token_request("ghost", &PostParams::default(), &request)
            .await,
    );
    assert_eq!(
        (missing.code, missing.reason.as_str(), missing.message.as_str()),
        (404, "NotFound", "serviceaccounts \"ghost\" not found")
    );
    let mut short = request.clone();
    short.spec.expiration_seconds = Some(599);
    let invalid = status_of(
        sas.create_token_request("app", &PostParams::default(), &short)
            .await,
    );
    assert_eq!(invalid.code, 422);
    assert_eq!(
        invalid.message,
        "TokenRequest.authentication.k8s.io \"app\" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"
    );

    // Requesting a token is itself authorized: create on serviceaccounts/token.
    let nobody = sa_client(&server, "team", "nobody");
    let denied = status_of(
        Api::<ServiceAccount>::namespaced(nobody, "team")
            .create_token_request("app", &PostParams::default(), &request)
            .await,
    );
    assert_eq!(
        denied.message,
        "serviceaccounts \"app\" is forbidden: User \"system:serviceaccount:team:nobody\" cannot create resource \"serviceaccounts/token\" in API group \"\" in the namespace \"team\""
    );
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_need_an_accepted_audience_a_live_service_account_and_time_left() {
    let offset = Arc::new(AtomicI64::new(0));
    let clock_offset = offset.clone();
    let server = ApiServer::builder()
        .clock(move || {
            Timestamp::from_second(Timestamp::now().as_second() + clock_offset.load(Ordering::SeqCst))
                .unwrap()
        })
        .build();
    service_account(&server, "team", "app");
    grant(
        &server,
        Some("team"),
        "read",
        "team",
        "app",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]),
    );
    let list = |token: &str| {
        let api: Api<Secret> = Api::namespaced(server.client_with_token(token), "team");
        async move { code_of(&api.list(&ListParams::default()).await) }
    };
    use secrecy::ExposeSecret;
    let token = |aud: &[&str], ttl: u64| {
        server
            .service_account_token("team", "app", aud, Duration::from_secs(ttl))
            .unwrap()
            .expose_secret()
            .to_string()
    };
    let good = token(&[], 600);
    assert_eq!(list(&good).await, 200);
    // Audiences: the issuer and the in-cluster URL are accepted, others are not.
    assert_eq!(list(&token(&["https://kubernetes.default.svc"], 600)).await, 200);
    assert_eq!(list(&token(&["api://AzureADTokenExchange"], 600)).await, 401);
    assert_eq!(
        list(&token(
            &[
                "api://AzureADTokenExchange",
                "https://kubernetes.default.svc.cluster.local"
            ],
            600
        ))
        .await,
        200
    );
    // Expiry, with kube-apiserver's one-minute leeway.
    offset.store(600 + 30, Ordering::SeqCst);
    assert_eq!(list(&good).await, 200);
    offset.store(600 + 61, Ordering::SeqCst);
    assert_eq!(list(&good).await, 401);
    offset.store(0, Ordering::SeqCst);
    // A token dies with its ServiceAccount, and does not come back with a namesake.
    let sas: Api<ServiceAccount> = Api::namespaced(server.client(), "team");
    sas.delete("app", &DeleteParams::default()).await.unwrap();
    assert_eq!(list(&good).await, 401);
    service_account(&server, "team", "app");
    assert_eq!(list(&good).await, 401);
    assert_eq!(list(&token(&[], 600)).await, 200);
    // Another server's key is not trusted.
    let other = ApiServer::new();
    service_account(&other, "team", "app");
    let foreign = other
        .service_account_token("team", "app", &[], Duration::from_secs(600))
        .unwrap();
    assert_eq!(list(foreign.expose_secret()).await, 401);
}

#[tokio::test]
async fn static_tokens_authenticate_users_with_their_groups() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    server.add_token("alice-token", "alice", &["devs"]);
    grant_to(
        &server,
        Some("team"),
        "devs",
        json!({"kind": "Group", "name": "devs", "apiGroup": "rbac.authorization.k8s.io"}),
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]),
    );
    let cms: Api<ConfigMap> = Api::namespaced(server.client_with_token("alice-token"), "team");
    cms.create(&PostParams::default(), &config_map("c"))
        .await
        .unwrap();
    let denied = status_of(
        Api::<Secret>::namespaced(server.client_with_token("alice-token"), "team")
            .list(&ListParams::default())
            .await,
    );
    assert!(
        denied.message.contains("User \"alice\" cannot list"),
        "{}",
        denied.message
    );
    assert!(server.remove_token("alice-token"));
    assert_eq!(code_of(&cms.list(&ListParams::default()).await), 401);

    // Credentials never reach the access log or Debug output.
    let sa = sa_token(&server, "team", "app");
    let _ = Api::<Secret>::namespaced(server.client_with_token(&sa), "team")
        .list(&ListParams::default())
        .await;
    let seen = format!(
        "{:?} {:?} {:?}",
        server.access_log(),
        server,
        server.rbac_policy()
    );
    for secret in ["alice-token", sa.as_str(), ADMIN_TOKEN] {
        assert!(!seen.contains(secret));
    }
    let issued = server
        .service_account_token("team", "app", &[], Duration::from_secs(600))
        .unwrap();
    assert!(!format!("{issued:?}").contains(secrecy::ExposeSecret::expose_secret(&issued)));
}

#[tokio::test]
async fn roles_grant_in_their_namespace_and_cluster_roles_everywhere() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    ensure_namespace(&server, "other");
    let client = sa_client(&server, "team", "app");
    let secrets = |ns: &str| Api::<Secret>::namespaced(client.clone(), ns);
    grant(
        &server,
        Some("team"),
        "secret-reader",
        "team",
        "app",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]),
    );
    Api::<Secret>::namespaced(server.client(), "team")
        .create(&PostParams::default(), &secret("s1"))
        .await
        .unwrap();
    assert_eq!(
        secrets("team")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(secrets("team").get("s1").await.unwrap().data.unwrap().len(), 1);
    let other = status_of(secrets("other").list(&ListParams::default()).await);
    assert_eq!(
        (other.code, other.reason.as_str(), other.message.as_str()),
        (
            403,
            "Forbidden",
            "secrets is forbidden: User \"system:serviceaccount:team:app\" cannot list resource \"secrets\" in API group \"\" in the namespace \"other\""
        )
    );
    let cluster = status_of(
        Api::<Secret>::all(client.clone())
            .list(&ListParams::default())
            .await,
    );
    assert_eq!(
        cluster.message,
        "secrets is forbidden: User \"system:serviceaccount:team:app\" cannot list resource \"secrets\" in API group \"\" at the cluster scope"
    );
    let create = status_of(
        secrets("team")
            .create(&PostParams::default(), &secret("s2"))
            .await,
    );
    assert_eq!(
        create.message,
        "secrets is forbidden: User \"system:serviceaccount:team:app\" cannot create resource \"secrets\" in API group \"\" in the namespace \"team\""
    );
    let delete = status_of(secrets("team").delete("s1", &DeleteParams::default()).await);
    assert_eq!(
        delete.message,
        "secrets \"s1\" is forbidden: User \"system:serviceaccount:team:app\" cannot delete resource \"secrets\" in API group \"\" in the namespace \"team\""
    );

    // A ClusterRole through a ClusterRoleBinding: every namespace and the cluster scope.
    grant(
        &server,
        None,
        "cm-lister",
        "team",
        "app",
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
    );
    for ns in ["team", "other", "default"] {
        Api::<ConfigMap>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap();
    }
    Api::<ConfigMap>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    // A ClusterRole through a RoleBinding: only the binding's namespace.
    let g = "rbac.authorization.k8s.io";
    let rb = server.resource(g, "v1", "rolebindings").unwrap();
    server
        .create(
            &rb,
            "other",
            json!({"metadata": {"name": "cm-writer"}, "roleRef": {"apiGroup": g, "kind": "ClusterRole", "name": "writer"},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "team"}]}),
            "test",
        )
        .unwrap();
    let cr = server.resource(g, "v1", "clusterroles").unwrap();
    // The binding came first: the missing role is named in the denial until it exists.
    let dangling = status_of(
        Api::<ConfigMap>::namespaced(client.clone(), "other")
            .create(&PostParams::default(), &config_map("c"))
            .await,
    );
    assert!(
        dangling
            .message
            .ends_with(": RBAC: clusterrole.rbac.authorization.k8s.io \"writer\" not found"),
        "{}",
        dangling.message
    );
    server
        .create(
            &cr,
            "",
            json!({"metadata": {"name": "writer"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]}),
            "test",
        )
        .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), "other")
        .create(&PostParams::default(), &config_map("c"))
        .await
        .unwrap();
    assert_eq!(
        code_of(
            &Api::<ConfigMap>::namespaced(client.clone(), "team")
                .create(&PostParams::default(), &config_map("c"))
                .await
        ),
        403
    );
}

#[tokio::test]
async fn resource_names_subresources_watch_and_apply_are_authorized_precisely() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    let admin_cms: Api<ConfigMap> = Api::namespaced(server.client(), "team");
    for n in ["cfg", "other"] {
        admin_cms
            .create(&PostParams::default(), &config_map(n))
            .await
            .unwrap();
    }
    let deploy: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    Api::<Deployment>::namespaced(server.client(), "team")
        .create(&PostParams::default(), &deploy)
        .await
        .unwrap();
    let client = sa_client(&server, "team", "app");
    grant(
        &server,
        Some("team"),
        "precise",
        "team",
        "app",
        json!([
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["get", "update", "list", "watch"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
            {"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["patch", "get"]},
            {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["patch"]},
        ]),
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    // resourceNames: that object only, and lists only when pinned to it by a field selector.
    let mut cfg = cms.get("cfg").await.unwrap();
    cfg.data = Some([("k".to_string(), "w".to_string())].into());
    cms.replace("cfg", &PostParams::default(), &cfg).await.unwrap();
    let other = status_of(cms.get("other").await);
    assert_eq!(
        other.message,
        "configmaps \"other\" is forbidden: User \"system:serviceaccount:team:app\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"team\""
    );
    assert_eq!(code_of(&cms.list(&ListParams::default()).await), 403);
    let pinned = cms
        .list(&ListParams::default().fields("metadata.name=cfg"))
        .await
        .unwrap();
    assert_eq!(pinned.items.len(), 1);
    let pinned_watch = cms
        .watch(
            &WatchParams::default().fields("metadata.name=cfg").timeout(1),
            "0",
        )
        .await;
    assert!(pinned_watch.is_ok());

    // watch is its own verb: listing secrets is allowed, watching them is not.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    secrets.list(&ListParams::default()).await.unwrap();
    let watch = status_of(secrets.watch(&WatchParams::default(), "0").await);
    assert_eq!(
        watch.message,
        "secrets is forbidden: User \"system:serviceaccount:team:app\" cannot watch resource \"secrets\" in API group \"\" in the namespace \"team\""
    );
    // kube-runtime's watcher lists (allowed), then its watch is refused.
    let w = watcher(secrets.clone(), watcher::Config::default()).filter_map(|e| async move { e.err() });
    let mut w = std::pin::pin!(w);
    let error = tokio::time::timeout(LONG, w.next()).await.unwrap().unwrap();
    assert!(
        matches!(&error, watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.code == 403),
        "{error:?}"
    );

    // Subresources: the status and scale of a Deployment, not the Deployment itself.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "team");
    deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(
        deployments.get_scale("web").await.unwrap().spec.unwrap().replicas,
        Some(1)
    );
    let main = status_of(
        deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
            )
            .await,
    );
    assert_eq!(
        main.message,
        "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:team:app\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"team\""
    );
    let scale = status_of(
        deployments
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 2}})),
            )
            .await,
    );
    assert!(
        scale
            .message
            .contains("cannot patch resource \"deployments/scale\""),
        "{}",
        scale.message
    );
    assert_eq!(code_of(&deployments.get("web").await), 403);

    // Server-side apply is `patch`, even when it creates: `create` is not needed.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "team");
    let applied = sas
        .patch(
            "applied",
            &PatchParams::apply("test").force(),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "applied"}}),
            ),
        )
        .await;
    assert_ne!(code_of(&applied), 403, "{applied:?}");
    assert_ne!(code_of(&applied), 401);
    let no_patch: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let refused = status_of(
        no_patch
            .patch(
                "applied",
                &PatchParams::apply("test").force(),
                &Patch::Apply(
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}}),
                ),
            )
            .await,
    );
    assert!(
        refused.message.contains("cannot patch resource \"configmaps\""),
        "{}",
        refused.message
    );
}

#[tokio::test]
async fn a_watcher_with_list_and_watch_streams_and_events_need_their_own_grant() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    let client = sa_client(&server, "team", "app");
    grant(
        &server,
        Some("team"),
        "watcher",
        "team",
        "app",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}]),
    );
    let admin: Api<Secret> = Api::namespaced(server.client(), "team");
    admin
        .create(&PostParams::default(), &secret("before"))
        .await
        .unwrap();
    let seen = watcher(
        Api::<Secret>::namespaced(client.clone(), "team"),
        watcher::Config::default(),
    )
    .try_filter_map(|e| async move {
        Ok(match e {
            watcher::Event::Apply(s) | watcher::Event::InitApply(s) => s.metadata.name,
            _ => None,
        })
    });
    let mut seen = std::pin::pin!(seen);
    assert_eq!(
        tokio::time::timeout(LONG, seen.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        "before"
    );
    admin
        .create(&PostParams::default(), &secret("after"))
        .await
        .unwrap();
    assert_eq!(
        tokio::time::timeout(LONG, seen.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        "after"
    );

    // Events through kube's Recorder need create (and patch for series) on events.k8s.io.
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Secret".into()),
        name: Some("before".into()),
        namespace: Some("team".into()),
        ..Default::default()
    };
    let event = Event {
        type_: EventType::Normal,
        reason: "Rotated".into(),
        note: Some("rotated".into()),
        action: "Rotate".into(),
        secondary: None,
    };
    let reporter = Reporter {
        controller: "test".into(),
        instance: None,
    };
    let recorder = Recorder::new(client.clone(), reporter.clone());
    let denied = recorder.publish(&event, &reference).await;
    assert_eq!(code_of(&denied), 403);
    grant(
        &server,
        Some("team"),
        "events",
        "team",
        "app",
        json!([{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]}]),
    );
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let used = coverage::permissions_used(&server.access_log(), &sa_user("team", "app"));
    assert!(used.contains(&Permission::new("create", "events.k8s.io", "events", "")));
    assert!(used.contains(&Permission::new("patch", "events.k8s.io", "events", "")));
}

#[tokio::test]
async fn discovery_is_open_to_any_authenticated_user_and_reviews_answer_questions() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    let client = sa_client(&server, "team", "nobody");
    // Discovery, /version and OpenAPI through the system:discovery binding.
    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(discovery.groups().any(|g| g.name() == "apps"));
    assert!(discovery.groups().any(|g| g.name() == "authorization.k8s.io"));
    client.apiserver_version().await.unwrap();
    for path in [
        "/openapi/v3",
        "/apis/apps/v1",
        "/.well-known/openid-configuration",
        "/openid/v1/jwks",
    ] {
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        client
            .request_text(req)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }

    // SelfSubjectAccessReview: what `kubectl auth can-i` asks.
    grant(
        &server,
        Some("team"),
        "reader",
        "team",
        "nobody",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
    );
    let ask = |ns: &str, verb: &str| SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.into()),
                verb: Some(verb.into()),
                resource: Some("secrets".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let yes = reviews
        .create(&PostParams::default(), &ask("team", "get"))
        .await
        .unwrap();
    let status = yes.status.unwrap();
    assert!(status.allowed);
    assert_eq!(
        status.reason.as_deref(),
        Some(
            "RBAC: allowed by RoleBinding \"reader/team\" of Role \"reader\" to ServiceAccount \"nobody/team\""
        )
    );
    let no = reviews
        .create(&PostParams::default(), &ask("team", "delete"))
        .await
        .unwrap();
    assert!(!no.status.unwrap().allowed);
    let elsewhere = reviews
        .create(&PostParams::default(), &ask("other", "get"))
        .await
        .unwrap();
    assert!(!elsewhere.status.unwrap().allowed);

    // SelfSubjectRulesReview: what `kubectl auth can-i --list` asks.
    let rules: Api<SelfSubjectRulesReview> = Api::all(client.clone());
    let review = rules
        .create(
            &PostParams::default(),
            &SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some("team".into()),
                },
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .status
        .unwrap();
    assert!(!review.incomplete);
    assert!(
        review
            .resource_rules
            .iter()
            .any(|r| r.resources.as_deref() == Some(&["secrets".to_string()][..]))
    );
    assert!(review.non_resource_rules.iter().any(|r| {
        r.non_resource_urls
            .as_ref()
            .is_some_and(|u| u.contains(&"/apis/*".to_string()))
    }));

    // The bootstrap policy is made of ordinary objects: removing the discovery binding closes it.
    let crbs: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(server.client());
    crbs.delete("system:discovery", &DeleteParams::default())
        .await
        .unwrap();
    let req = http::Request::get("/apis").body(Vec::new()).unwrap();
    match client.request_text(req).await {
        Err(kube::Error::Api(s)) => assert_eq!(
            s.message,
            "forbidden: User \"system:serviceaccount:team:nobody\" cannot get path \"/apis\""
        ),
        other => panic!("expected 403, got {other:?}"),
    }
}

#[tokio::test]
async fn kubectl_over_tls_authenticates_with_a_service_account_token() {
    install_crypto();
    const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
    if !Path::new(KUBECTL).exists() {
        panic!(
            "{KUBECTL} is not installed: these tests drive the kubectl binaries that come with the machine image"
        );
    }
    let server = ApiServer::new();
    let token = sa_token(&server, "team", "app");
    grant(
        &server,
        Some("team"),
        "reader",
        "team",
        "app",
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
               {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]),
    );
    // kubectl sends its token only to a TLS server.
    let handle = server.serve_tls("127.0.0.1:0").await.unwrap();
    assert!(handle.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, handle.kubeconfig(&token)).unwrap();
    let home = dir.path().to_str().unwrap().to_string();
    let kubeconfig = kubeconfig.to_str().unwrap().to_string();
    let run = move |args: Vec<&'static str>| {
        let home = home.clone();
        let kubeconfig = kubeconfig.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(KUBECTL)
                .args(&args)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .env("HOME", &home)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            if !stderr.is_empty() {
                eprintln!("kubectl {args:?}: {stderr}");
            }
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            )
        })
    };
    assert_eq!(
        run(vec!["auth", "can-i", "list", "secrets", "-n", "team"])
            .await
            .unwrap(),
        (true, "yes".to_string())
    );
    assert_eq!(
        run(vec!["auth", "can-i", "delete", "secrets", "-n", "team"])
            .await
            .unwrap(),
        (false, "no".to_string())
    );
    let (ok, whoami) = run(vec![
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ])
    .await
    .unwrap();
    assert!(ok);
    assert_eq!(whoami, "system:serviceaccount:team:app");
    let (ok, _) = run(vec!["get", "secrets", "-n", "team", "-o", "name"])
        .await
        .unwrap();
    assert!(ok);
    let (ok, _) = run(vec!["get", "configmaps", "-n", "team"]).await.unwrap();
    assert!(!ok, "RBAC refuses what was not granted");
    // A kube::Client over HTTPS with the same token.
    let client = kube::Client::try_from(handle.kube_config(&token)).unwrap();
    Api::<Secret>::namespaced(client, "team")
        .list(&ListParams::default())
        .await
        .unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn the_access_log_yields_the_permissions_a_user_needs() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    let client = sa_client(&server, "team", "op");
    let rules = json!([
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "create"]},
        {"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["patch"]},
    ]);
    grant(&server, Some("team"), "op", "team", "op", rules.clone());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    secrets.list(&ListParams::default()).await.unwrap();
    secrets
        .create(&PostParams::default(), &secret("x"))
        .await
        .unwrap();
    // A denied request is a needed permission too.
    let _ = secrets.get("x").await;
    // Other users' requests do not count.
    Api::<Secret>::namespaced(server.client(), "team")
        .delete("x", &DeleteParams::default())
        .await
        .unwrap();
    let user = UserInfo::service_account("team", "op");
    let used = coverage::permissions_used(&server.access_log(), &user.name);
    let expected: BTreeSet<Permission> = [
        Permission::new("create", "", "secrets", ""),
        Permission::new("get", "", "secrets", ""),
        Permission::new("list", "", "secrets", ""),
    ]
    .into();
    assert_eq!(used, expected);
    let manifests = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "op"}, "rules": rules}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "op"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "op"},
            "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "team"}]}),
    ];
    let report = coverage::check_coverage(&manifests, "team", &user, &used);
    assert_eq!(report.missing, vec![Permission::new("get", "", "secrets", "")]);
    assert_eq!(report.unused.len(), 1);
    assert_eq!(report.unused[0].resource, "deployments/status");
    // The exact per-request check agrees with what the server decided.
    let policy = server.rbac_policy();
    let denied = coverage::denied_requests(&policy, &user, &server.access_log());
    assert_eq!(denied.len(), 1);
    assert_eq!((denied[0].verb.as_str(), denied[0].code), ("get", 403));
}

#[tokio::test]
async fn namespaces_are_authorized_in_their_own_namespace() {
    let server = ApiServer::new();
    ensure_namespace(&server, "team");
    let client = sa_client(&server, "team", "app");
    grant(
        &server,
        Some("team"),
        "ns-reader",
        "team",
        "app",
        json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]),
    );
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    namespaces.get("team").await.unwrap();
    let other = status_of(namespaces.get("default").await);
    assert_eq!(
        other.message,
        "namespaces \"default\" is forbidden: User \"system:serviceaccount:team:app\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"default\""
    );
    let list = status_of(namespaces.list(&ListParams::default()).await);
    assert!(list.message.ends_with("at the cluster scope"), "{}", list.message);
}
