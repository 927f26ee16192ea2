//! Workload status conditions with the Deployment controller's update rules
//! (`SetDeploymentCondition`): a condition whose status and reason are unchanged is left alone;
//! one whose status is unchanged keeps its `lastTransitionTime`; a replaced condition moves to
//! the end of the list.
//!
//! Invariant: pure JSON in, JSON out; timestamps are passed in.

use serde_json::{Value, json};

/// A condition to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition<'a> {
    /// `type`.
    pub type_: &'a str,
    /// `True`, `False` or `Unknown`.
    pub status: &'a str,
    /// Reason.
    pub reason: &'a str,
    /// Message.
    pub message: String,
}

/// The condition of a type, if present.
pub fn get<'a>(conditions: &'a [Value], type_: &str) -> Option<&'a Value> {
    conditions
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// A string field of a condition.
pub fn field<'a>(c: Option<&'a Value>, name: &str) -> Option<&'a str> {
    c.and_then(|c| c.get(name)).and_then(Value::as_str)
}

/// Removes the condition of a type.
pub fn remove(conditions: &mut Vec<Value>, type_: &str) {
    conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some(type_));
}

/// Builds a condition object stamped `now`.
pub fn make(c: &Condition<'_>, now: &str, transition: Option<&str>) -> Value {
    json!({
        "type": c.type_,
        "status": c.status,
        "lastUpdateTime": now,
        "lastTransitionTime": transition.unwrap_or(now),
        "reason": c.reason,
        "message": c.message,
    })
}

/// `SetDeploymentCondition`.
pub fn set(conditions: &mut Vec<Value>, c: &Condition<'_>, now: &str) {
    let current = get(conditions, c.type_);
    let status = field(current, "status");
    if status == Some(c.status) && field(current, "reason") == Some(c.reason) {
        return;
    }
    let transition = if status == Some(c.status) {
        field(current, "lastTransitionTime").map(String::from)
    } else {
        None
    };
    let new = make(c, now, transition.as_deref());
    remove(conditions, c.type_);
    conditions.push(new);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond<'a>(status: &'a str, reason: &'a str, message: &str) -> Condition<'a> {
        Condition {
            type_: "Progressing",
            status,
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn same_status_and_reason_is_a_no_op_even_with_a_new_message() {
        let mut cs = vec![];
        set(&mut cs, &cond("True", "A", "one"), "t1");
        set(&mut cs, &cond("True", "A", "two"), "t2");
        assert_eq!(cs.len(), 1);
        assert_eq!(cs[0]["message"], "one");
        assert_eq!(cs[0]["lastUpdateTime"], "t1");
    }

    #[test]
    fn transition_time_survives_a_reason_change_but_not_a_status_change() {
        let mut cs = vec![];
        set(&mut cs, &cond("True", "A", "m"), "t1");
        set(
            &mut cs,
            &Condition {
                type_: "Available",
                status: "True",
                reason: "X",
                message: "m".into(),
            },
            "t1",
        );
        set(&mut cs, &cond("True", "B", "m"), "t2");
        assert_eq!(cs[1]["type"], "Progressing", "a replaced condition moves last");
        assert_eq!(cs[1]["lastTransitionTime"], "t1");
        assert_eq!(cs[1]["lastUpdateTime"], "t2");
        set(&mut cs, &cond("False", "C", "m"), "t3");
        assert_eq!(cs[1]["lastTransitionTime"], "t3");
        assert_eq!(field(get(&cs, "Progressing"), "reason"), Some("C"));
        remove(&mut cs, "Progressing");
        assert!(get(&cs, "Progressing").is_none());
    }
}
