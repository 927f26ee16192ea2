//! A drop-guard timer: it observes the time between its start and its drop into a histogram, so
//! a step or a reconciliation is timed however it ends (returns, fails with `?`, or is cancelled
//! when the leader loses its lease).
//!
//! Invariant: each timer observes exactly once.

use std::time::Instant;

use prometheus_client::metrics::histogram::Histogram;

/// Observes its lifetime, in seconds, when dropped.
#[derive(Debug)]
#[must_use = "a timer measures until it is dropped; bind it to a variable"]
pub struct Timer {
    histogram: Histogram,
    started: Instant,
}

impl Timer {
    /// Starts timing into `histogram`.
    pub fn start(histogram: Histogram) -> Self {
        Self {
            histogram,
            started: Instant::now(),
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observes_once_when_dropped() {
        let histogram = Histogram::new([1.0]);
        let timer = Timer::start(histogram.clone());
        assert_eq!(histogram.count(), 0);
        drop(timer);
        assert_eq!(histogram.count(), 1);
        assert!(histogram.sum() >= 0.0);
    }

    #[tokio::test]
    async fn a_cancelled_future_is_timed_too() {
        let histogram = Histogram::new([1.0]);
        let h = histogram.clone();
        let task = tokio::spawn(async move {
            let _timer = Timer::start(h);
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        task.abort();
        let _ = task.await;
        assert_eq!(histogram.count(), 1);
    }
}
