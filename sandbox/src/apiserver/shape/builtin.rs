//! Merge semantics of the built-in kinds the sandbox serves, transcribed from the Kubernetes 1.33 API
//! types (`+listType`, `+listMapKey`, `+mapType`, `+structType`, `+patchStrategy`,
//! `+patchMergeKey` markers), plus what kube-apiserver needs besides: the zero-valued object it
//! compares a create against, and the fields each endpoint resets.
//!
//! Only the parts that matter for merging are spelled out; everything else in a built-in struct is
//! an open struct field (maps granular, lists atomic), which is what the real types mostly are.
//!
//! Invariant: for every list, the SSA list type and the strategic-merge-patch strategy agree with
//! the real API (e.g. container `ports` are keyed by `containerPort`+`protocol` for apply but merged
//! on `containerPort` by strategic merge patch; `tolerations` are atomic for both).

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::TypeShape;
use super::build::*;

/// Everything the write path needs to know about one built-in kind.
#[derive(Debug)]
pub struct BuiltinKind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Merge semantics of the whole object.
    pub shape: TypeShape,
    /// The object kube-apiserver compares a create against when it records who set what: the Go
    /// zero value of the type as JSON (non-pointer structs present as `{}`, non-omitempty fields as
    /// `null`/`""`). It is why a Deployment's creator owns `f:spec` without `"."` while a custom
    /// resource's creator owns `f:spec` with `"."`.
    pub create_baseline: Value,
    /// Whether the kind has a `/status` subresource.
    pub status_subresource: bool,
    /// Paths reset (and not owned) on writes to the main resource.
    pub main_reset: &'static [&'static [&'static str]],
    /// Paths reset (and not owned) on writes to `/status`.
    pub status_reset: &'static [&'static [&'static str]],
}

const NO_RESET: &[&[&str]] = &[];
const STATUS: &[&[&str]] = &[&["status"]];
const SPEC: &[&[&str]] = &[&["spec"]];
const SPEC_AND_LABELS: &[&[&str]] = &[&["spec"], &["metadata", "labels"]];
const SPEC_AND_METADATA: &[&[&str]] = &[&["spec"], &["metadata"]];

/// `metav1.ObjectMeta`.
pub fn object_meta() -> TypeShape {
    strukt([
        ("labels", string_map()),
        ("annotations", string_map()),
        ("finalizers", merged_set()),
        ("ownerReferences", keyed_list(&["uid"], "uid", atomic_struct())),
        ("managedFields", atomic_list(TypeShape::open_struct())),
    ])
}

fn label_selector() -> TypeShape {
    atomic_struct()
}

fn conditions() -> TypeShape {
    keyed_list(&["type"], "type", TypeShape::open_struct())
}

fn env_var() -> TypeShape {
    strukt([(
        "valueFrom",
        strukt([
            ("fieldRef", atomic_struct()),
            ("resourceFieldRef", atomic_struct()),
            ("configMapKeyRef", atomic_struct()),
            ("secretKeyRef", atomic_struct()),
        ]),
    )])
}

fn probe() -> TypeShape {
    strukt([
        ("exec", strukt([("command", atomic_list(TypeShape::Scalar))])),
        (
            "httpGet",
            strukt([("httpHeaders", atomic_list(TypeShape::open_struct()))]),
        ),
    ])
}

fn container() -> TypeShape {
    strukt([
        ("command", atomic_list(TypeShape::Scalar)),
        ("args", atomic_list(TypeShape::Scalar)),
        (
            "ports",
            keyed_list_with_defaults(
                &["containerPort", "protocol"],
                &[("protocol", json!("TCP"))],
                "containerPort",
                TypeShape::open_struct(),
            ),
        ),
        ("envFrom", atomic_list(TypeShape::open_struct())),
        ("env", keyed_list(&["name"], "name", env_var())),
        (
            "resources",
            strukt([
                ("limits", string_map()),
                ("requests", string_map()),
                ("claims", keyed_list(&["name"], "name", TypeShape::open_struct())),
            ]),
        ),
        ("resizePolicy", atomic_list(TypeShape::open_struct())),
        (
            "volumeMounts",
            keyed_list(&["mountPath"], "mountPath", TypeShape::open_struct()),
        ),
        (
            "volumeDevices",
            keyed_list(&["devicePath"], "devicePath", TypeShape::open_struct()),
        ),
        ("livenessProbe", probe()),
        ("readinessProbe", probe()),
        ("startupProbe", probe()),
        (
            "securityContext",
            strukt([(
                "capabilities",
                strukt([
                    ("add", atomic_list(TypeShape::Scalar)),
                    ("drop", atomic_list(TypeShape::Scalar)),
                ]),
            )]),
        ),
    ])
}

fn volume() -> TypeShape {
    strukt([
        (
            "secret",
            strukt([("items", atomic_list(TypeShape::open_struct()))]),
        ),
        (
            "configMap",
            strukt([("items", atomic_list(TypeShape::open_struct()))]),
        ),
        (
            "projected",
            strukt([("sources", atomic_list(TypeShape::open_struct()))]),
        ),
        (
            "downwardAPI",
            strukt([("items", atomic_list(TypeShape::open_struct()))]),
        ),
    ])
}

/// `core/v1.PodSpec`.
pub fn pod_spec() -> TypeShape {
    strukt([
        ("volumes", keyed_list(&["name"], "name", volume())),
        ("initContainers", keyed_list(&["name"], "name", container())),
        ("containers", keyed_list(&["name"], "name", container())),
        ("ephemeralContainers", keyed_list(&["name"], "name", container())),
        (
            "imagePullSecrets",
            keyed_list(&["name"], "name", TypeShape::open_struct()),
        ),
        ("tolerations", atomic_list(TypeShape::open_struct())),
        ("hostAliases", keyed_list(&["ip"], "ip", TypeShape::open_struct())),
        (
            "topologySpreadConstraints",
            keyed_list(
                &["topologyKey", "whenUnsatisfiable"],
                "topologyKey",
                TypeShape::open_struct(),
            ),
        ),
        ("readinessGates", atomic_list(TypeShape::open_struct())),
        ("nodeSelector", atomic_string_map()),
        ("overhead", string_map()),
        (
            "resourceClaims",
            keyed_list(&["name"], "name", TypeShape::open_struct()),
        ),
        (
            "schedulingGates",
            keyed_list(&["name"], "name", TypeShape::open_struct()),
        ),
    ])
}

/// `core/v1.PodTemplateSpec`.
pub fn pod_template() -> TypeShape {
    strukt([("metadata", object_meta()), ("spec", pod_spec())])
}

fn with_meta<const N: usize>(fields: [(&str, TypeShape); N]) -> TypeShape {
    let mut shape = strukt(fields);
    if let TypeShape::Object(o) = &mut shape {
        o.fields.insert("metadata".into(), object_meta());
        o.fields.insert("apiVersion".into(), TypeShape::Scalar);
        o.fields.insert("kind".into(), TypeShape::Scalar);
    }
    shape
}

fn workload(extra_spec: TypeShape) -> TypeShape {
    let mut spec = strukt([("selector", label_selector()), ("template", pod_template())]);
    if let (TypeShape::Object(s), TypeShape::Object(e)) = (&mut spec, extra_spec) {
        s.fields.extend(e.fields);
    }
    with_meta([("spec", spec), ("status", strukt([("conditions", conditions())]))])
}

fn pod_template_baseline() -> Value {
    json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": null}})
}

fn kinds() -> Vec<BuiltinKind> {
    let meta_only = json!({"metadata": {"creationTimestamp": null}});
    let plain = |group: &'static str, kind: &'static str, shape: TypeShape, baseline: Value| BuiltinKind {
        group,
        kind,
        shape,
        create_baseline: baseline,
        status_subresource: false,
        main_reset: NO_RESET,
        status_reset: NO_RESET,
    };
    vec![
        plain(
            "",
            "Secret",
            with_meta([("data", string_map()), ("stringData", string_map())]),
            meta_only.clone(),
        ),
        plain(
            "",
            "ConfigMap",
            with_meta([("data", string_map()), ("binaryData", string_map())]),
            meta_only.clone(),
        ),
        plain(
            "",
            "ServiceAccount",
            with_meta([
                ("secrets", keyed_list(&["name"], "name", atomic_struct())),
                ("imagePullSecrets", atomic_list(atomic_struct())),
            ]),
            meta_only.clone(),
        ),
        BuiltinKind {
            group: "",
            kind: "Namespace",
            shape: with_meta([
                ("spec", strukt([("finalizers", atomic_list(TypeShape::Scalar))])),
                ("status", strukt([("conditions", conditions())])),
            ]),
            create_baseline: json!({"metadata": {"creationTimestamp": null}, "spec": {}, "status": {}}),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC,
        },
        BuiltinKind {
            group: "",
            kind: "Service",
            shape: with_meta([
                (
                    "spec",
                    strukt([
                        (
                            "ports",
                            keyed_list_with_defaults(
                                &["port", "protocol"],
                                &[("protocol", json!("TCP"))],
                                "port",
                                atomic_struct(),
                            ),
                        ),
                        ("selector", atomic_string_map()),
                        ("clusterIPs", atomic_list(TypeShape::Scalar)),
                        ("externalIPs", atomic_list(TypeShape::Scalar)),
                        ("ipFamilies", atomic_list(TypeShape::Scalar)),
                        ("loadBalancerSourceRanges", atomic_list(TypeShape::Scalar)),
                    ]),
                ),
                ("status", strukt([("conditions", conditions())])),
            ]),
            create_baseline: json!({"metadata": {"creationTimestamp": null}, "spec": {}, "status": {"loadBalancer": {}}}),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC,
        },
        BuiltinKind {
            group: "policy",
            kind: "PodDisruptionBudget",
            shape: with_meta([
                ("spec", strukt([("selector", label_selector())])),
                (
                    "status",
                    strukt([("conditions", conditions()), ("disruptedPods", string_map())]),
                ),
            ]),
            create_baseline: json!({
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0},
            }),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC_AND_METADATA,
        },
        BuiltinKind {
            group: "",
            kind: "Pod",
            shape: with_meta([
                ("spec", pod_spec()),
                ("status", strukt([("conditions", conditions())])),
            ]),
            create_baseline: json!({"metadata": {"creationTimestamp": null}, "spec": {"containers": null}, "status": {}}),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC,
        },
        plain(
            "",
            "Event",
            with_meta([("involvedObject", atomic_struct()), ("related", atomic_struct())]),
            json!({
                "metadata": {"creationTimestamp": null},
                "involvedObject": {},
                "source": {},
                "firstTimestamp": null,
                "lastTimestamp": null,
                "eventTime": null,
                "reportingComponent": "",
                "reportingInstance": "",
            }),
        ),
        plain(
            "events.k8s.io",
            "Event",
            with_meta([("regarding", atomic_struct()), ("related", atomic_struct())]),
            json!({
                "metadata": {"creationTimestamp": null},
                "eventTime": null,
                "regarding": {},
                "deprecatedSource": {},
                "deprecatedFirstTimestamp": null,
                "deprecatedLastTimestamp": null,
            }),
        ),
        plain(
            "coordination.k8s.io",
            "Lease",
            with_meta([("spec", TypeShape::open_struct())]),
            json!({"metadata": {"creationTimestamp": null}, "spec": {}}),
        ),
        BuiltinKind {
            group: "apps",
            kind: "Deployment",
            shape: workload(strukt([(
                "strategy",
                strukt([("rollingUpdate", TypeShape::open_struct())]),
            )])),
            create_baseline: json!({
                "metadata": {"creationTimestamp": null},
                "spec": {"selector": null, "template": pod_template_baseline(), "strategy": {}},
                "status": {},
            }),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC_AND_LABELS,
        },
        BuiltinKind {
            group: "apps",
            kind: "StatefulSet",
            shape: workload(strukt([
                ("volumeClaimTemplates", atomic_list(TypeShape::open_struct())),
                ("updateStrategy", TypeShape::open_struct()),
            ])),
            create_baseline: json!({
                "metadata": {"creationTimestamp": null},
                "spec": {"selector": null, "template": pod_template_baseline(), "serviceName": "", "updateStrategy": {}},
                "status": {"replicas": 0, "availableReplicas": 0},
            }),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC_AND_LABELS,
        },
        BuiltinKind {
            group: "apps",
            kind: "DaemonSet",
            shape: workload(strukt([("updateStrategy", TypeShape::open_struct())])),
            create_baseline: json!({
                "metadata": {"creationTimestamp": null},
                "spec": {"selector": null, "template": pod_template_baseline(), "updateStrategy": {}},
                "status": {
                    "currentNumberScheduled": 0,
                    "numberMisscheduled": 0,
                    "desiredNumberScheduled": 0,
                    "numberReady": 0,
                },
            }),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC_AND_LABELS,
        },
        BuiltinKind {
            group: "apps",
            kind: "ReplicaSet",
            shape: workload(strukt([])),
            create_baseline: json!({
                "metadata": {"creationTimestamp": null},
                "spec": {"selector": null, "template": pod_template_baseline()},
                "status": {"replicas": 0},
            }),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC_AND_LABELS,
        },
        plain(
            "rbac.authorization.k8s.io",
            "Role",
            with_meta([("rules", atomic_list(TypeShape::open_struct()))]),
            json!({"metadata": {"creationTimestamp": null}, "rules": null}),
        ),
        plain(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            with_meta([
                ("rules", atomic_list(TypeShape::open_struct())),
                (
                    "aggregationRule",
                    strukt([("clusterRoleSelectors", atomic_list(label_selector()))]),
                ),
            ]),
            json!({"metadata": {"creationTimestamp": null}, "rules": null}),
        ),
        plain(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            with_meta([
                ("subjects", atomic_list(atomic_struct())),
                ("roleRef", atomic_struct()),
            ]),
            json!({"metadata": {"creationTimestamp": null}, "roleRef": {"apiGroup": "", "kind": "", "name": ""}}),
        ),
        plain(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding",
            with_meta([
                ("subjects", atomic_list(atomic_struct())),
                ("roleRef", atomic_struct()),
            ]),
            json!({"metadata": {"creationTimestamp": null}, "roleRef": {"apiGroup": "", "kind": "", "name": ""}}),
        ),
        BuiltinKind {
            group: "apiextensions.k8s.io",
            kind: "CustomResourceDefinition",
            shape: with_meta([
                (
                    "spec",
                    strukt([
                        (
                            "names",
                            strukt([
                                ("shortNames", atomic_list(TypeShape::Scalar)),
                                ("categories", atomic_list(TypeShape::Scalar)),
                            ]),
                        ),
                        ("versions", atomic_list(TypeShape::open_struct())),
                        (
                            "conversion",
                            strukt([(
                                "webhook",
                                strukt([("conversionReviewVersions", atomic_list(TypeShape::Scalar))]),
                            )]),
                        ),
                    ]),
                ),
                (
                    "status",
                    strukt([
                        ("conditions", conditions()),
                        ("storedVersions", atomic_list(TypeShape::Scalar)),
                        (
                            "acceptedNames",
                            strukt([
                                ("shortNames", atomic_list(TypeShape::Scalar)),
                                ("categories", atomic_list(TypeShape::Scalar)),
                            ]),
                        ),
                    ]),
                ),
            ]),
            create_baseline: json!({
                "metadata": {"creationTimestamp": null},
                "spec": {"group": "", "names": {"plural": "", "kind": ""}, "scope": "", "versions": null},
                "status": {"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": null},
            }),
            status_subresource: true,
            main_reset: STATUS,
            status_reset: SPEC_AND_METADATA,
        },
    ]
}

