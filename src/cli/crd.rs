//! `secret-rotator crd`: writes (or prints) the CustomResourceDefinitions.

use std::path::PathBuf;

use anyhow::Context;

/// Arguments of `crd`.
#[derive(clap::Args)]
pub struct CrdArgs {
    /// Directory to write into.
    #[arg(long, default_value = "crds")]
    output_dir: PathBuf,
    /// Print every CRD to standard output (as one multi-document YAML stream) instead.
    #[arg(long)]
    stdout: bool,
}

/// Runs `crd`.
pub fn run(args: CrdArgs) -> anyhow::Result<()> {
    if args.stdout {
        for file in secret_rotator::api::crds_yaml()? {
            print!("---\n{}", file.yaml);
        }
    } else {
        let written = secret_rotator::api::write_crds(&args.output_dir)
            .with_context(|| format!("writing CRDs into {}", args.output_dir.display()))?;
        for path in written {
            eprintln!("wrote {path}");
        }
    }
    Ok(())
}
