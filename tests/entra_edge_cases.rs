//! What the Entra emulator cannot produce: an endpoint where nothing listens at all.

mod common;

use common::TestTime;
use secret_rotator::provider::{
    ApplicationId, ApplicationRef, CredentialHolder, CredentialProvider, Reason,
    entra::{ClientSecretSignIn, EntraConfig, EntraProvider, OperatorSignIn, RetryPolicy},
};

#[tokio::test]
async fn refused_connections_are_retried_then_reported_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = EntraConfig::new(
        "tenant-1",
        OperatorSignIn::ClientSecret(ClientSecretSignIn {
            client_id: "op".into(),
            secret: "op-secret".into(),
        }),
    );
    config.authority_host = Some(closed.clone());
    config.graph_endpoint = Some(closed);
    config.retry = RetryPolicy {
        max_attempts: 4,
        ..RetryPolicy::default()
    };
    let time = TestTime::new();
    let provider = EntraProvider::with_time(config, time.clone(), time.clone()).unwrap();
    let app = ApplicationRef {
        id: ApplicationId::ClientId("app-1".into()),
        holder: CredentialHolder::Application,
    };

    let err = provider.list_credentials(&app).await.unwrap_err();
    assert_eq!(err.reason, Reason::ProviderUnavailable, "{err}");
    assert!(err.message.contains("could not connect"), "{err}");
    assert!(
        !err.message.contains("op-secret") && !err.message.contains("127.0.0.1"),
        "{err}"
    );
    assert_eq!(time.slept().len(), 3, "four attempts, three waits");
}
