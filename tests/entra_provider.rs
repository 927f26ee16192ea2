//! Contract tests of the Entra provider against the Entra/Graph emulator (`sandbox::entra`), over
//! real HTTP: every Graph call, error classification, retry path, sign-in method, the secret check
//! and the verification loop. Time is a [`TestTime`] whose sleeps move the emulator's clock too, so
//! retries, token expiry and propagation delays run instantly and deterministically.

mod common;

use std::time::Duration;

use common::{
    Verified,
    emulator::{Env, OWNED_BY},
    verify,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use sandbox::entra::{
    AppManagementConfiguration, ApplicationSpec, CertificateSpec, Consistency, ConsistencyScope, Emulator,
    FaultAction, FaultRule, FederatedCredentialSpec, ManagedIdentitySpec, PasswordCredentialConfiguration,
    PasswordSpec, TenantAppManagementPolicy, ThrottleLimits,
};
use secrecy::{ExposeSecret, SecretString};
use secret_rotator::{
    clock::Clock,
    provider::{
        ApplicationId, ApplicationRef, CheckOutcome, CredentialHolder, CredentialProvider, MintRequest,
        MintedCredential, ProviderError, Reason,
        entra::{
            AssertionAlgorithm, CertificateSignIn, Cloud, EntraProvider, FederatedTokenSource,
            ManagedIdentitySignIn, OperatorSignIn, RetryPolicy, WorkloadIdentitySignIn,
        },
    },
};

const CERT: &str = include_str!("fixtures/entra/operator-cert.pem");
const KEY: &str = include_str!("fixtures/entra/operator-key.pem");
const OIDC_KEY: &str = include_str!("fixtures/entra/oidc-issuer-key.pem");

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn mint_request(env: &Env, lifetime: Duration) -> MintRequest {
    MintRequest {
        display_name: "rotator/ns1/payments".into(),
        start: None,
        end: env.time.now() + lifetime,
    }
}

/// Mints a 30-day secret on the target application through `provider`.
async fn mint_for_target(env: &Env, provider: &EntraProvider) -> Result<MintedCredential, ProviderError> {
    provider
        .mint(&env.target_app(), &mint_request(env, days(30)))
        .await
}

fn fault(method: &str, path: &str, status: u16, retry_after: Option<u64>) -> FaultRule {
    FaultRule {
        method: Some(method.into()),
        path: path.into(),
        action: FaultAction::Status { status, retry_after },
        times: None,
        rate: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Graph calls and addressing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn mint_list_check_revoke_round_trip() {
    let env = Env::new().await;
    let provider = env.provider();
    let app = env.target_app();

    let minted = provider.mint(&app, &mint_request(&env, days(180))).await.unwrap();
    let secret = minted.secret.expose_secret();
    assert!(secret.len() >= 16);
    assert_eq!(minted.credential.hint.as_deref(), Some(&secret[..3]));
    assert_eq!(
        minted.credential.display_name.as_deref(),
        Some("rotator/ns1/payments")
    );

    let listed = provider.list_credentials(&app).await.unwrap();
    assert_eq!(listed.client_id, env.target.app_id);
    assert_eq!(listed.object_id, env.target.object_id);
    assert_eq!(listed.credentials, vec![minted.credential.clone()]);

    assert_eq!(
        provider.check(&app, &minted.secret).await,
        Ok(CheckOutcome::Authenticated)
    );

    provider.revoke(&app, &minted.credential.key_id).await.unwrap();
    assert!(
        provider
            .list_credentials(&app)
            .await
            .unwrap()
            .credentials
            .is_empty()
    );
    assert_eq!(
        provider.check(&app, &minted.secret).await,
        Ok(CheckOutcome::NotAccepted)
    );
    // Revoking again: Graph says "No password credential found with keyId", which is success.
    provider.revoke(&app, &minted.credential.key_id).await.unwrap();
}

#[tokio::test]
async fn applications_addressed_by_object_id() {
    let env = Env::new().await;
    let provider = env.provider();
    let app = ApplicationRef {
        id: ApplicationId::ObjectId(env.target.object_id.clone()),
        holder: CredentialHolder::Application,
    };
    let minted = provider.mint(&app, &mint_request(&env, days(30))).await.unwrap();
    let listed = provider.list_credentials(&app).await.unwrap();
    assert_eq!(
        (listed.client_id.as_str(), listed.credentials.len()),
        (env.target.app_id.as_str(), 1)
    );
    // A fresh provider has to read the object to learn the client id it authenticates as.
    let fresh = env.provider();
    assert_eq!(
        fresh.check(&app, &minted.secret).await,
        Ok(CheckOutcome::Authenticated)
    );
}

#[tokio::test]
async fn service_principal_credentials_by_object_id_and_client_id() {
    let env = Env::new().await;
    let provider = env.provider();
    let sp_id = env.target.service_principal_id.clone().unwrap();
    for id in [
        ApplicationId::ObjectId(sp_id.clone()),
        ApplicationId::ClientId(env.target.app_id.clone()),
    ] {
        let app = ApplicationRef {
            id,
            holder: CredentialHolder::ServicePrincipal,
        };
        let minted = provider.mint(&app, &mint_request(&env, days(365))).await.unwrap();
        let listed = provider.list_credentials(&app).await.unwrap();
        assert_eq!(listed.object_id, sp_id, "the holder is the service principal");
        assert!(
            listed
                .credentials
                .iter()
                .any(|c| c.key_id == minted.credential.key_id)
        );
        assert_eq!(
            provider.check(&app, &minted.secret).await,
            Ok(CheckOutcome::Authenticated)
        );
        provider.revoke(&app, &minted.credential.key_id).await.unwrap();
    }
    assert!(
        env.em
            .credentials(&sp_id)
            .unwrap()
            .iter()
            .all(|c| c.removed_at.is_some())
    );
    assert!(
        env.em.credentials(&env.target.object_id).unwrap().is_empty(),
        "nothing landed on the application"
    );
}

#[tokio::test]
async fn mint_sends_the_requested_start_and_end() {
    let env = Env::new().await;
    let provider = env.provider();
    let start: jiff::Timestamp = (env.time.now() + secs(3600)).round(jiff::Unit::Second).unwrap();
    let end = start + days(90);
    let request = MintRequest {
        display_name: "rotator/x".into(),
        start: Some(start),
        end,
    };
    let minted = provider.mint(&env.target_app(), &request).await.unwrap();
    assert_eq!(
        (minted.credential.start, minted.credential.end),
        (Some(start), end)
    );
    let state = env.em.credentials(&env.target.app_id).unwrap();
    assert_eq!(
        (state[0].start, state[0].end),
        (start, end),
        "Graph stored what we asked for"
    );
}

#[tokio::test]
async fn a_lifetime_ending_before_it_starts_is_rejected_without_calling_graph() {
    let env = Env::new().await;
    let request = MintRequest {
        display_name: "x".into(),
        start: None,
        end: env.time.now() - secs(1),
    };
    let err = env
        .provider()
        .mint(&env.target_app(), &request)
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::RequestRejected);
    assert!(
        env.em
            .audit_log()
            .iter()
            .all(|e| !e.path.ends_with("addPassword"))
    );
}

#[tokio::test]
async fn a_tenant_domain_name_works_like_its_id() {
    let env = Env::new().await;
    let mut config = env.config();
    config.tenant_id = "contoso.onmicrosoft.com".into();
    let provider = env.provider_with(config);
    let minted = mint_for_target(&env, &provider).await.unwrap();
    assert_eq!(
        provider.check(&env.target_app(), &minted.secret).await,
        Ok(CheckOutcome::Authenticated)
    );
}

#[tokio::test]
async fn a_national_cloud_uses_its_own_graph_scope() {
    let env = Env::with(
        Emulator::builder()
            .graph_resource("https://graph.microsoft.us")
            .build()
            .unwrap(),
    )
    .await;
    let mut config = env.config();
    config.cloud = Cloud::UsGovernment;
    let provider = env.provider_with(config);
    assert_eq!(
        provider.endpoints().graph_scope,
        "https://graph.microsoft.us/.default"
    );
    provider.list_credentials(&env.target_app()).await.unwrap();
    // The same emulator refuses the global cloud's scope (AADSTS70011): configuration error.
    let err = env
        .provider()
        .list_credentials(&env.target_app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidConfiguration, "{err}");
}

// ---------------------------------------------------------------------------------------------
// Graph errors
// ---------------------------------------------------------------------------------------------

fn password_policy(restriction_type: &str, max_lifetime: Option<&str>) -> TenantAppManagementPolicy {
    TenantAppManagementPolicy {
        is_enabled: true,
        application_restrictions: AppManagementConfiguration {
            password_credentials: vec![PasswordCredentialConfiguration {
                restriction_type: restriction_type.into(),
                max_lifetime: max_lifetime.map(str::to_owned),
                restrict_for_apps_created_after_date_time: None,
                state: None,
            }],
            ..AppManagementConfiguration::default()
        },
        ..TenantAppManagementPolicy::default()
    }
}

#[tokio::test]
async fn a_lifetime_over_the_policy_cap_is_lifetime_exceeds_policy() {
    let env = Env::new().await;
    env.em
        .set_tenant_app_management_policy(&env.tenant, password_policy("passwordLifetime", Some("P90D")))
        .unwrap();
    let provider = env.provider();
    let err = provider
        .mint(&env.target_app(), &mint_request(&env, days(180)))
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::LifetimeExceedsPolicy);
    assert!(!err.is_transient());
    assert!(
        err.message.contains("CredentialInvalidLifetimeAsPerAppPolicy"),
        "{err}"
    );
    provider
        .mint(&env.target_app(), &mint_request(&env, days(60)))
        .await
        .unwrap();
}

#[tokio::test]
async fn blocked_password_addition_is_credential_type_not_allowed() {
    let env = Env::new().await;
    env.em
        .set_tenant_app_management_policy(&env.tenant, password_policy("passwordAddition", None))
        .unwrap();
    let err = mint_for_target(&env, &env.provider()).await.unwrap_err();
    assert_eq!(err.reason, Reason::CredentialTypeNotAllowed, "{err}");
}

#[tokio::test]
async fn password_limits_are_password_limit_reached() {
    // Apps that include personal Microsoft accounts hold at most two passwords.
    let env = Env::new().await;
    let operator_sp = env.operator.service_principal_id.clone().unwrap();
    let msa = env
        .em
        .create_application(
            &env.tenant,
            ApplicationSpec::new("consumer").sign_in_audience("AzureADandPersonalMicrosoftAccount"),
        )
        .unwrap();
    env.em.add_owner(&msa.object_id, &operator_sp).unwrap();
    let app = ApplicationRef {
        id: ApplicationId::ClientId(msa.app_id),
        holder: CredentialHolder::Application,
    };
    let provider = env.provider();
    for _ in 0..2 {
        provider.mint(&app, &mint_request(&env, days(30))).await.unwrap();
    }
    let err = provider
        .mint(&app, &mint_request(&env, days(30)))
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::PasswordLimitReached, "{err}");

    // Other apps hit the directory object size limit.
    let sized = Env::with(Emulator::builder().credential_limit(Some(1)).build().unwrap()).await;
    let provider = sized.provider();
    provider
        .mint(&sized.target_app(), &mint_request(&sized, days(30)))
        .await
        .unwrap();
    let err = provider
        .mint(&sized.target_app(), &mint_request(&sized, days(30)))
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::PasswordLimitReached, "{err}");
}

