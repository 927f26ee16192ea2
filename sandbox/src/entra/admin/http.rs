//! The admin interface over HTTP: JSON routes under `/_emulator` that call the Rust admin methods,
//! so a standalone emulator can be driven from a shell (the route table is in the module docs of
//! [`crate::entra`]).
//!
//! Invariant: a route only translates JSON to an admin call and back; bad input answers
//! `{"error":"…"}` with 400, unknown objects 404, never a panic.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{
    AdminError, ApplicationSpec, CertificateSpec, FederatedCredentialSpec, ManagedIdentitySpec, PasswordSpec,
    Settings, TenantSpec,
};
use crate::entra::Emulator;
use crate::entra::consistency::{Consistency, ConsistencyScope};
use crate::entra::faults::FaultRule;
use crate::entra::policy::{AppManagementPolicy, TenantAppManagementPolicy};
use crate::entra::throttle::ThrottleLimits;

struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match e {
            AdminError::UnknownTenant(_) | AdminError::UnknownObject(_) | AdminError::UnknownPolicy(_) => {
                StatusCode::NOT_FOUND
            }
            AdminError::Duplicate(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError(status, e.to_string())
    }
}

type ApiResult = Result<Response, ApiError>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn ok(v: impl serde::Serialize) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) fn routes() -> Router<Emulator> {
    Router::new()
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/tenants", post(create_tenant))
        .route("/tenants/{tenant}/applications", post(create_application))
        .route(
            "/tenants/{tenant}/managedIdentities",
            post(create_managed_identity),
        )
        .route(
            "/tenants/{tenant}/defaultAppManagementPolicy",
            put(set_default_policy).get(get_default_policy),
        )
        .route("/appManagementPolicies", post(create_policy))
        .route("/objects/{id}/owners", post(add_owner))
        .route("/objects/{id}/appRoles", post(grant_roles))
        .route("/objects/{id}/passwords", post(seed_password).get(credentials))
        .route("/objects/{id}/certificates", post(register_certificate))
        .route("/objects/{id}/federatedIdentityCredentials", post(add_federated))
        .route("/objects/{id}/appManagementPolicy", put(assign_policy))
        .route("/trustedIssuers", post(trust_issuer))
        .route("/consistency", put(set_consistency))
        .route("/throttling", put(set_throttling))
        .route("/settings", put(set_settings).get(get_settings))
        .route(
            "/faults",
            get(list_faults).post(inject_fault).delete(clear_faults),
        )
        .route("/faults/{id}", delete(remove_fault))
        .route("/authenticates", post(authenticates))
        .route("/audit", get(audit).delete(clear_audit))
}

fn clock_json(em: &Emulator) -> Value {
    json!({"now": em.now(), "offsetSeconds": em.clock_offset().as_secs_f64()})
}

async fn clock(State(em): State<Emulator>) -> ApiResult {
    ok(clock_json(&em))
}

async fn advance(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    struct Body {
        seconds: f64,
    }
    let b: Body = parse(&body)?;
    let by = std::time::Duration::try_from_secs_f64(b.seconds)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("seconds: {e}")))?;
    em.advance(by);
    ok(clock_json(&em))
}

async fn create_tenant(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    ok(em.create_tenant(parse::<TenantSpec>(&body)?)?)
}

async fn create_application(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> ApiResult {
    ok(em.create_application(&tenant, parse::<ApplicationSpec>(&body)?)?)
}

async fn create_managed_identity(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> ApiResult {
    ok(em.create_managed_identity(&tenant, parse::<ManagedIdentitySpec>(&body)?)?)
}

async fn set_default_policy(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> ApiResult {
    em.set_tenant_app_management_policy(&tenant, parse::<TenantAppManagementPolicy>(&body)?)?;
    no_content()
}

async fn get_default_policy(State(em): State<Emulator>, Path(tenant): Path<String>) -> ApiResult {
    ok(em.tenant_app_management_policy(&tenant)?)
}

async fn create_policy(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    ok(json!({"id": em.create_app_management_policy(parse::<AppManagementPolicy>(&body)?)?}))
}

async fn add_owner(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        owner_id: String,
    }
    em.add_owner(&id, &parse::<Body>(&body)?.owner_id)?;
    no_content()
}

async fn grant_roles(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    struct Body {
        roles: Vec<String>,
    }
    let b: Body = parse(&body)?;
    let roles: Vec<&str> = b.roles.iter().map(String::as_str).collect();
    em.grant_app_roles(&id, &roles)?;
    no_content()
}

async fn seed_password(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let p = em.seed_password(&id, parse::<PasswordSpec>(&body)?)?;
    ok(json!({
        "keyId": p.key_id,
        "hint": p.hint,
        "startDateTime": p.start,
        "endDateTime": p.end,
        "secretText": p.secret.expose_secret(),
    }))
}

async fn credentials(State(em): State<Emulator>, Path(id): Path<String>) -> ApiResult {
    ok(em.credentials(&id)?)
}

async fn register_certificate(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    ok(em.register_certificate(&id, parse::<CertificateSpec>(&body)?)?)
}

async fn add_federated(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    em.add_federated_credential(&id, parse::<FederatedCredentialSpec>(&body)?)?;
    no_content()
}

async fn assign_policy(State(em): State<Emulator>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        policy_id: Option<String>,
    }
    em.assign_app_management_policy(&id, parse::<Body>(&body)?.policy_id.as_deref())?;
    no_content()
}

async fn trust_issuer(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    struct Body {
        issuer: String,
        jwks: Value,
    }
    let b: Body = parse(&body)?;
    em.trust_issuer(&b.issuer, b.jwks)?;
    no_content()
}

async fn set_consistency(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    struct Body {
        #[serde(flatten)]
        scope: ConsistencyScope,
        settings: Consistency,
    }
    let b: Body = parse(&body)?;
    em.set_consistency(b.scope, b.settings)?;
    no_content()
}

async fn set_throttling(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    em.set_throttling(parse::<ThrottleLimits>(&body)?);
    no_content()
}

async fn set_settings(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    em.set_settings(parse::<Settings>(&body)?);
    no_content()
}

async fn get_settings(State(em): State<Emulator>) -> ApiResult {
    ok(em.settings())
}

async fn list_faults(State(em): State<Emulator>) -> ApiResult {
    let list: Vec<Value> = em
        .faults()
        .into_iter()
        .map(|(id, rule)| json!({"id": id, "rule": rule}))
        .collect();
    ok(list)
}

async fn inject_fault(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    ok(json!({"id": em.inject_fault(parse::<FaultRule>(&body)?)?}))
}

async fn clear_faults(State(em): State<Emulator>) -> ApiResult {
    em.clear_faults();
    no_content()
}

async fn remove_fault(State(em): State<Emulator>, Path(id): Path<u64>) -> ApiResult {
    if em.remove_fault(id) {
        no_content()
    } else {
        Err(ApiError(StatusCode::NOT_FOUND, format!("unknown fault {id}")))
    }
}

async fn authenticates(State(em): State<Emulator>, body: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        tenant: String,
        client_id: String,
        secret: SecretString,
    }
    let b: Body = parse(&body)?;
    ok(json!({"authenticates": em.authenticates_secret(&b.tenant, &b.client_id, &b.secret)}))
}

async fn audit(State(em): State<Emulator>) -> ApiResult {
    ok(em.audit_log())
}

async fn clear_audit(State(em): State<Emulator>) -> ApiResult {
    em.clear_audit_log();
    no_content()
}
