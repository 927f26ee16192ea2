//! `secret_rotator_graph_requests_total{operation, outcome}` and
//! `secret_rotator_graph_throttled_total`: the provider's [`RequestObserver`], fed by the Entra
//! client for every HTTP request it sends (each retry counts).
//!
//! Invariant: labels are the provider's fixed operation names and the five outcomes; nothing
//! about the request itself (URL, application, body) reaches a metric.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use crate::provider::observer::{RequestObserver, RequestOutcome};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    outcome: &'static str,
}

/// The request counters.
#[derive(Debug)]
pub struct GraphRequests {
    requests: Family<RequestLabels, Counter>,
    throttled: Counter,
}

impl GraphRequests {
    /// Registers the counters in `registry` (already prefixed).
    pub fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "graph_requests",
            "Microsoft Graph and token-endpoint requests, by operation and outcome",
            requests.clone(),
        );
        let throttled = Counter::default();
        registry.register(
            "graph_throttled",
            "Graph or token-endpoint answers 429 Too Many Requests",
            throttled.clone(),
        );
        Self { requests, throttled }
    }
}

impl RequestObserver for GraphRequests {
    fn observe(&self, operation: &'static str, outcome: RequestOutcome) {
        self.requests
            .get_or_create(&RequestLabels {
                operation,
                outcome: outcome.as_str(),
            })
            .inc();
        if outcome == RequestOutcome::Throttled {
            self.throttled.inc();
        }
    }
}
