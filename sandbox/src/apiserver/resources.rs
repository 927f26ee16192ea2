//! The resource table: which kinds the API server serves and how each behaves.
//!
//! Invariant: every behaviour that differs between kinds (scope, subresources, generation, field
//! selectors, printer columns, defaulting, name rules) is data in a [`ResourceType`]; adding a
//! built-in kind is one entry in [`builtin_types`], and a CRD becomes the same data through
//! [`from_crd`]. Storage is keyed by [`ResourceKey`] (group, plural), shared by all served versions.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::fields_bridge::CompiledSchema;
use super::schema::CompiledCrd;

/// Storage identity of a resource: (group, plural). Versions share storage.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// API group, empty for core.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
}

impl ResourceKey {
    /// A key.
    pub fn new(group: &str, plural: &str) -> Self {
        ResourceKey {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }
}

/// How `metadata.name` is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds).
    Subdomain,
    /// RFC 1123 label (Namespace).
    Label,
    /// Any path segment (RBAC kinds).
    PathSegment,
}

/// Built-in defaulting applied on every write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defaulting {
    /// Nothing.
    None,
    /// Secret: `type: Opaque`, `stringData` folded into `data`.
    Secret,
    /// Namespace: name label, `spec.finalizers`, `status.phase`.
    Namespace,
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 DaemonSet.
    DaemonSet,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
    /// core/v1 Event.
    CoreEvent,
    /// events.k8s.io/v1 Event.
    EventsEvent,
    /// CustomResourceDefinition.
    Crd,
    /// core/v1 Service: `type`, `sessionAffinity`, port protocols and target ports, a cluster IP.
    Service,
}

/// One printer column of the Table form.
#[derive(Clone, Debug, PartialEq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// OpenAPI type: string, integer, number, boolean, date.
    pub type_: String,
    /// Format (e.g. `name`).
    pub format: String,
    /// Description shown by `kubectl explain`-like tools.
    pub description: String,
    /// Priority (0 = shown by default).
    pub priority: i64,
    /// JSONPath into the object (`.metadata.creationTimestamp`).
    pub json_path: String,
}

/// Where a resource type comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// Compiled in.
    BuiltIn,
    /// Served from a CustomResourceDefinition.
    Custom {
        /// CRD name (`plural.group`).
        crd_name: String,
        /// The version objects are stored at.
        storage_version: String,
        /// `openAPIV3Schema` of this version, if any.
        schema: Option<Value>,
        /// `selectableFields` JSON paths (without the leading dot).
        selectable_fields: Vec<String>,
        /// This version's structural schema, compiled once when the CRD was written.
        compiled: CompiledSchema,
    },
}

/// Everything the server needs to know about one served (group, version, resource).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceType {
    /// API group, empty for core.
    pub group: String,
    /// Version served.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs in discovery order.
    pub verbs: Vec<String>,
    /// Has a `/status` subresource.
    pub status_subresource: bool,
    /// Has an `autoscaling/v1` `/scale` subresource over `spec.replicas`.
    pub scale_subresource: bool,
    /// Sets and bumps `metadata.generation`.
    pub generation: bool,
    /// Kind of lists.
    pub list_kind: String,
    /// Field selector labels beyond `metadata.name`/`metadata.namespace`: (label, JSON path).
    pub field_selectors: Vec<(String, String)>,
    /// Table columns after `Name`; empty means the default `Age` column.
    pub printer_columns: Vec<PrinterColumn>,
    /// Name validation rule.
    pub name_rule: NameRule,
    /// Built-in defaulting.
    pub defaulting: Defaulting,
    /// Where it comes from.
    pub origin: Origin,
}

impl ResourceType {
    /// Storage key.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(&self.group, &self.plural)
    }

    /// `apiVersion` string (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `Kind.group` as used in 422 messages (`Kind` alone for the core group).
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether this is a custom resource.
    pub fn is_custom(&self) -> bool {
        matches!(self.origin, Origin::Custom { .. })
    }

    /// The `storageVersionHash` discovery field: base64 of the first 8 bytes of
    /// sha256("group/version/kind") for the storage version.
    pub fn storage_version_hash(&self) -> String {
        let version = match &self.origin {
            Origin::Custom { storage_version, .. } => storage_version.as_str(),
            Origin::BuiltIn => self.version.as_str(),
        };
        let digest = Sha256::digest(format!("{}/{}/{}", self.group, version, self.kind).as_bytes());
        base64::engine::general_purpose::STANDARD.encode(&digest[..8])
    }

    /// The JSON path selected by a field-selector label, if the label is supported.
    pub fn field_path(&self, label: &str) -> Option<String> {
        match label {
            "metadata.name" => Some("metadata.name".into()),
            "metadata.namespace" => Some("metadata.namespace".into()),
            _ => self
                .field_selectors
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, p)| p.clone()),
        }
    }
}

