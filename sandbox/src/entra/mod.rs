//! An emulator of Microsoft Entra ID's token endpoint, Azure IMDS and the Microsoft Graph calls
//! secret-rotator makes, as a real HTTP server (an axum [`Router`], in-process or on loopback).
//! It follows `shared/docs/entra-graph-protocol.md`; facts that document marks as inferences live
//! in [`protocol`] so they change in one place.
//!
//! # What it serves
//!
//! | Method + path | What |
//! |---|---|
//! | `POST /{tenant}/oauth2/v2.0/token` | client credentials: `client_secret` (form or Basic), certificate assertions (RS256/PS256, `x5t`/`x5t#S256`), federated tokens |
//! | `GET /{tenant}/discovery/v2.0/keys` | the JWKS of the emulator's token-signing key |
//! | `GET /metadata/identity/oauth2/token` | managed identity (IMDS); needs `Metadata: true` |
//! | `GET /v1.0/applications[/{id}\|(appId='…')]`, `GET /v1.0/servicePrincipals…` | reads, `$select`, `$filter=<appId\|id\|displayName> eq '…'` |
//! | `POST /v1.0/{applications\|servicePrincipals}{/{id}\|(appId='…')}/addPassword` | 200 with `secretText` |
//! | `POST …/removePassword` | 204 |
//! | `GET`/`PATCH /v1.0/policies/defaultAppManagementPolicy` | tenant default app management policy |
//!
//! Graph calls authenticate with the emulator's bearer tokens (`roles` decide: `Application.Read.All`
//! reads, `Application.ReadWrite.All` writes anything, `Application.ReadWrite.OwnedBy` writes what
//! the caller's service principal owns), pass a per-(app, tenant) throttling bucket, and see the
//! directory through the configured read lag.
//!
//! # Admin interface (JSON over HTTP, under `/_emulator`)
//!
//! Never subject to faults, throttling or the audit log. Durations are numbers of seconds.
//! Objects are named by object id or client id (appId).
//!
//! | Method + path | Body → answer | Rust |
//! |---|---|---|
//! | `GET /_emulator/clock` | → `{"now","offsetSeconds"}` | [`Emulator::now`] |
//! | `POST /_emulator/clock/advance` | `{"seconds":n}` → clock | [`Emulator::advance`] |
//! | `POST /_emulator/tenants` | [`TenantSpec`] → [`CreatedTenant`] | [`Emulator::create_tenant`] |
//! | `POST /_emulator/tenants/{tenant}/applications` | [`ApplicationSpec`] → [`CreatedApplication`] | [`Emulator::create_application`] |
//! | `POST /_emulator/objects/{id}/owners` | `{"ownerId"}` → 204 | [`Emulator::add_owner`] |
//! | `POST /_emulator/objects/{id}/appRoles` | `{"roles":[…]}` → 204 | [`Emulator::grant_app_roles`] |
//! | `POST /_emulator/objects/{id}/passwords` | [`PasswordSpec`] → [`SeededPassword`] (with `secretText`) | [`Emulator::seed_password`] |
//! | `GET /_emulator/objects/{id}/passwords` | → `[`[`PasswordCredentialState`]`]` | [`Emulator::credentials`] |
//! | `POST /_emulator/objects/{id}/certificates` | [`CertificateSpec`] → [`RegisteredCertificate`] | [`Emulator::register_certificate`] |
//! | `POST /_emulator/objects/{id}/federatedIdentityCredentials` | [`FederatedCredentialSpec`] → 204 | [`Emulator::add_federated_credential`] |
//! | `PUT /_emulator/objects/{id}/appManagementPolicy` | `{"policyId":…\|null}` → 204 | [`Emulator::assign_app_management_policy`] |
//! | `POST /_emulator/trustedIssuers` | `{"issuer","jwks"}` → 204 | [`Emulator::trust_issuer`] |
//! | `POST /_emulator/tenants/{tenant}/managedIdentities` | [`ManagedIdentitySpec`] → [`CreatedManagedIdentity`] | [`Emulator::create_managed_identity`] |
//! | `PUT /_emulator/tenants/{tenant}/defaultAppManagementPolicy` | [`TenantAppManagementPolicy`] → 204 | [`Emulator::set_tenant_app_management_policy`] |
//! | `GET /_emulator/tenants/{tenant}/defaultAppManagementPolicy` | → [`TenantAppManagementPolicy`] | [`Emulator::tenant_app_management_policy`] |
//! | `POST /_emulator/appManagementPolicies` | [`AppManagementPolicy`] → `{"id"}` | [`Emulator::create_app_management_policy`] |
//! | `PUT /_emulator/consistency` | `{"scope":"default"\|"tenant"\|"application","id"?,"settings":`[`Consistency`]`}` → 204 | [`Emulator::set_consistency`] |
//! | `PUT /_emulator/throttling` | [`ThrottleLimits`] → 204 | [`Emulator::set_throttling`] |
//! | `GET`/`PUT /_emulator/settings` | [`Settings`] ↔ 204 | [`Emulator::settings`], [`Emulator::set_settings`] |
//! | `GET`/`POST`/`DELETE /_emulator/faults` | [`FaultRule`] → `{"id"}`; list; clear | [`Emulator::inject_fault`], [`Emulator::faults`], [`Emulator::clear_faults`] |
//! | `DELETE /_emulator/faults/{id}` | → 204/404 | [`Emulator::remove_fault`] |
//! | `POST /_emulator/authenticates` | `{"tenant","clientId","secret"}` → `{"authenticates":bool}` | [`Emulator::authenticates`] |
//! | `GET`/`DELETE /_emulator/audit` | → `[`[`AuditEntry`]`]`; clear | [`Emulator::audit_log`], [`Emulator::clear_audit_log`] |
//!
//! Admin errors answer `{"error":"<message>"}` with 400 (bad input) or 404 (unknown object).
//!
//! # Invariants
//!
//! Secret values exist only in the addPassword response and in the [`SeededPassword`] returned
//! to the admin caller; the emulator stores fingerprints, and no secret reaches the audit log,
//! tracing, `Debug` output or an error message. Emulator time ([`Emulator::now`]) drives every
//! time-dependent rule and only moves forward.

