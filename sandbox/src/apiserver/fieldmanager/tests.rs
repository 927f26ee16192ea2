//! Rule-by-rule tests of server-side apply and update tracking, and replays of the recorded
//! kube-apiserver exchanges for built-in kinds (custom resource replays live with the schema
//! tests, which own the CRD).

use base64::Engine;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::apiserver::recordings::{exchange, exchanges, manager_time};
use crate::apiserver::shape::build::*;
use crate::apiserver::shape::builtin::{builtin_kind, object_meta};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const T0: &str = "2026-01-01T00:00:00Z";
const T1: &str = "2026-01-01T00:00:05Z";

/// A custom-resource-like kind with every list type.
fn thing_shape() -> TypeShape {
    let mut s = strukt([
        ("metadata", object_meta()),
        (
            "spec",
            strukt([
                ("tags", atomic_list(TypeShape::Scalar)),
                ("size", TypeShape::Scalar),
                ("color", TypeShape::Scalar),
                (
                    "nested",
                    strukt([("x", TypeShape::Scalar), ("y", TypeShape::Scalar)]),
                ),
                ("items", keyed_list(&["name"], "name", strukt([]))),
            ]),
        ),
        (
            "status",
            strukt([("conditions", keyed_list(&["type"], "type", strukt([])))]),
        ),
    ]);
    if let TypeShape::Object(o) = &mut s {
        o.other_keys = crate::apiserver::shape::OtherKeys::None;
    }
    s
}

fn thing(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": spec})
}

