//! The kubectl the packaging tests drive: 1.33 (the CI machine's version matching the operator's
//! minimum), run through the sandbox's kubectl driver.

use std::path::{Path, PathBuf};

pub use sandbox::kubectl::Kubectl;

/// The binary the packaging tests run; panics, naming it, when it is not installed.
pub fn binary() -> PathBuf {
    sandbox::kubectl::binary("kubectl.1.33")
}

/// A kubectl 1.33 for the kubeconfig text `kubeconfig`, keeping its files under `dir`.
pub fn for_kubeconfig(kubeconfig: &str, dir: &Path) -> Kubectl {
    Kubectl::new(binary(), kubeconfig, dir)
}
