//! The commands of the `secret-rotator` binary, parsed by [`command`]: [`run`] (the operator
//! process), [`demo`] (the operator at work on an in-process sandbox), [`sandbox`] (a local API
//! server and Entra emulator, wired by [`sandboxed`]), and the user-facing commands that talk to a cluster as
//! kubectl does: [`rotate`] (request a rotation now) and [`status`] (a table of every rotation),
//! with the kubeconfig handling they share in [`kubeconfig`]. The process concerns of `run` live
//! in [`logging`], [`signals`], [`health`], [`http_server`], [`label_selector`] and [`leader`].
//!
//! Invariant: each command is a pure part (what to write, what to show; time passed in) and a
//! thin async shell around one `kube::Client`; errors are typed and say what to do next; no
//! secret value is ever read (`status` reads only the rotations' status, never a Secret).

pub mod command;
pub mod demo;
pub mod health;
pub mod http_server;
pub mod kubeconfig;
pub mod label_selector;
pub mod leader;
pub mod logging;
pub mod rotate;
pub mod run;
pub mod sandbox;
pub mod sandboxed;
pub mod signals;
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

/// A multi-threaded runtime for the long-running commands (`run`, `sandbox`), with the rustls
/// crypto provider installed first.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // NB: first thing, before any TLS client or kube::Client exists.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}
