//! The directory: tenants, applications, service principals and everything hanging off them
//! (owners, password, certificate and federated credentials, granted roles, managed identities,
//! per-object policies, trusted external issuers), with the eventual-consistency timestamps that
//! decide what reads and the token endpoint see at a given instant.
//!
//! Invariant: no secret value is stored here, only [`SecretFingerprint`]s. Removed password
//! credentials are kept (marked removed) so lagging reads and delayed revocation can still see
//! them; nothing else ever leaves the directory.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;

use super::policy::{AppManagementPolicy, TenantAppManagementPolicy};
use super::secret::SecretFingerprint;

/// Applications and service principals share one id space and most fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ObjectKind {
    Application,
    ServicePrincipal,
}

impl ObjectKind {
    /// The Graph entity set name.
    pub(crate) fn entity_set(self) -> &'static str {
        match self {
            ObjectKind::Application => "applications",
            ObjectKind::ServicePrincipal => "servicePrincipals",
        }
    }

    /// The Graph type name.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            ObjectKind::Application => "microsoft.graph.application",
            ObjectKind::ServicePrincipal => "microsoft.graph.servicePrincipal",
        }
    }
}

/// How a request names an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ObjectKey {
    /// `/applications/{id}`.
    Id(String),
    /// `/applications(appId='{appId}')`.
    AppId(String),
}

impl ObjectKey {
    /// The id as written in the request (for 404 messages).
    pub(crate) fn as_str(&self) -> &str {
        match self {
            ObjectKey::Id(s) | ObjectKey::AppId(s) => s,
        }
    }
}

/// A tenant.
#[derive(Clone, Debug)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) display_name: String,
    /// Verified domain names, any of which may replace the id in token URLs.
    pub(crate) domains: Vec<String>,
    pub(crate) default_policy: TenantAppManagementPolicy,
}

/// When a removed password credential stops showing in reads and stops authenticating.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Removal {
    pub(crate) at: Timestamp,
    pub(crate) unreadable_at: Timestamp,
    pub(crate) revoked_at: Timestamp,
}

/// A password credential, without its value.
#[derive(Clone, Debug)]
pub(crate) struct PasswordRecord {
    pub(crate) key_id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) hint: String,
    pub(crate) fingerprint: SecretFingerprint,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// Emulator time of the write.
    pub(crate) created: Timestamp,
    /// From when the token endpoint accepts it.
    pub(crate) usable_at: Timestamp,
    /// From when reads show it.
    pub(crate) readable_at: Timestamp,
    pub(crate) removed: Option<Removal>,
}

impl PasswordRecord {
    /// Whether a read at `now` shows this credential.
    pub(crate) fn readable(&self, now: Timestamp) -> bool {
        self.readable_at <= now && self.removed.is_none_or(|r| r.unreadable_at > now)
    }

    /// Whether a write at `now` finds it (the replica handling writes lags like reads do).
    pub(crate) fn writable(&self, now: Timestamp) -> bool {
        self.readable_at <= now && self.removed.is_none()
    }

    /// Whether it still counts against credential limits.
    pub(crate) fn live(&self) -> bool {
        self.removed.is_none()
    }

    /// Whether the token endpoint still knows it (possibly not yet propagated).
    pub(crate) fn known_to_token_endpoint(&self, now: Timestamp) -> bool {
        self.removed.is_none_or(|r| r.revoked_at > now)
    }
}

/// A certificate (asymmetric key credential) registered on an object.
#[derive(Clone)]
pub(crate) struct CertificateRecord {
    pub(crate) key_id: String,
    pub(crate) display_name: Option<String>,
    pub(crate) sha1: [u8; 20],
    pub(crate) sha256: [u8; 32],
    pub(crate) key: DecodingKey,
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
}

impl std::fmt::Debug for CertificateRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateRecord")
            .field("key_id", &self.key_id)
            .field("display_name", &self.display_name)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// A federated identity credential.
#[derive(Clone, Debug)]
pub(crate) struct FederatedCredential {
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
}

