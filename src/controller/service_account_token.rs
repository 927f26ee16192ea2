//! Service-account tokens from the Kubernetes TokenRequest API (`serviceaccounts/token`), the
//! federated token of a provider that names a service account other than the operator's own.
//!
//! Invariant: the token is a `SecretString` from the moment the API server's answer is parsed,
//! and a short-lived one (an hour): the Entra provider asks again whenever it needs a new Graph
//! token, so nothing long-lived is ever held.

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use secrecy::SecretString;

use crate::provider::{ProviderError, Reason, entra::FederatedTokenSource};

/// How long requested tokens are valid (kube-apiserver's minimum is 10 minutes).
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;

/// Requests tokens for one service account.
#[derive(Clone)]
pub struct ServiceAccountToken {
    client: Client,
    namespace: String,
    name: String,
    audience: String,
}

impl std::fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("audience", &self.audience)
            .finish()
    }
}

impl ServiceAccountToken {
    /// Tokens for `namespace`/`name` with `audience` (Entra: `api://AzureADTokenExchange`).
    pub fn new(client: Client, namespace: &str, name: &str, audience: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            audience: audience.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl FederatedTokenSource for ServiceAccountToken {
    async fn token(&self) -> Result<SecretString, ProviderError> {
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = TokenRequest {
            metadata: ObjectMeta::default(),
            spec: TokenRequestSpec {
                audiences: vec![self.audience.clone()],
                expiration_seconds: Some(TOKEN_LIFETIME_SECONDS),
                bound_object_ref: None,
            },
            status: None,
        };
        let what = format!(
            "TokenRequest for service account {}/{}",
            self.namespace, self.name
        );
        match api
            .create_token_request(&self.name, &PostParams::default(), &request)
            .await
        {
            Ok(answer) => match answer.status {
                Some(status) if !status.token.is_empty() => Ok(SecretString::from(status.token)),
                _ => Err(ProviderError::new(
                    Reason::UnexpectedResponse,
                    format!("{what}: the answer holds no token"),
                )),
            },
            Err(kube::Error::Api(status)) => {
                let reason = match status.code {
                    404 => Reason::InvalidConfiguration,
                    401 | 403 => Reason::AuthorizationDenied,
                    429 | 500..=599 => Reason::ProviderUnavailable,
                    _ => Reason::RequestRejected,
                };
                Err(ProviderError::new(
                    reason,
                    format!("{what}: {} ({})", status.message, status.code),
                ))
            }
            Err(e) => Err(ProviderError::new(
                Reason::ProviderUnavailable,
                format!("{what}: {e}"),
            )),
        }
    }
}
