//! The Microsoft Graph endpoints: bearer-token authentication, throttling, authorization and the
//! application / service principal / policy operations, over the directory as the configured read
//! lag shows it.
//!
//! Invariant: the order of checks is authentication (401), path (400), throttling (429), role
//! (403), existence (404), ownership (403), body and rules (400); every response carries the
//! Graph headers, and admitted ones carry `x-ms-resource-unit`.

pub(crate) mod error;
pub(crate) mod operations;
pub(crate) mod path;
pub(crate) mod query;
pub(crate) mod render;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use jiff::Timestamp;
use rand::Rng;
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use self::error::{GraphError, RequestIds};
use self::operations::WriteRules;
use self::path::{GraphRoute, PathError};
use super::access_token::{AccessTokenClaims, TokenRejection};
use super::audit::AuditNote;
use super::directory::{ObjectKey, ObjectKind};
use super::protocol::{DEFAULT_POLICY_ID, graph as gp, throttle as throttle_defaults};
use super::throttle::{self, Admission};
use super::{Emulator, State as EmState, policy, secret};

/// A successful Graph answer.
enum Success {
    Json(Value),
    NoContent,
}

pub(crate) async fn handle(
    State(em): State<Emulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ids = RequestIds::for_request(&headers);
    let now = em.now();
    let mut note = AuditNote::default();
    let mut extra: Vec<(HeaderName, String)> = Vec::new();
    let result = call(&em, &method, &uri, &headers, &body, now, &mut note, &mut extra);
    let mut response = match result {
        Ok(Success::Json(v)) => (StatusCode::OK, axum::Json(v)).into_response(),
        Ok(Success::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(&ids, now),
    };
    ids.apply(response.headers_mut());
    if response.status() == StatusCode::NO_CONTENT {
        response.headers_mut().remove(header::CONTENT_TYPE);
    }
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response.extensions_mut().insert(note);
    response
}

#[allow(clippy::too_many_arguments)]
fn call(
    em: &Emulator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
    note: &mut AuditNote,
    extra: &mut Vec<(HeaderName, String)>,
) -> Result<Success, GraphError> {
    let graph_resource = em.lock().settings.graph_resource.clone();
    let claims = authenticate(em, headers, &graph_resource, now)?;
    note.caller_app = Some(claims.appid.clone());
    note.tenant = Some(claims.tid.clone());
    let route = path::parse(uri.path()).map_err(|e| {
        let segment = match e {
            PathError::Version => uri
                .path()
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            PathError::Segment(s) => s,
        };
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    })?;
    let kind = match &route {
        GraphRoute::Collection(k)
        | GraphRoute::Object(k, _)
        | GraphRoute::AddPassword(k, _)
        | GraphRoute::RemovePassword(k, _) => *k,
        GraphRoute::DefaultAppManagementPolicy => ObjectKind::Application,
    };
    let query = query::parse(uri.query(), kind)?;
    let mut state = em.lock();
    let is_application_get = *method == Method::GET
        && matches!(
            route,
            GraphRoute::Collection(ObjectKind::Application) | GraphRoute::Object(ObjectKind::Application, _)
        );
    let cost = throttle::cost(method, is_application_get, query.select.is_some(), query.expand);
    match state.throttle.admit(&claims.tid, &claims.appid, cost, now) {
        Admission::Admitted { used_fraction } => {
            extra.push((
                HeaderName::from_static("x-ms-resource-unit"),
                cost.resource_units.to_string(),
            ));
            if used_fraction > throttle_defaults::REPORT_THRESHOLD {
                extra.push((
                    HeaderName::from_static("x-ms-throttle-limit-percentage"),
                    format!("{used_fraction:.2}"),
                ));
            }
        }
        Admission::Throttled {
            exceeded,
            retry_after_secs,
        } => {
            return Err(GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                gp::THROTTLED_CODE,
                gp::throttled_message(retry_after_secs),
            )
            .with_header(header::RETRY_AFTER, retry_after_secs.to_string())
            .with_header(
                HeaderName::from_static("x-ms-throttle-scope"),
                format!(
                    "Tenant_Application/{}/{}/{}",
                    exceeded.kind(),
                    claims.appid,
                    claims.tid
                ),
            )
            .with_header(
                HeaderName::from_static("x-ms-throttle-information"),
                exceeded.information(),
            ));
        }
    }
    let graph_root = graph_resource;
    match (method.clone(), route) {
        (Method::GET, GraphRoute::Collection(kind)) => {
            operations::authorize_read(&claims.roles)?;
            let mut value = Vec::new();
            for o in state.dir.list(&claims.tid, kind).filter(|o| o.visible(now)) {
                let rendered = render::object(o, &publisher_domain(&state, &o.tenant_id), now);
                if query.filter.as_ref().is_none_or(|f| f.matches(&rendered)) {
                    value.push(Value::Object(query::select(
                        rendered,
                        query.select.as_deref(),
                        kind,
                    )?));
                }
            }
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                render::context(&graph_root, kind.entity_set(), query.select.as_deref(), false).into(),
            );
            out.insert("value".into(), Value::Array(value));
            Ok(Success::Json(Value::Object(out)))
        }
        (Method::GET, GraphRoute::Object(kind, key)) => {
            operations::authorize_read(&claims.roles)?;
            let o = visible(&state, &claims.tid, kind, &key, now)?;
            let rendered = render::object(o, &publisher_domain(&state, &o.tenant_id), now);
            let mut out = query::select(rendered, query.select.as_deref(), kind)?;
            out.insert(
                "@odata.context".into(),
                render::context(&graph_root, kind.entity_set(), query.select.as_deref(), true).into(),
            );
            Ok(Success::Json(Value::Object(out)))
        }
        (Method::POST, GraphRoute::AddPassword(kind, key)) => {
            let grant = operations::write_grant(&claims.roles)?;
            let target = visible(&state, &claims.tid, kind, &key, now)?;
            operations::authorize_write(grant, &claims.oid, target)?;
            let input = operations::parse_add_password(body)?;
            let assigned = target
                .policy_id
                .as_ref()
                .and_then(|id| state.dir.policies.get(id))
                .cloned();
            let tenant_policy = state
                .dir
                .tenants
                .get(&target.tenant_id)
                .map(|t| t.default_policy.clone())
                .unwrap_or_default();
            let consistency = state
                .consistency
                .for_app(&target.tenant_id, &target.app_id)
                .clone();
            let credential_limit = state.settings.credential_limit;
            let state = &mut *state;
            let generated = secret::generate(&mut state.rng);
            let key_id = uuid::Builder::from_random_bytes(state.rng.random())
                .into_uuid()
                .to_string();
            let rules = WriteRules {
                policy: policy::effective(&tenant_policy, assigned.as_ref(), kind == ObjectKind::Application),
                credential_limit,
                consistency: &consistency,
            };
            let target = state
                .dir
                .find_mut(&claims.tid, kind, &key)
                .ok_or_else(|| not_found(&key))?;
            let record = operations::add_password(target, input, rules, now, &generated, key_id)?;
            note.key_id = Some(record.key_id.clone());
            let mut out = render::password(&record, Some(generated.value.expose_secret()));
            out.insert(
                "@odata.context".into(),
                format!("{graph_root}/v1.0/$metadata#microsoft.graph.passwordCredential").into(),
            );
            Ok(Success::Json(Value::Object(out)))
        }
        (Method::POST, GraphRoute::RemovePassword(kind, key)) => {
            let grant = operations::write_grant(&claims.roles)?;
            let target = visible(&state, &claims.tid, kind, &key, now)?;
            operations::authorize_write(grant, &claims.oid, target)?;
            let key_id = operations::parse_remove_password(body)?;
            note.key_id = Some(key_id.clone());
            let consistency = state
                .consistency
                .for_app(&target.tenant_id, &target.app_id)
                .clone();
            let target = state
                .dir
                .find_mut(&claims.tid, kind, &key)
                .ok_or_else(|| not_found(&key))?;
            operations::remove_password(target, &key_id, &consistency, now)?;
            Ok(Success::NoContent)
        }
        (Method::GET, GraphRoute::DefaultAppManagementPolicy) => {
            operations::authorize_policy(&claims.roles, false)?;
            let policy = state
                .dir
                .tenants
                .get(&claims.tid)
                .map(|t| t.default_policy.clone())
                .unwrap_or_default();
            let mut out = serde_json::to_value(&policy).unwrap_or_default();
            out["@odata.context"] =
                format!("{graph_root}/v1.0/$metadata#policies/defaultAppManagementPolicy/$entity").into();
            out["id"] = DEFAULT_POLICY_ID.into();
            out["displayName"] = "Default app management tenant policy".into();
            Ok(Success::Json(out))
        }
        (Method::PATCH, GraphRoute::DefaultAppManagementPolicy) => {
            operations::authorize_policy(&claims.roles, true)?;
            let tenant = state
                .dir
                .tenants
                .get_mut(&claims.tid)
                .ok_or_else(|| not_found(&ObjectKey::Id(claims.tid.clone())))?;
            tenant.default_policy = patch_policy(&tenant.default_policy, body)?;
            Ok(Success::NoContent)
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request uri.",
        )),
    }
}

