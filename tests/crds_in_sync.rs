//! `crds/` must be exactly what the Rust types generate, and so must the copies shipped with the
//! kustomize base (`deploy/crds/`) and the Helm chart (`charts/secret-rotator/crds/`).

use std::path::Path;

use secret_rotator::api::{REGENERATE_COMMAND, crds_yaml};

/// Regenerates the shipped copies too.
const SYNC_COMMAND: &str = "cargo run -- crd && cargo run -- crd --output-dir deploy/crds && cargo run -- crd --output-dir charts/secret-rotator/crds";

/// Fails, naming `command`, unless the directory `dir` (relative to the repository root) holds
/// exactly the generated CRD files, byte for byte.
fn check(dir: &str, command: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let files = crds_yaml().expect("CRDs render");
    let stale: Vec<&str> = files
        .iter()
        .filter(|f| std::fs::read_to_string(path.join(&f.file_name)).ok().as_deref() != Some(f.yaml.as_str()))
        .map(|f| f.file_name.as_str())
        .collect();
    let mut expected: Vec<String> = files.iter().map(|f| f.file_name.clone()).collect();
    expected.sort();
    let mut present: Vec<String> = std::fs::read_dir(&path)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    present.sort();
    assert!(
        stale.is_empty() && present == expected,
        "{dir}/ is out of date ({stale:?} differ; {present:?} present, {expected:?} expected): run `{command}` and commit the result"
    );
}

#[test]
fn crds_directory_matches_the_rust_types() {
    check("crds", REGENERATE_COMMAND);
}

#[test]
fn chart_crds_match_the_rust_types() {
    check("charts/secret-rotator/crds", SYNC_COMMAND);
}

#[test]
fn kustomize_crds_match_the_rust_types_and_are_all_listed() {
    check("deploy/crds", SYNC_COMMAND);
    let kustomization =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kustomization.yaml"))
            .unwrap();
    for file in crds_yaml().unwrap() {
        assert!(
            kustomization.contains(&format!("- crds/{}", file.file_name)),
            "deploy/kustomization.yaml does not list crds/{}",
            file.file_name
        );
    }
}

#[test]
fn crds_carry_names_columns_and_list_map_conditions() {
    let files = crds_yaml().unwrap();
    let csrot = &files
        .iter()
        .find(|f| f.file_name == "clientsecretrotations.secret-rotator.dev.yaml")
        .unwrap()
        .yaml;
    for needle in [
        "- csrot",
        "- secret-rotator",
        "name: Next Rotation",
        "jsonPath: .status.current.expiresAt",
        "x-kubernetes-list-type: map",
        "status: {}",
        "scope: Namespaced",
    ] {
        assert!(csrot.contains(needle), "missing {needle:?}");
    }
    let cidp = &files
        .iter()
        .find(|f| f.file_name == "clusteridentityproviders.secret-rotator.dev.yaml")
        .unwrap()
        .yaml;
    assert!(cidp.contains("scope: Cluster") && cidp.contains("- cidp"));
}
