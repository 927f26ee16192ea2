//! The audit log, secret hygiene (audit log, tracing output, Debug output, error messages) and
//! the admin HTTP interface driving a whole scenario from outside.

mod entra_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_support::*;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One test in this binary installs the global subscriber; the others only read the buffer.
fn capture_tracing() -> Captured {
    static CAPTURED: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("install the capturing subscriber");
            captured
        })
        .clone()
}

#[tokio::test]
async fn every_call_is_audited_with_caller_status_and_key_id_and_no_secret_leaks_anywhere() {
    let captured = capture_tracing();
    let env = env(&["Application.ReadWrite.All"]).await;
    let path = format!("/applications/{}", env.target.object_id);
    let added: Value = env
        .add_password(&path, json!({"passwordCredential": {"displayName": "audit"}}))
        .await
        .json()
        .await
        .unwrap();
    let secret = added["secretText"].as_str().unwrap().to_owned();
    let key_id = added["keyId"].as_str().unwrap().to_owned();
    assert_eq!(env.token_request(&env.target.app_id, &secret).await.status(), 200);
    assert_eq!(
        env.token_request(&env.target.app_id, &format!("{secret}x"))
            .await
            .status(),
        401
    );
    let r = env
        .graph(
            Method::POST,
            &format!("{path}/removePassword"),
            Some(json!({"keyId": key_id})),
        )
        .await;
    assert_eq!(r.status(), 204);

    let audit = env.em.audit_log();
    let add = audit.iter().find(|e| e.path.ends_with("/addPassword")).unwrap();
    assert_eq!(add.method, "POST");
    assert_eq!(add.status, 200);
    assert_eq!(add.caller_app.as_deref(), Some(env.operator.app_id.as_str()));
    assert_eq!(add.tenant.as_deref(), Some(env.tenant.as_str()));
    assert_eq!(add.key_id.as_deref(), Some(key_id.as_str()));
    let remove = audit
        .iter()
        .find(|e| e.path.ends_with("/removePassword"))
        .unwrap();
    assert_eq!(
        (remove.status, remove.key_id.as_deref()),
        (204, Some(key_id.as_str()))
    );
    let tokens: Vec<_> = audit
        .iter()
        .filter(|e| e.path.ends_with("/oauth2/v2.0/token"))
        .collect();
    assert!(
        tokens
            .iter()
            .any(|e| e.status == 401 && e.caller_app.as_deref() == Some(env.target.app_id.as_str()))
    );
    assert!(audit.windows(2).all(|w| w[0].time <= w[1].time));

    // The secret appears nowhere: audit log (Rust and HTTP), tracing, Debug output.
    let audit_json = serde_json::to_string(&audit).unwrap();
    let audit_http = env
        .http
        .get(env.url("/_emulator/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let traced = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        traced.contains("entra emulator call"),
        "tracing output is captured"
    );
    let seeded = env
        .em
        .seed_password(&env.target.app_id, Default::default())
        .unwrap();
    let debug = format!(
        "{:?} {:?} {:?}",
        env.em,
        seeded,
        env.em.credentials(&env.target.app_id).unwrap()
    );
    for secret in [
        secret.as_str(),
        seeded.secret.expose_secret(),
        env.operator_secret.expose_secret(),
    ] {
        for (name, text) in [
            ("audit", &audit_json),
            ("audit over HTTP", &audit_http),
            ("tracing", &traced),
            ("Debug", &debug),
        ] {
            assert!(!text.contains(secret), "a secret leaked into the {name}");
        }
    }
}

#[tokio::test]
async fn error_messages_of_admin_calls_never_carry_secrets() {
    let env = env(&[]).await;
    let secret = env.operator_secret.expose_secret().to_owned();
    let r = env
        .http
        .post(env.url("/_emulator/authenticates"))
        .json(&json!({"tenant": env.tenant, "clientId": env.operator.app_id, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"authenticates": true}));
    let r = env
        .http
        .post(env.url("/_emulator/authenticates"))
        .json(&json!({"tenant": env.tenant, "clientId": 42, "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains(&secret));
}

#[tokio::test]
async fn a_whole_scenario_driven_over_the_admin_http_interface() {
    let em = sandbox::entra::Emulator::new();
    let server = serve(&em).await;
    let http = client();
    let admin = |path: &str| format!("{}/_emulator{path}", server.url());
    let post = |path: &str, body: Value| {
        let (http, url) = (http.clone(), admin(path));
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    let tenant: Value = post("/tenants", json!({"domains": ["fabrikam.onmicrosoft.com"]}))
        .await
        .json()
        .await
        .unwrap();
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    let app: Value = post(
        &format!("/tenants/{tenant}/applications"),
        json!({"displayName": "svc"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let (app_id, sp) = (
        app["appId"].as_str().unwrap().to_owned(),
        app["servicePrincipalId"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        post(
            &format!("/objects/{sp}/appRoles"),
            json!({"roles": ["Application.ReadWrite.OwnedBy"]})
        )
        .await
        .status(),
        204
    );
    assert_eq!(
        post(&format!("/objects/{app_id}/owners"), json!({"ownerId": sp}))
            .await
            .status(),
        204
    );
    let http2 = http.clone();
    let put = |path: &str, body: Value| {
        let (http, url) = (http2.clone(), admin(path));
        async move { http.put(url).json(&body).send().await.unwrap() }
    };
    let r = put(
        "/consistency",
        json!({"scope": "tenant", "id": tenant, "settings": {"propagationDelay": 15}}),
    )
    .await;
    assert_eq!(r.status(), 204);
    let seeded: Value = post(
        &format!("/objects/{app_id}/passwords"),
        json!({"displayName": "adopted", "fresh": true}),
    )
    .await
    .json()
    .await
    .unwrap();
    let secret = seeded["secretText"].as_str().unwrap().to_owned();
    assert_eq!(seeded["hint"], &secret[..3]);

    let token_request = || {
        let http = http.clone();
        let url = format!("{}/fabrikam.onmicrosoft.com/oauth2/v2.0/token", server.url());
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", app_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", GRAPH_SCOPE),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        async move { http.post(url).form(&form).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(token_request().await, 401);
    let clock: Value = post("/clock/advance", json!({"seconds": 15}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clock["offsetSeconds"], 15.0);
    assert_eq!(em.clock_offset(), Duration::from_secs(15));
    assert_eq!(token_request().await, 200);

    let creds: Value = http
        .get(admin(&format!("/objects/{app_id}/passwords")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(creds[0]["displayName"], "adopted");
    assert!(!creds.to_string().contains(&secret));

    let r = post("/tenants/nope/applications", json!({"displayName": "x"})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unknown tenant nope");
    let r = post(&format!("/tenants/{tenant}/applications"), json!({"oops": true})).await;
    assert_eq!(r.status(), 400);
    server.shutdown().await;
}
