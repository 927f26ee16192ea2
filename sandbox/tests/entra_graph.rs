//! Graph through real HTTP: addPassword / removePassword / reads on applications and service
//! principals by object id, appId and `$filter`; authorization; policies; credential limits.

mod entra_support;

use entra_support::*;
use reqwest::Method;
use sandbox::entra::{
    AppManagementConfiguration, AppManagementPolicy, ApplicationSpec, PasswordCredentialConfiguration,
    TenantAppManagementPolicy,
};
use serde_json::{Value, json};

const ALL: &str = "Application.ReadWrite.All";
const OWNED: &str = "Application.ReadWrite.OwnedBy";

#[tokio::test]
async fn add_password_returns_200_with_the_secret_once_and_it_authenticates() {
    let env = env(&[ALL]).await;
    let token = env.operator_token().await;
    let r = env
        .http
        .post(env.url(&format!("/v1.0/applications/{}/addPassword", env.target.object_id)))
        .bearer_auth(&token)
        .header("client-request-id", "5d0c3f9e-0000-4a7a-9d7b-6c1e2f3a4b5c")
        .json(&json!({"passwordCredential": {"displayName": "rotator/ns1/my-app", "endDateTime": "2099-03-30T08:00:00Z"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["client-request-id"],
        "5d0c3f9e-0000-4a7a-9d7b-6c1e2f3a4b5c"
    );
    assert!(r.headers().contains_key("request-id"));
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["x-ms-resource-unit"], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential"
    );
    assert_eq!(body["customKeyIdentifier"], Value::Null);
    assert_eq!(body["displayName"], "rotator/ns1/my-app");
    assert_eq!(body["endDateTime"], "2099-03-30T08:00:00Z");
    let secret = body["secretText"].as_str().unwrap();
    assert_eq!(secret.len(), 40);
    assert_eq!(body["hint"], &secret[..3]);
    let key_id = uuid::Uuid::parse_str(body["keyId"].as_str().unwrap()).unwrap();
    assert_eq!(key_id.get_version_num(), 4);
    assert!(
        body["startDateTime"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .is_ok()
    );

    assert_eq!(env.token_request(&env.target.app_id, secret).await.status(), 200);

    // Reads never show the secret.
    let r = env
        .graph(
            Method::GET,
            &format!("/applications/{}", env.target.object_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["x-ms-resource-unit"],
        "2",
        "GET applications costs 2 RU"
    );
    let app: Value = r.json().await.unwrap();
    assert_eq!(
        app["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#applications/$entity"
    );
    let creds = app["passwordCredentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["secretText"], Value::Null);
    assert_eq!(creds[0]["keyId"], body["keyId"]);
    assert_eq!(creds[0]["hint"], body["hint"]);
    assert!(!app.to_string().contains(secret));
}

#[tokio::test]
async fn defaults_are_now_and_two_years_and_empty_bodies_are_accepted() {
    let env = env(&[ALL]).await;
    for body in [json!({}), json!({"passwordCredential": {}})] {
        let r = env
            .add_password(&format!("/applications(appId='{}')", env.target.app_id), body)
            .await;
        assert_eq!(r.status(), 200);
        let cred: Value = r.json().await.unwrap();
        let start: jiff::Timestamp = cred["startDateTime"].as_str().unwrap().parse().unwrap();
        let end: jiff::Timestamp = cred["endDateTime"].as_str().unwrap().parse().unwrap();
        let expected = start
            .to_zoned(jiff::tz::TimeZone::UTC)
            .checked_add(jiff::Span::new().years(2))
            .unwrap()
            .timestamp();
        assert_eq!(end, expected);
        assert!(start.duration_since(env.em.now()).abs() < jiff::SignedDuration::from_secs(60));
    }
}

#[tokio::test]
async fn reads_by_object_id_app_id_and_filter_with_select() {
    let env = env(&["Application.Read.All"]).await;
    env.em
        .seed_password(&env.target.app_id, Default::default())
        .unwrap();
    let id = &env.target.object_id;
    let app_id = &env.target.app_id;

    let r = env
        .graph(
            Method::GET,
            &format!("/applications(appId='{app_id}')?$select=id,appId,passwordCredentials"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-resource-unit"], "1", "$select lowers the cost");
    let one: Value = r.json().await.unwrap();
    assert_eq!(
        one["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#applications(id,appId,passwordCredentials)/$entity"
    );
    assert_eq!(one["id"], id.as_str());
    assert_eq!(
        one.as_object().unwrap().len(),
        4,
        "only the selected properties: {one}"
    );
    assert_eq!(one["passwordCredentials"][0]["secretText"], Value::Null);

    let r = env
        .graph(
            Method::GET,
            &format!("/applications?$filter=appId eq '{app_id}'&$select=id,appId,passwordCredentials"),
            None,
        )
        .await;
    let list: Value = r.json().await.unwrap();
    assert_eq!(
        list["@odata.context"],
        "https://graph.microsoft.com/v1.0/$metadata#applications(id,appId,passwordCredentials)"
    );
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(list["value"][0]["id"], id.as_str());

    let r = env
        .graph(
            Method::GET,
            "/applications?$filter=appId eq '00000000-0000-0000-0000-000000000001'",
            None,
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["value"], json!([]));

    // Service principals, by object id and by appId.
    let sp = env.target.service_principal_id.clone().unwrap();
    let r = env
        .graph(Method::GET, &format!("/servicePrincipals/{sp}"), None)
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["appId"], app_id.as_str());
    assert_eq!(body["servicePrincipalType"], "Application");
    let r = env
        .graph(
            Method::GET,
            &format!("/servicePrincipals(appId='{app_id}')?$select=id"),
            None,
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["id"], sp);
    let r = env
        .graph(
            Method::GET,
            &format!("/servicePrincipals?$filter=appId eq '{app_id}'"),
            None,
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["value"][0]["id"], sp);

    let r = env
        .graph(Method::GET, &format!("/applications/{id}?$select=nope"), None)
        .await;
    expect_graph_error(r, 400, "Request_BadRequest").await;
}

#[tokio::test]
async fn remove_password_is_204_then_unknown_key_is_400() {
    let env = env(&[ALL]).await;
    let prefix = format!("/applications/{}", env.target.object_id);
    let cred: Value = env.add_password(&prefix, json!({})).await.json().await.unwrap();
    let secret = cred["secretText"].as_str().unwrap().to_owned();
    let key_id = cred["keyId"].as_str().unwrap().to_owned();
    let r = env
        .graph(
            Method::POST,
            &format!("{prefix}/removePassword"),
            Some(json!({"keyId": key_id})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert!(r.headers().contains_key("request-id"));
    assert_eq!(r.bytes().await.unwrap().len(), 0);
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 401);
    let app: Value = env.graph(Method::GET, &prefix, None).await.json().await.unwrap();
    assert_eq!(app["passwordCredentials"], json!([]));

    let r = env
        .graph(
            Method::POST,
            &format!("{prefix}/removePassword"),
            Some(json!({"keyId": key_id})),
        )
        .await;
    let body = expect_graph_error(r, 400, "Request_BadRequest").await;
    assert_eq!(
        body["error"]["message"],
        format!("No password credential found with keyId {key_id}.")
    );
}

#[tokio::test]
async fn service_principal_passwords_by_id_and_app_id() {
    let env = env(&[ALL]).await;
    let sp = env.target.service_principal_id.clone().unwrap();
    for prefix in [
        format!("/servicePrincipals/{sp}"),
        format!("/servicePrincipals(appId='{}')", env.target.app_id),
    ] {
        let r = env
            .add_password(&prefix, json!({"passwordCredential": {"displayName": "sp"}}))
            .await;
        assert_eq!(r.status(), 200);
        let cred: Value = r.json().await.unwrap();
        assert_eq!(
            env.token_request(&env.target.app_id, cred["secretText"].as_str().unwrap())
                .await
                .status(),
            200
        );
        let r = env
            .graph(
                Method::POST,
                &format!("{prefix}/removePassword"),
                Some(json!({"keyId": cred["keyId"]})),
            )
            .await;
        assert_eq!(r.status(), 204);
    }
    assert_eq!(env.em.credentials(&sp).unwrap().len(), 2);
    assert!(
        env.em
            .credentials(&sp)
            .unwrap()
            .iter()
            .all(|c| c.removed_at.is_some() && c.holder == "servicePrincipal")
    );
}

#[tokio::test]
async fn unknown_ids_are_404_with_the_documented_message() {
    let env = env(&[ALL]).await;
    let missing = "7bec5fd1-0000-474c-a6ca-5492082c6a9b";
    for (method, path) in [
        (Method::GET, format!("/applications/{missing}")),
        (Method::GET, format!("/servicePrincipals(appId='{missing}')")),
        (Method::POST, format!("/applications/{missing}/addPassword")),
    ] {
        let r = env.graph(method, &path, Some(json!({}))).await;
        let body = expect_graph_error(r, 404, "Request_ResourceNotFound").await;
        assert_eq!(
            body["error"]["message"],
            format!(
                "Resource '{missing}' does not exist or one of its queried reference-property objects are not present."
            )
        );
    }
}

#[tokio::test]
async fn missing_invalid_and_expired_tokens_are_401_with_www_authenticate() {
    let env = env(&[ALL]).await;
    let url = env.url(&format!("/v1.0/applications/{}", env.target.object_id));
    let r = env.http.get(&url).send().await.unwrap();
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"\"")
    );
    expect_graph_error(r, 401, "InvalidAuthenticationToken").await;
    let r = env.http.get(&url).bearer_auth("not-a-jwt").send().await.unwrap();
    expect_graph_error(r, 401, "InvalidAuthenticationToken").await;
    // A token from another emulator (another signing key) is not accepted.
    let other = env_with(sandbox::entra::Emulator::new(), &[ALL]).await;
    let foreign = other.operator_token().await;
    let r = env.http.get(&url).bearer_auth(foreign).send().await.unwrap();
    expect_graph_error(r, 401, "InvalidAuthenticationToken").await;

    let token = env.operator_token().await;
    env.em.advance(std::time::Duration::from_secs(3600));
    let r = env.http.get(&url).bearer_auth(&token).send().await.unwrap();
    let body = expect_graph_error(r, 401, "InvalidAuthenticationToken").await;
    assert_eq!(
        body["error"]["message"],
        "Access token has expired or is not yet valid."
    );
}

#[tokio::test]
async fn owned_by_writes_only_owned_objects_and_all_writes_any() {
    let env = env(&[OWNED]).await;
    let operator_sp = env.operator.service_principal_id.clone().unwrap();
    let app_path = format!("/applications/{}", env.target.object_id);
    let sp_path = format!(
        "/servicePrincipals/{}",
        env.target.service_principal_id.clone().unwrap()
    );

    // Reads are fine with OwnedBy.
    assert_eq!(env.graph(Method::GET, &app_path, None).await.status(), 200);
    for path in [&app_path, &sp_path] {
        let body = expect_graph_error(
            env.add_password(path, json!({})).await,
            403,
            "Authorization_RequestDenied",
        )
        .await;
        assert_eq!(
            body["error"]["message"],
            "Insufficient privileges to complete the operation."
        );
    }
    env.em.add_owner(&env.target.object_id, &operator_sp).unwrap();
    assert_eq!(env.add_password(&app_path, json!({})).await.status(), 200);
    // Owning the application does not make the caller an owner of its service principal.
    expect_graph_error(
        env.add_password(&sp_path, json!({})).await,
        403,
        "Authorization_RequestDenied",
    )
    .await;
    env.em
        .add_owner(env.target.service_principal_id.as_deref().unwrap(), &operator_sp)
        .unwrap();
    assert_eq!(env.add_password(&sp_path, json!({})).await.status(), 200);

    // An app whose own service principal owns it can rotate itself.
    env.em.add_owner(&env.operator.object_id, &operator_sp).unwrap();
    assert_eq!(
        env.add_password(
            &format!("/applications(appId='{}')", env.operator.app_id),
            json!({})
        )
        .await
        .status(),
        200
    );

    let all = entra_support::env(&[ALL]).await;
    assert_eq!(
        all.add_password(&format!("/applications/{}", all.target.object_id), json!({}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn no_roles_means_403_for_reads_and_writes() {
    let env = env(&["User.Read.All"]).await;
    let path = format!("/applications/{}", env.target.object_id);
    expect_graph_error(
        env.graph(Method::GET, &path, None).await,
        403,
        "Authorization_RequestDenied",
    )
    .await;
    expect_graph_error(
        env.add_password(&path, json!({})).await,
        403,
        "Authorization_RequestDenied",
    )
    .await;
    let read_only = entra_support::env(&["Application.Read.All"]).await;
    let path = format!("/applications/{}", read_only.target.object_id);
    expect_graph_error(
        read_only.add_password(&path, json!({})).await,
        403,
        "Authorization_RequestDenied",
    )
    .await;
}

fn lifetime(max: &str) -> PasswordCredentialConfiguration {
    PasswordCredentialConfiguration {
        restriction_type: "passwordLifetime".into(),
        max_lifetime: Some(max.into()),
        restrict_for_apps_created_after_date_time: None,
        state: None,
    }
}

#[tokio::test]
async fn tenant_lifetime_policy_rejects_the_default_two_years_with_the_observed_shape() {
    let env = env(&[ALL]).await;
    env.em
        .set_tenant_app_management_policy(
            &env.tenant,
            TenantAppManagementPolicy {
                is_enabled: true,
                application_restrictions: AppManagementConfiguration {
                    password_credentials: vec![lifetime("P180D")],
                    key_credentials: vec![],
                },
                ..Default::default()
            },
        )
        .unwrap();
    let path = format!("/applications/{}", env.target.object_id);
    let body = expect_graph_error(
        env.add_password(&path, json!({})).await,
        400,
        "CredentialInvalidLifetimeAsPerAppPolicy",
    )
    .await;
    let message = "Credential lifetime exceeds the max value allowed as per assigned policy '00000000-0000-0000-0000-000000000000'.";
    assert_eq!(body["error"]["message"], message);
    assert_eq!(
        body["error"]["details"][0],
        json!({"code": "InvalidKeyEndDate", "message": message, "target": "EndDate"})
    );
    let end = (env.em.now() + jiff::SignedDuration::from_hours(24 * 90)).to_string();
    let r = env
        .add_password(&path, json!({"passwordCredential": {"endDateTime": end}}))
        .await;
    assert_eq!(r.status(), 200);
    // Service principals follow servicePrincipalRestrictions, empty here.
    let sp = format!(
        "/servicePrincipals/{}",
        env.target.service_principal_id.clone().unwrap()
    );
    assert_eq!(env.add_password(&sp, json!({})).await.status(), 200);
}

#[tokio::test]
async fn per_app_policy_blocks_password_addition_and_wins_over_the_tenant_default() {
    let env = env(&[ALL]).await;
    let policy = env
        .em
        .create_app_management_policy(AppManagementPolicy {
            display_name: Some("no secrets".into()),
            is_enabled: true,
            restrictions: AppManagementConfiguration {
                password_credentials: vec![PasswordCredentialConfiguration {
                    restriction_type: "passwordAddition".into(),
                    max_lifetime: None,
                    restrict_for_apps_created_after_date_time: None,
                    state: None,
                }],
                key_credentials: vec![],
            },
            ..Default::default()
        })
        .unwrap();
    env.em
        .assign_app_management_policy(&env.target.object_id, Some(&policy))
        .unwrap();
    let path = format!("/applications/{}", env.target.object_id);
    let body = expect_graph_error(
        env.add_password(&path, json!({})).await,
        400,
        "CredentialTypeNotAllowedAsPerAppPolicy",
    )
    .await;
    assert!(body["error"]["message"].as_str().unwrap().contains(&policy));
    let other = env
        .em
        .create_application(&env.tenant, ApplicationSpec::new("other"))
        .unwrap();
    assert_eq!(
        env.add_password(&format!("/applications/{}", other.object_id), json!({}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn default_app_management_policy_is_readable_and_patchable_through_graph() {
    let env = env(&[ALL, "Policy.ReadWrite.ApplicationConfiguration"]).await;
    let r = env
        .graph(Method::GET, "/policies/defaultAppManagementPolicy", None)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(body["isEnabled"], false);
    let patch = json!({"isEnabled": true, "applicationRestrictions": {"passwordCredentials": [
        {"restrictionType": "passwordLifetime", "maxLifetime": "P90D", "restrictForAppsCreatedAfterDateTime": null}
    ]}});
    assert_eq!(
        env.graph(Method::PATCH, "/policies/defaultAppManagementPolicy", Some(patch))
            .await
            .status(),
        204
    );
    let path = format!("/applications/{}", env.target.object_id);
    expect_graph_error(
        env.add_password(&path, json!({})).await,
        400,
        "CredentialInvalidLifetimeAsPerAppPolicy",
    )
    .await;
    let bad = json!({"applicationRestrictions": {"passwordCredentials": [{"restrictionType": "passwordLifetime", "maxLifetime": "ninety days"}]}});
    expect_graph_error(
        env.graph(Method::PATCH, "/policies/defaultAppManagementPolicy", Some(bad))
            .await,
        400,
        "Request_BadRequest",
    )
    .await;

    let no_policy_role = entra_support::env(&[ALL]).await;
    let r = no_policy_role
        .graph(
            Method::PATCH,
            "/policies/defaultAppManagementPolicy",
            Some(json!({"isEnabled": true})),
        )
        .await;
    expect_graph_error(r, 403, "Authorization_RequestDenied").await;
}

#[tokio::test]
async fn personal_account_apps_hold_at_most_two_passwords() {
    let env = env(&[ALL]).await;
    let msa = env
        .em
        .create_application(
            &env.tenant,
            ApplicationSpec::new("consumer").sign_in_audience("AzureADandPersonalMicrosoftAccount"),
        )
        .unwrap();
    let path = format!("/applications/{}", msa.object_id);
    assert_eq!(env.add_password(&path, json!({})).await.status(), 200);
    assert_eq!(env.add_password(&path, json!({})).await.status(), 200);
    let body = expect_graph_error(
        env.add_password(&path, json!({})).await,
        400,
        "Request_BadRequest",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "You can only add a maximum of 2 encrypted credentials."
    );
}

#[tokio::test]
async fn the_credential_ceiling_yields_the_size_limit_error() {
    let em = sandbox::entra::Emulator::builder()
        .credential_limit(Some(2))
        .build()
        .unwrap();
    let env = env_with(em, &[ALL]).await;
    let path = format!("/applications/{}", env.target.object_id);
    assert_eq!(env.add_password(&path, json!({})).await.status(), 200);
    assert_eq!(env.add_password(&path, json!({})).await.status(), 200);
    let body = expect_graph_error(
        env.add_password(&path, json!({})).await,
        403,
        "Directory_ResourceSizeExceeded",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "The size of the object has exceeded its limit. Please reduce the number of values and retry your request."
    );
}
