//! The token endpoint, `POST /{tenant}/oauth2/v2.0/token`: the client-credentials grant with a
//! client secret (form or HTTP Basic), a certificate assertion or a federated token.
//!
//! Invariant: checks run in the order Entra reports them: tenant (90002), parameters (900144,
//! 70003), scope (70011), client (700016), credential (7000218, 7000215, 7000222, 7000027…);
//! a presented secret or assertion never appears in a response, the audit log or tracing.

pub(crate) mod assertion;
pub(crate) mod error;

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};

use self::error::TokenError;
use super::access_token::AccessTokenClaims;
use super::audit::AuditNote;
use super::clock::plus;
use super::directory::{DirObject, SecretCheck, check_secret};
use super::protocol::{GRAPH_APP_ID, aadsts};
use super::secret::SecretFingerprint;
use super::{Emulator, State as EmState};

/// The only client-assertion type Entra accepts.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) async fn handle(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = em.now();
    let mut note = AuditNote::default();
    let result = issue(&em, &tenant, &headers, &body, now, &mut note);
    let mut response = match result {
        Ok(body) => {
            let mut r = axum::Json(body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            r
        }
        Err(e) => e.into_response(now, &headers),
    };
    response.extensions_mut().insert(note);
    response
}

/// `client_id` and secret from `Authorization: Basic` (RFC 6749 §2.3.1: each form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// The resource a client-credentials scope names, if it is this emulator's Graph.
fn scope_resource(scope: &str, graph_resource: &str) -> Option<String> {
    let mut scopes = scope.split_whitespace();
    let (Some(only), None) = (scopes.next(), scopes.next()) else {
        return None;
    };
    let resource = only.strip_suffix("/.default")?.trim_end_matches('/');
    (resource.eq_ignore_ascii_case(graph_resource) || resource.eq_ignore_ascii_case(GRAPH_APP_ID))
        .then(|| graph_resource.to_owned())
}

/// The audiences a certificate assertion may carry: this endpoint's URL as the client reached it
/// (http or https, tenant by id, by any domain or as written, v2.0 or v1 path).
fn token_urls(
    headers: &HeaderMap,
    tenant_as_written: &str,
    tenant_id: &str,
    domains: &[String],
) -> Vec<String> {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return vec![];
    };
    let mut tenants = vec![tenant_as_written.to_owned(), tenant_id.to_owned()];
    tenants.extend(domains.iter().cloned());
    let mut urls = Vec::new();
    for scheme in ["https", "http"] {
        for t in &tenants {
            for path in ["oauth2/v2.0/token", "oauth2/token"] {
                urls.push(format!("{scheme}://{host}/{t}/{path}"));
            }
        }
    }
    urls
}

