//! The Entra token endpoint's error body (`error`, `error_description`, `error_codes`, ...) and its
//! classification by AADSTS code.
//!
//! Invariants:
//! * decisions key on the numeric `error_codes` (falling back to the leading `AADSTSnnnn:` token of
//!   `error_description` only when the array is absent), then on the HTTP status and the OAuth
//!   `error` word; never on the prose, which Microsoft says may change [doc: E-err];
//! * only the first line of `error_description` is kept (the rest is trace and correlation ids), and
//!   [`TokenError::scrubbed`] removes any secret the request carried before it reaches a message.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::provider::{ProviderError, Reason};

/// AADSTS codes the client acts on (reference §6.5).
pub mod aadsts {
    /// Invalid client secret, or one not yet propagated.
    pub const INVALID_CLIENT_SECRET: u32 = 7_000_215;
    /// The client secret has expired (or is not valid yet).
    pub const CLIENT_SECRET_EXPIRED: u32 = 7_000_222;
    /// No application with this client id in the tenant.
    pub const APPLICATION_NOT_FOUND: u32 = 700_016;
    /// No such tenant.
    pub const TENANT_NOT_FOUND: u32 = 90_002;
    /// The scope is not valid.
    pub const INVALID_SCOPE: u32 = 70_011;
    /// No federated identity credential matches the presented assertion.
    pub const NO_MATCHING_FEDERATED_IDENTITY: u32 = 70_021;
    /// The client assertion failed signature validation.
    pub const ASSERTION_SIGNATURE_INVALID: u32 = 700_027;
    /// The client assertion is not within its valid time range.
    pub const ASSERTION_NOT_IN_TIME_RANGE: u32 = 700_024;
    /// A required request parameter is missing.
    pub const MISSING_PARAMETER: u32 = 900_144;
    /// Transient, retryable: `ExternalServerRetryableError`, `RequestBudgetExceededError`, `RetryableError`.
    pub const RETRYABLE: &[u32] = &[90_006, 90_024, 50_033];
    /// `TenantThrottlingError`.
    pub const TENANT_THROTTLED: u32 = 90_055;
}

#[derive(Debug, Default, Deserialize)]
struct Wire {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<u32>>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// A token endpoint error, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenError {
    /// HTTP status.
    pub status: u16,
    /// The OAuth `error` word (`invalid_client`, ...).
    pub error: String,
    /// The AADSTS codes.
    pub codes: Vec<u32>,
    /// The first line of `error_description`.
    pub description: String,
    /// `trace_id`, for support requests.
    pub trace_id: Option<String>,
    /// `correlation_id`, for support requests.
    pub correlation_id: Option<String>,
}

/// What a token endpoint failure means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFailure {
    /// Retry with back-off, with this reason if the budget runs out.
    Transient(Reason),
    /// AADSTS7000215: the secret is wrong or not propagated yet.
    SecretNotAccepted,
    /// AADSTS7000222: the secret has expired.
    SecretExpired,
    /// AADSTS700016: no such application in the tenant.
    ApplicationNotFound,
    /// AADSTS90002: no such tenant.
    TenantNotFound,
    /// The client's own credential (assertion, federated token, certificate) was refused.
    ClientCredentialRefused,
    /// The request itself is wrong (scope, missing parameter).
    BadRequest,
    /// Anything else, final.
    Other(Reason),
}

impl TokenError {
    /// Parses an error response; a body that is not JSON still yields its status.
    pub fn parse(status: u16, body: &[u8]) -> Self {
        let wire: Wire = serde_json::from_slice(body).unwrap_or_default();
        let description = wire.error_description.unwrap_or_default();
        let description = description.lines().next().unwrap_or_default().trim().to_owned();
        let codes = match wire.error_codes {
            Some(codes) if !codes.is_empty() => codes,
            _ => leading_aadsts_code(&description).into_iter().collect(),
        };
        TokenError {
            status,
            error: wire.error.unwrap_or_default(),
            codes,
            description,
            trace_id: wire.trace_id,
            correlation_id: wire.correlation_id,
        }
    }

    fn has(&self, code: u32) -> bool {
        self.codes.contains(&code)
    }

    /// What the failure means.
    pub fn classify(&self) -> TokenFailure {
        use aadsts::*;
        if self.has(INVALID_CLIENT_SECRET) {
            return TokenFailure::SecretNotAccepted;
        }
        if self.has(CLIENT_SECRET_EXPIRED) {
            return TokenFailure::SecretExpired;
        }
        if self.has(APPLICATION_NOT_FOUND) {
            return TokenFailure::ApplicationNotFound;
        }
        if self.has(TENANT_NOT_FOUND) {
            return TokenFailure::TenantNotFound;
        }
        if self.has(TENANT_THROTTLED) {
            return TokenFailure::Transient(Reason::Throttled);
        }
        if RETRYABLE.iter().any(|c| self.has(*c)) {
            return TokenFailure::Transient(Reason::ProviderUnavailable);
        }
        if [
            NO_MATCHING_FEDERATED_IDENTITY,
            ASSERTION_SIGNATURE_INVALID,
            ASSERTION_NOT_IN_TIME_RANGE,
        ]
        .iter()
        .any(|c| self.has(*c))
        {
            return TokenFailure::ClientCredentialRefused;
        }
        if self.has(INVALID_SCOPE) || self.has(MISSING_PARAMETER) {
            return TokenFailure::BadRequest;
        }
        match self.status {
            429 => TokenFailure::Transient(Reason::Throttled),
            500 | 502 | 503 | 504 => TokenFailure::Transient(Reason::ProviderUnavailable),
            500..=599 => TokenFailure::Other(Reason::ProviderUnavailable),
            400..=499 => match self.error.as_str() {
                "invalid_client" | "unauthorized_client" => TokenFailure::ClientCredentialRefused,
                "invalid_scope" => TokenFailure::BadRequest,
                _ => TokenFailure::Other(Reason::RequestRejected),
            },
            _ => TokenFailure::Other(Reason::UnexpectedResponse),
        }
    }

