//! Field ownership as kube-apiserver tracks it: server-side apply and `metadata.managedFields`.
//!
//! Two entry points cover every write:
//!
//! * [`apply`] for `PATCH` with `application/apply-patch+yaml`: merges the applied configuration
//!   into the live object (or creates it), detects conflicts with other managers (409 unless
//!   `force`), removes what the same manager applied before but no longer applies (unless someone
//!   else owns it), and records the applier's fields under an `Apply` entry.
//! * [`update`] for everything else (create, `PUT`, merge / JSON / strategic patches): records the
//!   fields the write changed under an `Update` entry of the request's manager and takes them away
//!   from the managers that owned them.
//!
//! Both take the kind's merge semantics ([`ObjectKind`]), the request's manager, subresource,
//! reset fields ([`ResetFields`]) and `now`, and return the object to store with its
//! `managedFields` ([`Written`]). Nothing here reads a clock, a store or the network.
//!
//! ```
//! use jiff::Timestamp;
//! use sandbox::apiserver::fieldmanager::{self, ObjectKind, Request, ResetFields};
//! use sandbox::apiserver::shape::builtin::builtin_kind;
//! use serde_json::json;
//!
//! let secret = ObjectKind::builtin(builtin_kind("", "Secret").unwrap(), "v1");
//! let now: Timestamp = "2026-11-22T11:42:39Z".parse().unwrap();
//! let applied = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssa1"},
//!                      "stringData": {"shared": "one"}});
//!
//! // First apply creates the object: alpha owns .stringData.shared.
//! let alpha = Request::new("alpha", now);
//! let created = fieldmanager::apply(&secret, None, &applied, false, &alpha).unwrap();
//! assert_eq!(created.object["metadata"]["managedFields"][0]["fieldsV1"],
//!            json!({"f:stringData": {"f:shared": {}}}));
//!
//! // Another manager setting a different value conflicts...
//! let beta = Request::new("beta", now);
//! let mut other = applied.clone();
//! other["stringData"]["shared"] = json!("two");
//! let err = fieldmanager::apply(&secret, Some(&created.object), &other, false, &beta).unwrap_err();
//! assert_eq!(err.status()["message"],
//!            "Apply failed with 1 conflict: conflict with \"alpha\": .stringData.shared");
//!
//! // ...unless it forces, which transfers ownership.
//! let forced = fieldmanager::apply(&secret, Some(&created.object), &other, true, &beta).unwrap();
//! assert_eq!(forced.object["metadata"]["managedFields"][0]["manager"], "beta");
//! assert_eq!(forced.object["metadata"]["managedFields"].as_array().unwrap().len(), 1);
//! # let _ = ResetFields::None;
//! ```
//!
//! # How a handler chains the field libraries (kube-apiserver's order)
//!
//! For a kind, build an [`ObjectKind`]: [`ObjectKind::builtin`] from
//! [`builtin_kind`](crate::apiserver::shape::builtin::builtin_kind), or [`ObjectKind::custom`]
//! with the `type_shape()` of a [`CompiledCrd`](crate::apiserver::schema::CompiledCrd) version.
//! The [`Request`] carries the manager (`fieldManager`, else [`manager_from_user_agent`]), the
//! subresource, the reset fields ([`ResetFields::for_builtin`],
//! [`ResetFields::for_custom_resource`]) and `now`.
//!
//! * **create, `PUT`, merge / JSON / strategic merge patch**:
//!   1. [`validate_write_options`] (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
//!   2. The new object: the body, or the patch applied to the live object (`json_patch::merge`;
//!      `json_patch::patch`, whose failure answers [`invalid_patch_status`]; or
//!      [`strategic_merge_patch`] once [`patch_type_for`] accepted the content type).
//!   3. Decode: custom resources with [`StructuralSchema::decode`] (prune, drop nulls, default;
//!      `Warning` headers or the strict 400); built-ins with their own defaulting (a Secret's
//!      `stringData` folded into `data`).
//!   4. [`update`]: managed fields recorded, reset fields restored.
//!   5. Validate: [`StructuralSchema::validate_custom_resource`] (live object as `old` on
//!      update) or [`validate_object_meta`] for built-ins; a 422 renders with [`invalid_status`].
//!   6. [`Written::changed`] `false`: answer with the live object untouched; otherwise do the
//!      server's bookkeeping (uid, `creationTimestamp`, `generation`, `resourceVersion`) and store.
//! * **server-side apply** (`application/apply-patch+yaml`):
//!   1. [`validate_write_options`] with `is_apply` (a missing `fieldManager` is the recorded 422),
//!      then [`parse_apply_body`].
//!   2. Custom resources: [`StructuralSchema::prune_applied`] (unknown fields reported, nothing
//!      defaulted).
//!   3. [`applied_resource_version`] is a precondition against the live object.
//!   4. [`apply`]: 409 conflicts ([`ApplyError::status`]) or the merged object.
//!   5. Decode the result ([`StructuralSchema::normalize`]; a Secret's `stringData` into `data`),
//!      then [`restore_timestamps_if_unchanged`] against the live object: `false` means nothing
//!      to store (re-applying is a no-op).
//!   6. Validate and store as above (201 when it created the object).
//!
//! [`StructuralSchema::decode`]: crate::apiserver::schema::StructuralSchema::decode
//! [`StructuralSchema::prune_applied`]: crate::apiserver::schema::StructuralSchema::prune_applied
//! [`StructuralSchema::normalize`]: crate::apiserver::schema::StructuralSchema::normalize
//! [`StructuralSchema::validate_custom_resource`]: crate::apiserver::schema::StructuralSchema::validate_custom_resource
//! [`validate_object_meta`]: crate::apiserver::schema::validate_object_meta
//! [`invalid_status`]: crate::apiserver::field_errors::invalid_status
//! [`invalid_patch_status`]: crate::apiserver::patch::invalid_patch_status
//! [`strategic_merge_patch`]: crate::apiserver::patch::strategic_merge_patch
//! [`patch_type_for`]: crate::apiserver::patch::patch_type_for
//!
//! Invariant: every path owned by some manager is filtered through the request's reset fields, and
//! `metadata.name`, `uid`, `resourceVersion`, ... (the fields kube-apiserver strips) are never
//! owned.

