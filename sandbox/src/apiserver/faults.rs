//! Fault injection: rules, switchable at run time, that make matching requests fail with a chosen
//! status or slow down, matched on the request's Kubernetes attributes (verb, group, resource,
//! subresource, namespace, name, user) rather than on raw paths.
//!
//! Failures are `Status` bodies shaped as kube-apiserver would send them for that code (409 names
//! the object, 429/503 carry `details.retryAfterSeconds` and the `Retry-After` header). NB: the
//! real API Priority and Fairness filter answers 429 with a plain-text body; the sandbox sends a
//! `Status` for every code so one client path handles them all.
//!
//! Invariant: a rule with a count fires at most that many times; a rule with a rate fires with that
//! probability, drawn from one generator seeded by [`ApiServerBuilder::fault_seed`] (or
//! [`ApiServer::seed_faults`]), so a seed and a request sequence reproduce a run. Faults apply to
//! authenticated (or anonymous) requests after authentication and before authorization; the
//! `/_sandbox` admin paths are never subject to them.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::request::RequestAttributes;
use super::status::{ApiError, Details};
use super::{ApiServer, ApiServerBuilder};

/// One fault rule. Over HTTP (`POST /_sandbox/faults`):
/// `{"verb":"update","resource":"secrets","action":{"type":"fail","code":409},"times":1}`.
///
/// Every matcher is a glob (`*` matches any run of characters, e.g. `system:serviceaccount:*`);
/// an absent matcher matches everything. `resource` matches the plural resource; `subresource`
/// matches "" for requests on the object itself.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FaultRule {
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; lowercase HTTP method for non-resource paths).
    pub verb: Option<String>,
    /// API group ("" for core).
    pub group: Option<String>,
    /// Resource (plural).
    pub resource: Option<String>,
    /// Subresource (`status`, `scale`, "").
    pub subresource: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// User name.
    pub user: Option<String>,
    /// What happens to a matching request.
    pub action: FaultAction,
    /// How many times the rule fires; `None` means without limit.
    pub times: Option<u32>,
    /// Probability (0..=1) that a matching request triggers the rule; `None` means always.
    pub rate: Option<f64>,
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum FaultAction {
    /// Answer with a failure `Status` of this code instead of serving the request.
    #[serde(rename_all = "camelCase")]
    Fail {
        /// HTTP status code (400-599).
        code: u16,
        /// `reason`; default: kube-apiserver's for the code (`Conflict`, `TooManyRequests`, ...).
        #[serde(default)]
        reason: Option<String>,
        /// `message`; default: kube-apiserver's wording for the code.
        #[serde(default)]
        message: Option<String>,
        /// `details.retryAfterSeconds` and the `Retry-After` header.
        #[serde(default)]
        retry_after_seconds: Option<u64>,
    },
    /// Delay the request, then serve it normally.
    #[serde(rename_all = "camelCase")]
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
}

impl Default for FaultAction {
    fn default() -> Self {
        FaultAction::Fail {
            code: 500,
            reason: None,
            message: None,
            retry_after_seconds: None,
        }
    }
}

impl FaultRule {
    /// A rule failing matching requests with `code` (kube-apiserver's reason and message).
    pub fn fail(code: u16) -> Self {
        FaultRule {
            action: FaultAction::Fail {
                code,
                reason: None,
                message: None,
                retry_after_seconds: None,
            },
            ..Default::default()
        }
    }

    /// A rule delaying matching requests.
    pub fn latency(delay: Duration) -> Self {
        FaultRule {
            action: FaultAction::Latency {
                millis: delay.as_millis() as u64,
            },
            ..Default::default()
        }
    }

    /// Only this verb.
    pub fn verb(mut self, verb: &str) -> Self {
        self.verb = Some(verb.into());
        self
    }

    /// Only this API group.
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Only this resource (plural; a glob).
    pub fn resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Only this subresource ("" for the object itself).
    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = Some(subresource.into());
        self
    }

    /// Only this namespace.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Only this object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only this user (a glob).
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.into());
        self
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

    /// For a failing rule: the `reason`.
    pub fn with_reason(mut self, r: &str) -> Self {
        if let FaultAction::Fail { reason, .. } = &mut self.action {
            *reason = Some(r.into());
        }
        self
    }

    /// For a failing rule: the `message`.
    pub fn with_message(mut self, m: &str) -> Self {
        if let FaultAction::Fail { message, .. } = &mut self.action {
            *message = Some(m.into());
        }
        self
    }

    /// For a failing rule: `Retry-After` seconds.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let FaultAction::Fail {
            retry_after_seconds, ..
        } = &mut self.action
        {
            *retry_after_seconds = Some(seconds);
        }
        self
    }

    fn matches(&self, a: &RequestAttributes) -> bool {
        let m = |pattern: &Option<String>, value: &str| pattern.as_deref().is_none_or(|p| glob(p, value));
        m(&self.verb, &a.verb)
            && m(&self.group, &a.api_group)
            && m(&self.resource, &a.resource)
            && m(&self.subresource, &a.subresource)
            && m(&self.namespace, &a.namespace)
            && m(&self.name, &a.name)
            && m(&self.user, &a.user.name)
    }
}

