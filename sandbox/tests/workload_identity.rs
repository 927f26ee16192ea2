//! Workload identity end to end, over real HTTP between the two stand-ins: the API server issues
//! a projected-style token (TokenRequest, audience `api://AzureADTokenExchange`) for a
//! ServiceAccount; the Entra emulator is configured the way an operator configures Entra ID
//! (trust the cluster's OIDC issuer with the JWKS fetched from its discovery endpoints, a
//! federated identity credential for `system:serviceaccount:<ns>:<sa>`); a client-credentials
//! request with the token as client assertion succeeds, and fails for another ServiceAccount.

mod entra_support;
mod rbac_support;

use std::time::Duration;

use entra_support::*;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use rbac_support::service_account;
use sandbox::apiserver::ApiServer;
use sandbox::entra::FederatedCredentialSpec;
use serde_json::Value;

const EXCHANGE: &str = "api://AzureADTokenExchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn projected_token(server: &ApiServer, ns: &str, sa: &str) -> String {
    let sas: Api<ServiceAccount> = Api::namespaced(server.client(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![EXCHANGE.into()],
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    sas.create_token_request(sa, &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token
}

async fn exchange(env: &Env, client_id: &str, assertion: &str) -> reqwest::Response {
    env.http
        .post(env.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", GRAPH_SCOPE),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_token_is_exchanged_for_an_entra_token() {
    let env = env(&[]).await;
    let server = ApiServer::new();
    service_account(&server, "rotator", "secret-rotator");
    service_account(&server, "rotator", "intruder");
    let handle = server.serve("127.0.0.1:0").await.unwrap();

    // The verifier's view: anonymous OIDC discovery, then the JWKS it points to.
    let discovery: Value = env
        .http
        .get(format!("{}/.well-known/openid-configuration", handle.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = discovery["issuer"].as_str().unwrap().to_string();
    assert_eq!(issuer, server.service_account_issuer());
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, format!("{}/openid/v1/jwks", handle.url()));
    let jwks_response = env.http.get(jwks_uri).send().await.unwrap();
    assert_eq!(jwks_response.status(), 200);
    assert_eq!(
        jwks_response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let jwks: Value = jwks_response.json().await.unwrap();
    env.em.trust_issuer(&issuer, jwks).unwrap();
    env.em
        .add_federated_credential(
            &env.target.app_id,
            FederatedCredentialSpec::kubernetes("aks", &issuer, "rotator", "secret-rotator"),
        )
        .unwrap();

    let token = projected_token(&server, "rotator", "secret-rotator").await;
    let claims = jwt_claims(&token);
    assert_eq!(claims["aud"], serde_json::json!([EXCHANGE]));
    assert_eq!(claims["sub"], "system:serviceaccount:rotator:secret-rotator");
    let r = exchange(&env, &env.target.app_id, &token).await;
    assert_eq!(r.status(), 200);
    let access = jwt_claims(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!(access["appid"], env.target.app_id);

    // Another ServiceAccount of the same issuer has no federated credential.
    let other = projected_token(&server, "rotator", "intruder").await;
    let body = expect_aadsts(
        exchange(&env, &env.target.app_id, &other).await,
        400,
        "invalid_request",
        70021,
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Assertion Subject: 'system:serviceaccount:rotator:intruder'")
    );

    // The exchange token is not an API server credential (its audience is Entra's).
    let http_status = env
        .http
        .get(format!("{}/api/v1/namespaces/rotator/secrets", handle.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(http_status, 401);

    // The Rust helper issues the same kind of token.
    use secrecy::ExposeSecret;
    let helper = server
        .service_account_token(
            "rotator",
            "secret-rotator",
            &[EXCHANGE],
            Duration::from_secs(3600),
        )
        .unwrap();
    assert_eq!(
        exchange(&env, &env.target.app_id, helper.expose_secret())
            .await
            .status(),
        200
    );

    // A restarted API server keeps its issuer and key: the trust configured earlier still holds.
    handle.shutdown().await;
    let handle = server.serve("127.0.0.1:0").await.unwrap();
    let again = projected_token(&server, "rotator", "secret-rotator").await;
    assert_eq!(exchange(&env, &env.target.app_id, &again).await.status(), 200);
    handle.shutdown().await;
}
