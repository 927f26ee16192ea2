//! The token endpoint through real HTTP: client secrets (form and Basic), every documented
//! AADSTS error, propagation and stale replicas on a moved clock.

mod entra_support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entra_support::*;
use sandbox::entra::{ApplicationSpec, Consistency, ConsistencyScope, Emulator, PasswordSpec};
use secrecy::ExposeSecret;
use serde_json::Value;

#[tokio::test]
async fn client_secret_in_the_form_yields_a_documented_token_response_and_claims() {
    let env = env(&["Application.ReadWrite.OwnedBy"]).await;
    let r = env
        .token_request(&env.operator.app_id, env.operator_secret.expose_secret())
        .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
    assert_eq!(claims["tid"], env.tenant);
    assert_eq!(claims["appid"], env.operator.app_id);
    assert_eq!(claims["azp"], env.operator.app_id);
    assert_eq!(claims["oid"], env.operator.service_principal_id.clone().unwrap());
    assert_eq!(
        claims["roles"],
        serde_json::json!(["Application.ReadWrite.OwnedBy"])
    );
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(nbf <= iat && exp - iat == 3599);
    // The header names the emulator's published signing key.
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body["access_token"].as_str().unwrap().split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = env
        .http
        .get(env.url(&format!("/{}/discovery/v2.0/keys", env.tenant)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);
}

#[tokio::test]
async fn client_secret_in_basic_auth_and_tenant_domain_name_work() {
    let env = env(&[]).await;
    let basic = STANDARD.encode(format!(
        "{}:{}",
        env.operator.app_id,
        env.operator_secret.expose_secret()
    ));
    let r = env
        .http
        .post(env.url("/contoso.onmicrosoft.com/oauth2/v2.0/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("scope", GRAPH_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let claims = jwt_claims(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!(claims["tid"], env.tenant);
    assert!(
        claims.get("roles").is_none(),
        "an app without Graph permissions gets no roles claim"
    );
}

#[tokio::test]
async fn token_lifetime_is_configurable() {
    let em = Emulator::builder()
        .token_lifetime(Duration::from_secs(600))
        .build()
        .unwrap();
    let env = env_with(em, &[]).await;
    let r = env
        .token_request(&env.operator.app_id, env.operator_secret.expose_secret())
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 600);
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
}

#[tokio::test]
async fn wrong_secret_is_7000215_with_the_documented_text() {
    let env = env(&[]).await;
    let r = env
        .token_request(&env.operator.app_id, "Zq48Q~wrongwrongwrongwrongwrongwrongwrong")
        .await;
    let body = expect_aadsts(r, 401, "invalid_client", 7000215).await;
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("Invalid client secret provided."));
    assert!(description.contains(&format!("for a secret added to app '{}'", env.operator.app_id)));
    assert!(
        !description.contains("wrongwrong"),
        "the presented secret is never echoed"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_secrets_are_7000222() {
    let env = env(&[]).await;
    let now = env.em.now();
    let expired = env
        .em
        .seed_password(
            &env.target.app_id,
            PasswordSpec {
                start: Some(now - jiff::SignedDuration::from_hours(48)),
                end: Some(now - jiff::SignedDuration::from_hours(1)),
                ..Default::default()
            },
        )
        .unwrap();
    let r = env
        .token_request(&env.target.app_id, expired.secret.expose_secret())
        .await;
    let body = expect_aadsts(r, 401, "invalid_client", 7000222).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("are expired")
    );

    let future = env
        .em
        .seed_password(
            &env.target.app_id,
            PasswordSpec {
                start: Some(now + jiff::SignedDuration::from_hours(1)),
                ..Default::default()
            },
        )
        .unwrap();
    let r = env
        .token_request(&env.target.app_id, future.secret.expose_secret())
        .await;
    expect_aadsts(r, 401, "invalid_client", 7000222).await;
    // Once its start has come, it works.
    env.em.advance(Duration::from_secs(3601));
    let r = env
        .token_request(&env.target.app_id, future.secret.expose_secret())
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn unknown_app_tenant_missing_parameters_and_bad_scope() {
    let env = env(&[]).await;
    let secret = env.operator_secret.expose_secret().to_owned();
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let http = env.http.clone();
        async move { http.post(path).form(&form).send().await.unwrap() }
    };
    let full = |client: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client.to_owned()),
            ("client_secret", secret.clone()),
            ("scope", GRAPH_SCOPE.to_owned()),
        ]
    };

    let unknown_app = "46e6adf4-0000-4b60-9390-0ba6fb00bf6b";
    let body = expect_aadsts(
        post(env.token_url(), full(unknown_app)).await,
        400,
        "unauthorized_client",
        700016,
    )
    .await;
    assert!(body["error_description"].as_str().unwrap().contains(&format!(
        "Application with identifier '{unknown_app}' was not found in the directory 'Contoso'"
    )));

    let unknown_tenant = "0b4ed0b4-0000-4b60-9390-0ba6fb00bf6b";
    let r = post(
        env.url(&format!("/{unknown_tenant}/oauth2/v2.0/token")),
        full(&env.operator.app_id),
    )
    .await;
    let body = expect_aadsts(r, 400, "invalid_request", 90002).await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains(&format!("Tenant '{unknown_tenant}' not found."))
    );

    for missing in ["grant_type", "client_id", "scope"] {
        let form: Vec<_> = full(&env.operator.app_id)
            .into_iter()
            .filter(|(k, _)| *k != missing)
            .collect();
        let body = expect_aadsts(post(env.token_url(), form).await, 400, "invalid_request", 900144).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(&format!("must contain the following parameter: '{missing}'.")),
            "{body}"
        );
    }

    for scope in [
        "https://graph.microsoft.com/User.Read",
        "https://management.azure.com/.default",
    ] {
        let mut form = full(&env.operator.app_id);
        form[3].1 = scope.to_owned();
        expect_aadsts(post(env.token_url(), form).await, 400, "invalid_scope", 70011).await;
    }

    let form: Vec<_> = full(&env.operator.app_id)
        .into_iter()
        .filter(|(k, _)| *k != "client_secret")
        .collect();
    expect_aadsts(post(env.token_url(), form).await, 401, "invalid_client", 7000218).await;
}

