//! The bridge between the request handlers ([`super::operations`]) and the pure field-semantics
//! libraries: [`super::schema`] (CRD structural schemas: prune, default, validate, CEL),
//! [`super::patch`] (strategic merge patch) and [`super::fieldmanager`] (server-side apply and
//! `metadata.managedFields`), over the merge semantics of [`super::shape`].
//!
//! Invariant: the handlers reach those semantics only through the functions here, and every
//! function answers with kube-apiserver's `Status` (as an [`ApiError`]) when it refuses.
//!
//! # How the handlers chain them (kube-apiserver's order)
//!
//! * **create / `PUT` / merge, JSON or strategic merge patch**: build the new object (the body,
//!   or the patch applied to the live object: [`strategic_merge_patch`] for built-ins, 415 for
//!   custom resources); decode it ([`process_custom_resource`]: prune, drop nulls, default;
//!   unknown fields become `Warning`s, or the strict 400); reset what the endpoint may not change
//!   and apply the built-in defaults; record the write ([`track_update`], an `Update` entry of the
//!   request's manager); validate ([`validate`], with the live object as `old` on update so CEL
//!   transition rules see `oldSelf`); store unless [`changed`] says it is a no-op.
//! * **server-side apply** (`application/apply-patch+yaml`): [`prepare_apply`] parses the body
//!   (YAML or JSON) and prunes unknown fields of custom resources without defaulting them; the
//!   applied `resourceVersion` is a precondition; [`server_side_apply`] merges it into the live
//!   object (or creates it) with 409 conflicts unless forced; the result then goes through the
//!   same decode, reset, validate and no-op steps as any other write, minus [`track_update`].
//!
//! A CRD's schemas are compiled once per CRD write ([`compile_crd`], cached by the server with
//! the resource types it serves: [`CompiledSchema`]), never per request.

use std::sync::{Arc, LazyLock};

use jiff::Timestamp;
use serde_json::{Value, json};

use super::field_errors::{FieldError, invalid_status};
use super::fieldmanager::{self, ObjectKind, Request, ResetFields};
use super::patch;
use super::resources::{NameRule, Origin, ResourceType};
use super::schema::{self, CompiledCrd, FieldValidation as SchemaValidation, StructuralSchema};
use super::shape::TypeShape;
use super::shape::builtin::{self, BuiltinKind};
use super::status::ApiError;

/// The result of schema processing of a custom resource.
#[derive(Debug, Default)]
pub struct SchemaOutcome {
    /// Paths of unknown fields that were pruned (`spec.extra`), for warnings or strict rejection.
    pub pruned: Vec<String>,
}

/// One served version's compiled structural schema, shared (not copied) by the
/// [`ResourceType`]s of a CRD. Two handles are equal when they share the same compilation.
#[derive(Clone, Debug)]
pub struct CompiledSchema {
    crd: Arc<CompiledCrd>,
    version: usize,
}

impl CompiledSchema {
    /// The schema of version `name` of `crd`, if the CRD has it.
    pub fn of_version(crd: &Arc<CompiledCrd>, name: &str) -> Option<CompiledSchema> {
        let version = crd.versions.iter().position(|v| v.name == name)?;
        Some(CompiledSchema {
            crd: crd.clone(),
            version,
        })
    }

    /// The structural schema.
    pub fn schema(&self) -> &StructuralSchema {
        &self.crd.versions[self.version].schema
    }
}

impl PartialEq for CompiledSchema {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.crd, &other.crd) && self.version == other.version
    }
}

/// Validates a `CustomResourceDefinition` object the way kube-apiserver does on create and update
/// (names, group, scope, versions, one storage version, structural schemas, CEL rules) and compiles
/// its schemas, or answers kube-apiserver's 422.
pub fn compile_crd(crd: &Value) -> Result<CompiledCrd, ApiError> {
    CompiledCrd::compile(crd).map_err(|errors| {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        ApiError::from_status(&schema::crd_invalid_status(name, &errors))
    })
}

