//! Every CEL rule of the operator's CRDs compiles and stays within kube-apiserver's cost budget.
//!
//! kube-apiserver refuses a CRD whose rules could cost too much to evaluate; the sandbox API
//! server compiles the rules but does not estimate their cost, so this check stays here. What the
//! API server accepts and refuses (schema, CEL results, messages) is tested against the sandbox
//! API server itself in `tests/crd_manifests_on_apiserver.rs`.

use serde_json::Value;

/// The `openAPIV3Schema` of the CRD serving `kind`.
fn schema_for(kind: &str) -> Value {
    let crd = secret_rotator::api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap_or_else(|| panic!("{kind} has no schema"));
    serde_json::to_value(schema).unwrap()
}

fn rules(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(rs)) = map.get("x-kubernetes-validations") {
                out.extend(rs.iter().filter_map(|r| r["rule"].as_str().map(str::to_owned)));
            }
            map.values().for_each(|v| rules(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| rules(v, out)),
        _ => {}
    }
}

#[test]
fn every_cel_rule_compiles_within_the_cost_budget() {
    for kind in [
        "ClientSecretRotation",
        "ClusterIdentityProvider",
        "IdentityProvider",
    ] {
        let schema = schema_for(kind);
        let compiled = kube_cel::compile_schema(&schema);
        assert!(
            compiled.compilation_errors().is_empty(),
            "{kind}: {:?}",
            compiled.compilation_errors()
        );
        let mut all = vec![];
        rules(&schema, &mut all);
        assert!(!all.is_empty());
        for rule in all {
            let warnings = kube_cel::estimate_rule_cost(&rule, &compiled);
            assert!(warnings.is_empty(), "{kind}: rule {rule:?}: {warnings:?}");
        }
    }
}
