//! The metrics contract of `docs/metrics.md`: the names alerts and dashboards may use.

use std::collections::BTreeSet;

/// Metric names listed in `docs/metrics.md` (first column of its tables), plus the `_bucket`,
/// `_sum` and `_count` series of the histograms.
pub fn series_names() -> BTreeSet<String> {
    let doc = super::read("docs/metrics.md");
    let mut names = BTreeSet::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("| `secret_rotator_") else {
            continue;
        };
        let name = format!("secret_rotator_{}", rest.split('`').next().unwrap_or_default());
        let kind = line.split('|').nth(2).unwrap_or_default().trim();
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
        names.insert(name);
    }
    assert!(
        names.len() >= 13,
        "docs/metrics.md lists too few metrics: {names:?}"
    );
    names
}

/// Series every Prometheus has, which alerts may use besides the contract.
pub const PROMETHEUS_BUILTINS: &[&str] = &["up"];
