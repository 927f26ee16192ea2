//! `secret-rotator status [-n ns | -A]`: one line per `ClientSecretRotation` with what an on-call
//! engineer needs first: is it Ready, which key is current, when it expires, when the next
//! rotation is due, what is in flight, and the last error.
//!
//! Invariant: rows are computed from the rotations' status alone by pure functions taking `now`;
//! the status holds no secret value (only the provider's public hint), so neither does the table.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{Api, ResourceExt, api::ListParams};

use super::kubeconfig::{ConnectError, KubeconfigArgs};
use super::rotate::api_not_installed;
use crate::api::{ClientSecretRotation, wellknown};

/// Arguments of `secret-rotator status`.
#[derive(Clone, Debug, clap::Args)]
pub struct StatusArgs {
    /// Namespace to list (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// List the rotations of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Connection flags.
    #[command(flatten)]
    pub kube: KubeconfigArgs,
}

/// Longest last-error text shown; longer messages are cut (the full text is in the conditions).
pub const MAX_ERROR_CHARS: usize = 80;

/// One line of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Namespace of the rotation.
    pub namespace: String,
    /// Name of the rotation.
    pub name: String,
    /// Status of the `Ready` condition (`True`, `False`, `Unknown`).
    pub ready: String,
    /// The provider's public hint of the current secret (its first characters), else the start
    /// of its key id; `-` when there is none.
    pub key: String,
    /// When the current secret expires.
    pub expires: String,
    /// When the next rotation is due.
    pub next_rotation: String,
    /// The phase of the rotation in flight, `-` when idle.
    pub rotation: String,
    /// The last failure, or why the rotation is degraded or not ready; `-` when all is well.
    pub last_error: String,
}

/// A signed duration as kubectl prints ages: the two largest units (`5d3h`, `2h5m`, `40s`).
pub fn humanize(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) if sec == 0 || m >= 10 => format!("{m}m"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, _) if m == 0 => format!("{h}h"),
        (0, _, _) => format!("{h}h{m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d{h}h"),
    }
}

