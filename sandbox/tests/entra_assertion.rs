//! Client assertions through real HTTP: certificate-signed JWTs (RS256 and PS256, `x5t#S256` and
//! `x5t` in either base64 alphabet) and federated tokens from a trusted or untrusted issuer;
//! and managed-identity tokens from IMDS.

mod entra_support;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use entra_support::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sandbox::entra::{CertificateSpec, FederatedCredentialSpec, ManagedIdentitySpec, RegisteredCertificate};
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct TestCert {
    pem: String,
    der: Vec<u8>,
    key: EncodingKey,
}

fn rsa_cert() -> TestCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["rotator.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    TestCert {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        key: EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap(),
    }
}

fn now_s(env: &Env) -> i64 {
    env.em.now().as_second()
}

fn assertion_claims(env: &Env, aud: &str) -> Value {
    let now = now_s(env);
    json!({
        "aud": aud, "iss": env.target.app_id, "sub": env.target.app_id,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600, "iat": now
    })
}

async fn assertion_request(env: &Env, client_id: &str, assertion: &str) -> reqwest::Response {
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

fn sign(alg: Algorithm, thumbprint: impl FnOnce(&mut Header), claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    thumbprint(&mut header);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn registered(env: &Env) -> (TestCert, RegisteredCertificate) {
    let cert = rsa_cert();
    let reg = env
        .em
        .register_certificate(&env.target.app_id, CertificateSpec::from_pem(&cert.pem))
        .unwrap();
    (cert, reg)
}

#[tokio::test]
async fn certificate_assertions_with_rs256_and_ps256_and_both_thumbprint_forms() {
    let env = env(&[]).await;
    let (cert, reg) = registered(&env).await;
    let sha1 = URL_SAFE_NO_PAD.decode(&reg.x5t).unwrap();
    let sha256 = URL_SAFE_NO_PAD.decode(&reg.x5t_s256).unwrap();
    let claims = assertion_claims(&env, &env.token_url());
    // (algorithm, x5t, x5t#S256)
    let cases = [
        (Algorithm::PS256, None, Some(URL_SAFE_NO_PAD.encode(&sha256))),
        (Algorithm::RS256, Some(URL_SAFE_NO_PAD.encode(&sha1)), None),
        // The Rust SDK sends the standard alphabet.
        (Algorithm::RS256, Some(STANDARD.encode(&sha1)), None),
        (Algorithm::PS256, None, Some(STANDARD.encode(&sha256))),
    ];
    for (alg, x5t, x5t_s256) in cases {
        let jwt = sign(
            alg,
            |h| {
                h.x5t = x5t;
                h.x5t_s256 = x5t_s256;
            },
            &claims,
            &cert.key,
        );
        let r = assertion_request(&env, &env.target.app_id, &jwt).await;
        assert_eq!(r.status(), 200, "{alg:?}: {}", r.text().await.unwrap());
    }
    // The keyCredential shows on reads, with the SHA-1 thumbprint as customKeyIdentifier.
    assert_eq!(
        reg.thumbprint_sha1_hex,
        sha1.iter().map(|b| format!("{b:02X}")).collect::<String>()
    );
}

#[tokio::test]
async fn certificate_registered_from_der_works_and_the_audience_may_use_the_domain() {
    let env = env(&[]).await;
    let cert = rsa_cert();
    let reg = env
        .em
        .register_certificate(&env.target.object_id, CertificateSpec::from_der(&cert.der))
        .unwrap();
    let aud = env.url("/contoso.onmicrosoft.com/oauth2/v2.0/token");
    let jwt = sign(
        Algorithm::RS256,
        |h| h.x5t_s256 = Some(reg.x5t_s256.clone()),
        &assertion_claims(&env, &aud),
        &cert.key,
    );
    assert_eq!(
        assertion_request(&env, &env.target.app_id, &jwt).await.status(),
        200
    );
}

#[tokio::test]
async fn bad_certificate_assertions_get_their_aadsts_codes() {
    let env = env(&[]).await;
    let (cert, reg) = registered(&env).await;
    let x5t = |h: &mut Header| h.x5t_s256 = Some(reg.x5t_s256.clone());
    let good = assertion_claims(&env, &env.token_url());

    // Signed by another key with the registered thumbprint.
    let other = rsa_cert();
    let jwt = sign(Algorithm::RS256, x5t, &good, &other.key);
    let body = expect_aadsts(
        assertion_request(&env, &env.target.app_id, &jwt).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
    assert!(body["error_description"].as_str().unwrap().contains("signature"));

    // A thumbprint of no registered certificate.
    let jwt = sign(
        Algorithm::RS256,
        |h| h.x5t = Some(URL_SAFE_NO_PAD.encode([7u8; 20])),
        &good,
        &cert.key,
    );
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, &jwt).await,
        401,
        "invalid_client",
        700027,
    )
    .await;

    // Audience is not this token endpoint.
    let wrong_aud = assertion_claims(&env, "https://login.microsoftonline.com/other/oauth2/v2.0/token");
    let jwt = sign(Algorithm::RS256, x5t, &wrong_aud, &cert.key);
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, &jwt).await,
        401,
        "invalid_client",
        700023,
    )
    .await;

    // iss/sub are not the client.
    let mut wrong_iss = good.clone();
    wrong_iss["sub"] = json!(env.operator.app_id);
    let jwt = sign(Algorithm::RS256, x5t, &wrong_iss, &cert.key);
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, &jwt).await,
        401,
        "invalid_client",
        700021,
    )
    .await;

    // Expired assertion (beyond the skew), then a good one after moving the clock is still fine.
    let jwt = sign(Algorithm::RS256, x5t, &good, &cert.key);
    env.em.advance(std::time::Duration::from_secs(3600));
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, &jwt).await,
        401,
        "invalid_client",
        700024,
    )
    .await;

    // Not a JWT at all.
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, "nope").await,
        400,
        "invalid_request",
        50027,
    )
    .await;
}

