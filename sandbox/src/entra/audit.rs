//! The audit log: one entry per protocol call (token endpoint, IMDS, Graph), in arrival order.
//!
//! Invariant: an entry never holds a secret value: no secretText, no client secret, no assertion.
//! Query strings are kept only with the values of credential-bearing parameters replaced.

use jiff::Timestamp;
use serde::Serialize;

/// One call as the emulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Emulator time when the call arrived.
    pub time: Timestamp,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Query string, with credential-bearing values redacted.
    pub query: Option<String>,
    /// Client id (appId) of the caller: from the bearer token for Graph, from the request for the
    /// token endpoint, the identity's client id for IMDS.
    pub caller_app: Option<String>,
    /// Tenant id the call ran in, when known.
    pub tenant: Option<String>,
    /// HTTP status answered (0 when the connection was dropped).
    pub status: u16,
    /// For credential writes (addPassword, removePassword), the keyId written.
    pub key_id: Option<String>,
    /// The id of the injected fault that answered, if any.
    pub fault: Option<u64>,
}

/// What a handler tells the audit layer about its call (carried in response extensions).
#[derive(Clone, Debug, Default)]
pub(crate) struct AuditNote {
    pub(crate) caller_app: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) key_id: Option<String>,
}

/// Query parameters whose values are credentials.
const SECRET_PARAMETERS: [&str; 5] = [
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "secret",
];

/// Redacts credential values from a query string.
pub(crate) fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMETERS.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                format!("{k}=REDACTED")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_are_redacted_from_queries() {
        assert_eq!(
            redact_query("api-version=2018-02-01&client_secret=abc&resource=x"),
            "api-version=2018-02-01&client_secret=REDACTED&resource=x"
        );
        assert_eq!(redact_query("$select=id"), "$select=id");
    }
}
