//! Years of simulated time through `plan`/`record` with a fake provider and fake workloads, in
//! memory, asserting the invariants users rely on at every simulated instant:
//!
//! * never more than one current + one previous + one in-flight credential of this resource live;
//! * the target Secret's credential is valid (exists, not expired, authenticates) at every instant
//!   once it has been written;
//! * no running pod ever holds a revoked or expired credential, except after an emergency revoke;
//! * the previous credential is revoked only after every rollout completed and the overlap passed
//!   (except emergency);
//! * a second pass right after a pass that ended waiting (an operator restart, a leader change)
//!   does nothing at all: no provider call, no write.

use jiff::{SignedDuration, Timestamp};

use super::world::{NAME, NS, World, spec, ts};
use crate::{
    api::{CredentialRole, GoDuration, wellknown},
    rotation::{RevokeReason, marker},
};

#[derive(Default, Debug)]
struct Stats {
    passes: u64,
    completed: u64,
}

/// Checks the invariants that hold at every instant.
fn check_instant(w: &World, emergency_ok: bool) {
    let ours_live = w
        .app
        .iter()
        .filter(|c| {
            marker::rotation_of(c.credential.display_name.as_deref(), NS, NAME).is_some()
                && c.credential.end > w.now
        })
        .count();
    assert!(
        ours_live <= 3,
        "{ours_live} live credentials of this rotation at {}",
        w.now
    );
    if let Some(secret) = w.target_secret() {
        let key = w
            .key_of(&secret)
            .unwrap_or_else(|| panic!("target Secret holds a revoked credential at {}", w.now));
        let cred = w.app.iter().find(|c| c.credential.key_id == key).unwrap();
        assert!(
            cred.credential.end > w.now,
            "target Secret's credential {key} expired at {}",
            w.now
        );
        assert_eq!(
            w.check(&secret),
            crate::provider::CheckOutcome::Authenticated,
            "target credential rejected at {}",
            w.now
        );
    }
    for wl in &w.workloads {
        for pod in &wl.pods {
            let Some(secret) = &pod.secret else { continue };
            match w.key_of(secret) {
                Some(key) => {
                    let cred = w.app.iter().find(|c| c.credential.key_id == key).unwrap();
                    assert!(
                        cred.credential.end > w.now,
                        "a pod of {} holds expired credential {key} at {}",
                        wl.name,
                        w.now
                    );
                }
                None => assert!(
                    emergency_ok && !w.emergency_revoked.is_empty(),
                    "a pod of {} holds a revoked credential at {}",
                    wl.name,
                    w.now
                ),
            }
        }
    }
}

/// Drives `w` until `until`. `hook` runs before each pass and may inject requests.
fn simulate(w: &mut World, until: Timestamp, emergency_ok: bool, mut hook: impl FnMut(&mut World)) -> Stats {
    let mut stats = Stats::default();
    let tick = SignedDuration::from_secs(10);
    let mut next_tick = w.now + tick;
    while w.now < until {
        hook(w);
        let (requeue, crashed) = w.pass();
        stats.passes += 1;
        check_instant(w, emergency_ok);
        if !crashed && w.crash_rate == 0.0 {
            let actions = w.actions.len();
            let status = w.status();
            let (_, _) = w.pass();
            assert_eq!(w.actions[actions..], [], "a restart at {} did something", w.now);
            assert_eq!(w.status(), status, "a restart at {} changed the status", w.now);
        }
        stats.completed = w
            .events
            .iter()
            .filter(|e| e.reason == wellknown::event::ROTATED)
            .count() as u64;
        // Advance to the next thing that happens: the requeue, or a workload controller step (a
        // watch event for the operator).
        let mut next = requeue
            .unwrap_or(until)
            .max(w.now + SignedDuration::from_secs(1))
            .min(until);
        if w.rolling() {
            next = next.min(next_tick.max(w.now));
        }
        w.now = next;
        if w.now >= next_tick {
            w.tick_workloads();
            next_tick = w.now + tick;
        }
        check_instant(w, emergency_ok);
    }
    stats
}

