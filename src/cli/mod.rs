//! The command line: parsing, and one module per command ([`run`], [`sandbox`], [`crd`]) plus the
//! process concerns they share ([`logging`], [`signals`], [`health`], [`leader`]).
//!
//! Invariant: `anyhow` stays in here (the binary); the library below speaks typed errors.

mod crd;
mod health;
mod leader;
mod logging;
mod run;
mod sandbox;
mod signals;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "secret-rotator",
    version,
    about = "Rotates OAuth client secrets before they expire"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator.
    Run(Box<run::RunArgs>),
    /// Write the CustomResourceDefinitions, one file per CRD (`<plural>.<group>.yaml`).
    Crd(crd::CrdArgs),
    /// Start a local Kubernetes API server and Microsoft Entra emulator (for trying the operator
    /// without a cluster or a tenant), and keep them up until interrupted.
    Sandbox(sandbox::SandboxArgs),
}

/// Parses the command line and runs the command.
pub fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd(args) => crd::run(args),
        Command::Run(args) => runtime()?.block_on(run::run(*args)),
        Command::Sandbox(args) => runtime()?.block_on(sandbox::run(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // NB: first thing, before any TLS client or kube::Client exists.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
