//! The Grafana dashboard (`charts/secret-rotator/dashboards/secret-rotator.json`): valid
//! dashboard JSON whose every query parses as PromQL and reads only metrics of the contract in
//! `docs/metrics.md`, and whose panels cover the operator's key signals. (The alerts are checked
//! on the rendered chart, in tests/chart.rs.)

mod packaging_support;

use std::collections::BTreeSet;

use packaging_support::{metrics_contract, promql, read};
use serde_json::Value;

fn dashboard() -> Value {
    serde_json::from_str(&read("charts/secret-rotator/dashboards/secret-rotator.json"))
        .expect("dashboard is JSON")
}

fn panels(d: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn every_query_parses_and_reads_contract_metrics() {
    let d = dashboard();
    let contract = metrics_contract::series_names();
    let mut used = BTreeSet::new();
    let mut queries = 0;
    for panel in panels(&d) {
        let title = panel["title"].as_str().unwrap_or("?");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: target without expr"));
            let parsed = promql::parse(&promql::substitute_grafana_variables(expr), title);
            for metric in promql::metric_names(&parsed) {
                assert!(
                    contract.contains(&metric),
                    "panel {title:?} reads {metric}, not in docs/metrics.md"
                );
                used.insert(metric);
            }
            // Every selector is scoped to the chosen job(s).
            for (metric, matchers) in promql::selectors_of(&parsed) {
                assert!(
                    matchers.iter().any(|(label, _)| label == "job"),
                    "panel {title:?}: selector of {metric:?} has no job matcher"
                );
            }
            assert_eq!(
                target["datasource"]["uid"], "${datasource}",
                "panel {title:?}: datasource variable"
            );
            queries += 1;
        }
    }
    assert!(queries >= 15, "only {queries} queries");
    // Every per-rotation and operator signal of the contract has a panel.
    let bases: BTreeSet<String> = used
        .iter()
        .map(|m| {
            m.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
                .to_owned()
        })
        .collect();
    let contract_bases: BTreeSet<String> = contract
        .iter()
        .filter(|m| !m.ends_with("_bucket") && !m.ends_with("_sum") && !m.ends_with("_count"))
        .cloned()
        .collect();
    let missing: Vec<_> = contract_bases.difference(&bases).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
}

#[test]
fn dashboard_is_importable() {
    let d = dashboard();
    assert_eq!(d["uid"], "secret-rotator");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vars, ["datasource", "job", "namespace"]);
    for q in ["job", "namespace"] {
        let var = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == q)
            .unwrap();
        let query = var["query"]["query"].as_str().unwrap();
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|s| s.rsplit_once(','))
            .map(|(metric, _)| metric)
            .unwrap_or_else(|| panic!("{q}: {query}"));
        promql::parse(&promql::substitute_grafana_variables(inner), q);
    }
    // Unique panel ids, and no panel outside the 24-column grid.
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{} overflows",
            p["title"]
        );
    }
}

#[test]
fn metrics_contract_lists_the_names_the_metrics_phase_implements() {
    let names = metrics_contract::series_names();
    for name in [
        "secret_rotator_secret_expiration_timestamp_seconds",
        "secret_rotator_secret_renewal_timestamp_seconds",
        "secret_rotator_ready",
        "secret_rotator_rotations_total",
        "secret_rotator_rotation_failures_total",
        "secret_rotator_rollout_stuck",
        "secret_rotator_step_duration_seconds",
        "secret_rotator_step_duration_seconds_bucket",
        "secret_rotator_graph_requests_total",
        "secret_rotator_graph_throttled_total",
        "secret_rotator_reconcile_total",
        "secret_rotator_reconcile_duration_seconds",
        "secret_rotator_leader",
        "secret_rotator_unmanaged_credential_expiration_timestamp_seconds",
    ] {
        assert!(names.contains(name), "docs/metrics.md lacks {name}");
    }
}

#[test]
fn promql_helpers_find_metric_names_and_reject_garbage() {
    let e = promql::parse(
        "sum by (x) (rate(a_total{job=\"j\"}[5m])) / on() group_left b offset 1m > bool 1",
        "t",
    );
    assert_eq!(
        promql::metric_names(&e),
        ["a_total", "b"].map(String::from).into()
    );
    assert!(std::panic::catch_unwind(|| promql::parse("sum(", "t")).is_err());
    assert_eq!(
        promql::substitute_grafana_variables("rate(x{job=~\"$job\"}[$__rate_interval]) ${datasource}"),
        "rate(x{job=~\"var\"}[5m]) var"
    );
}
