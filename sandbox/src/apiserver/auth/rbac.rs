//! RBAC policy: Role, ClusterRole, RoleBinding and ClusterRoleBinding objects parsed into a
//! [`Policy`], and the pure decision kube-apiserver's RBAC authorizer makes for a request.
//!
//! Invariant: [`authorize`] (and [`Policy::decide`]) follow `rbac.RBACAuthorizer` exactly: ClusterRoleBindings are
//! visited first, then the RoleBindings of the request's namespace; the first rule that allows the
//! request decides (with kube-apiserver's `allowed by ...` reason); bindings whose role is missing
//! contribute the `RBAC: ... not found` reason of a denial. Nothing else is consulted: no store, no
//! clock, no I/O.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::apiserver::request::{RequestAttributes, UserInfo};

/// `rbac.authorization.k8s.io`.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One RBAC rule (`PolicyRule`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// API groups ("" for core, `*` for all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources, `resource/subresource`, `*/subresource` or `*`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names (empty: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource URLs (`/healthz`, `/apis/*`, `*`).
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

fn string(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

impl PolicyRule {
    /// Parses a `PolicyRule` object.
    pub fn from_json(v: &Value) -> Self {
        PolicyRule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// `VerbMatches`.
    pub fn verb_matches(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }

    /// `APIGroupMatches`.
    pub fn group_matches(&self, group: &str) -> bool {
        self.api_groups.iter().any(|g| g == "*" || g == group)
    }

    /// `ResourceMatches`: `*`, the exact `resource[/subresource]`, or `*/subresource`.
    pub fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        let combined = combined(resource, subresource);
        self.resources.iter().any(|r| {
            r == "*"
                || *r == combined
                || (!subresource.is_empty() && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
        })
    }

    /// `ResourceNameMatches`: no names means any; otherwise the request must name one of them.
    pub fn name_matches(&self, name: &str) -> bool {
        self.resource_names.is_empty() || self.resource_names.iter().any(|n| n == name)
    }

    /// `NonResourceURLMatches`: `*`, exact, or a `prefix*`.
    pub fn url_matches(&self, path: &str) -> bool {
        self.non_resource_urls.iter().any(|u| {
            u == "*" || u == path || u.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
        })
    }

    /// `RuleAllows`.
    pub fn allows(&self, a: &AuthzRequest<'_>) -> bool {
        if a.resource_request {
            self.verb_matches(a.verb)
                && self.group_matches(a.api_group)
                && self.resource_matches(a.resource, a.subresource)
                && self.name_matches(a.name)
        } else {
            self.verb_matches(a.verb) && self.url_matches(a.path)
        }
    }
}

fn combined(resource: &str, subresource: &str) -> String {
    if subresource.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}/{subresource}")
    }
}

/// A binding subject.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Namespace (ServiceAccount only; defaults to the binding's namespace).
    pub namespace: String,
}

impl Subject {
    fn from_json(v: &Value) -> Self {
        Subject {
            kind: string(v, "kind"),
            name: string(v, "name"),
            namespace: string(v, "namespace"),
        }
    }

    /// `appliesTo`: whether the subject names this user (one of its groups, or its service
    /// account, defaulting the namespace to the binding's).
    pub fn applies_to(&self, user: &UserInfo, binding_namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => user.groups.contains(&self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                !ns.is_empty() && user.name == service_account_user(ns, &self.name)
            }
            _ => false,
        }
    }

    /// `describeSubject`.
    fn describe(&self, binding_namespace: &str) -> String {
        match self.kind.as_str() {
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                format!("{} \"{}/{}\"", self.kind, self.name, ns)
            }
            _ => format!("{} \"{}\"", self.kind, self.name),
        }
    }
}

/// `system:serviceaccount:<ns>:<name>`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// `(namespace, name)` of a ServiceAccount's user name (the inverse of [`service_account_user`]).
pub fn parse_service_account_user(user: &str) -> Option<(&str, &str)> {
    let (ns, name) = user.strip_prefix("system:serviceaccount:")?.split_once(':')?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

/// A RoleBinding (with its namespace) or a ClusterRoleBinding (namespace "").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Name.
    pub name: String,
    /// Namespace; "" for a ClusterRoleBinding.
    pub namespace: String,
    /// `roleRef.kind`: `Role` or `ClusterRole`.
    pub role_kind: String,
    /// `roleRef.name`.
    pub role_name: String,
    /// Subjects.
    pub subjects: Vec<Subject>,
}

