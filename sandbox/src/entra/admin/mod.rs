//! The admin interface of the emulator, as Rust methods on [`Emulator`]: create tenants,
//! applications and managed identities, seed credentials, configure policies, consistency,
//! throttling and faults, move the clock, and inspect state and the audit log.
//! [`http`] exposes the same operations as JSON under `/_emulator`.
//!
//! Invariant: admin calls bypass policies, limits, throttling, faults and the audit log (they set
//! the stage; the protocol endpoints are what is under test), and a seeded secret is returned
//! once, as a [`SecretString`].

pub(crate) mod http;

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jiff::Timestamp;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::audit::AuditEntry;
use super::clock::{graph_precision, plus};
use super::consistency::{Consistency, ConsistencyScope, seconds};
use super::directory::{
    CertificateRecord, DirObject, FederatedCredential, ManagedIdentity, ObjectKind, PasswordRecord, Tenant,
    TrustedIssuer,
};
use super::faults::{FaultError, FaultRule};
use super::policy::{self, AppManagementPolicy, PolicyError, TenantAppManagementPolicy};
use super::protocol::{self, GLOBAL_GRAPH_RESOURCE, TOKEN_EXCHANGE_AUDIENCE};
use super::secret::{self, SecretFingerprint};
use super::throttle::ThrottleLimits;
use super::{Emulator, State};
use crate::rsa_key::pem;

/// An admin call that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No tenant with that id or domain.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// No object with that object id or client id.
    #[error("unknown object {0}")]
    UnknownObject(String),
    /// No app management policy with that id.
    #[error("unknown app management policy {0}")]
    UnknownPolicy(String),
    /// An id already in use.
    #[error("{0} already exists")]
    Duplicate(String),
    /// The certificate is not a PEM or DER X.509 certificate with an RSA key.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// The document is not a JWKS.
    #[error("invalid JWKS: {0}")]
    InvalidJwks(String),
    /// The policy would not pass Graph's validation.
    #[error(transparent)]
    InvalidPolicy(#[from] PolicyError),
    /// The fault rule is invalid.
    #[error(transparent)]
    InvalidFault(#[from] FaultError),
    /// Some other invalid input.
    #[error("{0}")]
    Invalid(String),
}

/// A tenant to create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantSpec {
    /// Tenant id; a new GUID when absent.
    pub id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Verified domain names (e.g. `contoso.onmicrosoft.com`), usable in token URLs.
    pub domains: Vec<String>,
}

/// A created tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTenant {
    /// Tenant id.
    pub id: String,
    /// Its domain names.
    pub domains: Vec<String>,
}

/// An application registration to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Display name.
    pub display_name: String,
    /// `signInAudience`; default `AzureADMyOrg`.
    #[serde(default)]
    pub sign_in_audience: Option<String>,
    /// Client id; a new GUID when absent.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Whether to create its service principal in the same tenant (default true).
    #[serde(default = "yes")]
    pub create_service_principal: bool,
}

fn yes() -> bool {
    true
}

impl ApplicationSpec {
    /// A single-tenant application with a service principal.
    pub fn new(display_name: &str) -> Self {
        Self {
            display_name: display_name.to_owned(),
            sign_in_audience: None,
            app_id: None,
            create_service_principal: true,
        }
    }

    /// Sets `signInAudience`.
    pub fn sign_in_audience(mut self, audience: &str) -> Self {
        self.sign_in_audience = Some(audience.to_owned());
        self
    }
}

/// A created application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApplication {
    /// The application's object id (`id`).
    pub object_id: String,
    /// The client id (`appId`).
    pub app_id: String,
    /// The service principal's object id, if one was created.
    pub service_principal_id: Option<String>,
    /// The tenant.
    pub tenant_id: String,
}

/// A password credential to seed (an existing secret to adopt).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordSpec {
    /// Display name.
    pub display_name: Option<String>,
    /// Start; default now.
    #[serde(rename = "startDateTime")]
    pub start: Option<Timestamp>,
    /// End; default start + 2 years.
    #[serde(rename = "endDateTime")]
    pub end: Option<Timestamp>,
    /// When true, the credential goes through the configured propagation delay and read lag like
    /// a Graph write; by default it is already propagated everywhere.
    pub fresh: bool,
}