const ISSUER: &str = "https://oidc.cluster.example/abc";

struct Issuer {
    key: EncodingKey,
    jwks: Value,
}

fn issuer() -> Issuer {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let (n, e) = rsa_components(key.public_key_raw());
    let jwks = json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "k1",
        "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)}]});
    Issuer {
        key: EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap(),
        jwks,
    }
}

fn sa_token(env: &Env, issuer: &Issuer, sub: &str) -> String {
    let now = now_s(env);
    let claims = json!({"iss": ISSUER, "sub": sub, "aud": ["api://AzureADTokenExchange"], "iat": now, "nbf": now, "exp": now + 3600});
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("k1".into());
    jsonwebtoken::encode(&header, &claims, &issuer.key).unwrap()
}

#[tokio::test]
async fn federated_tokens_from_a_trusted_issuer_match_the_federated_credential() {
    let env = env(&[]).await;
    let issuer = issuer();
    env.em.trust_issuer(ISSUER, issuer.jwks.clone()).unwrap();
    env.em
        .add_federated_credential(
            &env.target.app_id,
            FederatedCredentialSpec::kubernetes("rotator", ISSUER, "ns1", "rotator"),
        )
        .unwrap();
    let token = sa_token(&env, &issuer, "system:serviceaccount:ns1:rotator");
    let r = assertion_request(&env, &env.target.app_id, &token).await;
    assert_eq!(r.status(), 200);
    let claims = jwt_claims(r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap());
    assert_eq!(claims["appid"], env.target.app_id);

    // Another service account: no matching record, with the documented message.
    let token = sa_token(&env, &issuer, "system:serviceaccount:ns1:other");
    let body = expect_aadsts(
        assertion_request(&env, &env.target.app_id, &token).await,
        400,
        "invalid_request",
        70021,
    )
    .await;
    assert!(body["error_description"].as_str().unwrap().contains(&format!(
        "No matching federated identity record found for presented assertion. Assertion Issuer: '{ISSUER}'. Assertion Subject: 'system:serviceaccount:ns1:other'. Assertion Audience: 'api://AzureADTokenExchange'."
    )));

    // Signed by a key the issuer's JWKS does not hold.
    let forger = self::issuer();
    let token = sa_token(&env, &forger, "system:serviceaccount:ns1:rotator");
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, &token).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
}

#[tokio::test]
async fn federated_tokens_from_an_untrusted_issuer_are_refused() {
    let env = env(&[]).await;
    let issuer = issuer();
    env.em
        .add_federated_credential(
            &env.target.app_id,
            FederatedCredentialSpec::kubernetes("rotator", ISSUER, "ns1", "rotator"),
        )
        .unwrap();
    let token = sa_token(&env, &issuer, "system:serviceaccount:ns1:rotator");
    expect_aadsts(
        assertion_request(&env, &env.target.app_id, &token).await,
        400,
        "invalid_request",
        50166,
    )
    .await;
    env.em.trust_issuer(ISSUER, issuer.jwks.clone()).unwrap();
    assert_eq!(
        assertion_request(&env, &env.target.app_id, &token).await.status(),
        200
    );
}

#[tokio::test]
async fn imds_issues_managed_identity_tokens_only_with_the_metadata_header() {
    let env = env(&[]).await;
    let mi = env
        .em
        .create_managed_identity(
            &env.tenant,
            ManagedIdentitySpec {
                display_name: "vm".into(),
                system_assigned: true,
                roles: vec!["Application.Read.All".into()],
                ..Default::default()
            },
        )
        .unwrap();
    let url = env
        .url("/metadata/identity/oauth2/token?api-version=2019-08-01&resource=https://graph.microsoft.com/");
    let r = env.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = env
        .http
        .get(&url)
        .header("Metadata", "True")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the value must be lowercase true");

    let r = env
        .http
        .get(&url)
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    for field in ["expires_in", "expires_on", "not_before"] {
        assert!(
            body[field].as_str().unwrap().parse::<i64>().is_ok(),
            "{field} is a string of digits: {body}"
        );
    }
    assert_eq!(body["resource"], "https://graph.microsoft.com/");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["client_id"], mi.client_id);
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["oid"], mi.object_id);
    assert_eq!(claims["roles"], json!(["Application.Read.All"]));
    // The token reads Graph.
    let r = env
        .graph_with(
            body["access_token"].as_str().unwrap(),
            reqwest::Method::GET,
            &format!("/applications/{}", env.target.object_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);

    let r = env
        .http
        .get(format!("{url}&client_id={}", uuid::Uuid::new_v4()))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = env
        .http
        .get(env.url("/metadata/identity/oauth2/token?api-version=2019-08-01"))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