/// An application or a service principal.
#[derive(Clone, Debug)]
pub(crate) struct DirObject {
    pub(crate) kind: ObjectKind,
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) tenant_id: String,
    pub(crate) display_name: String,
    pub(crate) sign_in_audience: String,
    pub(crate) created: Timestamp,
    /// From when reads find the object (before: 404).
    pub(crate) visible_at: Timestamp,
    /// Object ids of the owners.
    pub(crate) owners: Vec<String>,
    pub(crate) passwords: Vec<PasswordRecord>,
    pub(crate) certificates: Vec<CertificateRecord>,
    pub(crate) federated: Vec<FederatedCredential>,
    /// Application permissions (app roles) granted; service principals only.
    pub(crate) roles: BTreeSet<String>,
    /// `servicePrincipalType`; service principals only.
    pub(crate) service_principal_type: String,
    /// The per-object app management policy assigned, if any.
    pub(crate) policy_id: Option<String>,
}

impl DirObject {
    /// Whether a read at `now` finds the object.
    pub(crate) fn visible(&self, now: Timestamp) -> bool {
        self.visible_at <= now
    }
}

/// A managed identity: a service principal that IMDS issues tokens for.
#[derive(Clone, Debug)]
pub(crate) struct ManagedIdentity {
    pub(crate) client_id: String,
    pub(crate) object_id: String,
    pub(crate) tenant_id: String,
    pub(crate) resource_id: Option<String>,
    pub(crate) system_assigned: bool,
}

/// Keys of an external issuer trusted for federated tokens.
#[derive(Clone, Debug)]
pub(crate) struct TrustedIssuer {
    pub(crate) jwks: JwkSet,
}

/// Everything the emulator knows about identities.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    pub(crate) tenants: BTreeMap<String, Tenant>,
    /// Applications and service principals by object id.
    pub(crate) objects: BTreeMap<String, DirObject>,
    pub(crate) managed_identities: Vec<ManagedIdentity>,
    /// Per-object policies by id.
    pub(crate) policies: BTreeMap<String, AppManagementPolicy>,
    /// By issuer URL (exact string).
    pub(crate) trusted_issuers: BTreeMap<String, TrustedIssuer>,
}

impl Directory {
    /// A tenant by id or domain name (case-insensitive).
    pub(crate) fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.get(name).or_else(|| {
            self.tenants.values().find(|t| {
                t.id.eq_ignore_ascii_case(name) || t.domains.iter().any(|d| d.eq_ignore_ascii_case(name))
            })
        })
    }

    /// An application or service principal in a tenant, as a Graph URL names it.
    pub(crate) fn find(&self, tenant_id: &str, kind: ObjectKind, key: &ObjectKey) -> Option<&DirObject> {
        match key {
            ObjectKey::Id(id) => self
                .objects
                .get(id)
                .filter(|o| o.kind == kind && o.tenant_id == tenant_id),
            ObjectKey::AppId(app_id) => self.objects.values().find(|o| {
                o.kind == kind && o.tenant_id == tenant_id && o.app_id.eq_ignore_ascii_case(app_id)
            }),
        }
    }

    /// Mutable [`find`](Self::find).
    pub(crate) fn find_mut(
        &mut self,
        tenant_id: &str,
        kind: ObjectKind,
        key: &ObjectKey,
    ) -> Option<&mut DirObject> {
        let id = self.find(tenant_id, kind, key)?.id.clone();
        self.objects.get_mut(&id)
    }

    /// Every object of `kind` in a tenant.
    pub(crate) fn list(&self, tenant_id: &str, kind: ObjectKind) -> impl Iterator<Item = &DirObject> {
        self.objects
            .values()
            .filter(move |o| o.kind == kind && o.tenant_id == tenant_id)
    }

    /// For admin calls: an object by object id, or the application (else service principal) with
    /// that client id, in any tenant.
    pub(crate) fn resolve(&self, id: &str) -> Option<&DirObject> {
        self.objects.get(id).or_else(|| {
            let mut by_app = self
                .objects
                .values()
                .filter(|o| o.app_id.eq_ignore_ascii_case(id));
            let all: Vec<_> = by_app.by_ref().collect();
            all.iter()
                .find(|o| o.kind == ObjectKind::Application)
                .or_else(|| all.first())
                .copied()
        })
    }

    /// Mutable [`resolve`](Self::resolve).
    pub(crate) fn resolve_mut(&mut self, id: &str) -> Option<&mut DirObject> {
        let id = self.resolve(id)?.id.clone();
        self.objects.get_mut(&id)
    }

    /// The service principal of a client in a tenant.
    pub(crate) fn service_principal(&self, tenant_id: &str, app_id: &str) -> Option<&DirObject> {
        self.find(
            tenant_id,
            ObjectKind::ServicePrincipal,
            &ObjectKey::AppId(app_id.to_owned()),
        )
    }

    /// The objects whose credentials authenticate `app_id` in `tenant_id`: the application
    /// registration (wherever it lives) and the tenant's service principal.
    pub(crate) fn credential_holders(&self, tenant_id: &str, app_id: &str) -> Vec<&DirObject> {
        self.objects
            .values()
            .filter(|o| {
                o.app_id.eq_ignore_ascii_case(app_id)
                    && (o.kind == ObjectKind::Application || o.tenant_id == tenant_id)
            })
            .collect()
    }
}

