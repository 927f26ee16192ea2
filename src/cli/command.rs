//! The command line of the `secret-rotator` binary, as clap types: `main` parses it, and the
//! README test (`tests/readme_examples.rs`) checks every documented invocation against it.
//!
//! Invariant: this is the only definition of the command line; `main` only dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `secret-rotator`.
#[derive(Debug, Parser)]
#[command(
    name = "secret-rotator",
    version,
    about = "Rotates OAuth client secrets before they expire"
)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator.
    Run(Box<super::run::RunArgs>),
    /// See the operator rotate a client secret a few times, with zero downtime, on a sandbox
    /// cluster and Entra emulator started in this process (no cluster or tenant needed).
    Demo(super::demo::DemoArgs),
    /// Start a local Kubernetes API server and Microsoft Entra emulator (for trying the operator
    /// without a cluster or a tenant), and keep them up until interrupted.
    Sandbox(super::sandbox::SandboxArgs),
    /// Write the CustomResourceDefinitions, one file per CRD (`<plural>.<group>.yaml`).
    Crd {
        /// Directory to write into.
        #[arg(long, default_value = "crds")]
        output_dir: PathBuf,
        /// Print every CRD to standard output (as one multi-document YAML stream) instead.
        #[arg(long)]
        stdout: bool,
    },
    /// Request a rotation now (sets the rotation's request annotation, like `cmctl renew`).
    Rotate(super::rotate::RotateArgs),
    /// Show every rotation: Ready, current key, expiry, next rotation, last error.
    Status(super::status::StatusArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
