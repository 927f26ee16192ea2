//! HTTPS serving: a per-server certificate authority and serving certificate (for `127.0.0.1`,
//! `localhost` and the in-cluster names), and the TLS accept loop behind
//! [`ApiServer::serve_tls`].
//!
//! Why: client-go's kubeconfig loader (so kubectl) only sends a kubeconfig user's credentials to
//! TLS servers; over [`ApiServer::serve`]'s plain HTTP kubectl is always `system:anonymous`. With
//! TLS, kubectl (and a `kube::Client` built from a kubeconfig) authenticate with their token, as
//! against a real cluster.
//!
//! Invariant: the certificate is generated once per server (on first use) and survives
//! stop/restart, so a kubeconfig written before a restart stays valid; a listener stops accepting
//! on shutdown and then lets each connection finish its in-flight request.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::{ApiServer, ServingHandle, watch};

/// The serving identity: a CA and the certificate it signed, with the certificate's key.
pub(crate) struct ServingCert {
    /// PEM of the CA certificate (what kubeconfigs trust).
    pub(crate) ca_pem: String,
    ca_der: Vec<u8>,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl ServingCert {
    pub(crate) fn generate() -> Result<Self, String> {
        let err = |e: rcgen::Error| format!("cannot create the serving certificate: {e}");
        let ca_key = rcgen::KeyPair::generate().map_err(err)?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sandbox-apiserver-ca");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).map_err(err)?;
        let key = rcgen::KeyPair::generate().map_err(err)?;
        let names = [
            "127.0.0.1",
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ];
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map_err(err)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        Ok(ServingCert {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }

    fn server_config(&self) -> Result<rustls::ServerConfig, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(
                vec![
                    CertificateDer::from(self.cert_der.clone()),
                    CertificateDer::from(self.ca_der.clone()),
                ],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ApiServer {
    fn serving_cert(&self) -> io::Result<&ServingCert> {
        self.shared
            .serving_cert
            .get_or_init(ServingCert::generate)
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))
    }

    /// PEM of the certificate authority that signed the HTTPS serving certificate (what a
    /// kubeconfig's `certificate-authority-data` holds).
    pub fn ca_pem(&self) -> io::Result<String> {
        Ok(self.serving_cert()?.ca_pem.clone())
    }

    /// Serves HTTPS on `addr` until the handle is shut down; [`ServingHandle::url`] is then
    /// `https://127.0.0.1:PORT` and [`ServingHandle::kubeconfig`] trusts the server's CA.
    pub async fn serve_tls(&self, addr: impl ToSocketAddrs) -> io::Result<ServingHandle> {
        let cert = self.serving_cert()?;
        let acceptor =
            tokio_rustls::TlsAcceptor::from(Arc::new(cert.server_config().map_err(io::Error::other)?));
        let ca_pem = cert.ca_pem.clone();
        let listener = TcpListener::bind(addr).await?;
        let local_addr: SocketAddr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let router = self
            .router()
            .layer(axum::Extension(watch::ServeShutdown(stop_rx.clone())));
        let mut stop = stop_rx.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let stopping = async {
                    let _ = stop.wait_for(|s| *s).await;
                };
                let accepted = tokio::select! {
                    _ = stopping => break,
                    a = listener.accept() => a,
                };
                let Ok((tcp, _)) = accepted else {
                    // Transient accept errors (e.g. too many open files): back off briefly.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, router, mut stop) = (acceptor.clone(), router.clone(), stop_rx.clone());
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                            router.clone().oneshot(req.map(axum::body::Body::new))
                        });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service);
                    tokio::pin!(conn);
                    let stopping = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopping => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            while connections.join_next().await.is_some() {}
        });
        Ok(ServingHandle {
            local_addr,
            stop: stop_tx,
            task: Some(task),
            ca_pem: Some(ca_pem),
        })
    }
}

impl ServingHandle {
    /// A kubeconfig for this listener with a bearer token; for HTTPS it trusts the server's CA.
    /// NB: over plain HTTP kubectl ignores the token (see [`ApiServer::allow_anonymous_admin`]).
    pub fn kubeconfig(&self, token: &str) -> String {
        let base = ApiServer::kubeconfig(&self.url(), token);
        match &self.ca_pem {
            Some(pem) => {
                let data = base64::engine::general_purpose::STANDARD.encode(pem);
                base.replacen(
                    "    server: ",
                    &format!("    certificate-authority-data: {data}\n    server: "),
                    1,
                )
            }
            None => base,
        }
    }

    /// A `kube::Config` for this listener presenting `token` (trusting the CA for HTTPS).
    pub fn kube_config(&self, token: &str) -> kube::Config {
        let mut config = kube::Config::new(self.url().parse().expect("a listener URL is a valid URI"));
        config.auth_info.token = Some(token.to_string().into());
        if let Some(pem) = &self.ca_pem {
            config.root_cert = rustls_pem_certs(pem);
        }
        config
    }
}

fn rustls_pem_certs(pem: &str) -> Option<Vec<Vec<u8>>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .map(|der| vec![der])
}
