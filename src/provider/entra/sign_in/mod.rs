//! How the operator obtains its own Graph access token, for each sign-in method of
//! [`OperatorSignIn`].
//!
//! Invariants:
//! * whatever the method, a refusal by Entra of the operator's own credential is
//!   [`Reason::InvalidOperatorCredential`] (a wrong tenant is [`Reason::TenantNotFound`]), never a
//!   statement about the application being rotated;
//! * the operator's credential material (secret, key, federated token) never leaves this module
//!   except inside a token request's form body.

pub mod certificate;
pub mod managed_identity;
pub mod workload_identity;

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use self::{certificate::CertificateAssertion, managed_identity::ImdsRequest};
use super::{
    access_token::AccessToken,
    config::{EntraConfig, FederatedToken, ManagedIdentitySignIn, OperatorSignIn, ResolvedConfig},
    operation,
    retry::RetryContext,
    token_error::TokenFailure,
    token_request::{ClientAuth, TokenRequest},
    transport::Http,
};
use crate::provider::{ProviderError, Reason};

/// Produces the client credential of one token request attempt.
type AuthSource<'a> = Box<dyn FnMut() -> Result<ClientAuth, ProviderError> + Send + 'a>;

/// The operator's sign-in, ready to fetch tokens.
#[derive(Debug)]
pub enum OperatorCredential {
    /// A service-account token as client assertion.
    WorkloadIdentity {
        /// The client id whose federated credential trusts the token.
        client_id: String,
        /// Asked on every token request.
        token: FederatedToken,
    },
    /// Client secret.
    ClientSecret {
        /// The operator's client id.
        client_id: String,
        /// The secret.
        secret: SecretString,
    },
    /// Certificate assertion.
    Certificate {
        /// The operator's client id.
        client_id: String,
        /// Builds signed assertions.
        assertion: CertificateAssertion,
    },
    /// IMDS.
    ManagedIdentity(ImdsRequest),
}

impl OperatorCredential {
    /// Prepares the sign-in of a configuration (parsing keys and certificates now).
    pub fn new(config: &EntraConfig, resolved: &ResolvedConfig) -> Result<Self, ProviderError> {
        Ok(match &config.sign_in {
            OperatorSignIn::WorkloadIdentity(wi) => OperatorCredential::WorkloadIdentity {
                client_id: wi.client_id.clone(),
                token: wi.token.clone(),
            },
            OperatorSignIn::ClientSecret(cs) => OperatorCredential::ClientSecret {
                client_id: cs.client_id.clone(),
                secret: cs.secret.clone(),
            },
            OperatorSignIn::Certificate(cert) => {
                let assertion = CertificateAssertion::new(cert, resolved.token_url.as_str())?;
                tracing::info!(
                    x5t_s256 = assertion.thumbprint_s256(),
                    "signing in with a certificate"
                );
                OperatorCredential::Certificate {
                    client_id: cert.client_id.clone(),
                    assertion,
                }
            }
            OperatorSignIn::ManagedIdentity(mi) => OperatorCredential::ManagedIdentity(ImdsRequest {
                endpoint: resolved
                    .imds_endpoint
                    .clone()
                    .ok_or_else(|| ProviderError::new(Reason::InvalidConfiguration, "no IMDS endpoint"))?,
                api_version: mi
                    .api_version
                    .clone()
                    .unwrap_or_else(|| ManagedIdentitySignIn::DEFAULT_API_VERSION.to_owned()),
                client_id: mi.client_id.clone(),
            }),
        })
    }

    /// Fetches a fresh Graph token.
    pub async fn fetch(
        &self,
        http: &Http,
        token_url: &Url,
        scope: &str,
        refresh_margin: Duration,
        retry: &RetryContext<'_>,
    ) -> Result<AccessToken, ProviderError> {
        const WHAT: &str = "operator sign-in";
        let (client_id, auth): (&str, AuthSource<'_>) = match self {
            OperatorCredential::ManagedIdentity(imds) => {
                return imds.fetch(http, scope, refresh_margin, retry).await;
            }
            OperatorCredential::WorkloadIdentity {
                client_id,
                token: FederatedToken::File(token_file),
            } => (
                client_id,
                Box::new(|| workload_identity::read_federated_token(token_file).map(ClientAuth::Assertion)),
            ),
            OperatorCredential::WorkloadIdentity {
                client_id,
                token: FederatedToken::Source(source),
            } => {
                // NB: asked once per fetch, not per retry attempt: a source such as the TokenRequest
                // API makes a call of its own, and a fresh token outlives any retry budget.
                let assertion = source.token().await?;
                (
                    client_id,
                    Box::new(move || Ok(ClientAuth::Assertion(assertion.clone()))),
                )
            }
            OperatorCredential::ClientSecret { client_id, secret } => {
                (client_id, Box::new(|| Ok(ClientAuth::Secret(secret.clone()))))
            }
            OperatorCredential::Certificate { client_id, assertion } => (
                client_id,
                Box::new(|| assertion.build(retry.clock.now()).map(ClientAuth::Assertion)),
            ),
        };
        let request = TokenRequest {
            http,
            url: token_url,
            client_id,
            scope,
            refresh_margin,
            what: WHAT,
            operation: operation::TOKEN,
        };
        match request.send(retry, auth).await? {
            Ok(token) => Ok(token),
            Err((error, failure)) => {
                let reason = match failure {
                    TokenFailure::TenantNotFound => Reason::TenantNotFound,
                    TokenFailure::BadRequest => Reason::InvalidConfiguration,
                    TokenFailure::Transient(reason) | TokenFailure::Other(reason) => reason,
                    TokenFailure::SecretNotAccepted
                    | TokenFailure::SecretExpired
                    | TokenFailure::ApplicationNotFound
                    | TokenFailure::ClientCredentialRefused => Reason::InvalidOperatorCredential,
                };
                Err(error.to_provider_error(reason, WHAT))
            }
        }
    }
}