const STD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[allow(clippy::too_many_arguments)]
fn builtin(
    group: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short_names: &[&str],
    categories: &[&str],
    status_subresource: bool,
    generation: bool,
    defaulting: Defaulting,
) -> ResourceType {
    ResourceType {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short_names.iter().map(|s| s.to_string()).collect(),
        categories: categories.iter().map(|s| s.to_string()).collect(),
        verbs: STD_VERBS.iter().map(|s| s.to_string()).collect(),
        status_subresource,
        scale_subresource: matches!(
            defaulting,
            Defaulting::Deployment | Defaulting::StatefulSet | Defaulting::ReplicaSet
        ),
        generation,
        list_kind: format!("{kind}List"),
        field_selectors: vec![],
        printer_columns: vec![],
        name_rule: NameRule::Subdomain,
        defaulting,
        origin: Origin::BuiltIn,
    }
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(l, p)| (l.to_string(), p.to_string()))
        .collect()
}

/// The kinds compiled into the server.
pub fn builtin_types() -> Vec<ResourceType> {
    use Defaulting as D;
    let event_fields = fields(&[
        ("involvedObject.kind", "involvedObject.kind"),
        ("involvedObject.namespace", "involvedObject.namespace"),
        ("involvedObject.name", "involvedObject.name"),
        ("involvedObject.uid", "involvedObject.uid"),
        ("involvedObject.apiVersion", "involvedObject.apiVersion"),
        ("involvedObject.resourceVersion", "involvedObject.resourceVersion"),
        ("involvedObject.fieldPath", "involvedObject.fieldPath"),
        ("reason", "reason"),
        ("reportingComponent", "reportingComponent"),
        ("source", "source.component"),
        ("type", "type"),
    ]);
    let mut namespace = builtin(
        "",
        "Namespace",
        "namespaces",
        false,
        &["ns"],
        &[],
        true,
        false,
        D::Namespace,
    );
    namespace.name_rule = NameRule::Label;
    namespace.verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        .map(String::from)
        .to_vec();
    namespace.field_selectors = fields(&[("status.phase", "status.phase")]);
    let mut secret = builtin("", "Secret", "secrets", true, &[], &[], false, false, D::Secret);
    secret.field_selectors = fields(&[("type", "type")]);
    let mut core_event = builtin(
        "",
        "Event",
        "events",
        true,
        &["ev"],
        &[],
        false,
        false,
        D::CoreEvent,
    );
    core_event.field_selectors = event_fields;
    let mut events_event = builtin(
        "events.k8s.io",
        "Event",
        "events",
        true,
        &["ev"],
        &[],
        false,
        false,
        D::EventsEvent,
    );
    events_event.field_selectors = fields(&[
        ("regarding.kind", "regarding.kind"),
        ("regarding.namespace", "regarding.namespace"),
        ("regarding.name", "regarding.name"),
        ("regarding.uid", "regarding.uid"),
        ("regarding.apiVersion", "regarding.apiVersion"),
        ("regarding.resourceVersion", "regarding.resourceVersion"),
        ("regarding.fieldPath", "regarding.fieldPath"),
        ("reason", "reason"),
        ("reportingController", "reportingController"),
        ("type", "type"),
    ]);
    let rbac = |kind: &str, plural: &str, namespaced: bool| {
        let mut t = builtin(
            "rbac.authorization.k8s.io",
            kind,
            plural,
            namespaced,
            &[],
            &[],
            false,
            false,
            D::None,
        );
        t.name_rule = NameRule::PathSegment;
        t
    };
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        &[],
        true,
        true,
        D::Crd,
    );
    crd.categories = vec!["api-extensions".into()];
    let mut revision = builtin(
        "apps",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
        &[],
        false,
        false,
        D::None,
    );
    revision.generation = false;
    vec![
        namespace,
        secret,
        builtin(
            "",
            "ConfigMap",
            "configmaps",
            true,
            &["cm"],
            &[],
            false,
            false,
            D::None,
        ),
        builtin(
            "",
            "ServiceAccount",
            "serviceaccounts",
            true,
            &["sa"],
            &[],
            false,
            false,
            D::None,
        ),
        builtin(
            "",
            "Service",
            "services",
            true,
            &["svc"],
            &["all"],
            true,
            false,
            D::Service,
        ),
        builtin(
            "policy",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            &["pdb"],
            &[],
            true,
            true,
            D::None,
        ),
        core_event,
        events_event,
        builtin(
            "coordination.k8s.io",
            "Lease",
            "leases",
            true,
            &[],
            &[],
            false,
            false,
            D::None,
        ),
        revision,
        builtin(
            "apps",
            "DaemonSet",
            "daemonsets",
            true,
            &["ds"],
            &["all"],
            true,
            true,
            D::DaemonSet,
        ),
        builtin(
            "apps",
            "Deployment",
            "deployments",
            true,
            &["deploy"],
            &["all"],
            true,
            true,
            D::Deployment,
        ),
        builtin(
            "apps",
            "ReplicaSet",
            "replicasets",
            true,
            &["rs"],
            &["all"],
            true,
            true,
            D::ReplicaSet,
        ),
        builtin(
            "apps",
            "StatefulSet",
            "statefulsets",
            true,
            &["sts"],
            &["all"],
            true,
            true,
            D::StatefulSet,
        ),
        rbac("ClusterRoleBinding", "clusterrolebindings", false),
        rbac("ClusterRole", "clusterroles", false),
        rbac("RoleBinding", "rolebindings", true),
        rbac("Role", "roles", true),
        crd,
    ]
}