/// `2026-12-01 10:00 (in 5d3h)` or `2026-11-20 08:00 (2h ago)`.
fn when(at: &Time, now: Timestamp) -> String {
    let delta = at.0.as_second() - now.as_second();
    let absolute = at.0.strftime("%Y-%m-%d %H:%M");
    if delta >= 0 {
        format!("{absolute} (in {})", humanize(delta))
    } else {
        format!("{absolute} ({} ago)", humanize(delta))
    }
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn cut(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_ERROR_CHARS {
        return one_line;
    }
    let kept: String = one_line.chars().take(MAX_ERROR_CHARS - 1).collect();
    format!("{kept}…")
}

fn reason_and_message(reason: &str, message: &str) -> String {
    if message.is_empty() {
        reason.to_owned()
    } else {
        cut(&format!("{reason}: {message}"))
    }
}

/// The row of one rotation at `now`.
pub fn row(rotation: &ClientSecretRotation, now: Timestamp) -> Row {
    let status = rotation.status.clone().unwrap_or_default();
    let ready = condition(&status.conditions, wellknown::condition::READY);
    let degraded = condition(&status.conditions, wellknown::condition::DEGRADED);
    let key = status
        .current
        .as_ref()
        .map(|c| match &c.hint {
            Some(hint) => format!("{hint}…"),
            None => c.key_id.chars().take(8).collect(),
        })
        .unwrap_or_else(|| "-".to_owned());
    let expires = status
        .current
        .as_ref()
        .map(|c| when(&c.expires_at, now))
        .unwrap_or_else(|| "-".to_owned());
    let next_rotation = if rotation.spec.suspend {
        "suspended".to_owned()
    } else {
        status
            .renewal_time
            .as_ref()
            .map(|t| when(t, now))
            .unwrap_or_else(|| "-".to_owned())
    };
    let rotation_phase = status
        .rotation
        .as_ref()
        .map(|r| format!("{:?}", r.phase))
        .unwrap_or_else(|| "-".to_owned());
    // The most specific explanation first: the failing step, then Degraded, then not Ready.
    let last_error = if let Some(f) = &status.failure {
        format!(
            "{} (attempt {}, retry {})",
            reason_and_message(&f.reason, &f.message),
            f.attempts,
            when(&f.next_retry_time, now)
        )
    } else if let Some(c) = degraded.filter(|c| c.status == "True") {
        reason_and_message(&c.reason, &c.message)
    } else if let Some(c) = ready.filter(|c| c.status != "True") {
        reason_and_message(&c.reason, &c.message)
    } else {
        "-".to_owned()
    };
    Row {
        namespace: rotation.namespace().unwrap_or_default(),
        name: rotation.name_any(),
        ready: ready
            .map(|c| c.status.clone())
            .unwrap_or_else(|| "Unknown".to_owned()),
        key,
        expires,
        next_rotation,
        rotation: rotation_phase,
        last_error,
    }
}

/// The rows of `rotations` at `now`, by namespace and name.
pub fn rows(rotations: &[ClientSecretRotation], now: Timestamp) -> Vec<Row> {
    let mut rows: Vec<Row> = rotations.iter().map(|r| row(r, now)).collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    rows
}

/// The rows as a kubectl-style table (columns padded with three spaces); the NAMESPACE column
/// only when listing every namespace.
pub fn table(rows: &[Row], all_namespaces: bool) -> String {
    let mut lines: Vec<Vec<String>> = vec![];
    let mut header = vec![];
    if all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend([
        "NAME",
        "READY",
        "KEY",
        "EXPIRES",
        "NEXT ROTATION",
        "ROTATION",
        "LAST ERROR",
    ]);
    lines.push(header.into_iter().map(String::from).collect());
    for r in rows {
        let mut line = vec![];
        if all_namespaces {
            line.push(r.namespace.clone());
        }
        line.extend([
            r.name.clone(),
            r.ready.clone(),
            r.key.clone(),
            r.expires.clone(),
            r.next_rotation.clone(),
            r.rotation.clone(),
            r.last_error.clone(),
        ]);
        lines.push(line);
    }
    let columns = lines[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let mut text = String::new();
        for (i, cell) in line.iter().enumerate() {
            text += cell;
            if i + 1 < columns {
                text += &" ".repeat(widths[i] - cell.chars().count() + 3);
            }
        }
        out += text.trim_end();
        out.push('\n');
    }
    out
}

/// Why the rotations could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The cluster could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The cluster does not serve the ClientSecretRotation API.
    #[error(
        "the cluster does not serve clientsecretrotations.{group}: install the CRDs (kubectl apply -f crds/, or the Helm chart)",
        group = wellknown::GROUP
    )]
    ApiNotInstalled,
    /// The API server refused the list.
    #[error("cannot list clientsecretrotations {scope}: {source}")]
    List {
        /// `in namespace "x"` or `in any namespace`.
        scope: String,
        /// kube's error.
        source: kube::Error,
    },
}

/// Which namespaces to list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One namespace.
    Namespace(String),
    /// Every namespace.
    All,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Namespace(ns) => write!(f, "in namespace {ns:?}"),
            Scope::All => write!(f, "in any namespace"),
        }
    }
}

/// Lists the rotations in `scope` through `client`.
pub async fn list(client: kube::Client, scope: &Scope) -> Result<Vec<ClientSecretRotation>, StatusError> {
    let api: Api<ClientSecretRotation> = match scope {
        Scope::Namespace(ns) => Api::namespaced(client, ns),
        Scope::All => Api::all(client),
    };
    // Pages, so a cluster with many rotations does not need one huge response.
    let mut params = ListParams::default().limit(500);
    let mut items = vec![];
    loop {
        let page = api.list(&params).await.map_err(|source| {
            if api_not_installed(&source) {
                StatusError::ApiNotInstalled
            } else {
                StatusError::List {
                    scope: scope.to_string(),
                    source,
                }
            }
        })?;
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(items),
        }
    }
}

/// The text `status` prints for `rows` in `scope`.
pub fn render(rows: &[Row], scope: &Scope) -> String {
    if rows.is_empty() {
        return format!("No ClientSecretRotations found {scope}.\n");
    }
    table(rows, *scope == Scope::All)
}