#[tokio::test]
async fn a_secret_on_the_service_principal_authenticates_too() {
    let env = env(&[]).await;
    let sp = env.target.service_principal_id.clone().unwrap();
    let seeded = env.em.seed_password(&sp, PasswordSpec::default()).unwrap();
    let r = env
        .token_request(&env.target.app_id, seeded.secret.expose_secret())
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn new_secret_is_rejected_until_its_propagation_delay_has_passed() {
    let env = env(&[]).await;
    env.em
        .set_consistency(
            ConsistencyScope::Application(env.target.app_id.clone()),
            Consistency {
                propagation_delay: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .unwrap();
    let fresh = env
        .em
        .seed_password(
            &env.target.app_id,
            PasswordSpec {
                fresh: true,
                ..Default::default()
            },
        )
        .unwrap();
    let r = env
        .token_request(&env.target.app_id, fresh.secret.expose_secret())
        .await;
    expect_aadsts(r, 401, "invalid_client", 7000215).await;
    assert!(
        !env.em
            .authenticates(&env.tenant, &env.target.app_id, fresh.secret.expose_secret())
    );
    env.em.advance(Duration::from_secs(29));
    assert_eq!(
        env.token_request(&env.target.app_id, fresh.secret.expose_secret())
            .await
            .status(),
        401
    );
    env.em.advance(Duration::from_secs(2));
    assert!(
        env.em
            .authenticates(&env.tenant, &env.target.app_id, fresh.secret.expose_secret())
    );
    assert_eq!(
        env.token_request(&env.target.app_id, fresh.secret.expose_secret())
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn stale_replicas_reject_a_seeded_fraction_of_requests_until_they_catch_up() {
    let em = Emulator::builder().seed(7).build().unwrap();
    let env = env_with(em, &[]).await;
    let app = env
        .em
        .create_application(&env.tenant, ApplicationSpec::new("flaky"))
        .unwrap();
    env.em
        .set_consistency(
            ConsistencyScope::Tenant(env.tenant.clone()),
            Consistency {
                stale_fraction: 0.5,
                stale_lag: Duration::from_secs(60),
                ..Default::default()
            },
        )
        .unwrap();
    let fresh = env
        .em
        .seed_password(
            &app.app_id,
            PasswordSpec {
                fresh: true,
                ..Default::default()
            },
        )
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(
            env.token_request(&app.app_id, fresh.secret.expose_secret())
                .await
                .status()
                .as_u16(),
        );
    }
    let failures = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        (5..35).contains(&failures),
        "about half fail on stale replicas: {statuses:?}"
    );
    assert!(statuses.contains(&200));
    env.em.advance(Duration::from_secs(61));
    for _ in 0..10 {
        assert_eq!(
            env.token_request(&app.app_id, fresh.secret.expose_secret())
                .await
                .status(),
            200
        );
    }
}