fn issue(
    em: &Emulator,
    tenant_name: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
    note: &mut AuditNote,
) -> Result<Value, TokenError> {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let basic = basic_credentials(headers);
    let mut state = em.lock();
    let tenant = state
        .dir
        .tenant(tenant_name)
        .ok_or_else(|| TokenError::new(aadsts::UNKNOWN_TENANT, aadsts::unknown_tenant(tenant_name)))?;
    let (tenant_id, domains, tenant_display) = (
        tenant.id.clone(),
        tenant.domains.clone(),
        tenant.display_name.clone(),
    );
    note.tenant = Some(tenant_id.clone());
    let param = |name: &str| form.get(name).filter(|v| !v.is_empty());
    let missing = |name: &str| TokenError::new(aadsts::MISSING_PARAMETER, aadsts::missing_parameter(name));
    let grant = param("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant != "client_credentials" {
        return Err(TokenError::new(
            aadsts::UNSUPPORTED_GRANT,
            aadsts::unsupported_grant(grant),
        ));
    }
    let client_id = param("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|(id, _)| id.clone()))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| missing("client_id"))?;
    note.caller_app = Some(client_id.clone());
    let scope = param("scope").ok_or_else(|| missing("scope"))?;
    let resource = scope_resource(scope, &state.settings.graph_resource)
        .ok_or_else(|| TokenError::new(aadsts::INVALID_SCOPE, aadsts::invalid_scope(scope)))?;
    let sp = state
        .dir
        .service_principal(&tenant_id, &client_id)
        .ok_or_else(|| {
            TokenError::new(
                aadsts::UNKNOWN_APP,
                aadsts::unknown_app(&client_id, &tenant_display),
            )
        })?;
    let (sp_id, app_id, roles) = (
        sp.id.clone(),
        sp.app_id.clone(),
        sp.roles.iter().cloned().collect::<Vec<_>>(),
    );
    note.caller_app = Some(app_id.clone());

    let secret = param("client_secret")
        .cloned()
        .or_else(|| basic.map(|(_, s)| s))
        .filter(|s| !s.is_empty());
    if let Some(secret) = secret {
        let consistency = state.consistency.for_app(&tenant_id, &app_id).clone();
        let state = &mut *state;
        let stale = (consistency.stale_fraction > 0.0
            && state.rng.random_bool(consistency.stale_fraction.clamp(0.0, 1.0)))
        .then_some(consistency.stale_lag);
        let holders: Vec<&DirObject> = state.dir.credential_holders(&tenant_id, &app_id);
        match check_secret(&holders, &SecretFingerprint::of(&secret), now, stale) {
            SecretCheck::Valid => {}
            SecretCheck::Invalid => {
                return Err(TokenError::new(
                    aadsts::INVALID_SECRET,
                    aadsts::invalid_secret(&app_id),
                ));
            }
            SecretCheck::Expired => {
                return Err(TokenError::new(
                    aadsts::EXPIRED_SECRET,
                    aadsts::expired_secret(&app_id),
                ));
            }
        }
    } else if let Some(assertion) = param("client_assertion") {
        let assertion_type =
            param("client_assertion_type").ok_or_else(|| missing("client_assertion_type"))?;
        if assertion_type != JWT_BEARER {
            return Err(TokenError::new(
                aadsts::MALFORMED_ASSERTION,
                aadsts::MALFORMED_ASSERTION_TEXT,
            ));
        }
        let holders = state.dir.credential_holders(&tenant_id, &app_id);
        let urls = token_urls(headers, tenant_name, &tenant_id, &domains);
        assertion::verify(&state.dir, &holders, &app_id, assertion, &urls, now)?;
    } else {
        return Err(TokenError::new(aadsts::NO_CREDENTIAL, aadsts::NO_CREDENTIAL_TEXT));
    }

    let lifetime = state.settings.token_lifetime;
    let token = mint(
        em, &mut state, &tenant_id, &app_id, &sp_id, roles, &resource, now, lifetime,
    );
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": token,
    }))
}

/// Signs an access token for a service principal.
#[allow(clippy::too_many_arguments)]
pub(crate) fn mint(
    em: &Emulator,
    state: &mut EmState,
    tenant_id: &str,
    app_id: &str,
    sp_id: &str,
    roles: Vec<String>,
    resource: &str,
    now: Timestamp,
    lifetime: std::time::Duration,
) -> String {
    let uti: [u8; 16] = state.rng.random();
    let claims = AccessTokenClaims {
        aud: resource.to_owned(),
        iss: format!("https://sts.windows.net/{tenant_id}/"),
        iat: now.as_second(),
        nbf: now.as_second(),
        exp: plus(now, lifetime).as_second(),
        appid: app_id.to_owned(),
        azp: app_id.to_owned(),
        oid: sp_id.to_owned(),
        sub: sp_id.to_owned(),
        tid: tenant_id.to_owned(),
        roles,
        idtyp: "app".to_owned(),
        ver: "1.0".to_owned(),
        uti: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uti),
    };
    em.signer().sign(&claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_must_be_this_graph_with_default_suffix() {
        let g = "https://graph.microsoft.com";
        assert_eq!(
            scope_resource("https://graph.microsoft.com/.default", g).as_deref(),
            Some(g)
        );
        assert_eq!(
            scope_resource("00000003-0000-0000-c000-000000000000/.default", g).as_deref(),
            Some(g)
        );
        assert_eq!(scope_resource("https://graph.microsoft.com/User.Read", g), None);
        assert_eq!(scope_resource("https://graph.microsoft.us/.default", g), None);
        assert_eq!(
            scope_resource("https://graph.microsoft.com/.default openid", g),
            None
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode("id:a%7Eb%3Ac"));
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(("id".into(), "a~b:c".into())));
    }
}
