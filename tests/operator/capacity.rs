//! The operator-wide caps, end to end: with at most one rotation in flight, three rotations created
//! together are issued one after the other (never two at once, as every status change the watch
//! sees shows), and each waiting rotation starts as soon as the slot is given back, not at its
//! periodic re-check (`CAPACITY_RECHECK`, 30 s).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::ResourceExt;
use secret_rotator::{
    api::{RotationPhase, wellknown::condition},
    rotation::holds_rotation_slot,
};
use serde_json::json;

use crate::support::world::{World, condition as cond, spec, watch_rotations};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rotation_at_a_time_and_a_freed_slot_starts_the_next_at_once() {
    let mut w = World::new(3).await;
    w.config.max_rotations_in_flight = 1;
    let mut changes = Box::pin(watch_rotations(w.rotations()));
    w.start_operator();
    for i in 0..3 {
        let client_id = w.app(i).app_id.clone();
        w.create_rotation(
            &format!("app-{i}"),
            spec(
                &client_id,
                &format!("app-{i}-credentials"),
                json!({"lifetime": "10m", "overlap": "0s"}),
            ),
        )
        .await;
    }

    let mut phases: BTreeMap<String, Option<RotationPhase>> = BTreeMap::new();
    let mut ready = BTreeSet::new();
    let mut freed_at: Option<Instant> = None;
    let mut waits = vec![];
    let mut most_in_flight = 0;
    tokio::time::timeout(Duration::from_secs(180), async {
        while ready.len() < 3 {
            let csr = changes.next().await.expect("the watch goes on");
            let name = csr.name_any();
            let now = csr.phase();
            let before = phases.insert(name.clone(), now).flatten();
            let in_flight = phases
                .values()
                .filter(|p| p.is_some_and(holds_rotation_slot))
                .count();
            most_in_flight = most_in_flight.max(in_flight);
            assert!(
                in_flight <= 1,
                "{in_flight} rotations in flight at once: {phases:?}"
            );
            let held = |p: Option<RotationPhase>| p.is_some_and(holds_rotation_slot);
            if held(before) && !held(now) {
                freed_at = Some(Instant::now());
            }
            if !held(before)
                && held(now)
                && let Some(freed) = freed_at.take()
            {
                waits.push((name.clone(), freed.elapsed()));
            }
            if cond(&csr, condition::READY).is_some_and(|c| c.status == "True") {
                ready.insert(name);
            }
        }
    })
    .await
    .expect("all three rotations become Ready");
    assert_eq!(most_in_flight, 1);
    assert_eq!(waits.len(), 2, "two rotations waited for the slot: {waits:?}");
    for (name, waited) in &waits {
        // NB: generous for a loaded machine, and far below the 30-s re-check the waiting
        // rotations planned when they were created (a release comes well before it).
        assert!(
            *waited < Duration::from_secs(8),
            "{name} started {waited:?} after the slot was given back"
        );
    }
}