/// Built-in kinds the shape table does not spell out (e.g. `ControllerRevision`): an open struct
/// with `metadata` typed, compared against an object with nothing set.
static GENERIC_SHAPE: LazyLock<TypeShape> = LazyLock::new(|| {
    use super::shape::build::strukt;
    strukt([
        ("apiVersion", TypeShape::Scalar),
        ("kind", TypeShape::Scalar),
        ("metadata", builtin::object_meta()),
    ])
});
static GENERIC_BASELINE: LazyLock<Value> = LazyLock::new(|| json!({"metadata": {"creationTimestamp": null}}));

/// What the libraries know about a served resource type.
enum Semantics<'a> {
    /// A built-in kind from the shape table.
    Builtin(&'static BuiltinKind),
    /// A built-in kind the table does not describe.
    Generic,
    /// A custom resource with its CRD version's schema.
    Custom(&'a StructuralSchema),
}

fn semantics(rt: &ResourceType) -> Semantics<'_> {
    match &rt.origin {
        Origin::Custom { compiled, .. } => Semantics::Custom(compiled.schema()),
        Origin::BuiltIn => match builtin::builtin_kind(&rt.group, &rt.kind) {
            Some(k) => Semantics::Builtin(k),
            None => Semantics::Generic,
        },
    }
}

fn object_kind<'a>(rt: &'a ResourceType, api_version: &'a str) -> ObjectKind<'a> {
    match semantics(rt) {
        Semantics::Builtin(k) => ObjectKind::builtin(k, api_version),
        Semantics::Generic => ObjectKind {
            api_version,
            kind: &rt.kind,
            shape: &GENERIC_SHAPE,
            create_baseline: Some(&GENERIC_BASELINE),
        },
        Semantics::Custom(s) => ObjectKind::custom(api_version, &rt.kind, s.type_shape()),
    }
}

/// The fields a write to `subresource` may not change nor own.
fn reset_fields(rt: &ResourceType, subresource: Option<&str>) -> ResetFields {
    match semantics(rt) {
        Semantics::Builtin(k) => ResetFields::for_builtin(k, subresource),
        Semantics::Generic | Semantics::Custom(_) => {
            ResetFields::for_custom_resource(rt.status_subresource, subresource)
        }
    }
}

/// Puts back into `new` the stored value of every field a write to `subresource` may not change:
/// `.status` on the main resource of a kind with a status subresource; on `/status`, everything
/// but `.status` for custom resources, `spec` (and labels, or all metadata, per kind) for built-ins.
pub fn reset(rt: &ResourceType, subresource: Option<&str>, old: &Value, new: &mut Value) {
    reset_fields(rt, subresource).restore(Some(old), new);
}

fn schema_validation(mode: super::operations::FieldValidation) -> SchemaValidation {
    match mode {
        super::operations::FieldValidation::Ignore => SchemaValidation::Ignore,
        super::operations::FieldValidation::Warn => SchemaValidation::Warn,
        super::operations::FieldValidation::Strict => SchemaValidation::Strict,
    }
}

/// Applies a strategic merge patch to a built-in object, with the kind's list merge keys and
/// patch strategies; custom resources refuse it with 415, as kube-apiserver does.
pub fn strategic_merge_patch(rt: &ResourceType, original: &Value, patch: &Value) -> Result<Value, ApiError> {
    let shape = match semantics(rt) {
        Semantics::Custom(_) => {
            let refused = patch::patch_type_for(patch::PatchType::StrategicMerge.media_type(), true)
                .expect_err("custom resources do not accept strategic merge patch");
            return Err(ApiError::from_status(&refused));
        }
        Semantics::Builtin(k) => &k.shape,
        Semantics::Generic => &*GENERIC_SHAPE,
    };
    patch::strategic_merge_patch(original, patch, shape).map_err(|e| ApiError::from_status(&e.status()))
}

