//! The sandbox's admin interface: JSON over HTTP under `/_sandbox`, a prefix no Kubernetes client
//! uses, so a shell (`curl`) can drive a standalone server as the Rust API drives an in-process
//! one.
//!
//! | Method + path | Body → answer | Rust |
//! |---|---|---|
//! | `GET /_sandbox/faults` | → `[{"id","rule"}]` | [`ApiServer::faults`] |
//! | `POST /_sandbox/faults` | [`FaultRule`] → `{"id"}` | [`ApiServer::inject_fault`] |
//! | `DELETE /_sandbox/faults` | → 204 | [`ApiServer::clear_faults`] |
//! | `DELETE /_sandbox/faults/{id}` | → 204 / 404 | [`ApiServer::remove_fault`] |
//! | `PUT /_sandbox/faults/seed` | `{"seed":n}` → 204 | [`ApiServer::seed_faults`] |
//! | `POST /_sandbox/watches/drop` | → 204 | [`ApiServer::drop_watches`] |
//! | `POST /_sandbox/history/compact` | → 204 | [`ApiServer::compact_history`] |
//! | `POST /_sandbox/tokens` | `{"token","user","groups"}` → 204 | [`ApiServer::add_token`] |
//! | `GET`/`DELETE /_sandbox/access-log` | → `[record]`; clear | [`ApiServer::access_log`] |
//! | `GET /_sandbox/permissions?user=<name>` | → `[{"verb","group","resource","subresource"}]` | [`coverage::permissions_used`] |
//!
//! Errors answer `{"error":"<message>"}` with 400 or 404.
//!
//! Invariant: admin requests are neither authenticated, nor subject to faults, nor recorded in the
//! access log (they are not part of what a client under test does).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::coverage;
use super::faults::FaultRule;
use super::http::read_body;
use super::{ApiServer, Shared};

/// The admin prefix.
pub const ADMIN_PREFIX: &str = "/_sandbox";

/// Whether a path belongs to the admin interface.
pub(crate) fn is_admin_path(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/_sandbox/")
}

fn reply(code: StatusCode, body: Value) -> Response {
    (code, axum::Json(body)).into_response()
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    reply(code, json!({"error": message.into()}))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
    user: String,
    #[serde(default)]
    groups: Vec<String>,
}

#[derive(Deserialize)]
struct SeedBody {
    seed: u64,
}

/// An admin failure: status and message.
type Failure = (StatusCode, String);

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid body: {e}")))
}

/// Serves an admin request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request) -> Response {
    let server = ApiServer {
        shared: shared.clone(),
    };
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match read_body(&shared, req.into_body()).await {
        Ok(b) => b,
        Err(e) => return error(StatusCode::PAYLOAD_TOO_LARGE, e.message),
    };
    let rest = path.strip_prefix(ADMIN_PREFIX).unwrap_or("");
    let result: Result<Response, Failure> = (|| {
        Ok(match (&method, rest) {
            (&Method::GET, "/faults") => {
                let list: Vec<Value> = server
                    .faults()
                    .into_iter()
                    .map(|(id, rule)| json!({"id": id, "rule": rule}))
                    .collect();
                reply(StatusCode::OK, json!(list))
            }
            (&Method::POST, "/faults") => {
                let rule: FaultRule = parse(&body)?;
                match server.inject_fault(rule) {
                    Ok(id) => reply(StatusCode::OK, json!({"id": id})),
                    Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
                }
            }
            (&Method::DELETE, "/faults") => {
                server.clear_faults();
                no_content()
            }
            (&Method::PUT, "/faults/seed") => {
                let s: SeedBody = parse(&body)?;
                server.seed_faults(s.seed);
                no_content()
            }
            (&Method::DELETE, id) if id.starts_with("/faults/") => {
                let id = id.trim_start_matches("/faults/");
                match id.parse::<u64>() {
                    Ok(id) if server.remove_fault(id) => no_content(),
                    _ => error(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
                }
            }
            (&Method::POST, "/watches/drop") => {
                server.drop_watches();
                no_content()
            }
            (&Method::POST, "/history/compact") => {
                server.compact_history();
                no_content()
            }
            (&Method::POST, "/tokens") => {
                let t: TokenBody = parse(&body)?;
                if t.token.is_empty() || t.user.is_empty() {
                    return Err((StatusCode::BAD_REQUEST, "token and user are required".into()));
                }
                let groups: Vec<&str> = t.groups.iter().map(String::as_str).collect();
                server.add_token(&t.token, &t.user, &groups);
                no_content()
            }
            (&Method::GET, "/access-log") => {
                let records: Vec<Value> = server
                    .access_log()
                    .iter()
                    .map(|r| {
                        json!({"verb": r.verb, "group": r.group, "resource": r.resource,
                            "subresource": r.subresource, "namespace": r.namespace, "name": r.name,
                            "user": r.user, "code": r.code, "resourceRequest": r.resource_request})
                    })
                    .collect();
                reply(StatusCode::OK, json!(records))
            }
            (&Method::DELETE, "/access-log") => {
                server.clear_access_log();
                no_content()
            }
            (&Method::GET, "/permissions") => {
                let user = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "user")
                    .map(|(_, v)| v.into_owned())
                    .ok_or_else(|| {
                        (
                            StatusCode::BAD_REQUEST,
                            "the user query parameter is required".to_string(),
                        )
                    })?;
                let used: Vec<Value> = coverage::permissions_used(&server.access_log(), &user)
                    .into_iter()
                    .map(|p| {
                        json!({"verb": p.verb, "group": p.group, "resource": p.resource, "subresource": p.subresource})
                    })
                    .collect();
                reply(StatusCode::OK, json!(used))
            }
            _ => error(
                StatusCode::NOT_FOUND,
                format!("no admin operation {method} {path}"),
            ),
        })
    })();
    result.unwrap_or_else(|(code, message)| error(code, message))
}