#[tokio::test]
async fn missing_ownership_or_role_is_authorization_denied() {
    let env = Env::new().await;
    let stranger = env
        .em
        .create_application(&env.tenant, ApplicationSpec::new("not-ours"))
        .unwrap();
    let app = ApplicationRef {
        id: ApplicationId::ClientId(stranger.app_id),
        holder: CredentialHolder::Application,
    };
    let err = env
        .provider()
        .mint(&app, &mint_request(&env, days(30)))
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::AuthorizationDenied, "{err}");
    assert!(
        err.message.contains("Authorization_RequestDenied") && err.message.contains("request-id"),
        "{err}"
    );

    // An operator without any Graph role cannot even read.
    let roleless = env
        .em
        .create_application(&env.tenant, ApplicationSpec::new("roleless"))
        .unwrap();
    let secret = env
        .em
        .seed_password(&roleless.app_id, PasswordSpec::default())
        .unwrap()
        .secret;
    let provider = env.provider_with(env.config_with(OperatorSignIn::ClientSecret(
        secret_rotator::provider::entra::ClientSecretSignIn {
            client_id: roleless.app_id,
            secret,
        },
    )));
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::AuthorizationDenied, "{err}");
}

#[tokio::test]
async fn an_unknown_application_is_not_found_at_once() {
    let env = Env::new().await;
    let app = ApplicationRef {
        id: ApplicationId::ObjectId("00000000-0000-0000-0000-00000000dead".into()),
        holder: CredentialHolder::Application,
    };
    let err = env.provider().list_credentials(&app).await.unwrap_err();
    assert_eq!(err.reason, Reason::ApplicationNotFound, "{err}");
    assert!(
        env.time.slept().is_empty(),
        "no replication-lag retries without a write of ours"
    );
}

