//! Shared set-up for the Entra emulator tests: a served emulator, a tenant, an operator
//! application with Graph roles, a target application, and helpers that speak the protocol with
//! plain reqwest (no emulator internals).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sandbox::entra::{ApplicationSpec, CreatedApplication, Emulator, PasswordSpec, ServerHandle, TenantSpec};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

pub struct Env {
    pub em: Emulator,
    pub server: ServerHandle,
    pub http: reqwest::Client,
    pub tenant: String,
    /// The operator: an application whose service principal gets Graph roles.
    pub operator: CreatedApplication,
    pub operator_secret: SecretString,
    /// The application whose secrets are rotated.
    pub target: CreatedApplication,
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("reqwest client")
}

pub async fn serve(em: &Emulator) -> ServerHandle {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    em.serve(addr).await.expect("serve emulator")
}

/// An emulator with a tenant (domain `contoso.onmicrosoft.com`), an operator app granted
/// `roles`, and a target app.
pub async fn env_with(em: Emulator, roles: &[&str]) -> Env {
    let server = serve(&em).await;
    let tenant = em
        .create_tenant(TenantSpec {
            display_name: Some("Contoso".into()),
            domains: vec!["contoso.onmicrosoft.com".into()],
            ..Default::default()
        })
        .unwrap()
        .id;
    let operator = em
        .create_application(&tenant, ApplicationSpec::new("secret-rotator"))
        .unwrap();
    em.grant_app_roles(operator.service_principal_id.as_deref().unwrap(), roles)
        .unwrap();
    let operator_secret = em
        .seed_password(&operator.app_id, PasswordSpec::default())
        .unwrap()
        .secret;
    let target = em
        .create_application(&tenant, ApplicationSpec::new("payments-api"))
        .unwrap();
    Env {
        em,
        server,
        http: client(),
        tenant,
        operator,
        operator_secret,
        target,
    }
}

pub async fn env(roles: &[&str]) -> Env {
    env_with(Emulator::new(), roles).await
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub fn token_url(&self) -> String {
        self.url(&format!("/{}/oauth2/v2.0/token", self.tenant))
    }

    /// A client-credentials request with a secret in the form.
    pub async fn token_request(&self, client_id: &str, secret: &str) -> reqwest::Response {
        self.http
            .post(self.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", GRAPH_SCOPE),
            ])
            .send()
            .await
            .unwrap()
    }

    /// An access token for the operator.
    pub async fn operator_token(&self) -> String {
        let r = self
            .token_request(&self.operator.app_id, self.operator_secret.expose_secret())
            .await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A Graph call with the operator's token.
    pub async fn graph(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let token = self.operator_token().await;
        self.graph_with(&token, method, path, body).await
    }

    pub async fn graph_with(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, self.url(&format!("/v1.0{path}")))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    pub async fn add_password(&self, path_prefix: &str, body: Value) -> reqwest::Response {
        self.graph(
            reqwest::Method::POST,
            &format!("{path_prefix}/addPassword"),
            Some(body),
        )
        .await
    }
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Asserts the documented shape of a token-endpoint error and returns the body.
pub async fn expect_aadsts(r: reqwest::Response, status: u16, error: &str, code: u64) -> Value {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    let lines: Vec<&str> = description.split("\r\n").collect();
    assert_eq!(lines.len(), 4, "{description}");
    assert_eq!(
        lines[1],
        format!("Trace ID: {}", body["trace_id"].as_str().unwrap())
    );
    assert_eq!(
        lines[2],
        format!("Correlation ID: {}", body["correlation_id"].as_str().unwrap())
    );
    let ts = body["timestamp"].as_str().unwrap();
    assert_eq!(lines[3], format!("Timestamp: {ts}"));
    assert_eq!(ts.len(), "2026-10-01 08:00:05Z".len(), "{ts}");
    assert_eq!(&ts[10..11], " ");
    assert!(ts.ends_with('Z'));
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    body
}

/// Asserts a Graph error envelope and returns it.
pub async fn expect_graph_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status);
    assert!(r.headers().contains_key("request-id"));
    assert!(r.headers().contains_key("client-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    let date = body["error"]["innerError"]["date"].as_str().unwrap();
    assert_eq!(
        date.len(),
        "2026-10-01T08:00:03".len(),
        "date without timezone: {date}"
    );
    assert!(date.parse::<jiff::civil::DateTime>().is_ok());
    assert!(body["error"]["innerError"]["request-id"].is_string());
    body
}

/// `n` and `e` of a PKCS#1 `RSAPublicKey` (SEQUENCE { INTEGER n, INTEGER e }), for JWKS.
pub fn rsa_components(pkcs1: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn read(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let tag = der[0];
        let (len, header) = if der[1] & 0x80 == 0 {
            (der[1] as usize, 2)
        } else {
            let n = (der[1] & 0x7f) as usize;
            (
                der[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | *b as usize),
                2 + n,
            )
        };
        (tag, &der[header..header + len], &der[header + len..])
    }
    let (tag, seq, _) = read(pkcs1);
    assert_eq!(tag, 0x30);
    let (_, n, rest) = read(seq);
    let (_, e, _) = read(rest);
    let strip = |v: &[u8]| v.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>();
    (strip(n), strip(e))
}
