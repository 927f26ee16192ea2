//! Kubernetes `Status` error bodies: the one type every failing request turns into.
//!
//! Invariant: every error the API server returns is an [`ApiError`] rendered as a `Status` object
//! (`kind: Status`, `apiVersion: v1`, `metadata: {}`, `status: Failure`, `message`, `reason`,
//! `details`, `code`), with the exact reason strings and message shapes of kube-apiserver.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

/// One field-level cause in `details.causes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// Machine-readable reason, e.g. `FieldValueInvalid`.
    pub reason: String,
    /// Human-readable message, e.g. `Invalid value: "x": ...`.
    pub message: String,
    /// Field path, e.g. `metadata.name`.
    pub field: String,
}

/// `details` of a `Status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    /// Object name.
    pub name: Option<String>,
    /// API group (omitted for the core group).
    pub group: Option<String>,
    /// Kind or resource, as kube-apiserver puts it for this reason.
    pub kind: Option<String>,
    /// UID (on successful deletes).
    pub uid: Option<String>,
    /// Field causes.
    pub causes: Vec<Cause>,
    /// Seconds a client should wait before retrying.
    pub retry_after_seconds: Option<u64>,
}

impl Details {
    /// Details naming an object of a resource in a group (empty group omitted).
    pub fn named(name: &str, group: &str, kind: &str) -> Self {
        Details {
            name: Some(name.to_string()),
            group: (!group.is_empty()).then(|| group.to_string()),
            kind: Some(kind.to_string()),
            ..Default::default()
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(n) = &self.name {
            m.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            m.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            m.insert("kind".into(), json!(k));
        }
        if let Some(u) = &self.uid {
            m.insert("uid".into(), json!(u));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            m.insert("causes".into(), Value::Array(causes));
        }
        if let Some(r) = self.retry_after_seconds {
            m.insert("retryAfterSeconds".into(), json!(r));
        }
        Value::Object(m)
    }
}

/// A failed request, as kube-apiserver would report it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `reason` (e.g. `NotFound`); empty for a bare 500.
    pub reason: String,
    /// `message`.
    pub message: String,
    /// `details`; `None` omits the field, `Some(default)` renders `{}`. Boxed to keep results small.
    pub details: Option<Box<Details>>,
    /// `metadata.continue` (410 on a list continuation whose snapshot is gone).
    pub continue_token: Option<String>,
}

impl ApiError {
    /// A new error.
    pub fn new(code: u16, reason: &str, message: impl Into<String>, details: Option<Details>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: details.map(Box::new),
            continue_token: None,
        }
    }

    /// 404 NotFound for an object: `secrets "x" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(plural, group)),
            Some(Details::named(name, group, plural)),
        )
    }

    /// 404 for a path that names no resource the server knows.
    pub fn no_such_resource() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(Details::default()),
        )
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(plural, group)),
            Some(Details::named(name, group, plural)),
        )
    }

    /// 409 Conflict with kube-apiserver's optimistic-concurrency message.
    pub fn conflict_modified(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 409 Conflict: `Operation cannot be fulfilled on <resource> "<name>": <why>`.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(plural, group)
            ),
            Some(Details::named(name, group, plural)),
        )
    }

    /// 400 BadRequest without details.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message, None)
    }

    /// 422 Invalid with field causes: `<Kind> "<name>" is invalid: <field>: <msg>` (bracketed list when
    /// there are several).
    pub fn invalid(qualified_kind: &str, group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let parts: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let joined = if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("[{}]", parts.join(", "))
        };
        let mut details = Details::named(name, group, kind);
        details.causes = causes;
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
            Some(details),
        )
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(Details::default()),
        )
    }

    /// 410 Expired for a resourceVersion that has left the history window.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {requested} ({oldest})"),
            None,
        )
    }

    /// 413 RequestEntityTooLarge.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
            None,
        )
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            None,
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(Details {
                causes: vec![],
                ..Default::default()
            }),
        )
    }

    /// The error a `Status` body describes (the field-semantics libraries answer with `Status`
    /// bodies); `to_status` of the result renders the same body again.
    pub fn from_status(status: &Value) -> Self {
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let details = status.get("details").and_then(Value::as_object).map(|d| {
            let opt = |k: &str| d.get(k).and_then(Value::as_str).map(String::from);
            Box::new(Details {
                name: opt("name"),
                group: opt("group"),
                kind: opt("kind"),
                uid: opt("uid"),
                causes: d
                    .get("causes")
                    .and_then(Value::as_array)
                    .map(|cs| {
                        cs.iter()
                            .map(|c| Cause {
                                reason: s(c, "reason"),
                                message: s(c, "message"),
                                field: s(c, "field"),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                retry_after_seconds: d.get("retryAfterSeconds").and_then(Value::as_u64),
            })
        });
        ApiError {
            code: status
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(500),
            reason: s(status, "reason"),
            message: s(status, "message"),
            details,
            continue_token: None,
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        match &self.continue_token {
            Some(c) => m.insert("metadata".into(), json!({"continue": c})),
            None => m.insert("metadata".into(), json!({})),
        };
        m.insert("status".into(), json!("Failure"));
        m.insert("message".into(), json!(self.message));
        if !self.reason.is_empty() {
            m.insert("reason".into(), json!(self.reason));
        }
        if let Some(d) = &self.details {
            m.insert("details".into(), d.to_json());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }
}

/// `secrets` or `widgets.example.com`: how kube-apiserver names a resource in messages.
pub fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// A successful-delete `Status` (`status: Success`) with the deleted object's details.
pub fn success_status(details: Details) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details.to_json(),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        // As kube-apiserver's ErrorNegotiated: a retry delay in the details is also a header.
        if let Some(seconds) = self.details.as_ref().and_then(|d| d.retry_after_seconds)
            && seconds > 0
        {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_kube_apiserver() {
        let s = ApiError::not_found("conformance.example.com", "widgets", "wf").to_status();
        assert_eq!(s["message"], "widgets.conformance.example.com \"wf\" not found");
        assert_eq!(
            s["details"],
            json!({"name": "wf", "group": "conformance.example.com", "kind": "widgets"})
        );
        assert_eq!(s["code"], 404);
    }

    #[test]
    fn library_status_bodies_round_trip() {
        let bodies = [
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Apply failed with 1 conflict: conflict with \"alpha\": .data.k", "reason": "Conflict",
                "details": {"causes": [{"reason": "FieldManagerConflict", "message": "conflict with \"alpha\"", "field": ".data.k"}]},
                "code": 409}),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "x", "reason": "Invalid", "details": {}, "code": 422}),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "unknown merge directive", "code": 500}),
        ];
        for b in bodies {
            assert_eq!(ApiError::from_status(&b).to_status(), b);
        }
    }

    #[test]
    fn invalid_joins_several_causes_in_brackets() {
        let c = |f: &str| Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: f.into(),
        };
        let e = ApiError::invalid("Widget.g", "g", "Widget", "w", vec![c("a"), c("b")]);
        assert_eq!(
            e.message,
            "Widget.g \"w\" is invalid: [a: Required value, b: Required value]"
        );
        let e = ApiError::invalid("Secret", "", "Secret", "w", vec![c("a")]);
        assert_eq!(e.message, "Secret \"w\" is invalid: a: Required value");
    }
}