pub mod fieldpath;
pub mod managed;
pub mod reset;
pub mod typed;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

pub use self::fieldpath::{FieldPath, FieldSet, PathElement};
pub use self::managed::{ManagedFieldsEntry, Operation};
pub use self::reset::ResetFields;
use self::typed::{compare, merge, remove, to_field_set, with_named_fields_as_members};
use crate::apiserver::field_errors::{FieldError, invalid_status, simple_status};
use crate::apiserver::json_value::json_eq;
use crate::apiserver::shape::TypeShape;
use crate::apiserver::shape::builtin::BuiltinKind;

/// What kind of object a write is about.
#[derive(Clone, Copy, Debug)]
pub struct ObjectKind<'a> {
    /// The request's `apiVersion`, e.g. `apps/v1` (recorded in managed fields entries).
    pub api_version: &'a str,
    /// The kind, e.g. `Deployment`.
    pub kind: &'a str,
    /// Merge semantics of the whole object, `metadata` included.
    pub shape: &'a TypeShape,
    /// What a create is compared against (see [`BuiltinKind::create_baseline`]); `None` for custom
    /// resources, which compare against an empty object.
    pub create_baseline: Option<&'a Value>,
}

impl<'a> ObjectKind<'a> {
    /// A built-in kind served at `api_version`.
    pub fn builtin(kind: &'a BuiltinKind, api_version: &'a str) -> ObjectKind<'a> {
        ObjectKind {
            api_version,
            kind: kind.kind,
            shape: &kind.shape,
            create_baseline: Some(&kind.create_baseline),
        }
    }

    /// A custom resource kind whose shape comes from its CRD schema
    /// ([`crate::apiserver::schema::StructuralSchema::type_shape`]).
    pub fn custom(api_version: &'a str, kind: &'a str, shape: &'a TypeShape) -> ObjectKind<'a> {
        ObjectKind {
            api_version,
            kind,
            shape,
            create_baseline: None,
        }
    }

    /// Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Secret`.
    fn gvk_string(api_version: &str, kind: &str) -> String {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        format!("{group}/{version}, Kind={kind}")
    }
}

/// Who writes, where, and when.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The field manager (`fieldManager` query parameter, or [`manager_from_user_agent`]).
    pub manager: &'a str,
    /// The subresource written (`Some("status")`), `None` for the main resource.
    pub subresource: Option<&'a str>,
    /// Fields this request may not change nor own.
    pub reset: ResetFields,
    /// The request time (recorded at seconds precision).
    pub now: Timestamp,
}

