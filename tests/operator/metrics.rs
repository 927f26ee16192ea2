//! Metrics, scraped over HTTP from the operator's own `/metrics` route and read as OpenMetrics
//! text, against what `docs/metrics.md` promises: per-rotation series that follow the rotation's
//! status (expiry, renewal, ready, rotations, failures by reason) and disappear with it; Graph
//! requests by operation and outcome, throttling, reconcile and step timings.
//!
//! The `run` command's side (the leader gauge, a standby that exports no per-rotation series,
//! `/healthz` and `/readyz`, `--selector`, JSON logs) is in [`super::run_command`].

use std::time::Duration;

use kube::api::DeleteParams;
use sandbox::entra::{FaultAction, FaultRule};
use secret_rotator::api::{ClientSecretRotation, wellknown};
use serde_json::json;

use crate::support::{
    metrics::Scrape,
    world::{NS, World, spec},
};

const NAME: &str = "metered";

/// The value of `metric` about the rotation [`NAME`], with `extra` labels.
fn of(scrape: &Scrape, metric: &str, extra: &[(&str, &str)]) -> Option<f64> {
    let mut labels = vec![("namespace", NS), ("name", NAME)];
    labels.extend_from_slice(extra);
    scrape.value(metric, &labels)
}

/// The sum of `metric` over the samples with `labels` (0 when there is none).
fn total(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape.find(metric, labels).iter().map(|s| s.value).sum()
}

