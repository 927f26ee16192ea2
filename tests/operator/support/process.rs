//! `secret-rotator run` as a child process, as deployed: its own kubeconfig and identity, probes
//! and metrics on a free loopback port, and a short lease so a follower takes over quickly.
//!
//! Invariant: the process is killed and reaped when its [`OperatorProcess`] is dropped, so a
//! failing test leaves no operator behind.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use super::world::PATIENCE;

/// `--lease-duration-seconds` of every started process.
pub const LEASE_SECONDS: u64 = 4;

/// A running `secret-rotator run`.
pub struct OperatorProcess {
    pub child: Child,
    /// `http://127.0.0.1:<port>`: `/healthz`, `/readyz` and `/metrics`.
    pub base: String,
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OperatorProcess {
    /// Its `/metrics` address.
    pub fn metrics_url(&self) -> String {
        format!("{}/metrics", self.base)
    }

    /// GETs `path`: status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// Polls `path` until it answers `status` with `body`.
    pub async fn wait_for(&self, path: &str, status: u16, body: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = match reqwest::get(format!("{}{path}", self.base)).await {
                Ok(r) => Some((r.status().as_u16(), r.text().await.unwrap_or_default())),
                Err(_) => None,
            };
            if got.as_ref().is_some_and(|(s, b)| *s == status && b == body) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: not {status} {body:?} within {PATIENCE:?}, last: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `run` against `kubeconfig` as `identity` (lease namespace `secret-rotator`), with
/// `extra` arguments after the common ones and its standard error to `stderr`.
pub fn start(kubeconfig: &Path, identity: &str, extra: &[&str], stderr: Stdio) -> OperatorProcess {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_secret-rotator"))
        .args([
            "run",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--identity",
            identity,
            "--operator-namespace",
            "secret-rotator",
            "--health-address",
            &format!("127.0.0.1:{port}"),
            "--lease-duration-seconds",
            &LEASE_SECONDS.to_string(),
            "--lease-renew-grace-seconds",
            "1",
        ])
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    OperatorProcess {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}