/// A seeded password credential, with its secret (shown this once).
#[derive(Clone, Debug)]
pub struct SeededPassword {
    /// keyId.
    pub key_id: String,
    /// First three characters of the secret.
    pub hint: String,
    /// Start of validity.
    pub start: Timestamp,
    /// End of validity.
    pub end: Timestamp,
    /// The secret value.
    pub secret: SecretString,
}

/// A certificate to register on an object (its public part).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CertificateSpec {
    /// PEM text (`-----BEGIN CERTIFICATE-----`).
    pub pem: Option<String>,
    /// DER, standard base64.
    pub der_base64: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Start of validity as a key credential; default now.
    #[serde(rename = "startDateTime")]
    pub start: Option<Timestamp>,
    /// End of validity as a key credential; default start + 1 year.
    #[serde(rename = "endDateTime")]
    pub end: Option<Timestamp>,
}

impl CertificateSpec {
    /// From PEM text.
    pub fn from_pem(pem: &str) -> Self {
        Self {
            pem: Some(pem.to_owned()),
            ..Default::default()
        }
    }

    /// From DER bytes.
    pub fn from_der(der: &[u8]) -> Self {
        Self {
            der_base64: Some(STANDARD.encode(der)),
            ..Default::default()
        }
    }
}

/// A registered certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredCertificate {
    /// keyId of the key credential.
    pub key_id: String,
    /// SHA-1 thumbprint, uppercase hex (as Graph's `customKeyIdentifier` shows it).
    pub thumbprint_sha1_hex: String,
    /// SHA-1 thumbprint, base64url (an `x5t` header value).
    pub x5t: String,
    /// SHA-256 thumbprint, base64url (an `x5t#S256` header value).
    pub x5t_s256: String,
}

/// A federated identity credential to add to an application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FederatedCredentialSpec {
    /// Unique name on the application.
    pub name: String,
    /// Issuer URL, compared exactly.
    pub issuer: String,
    /// Subject, e.g. `system:serviceaccount:<ns>:<sa>`.
    pub subject: String,
    /// Accepted audiences; default `["api://AzureADTokenExchange"]`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec![TOKEN_EXCHANGE_AUDIENCE.to_owned()]
}

impl FederatedCredentialSpec {
    /// A credential for a Kubernetes service account of `issuer`.
    pub fn kubernetes(name: &str, issuer: &str, namespace: &str, service_account: &str) -> Self {
        Self {
            name: name.to_owned(),
            issuer: issuer.to_owned(),
            subject: format!("system:serviceaccount:{namespace}:{service_account}"),
            audiences: default_audiences(),
        }
    }
}

/// A managed identity to create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ManagedIdentitySpec {
    /// Display name.
    pub display_name: String,
    /// Client id; a new GUID when absent.
    pub client_id: Option<String>,
    /// Azure resource id (for `msi_res_id`).
    pub resource_id: Option<String>,
    /// System-assigned (chosen when a request names no identity).
    pub system_assigned: bool,
    /// App roles granted to its service principal.
    pub roles: Vec<String>,
}

/// A created managed identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedManagedIdentity {
    /// Client id.
    pub client_id: String,
    /// Object id of its service principal.
    pub object_id: String,
}

/// One password credential as the emulator's primary copy holds it (what reads will eventually
/// show), with its consistency timestamps. Never carries the secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredentialState {
    /// keyId.
    pub key_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// First three characters of the secret.
    pub hint: String,
    /// startDateTime.
    pub start: Timestamp,
    /// endDateTime.
    pub end: Timestamp,
    /// When it was written (emulator time).
    pub created: Timestamp,
    /// From when the token endpoint accepts it.
    pub usable_at: Timestamp,
    /// From when reads show it.
    pub readable_at: Timestamp,
    /// When it was removed, if it was.
    pub removed_at: Option<Timestamp>,
    /// `application` or `servicePrincipal`.
    pub holder: String,
    /// Object id of the holder.
    pub holder_id: String,
}

