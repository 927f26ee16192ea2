//! Behaviours of the Entra provider that the Entra/Graph emulator cannot produce, against tiny
//! purpose-built HTTP servers: the Azure Instance Metadata Service (managed identity), connections
//! that are refused, and servers that accept a connection and never answer.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use common::{TestTime, serve};
use secret_rotator::provider::{
    ApplicationId, ApplicationRef, CredentialHolder, CredentialProvider, Reason,
    entra::{
        ClientSecretSignIn, EntraConfig, EntraProvider, ManagedIdentitySignIn, OperatorSignIn, RetryPolicy,
    },
};
use serde_json::json;

fn app() -> ApplicationRef {
    ApplicationRef {
        id: ApplicationId::ClientId("app-1".into()),
        holder: CredentialHolder::Application,
    }
}

fn provider(config: EntraConfig, time: &Arc<TestTime>) -> EntraProvider {
    EntraProvider::with_time(config, time.clone(), time.clone()).unwrap()
}

#[derive(Default)]
struct Imds {
    token_calls: AtomicU32,
    fail_first: bool,
    identity_missing: bool,
}

async fn imds_token(
    State(imds): State<Arc<Imds>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let n = imds.token_calls.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        headers.get("metadata").and_then(|v| v.to_str().ok()),
        Some("true"),
        "Metadata header"
    );
    let query: std::collections::HashMap<_, _> = query.into_iter().collect();
    assert_eq!(query.get("api-version").map(String::as_str), Some("2018-02-01"));
    assert_eq!(
        query.get("resource").map(String::as_str),
        Some("https://graph.microsoft.com")
    );
    assert_eq!(query.get("client_id").map(String::as_str), Some("mi-client"));
    if imds.identity_missing {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request", "error_description": "Identity not found"})),
        )
            .into_response();
    }
    if imds.fail_first && n == 0 {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let now = jiff::Timestamp::now().as_second();
    Json(json!({
        "access_token": "imds-access-token",
        "refresh_token": "",
        "expires_in": "86399",
        "expires_on": (now + 86_399).to_string(),
        "not_before": now.to_string(),
        "resource": "https://graph.microsoft.com",
        "token_type": "Bearer"
    }))
    .into_response()
}

async fn graph_app(headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer imds-access-token") {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "x"}})),
        )
            .into_response();
    }
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications(id,appId,passwordCredentials)/$entity",
        "id": "obj-1", "appId": "app-1",
        "passwordCredentials": [{"customKeyIdentifier": null, "displayName": "old", "hint": "abc",
            "keyId": "k-1", "secretText": null,
            "startDateTime": "2026-04-01T08:00:00.1234567Z", "endDateTime": "2026-09-28T08:00:00.1234567Z"}]
    }))
    .into_response()
}

async fn imds_server(imds: Arc<Imds>) -> String {
    let router = Router::new()
        .route("/metadata/identity/oauth2/token", get(imds_token))
        .route("/v1.0/{object}", get(graph_app))
        .with_state(imds);
    serve(router).await
}

fn managed_identity_config(base: &str) -> EntraConfig {
    let mut config = EntraConfig::new(
        "tenant-1",
        OperatorSignIn::ManagedIdentity(ManagedIdentitySignIn {
            client_id: Some("mi-client".into()),
            endpoint: Some(format!("{base}/metadata/identity/oauth2/token")),
            api_version: None,
        }),
    );
    config.graph_endpoint = Some(base.to_owned());
    config
}

#[tokio::test]
async fn managed_identity_signs_in_through_imds_retries_and_caches() {
    let imds = Arc::new(Imds {
        fail_first: true,
        ..Imds::default()
    });
    let base = imds_server(imds.clone()).await;
    let time = TestTime::new();
    let provider = provider(managed_identity_config(&base), &time);

    let creds = provider.list_credentials(&app()).await.unwrap();
    assert_eq!(creds.object_id, "obj-1");
    assert_eq!(
        creds.credentials[0].end,
        "2026-09-28T08:00:00.1234567Z".parse().unwrap()
    );
    provider.list_credentials(&app()).await.unwrap();

    assert_eq!(
        imds.token_calls.load(Ordering::SeqCst),
        2,
        "one 503, then one token, cached for the second read"
    );
    assert_eq!(time.slept().len(), 1, "one back-off after the 503");
}

