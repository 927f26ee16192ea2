//! The user-facing commands of the `secret-rotator` binary that talk to a cluster as kubectl
//! does: [`rotate`] (request a rotation now) and [`status`] (a table of every rotation), with
//! the kubeconfig handling they share in [`kubeconfig`].
//!
//! Invariant: each command is a pure part (what to write, what to show; time passed in) and a
//! thin async shell around one `kube::Client`; errors are typed and say what to do next; no
//! secret value is ever read (`status` reads only the rotations' status, never a Secret).

pub mod kubeconfig;
pub mod rotate;
pub mod status;

use std::future::Future;

/// Runs a command's future on a fresh current-thread runtime (the CLI commands do one thing at a
/// time), for a synchronous `main`.
pub fn block_on<F: Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}