fn managed(obj: &Value) -> Vec<(String, String, Value)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| {
                    let who = format!(
                        "{}/{}{}",
                        e["manager"].as_str().unwrap(),
                        e["operation"].as_str().unwrap(),
                        e.get("subresource")
                            .and_then(Value::as_str)
                            .map(|s| format!("/{s}"))
                            .unwrap_or_default()
                    );
                    (
                        who,
                        e["time"].as_str().unwrap_or("").to_string(),
                        e["fieldsV1"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn fields_of(obj: &Value, who: &str) -> Value {
    managed(obj)
        .into_iter()
        .find(|(w, _, _)| w == who)
        .map(|(_, _, f)| f)
        .unwrap_or(Value::Null)
}

struct Env {
    shape: TypeShape,
}

impl Env {
    fn new() -> Env {
        Env { shape: thing_shape() }
    }

    fn kind(&self) -> ObjectKind<'_> {
        ObjectKind::custom("example.com/v1", "Thing", &self.shape)
    }

    fn apply(
        &self,
        live: Option<&Value>,
        cfg: &Value,
        who: &str,
        force: bool,
    ) -> Result<Written, ApplyError> {
        apply(&self.kind(), live, cfg, force, &Request::new(who, t(T1)))
    }

    fn apply_ok(&self, live: Option<&Value>, cfg: &Value, who: &str) -> Value {
        self.apply(live, cfg, who, false).unwrap().object
    }

    fn update(&self, live: Option<&Value>, new: &Value, who: &str) -> Written {
        update(&self.kind(), live, new, &Request::new(who, t(T1)))
    }
}

// ---------------------------------------------------------------------------------------------
// Apply rules

#[test]
fn apply_creates_and_owns_what_it_sets() {
    let e = Env::new();
    let obj = e.apply_ok(
        None,
        &thing(json!({"size": 1, "items": [{"name": "a", "v": 1}]})),
        "alice",
    );
    assert_eq!(obj["spec"], json!({"size": 1, "items": [{"name": "a", "v": 1}]}));
    assert_eq!(
        fields_of(&obj, "alice/Apply"),
        json!({"f:spec": {"f:items": {"k:{\"name\":\"a\"}": {".": {}, "f:name": {}, "f:v": {}}}, "f:size": {}}})
    );
    assert_eq!(managed(&obj)[0].1, T1);
}

#[test]
fn reapplying_the_same_config_is_a_no_op() {
    let e = Env::new();
    let cfg = thing(json!({"size": 1}));
    let created = apply(&e.kind(), None, &cfg, false, &Request::new("alice", t(T0)))
        .unwrap()
        .object;
    let again = e.apply(Some(&created), &cfg, "alice", false).unwrap();
    assert!(!again.changed);
    assert_eq!(again.object, created, "timestamps kept");
}

#[test]
fn apply_removes_fields_the_manager_stopped_applying() {
    let e = Env::new();
    let cases: Vec<(&str, Value, Value, Value)> = vec![
        (
            "scalar",
            json!({"size": 1, "color": "red"}),
            json!({"size": 1}),
            json!({"size": 1}),
        ),
        (
            "map-list item",
            json!({"items": [{"name": "a"}, {"name": "b"}]}),
            json!({"items": [{"name": "b"}]}),
            json!({"items": [{"name": "b"}]}),
        ),
        (
            "whole struct, not left as {}",
            json!({"size": 1, "nested": {"x": 1}}),
            json!({"size": 1}),
            json!({"size": 1}),
        ),
        (
            "struct field inside a kept struct",
            json!({"nested": {"x": 1, "y": 2}}),
            json!({"nested": {"y": 2}}),
            json!({"nested": {"y": 2}}),
        ),
    ];
    for (name, first, second, want) in cases {
        let obj = e.apply_ok(None, &thing(first), "alice");
        let obj = e.apply_ok(Some(&obj), &thing(second), "alice");
        assert_eq!(obj["spec"], want, "{name}");
    }
    let obj = e.apply_ok(None, &thing(json!({"size": 1})), "alice");
    let mut cfg = thing(json!({"size": 1}));
    cfg["metadata"]["labels"] = json!({"a": "1"});
    let obj = e.apply_ok(Some(&obj), &cfg, "alice");
    let obj = e.apply_ok(Some(&obj), &thing(json!({"size": 1})), "alice");
    assert!(
        obj["metadata"].get("labels").is_none(),
        "labels map removed with its last label"
    );
}

#[test]
fn apply_keeps_fields_someone_else_owns() {
    let e = Env::new();
    // Two appliers share a field by applying the same value: no conflict, both own it.
    let obj = e.apply_ok(None, &thing(json!({"size": 1, "color": "red"})), "alice");
    let obj = e.apply_ok(Some(&obj), &thing(json!({"color": "red"})), "bob");
    assert_eq!(fields_of(&obj, "bob/Apply"), json!({"f:spec": {"f:color": {}}}));
    let obj = e.apply_ok(Some(&obj), &thing(json!({"size": 1})), "alice");
    assert_eq!(obj["spec"]["color"], "red", "still applied by bob");
    // A field set by an update is not removed by an applier that stops applying it.
    let obj = e.apply_ok(None, &thing(json!({"size": 1, "color": "red"})), "alice");
    let mut edited = obj.clone();
    edited["spec"]["color"] = json!("blue");
    let obj = e.update(Some(&obj), &edited, "editor").object;
    assert_eq!(
        fields_of(&obj, "editor/Update"),
        json!({"f:spec": {"f:color": {}}})
    );
    assert_eq!(
        fields_of(&obj, "alice/Apply"),
        json!({"f:spec": {"f:size": {}}}),
        "update took color from alice"
    );
    let obj = e.apply_ok(Some(&obj), &thing(json!({"size": 1})), "alice");
    assert_eq!(obj["spec"]["color"], "blue");
}

#[test]
fn apply_conflicts() {
    let e = Env::new();
    let obj = e.apply_ok(
        None,
        &thing(json!({"size": 1, "color": "red", "tags": ["a"]})),
        "alice",
    );
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("same value", json!({"size": 1}), None),
        (
            "different scalar",
            json!({"size": 2}),
            Some("Apply failed with 1 conflict: conflict with \"alice\": .spec.size"),
        ),
        (
            "atomic list",
            json!({"tags": ["b"]}),
            Some("Apply failed with 1 conflict: conflict with \"alice\": .spec.tags"),
        ),
        (
            "two fields",
            json!({"size": 2, "color": "blue"}),
            Some("Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.color\n- .spec.size"),
        ),
        ("new field is free", json!({"nested": {"x": 1}}), None),
    ];
    for (name, spec, want) in cases {
        let got = e.apply(Some(&obj), &thing(spec), "bob", false);
        match (got, want) {
            (Ok(_), None) => {}
            (Err(err), Some(msg)) => {
                assert_eq!(err.code(), 409, "{name}");
                assert_eq!(err.status()["message"], msg, "{name}");
                assert_eq!(
                    err.status()["details"]["causes"][0]["reason"],
                    "FieldManagerConflict",
                    "{name}"
                );
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn conflict_with_an_update_manager_names_its_api_version() {
    let e = Env::new();
    let obj = e
        .update(None, &thing(json!({"size": 1})), "kubectl-client-side-apply")
        .object;
    let err = e
        .apply(Some(&obj), &thing(json!({"size": 2})), "kubectl", false)
        .unwrap_err();
    assert_eq!(
        err.status()["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using example.com/v1: .spec.size"
    );
    assert_eq!(
        err.status()["details"]["causes"][0]["message"],
        "conflict with \"kubectl-client-side-apply\" using example.com/v1"
    );
}

#[test]
fn force_transfers_ownership() {
    let e = Env::new();
    let obj = e.apply_ok(None, &thing(json!({"size": 1, "color": "red"})), "alice");
    let obj = e
        .apply(Some(&obj), &thing(json!({"size": 2})), "bob", true)
        .unwrap()
        .object;
    assert_eq!(obj["spec"]["size"], 2);
    assert_eq!(fields_of(&obj, "alice/Apply"), json!({"f:spec": {"f:color": {}}}));
    assert_eq!(fields_of(&obj, "bob/Apply"), json!({"f:spec": {"f:size": {}}}));
    // Taking the last field removes the loser's entry.
    let obj = e
        .apply(
            Some(&obj),
            &thing(json!({"size": 2, "color": "blue"})),
            "bob",
            true,
        )
        .unwrap()
        .object;
    assert_eq!(managed(&obj).len(), 1);
}

#[test]
fn map_list_items_owned_by_different_managers_are_both_kept() {
    let e = Env::new();
    let base = e.apply_ok(None, &thing(json!({"size": 1})), "alice");
    let status = |conds: Value| {
        let mut c = thing(json!({}));
        c.as_object_mut().unwrap().remove("spec");
        c["status"] = json!({"conditions": conds});
        c
    };
    let obj = e.apply_ok(
        Some(&base),
        &status(json!([{"type": "Ready", "status": "True"}])),
        "ctrl",
    );
    let obj = e.apply_ok(
        Some(&obj),
        &status(json!([{"type": "Degraded", "status": "False"}])),
        "other",
    );
    assert_eq!(
        obj["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}, {"type": "Degraded", "status": "False"}])
    );
    // Dropping its condition removes only that one.
    let mut cfg = status(json!([]));
    cfg["status"].as_object_mut().unwrap().remove("conditions");
    let obj = e.apply_ok(Some(&obj), &cfg, "ctrl");
    assert_eq!(
        obj["status"]["conditions"],
        json!([{"type": "Degraded", "status": "False"}])
    );
}

#[test]
fn finalizers_are_a_set() {
    let e = Env::new();
    let with_finalizers = |f: Value| {
        let mut c = thing(json!({"size": 1}));
        c["metadata"]["finalizers"] = f;
        c
    };
    let obj = e.apply_ok(None, &with_finalizers(json!(["a.example/x"])), "alice");
    let obj = e.apply_ok(Some(&obj), &with_finalizers(json!(["b.example/y"])), "bob");
    assert_eq!(
        obj["metadata"]["finalizers"],
        json!(["a.example/x", "b.example/y"])
    );
    assert_eq!(
        fields_of(&obj, "bob/Apply")["f:metadata"],
        json!({"f:finalizers": {"v:\"b.example/y\"": {}}})
    );
    let obj = e.apply_ok(Some(&obj), &with_finalizers(json!([])), "alice");
    assert_eq!(obj["metadata"]["finalizers"], json!(["b.example/y"]));
}

#[test]
fn identity_fields_are_never_owned() {
    let e = Env::new();
    let mut cfg = thing(json!({}));
    cfg.as_object_mut().unwrap().remove("spec");
    cfg["metadata"]["namespace"] = json!("ns");
    let written = e.apply(None, &cfg, "alice", false).unwrap();
    assert!(
        written.object["metadata"].get("managedFields").is_none(),
        "nothing owned, no entry"
    );
}

#[test]
fn status_is_reset_on_the_main_resource_and_owned_on_status() {
    let e = Env::new();
    let created = e.apply_ok(None, &thing(json!({"size": 1})), "alice");
    let mut cfg = thing(json!({"size": 1}));
    cfg["status"] = json!({"conditions": [{"type": "Ready"}]});
    let main = apply(
        &e.kind(),
        Some(&created),
        &cfg,
        false,
        &Request::new("alice", t(T1)).with_reset(ResetFields::for_custom_resource(true, None)),
    )
    .unwrap();
    assert!(!main.changed, "status ignored on the main resource");
    assert!(main.object.get("status").is_none());

    let mut cfg = thing(json!({"size": 99}));
    cfg["status"] = json!({"conditions": [{"type": "Ready"}]});
    let req = Request::new("ctrl", t(T1))
        .on_subresource("status")
        .with_reset(ResetFields::for_custom_resource(true, Some("status")));
    let st = apply(&e.kind(), Some(&created), &cfg, false, &req)
        .unwrap()
        .object;
    assert_eq!(st["spec"]["size"], 1, "spec ignored on /status");
    assert_eq!(st["status"]["conditions"], json!([{"type": "Ready"}]));
    assert_eq!(
        fields_of(&st, "ctrl/Apply/status"),
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {".": {}, "f:type": {}}}}})
    );
}

#[test]
fn bad_apply_requests() {
    let e = Env::new();
    let mut wrong_kind = thing(json!({}));
    wrong_kind["kind"] = json!("Other");
    let mut with_mf = thing(json!({}));
    with_mf["metadata"]["managedFields"] = json!([]);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "wrong kind",
            wrong_kind,
            400,
            "invalid object type: example.com/v1, Kind=Other",
        ),
        (
            "managed fields sent",
            with_mf,
            400,
            "metadata.managedFields must be nil",
        ),
        (
            "duplicate keys",
            thing(json!({"items": [{"name": "a"}, {"name": "a"}]})),
            500,
            "failed to create typed patch object (example.com/v1, Kind=Thing): .spec.items: duplicate entries for key [name=\"a\"]",
        ),
        (
            "not an object",
            json!([1]),
            400,
            "error decoding YAML: the applied configuration must be an object",
        ),
    ];
    for (name, cfg, code, msg) in cases {
        let err = e.apply(None, &cfg, "alice", false).unwrap_err();
        assert_eq!(err.code(), code, "{name}");
        assert_eq!(err.status()["message"], msg, "{name}");
        assert_eq!(err.status()["code"], code, "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Update rules

#[test]
fn update_tracks_changes() {
    let e = Env::new();
    let created = e
        .update(None, &thing(json!({"size": 1, "nested": {"x": 1}})), "creator")
        .object;
    assert_eq!(
        fields_of(&created, "creator/Update"),
        json!({"f:spec": {".": {}, "f:nested": {".": {}, "f:x": {}}, "f:size": {}}})
    );

    // Another manager changing a field takes it; adding a field gives it that field.
    let mut edited = created.clone();
    edited["spec"]["size"] = json!(2);
    edited["spec"]["color"] = json!("red");
    let obj = e.update(Some(&created), &edited, "editor").object;
    assert_eq!(
        fields_of(&obj, "editor/Update"),
        json!({"f:spec": {"f:color": {}, "f:size": {}}})
    );
    assert_eq!(
        fields_of(&obj, "creator/Update"),
        json!({"f:spec": {".": {}, "f:nested": {".": {}, "f:x": {}}}})
    );

    // Removing a field takes it from everyone.
    let mut removed = obj.clone();
    removed["spec"].as_object_mut().unwrap().remove("nested");
    let obj2 = e.update(Some(&obj), &removed, "editor").object;
    assert_eq!(
        fields_of(&obj2, "creator/Update"),
        json!({"f:spec": {}}),
        "still owns spec itself"
    );

    // Writing the same object changes nothing, not even timestamps.
    let same = update(
        &e.kind(),
        Some(&obj2),
        &obj2,
        &Request::new("editor", t("2027-01-01T00:00:00Z")),
    );
    assert!(!same.changed);
    assert_eq!(same.object, obj2);
}

#[test]
fn update_by_the_same_manager_accumulates() {
    let e = Env::new();
    let created = update(
        &e.kind(),
        None,
        &thing(json!({"size": 1})),
        &Request::new("m", t(T0)),
    )
    .object;
    let mut next = created.clone();
    next["spec"]["color"] = json!("red");
    let obj = e.update(Some(&created), &next, "m").object;
    assert_eq!(
        fields_of(&obj, "m/Update"),
        json!({"f:spec": {".": {}, "f:color": {}, "f:size": {}}})
    );
    assert_eq!(managed(&obj)[0].1, T1, "time moves when fields change");
}

#[test]
fn managed_fields_sent_in_an_update_replace_the_live_ones() {
    let e = Env::new();
    let created = e.update(None, &thing(json!({"size": 1})), "creator").object;
    let mut cleared = created.clone();
    cleared["metadata"]["managedFields"] = json!([{}]);
    let obj = e.update(Some(&created), &cleared, "creator").object;
    assert!(
        obj["metadata"].get("managedFields").is_none(),
        "[{{}}] clears managed fields"
    );
    let mut emptied = created.clone();
    emptied["metadata"]["managedFields"] = json!([]);
    let obj = e.update(Some(&created), &emptied, "creator");
    assert!(!obj.changed, "an empty list keeps the live managed fields");
}

#[test]
fn update_ignores_reset_fields() {
    let e = Env::new();
    let created = e.update(None, &thing(json!({"size": 1})), "creator").object;
    let mut with_status = created.clone();
    with_status["status"] = json!({"conditions": [{"type": "X"}]});
    let main = update(
        &e.kind(),
        Some(&created),
        &with_status,
        &Request::new("p", t(T1)).with_reset(ResetFields::for_custom_resource(true, None)),
    );
    assert!(!main.changed);

    let mut spec_change = created.clone();
    spec_change["spec"]["size"] = json!(9);
    let req = Request::new("p", t(T1))
        .on_subresource("status")
        .with_reset(ResetFields::for_custom_resource(true, Some("status")));
    assert!(!update(&e.kind(), Some(&created), &spec_change, &req).changed);

    let mut status_change = created.clone();
    status_change["status"] = json!({"conditions": [{"type": "X"}]});
    let obj = update(&e.kind(), Some(&created), &status_change, &req).object;
    assert_eq!(
        fields_of(&obj, "p/Update/status"),
        json!({"f:status": {".": {}, "f:conditions": {".": {}, "k:{\"type\":\"X\"}": {".": {}, "f:type": {}}}}})
    );
}

#[test]
fn helpers() {
    let cases = [
        ("kubectl/v1.33.0 (linux/amd64) kubernetes/abc", "kubectl"),
        ("Python-urllib/3.11", "Python-urllib"),
        ("kube-rs/5.0.0", "kube-rs"),
        ("", ""),
        ("a\u{1}b/1", "ab"),
    ];
    for (ua, want) in cases {
        assert_eq!(manager_from_user_agent(ua), want, "{ua}");
    }
    assert_eq!(manager_from_user_agent(&"x".repeat(200)).len(), 128);
    assert_eq!(
        applied_resource_version(&json!({"metadata": {"resourceVersion": "5"}})),
        Some("5")
    );
    assert_eq!(applied_resource_version(&json!({"metadata": {}})), None);

    let err = validate_write_options("PatchOptions", Some("m"), Some(true), false).unwrap_err();
    assert_eq!(
        err["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch"
    );
    assert!(validate_write_options("PatchOptions", Some("m"), Some(false), true).is_ok());
    assert!(validate_write_options("CreateOptions", None, None, false).is_ok());
    let long = "m".repeat(129);
    let err = validate_write_options("CreateOptions", Some(&long), None, false).unwrap_err();
    assert_eq!(
        err["details"]["causes"][0]["message"],
        "Too long: may not be more than 128 bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// Replays of recorded exchanges (built-in kinds)

fn secret_kind() -> ObjectKind<'static> {
    ObjectKind::builtin(builtin_kind("", "Secret").unwrap(), "v1")
}

/// What kube-apiserver does to a Secret after the field manager: `stringData` folded into
/// `data`, `type` defaulted.
fn fold_string_data(obj: &mut Value) {
    let m = obj.as_object_mut().unwrap();
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| json!({}));
        for (k, v) in sd {
            data[k] = json!(base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap()));
        }
    }
    m.entry("type").or_insert(json!("Opaque"));
}

/// The server's bookkeeping for a created object, copied from the recorded answer.
fn add_bookkeeping(obj: &mut Value, recorded: &Value) {
    for k in [
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
    ] {
        if let Some(v) = recorded["metadata"].get(k) {
            obj["metadata"][k] = v.clone();
        }
    }
}

#[test]
fn replay_ssa_secret_sequence() {
    let kind = secret_kind();
    let [first, second] = <[_; 2]>::try_from(exchanges("ssa-alpha-one")).unwrap();
    let recorded = first.response_body();
    let now = manager_time(recorded, "alpha");

    // Create by apply.
    let written = apply(
        &kind,
        None,
        first.request_body(),
        false,
        &Request::new("alpha", now),
    )
    .unwrap();
    let mut obj = written.object;
    fold_string_data(&mut obj);
    add_bookkeeping(&mut obj, recorded);
    assert_eq!(&obj, recorded);

    // Identical re-apply: nothing to store.
    let live = second.response_body();
    let written = apply(
        &kind,
        Some(live),
        second.request_body(),
        false,
        &Request::new("alpha", t("2026-11-22T11:50:00Z")),
    )
    .unwrap();
    let mut again = written.object;
    fold_string_data(&mut again);
    assert!(!restore_timestamps_if_unchanged(live, &mut again));
    assert_eq!(&again, live);

    // Another manager with another value: the recorded 409.
    let beta = exchange("ssa-beta-two");
    let err = apply(
        &kind,
        Some(live),
        beta.request_body(),
        false,
        &Request::new("beta", now),
    )
    .unwrap_err();
    assert_eq!(u64::from(err.code()), beta.status());
    assert_eq!(&err.status(), beta.response_body());

    // Forced: ownership moves to beta, alpha's entry disappears.
    let forced = exchange("ssa-beta-two-force");
    let recorded = forced.response_body();
    let written = apply(
        &kind,
        Some(live),
        forced.request_body(),
        true,
        &Request::new("beta", manager_time(recorded, "beta")),
    )
    .unwrap();
    let mut obj = written.object;
    fold_string_data(&mut obj);
    obj["metadata"]["resourceVersion"] = recorded["metadata"]["resourceVersion"].clone();
    assert_eq!(&obj, recorded);
    assert_eq!(&obj, exchange("ssa-get-managed-fields").response_body());

    // No field manager: the recorded 422.
    let missing = exchange("ssa-no-field-manager");
    let status = validate_write_options("PatchOptions", None, None, true).unwrap_err();
    assert_eq!(&status, missing.response_body());
}

/// Replays a create through [`update`]: `defaulted` is what the server stores before its own
/// bookkeeping, the recorded answer must match once bookkeeping is added.
fn replay_create(case: &str, kind: ObjectKind<'_>, reset: ResetFields, prepare: impl Fn(&mut Value)) {
    let ex = exchange(case);
    let recorded = ex.response_body();
    let now = manager_time(recorded, "Python-urllib");
    let mut new = recorded.clone();
    managed::strip_from_object(&mut new);
    for k in [
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
    ] {
        new["metadata"].as_object_mut().unwrap().remove(k);
    }
    prepare(&mut new);
    let written = update(
        &kind,
        None,
        &new,
        &Request::new("Python-urllib", now).with_reset(reset),
    );
    assert_eq!(
        written.object["metadata"]["managedFields"], recorded["metadata"]["managedFields"],
        "{case}: managed fields"
    );
}

#[test]
fn replay_creates_of_builtin_kinds() {
    let b = |g, k| builtin_kind(g, k).unwrap();
    replay_create("secret-create", secret_kind(), ResetFields::None, |_| {});
    replay_create("secret-create-list-0", secret_kind(), ResetFields::None, |_| {});
    replay_create("gc-dependent-create", secret_kind(), ResetFields::None, |_| {});
    replay_create(
        "lease-create",
        ObjectKind::builtin(b("coordination.k8s.io", "Lease"), "coordination.k8s.io/v1"),
        ResetFields::None,
        |_| {},
    );
    replay_create(
        "event-create",
        ObjectKind::builtin(b("events.k8s.io", "Event"), "events.k8s.io/v1"),
        ResetFields::None,
        |_| {},
    );
    // Namespace: spec.finalizers and status are set after the field manager ran.
    let ns = b("", "Namespace");
    replay_create(
        "namespace-create",
        ObjectKind::builtin(ns, "v1"),
        ResetFields::for_builtin(ns, None),
        |o| {
            o.as_object_mut().unwrap().remove("spec");
        },
    );
    let deploy = b("apps", "Deployment");
    replay_create(
        "deploy-create",
        ObjectKind::builtin(deploy, "apps/v1"),
        ResetFields::for_builtin(deploy, None),
        |_| {},
    );
    let crd = b("apiextensions.k8s.io", "CustomResourceDefinition");
    replay_create(
        "crd-create",
        ObjectKind::builtin(crd, "apiextensions.k8s.io/v1"),
        ResetFields::for_builtin(crd, None),
        |_| {},
    );
}

/// Replays a non-apply write: the live object is the previous recorded answer, the new object the
/// recorded answer without managed fields (the patch result), the managed fields must match.
fn replay_write(
    previous: &Value,
    case: &str,
    kind: ObjectKind<'_>,
    reset: ResetFields,
    subresource: Option<&str>,
) {
    let ex = exchange(case);
    let recorded = ex.response_body();
    let mut new = recorded.clone();
    managed::strip_from_object(&mut new);
    new["metadata"]["resourceVersion"] = previous["metadata"]["resourceVersion"].clone();
    let now = recorded["metadata"]["managedFields"]
        .as_array()
        .and_then(|es| es.iter().filter_map(|e| e["time"].as_str()).max())
        .unwrap()
        .parse()
        .unwrap();
    let mut req = Request::new("Python-urllib", now).with_reset(reset);
    req.subresource = subresource;
    let written = update(&kind, Some(previous), &new, &req);
    assert_eq!(
        written.object["metadata"]["managedFields"], recorded["metadata"]["managedFields"],
        "{case}"
    );
}

#[test]
fn replay_patches_of_builtin_kinds() {
    let created = exchange("secret-create").response_body().clone();
    replay_write(
        &created,
        "secret-patch-merge",
        secret_kind(),
        ResetFields::None,
        None,
    );
    let merged = exchange("secret-patch-merge").response_body().clone();
    replay_write(
        &merged,
        "secret-patch-strategic",
        secret_kind(),
        ResetFields::None,
        None,
    );
    let l0 = exchange("secret-create-list-0").response_body().clone();
    replay_write(
        &l0,
        "watch-trigger-update",
        secret_kind(),
        ResetFields::None,
        None,
    );
    let deploy = builtin_kind("apps", "Deployment").unwrap();
    let settled = exchange("deploy-status-settled").response_body().clone();
    replay_write(
        &settled,
        "deploy-restart-annotation",
        ObjectKind::builtin(deploy, "apps/v1"),
        ResetFields::for_builtin(deploy, None),
        None,
    );
}

#[test]
fn kubectl_server_side_apply_takes_over_from_client_side_apply() {
    let e = Env::new();
    // Client-side apply: an Update by kubectl-client-side-apply with the annotation.
    let mut csa = thing(json!({"size": 1, "color": "red"}));
    csa["metadata"]["annotations"] = json!({
        LAST_APPLIED_ANNOTATION: "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Thing\",\"metadata\":{\"name\":\"t\"},\"spec\":{\"color\":\"red\",\"size\":1}}\n"
    });
    let live = e.update(None, &csa, "kubectl-client-side-apply").object;
    let mut changed = live.clone();
    changed["spec"]["color"] = json!("blue");
    let live = e.update(Some(&live), &changed, "someone-else").object;

    // kubectl: conflicts on fields the annotation still describes are forced; others are not.
    let cfg = thing(json!({"size": 2, "color": "green"}));
    let err = e.apply(Some(&live), &cfg, "kubectl", false).unwrap_err();
    assert_eq!(
        err.status()["message"],
        "Apply failed with 1 conflict: conflict with \"someone-else\" using example.com/v1: .spec.color"
    );
    let obj = e.apply_ok(Some(&live), &thing(json!({"size": 2})), "kubectl");
    assert_eq!(obj["spec"]["size"], 2);
    assert_eq!(
        fields_of(&obj, "kubectl/Apply"),
        json!({"f:spec": {"f:size": {}}})
    );
    assert_eq!(
        obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
        "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Thing\",\"metadata\":{\"name\":\"t\"},\"spec\":{\"size\":2}}\n",
        "annotation kept in sync"
    );
    // Any other manager gets the conflict.
    assert!(
        e.apply(Some(&live), &thing(json!({"size": 2})), "other", false)
            .is_err()
    );
}

#[test]
fn apply_bodies() {
    let cases: Vec<(&str, &str, Result<Value, &str>)> = vec![
        (
            "json",
            r#"{"apiVersion": "v1", "kind": "Secret"}"#,
            Ok(json!({"apiVersion": "v1", "kind": "Secret"})),
        ),
        (
            "yaml",
            "apiVersion: v1\nkind: Secret\nstringData:\n  a: \"1\"\n",
            Ok(json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "1"}})),
        ),
        ("empty", "", Ok(json!({}))),
        (
            "list",
            "- a\n- b\n",
            Err(
                "error decoding YAML: json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
        ),
    ];
    for (name, body, want) in cases {
        match (parse_apply_body(body.as_bytes()), want) {
            (Ok(v), Ok(w)) => assert_eq!(v, w, "{name}"),
            (Err(e), Err(m)) => assert_eq!(e.status()["message"], m, "{name}"),
            (got, want) => panic!("{name}: {got:?} vs {want:?}"),
        }
    }
    let err = parse_apply_body(b"a: [unclosed").unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.to_string().starts_with("error decoding YAML: "));
}

