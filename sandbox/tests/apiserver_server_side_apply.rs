//! Server-side apply, managed fields and custom-resource validation as real kube clients see
//! them: the operator's way of writing its status (conditions as a list-map keyed by `type`, one
//! condition per manager, `force`) and its Secrets, conflicts and forced applies, fields a manager
//! stops applying, no-op applies, CRD schema 422s (CEL transition rules included) and pruning
//! warnings.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ObjectMeta, Patch, PatchParams, PostParams,
};
use kube::{Client, ResourceExt};
use sandbox::apiserver::ApiServer;
use serde_json::{Value, json};
use tower::ServiceExt;

const LONG: Duration = Duration::from_secs(60);

fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "rotations.ssa.example.com"},
        "spec": {
            "group": "ssa.example.com",
            "scope": "Namespaced",
            "names": {"plural": "rotations", "singular": "rotation", "kind": "Rotation"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "x-kubernetes-validations": [
                                {"rule": "self.size <= 5 || self.color == 'red'", "message": "sizes above 5 must be red"}
                            ],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                "color": {"type": "string", "enum": ["red", "blue"], "default": "blue"},
                                "region": {
                                    "type": "string",
                                    "x-kubernetes-validations": [
                                        {"rule": "self == oldSelf", "message": "region is immutable"}
                                    ]
                                },
                                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
                            }
                        },
                        "status": {
                            "type": "object",
                            "properties": {
                                "observedGeneration": {"type": "integer"},
                                "conditions": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "map",
                                    "x-kubernetes-list-map-keys": ["type"],
                                    "items": {
                                        "type": "object",
                                        "required": ["type", "status"],
                                        "properties": {
                                            "type": {"type": "string"},
                                            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                                            "reason": {"type": "string"},
                                            "message": {"type": "string"}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }}
            }]
        }
    }))
    .unwrap()
}

async fn install_crd(client: &Client) -> Api<DynamicObject> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &crd()).await.unwrap();
    let gvk = GroupVersionKind::gvk("ssa.example.com", "v1", "Rotation");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "rotations");
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn rotation(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "ssa.example.com/v1", "kind": "Rotation", "metadata": {"name": name}, "spec": spec})
}

fn status_patch(name: &str, conditions: Value) -> Value {
    json!({"apiVersion": "ssa.example.com/v1", "kind": "Rotation", "metadata": {"name": name},
        "status": {"conditions": conditions}})
}

/// The managed fields entry of `manager`, as JSON.
fn entry<'a>(object: &'a Value, manager: &str) -> Option<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager)
}

fn api_status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected a Status, got {other:?}"),
    }
}

