//! The Entra provider's configuration: plain data the binary fills from flags, environment and
//! Kubernetes Secrets, checked once by [`EntraConfig::resolve`] into the endpoints the client uses.
//!
//! Invariant: a [`ResolvedConfig`] only exists for a configuration whose endpoints obey the
//! https-or-loopback rule (see [`super::endpoint`]) and whose tenant id is well formed; every problem is
//! a [`Reason::InvalidConfiguration`] error naming the setting, never a panic.

use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;
use url::Url;

use super::{
    cloud::Cloud,
    endpoint::{self, PlainHttp},
    retry::RetryPolicy,
};
use crate::provider::{ProviderError, Reason};

/// Everything the Entra provider needs to know.
#[derive(Clone, Debug)]
pub struct EntraConfig {
    /// The home tenant of the applications (GUID or domain name).
    pub tenant_id: String,
    /// The cloud; selects the authority host and the Graph root.
    pub cloud: Cloud,
    /// Overrides the cloud's authority host (e.g. from `AZURE_AUTHORITY_HOST`; a trailing slash is fine).
    pub authority_host: Option<String>,
    /// Overrides the cloud's Graph root (where Graph requests go, without `/v1.0`).
    pub graph_endpoint: Option<String>,
    /// Overrides the scope of Graph tokens; by default the cloud's Graph root followed by
    /// `/.default`. NB: overriding `graph_endpoint` does not change the scope: a token names the
    /// resource (Graph), not where requests are sent (a proxy, a private endpoint).
    pub graph_scope: Option<String>,
    /// How the operator itself signs in to Graph.
    pub sign_in: OperatorSignIn,
    /// How hard to retry transient failures.
    pub retry: RetryPolicy,
    /// Network timeouts.
    pub timeouts: Timeouts,
    /// A cached Graph token is replaced this long before it expires.
    pub token_refresh_margin: Duration,
    /// Extra PEM certificates trusted as TLS roots, in addition to the platform's (a TLS-inspecting
    /// egress proxy, a private authority).
    pub extra_root_certificates_pem: Vec<String>,
}

impl EntraConfig {
    /// A configuration with default cloud, retry policy and timeouts.
    pub fn new(tenant_id: impl Into<String>, sign_in: OperatorSignIn) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            cloud: Cloud::Global,
            authority_host: None,
            graph_endpoint: None,
            graph_scope: None,
            sign_in,
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            token_refresh_margin: Duration::from_secs(5 * 60),
            extra_root_certificates_pem: Vec::new(),
        }
    }

    /// Checks the configuration and computes the endpoints.
    pub fn resolve(&self) -> Result<ResolvedConfig, ProviderError> {
        endpoint::validate_tenant(&self.tenant_id)?;
        let authority = endpoint::parse_endpoint(
            "authority host",
            self.authority_host
                .as_deref()
                .unwrap_or(self.cloud.authority_host()),
            PlainHttp::LoopbackOnly,
        )?;
        let graph_root = endpoint::parse_endpoint(
            "Graph endpoint",
            self.graph_endpoint.as_deref().unwrap_or(self.cloud.graph_root()),
            PlainHttp::LoopbackOnly,
        )?;
        let graph_scope = match &self.graph_scope {
            Some(scope) if scope.trim().is_empty() => {
                return Err(ProviderError::new(
                    Reason::InvalidConfiguration,
                    "the Graph scope is empty",
                ));
            }
            Some(scope) => scope.trim().to_owned(),
            None => self.cloud.graph_scope(),
        };
        self.sign_in.validate()?;
        self.retry.validate()?;
        let imds = match &self.sign_in {
            OperatorSignIn::ManagedIdentity(mi) => Some(endpoint::parse_endpoint(
                "managed identity endpoint",
                mi.endpoint
                    .as_deref()
                    .unwrap_or(ManagedIdentitySignIn::DEFAULT_ENDPOINT),
                PlainHttp::LoopbackOrImds,
            )?),
            _ => None,
        };
        Ok(ResolvedConfig {
            token_url: endpoint::token_url(&authority, &self.tenant_id),
            graph_base: endpoint::graph_base(&graph_root),
            graph_scope,
            imds_endpoint: imds,
        })
    }
}

/// The endpoints computed from a valid [`EntraConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub token_url: Url,
    /// `{graph root}/v1.0`.
    pub graph_base: Url,
    /// The scope of Graph tokens, also the scope of `check` probes.
    pub graph_scope: String,
    /// The IMDS token endpoint, when the operator signs in with a managed identity.
    pub imds_endpoint: Option<Url>,
}

/// Network timeouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to establish a connection (TCP and TLS).
    pub connect: Duration,
    /// Time for one whole request, response body included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// How the operator signs in to Graph.
