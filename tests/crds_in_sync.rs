//! `crds/` must be exactly what the Rust types generate.

use std::path::Path;

use secret_rotator::api::{REGENERATE_COMMAND, crds_yaml};

#[test]
fn crds_directory_matches_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let files = crds_yaml().expect("CRDs render");
    let mut stale = vec![];
    for file in &files {
        let on_disk = std::fs::read_to_string(dir.join(&file.file_name)).unwrap_or_default();
        if on_disk != file.yaml {
            stale.push(file.file_name.clone());
        }
    }
    let mut expected: Vec<_> = files.iter().map(|f| f.file_name.clone()).collect();
    expected.sort();
    let mut present: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    present.sort();
    assert!(
        stale.is_empty() && present == expected,
        "crds/ is out of date ({stale:?} differ; {present:?} present, {expected:?} expected): run `{REGENERATE_COMMAND}` and commit the result"
    );
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