// ---------------------------------------------------------------------------------------------
// Resilience
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn graph_429_honours_retry_after() {
    let env = Env::new().await;
    env.em
        .inject_fault(fault("POST", "addPassword$", 429, Some(7)).times(2))
        .unwrap();
    let provider = env.provider();
    mint_for_target(&env, &provider).await.unwrap();
    assert_eq!(env.time.slept(), [secs(7), secs(7)]);
    assert_eq!(
        env.em.credentials(&env.target.app_id).unwrap().len(),
        1,
        "throttled attempts created nothing"
    );
    let attempts: Vec<_> = env
        .em
        .audit_log()
        .into_iter()
        .filter(|e| e.path.ends_with("addPassword"))
        .collect();
    assert_eq!(
        attempts.iter().map(|e| e.status).collect::<Vec<_>>(),
        [429, 429, 200]
    );
}

#[tokio::test]
async fn graph_503_and_504_back_off_exponentially_with_jitter() {
    let env = Env::new().await;
    env.em
        .inject_fault(fault("GET", "^/v1.0/applications", 503, None).times(2))
        .unwrap();
    env.em
        .inject_fault(fault("GET", "^/v1.0/applications", 504, None).times(1))
        .unwrap();
    env.provider().list_credentials(&env.target_app()).await.unwrap();
    let slept = env.time.slept();
    assert_eq!(slept.len(), 3);
    for (i, delay) in slept.iter().enumerate() {
        let base = secs(3) * (1 << i);
        assert!(
            *delay >= base / 2 && *delay <= base,
            "wait {i}: {delay:?} not in [{:?}, {base:?}]",
            base / 2
        );
    }
}

#[tokio::test]
async fn throttling_beyond_the_budget_fails_with_the_servers_hint() {
    let env = Env::new().await;
    env.em
        .inject_fault(fault("POST", "addPassword$", 429, Some(600)))
        .unwrap();
    let err = mint_for_target(&env, &env.provider()).await.unwrap_err();
    assert_eq!(
        (err.reason, err.retry_after),
        (Reason::Throttled, Some(secs(600)))
    );
    assert!(err.is_transient());
    assert!(
        env.time.slept().is_empty(),
        "a wait longer than the budget is not started"
    );
}