fn not_found(key: &ObjectKey) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        gp::NOT_FOUND_CODE,
        gp::not_found_message(key.as_str()),
    )
}

fn visible<'a>(
    state: &'a EmState,
    tenant_id: &str,
    kind: ObjectKind,
    key: &ObjectKey,
    now: Timestamp,
) -> Result<&'a super::directory::DirObject, GraphError> {
    state
        .dir
        .find(tenant_id, kind, key)
        .filter(|o| o.visible(now))
        .ok_or_else(|| not_found(key))
}

fn publisher_domain(state: &EmState, tenant_id: &str) -> String {
    state
        .dir
        .tenants
        .get(tenant_id)
        .and_then(|t| t.domains.first().cloned())
        .unwrap_or_else(|| tenant_id.to_owned())
}

/// Merges a PATCH body into the tenant policy, as Graph does for the top-level properties.
fn patch_policy(
    current: &policy::TenantAppManagementPolicy,
    body: &[u8],
) -> Result<policy::TenantAppManagementPolicy, GraphError> {
    let patch: Map<String, Value> = serde_json::from_slice(body).map_err(|_| operations::bad_json())?;
    let mut merged = serde_json::to_value(current).unwrap_or_default();
    for (k, v) in patch {
        if matches!(
            k.as_str(),
            "isEnabled" | "applicationRestrictions" | "servicePrincipalRestrictions"
        ) {
            merged[k] = v;
        }
    }
    let bad = |m: String| GraphError::new(StatusCode::BAD_REQUEST, gp::BAD_REQUEST_CODE, m);
    let policy: policy::TenantAppManagementPolicy =
        serde_json::from_value(merged).map_err(|e| bad(e.to_string()))?;
    policy::validate(&policy.application_restrictions).map_err(|e| bad(e.to_string()))?;
    policy::validate(&policy.service_principal_restrictions).map_err(|e| bad(e.to_string()))?;
    Ok(policy)
}

/// Checks the bearer token.
fn authenticate(
    em: &Emulator,
    headers: &HeaderMap,
    graph_resource: &str,
    now: Timestamp,
) -> Result<AccessTokenClaims, GraphError> {
    let unauthorized = |message: &str| {
        GraphError::new(StatusCode::UNAUTHORIZED, gp::INVALID_TOKEN_CODE, message)
            .with_header(header::WWW_AUTHENTICATE, gp::WWW_AUTHENTICATE)
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized(gp::EMPTY_TOKEN_MESSAGE))?;
    em.signer()
        .verify(token, graph_resource, now)
        .map_err(|r| match r {
            TokenRejection::Unparseable => unauthorized(gp::UNPARSEABLE_TOKEN_MESSAGE),
            TokenRejection::Invalid => unauthorized(gp::INVALID_TOKEN_MESSAGE),
            TokenRejection::Expired => unauthorized(gp::EXPIRED_TOKEN_MESSAGE),
        })
}
