//! Fault injection: rules, switchable at run time, that make matching requests fail, slow down or
//! lose their connection, and the pure decision of which rules fire for a request.
//!
//! Invariant: a rule with a count fires at most that many times; a rule with a rate fires with that
//! probability, drawn from the emulator's seeded generator, so a seed reproduces a run.
//! Admin routes (`/_emulator/...`) are never subject to faults.

use std::time::Duration;

use rand::Rng;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// One fault rule. Over HTTP: `{"method":"POST","path":"/addPassword$","action":{"type":"status",
/// "status":503,"retryAfter":2},"times":1}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    /// HTTP method to match (case-insensitive); `None` matches all.
    #[serde(default)]
    pub method: Option<String>,
    /// Regular expression searched in the request path (no query), e.g. `addPassword$` or
    /// `^/[^/]+/oauth2/v2.0/token$`. Empty matches all.
    #[serde(default)]
    pub path: String,
    /// What happens to a matching request.
    pub action: FaultAction,
    /// How many times the rule fires; `None` means without limit.
    #[serde(default)]
    pub times: Option<u32>,
    /// Probability (0..=1) that a matching request triggers the rule; `None` means always.
    #[serde(default)]
    pub rate: Option<f64>,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum FaultAction {
    /// Answer with this status (429, 500, 503, 504, …) in the endpoint's error format, with an
    /// optional `Retry-After` in seconds.
    #[serde(rename_all = "camelCase")]
    Status {
        /// HTTP status code.
        status: u16,
        /// `Retry-After` seconds.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Delay the request, then serve it normally.
    #[serde(rename_all = "camelCase")]
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Close the connection without answering.
    Drop,
    /// Serve the request (its effects happen: a credential is added, or removed), then close the
    /// connection without answering: a response lost on the way back, after which the client
    /// cannot know the write happened.
    LoseResponse,
}

impl FaultRule {
    /// A rule that answers every matching request with `status`.
    pub fn status(method: Option<&str>, path: &str, status: u16) -> Self {
        Self {
            method: method.map(str::to_owned),
            path: path.to_owned(),
            action: FaultAction::Status {
                status,
                retry_after: None,
            },
            times: None,
            rate: None,
        }
    }

    /// Fire at most `n` times.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Fire with probability `rate`.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = Some(rate);
        self
    }
}

/// A rule that cannot be installed.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The path is not a valid regular expression.
    #[error("invalid path pattern: {0}")]
    Pattern(#[from] regex::Error),
    /// The status is not an HTTP error status.
    #[error("fault status {0} is not an HTTP error status (400-599)")]
    Status(u16),
    /// The rate is outside 0..=1.
    #[error("fault rate {0} is outside 0..=1")]
    Rate(f64),
}

#[derive(Debug)]
struct Installed {
    id: u64,
    rule: FaultRule,
    path: Regex,
}

/// How a fired status or drop rule answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answer with this status and optional `Retry-After`.
    Status { status: u16, retry_after: Option<u64> },
    /// Close the connection.
    Drop,
    /// Serve, then close the connection without answering.
    LoseResponse,
}

/// The faults that fire for one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Triggered {
    /// Total delay of the latency rules that fired.
    pub(crate) latency: Duration,
    /// The first status or drop rule that fired, with its rule id.
    pub(crate) outcome: Option<(u64, Outcome)>,
}

/// The installed rules, in installation order.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    next_id: u64,
    rules: Vec<Installed>,
}

