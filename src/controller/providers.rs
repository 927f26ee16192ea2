//! Provider resolution: from an `IdentityProvider` or `ClusterIdentityProvider` to a ready
//! [`EntraProvider`], cached so the operator's Graph token is reused across reconciles.
//!
//! Where sign-in material may come from (the tenancy boundary, see the CRD docs):
//! * a namespaced `IdentityProvider` reads Secrets and requests service-account tokens in its own
//!   namespace only (its references carry no namespace), and cannot use the operator's ambient
//!   identity (its token file or the node's managed identity);
//! * a `ClusterIdentityProvider` reads the Secrets its spec names (namespace included: only a
//!   cluster administrator can write one), uses the operator's own workload identity by default,
//!   or the managed identity.
//!
//! Invariants:
//! * a cached provider is reused only while the provider object's uid and generation and the
//!   `resourceVersion` of the Secret it signs in with are unchanged (a metadata read decides; the
//!   Secret's data is read only to build a new provider);
//! * the sign-in secret or key goes straight into the provider's configuration as a
//!   `SecretString` and is never logged or cached elsewhere.

use std::{collections::HashMap, sync::Arc};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt};
use secrecy::SecretString;

use super::{
    config::ControllerConfig,
    failure::{self, SIGN_IN_SECRET_UNAVAILABLE},
    service_account_token::ServiceAccountToken,
};
use crate::{
    api::{self, ClusterIdentityProvider, Directory, IdentityProvider},
    clock::Clock,
    provider::{
        CredentialProvider,
        entra::{
            AssertionAlgorithm, CertificateSignIn, ClientSecretSignIn, Cloud, EntraConfig, EntraProvider,
            ManagedIdentitySignIn, OperatorSignIn, WorkloadIdentitySignIn,
        },
        observer::RequestObserver,
        sleeper::Sleeper,
    },
    rotation::StepFailure,
};

/// The provider object a rotation uses, as read from the watch cache.
#[derive(Clone, Debug)]
pub enum ProviderObject {
    /// A namespaced provider.
    Namespaced(Arc<IdentityProvider>),
    /// A cluster provider.
    Cluster(Arc<ClusterIdentityProvider>),
}

impl ProviderObject {
    fn uid(&self) -> String {
        match self {
            ProviderObject::Namespaced(p) => p.uid(),
            ProviderObject::Cluster(p) => p.uid(),
        }
        .unwrap_or_default()
    }

    fn generation(&self) -> Option<i64> {
        match self {
            ProviderObject::Namespaced(p) => p.metadata.generation,
            ProviderObject::Cluster(p) => p.metadata.generation,
        }
    }

    fn describe(&self) -> String {
        match self {
            ProviderObject::Namespaced(p) => format!(
                "IdentityProvider {}/{}",
                p.namespace().unwrap_or_default(),
                p.name_any()
            ),
            ProviderObject::Cluster(p) => format!("ClusterIdentityProvider {}", p.name_any()),
        }
    }

    fn directory(&self) -> &Directory {
        match self {
            ProviderObject::Namespaced(p) => &p.spec.directory,
            ProviderObject::Cluster(p) => &p.spec.directory,
        }
    }
}

/// What building a provider needs from the operator.
pub struct ProviderEnv<'a> {
    /// The API client (Secrets, TokenRequest).
    pub client: &'a Client,
    /// The controller's settings.
    pub config: &'a ControllerConfig,
    /// Time for the provider.
    pub clock: &'a Arc<dyn Clock>,
    /// Waits for the provider.
    pub sleeper: &'a Arc<dyn Sleeper>,
    /// Told about every request a provider sends.
    pub requests: Arc<dyn RequestObserver>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    generation: Option<i64>,
    secret_version: Option<String>,
}