#[tokio::test]
async fn persistent_outages_end_as_provider_unavailable() {
    let env = Env::new().await;
    env.em.inject_fault(fault("GET", "^/v1.0/", 503, None)).unwrap();
    let mut config = env.config();
    config.retry = RetryPolicy {
        max_attempts: 4,
        ..RetryPolicy::default()
    };
    let err = env
        .provider_with(config)
        .list_credentials(&env.target_app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::ProviderUnavailable, "{err}");
    assert_eq!(env.time.slept().len(), 3);
}

#[tokio::test]
async fn the_emulators_write_quota_is_waited_out() {
    let env = Env::new().await;
    env.em.set_throttling(ThrottleLimits {
        write_capacity: 1,
        write_window: secs(20),
        ..ThrottleLimits::default()
    });
    let provider = env.provider();
    mint_for_target(&env, &provider).await.unwrap();
    provider
        .mint(&env.target_app(), &mint_request(&env, days(31)))
        .await
        .unwrap();
    let slept = env.time.slept();
    assert!(!slept.is_empty(), "the second write waited for the bucket");
    assert!(
        slept.iter().all(|d| d.subsec_nanos() == 0),
        "waits are Graph's Retry-After seconds: {slept:?}"
    );
    assert_eq!(env.em.credentials(&env.target.app_id).unwrap().len(), 2);
}

#[tokio::test]
async fn dropped_connections_and_slow_answers_are_retried() {
    let env = Env::new().await;
    let mut config = env.config();
    config.timeouts.request = Duration::from_secs(2);
    let provider = env.provider_with(config);
    let graph_get = fault("GET", "^/v1.0/applications", 0, None);

    env.em
        .inject_fault(
            FaultRule {
                action: FaultAction::Drop,
                ..graph_get.clone()
            }
            .times(1),
        )
        .unwrap();
    let listed = provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(listed.object_id, env.target.object_id);
    assert_eq!(
        env.time.slept().len(),
        1,
        "one retry after the dropped connection"
    );

    env.em
        .inject_fault(
            FaultRule {
                action: FaultAction::Latency { millis: 6_000 },
                ..graph_get
            }
            .times(1),
        )
        .unwrap();
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(env.time.slept().len(), 2, "one retry after the timeout");
    assert!(
        env.em.faults().iter().all(|(_, rule)| rule.times == Some(0)),
        "both faults fired"
    );
}

#[tokio::test]
async fn a_mint_with_an_unknown_outcome_is_not_repeated() {
    let env = Env::new().await;
    let provider = env.provider();
    let add = fault("POST", "addPassword$", 0, None);
    let adds = |env: &Env| {
        env.em
            .audit_log()
            .iter()
            .filter(|e| e.path.ends_with("/addPassword"))
            .count()
    };
    let live = |env: &Env| {
        env.em
            .credentials(&env.target.object_id)
            .unwrap()
            .iter()
            .filter(|p| p.removed_at.is_none())
            .count()
    };
    let before = live(&env);

    // The answer is lost after Entra added the credential: not retried (a retry would add a
    // second one nobody records); the caller gets a transient failure and the credential exists.
    env.em
        .inject_fault(
            FaultRule {
                action: FaultAction::LoseResponse,
                ..add.clone()
            }
            .times(1),
        )
        .unwrap();
    let lost = mint_for_target(&env, &provider).await.unwrap_err();
    assert_eq!(lost.reason, Reason::ProviderUnavailable);
    assert!(lost.is_transient());
    assert_eq!(adds(&env), 1, "sent once");
    assert_eq!(live(&env), before + 1, "the write happened");

    // A 504 may also come after the write: not retried either.
    env.em
        .inject_fault(fault("POST", "addPassword$", 504, None).times(1))
        .unwrap();
    mint_for_target(&env, &provider).await.unwrap_err();
    assert_eq!(adds(&env), 2);

    // 429 and 503 mean "not processed": retried as for every call.
    env.em
        .inject_fault(fault("POST", "addPassword$", 503, None).times(1))
        .unwrap();
    mint_for_target(&env, &provider).await.unwrap();
    assert_eq!(adds(&env), 4, "the 503, then the retry");
}

#[tokio::test]
async fn a_404_right_after_our_write_is_replication_lag() {
    let env = Env::new().await;
    let provider = env.provider();
    let minted = mint_for_target(&env, &provider).await.unwrap();
    // A lagging replica: the object we just wrote is "not found" twice.
    env.em
        .inject_fault(fault("GET", "^/v1.0/applications", 404, None).times(2))
        .unwrap();
    let listed = provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(listed.credentials[0].key_id, minted.credential.key_id);
    assert_eq!(env.time.slept().len(), 2);
    // Long after the write, a 404 is final at once.
    env.advance(secs(600));
    env.em
        .inject_fault(fault("GET", "^/v1.0/applications", 404, None).times(1))
        .unwrap();
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::ApplicationNotFound);
    assert_eq!(env.time.slept().len(), 2);
}

#[tokio::test]
async fn replication_lag_on_404_is_bounded() {
    let env = Env::new().await;
    let provider = env.provider();
    mint_for_target(&env, &provider).await.unwrap();
    env.em
        .inject_fault(fault("GET", "^/v1.0/applications", 404, None))
        .unwrap();
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::ApplicationNotFound);
    let waited: Duration = env.time.slept().iter().sum();
    assert!(
        waited <= RetryPolicy::default().replication_lag_window,
        "{waited:?}"
    );
    assert!(
        waited >= RetryPolicy::default().replication_lag_window / 2,
        "{waited:?}"
    );
}