#[tokio::test]
async fn status_conditions_are_a_list_map_shared_by_managers() {
    let server = ApiServer::new();
    let client = server.client();
    let api = install_crd(&client).await;
    api.patch(
        "r1",
        &PatchParams::apply("gitops"),
        &Patch::Apply(rotation("r1", json!({"size": 2}))),
    )
    .await
    .unwrap();

    // The operator writes its status the way it does in production: forced apply to /status.
    let operator = PatchParams::apply("secret-rotator").force();
    let written = api
        .patch_status(
            "r1",
            &operator,
            &Patch::Apply(status_patch(
                "r1",
                json!([{"type": "Ready", "status": "False", "reason": "Rotating"}]),
            )),
        )
        .await
        .unwrap();
    assert_eq!(
        written.metadata.generation,
        Some(1),
        "status writes do not bump generation"
    );
    // Another controller owns another condition of the same list.
    api.patch_status(
        "r1",
        &PatchParams::apply("health-checker"),
        &Patch::Apply(status_patch(
            "r1",
            json!([{"type": "Degraded", "status": "False", "reason": "Fine"}]),
        )),
    )
    .await
    .unwrap();
    let after = api
        .patch_status(
            "r1",
            &operator,
            &Patch::Apply(status_patch(
                "r1",
                json!([{"type": "Ready", "status": "True", "reason": "Rotated"}]),
            )),
        )
        .await
        .unwrap();
    let after = serde_json::to_value(&after).unwrap();
    assert_eq!(
        after["status"]["conditions"],
        json!([
            {"type": "Ready", "status": "True", "reason": "Rotated"},
            {"type": "Degraded", "status": "False", "reason": "Fine"}
        ])
    );
    assert_eq!(
        after["spec"],
        json!({"size": 2, "color": "blue"}),
        "spec untouched, defaulted"
    );
    let op = entry(&after, "secret-rotator").expect("operator entry");
    assert_eq!(op["operation"], "Apply");
    assert_eq!(op["subresource"], "status");
    assert_eq!(
        op["fieldsV1"],
        json!({"f:status": {"f:conditions": {"k:{\"type\":\"Ready\"}": {
            ".": {}, "f:reason": {}, "f:status": {}, "f:type": {}}}}})
    );
    let other = entry(&after, "health-checker").expect("health-checker entry");
    assert!(
        other["fieldsV1"]
            .to_string()
            .contains(r#"k:{\"type\":\"Degraded\"}"#)
    );
    assert_eq!(entry(&after, "gitops").unwrap()["subresource"], Value::Null);

    // A manager that stops applying its condition removes it; the other manager's stays.
    let after = api
        .patch_status(
            "r1",
            &operator,
            &Patch::Apply(status_patch(
                "r1",
                json!([{"type": "Progressing", "status": "True"}]),
            )),
        )
        .await
        .unwrap();
    let types: Vec<Value> = serde_json::to_value(&after).unwrap()["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].clone())
        .collect();
    assert_eq!(types, vec![json!("Degraded"), json!("Progressing")]);

    // The status subresource cannot change the spec, and the main resource cannot change status.
    let ignored = api
        .patch_status(
            "r1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&ignored).unwrap()["spec"]["size"], 2);
}

/// A Secret as the operator applies it: `data`, not `stringData` (which kube-apiserver folds into
/// `data`, so ownership of `stringData` keys never matches what is stored).
fn secret(data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some("creds".into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

#[tokio::test]
async fn conflicting_applies_are_refused_unless_forced() {
    let server = ApiServer::new();
    let secrets: Api<Secret> = Api::default_namespaced(server.client());
    let created = secrets
        .patch(
            "creds",
            &PatchParams::apply("secret-rotator"),
            &Patch::Apply(secret(&[("client-secret", "one")])),
        )
        .await
        .unwrap();
    assert_eq!(created.data.unwrap()["client-secret"].0, b"one");
    assert_eq!(created.type_.as_deref(), Some("Opaque"));

    let conflict = api_status(
        secrets
            .patch(
                "creds",
                &PatchParams::apply("intruder"),
                &Patch::Apply(secret(&[("client-secret", "two")])),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    assert_eq!(conflict.reason, "Conflict");
    assert_eq!(
        conflict.message,
        "Apply failed with 1 conflict: conflict with \"secret-rotator\": .data.client-secret"
    );
    assert_eq!(conflict.details.unwrap().causes[0].field, ".data.client-secret");
    // Applying the same value is no conflict: both managers then share the field.
    secrets
        .patch(
            "creds",
            &PatchParams::apply("intruder"),
            &Patch::Apply(secret(&[("client-secret", "one")])),
        )
        .await
        .unwrap();
    // Changing it by force takes it from every other owner.
    let forced = secrets
        .patch(
            "creds",
            &PatchParams::apply("secret-rotator").force(),
            &Patch::Apply(secret(&[("client-secret", "three")])),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["client-secret"].0, b"three");
    let managers: Vec<String> = forced
        .managed_fields()
        .iter()
        .filter_map(|e| e.manager.clone())
        .collect();
    assert_eq!(
        managers,
        vec!["secret-rotator"],
        "forcing took the field from intruder"
    );
    // Two conflicting fields: one message listing both, grouped by manager.
    let labelled = |manager: &str, value: &str| {
        let mut s = secret(&[("client-secret", value)]);
        s.metadata.labels = Some(BTreeMap::from([("managed-by".to_string(), manager.to_string())]));
        s
    };
    secrets
        .patch(
            "creds",
            &PatchParams::apply("secret-rotator").force(),
            &Patch::Apply(labelled("secret-rotator", "three")),
        )
        .await
        .unwrap();
    let two = api_status(
        secrets
            .patch(
                "creds",
                &PatchParams::apply("intruder"),
                &Patch::Apply(labelled("intruder", "four")),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(two.code, 409);
    assert!(
        two.message
            == "Apply failed with 2 conflicts: conflicts with \"secret-rotator\":\n- .data.client-secret\n- .metadata.labels.managed-by",
        "{}",
        two.message
    );
}

#[tokio::test]
async fn fields_a_manager_stops_applying_are_removed_unless_shared() {
    let server = ApiServer::new();
    let client = server.client();
    let api = install_crd(&client).await;
    let pp = PatchParams::apply("alpha");
    api.patch(
        "r1",
        &pp,
        &Patch::Apply(rotation(
            "r1",
            json!({"size": 2, "region": "eu", "tags": ["a", "b"]}),
        )),
    )
    .await
    .unwrap();
    // beta applies `tags: [b]` too: `b` is shared, `a` is alpha's alone.
    api.patch(
        "r1",
        &PatchParams::apply("beta"),
        &Patch::Apply(rotation("r1", json!({"size": 2, "tags": ["b"]}))),
    )
    .await
    .unwrap();
    let after = api
        .patch(
            "r1",
            &pp,
            &Patch::Apply(rotation("r1", json!({"size": 2, "region": "eu"}))),
        )
        .await
        .unwrap();
    let after = serde_json::to_value(&after).unwrap();
    assert_eq!(after["spec"]["tags"], json!(["b"]), "a removed, b kept for beta");
    assert_eq!(after["spec"]["region"], "eu");
    assert_eq!(after["metadata"]["generation"], 2);
    // alpha stops applying region (it alone owns it): region goes.
    let after = api
        .patch("r1", &pp, &Patch::Apply(rotation("r1", json!({"size": 2}))))
        .await
        .unwrap();
    let after = serde_json::to_value(&after).unwrap();
    assert!(after["spec"].get("region").is_none(), "{after}");
    // size is shared by alpha and beta: removing it from alpha's configuration keeps it.
    let after = api
        .patch("r1", &pp, &Patch::Apply(rotation("r1", json!({"color": "blue"}))))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&after).unwrap()["spec"]["size"], 2);
}

#[tokio::test]
async fn reapplying_the_same_configuration_changes_nothing() {
    let server = ApiServer::new();
    let client = server.client();
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let pp = PatchParams::apply("secret-rotator").force();
    let first = secrets
        .patch("creds", &pp, &Patch::Apply(secret(&[("k", "v")])))
        .await
        .unwrap();
    let mut changes = server.subscribe();
    let second = secrets
        .patch("creds", &pp, &Patch::Apply(secret(&[("k", "v")])))
        .await
        .unwrap();
    assert_eq!(first.resource_version(), second.resource_version());
    assert_eq!(first.managed_fields(), second.managed_fields(), "time kept too");

    let api = install_crd(&client).await;
    let r = api
        .patch("r1", &pp, &Patch::Apply(rotation("r1", json!({"size": 3}))))
        .await
        .unwrap();
    let again = api
        .patch("r1", &pp, &Patch::Apply(rotation("r1", json!({"size": 3}))))
        .await
        .unwrap();
    assert_eq!(r.resource_version(), again.resource_version());

    // The no-op applies produced no change: the next change anybody sees is the CRD's creation.
    let next = tokio::time::timeout(LONG, changes.recv()).await.unwrap().unwrap();
    assert_eq!(next.key.plural, "customresourcedefinitions");
    let configmaps: Api<ConfigMap> = Api::default_namespaced(client);
    configmaps
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "marker"}})).unwrap(),
        )
        .await
        .unwrap();
    loop {
        let change = tokio::time::timeout(LONG, changes.recv()).await.unwrap().unwrap();
        assert_ne!(change.name, "creds", "a no-op apply wrote the Secret");
        if change.name == "marker" {
            break;
        }
    }
}

#[tokio::test]
async fn apply_creates_absent_objects_and_honours_preconditions() {
    let server = ApiServer::new();
    let secrets: Api<Secret> = Api::default_namespaced(server.client());
    let mut stale = secret(&[("k", "v")]);
    stale.metadata.resource_version = Some("1".into());
    let refused = api_status(
        secrets
            .patch("creds", &PatchParams::apply("m"), &Patch::Apply(&stale))
            .await
            .unwrap_err(),
    );
    assert_eq!(refused.code, 409);

    let created = secrets
        .patch(
            "creds",
            &PatchParams::apply("m"),
            &Patch::Apply(secret(&[("k", "v")])),
        )
        .await
        .unwrap();
    let mut precondition = secret(&[("k", "w")]);
    precondition.metadata.resource_version = created.metadata.resource_version.clone();
    secrets
        .patch("creds", &PatchParams::apply("m"), &Patch::Apply(&precondition))
        .await
        .unwrap();
    // The version the precondition named is gone now.
    let refused = api_status(
        secrets
            .patch("creds", &PatchParams::apply("m"), &Patch::Apply(&precondition))
            .await
            .unwrap_err(),
    );
    assert_eq!(refused.code, 409);
    assert!(
        refused.message.contains("the object has been modified"),
        "{}",
        refused.message
    );

    let missing_manager = api_status(
        secrets
            .patch(
                "creds",
                &PatchParams::default(),
                &Patch::Apply(secret(&[("k", "v")])),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(missing_manager.code, 422);
    assert!(missing_manager.message.contains("fieldManager: Required value"));

    // Status cannot be created through the subresource.
    let client = server.client();
    let api = install_crd(&client).await;
    let absent = api_status(
        api.patch_status(
            "nope",
            &PatchParams::apply("m"),
            &Patch::Apply(status_patch("nope", json!([]))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(absent.code, 404);
}

#[tokio::test]
async fn custom_resources_get_kube_apiserver_validation_messages() {
    let server = ApiServer::new();
    let client = server.client();
    let api = install_crd(&client).await;
    let create = |spec: Value| {
        let api = api.clone();
        async move {
            let obj: DynamicObject = serde_json::from_value(rotation("bad", spec)).unwrap();
            api_status(api.create(&PostParams::default(), &obj).await.unwrap_err())
        }
    };
    let s = create(json!({"size": 0, "color": "green"})).await;
    assert_eq!(s.code, 422);
    assert_eq!(
        s.message,
        "Rotation.ssa.example.com \"bad\" is invalid: [spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\", spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1, <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation]"
    );
    let s = create(json!({"color": "red"})).await;
    assert!(s.message.contains("spec.size: Required value"), "{}", s.message);
    let s = create(json!({"size": 7})).await;
    assert_eq!(
        s.message,
        "Rotation.ssa.example.com \"bad\" is invalid: spec: Invalid value: sizes above 5 must be red"
    );

    // Transition rules see the stored object as oldSelf on update.
    api.create(
        &PostParams::default(),
        &serde_json::from_value(rotation("r1", json!({"size": 1, "region": "eu"}))).unwrap(),
    )
    .await
    .unwrap();
    let s = api_status(
        api.patch(
            "r1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"region": "us"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        s.message,
        "Rotation.ssa.example.com \"r1\" is invalid: spec.region: Invalid value: region is immutable"
    );
    // Strategic merge patch is for built-in kinds only.
    let s = api_status(
        api.patch(
            "r1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 2}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 415);
    // A server-side apply is validated too.
    let s = api_status(
        api.patch(
            "r1",
            &PatchParams::apply("m").force(),
            &Patch::Apply(rotation("r1", json!({"size": 11}))),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert!(
        s.message
            .contains("spec.size in body should be less than or equal to 10"),
        "{}",
        s.message
    );
}

/// A raw request through the router, returning status, `Warning` headers and body.
async fn raw(
    server: &ApiServer,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Value,
) -> (u16, Vec<String>, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .header(
            "authorization",
            format!("Bearer {}", sandbox::apiserver::ADMIN_TOKEN),
        )
        .header("user-agent", "rotation-cli/1.2 (linux)")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = server.router().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, warnings, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn unknown_fields_are_pruned_with_warnings_or_refused_when_strict() {
    let server = ApiServer::new();
    install_crd(&server.client()).await;
    let collection = "/apis/ssa.example.com/v1/namespaces/default/rotations";
    let body = |name: &str| rotation(name, json!({"size": 1, "extra": "x", "color": "red"}));
    let (code, warnings, created) = raw(&server, "POST", collection, "application/json", body("w1")).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(warnings, vec![r#"299 - "unknown field \"spec.extra\"""#]);
    assert_eq!(created["spec"], json!({"size": 1, "color": "red"}));
    // Without fieldManager, the manager comes from the User-Agent.
    assert_eq!(created["metadata"]["managedFields"][0]["manager"], "rotation-cli");

    let (code, warnings, _) = raw(
        &server,
        "POST",
        &format!("{collection}?fieldValidation=Ignore"),
        "application/json",
        body("w2"),
    )
    .await;
    assert_eq!((code, warnings.len()), (201, 0));

    let (code, _, status) = raw(
        &server,
        "POST",
        &format!("{collection}?fieldValidation=Strict"),
        "application/json",
        body("w3"),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        "Rotation in version \"v1\" cannot be handled as a Rotation: strict decoding error: unknown field \"spec.extra\""
    );

    // Server-side apply prunes the same way.
    let (code, warnings, applied) = raw(
        &server,
        "PATCH",
        &format!("{collection}/w4?fieldManager=m"),
        "application/apply-patch+yaml",
        body("w4"),
    )
    .await;
    assert_eq!(code, 201, "{applied}");
    assert_eq!(warnings, vec![r#"299 - "unknown field \"spec.extra\"""#]);
    assert_eq!(
        applied["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {"f:color": {}, "f:size": {}}}),
        "the applier owns what it applied, not the pruned field"
    );
}

fn compiled_schema(server: &ApiServer) -> sandbox::apiserver::fields_bridge::CompiledSchema {
    let rt = server.resource("ssa.example.com", "v1", "rotations").unwrap();
    match &rt.origin {
        sandbox::apiserver::resources::Origin::Custom { compiled, .. } => compiled.clone(),
        other => panic!("not a custom resource: {other:?}"),
    }
}

#[tokio::test]
async fn crd_schemas_are_compiled_once_per_spec() {
    let server = ApiServer::new();
    let client = server.client();
    let api = install_crd(&client).await;
    let first = compiled_schema(&server);
    for i in 0..3 {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(rotation(&format!("r{i}"), json!({"size": 1}))).unwrap(),
        )
        .await
        .unwrap();
    }
    // A metadata-only change to the CRD keeps the compiled schema.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "rotations.ssa.example.com",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"team": "a"}}})),
    )
    .await
    .unwrap();
    assert!(
        compiled_schema(&server) == first,
        "recompiled without a spec change"
    );
    // A spec change compiles the new schema, which then applies.
    crds.patch(
        "rotations.ssa.example.com",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([{"op": "replace",
                "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/size/maximum",
                "value": 3}]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert!(compiled_schema(&server) != first);
    let obj: DynamicObject = serde_json::from_value(rotation("big", json!({"size": 4}))).unwrap();
    let s = api_status(api.create(&PostParams::default(), &obj).await.unwrap_err());
    assert!(
        s.message.contains("should be less than or equal to 3"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn non_structural_crds_are_refused() {
    let server = ApiServer::new();
    let crds: Api<CustomResourceDefinition> = Api::all(server.client());
    let mut crd = serde_json::to_value(crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"] =
        json!({"minimum": 1});
    let s = api_status(
        crds.create(&PostParams::default(), &serde_json::from_value(crd).unwrap())
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    assert!(
        s.message.starts_with("CustomResourceDefinition.apiextensions.k8s.io \"rotations.ssa.example.com\" is invalid: ")
            && s.message.contains(
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size].type: Required value: must not be empty for specified object fields"
            ),
        "{}",
        s.message
    );
    assert!(server.resource("ssa.example.com", "v1", "rotations").is_none());
}
