//! Test access to the conformance recordings of a real kube-apiserver 1.36
//! (`sandbox/tests/conformance/kube-apiserver-1.36.jsonl`, copied from
//! `/work/shared/conformance/`), so unit tests can feed recorded requests through these libraries
//! and compare with the recorded answers.
//!
//! Invariant: lookups are by case name and occurrence; a missing case is a test bug and panics.

use serde_json::Value;

const RECORDINGS: &str = include_str!("../../tests/conformance/kube-apiserver-1.36.jsonl");

/// One recorded request/response exchange.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The request: `method`, `path`, `content-type`, `body`.
    pub request: Value,
    /// The response: `status`, `headers`, `body`.
    pub response: Value,
}

impl Exchange {
    /// The request body.
    pub fn request_body(&self) -> &Value {
        &self.request["body"]
    }

    /// The response body.
    pub fn response_body(&self) -> &Value {
        &self.response["body"]
    }

    /// The response status code.
    pub fn status(&self) -> u64 {
        self.response["status"].as_u64().expect("recorded status")
    }
}

/// All exchanges recorded under `case`, in order.
pub fn exchanges(case: &str) -> Vec<Exchange> {
    let found: Vec<Exchange> = RECORDINGS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).expect("recording line is JSON"))
        .filter(|v| v["case"] == case)
        .map(|v| Exchange {
            request: v["request"].clone(),
            response: v["response"].clone(),
        })
        .collect();
    assert!(!found.is_empty(), "no recording named {case}");
    found
}

/// The first exchange recorded under `case`.
pub fn exchange(case: &str) -> Exchange {
    exchanges(case).remove(0)
}

/// The time of manager `manager`'s entry in a recorded object's managed fields, as the `now` that
/// reproduces it.
pub fn manager_time(object: &Value, manager: &str) -> jiff::Timestamp {
    object["metadata"]["managedFields"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["manager"] == manager))
        .and_then(|e| e["time"].as_str())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no managed fields entry for {manager}"))
}