#[tokio::test]
async fn revoking_a_key_a_lagging_write_replica_cannot_see_yet_counts_as_done() {
    // NB: this is the reference's rule (§3.2, §7.7): treat "No password credential found" as done,
    // then re-read to confirm. Under lag the key can survive, which only a later read shows.
    let env = Env::new().await;
    env.em
        .set_consistency(
            ConsistencyScope::Application(env.target.app_id.clone()),
            Consistency {
                read_lag: secs(30),
                ..Consistency::default()
            },
        )
        .unwrap();
    let provider = env.provider();
    let minted = mint_for_target(&env, &provider).await.unwrap();
    provider
        .revoke(&env.target_app(), &minted.credential.key_id)
        .await
        .unwrap();
    env.advance(secs(31));
    let listed = provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(
        listed.credentials.len(),
        1,
        "still there: callers confirm revocations by reading"
    );
    provider
        .revoke(&env.target_app(), &minted.credential.key_id)
        .await
        .unwrap();
    env.advance(secs(31));
    assert!(
        provider
            .list_credentials(&env.target_app())
            .await
            .unwrap()
            .credentials
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// The operator's token
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_operator_token_is_cached_until_shortly_before_it_expires() {
    let env = Env::new().await;
    let provider = env.provider();
    provider.list_credentials(&env.target_app()).await.unwrap();
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(env.token_requests(), 1);
    // The emulator's tokens live 3599 s; the cache replaces them 5 minutes early.
    env.advance(secs(3599 - 300 - 10));
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(env.token_requests(), 1);
    env.advance(secs(20));
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(env.token_requests(), 2);
    // A second provider has its own cache.
    env.provider().list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(env.token_requests(), 3);
}

#[tokio::test]
async fn a_refused_operator_token_is_dropped_and_the_call_retried_once() {
    let env = Env::new().await;
    let provider = env.provider();
    provider.list_credentials(&env.target_app()).await.unwrap();
    // Only Graph's clock moves: our cache still trusts a token Graph now finds expired.
    env.em.advance(secs(3600));
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(env.token_requests(), 2);
    let graph_statuses: Vec<u16> = env
        .em
        .audit_log()
        .iter()
        .filter(|e| e.path.starts_with("/v1.0/"))
        .map(|e| e.status)
        .collect();
    assert_eq!(graph_statuses, [200, 401, 200]);
}

#[tokio::test]
async fn a_second_401_is_an_operator_credential_error() {
    let env = Env::new().await;
    env.em
        .inject_fault(fault("GET", "^/v1.0/", 401, None).times(2))
        .unwrap();
    let err = env
        .provider()
        .list_credentials(&env.target_app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidOperatorCredential, "{err}");
    assert_eq!(env.token_requests(), 2, "one refresh, not more");
}

#[tokio::test]
async fn operator_sign_in_failures_are_classified() {
    let env = Env::new().await;
    let wrong = env.config_with(OperatorSignIn::ClientSecret(
        secret_rotator::provider::entra::ClientSecretSignIn {
            client_id: env.operator.app_id.clone(),
            secret: "not-the-secret".into(),
        },
    ));
    let err = env
        .provider_with(wrong)
        .list_credentials(&env.target_app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::InvalidOperatorCredential, "{err}");
    assert!(err.message.contains("AADSTS7000215"), "{err}");

    let mut unknown_tenant = env.config();
    unknown_tenant.tenant_id = "fabrikam.onmicrosoft.com".into();
    let err = env
        .provider_with(unknown_tenant)
        .list_credentials(&env.target_app())
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::TenantNotFound, "{err}");
}

#[tokio::test]
async fn token_endpoint_throttling_is_retried_for_the_operator_too() {
    let env = Env::new().await;
    env.em
        .inject_fault(fault("POST", "/oauth2/v2.0/token$", 429, Some(5)).times(1))
        .unwrap();
    env.em
        .inject_fault(fault("POST", "/oauth2/v2.0/token$", 503, None).times(1))
        .unwrap();
    env.provider().list_credentials(&env.target_app()).await.unwrap();
    let slept = env.time.slept();
    assert_eq!(slept.len(), 2);
    assert!(slept.contains(&secs(5)));
}

// ---------------------------------------------------------------------------------------------
// Sign-in methods
// ---------------------------------------------------------------------------------------------

fn certificate_sign_in(env: &Env, key: &str, algorithm: AssertionAlgorithm) -> OperatorSignIn {
    OperatorSignIn::Certificate(CertificateSignIn {
        client_id: env.operator.app_id.clone(),
        certificate_pem: CERT.into(),
        private_key_pem: key.into(),
        algorithm,
        send_certificate_chain: false,
    })
}

#[tokio::test]
async fn certificate_sign_in_with_ps256_and_rs256() {
    let env = Env::new().await;
    env.em
        .register_certificate(&env.operator.app_id, CertificateSpec::from_pem(CERT))
        .unwrap();
    for algorithm in [AssertionAlgorithm::Ps256, AssertionAlgorithm::Rs256] {
        let provider = env.provider_with(env.config_with(certificate_sign_in(&env, KEY, algorithm)));
        let minted = mint_for_target(&env, &provider).await.unwrap();
        assert_eq!(
            provider.check(&env.target_app(), &minted.secret).await,
            Ok(CheckOutcome::Authenticated)
        );
    }
    // A key that does not belong to the registered certificate: AADSTS700027.
    let provider =
        env.provider_with(env.config_with(certificate_sign_in(&env, OIDC_KEY, AssertionAlgorithm::Ps256)));
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::InvalidOperatorCredential, "{err}");
}

