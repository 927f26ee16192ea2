//! No secret value ever reaches a log line, a span, an error message or `Debug` output: the
//! operator's own credentials (client secret, certificate assertion, federated token), the secrets
//! it mints and checks, and every access token.
//!
//! One test in its own binary, because it installs the process-wide tracing subscriber (at TRACE,
//! with `log` records of reqwest, hyper and rustls bridged in) and drives success and failure paths
//! of every sign-in method against the Entra emulator before searching the captured output.

mod common;

use std::time::Duration;

use common::{
    emulator::{Env, OWNED_BY},
    log_capture::Capture,
    verify,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use sandbox::entra::{
    AppManagementConfiguration, CertificateSpec, Consistency, ConsistencyScope, FaultAction, FaultRule,
    FederatedCredentialSpec, ManagedIdentitySpec, PasswordCredentialConfiguration, PasswordSpec,
    TenantAppManagementPolicy,
};
use secrecy::{ExposeSecret, SecretString};
use secret_rotator::{
    clock::Clock,
    provider::{
        CredentialProvider, MintRequest, ProviderError,
        entra::{
            AssertionAlgorithm, CertificateSignIn, ClientSecretSignIn, ManagedIdentitySignIn, OperatorSignIn,
            WorkloadIdentitySignIn,
        },
    },
};
use tracing_subscriber::EnvFilter;

const CERT: &str = include_str!("fixtures/entra/operator-cert.pem");
const KEY: &str = include_str!("fixtures/entra/operator-key.pem");
const OIDC_KEY: &str = include_str!("fixtures/entra/oidc-issuer-key.pem");
const ISSUER: &str = "https://oidc.cluster.test/hygiene";

fn fault(method: &str, path: &str, status: u16, retry_after: Option<u64>) -> FaultRule {
    FaultRule {
        method: Some(method.into()),
        path: path.into(),
        action: FaultAction::Status { status, retry_after },
        times: Some(1),
        rate: None,
    }
}

fn request(env: &Env, lifetime: Duration) -> MintRequest {
    MintRequest {
        display_name: "rotator/hygiene".into(),
        start: None,
        end: env.time.now() + lifetime,
    }
}

fn federated_token(now: jiff::Timestamp, subject: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k".into());
    let claims = serde_json::json!({"iss": ISSUER, "sub": subject, "aud": "api://AzureADTokenExchange",
        "iat": now.as_second(), "nbf": now.as_second(), "exp": now.as_second() + 3600});
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(OIDC_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_errors_or_debug_output() {
    let capture = Capture::default();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("trace,sandbox=off"))
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .try_init()
        .expect("the only subscriber of this test binary");

    let env = Env::new().await;
    let app = env.target_app();
    let mut secrets: Vec<SecretString> = vec![env.operator_secret.clone()];
    let mut errors: Vec<ProviderError> = Vec::new();
    let mut debug_output: Vec<String> = Vec::new();

    // Client-secret sign-in: mint, verify through a propagation delay, check a wrong secret, revoke.
    env.em
        .set_consistency(
            ConsistencyScope::Application(env.target.app_id.clone()),
            Consistency {
                propagation_delay: Duration::from_secs(10),
                ..Consistency::default()
            },
        )
        .unwrap();
    let provider = env.provider();
    let minted = provider
        .mint(&app, &request(&env, Duration::from_secs(30 * 86_400)))
        .await
        .unwrap();
    secrets.push(minted.secret.clone());
    debug_output.push(format!("{minted:?}"));
    let (_, outcome) = verify(
        &provider,
        &app,
        &minted.secret,
        Duration::from_secs(600),
        &env.time,
    )
    .await;
    debug_output.push(format!("{outcome:?}"));
    let wrong: SecretString = "candidate-not-the-secret-Q~0123456789".into();
    secrets.push(wrong.clone());
    provider.check(&app, &wrong).await.unwrap();

    // Error paths: policy refusal, throttling, a refused token, outages of the token endpoint.
    env.em
        .set_tenant_app_management_policy(
            &env.tenant,
            TenantAppManagementPolicy {
                is_enabled: true,
                application_restrictions: AppManagementConfiguration {
                    password_credentials: vec![PasswordCredentialConfiguration {
                        restriction_type: "passwordLifetime".into(),
                        max_lifetime: Some("P10D".into()),
                        restrict_for_apps_created_after_date_time: None,
                        state: None,
                    }],
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap();
    errors.push(
        provider
            .mint(&app, &request(&env, Duration::from_secs(30 * 86_400)))
            .await
            .unwrap_err(),
    );
    env.em
        .inject_fault(fault("POST", "addPassword$", 429, Some(1)))
        .unwrap();
    env.em.inject_fault(fault("GET", "^/v1.0/", 401, None)).unwrap();
    let second = provider
        .mint(&app, &request(&env, Duration::from_secs(5 * 86_400)))
        .await
        .unwrap();
    secrets.push(second.secret.clone());
    provider.list_credentials(&app).await.unwrap();
    env.em
        .inject_fault(FaultRule {
            times: None,
            ..fault("POST", "/oauth2/v2.0/token$", 503, None)
        })
        .unwrap();
    errors.push(provider.check(&app, &second.secret).await.unwrap_err());
    env.em.clear_faults();
    provider.revoke(&app, &minted.credential.key_id).await.unwrap();
    debug_output.push(format!("{provider:?}"));

    // A wrong operator secret.
    let wrong_operator: SecretString = "operator-wrong-secret-Q~abcdefghij".into();
    secrets.push(wrong_operator.clone());
    let bad = env.provider_with(env.config_with(OperatorSignIn::ClientSecret(ClientSecretSignIn {
        client_id: env.operator.app_id.clone(),
        secret: wrong_operator,
    })));
    errors.push(bad.list_credentials(&app).await.unwrap_err());
    debug_output.push(format!("{bad:?}"));

    // Certificate sign-in, with the right key and a wrong one.
    env.em
        .register_certificate(&env.operator.app_id, CertificateSpec::from_pem(CERT))
        .unwrap();
    for key in [KEY, OIDC_KEY] {
        let provider = env.provider_with(env.config_with(OperatorSignIn::Certificate(CertificateSignIn {
            client_id: env.operator.app_id.clone(),
            certificate_pem: CERT.into(),
            private_key_pem: key.into(),
            algorithm: AssertionAlgorithm::Ps256,
            send_certificate_chain: true,
        })));
        match provider.list_credentials(&app).await {
            Ok(_) => {}
            Err(e) => errors.push(e),
        }
        debug_output.push(format!("{provider:?}"));
    }

    // Workload identity, with a matching and a non-matching federated token.
    let mut jwk = Jwk::from_encoding_key(
        &EncodingKey::from_rsa_pem(OIDC_KEY.as_bytes()).unwrap(),
        Algorithm::RS256,
    )
    .unwrap();
    jwk.common.key_id = Some("k".into());
    env.em
        .trust_issuer(ISSUER, serde_json::json!({"keys": [jwk]}))
        .unwrap();
    env.em
        .add_federated_credential(
            &env.operator.app_id,
            FederatedCredentialSpec::kubernetes("wi", ISSUER, "ns", "sa"),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for subject in ["system:serviceaccount:ns:sa", "system:serviceaccount:ns:other"] {
        let file = dir.path().join(subject.replace(':', "_"));
        std::fs::write(&file, federated_token(env.em.now(), subject)).unwrap();
        let provider = env.provider_with(env.config_with(OperatorSignIn::WorkloadIdentity(
            WorkloadIdentitySignIn::from_file(env.operator.app_id.clone(), file),
        )));
        if let Err(e) = provider.list_credentials(&app).await {
            errors.push(e);
        }
    }

    // Managed identity.
    let identity = env
        .em
        .create_managed_identity(
            &env.tenant,
            ManagedIdentitySpec {
                display_name: "mi".into(),
                roles: vec![OWNED_BY.into()],
                ..Default::default()
            },
        )
        .unwrap();
    let mi = env.provider_with(
        env.config_with(OperatorSignIn::ManagedIdentity(ManagedIdentitySignIn {
            client_id: Some(identity.client_id),
            endpoint: Some(format!("{}/metadata/identity/oauth2/token", env.server.url())),
            api_version: None,
        })),
    );
    mi.list_credentials(&app).await.unwrap();

    // A seeded secret of the target, checked once more through a fresh provider.
    let seeded = env
        .em
        .seed_password(&env.target.app_id, PasswordSpec::default())
        .unwrap()
        .secret;
    secrets.push(seeded.clone());
    env.provider().check(&app, &seeded).await.unwrap();

    assert!(errors.len() >= 5, "the error paths ran: {errors:?}");
    let logs = capture.text();
    // The capture really holds the client's own trace and the HTTP stack's.
    for expected in [
        "Graph answered",
        "token endpoint answered",
        "retrying after a transient failure",
        "IMDS answered",
    ] {
        assert!(logs.contains(expected), "no {expected:?} in the captured logs");
    }
    assert!(
        logs.contains("hyper") || logs.contains("reqwest"),
        "HTTP-stack events captured"
    );

    let texts: Vec<(String, String)> = std::iter::once(("logs".to_owned(), logs))
        .chain(errors.iter().map(|e| ("error Display".to_owned(), e.to_string())))
        .chain(
            errors
                .iter()
                .map(|e| ("error Debug".to_owned(), format!("{e:?}"))),
        )
        .chain(debug_output.into_iter().map(|d| ("Debug".to_owned(), d)))
        .collect();
    for (what, text) in &texts {
        for secret in &secrets {
            assert!(
                !text.contains(secret.expose_secret()),
                "a secret value appears in {what}"
            );
        }
        // Access tokens, client assertions and federated tokens are all JWTs: base64url JSON,
        // which starts with "eyJ".
        assert!(!text.contains("eyJ"), "a JWT appears in {what}");
        assert!(!text.contains("PRIVATE KEY"), "key material appears in {what}");
    }
}