#[test]
fn replay_controller_status_update_of_a_deployment() {
    // kube-controller-manager writes /status: status and the revision annotation (allowed on a
    // Deployment's status), its entry keeps `subresource: status`, the spec owner is untouched.
    let deploy = builtin_kind("apps", "Deployment").unwrap();
    let live = exchange("deploy-status-right-after-restart")
        .response_body()
        .clone();
    let recorded = exchange("deploy-status-after-rollout").response_body().clone();
    let mut new = recorded.clone();
    managed::strip_from_object(&mut new);
    let req = Request::new(
        "kube-controller-manager",
        manager_time(&recorded, "kube-controller-manager"),
    )
    .on_subresource("status")
    .with_reset(ResetFields::for_builtin(deploy, Some("status")));
    let written = update(&ObjectKind::builtin(deploy, "apps/v1"), Some(&live), &new, &req);
    assert_eq!(
        written.object["metadata"]["managedFields"],
        recorded["metadata"]["managedFields"]
    );
}

#[test]
fn deployment_apply_uses_container_and_port_keys() {
    let deploy = builtin_kind("apps", "Deployment").unwrap();
    let kind = ObjectKind::builtin(deploy, "apps/v1");
    let cfg = |image: &str, ports: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image, "ports": ports}]}}}})
    };
    let created = apply(
        &kind,
        None,
        &cfg(
            "v1",
            json!([{"containerPort": 80}, {"containerPort": 80, "protocol": "UDP"}]),
        ),
        false,
        &Request::new("kubectl", t(T0)),
    )
    .unwrap()
    .object;
    assert_eq!(
        fields_of(&created, "kubectl/Apply")["f:spec"]["f:template"]["f:spec"]["f:containers"],
        json!({"k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}},
            "k:{\"containerPort\":80,\"protocol\":\"UDP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}},
        }}})
    );
    assert_eq!(
        fields_of(&created, "kubectl/Apply")["f:spec"]["f:selector"],
        json!({}),
        "selector is atomic"
    );

    // A controller sets the image; kubectl re-applying the old image conflicts on that field only.
    let mut rolled = created.clone();
    rolled["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v2");
    let rolled = update(&kind, Some(&created), &rolled, &Request::new("rollout", t(T1))).object;
    let err = apply(
        &kind,
        Some(&rolled),
        &cfg("v1", json!([{"containerPort": 80}])),
        false,
        &Request::new("kubectl", t(T1)),
    )
    .unwrap_err();
    assert_eq!(
        err.status()["message"],
        "Apply failed with 1 conflict: conflict with \"rollout\" using apps/v1: .spec.template.spec.containers[name=\"c\"].image"
    );
    // Dropping the UDP port from the config removes it.
    let obj = apply(
        &kind,
        Some(&rolled),
        &cfg("v2", json!([{"containerPort": 80}])),
        false,
        &Request::new("kubectl", t(T1)),
    )
    .unwrap()
    .object;
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["ports"],
        json!([{"containerPort": 80}])
    );
}

