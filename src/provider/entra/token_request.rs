//! One client-credentials token request to `{authority}/{tenant}/oauth2/v2.0/token`, with a client
//! secret or a client assertion, retried through throttling and outages.
//!
//! Invariants:
//! * the client credential is produced afresh for every attempt (a workload-identity token file is
//!   re-read, a certificate assertion gets a new `jti`), and lives only in the form body;
//! * a refusal comes back as a classified [`TokenError`] whose text no longer holds the credential;
//! * the success body goes straight into an [`AccessToken`], never into a log or an error.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{
    access_token::{AccessToken, parse_token_response},
    retry::{self, Attempt, RetryCause, RetryContext},
    token_error::{TokenError, TokenFailure},
    transport::Http,
};
use crate::provider::ProviderError;

/// How the client authenticates in a token request.
pub enum ClientAuth {
    /// `client_secret`.
    Secret(SecretString),
    /// `client_assertion` of type jwt-bearer.
    Assertion(SecretString),
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A token request.
pub struct TokenRequest<'a> {
    /// The HTTP client.
    pub http: &'a Http,
    /// The token endpoint.
    pub url: &'a Url,
    /// The client id.
    pub client_id: &'a str,
    /// The scope (`{resource}/.default`).
    pub scope: &'a str,
    /// How early a returned token should be refreshed.
    pub refresh_margin: Duration,
    /// Names the call in logs and errors.
    pub what: &'a str,
    /// The operation's fixed name, for the request observer.
    pub operation: &'static str,
}

impl TokenRequest<'_> {
    /// Sends the request, retrying transient failures. `Ok(Err(_))` is a final refusal.
    pub async fn send<F>(
        &self,
        retry: &RetryContext<'_>,
        mut auth: F,
    ) -> Result<Result<AccessToken, (TokenError, TokenFailure)>, ProviderError>
    where
        F: FnMut() -> Result<ClientAuth, ProviderError>,
    {
        retry::run(retry, self.what, |attempt| {
            let auth = auth();
            async move {
                let auth = match auth {
                    Ok(auth) => auth,
                    Err(e) => return Attempt::Done(Err(e)),
                };
                self.attempt(retry, attempt, auth).await
            }
        })
        .await
    }

    async fn attempt(
        &self,
        retry: &RetryContext<'_>,
        attempt: u32,
        auth: ClientAuth,
    ) -> Attempt<Result<AccessToken, (TokenError, TokenFailure)>> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id),
            ("scope", self.scope),
        ];
        let sent = match &auth {
            ClientAuth::Secret(secret) => {
                form.push(("client_secret", secret.expose_secret()));
                secret
            }
            ClientAuth::Assertion(assertion) => {
                form.push(("client_assertion_type", JWT_BEARER));
                form.push(("client_assertion", assertion.expose_secret()));
                assertion
            }
        };
        let request = self.http.client.post(self.url.clone()).form(&form);
        let response = match self
            .http
            .send(request, self.operation, self.what, retry.clock.now())
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
        tracing::debug!(
            what = self.what,
            attempt,
            status = response.status,
            "token endpoint answered"
        );
        if response.is_success() {
            return Attempt::Done(
                parse_token_response(&response.body, retry.clock.now(), self.refresh_margin, self.what)
                    .map(Ok),
            );
        }
        let error = TokenError::parse(response.status, &response.body).scrubbed(&[sent]);
        let failure = error.classify();
        match failure {
            TokenFailure::Transient(reason) => Attempt::Retry {
                cause: RetryCause::Transient {
                    retry_after: response.retry_after,
                },
                error: error.to_provider_error(reason, self.what),
            },
            _ => Attempt::Done(Ok(Err((error, failure)))),
        }
    }
}
