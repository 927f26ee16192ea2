//! The `secret-rotator` binary. For now only `crd`; the operator itself and the rest of the CLI
//! come later.

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
