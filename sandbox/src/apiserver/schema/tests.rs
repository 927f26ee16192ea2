//! Replays of the recorded custom resource exchanges: the CRD, its validation errors, unknown
//! fields, and the status subresource with server-side apply, through this module, the field
//! manager and the JSON patch crates as the server will chain them.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::apiserver::fieldmanager::{self, ObjectKind, Request, ResetFields};
use crate::apiserver::recordings::{exchange, manager_time};

fn widget_crd() -> CompiledCrd {
    CompiledCrd::compile(exchange("crd-create").request_body()).expect("recorded CRD is valid")
}

fn widget() -> StructuralSchema {
    widget_crd().version("v1").unwrap().schema.clone()
}

fn kind(schema: &StructuralSchema) -> ObjectKind<'_> {
    ObjectKind::custom("conformance.example.com/v1", "Widget", schema.type_shape())
}

/// The server-set fields of a recorded object, put on ours before comparing.
fn with_bookkeeping(mut obj: Value, recorded: &Value) -> Value {
    for k in [
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        match recorded["metadata"].get(k) {
            Some(v) => obj["metadata"][k] = v.clone(),
            None => {
                obj["metadata"].as_object_mut().unwrap().remove(k);
            }
        }
    }
    obj
}

/// Create as the server chains it: decode, validate, record managed fields.
fn create(schema: &StructuralSchema, case: &str) -> Result<(Value, Vec<String>), Value> {
    let ex = exchange(case);
    let validation = if ex.request["path"]
        .as_str()
        .unwrap()
        .contains("fieldValidation=Strict")
    {
        FieldValidation::Strict
    } else {
        FieldValidation::Warn
    };
    let decoded = schema.decode(ex.request_body().clone(), validation)?;
    let mut obj = decoded.object;
    obj["metadata"]["namespace"] = json!("conformance");
    let errors = schema.validate_custom_resource(&obj, None, true);
    if !errors.is_empty() {
        return Err(schema.invalid_status(obj["metadata"]["name"].as_str().unwrap_or(""), &errors));
    }
    let now = ex.response_body()["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse::<Timestamp>()
        .unwrap();
    let req = Request::new("Python-urllib", now).with_reset(ResetFields::for_custom_resource(true, None));
    let written = fieldmanager::update(&kind(schema), None, &obj, &req);
    Ok((written.object, decoded.warnings))
}

#[test]
fn recorded_crd_compiles_with_its_list_semantics() {
    let crd = widget_crd();
    assert_eq!(
        (crd.group.as_str(), crd.kind.as_str(), crd.plural.as_str()),
        ("conformance.example.com", "Widget", "widgets")
    );
    assert_eq!(crd.list_kind, "WidgetList");
    assert!(crd.namespaced);
    let v1 = crd.version("v1").unwrap();
    assert!(v1.status_subresource && v1.served && v1.storage);
    let shape = v1.schema.type_shape();
    assert!(matches!(
        shape.list_type_at(&["status", "conditions"]),
        Some(crate::apiserver::shape::ListType::Map { keys, .. }) if keys == &["type"]
    ));
    assert_eq!(
        shape.list_type_at(&["spec", "tags"]),
        Some(&crate::apiserver::shape::ListType::Atomic)
    );
    assert!(shape.at(&["metadata", "finalizers"]).is_some());
}

#[test]
fn replay_custom_resource_creates() {
    let schema = widget();
    for case in ["cr-create", "cr-create-with-finalizer", "gc-owner-create"] {
        let recorded = exchange(case).response_body().clone();
        let (obj, warnings) = create(&schema, case).unwrap();
        assert!(warnings.is_empty(), "{case}");
        assert_eq!(with_bookkeeping(obj, &recorded), recorded, "{case}");
    }
}

#[test]
fn replay_custom_resource_validation_errors() {
    let schema = widget();
    for case in [
        "cr-create-invalid-fields",
        "cr-create-missing-required",
        "cr-create-wrong-type",
        "cr-create-cel-violation",
        "cr-create-unknown-field-strict",
    ] {
        let ex = exchange(case);
        let status = create(&schema, case).unwrap_err();
        assert_eq!(status["code"].as_u64(), Some(ex.status()), "{case}");
        assert_eq!(&status, ex.response_body(), "{case}");
    }
}

#[test]
fn replay_unknown_field_warning() {
    let schema = widget();
    let ex = exchange("cr-create-unknown-field-default");
    let (obj, warnings) = create(&schema, "cr-create-unknown-field-default").unwrap();
    let headers: Vec<String> = warnings.iter().map(|w| warning_header_value(w)).collect();
    assert_eq!(
        headers,
        vec![ex.response["headers"]["warning"].as_str().unwrap().to_string()]
    );
    assert_eq!(with_bookkeeping(obj, ex.response_body()), *ex.response_body());
}

/// A merge patch through the chain: patch, decode, validate against the old object, track.
fn merge_patch(
    schema: &StructuralSchema,
    live: &Value,
    case: &str,
    subresource: Option<&str>,
) -> fieldmanager::Written {
    let ex = exchange(case);
    let mut patched = live.clone();
    json_patch::merge(&mut patched, ex.request_body());
    let decoded = schema.decode(patched, FieldValidation::Warn).unwrap();
    let now: Timestamp = "2026-11-22T11:42:46Z".parse().unwrap();
    let mut req =
        Request::new("Python-urllib", now).with_reset(ResetFields::for_custom_resource(true, subresource));
    req.subresource = subresource;
    // The field manager restores reset fields; validation comes after, as in kube-apiserver.
    let written = fieldmanager::update(&kind(schema), Some(live), &decoded.object, &req);
    assert!(
        schema
            .validate_custom_resource(&written.object, Some(live), true)
            .is_empty(),
        "{case}"
    );
    written
}

fn apply_status(schema: &StructuralSchema, live: &Value, case: &str, manager: &str, force: bool) -> Value {
    let ex = exchange(case);
    let req = Request::new(manager, manager_time(ex.response_body(), manager))
        .on_subresource("status")
        .with_reset(ResetFields::for_custom_resource(true, Some("status")));
    let written = fieldmanager::apply(&kind(schema), Some(live), ex.request_body(), force, &req).unwrap();
    assert!(written.changed, "{case}");
    let mut obj = written.object;
    schema.normalize(&mut obj);
    assert!(
        schema.validate_custom_resource(&obj, Some(live), true).is_empty(),
        "{case}"
    );
    obj
}

#[test]
fn replay_spec_status_sequence() {
    let schema = widget();
    let created = exchange("cr-create").response_body().clone();

    // Spec change through the main resource.
    let ex = exchange("cr-patch-spec-bumps-generation");
    let written = merge_patch(&schema, &created, "cr-patch-spec-bumps-generation", None);
    assert!(written.changed);
    let mut obj = written.object;
    obj["metadata"]["generation"] = json!(2); // the server's bookkeeping
    let patched = with_bookkeeping(obj, ex.response_body());
    assert_eq!(&patched, ex.response_body());

    // Status through the main resource: ignored, nothing to store.
    let ignored = merge_patch(&schema, &patched, "cr-patch-status-via-main-ignored", None);
    assert!(!ignored.changed);
    assert_eq!(
        &ignored.object,
        exchange("cr-patch-status-via-main-ignored").response_body()
    );

    // Server-side apply on /status by two managers, each owning its condition.
    let ex = exchange("cr-status-apply");
    let obj = apply_status(&schema, &patched, "cr-status-apply", "ctrl", true);
    let after_first = with_bookkeeping(obj, ex.response_body());
    assert_eq!(&after_first, ex.response_body());

    let ex = exchange("cr-status-apply-other-condition");
    let obj = apply_status(
        &schema,
        &after_first,
        "cr-status-apply-other-condition",
        "other",
        false,
    );
    let after_second = with_bookkeeping(obj, ex.response_body());
    assert_eq!(&after_second, ex.response_body());

    // Spec through /status: ignored.
    let ignored = merge_patch(
        &schema,
        &after_second,
        "cr-status-spec-change-ignored",
        Some("status"),
    );
    assert!(!ignored.changed);
    assert_eq!(&ignored.object, exchange("cr-get-after-status").response_body());
}

#[test]
fn replay_finalizer_removal() {
    let schema = widget();
    let terminating = exchange("cr-get-terminating").response_body().clone();
    let written = merge_patch(&schema, &terminating, "cr-update-spec-while-terminating", None);
    let ex = exchange("cr-update-spec-while-terminating");
    let mut obj = written.object;
    obj["metadata"]["generation"] = json!(3);
    let updated = with_bookkeeping(obj, ex.response_body());
    assert_eq!(&updated, ex.response_body());

    let ex = exchange("cr-remove-finalizer");
    let patch: json_patch::Patch = serde_json::from_value(ex.request_body().clone()).unwrap();
    let mut patched = updated.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    schema.normalize(&mut patched);
    let req = Request::new("Python-urllib", "2026-11-22T11:42:47Z".parse().unwrap())
        .with_reset(ResetFields::for_custom_resource(true, None));
    let written = fieldmanager::update(&kind(&schema), Some(&updated), &patched, &req);
    assert_eq!(
        &written.object,
        ex.response_body(),
        "finalizer ownership dropped, time kept"
    );
}

#[test]
fn crd_validation_errors() {
    let mut crd = exchange("crd-create").request_body().clone();
    crd["metadata"]["name"] = json!("wrong.name");
    crd["spec"]["scope"] = json!("Galaxy");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]
        .as_object_mut()
        .unwrap()
        .remove("type");
    let errs = CompiledCrd::compile(&crd).unwrap_err();
    let status = crd_invalid_status("wrong.name", &errs);
    assert_eq!(
        status["message"],
        "CustomResourceDefinition.apiextensions.k8s.io \"wrong.name\" is invalid: [\
         metadata.name: Invalid value: \"wrong.name\": must be spec.names.plural+\".\"+spec.group, \
         spec.scope: Unsupported value: \"Galaxy\": supported values: \"Cluster\", \"Namespaced\", \
         spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: Required value: must not be empty for specified object fields]"
    );
    let mut two_storage = exchange("crd-create").request_body().clone();
    let v = two_storage["spec"]["versions"][0].clone();
    let mut v2 = v.clone();
    v2["name"] = json!("v2");
    two_storage["spec"]["versions"] = json!([v, v2]);
    let errs = CompiledCrd::compile(&two_storage).unwrap_err();
    assert_eq!(errs[0].field, "spec.versions");
    assert!(
        errs[0]
            .detail
            .contains("exactly one version marked as storage version")
    );
}

