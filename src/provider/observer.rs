//! The request observer seam: how a provider reports each HTTP request it makes (every attempt,
//! retries included) without knowing who listens. The operator counts them in its metrics
//! (`secret_rotator_graph_requests_total`); a provider built without an observer reports to
//! [`Unobserved`].
//!
//! Invariants: what an observer receives is bounded and never secret: a fixed operation name
//! chosen by the provider (`addPassword`, `token`, ...) and one of five [`RequestOutcome`]s. No URL,
//! no body, no header, no identifier of the application.

use std::fmt;

/// How one HTTP request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// A 2xx answer.
    Success,
    /// A `429 Too Many Requests` answer.
    Throttled,
    /// Any other 4xx answer (a refusal, including the expected refusals of a secret that has not
    /// propagated yet).
    ClientError,
    /// A 5xx answer, or an answer that is neither 2xx nor 4xx.
    ServerError,
    /// No answer: connection refused or reset, TLS failure, timeout, or a body that broke off.
    NetworkError,
}

impl RequestOutcome {
    /// The outcome of an answer with HTTP status `status`.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=299 => RequestOutcome::Success,
            429 => RequestOutcome::Throttled,
            400..=499 => RequestOutcome::ClientError,
            _ => RequestOutcome::ServerError,
        }
    }

    /// The stable camelCase form (a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::Throttled => "throttled",
            RequestOutcome::ClientError => "clientError",
            RequestOutcome::ServerError => "serverError",
            RequestOutcome::NetworkError => "networkError",
        }
    }

    /// Every outcome.
    pub const ALL: [RequestOutcome; 5] = [
        RequestOutcome::Success,
        RequestOutcome::Throttled,
        RequestOutcome::ClientError,
        RequestOutcome::ServerError,
        RequestOutcome::NetworkError,
    ];
}

impl fmt::Display for RequestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Told about every HTTP request a provider makes.
pub trait RequestObserver: Send + Sync {
    /// One request of `operation` (a fixed, provider-chosen name) ended with `outcome`.
    fn observe(&self, operation: &'static str, outcome: RequestOutcome);
}

/// The observer that listens to nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unobserved;

impl RequestObserver for Unobserved {
    fn observe(&self, _operation: &'static str, _outcome: RequestOutcome) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_onto_five_outcomes() {
        let cases = [
            (200, "success"),
            (204, "success"),
            (429, "throttled"),
            (400, "clientError"),
            (401, "clientError"),
            (404, "clientError"),
            (500, "serverError"),
            (503, "serverError"),
            (302, "serverError"),
        ];
        for (status, want) in cases {
            assert_eq!(RequestOutcome::of_status(status).as_str(), want, "{status}");
        }
    }
}
