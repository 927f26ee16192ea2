//! `IntOrString` rollout parameters (`maxSurge: 25%`, `maxUnavailable: 1`) scaled against a
//! replica count, as `intstr.GetScaledValueFromIntOrPercent` and the Deployment controller's
//! `ResolveFenceposts` do.
//!
//! Invariant: pure; a malformed value counts as 0 (the real API server would have rejected it).

use serde_json::Value;

/// `value` (an integer or `"N%"`) against `total`, percentages rounded up or down.
pub fn scaled(value: Option<&Value>, total: i32, round_up: bool) -> i32 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0).clamp(0, i64::from(i32::MAX)) as i32,
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.trim().parse::<i64>().ok()) {
            Some(pct) => {
                let x = pct * i64::from(total);
                let v = if round_up { (x + 99) / 100 } else { x / 100 };
                v.clamp(0, i64::from(i32::MAX)) as i32
            }
            None => s.trim().parse::<i32>().unwrap_or(0).max(0),
        },
        _ => 0,
    }
}

/// (maxSurge, maxUnavailable) for `desired` replicas; both zero makes maxUnavailable 1 so a
/// rollout can always make progress.
pub fn fenceposts(max_surge: Option<&Value>, max_unavailable: Option<&Value>, desired: i32) -> (i32, i32) {
    let surge = scaled(max_surge, desired, true);
    let unavailable = scaled(max_unavailable, desired, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        assert_eq!(fenceposts(Some(&json!("25%")), Some(&json!("25%")), 2), (1, 0));
        assert_eq!(fenceposts(Some(&json!("25%")), Some(&json!("25%")), 10), (3, 2));
        assert_eq!(fenceposts(Some(&json!(0)), Some(&json!(0)), 3), (0, 1));
        assert_eq!(fenceposts(Some(&json!(2)), Some(&json!("50%")), 3), (2, 1));
        assert_eq!(fenceposts(None, None, 3), (0, 1));
        assert_eq!(scaled(Some(&json!("bogus")), 10, true), 0);
    }
}
