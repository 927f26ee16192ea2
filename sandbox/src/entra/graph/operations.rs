//! The pure decisions behind Graph calls: which roles allow what, and what addPassword and
//! removePassword do to an object (policy, limits, defaults, consistency timestamps).
//!
//! Invariant: these functions take the time as an argument and touch only what they are given;
//! an `Err` leaves the object unchanged.

use http::StatusCode;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::error::GraphError;
use crate::entra::clock::{graph_precision, plus};
use crate::entra::consistency::Consistency;
use crate::entra::directory::{DirObject, PasswordRecord, Removal};
use crate::entra::policy::{self, EffectivePolicy, Violation};
use crate::entra::protocol::{self, graph as gp};
use crate::entra::secret::GeneratedSecret;

/// Roles that allow reading applications and service principals. \[doc: G-appget-perm\]
pub(crate) const READ_ROLES: [&str; 5] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Roles that allow writing any application or service principal. \[doc: G-addpw\]
pub(crate) const WRITE_ALL_ROLES: [&str; 2] = ["Application.ReadWrite.All", "Directory.ReadWrite.All"];
/// The role that allows writing owned objects only. \[doc: G-addpw\]
pub(crate) const WRITE_OWNED_ROLE: &str = "Application.ReadWrite.OwnedBy";
/// Roles that allow reading the tenant app management policy. \[doc: G-tamp\]
pub(crate) const POLICY_READ_ROLES: [&str; 2] =
    ["Policy.Read.All", "Policy.ReadWrite.ApplicationConfiguration"];
/// The role that allows changing it. \[doc: G-tamp\]
pub(crate) const POLICY_WRITE_ROLE: &str = "Policy.ReadWrite.ApplicationConfiguration";

/// How far a caller's roles reach for a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteGrant {
    /// Any object.
    All,
    /// Objects the caller's service principal owns.
    Owned,
}

fn denied() -> GraphError {
    GraphError::new(StatusCode::FORBIDDEN, gp::DENIED_CODE, gp::DENIED_MESSAGE)
}

/// Whether the roles allow any read.
pub(crate) fn authorize_read(roles: &[String]) -> Result<(), GraphError> {
    if roles.iter().any(|r| READ_ROLES.contains(&r.as_str())) {
        Ok(())
    } else {
        Err(denied())
    }
}

/// How far the roles allow writes.
pub(crate) fn write_grant(roles: &[String]) -> Result<WriteGrant, GraphError> {
    if roles.iter().any(|r| WRITE_ALL_ROLES.contains(&r.as_str())) {
        Ok(WriteGrant::All)
    } else if roles.iter().any(|r| r == WRITE_OWNED_ROLE) {
        Ok(WriteGrant::Owned)
    } else {
        Err(denied())
    }
}

/// Whether a write under `grant` by the service principal `caller_oid` may touch `target`:
/// with OwnedBy, the caller must be among the target's owners.
pub(crate) fn authorize_write(
    grant: WriteGrant,
    caller_oid: &str,
    target: &DirObject,
) -> Result<(), GraphError> {
    match grant {
        WriteGrant::All => Ok(()),
        WriteGrant::Owned if target.owners.iter().any(|o| o.eq_ignore_ascii_case(caller_oid)) => Ok(()),
        WriteGrant::Owned => Err(denied()),
    }
}

/// Whether the roles allow the policy operation.
pub(crate) fn authorize_policy(roles: &[String], write: bool) -> Result<(), GraphError> {
    let ok = if write {
        roles.iter().any(|r| r == POLICY_WRITE_ROLE)
    } else {
        roles.iter().any(|r| POLICY_READ_ROLES.contains(&r.as_str()))
    };
    if ok { Ok(()) } else { Err(denied()) }
}

/// A malformed request body.
pub(crate) fn bad_json() -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", gp::BAD_JSON_MESSAGE)
}

/// The optional fields of addPassword's `passwordCredential`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PasswordInput {
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    #[serde(default)]
    pub(crate) start_date_time: Option<Timestamp>,
    #[serde(default)]
    pub(crate) end_date_time: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddPasswordBody {
    #[serde(default)]
    password_credential: Option<PasswordInput>,
}