#[derive(Clone, Debug)]
pub enum OperatorSignIn {
    /// Azure Workload Identity: a projected Kubernetes service-account token as client assertion.
    WorkloadIdentity(WorkloadIdentitySignIn),
    /// A client secret of the operator's own application.
    ClientSecret(ClientSecretSignIn),
    /// A certificate of the operator's own application, as a signed client assertion.
    Certificate(CertificateSignIn),
    /// An Azure managed identity, through the Instance Metadata Service.
    ManagedIdentity(ManagedIdentitySignIn),
}

impl OperatorSignIn {
    /// The short name of the method, for logs.
    pub fn method(&self) -> &'static str {
        match self {
            OperatorSignIn::WorkloadIdentity(_) => "workload-identity",
            OperatorSignIn::ClientSecret(_) => "client-secret",
            OperatorSignIn::Certificate(_) => "certificate",
            OperatorSignIn::ManagedIdentity(_) => "managed-identity",
        }
    }

    fn validate(&self) -> Result<(), ProviderError> {
        let client_id = match self {
            OperatorSignIn::WorkloadIdentity(w) => {
                if w.token_file.as_os_str().is_empty() {
                    return Err(invalid("the federated token file path is empty"));
                }
                Some(&w.client_id)
            }
            OperatorSignIn::ClientSecret(c) => Some(&c.client_id),
            OperatorSignIn::Certificate(c) => Some(&c.client_id),
            OperatorSignIn::ManagedIdentity(m) => m.client_id.as_ref(),
        };
        match client_id {
            Some(id) if id.trim().is_empty() => Err(invalid("the operator's client id is empty")),
            _ => Ok(()),
        }
    }
}

fn invalid(message: &str) -> ProviderError {
    ProviderError::new(Reason::InvalidConfiguration, message)
}

/// Azure Workload Identity sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadIdentitySignIn {
    /// The operator application's client id (`AZURE_CLIENT_ID`).
    pub client_id: String,
    /// The projected service-account token (`AZURE_FEDERATED_TOKEN_FILE`). Read again for every
    /// token request, because the kubelet rotates it.
    pub token_file: PathBuf,
}

impl WorkloadIdentitySignIn {
    /// The environment variable the workload identity webhook sets to the operator's client id.
    pub const CLIENT_ID_VAR: &'static str = "AZURE_CLIENT_ID";
    /// The environment variable the webhook sets to the token file path (never hard-code the path:
    /// it moved in webhook v1.6.0).
    pub const TOKEN_FILE_VAR: &'static str = "AZURE_FEDERATED_TOKEN_FILE";

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ProviderError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ProviderError> {
        let get = |name: &str| {
            lookup(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                ProviderError::new(
                    Reason::InvalidConfiguration,
                    format!("workload identity: {name} is not set (is the pod labelled azure.workload.identity/use=\"true\"?)"),
                )
            })
        };
        Ok(Self {
            client_id: get(Self::CLIENT_ID_VAR)?,
            token_file: PathBuf::from(get(Self::TOKEN_FILE_VAR)?),
        })
    }
}

/// Client-secret sign-in.
#[derive(Clone, Debug)]
pub struct ClientSecretSignIn {
    /// The operator application's client id.
    pub client_id: String,
    /// Its client secret.
    pub secret: SecretString,
}

/// Certificate sign-in (a JWT client assertion signed with the certificate's key).
#[derive(Clone, Debug)]
pub struct CertificateSignIn {
    /// The operator application's client id.
    pub client_id: String,
    /// The certificate (PEM); the first certificate is the one registered on the application, any
    /// further ones are its chain.
    pub certificate_pem: String,
    /// The RSA private key (PEM, PKCS#1 or PKCS#8).
    pub private_key_pem: SecretString,
    /// Signature algorithm of the assertion.
    pub algorithm: AssertionAlgorithm,
    /// Whether to send the chain in `x5c` (for subject-name/issuer authentication).
    pub send_certificate_chain: bool,
}

/// Signature algorithm of a certificate client assertion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256, what Entra's current documentation asks for.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, what older clients send.
    Rs256,
}

/// Managed identity sign-in through IMDS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManagedIdentitySignIn {
    /// The client id of a user-assigned identity; `None` for the system-assigned one.
    pub client_id: Option<String>,
    /// Overrides the IMDS token endpoint.
    pub endpoint: Option<String>,
    /// Overrides the IMDS API version.
    pub api_version: Option<String>,
}