/// Whether `value` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() || !value.ends_with(last) {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// A rule that cannot be installed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    /// The code is not an HTTP error status.
    #[error("fault code {0} is not an HTTP error status (400-599)")]
    Code(u16),
    /// The rate is outside 0..=1.
    #[error("fault rate {0} is outside 0..=1")]
    Rate(f64),
}

/// The faults that fire for one request.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    /// Total delay of the latency rules that fired.
    pub(crate) latency: Duration,
    /// The failure of the first failing rule that fired.
    pub(crate) failure: Option<ApiError>,
}

struct Table {
    next_id: u64,
    rules: Vec<(u64, FaultRule)>,
    rng: StdRng,
}

/// The installed rules, in installation order, and the generator behind rates.
pub(crate) struct Faults {
    table: Mutex<Table>,
}

impl Faults {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Faults {
            table: Mutex::new(Table {
                next_id: 0,
                rules: vec![],
                rng: StdRng::seed_from_u64(seed.unwrap_or_else(rand::random)),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn install(&self, rule: FaultRule) -> Result<u64, FaultError> {
        if let FaultAction::Fail { code, .. } = rule.action
            && !(400..=599).contains(&code)
        {
            return Err(FaultError::Code(code));
        }
        if let Some(rate) = rule.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(FaultError::Rate(rate));
        }
        let mut t = self.lock();
        t.next_id += 1;
        let id = t.next_id;
        t.rules.push((id, rule));
        Ok(id)
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut t = self.lock();
        let before = t.rules.len();
        t.rules.retain(|(i, _)| *i != id);
        t.rules.len() != before
    }

    pub(crate) fn clear(&self) {
        self.lock().rules.clear();
    }

    pub(crate) fn list(&self) -> Vec<(u64, FaultRule)> {
        self.lock().rules.clone()
    }

    pub(crate) fn reseed(&self, seed: u64) {
        self.lock().rng = StdRng::seed_from_u64(seed);
    }

    /// Decides which rules fire for a request, consuming their counts: every matching latency
    /// rule adds its delay; the first matching failing rule decides the answer.
    pub(crate) fn evaluate(&self, a: &RequestAttributes) -> Fired {
        let mut fired = Fired::default();
        let mut t = self.lock();
        if t.rules.is_empty() {
            return fired;
        }
        let Table { rules, rng, .. } = &mut *t;
        for (_, rule) in rules.iter_mut() {
            if rule.times == Some(0) || !rule.matches(a) {
                continue;
            }
            let failing = matches!(rule.action, FaultAction::Fail { .. });
            if failing && fired.failure.is_some() {
                continue;
            }
            if let Some(rate) = rule.rate
                && !rng.random_bool(rate)
            {
                continue;
            }
            if let Some(n) = rule.times.as_mut() {
                *n -= 1;
            }
            match &rule.action {
                FaultAction::Latency { millis } => fired.latency += Duration::from_millis(*millis),
                FaultAction::Fail {
                    code,
                    reason,
                    message,
                    retry_after_seconds,
                } => {
                    fired.failure = Some(failure(
                        a,
                        *code,
                        reason.as_deref(),
                        message.as_deref(),
                        *retry_after_seconds,
                    ))
                }
            }
        }
        rules.retain(|(_, r)| r.times != Some(0));
        fired
    }
}

/// The `Status` a failing rule answers with: kube-apiserver's reason and message for the code,
/// unless overridden.
pub(crate) fn failure(
    a: &RequestAttributes,
    code: u16,
    reason: Option<&str>,
    message: Option<&str>,
    retry_after: Option<u64>,
) -> ApiError {
    let resource = super::status::qualified(&a.resource, &a.api_group);
    let object = |what: &str| {
        if a.name.is_empty() {
            what.to_string()
        } else {
            format!("{resource} \"{}\"", a.name)
        }
    };
    let (default_reason, default_message) = match code {
        400 => ("BadRequest", "the server rejected our request for an unknown reason".to_string()),
        401 => ("Unauthorized", "Unauthorized".to_string()),
        403 => ("Forbidden", format!("{} is forbidden: injected fault", object(&resource))),
        404 => ("NotFound", format!("{} not found", object(&resource))),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_string(),
        ),
        409 => (
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {}: the object has been modified; please apply your changes to the latest version and try again",
                object(&resource)
            ),
        ),
        410 => ("Expired", "too old resource version".to_string()),
        422 => ("Invalid", format!("{} is invalid: injected fault", object(&resource))),
        429 => ("TooManyRequests", "Too many requests, please try again later.".to_string()),
        500 => ("InternalError", "Internal error occurred: injected fault".to_string()),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request".to_string(),
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request"
                .to_string(),
        ),
        _ => ("", "injected fault".to_string()),
    };
    let mut details = if a.resource_request {
        Details {
            name: (!a.name.is_empty()).then(|| a.name.clone()),
            group: (!a.api_group.is_empty()).then(|| a.api_group.clone()),
            kind: Some(a.resource.clone()),
            ..Default::default()
        }
    } else {
        Details::default()
    };
    details.retry_after_seconds = retry_after;
    ApiError::new(
        code,
        reason.unwrap_or(default_reason),
        message.map(String::from).unwrap_or(default_message),
        Some(details),
    )
}

