//! The emulator's clock: real time plus an offset that tests move forward with
//! [`Emulator::advance`](super::Emulator::advance). Token lifetimes, credential expiry,
//! propagation, read lag and throttling buckets all read this clock, never the wall clock.
//!
//! Invariant: the offset only grows, so emulator time never runs backwards.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// Real time plus a test-controlled offset. Cheap to clone; clones share the offset.
#[derive(Clone, Debug, Default)]
pub(crate) struct EmulatorClock {
    offset: Arc<Mutex<Duration>>,
}

impl EmulatorClock {
    /// The emulator's current time.
    pub(crate) fn now(&self) -> Timestamp {
        let offset = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        let offset = SignedDuration::try_from(offset).unwrap_or(SignedDuration::MAX);
        Timestamp::now().checked_add(offset).unwrap_or(Timestamp::MAX)
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset = offset.saturating_add(by);
    }

    /// How far the clock is ahead of real time.
    pub(crate) fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `t + d`, saturating at the end of time.
pub(crate) fn plus(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Truncates to the 100 ns precision Graph stores (its examples show 7 fractional digits).
pub(crate) fn graph_precision(t: Timestamp) -> Timestamp {
    let nanos = t.as_nanosecond();
    Timestamp::from_nanosecond(nanos - nanos.rem_euclid(100)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now_forward_by_the_offset() {
        let clock = EmulatorClock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        let after = clock.now();
        assert!(after.duration_since(before) >= SignedDuration::from_secs(3600));
        assert_eq!(clock.offset(), Duration::from_secs(3600));
    }

    #[test]
    fn graph_precision_keeps_seven_fraction_digits() {
        let t: Timestamp = "2026-10-01T08:00:00.123456789Z".parse().unwrap();
        assert_eq!(graph_precision(t).to_string(), "2026-10-01T08:00:00.1234567Z");
    }
}
