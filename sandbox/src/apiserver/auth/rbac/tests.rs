//! Table tests of the RBAC decision, named after the behaviour they pin.

use serde_json::{Value, json};

use super::*;

fn role(kind: &str, ns: &str, name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns}, "rules": rules})
}

fn binding(kind: &str, ns: &str, name: &str, role_kind: &str, role: &str, subjects: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": subjects})
}

fn policy() -> Policy {
    let objects = vec![
        role(
            "Role",
            "team",
            "secret-reader",
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]),
        ),
        role(
            "Role",
            "team",
            "named",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cfg"], "verbs": ["get", "update", "list"]}]),
        ),
        role(
            "ClusterRole",
            "",
            "status-writer",
            json!([{"apiGroups": ["example.com"], "resources": ["widgets/status"], "verbs": ["patch"]},
                   {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}]),
        ),
        role(
            "ClusterRole",
            "",
            "lister",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["list"]},
                   {"nonResourceURLs": ["/metrics", "/logs/*"], "verbs": ["get"]}]),
        ),
        binding(
            "RoleBinding",
            "team",
            "sa-reads",
            "Role",
            "secret-reader",
            json!([{"kind": "ServiceAccount", "name": "app"}]),
        ),
        binding(
            "RoleBinding",
            "team",
            "named",
            "Role",
            "named",
            json!([{"kind": "User", "name": "alice"}]),
        ),
        binding(
            "RoleBinding",
            "team",
            "status",
            "ClusterRole",
            "status-writer",
            json!([{"kind": "Group", "name": "writers"}]),
        ),
        binding(
            "ClusterRoleBinding",
            "",
            "listers",
            "ClusterRole",
            "lister",
            json!([{"kind": "ServiceAccount", "name": "auditor", "namespace": "ops"}]),
        ),
        binding(
            "RoleBinding",
            "team",
            "dangling",
            "Role",
            "missing",
            json!([{"kind": "User", "name": "bob"}]),
        ),
    ];
    Policy::from_objects(&objects)
}

struct Case {
    name: &'static str,
    user: UserInfo,
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    sub: &'static str,
    ns: &'static str,
    obj: &'static str,
    allowed: bool,
}

fn sa(ns: &str, name: &str) -> UserInfo {
    UserInfo {
        name: service_account_user(ns, name),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
        ],
        ..Default::default()
    }
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo::new(name, groups)
}