mod access_token;
mod admin;
mod audit;
mod clock;
mod consistency;
mod directory;
mod faults;
mod graph;
mod imds;
mod layer;
mod policy;
pub mod protocol;
mod secret;
mod server;
mod throttle;
mod token;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use access_token::{AccessTokenClaims, SigningKeyError};
pub use admin::{
    AdminError, ApplicationSpec, CertificateSpec, CreatedApplication, CreatedManagedIdentity, CreatedTenant,
    FederatedCredentialSpec, ManagedIdentitySpec, PasswordCredentialState, PasswordSpec,
    RegisteredCertificate, SeededPassword, Settings, TenantSpec,
};
pub use audit::AuditEntry;
pub use consistency::{Consistency, ConsistencyScope};
pub use faults::{FaultAction, FaultError, FaultRule};
pub use policy::{
    AppManagementConfiguration, AppManagementPolicy, PasswordCredentialConfiguration, PolicyError,
    TenantAppManagementPolicy,
};
pub use server::ServerHandle;
pub use throttle::ThrottleLimits;

use self::access_token::TokenSigner;
use self::clock::EmulatorClock;
use self::consistency::ConsistencySettings;
use self::directory::Directory;
use self::faults::FaultTable;
use self::throttle::Throttle;

/// The emulator. Cheap to clone; clones share one state.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

struct Inner {
    clock: EmulatorClock,
    signer: TokenSigner,
    state: Mutex<State>,
}

/// Mutable state behind one lock. NB: handlers hold the lock only for synchronous work, never
/// across an `.await`.
pub(crate) struct State {
    pub(crate) dir: Directory,
    pub(crate) consistency: ConsistencySettings,
    pub(crate) throttle: Throttle,
    pub(crate) faults: FaultTable,
    pub(crate) audit: Vec<AuditEntry>,
    pub(crate) rng: StdRng,
    pub(crate) settings: Settings,
}

/// Builds an [`Emulator`] with non-default settings.
#[derive(Clone, Debug)]
pub struct EmulatorBuilder {
    seed: Option<u64>,
    settings: Settings,
    consistency: Consistency,
    throttle: ThrottleLimits,
}

impl EmulatorBuilder {
    /// Seeds the generator behind stale-replica rolls, fault rates and generated secrets, so a run
    /// can be reproduced. Default: a random seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Lifetime of access tokens from the token endpoint (default 3599 s).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.token_lifetime = lifetime;
        self
    }

    /// The Graph resource this emulator plays (default `https://graph.microsoft.com`; e.g.
    /// `https://graph.microsoft.us` for a US Government cloud test).
    pub fn graph_resource(mut self, resource: &str) -> Self {
        self.settings.graph_resource = resource.trim_end_matches('/').to_owned();
        self
    }

    /// Default consistency behaviour.
    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.consistency = consistency;
        self
    }

    /// Throttling limits.
    pub fn throttling(mut self, limits: ThrottleLimits) -> Self {
        self.throttle = limits;
        self
    }

    /// Ceiling on credentials per object (the object-size limit); default none.
    pub fn credential_limit(mut self, limit: Option<usize>) -> Self {
        self.settings.credential_limit = limit;
        self
    }

    /// Builds the emulator (generates its RSA token-signing key).
    pub fn build(self) -> Result<Emulator, SigningKeyError> {
        let mut throttle = Throttle::default();
        throttle.set_limits(self.throttle);
        let seed = self.seed.unwrap_or_else(rand::random);
        let state = State {
            dir: Directory::default(),
            consistency: ConsistencySettings {
                default: self.consistency,
                ..Default::default()
            },
            throttle,
            faults: FaultTable::default(),
            audit: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            settings: self.settings,
        };
        Ok(Emulator {
            inner: Arc::new(Inner {
                clock: EmulatorClock::default(),
                signer: TokenSigner::generate()?,
                state: Mutex::new(state),
            }),
        })
    }
}

impl Default for Emulator {
    fn default() -> Self {
        Self::new()
    }
}

impl Emulator {
    /// An emulator with default settings and no tenants.
    ///
    /// # Panics
    /// Only if the crypto library cannot generate an RSA key; use [`Emulator::builder`] and
    /// [`EmulatorBuilder::build`] to handle that as an error.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the crypto library failed to generate an RSA-2048 key")
    }

    /// A builder for non-default settings.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder {
            seed: None,
            settings: Settings::default(),
            consistency: Consistency::default(),
            throttle: ThrottleLimits::default(),
        }
    }

    /// The HTTP interface: the protocol endpoints and the `/_emulator` admin routes.
    pub fn router(&self) -> Router {
        layer::router(self.clone())
    }

    /// The emulator's current time.
    pub fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    /// Moves the emulator's clock forward.
    pub fn advance(&self, by: Duration) {
        self.inner.clock.advance(by);
    }

    /// How far the emulator's clock is ahead of real time.
    pub fn clock_offset(&self) -> Duration {
        self.inner.clock.offset()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // NB: a panic while holding the lock cannot leave the state half-written in a way later
        // calls trip over (every mutation is a single push or field write), so poisoning is ignored.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn signer(&self) -> &TokenSigner {
        &self.inner.signer
    }
}