/// What the token endpoint concludes about a presented secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecretCheck {
    /// A live, propagated credential in its validity window.
    Valid,
    /// Unknown, wrong, revoked, not yet propagated, or unknown to the stale replica serving it.
    Invalid,
    /// Known and propagated, but expired or not yet started.
    Expired,
}

/// Decides whether `fingerprint` authenticates at `now`. `stale_lag` is `Some` when the request
/// landed on a stale replica that misses credentials younger than it.
pub(crate) fn check_secret(
    holders: &[&DirObject],
    fingerprint: &SecretFingerprint,
    now: Timestamp,
    stale_lag: Option<std::time::Duration>,
) -> SecretCheck {
    let Some(record) = holders
        .iter()
        .flat_map(|o| o.passwords.iter())
        .find(|p| p.fingerprint == *fingerprint && p.known_to_token_endpoint(now))
    else {
        return SecretCheck::Invalid;
    };
    if record.usable_at > now {
        return SecretCheck::Invalid;
    }
    if let Some(lag) = stale_lag
        && super::clock::plus(record.created, lag) > now
    {
        return SecretCheck::Invalid;
    }
    if now < record.start || now >= record.end {
        return SecretCheck::Expired;
    }
    SecretCheck::Valid
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn record(fp: &str) -> PasswordRecord {
        PasswordRecord {
            key_id: "k".into(),
            display_name: None,
            hint: "abc".into(),
            fingerprint: SecretFingerprint::of(fp),
            start: t(0),
            end: t(1000),
            created: t(0),
            usable_at: t(10),
            readable_at: t(5),
            removed: None,
        }
    }

    fn object(passwords: Vec<PasswordRecord>) -> DirObject {
        DirObject {
            kind: ObjectKind::Application,
            id: "o".into(),
            app_id: "a".into(),
            tenant_id: "t".into(),
            display_name: "app".into(),
            sign_in_audience: "AzureADMyOrg".into(),
            created: t(0),
            visible_at: t(0),
            owners: vec![],
            passwords,
            certificates: vec![],
            federated: vec![],
            roles: BTreeSet::new(),
            service_principal_type: String::new(),
            policy_id: None,
        }
    }

    #[test]
    fn secret_check_follows_propagation_validity_and_revocation() {
        let fp = SecretFingerprint::of("s");
        let mut o = object(vec![record("s")]);
        let check = |o: &DirObject, now, stale| check_secret(&[o], &fp, now, stale);
        assert_eq!(check(&o, t(9), None), SecretCheck::Invalid);
        assert_eq!(check(&o, t(10), None), SecretCheck::Valid);
        assert_eq!(
            check(&o, t(10), Some(Duration::from_secs(20))),
            SecretCheck::Invalid
        );
        assert_eq!(
            check(&o, t(20), Some(Duration::from_secs(20))),
            SecretCheck::Valid
        );
        assert_eq!(check(&o, t(1000), None), SecretCheck::Expired);
        assert_eq!(
            check_secret(&[&o], &SecretFingerprint::of("x"), t(10), None),
            SecretCheck::Invalid
        );
        o.passwords[0].start = t(50);
        assert_eq!(check(&o, t(20), None), SecretCheck::Expired);
        o.passwords[0].start = t(0);
        o.passwords[0].removed = Some(Removal {
            at: t(20),
            unreadable_at: t(25),
            revoked_at: t(30),
        });
        assert_eq!(check(&o, t(29), None), SecretCheck::Valid);
        assert_eq!(check(&o, t(30), None), SecretCheck::Invalid);
    }

    #[test]
    fn read_and_write_visibility_follow_the_lag() {
        let mut r = record("s");
        assert!(!r.readable(t(4)) && r.readable(t(5)));
        assert!(!r.writable(t(4)) && r.writable(t(5)));
        r.removed = Some(Removal {
            at: t(20),
            unreadable_at: t(25),
            revoked_at: t(20),
        });
        assert!(r.readable(t(24)) && !r.readable(t(25)));
        assert!(!r.writable(t(21)) && !r.live());
    }
}