impl FaultTable {
    /// Installs a rule; returns its id.
    pub(crate) fn install(&mut self, rule: FaultRule) -> Result<u64, FaultError> {
        if let FaultAction::Status { status, .. } = rule.action
            && !(400..=599).contains(&status)
        {
            return Err(FaultError::Status(status));
        }
        if let Some(rate) = rule.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(FaultError::Rate(rate));
        }
        let path = Regex::new(&rule.path)?;
        self.next_id += 1;
        self.rules.push(Installed {
            id: self.next_id,
            rule,
            path,
        });
        Ok(self.next_id)
    }

    /// Removes one rule; returns whether it existed.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// Removes every rule.
    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The installed rules with their ids and remaining counts.
    pub(crate) fn list(&self) -> Vec<(u64, FaultRule)> {
        self.rules.iter().map(|r| (r.id, r.rule.clone())).collect()
    }

    /// Decides which rules fire for a request, consuming their counts.
    pub(crate) fn evaluate(&mut self, method: &str, path: &str, rng: &mut impl Rng) -> Triggered {
        let mut triggered = Triggered::default();
        for r in &mut self.rules {
            if r.rule.times == Some(0)
                || r.rule
                    .method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(method))
                || !r.path.is_match(path)
            {
                continue;
            }
            let terminal = !matches!(r.rule.action, FaultAction::Latency { .. });
            if terminal && triggered.outcome.is_some() {
                continue;
            }
            if let Some(rate) = r.rule.rate
                && !rng.random_bool(rate)
            {
                continue;
            }
            if let Some(n) = r.rule.times.as_mut() {
                *n -= 1;
            }
            match r.rule.action {
                FaultAction::Latency { millis } => triggered.latency += Duration::from_millis(millis),
                FaultAction::Status { status, retry_after } => {
                    triggered.outcome = Some((r.id, Outcome::Status { status, retry_after }));
                }
                FaultAction::Drop => triggered.outcome = Some((r.id, Outcome::Drop)),
                FaultAction::LoseResponse => triggered.outcome = Some((r.id, Outcome::LoseResponse)),
            }
        }
        self.rules.retain(|r| r.rule.times != Some(0));
        triggered
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn counted_rule_fires_n_times_on_matching_requests_only() {
        let mut t = FaultTable::default();
        let mut rng = StdRng::seed_from_u64(1);
        t.install(FaultRule::status(Some("post"), "addPassword$", 503).times(2))
            .unwrap();
        assert_eq!(
            t.evaluate("GET", "/v1.0/applications/x/addPassword", &mut rng)
                .outcome,
            None
        );
        assert_eq!(
            t.evaluate("POST", "/v1.0/applications/x/removePassword", &mut rng)
                .outcome,
            None
        );
        for _ in 0..2 {
            let fired = t.evaluate("POST", "/v1.0/applications/x/addPassword", &mut rng);
            assert!(matches!(
                fired.outcome,
                Some((_, Outcome::Status { status: 503, .. }))
            ));
        }
        assert_eq!(
            t.evaluate("POST", "/v1.0/applications/x/addPassword", &mut rng)
                .outcome,
            None
        );
        assert!(t.list().is_empty());
    }

    #[test]
    fn latency_adds_up_and_first_terminal_rule_wins() {
        let mut t = FaultTable::default();
        let mut rng = StdRng::seed_from_u64(1);
        let lat = |ms| FaultRule {
            action: FaultAction::Latency { millis: ms },
            ..FaultRule::status(None, "", 500)
        };
        t.install(lat(10)).unwrap();
        let drop = t
            .install(FaultRule {
                action: FaultAction::Drop,
                ..FaultRule::status(None, "token", 500)
            })
            .unwrap();
        t.install(FaultRule::status(None, "", 504)).unwrap();
        t.install(lat(5)).unwrap();
        let fired = t.evaluate("POST", "/t/oauth2/v2.0/token", &mut rng);
        assert_eq!(fired.latency, Duration::from_millis(15));
        assert_eq!(fired.outcome, Some((drop, Outcome::Drop)));
    }

    #[test]
    fn rate_is_reproducible_with_a_seed() {
        let run = || {
            let mut t = FaultTable::default();
            let mut rng = StdRng::seed_from_u64(42);
            t.install(FaultRule::status(None, "", 500).rate(0.5)).unwrap();
            (0..200)
                .map(|_| t.evaluate("GET", "/", &mut rng).outcome.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|h| **h).count();
        assert!((60..140).contains(&hits), "{hits}");
    }

    #[test]
    fn bad_rules_are_refused() {
        let mut t = FaultTable::default();
        assert!(matches!(
            t.install(FaultRule::status(None, "(", 500)),
            Err(FaultError::Pattern(_))
        ));
        assert!(matches!(
            t.install(FaultRule::status(None, "", 200)),
            Err(FaultError::Status(200))
        ));
        assert!(matches!(
            t.install(FaultRule::status(None, "", 500).rate(2.0)),
            Err(FaultError::Rate(_))
        ));
    }
}