const ISSUER: &str = "https://oidc.cluster.test/3f1c";

/// A projected service-account token, as the kubelet writes it, signed by the test issuer.
fn service_account_token(now: jiff::Timestamp, subject: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("cluster-key".into());
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": ["api://AzureADTokenExchange"],
        "iat": now.as_second(),
        "nbf": now.as_second(),
        "exp": now.as_second() + 3600,
        "kubernetes.io": {"namespace": "secret-rotator", "serviceaccount": {"name": "secret-rotator"}},
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(OIDC_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn trust_test_issuer(env: &Env) {
    let mut jwk = Jwk::from_encoding_key(
        &EncodingKey::from_rsa_pem(OIDC_KEY.as_bytes()).unwrap(),
        Algorithm::RS256,
    )
    .unwrap();
    jwk.common.key_id = Some("cluster-key".into());
    env.em
        .trust_issuer(ISSUER, serde_json::json!({ "keys": [jwk] }))
        .unwrap();
}

#[tokio::test]
async fn workload_identity_reads_the_rotated_token_file_for_every_token_request() {
    let env = Env::new().await;
    trust_test_issuer(&env);
    env.em
        .add_federated_credential(
            &env.operator.app_id,
            FederatedCredentialSpec::kubernetes("secret-rotator", ISSUER, "secret-rotator", "secret-rotator"),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("azure-identity-token");
    let good = "system:serviceaccount:secret-rotator:secret-rotator";
    std::fs::write(&token_file, service_account_token(env.em.now(), good)).unwrap();
    let lookup = |name: &str| match name {
        "AZURE_CLIENT_ID" => Some(env.operator.app_id.clone()),
        "AZURE_FEDERATED_TOKEN_FILE" => Some(token_file.display().to_string()),
        _ => None,
    };
    let sign_in = WorkloadIdentitySignIn::from_lookup(lookup).unwrap();
    let provider = env.provider_with(env.config_with(OperatorSignIn::WorkloadIdentity(sign_in)));
    let minted = mint_for_target(&env, &provider).await.unwrap();

    // The kubelet rotates the file; this one matches no federated credential.
    env.advance(secs(3600));
    std::fs::write(
        &token_file,
        service_account_token(env.em.now(), "system:serviceaccount:other:other"),
    )
    .unwrap();
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::InvalidOperatorCredential, "{err}");
    assert!(err.message.contains("AADSTS70021"), "{err}");

    // Rotated again, to a good token: picked up without restarting anything.
    std::fs::write(&token_file, service_account_token(env.em.now(), good)).unwrap();
    let listed = provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(listed.credentials[0].key_id, minted.credential.key_id);

    // The file disappears: a configuration error naming the path.
    env.advance(secs(3600));
    std::fs::remove_file(&token_file).unwrap();
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::InvalidConfiguration, "{err}");
}

/// A token source that hands out tokens for a fixed subject and counts the calls, like the
/// controller's TokenRequest source for a namespaced provider's service account.
#[derive(Debug)]
struct CountingTokenSource {
    subject: String,
    now: Emulator,
    calls: std::sync::atomic::AtomicU32,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl FederatedTokenSource for CountingTokenSource {
    async fn token(&self) -> Result<SecretString, secret_rotator::provider::ProviderError> {
        use std::sync::atomic::Ordering;
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(secret_rotator::provider::ProviderError::new(
                Reason::ProviderUnavailable,
                "TokenRequest: the API server is unavailable",
            ));
        }
        Ok(service_account_token(self.now.now(), &self.subject).into())
    }
}

#[tokio::test]
async fn workload_identity_asks_a_token_source_once_per_graph_token() {
    use std::sync::{Arc, atomic::Ordering};
    let env = Env::new().await;
    trust_test_issuer(&env);
    env.em
        .add_federated_credential(
            &env.operator.app_id,
            FederatedCredentialSpec::kubernetes("team-a", ISSUER, "team-a", "rotator"),
        )
        .unwrap();
    let source = Arc::new(CountingTokenSource {
        subject: "system:serviceaccount:team-a:rotator".into(),
        now: env.em.clone(),
        calls: Default::default(),
        fail: Default::default(),
    });
    let sign_in = WorkloadIdentitySignIn::from_source(env.operator.app_id.clone(), source.clone());
    let provider = env.provider_with(env.config_with(OperatorSignIn::WorkloadIdentity(sign_in)));
    provider.list_credentials(&env.target_app()).await.unwrap();
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(
        source.calls.load(Ordering::SeqCst),
        1,
        "the Graph token is cached"
    );

    // The cached Graph token expires; the source fails: its error comes out as is.
    env.advance(secs(2 * 3600));
    source.fail.store(true, Ordering::SeqCst);
    let err = provider.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::ProviderUnavailable, "{err}");
    source.fail.store(false, Ordering::SeqCst);
    provider.list_credentials(&env.target_app()).await.unwrap();
}

