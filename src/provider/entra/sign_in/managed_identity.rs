//! Managed identity through the Azure Instance Metadata Service [doc: E-imds][code: RS-vm]:
//! `GET {endpoint}?api-version=…&resource=…[&client_id=…]` with the header `Metadata: true`.
//!
//! Invariants:
//! * the `resource` is the Graph scope without its `/.default` suffix;
//! * the response's `expires_in`/`expires_on` are accepted as strings (IMDS sends strings);
//! * 404, 410, 429 and 5xx are retried (IMDS answers them while it starts or is busy), a 400 (no
//!   such identity on this machine) is the operator's credential failing.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::super::{
    access_token::{AccessToken, parse_token_response},
    hypotheses::GRAPH_SCOPE_SUFFIX,
    operation,
    retry::{self, Attempt, RetryCause, RetryContext},
    transport::Http,
};
use crate::provider::{ProviderError, Reason};

/// A managed-identity token request.
#[derive(Debug)]
pub struct ImdsRequest {
    /// The IMDS token endpoint.
    pub endpoint: Url,
    /// `api-version`.
    pub api_version: String,
    /// A user-assigned identity's client id.
    pub client_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct ImdsError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The IMDS `resource` for a scope.
pub fn resource_for_scope(scope: &str) -> &str {
    scope.strip_suffix(GRAPH_SCOPE_SUFFIX).unwrap_or(scope)
}

const WHAT: &str = "managed identity token request";

impl ImdsRequest {
    /// Fetches a token for `scope`.
    pub async fn fetch(
        &self,
        http: &Http,
        scope: &str,
        refresh_margin: Duration,
        retry: &RetryContext<'_>,
    ) -> Result<AccessToken, ProviderError> {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("api-version", &self.api_version)
                .append_pair("resource", resource_for_scope(scope));
            if let Some(client_id) = &self.client_id {
                query.append_pair("client_id", client_id);
            }
        }
        retry::run(retry, WHAT, |attempt| {
            let request = http.client.get(url.clone()).header("Metadata", "true");
            async move {
                let response = match http
                    .send(
                        request,
                        operation::MANAGED_IDENTITY_TOKEN,
                        WHAT,
                        retry.clock.now(),
                    )
                    .await
                {
                    Ok(response) => response,
                    Err(error) => {
                        return Attempt::Retry {
                            cause: RetryCause::Transient { retry_after: None },
                            error,
                        };
                    }
                };
                tracing::debug!(attempt, status = response.status, "IMDS answered");
                if response.is_success() {
                    return Attempt::Done(parse_token_response(
                        &response.body,
                        retry.clock.now(),
                        refresh_margin,
                        WHAT,
                    ));
                }
                let body: ImdsError = serde_json::from_slice(&response.body).unwrap_or_default();
                let message = format!(
                    "{WHAT}: IMDS answered {} {}: {}",
                    response.status,
                    body.error.unwrap_or_default(),
                    body.error_description.unwrap_or_default()
                );
                match response.status {
                    404 | 410 | 500..=599 => Attempt::Retry {
                        cause: RetryCause::Transient {
                            retry_after: response.retry_after,
                        },
                        error: ProviderError::new(Reason::ProviderUnavailable, message),
                    },
                    429 => Attempt::Retry {
                        cause: RetryCause::Transient {
                            retry_after: response.retry_after,
                        },
                        error: ProviderError::new(Reason::Throttled, message),
                    },
                    400..=499 => Attempt::Done(Err(ProviderError::new(
                        Reason::InvalidOperatorCredential,
                        message,
                    ))),
                    _ => Attempt::Done(Err(ProviderError::new(Reason::UnexpectedResponse, message))),
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_drops_the_default_suffix_only() {
        assert_eq!(
            resource_for_scope("https://graph.microsoft.com/.default"),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            resource_for_scope("https://graph.microsoft.us"),
            "https://graph.microsoft.us"
        );
    }
}
