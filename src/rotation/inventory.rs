//! Which credential on the application is what to this rotation: current, previous, in flight,
//! orphan, or unmanaged; and the inventory `status.credentials` shows.
//!
//! Invariant (the revocation guard): a credential is an [`CredentialRole::Orphan`] — the only role
//! revoked without being recorded in status — only if all of these hold:
//! * its display name carries this resource's marker ([`super::marker`]), so the operator minted it
//!   for this resource;
//! * its rotation number is higher than the current credential's, so it was minted after the
//!   current one and, promotion being monotonic, never reached the target Secret; or equal to it
//!   (a twin: that rotation's other mint, whose answer was lost), since only the one credential a
//!   rotation recorded is ever staged or promoted, and the current one is told apart by its key;
//! * its rotation number is not higher than the highest the status has issued;
//! * it is not current, previous, in flight, in the staging Secret or in the target Secret.
//!
//! Credentials minted elsewhere are always [`CredentialRole::Unmanaged`]: reported, never revoked.

use jiff::{SignedDuration, Timestamp};

use super::{
    marker,
    observed::{Observed, SecretObservation},
};
use crate::{
    api::{ClientSecretRotationStatus, CredentialRole, CredentialSummary},
    provider::{ApplicationCredentials, Credential},
};

/// What the roles are judged against.
pub(crate) struct Context<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub status: &'a ClientSecretRotationStatus,
    pub staging: Option<&'a SecretObservation>,
    pub target: Option<&'a SecretObservation>,
}

impl<'a> Context<'a> {
    /// The context of the rotation `namespace`/`name` with `status`, as observed in `o`.
    pub(crate) fn of(
        namespace: &'a str,
        name: &'a str,
        status: &'a ClientSecretRotationStatus,
        o: &'a Observed,
    ) -> Self {
        Context {
            namespace,
            name,
            status,
            // The staging Secret protects its credential only while it belongs to the rotation in
            // flight; a leftover of an older attempt does not.
            staging: o.staging.as_ref().filter(|s| {
                status
                    .rotation
                    .as_ref()
                    .is_some_and(|r| s.rotation() == Some(r.id))
            }),
            target: o.target.as_ref(),
        }
    }
}

impl Context<'_> {
    fn is(&self, key_id: &str, candidate: Option<&str>) -> bool {
        candidate.is_some_and(|c| c.eq_ignore_ascii_case(key_id))
    }

    pub(crate) fn recently_revoked(&self, key_id: &str) -> bool {
        self.status
            .recently_revoked
            .iter()
            .any(|r| r.key_id.eq_ignore_ascii_case(key_id))
    }

    /// The role of `credential`.
    pub(crate) fn role(&self, credential: &Credential) -> CredentialRole {
        let key = credential.key_id.as_str();
        let st = self.status;
        if self.is(key, st.current.as_ref().map(|c| c.key_id.as_str())) {
            return CredentialRole::Current;
        }
        if self.is(key, st.previous.as_ref().map(|c| c.key_id.as_str())) {
            return CredentialRole::Previous;
        }
        let in_flight = st
            .rotation
            .as_ref()
            .and_then(|r| r.credential.as_ref())
            .map(|c| c.key_id.as_str());
        if self.is(key, in_flight) || self.is(key, self.staging.and_then(|s| s.key_id())) {
            return CredentialRole::InFlight;
        }
        if self.is(key, self.target.and_then(|t| t.key_id())) {
            return CredentialRole::Current;
        }
        if self.is(key, self.target.and_then(|t| t.previous_key_id())) {
            return CredentialRole::Previous;
        }
        let Some(n) = marker::rotation_of(credential.display_name.as_deref(), self.namespace, self.name)
        else {
            return CredentialRole::Unmanaged;
        };
        let current_rotation = st.current.as_ref().and_then(|c| c.rotation).unwrap_or(0);
        // NB: a twin of the current rotation's credential (same rotation number, another key: a
        // mint whose answer was lost and was made again) was never staged nor promoted, since only
        // the recorded credential of a rotation is: nobody can hold its secret.
        let twin_of_current = n == current_rotation && n > 0;
        if (n > current_rotation || twin_of_current) && n <= st.rotation_count {
            CredentialRole::Orphan
        } else {
            // Minted by this resource before the current credential: it may have been promoted
            // once, so it may still be in use somewhere. Left to expire.
            CredentialRole::Unmanaged
        }
    }

    /// The orphans among `credentials`, oldest rotation first.
    pub(crate) fn orphans<'c>(&self, credentials: &'c ApplicationCredentials) -> Vec<&'c Credential> {
        let mut found: Vec<&Credential> = credentials
            .credentials
            .iter()
            .filter(|c| !self.recently_revoked(&c.key_id) && self.role(c) == CredentialRole::Orphan)
            .collect();
        found.sort_by_key(|c| {
            (
                marker::rotation_of(c.display_name.as_deref(), self.namespace, self.name),
                c.key_id.clone(),
            )
        });
        found
    }

    /// The inventory for status: every credential, with its role, soonest expiry first.
    pub(crate) fn summarize(&self, credentials: &ApplicationCredentials) -> Vec<CredentialSummary> {
        let mut out: Vec<CredentialSummary> = credentials
            .credentials
            .iter()
            .filter(|c| !self.recently_revoked(&c.key_id))
            .map(|c| CredentialSummary {
                key_id: c.key_id.clone(),
                display_name: c.display_name.clone(),
                hint: c.hint.clone(),
                expires_at: super::schedule::floor(c.end).into(),
                role: self.role(c),
            })
            .collect();
        out.sort_by(|a, b| {
            a.expires_at
                .cmp(&b.expires_at)
                .then_with(|| a.key_id.cmp(&b.key_id))
        });
        out
    }
}

/// Unmanaged credentials that expire within `window` from `now` (and have not expired yet): the
/// operator reports them, since nothing will renew them.
pub(crate) fn expiring_unmanaged(
    inventory: &[CredentialSummary],
    now: Timestamp,
    window: SignedDuration,
) -> Vec<&CredentialSummary> {
    inventory
        .iter()
        .filter(|c| {
            c.role == CredentialRole::Unmanaged && c.expires_at.0 > now && c.expires_at.0 <= now + window
        })
        .collect()
}
