//! Secret hygiene of the whole operator: with every log at TRACE captured, a rotation from
//! adoption through verification, promotion, rollout, a manual and an emergency rotation, a
//! throttled attempt and a deletion, no secret value (nor its base64 form) appears in the logs (as
//! text and as the JSON lines of `--log-format json`, which are checked to be JSON objects with the
//! rotation's `namespace` and `name` at the top level), in the scraped `/metrics`, in Events, in the
//! rotation's status, or in any error the operator reported.
//!
//! Its own test binary: the capture is the process-wide subscriber.

#[path = "common/log_capture.rs"]
mod log_capture;
#[path = "operator/support/mod.rs"]
mod support;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use futures::StreamExt;
use k8s_openapi::api::{core::v1::Secret, events::v1::Event};
use kube::{
    Api,
    api::{DeleteParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use log_capture::Capture;
use sandbox::entra::{FaultAction, FaultRule, PasswordSpec};
use secrecy::ExposeSecret;
use secret_rotator::{api::wellknown, cli::logging};
use serde_json::json;
use support::{
    workloads::{Workloads, create_workload, workload},
    world::{NS, World, spec},
};
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_value_reaches_logs_events_status_or_errors() {
    // Two captures of the same events: text with every span event, and the JSON lines
    // `run --log-format json` writes.
    let capture = Capture::default();
    let json_capture = Capture::default();
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(capture.clone())
                .with_ansi(false)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL),
        )
        .with(logging::json_layer(json_capture.clone()))
        .try_init()
        .expect("the only subscriber of this test binary");

    let mut w = World::new(1).await;
    let _sim = Workloads::start(&w.api, &w.em);
    create_workload(
        &w.client,
        workload("Deployment", "web", 2, "creds", "client-secret"),
    )
    .await;
    let mut secrets: BTreeSet<String> = [w.operator_secret.expose_secret().to_owned()].into();

    // Every value any Secret of the namespace ever holds (staging Secrets included), seen by a
    // watch of the test's own.
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let recorder = {
        let seen = seen.clone();
        let secrets_api: Api<Secret> = Api::namespaced(w.client.clone(), NS);
        tokio::spawn(async move {
            let mut stream = watcher(secrets_api, Default::default()).applied_objects().boxed();
            while let Some(Ok(s)) = stream.next().await {
                for (key, value) in s.data.unwrap_or_default() {
                    if key.contains("secret") {
                        seen.lock()
                            .unwrap()
                            .insert(String::from_utf8_lossy(&value.0).into_owned());
                    }
                }
            }
        })
    };

    // Day one: a secret minted by hand, adopted.
    let seeded =
        w.em.seed_password(
            &w.app(0).app_id,
            PasswordSpec {
                end: Some(w.em.now() + Duration::from_secs(3600)),
                ..Default::default()
            },
        )
        .unwrap();
    secrets.insert(seeded.secret.expose_secret().to_owned());
    let secrets_api: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    secrets_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "creds"},
                "stringData": {"client-secret": seeded.secret.expose_secret()},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    w.create_rotation(
        "clean",
        spec(
            &client_id,
            "creds",
            json!({
                "overlap": "0s",
                "rolloutTargets": [{"kind": "Deployment", "name": "web"}],
                "secret": {"keys": {"previousClientSecret": "previous-client-secret"}},
            }),
        ),
    )
    .await;
    w.wait_ready("clean").await;

    // A throttled attempt (errors in status and events), then a manual rotation.
    w.em.inject_fault(FaultRule {
        method: Some("POST".into()),
        path: "addPassword$".into(),
        action: FaultAction::Status {
            status: 429,
            retry_after: Some(30),
        },
        times: Some(1),
        rate: None,
    })
    .unwrap();
    w.annotate("clean", wellknown::ANNOTATION_ROTATE, "1").await;
    w.wait_for("clean", "throttled", |o| {
        o.status.as_ref().and_then(|s| s.failure.as_ref()).is_some()
    })
    .await;
    w.advance(Duration::from_secs(120));
    w.wait_for("clean", "rotated", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.rotation_count >= 1 && s.rotation.is_none() && s.failure.is_none())
    })
    .await;
    // An emergency rotation, then deletion with Revoke.
    w.annotate("clean", wellknown::ANNOTATION_EMERGENCY_ROTATE, "leak")
        .await;
    let last = w
        .wait_for("clean", "rotated in an emergency", |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.handled_emergency_request.is_some() && s.rotation.is_none())
        })
        .await;
    let status_json = serde_json::to_string(&last.status).unwrap();
    let scraped = w
        .scrape_until("the rotation's series", |s| {
            !s.of_rotation(NS, "clean").is_empty()
        })
        .await;
    assert!(
        scraped
            .value(
                "secret_rotator_graph_requests_total",
                &[("operation", "addPassword"), ("outcome", "throttled")]
            )
            .is_some(),
        "the scrape has the operator's metrics: {}",
        scraped.text
    );
    let mut metrics_text = scraped.text;
    w.patch_spec("clean", json!({"deletionPolicy": "Revoke"})).await;
    w.rotations()
        .delete("clean", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    recorder.abort();
    metrics_text.push_str(&w.scrape().await.text);

    secrets.extend(seen.lock().unwrap().iter().cloned());
    assert!(
        secrets.len() >= 4,
        "the operator's, the adopted and the minted secrets were seen ({})",
        secrets.len()
    );
    let events: Api<Event> = Api::namespaced(w.client.clone(), NS);
    let notes: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.note)
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("failed")),
        "a failure was reported: {notes:?}"
    );
    w.stop_operator().await;

    let logs = capture.text();
    assert!(
        logs.contains("minted a password credential"),
        "the capture has the operator's logs"
    );
    assert!(logs.contains("TRACE"), "at TRACE level");
    let json_logs = json_capture.text();
    let lines: Vec<serde_json::Map<String, serde_json::Value>> = json_logs
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(serde_json::Value::Object(m)) => m,
            other => panic!("a JSON log line is not a JSON object: {l} ({other:?})"),
        })
        .collect();
    let about_clean = |l: &&serde_json::Map<String, serde_json::Value>| {
        l.get("namespace") == Some(&json!(NS)) && l.get("name") == Some(&json!("clean"))
    };
    assert!(
        lines
            .iter()
            .filter(about_clean)
            .any(|l| l.get("step") == Some(&json!("Mint"))),
        "JSON lines logged while minting carry the rotation and the step at the top level"
    );
    assert!(
        lines.iter().filter(about_clean).any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("minted a password credential"))),
        "the JSON capture has the operator's logs"
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in &secrets {
        let forms = [secret.clone(), b64.encode(secret.as_bytes())];
        for form in &forms {
            assert!(!logs.contains(form.as_str()), "a secret value is in the logs");
            assert!(
                !json_logs.contains(form.as_str()),
                "a secret value is in the JSON logs"
            );
            assert!(
                !metrics_text.contains(form.as_str()),
                "a secret value is in the metrics"
            );
            assert!(
                !status_json.contains(form.as_str()),
                "a secret value is in the status"
            );
            assert!(
                !notes.iter().any(|n| n.contains(form.as_str())),
                "a secret value is in an Event"
            );
        }
    }
}