#[tokio::test]
async fn managed_identity_through_imds() {
    let env = Env::new().await;
    let identity = env
        .em
        .create_managed_identity(
            &env.tenant,
            ManagedIdentitySpec {
                display_name: "rotator-mi".into(),
                roles: vec![OWNED_BY.into()],
                ..Default::default()
            },
        )
        .unwrap();
    env.em
        .add_owner(&env.target.object_id, &identity.object_id)
        .unwrap();
    let imds = |client_id: &str| {
        OperatorSignIn::ManagedIdentity(ManagedIdentitySignIn {
            client_id: Some(client_id.to_owned()),
            endpoint: Some(format!("{}/metadata/identity/oauth2/token", env.server.url())),
            api_version: None,
        })
    };
    env.em
        .inject_fault(fault("GET", "^/metadata/", 503, None).times(1))
        .unwrap();
    let provider = env.provider_with(env.config_with(imds(&identity.client_id)));
    let minted = mint_for_target(&env, &provider).await.unwrap();
    provider.list_credentials(&env.target_app()).await.unwrap();
    assert_eq!(
        provider.check(&env.target_app(), &minted.secret).await,
        Ok(CheckOutcome::Authenticated)
    );
    let imds_calls = env
        .em
        .audit_log()
        .iter()
        .filter(|e| e.path.starts_with("/metadata/"))
        .count();
    assert_eq!(imds_calls, 2, "one 503, retried once, then cached");
    assert_eq!(env.time.slept().len(), 1);

    let unknown = env.provider_with(env.config_with(imds("00000000-0000-0000-0000-00000000beef")));
    let err = unknown.list_credentials(&env.target_app()).await.unwrap_err();
    assert_eq!(err.reason, Reason::InvalidOperatorCredential, "{err}");
}

// ---------------------------------------------------------------------------------------------
// check
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_classifies_the_token_endpoints_answers() {
    let env = Env::new().await;
    let provider = env.provider();
    let app = env.target_app();
    let now = env.time.now();
    let live = env
        .em
        .seed_password(&env.target.app_id, PasswordSpec::default())
        .unwrap()
        .secret;
    let expired = env
        .em
        .seed_password(
            &env.target.app_id,
            PasswordSpec {
                start: Some(now - days(60)),
                end: Some(now - days(1)),
                ..PasswordSpec::default()
            },
        )
        .unwrap()
        .secret;
    assert_eq!(provider.check(&app, &live).await, Ok(CheckOutcome::Authenticated));
    assert_eq!(
        provider.check(&app, &"wrong".into()).await,
        Ok(CheckOutcome::NotAccepted)
    );
    assert_eq!(provider.check(&app, &expired).await, Ok(CheckOutcome::Expired));

    let unknown = ApplicationRef {
        id: ApplicationId::ClientId("00000000-0000-0000-0000-00000000f00d".into()),
        holder: CredentialHolder::Application,
    };
    let err = provider.check(&unknown, &live).await.unwrap_err();
    assert_eq!(err.reason, Reason::ApplicationNotFound, "{err}");

    let mut wrong_tenant = env.config();
    wrong_tenant.tenant_id = "fabrikam.onmicrosoft.com".into();
    let err = env
        .provider_with(wrong_tenant)
        .check(&app, &live)
        .await
        .unwrap_err();
    assert_eq!(err.reason, Reason::TenantNotFound, "{err}");
    assert!(env.time.slept().is_empty(), "none of these is retried");
}

#[tokio::test]
async fn check_retries_throttling_and_outages_then_reports_them() {
    let env = Env::new().await;
    let provider = env.provider();
    let app = env.target_app();
    let secret = env
        .em
        .seed_password(&env.target.app_id, PasswordSpec::default())
        .unwrap()
        .secret;
    env.em
        .inject_fault(fault("POST", "/oauth2/v2.0/token$", 429, Some(2)).times(1))
        .unwrap();
    assert_eq!(
        provider.check(&app, &secret).await,
        Ok(CheckOutcome::Authenticated)
    );
    assert_eq!(env.time.slept(), [secs(2)]);

    let id = env
        .em
        .inject_fault(fault("POST", "/oauth2/v2.0/token$", 503, None))
        .unwrap();
    let err = provider.check(&app, &secret).await.unwrap_err();
    assert_eq!(err.reason, Reason::ProviderUnavailable, "{err}");
    env.em.remove_fault(id);
    env.em
        .inject_fault(fault("POST", "/oauth2/v2.0/token$", 429, Some(1)))
        .unwrap();
    let err = provider.check(&app, &secret).await.unwrap_err();
    assert_eq!(err.reason, Reason::Throttled, "{err}");
}