/// Where the sign-in material of a provider lives.
enum Method {
    Secret {
        client_id: String,
        namespace: String,
        name: String,
        key: String,
    },
    Certificate {
        client_id: String,
        namespace: String,
        name: String,
        certificate_key: String,
        private_key_key: String,
    },
    ServiceAccount {
        client_id: String,
        namespace: String,
        name: String,
        audience: String,
    },
    OperatorTokenFile {
        client_id: Option<String>,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
}

impl Method {
    fn of(object: &ProviderObject) -> Result<Self, StepFailure> {
        let none = || {
            failure::failure(
                "InvalidConfiguration",
                format!("{} sets no sign-in method", object.describe()),
                false,
            )
        };
        Ok(match object {
            ProviderObject::Namespaced(p) => {
                let namespace = p.namespace().unwrap_or_default();
                let auth = &p.spec.auth;
                if let Some(cs) = &auth.client_secret {
                    Method::Secret {
                        client_id: cs.client_id.clone(),
                        namespace,
                        name: cs.secret_ref.name.clone(),
                        key: cs.secret_ref.key.clone(),
                    }
                } else if let Some(cc) = &auth.client_certificate {
                    Method::Certificate {
                        client_id: cc.client_id.clone(),
                        namespace,
                        name: cc.secret_ref.name.clone(),
                        certificate_key: cc.certificate_key.clone(),
                        private_key_key: cc.private_key_key.clone(),
                    }
                } else if let Some(wi) = &auth.workload_identity {
                    Method::ServiceAccount {
                        client_id: wi.client_id.clone(),
                        namespace,
                        name: wi.service_account_name.clone(),
                        audience: wi.audience.clone(),
                    }
                } else {
                    return Err(none());
                }
            }
            ProviderObject::Cluster(p) => {
                let auth = &p.spec.auth;
                if let Some(cs) = &auth.client_secret {
                    Method::Secret {
                        client_id: cs.client_id.clone(),
                        namespace: cs.secret_ref.namespace.clone(),
                        name: cs.secret_ref.name.clone(),
                        key: cs.secret_ref.key.clone(),
                    }
                } else if let Some(cc) = &auth.client_certificate {
                    Method::Certificate {
                        client_id: cc.client_id.clone(),
                        namespace: cc.secret_ref.namespace.clone(),
                        name: cc.secret_ref.name.clone(),
                        certificate_key: cc.certificate_key.clone(),
                        private_key_key: cc.private_key_key.clone(),
                    }
                } else if let Some(wi) = &auth.workload_identity {
                    match &wi.service_account_ref {
                        Some(sa) => Method::ServiceAccount {
                            client_id: wi.client_id.clone().ok_or_else(|| {
                                failure::failure(
                                    "InvalidConfiguration",
                                    format!(
                                        "{}: workloadIdentity with a serviceAccountRef needs a clientId",
                                        object.describe()
                                    ),
                                    false,
                                )
                            })?,
                            namespace: sa.namespace.clone(),
                            name: sa.name.clone(),
                            audience: wi.audience.clone(),
                        },
                        None => Method::OperatorTokenFile {
                            client_id: wi.client_id.clone(),
                        },
                    }
                } else if let Some(mi) = &auth.managed_identity {
                    Method::ManagedIdentity {
                        client_id: mi.client_id.clone(),
                    }
                } else {
                    return Err(none());
                }
            }
        })
    }

    /// The Secret the method reads, if any.
    fn secret(&self) -> Option<(&str, &str)> {
        match self {
            Method::Secret { namespace, name, .. } | Method::Certificate { namespace, name, .. } => {
                Some((namespace, name))
            }
            _ => None,
        }
    }
}

/// A built provider, with what it was built from.
type Built = (Fingerprint, Arc<dyn CredentialProvider>);

/// Built providers, by provider uid.
#[derive(Default)]
pub struct ProviderCache {
    entries: tokio::sync::Mutex<HashMap<String, Built>>,
}

impl std::fmt::Debug for ProviderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCache").finish_non_exhaustive()
    }
}

impl ProviderCache {
    /// The provider for `object`: cached, or built now.
    pub async fn get(
        &self,
        env: &ProviderEnv<'_>,
        object: &ProviderObject,
    ) -> Result<Arc<dyn CredentialProvider>, StepFailure> {
        let method = Method::of(object)?;
        let secret_version = match method.secret() {
            Some((namespace, name)) => {
                let api: Api<Secret> = Api::namespaced(env.client.clone(), namespace);
                let meta = api
                    .get_metadata_opt(name)
                    .await
                    .map_err(|e| failure::from_kube(&format!("reading Secret {namespace}/{name}"), &e))?
                    .ok_or_else(|| missing_secret(object, namespace, name))?;
                meta.resource_version()
            }
            None => None,
        };
        let fingerprint = Fingerprint {
            generation: object.generation(),
            secret_version,
        };
        let uid = object.uid();
        // NB: the lock is held while building so concurrent passes share one provider (and its
        // token cache) instead of each signing in.
        let mut entries = self.entries.lock().await;
        if let Some((known, provider)) = entries.get(&uid)
            && *known == fingerprint
        {
            return Ok(provider.clone());
        }
        let config = build_config(env, object, &method).await?;
        let provider = EntraProvider::with_time(config, env.clock.clone(), env.sleeper.clone())
            .map_err(|e| StepFailure::from(&e))?
            .observed_by(env.requests.clone());
        tracing::info!(provider = %object.describe(), "signed-in provider configured");
        let provider: Arc<dyn CredentialProvider> = Arc::new(provider);
        entries.insert(uid, (fingerprint, provider.clone()));
        Ok(provider)
    }
}

