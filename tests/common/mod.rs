//! Helpers shared by the Entra provider's integration tests: a clock whose sleeper moves it (so
//! minutes of back-off run instantly), and tiny HTTP servers for behaviours the emulator does not
//! produce.

#![allow(dead_code)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use secret_rotator::{clock::Clock, provider::sleeper::Sleeper};

type SleepHook = Box<dyn Fn(Duration) + Send + Sync>;

/// Real time plus an offset that grows only when the sleeper "sleeps" (instantly) or the test moves
/// it; every sleep is recorded. It works like the emulator's clock, so the two stay in step when
/// each sleep is also applied to the emulator (see [`TestTime::on_sleep`]).
pub struct TestTime {
    offset: Mutex<Duration>,
    slept: Mutex<Vec<Duration>>,
    on_sleep: Mutex<Option<SleepHook>>,
}

impl std::fmt::Debug for TestTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTime")
            .field("offset", &self.offset)
            .field("slept", &self.slept)
            .finish_non_exhaustive()
    }
}

impl TestTime {
    pub fn new() -> Arc<Self> {
        Self::with_offset(Duration::ZERO)
    }

    pub fn with_offset(offset: Duration) -> Arc<Self> {
        Arc::new(Self {
            offset: Mutex::new(offset),
            slept: Mutex::default(),
            on_sleep: Mutex::default(),
        })
    }

    /// Moves this clock only (not through the sleep hook).
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }

    /// Calls `hook` with each sleep, e.g. to move the emulator's clock in step.
    pub fn on_sleep(&self, hook: impl Fn(Duration) + Send + Sync + 'static) {
        *self.on_sleep.lock().unwrap() = Some(Box::new(hook));
    }
}

impl Clock for TestTime {
    fn now(&self) -> Timestamp {
        Timestamp::now() + *self.offset.lock().unwrap()
    }
}

#[async_trait::async_trait]
impl Sleeper for TestTime {
    async fn sleep(&self, duration: Duration) {
        self.slept.lock().unwrap().push(duration);
        self.advance(duration);
        if let Some(hook) = self.on_sleep.lock().unwrap().as_ref() {
            hook(duration);
        }
    }
}

/// Serves `router` on a loopback port; returns `http://127.0.0.1:port`.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}
