//! One clock for the whole world: the Entra emulator's (real time plus an offset that only grows).
//! The API server stamps objects with it, the operator decides with it, and [`Warp`] makes it run
//! faster than real time.
//!
//! Invariant: emulator time never runs backwards; a [`Warp`] only ever moves it forward, and stops
//! when dropped.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use jiff::Timestamp;
use sandbox::{apiserver::ApiServerBuilder, entra::Emulator};
use tokio::task::JoinHandle;

use crate::clock::Clock;

/// The emulator's clock, as the operator's [`Clock`].
#[derive(Clone, Debug)]
pub struct EmulatorClock(pub Emulator);

impl Clock for EmulatorClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

/// `builder` with the emulator's clock: the API server's timestamps and the emulator's agree.
pub fn api_server_on(em: &Emulator, builder: ApiServerBuilder) -> ApiServerBuilder {
    let clock = em.clone();
    builder.clock(move || clock.now())
}

/// Makes emulator time run `factor` times faster than real time until stopped (or dropped): every
/// tick of real time, the clock moves `factor - 1` ticks more, then `on_tick` runs (for example
/// to ask the controller to look at every rotation: its own timers run in real time).
///
/// Under load, ticks come late and time runs slower: never faster than `factor`.
pub struct Warp {
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Warp {
    /// Real time between two moves of the clock.
    pub const TICK: Duration = Duration::from_millis(100);

    /// Starts warping `em`'s clock. Must be called inside a tokio runtime.
    pub fn start(em: Emulator, factor: u32, on_tick: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                tokio::time::sleep(Self::TICK).await;
                em.advance(Self::TICK * factor.saturating_sub(1));
                on_tick();
            }
        });
        Self { stop, task }
    }

    /// Back to real time.
    pub fn stop(self) {
        // Drop does it.
    }
}

impl Drop for Warp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}