#[test]
fn resource_requests_follow_kube_apiserver_rbac() {
    #[rustfmt::skip]
    let cases = vec![
        Case { name: "role binding grants in its namespace", user: sa("team", "app"), verb: "list", group: "", resource: "secrets", sub: "", ns: "team", obj: "", allowed: true },
        Case { name: "not in another namespace", user: sa("team", "app"), verb: "list", group: "", resource: "secrets", sub: "", ns: "other", obj: "", allowed: false },
        Case { name: "not at cluster scope", user: sa("team", "app"), verb: "list", group: "", resource: "secrets", sub: "", ns: "", obj: "", allowed: false },
        Case { name: "verb not granted", user: sa("team", "app"), verb: "watch", group: "", resource: "secrets", sub: "", ns: "team", obj: "", allowed: false },
        Case { name: "SA subject defaults to the binding namespace", user: sa("other", "app"), verb: "get", group: "", resource: "secrets", sub: "", ns: "team", obj: "s", allowed: false },
        Case { name: "resource names restrict get", user: user("alice", &[]), verb: "get", group: "", resource: "configmaps", sub: "", ns: "team", obj: "cfg", allowed: true },
        Case { name: "other names are refused", user: user("alice", &[]), verb: "get", group: "", resource: "configmaps", sub: "", ns: "team", obj: "other", allowed: false },
        Case { name: "an unnamed list never matches resource names", user: user("alice", &[]), verb: "list", group: "", resource: "configmaps", sub: "", ns: "team", obj: "", allowed: false },
        Case { name: "a list pinned to the name does", user: user("alice", &[]), verb: "list", group: "", resource: "configmaps", sub: "", ns: "team", obj: "cfg", allowed: true },
        Case { name: "subresource rule grants the subresource", user: user("carol", &["writers"]), verb: "patch", group: "example.com", resource: "widgets", sub: "status", ns: "team", obj: "w", allowed: true },
        Case { name: "but not the main resource", user: user("carol", &["writers"]), verb: "patch", group: "example.com", resource: "widgets", sub: "", ns: "team", obj: "w", allowed: false },
        Case { name: "*/scale matches any scale subresource", user: user("carol", &["writers"]), verb: "update", group: "apps", resource: "deployments", sub: "scale", ns: "team", obj: "d", allowed: true },
        Case { name: "*/scale does not match status", user: user("carol", &["writers"]), verb: "update", group: "apps", resource: "deployments", sub: "status", ns: "team", obj: "d", allowed: false },
        Case { name: "cluster role via role binding is namespaced", user: user("carol", &["writers"]), verb: "patch", group: "example.com", resource: "widgets", sub: "status", ns: "other", obj: "w", allowed: false },
        Case { name: "cluster binding grants everywhere", user: sa("ops", "auditor"), verb: "list", group: "apps", resource: "deployments", sub: "", ns: "x", obj: "", allowed: true },
        Case { name: "and at cluster scope", user: sa("ops", "auditor"), verb: "list", group: "", resource: "namespaces", sub: "", ns: "", obj: "", allowed: true },
        Case { name: "resource * includes subresources", user: sa("ops", "auditor"), verb: "list", group: "", resource: "pods", sub: "log", ns: "x", obj: "", allowed: true },
        Case { name: "system:masters bypasses RBAC", user: user("root", &[MASTERS_GROUP]), verb: "delete", group: "", resource: "nodes", sub: "", ns: "", obj: "n", allowed: true },
        Case { name: "nothing for strangers", user: user("mallory", &["system:authenticated"]), verb: "get", group: "", resource: "secrets", sub: "", ns: "team", obj: "s", allowed: false },
    ];
    let p = policy();
    for c in cases {
        let a = AuthzRequest {
            user: &c.user,
            verb: c.verb,
            resource_request: true,
            api_group: c.group,
            resource: c.resource,
            subresource: c.sub,
            namespace: c.ns,
            name: c.obj,
            path: "",
        };
        assert_eq!(authorize(&p, &a).allowed(), c.allowed, "{}", c.name);
    }
}

fn non_resource<'a>(u: &'a UserInfo, path: &'a str) -> AuthzRequest<'a> {
    AuthzRequest {
        user: u,
        verb: "get",
        resource_request: false,
        api_group: "",
        resource: "",
        subresource: "",
        namespace: "",
        name: "",
        path,
    }
}

#[test]
fn non_resource_urls_match_exactly_or_by_prefix() {
    let p = policy();
    let u = sa("ops", "auditor");
    assert!(authorize(&p, &non_resource(&u, "/metrics")).allowed());
    assert!(authorize(&p, &non_resource(&u, "/logs/kube")).allowed());
    assert!(!authorize(&p, &non_resource(&u, "/metricsx")).allowed());
    assert!(!authorize(&p, &non_resource(&u, "/healthz")).allowed());
}

#[test]
fn reasons_name_the_granting_binding_and_missing_roles() {
    let p = policy();
    let u = sa("team", "app");
    let a = AuthzRequest {
        user: &u,
        verb: "get",
        resource_request: true,
        api_group: "",
        resource: "secrets",
        subresource: "",
        namespace: "team",
        name: "s",
        path: "",
    };
    assert_eq!(
        authorize(&p, &a),
        Decision::Allow(
            "RBAC: allowed by RoleBinding \"sa-reads/team\" of Role \"secret-reader\" to ServiceAccount \"app/team\""
                .into()
        )
    );
    let bob = user("bob", &[]);
    let denied = authorize(&p, &AuthzRequest { user: &bob, ..a });
    assert_eq!(
        denied,
        Decision::Deny("RBAC: role.rbac.authorization.k8s.io \"missing\" not found".into())
    );
}

