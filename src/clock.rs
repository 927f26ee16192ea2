//! Where the operator gets the time from. Decision code never calls this: it takes `now` as an
//! argument; only the I/O shells hold a [`Clock`], so tests can run months of rotation in
//! milliseconds with a clock they move by hand.

use std::fmt::Debug;

use jiff::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