#[test]
fn field_validation_query() {
    assert_eq!(FieldValidation::from_query(None), Ok(FieldValidation::Warn));
    assert_eq!(
        FieldValidation::from_query(Some("Strict")),
        Ok(FieldValidation::Strict)
    );
    assert_eq!(
        FieldValidation::from_query(Some("Ignore")),
        Ok(FieldValidation::Ignore)
    );
    assert_eq!(
        FieldValidation::from_query(Some("Loud")).unwrap_err()["code"],
        400
    );
    let schema = widget();
    let d = schema
        .decode(json!({"apiVersion": "conformance.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1, "x": 1}}), FieldValidation::Ignore)
        .unwrap();
    assert!(d.warnings.is_empty());
    assert_eq!(d.object["spec"], json!({"size": 1}));
}

#[test]
fn metadata_errors_block_cel_rules() {
    let schema = widget();
    let obj = json!({"apiVersion": "conformance.example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "namespace": "ns", "labels": {"bad key!": "x"}}, "spec": {"size": 7}});
    let errs = schema.validate_custom_resource(&obj, None, true);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!(errs[0].field, "metadata.labels");
    assert_eq!(errs[1].field, "spec", "an invalid label does not block CEL");
    let obj = json!({"apiVersion": "conformance.example.com/v1", "kind": "Widget", "metadata": {"namespace": "ns"}, "spec": {"size": 7}});
    let errs = schema.validate_custom_resource(&obj, None, true);
    assert_eq!(
        errs.last().unwrap().detail,
        validate::not_checked().detail,
        "Required name blocks CEL"
    );
}

#[test]
fn compiled_schemas_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<StructuralSchema>();
    assert_send_sync::<CompiledCrd>();
    let schema = std::sync::Arc::new(widget());
    let s2 = schema.clone();
    let errs = std::thread::spawn(move || {
        let obj = json!({"apiVersion": "conformance.example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "ns"}, "spec": {"size": 7}});
        s2.validate_custom_resource(&obj, None, true).len()
    })
    .join()
    .unwrap();
    assert_eq!(errs, 1, "CEL rule evaluated on another thread");
    drop(schema);
}

#[test]
fn applied_configurations_are_pruned_but_not_defaulted() {
    let schema = StructuralSchema::compile(
        &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "size": {"type": "integer", "default": 1}, "color": {"type": "string"}}}}}),
        "openAPIV3Schema",
    )
    .unwrap()
    .for_kind("example.com", "v1", "Thing");
    let applied = json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
        "spec": {"color": null, "bogus": 1}});
    let d = schema
        .prune_applied(applied.clone(), FieldValidation::Warn)
        .unwrap();
    assert_eq!(d.object["spec"], json!({"color": null}));
    assert_eq!(d.warnings, vec!["unknown field \"spec.bogus\""]);
    assert_eq!(
        schema
            .prune_applied(applied, FieldValidation::Strict)
            .unwrap_err()["code"],
        400
    );
}

#[test]
fn bad_input_never_panics() {
    let schemas = [
        json!({"type": 5}),
        json!({"type": "object", "properties": []}),
        json!({"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}}),
        json!({"type": "object", "x-kubernetes-validations": "nope"}),
        json!({"type": "object", "x-kubernetes-validations": [{"rule": 5}]}),
        json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
        json!([]),
    ];
    for s in &schemas {
        let _ = StructuralSchema::compile(s, "openAPIV3Schema");
    }
    let schema = widget();
    let objects = [
        json!([]),
        json!(null),
        json!({"metadata": 5, "spec": []}),
        json!({"spec": {"size": {"a": 1}, "tags": "x"}, "status": {"conditions": [1, null, {"type": 1}]}}),
    ];
    for o in &objects {
        let mut m = o.clone();
        let _ = schema.normalize(&mut m);
        let _ = schema.validate_custom_resource(o, Some(o), true);
        let _ = schema.validate_custom_resource(o, None, false);
        let _ = schema.decode(o.clone(), FieldValidation::Strict);
    }
    assert!(CompiledCrd::compile(&json!({"spec": []})).is_err());
    assert!(CompiledCrd::compile(&json!("crd")).is_err());
}
