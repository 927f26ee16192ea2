//! The Microsoft Entra ID provider: [`EntraProvider`] implements [`CredentialProvider`] with four
//! Microsoft Graph calls (read, addPassword, removePassword on applications and service principals)
//! and client-credentials probes at the Entra token endpoint.
//!
//! Layout, one concern per module:
//! * [`config`], [`cloud`], [`endpoint`]: what the operator configures and the URL rules;
//! * [`hypotheses`]: every unverified protocol fact, in one place;
//! * [`graph_model`], [`graph_error`], [`token_error`], [`access_token`]: wire formats, pure;
//! * [`retry`], [`transport`], [`token_request`], [`graph`], [`sign_in`]: the I/O shells.
//!
//! Invariants: nothing Entra-specific escapes this module (callers see only the provider seam);
//! secret values (the operator's credential, minted `secretText`, candidate secrets, assertions,
//! access tokens) are [`SecretString`]s end to end and appear in no log, span, error or `Debug`.

mod access_token;
pub mod cloud;
pub mod config;
mod endpoint;
mod graph;
mod graph_error;
mod graph_model;
mod hypotheses;
pub mod operation;
pub mod retry;
mod sign_in;
mod token_error;
mod token_request;
mod transport;

use std::{collections::HashMap, sync::Arc, sync::Mutex};

use reqwest::Method;
use secrecy::SecretString;

pub use self::{
    cloud::Cloud,
    config::{
        AssertionAlgorithm, CertificateSignIn, ClientSecretSignIn, EntraConfig, FederatedToken,
        FederatedTokenSource, ManagedIdentitySignIn, OperatorSignIn, ResolvedConfig, Timeouts,
        WorkloadIdentitySignIn,
    },
    retry::RetryPolicy,
};
use self::{
    graph::{GraphClient, GraphRequest, Io},
    graph_error::GraphFailure,
    graph_model::{AddPasswordBody, DirectoryObject, PasswordCredential, RemovePasswordBody, SELECT},
    sign_in::OperatorCredential,
    token_error::TokenFailure,
    token_request::{ClientAuth, TokenRequest},
};
use crate::{
    clock::{Clock, SystemClock},
    provider::{
        ApplicationCredentials, ApplicationId, ApplicationRef, CheckOutcome, CredentialHolder,
        CredentialProvider, MintRequest, MintedCredential, ProviderError, Reason,
        observer::RequestObserver,
        sleeper::{Sleeper, TokioSleeper},
    },
};

/// The Microsoft Entra ID provider. One instance holds one token cache; share it (it is `Sync`).
#[derive(Debug)]
pub struct EntraProvider {
    io: Io,
    graph: GraphClient,
    resolved: ResolvedConfig,
    /// Client ids of applications addressed by object id (immutable at Entra, so safe to keep).
    client_ids: Mutex<HashMap<ApplicationRef, String>>,
}

impl EntraProvider {
    /// A provider on the wall clock and the tokio timer.
    pub fn new(config: EntraConfig) -> Result<Self, ProviderError> {
        Self::with_time(config, Arc::new(SystemClock), Arc::new(TokioSleeper))
    }

    /// A provider whose time (token expiry, retry budgets, replication-lag windows) comes from
    /// `clock` and whose waits go through `sleeper`.
    pub fn with_time(
        config: EntraConfig,
        clock: Arc<dyn Clock>,
        sleeper: Arc<dyn Sleeper>,
    ) -> Result<Self, ProviderError> {
        let resolved = config.resolve()?;
        let operator = OperatorCredential::new(&config, &resolved)?;
        let io = Io {
            http: transport::Http::new(&config)?,
            clock,
            sleeper,
            retry: config.retry,
            refresh_margin: config.token_refresh_margin,
        };
        let graph = GraphClient::new(
            resolved.graph_base.clone(),
            resolved.token_url.clone(),
            resolved.graph_scope.clone(),
            operator,
        );
        tracing::debug!(
            token_url = %resolved.token_url,
            graph = %resolved.graph_base,
            sign_in = config.sign_in.method(),
            "Entra provider configured"
        );
        Ok(Self {
            io,
            graph,
            resolved,
            client_ids: Mutex::default(),
        })
    }

    /// Reports every HTTP request this provider makes (each attempt) to `observer`.
    pub fn observed_by(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.io.http.observer = observer;
        self
    }

    /// The endpoints this provider talks to.
    pub fn endpoints(&self) -> &ResolvedConfig {
        &self.resolved
    }

    async fn read(&self, app: &ApplicationRef) -> Result<ApplicationCredentials, ProviderError> {
        let mut url = endpoint::object_url(&self.graph.base, app)?;
        url.query_pairs_mut().append_pair("$select", SELECT);
        let response = self
            .graph
            .call(
                &self.io,
                GraphRequest {
                    method: Method::GET,
                    url,
                    body: None,
                    what: "read credentials",
                    operation: match app.holder {
                        CredentialHolder::Application => operation::GET_APPLICATION,
                        CredentialHolder::ServicePrincipal => operation::GET_SERVICE_PRINCIPAL,
                    },
                    object: app,
                    idempotent: true,
                },
            )
            .await
            .map_err(|e| e.error)?;
        let object: DirectoryObject = graph_model::parse_secret_bearing(&response.body, "read credentials")?;
        let credentials = object.into_credentials()?;
        self.remember_client_id(app, &credentials.client_id);
        Ok(credentials)
    }

    fn remember_client_id(&self, app: &ApplicationRef, client_id: &str) {
        if matches!(app.id, ApplicationId::ObjectId(_)) {
            let mut ids = self.client_ids.lock().unwrap_or_else(|e| e.into_inner());
            ids.insert(app.clone(), client_id.to_owned());
        }
    }

