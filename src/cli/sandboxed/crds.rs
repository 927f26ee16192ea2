//! Installing the operator's CustomResourceDefinitions from the binary's own generator
//! ([`crate::api::crds`]), not from files on disk, and waiting until they are served.
//!
//! Invariant: returns only once every CRD is `Established`, so the caller can create custom
//! resources at once.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::PostParams,
    runtime::wait::{await_condition, conditions},
};

/// Why the CRDs could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum CrdInstallError {
    /// The API server refused a CRD.
    #[error("creating CRD {name}: {source}")]
    Create {
        /// The CRD.
        name: String,
        /// Why.
        source: kube::Error,
    },
    /// A CRD was not established in time.
    #[error("CRD {name} was not established within {patience:?}")]
    NotEstablished {
        /// The CRD.
        name: String,
        /// How long we waited.
        patience: Duration,
    },
    /// Watching a CRD failed.
    #[error("waiting for CRD {name}: {source}")]
    Wait {
        /// The CRD.
        name: String,
        /// Why.
        source: kube::runtime::wait::Error,
    },
}

/// Creates the operator's CRDs and waits (up to `patience` each) until they are established;
/// returns their names.
pub async fn install_crds(client: &Client, patience: Duration) -> Result<Vec<String>, CrdInstallError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = vec![];
    for crd in crate::api::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.create(&PostParams::default(), &crd)
            .await
            .map_err(|source| CrdInstallError::Create {
                name: name.clone(),
                source,
            })?;
        match tokio::time::timeout(
            patience,
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        {
            Err(_) => return Err(CrdInstallError::NotEstablished { name, patience }),
            Ok(Err(source)) => return Err(CrdInstallError::Wait { name, source }),
            Ok(Ok(_)) => names.push(name),
        }
    }
    Ok(names)
}
