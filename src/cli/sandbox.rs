//! `secret-rotator sandbox`: the sandbox API server and Entra emulator on loopback, for trying the
//! operator without a cluster or a tenant. Installs nothing unless asked (`--install-crds`),
//! writes a kubeconfig, prints where everything is and how to seed the emulator, and stays up until
//! interrupted. The two share one clock: `POST /_emulator/clock/advance` moves both.

use std::{io::Write, net::IpAddr, path::PathBuf, time::Duration};

use sandbox::{
    apiserver::{ADMIN_TOKEN, ApiServer},
    entra::Emulator,
};

use super::{
    sandboxed::{self, CrdInstallError},
    signals,
};

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A listener or the kubeconfig file.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Installing the CRDs.
    #[error("installing the CRDs: {0}")]
    InstallCrds(#[source] CrdInstallError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let what = what.into();
    move |source| SandboxError::Io { what, source }
}

/// Arguments of `sandbox`.
#[derive(clap::Args, Debug)]
pub struct SandboxArgs {
    /// Address to listen on (loopback by default: the sandbox has no authentication to speak of).
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port of the Kubernetes API server (0: any free port).
    #[arg(long, default_value_t = 0)]
    apiserver_port: u16,
    /// Port of the Entra emulator (0: any free port).
    #[arg(long, default_value_t = 0)]
    entra_port: u16,
    /// Where to write the kubeconfig (default: `sandbox.kubeconfig` in a fresh temporary
    /// directory).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Install the operator's CustomResourceDefinitions.
    #[arg(long)]
    install_crds: bool,
}

/// Runs `sandbox`.
pub async fn run(args: SandboxArgs) -> Result<(), SandboxError> {
    let emulator = Emulator::new();
    let api = sandboxed::api_server_on(&emulator, ApiServer::builder()).build();
    // NB: HTTPS: kubectl sends a kubeconfig's token only to TLS servers.
    let api_handle = api
        .serve_tls((args.address, args.apiserver_port))
        .await
        .map_err(io("starting the API server"))?;
    let entra_handle = emulator
        .serve((args.address, args.entra_port).into())
        .await
        .map_err(io("starting the Entra emulator"))?;
    let kubeconfig = match args.kubeconfig {
        Some(path) => path,
        None => {
            let dir = std::env::temp_dir().join(format!("secret-rotator-sandbox-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
            dir.join("sandbox.kubeconfig")
        }
    };
    sandboxed::kubeconfig_file::write_private(&kubeconfig, &api_handle.kubeconfig(ADMIN_TOKEN))
        .map_err(io(format!("writing {}", kubeconfig.display())))?;
    if args.install_crds {
        sandboxed::install_crds(&api.client(), Duration::from_secs(60))
            .await
            .map_err(SandboxError::InstallCrds)?;
    }
    let entra = entra_handle.url().to_owned();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "secret-rotator sandbox is up (Ctrl-C to stop).\n\
         kubeconfig: {kubeconfig}\n\
         apiserver: {apiserver}\n\
         entra: {entra}\n\
         \n\
         Use it:        export KUBECONFIG={kubeconfig}\n\
         {crds}\
         Seed Entra (admin API under {entra}/_emulator, JSON in and out):\n\
         \x20 curl -s -X POST {entra}/_emulator/tenants -H 'content-type: application/json' -d '{{\"domains\":[\"contoso.onmicrosoft.com\"]}}'\n\
         \x20 curl -s -X POST {entra}/_emulator/tenants/<tenant>/applications -H 'content-type: application/json' -d '{{\"displayName\":\"secret-rotator\"}}'\n\
         \x20 curl -s -X POST {entra}/_emulator/objects/<operator service principal>/appRoles -H 'content-type: application/json' -d '{{\"roles\":[\"Application.ReadWrite.OwnedBy\"]}}'\n\
         \x20 curl -s -X POST {entra}/_emulator/objects/<operator appId>/passwords -H 'content-type: application/json' -d '{{}}'\n\
         \x20 curl -s -X POST {entra}/_emulator/objects/<target object id>/owners -H 'content-type: application/json' -d '{{\"ownerId\":\"<operator service principal>\"}}'\n\
         Then point an IdentityProvider at it: spec.endpoints {{authority: {entra}, graph: {entra}}}.\n\
         Move time:     curl -s -X POST {entra}/_emulator/clock/advance -H 'content-type: application/json' -d '{{\"seconds\":3600}}'",
        kubeconfig = kubeconfig.display(),
        apiserver = api_handle.url(),
        crds = if args.install_crds {
            String::new()
        } else {
            "Install CRDs:  secret-rotator crd --stdout | kubectl apply -f -   (or kubectl apply -f crds/)\n"
                .to_owned()
        },
    )
    .and_then(|()| out.flush())
    .map_err(io("writing to standard output"))?;
    drop(out);
    signals::shutdown().await;
    api_handle.shutdown().await;
    entra_handle.shutdown().await;
    Ok(())
}
