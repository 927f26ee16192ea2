//! The Graph error envelope and the response headers every Graph answer carries.
//!
//! Invariant: every Graph response, success or error, carries `request-id` and
//! `client-request-id` (the caller's value echoed, else the request id); error bodies are
//! `{"error":{"code","message",["details"],"innerError":{"date","request-id","client-request-id"}}}`
//! with `date` in UTC **without** a timezone suffix.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use jiff::Timestamp;
use serde_json::{Value, json};

/// One `details[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ErrorDetail {
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) target: String,
}

/// A Graph error, before the per-request parts (ids, date) are added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GraphError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) details: Vec<ErrorDetail>,
    /// Extra headers (`Retry-After`, throttling, `WWW-Authenticate`).
    pub(crate) headers: Vec<(HeaderName, String)>,
}

impl GraphError {
    /// An error without details or extra headers.
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
            details: vec![],
            headers: vec![],
        }
    }

    /// Adds a response header.
    pub(crate) fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds a `details[]` entry.
    pub(crate) fn with_detail(mut self, code: &str, message: impl Into<String>, target: &str) -> Self {
        self.details.push(ErrorDetail {
            code: code.to_owned(),
            message: message.into(),
            target: target.to_owned(),
        });
        self
    }

    /// The JSON body for one request.
    pub(crate) fn body(&self, ids: &RequestIds, now: Timestamp) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": inner_error_date(now),
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        });
        if !self.details.is_empty() {
            error["details"] = self
                .details
                .iter()
                .map(|d| json!({"code": d.code, "message": d.message, "target": d.target}))
                .collect();
        }
        json!({ "error": error })
    }

    /// The full response for one request.
    pub(crate) fn into_response(self, ids: &RequestIds, now: Timestamp) -> Response {
        let body = self.body(ids, now);
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        ids.apply(response.headers_mut());
        response
    }
}

/// `innerError.date`: UTC, seconds precision, no timezone suffix (e.g. `2026-10-01T08:00:03`).
pub(crate) fn inner_error_date(now: Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The ids of one Graph request.
#[derive(Clone, Debug)]
pub(crate) struct RequestIds {
    pub(crate) request_id: String,
    pub(crate) client_request_id: String,
}

impl RequestIds {
    /// A new request id; the client's `client-request-id` echoed when it sent a usable one.
    pub(crate) fn for_request(headers: &HeaderMap) -> Self {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map_or_else(|| request_id.clone(), str::to_owned);
        Self {
            request_id,
            client_request_id,
        }
    }

    /// Adds the Graph response headers.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        set("request-id", &self.request_id);
        set("client-request-id", &self.client_request_id);
        set(
            "x-ms-ags-diagnostic",
            r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"entra-emulator"}}"#,
        );
        headers
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_inner_error_with_date_without_timezone() {
        let ids = RequestIds {
            request_id: "r".into(),
            client_request_id: "c".into(),
        };
        let now: Timestamp = "2026-10-01T08:00:03.9Z".parse().unwrap();
        let body = GraphError::new(StatusCode::BAD_REQUEST, "X", "m")
            .with_detail("D", "dm", "T")
            .body(&ids, now);
        assert_eq!(
            body,
            json!({"error": {"code": "X", "message": "m",
                "details": [{"code": "D", "message": "dm", "target": "T"}],
                "innerError": {"date": "2026-10-01T08:00:03", "request-id": "r", "client-request-id": "c"}}})
        );
    }
}
