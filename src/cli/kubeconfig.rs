//! Connecting to a cluster the way kubectl does: `--kubeconfig` (else the `KUBECONFIG`
//! variable, else `~/.kube/config`, else the in-cluster service account), `--context`, and the
//! context's namespace as the default namespace.

use std::path::PathBuf;

use kube::{
    Client, Config,
    config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError},
};

/// The connection flags shared by the commands.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KubeconfigArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// Why the cluster could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The kubeconfig named with `--kubeconfig` or `--context` could not be used.
    #[error("cannot use the kubeconfig{}: {source}", describe(.path, .context))]
    Kubeconfig {
        /// The file given with `--kubeconfig`, if any.
        path: Option<PathBuf>,
        /// The context given with `--context`, if any.
        context: Option<String>,
        /// kube's error.
        source: KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster service account was found.
    #[error(
        "no cluster configured: no kubeconfig ($KUBECONFIG, ~/.kube/config) and not running in a pod ({source}); pass --kubeconfig"
    )]
    NoConfiguration {
        /// kube's error.
        source: InferConfigError,
    },
    /// The client could not be built from the configuration.
    #[error("cannot build a Kubernetes client: {source}")]
    Client {
        /// kube's error.
        source: kube::Error,
    },
}

fn describe(path: &Option<PathBuf>, context: &Option<String>) -> String {
    let mut out = String::new();
    if let Some(p) = path {
        out += &format!(" {}", p.display());
    }
    if let Some(c) = context {
        out += &format!(" (context {c:?})");
    }
    out
}

/// A client and the namespace commands default to.
pub struct Connection {
    /// The client.
    pub client: Client,
    /// The namespace of the kubeconfig context (`default` when it names none).
    pub default_namespace: String,
    /// The API server's URL.
    pub server: String,
    /// Where the configuration came from, for messages (`kubeconfig /path (context "c")`, or the
    /// in-cluster service account).
    pub source: String,
}

/// Where `connect` finds its configuration, described for messages: what kube's inference tries
/// first ($KUBECONFIG, else ~/.kube/config when it exists, else the in-cluster service account).
fn describe_source(args: &KubeconfigArgs) -> String {
    let from_file = |what: String, kubeconfig: Option<Kubeconfig>| {
        let context = args
            .context
            .clone()
            .or_else(|| kubeconfig.and_then(|k| k.current_context));
        match context {
            Some(c) => format!("{what} (context {c:?})"),
            None => what,
        }
    };
    if let Some(path) = &args.kubeconfig {
        return from_file(
            format!("kubeconfig {}", path.display()),
            Kubeconfig::read_from(path).ok(),
        );
    }
    if let Ok(paths) = std::env::var("KUBECONFIG")
        && !paths.trim().is_empty()
    {
        return from_file(
            format!("kubeconfig {paths} (from $KUBECONFIG)"),
            Kubeconfig::read().ok(),
        );
    }
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"));
    match home {
        Some(path) if path.exists() => from_file(
            format!("kubeconfig {}", path.display()),
            Kubeconfig::read_from(&path).ok(),
        ),
        _ => "the in-cluster service account (no kubeconfig found)".to_owned(),
    }
}

impl KubeconfigArgs {
    /// Loads the configuration and builds a client.
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        // NB: aws-lc-rs is the only crypto provider in the tree; kube needs one installed before
        // it builds a TLS client. Installing twice is harmless.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let kubeconfig_error = |source| ConnectError::Kubeconfig {
            path: self.kubeconfig.clone(),
            context: self.context.clone(),
            source,
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(kubeconfig_error)?
            }
            // A context only makes sense in a kubeconfig: no in-cluster fallback.
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(kubeconfig_error)?,
            None => Config::infer()
                .await
                .map_err(|source| ConnectError::NoConfiguration { source })?,
        };
        let default_namespace = config.default_namespace.clone();
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|source| ConnectError::Client { source })?;
        Ok(Connection {
            client,
            default_namespace,
            server,
            source: describe_source(self),
        })
    }
}