impl ManagedIdentitySignIn {
    /// The IMDS token endpoint.
    pub const DEFAULT_ENDPOINT: &'static str = "http://169.254.169.254/metadata/identity/oauth2/token";
    /// The IMDS API version of Microsoft's documentation example.
    pub const DEFAULT_API_VERSION: &'static str = "2018-02-01";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_sign_in() -> OperatorSignIn {
        OperatorSignIn::ClientSecret(ClientSecretSignIn {
            client_id: "op".into(),
            secret: "s3cr3t".into(),
        })
    }

    #[test]
    fn defaults_resolve_to_the_global_cloud() {
        let resolved = EntraConfig::new("contoso.onmicrosoft.com", secret_sign_in())
            .resolve()
            .unwrap();
        assert_eq!(
            resolved.token_url.as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(resolved.graph_base.as_str(), "https://graph.microsoft.com/v1.0");
        assert_eq!(resolved.graph_scope, "https://graph.microsoft.com/.default");
        assert_eq!(resolved.imds_endpoint, None);
    }

    #[test]
    fn national_clouds_pair_authority_and_graph() {
        let mut config = EntraConfig::new("t", secret_sign_in());
        config.cloud = Cloud::China;
        let resolved = config.resolve().unwrap();
        assert_eq!(
            resolved.token_url.as_str(),
            "https://login.chinacloudapi.cn/t/oauth2/v2.0/token"
        );
        assert_eq!(
            resolved.graph_scope,
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
    }

    #[test]
    fn overrides_win_and_azure_authority_host_trailing_slash_is_fine() {
        let mut config = EntraConfig::new("t", secret_sign_in());
        config.cloud = Cloud::UsGovernment;
        config.authority_host = Some("https://login.microsoftonline.us/".into());
        config.graph_endpoint = Some("http://127.0.0.1:8443/".into());
        let resolved = config.resolve().unwrap();
        assert_eq!(
            resolved.token_url.as_str(),
            "https://login.microsoftonline.us/t/oauth2/v2.0/token"
        );
        assert_eq!(resolved.graph_base.as_str(), "http://127.0.0.1:8443/v1.0");
        assert_eq!(
            resolved.graph_scope, "https://graph.microsoft.us/.default",
            "the scope follows the cloud"
        );
        config.graph_scope = Some("https://graph.microsoft.us/.default".into());
        assert_eq!(
            config.resolve().unwrap().graph_scope,
            "https://graph.microsoft.us/.default"
        );
    }

    #[test]
    fn plain_http_to_remote_hosts_is_invalid_configuration() {
        let mut config = EntraConfig::new("t", secret_sign_in());
        config.authority_host = Some("http://login.microsoftonline.com".into());
        let err = config.resolve().unwrap_err();
        assert_eq!(err.reason, Reason::InvalidConfiguration);
        assert!(err.message.contains("authority host"), "{err}");
        config.authority_host = None;
        config.graph_endpoint = Some("http://graph.example".into());
        assert_eq!(config.resolve().unwrap_err().reason, Reason::InvalidConfiguration);
    }

    #[test]
    fn managed_identity_defaults_to_imds_and_rejects_remote_http() {
        let mut config = EntraConfig::new(
            "t",
            OperatorSignIn::ManagedIdentity(ManagedIdentitySignIn::default()),
        );
        assert_eq!(
            config.resolve().unwrap().imds_endpoint.unwrap().as_str(),
            ManagedIdentitySignIn::DEFAULT_ENDPOINT
        );
        config.sign_in = OperatorSignIn::ManagedIdentity(ManagedIdentitySignIn {
            endpoint: Some("http://metadata.example/token".into()),
            ..Default::default()
        });
        assert_eq!(config.resolve().unwrap_err().reason, Reason::InvalidConfiguration);
    }

    #[test]
    fn empty_identifiers_are_invalid() {
        let config = EntraConfig::new(
            "t",
            OperatorSignIn::WorkloadIdentity(WorkloadIdentitySignIn {
                client_id: " ".into(),
                token_file: "/f".into(),
            }),
        );
        assert_eq!(config.resolve().unwrap_err().reason, Reason::InvalidConfiguration);
        assert_eq!(
            EntraConfig::new("", secret_sign_in())
                .resolve()
                .unwrap_err()
                .reason,
            Reason::InvalidConfiguration
        );
    }

    #[test]
    fn workload_identity_reads_the_webhook_variables() {
        let env = |name: &str| match name {
            "AZURE_CLIENT_ID" => Some("cid".to_owned()),
            "AZURE_FEDERATED_TOKEN_FILE" => {
                Some("/var/run/secrets/azure/wi/token/azure-identity-token".to_owned())
            }
            _ => None,
        };
        let wi = WorkloadIdentitySignIn::from_lookup(env).unwrap();
        assert_eq!(wi.client_id, "cid");
        assert_eq!(
            wi.token_file,
            PathBuf::from("/var/run/secrets/azure/wi/token/azure-identity-token")
        );
        let err = WorkloadIdentitySignIn::from_lookup(|_| None).unwrap_err();
        assert!(err.message.contains("AZURE_CLIENT_ID"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let config = EntraConfig::new("t", secret_sign_in());
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }
}