/// Emulator-wide settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Lifetime of access tokens from the token endpoint (seconds over HTTP).
    #[serde(with = "seconds")]
    pub token_lifetime: Duration,
    /// Lifetime of IMDS tokens (seconds over HTTP).
    #[serde(with = "seconds")]
    pub imds_token_lifetime: Duration,
    /// The Graph resource (token audience and `/.default` scope prefix).
    pub graph_resource: String,
    /// Ceiling on password + key credentials per object (the object-size limit).
    pub credential_limit: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_lifetime: protocol::DEFAULT_TOKEN_LIFETIME,
            imds_token_lifetime: protocol::DEFAULT_IMDS_TOKEN_LIFETIME,
            graph_resource: GLOBAL_GRAPH_RESOURCE.to_owned(),
            credential_limit: None,
        }
    }
}

fn new_guid(state: &mut State) -> String {
    uuid::Builder::from_random_bytes(state.rng.random())
        .into_uuid()
        .to_string()
}

fn tenant_id(state: &State, tenant: &str) -> Result<String, AdminError> {
    state
        .dir
        .tenant(tenant)
        .map(|t| t.id.clone())
        .ok_or_else(|| AdminError::UnknownTenant(tenant.to_owned()))
}

fn object_mut<'a>(state: &'a mut State, id: &str) -> Result<&'a mut DirObject, AdminError> {
    state
        .dir
        .resolve_mut(id)
        .ok_or_else(|| AdminError::UnknownObject(id.to_owned()))
}

/// Extracts DER from a PEM certificate.
fn pem_to_der(text: &str) -> Result<Vec<u8>, AdminError> {
    let begin = "-----BEGIN CERTIFICATE-----";
    let start = text
        .find(begin)
        .ok_or_else(|| AdminError::InvalidCertificate("no CERTIFICATE PEM block".into()))?;
    let rest = &text[start + begin.len()..];
    let end = rest
        .find("-----END CERTIFICATE-----")
        .ok_or_else(|| AdminError::InvalidCertificate("unterminated PEM block".into()))?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(body)
        .map_err(|e| AdminError::InvalidCertificate(e.to_string()))
}

impl Emulator {
    /// Creates a tenant.
    pub fn create_tenant(&self, spec: TenantSpec) -> Result<CreatedTenant, AdminError> {
        let mut state = self.lock();
        let id = match spec.id {
            Some(id) => id,
            None => new_guid(&mut state),
        };
        if state.dir.tenant(&id).is_some() || spec.domains.iter().any(|d| state.dir.tenant(d).is_some()) {
            return Err(AdminError::Duplicate(format!("tenant {id}")));
        }
        state.dir.tenants.insert(
            id.clone(),
            Tenant {
                id: id.clone(),
                display_name: spec.display_name.unwrap_or_else(|| "Emulated tenant".to_owned()),
                domains: spec.domains.clone(),
                default_policy: TenantAppManagementPolicy::default(),
            },
        );
        Ok(CreatedTenant {
            id,
            domains: spec.domains,
        })
    }

