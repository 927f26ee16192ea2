//! Eventual-consistency settings: how long a new secret takes to authenticate, how far reads lag
//! writes, and how often a token request lands on a stale replica.
//!
//! Invariant: propagation and read lag are captured on each credential and object when it is
//! written (so changing the settings later does not rewrite history); the stale-replica roll is
//! made per token request with the settings in force at that moment.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Consistency behaviour for a scope (the whole emulator, a tenant or one application).
/// Over HTTP, durations are numbers of seconds (fractions allowed).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Consistency {
    /// Time from addPassword until the secret authenticates at the token endpoint (until then:
    /// AADSTS7000215).
    #[serde(with = "seconds")]
    pub propagation_delay: Duration,
    /// Time from a write until reads show it: a new credential is missing from reads, a removed
    /// one still shows, and a new object answers 404.
    #[serde(with = "seconds")]
    pub read_lag: Duration,
    /// Time from removePassword until the token endpoint stops accepting the secret.
    #[serde(with = "seconds")]
    pub revocation_delay: Duration,
    /// Fraction (0..=1) of token requests served by a stale replica, which rejects secrets younger
    /// than [`stale_lag`](Self::stale_lag).
    pub stale_fraction: f64,
    /// How far behind a stale replica is.
    #[serde(with = "seconds")]
    pub stale_lag: Duration,
}

/// Where a [`Consistency`] applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "scope", content = "id")]
pub enum ConsistencyScope {
    /// Everything without a more specific setting.
    Default,
    /// One tenant (by id or domain name).
    Tenant(String),
    /// One application and its service principal (by client id or either object id).
    Application(String),
}

/// The settings per scope. Lookup order: application, tenant, default.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConsistencySettings {
    pub(crate) default: Consistency,
    /// By tenant id.
    pub(crate) tenants: BTreeMap<String, Consistency>,
    /// By client id (appId).
    pub(crate) applications: BTreeMap<String, Consistency>,
}

impl ConsistencySettings {
    /// The settings in force for an application in a tenant.
    pub(crate) fn for_app(&self, tenant_id: &str, app_id: &str) -> &Consistency {
        self.applications
            .get(app_id)
            .or_else(|| self.tenants.get(tenant_id))
            .unwrap_or(&self.default)
    }
}

/// Serde for durations as floating-point seconds.
pub(crate) mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_settings_win_over_tenant_over_default() {
        let mut s = ConsistencySettings::default();
        s.default.read_lag = Duration::from_secs(1);
        s.tenants.insert(
            "t".into(),
            Consistency {
                read_lag: Duration::from_secs(2),
                ..Default::default()
            },
        );
        s.applications.insert(
            "a".into(),
            Consistency {
                read_lag: Duration::from_secs(3),
                ..Default::default()
            },
        );
        assert_eq!(s.for_app("t", "a").read_lag, Duration::from_secs(3));
        assert_eq!(s.for_app("t", "b").read_lag, Duration::from_secs(2));
        assert_eq!(s.for_app("u", "b").read_lag, Duration::from_secs(1));
    }

    #[test]
    fn durations_travel_as_seconds() {
        let c: Consistency =
            serde_json::from_str(r#"{"propagationDelay": 1.5, "staleFraction": 0.25}"#).unwrap();
        assert_eq!(c.propagation_delay, Duration::from_millis(1500));
        assert_eq!(c.stale_fraction, 0.25);
        assert!(serde_json::from_str::<Consistency>(r#"{"readLag": -1}"#).is_err());
    }
}