    /// This error with every secret in `sent` removed from its text.
    pub fn scrubbed(mut self, sent: &[&SecretString]) -> Self {
        for secret in sent {
            let value = secret.expose_secret();
            if !value.is_empty() {
                self.description = self.description.replace(value, "[REDACTED]");
                self.error = self.error.replace(value, "[REDACTED]");
            }
        }
        self
    }

    /// The provider error for this failure.
    pub fn to_provider_error(&self, reason: Reason, what: &str) -> ProviderError {
        let mut message = format!("{what}: token endpoint answered {}", self.status);
        if !self.error.is_empty() {
            message.push_str(&format!(" {}", self.error));
        }
        if !self.description.is_empty() {
            message.push_str(&format!(": {}", self.description));
        } else if !self.codes.is_empty() {
            let codes: Vec<String> = self.codes.iter().map(|c| format!("AADSTS{c}")).collect();
            message.push_str(&format!(": {}", codes.join(", ")));
        }
        if let Some(id) = &self.correlation_id {
            message.push_str(&format!(" (correlation-id {id})"));
        }
        ProviderError::new(reason, message)
    }
}

fn leading_aadsts_code(description: &str) -> Option<u32> {
    let rest = description.strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, code: u32) -> String {
        format!(
            r#"{{"error":"{error}","error_description":"AADSTS{code}: Something.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-10-01 08:00:05Z","error_codes":[{code}],"timestamp":"2026-10-01 08:00:05Z","trace_id":"t","correlation_id":"c","error_uri":"https://login.microsoftonline.com/error?code={code}"}}"#
        )
    }

    #[test]
    fn classifies_by_aadsts_code() {
        let cases = [
            (401, "invalid_client", 7_000_215, TokenFailure::SecretNotAccepted),
            (401, "invalid_client", 7_000_222, TokenFailure::SecretExpired),
            (
                400,
                "unauthorized_client",
                700_016,
                TokenFailure::ApplicationNotFound,
            ),
            (400, "invalid_request", 90_002, TokenFailure::TenantNotFound),
            (
                400,
                "invalid_request",
                70_021,
                TokenFailure::ClientCredentialRefused,
            ),
            (
                401,
                "invalid_client",
                700_027,
                TokenFailure::ClientCredentialRefused,
            ),
            (400, "invalid_scope", 70_011, TokenFailure::BadRequest),
            (
                500,
                "temporarily_unavailable",
                90_006,
                TokenFailure::Transient(Reason::ProviderUnavailable),
            ),
            (
                400,
                "invalid_request",
                50_033,
                TokenFailure::Transient(Reason::ProviderUnavailable),
            ),
            (429, "", 90_055, TokenFailure::Transient(Reason::Throttled)),
            (
                400,
                "invalid_grant",
                12_345,
                TokenFailure::Other(Reason::RequestRejected),
            ),
            (
                401,
                "invalid_client",
                12_345,
                TokenFailure::ClientCredentialRefused,
            ),
        ];
        for (status, error, code, expected) in cases {
            let parsed = TokenError::parse(status, body(error, code).as_bytes());
            assert_eq!(parsed.codes, [code]);
            assert_eq!(parsed.classify(), expected, "{status} {error} {code}");
        }
    }

    #[test]
    fn the_code_wins_over_the_text_and_the_status() {
        // A 7000215 whose prose changed and whose status is unusual is still "not accepted".
        let body = r#"{"error":"invalid_request","error_description":"Completely new wording","error_codes":[7000215]}"#;
        assert_eq!(
            TokenError::parse(400, body.as_bytes()).classify(),
            TokenFailure::SecretNotAccepted
        );
        // Text that mentions another code does not count.
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215 is not this","error_codes":[7000222]}"#;
        assert_eq!(
            TokenError::parse(401, body.as_bytes()).classify(),
            TokenFailure::SecretExpired
        );
    }

    #[test]
    fn missing_codes_fall_back_to_the_leading_token_then_status() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000222: expired"}"#;
        assert_eq!(
            TokenError::parse(401, body.as_bytes()).classify(),
            TokenFailure::SecretExpired
        );
        assert_eq!(
            TokenError::parse(503, b"<html/>").classify(),
            TokenFailure::Transient(Reason::ProviderUnavailable)
        );
        assert_eq!(
            TokenError::parse(429, b"").classify(),
            TokenFailure::Transient(Reason::Throttled)
        );
        assert_eq!(
            TokenError::parse(501, b"").classify(),
            TokenFailure::Other(Reason::ProviderUnavailable)
        );
    }

    #[test]
    fn messages_keep_the_first_line_and_scrub_secrets() {
        let secret: SecretString = "hunter2-secret".into();
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: got hunter2-secret\r\nTrace ID: t","error_codes":[7000215],"correlation_id":"c1"}"#;
        let error = TokenError::parse(401, body.as_bytes()).scrubbed(&[&secret]);
        let message = error
            .to_provider_error(Reason::InvalidOperatorCredential, "sign-in")
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("AADSTS7000215: got [REDACTED]") && message.contains("correlation-id c1"));
        assert!(!message.contains("Trace ID"));
    }
}
