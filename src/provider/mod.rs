//! The identity-provider seam: everything the rotation logic needs from an identity provider that
//! lets two client secrets be valid at once (Microsoft Entra ID first; Okta, Keycloak or AWS IAM keys
//! could follow).
//!
//! Nothing provider-specific may leak above this module: the decision core and the controller speak
//! only in [`Credential`], [`MintRequest`], [`CheckOutcome`] and [`ProviderError`] (whose
//! [`Reason`] is the stable, low-cardinality word that conditions, events and metrics use).
//!
//! NB: secret values only ever travel as [`secrecy::SecretString`]; no type here prints one.

use std::time::Duration;

use jiff::Timestamp;
use secrecy::SecretString;

pub mod entra;
pub mod observer;
pub mod sleeper;

/// Which application a rotation works on, and where its credential lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApplicationRef {
    /// How the application is identified at the provider.
    pub id: ApplicationId,
    /// Whether the credentials live on the application itself or on its service principal
    /// (legacy SharePoint add-ins keep them on the service principal).
    pub holder: CredentialHolder,
}

/// How an application is addressed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ApplicationId {
    /// The client id (Entra: `appId`), the value a consumer puts in its configuration.
    ClientId(String),
    /// The provider's object id (Entra: the application's or service principal's `id`).
    ObjectId(String),
}

/// The object that holds the password credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CredentialHolder {
    /// The application (Entra: app registration).
    #[default]
    Application,
    /// The service principal (Entra: enterprise application).
    ServicePrincipal,
}

/// One password credential as the provider reports it. Never carries the secret value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// The provider's id of this credential (Entra: `keyId`).
    pub key_id: String,
    /// Friendly name; the operator marks the credentials it mints through it.
    pub display_name: Option<String>,
    /// The first characters of the secret, as the provider shows them (Entra: three characters).
    pub hint: Option<String>,
    /// When the credential starts to be valid, if the provider says.
    pub start: Option<Timestamp>,
    /// When the credential stops being valid.
    pub end: Timestamp,
}

/// What the provider reports about an application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationCredentials {
    /// The client id consumers use (Entra: `appId`), whichever way the application was addressed.
    pub client_id: String,
    /// The provider's object id of the credential holder.
    pub object_id: String,
    /// Every password credential on the holder, managed by the operator or not.
    pub credentials: Vec<Credential>,
}

/// A request for a new credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintRequest {
    /// Display name that identifies the resource and the rotation that minted it.
    pub display_name: String,
    /// Start of validity; `None` means "now" at the provider.
    pub start: Option<Timestamp>,
    /// End of validity. Always explicit: provider defaults (Entra: two years) trip lifetime policies.
    pub end: Timestamp,
}

/// A freshly minted credential and its secret value, which the provider shows only this once.
#[derive(Debug)]
pub struct MintedCredential {
    /// The new credential's metadata.
    pub credential: Credential,
    /// The secret value. Persist it before doing anything else.
    pub secret: SecretString,
}

/// The result of one authentication attempt with a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The provider issued a token for the secret.
    Authenticated,
    /// The provider does not accept the secret (yet): unknown or not propagated.
    /// Entra answers the same way for both, so callers wait and retry until a timeout.
    NotAccepted,
    /// The provider says the secret has expired or is not valid yet.
    Expired,
}

/// Stable, low-cardinality reasons for provider failures, used as condition reasons, event reasons
/// and metric labels. The string forms never change once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The operator's identity lacks the permission, or does not own the application.
    AuthorizationDenied,
    /// A provider policy caps the credential lifetime below the requested one.
    LifetimeExceedsPolicy,
    /// A provider policy forbids adding password credentials.
    CredentialTypeNotAllowed,
    /// The application holds as many passwords as it may.
    PasswordLimitReached,
    /// The application (or its service principal) does not exist.
    ApplicationNotFound,
    /// The tenant does not exist.
    TenantNotFound,
    /// The operator could not sign in to the provider with its own credential.
    InvalidOperatorCredential,
    /// The provider throttled the operator beyond its retry budget.
    Throttled,
    /// The provider was unavailable (5xx, timeouts, dropped connections) beyond the retry budget.
    ProviderUnavailable,
    /// The operator's configuration for this provider is invalid (bad endpoint, plain http to a
    /// non-loopback host, unreadable credential file, ...).
    InvalidConfiguration,
    /// The provider refused the request for a reason this client has no specific word for (an
    /// unknown 4xx error code); retrying it unchanged will not help.
    RequestRejected,
    /// The provider answered something the client does not understand.
    UnexpectedResponse,
}

impl Reason {
    /// The stable CamelCase form.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::AuthorizationDenied => "AuthorizationDenied",
            Reason::LifetimeExceedsPolicy => "LifetimeExceedsPolicy",
            Reason::CredentialTypeNotAllowed => "CredentialTypeNotAllowed",
            Reason::PasswordLimitReached => "PasswordLimitReached",
            Reason::ApplicationNotFound => "ApplicationNotFound",
            Reason::TenantNotFound => "TenantNotFound",
            Reason::InvalidOperatorCredential => "InvalidOperatorCredential",
            Reason::Throttled => "Throttled",
            Reason::ProviderUnavailable => "ProviderUnavailable",
            Reason::InvalidConfiguration => "InvalidConfiguration",
            Reason::RequestRejected => "RequestRejected",
            Reason::UnexpectedResponse => "UnexpectedResponse",
        }
    }

    /// Whether retrying later, unchanged, may succeed.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Reason::Throttled | Reason::ProviderUnavailable | Reason::UnexpectedResponse
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider failure. The message is for humans and never contains a secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct ProviderError {
    /// Stable reason.
    pub reason: Reason,
    /// Human-readable detail (the provider's error code and message, the failed call).
    pub message: String,
    /// How long the provider asked us to wait, when it did.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// A new error with no retry hint.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error, carrying the provider's "retry after" hint.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Whether retrying later, unchanged, may succeed.
    pub fn is_transient(&self) -> bool {
        self.reason.is_transient()
    }
}

/// An identity provider whose applications can hold overlapping client secrets.
///
/// Implementations retry transient failures internally within a bounded budget; an error that
/// comes out is final for this attempt.
#[async_trait::async_trait]
pub trait CredentialProvider: Send + Sync {
    /// Reads the application and all of its password credentials.
    async fn list_credentials(&self, app: &ApplicationRef) -> Result<ApplicationCredentials, ProviderError>;

    /// Mints a new password credential.
    ///
    /// NB: not idempotent; every call creates a credential. Callers record what they are about to
    /// do before calling, and look for orphans by display name after a crash.
    async fn mint(
        &self,
        app: &ApplicationRef,
        request: &MintRequest,
    ) -> Result<MintedCredential, ProviderError>;

    /// Tries once to authenticate as the application with `secret`.
    async fn check(&self, app: &ApplicationRef, secret: &SecretString)
    -> Result<CheckOutcome, ProviderError>;

    /// Revokes a credential. Revoking one that is already gone succeeds.
    async fn revoke(&self, app: &ApplicationRef, key_id: &str) -> Result<(), ProviderError>;

    /// Checks that the operator can sign in with its own credential (a cached sign-in counts).
    async fn sign_in(&self) -> Result<(), ProviderError>;
}