impl<'a> Request<'a> {
    /// A write by `manager` to the main resource, nothing reset.
    pub fn new(manager: &'a str, now: Timestamp) -> Request<'a> {
        Request {
            manager,
            subresource: None,
            reset: ResetFields::None,
            now,
        }
    }

    /// The same request on a subresource.
    pub fn on_subresource(mut self, subresource: &'a str) -> Request<'a> {
        self.subresource = Some(subresource);
        self
    }

    /// The same request with these reset fields.
    pub fn with_reset(mut self, reset: ResetFields) -> Request<'a> {
        self.reset = reset;
        self
    }

    fn subresource(&self) -> String {
        self.subresource.unwrap_or("").to_string()
    }
}

/// The object to store after a write.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The new object, `metadata.managedFields` included.
    pub object: Value,
    /// Whether it differs from the live object at all. `false` means the write is a no-op: keep
    /// the live object and its `resourceVersion`.
    pub changed: bool,
}

/// One field owned by another manager that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// How the message names the manager (`"alpha"`, `"kubectl" using apps/v1`).
    pub manager: String,
    /// The field.
    pub path: FieldPath,
}

/// The conflicts that make an apply fail with 409.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl Conflicts {
    /// kube-apiserver's message: `Apply failed with 1 conflict: conflict with "alpha": .data.k`, or
    /// for several, grouped by manager: `Apply failed with 2 conflicts: conflicts with "a":\n- .x\n- .y`.
    pub fn message(&self) -> String {
        if let [only] = self.0.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                only.manager, only.path
            );
        }
        let mut managers: Vec<&str> = self.0.iter().map(|c| c.manager.as_str()).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for c in self.0.iter().filter(|c| c.manager == m) {
                lines.push(format!("- {}", c.path));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }

    /// The 409 `Status` body with one `FieldManagerConflict` cause per field.
    pub fn status(&self) -> Value {
        let causes: Vec<Value> = self
            .0
            .iter()
            .map(|c| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": c.path.to_string()})
            })
            .collect();
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": "Conflict",
            "details": {"causes": causes},
            "code": 409,
        })
    }
}

/// Why an apply was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields owned by other managers would change (409).
    #[error("{}", .0.message())]
    Conflicts(Conflicts),
    /// The applied configuration is not acceptable (400), e.g. `invalid object type: /v1, Kind=ConfigMap`.
    #[error("{0}")]
    BadRequest(String),
    /// The applied configuration does not fit the kind's list semantics, or the live managed fields
    /// are unreadable (500, reason left empty, as kube-apiserver answers).
    #[error("{0}")]
    Internal(String),
}

impl ApplyError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApplyError::Conflicts(_) => 409,
            ApplyError::BadRequest(_) => 400,
            ApplyError::Internal(_) => 500,
        }
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        match self {
            ApplyError::Conflicts(c) => c.status(),
            ApplyError::BadRequest(m) => simple_status(400, "BadRequest", m),
            ApplyError::Internal(m) => {
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": m, "code": 500})
            }
        }
    }
}

/// The fields kube-apiserver never records as owned.
fn strip_meta(set: &FieldSet) -> FieldSet {
    let mut stripped = FieldSet::new();
    for p in [
        &["apiVersion"][..],
        &["kind"],
        &["metadata"],
        &["metadata", "name"],
        &["metadata", "namespace"],
        &["metadata", "creationTimestamp"],
        &["metadata", "selfLink"],
        &["metadata", "uid"],
        &["metadata", "clusterName"],
        &["metadata", "generation"],
        &["metadata", "managedFields"],
        &["metadata", "resourceVersion"],
    ] {
        stripped.insert(&FieldPath::fields(p).0);
    }
    set.difference(&stripped)
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut o = obj.clone();
    managed::strip_from_object(&mut o);
    o
}

