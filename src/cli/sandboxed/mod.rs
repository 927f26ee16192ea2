//! The operator's stand-in world, wired together in-process: the sandbox Kubernetes API server and
//! the Microsoft Entra emulator on one clock ([`clock`]), the operator's CRDs installed from the
//! binary's own generator ([`crds`]), and an Entra tenant seeded with the operator's identity and
//! the applications it may rotate ([`tenant`]), and its kubeconfig written for the owner only
//! ([`kubeconfig_file`]). `secret-rotator sandbox`, `secret-rotator demo`
//! and the operator's integration tests start their world through here, so all three wire it the
//! same way.
//!
//! Invariant: only the commands that *host* the stand-ins use this module; the operator itself
//! (controller, provider) never does: it sees a `kube::Client` and HTTP endpoints, as in
//! production.

pub mod clock;
pub mod crds;
pub mod kubeconfig_file;
pub mod tenant;

pub use clock::{EmulatorClock, Warp, api_server_on};
pub use crds::{CrdInstallError, install_crds};
pub use tenant::{OWNED_BY, OperatorIdentity, add_owned_application, seed_operator};