fn missing_secret(object: &ProviderObject, namespace: &str, name: &str) -> StepFailure {
    failure::failure(
        SIGN_IN_SECRET_UNAVAILABLE,
        format!(
            "{} signs in with Secret {namespace}/{name}, which does not exist",
            object.describe()
        ),
        false,
    )
}

async fn read_key(
    client: &Client,
    object: &ProviderObject,
    namespace: &str,
    name: &str,
    keys: &[&str],
) -> Result<Vec<SecretString>, StepFailure> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| failure::from_kube(&format!("reading Secret {namespace}/{name}"), &e))?
        .ok_or_else(|| missing_secret(object, namespace, name))?;
    let mut data = secret.data.unwrap_or_default();
    keys.iter()
        .map(|key| {
            let value = data.remove(*key).ok_or_else(|| {
                failure::failure(
                    SIGN_IN_SECRET_UNAVAILABLE,
                    format!("Secret {namespace}/{name} has no key {key:?}"),
                    false,
                )
            })?;
            let text = String::from_utf8(value.0).map_err(|_| {
                failure::failure(
                    SIGN_IN_SECRET_UNAVAILABLE,
                    format!("the value under key {key:?} of Secret {namespace}/{name} is not UTF-8"),
                    false,
                )
            })?;
            // `kubectl create secret --from-file` keeps a trailing newline; no credential has
            // surrounding whitespace.
            Ok(SecretString::from(text.trim().to_owned()))
        })
        .collect()
}

fn cloud(c: api::Cloud) -> Cloud {
    match c {
        api::Cloud::Global => Cloud::Global,
        api::Cloud::UsGovernment => Cloud::UsGovernment,
        api::Cloud::UsGovernmentDoD => Cloud::UsGovernmentDoD,
        api::Cloud::China => Cloud::China,
    }
}

async fn build_config(
    env: &ProviderEnv<'_>,
    object: &ProviderObject,
    method: &Method,
) -> Result<EntraConfig, StepFailure> {
    use secrecy::ExposeSecret;
    let sign_in = match method {
        Method::Secret {
            client_id,
            namespace,
            name,
            key,
        } => {
            let mut values = read_key(env.client, object, namespace, name, &[key]).await?;
            OperatorSignIn::ClientSecret(ClientSecretSignIn {
                client_id: client_id.clone(),
                secret: values.remove(0),
            })
        }
        Method::Certificate {
            client_id,
            namespace,
            name,
            certificate_key,
            private_key_key,
        } => {
            let mut values = read_key(
                env.client,
                object,
                namespace,
                name,
                &[certificate_key, private_key_key],
            )
            .await?;
            let private_key_pem = values.remove(1);
            // A certificate is public; only its key is secret.
            let certificate_pem = values.remove(0).expose_secret().to_owned();
            OperatorSignIn::Certificate(CertificateSignIn {
                client_id: client_id.clone(),
                certificate_pem,
                private_key_pem,
                algorithm: AssertionAlgorithm::default(),
                send_certificate_chain: false,
            })
        }
        Method::ServiceAccount {
            client_id,
            namespace,
            name,
            audience,
        } => OperatorSignIn::WorkloadIdentity(WorkloadIdentitySignIn::from_source(
            client_id.clone(),
            Arc::new(ServiceAccountToken::new(
                env.client.clone(),
                namespace,
                name,
                audience,
            )),
        )),
        Method::OperatorTokenFile { client_id } => {
            let own = env.config.operator_workload_identity.as_ref().ok_or_else(|| {
                failure::failure(
                    "InvalidConfiguration",
                    format!(
                        "{} uses the operator's workload identity, but the operator pod has none (AZURE_FEDERATED_TOKEN_FILE is not set)",
                        object.describe()
                    ),
                    false,
                )
            })?;
            let mut own = own.clone();
            if let Some(id) = client_id {
                own.client_id = id.clone();
            }
            OperatorSignIn::WorkloadIdentity(own)
        }
        Method::ManagedIdentity { client_id } => OperatorSignIn::ManagedIdentity(ManagedIdentitySignIn {
            client_id: client_id.clone(),
            endpoint: env.config.imds_endpoint.clone(),
            api_version: None,
        }),
    };
    let directory = object.directory();
    let mut config = EntraConfig::new(directory.tenant_id.clone(), sign_in);
    config.cloud = cloud(directory.cloud);
    if let Some(endpoints) = &directory.endpoints {
        config.authority_host = endpoints.authority.clone();
        config.graph_endpoint = endpoints.graph.clone();
    }
    config.retry = env.config.provider_retry;
    Ok(config)
}