/// An applied configuration ready for [`server_side_apply`].
#[derive(Debug)]
pub struct PreparedApply {
    /// The configuration (unknown fields of custom resources pruned, nothing defaulted).
    pub applied: Value,
    /// `unknown field "..."` warnings (empty with `fieldValidation=Ignore`).
    pub warnings: Vec<String>,
}

/// Parses a server-side apply body (YAML or JSON) and, for custom resources, prunes unknown
/// fields (warnings, or the strict 400 with `fieldValidation=Strict`) without defaulting.
pub fn prepare_apply(
    rt: &ResourceType,
    body: &[u8],
    validation: super::operations::FieldValidation,
) -> Result<PreparedApply, ApiError> {
    let applied = fieldmanager::parse_apply_body(body).map_err(|e| ApiError::from_status(&e.status()))?;
    match semantics(rt) {
        Semantics::Custom(s) => {
            let decoded = s
                .prune_applied(applied, schema_validation(validation))
                .map_err(|status| ApiError::from_status(&status))?;
            Ok(PreparedApply {
                applied: decoded.object,
                warnings: decoded.warnings,
            })
        }
        _ => Ok(PreparedApply {
            applied,
            warnings: Vec::new(),
        }),
    }
}

/// The `metadata.resourceVersion` of an applied configuration (a precondition on the live object).
pub fn applied_resource_version(applied: &Value) -> Option<&str> {
    fieldmanager::applied_resource_version(applied)
}

/// Server-side apply of `applied` by `manager` onto `current` (`None`: create): the merged object
/// with its `managedFields`, or kube-apiserver's 409 listing the conflicting managers (unless
/// `force`). The caller decodes, defaults, validates and stores the result like any write, and
/// [`changed`] tells whether anything is left to store.
pub fn server_side_apply(
    rt: &ResourceType,
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
    now: Timestamp,
) -> Result<Value, ApiError> {
    let api_version = rt.api_version();
    let kind = object_kind(rt, &api_version);
    let mut req = Request::new(manager, now).with_reset(reset_fields(rt, subresource));
    if let Some(sub) = subresource {
        req = req.on_subresource(sub);
    }
    fieldmanager::apply(&kind, current, applied, force, &req)
        .map(|written| written.object)
        .map_err(|e| ApiError::from_status(&e.status()))
}

/// Records a non-apply write (create when `old` is `None`, update, patch) by `manager` in `new`'s
/// managedFields: the fields it added or changed become the manager's `Update` entry and are taken
/// from other managers. Fields the endpoint resets are restored from `old` (dropped on create).
pub fn track_update(
    rt: &ResourceType,
    old: Option<&Value>,
    new: Value,
    manager: &str,
    subresource: Option<&str>,
    now: Timestamp,
) -> Value {
    let api_version = rt.api_version();
    let kind = object_kind(rt, &api_version);
    let mut req = Request::new(manager, now).with_reset(reset_fields(rt, subresource));
    if let Some(sub) = subresource {
        req = req.on_subresource(sub);
    }
    fieldmanager::update(&kind, old, &new, &req).object
}

/// Whether `new` differs from the stored `old`. When the only difference is the time of
/// managedFields entries (a re-apply, an update that changed nothing), the old times are put back
/// into `new` and the write is a no-op: no new resourceVersion, no watch event.
pub fn changed(old: &Value, new: &mut Value) -> bool {
    fieldmanager::restore_timestamps_if_unchanged(old, new)
}

/// The field manager of a non-apply write: the `fieldManager` query parameter, else derived from
/// the `User-Agent` as kube-apiserver does (`kubectl/v1.33.4 (linux/amd64)` → `kubectl`).
pub fn manager_for(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => fieldmanager::manager_from_user_agent(user_agent.unwrap_or("")),
    }
}

