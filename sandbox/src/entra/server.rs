//! Serving the emulator on a TCP address (loopback in tests) with hyper, so that an injected
//! "drop" fault can close a connection without answering, which an in-process router cannot.
//!
//! Invariant: [`ServerHandle::shutdown`] (or dropping the handle) stops accepting and closes every
//! open connection; the listener is bound before `serve` returns, so the URL works at once.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use super::Emulator;
use super::layer::DropConnection;

/// A running emulator server.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the authority host and the Graph root for clients.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The error that makes hyper close a connection without a response.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for ConnectionDropped {}

impl Emulator {
    /// Serves the emulator on `addr` (e.g. `127.0.0.1:0` for a free port) until the returned
    /// handle is shut down or dropped.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<ServerHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = self.router();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else {
                            // NB: e.g. out of file descriptors; back off instead of spinning.
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        };
                        let router = router.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                                let router = router.clone();
                                async move {
                                    let response = match router.oneshot(req.map(axum::body::Body::new)).await {
                                        Ok(r) => r,
                                        Err(never) => match never {},
                                    };
                                    if response.extensions().get::<DropConnection>().is_some() {
                                        Err(ConnectionDropped)
                                    } else {
                                        Ok::<_, ConnectionDropped>(response)
                                    }
                                }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            connections.abort_all();
        });
        Ok(ServerHandle {
            addr,
            url: format!("http://{addr}"),
            stop: Some(stop),
            task: Some(task),
        })
    }
}
