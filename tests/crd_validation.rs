//! Every manifest in `tests/data/invalid-manifests/` is refused with the message its
//! `# expect:` header names; every manifest in `tests/data/valid-manifests/` is accepted and
//! deserializes into the Rust types; every CEL rule of the CRDs compiles and stays within the
//! cost budget.
//!
//! The data files are the contract a later `kubectl apply` test against the sandbox API server
//! replays: a file's `# expect:` lines are substrings of the error `kubectl` must print.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::crd_validation::{schema_for, validate};

fn manifests(dir: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.clone(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

fn parse(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("manifest parses as YAML")
}

#[test]
fn invalid_manifests_are_refused_with_their_message() {
    let files = manifests("invalid-manifests");
    assert!(files.len() >= 30, "only {} invalid manifests", files.len());
    for (path, text) in files {
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(!expected.is_empty(), "{} has no `# expect:` line", path.display());
        let errors = validate(&parse(&text));
        for want in expected {
            assert!(
                errors.iter().any(|e| e.contains(want)),
                "{}: no error contains {want:?}; errors: {errors:#?}",
                path.display()
            );
        }
    }
}

#[test]
fn valid_manifests_are_accepted_and_fit_the_rust_types() {
    let files = manifests("valid-manifests");
    assert!(files.len() >= 4);
    for (path, text) in files {
        let value = parse(&text);
        let errors = validate(&value);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        let kind = value["kind"].as_str().unwrap();
        let ok = match kind {
            "ClientSecretRotation" => {
                serde_json::from_value::<secret_rotator::api::ClientSecretRotation>(value).map(|_| ())
            }
            "ClusterIdentityProvider" => {
                serde_json::from_value::<secret_rotator::api::ClusterIdentityProvider>(value).map(|_| ())
            }
            "IdentityProvider" => {
                serde_json::from_value::<secret_rotator::api::IdentityProvider>(value).map(|_| ())
            }
            other => panic!("unexpected kind {other}"),
        };
        ok.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
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