fn status_times(o: &ClientSecretRotation) -> (f64, f64) {
    let status = o.status.as_ref().unwrap();
    let expiry = status.current.as_ref().unwrap().expires_at.0.as_second();
    let renewal = status.renewal_time.as_ref().unwrap().0.as_second();
    (expiry as f64, renewal as f64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_rotation_through_throttling_rotations_and_deletion() {
    let mut w = World::new(1).await;
    // Every addPassword is throttled until the storm is cleared.
    w.em.inject_fault(FaultRule {
        method: Some("POST".into()),
        path: "addPassword$".into(),
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(90),
        },
        times: None,
        rate: None,
    })
    .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(NAME, spec(&client_id, "creds", json!({"overlap": "0s"})))
        .await;

    // A throttled mint: the failure by its stable reason, not ready, the 429 counted.
    w.wait_for(NAME, "failing with Throttled", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.failure.as_ref())
            .is_some_and(|f| f.reason == "Throttled")
    })
    .await;
    let failing = w
        .scrape_until("the throttled failure", |s| {
            of(
                s,
                "secret_rotator_rotation_failures_total",
                &[("reason", "Throttled")],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(of(&failing, "secret_rotator_ready", &[]), Some(0.0));
    assert_eq!(
        of(
            &failing,
            "secret_rotator_secret_expiration_timestamp_seconds",
            &[]
        ),
        None,
        "no credential yet, no expiration series"
    );
    for result in ["succeeded", "failed"] {
        assert_eq!(
            of(&failing, "secret_rotator_rotations_total", &[("result", result)]),
            Some(0.0),
            "both results exist from the first sight, at 0"
        );
    }
    assert!(
        failing
            .value(
                "secret_rotator_graph_requests_total",
                &[("operation", "addPassword"), ("outcome", "throttled")]
            )
            .is_some_and(|v| v >= 1.0),
        "{}",
        failing.text
    );
    assert!(
        failing
            .value("secret_rotator_graph_throttled_total", &[])
            .unwrap()
            >= 1.0
    );

    // The storm passes: the rotation is issued, ready, and its timestamps are the status's.
    w.em.clear_faults();
    w.advance(Duration::from_secs(120));
    let ready = w.wait_ready(NAME).await;
    let (expiry, renewal) = status_times(&ready);
    let count = ready.status.as_ref().unwrap().rotation_count as f64;
    assert!(count >= 1.0);
    let issued = w
        .scrape_until("the issued credential", |s| {
            of(s, "secret_rotator_ready", &[]) == Some(1.0)
                && of(s, "secret_rotator_secret_expiration_timestamp_seconds", &[]) == Some(expiry)
        })
        .await;
    assert_eq!(
        of(&issued, "secret_rotator_secret_renewal_timestamp_seconds", &[]),
        Some(renewal)
    );
    assert_eq!(
        of(
            &issued,
            "secret_rotator_rotations_total",
            &[("result", "succeeded")]
        ),
        Some(count),
        "every rotation the operator completed is counted"
    );
    assert_eq!(of(&issued, "secret_rotator_rollout_stuck", &[]), Some(0.0));

    // A manual rotation: one more success, the new credential's timestamps.
    w.annotate(NAME, wellknown::ANNOTATION_ROTATE, "1").await;
    let rotated = w
        .wait_for(NAME, "rotated by hand", |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.handled_rotate_request.as_deref() == Some("1") && s.rotation.is_none())
        })
        .await;
    let (expiry, renewal) = status_times(&rotated);
    let rotated_scrape = w
        .scrape_until("the manual rotation", |s| {
            of(s, "secret_rotator_rotations_total", &[("result", "succeeded")]) == Some(count + 1.0)
                && of(s, "secret_rotator_secret_expiration_timestamp_seconds", &[]) == Some(expiry)
        })
        .await;
    let s = &rotated_scrape;
    assert_eq!(
        of(s, "secret_rotator_secret_renewal_timestamp_seconds", &[]),
        Some(renewal)
    );
    assert_eq!(of(s, "secret_rotator_ready", &[]), Some(1.0));
    assert_eq!(
        of(s, "secret_rotator_rotations_total", &[("result", "failed")]),
        Some(0.0)
    );
    assert_eq!(
        of(
            s,
            "secret_rotator_rotation_failures_total",
            &[("reason", "Throttled")]
        ),
        Some(1.0),
        "one failure was recorded, once"
    );

    // Operator-wide: requests by outcome, reconciles, step timings.
    for (operation, outcome) in [
        ("addPassword", "success"),
        ("getApplication", "success"),
        ("token", "success"),
    ] {
        assert!(
            total(
                s,
                "secret_rotator_graph_requests_total",
                &[("operation", operation), ("outcome", outcome)]
            ) >= 1.0,
            "{operation} {outcome}: {}",
            s.text
        );
    }
    assert!(
        s.value("secret_rotator_reconcile_total", &[("result", "ok")])
            .unwrap()
            >= 1.0
    );
    assert!(
        s.value("secret_rotator_reconcile_total", &[("result", "error")])
            .is_some()
    );
    let reconciles = s
        .value("secret_rotator_reconcile_duration_seconds_count", &[])
        .unwrap();
    assert!(reconciles >= 1.0);
    assert_eq!(
        s.value(
            "secret_rotator_reconcile_duration_seconds_bucket",
            &[("le", "+Inf")]
        ),
        Some(reconciles)
    );
    for step in ["Mint", "Verify", "WriteSecret", "Revoke"] {
        assert!(
            s.value("secret_rotator_step_duration_seconds_count", &[("step", step)])
                .is_some_and(|n| n >= 1.0),
            "{step} timed: {}",
            s.text
        );
    }
    assert!(
        s.text
            .contains("# TYPE secret_rotator_step_duration_seconds histogram")
    );
    assert!(s.text.contains("# TYPE secret_rotator_rotations counter"));

    // Deleted: every series of the rotation disappears; operator-wide ones stay.
    w.rotations()
        .delete(NAME, &DeleteParams::default())
        .await
        .unwrap();
    let gone = w
        .scrape_until("the deleted rotation's series gone", |s| {
            s.of_rotation(NS, NAME).is_empty()
        })
        .await;
    assert!(
        gone.value("secret_rotator_reconcile_duration_seconds_count", &[])
            .is_some()
    );
    assert!(gone.value("secret_rotator_graph_throttled_total", &[]).is_some());
}
