//! The token endpoint's error body.
//!
//! Invariant: every error carries `error`, `error_description` (text, then `Trace ID`,
//! `Correlation ID` and `Timestamp` lines joined by CRLF), `error_codes`, `timestamp`
//! (`YYYY-MM-DD HH:MM:SSZ`, a space not a `T`), `trace_id`, `correlation_id` and `error_uri`.
//! The text never contains a presented secret or assertion.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use jiff::Timestamp;
use serde_json::json;

use crate::entra::protocol::AUTHORITY_HOST;
use crate::entra::protocol::aadsts::Kind;

/// An AADSTS error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenError {
    pub(crate) kind: Kind,
    pub(crate) text: String,
}

impl TokenError {
    pub(crate) fn new(kind: Kind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }

    /// The timestamp format of error bodies.
    pub(crate) fn timestamp(now: Timestamp) -> String {
        now.strftime("%Y-%m-%d %H:%M:%SZ").to_string()
    }

    /// The JSON body, with the given trace and correlation ids.
    pub(crate) fn body(&self, now: Timestamp, trace_id: &str, correlation_id: &str) -> serde_json::Value {
        let ts = Self::timestamp(now);
        let code = self.kind.code;
        json!({
            "error": self.kind.error,
            "error_description": format!(
                "AADSTS{code}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {ts}",
                self.text
            ),
            "error_codes": [code],
            "timestamp": ts,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{AUTHORITY_HOST}/error?code={code}"),
        })
    }

    /// The response; the correlation id echoes a GUID `client-request-id`, else is new.
    pub(crate) fn into_response(self, now: Timestamp, headers: &HeaderMap) -> Response {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| uuid::Uuid::parse_str(v).ok())
            .unwrap_or_else(uuid::Uuid::new_v4)
            .to_string();
        let body = self.body(now, &trace_id, &correlation_id);
        let mut response = (self.kind.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::protocol::aadsts;

    #[test]
    fn body_has_every_documented_field() {
        let now: Timestamp = "2026-10-01T08:00:05.5Z".parse().unwrap();
        let body = TokenError::new(aadsts::INVALID_SECRET, "x").body(now, "t", "c");
        assert_eq!(
            body,
            json!({
                "error": "invalid_client",
                "error_description": "AADSTS7000215: x\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-10-01 08:00:05Z",
                "error_codes": [7000215],
                "timestamp": "2026-10-01 08:00:05Z",
                "trace_id": "t",
                "correlation_id": "c",
                "error_uri": "https://login.microsoftonline.com/error?code=7000215",
            })
        );
    }
}