/// Parses an addPassword body: `{"passwordCredential":{…}}`, `{}` or an empty body.
pub(crate) fn parse_add_password(body: &[u8]) -> Result<PasswordInput, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PasswordInput::default());
    }
    let parsed: AddPasswordBody = serde_json::from_slice(body).map_err(|_| bad_json())?;
    Ok(parsed.password_credential.unwrap_or_default())
}

/// Parses a removePassword body: `{"keyId":"<guid>"}`.
pub(crate) fn parse_remove_password(body: &[u8]) -> Result<String, GraphError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        key_id: Option<String>,
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|_| bad_json())?;
    let key_id = parsed.key_id.ok_or_else(|| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            gp::BAD_REQUEST_CODE,
            "Missing required property 'keyId'.",
        )
    })?;
    uuid::Uuid::parse_str(&key_id).map_err(|_| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            gp::BAD_REQUEST_CODE,
            format!("Cannot convert the literal '{key_id}' to the expected type 'Edm.Guid'."),
        )
    })?;
    Ok(key_id)
}

/// The rules a new password must pass, resolved for its target object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteRules<'a> {
    pub(crate) policy: Option<EffectivePolicy<'a>>,
    /// Ceiling on password + key credentials per object (the object-size limit).
    pub(crate) credential_limit: Option<usize>,
    pub(crate) consistency: &'a Consistency,
}

/// Adds a password credential to `target` and returns it. Checks, in order: dates, the app
/// management policy, the personal-account two-password limit, the object-size ceiling.
pub(crate) fn add_password(
    target: &mut DirObject,
    input: PasswordInput,
    rules: WriteRules<'_>,
    now: Timestamp,
    secret: &GeneratedSecret,
    key_id: String,
) -> Result<PasswordRecord, GraphError> {
    let start = input.start_date_time.unwrap_or_else(|| graph_precision(now));
    let end = match input.end_date_time {
        Some(end) => end,
        None => start
            .to_zoned(TimeZone::UTC)
            .checked_add(jiff::Span::new().years(protocol::DEFAULT_PASSWORD_LIFETIME_YEARS))
            .map(|z| z.timestamp())
            .unwrap_or(Timestamp::MAX),
    };
    if end <= start {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            gp::BAD_REQUEST_CODE,
            "The password credential's endDateTime must be later than its startDateTime.",
        ));
    }
    if let Err(v) = policy::check_password(rules.policy, target.created, start, end) {
        return Err(match &v {
            Violation::LifetimeExceeded { policy_id } => {
                let message = gp::lifetime_policy_message(policy_id);
                GraphError::new(StatusCode::BAD_REQUEST, v.code(), message.clone()).with_detail(
                    gp::LIFETIME_DETAIL_CODE,
                    message,
                    gp::LIFETIME_DETAIL_TARGET,
                )
            }
            Violation::AdditionBlocked { policy_id } => GraphError::new(
                gp::ADDITION_POLICY_STATUS,
                v.code(),
                gp::addition_policy_message(policy_id),
            ),
        });
    }
    let live_passwords = target.passwords.iter().filter(|p| p.live()).count();
    if protocol::PERSONAL_ACCOUNT_AUDIENCES.contains(&target.sign_in_audience.as_str())
        && live_passwords >= protocol::PERSONAL_ACCOUNT_PASSWORD_LIMIT
    {
        return Err(GraphError::new(
            gp::PASSWORD_LIMIT_STATUS,
            gp::PASSWORD_LIMIT_CODE,
            gp::PASSWORD_LIMIT_MESSAGE,
        ));
    }
    if rules
        .credential_limit
        .is_some_and(|limit| live_passwords + target.certificates.len() >= limit)
    {
        return Err(GraphError::new(
            gp::SIZE_LIMIT_STATUS,
            gp::SIZE_LIMIT_CODE,
            gp::SIZE_LIMIT_MESSAGE,
        ));
    }
    let record = PasswordRecord {
        key_id,
        display_name: input.display_name,
        hint: secret.hint.clone(),
        fingerprint: secret.fingerprint,
        start,
        end,
        created: now,
        usable_at: plus(now, rules.consistency.propagation_delay),
        readable_at: plus(now, rules.consistency.read_lag),
        removed: None,
    };
    target.passwords.push(record.clone());
    Ok(record)
}