    /// The client id to authenticate as, reading the object when it is addressed by object id.
    async fn client_id(&self, app: &ApplicationRef) -> Result<String, ProviderError> {
        if let ApplicationId::ClientId(client_id) = &app.id {
            return Ok(client_id.clone());
        }
        if let Some(known) = self.client_ids.lock().unwrap_or_else(|e| e.into_inner()).get(app) {
            return Ok(known.clone());
        }
        Ok(self.read(app).await?.client_id)
    }
}

fn json(value: impl serde::Serialize) -> Result<serde_json::Value, ProviderError> {
    serde_json::to_value(value)
        .map_err(|e| ProviderError::new(Reason::UnexpectedResponse, format!("cannot encode: {e}")))
}

#[async_trait::async_trait]
impl CredentialProvider for EntraProvider {
    #[tracing::instrument(level = "debug", skip_all, fields(holder = ?app.holder, id = ?app.id))]
    async fn list_credentials(&self, app: &ApplicationRef) -> Result<ApplicationCredentials, ProviderError> {
        self.read(app).await
    }

    /// NB: Graph's addPassword is not idempotent; when an attempt times out or gets a 503/504 after
    /// Graph has applied it, the retry creates a second credential with the same display name, whose
    /// secret nobody knows. Callers find such orphans by display name and revoke them.
    #[tracing::instrument(level = "debug", skip_all, fields(holder = ?app.holder, id = ?app.id, display_name = %request.display_name))]
    async fn mint(
        &self,
        app: &ApplicationRef,
        request: &MintRequest,
    ) -> Result<MintedCredential, ProviderError> {
        let start = request.start.unwrap_or_else(|| self.io.clock.now());
        if request.end <= start {
            return Err(ProviderError::new(
                Reason::RequestRejected,
                format!(
                    "addPassword: the end of validity {} is not after its start {start}",
                    request.end
                ),
            ));
        }
        let url = endpoint::action_url(&self.graph.base, app, "addPassword")?;
        let body = json(AddPasswordBody::from_request(request))?;
        let response = self
            .graph
            .call(
                &self.io,
                GraphRequest {
                    method: Method::POST,
                    url,
                    body: Some(body),
                    what: "addPassword",
                    operation: operation::ADD_PASSWORD,
                    object: app,
                    idempotent: false,
                },
            )
            .await
            .map_err(|e| e.error)?;
        self.graph.record_write(&self.io, app);
        let wire: PasswordCredential = graph_model::parse_secret_bearing(&response.body, "addPassword")?;
        let minted = wire.into_minted()?;
        tracing::info!(key_id = %minted.credential.key_id, end = %minted.credential.end, "minted a password credential");
        Ok(minted)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(holder = ?app.holder, id = ?app.id))]
    async fn check(
        &self,
        app: &ApplicationRef,
        secret: &SecretString,
    ) -> Result<CheckOutcome, ProviderError> {
        const WHAT: &str = "check secret";
        let client_id = self.client_id(app).await?;
        let request = TokenRequest {
            http: &self.io.http,
            url: &self.resolved.token_url,
            client_id: &client_id,
            scope: &self.resolved.graph_scope,
            refresh_margin: self.io.refresh_margin,
            what: WHAT,
            operation: operation::VERIFY_SECRET,
        };
        // NB: no cache: every check must reach the token endpoint, and the token is dropped at once.
        let outcome = request
            .send(&self.io.retry_context(), || {
                Ok(ClientAuth::Secret(secret.clone()))
            })
            .await?;
        let (error, failure) = match outcome {
            Ok(_token) => {
                tracing::debug!("the secret authenticated");
                return Ok(CheckOutcome::Authenticated);
            }
            Err(refusal) => refusal,
        };
        tracing::debug!(status = error.status, codes = ?error.codes, "the token endpoint refused the secret");
        let reason = match failure {
            TokenFailure::SecretNotAccepted => return Ok(CheckOutcome::NotAccepted),
            TokenFailure::SecretExpired => return Ok(CheckOutcome::Expired),
            TokenFailure::ApplicationNotFound => Reason::ApplicationNotFound,
            TokenFailure::TenantNotFound => Reason::TenantNotFound,
            TokenFailure::BadRequest => Reason::InvalidConfiguration,
            TokenFailure::ClientCredentialRefused => Reason::RequestRejected,
            TokenFailure::Transient(reason) | TokenFailure::Other(reason) => reason,
        };
        Err(error.to_provider_error(reason, WHAT))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn sign_in(&self) -> Result<(), ProviderError> {
        self.graph.sign_in(&self.io).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(holder = ?app.holder, id = ?app.id, key_id = %key_id))]
    async fn revoke(&self, app: &ApplicationRef, key_id: &str) -> Result<(), ProviderError> {
        if key_id.trim().is_empty() {
            return Err(ProviderError::new(
                Reason::RequestRejected,
                "removePassword: the key id is empty",
            ));
        }
        let url = endpoint::action_url(&self.graph.base, app, "removePassword")?;
        let body = json(RemovePasswordBody { key_id })?;
        let result = self
            .graph
            .call(
                &self.io,
                GraphRequest {
                    method: Method::POST,
                    url,
                    body: Some(body),
                    what: "removePassword",
                    operation: operation::REMOVE_PASSWORD,
                    object: app,
                    // A repeated remove of a key already gone is answered as done.
                    idempotent: true,
                },
            )
            .await;
        match result {
            Ok(_) => {
                self.graph.record_write(&self.io, app);
                tracing::info!(key_id, "revoked a password credential");
                Ok(())
            }
            Err(e) if e.failure == Some(GraphFailure::KeyAlreadyGone) => {
                tracing::info!(key_id, "the password credential was already gone");
                Ok(())
            }
            Err(e) => Err(e.error),
        }
    }
}