/// Server-side apply of `applied` (the request body, parsed from YAML or JSON) by `req.manager`.
///
/// `live` is the stored object, `None` to create it. On success the returned object is the merge
/// with `managedFields` updated (the applier's `Apply` entry stamped with `req.now`); `changed` is
/// `false` when re-applying changed nothing, in which case the object is the live one unchanged.
///
/// The caller still checks `metadata.resourceVersion` of the applied configuration as a
/// precondition ([`applied_resource_version`]), converts the result (e.g. a Secret's
/// `stringData` into `data`), defaults, validates and stores it; after such conversions
/// [`restore_timestamps_if_unchanged`] tells whether anything is left to store.
pub fn apply(
    kind: &ObjectKind<'_>,
    live: Option<&Value>,
    applied: &Value,
    force: bool,
    req: &Request<'_>,
) -> Result<Written, ApplyError> {
    let Some(applied_map) = applied.as_object() else {
        return Err(ApplyError::BadRequest(
            "error decoding YAML: the applied configuration must be an object".into(),
        ));
    };
    let got_version = applied_map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let got_kind = applied_map.get("kind").and_then(Value::as_str).unwrap_or("");
    if got_version != kind.api_version || got_kind != kind.kind {
        return Err(ApplyError::BadRequest(format!(
            "invalid object type: {}",
            ObjectKind::gvk_string(got_version, got_kind)
        )));
    }
    if applied
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    let gvk = ObjectKind::gvk_string(kind.api_version, kind.kind);
    let config_set = to_field_set(applied, kind.shape)
        .map_err(|e| ApplyError::Internal(format!("failed to create typed patch object ({gvk}): {e}")))?;
    let config_set = req.reset.filter(&config_set);

    let mut managers = match live {
        Some(l) => managed::decode(l).map_err(|e| ApplyError::Internal(e.to_string()))?,
        None => Vec::new(),
    };
    let live_stripped = live.map(without_managed_fields);

    let mut merged =
        merge(live_stripped.as_ref(), Some(applied), kind.shape).unwrap_or_else(|| applied.clone());

    let me = ManagedFieldsEntry {
        manager: req.manager.to_string(),
        operation: Operation::Apply,
        api_version: kind.api_version.to_string(),
        time: Some(managed::truncate_to_second(req.now)),
        subresource: req.subresource(),
        fields: config_set.clone(),
    };
    let last_set = managers
        .iter()
        .position(|e| e.same_identity(&me))
        .map(|i| managers.remove(i).fields);
    managers.push(me);
    let my_index = managers.len() - 1;

    // Remove what this manager applied last time and nobody (itself included) owns any more.
    if let Some(last) = &last_set {
        let owned_now = managers
            .iter()
            .fold(FieldSet::new(), |acc, e| acc.union(&e.fields));
        let last_e = with_named_fields_as_members(last, kind.shape);
        let owned_e = with_named_fields_as_members(&owned_now, kind.shape);
        merged = remove(&merged, &last_e.difference(&owned_e), kind.shape);
    }
    req.reset.restore(live_stripped.as_ref(), &mut merged);

    // Conflicts: other managers' fields whose value this apply adds or changes.
    let cmp = compare(live_stripped.as_ref(), Some(&merged), kind.shape);
    let touched = req.reset.filter(&cmp.added.union(&cmp.modified));
    let removed = req.reset.filter(&cmp.removed);
    let mut conflicts = Vec::new();
    for (i, e) in managers.iter().enumerate() {
        if i == my_index {
            continue;
        }
        for path in e.fields.intersection(&touched).paths() {
            conflicts.push(Conflict {
                manager: e.describe(),
                path,
            });
        }
    }
    if !conflicts.is_empty() && !force {
        // `kubectl apply --server-side` taking over from client-side apply: conflicts on fields
        // the last-applied annotation holds with their live value are forced.
        let allowed = if req.manager == KUBECTL {
            live_stripped
                .as_ref()
                .and_then(|l| conflicts_allowed_by_last_applied(l, kind.shape))
        } else {
            None
        };
        if let Some(allowed) = allowed {
            conflicts.retain(|c| !allowed.has(&c.path.0));
        }
        if !conflicts.is_empty() {
            conflicts.sort_by(|a, b| a.manager.cmp(&b.manager).then_with(|| a.path.cmp(&b.path)));
            return Err(ApplyError::Conflicts(Conflicts(conflicts)));
        }
    }
    for (i, e) in managers.iter_mut().enumerate() {
        if i != my_index {
            e.fields = e.fields.difference(&touched).difference(&removed);
        }
    }
    managers[my_index].fields = strip_meta(&managers[my_index].fields);
    managers.retain(|e| !e.fields.is_empty());

    let mut object = merged;
    if req.manager == KUBECTL && live_stripped.as_ref().is_some_and(|l| last_applied(l).is_some()) {
        set_last_applied(&mut object, applied);
    }
    managed::set_on_object(&mut object, &managers);
    let changed = match live {
        Some(l) => restore_timestamps_if_unchanged(l, &mut object),
        None => true,
    };
    Ok(Written { object, changed })
}

/// The field manager `kubectl apply --server-side` uses; kube-apiserver keeps its client-side
/// apply annotation in sync and lets it take over fields client-side apply set.
pub const KUBECTL: &str = "kubectl";