/// Validates the `fieldManager` (and, for non-apply patches, `force`) query parameters as
/// kube-apiserver validates `CreateOptions`/`UpdateOptions`/`PatchOptions` (`options_kind`).
pub fn validate_write_options(
    options_kind: &str,
    field_manager: Option<&str>,
    force: Option<bool>,
    is_apply: bool,
) -> Result<(), ApiError> {
    fieldmanager::validate_write_options(options_kind, field_manager, force, is_apply)
        .map_err(|status| ApiError::from_status(&status))
}

/// Decodes a custom resource against its CRD version's structural schema: prunes unknown fields
/// (returned, for warnings or strict rejection), drops `null`s of non-nullable fields and applies
/// defaults. Built-in objects are left alone.
pub fn process_custom_resource(rt: &ResourceType, object: &mut Value) -> SchemaOutcome {
    match semantics(rt) {
        Semantics::Custom(s) => SchemaOutcome {
            pruned: s.normalize(object),
        },
        _ => SchemaOutcome::default(),
    }
}

/// Validates an object about to be stored, with kube-apiserver's 422: custom resources against
/// their schema (metadata, types, formats, enums, bounds, `required`, list invariants, CEL rules
/// with `oldSelf` from `old` on update), built-ins' `metadata`.
pub fn validate(rt: &ResourceType, object: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let errors: Vec<FieldError> = match semantics(rt) {
        Semantics::Custom(s) => {
            let errors = s.validate_custom_resource(object, old, rt.namespaced);
            if errors.is_empty() {
                return Ok(());
            }
            return Err(ApiError::from_status(&s.invalid_status(name, &errors)));
        }
        _ => {
            let rule = match rt.name_rule {
                NameRule::Subdomain => schema::NameRule::DnsSubdomain,
                NameRule::Label => schema::NameRule::DnsLabel,
                NameRule::PathSegment => schema::NameRule::PathSegment,
            };
            schema::validate_object_meta(object, rt.namespaced, rule)
        }
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::from_status(&invalid_status(
            &rt.group, &rt.kind, name, &errors,
        )))
    }
}