impl Binding {
    fn from_json(v: &Value) -> Self {
        Binding {
            name: v
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            namespace: v
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            role_kind: v
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            role_name: v
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .into(),
            subjects: v
                .get("subjects")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Subject::from_json).collect())
                .unwrap_or_default(),
        }
    }

    fn describe(&self, subject: &Subject) -> String {
        if self.namespace.is_empty() {
            format!(
                "ClusterRoleBinding \"{}\" of {} \"{}\" to {}",
                self.name,
                self.role_kind,
                self.role_name,
                subject.describe("")
            )
        } else {
            format!(
                "RoleBinding \"{}/{}\" of {} \"{}\" to {}",
                self.name,
                self.namespace,
                self.role_kind,
                self.role_name,
                subject.describe(&self.namespace)
            )
        }
    }
}

/// A Role or ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Role {
    /// Labels (for aggregation).
    pub labels: BTreeMap<String, String>,
    /// Rules as written.
    pub rules: Vec<PolicyRule>,
    /// `aggregationRule.clusterRoleSelectors` (ClusterRoles only); `Some` makes the role's rules
    /// the union of the selected ClusterRoles' rules, as the aggregation controller writes them.
    pub aggregation: Option<Vec<Value>>,
}

impl Role {
    fn from_json(v: &Value) -> Self {
        Role {
            labels: v
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            rules: v
                .get("rules")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(PolicyRule::from_json).collect())
                .unwrap_or_default(),
            aggregation: v
                .pointer("/aggregationRule/clusterRoleSelectors")
                .and_then(Value::as_array)
                .cloned(),
        }
    }
}

/// Whether a structured `LabelSelector` (`matchLabels`, `matchExpressions`) selects `labels`.
/// An empty selector selects everything, as `LabelSelectorAsSelector` makes it.
pub fn label_selector_matches(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| {
            m.iter()
                .all(|(k, v)| v.as_str().is_some_and(|v| labels.get(k).is_some_and(|l| l == v)))
        });
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = string(e, "key");
                let values = strings(e, "values");
                let have = labels.get(&key);
                match string(e, "operator").as_str() {
                    "In" => have.is_some_and(|h| values.contains(h)),
                    "NotIn" => have.is_none_or(|h| !values.contains(h)),
                    "Exists" => have.is_some(),
                    "DoesNotExist" => have.is_none(),
                    _ => false,
                }
            })
        });
    match_labels && expressions
}

/// The RBAC objects of a cluster (or of a set of manifests).
#[derive(Clone, Debug, Default)]
pub struct Policy {
    cluster_roles: BTreeMap<String, Role>,
    roles: BTreeMap<(String, String), Role>,
    cluster_role_bindings: Vec<Binding>,
    role_bindings: Vec<Binding>,
}

/// What the authorizer needs to know about a request (kube-apiserver's `authorizer.Attributes`).
#[derive(Clone, Copy, Debug)]
pub struct AuthzRequest<'a> {
    /// The user.
    pub user: &'a UserInfo,
    /// Verb.
    pub verb: &'a str,
    /// Resource request (vs non-resource path).
    pub resource_request: bool,
    /// API group.
    pub api_group: &'a str,
    /// Resource.
    pub resource: &'a str,
    /// Subresource.
    pub subresource: &'a str,
    /// Namespace ("" for cluster scope).
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
    /// Path (non-resource requests).
    pub path: &'a str,
}

impl<'a> AuthzRequest<'a> {
    /// The authorization attributes of a parsed request. NB: as in kube-apiserver's RequestInfo,
    /// a request for one Namespace (`/api/v1/namespaces/<n>[/status]`) is in namespace `<n>`, so
    /// a RoleBinding there can grant access to the Namespace object itself.
    pub fn of(attrs: &'a RequestAttributes) -> Self {
        let namespace = if attrs.resource_request && attrs.resource == "namespaces" && !attrs.name.is_empty()
        {
            attrs.name.as_str()
        } else {
            attrs.namespace.as_str()
        };
        AuthzRequest {
            user: &attrs.user,
            verb: &attrs.verb,
            resource_request: attrs.resource_request,
            api_group: &attrs.api_group,
            resource: &attrs.resource,
            subresource: &attrs.subresource,
            namespace,
            name: &attrs.name,
            path: &attrs.path,
        }
    }
}

/// What the authorizer decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with kube-apiserver's reason (`RBAC: allowed by ...`; "" for system:masters).
    Allow(String),
    /// Not allowed; the reason is "" or `RBAC: <errors>` (bindings to missing roles).
    Deny(String),
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason text.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) => r,
        }
    }
}

