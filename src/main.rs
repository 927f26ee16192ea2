//! The `secret-rotator` binary: `run` (the operator), `crd`, and `sandbox` (a local API server and
//! Entra emulator). Everything lives in [`cli`]; this file only hands over.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::main()
}