/// Discovery order of built-in groups (the order kube-apiserver lists them in).
pub const BUILTIN_GROUP_ORDER: &[&str] = &[
    "apps",
    "events.k8s.io",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
    "coordination.k8s.io",
    "policy",
];

/// Why a CRD could not be turned into served resources.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct CrdError(pub String);

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(x) => cur = x,
            None => return vec![],
        }
    }
    cur.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The served resource types a CRD object defines (one per served version), each with its
/// version's schema from `compiled` (the same CRD, compiled by [`super::fields_bridge::compile_crd`]).
pub fn from_crd(crd: &Value, compiled: &Arc<CompiledCrd>) -> Result<Vec<ResourceType>, CrdError> {
    let crd_name = str_at(crd, &["metadata", "name"]).ok_or_else(|| CrdError("CRD has no name".into()))?;
    let spec = crd
        .get("spec")
        .ok_or_else(|| CrdError("CRD has no spec".into()))?;
    let group = str_at(spec, &["group"]).ok_or_else(|| CrdError("spec.group is required".into()))?;
    let kind =
        str_at(spec, &["names", "kind"]).ok_or_else(|| CrdError("spec.names.kind is required".into()))?;
    let plural =
        str_at(spec, &["names", "plural"]).ok_or_else(|| CrdError("spec.names.plural is required".into()))?;
    let singular = str_at(spec, &["names", "singular"])
        .map(String::from)
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = str_at(spec, &["names", "listKind"])
        .map(String::from)
        .unwrap_or_else(|| format!("{kind}List"));
    let namespaced = str_at(spec, &["scope"]).unwrap_or("Namespaced") == "Namespaced";
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_version = versions
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .ok_or_else(|| CrdError("spec.versions must have exactly one storage version".into()))?
        .to_string();
    let mut out = vec![];
    for v in &versions {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let Some(version) = v.get("name").and_then(Value::as_str) else {
            continue;
        };
        let compiled = CompiledSchema::of_version(compiled, version)
            .ok_or_else(|| CrdError(format!("version {version} has no compiled schema")))?;
        let status_subresource = v.pointer("/subresources/status").is_some();
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .filter_map(|c| {
                        let json_path = c.get("jsonPath")?.as_str()?.to_string();
                        Some(PrinterColumn {
                            name: c.get("name")?.as_str()?.to_string(),
                            type_: c
                                .get("type")
                                .and_then(Value::as_str)
                                .unwrap_or("string")
                                .to_string(),
                            format: c.get("format").and_then(Value::as_str).unwrap_or("").to_string(),
                            description: c
                                .get("description")
                                .and_then(Value::as_str)
                                .map(String::from)
                                .unwrap_or_else(|| {
                                    format!(
                                        "Custom resource definition column (in JSONPath format): {json_path}"
                                    )
                                }),
                            priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                            json_path,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let selectable_fields: Vec<String> = v
            .get("selectableFields")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.get("jsonPath").and_then(Value::as_str))
                    .map(|p| p.trim_start_matches('.').to_string())
                    .collect()
            })
            .unwrap_or_default();
        out.push(ResourceType {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced,
            short_names: strings_at(spec, &["names", "shortNames"]),
            categories: strings_at(spec, &["names", "categories"]),
            verbs: [
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ]
            .map(String::from)
            .to_vec(),
            status_subresource,
            scale_subresource: false,
            generation: true,
            list_kind: list_kind.clone(),
            field_selectors: selectable_fields.iter().map(|f| (f.clone(), f.clone())).collect(),
            printer_columns,
            name_rule: NameRule::Subdomain,
            defaulting: Defaulting::None,
            origin: Origin::Custom {
                crd_name: crd_name.into(),
                storage_version: storage_version.clone(),
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                selectable_fields,
                compiled,
            },
        });
    }
    Ok(out)
}

/// All served resource types, by (group, version, plural).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    by_gvr: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

impl Registry {
    /// A registry holding the built-in kinds.
    pub fn with_builtins() -> Self {
        let mut r = Registry::default();
        for t in builtin_types() {
            r.insert(t);
        }
        r
    }

    /// Adds or replaces a type.
    pub fn insert(&mut self, t: ResourceType) {
        self.by_gvr.insert(
            (t.group.clone(), t.version.clone(), t.plural.clone()),
            Arc::new(t),
        );
    }

    /// Removes every version of a CRD's resource.
    pub fn remove_crd(&mut self, crd_name: &str) {
        self.by_gvr
            .retain(|_, t| !matches!(&t.origin, Origin::Custom { crd_name: n, .. } if n == crd_name));
    }

    /// Looks up a served resource.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Any served version of a storage key (the preferred one first: the storage version for CRDs).
    pub fn any_version(&self, key: &ResourceKey) -> Option<Arc<ResourceType>> {
        let mut found: Option<Arc<ResourceType>> = None;
        for t in self.by_gvr.values() {
            if t.group == key.group && t.plural == key.plural {
                let is_storage = matches!(&t.origin, Origin::Custom { storage_version, .. } if *storage_version == t.version);
                if is_storage || found.is_none() {
                    found = Some(t.clone());
                }
            }
        }
        found
    }

    /// Finds the served type for an `apiVersion` and `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = split_api_version(api_version);
        self.by_gvr
            .values()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// Every served type.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.by_gvr.values()
    }

    /// Served (group, version) pairs of a group, preferred (storage) version first.
    pub fn versions_of(&self, group: &str) -> Vec<String> {
        let mut versions: Vec<String> = vec![];
        for t in self.by_gvr.values().filter(|t| t.group == group) {
            if !versions.contains(&t.version) {
                let preferred = matches!(&t.origin, Origin::Custom { storage_version, .. } if *storage_version == t.version);
                if preferred {
                    versions.insert(0, t.version.clone())
                } else {
                    versions.push(t.version.clone())
                }
            }
        }
        versions
    }

    /// Groups in discovery order: built-ins first in kube-apiserver's order, then CRD groups by name.
    pub fn groups(&self) -> Vec<String> {
        let mut groups: Vec<String> = BUILTIN_GROUP_ORDER.iter().map(|s| s.to_string()).collect();
        let mut extra: Vec<String> = self
            .by_gvr
            .values()
            .map(|t| t.group.clone())
            .filter(|g| !g.is_empty() && !groups.contains(g))
            .collect();
        extra.sort();
        extra.dedup();
        groups.extend(extra);
        groups
    }

    /// Resolves a resource name, singular name, short name or kind to a type (for tooling).
    pub fn resolve(&self, group: &str, version: &str, name: &str) -> Option<Arc<ResourceType>> {
        self.get(group, version, name).or_else(|| {
            self.by_gvr
                .values()
                .find(|t| {
                    t.group == group
                        && t.version == version
                        && (t.singular == name || t.short_names.iter().any(|s| s == name))
                })
                .cloned()
        })
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn storage_version_hash_matches_kube_apiserver() {
        let r = Registry::with_builtins();
        assert_eq!(
            r.get("apps", "v1", "deployments").unwrap().storage_version_hash(),
            "8aSe+NMegvE="
        );
        assert_eq!(
            r.get("apps", "v1", "controllerrevisions")
                .unwrap()
                .storage_version_hash(),
            "85nkx63pcBU="
        );
    }

    #[test]
    fn crd_becomes_a_served_type_per_served_version() {
        let schema = json!({"openAPIV3Schema": {"type": "object"}});
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wdg"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}, "schema": schema},
                    {"name": "v1beta1", "served": true, "storage": false, "schema": schema},
                    {"name": "v1alpha1", "served": false, "storage": false, "schema": schema}
                ]}
        });
        let compiled = Arc::new(CompiledCrd::compile(&crd).unwrap());
        let types = from_crd(&crd, &compiled).unwrap();
        assert_eq!(types.len(), 2);
        assert!(!types[0].namespaced);
        assert!(types[0].status_subresource);
        assert!(!types[1].status_subresource);
        assert_eq!(types[0].singular, "widget");
        assert_eq!(types[0].list_kind, "WidgetList");
        assert_eq!(types[0].storage_version_hash(), types[1].storage_version_hash());
    }
}