/// Where a rule reaches a user from: a binding, its subject and the role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSource {
    /// kube-apiserver's description: `ClusterRoleBinding "b" of ClusterRole "r" to User "u"`.
    pub description: String,
    /// The binding's namespace ("" for a ClusterRoleBinding): where the rule applies.
    pub namespace: String,
}

impl fmt::Display for RuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// The group a user's membership in bypasses authorization (kube-apiserver's privileged group).
pub const MASTERS_GROUP: &str = "system:masters";

impl Policy {
    /// Builds a policy from objects; anything but the four RBAC kinds (and `List`s of them) is
    /// ignored, so a whole set of manifests can be passed.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut p = Policy::default();
        for o in objects {
            p.add(o);
        }
        p
    }

    /// Adds one object (or the items of a `List`).
    pub fn add(&mut self, o: &Value) {
        let group_ok = o
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with(&format!("{RBAC_GROUP}/")));
        let name = || {
            o.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let namespace = || {
            o.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match o.get("kind").and_then(Value::as_str) {
            Some(k) if k.ends_with("List") => {
                for item in o.get("items").and_then(Value::as_array).into_iter().flatten() {
                    self.add(item);
                }
            }
            Some("ClusterRole") if group_ok => {
                self.cluster_roles.insert(name(), Role::from_json(o));
            }
            Some("Role") if group_ok => {
                self.roles.insert((namespace(), name()), Role::from_json(o));
            }
            Some("ClusterRoleBinding") if group_ok => {
                let mut b = Binding::from_json(o);
                b.namespace.clear();
                self.cluster_role_bindings.push(b);
            }
            Some("RoleBinding") if group_ok => self.role_bindings.push(Binding::from_json(o)),
            _ => {}
        }
    }

    /// Gives RoleBindings and Roles without a namespace (manifests rendered without one) the
    /// namespace they would be installed into.
    pub fn default_namespace(&mut self, namespace: &str) {
        for b in &mut self.role_bindings {
            if b.namespace.is_empty() {
                b.namespace = namespace.to_string();
            }
        }
        let roles = std::mem::take(&mut self.roles);
        for ((ns, name), r) in roles {
            let ns = if ns.is_empty() { namespace.to_string() } else { ns };
            self.roles.insert((ns, name), r);
        }
    }

    /// The rules of a ClusterRole, with aggregation resolved (selected roles' rules, recursively).
    fn cluster_role_rules(&self, name: &str) -> Option<Vec<PolicyRule>> {
        let mut seen = vec![];
        self.cluster_role_rules_inner(name, &mut seen)
    }

    fn cluster_role_rules_inner(&self, name: &str, seen: &mut Vec<String>) -> Option<Vec<PolicyRule>> {
        let role = self.cluster_roles.get(name)?;
        let Some(selectors) = &role.aggregation else {
            return Some(role.rules.clone());
        };
        seen.push(name.to_string());
        let mut rules: Vec<PolicyRule> = vec![];
        for (other, r) in &self.cluster_roles {
            if seen.contains(other) || !selectors.iter().any(|s| label_selector_matches(s, &r.labels)) {
                continue;
            }
            for rule in self.cluster_role_rules_inner(other, seen).unwrap_or_default() {
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
        Some(rules)
    }

    /// The rules a binding grants, or the `not found` error of its missing role.
    fn binding_rules(&self, b: &Binding) -> Result<Vec<PolicyRule>, String> {
        match b.role_kind.as_str() {
            "ClusterRole" => self
                .cluster_role_rules(&b.role_name)
                .ok_or_else(|| format!("clusterrole.{RBAC_GROUP} \"{}\" not found", b.role_name)),
            "Role" if !b.namespace.is_empty() => self
                .roles
                .get(&(b.namespace.clone(), b.role_name.clone()))
                .map(|r| r.rules.clone())
                .ok_or_else(|| format!("role.{RBAC_GROUP} \"{}\" not found", b.role_name)),
            other => Err(format!("unsupported role reference kind: \"{other}\"")),
        }
    }

    /// `VisitRulesFor`: every (source, rule) reaching `user` in `namespace` (cluster bindings
    /// first), or a lookup error; the visitor returns `false` to stop.
    pub fn visit_rules(
        &self,
        user: &UserInfo,
        namespace: &str,
        mut visit: impl FnMut(Result<(&RuleSource, &PolicyRule), &str>) -> bool,
    ) {
        let scoped = self
            .role_bindings
            .iter()
            .filter(|b| !namespace.is_empty() && b.namespace == namespace);
        for b in self.cluster_role_bindings.iter().chain(scoped) {
            let Some(subject) = b.subjects.iter().find(|s| s.applies_to(user, &b.namespace)) else {
                continue;
            };
            match self.binding_rules(b) {
                Err(e) => {
                    if !visit(Err(&e)) {
                        return;
                    }
                }
                Ok(rules) => {
                    let source = RuleSource {
                        description: b.describe(subject),
                        namespace: b.namespace.clone(),
                    };
                    for rule in &rules {
                        if !visit(Ok((&source, rule))) {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The RBAC decision for a request (without the system:masters bypass; see [`authorize`]).
    pub fn decide(&self, a: &AuthzRequest<'_>) -> Decision {
        let mut errors: Vec<String> = vec![];
        let mut allowed: Option<String> = None;
        self.visit_rules(a.user, a.namespace, |r| match r {
            Ok((source, rule)) if rule.allows(a) => {
                allowed = Some(format!("RBAC: allowed by {source}"));
                false
            }
            Ok(_) => true,
            Err(e) => {
                errors.push(e.to_string());
                true
            }
        });
        if let Some(reason) = allowed {
            return Decision::Allow(reason);
        }
        let reason = match errors.len() {
            0 => String::new(),
            1 => format!("RBAC: {}", errors[0]),
            _ => format!("RBAC: [{}]", errors.join(", ")),
        };
        Decision::Deny(reason)
    }

    /// Every rule that applies to `user` in `namespace` (what SelfSubjectRulesReview reports),
    /// with the lookup errors met on the way.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules: Vec<PolicyRule> = vec![];
        let mut errors = vec![];
        self.visit_rules(user, namespace, |r| {
            match r {
                Ok((_, rule)) => {
                    if !rules.contains(rule) {
                        rules.push(rule.clone())
                    }
                }
                Err(e) => errors.push(e.to_string()),
            }
            true
        });
        (rules, errors)
    }

    /// Every (source, rule) granted to `user` by any binding in any namespace.
    pub fn all_rules_for(&self, user: &UserInfo) -> Vec<(RuleSource, PolicyRule)> {
        let mut out = vec![];
        let mut namespaces: Vec<&str> = vec![""];
        for b in &self.role_bindings {
            if !namespaces.contains(&b.namespace.as_str()) {
                namespaces.push(&b.namespace);
            }
        }
        for ns in namespaces {
            self.visit_rules(user, ns, |r| {
                if let Ok((source, rule)) = r
                    && (ns.is_empty() || !source.namespace.is_empty())
                {
                    out.push((source.clone(), rule.clone()));
                }
                true
            });
        }
        out
    }
}

/// The full decision: members of `system:masters` are always allowed (kube-apiserver's
/// privileged-group authorizer runs before RBAC); everyone else gets RBAC's decision.
pub fn authorize(policy: &Policy, a: &AuthzRequest<'_>) -> Decision {
    if a.user.groups.iter().any(|g| g == MASTERS_GROUP) {
        return Decision::Allow(String::new());
    }
    policy.decide(a)
}

/// kube-apiserver's 403 message for a denied request (`responsewriters.Forbidden`):
/// `secrets is forbidden: User "u" cannot list resource "secrets" in API group "" in the namespace
/// "ns"`, the `at the cluster scope` variant, `resource/subresource`, a `"name"` after the
/// resource, and `forbidden: User "u" cannot get path "/x"` for non-resource requests; RBAC's
/// reason, if any, follows after `: `.
pub fn forbidden_message(a: &AuthzRequest<'_>, reason: &str) -> String {
    let mut what = if !a.resource_request {
        format!("User \"{}\" cannot {} path \"{}\"", a.user.name, a.verb, a.path)
    } else {
        let resource = combined(a.resource, a.subresource);
        if a.namespace.is_empty() {
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" at the cluster scope",
                a.user.name, a.verb, a.api_group
            )
        } else {
            format!(
                "User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" in the namespace \"{}\"",
                a.user.name, a.verb, a.api_group, a.namespace
            )
        }
    };
    if !reason.is_empty() {
        what = format!("{what}: {reason}");
    }
    let qualified = if !a.resource_request {
        String::new()
    } else if a.api_group.is_empty() {
        a.resource.to_string()
    } else {
        format!("{}.{}", a.resource, a.api_group)
    };
    if qualified.is_empty() {
        format!("forbidden: {what}")
    } else if a.name.is_empty() {
        format!("{qualified} is forbidden: {what}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {what}", a.name)
    }
}

#[cfg(test)]
mod tests;
