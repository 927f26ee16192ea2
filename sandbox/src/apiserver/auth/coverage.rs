//! RBAC coverage, for tests that prove shipped RBAC manifests are exactly what a component needs:
//! the access log becomes the set of [`Permission`]s a user exercised, and
//! [`check_coverage`] compares that set with what a set of manifests grants the user, both ways
//! (permissions used but not granted; granted rule atoms never used).
//!
//! ```no_run
//! # use sandbox::apiserver::{ApiServer, UserInfo, auth::coverage};
//! # let server = ApiServer::new();
//! let user = UserInfo::service_account("secret-rotator", "secret-rotator");
//! let used = coverage::permissions_used(&server.access_log(), &user.name);
//! let manifests = coverage::read_manifests(&std::fs::read_to_string("deploy/rbac.yaml").unwrap()).unwrap();
//! let report = coverage::check_coverage(&manifests, "secret-rotator", &user, &used);
//! assert!(report.is_exact(), "{report}");
//! ```
//!
//! Invariant: these functions are pure: they read records and manifests and decide with the
//! same rule matching the server's authorizer uses ([`super::rbac`]).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::rbac::{AuthzRequest, Policy, PolicyRule};
use crate::apiserver::request::{AccessRecord, UserInfo};

/// One kind of access, in the terms RBAC rules are written in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// Verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`).
    pub verb: String,
    /// API group ("" for core).
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, or "".
    pub subresource: String,
}

impl Permission {
    /// A permission.
    pub fn new(verb: &str, group: &str, resource: &str, subresource: &str) -> Self {
        Permission {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.subresource.is_empty() {
            write!(f, "/{}", self.subresource)?;
        }
        write!(f, " in API group {:?}", self.group)
    }
}

/// The permissions `user` exercised, from the access log: every resource request it made,
/// whatever the answer (a 403 shows a permission it needed and lacked).
pub fn permissions_used(log: &[AccessRecord], user: &str) -> BTreeSet<Permission> {
    log.iter()
        .filter(|r| r.resource_request && r.user == user)
        .map(|r| Permission::new(&r.verb, &r.group, &r.resource, &r.subresource))
        .collect()
}

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read manifests: {0}")]
pub struct ManifestError(String);

/// Parses a multi-document YAML (or JSON) stream into objects, skipping empty documents.
pub fn read_manifests(yaml: &str) -> Result<Vec<Value>, ManifestError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml).map_err(|e| ManifestError(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// One atom of a granted rule (one verb, group and resource of it) that no used permission
/// needed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnusedGrant {
    /// Which binding and role grant it (`ClusterRoleBinding "b" of ClusterRole "r" to ...`).
    pub source: String,
    /// Verb as written in the rule.
    pub verb: String,
    /// API group as written.
    pub group: String,
    /// Resource as written (`secrets`, `deployments/scale`, `*`).
    pub resource: String,
}

/// The result of [`check_coverage`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageReport {
    /// Used but not granted.
    pub missing: Vec<Permission>,
    /// Granted but never used.
    pub unused: Vec<UnusedGrant>,
}

impl CoverageReport {
    /// Nothing missing.
    pub fn is_sufficient(&self) -> bool {
        self.missing.is_empty()
    }

    /// Nothing missing and nothing unused.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unused.is_empty()
    }
}

impl fmt::Display for CoverageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_exact() {
            return f.write_str("RBAC grants exactly what was used");
        }
        for m in &self.missing {
            writeln!(f, "missing: {m}")?;
        }
        for u in &self.unused {
            writeln!(
                f,
                "unused: {} {} in API group {:?} (from {})",
                u.verb, u.resource, u.group, u.source
            )?;
        }
        Ok(())
    }
}

/// Verbs that never name an object, so a rule restricted by `resourceNames` cannot grant them.
const UNNAMED_VERBS: [&str; 4] = ["create", "list", "watch", "deletecollection"];

fn grants(rule: &PolicyRule, p: &Permission) -> bool {
    rule.non_resource_urls.is_empty()
        && rule.verb_matches(&p.verb)
        && rule.group_matches(&p.group)
        && rule.resource_matches(&p.resource, &p.subresource)
        && (rule.resource_names.is_empty() || !UNNAMED_VERBS.contains(&p.verb.as_str()))
}

fn atom_used(verb: &str, group: &str, resource: &str, used: &BTreeSet<Permission>) -> bool {
    let atom = PolicyRule {
        verbs: vec![verb.into()],
        api_groups: vec![group.into()],
        resources: vec![resource.into()],
        ..Default::default()
    };
    used.iter().any(|p| grants(&atom, p))
}