#[test]
fn reapply_is_a_no_op_even_when_its_new_time_would_reorder_entries() {
    let e = Env::new();
    let cfg_a = thing(json!({"size": 1}));
    let cfg_b = thing(json!({"color": "red"}));
    let obj = apply(
        &e.kind(),
        None,
        &cfg_a,
        false,
        &Request::new("a", t("2026-01-01T00:00:00Z")),
    )
    .unwrap()
    .object;
    let obj = apply(
        &e.kind(),
        Some(&obj),
        &cfg_b,
        false,
        &Request::new("b", t("2026-01-01T00:00:10Z")),
    )
    .unwrap()
    .object;
    let again = apply(
        &e.kind(),
        Some(&obj),
        &cfg_a,
        false,
        &Request::new("a", t("2026-01-01T00:01:00Z")),
    )
    .unwrap();
    assert!(!again.changed);
    assert_eq!(again.object, obj);
}

#[test]
fn bad_input_never_panics() {
    let e = Env::new();
    let weird_lives = [
        json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": "nope"}),
        json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}, "spec": [1, 2], "status": {"conditions": [1, {"x": 1}]}}),
        json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"managedFields": [{"operation": "Apply", "fieldsV1": {"f:spec": {"k:oops": {}}}}]}}),
        json!([]),
    ];
    let weird_configs = [
        thing(json!([1])),
        thing(json!({"items": "x", "tags": {"a": 1}, "nested": [null]})),
        thing(json!({"items": [1, "two", null]})),
        thing(json!({"size": {"deep": [{"x": null}]}})),
    ];
    for live in &weird_lives {
        for cfg in &weird_configs {
            let _ = e.apply(Some(live), cfg, "m", false);
            let _ = e.apply(Some(live), cfg, "m", true);
            let _ = e.update(Some(live), cfg, "m");
            let _ = e.update(Some(cfg), live, "m");
        }
    }
    let err = e
        .apply(Some(&weird_lives[2]), &thing(json!({"size": 1})), "m", false)
        .unwrap_err();
    assert_eq!(err.code(), 500, "unreadable live managed fields");
    let written = e.update(Some(&weird_lives[2]), &thing(json!({"size": 1})), "m");
    assert_eq!(
        fields_of(&written.object, "m/Update"),
        json!({"f:spec": {".": {}, "f:size": {}}}),
        "updates drop unreadable managed fields"
    );
}