    /// Creates an application registration (and by default its service principal) in a tenant.
    /// Under a configured read lag, Graph reads answer 404 for it until the lag has passed.
    pub fn create_application(
        &self,
        tenant: &str,
        spec: ApplicationSpec,
    ) -> Result<CreatedApplication, AdminError> {
        let now = self.now();
        let mut state = self.lock();
        let tenant_id = tenant_id(&state, tenant)?;
        let app_id = match spec.app_id {
            Some(id) => id,
            None => new_guid(&mut state),
        };
        if state
            .dir
            .objects
            .values()
            .any(|o| o.app_id.eq_ignore_ascii_case(&app_id))
        {
            return Err(AdminError::Duplicate(format!("application {app_id}")));
        }
        let visible_at = plus(now, state.consistency.for_app(&tenant_id, &app_id).read_lag);
        let audience = spec.sign_in_audience.unwrap_or_else(|| "AzureADMyOrg".to_owned());
        let object_id = new_guid(&mut state);
        let base = DirObject {
            kind: ObjectKind::Application,
            id: object_id.clone(),
            app_id: app_id.clone(),
            tenant_id: tenant_id.clone(),
            display_name: spec.display_name,
            sign_in_audience: audience,
            created: graph_precision(now),
            visible_at,
            owners: vec![],
            passwords: vec![],
            certificates: vec![],
            federated: vec![],
            roles: BTreeSet::new(),
            service_principal_type: String::new(),
            policy_id: None,
        };
        let sp = spec.create_service_principal.then(|| DirObject {
            kind: ObjectKind::ServicePrincipal,
            id: new_guid(&mut state),
            service_principal_type: "Application".to_owned(),
            ..base.clone()
        });
        let service_principal_id = sp.as_ref().map(|s| s.id.clone());
        state.dir.objects.insert(object_id.clone(), base);
        if let Some(sp) = sp {
            state.dir.objects.insert(sp.id.clone(), sp);
        }
        Ok(CreatedApplication {
            object_id,
            app_id,
            service_principal_id,
            tenant_id,
        })
    }

    /// Adds an owner (an object id, e.g. a service principal's) to an application or service
    /// principal.
    pub fn add_owner(&self, object: &str, owner_id: &str) -> Result<(), AdminError> {
        let mut state = self.lock();
        let o = object_mut(&mut state, object)?;
        if !o.owners.iter().any(|x| x.eq_ignore_ascii_case(owner_id)) {
            o.owners.push(owner_id.to_owned());
        }
        Ok(())
    }

    /// Grants application permissions (app roles of Graph, e.g. `Application.ReadWrite.OwnedBy`)
    /// to a service principal. An application's id or client id names its service principal in
    /// the same tenant. Tokens issued afterwards carry them.
    pub fn grant_app_roles(&self, service_principal: &str, roles: &[&str]) -> Result<(), AdminError> {
        let mut state = self.lock();
        let o = state
            .dir
            .resolve(service_principal)
            .ok_or_else(|| AdminError::UnknownObject(service_principal.into()))?;
        let sp_id = match o.kind {
            ObjectKind::ServicePrincipal => o.id.clone(),
            ObjectKind::Application => state
                .dir
                .service_principal(&o.tenant_id, &o.app_id)
                .map(|sp| sp.id.clone())
                .ok_or_else(|| {
                    AdminError::UnknownObject(format!("service principal of {service_principal}"))
                })?,
        };
        let sp = object_mut(&mut state, &sp_id)?;
        sp.roles.extend(roles.iter().map(|r| (*r).to_owned()));
        Ok(())
    }

    /// Adds a password credential with a generated secret to an application (by object id or
    /// client id) or a service principal (by object id), bypassing policies and limits.
    pub fn seed_password(&self, object: &str, spec: PasswordSpec) -> Result<SeededPassword, AdminError> {
        let now = self.now();
        let mut state = self.lock();
        let generated = secret::generate(&mut state.rng);
        let key_id = new_guid(&mut state);
        let (tenant_id, app_id) = {
            let o = state
                .dir
                .resolve(object)
                .ok_or_else(|| AdminError::UnknownObject(object.into()))?;
            (o.tenant_id.clone(), o.app_id.clone())
        };
        let consistency = if spec.fresh {
            state.consistency.for_app(&tenant_id, &app_id).clone()
        } else {
            Consistency::default()
        };
        let start = spec.start.unwrap_or_else(|| graph_precision(now));
        let end = match spec.end {
            Some(end) => end,
            None => start
                .to_zoned(jiff::tz::TimeZone::UTC)
                .checked_add(jiff::Span::new().years(protocol::DEFAULT_PASSWORD_LIFETIME_YEARS))
                .map(|z| z.timestamp())
                .map_err(|e| AdminError::Invalid(e.to_string()))?,
        };
        if end <= start {
            return Err(AdminError::Invalid(
                "endDateTime must be after startDateTime".into(),
            ));
        }
        let o = object_mut(&mut state, object)?;
        o.passwords.push(PasswordRecord {
            key_id: key_id.clone(),
            display_name: spec.display_name,
            hint: generated.hint.clone(),
            fingerprint: generated.fingerprint,
            start,
            end,
            created: now,
            usable_at: plus(now, consistency.propagation_delay),
            readable_at: plus(now, consistency.read_lag),
            removed: None,
        });
        Ok(SeededPassword {
            key_id,
            hint: generated.hint,
            start,
            end,
            secret: generated.value,
        })
    }