static KINDS: LazyLock<Vec<BuiltinKind>> = LazyLock::new(kinds);

/// The built-in kind `kind` of API group `group` (`""` for core), if the table has it.
pub fn builtin_kind(group: &str, kind: &str) -> Option<&'static BuiltinKind> {
    KINDS.iter().find(|k| k.group == group && k.kind == kind)
}

/// All built-in kinds in the table.
pub fn builtin_kinds() -> &'static [BuiltinKind] {
    &KINDS
}

#[cfg(test)]
mod tests {
    use super::super::{ListType, MapType, PatchStrategy};
    use super::*;

    fn list<'a>(k: &'a BuiltinKind, path: &[&str]) -> &'a super::super::ListShape {
        k.shape
            .at(path)
            .and_then(TypeShape::as_list)
            .unwrap_or_else(|| panic!("{path:?} is not a list"))
    }

    #[test]
    fn pod_template_lists() {
        let d = builtin_kind("apps", "Deployment").unwrap();
        let c = ["spec", "template", "spec", "containers", "[]"];
        let cases: Vec<(&str, Vec<&str>, ListType, PatchStrategy)> = vec![
            (
                "containers by name",
                vec!["spec", "template", "spec", "containers"],
                ListType::Map {
                    keys: vec!["name".into()],
                    key_defaults: Default::default(),
                },
                PatchStrategy::Merge {
                    key: Some("name".into()),
                },
            ),
            (
                "env by name",
                [&c[..], &["env"]].concat(),
                ListType::Map {
                    keys: vec!["name".into()],
                    key_defaults: Default::default(),
                },
                PatchStrategy::Merge {
                    key: Some("name".into()),
                },
            ),
            (
                "envFrom atomic",
                [&c[..], &["envFrom"]].concat(),
                ListType::Atomic,
                PatchStrategy::Replace,
            ),
            (
                "volumeMounts by mountPath",
                [&c[..], &["volumeMounts"]].concat(),
                ListType::Map {
                    keys: vec!["mountPath".into()],
                    key_defaults: Default::default(),
                },
                PatchStrategy::Merge {
                    key: Some("mountPath".into()),
                },
            ),
            (
                "tolerations atomic",
                vec!["spec", "template", "spec", "tolerations"],
                ListType::Atomic,
                PatchStrategy::Replace,
            ),
            (
                "finalizers set",
                vec!["metadata", "finalizers"],
                ListType::Set,
                PatchStrategy::Merge { key: None },
            ),
            (
                "ownerReferences by uid",
                vec!["metadata", "ownerReferences"],
                ListType::Map {
                    keys: vec!["uid".into()],
                    key_defaults: Default::default(),
                },
                PatchStrategy::Merge {
                    key: Some("uid".into()),
                },
            ),
            (
                "conditions by type",
                vec!["status", "conditions"],
                ListType::Map {
                    keys: vec!["type".into()],
                    key_defaults: Default::default(),
                },
                PatchStrategy::Merge {
                    key: Some("type".into()),
                },
            ),
        ];
        for (name, path, lt, ps) in cases {
            let l = list(d, &path);
            assert_eq!(l.list_type, lt, "{name}");
            assert_eq!(l.patch, ps, "{name}");
        }
        let ports = list(d, &[&c[..], &["ports"]].concat());
        assert!(matches!(&ports.list_type, ListType::Map { keys, key_defaults }
            if keys == &["containerPort", "protocol"] && key_defaults["protocol"] == "TCP"));
        assert_eq!(
            ports.patch,
            PatchStrategy::Merge {
                key: Some("containerPort".into())
            }
        );
        assert_eq!(d.shape.map_type_at(&["spec", "selector"]), Some(MapType::Atomic));
    }

    #[test]
    fn rbac_lists_are_atomic() {
        for kind in ["Role", "ClusterRole"] {
            let k = builtin_kind("rbac.authorization.k8s.io", kind).unwrap();
            assert_eq!(list(k, &["rules"]).list_type, ListType::Atomic);
            assert_eq!(list(k, &["rules"]).patch, PatchStrategy::Replace);
        }
        let rb = builtin_kind("rbac.authorization.k8s.io", "RoleBinding").unwrap();
        assert_eq!(list(rb, &["subjects"]).list_type, ListType::Atomic);
        assert_eq!(rb.shape.map_type_at(&["roleRef"]), Some(MapType::Atomic));
    }

    #[test]
    fn every_kind_has_metadata_and_a_baseline_object() {
        for k in builtin_kinds() {
            assert!(k.shape.at(&["metadata", "labels"]).is_some(), "{}", k.kind);
            assert!(k.create_baseline.is_object(), "{}", k.kind);
            assert_eq!(k.status_subresource, !k.main_reset.is_empty(), "{}", k.kind);
        }
    }
}