/// The annotation client-side `kubectl apply` records the applied configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn last_applied(obj: &Value) -> Option<&str> {
    obj.get("metadata")?
        .get("annotations")?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The fields of the last-applied configuration whose live value still equals it.
fn conflicts_allowed_by_last_applied(live: &Value, shape: &TypeShape) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    let last_set = to_field_set(&last, shape).ok()?;
    let cmp = compare(Some(&last), Some(live), shape);
    Some(last_set.difference(&cmp.modified))
}

/// Records `applied` (without the annotation itself) as the last-applied configuration, as
/// kube-apiserver does for `kubectl` applies on objects that have the annotation.
fn set_last_applied(object: &mut Value, applied: &Value) {
    let mut recorded = applied.clone();
    if let Some(annotations) = recorded
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
        if annotations.is_empty()
            && let Some(meta) = recorded.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("annotations");
        }
    }
    let text = format!("{}\n", serde_json::to_string(&recorded).unwrap_or_default());
    crate::apiserver::json_value::set_path(
        object,
        &[
            "metadata".into(),
            "annotations".into(),
            LAST_APPLIED_ANNOTATION.into(),
        ],
        Value::String(text),
    );
}

/// Parses a server-side apply body (`application/apply-patch+yaml`: YAML or JSON) into the applied
/// configuration, with kube-apiserver's 400 on malformed input (`error decoding YAML: ...`).
pub fn parse_apply_body(body: &[u8]) -> Result<Value, ApplyError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApplyError::BadRequest(format!("error decoding YAML: invalid UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let parsed: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_saphyr::from_str(text)
            .map_err(|e| ApplyError::BadRequest(format!("error decoding YAML: {e}")))?,
    };
    match parsed {
        Value::Object(_) => Ok(parsed),
        Value::Null => Ok(Value::Object(Map::new())),
        other => Err(ApplyError::BadRequest(format!(
            "error decoding YAML: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        ))),
    }
}

/// Records a non-apply write (create, `PUT`, merge / JSON / strategic patch) by `req.manager`.
///
/// `live` is the stored object (`None` on create); `new` is the object about to be stored, as
/// decoded and defaulted from the request and before the server's own bookkeeping (kube-apiserver
/// runs this before a strategy's `PrepareForCreate`; e.g. a Secret's `stringData` must already be
/// folded into `data`). Managed fields sent in `new` replace the live ones when they are valid and
/// non-empty and the write is not to a subresource, as kube-apiserver allows.
///
/// Fields the write adds or changes become the manager's (`Update` entry, time `req.now`) and are
/// taken from other managers; removed fields are taken from everyone. Reset fields are restored
/// from `live`. Like kube-apiserver, this never fails: unreadable live managed fields are dropped.
///
/// ```
/// use jiff::Timestamp;
/// use sandbox::apiserver::fieldmanager::{self, ObjectKind, Request};
/// use sandbox::apiserver::shape::builtin::builtin_kind;
/// use serde_json::json;
///
/// let secret = ObjectKind::builtin(builtin_kind("", "Secret").unwrap(), "v1");
/// let now: Timestamp = "2026-11-22T11:42:39Z".parse().unwrap();
/// let new = json!({"apiVersion": "v1", "kind": "Secret",
///                  "metadata": {"name": "s1", "labels": {"app": "a"}},
///                  "data": {"k": "dg=="}, "type": "Opaque"});
/// let written = fieldmanager::update(&secret, None, &new, &Request::new("Python-urllib", now));
/// assert_eq!(written.object["metadata"]["managedFields"][0]["fieldsV1"], json!({
///     "f:data": {".": {}, "f:k": {}},
///     "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
///     "f:type": {}
/// }));
/// ```
pub fn update(kind: &ObjectKind<'_>, live: Option<&Value>, new: &Value, req: &Request<'_>) -> Written {
    let from_request = if req.subresource.is_none() {
        managed::decode(new).ok().filter(|m| !m.is_empty())
    } else {
        None
    };
    let mut managers = match from_request {
        Some(m) => m,
        None => live
            .map(managed::decode)
            .transpose()
            .ok()
            .flatten()
            .unwrap_or_default(),
    };
    let live_stripped = live.map(without_managed_fields);
    let base = match &live_stripped {
        Some(l) => l.clone(),
        None => kind
            .create_baseline
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    };

    let mut object = without_managed_fields(new);
    req.reset.restore(live_stripped.as_ref(), &mut object);

    let cmp = compare(Some(&base), Some(&object), kind.shape);
    let touched = req.reset.filter(&cmp.added.union(&cmp.modified));
    let removed = req.reset.filter(&cmp.removed);
    for e in managers.iter_mut() {
        e.fields = e.fields.difference(&touched).difference(&removed);
    }
    let mine = strip_meta(&touched);
    if !mine.is_empty() {
        let me = ManagedFieldsEntry {
            manager: req.manager.to_string(),
            operation: Operation::Update,
            api_version: kind.api_version.to_string(),
            time: Some(managed::truncate_to_second(req.now)),
            subresource: req.subresource(),
            fields: mine,
        };
        match managers.iter_mut().find(|e| e.same_identity(&me)) {
            Some(existing) => {
                existing.fields = existing.fields.union(&me.fields);
                existing.time = me.time;
            }
            None => managers.push(me),
        }
    }
    managers.retain(|e| !e.fields.is_empty());
    managed::cap_update_managers(&mut managers);
    managed::set_on_object(&mut object, &managers);
    let changed = match live {
        Some(l) => restore_timestamps_if_unchanged(l, &mut object),
        None => true,
    };
    Written { object, changed }
}

/// Whether two `managedFields` lists hold the same entries apart from their times. Entries are
/// compared in a time-independent order, since a new time alone may move an entry in the list.
fn entries_equal_but_time(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| -> Vec<Value> {
        let mut entries: Vec<Value> = v
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        let mut e = e.clone();
                        if let Some(m) = e.as_object_mut() {
                            m.remove("time");
                        }
                        e
                    })
                    .collect()
            })
            .unwrap_or_default();
        entries.sort_by(crate::apiserver::json_value::json_cmp);
        entries
    };
    json_eq(&Value::Array(strip(a)), &Value::Array(strip(b)))
}

