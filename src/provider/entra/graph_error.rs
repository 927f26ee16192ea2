//! Graph's error envelope (`{"error": {"code", "message", "innerError", "details"}}`) and the
//! classification of a failed Graph response into what the client does next.
//!
//! Invariants:
//! * decisions key on the HTTP status and `error.code`, never on the message, except for the
//!   unverified facts of [`super::hypotheses`];
//! * `innerError`/`innererror` (any case) is found, and its `request-id` ends up in error messages
//!   so a failure can be traced at Microsoft;
//! * classification is a pure function of status and body.

use serde_json::{Map, Value};

use super::hypotheses;
use crate::provider::{ProviderError, Reason};

/// A Graph error response, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphError {
    /// HTTP status.
    pub status: u16,
    /// `error.code` (empty when the body was not a Graph error).
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.details[].code`.
    pub detail_codes: Vec<String>,
    /// `error.innerError.request-id`, or the `request-id` header.
    pub request_id: Option<String>,
}

/// What a failed Graph response means for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GraphFailure {
    /// Retry with back-off (429, 503, 504), honouring any `Retry-After`.
    Transient(Reason),
    /// The operator's access token was refused: drop the cached token and retry once.
    InvalidToken,
    /// The object does not exist (or a replica has not seen it yet).
    NotFound,
    /// removePassword: the key is not (or no longer) there.
    KeyAlreadyGone,
    /// Final, with this reason.
    Final(Reason),
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn str_ci(map: &Map<String, Value>, key: &str) -> Option<String> {
    get_ci(map, key).and_then(Value::as_str).map(str::to_owned)
}

impl GraphError {
    /// Parses a failed response. A body that is not a Graph error still gives a usable value.
    pub fn parse(status: u16, body: &[u8], request_id_header: Option<&str>) -> Self {
        let mut error = GraphError {
            status,
            request_id: request_id_header.map(str::to_owned),
            ..Self::default()
        };
        let Ok(Value::Object(root)) = serde_json::from_slice::<Value>(body) else {
            return error;
        };
        let Some(Value::Object(inner)) = get_ci(&root, "error") else {
            return error;
        };
        error.code = str_ci(inner, "code").unwrap_or_default();
        error.message = str_ci(inner, "message").unwrap_or_default();
        if let Some(Value::Array(details)) = get_ci(inner, "details") {
            error.detail_codes = details
                .iter()
                .filter_map(|d| d.as_object().and_then(|d| str_ci(d, "code")))
                .collect();
        }
        if let Some(Value::Object(inner_error)) = get_ci(inner, "innerError")
            && let Some(id) = str_ci(inner_error, "request-id")
        {
            error.request_id = Some(id);
        }
        error
    }

    /// What the failure means.
    pub fn classify(&self) -> GraphFailure {
        let code = self.code.as_str();
        if code.eq_ignore_ascii_case(hypotheses::LIFETIME_POLICY_CODE) {
            return GraphFailure::Final(Reason::LifetimeExceedsPolicy);
        }
        if code.eq_ignore_ascii_case(hypotheses::CREDENTIAL_TYPE_POLICY_CODE) {
            return GraphFailure::Final(Reason::CredentialTypeNotAllowed);
        }
        if (400..500).contains(&self.status) && hypotheses::is_password_limit(code, &self.message) {
            return GraphFailure::Final(Reason::PasswordLimitReached);
        }
        if (400..500).contains(&self.status) && hypotheses::is_no_password_credential_found(&self.message) {
            return GraphFailure::KeyAlreadyGone;
        }
        match self.status {
            429 => GraphFailure::Transient(Reason::Throttled),
            503 | 504 => GraphFailure::Transient(Reason::ProviderUnavailable),
            401 => GraphFailure::InvalidToken,
            403 => GraphFailure::Final(Reason::AuthorizationDenied),
            404 => GraphFailure::NotFound,
            500..=599 => GraphFailure::Final(Reason::ProviderUnavailable),
            400..=499 => GraphFailure::Final(Reason::RequestRejected),
            _ => GraphFailure::Final(Reason::UnexpectedResponse),
        }
    }

    /// The provider error for this failure, `what` naming the call.
    pub fn to_provider_error(&self, reason: Reason, what: &str) -> ProviderError {
        let mut message = format!("{what}: Graph answered {}", self.status);
        if !self.code.is_empty() {
            message.push_str(&format!(" {}", self.code));
        }
        if !self.message.is_empty() {
            message.push_str(&format!(": {}", self.message));
        }
        if !self.detail_codes.is_empty() {
            message.push_str(&format!(" [{}]", self.detail_codes.join(", ")));
        }
        if let Some(id) = &self.request_id {
            message.push_str(&format!(" (request-id {id})"));
        }
        ProviderError::new(reason, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> GraphError {
        GraphError::parse(status, body.as_bytes(), None)
    }

    #[test]
    fn envelope_with_inner_error_in_either_spelling() {
        for key in ["innerError", "innererror", "InnerError"] {
            let body = format!(
                r#"{{"error": {{"code": "Request_ResourceNotFound", "message": "Resource 'x' does not exist",
                "{key}": {{"date": "2026-10-01T08:00:01", "request-id": "rid-1", "client-request-id": "c"}}}}}}"#
            );
            let error = parse(404, &body);
            assert_eq!(error.code, "Request_ResourceNotFound");
            assert_eq!(error.request_id.as_deref(), Some("rid-1"), "{key}");
            assert_eq!(error.classify(), GraphFailure::NotFound);
        }
    }

    #[test]
    fn lifetime_policy_violation() {
        let body = r#"{"error": {"code": "CredentialInvalidLifetimeAsPerAppPolicy",
            "message": "Credential lifetime exceeds the max value allowed as per assigned policy 'p'.",
            "details": [{"code": "InvalidKeyEndDate", "message": "...", "target": "EndDate"}],
            "innerError": {"request-id": "r"}}}"#;
        let error = parse(400, body);
        assert_eq!(
            error.classify(),
            GraphFailure::Final(Reason::LifetimeExceedsPolicy)
        );
        let message = error
            .to_provider_error(Reason::LifetimeExceedsPolicy, "addPassword")
            .to_string();
        assert!(
            message.contains("InvalidKeyEndDate") && message.contains("request-id r"),
            "{message}"
        );
    }

    #[test]
    fn classification_table() {
        let cases = [
            (
                400,
                "CredentialTypeNotAllowedAsPerAppPolicy",
                "x",
                GraphFailure::Final(Reason::CredentialTypeNotAllowed),
            ),
            (
                403,
                "Directory_ResourceSizeExceeded",
                "The size of the object has exceeded its limit",
                GraphFailure::Final(Reason::PasswordLimitReached),
            ),
            (
                400,
                "Request_BadRequest",
                "You can only add a maximum of 2 encrypted credentials.",
                GraphFailure::Final(Reason::PasswordLimitReached),
            ),
            (
                400,
                "Request_BadRequest",
                "No password credential found with keyId k.",
                GraphFailure::KeyAlreadyGone,
            ),
            (
                404,
                "Request_ResourceNotFound",
                "No password credential found with keyId k.",
                GraphFailure::KeyAlreadyGone,
            ),
            (
                400,
                "Request_BadRequest",
                "Invalid value",
                GraphFailure::Final(Reason::RequestRejected),
            ),
            (
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
                GraphFailure::InvalidToken,
            ),
            (
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
                GraphFailure::Final(Reason::AuthorizationDenied),
            ),
            (429, "", "", GraphFailure::Transient(Reason::Throttled)),
            (
                503,
                "serviceNotAvailable",
                "",
                GraphFailure::Transient(Reason::ProviderUnavailable),
            ),
            (504, "", "", GraphFailure::Transient(Reason::ProviderUnavailable)),
            (
                500,
                "generalException",
                "",
                GraphFailure::Final(Reason::ProviderUnavailable),
            ),
            (302, "", "", GraphFailure::Final(Reason::UnexpectedResponse)),
        ];
        for (status, code, message, expected) in cases {
            let error = GraphError {
                status,
                code: code.into(),
                message: message.into(),
                ..Default::default()
            };
            assert_eq!(error.classify(), expected, "{status} {code} {message}");
        }
    }

    #[test]
    fn non_json_bodies_still_classify_by_status() {
        let error = GraphError::parse(503, b"<html>Service Unavailable</html>", Some("hdr-rid"));
        assert_eq!(
            error.classify(),
            GraphFailure::Transient(Reason::ProviderUnavailable)
        );
        assert_eq!(error.request_id.as_deref(), Some("hdr-rid"));
        assert!(error.code.is_empty());
    }
}
