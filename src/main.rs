//! The `secret-rotator` binary: parses the command line ([`secret_rotator::cli::command`]) and
//! hands over to [`secret_rotator::cli`].

use anyhow::Context;
use clap::Parser;
use secret_rotator::cli::{
    self,
    command::{Cli, Command},
    demo::Finished,
};

/// Exit status of a command interrupted with Ctrl-C (128 + SIGINT), as shells report it.
const INTERRUPTED: i32 = 130;

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            cli::runtime()?.block_on(cli::run::run(*args))?;
        }
        Command::Demo(args) => {
            if cli::runtime()?.block_on(cli::demo::run(args))? == Finished::Interrupted {
                std::process::exit(INTERRUPTED);
            }
        }
        Command::Sandbox(args) => {
            cli::runtime()?.block_on(cli::sandbox::run(args))?;
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
            let requested = cli::block_on(cli::rotate::run(&args))??;
            println!("{requested}");
        }
        Command::Status(args) => {
            let table = cli::block_on(cli::status::run(&args))??;
            print!("{table}");
        }
    }
    Ok(())
}
