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
    use prometheus_client::registry::Registry;

    use super::*;

    /// The `_count` of `histogram`, read through its exposition (the only public reader).
    fn count(histogram: &Histogram) -> u64 {
        let mut registry = Registry::default();
        registry.register("timed", "Timed", histogram.clone());
        let text = crate::metrics::encode(&registry).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("timed_count "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no timed_count in {text}"))
    }

    #[test]
    fn observes_once_when_dropped() {
        let histogram = Histogram::new([1.0]);
        let timer = Timer::start(histogram.clone());
        assert_eq!(count(&histogram), 0);
        drop(timer);
        assert_eq!(count(&histogram), 1);
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
        assert_eq!(count(&histogram), 1);
    }
}