    /// Every password credential on an object (application by object id or client id, or
    /// service principal by object id), including removed ones, with consistency timestamps.
    pub fn credentials(&self, object: &str) -> Result<Vec<PasswordCredentialState>, AdminError> {
        let state = self.lock();
        let o = state
            .dir
            .resolve(object)
            .ok_or_else(|| AdminError::UnknownObject(object.into()))?;
        let holder = match o.kind {
            ObjectKind::Application => "application",
            ObjectKind::ServicePrincipal => "servicePrincipal",
        };
        Ok(o.passwords
            .iter()
            .map(|p| PasswordCredentialState {
                key_id: p.key_id.clone(),
                display_name: p.display_name.clone(),
                hint: p.hint.clone(),
                start: p.start,
                end: p.end,
                created: p.created,
                usable_at: p.usable_at,
                readable_at: p.readable_at,
                removed_at: p.removed.map(|r| r.at),
                holder: holder.to_owned(),
                holder_id: o.id.clone(),
            })
            .collect())
    }

    /// Registers a certificate (its public key) on an application or service principal.
    pub fn register_certificate(
        &self,
        object: &str,
        spec: CertificateSpec,
    ) -> Result<RegisteredCertificate, AdminError> {
        let der = match (&spec.pem, &spec.der_base64) {
            (Some(p), _) => pem_to_der(p)?,
            (None, Some(b)) => STANDARD
                .decode(b.trim())
                .map_err(|e| AdminError::InvalidCertificate(e.to_string()))?,
            (None, None) => return Err(AdminError::InvalidCertificate("give pem or derBase64".into())),
        };
        let key = DecodingKey::from_rsa_pem(pem("CERTIFICATE", &der).as_bytes())
            .map_err(|e| AdminError::InvalidCertificate(format!("no RSA public key found: {e}")))?;
        let sha1: [u8; 20] = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der)
            .as_ref()
            .try_into()
            .map_err(|_| AdminError::InvalidCertificate("digest".into()))?;
        let sha256: [u8; 32] = digest::digest(&digest::SHA256, &der)
            .as_ref()
            .try_into()
            .map_err(|_| AdminError::InvalidCertificate("digest".into()))?;
        let now = self.now();
        let mut state = self.lock();
        let key_id = new_guid(&mut state);
        let start = spec.start.unwrap_or_else(|| graph_precision(now));
        let end = spec
            .end
            .unwrap_or_else(|| plus(start, Duration::from_secs(365 * 86_400)));
        let o = object_mut(&mut state, object)?;
        o.certificates.push(CertificateRecord {
            key_id: key_id.clone(),
            display_name: spec.display_name,
            sha1,
            sha256,
            key,
            start,
            end,
        });
        Ok(RegisteredCertificate {
            key_id,
            thumbprint_sha1_hex: sha1.iter().map(|b| format!("{b:02X}")).collect(),
            x5t: URL_SAFE_NO_PAD.encode(sha1),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256),
        })
    }

    /// Adds a federated identity credential to an application.
    pub fn add_federated_credential(
        &self,
        application: &str,
        spec: FederatedCredentialSpec,
    ) -> Result<(), AdminError> {
        let mut state = self.lock();
        let o = object_mut(&mut state, application)?;
        if o.kind != ObjectKind::Application {
            return Err(AdminError::Invalid(
                "federated identity credentials live on applications".into(),
            ));
        }
        if o.federated.iter().any(|f| f.name == spec.name) {
            return Err(AdminError::Duplicate(format!(
                "federated identity credential {}",
                spec.name
            )));
        }
        if spec.audiences.is_empty() {
            return Err(AdminError::Invalid("audiences must not be empty".into()));
        }
        o.federated.push(FederatedCredential {
            name: spec.name,
            issuer: spec.issuer,
            subject: spec.subject,
            audiences: spec.audiences,
        });
        Ok(())
    }

    /// Trusts an external issuer (exact `iss` string) with its JWKS document
    /// (`{"keys":[…]}`), as Entra would fetch it through OIDC discovery.
    pub fn trust_issuer(&self, issuer: &str, jwks: serde_json::Value) -> Result<(), AdminError> {
        let jwks: JwkSet =
            serde_json::from_value(jwks).map_err(|e| AdminError::InvalidJwks(e.to_string()))?;
        if let Some(bad) = jwks.keys.iter().find(|k| DecodingKey::from_jwk(k).is_err()) {
            return Err(AdminError::InvalidJwks(format!(
                "unusable key {:?}",
                bad.common.key_id
            )));
        }
        self.lock()
            .dir
            .trusted_issuers
            .insert(issuer.to_owned(), TrustedIssuer { jwks });
        Ok(())
    }

    /// Creates a managed identity (a service principal of type `ManagedIdentity`) that IMDS
    /// issues tokens for.
    pub fn create_managed_identity(
        &self,
        tenant: &str,
        spec: ManagedIdentitySpec,
    ) -> Result<CreatedManagedIdentity, AdminError> {
        let now = self.now();
        let mut state = self.lock();
        let tenant_id = tenant_id(&state, tenant)?;
        let client_id = match spec.client_id {
            Some(c) => c,
            None => new_guid(&mut state),
        };
        if state
            .dir
            .objects
            .values()
            .any(|o| o.app_id.eq_ignore_ascii_case(&client_id))
        {
            return Err(AdminError::Duplicate(format!("client {client_id}")));
        }
        let object_id = new_guid(&mut state);
        state.dir.objects.insert(
            object_id.clone(),
            DirObject {
                kind: ObjectKind::ServicePrincipal,
                id: object_id.clone(),
                app_id: client_id.clone(),
                tenant_id: tenant_id.clone(),
                display_name: spec.display_name,
                sign_in_audience: "AzureADMyOrg".into(),
                created: graph_precision(now),
                visible_at: now,
                owners: vec![],
                passwords: vec![],
                certificates: vec![],
                federated: vec![],
                roles: spec.roles.into_iter().collect(),
                service_principal_type: "ManagedIdentity".into(),
                policy_id: None,
            },
        );
        state.dir.managed_identities.push(ManagedIdentity {
            client_id: client_id.clone(),
            object_id: object_id.clone(),
            tenant_id,
            resource_id: spec.resource_id,
            system_assigned: spec.system_assigned,
        });
        Ok(CreatedManagedIdentity { client_id, object_id })
    }

    /// Replaces a tenant's default app management policy.
    pub fn set_tenant_app_management_policy(
        &self,
        tenant: &str,
        policy: TenantAppManagementPolicy,
    ) -> Result<(), AdminError> {
        policy::validate(&policy.application_restrictions)?;
        policy::validate(&policy.service_principal_restrictions)?;
        let mut state = self.lock();
        let id = tenant_id(&state, tenant)?;
        if let Some(t) = state.dir.tenants.get_mut(&id) {
            t.default_policy = policy;
        }
        Ok(())
    }

    /// A tenant's default app management policy.
    pub fn tenant_app_management_policy(
        &self,
        tenant: &str,
    ) -> Result<TenantAppManagementPolicy, AdminError> {
        let state = self.lock();
        state
            .dir
            .tenant(tenant)
            .map(|t| t.default_policy.clone())
            .ok_or_else(|| AdminError::UnknownTenant(tenant.into()))
    }

    /// Creates a per-object app management policy; returns its id.
    pub fn create_app_management_policy(
        &self,
        mut policy: AppManagementPolicy,
    ) -> Result<String, AdminError> {
        policy::validate(&policy.restrictions)?;
        let mut state = self.lock();
        if policy.id.is_empty() {
            policy.id = new_guid(&mut state);
        }
        let id = policy.id.clone();
        state.dir.policies.insert(id.clone(), policy);
        Ok(id)
    }

    /// Assigns a per-object policy to an application or service principal (`None` unassigns).
    pub fn assign_app_management_policy(
        &self,
        object: &str,
        policy_id: Option<&str>,
    ) -> Result<(), AdminError> {
        let mut state = self.lock();
        if let Some(p) = policy_id
            && !state.dir.policies.contains_key(p)
        {
            return Err(AdminError::UnknownPolicy(p.to_owned()));
        }
        object_mut(&mut state, object)?.policy_id = policy_id.map(str::to_owned);
        Ok(())
    }

    /// Sets the consistency behaviour of a scope. Applies to writes made afterwards (and to
    /// stale-replica rolls from now on).
    pub fn set_consistency(
        &self,
        scope: ConsistencyScope,
        consistency: Consistency,
    ) -> Result<(), AdminError> {
        if !(0.0..=1.0).contains(&consistency.stale_fraction) {
            return Err(AdminError::Invalid(format!(
                "staleFraction {} is outside 0..=1",
                consistency.stale_fraction
            )));
        }
        let mut state = self.lock();
        match scope {
            ConsistencyScope::Default => state.consistency.default = consistency,
            ConsistencyScope::Tenant(t) => {
                let id = tenant_id(&state, &t)?;
                state.consistency.tenants.insert(id, consistency);
            }
            ConsistencyScope::Application(a) => {
                let app_id = state
                    .dir
                    .resolve(&a)
                    .map(|o| o.app_id.clone())
                    .ok_or(AdminError::UnknownObject(a))?;
                state.consistency.applications.insert(app_id, consistency);
            }
        }
        Ok(())
    }

    /// Replaces the throttling limits (and refills every bucket).
    pub fn set_throttling(&self, limits: ThrottleLimits) {
        self.lock().throttle.set_limits(limits);
    }

    /// Replaces the emulator-wide settings.
    pub fn set_settings(&self, settings: Settings) {
        self.lock().settings = settings;
    }

    /// The emulator-wide settings.
    pub fn settings(&self) -> Settings {
        self.lock().settings.clone()
    }

    /// Installs a fault rule; returns its id.
    pub fn inject_fault(&self, rule: FaultRule) -> Result<u64, AdminError> {
        Ok(self.lock().faults.install(rule)?)
    }

    /// Removes one fault rule; returns whether it existed.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.lock().faults.remove(id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The installed fault rules (with remaining counts) by id.
    pub fn faults(&self) -> Vec<(u64, FaultRule)> {
        self.lock().faults.list()
    }

    /// Whether `secret` authenticates `client_id` in `tenant` right now (propagated, in its
    /// validity window, not revoked), ignoring stale-replica rolls.
    pub fn authenticates(&self, tenant: &str, client_id: &str, secret: &str) -> bool {
        let now = self.now();
        let state = self.lock();
        let Some(tenant) = state.dir.tenant(tenant) else {
            return false;
        };
        if state.dir.service_principal(&tenant.id, client_id).is_none() {
            return false;
        }
        let holders = state.dir.credential_holders(&tenant.id, client_id);
        super::directory::check_secret(&holders, &SecretFingerprint::of(secret), now, None)
            == super::directory::SecretCheck::Valid
    }

    /// [`authenticates`](Self::authenticates) for a [`SecretString`].
    pub fn authenticates_secret(&self, tenant: &str, client_id: &str, secret: &SecretString) -> bool {
        self.authenticates(tenant, client_id, secret.expose_secret())
    }

    /// Every protocol call so far, oldest first.
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        self.lock().audit.clone()
    }

    /// Empties the audit log.
    pub fn clear_audit_log(&self) {
        self.lock().audit.clear();
    }
}
