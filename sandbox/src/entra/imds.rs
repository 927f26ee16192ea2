//! Azure Instance Metadata Service, managed-identity tokens:
//! `GET /metadata/identity/oauth2/token?api-version=…&resource=…[&client_id|object_id|msi_res_id=…]`.
//!
//! Invariant: without the exact header `Metadata: true` nothing is issued (400), as IMDS does
//! against SSRF; numeric fields of the answer are strings.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;

use super::audit::AuditNote;
use super::clock::plus;
use super::directory::ManagedIdentity;
use super::protocol::{GRAPH_APP_ID, imds as msg};
use super::{Emulator, token};

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// Picks the identity a request names, or the only/system-assigned one.
fn select<'a>(
    identities: &'a [ManagedIdentity],
    params: &HashMap<String, String>,
) -> Result<&'a ManagedIdentity, &'static str> {
    let by = |key: &str, f: fn(&ManagedIdentity, &str) -> bool| {
        params
            .get(key)
            .map(|v| identities.iter().find(|m| f(m, v)).ok_or(msg::IDENTITY_NOT_FOUND))
    };
    if let Some(r) = by("client_id", |m, v| m.client_id.eq_ignore_ascii_case(v))
        .or_else(|| by("object_id", |m, v| m.object_id.eq_ignore_ascii_case(v)))
        .or_else(|| by("principal_id", |m, v| m.object_id.eq_ignore_ascii_case(v)))
        .or_else(|| {
            by("msi_res_id", |m, v| {
                m.resource_id
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(v))
            })
        })
        .or_else(|| {
            by("mi_res_id", |m, v| {
                m.resource_id
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(v))
            })
        })
    {
        return r;
    }
    if let Some(system) = identities.iter().find(|m| m.system_assigned) {
        return Ok(system);
    }
    match identities {
        [only] => Ok(only),
        [] => Err(msg::IDENTITY_NOT_FOUND),
        _ => Err(msg::AMBIGUOUS_IDENTITY),
    }
}

pub(crate) async fn handle(
    State(em): State<Emulator>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            msg::MISSING_METADATA_HEADER,
        );
    }
    for required in ["api-version", "resource"] {
        if params.get(required).is_none_or(|v| v.is_empty()) {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &msg::missing_query(required),
            );
        }
    }
    let resource = &params["resource"];
    let now = em.now();
    let mut state = em.lock();
    let graph = state.settings.graph_resource.clone();
    let wanted = resource.trim_end_matches('/');
    if !wanted.eq_ignore_ascii_case(&graph) && !wanted.eq_ignore_ascii_case(GRAPH_APP_ID) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            &format!("AADSTS500011: The resource principal named {resource} was not found in the tenant."),
        );
    }
    let identity = match select(&state.dir.managed_identities, &params) {
        Ok(m) => m.clone(),
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", e),
    };
    let roles = state
        .dir
        .objects
        .get(&identity.object_id)
        .map(|o| o.roles.iter().cloned().collect())
        .unwrap_or_default();
    let lifetime = state.settings.imds_token_lifetime;
    let token = token::mint(
        &em,
        &mut state,
        &identity.tenant_id,
        &identity.client_id,
        &identity.object_id,
        roles,
        &graph,
        now,
        lifetime,
    );
    drop(state);
    let expires_on = plus(now, lifetime).as_second();
    let mut response = axum::Json(json!({
        "access_token": token,
        "client_id": identity.client_id,
        "expires_in": lifetime.as_secs().to_string(),
        "expires_on": expires_on.to_string(),
        "ext_expires_in": lifetime.as_secs().to_string(),
        "not_before": now.as_second().to_string(),
        "refresh_token": "",
        "resource": resource,
        "token_type": "Bearer",
    }))
    .into_response();
    response.extensions_mut().insert(AuditNote {
        caller_app: Some(identity.client_id),
        tenant: Some(identity.tenant_id),
        key_id: None,
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mi(client: &str, system: bool) -> ManagedIdentity {
        ManagedIdentity {
            client_id: client.into(),
            object_id: format!("{client}-oid"),
            tenant_id: "t".into(),
            resource_id: Some(format!("/subscriptions/s/{client}")),
            system_assigned: system,
        }
    }

    #[test]
    fn identity_selection_follows_imds_rules() {
        let p = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
        let none = HashMap::new();
        assert_eq!(select(&[mi("a", false)], &none).unwrap().client_id, "a");
        assert_eq!(
            select(&[mi("a", false), mi("b", false)], &none).unwrap_err(),
            msg::AMBIGUOUS_IDENTITY
        );
        assert_eq!(
            select(&[mi("a", false), mi("b", true)], &none).unwrap().client_id,
            "b"
        );
        let ids = [mi("a", false), mi("b", true)];
        assert_eq!(select(&ids, &p("client_id", "A")).unwrap().client_id, "a");
        assert_eq!(select(&ids, &p("object_id", "a-oid")).unwrap().client_id, "a");
        assert_eq!(
            select(&ids, &p("msi_res_id", "/subscriptions/s/a"))
                .unwrap()
                .client_id,
            "a"
        );
        assert_eq!(
            select(&ids, &p("client_id", "zzz")).unwrap_err(),
            msg::IDENTITY_NOT_FOUND
        );
        assert_eq!(select(&[], &none).unwrap_err(), msg::IDENTITY_NOT_FOUND);
    }
}