/// Compares the permissions `user` used with what the RBAC objects among `manifests` grant it.
/// RoleBindings and Roles without a namespace are taken to be installed in `namespace`.
///
/// NB: permissions carry no namespace or name: a RoleBinding's grant counts wherever it is, and a
/// rule restricted by `resourceNames` counts for the verbs that name an object (not for
/// `create`, `list`, `watch`, `deletecollection`). Use [`denied_requests`] for the exact check
/// of each recorded request.
pub fn check_coverage(
    manifests: &[Value],
    namespace: &str,
    user: &UserInfo,
    used: &BTreeSet<Permission>,
) -> CoverageReport {
    let mut policy = Policy::from_objects(manifests);
    policy.default_namespace(namespace);
    let granted = policy.all_rules_for(user);
    let missing = used
        .iter()
        .filter(|p| !granted.iter().any(|(_, r)| grants(r, p)))
        .cloned()
        .collect();
    let mut unused = BTreeSet::new();
    for (source, rule) in &granted {
        if !rule.non_resource_urls.is_empty() {
            continue;
        }
        for verb in &rule.verbs {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    if !atom_used(verb, group, resource, used) {
                        unused.insert(UnusedGrant {
                            source: source.description.clone(),
                            verb: verb.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
        }
    }
    CoverageReport {
        missing,
        unused: unused.into_iter().collect(),
    }
}

/// The recorded resource requests of `user` that `policy` would not allow, each judged exactly
/// as the server's authorizer would (namespace, name and `resourceNames` included).
pub fn denied_requests(policy: &Policy, user: &UserInfo, log: &[AccessRecord]) -> Vec<AccessRecord> {
    log.iter()
        .filter(|r| r.resource_request && r.user == user.name)
        .filter(|r| {
            let namespace = if r.resource == "namespaces" && !r.name.is_empty() {
                r.name.as_str()
            } else {
                r.namespace.as_str()
            };
            let a = AuthzRequest {
                user,
                verb: &r.verb,
                resource_request: true,
                api_group: &r.group,
                resource: &r.resource,
                subresource: &r.subresource,
                namespace,
                name: &r.name,
                path: "",
            };
            !super::rbac::authorize(policy, &a).allowed()
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        user: &str,
        verb: &str,
        group: &str,
        resource: &str,
        sub: &str,
        ns: &str,
        name: &str,
    ) -> AccessRecord {
        AccessRecord {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
            user: user.into(),
            code: 200,
            resource_request: true,
        }
    }

    const MANIFESTS: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: op, namespace: sys}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: op}
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: op}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: op}
subjects: [{kind: ServiceAccount, name: op, namespace: sys}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leader}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [op-leader]
  verbs: [get, update]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader}
subjects: [{kind: ServiceAccount, name: op}]
"#;

    #[test]
    fn used_permissions_come_from_one_users_resource_requests() {
        let log = vec![
            record("op", "list", "", "secrets", "", "a", ""),
            record("op", "list", "", "secrets", "", "b", ""),
            record("op", "patch", "apps", "deployments", "", "a", "web"),
            record("other", "delete", "", "secrets", "", "a", "x"),
        ];
        let used = permissions_used(&log, "op");
        assert_eq!(
            used.into_iter().collect::<Vec<_>>(),
            vec![
                Permission::new("list", "", "secrets", ""),
                Permission::new("patch", "apps", "deployments", ""),
            ]
        );
    }

    #[test]
    fn coverage_reports_missing_and_unused_both_ways() {
        let manifests = read_manifests(MANIFESTS).unwrap();
        assert_eq!(manifests.len(), 5);
        let user = UserInfo::service_account("sys", "op");
        let mut used: BTreeSet<Permission> = [
            ("get", "", "secrets"),
            ("list", "", "secrets"),
            ("watch", "", "secrets"),
            ("patch", "", "secrets"),
            ("get", "apps", "deployments"),
            ("patch", "apps", "deployments"),
            ("get", "coordination.k8s.io", "leases"),
            ("update", "coordination.k8s.io", "leases"),
            ("create", "coordination.k8s.io", "leases"),
        ]
        .iter()
        .map(|(v, g, r)| Permission::new(v, g, r, ""))
        .collect();
        let report = check_coverage(&manifests, "sys", &user, &used);
        assert!(report.is_exact(), "{report}");

        used.insert(Permission::new("patch", "apps", "deployments", "scale"));
        used.remove(&Permission::new("watch", "", "secrets", ""));
        // A rule restricted by name cannot grant list.
        used.insert(Permission::new("list", "coordination.k8s.io", "leases", ""));
        let report = check_coverage(&manifests, "sys", &user, &used);
        assert_eq!(
            report.missing,
            vec![
                Permission::new("list", "coordination.k8s.io", "leases", ""),
                Permission::new("patch", "apps", "deployments", "scale"),
            ]
        );
        assert_eq!(report.unused.len(), 1);
        assert_eq!(report.unused[0].verb, "watch");
        assert_eq!(
            report.unused[0].source,
            "ClusterRoleBinding \"op\" of ClusterRole \"op\" to ServiceAccount \"op/sys\""
        );
        assert!(
            report
                .to_string()
                .contains("missing: patch deployments/scale in API group \"apps\"")
        );
        // Another user is granted nothing.
        let other = check_coverage(&manifests, "sys", &UserInfo::service_account("sys", "x"), &used);
        assert_eq!(other.missing.len(), used.len());
    }

    #[test]
    fn denied_requests_judges_names_and_namespaces_exactly() {
        let mut policy = Policy::from_objects(&read_manifests(MANIFESTS).unwrap());
        policy.default_namespace("sys");
        let user = UserInfo::service_account("sys", "op");
        let log = vec![
            record(
                &user.name,
                "get",
                "coordination.k8s.io",
                "leases",
                "",
                "sys",
                "op-leader",
            ),
            record(
                &user.name,
                "get",
                "coordination.k8s.io",
                "leases",
                "",
                "sys",
                "other",
            ),
            record(
                &user.name,
                "get",
                "coordination.k8s.io",
                "leases",
                "",
                "elsewhere",
                "op-leader",
            ),
            record(&user.name, "list", "", "secrets", "", "any", ""),
        ];
        let denied = denied_requests(&policy, &user, &log);
        assert_eq!(denied, vec![log[1].clone(), log[2].clone()]);
    }
}