#[test]
fn forbidden_messages_match_kube_apiserver() {
    let u = sa("default", "nobody");
    let a = AuthzRequest {
        user: &u,
        verb: "list",
        resource_request: true,
        api_group: "",
        resource: "secrets",
        subresource: "",
        namespace: "conformance",
        name: "",
        path: "",
    };
    assert_eq!(
        forbidden_message(&a, ""),
        "secrets is forbidden: User \"system:serviceaccount:default:nobody\" cannot list resource \"secrets\" in API group \"\" in the namespace \"conformance\""
    );
    let scale = AuthzRequest {
        verb: "update",
        api_group: "apps",
        resource: "deployments",
        subresource: "scale",
        name: "web",
        ..a
    };
    assert_eq!(
        forbidden_message(&scale, ""),
        "deployments.apps \"web\" is forbidden: User \"system:serviceaccount:default:nobody\" cannot update resource \"deployments/scale\" in API group \"apps\" in the namespace \"conformance\""
    );
    let cluster = AuthzRequest {
        resource: "namespaces",
        namespace: "",
        ..a
    };
    assert_eq!(
        forbidden_message(&cluster, "RBAC: x"),
        "namespaces is forbidden: User \"system:serviceaccount:default:nobody\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope: RBAC: x"
    );
    assert_eq!(
        forbidden_message(&non_resource(&u, "/metrics"), ""),
        "forbidden: User \"system:serviceaccount:default:nobody\" cannot get path \"/metrics\""
    );
}

#[test]
fn aggregated_cluster_roles_take_the_selected_roles_rules() {
    let mut objects = vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "view"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"aggregate-to-view": "true"}}]},
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["delete"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "widgets-view", "labels": {"aggregate-to-view": "true"}},
            "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get", "list"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "unrelated", "labels": {"aggregate-to-edit": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
    ];
    objects.push(binding(
        "ClusterRoleBinding",
        "",
        "viewers",
        "ClusterRole",
        "view",
        json!([{"kind": "Group", "name": "viewers"}]),
    ));
    let p = Policy::from_objects(&objects);
    let u = user("v", &["viewers"]);
    let req = |group: &'static str, resource: &'static str, verb: &'static str| AuthzRequest {
        user: &u,
        verb,
        resource_request: true,
        api_group: group,
        resource,
        subresource: "",
        namespace: "ns",
        name: "x",
        path: "",
    };
    assert!(p.decide(&req("example.com", "widgets", "get")).allowed());
    assert!(!p.decide(&req("", "secrets", "get")).allowed());
    // The aggregated role's own rules are replaced, as the aggregation controller does.
    assert!(!p.decide(&req("", "nodes", "delete")).allowed());
}

#[test]
fn structured_label_selectors() {
    let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
    let m = |s: Value| label_selector_matches(&s, &labels);
    assert!(m(json!({})));
    assert!(m(json!({"matchLabels": {"a": "1"}})));
    assert!(!m(json!({"matchLabels": {"a": "2"}})));
    assert!(m(
        json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]})
    ));
    assert!(!m(
        json!({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]})
    ));
    assert!(m(
        json!({"matchExpressions": [{"key": "b", "operator": "DoesNotExist"}]})
    ));
    assert!(!m(
        json!({"matchExpressions": [{"key": "b", "operator": "Exists"}]})
    ));
}

#[test]
fn rules_for_a_user_list_what_applies_in_a_namespace() {
    let p = policy();
    let (rules, errors) = p.rules_for(&sa("team", "app"), "team");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].resources, vec!["secrets"]);
    assert!(errors.is_empty());
    let (rules, errors) = p.rules_for(&user("bob", &[]), "team");
    assert!(rules.is_empty());
    assert_eq!(errors.len(), 1);
}