#[tokio::test]
async fn managed_identity_without_an_identity_is_an_operator_credential_error() {
    let imds = Arc::new(Imds {
        identity_missing: true,
        ..Imds::default()
    });
    let base = imds_server(imds.clone()).await;
    let time = TestTime::new();
    let err = provider(managed_identity_config(&base), &time)
        .list_credentials(&app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidOperatorCredential, "{err}");
    assert!(err.message.contains("Identity not found"), "{err}");
    assert_eq!(imds.token_calls.load(Ordering::SeqCst), 1, "a 400 is not retried");
}

fn secret_config(authority: &str, graph: &str) -> EntraConfig {
    let mut config = EntraConfig::new(
        "tenant-1",
        OperatorSignIn::ClientSecret(ClientSecretSignIn {
            client_id: "op".into(),
            secret: "op-secret".into(),
        }),
    );
    config.authority_host = Some(authority.to_owned());
    config.graph_endpoint = Some(graph.to_owned());
    config.retry = RetryPolicy {
        max_attempts: 4,
        ..RetryPolicy::default()
    };
    config
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let time = TestTime::new();
    let err = provider(secret_config(&closed, &closed), &time)
        .list_credentials(&app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::ProviderUnavailable, "{err}");
    assert!(err.message.contains("could not connect"), "{err}");
    assert!(!err.message.contains("op-secret"));
    assert_eq!(time.slept().len(), 3, "four attempts, three waits");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_is_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicU32::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket); // never answer, never close
        }
    });
    let time = TestTime::new();
    let mut config = secret_config(&silent, &silent);
    config.timeouts.request = Duration::from_millis(300);
    config.retry.max_attempts = 2;
    let err = provider(config, &time)
        .list_credentials(&app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::ProviderUnavailable, "{err}");
    assert!(err.message.contains("timed out"), "{err}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// A token endpoint that stalls once (times out), then answers, for an operator secret sign-in;
/// Graph answers with a lower-case `innererror` 503 once, then succeeds.
#[tokio::test]
async fn a_stalled_token_request_and_a_graph_503_are_both_retried() {
    #[derive(Default)]
    struct Calls {
        token: AtomicU32,
        graph: AtomicU32,
    }
    let calls = Arc::new(Calls::default());
    let router = Router::new()
        .route(
            "/tenant-1/oauth2/v2.0/token",
            post(|State(calls): State<Arc<Calls>>| async move {
                if calls.token.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "tok"}))
            }),
        )
        .route(
            "/v1.0/{object}",
            get(|State(calls): State<Arc<Calls>>| async move {
                if calls.graph.fetch_add(1, Ordering::SeqCst) == 0 {
                    let body = json!({"error": {"code": "serviceNotAvailable", "message": "busy",
                        "innererror": {"request-id": "rid-503", "date": "2026-10-01T08:00:01"}}});
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "2")],
                        Json(body),
                    )
                        .into_response();
                }
                Json(json!({"id": "obj-1", "appId": "app-1", "passwordCredentials": []})).into_response()
            }),
        )
        .with_state(calls.clone());
    let base = serve(router).await;
    let time = TestTime::new();
    let mut config = secret_config(&base, &base);
    config.timeouts.request = Duration::from_millis(500);
    let creds = provider(config, &time).list_credentials(&app()).await.unwrap();
    assert!(creds.credentials.is_empty());
    assert_eq!(calls.token.load(Ordering::SeqCst), 2);
    assert_eq!(calls.graph.load(Ordering::SeqCst), 2);
    let slept = time.slept();
    assert_eq!(slept.len(), 2);
    assert_eq!(slept[1], Duration::from_secs(2), "Graph's Retry-After honoured");
}
