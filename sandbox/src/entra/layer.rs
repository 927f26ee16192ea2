//! The HTTP shell around the protocol endpoints: routing, fault injection, the audit log and
//! tracing of every call.
//!
//! Invariant: every protocol call (token, IMDS, Graph, JWKS, unknown paths) yields exactly one
//! audit entry, including calls answered by an injected fault or dropped; admin routes yield none.
//! Tracing records method, path, status and fault id only: never headers or bodies.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::audit::{AuditEntry, AuditNote, redact_query};
use super::faults::Outcome;
use super::graph::error::{GraphError, RequestIds};
use super::protocol::{aadsts, graph as gp};
use super::token::error::TokenError;
use super::{Emulator, admin, graph, imds, token};

/// Marks a response whose connection the server must close without answering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DropConnection;

pub(crate) fn router(em: Emulator) -> Router {
    let protocol = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::handle))
        .route("/{tenant}/discovery/v2.0/keys", get(jwks))
        .route("/metadata/identity/oauth2/token", get(imds::handle))
        .route("/v1.0/{*rest}", any(graph::handle))
        .fallback(unknown_path)
        .layer(axum::middleware::from_fn_with_state(em.clone(), protocol_layer));
    Router::new()
        .nest("/_emulator", admin::http::routes())
        .merge(protocol)
        .with_state(em)
}

async fn jwks(State(em): State<Emulator>) -> Response {
    axum::Json(em.signer().jwks()).into_response()
}

async fn unknown_path(State(em): State<Emulator>, headers: HeaderMap, uri: http::Uri) -> Response {
    let ids = RequestIds::for_request(&headers);
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        format!(
            "Resource not found for the segment '{}'.",
            uri.path().trim_start_matches('/')
        ),
    )
    .into_response(&ids, em.now())
}

async fn protocol_layer(State(em): State<Emulator>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(redact_query);
    let time = em.now();
    let triggered = {
        let mut state = em.lock();
        let state = &mut *state;
        state.faults.evaluate(method.as_str(), &path, &mut state.rng)
    };
    if !triggered.latency.is_zero() {
        tokio::time::sleep(triggered.latency).await;
    }
    let (response, fault) = match triggered.outcome {
        Some((id, Outcome::Drop)) => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(DropConnection);
            (response, Some(id))
        }
        Some((id, Outcome::LoseResponse)) => {
            let mut response = next.run(req).await;
            response.extensions_mut().insert(DropConnection);
            (response, Some(id))
        }
        Some((id, Outcome::Status { status, retry_after })) => (
            fault_response(&em, &path, req.headers(), status, retry_after),
            Some(id),
        ),
        None => (next.run(req).await, None),
    };
    let note = response
        .extensions()
        .get::<AuditNote>()
        .cloned()
        .unwrap_or_default();
    let status = if response.extensions().get::<DropConnection>().is_some() {
        0
    } else {
        response.status().as_u16()
    };
    tracing::debug!(method = %method, path = %path, status, fault, "entra emulator call");
    em.lock().audit.push(AuditEntry {
        time,
        method: method.to_string(),
        path,
        query,
        caller_app: note.caller_app,
        tenant: note.tenant,
        status,
        key_id: note.key_id,
        fault,
    });
    response
}

/// The answer of an injected status fault, in the format of the endpoint it hits.
fn fault_response(
    em: &Emulator,
    path: &str,
    headers: &HeaderMap,
    status: u16,
    retry_after: Option<u64>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let now = em.now();
    let mut response = if path.ends_with("/oauth2/v2.0/token") {
        let (kind, text) = if status == StatusCode::TOO_MANY_REQUESTS {
            (aadsts::THROTTLED, aadsts::THROTTLED_TEXT)
        } else {
            (aadsts::RETRYABLE, aadsts::RETRYABLE_TEXT)
        };
        TokenError::new(aadsts::Kind { status, ..kind }, text).into_response(now, headers)
    } else if path.starts_with("/metadata/") {
        let body = serde_json::json!({"error": "service_unavailable", "error_description": "Injected fault"});
        (status, axum::Json(body)).into_response()
    } else {
        let message = status.canonical_reason().unwrap_or("Error").to_owned();
        GraphError::new(status, gp::fault_code(status), message)
            .into_response(&RequestIds::for_request(headers), now)
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}
