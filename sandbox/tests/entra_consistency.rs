//! Eventual consistency through real HTTP on a moved clock: propagation delay of new secrets,
//! read-after-write lag for new and removed credentials and new objects, and the removePassword
//! race.

mod entra_support;

use std::time::Duration;

use entra_support::*;
use reqwest::Method;
use sandbox::entra::{ApplicationSpec, Consistency, ConsistencyScope};
use serde_json::{Value, json};

async fn key_ids(env: &Env, path: &str) -> Vec<String> {
    let r = env
        .graph(Method::GET, &format!("{path}?$select=passwordCredentials"), None)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["passwordCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["keyId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn new_secrets_propagate_and_reads_lag_writes_by_the_configured_delays() {
    let env = env(&["Application.ReadWrite.All"]).await;
    env.em
        .set_consistency(
            ConsistencyScope::Tenant(env.tenant.clone()),
            Consistency {
                propagation_delay: Duration::from_secs(20),
                read_lag: Duration::from_secs(10),
                ..Default::default()
            },
        )
        .unwrap();
    let path = format!("/applications/{}", env.target.object_id);
    let cred: Value = env.add_password(&path, json!({})).await.json().await.unwrap();
    let (key_id, secret) = (
        cred["keyId"].as_str().unwrap().to_owned(),
        cred["secretText"].as_str().unwrap().to_owned(),
    );

    assert!(
        key_ids(&env, &path).await.is_empty(),
        "the write is not visible yet"
    );
    expect_aadsts(
        env.token_request(&env.target.app_id, &secret).await,
        401,
        "invalid_client",
        7000215,
    )
    .await;
    // removePassword racing the write: the key is not found yet.
    let r = env
        .graph(
            Method::POST,
            &format!("{path}/removePassword"),
            Some(json!({"keyId": key_id})),
        )
        .await;
    let body = expect_graph_error(r, 400, "Request_BadRequest").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("No password credential found with keyId")
    );

    env.em.advance(Duration::from_secs(10));
    assert_eq!(key_ids(&env, &path).await, vec![key_id.clone()]);
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 401);
    env.em.advance(Duration::from_secs(10));
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 200);

    // Removal: the key stays visible in reads for the lag; it stops authenticating at once.
    let r = env
        .graph(
            Method::POST,
            &format!("{path}/removePassword"),
            Some(json!({"keyId": key_id})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(key_ids(&env, &path).await, vec![key_id.clone()]);
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 401);
    env.em.advance(Duration::from_secs(10));
    assert!(key_ids(&env, &path).await.is_empty());
}

#[tokio::test]
async fn revocation_delay_keeps_a_removed_secret_working_for_a_while() {
    let env = env(&["Application.ReadWrite.All"]).await;
    env.em
        .set_consistency(
            ConsistencyScope::Application(env.target.app_id.clone()),
            Consistency {
                revocation_delay: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .unwrap();
    let path = format!("/applications/{}", env.target.object_id);
    let cred: Value = env.add_password(&path, json!({})).await.json().await.unwrap();
    let secret = cred["secretText"].as_str().unwrap().to_owned();
    let r = env
        .graph(
            Method::POST,
            &format!("{path}/removePassword"),
            Some(json!({"keyId": cred["keyId"]})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 200);
    env.em.advance(Duration::from_secs(30));
    assert!(!env.em.authenticates(&env.tenant, &env.target.app_id, &secret));
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 401);
}

#[tokio::test]
async fn a_just_created_object_is_404_until_the_read_lag_has_passed() {
    let env = env(&["Application.ReadWrite.All"]).await;
    env.em
        .set_consistency(
            ConsistencyScope::Default,
            Consistency {
                read_lag: Duration::from_secs(5),
                ..Default::default()
            },
        )
        .unwrap();
    let app = env
        .em
        .create_application(&env.tenant, ApplicationSpec::new("brand-new"))
        .unwrap();
    let path = format!("/applications(appId='{}')", app.app_id);
    expect_graph_error(
        env.graph(Method::GET, &path, None).await,
        404,
        "Request_ResourceNotFound",
    )
    .await;
    let list: Value = env
        .graph(
            Method::GET,
            &format!("/applications?$filter=appId eq '{}'", app.app_id),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["value"], json!([]));
    env.em.advance(Duration::from_secs(5));
    assert_eq!(env.graph(Method::GET, &path, None).await.status(), 200);
}

#[tokio::test]
async fn admin_credentials_show_the_primary_copy_with_its_timestamps() {
    let env = env(&["Application.ReadWrite.All"]).await;
    env.em
        .set_consistency(
            ConsistencyScope::Application(env.target.object_id.clone()),
            Consistency {
                propagation_delay: Duration::from_secs(20),
                read_lag: Duration::from_secs(10),
                ..Default::default()
            },
        )
        .unwrap();
    let path = format!("/applications/{}", env.target.object_id);
    let cred: Value = env
        .add_password(&path, json!({"passwordCredential": {"displayName": "x"}}))
        .await
        .json()
        .await
        .unwrap();
    let state = env.em.credentials(&env.target.app_id).unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].key_id, cred["keyId"].as_str().unwrap());
    assert_eq!(state[0].display_name.as_deref(), Some("x"));
    assert_eq!(
        state[0].usable_at.duration_since(state[0].created),
        jiff::SignedDuration::from_secs(20)
    );
    assert_eq!(
        state[0].readable_at.duration_since(state[0].created),
        jiff::SignedDuration::from_secs(10)
    );
    assert_eq!(state[0].holder, "application");
}
