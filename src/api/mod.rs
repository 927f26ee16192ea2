//! The operator's Kubernetes API (group `secret-rotator.dev`, version `v1alpha1`): the Rust types
//! of its three custom resources, from which the CRDs in `crds/` are generated.
//!
//! * [`ClientSecretRotation`] (namespaced, `csrot`): one application's client secret, the Secret
//!   it is written to, the workloads to roll, and the rotation's durable state in `status`.
//! * [`ClusterIdentityProvider`] (`cidp`) and [`IdentityProvider`] (namespaced, `idp`): the Entra
//!   tenant and how the operator signs in there, like cert-manager's ClusterIssuer and Issuer.
//!
//! Invariant: `crds/*.yaml` is exactly [`crds_yaml`]; `tests/crds_in_sync.rs` fails otherwise and
//! names the command that regenerates them (`cargo run -- crd`).

pub mod client_secret_rotation;
pub mod duration;
pub mod provider;
pub mod schema;
pub mod wellknown;

use std::{io, path::Path};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use client_secret_rotation::*;
pub use duration::GoDuration;
pub use provider::*;

/// The command that regenerates `crds/`.
pub const REGENERATE_COMMAND: &str = "cargo run -- crd";

/// The operator's CustomResourceDefinitions.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ClientSecretRotation::crd(),
        ClusterIdentityProvider::crd(),
        IdentityProvider::crd(),
    ]
}

/// One rendered CRD file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdFile {
    /// File name: `<plural>.<group>.yaml`.
    pub file_name: String,
    /// The YAML document, with a header saying it is generated.
    pub yaml: String,
}

/// Why the CRDs could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// YAML serialization failed.
    #[error("cannot render CRD {name} as YAML: {source}")]
    Render {
        /// The CRD's name.
        name: String,
        /// The serializer's error.
        source: serde_saphyr::SerializeError,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// The CRDs as YAML files, one per CRD, in a stable order.
pub fn crds_yaml() -> Result<Vec<CrdFile>, CrdError> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let body = serde_saphyr::to_string(&crd)
                .map_err(|source| CrdError::Render { name: name.clone(), source })?;
            Ok(CrdFile {
                file_name: format!("{name}.yaml"),
                yaml: format!("# Generated from the Rust types in src/api by `{REGENERATE_COMMAND}`. Do not edit.\n{body}"),
            })
        })
        .collect()
}

/// Writes [`crds_yaml`] into `dir` (created if missing) and returns the paths written.
pub fn write_crds(dir: &Path) -> Result<Vec<String>, CrdError> {
    let files = crds_yaml()?;
    std::fs::create_dir_all(dir).map_err(|source| CrdError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    for file in files {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, &file.yaml).map_err(|source| CrdError::Write {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path.display().to_string());
    }
    Ok(written)
}
