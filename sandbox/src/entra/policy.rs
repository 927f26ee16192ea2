//! App management policies: the tenant default (`defaultAppManagementPolicy`) and per-object
//! policies (`appManagementPolicy`), and the pure check that decides whether an addPassword
//! request passes them.
//!
//! Invariant: a per-object policy, when assigned and enabled, replaces the tenant default for that
//! object; a disabled policy or restriction never rejects anything.

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use serde::{Deserialize, Serialize};

use super::protocol::{DEFAULT_POLICY_ID, graph as gp};

/// `tenantAppManagementPolicy` as Graph shows it (`GET /policies/defaultAppManagementPolicy`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantAppManagementPolicy {
    /// Whether the policy is enforced.
    #[serde(default)]
    pub is_enabled: bool,
    /// Restrictions on application objects.
    #[serde(default)]
    pub application_restrictions: AppManagementConfiguration,
    /// Restrictions on service principals.
    #[serde(default)]
    pub service_principal_restrictions: AppManagementConfiguration,
}

/// A per-object `appManagementPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppManagementPolicy {
    /// Object id; assigned by the emulator when empty.
    #[serde(default)]
    pub id: String,
    /// Friendly name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether the policy is enforced.
    #[serde(default = "enabled")]
    pub is_enabled: bool,
    /// The restrictions.
    #[serde(default)]
    pub restrictions: AppManagementConfiguration,
}

fn enabled() -> bool {
    true
}

/// `appManagementConfiguration`: the credential restrictions of a policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppManagementConfiguration {
    /// Restrictions on password credentials.
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredentialConfiguration>,
    /// Restrictions on key credentials: kept and shown, not enforced by the emulator.
    #[serde(default)]
    pub key_credentials: Vec<serde_json::Value>,
}

/// `passwordCredentialConfiguration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredentialConfiguration {
    /// `passwordAddition`, `passwordLifetime`, `symmetricKeyAddition`, `symmetricKeyLifetime`,
    /// `customPasswordAddition` or `unknownFutureValue`.
    pub restriction_type: String,
    /// ISO 8601 duration, required for `passwordLifetime` (e.g. `P90D`).
    #[serde(default)]
    pub max_lifetime: Option<String>,
    /// The restriction applies to objects created at or after this instant; `null` means all.
    #[serde(default)]
    pub restrict_for_apps_created_after_date_time: Option<Timestamp>,
    /// `enabled` or `disabled`; absent means enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A policy that does not parse as Graph would accept it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// `maxLifetime` missing or not an ISO 8601 duration.
    #[error("invalid maxLifetime {0:?}: expected an ISO 8601 duration such as P90D")]
    InvalidMaxLifetime(Option<String>),
    /// The same restriction type appears twice.
    #[error("restriction type {0} appears more than once")]
    DuplicateRestriction(String),
}

/// Checks a configuration list as Graph would on PATCH.
pub fn validate(config: &AppManagementConfiguration) -> Result<(), PolicyError> {
    let mut seen = std::collections::BTreeSet::new();
    for r in &config.password_credentials {
        if !seen.insert(r.restriction_type.as_str()) {
            return Err(PolicyError::DuplicateRestriction(r.restriction_type.clone()));
        }
        if r.restriction_type == "passwordLifetime" {
            parse_lifetime(r.max_lifetime.as_deref())
                .ok_or_else(|| PolicyError::InvalidMaxLifetime(r.max_lifetime.clone()))?;
        }
    }
    Ok(())
}

/// Parses an ISO 8601 duration only (jiff's `FromStr` also accepts "90 days", which Graph does not).
fn parse_lifetime(s: Option<&str>) -> Option<Span> {
    static PARSER: jiff::fmt::temporal::SpanParser = jiff::fmt::temporal::SpanParser::new();
    PARSER.parse_span(s?).ok()
}

/// The restrictions in force for one object, and the id of the policy they come from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EffectivePolicy<'a> {
    pub(crate) policy_id: &'a str,
    pub(crate) restrictions: &'a [PasswordCredentialConfiguration],
}

/// Picks the restrictions for an object: its own enabled policy, else the enabled tenant default.
pub(crate) fn effective<'a>(
    tenant_default: &'a TenantAppManagementPolicy,
    assigned: Option<&'a AppManagementPolicy>,
    is_application: bool,
) -> Option<EffectivePolicy<'a>> {
    if let Some(p) = assigned.filter(|p| p.is_enabled) {
        return Some(EffectivePolicy {
            policy_id: &p.id,
            restrictions: &p.restrictions.password_credentials,
        });
    }
    if !tenant_default.is_enabled {
        return None;
    }
    let config = if is_application {
        &tenant_default.application_restrictions
    } else {
        &tenant_default.service_principal_restrictions
    };
    Some(EffectivePolicy {
        policy_id: DEFAULT_POLICY_ID,
        restrictions: &config.password_credentials,
    })
}

/// Why a policy rejects a new password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// `passwordAddition` blocks new secrets.
    AdditionBlocked { policy_id: String },
    /// `endDateTime - startDateTime` exceeds `maxLifetime`.
    LifetimeExceeded { policy_id: String },
}

impl Violation {
    /// The Graph error code of this violation.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Violation::AdditionBlocked { .. } => gp::ADDITION_POLICY_CODE,
            Violation::LifetimeExceeded { .. } => gp::LIFETIME_POLICY_CODE,
        }
    }
}