/// Runs `secret-rotator status`.
pub async fn run(args: &StatusArgs) -> Result<String, StatusError> {
    let connection = args.kube.connect().await?;
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(args.namespace.clone().unwrap_or(connection.default_namespace))
    };
    let rotations = list(connection.client, &scope).await?;
    Ok(render(&rows(&rotations, Timestamp::now()), &scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ApplicationSpec, ClientSecretRotationSpec, ClientSecretRotationStatus, CredentialOrigin,
        CredentialRecord, FailureRecord, ProviderRef, RotationPhase, RotationProgress, RotationReason,
        TargetSecretSpec,
    };

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn now() -> Timestamp {
        "2026-11-25T10:00:00Z".parse().unwrap()
    }

    fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: t("2026-11-25T09:00:00Z"),
            observed_generation: Some(1),
        }
    }

    fn rotation(
        namespace: &str,
        name: &str,
        status: Option<ClientSecretRotationStatus>,
    ) -> ClientSecretRotation {
        let mut r = ClientSecretRotation::new(
            name,
            ClientSecretRotationSpec {
                provider_ref: serde_json::from_value::<ProviderRef>(serde_json::json!({"name": "entra"}))
                    .unwrap(),
                application: ApplicationSpec {
                    client_id: Some("46e6adf4-0000-4b60-9390-0ba6fb00bf6b".into()),
                    ..Default::default()
                },
                secret: TargetSecretSpec {
                    name: format!("{name}-credentials"),
                    ..Default::default()
                },
                lifetime: "2160h".into(),
                renew_before: None,
                renew_before_percentage: None,
                overlap: "1h".into(),
                verify_timeout: "10m".into(),
                rollout_targets: vec![],
                suspend: false,
                deletion_policy: Default::default(),
            },
        );
        r.metadata.namespace = Some(namespace.into());
        r.status = status;
        r
    }

    fn current(hint: Option<&str>, expires: &str) -> CredentialRecord {
        CredentialRecord {
            key_id: "3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80".into(),
            hint: hint.map(String::from),
            origin: CredentialOrigin::Minted,
            rotation: Some(2),
            starts_at: None,
            expires_at: t(expires),
            promoted_at: None,
        }
    }

    #[test]
    fn humanize_prints_the_two_largest_units() {
        for (seconds, expected) in [
            (0, "0s"),
            (40, "40s"),
            (-40, "40s"),
            (125, "2m5s"),
            (600, "10m"),
            (659, "10m"),
            (3_600, "1h"),
            (7_500, "2h5m"),
            (86_400, "1d"),
            (5 * 86_400 + 3 * 3_600 + 59, "5d3h"),
            (400 * 86_400, "400d"),
        ] {
            assert_eq!(humanize(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn a_healthy_rotation_shows_key_expiry_and_next_rotation() {
        let status = ClientSecretRotationStatus {
            conditions: vec![
                cond("Ready", "True", "UpToDate", "the Secret holds a valid credential"),
                cond("Degraded", "False", "AsExpected", ""),
            ],
            current: Some(current(Some("Abc"), "2027-02-23T10:00:00Z")),
            renewal_time: Some(t("2027-01-24T10:00:00Z")),
            ..Default::default()
        };
        let r = row(&rotation("team-a", "my-app", Some(status)), now());
        assert_eq!(
            r,
            Row {
                namespace: "team-a".into(),
                name: "my-app".into(),
                ready: "True".into(),
                key: "Abc…".into(),
                expires: "2027-02-23 10:00 (in 90d)".into(),
                next_rotation: "2027-01-24 10:00 (in 60d)".into(),
                rotation: "-".into(),
                last_error: "-".into(),
            }
        );
    }

    #[test]
    fn a_failing_rotation_shows_the_failure_before_the_conditions() {
        let status = ClientSecretRotationStatus {
            conditions: vec![
                cond("Ready", "True", "UpToDate", ""),
                cond("Degraded", "True", "AuthorizationDenied", "Graph answered 403"),
            ],
            current: Some(current(None, "2026-11-26T10:00:00Z")),
            renewal_time: Some(t("2026-11-20T10:00:00Z")),
            rotation: Some(RotationProgress {
                id: 3,
                reason: RotationReason::Scheduled,
                emergency: false,
                phase: RotationPhase::Pending,
                started_at: t("2026-11-20T10:00:00Z"),
                display_name: "secret-rotator-3".into(),
                credential: None,
                verification: None,
                version: None,
                rolled_targets: vec![],
                rollout_started_at: None,
                rollout_completed_at: None,
                revoke_after: None,
                abandon_reason: None,
                abandon_message: None,
            }),
            failure: Some(FailureRecord {
                step: "Mint".into(),
                reason: "AuthorizationDenied".into(),
                message: "the operator is not an owner of the application".into(),
                attempts: 4,
                last_failure_time: t("2026-11-25T09:55:00Z"),
                next_retry_time: t("2026-11-25T10:08:00Z"),
                observed_generation: Some(1),
                retryable: false,
            }),
            ..Default::default()
        };
        let r = row(&rotation("team-a", "my-app", Some(status.clone())), now());
        assert_eq!(r.key, "3c1f6a0e", "no hint: the start of the key id");
        assert_eq!(r.expires, "2026-11-26 10:00 (in 1d)");
        assert_eq!(r.next_rotation, "2026-11-20 10:00 (5d ago)");
        assert_eq!(r.rotation, "Pending");
        assert_eq!(
            r.last_error,
            "AuthorizationDenied: the operator is not an owner of the application (attempt 4, retry 2026-11-25 10:08 (in 8m))"
        );
        // Without a failure record, Degraded explains.
        let mut degraded = status;
        degraded.failure = None;
        let r = row(&rotation("team-a", "my-app", Some(degraded)), now());
        assert_eq!(r.last_error, "AuthorizationDenied: Graph answered 403");
    }

    #[test]
    fn new_suspended_and_not_ready_rotations() {
        let r = row(&rotation("team-a", "fresh", None), now());
        assert_eq!(
            (
                r.ready.as_str(),
                r.key.as_str(),
                r.expires.as_str(),
                r.next_rotation.as_str(),
                r.last_error.as_str()
            ),
            ("Unknown", "-", "-", "-", "-")
        );
        let status = ClientSecretRotationStatus {
            conditions: vec![cond(
                "Ready",
                "False",
                "NotIssued",
                &"no credential yet ".repeat(10),
            )],
            ..Default::default()
        };
        let mut suspended = rotation("team-a", "paused", Some(status));
        suspended.spec.suspend = true;
        let r = row(&suspended, now());
        assert_eq!(r.ready, "False");
        assert_eq!(r.next_rotation, "suspended");
        assert!(
            r.last_error.starts_with("NotIssued: no credential yet"),
            "{}",
            r.last_error
        );
        assert_eq!(r.last_error.chars().count(), MAX_ERROR_CHARS);
        assert!(r.last_error.ends_with('…'));
    }

    #[test]
    fn table_is_sorted_aligned_and_namespaced_only_with_all_namespaces() {
        let rs = rows(
            &[
                rotation("team-b", "z", None),
                rotation("team-a", "long-name", None),
                rotation("team-a", "b", None),
            ],
            now(),
        );
        let names: Vec<&str> = rs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "long-name", "z"]);
        let all = table(&rs, true);
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(
            lines[0].starts_with("NAMESPACE   NAME        READY     KEY   EXPIRES"),
            "{all}"
        );
        assert!(
            lines[1].starts_with("team-a      b           Unknown   -"),
            "{all}"
        );
        // Every column starts at the same offset on every line.
        let offset = lines[0].find("READY").unwrap();
        assert!(
            lines[1..].iter().all(|l| l[offset..].starts_with("Unknown")),
            "{all}"
        );
        let one = table(&rs, false);
        assert!(one.starts_with("NAME   "), "{one}");
        assert!(!one.contains("team-a"));
        assert_eq!(
            render(&[], &Scope::Namespace("team-c".into())),
            "No ClientSecretRotations found in namespace \"team-c\".\n"
        );
        assert_eq!(
            render(&[], &Scope::All),
            "No ClientSecretRotations found in any namespace.\n"
        );
    }
}