impl ApiServerBuilder {
    /// Seeds the generator behind fault rates (default: random).
    pub fn fault_seed(mut self, seed: u64) -> Self {
        self.fault_seed = Some(seed);
        self
    }
}

impl ApiServer {
    /// Installs a fault rule; returns its id.
    pub fn inject_fault(&self, rule: FaultRule) -> Result<u64, FaultError> {
        self.shared.faults.install(rule)
    }

    /// The installed rules with their ids (counts show what is left).
    pub fn faults(&self) -> Vec<(u64, FaultRule)> {
        self.shared.faults.list()
    }

    /// Removes one rule; returns whether it existed.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.faults.remove(id)
    }

    /// Removes every rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear()
    }

    /// Reseeds the generator behind fault rates.
    pub fn seed_faults(&self, seed: u64) {
        self.shared.faults.reseed(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::request::UserInfo;

    fn attrs(verb: &str, resource: &str, ns: &str, name: &str, user: &str) -> RequestAttributes {
        RequestAttributes {
            user: UserInfo::new(user, &[]),
            resource_request: true,
            verb: verb.into(),
            api_group: String::new(),
            api_version: "v1".into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: ns.into(),
            name: name.into(),
            path: String::new(),
        }
    }

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob("*", ""));
        assert!(glob("system:serviceaccount:*", "system:serviceaccount:ns:sa"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abde"));
        assert!(glob("secrets", "secrets"));
        assert!(!glob("secret", "secrets"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn counted_rules_fire_n_times_on_matching_requests_only() {
        let f = Faults::new(Some(1));
        f.install(
            FaultRule::fail(409)
                .verb("update")
                .resource("secrets")
                .namespace("ns")
                .times(2),
        )
        .unwrap();
        assert!(
            f.evaluate(&attrs("get", "secrets", "ns", "s", "u"))
                .failure
                .is_none()
        );
        assert!(
            f.evaluate(&attrs("update", "secrets", "other", "s", "u"))
                .failure
                .is_none()
        );
        for _ in 0..2 {
            let e = f
                .evaluate(&attrs("update", "secrets", "ns", "s", "u"))
                .failure
                .unwrap();
            assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
            assert_eq!(
                e.message,
                "Operation cannot be fulfilled on secrets \"s\": the object has been modified; please apply your changes to the latest version and try again"
            );
        }
        assert!(
            f.evaluate(&attrs("update", "secrets", "ns", "s", "u"))
                .failure
                .is_none()
        );
        assert!(f.list().is_empty());
    }

    #[test]
    fn latency_adds_up_and_the_first_failure_wins() {
        let f = Faults::new(Some(1));
        f.install(FaultRule::latency(Duration::from_millis(10))).unwrap();
        f.install(
            FaultRule::fail(503)
                .retry_after(3)
                .user("system:serviceaccount:*"),
        )
        .unwrap();
        f.install(FaultRule::fail(500)).unwrap();
        f.install(FaultRule::latency(Duration::from_millis(5))).unwrap();
        let fired = f.evaluate(&attrs("list", "secrets", "ns", "", "system:serviceaccount:ns:sa"));
        assert_eq!(fired.latency, Duration::from_millis(15));
        let e = fired.failure.unwrap();
        assert_eq!((e.code, e.reason.as_str()), (503, "ServiceUnavailable"));
        assert_eq!(e.details.unwrap().retry_after_seconds, Some(3));
        let e = f
            .evaluate(&attrs("list", "secrets", "ns", "", "alice"))
            .failure
            .unwrap();
        assert_eq!(e.code, 500);
    }

    #[test]
    fn rates_are_reproducible_with_a_seed() {
        let run = || {
            let f = Faults::new(Some(42));
            f.install(FaultRule::fail(500).rate(0.5)).unwrap();
            (0..200)
                .map(|_| {
                    f.evaluate(&attrs("get", "secrets", "ns", "s", "u"))
                        .failure
                        .is_some()
                })
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|h| **h).count();
        assert!((60..140).contains(&hits), "{hits}");
    }

    #[test]
    fn bad_rules_are_refused_and_overrides_apply() {
        let f = Faults::new(Some(1));
        assert_eq!(f.install(FaultRule::fail(200)), Err(FaultError::Code(200)));
        assert_eq!(
            f.install(FaultRule::fail(500).rate(1.5)),
            Err(FaultError::Rate(1.5))
        );
        f.install(
            FaultRule::fail(429)
                .with_reason("TooManyRequests")
                .with_message("slow down"),
        )
        .unwrap();
        let e = f
            .evaluate(&attrs("get", "secrets", "ns", "s", "u"))
            .failure
            .unwrap();
        assert_eq!(e.message, "slow down");
    }
}
