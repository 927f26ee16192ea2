//! The `secret-rotator` binary: parses the command line and hands over to
//! [`secret_rotator::cli`].

use std::path::PathBuf;

use anyhow::Context;
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
    Run(Box<secret_rotator::cli::run::RunArgs>),
    /// Start a local Kubernetes API server and Microsoft Entra emulator (for trying the operator
    /// without a cluster or a tenant), and keep them up until interrupted.
    Sandbox(secret_rotator::cli::sandbox::SandboxArgs),
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
    Rotate(secret_rotator::cli::rotate::RotateArgs),
    /// Show every rotation: Ready, current key, expiry, next rotation, last error.
    Status(secret_rotator::cli::status::StatusArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            secret_rotator::cli::runtime()?.block_on(secret_rotator::cli::run::run(*args))?;
        }
        Command::Sandbox(args) => {
            secret_rotator::cli::runtime()?.block_on(secret_rotator::cli::sandbox::run(args))?;
        }
        Command::Crd { output_dir, stdout } => {
            if stdout {
                for file in secret_rotator::api::crds_yaml()? {
                    print!("---\n{}", file.yaml);
                }
            } else {
                let written = secret_rotator::api::write_crds(&output_dir)
                    .with_context(|| format!("writing CRDs into {}", output_dir.display()))?;
                for path in written {
                    eprintln!("wrote {path}");
                }
            }
        }
        Command::Rotate(args) => {
            let requested = secret_rotator::cli::block_on(secret_rotator::cli::rotate::run(&args))??;
            println!("{requested}");
        }
        Command::Status(args) => {
            let table = secret_rotator::cli::block_on(secret_rotator::cli::status::run(&args))??;
            print!("{table}");
        }
    }
    Ok(())
}
