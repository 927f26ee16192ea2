//! Throttling and fault injection through real HTTP.

mod entra_support;

use std::time::{Duration, Instant};

use entra_support::*;
use reqwest::Method;
use sandbox::entra::{Emulator, FaultAction, FaultRule, ThrottleLimits};
use serde_json::{Value, json};

#[tokio::test]
async fn the_write_bucket_throttles_with_retry_after_and_scope_headers_then_refills() {
    // NB: a long window, so real time passing on a loaded machine cannot refill a write mid-test.
    let limits = ThrottleLimits {
        write_capacity: 5,
        write_window: Duration::from_secs(1000),
        ..Default::default()
    };
    let env = env_with(
        Emulator::builder().throttling(limits).build().unwrap(),
        &["Application.ReadWrite.All"],
    )
    .await;
    let token = env.operator_token().await;
    let path = format!("/applications/{}/addPassword", env.target.object_id);
    let mut percentages = Vec::new();
    for _ in 0..5 {
        let r = env.graph_with(&token, Method::POST, &path, Some(json!({}))).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-ms-resource-unit"], "1");
        percentages.push(
            r.headers()
                .get("x-ms-throttle-limit-percentage")
                .map(|v| v.to_str().unwrap().to_owned()),
        );
    }
    assert_eq!(percentages[..3], [None, None, None], "only sent above 0.8");
    assert_eq!(percentages[4].as_deref(), Some("1.00"));

    let r = env.graph_with(&token, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "200");
    assert_eq!(
        r.headers()["x-ms-throttle-scope"],
        format!("Tenant_Application/Write/{}/{}", env.operator.app_id, env.tenant).as_str()
    );
    assert_eq!(r.headers()["x-ms-throttle-information"], "WriteLimitExceeded");
    expect_graph_error(r, 429, "Request_ThrottledTemporarily").await;

    // Reads still work while writes are throttled.
    let r = env
        .graph_with(
            &token,
            Method::GET,
            &format!("/applications/{}", env.target.object_id),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);

    env.em.advance(Duration::from_secs(200));
    assert_eq!(
        env.graph_with(&token, Method::POST, &path, Some(json!({})))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn injected_status_faults_fire_n_times_in_each_endpoints_format() {
    let env = env(&["Application.ReadWrite.All"]).await;
    let id = env
        .em
        .inject_fault(FaultRule {
            action: FaultAction::Status {
                status: 503,
                retry_after: Some(3),
            },
            ..FaultRule::status(Some("POST"), "/addPassword$", 503).times(2)
        })
        .unwrap();
    let path = format!("/applications/{}", env.target.object_id);
    for _ in 0..2 {
        let r = env.add_password(&path, json!({})).await;
        assert_eq!(r.headers()["retry-after"], "3");
        expect_graph_error(r, 503, "serviceNotAvailable").await;
    }
    assert_eq!(env.add_password(&path, json!({})).await.status(), 200);
    assert!(env.em.faults().is_empty());
    assert!(!env.em.remove_fault(id));

    // A fault on the token endpoint answers in AADSTS format.
    env.em
        .inject_fault(FaultRule::status(None, "/oauth2/v2.0/token$", 429).times(1))
        .unwrap();
    let r = env.token_request(&env.operator.app_id, "whatever").await;
    expect_aadsts(r, 429, "temporarily_unavailable", 90055).await;

    // 500 and 504 on reads.
    for status in [500u16, 504] {
        env.em
            .inject_fault(FaultRule::status(Some("GET"), "^/v1.0/applications", status).times(1))
            .unwrap();
        let r = env.graph(Method::GET, &path, None).await;
        assert_eq!(r.status(), status);
    }
}

#[tokio::test]
async fn faults_at_a_rate_are_reproducible_with_a_seed() {
    async fn run() -> Vec<u16> {
        let env = env_with(
            Emulator::builder().seed(11).build().unwrap(),
            &["Application.Read.All"],
        )
        .await;
        let token = env.operator_token().await;
        env.em
            .inject_fault(FaultRule::status(Some("GET"), "^/v1.0/", 503).rate(0.3))
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 0..30 {
            let r = env.graph_with(&token, Method::GET, "/applications", None).await;
            statuses.push(r.status().as_u16());
        }
        statuses
    }
    let a = run().await;
    assert!(a.contains(&503) && a.contains(&200), "{a:?}");
    assert_eq!(a, run().await);
}

#[tokio::test]
async fn latency_faults_delay_and_drop_faults_close_the_connection() {
    let env = env(&["Application.ReadWrite.All"]).await;
    let token = env.operator_token().await;
    env.em
        .inject_fault(FaultRule {
            action: FaultAction::Latency { millis: 300 },
            ..FaultRule::status(None, "^/v1.0/", 500).times(1)
        })
        .unwrap();
    let started = Instant::now();
    let r = env.graph_with(&token, Method::GET, "/applications", None).await;
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    env.em
        .inject_fault(FaultRule {
            action: FaultAction::Drop,
            ..FaultRule::status(Some("POST"), "addPassword", 500).times(1)
        })
        .unwrap();
    let err = env
        .http
        .post(env.url(&format!(
            "/v1.0/applications/{}/addPassword",
            env.target.object_id
        )))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .expect_err("the connection is closed without a response");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(
        env.em.credentials(&env.target.app_id).unwrap().is_empty(),
        "the dropped request did nothing"
    );
    let audit = env.em.audit_log();
    let last = audit.last().unwrap();
    assert_eq!((last.status, last.fault.is_some()), (0, true));
    // The next request is served normally.
    let r = env
        .graph_with(
            &token,
            Method::POST,
            &format!("/applications/{}/addPassword", env.target.object_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn faults_are_managed_over_the_admin_http_interface() {
    let env = env(&["Application.ReadWrite.All"]).await;
    let r = env
        .http
        .post(env.url("/_emulator/faults"))
        .json(&json!({"method": "POST", "path": "addPassword$", "action": {"type": "status", "status": 504}, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.json::<Value>().await.unwrap()["id"].as_u64().unwrap();
    let list: Value = env
        .http
        .get(env.url("/_emulator/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], id);
    assert_eq!(
        env.add_password(&format!("/applications/{}", env.target.object_id), json!({}))
            .await
            .status(),
        504
    );
    let r = env
        .http
        .post(env.url("/_emulator/faults"))
        .json(&json!({"path": "(", "action": {"type": "drop"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("invalid path pattern")
    );
    env.http
        .post(env.url("/_emulator/faults"))
        .json(&json!({"action": {"type": "status", "status": 500}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        env.http
            .delete(env.url("/_emulator/faults"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(env.em.faults().is_empty());
    // Admin routes are never faulted.
    env.em.inject_fault(FaultRule::status(None, "", 500)).unwrap();
    assert_eq!(
        env.http
            .get(env.url("/_emulator/clock"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