#[test]
fn three_years_of_ninety_day_secrets() {
    let start = ts("2026-01-01T00:00:00Z");
    let mut w = World::new(start, spec(), 1);
    let stats = simulate(&mut w, ts("2029-01-01T00:00:00Z"), false, |_| {});
    // A 90-day secret is renewed when a third remains: every ~60 days, a little earlier with jitter.
    assert!((17..=20).contains(&stats.completed), "{stats:?}");
    assert_eq!(w.minted as u64, stats.completed, "exactly one mint per rotation");
    assert_eq!(
        w.revoked.len() as u64,
        stats.completed - 1,
        "every replaced credential revoked"
    );
    assert!(w.revoked.iter().all(|(_, _, why)| *why == RevokeReason::Previous));
    w.assert_no_secret_leaked();
    // Idle most of the time: a handful of passes per rotation plus the daily inventory.
    assert!(stats.passes < 3 * 365 + stats.completed * 400, "{stats:?}");
}

#[test]
fn a_month_of_one_hour_secrets_with_flaky_provider_and_requests() {
    let start = ts("2026-01-01T00:00:00Z");
    let mut s = spec();
    s.lifetime = GoDuration::from("1h");
    s.renew_before = Some(GoDuration::from("20m"));
    s.overlap = GoDuration::from("2m");
    s.verify_timeout = GoDuration::from("2m");
    s.secret.keys.previous_client_secret = Some("client-secret-previous".into());
    let mut w = World::new(start, s, 7);
    w.provider_flakiness = 0.1;
    let mut n = 0;
    let stats = simulate(&mut w, start + SignedDuration::from_hours(24 * 30), true, |w| {
        n += 1;
        if n % 997 == 0 {
            w.set_annotation(wellknown::ANNOTATION_ROTATE, &format!("manual-{n}"));
        }
        if n % 4999 == 0 {
            w.set_annotation(wellknown::ANNOTATION_EMERGENCY_ROTATE, &format!("leak-{n}"));
        }
    });
    assert!(stats.completed > 900, "{stats:?}");
    let status = w.status();
    assert!(status.handled_rotate_request.is_some());
    assert!(status.handled_emergency_request.is_some());
    assert!(!w.emergency_revoked.is_empty());
    assert!(
        w.events
            .iter()
            .any(|e| e.reason == wellknown::event::EMERGENCY_REVOKED)
    );
}

#[test]
fn crashes_at_any_point_resume_correctly() {
    for seed in 0..40 {
        let start = ts("2026-01-01T00:00:00Z");
        let mut s = spec();
        s.lifetime = GoDuration::from("2h");
        s.renew_before = Some(GoDuration::from("40m"));
        s.overlap = GoDuration::from("5m");
        s.verify_timeout = GoDuration::from("5m");
        let mut w = World::new(start, s, seed);
        w.crash_rate = 0.08;
        let stats = simulate(&mut w, start + SignedDuration::from_hours(48), false, |_| {});
        assert!(
            stats.completed >= 30,
            "seed {seed}: {stats:?}, {} crashes",
            w.crashes
        );
        assert!(w.crashes > 10, "seed {seed}: too few crashes to mean anything");
        // Let it settle without crashes, then nothing of ours is left but current (and previous).
        w.crash_rate = 0.0;
        let until = w.now + SignedDuration::from_hours(3);
        simulate(&mut w, until, false, |_| {});
        let mut settle = 0;
        while w.status().rotation.is_some() && settle < 200 {
            let (next, _) = w.pass();
            w.now = next.unwrap_or(w.now).max(w.now + SignedDuration::from_secs(10));
            w.tick_workloads();
            settle += 1;
        }
        w.provider_flakiness = 0.0;
        // One fetch of the inventory, as the daily refresh would do.
        let mut st = w.status();
        st.credentials_observed_at = None;
        w.persist(st);
        w.pass();
        let status = w.status();
        let managed: Vec<_> = status
            .credentials
            .iter()
            .filter(|c| c.role != CredentialRole::Unmanaged)
            .collect();
        assert!(
            managed.iter().all(|c| matches!(
                c.role,
                CredentialRole::Current | CredentialRole::Previous | CredentialRole::InFlight
            )),
            "seed {seed}: orphans left: {managed:?}"
        );
        let live_ours = w
            .app
            .iter()
            .filter(|c| {
                marker::rotation_of(c.credential.display_name.as_deref(), NS, NAME).is_some()
                    && c.credential.end > w.now
            })
            .count();
        assert!(
            live_ours <= 2,
            "seed {seed}: {live_ours} live credentials after settling"
        );
    }
}