#[tokio::test]
async fn check_never_caches() {
    let env = Env::new().await;
    let provider = env.provider();
    let secret = env
        .em
        .seed_password(&env.target.app_id, PasswordSpec::default())
        .unwrap()
        .secret;
    for _ in 0..3 {
        provider.check(&env.target_app(), &secret).await.unwrap();
    }
    assert_eq!(env.token_requests(), 3);
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

fn delayed(env: &Env, consistency: Consistency) {
    env.em
        .set_consistency(
            ConsistencyScope::Application(env.target.app_id.clone()),
            consistency,
        )
        .unwrap();
}

#[tokio::test]
async fn verification_waits_through_the_propagation_delay() {
    let env = Env::new().await;
    delayed(
        &env,
        Consistency {
            propagation_delay: secs(30),
            ..Consistency::default()
        },
    );
    let provider = env.provider();
    let minted = mint_for_target(&env, &provider).await.unwrap();
    let (progress, outcome) =
        verify(&provider, &env.target_app(), &minted.secret, secs(600), &env.time).await;
    assert_eq!(outcome, Verified::Yes);
    assert_eq!(progress.consecutive_successes, 3);
    assert!(
        progress.attempts >= 5,
        "refused before the delay, then three in a row: {} attempts",
        progress.attempts
    );
}

#[tokio::test]
async fn verification_needs_consecutive_successes_across_stale_replicas() {
    let env = Env::with(Emulator::builder().seed(7).build().unwrap()).await;
    delayed(
        &env,
        Consistency {
            stale_fraction: 0.5,
            stale_lag: secs(60),
            ..Consistency::default()
        },
    );
    let provider = env.provider();
    let minted = mint_for_target(&env, &provider).await.unwrap();
    let (progress, outcome) =
        verify(&provider, &env.target_app(), &minted.secret, secs(300), &env.time).await;
    assert_eq!(outcome, Verified::Yes);
    // Every check was a token request; the last three succeeded in a row.
    let statuses: Vec<u16> = env
        .em
        .audit_log()
        .iter()
        .filter(|e| {
            e.path.ends_with("/oauth2/v2.0/token")
                && e.caller_app.as_deref() == Some(env.target.app_id.as_str())
        })
        .map(|e| e.status)
        .collect();
    assert_eq!(statuses.len() as i32, progress.attempts);
    assert_eq!(statuses[statuses.len() - 3..], [200, 200, 200]);
    if let Some(last_refusal) = statuses.iter().rposition(|s| *s != 200) {
        assert_eq!(
            last_refusal,
            statuses.len() - 4,
            "the count restarted after the last refusal"
        );
    }
}

#[tokio::test]
async fn verification_gives_up_at_the_timeout() {
    let env = Env::new().await;
    delayed(
        &env,
        Consistency {
            propagation_delay: secs(600),
            ..Consistency::default()
        },
    );
    let provider = env.provider();
    let minted = mint_for_target(&env, &provider).await.unwrap();
    let (progress, outcome) = verify(&provider, &env.target_app(), &minted.secret, secs(60), &env.time).await;
    assert_eq!(outcome, Verified::TimedOut);
    assert!(progress.attempts >= 3, "{} attempts", progress.attempts);
    assert!(env.time.now() >= progress.deadline.0);
}

#[tokio::test]
async fn verification_reports_an_expired_secret() {
    let env = Env::new().await;
    let provider = env.provider();
    let minted = provider
        .mint(&env.target_app(), &mint_request(&env, secs(60)))
        .await
        .unwrap();
    env.advance(secs(120));
    let (progress, outcome) =
        verify(&provider, &env.target_app(), &minted.secret, secs(600), &env.time).await;
    assert_eq!(outcome, Verified::Refused("Expired".into()));
    assert_eq!(progress.attempts, 1, "Expired ends verification at once");
}

#[tokio::test]
async fn verification_progress_survives_persistence_between_checks() {
    use secret_rotator::rotation::verification::{self, Verdict};
    let env = Env::new().await;
    delayed(
        &env,
        Consistency {
            propagation_delay: secs(30),
            ..Consistency::default()
        },
    );
    let provider = env.provider();
    let app = env.target_app();
    let minted = provider.mint(&app, &mint_request(&env, days(30))).await.unwrap();
    let mut progress = verification::start(env.time.now(), jiff::SignedDuration::from_secs(600));
    let mut checks = 0;
    loop {
        // What the controller persists in the resource's status between reconciles.
        progress = serde_json::from_value(serde_json::to_value(&progress).unwrap()).unwrap();
        if let Some(due) = verification::next_check_at(&progress)
            && due > env.time.now()
        {
            // The controller requeues; time passes until the next check is due.
            env.advance(due.duration_since(env.time.now()).unsigned_abs());
        }
        checks += 1;
        let result = provider.check(&app, &minted.secret).await.map_err(|e| e.reason);
        let verdict = verification::record_check(&mut progress, env.time.now(), Ok(result.unwrap()));
        if verdict == Verdict::Verified {
            break;
        }
        assert_eq!(verdict, Verdict::Pending);
    }
    assert_eq!(progress.consecutive_successes, 3);
    assert_eq!(progress.attempts, checks);
}

#[tokio::test]
async fn a_secret_string_never_shows_in_debug_of_what_the_provider_returns() {
    let env = Env::new().await;
    let minted = mint_for_target(&env, &env.provider()).await.unwrap();
    let secret: &SecretString = &minted.secret;
    assert!(!format!("{minted:?}").contains(secret.expose_secret()));
}