/// Removes a password credential. A key the (possibly lagging) write replica does not see is
/// a 400 "No password credential found with keyId …".
pub(crate) fn remove_password(
    target: &mut DirObject,
    key_id: &str,
    consistency: &Consistency,
    now: Timestamp,
) -> Result<(), GraphError> {
    let Some(record) = target
        .passwords
        .iter_mut()
        .find(|p| p.key_id.eq_ignore_ascii_case(key_id) && p.writable(now))
    else {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            gp::BAD_REQUEST_CODE,
            gp::no_password_message(key_id),
        ));
    };
    record.removed = Some(Removal {
        at: now,
        unreadable_at: plus(now, consistency.read_lag),
        revoked_at: plus(now, consistency.revocation_delay),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::entra::directory::ObjectKind;
    use crate::entra::policy::{PasswordCredentialConfiguration, TenantAppManagementPolicy};
    use crate::entra::secret;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn app(audience: &str) -> DirObject {
        DirObject {
            kind: ObjectKind::Application,
            id: "o".into(),
            app_id: "a".into(),
            tenant_id: "t".into(),
            display_name: "app".into(),
            sign_in_audience: audience.into(),
            created: t("2020-01-01T00:00:00Z"),
            visible_at: t("2020-01-01T00:00:00Z"),
            owners: vec!["sp1".into()],
            passwords: vec![],
            certificates: vec![],
            federated: vec![],
            roles: BTreeSet::new(),
            service_principal_type: String::new(),
            policy_id: None,
        }
    }

    fn add(
        o: &mut DirObject,
        input: PasswordInput,
        rules: WriteRules<'_>,
        now: Timestamp,
    ) -> Result<PasswordRecord, GraphError> {
        let mut rng = StdRng::seed_from_u64(3);
        add_password(
            o,
            input,
            rules,
            now,
            &secret::generate(&mut rng),
            uuid::Uuid::new_v4().to_string(),
        )
    }

    const NO_RULES: WriteRules<'static> = WriteRules {
        policy: None,
        credential_limit: None,
        consistency: &CONSISTENT,
    };
    static CONSISTENT: Consistency = Consistency {
        propagation_delay: Duration::ZERO,
        read_lag: Duration::ZERO,
        revocation_delay: Duration::ZERO,
        stale_fraction: 0.0,
        stale_lag: Duration::ZERO,
    };

    #[test]
    fn roles_map_to_reads_and_write_scopes() {
        let r = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(authorize_read(&r(&["Application.Read.All"])).is_ok());
        assert!(authorize_read(&r(&["Application.ReadWrite.OwnedBy"])).is_ok());
        assert_eq!(
            authorize_read(&r(&["User.Read.All"])).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            write_grant(&r(&[
                "Application.ReadWrite.OwnedBy",
                "Application.ReadWrite.All"
            ])),
            Ok(WriteGrant::All)
        );
        assert_eq!(
            write_grant(&r(&["Application.ReadWrite.OwnedBy"])),
            Ok(WriteGrant::Owned)
        );
        assert!(write_grant(&r(&["Application.Read.All"])).is_err());
        let o = app("AzureADMyOrg");
        assert!(authorize_write(WriteGrant::Owned, "SP1", &o).is_ok());
        let err = authorize_write(WriteGrant::Owned, "sp2", &o).unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            (gp::DENIED_CODE, gp::DENIED_MESSAGE)
        );
        assert!(authorize_write(WriteGrant::All, "sp2", &o).is_ok());
    }

    #[test]
    fn defaults_are_now_and_two_years_later() {
        let mut o = app("AzureADMyOrg");
        let now = t("2026-10-01T08:00:00.123456789Z");
        let p = add(&mut o, PasswordInput::default(), NO_RULES, now).unwrap();
        assert_eq!(p.start, t("2026-10-01T08:00:00.1234567Z"));
        assert_eq!(p.end, t("2028-10-01T08:00:00.1234567Z"));
        assert_eq!(o.passwords.len(), 1);
    }

    #[test]
    fn end_before_start_is_rejected_without_change() {
        let mut o = app("AzureADMyOrg");
        let input = PasswordInput {
            start_date_time: Some(t("2026-10-01T00:00:00Z")),
            end_date_time: Some(t("2026-09-01T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(
            add(&mut o, input, NO_RULES, t("2026-10-01T00:00:00Z"))
                .unwrap_err()
                .status,
            StatusCode::BAD_REQUEST
        );
        assert!(o.passwords.is_empty());
    }

    #[test]
    fn lifetime_policy_violation_has_the_observed_shape() {
        let tenant = TenantAppManagementPolicy {
            is_enabled: true,
            application_restrictions: crate::entra::policy::AppManagementConfiguration {
                password_credentials: vec![PasswordCredentialConfiguration {
                    restriction_type: "passwordLifetime".into(),
                    max_lifetime: Some("P180D".into()),
                    restrict_for_apps_created_after_date_time: None,
                    state: None,
                }],
                key_credentials: vec![],
            },
            ..Default::default()
        };
        let rules = WriteRules {
            policy: policy::effective(&tenant, None, true),
            ..NO_RULES
        };
        let mut o = app("AzureADMyOrg");
        let err = add(&mut o, PasswordInput::default(), rules, t("2026-10-01T00:00:00Z")).unwrap_err();
        assert_eq!(err.code, "CredentialInvalidLifetimeAsPerAppPolicy");
        assert_eq!(err.details[0].code, "InvalidKeyEndDate");
        assert_eq!(err.details[0].target, "EndDate");
        let ok = PasswordInput {
            end_date_time: Some(t("2027-01-01T00:00:00Z")),
            ..Default::default()
        };
        assert!(add(&mut o, ok, rules, t("2026-10-01T00:00:00Z")).is_ok());
    }

    #[test]
    fn personal_account_apps_hold_two_passwords_and_the_ceiling_applies_to_all() {
        let now = t("2026-10-01T00:00:00Z");
        let mut o = app("AzureADandPersonalMicrosoftAccount");
        add(&mut o, PasswordInput::default(), NO_RULES, now).unwrap();
        let second = add(&mut o, PasswordInput::default(), NO_RULES, now).unwrap();
        let err = add(&mut o, PasswordInput::default(), NO_RULES, now).unwrap_err();
        assert_eq!(err.message, gp::PASSWORD_LIMIT_MESSAGE);
        // Removing one frees a slot.
        remove_password(&mut o, &second.key_id, &CONSISTENT, now).unwrap();
        assert!(add(&mut o, PasswordInput::default(), NO_RULES, now).is_ok());

        let mut o = app("AzureADMyOrg");
        let rules = WriteRules {
            credential_limit: Some(1),
            ..NO_RULES
        };
        add(&mut o, PasswordInput::default(), rules, now).unwrap();
        let err = add(&mut o, PasswordInput::default(), rules, now).unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (gp::SIZE_LIMIT_STATUS, gp::SIZE_LIMIT_CODE)
        );
    }

    #[test]
    fn remove_of_unknown_or_unreplicated_key_is_400() {
        let now = t("2026-10-01T00:00:00Z");
        let lagging = Consistency {
            read_lag: Duration::from_secs(10),
            ..CONSISTENT.clone()
        };
        let mut o = app("AzureADMyOrg");
        let p = add(
            &mut o,
            PasswordInput::default(),
            WriteRules {
                consistency: &lagging,
                ..NO_RULES
            },
            now,
        )
        .unwrap();
        let err = remove_password(&mut o, &p.key_id, &lagging, now).unwrap_err();
        assert_eq!(
            err.message,
            format!("No password credential found with keyId {}.", p.key_id)
        );
        let later = t("2026-10-01T00:00:10Z");
        remove_password(&mut o, &p.key_id.to_uppercase(), &lagging, later).unwrap();
        assert!(
            o.passwords[0].readable(later),
            "a removed key still shows during the lag"
        );
        assert!(remove_password(&mut o, &p.key_id, &lagging, later).is_err());
    }

    #[test]
    fn bodies_parse_like_graph() {
        assert_eq!(parse_add_password(b"").unwrap(), PasswordInput::default());
        assert_eq!(parse_add_password(b"{}").unwrap(), PasswordInput::default());
        let p = parse_add_password(
            br#"{"passwordCredential":{"displayName":"x","endDateTime":"2027-03-30T08:00:00Z"}}"#,
        )
        .unwrap();
        assert_eq!(p.display_name.as_deref(), Some("x"));
        assert_eq!(parse_add_password(b"{").unwrap_err().code, "BadRequest");
        assert!(parse_remove_password(br#"{"keyId":"not-a-guid"}"#).is_err());
        assert!(parse_remove_password(b"{}").is_err());
        let k = "3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80";
        assert_eq!(
            parse_remove_password(format!(r#"{{"keyId":"{k}"}}"#).as_bytes()).unwrap(),
            k
        );
    }
}
