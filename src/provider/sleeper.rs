//! How provider I/O shells wait: retry back-off and the spacing of verification probes go through a
//! [`Sleeper`], so tests can run minutes of back-off instantly (a sleeper that records the request and
//! moves a hand-driven [`crate::clock::Clock`]) while production sleeps on the tokio timer.
//!
//! NB: tokio's paused time is not a substitute here: the provider talks real HTTP, and auto-advancing
//! paused time fires request timeouts while a socket is merely waiting for a server.

use std::{fmt::Debug, time::Duration};

/// Something that can wait for a duration.
#[async_trait::async_trait]
pub trait Sleeper: Send + Sync + Debug {
    /// Returns once `duration` has passed (in this sleeper's notion of time).
    async fn sleep(&self, duration: Duration);
}

/// Sleeps on the tokio timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

#[async_trait::async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