/// Decides whether a password from `start` to `end` may be added to an object created at
/// `object_created` under `policy`.
pub(crate) fn check_password(
    policy: Option<EffectivePolicy<'_>>,
    object_created: Timestamp,
    start: Timestamp,
    end: Timestamp,
) -> Result<(), Violation> {
    let Some(policy) = policy else { return Ok(()) };
    for r in policy.restrictions {
        if r.state
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("disabled"))
        {
            continue;
        }
        if r.restrict_for_apps_created_after_date_time
            .is_some_and(|after| object_created < after)
        {
            continue;
        }
        match r.restriction_type.as_str() {
            "passwordAddition" => {
                return Err(Violation::AdditionBlocked {
                    policy_id: policy.policy_id.to_owned(),
                });
            }
            "passwordLifetime" => {
                let Some(max) = parse_lifetime(r.max_lifetime.as_deref()) else {
                    continue;
                };
                let limit = start
                    .to_zoned(TimeZone::UTC)
                    .checked_add(max)
                    .map(|z| z.timestamp());
                if limit.is_ok_and(|limit| end > limit) {
                    return Err(Violation::LifetimeExceeded {
                        policy_id: policy.policy_id.to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn lifetime(max: &str, after: Option<&str>) -> PasswordCredentialConfiguration {
        PasswordCredentialConfiguration {
            restriction_type: "passwordLifetime".into(),
            max_lifetime: Some(max.into()),
            restrict_for_apps_created_after_date_time: after.map(ts),
            state: None,
        }
    }

    fn tenant(rules: Vec<PasswordCredentialConfiguration>) -> TenantAppManagementPolicy {
        TenantAppManagementPolicy {
            is_enabled: true,
            application_restrictions: AppManagementConfiguration {
                password_credentials: rules,
                key_credentials: vec![],
            },
            ..Default::default()
        }
    }

    #[test]
    fn lifetime_cap_is_inclusive_and_uses_calendar_days() {
        let t = tenant(vec![lifetime("P90D", None)]);
        let p = effective(&t, None, true);
        let start = ts("2026-01-01T00:00:00Z");
        let created = ts("2020-01-01T00:00:00Z");
        assert_eq!(
            check_password(p, created, start, ts("2026-04-01T00:00:00Z")),
            Ok(())
        );
        assert_eq!(
            check_password(p, created, start, ts("2026-04-01T00:00:01Z")),
            Err(Violation::LifetimeExceeded {
                policy_id: DEFAULT_POLICY_ID.into()
            })
        );
    }

    #[test]
    fn restriction_skips_apps_created_before_its_date() {
        let t = tenant(vec![lifetime("P1D", Some("2025-01-01T00:00:00Z"))]);
        let p = effective(&t, None, true);
        let (start, end) = (ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
        assert_eq!(check_password(p, ts("2024-12-31T23:59:59Z"), start, end), Ok(()));
        assert!(check_password(p, ts("2025-01-01T00:00:00Z"), start, end).is_err());
    }

    #[test]
    fn disabled_policies_and_restrictions_do_not_apply() {
        let mut t = tenant(vec![lifetime("P1D", None)]);
        let (c, s, e) = (
            ts("2020-01-01T00:00:00Z"),
            ts("2026-01-01T00:00:00Z"),
            ts("2027-01-01T00:00:00Z"),
        );
        t.is_enabled = false;
        assert_eq!(check_password(effective(&t, None, true), c, s, e), Ok(()));
        t.is_enabled = true;
        t.application_restrictions.password_credentials[0].state = Some("disabled".into());
        assert_eq!(check_password(effective(&t, None, true), c, s, e), Ok(()));
        // Service principals use their own restriction list.
        t.application_restrictions.password_credentials[0].state = None;
        assert_eq!(check_password(effective(&t, None, false), c, s, e), Ok(()));
    }

    #[test]
    fn assigned_policy_takes_precedence_and_can_block_addition() {
        let t = tenant(vec![lifetime("P1D", None)]);
        let own = AppManagementPolicy {
            id: "p1".into(),
            display_name: None,
            is_enabled: true,
            restrictions: AppManagementConfiguration {
                password_credentials: vec![PasswordCredentialConfiguration {
                    restriction_type: "passwordAddition".into(),
                    max_lifetime: None,
                    restrict_for_apps_created_after_date_time: None,
                    state: None,
                }],
                key_credentials: vec![],
            },
        };
        let (c, s) = (ts("2020-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"));
        assert_eq!(
            check_password(effective(&t, Some(&own), true), c, s, s),
            Err(Violation::AdditionBlocked {
                policy_id: "p1".into()
            })
        );
    }

    #[test]
    fn validation_rejects_bad_durations_and_duplicates() {
        let ok = AppManagementConfiguration {
            password_credentials: vec![lifetime("P4DT12H30M5S", None)],
            key_credentials: vec![],
        };
        assert_eq!(validate(&ok), Ok(()));
        let bad = AppManagementConfiguration {
            password_credentials: vec![lifetime("90 days", None)],
            key_credentials: vec![],
        };
        assert!(matches!(validate(&bad), Err(PolicyError::InvalidMaxLifetime(_))));
        let dup = AppManagementConfiguration {
            password_credentials: vec![lifetime("P1D", None), lifetime("P2D", None)],
            key_credentials: vec![],
        };
        assert!(matches!(
            validate(&dup),
            Err(PolicyError::DuplicateRestriction(_))
        ));
    }
}
