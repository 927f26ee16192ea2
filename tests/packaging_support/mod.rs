//! Helpers of the packaging tests (Dockerfile, kustomize base, Helm chart, monitoring): reading
//! manifests, the metrics contract, PromQL, the pinned Helm/validation toolchain, kubectl against
//! the sandbox API server.

#![allow(dead_code)]

pub mod helm;
pub mod kubectl;
pub mod manifests;
pub mod metrics_contract;
pub mod promql;

use std::path::{Path, PathBuf};

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A path below the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    repo().join(relative)
}

/// Reads a file below the repository root, with a message naming it when it is missing.
pub fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}
