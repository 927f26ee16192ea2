//! Minimal OpenAPI v3 documents: the `/openapi/v3` index and one document per group-version with,
//! for each kind, its object path and a `patch` operation carrying `x-kubernetes-group-version-kind`
//! and the `fieldValidation` parameter. That is what `kubectl apply` (≥ 1.29) reads to decide that
//! the server validates fields itself (it then sends `fieldValidation=Strict`). CRDs contribute
//! their structural schemas as components.
//!
//! NB: the patch operations deliberately do not list `application/strategic-merge-patch+json`:
//! kubectl would then compute strategic merge patches from these schemas (which carry no merge
//! keys); without it kubectl uses its compiled-in types for built-ins and JSON merge patch for CRs.

use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::resources::{Origin, Registry, ResourceType};
use super::{GIT_VERSION, Shared};

/// Answers an OpenAPI path, or `None`.
pub fn handle(shared: &Shared, path: &str) -> Option<Value> {
    let reg = shared.registry();
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        ["openapi", "v3"] => Some(index(&reg)),
        ["openapi", "v3", "api", "v1"] => Some(document(&reg, "", "v1")),
        ["openapi", "v3", "apis", g, v] => reg
            .versions_of(g)
            .iter()
            .any(|x| x == v)
            .then(|| document(&reg, g, v)),
        _ => None,
    }
}

fn index(reg: &Registry) -> Value {
    let mut paths = Map::new();
    let mut gvs = vec![(String::new(), "v1".to_string())];
    for g in reg.groups() {
        for v in reg.versions_of(&g) {
            gvs.push((g.clone(), v));
        }
    }
    for (g, v) in gvs {
        let doc = document(reg, &g, &v);
        let hash = Sha256::digest(doc.to_string().as_bytes());
        let hash = base64::engine::general_purpose::STANDARD
            .encode(&hash[..16])
            .replace(['+', '/', '='], "");
        let key = if g.is_empty() {
            "api/v1".to_string()
        } else {
            format!("apis/{g}/{v}")
        };
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn schema_name(t: &ResourceType) -> String {
    let reversed: Vec<&str> = if t.group.is_empty() {
        vec!["core"]
    } else {
        t.group.split('.').rev().collect()
    };
    match t.origin {
        Origin::Custom { .. } => format!("{}.{}.{}", reversed.join("."), t.version, t.kind),
        Origin::BuiltIn => format!(
            "io.k8s.api.{}.{}.{}",
            t.group
                .split('.')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or("core"),
            t.version,
            t.kind
        ),
    }
}

fn document(reg: &Registry, g: &str, v: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let prefix = if g.is_empty() {
        format!("/api/{v}")
    } else {
        format!("/apis/{g}/{v}")
    };
    for t in reg.all().filter(|t| t.group == g && t.version == v) {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let object_path = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let query = |name: &str, ty: &str| json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}});
        // Only CRDs carry component schemas; built-ins answer without one rather than a dangling $ref.
        let ok = match &t.origin {
            Origin::Custom { schema: Some(_), .. } => {
                let response_ref = json!({"$ref": format!("#/components/schemas/{}", schema_name(t))});
                json!({"200": {"description": "OK", "content": {"application/json": {"schema": response_ref}}}})
            }
            _ => json!({"200": {"description": "OK"}}),
        };
        let mut path_params = vec![
            json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}),
        ];
        if t.namespaced {
            path_params.push(json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}}));
        }
        let op = |action: &str, params: Vec<Value>| {
            json!({"operationId": format!("{action}{}", t.kind), "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": ok})
        };
        let mut patch = op(
            "patch",
            vec![
                query("dryRun", "string"),
                query("fieldManager", "string"),
                query("fieldValidation", "string"),
                query("force", "boolean"),
            ],
        );
        patch["requestBody"] = json!({"content": {
            "application/apply-patch+yaml": {"schema": {"type": "object"}},
            "application/json-patch+json": {"schema": {"type": "object"}},
            "application/merge-patch+json": {"schema": {"type": "object"}},
        }});
        paths.insert(
            object_path,
            json!({
                "parameters": path_params,
                "get": op("read", vec![]),
                "put": op("replace", vec![query("dryRun", "string"), query("fieldManager", "string"), query("fieldValidation", "string")]),
                "patch": patch,
                "delete": op("delete", vec![query("dryRun", "string"), query("propagationPolicy", "string")]),
            }),
        );
        if let Origin::Custom { schema: Some(s), .. } = &t.origin {
            let mut s = s.clone();
            if let Some(m) = s.as_object_mut() {
                m.insert("x-kubernetes-group-version-kind".into(), json!([gvk]));
            }
            schemas.insert(schema_name(t), s);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}