/// kube-apiserver's no-op rule: when `new` equals `old` except for `managedFields` timestamps, the
/// old timestamps are put back into `new` (so nothing is written and the `resourceVersion` stays).
/// Returns whether `new` still differs from `old`.
pub fn restore_timestamps_if_unchanged(old: &Value, new: &mut Value) -> bool {
    let old_mf = old
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .cloned()
        .unwrap_or(Value::Null);
    let new_mf = new
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .cloned()
        .unwrap_or(Value::Null);
    if !entries_equal_but_time(&old_mf, &new_mf)
        || !json_eq(&without_managed_fields(old), &without_managed_fields(new))
    {
        return !json_eq(old, new);
    }
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        if old_mf.is_null() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), old_mf);
        }
    }
    !json_eq(old, new)
}

/// The `metadata.resourceVersion` of an applied configuration: a precondition the caller checks
/// (409 `Conflict` when it differs from the live object's).
pub fn applied_resource_version(applied: &Value) -> Option<&str> {
    applied
        .get("metadata")?
        .get("resourceVersion")?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The field manager kube-apiserver derives from a `User-Agent` when the request names none: the
/// part before the first `/`, printable characters only, at most 128 bytes (`kubectl/v1.33.0 (...)`
/// → `kubectl`, `Python-urllib/3.11` → `Python-urllib`).
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let prefix = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > FIELD_MANAGER_MAX_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// The longest field manager name kube-apiserver accepts.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// Validates the `fieldManager` and `force` query parameters of a write the way kube-apiserver
/// validates `CreateOptions` / `UpdateOptions` / `PatchOptions` (`options_kind`), returning the 422
/// `Status` on failure, e.g. `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value:
/// is required for apply patch`.
pub fn validate_write_options(
    options_kind: &str,
    field_manager: Option<&str>,
    force: Option<bool>,
    is_apply: bool,
) -> Result<(), Value> {
    let mut errors = Vec::new();
    let fm = field_manager.unwrap_or("");
    if is_apply && fm.is_empty() {
        errors.push(FieldError::required(
            "fieldManager",
            "is required for apply patch",
        ));
    }
    if fm.len() > FIELD_MANAGER_MAX_LENGTH {
        errors.push(FieldError::too_long(
            "fieldManager",
            json!(fm),
            Some(FIELD_MANAGER_MAX_LENGTH as u64),
        ));
    }
    if fm.chars().any(char::is_control) {
        errors.push(FieldError::invalid(
            "fieldManager",
            json!(fm),
            "must only contain printable characters",
        ));
    }
    if !is_apply && force.is_some() {
        errors.push(FieldError::forbidden(
            "force",
            "may not be specified for non-apply patch",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid_status("meta.k8s.io", options_kind, "", &errors))
    }
}

#[cfg(test)]
mod tests;