/// The `Warning` header text for an unknown field (`unknown field "spec.extra"`).
pub fn unknown_field_warning(path: &str) -> String {
    format!("unknown field {}", super::json_value::go_quote(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::{builtin_types, from_crd};

    fn builtin(group: &str, kind: &str) -> ResourceType {
        builtin_types()
            .into_iter()
            .find(|t| t.group == group && t.kind == kind)
            .unwrap_or_else(|| panic!("{group}/{kind} is not built in"))
    }

    fn widget() -> ResourceType {
        let crd = json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer", "default": 1}}},
                        "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}
        });
        let compiled = Arc::new(compile_crd(&crd).unwrap());
        from_crd(&crd, &compiled).unwrap().remove(0)
    }

    fn now() -> Timestamp {
        "2026-11-22T11:42:39Z".parse().unwrap()
    }

    #[test]
    fn managers_come_from_the_query_or_the_user_agent() {
        let cases = [
            (Some("ctrl"), Some("kubectl/v1.33.4 (linux/amd64)"), "ctrl"),
            (None, Some("kubectl/v1.33.4 (linux/amd64)"), "kubectl"),
            (Some(""), Some("Python-urllib/3.11"), "Python-urllib"),
            (None, None, ""),
        ];
        for (query, agent, want) in cases {
            assert_eq!(manager_for(query, agent), want, "{query:?} {agent:?}");
        }
    }

    #[test]
    fn kinds_missing_from_the_shape_table_are_tracked_as_open_structs() {
        let rt = builtin("apps", "ControllerRevision");
        let new = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": "r", "labels": {"a": "b"}}, "revision": 1, "data": {"x": 1}});
        let tracked = track_update(&rt, None, new, "sim", None, now());
        assert_eq!(
            tracked["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {".": {}, "f:x": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:revision": {}})
        );
    }

    #[test]
    fn strategic_merge_patch_merges_built_in_lists_and_refuses_custom_resources() {
        let deploy = builtin("apps", "Deployment");
        let live = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}}});
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "2"}]}}}});
        let out = strategic_merge_patch(&deploy, &live, &patch).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "2"}, {"name": "b"}])
        );
        let refused = strategic_merge_patch(&widget(), &json!({}), &json!({})).unwrap_err();
        assert_eq!(
            (refused.code, refused.reason.as_str()),
            (415, "UnsupportedMediaType")
        );
        let bad = strategic_merge_patch(&deploy, &live, &json!([1])).unwrap_err();
        assert_eq!(bad.code, 400);
    }

    #[test]
    fn custom_resources_are_pruned_defaulted_and_validated() {
        let rt = widget();
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "ns"}, "spec": {"extra": 1}});
        let outcome = process_custom_resource(&rt, &mut obj);
        assert_eq!(outcome.pruned, vec!["spec.extra"]);
        assert_eq!(obj["spec"], json!({"size": 1}));
        assert!(validate(&rt, &obj, None).is_ok());
        obj["spec"]["size"] = json!("big");
        let invalid = validate(&rt, &obj, None).unwrap_err();
        assert_eq!(invalid.code, 422);
        assert!(
            invalid
                .message
                .starts_with("Widget.example.com \"w\" is invalid: "),
            "{}",
            invalid.message
        );
        // Built-ins: metadata only.
        let secret = builtin("", "Secret");
        let bad_label = json!({"metadata": {"name": "s", "namespace": "ns", "labels": {"-x": "y"}}});
        assert_eq!(validate(&secret, &bad_label, None).unwrap_err().code, 422);
    }

    #[test]
    fn status_subresource_writes_keep_the_rest_and_main_writes_keep_status() {
        let rt = widget();
        let old = json!({"metadata": {"name": "w", "labels": {"a": "1"}}, "spec": {"size": 1}, "status": {"phase": "A"}});
        let mut via_status = json!({"metadata": {"name": "w", "labels": {"a": "2"}}, "spec": {"size": 9}, "status": {"phase": "B"}});
        reset(&rt, Some("status"), &old, &mut via_status);
        assert_eq!(
            via_status,
            json!({"metadata": {"name": "w", "labels": {"a": "1"}}, "spec": {"size": 1}, "status": {"phase": "B"}})
        );
        let mut via_main = json!({"metadata": {"name": "w"}, "spec": {"size": 2}, "status": {"phase": "C"}});
        reset(&rt, None, &old, &mut via_main);
        assert_eq!(via_main["status"], json!({"phase": "A"}));
        // A Deployment's /status may change annotations but not labels or spec.
        let deploy = builtin("apps", "Deployment");
        let old = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {}});
        let mut new = json!({"metadata": {"labels": {"a": "2"}, "annotations": {"rev": "2"}}, "spec": {"replicas": 5}, "status": {"replicas": 1}});
        reset(&deploy, Some("status"), &old, &mut new);
        assert_eq!(
            new,
            json!({"metadata": {"labels": {"a": "1"}, "annotations": {"rev": "2"}}, "spec": {"replicas": 1}, "status": {"replicas": 1}})
        );
    }

    #[test]
    fn apply_records_ownership_and_a_reapply_is_no_change() {
        let rt = builtin("", "ConfigMap");
        let applied =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}});
        let created = server_side_apply(&rt, None, &applied, "m", false, None, now()).unwrap();
        let later: Timestamp = "2026-11-22T12:00:00Z".parse().unwrap();
        let mut again = server_side_apply(&rt, Some(&created), &applied, "m", false, None, later).unwrap();
        assert!(!changed(&created, &mut again));
        assert_eq!(again, created, "the old time is kept");
        let other =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "w"}});
        let conflict = server_side_apply(&rt, Some(&created), &other, "n", false, None, now()).unwrap_err();
        assert_eq!(conflict.code, 409);
        assert_eq!(
            conflict.message,
            "Apply failed with 1 conflict: conflict with \"m\": .data.k"
        );
    }
}
