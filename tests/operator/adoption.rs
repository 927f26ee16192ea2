//! Adoption: a Secret that already holds a working secret minted elsewhere is taken over (by
//! `adoptKeyId`, or by Entra's hint), its renewal is scheduled from the credential's real end
//! date, and the adopted credential is never revoked (it is left to expire).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, api::PostParams};
use sandbox::entra::PasswordSpec;
use secret_rotator::api::{CredentialOrigin, wellknown::event};
use serde_json::json;

use crate::support::world::{NS, World, spec};

/// Seeds a credential ending `lifetime` from now on application `i`, and a Secret holding it.
async fn legacy_secret(w: &World, i: usize, name: &str, lifetime: Duration) -> (String, String, Timestamp) {
    let seeded =
        w.em.seed_password(
            &w.app(i).app_id,
            PasswordSpec {
                display_name: Some("created by hand in the portal".into()),
                end: Some(w.em.now() + lifetime),
                ..Default::default()
            },
        )
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), NS);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": name},
                "stringData": {"client-secret": seeded.secret.expose_secret()},
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    (
        seeded.key_id,
        seeded.secret.expose_secret().to_owned(),
        seeded.end,
    )
}

use secrecy::ExposeSecret;

async fn adopts(by_key_id: bool) {
    let mut w = World::new(1).await;
    let (key_id, value, end) = legacy_secret(&w, 0, "legacy", Duration::from_secs(3600)).await;
    w.start_operator();
    let client_id = w.app(0).app_id.clone();
    let mut extra = json!({"lifetime": "1h", "renewBefore": "20m", "overlap": "0s"});
    if by_key_id {
        extra["secret"] = json!({"adoptKeyId": key_id});
    }
    w.create_rotation("adopter", spec(&client_id, "legacy", extra))
        .await;
    let ready = w.wait_ready("adopter").await;
    let status = ready.status.unwrap();
    let current = status.current.unwrap();
    assert_eq!(current.key_id, key_id, "the existing credential is adopted");
    assert_eq!(current.origin, CredentialOrigin::Adopted);
    assert_eq!(w.mints(), 0, "nothing minted on adoption");
    assert_eq!(w.secret_value("legacy", "client-secret").await.unwrap(), value);
    // Renewal from the credential's real end date: 20 minutes before it, minus jitter.
    let renewal = status.renewal_time.unwrap().0;
    let end = secret_rotator::rotation::plan::rfc3339(end)
        .parse::<Timestamp>()
        .unwrap();
    assert!(
        renewal <= end - Duration::from_secs(20 * 60),
        "{renewal} vs {end}"
    );
    assert!(
        renewal >= end - Duration::from_secs(22 * 60),
        "{renewal} vs {end}"
    );
    w.wait_events("adopter", &[event::ADOPTED]).await;

    // The first rotation replaces it in the Secret but leaves it valid until it expires.
    w.advance(renewal.duration_since(w.em.now()).unsigned_abs() + Duration::from_secs(1));
    let rotated = w
        .wait_for("adopter", "rotated once", |o| {
            o.status.as_ref().is_some_and(|s| {
                s.rotation_count >= 1 && s.rotation.is_none() && s.last_rotation_time.is_some()
            })
        })
        .await;
    let status = rotated.status.unwrap();
    assert_ne!(status.current.as_ref().unwrap().key_id, key_id);
    assert_eq!(status.previous, None, "released, not kept");
    assert!(
        w.passwords(0).iter().any(|p| p.key_id == key_id),
        "the adopted credential is not revoked"
    );
    assert!(w.authenticates(0, &value), "and still works until it expires");
    w.wait_events("adopter", &[event::PREVIOUS_LEFT_TO_EXPIRE]).await;
    let new_value = w.secret_value("legacy", "client-secret").await.unwrap();
    assert!(w.authenticates(0, &new_value));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_by_key_id_schedules_from_the_real_end_date_and_never_revokes_it() {
    adopts(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adoption_by_hint_schedules_from_the_real_end_date_and_never_revokes_it() {
    adopts(false).await;
}
