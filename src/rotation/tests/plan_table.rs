//! Named cases for every state and transition of `plan`, and for what `record` does with each
//! outcome. Each case builds a realistic state by driving the in-memory world, then checks the
//! one decision taken from it.

use jiff::SignedDuration;

use super::world::{APP, NAME, NS, SECRET, TENANT, World, spec, ts};
use crate::{
    api::{
        ClientSecretRotationSpec, CredentialOrigin, CredentialRole, DeletionPolicy, FailureRecord,
        GoDuration, ProviderKind, RotationPhase, RotationReason, WorkloadKind,
        wellknown::{self, condition, event, reason},
    },
    provider::{CheckOutcome, Credential},
    rotation::{
        Action, Capacity, Decision, EventType, Outcome, ProviderLookup, RevokeReason, StatusChange,
        StepFailure, ValueSource, conditions, marker, plan, record,
        schedule::{BACKOFF, ROLLOUT_STALL_AFTER},
    },
};

type Check = Box<dyn Fn(&Decision)>;

fn t0() -> jiff::Timestamp {
    ts("2026-01-01T00:00:00Z")
}

fn fresh() -> World {
    World::new(t0(), spec(), 0)
}

fn with(spec: ClientSecretRotationSpec) -> World {
    World::new(t0(), spec, 0)
}

fn phase(w: &World) -> Option<RotationPhase> {
    w.status().rotation.map(|r| r.phase)
}

fn at(mut w: World, p: RotationPhase) -> World {
    w.run_until(|w| phase(w) == Some(p));
    w
}

fn idle(mut w: World) -> World {
    w.run_until(|w| w.status().current.is_some() && w.status().rotation.is_none());
    w
}

fn decide(w: &World) -> Decision {
    plan(&w.observe(None), w.now)
}

fn decide_with_list(w: &World) -> Decision {
    plan(&w.observe(Some(w.credentials())), w.now)
}

fn cond(d: &Decision, type_: &str) -> (String, String) {
    let c = conditions::get(&d.status.conditions, type_).unwrap_or_else(|| panic!("no {type_} condition"));
    (c.status.clone(), c.reason.clone())
}

fn foreign(key: &str, hint: &str, days: i64) -> Credential {
    Credential {
        key_id: key.into(),
        display_name: Some("made by hand".into()),
        hint: Some(hint.into()),
        start: Some(t0() - SignedDuration::from_hours(24)),
        end: t0() + SignedDuration::from_hours(24 * days),
    }
}

fn add_foreign(w: &mut World, c: Credential, secret: &str) {
    w.app.push(super::world::FakeCredential {
        credential: c,
        secret: secret.into(),
        created: t0() - SignedDuration::from_hours(48),
    });
}

fn target_with_value(w: &mut World, value: &str) {
    let key = w.resource.spec.secret.keys.client_secret.clone();
    w.target = Some(super::world::FakeSecret {
        data: [(key, value.to_string())].into(),
        ..Default::default()
    });
}

#[test]
fn first_steps_of_a_new_resource() {
    let mut w = fresh();
    w.resource.metadata.finalizers = None;
    let d = decide(&w);
    assert_eq!(d.action, Action::AddFinalizer, "no finalizer yet");
    assert_eq!(
        cond(&d, condition::READY),
        ("False".into(), reason::NOT_ISSUED.into())
    );

    let w = fresh();
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::UpdateStatus(StatusChange::StartRotation {
            id: 1,
            reason: RotationReason::Initial
        })
    );
    let rot = d.status.rotation.clone().unwrap();
    assert_eq!(
        (rot.phase, rot.display_name.as_str()),
        (RotationPhase::Pending, "secret-rotator/team-a/my-app/r1")
    );
    assert_eq!(d.status.rotation_count, 1);
    assert_eq!(
        cond(&d, condition::ROTATING),
        ("True".into(), reason::MINTING.into())
    );
    assert_eq!(d.status.observed_generation, Some(1));
    assert!(
        d.status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(1))
    );
}

#[test]
fn pending_fetches_then_mints_with_an_explicit_end() {
    let mut w = fresh();
    w.step(&mut None);
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::FetchCredentials,
        "the list is needed to find orphans first"
    );
    let d = decide_with_list(&w);
    let Action::Mint {
        rotation,
        request,
        staging_secret,
    } = d.action
    else {
        panic!("{:?}", d.action)
    };
    assert_eq!(rotation, 1);
    assert_eq!(request.display_name, marker::display_name(NS, NAME, 1));
    assert_eq!(request.end, t0() + SignedDuration::from_hours(2160));
    assert_eq!(staging_secret, "my-app-staging");
}

#[test]
fn crash_between_mint_and_staging_revokes_the_orphan_then_mints_again() {
    let mut w = fresh();
    w.step(&mut None); // StartRotation
    // The mint happened, the staging write did not.
    w.app.push(super::world::FakeCredential {
        credential: Credential {
            key_id: "0rphan00-0000-4000-8000-000000000000".into(),
            display_name: Some(marker::display_name(NS, NAME, 1)),
            hint: Some("abc".into()),
            start: Some(t0()),
            end: t0() + SignedDuration::from_hours(2160),
        },
        secret: "abc-lost".into(),
        created: t0(),
    });
    let d = decide_with_list(&w);
    assert_eq!(
        d.action,
        Action::Revoke {
            key_id: "0rphan00-0000-4000-8000-000000000000".into(),
            why: RevokeReason::Orphan
        }
    );
    assert_eq!(
        d.status
            .credentials
            .iter()
            .find(|c| c.key_id.starts_with("0rphan"))
            .map(|c| c.role),
        Some(CredentialRole::Orphan)
    );
    let mut creds = Some(w.credentials());
    w.step(&mut creds);
    assert!(
        w.events
            .iter()
            .any(|e| e.reason == event::ORPHAN_REVOKED && e.type_ == EventType::Warning)
    );
    let d = decide_with_list(&w);
    assert!(
        matches!(d.action, Action::Mint { rotation: 1, .. }),
        "{:?}",
        d.action
    );
}

#[test]
fn crash_between_staging_and_status_records_the_staged_credential() {
    let mut w = fresh();
    let mut creds = None;
    w.step(&mut creds); // StartRotation
    w.step(&mut creds); // Fetch
    let before = w.status();
    w.step(&mut creds); // Mint + stage + record
    let key = w.staging.as_ref().unwrap().annotations[wellknown::ANNOTATION_KEY_ID].clone();
    // Lose the recorded outcome: status as it was before the mint.
    w.persist(before);
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::UpdateStatus(StatusChange::RecordMinted { key_id: key.clone() })
    );
    let rot = d.status.rotation.unwrap();
    assert_eq!(rot.phase, RotationPhase::Verifying);
    assert_eq!(rot.credential.unwrap().key_id, key);
    assert_eq!(w.minted, 1, "no second mint");
}

#[test]
fn verification_waits_for_propagation_and_needs_consecutive_successes() {
    let mut w = at(fresh(), RotationPhase::Verifying);
    w.propagation = SignedDuration::from_secs(30);
    let d = decide(&w);
    assert!(matches!(d.action, Action::Verify { .. }), "{:?}", d.action);
    w.step(&mut None);
    let v = w.status().rotation.unwrap().verification.unwrap();
    assert_eq!(
        (v.attempts, v.consecutive_successes, v.last_result.as_deref()),
        (1, 0, Some("NotAccepted"))
    );
    let next = v.next_attempt_at.unwrap().0;
    assert_eq!(
        decide(&w).action,
        Action::Wait { until: Some(next) },
        "no probing before the next attempt"
    );
    w.run_until(|w| phase(w) == Some(RotationPhase::Verified));
    let v = w.status().rotation.unwrap().verification.unwrap();
    assert_eq!(v.consecutive_successes, 3);
    assert!(w.now >= t0() + SignedDuration::from_secs(30));
    assert!(w.events.iter().any(|e| e.reason == event::VERIFIED));
}

#[test]
fn verification_timeout_abandons_revokes_and_backs_off() {
    let mut w = at(fresh(), RotationPhase::Verifying);
    w.propagation = SignedDuration::from_hours(1_000_000); // never accepted
    w.run_until(|w| phase(w) == Some(RotationPhase::Abandoning));
    let rot = w.status().rotation.unwrap();
    assert_eq!(
        rot.abandon_reason.as_deref(),
        Some(reason::VERIFICATION_TIMED_OUT)
    );
    assert!(w.now >= t0() + SignedDuration::from_mins(10));
    let key = rot.credential.unwrap().key_id;
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::Revoke {
            key_id: key.clone(),
            why: RevokeReason::Abandoned
        }
    );
    w.step(&mut None);
    assert_eq!(decide(&w).action, Action::DeleteStagingSecret);
    w.step(&mut None);
    let d = decide(&w);
    assert_eq!(d.action, Action::UpdateStatus(StatusChange::Abandoned));
    let f = d.status.failure.clone().unwrap();
    assert_eq!(
        (f.reason.as_str(), f.attempts),
        (reason::VERIFICATION_TIMED_OUT, 1)
    );
    assert_eq!(
        cond(&d, condition::DEGRADED),
        ("True".into(), reason::VERIFICATION_TIMED_OUT.into())
    );
    w.step(&mut None);
    assert!(w.target.is_none(), "consumers never saw the credential");
    assert!(
        w.revoked
            .iter()
            .any(|(k, _, why)| k == &key && *why == RevokeReason::Abandoned)
    );
    // The retry waits for the backoff.
    assert_eq!(
        decide(&w).action,
        Action::Wait {
            until: Some(f.next_retry_time.0)
        }
    );
    // A spec change retries at once.
    w.resource.metadata.generation = Some(2);
    assert!(matches!(
        decide(&w).action,
        Action::UpdateStatus(StatusChange::StartRotation { id: 2, .. })
    ));
}

#[test]
fn a_provider_refusing_the_new_secret_for_good_abandons_at_once() {
    let w = at(fresh(), RotationPhase::Verifying);
    let observed = w.observe(None);
    let d = plan(&observed, w.now);
    let failure = StepFailure {
        reason: "TenantNotFound".into(),
        message: "AADSTS90002".into(),
        transient: false,
        retry_after: None,
    };
    let r = record(&observed, &d, Outcome::Failed(failure), w.now);
    assert_eq!(r.status.rotation.unwrap().phase, RotationPhase::Abandoning);
}

#[test]
fn promotion_writes_the_target_from_staging_and_keeps_the_previous_when_asked() {
    let mut s = spec();
    s.secret.keys.previous_client_secret = Some("client-secret-previous".into());
    let mut w = idle(with(s));
    w.now = w.status().renewal_time.unwrap().0;
    let w = at(w, RotationPhase::Verified);
    let old = w.status().current.unwrap();
    let d = decide(&w);
    let Action::WriteSecret(write) = d.action else {
        panic!("{:?}", d.action)
    };
    assert_eq!(write.name, SECRET);
    assert_eq!(write.current.from, ValueSource::Staging);
    assert_eq!(
        write.previous.as_ref().map(|p| (p.key_id.clone(), p.from)),
        Some((old.key_id.clone(), ValueSource::TargetCurrent))
    );
    assert_eq!(
        (write.client_id.as_str(), write.tenant_id.as_str()),
        (APP, TENANT)
    );
    assert_eq!(
        write.annotations.get(wellknown::ANNOTATION_PREVIOUS_KEY_ID),
        Some(&old.key_id)
    );
    assert_eq!(
        write.labels.get(wellknown::LABEL_MANAGED).map(String::as_str),
        Some("true")
    );
    assert_eq!(
        write.annotations.get(wellknown::ANNOTATION_VERSION),
        Some(&wellknown::secret_version(&write.current.key_id))
    );
}

#[test]
fn promotion_waits_for_a_rollout_slot_unless_emergency() {
    let mut w = at(fresh(), RotationPhase::Verified);
    w.capacity = Capacity {
        rotation_slot: true,
        rollout_slot: false,
    };
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::Wait {
            until: Some(w.now + SignedDuration::from_secs(30))
        }
    );
    assert_eq!(
        cond(&d, condition::ROTATING),
        ("True".into(), reason::WAITING_FOR_CAPACITY.into())
    );
    let mut st = w.status();
    st.rotation.as_mut().unwrap().emergency = true;
    w.persist(st);
    assert!(matches!(decide(&w).action, Action::WriteSecret(_)));
}

#[test]
fn crash_after_the_target_write_records_the_promotion() {
    let mut w = at(fresh(), RotationPhase::Verified);
    let before = w.status();
    w.step(&mut None); // WriteSecret + record
    w.persist(before); // the record is lost
    let d = decide(&w);
    assert!(
        matches!(
            d.action,
            Action::UpdateStatus(StatusChange::RecordPromoted { .. })
        ),
        "{:?}",
        d.action
    );
    assert_eq!(d.status.rotation.unwrap().phase, RotationPhase::RollingOut);
    assert!(d.status.current.is_some());
}

#[test]
fn rollout_restarts_each_target_once_and_waits_for_completion() {
    let mut w = at(fresh(), RotationPhase::RollingOut);
    assert_eq!(
        decide(&w).action,
        Action::DeleteStagingSecret,
        "the secret value leaves staging first"
    );
    w.step(&mut None);
    let d = decide(&w);
    let Action::Rollout {
        annotation_key,
        version,
        targets,
    } = d.action
    else {
        panic!("{:?}", d.action)
    };
    assert_eq!(annotation_key, "rollout.secret-rotator.dev/my-app");
    assert_eq!(
        version,
        wellknown::secret_version(&w.status().current.unwrap().key_id)
    );
    assert_eq!(targets.len(), 1);
    w.step(&mut None);
    let started = w.now;
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::Wait {
            until: Some(started + ROLLOUT_STALL_AFTER)
        },
        "waits for workload events"
    );
    // A stuck rollout: after the stall time, Degraded, and still never revokes.
    w.workloads[0].stuck = true;
    w.now = started + ROLLOUT_STALL_AFTER;
    let d = decide(&w);
    assert_eq!(d.action, Action::Wait { until: None });
    assert_eq!(
        cond(&d, condition::DEGRADED),
        ("True".into(), reason::ROLLOUT_STALLED.into())
    );
    assert!(d.events.iter().any(|e| e.reason == event::ROLLOUT_STALLED));
    w.persist(d.status.clone());
    assert!(decide(&w).events.is_empty(), "the stall is reported once");
    w.workloads[0].stuck = false;
    w.run_until(|w| phase(w) == Some(RotationPhase::Retiring));
    let rot = w.status().rotation.unwrap();
    assert_eq!(
        rot.revoke_after.unwrap().0,
        rot.rollout_completed_at.unwrap().0 + SignedDuration::from_hours(1)
    );
}

#[test]
fn crash_after_a_restart_records_it_instead_of_restarting_again() {
    let mut w = at(fresh(), RotationPhase::RollingOut);
    w.step(&mut None); // staging deleted
    let before = w.status();
    w.step(&mut None); // Rollout + record
    let generation = w.workloads[0].generation;
    w.persist(before);
    let d = decide(&w);
    assert_eq!(d.action, Action::UpdateStatus(StatusChange::RecordRolledOut));
    assert_eq!(
        d.status.rotation.unwrap().rolled_targets[0].generation,
        generation
    );
}

fn retiring_after_a_real_rotation(s: ClientSecretRotationSpec) -> World {
    let mut w = idle(with(s));
    w.now = w.status().renewal_time.unwrap().0;
    at(w, RotationPhase::Retiring)
}

#[test]
fn retiring_waits_for_the_overlap_then_revokes_the_previous() {
    let mut w = retiring_after_a_real_rotation(spec());
    let rot = w.status().rotation.unwrap();
    let previous = w.status().previous.unwrap();
    assert_eq!(
        decide(&w).action,
        Action::Wait {
            until: Some(rot.revoke_after.clone().unwrap().0)
        }
    );
    w.now = rot.revoke_after.unwrap().0;
    assert_eq!(
        decide(&w).action,
        Action::Revoke {
            key_id: previous.key_id.clone(),
            why: RevokeReason::Previous
        }
    );
    w.step(&mut None);
    let d = decide(&w);
    assert_eq!(d.action, Action::UpdateStatus(StatusChange::Complete));
    assert!(d.status.rotation.is_none() && d.status.previous.is_none());
    assert!(d.status.renewal_time.clone().unwrap().0 > w.now);
    assert_eq!(
        cond(&d, condition::READY),
        ("True".into(), reason::UP_TO_DATE.into())
    );
    assert_eq!(
        cond(&d, condition::ROTATING),
        ("False".into(), reason::IDLE.into())
    );
}

#[test]
fn retiring_drops_the_previous_value_from_the_secret_before_revoking() {
    let mut s = spec();
    s.secret.keys.previous_client_secret = Some("client-secret-previous".into());
    let mut w = retiring_after_a_real_rotation(s);
    w.now = w.status().rotation.unwrap().revoke_after.unwrap().0;
    let d = decide(&w);
    let Action::WriteSecret(write) = d.action else {
        panic!("{:?}", d.action)
    };
    assert!(write.previous.is_none());
    assert_eq!(write.current.from, ValueSource::TargetCurrent);
    w.step(&mut None);
    assert!(matches!(
        decide(&w).action,
        Action::Revoke {
            why: RevokeReason::Previous,
            ..
        }
    ));
}

#[test]
fn a_workload_that_appears_before_revocation_is_rolled_first() {
    let mut w = retiring_after_a_real_rotation(spec());
    let mut newcomer = w.workloads[0].clone();
    newcomer.name = "worker".into();
    newcomer.template.clear();
    w.workloads.push(newcomer);
    w.now = w.status().rotation.unwrap().revoke_after.unwrap().0;
    assert_eq!(
        decide(&w).action,
        Action::UpdateStatus(StatusChange::ResumeRollout)
    );
    w.step(&mut None);
    let Action::Rollout { targets, .. } = decide(&w).action else {
        panic!()
    };
    assert_eq!(
        targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["worker"]
    );
}

#[test]
fn an_adopted_previous_is_never_revoked() {
    let mut w = fresh();
    add_foreign(
        &mut w,
        foreign("f0000000-0000-4000-8000-000000000001", "abc", 90),
        "abc-handmade",
    );
    target_with_value(&mut w, "abc-handmade");
    let mut w = idle(w);
    assert_eq!(w.status().current.unwrap().origin, CredentialOrigin::Adopted);
    w.now = w.status().renewal_time.unwrap().0;
    let mut w = at(w, RotationPhase::Retiring);
    w.now = w.status().rotation.unwrap().revoke_after.unwrap().0;
    let d = decide(&w);
    assert_eq!(d.action, Action::UpdateStatus(StatusChange::ReleasePrevious));
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == event::PREVIOUS_LEFT_TO_EXPIRE && e.type_ == EventType::Warning)
    );
    w.run_until(|w| w.status().rotation.is_none());
    assert!(w.revoked.is_empty(), "the hand-made credential stays");
}

#[test]
fn emergency_revokes_the_previous_before_any_restart() {
    let mut w = idle(fresh());
    w.set_annotation(wellknown::ANNOTATION_EMERGENCY_ROTATE, "leaked-2026-01-02");
    let d = decide(&w);
    assert_eq!(
        d.action,
        Action::UpdateStatus(StatusChange::StartRotation {
            id: 2,
            reason: RotationReason::Emergency
        })
    );
    assert_eq!(
        d.status.handled_emergency_request.as_deref(),
        Some("leaked-2026-01-02")
    );
    assert!(
        d.events
            .iter()
            .any(|e| e.type_ == EventType::Warning && e.message.contains("without waiting"))
    );
    let mut w = at(w, RotationPhase::RollingOut);
    let old = w.status().previous.unwrap().key_id;
    w.step(&mut None); // staging deleted
    assert_eq!(
        decide(&w).action,
        Action::Revoke {
            key_id: old.clone(),
            why: RevokeReason::Emergency
        }
    );
    let new_version = wellknown::secret_version(&w.status().current.unwrap().key_id);
    let annotation = wellknown::pod_template_annotation_key(NAME);
    assert_ne!(
        w.workloads[0].template.get(&annotation),
        Some(&new_version),
        "nothing restarted yet"
    );
    w.step(&mut None);
    assert!(w.events.iter().any(|e| e.reason == event::EMERGENCY_REVOKED));
    assert!(matches!(decide(&w).action, Action::Rollout { .. }));
    // Handled: the same annotation value does not rotate again.
    w.run_until(|w| w.status().rotation.is_none());
    assert!(matches!(decide(&w).action, Action::Wait { .. }));
}

#[test]
fn emergency_during_a_rotation_upgrades_it() {
    let mut w = at(fresh(), RotationPhase::Verifying);
    w.set_annotation(wellknown::ANNOTATION_EMERGENCY_ROTATE, "leak");
    let d = decide(&w);
    assert_eq!(d.action, Action::UpdateStatus(StatusChange::Emergency));
    assert!(d.status.rotation.unwrap().emergency);
}

#[test]
fn idle_waits_exactly_until_the_next_due_time() {
    let w = idle(fresh());
    let st = w.status();
    let renewal = st.renewal_time.clone().unwrap().0;
    let inventory = st.credentials_observed_at.clone().unwrap().0 + SignedDuration::from_hours(24);
    assert_eq!(
        decide(&w).action,
        Action::Wait {
            until: Some(renewal.min(inventory))
        }
    );
    assert_eq!(renewal.subsec_nanosecond(), 0);
    let lifetime = SignedDuration::from_hours(2160);
    let end = st.current.clone().unwrap().expires_at.0;
    assert!(
        renewal <= end - lifetime / 3 && renewal >= end - lifetime / 3 - lifetime / 30,
        "jitter within 10% of the window"
    );
}

#[test]
fn idle_transitions() {
    type Setup = fn(&mut World);
    let cases: [(&str, Setup, Check); 9] = [
        (
            "renewal time reached",
            |w| w.now = w.status().renewal_time.unwrap().0,
            Box::new(|d: &Decision| {
                assert_eq!(
                    d.action,
                    Action::UpdateStatus(StatusChange::StartRotation {
                        id: 2,
                        reason: RotationReason::Scheduled
                    })
                )
            }),
        ),
        (
            "manual request",
            |w| w.set_annotation(wellknown::ANNOTATION_ROTATE, "2026-01-02T00:00:00Z"),
            Box::new(|d: &Decision| {
                assert_eq!(
                    d.action,
                    Action::UpdateStatus(StatusChange::StartRotation {
                        id: 2,
                        reason: RotationReason::Manual
                    })
                );
                assert_eq!(
                    d.status.handled_rotate_request.as_deref(),
                    Some("2026-01-02T00:00:00Z")
                );
            }),
        ),
        (
            "manual request already handled",
            |w| {
                w.set_annotation(wellknown::ANNOTATION_ROTATE, "x");
                let mut st = w.status();
                st.handled_rotate_request = Some("x".into());
                w.persist(st);
            },
            Box::new(|d: &Decision| assert!(matches!(d.action, Action::Wait { .. }))),
        ),
        (
            "manual request but no rotation slot",
            |w| {
                w.set_annotation(wellknown::ANNOTATION_ROTATE, "y");
                w.capacity.rotation_slot = false;
            },
            Box::new(|d: &Decision| {
                assert!(
                    matches!(d.action, Action::Wait { until: Some(_) }),
                    "{:?}",
                    d.action
                );
                assert!(
                    d.status.handled_rotate_request.is_none(),
                    "the request stays pending"
                );
                let c = d
                    .status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Rotating")
                    .unwrap();
                assert_eq!(c.reason, reason::WAITING_FOR_CAPACITY);
            }),
        ),
        (
            "target Secret deleted",
            |w| w.target = None,
            Box::new(|d: &Decision| {
                assert_eq!(
                    d.action,
                    Action::UpdateStatus(StatusChange::StartRotation {
                        id: 2,
                        reason: RotationReason::TargetSecretMissing
                    })
                )
            }),
        ),
        (
            "target Secret overwritten by someone else",
            |w| {
                w.target
                    .as_mut()
                    .unwrap()
                    .annotations
                    .insert(wellknown::ANNOTATION_KEY_ID.into(), "someone-else".into());
            },
            Box::new(|d: &Decision| {
                assert!(
                    matches!(
                        d.action,
                        Action::Blocked {
                            reason: reason::TARGET_SECRET_CONFLICT,
                            ..
                        }
                    ),
                    "{:?}",
                    d.action
                )
            }),
        ),
        (
            "staging leftover",
            |w| w.staging = Some(Default::default()),
            Box::new(|d: &Decision| assert_eq!(d.action, Action::DeleteStagingSecret)),
        ),
        (
            "inventory due",
            |w| w.now += SignedDuration::from_hours(25),
            Box::new(|d: &Decision| assert_eq!(d.action, Action::FetchCredentials)),
        ),
        (
            "suspended at the renewal time",
            |w| {
                w.now = w.status().renewal_time.unwrap().0;
                w.resource.spec.suspend = true;
            },
            Box::new(|d: &Decision| {
                assert_eq!(d.action, Action::Wait { until: None });
                let c = d.status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
                assert_eq!(
                    (c.status.as_str(), c.reason.as_str()),
                    ("True", reason::SUSPENDED)
                );
            }),
        ),
    ];
    for (name, setup, check) in cases {
        let mut w = idle(fresh());
        setup(&mut w);
        let d = decide(&w);
        eprintln!("case: {name}");
        check(&d);
    }
}

#[test]
fn a_credential_removed_out_of_band_is_replaced() {
    let mut w = idle(fresh());
    w.now += SignedDuration::from_hours(2);
    w.app.clear();
    let d = decide_with_list(&w);
    assert_eq!(
        d.action,
        Action::UpdateStatus(StatusChange::StartRotation {
            id: 2,
            reason: RotationReason::CredentialMissing
        })
    );
}

#[test]
fn suspend_freezes_a_rotation_in_flight() {
    let mut w = at(fresh(), RotationPhase::Verifying);
    w.resource.spec.suspend = true;
    assert_eq!(decide(&w).action, Action::Wait { until: None });
    assert_eq!(
        decide_with_list(&w).action,
        Action::Wait { until: None },
        "not even orphans are touched"
    );
}

#[test]
fn adoption_table() {
    const KEY: &str = "f0000000-0000-4000-8000-000000000001";
    type Setup = fn(&mut World);
    let cases: [(&str, Setup, Check); 6] = [
        (
            "unique hint",
            |w| {
                add_foreign(w, foreign(KEY, "abc", 30), "abc-handmade");
                add_foreign(
                    w,
                    foreign("f0000000-0000-4000-8000-000000000002", "xyz", 30),
                    "xyz-other",
                );
                target_with_value(w, "abc-handmade");
            },
            Box::new(|d: &Decision| {
                assert_eq!(
                    d.action,
                    Action::UpdateStatus(StatusChange::Adopt { key_id: KEY.into() })
                );
                let c = d.status.current.clone().unwrap();
                assert_eq!((c.origin, c.rotation), (CredentialOrigin::Adopted, None));
                // Renewal from the real end (30 days), not from the spec's lifetime.
                let renewal = d.status.renewal_time.clone().unwrap().0;
                assert!(renewal < t0() + SignedDuration::from_hours(24 * 30), "{renewal}");
                assert_eq!(
                    d.status
                        .credentials
                        .iter()
                        .find(|c| c.key_id == KEY)
                        .unwrap()
                        .role,
                    CredentialRole::Current
                );
            }),
        ),
        (
            "ambiguous hint",
            |w| {
                add_foreign(w, foreign(KEY, "abc", 30), "abc-one");
                add_foreign(
                    w,
                    foreign("f0000000-0000-4000-8000-000000000002", "abc", 30),
                    "abc-two",
                );
                target_with_value(w, "abc-one");
            },
            Box::new(|d: &Decision| {
                assert!(
                    matches!(&d.action, Action::Blocked { reason: reason::ADOPTION_AMBIGUOUS, message, .. } if message.contains("adoptKeyId"))
                );
                let c = d
                    .status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Degraded")
                    .unwrap();
                assert_eq!(
                    (c.status.as_str(), c.reason.as_str()),
                    ("True", reason::ADOPTION_AMBIGUOUS)
                );
            }),
        ),
        (
            "keyId from the spec",
            |w| {
                add_foreign(w, foreign(KEY, "abc", 30), "abc-one");
                add_foreign(
                    w,
                    foreign("f0000000-0000-4000-8000-000000000002", "abc", 30),
                    "abc-two",
                );
                target_with_value(w, "abc-one");
                w.resource.spec.secret.adopt_key_id = Some(KEY.into());
            },
            Box::new(|d: &Decision| {
                assert_eq!(
                    d.action,
                    Action::UpdateStatus(StatusChange::Adopt { key_id: KEY.into() })
                )
            }),
        ),
        (
            "keyId from the spec not on the application",
            |w| {
                target_with_value(w, "abc-one");
                w.resource.spec.secret.adopt_key_id = Some(KEY.into());
            },
            Box::new(|d: &Decision| {
                assert!(matches!(
                    d.action,
                    Action::Blocked {
                        reason: reason::ADOPTION_FAILED,
                        ..
                    }
                ))
            }),
        ),
        (
            "hint matches nothing",
            |w| target_with_value(w, "zzz-unknown"),
            Box::new(|d: &Decision| {
                assert_eq!(
                    d.action,
                    Action::UpdateStatus(StatusChange::StartRotation {
                        id: 1,
                        reason: RotationReason::SecretNotRecognized
                    })
                );
                assert!(d.events.iter().any(|e| e.type_ == EventType::Warning));
            }),
        ),
        (
            "our own Secret after the resource was re-created",
            |w| {
                let mut c = foreign(KEY, "abc", 30);
                c.display_name = Some(marker::display_name(NS, NAME, 7));
                add_foreign(w, c, "abc-ours");
                target_with_value(w, "abc-ours");
                let t = w.target.as_mut().unwrap();
                t.annotations
                    .insert(wellknown::ANNOTATION_KEY_ID.into(), KEY.into());
                t.annotations
                    .insert(wellknown::ANNOTATION_ROTATION.into(), "7".into());
            },
            Box::new(|d: &Decision| {
                let c = d.status.current.clone().unwrap();
                assert_eq!((c.origin, c.rotation), (CredentialOrigin::Minted, Some(7)));
                assert_eq!(d.status.rotation_count, 7, "new rotations continue the numbering");
            }),
        ),
    ];
    for (name, setup, check) in cases {
        let mut w = fresh();
        setup(&mut w);
        eprintln!("case: {name}");
        assert_eq!(
            decide(&w).action,
            Action::FetchCredentials,
            "{name}: adoption needs the list"
        );
        check(&decide_with_list(&w));
    }
}

#[test]
fn a_twin_of_the_current_credential_is_an_orphan() {
    let mut w = idle(fresh());
    // Rotation 5 is current; another credential carries rotation 5's marker: its mint's answer was
    // lost and the mint made again, so nobody ever saw its secret.
    let mut st = w.status();
    st.rotation_count = 5;
    st.current.as_mut().unwrap().rotation = Some(5);
    w.persist(st);
    let key = "00000000-0000-4000-8000-00000000aaa5";
    let mut c = foreign(key, "twn", 30);
    c.display_name = Some(marker::display_name(NS, NAME, 5));
    add_foreign(&mut w, c, key);
    let d = decide_with_list(&w);
    assert_eq!(
        d.action,
        Action::Revoke {
            key_id: key.into(),
            why: RevokeReason::Orphan
        }
    );
}

#[test]
fn credentials_minted_before_the_current_one_are_never_orphans() {
    let mut w = idle(fresh());
    // Status says rotation 5 is current; a leftover of rotation 3 (maybe still used) and one of
    // rotation 6 (never promoted) exist.
    let mut st = w.status();
    st.rotation_count = 6;
    st.current.as_mut().unwrap().rotation = Some(5);
    w.persist(st);
    for (n, key) in [
        (3, "00000000-0000-4000-8000-00000000aaa3"),
        (6, "00000000-0000-4000-8000-00000000aaa6"),
    ] {
        let mut c = foreign(key, "old", 30);
        c.display_name = Some(marker::display_name(NS, NAME, n));
        add_foreign(&mut w, c, key);
    }
    let mut c = foreign("00000000-0000-4000-8000-00000000bbbb", "oth", 30);
    c.display_name = Some(marker::display_name(NS, "other-app", 9));
    add_foreign(&mut w, c, "other");
    let d = decide_with_list(&w);
    assert_eq!(
        d.action,
        Action::Revoke {
            key_id: "00000000-0000-4000-8000-00000000aaa6".into(),
            why: RevokeReason::Orphan
        }
    );
    let role = |k: &str| d.status.credentials.iter().find(|c| c.key_id == k).unwrap().role;
    assert_eq!(
        role("00000000-0000-4000-8000-00000000aaa3"),
        CredentialRole::Unmanaged
    );
    assert_eq!(
        role("00000000-0000-4000-8000-00000000bbbb"),
        CredentialRole::Unmanaged
    );
}

#[test]
fn blocked_states() {
    type Setup = fn(&mut World);
    let cases: [(&str, Setup, &str); 4] = [
        (
            "provider missing",
            |w| w.provider = ProviderLookup::NotFound,
            reason::PROVIDER_NOT_FOUND,
        ),
        (
            "cluster provider without grant",
            |w| {
                w.resource.spec.provider_ref.kind = ProviderKind::ClusterIdentityProvider;
                let ProviderLookup::Namespaced { spec, .. } = w.provider.clone() else {
                    unreachable!()
                };
                w.provider = ProviderLookup::Cluster {
                    spec: crate::api::ClusterIdentityProviderSpec {
                        directory: spec.directory,
                        auth: crate::api::ClusterProviderAuth {
                            workload_identity: None,
                            client_secret: None,
                            client_certificate: None,
                            managed_identity: Some(Default::default()),
                        },
                        grants: vec![],
                    },
                };
            },
            reason::PROVIDER_NOT_ALLOWED,
        ),
        (
            "duration the schema should have refused",
            |w| w.resource.spec.lifetime = GoDuration::from("90d"),
            reason::INVALID_SPEC,
        ),
        (
            "renewBefore longer than lifetime",
            |w| w.resource.spec.renew_before = Some(GoDuration::from("3000h")),
            reason::INVALID_SPEC,
        ),
    ];
    for (name, setup, want) in cases {
        let mut w = fresh();
        setup(&mut w);
        let d = decide(&w);
        assert!(
            matches!(d.action, Action::Blocked { reason, retry_at: None, .. } if reason == want),
            "{name}: {:?}",
            d.action
        );
        assert_eq!(
            cond(&d, condition::READY),
            ("False".into(), want.into()),
            "{name}"
        );
        assert_eq!(
            cond(&d, condition::DEGRADED),
            ("True".into(), want.into()),
            "{name}"
        );
        assert!(d.status.rotation.is_none(), "{name}: nothing started");
        assert!(d.events.iter().any(|e| e.reason == event::BLOCKED), "{name}");
        w.persist(d.status);
        assert!(decide(&w).events.is_empty(), "{name}: reported once");
    }
}

#[test]
fn failures_back_off_exponentially_and_clear_on_success() {
    let mut w = fresh();
    w.step(&mut None); // StartRotation
    let mut delays = vec![];
    for attempt in 1..=10 {
        let observed = w.observe(None);
        let d = plan(&observed, w.now);
        assert_eq!(d.action, Action::FetchCredentials, "attempt {attempt}");
        let f = StepFailure {
            reason: "Throttled".into(),
            message: "429".into(),
            transient: true,
            retry_after: None,
        };
        let r = record(&observed, &d, Outcome::Failed(f), w.now);
        let failure: FailureRecord = r.status.failure.clone().unwrap();
        assert_eq!(failure.attempts, attempt);
        delays.push(failure.next_retry_time.0.duration_since(w.now).as_secs());
        w.persist(r.status);
        assert_eq!(
            decide(&w).action,
            Action::Wait {
                until: Some(failure.next_retry_time.0)
            },
            "no hot loop"
        );
        assert_eq!(
            cond(&decide(&w), condition::DEGRADED),
            ("True".into(), "Throttled".into())
        );
        w.now = failure.next_retry_time.0;
    }
    assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    assert_eq!(BACKOFF.cap.as_secs(), 3600);
    let observed = w.observe(None);
    let d = plan(&observed, w.now);
    let r = record(&observed, &d, Outcome::Fetched(w.credentials()), w.now);
    assert!(
        r.status.failure.is_none(),
        "a success of the failed step clears it"
    );
}

#[test]
fn deletion_with_retain_revokes_only_what_no_consumer_saw() {
    let mut w = idle(fresh());
    w.now = w.status().renewal_time.unwrap().0;
    let mut w = at(w, RotationPhase::Verifying);
    let current = w.status().current.unwrap().key_id;
    let in_flight = w.status().rotation.unwrap().credential.unwrap().key_id;
    w.resource.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(w.now));
    let d = decide(&w);
    assert_eq!(d.action, Action::FetchCredentials);
    assert_eq!(
        cond(&d, condition::READY),
        ("False".into(), reason::DELETING.into())
    );
    assert_eq!(
        decide_with_list(&w).action,
        Action::Revoke {
            key_id: in_flight.clone(),
            why: RevokeReason::Abandoned
        }
    );
    w.run_until(|w| {
        w.resource
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.is_empty())
    });
    assert!(
        w.revoked.iter().all(|(k, _, _)| k == &in_flight),
        "{:?}",
        w.revoked
    );
    assert!(
        w.app.iter().any(|c| c.credential.key_id == current),
        "current stays valid"
    );
    assert!(w.staging.is_none());
    assert!(!w.target.as_ref().unwrap().owned, "the Secret is released");
}

#[test]
fn deletion_with_revoke_revokes_everything_minted_and_nothing_else() {
    let mut s = spec();
    s.deletion_policy = DeletionPolicy::Revoke;
    let mut w = with(s);
    add_foreign(
        &mut w,
        foreign("f0000000-0000-4000-8000-000000000009", "hmm", 300),
        "hmm-foreign",
    );
    let mut w = idle(w);
    w.now = w.status().renewal_time.unwrap().0;
    let mut w = at(w, RotationPhase::Retiring);
    w.resource.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(w.now));
    w.run_until(|w| {
        w.resource
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.is_empty())
    });
    assert_eq!(w.revoked.len(), 2, "current and previous: {:?}", w.revoked);
    assert_eq!(
        w.app
            .iter()
            .map(|c| c.credential.key_id.as_str())
            .collect::<Vec<_>>(),
        ["f0000000-0000-4000-8000-000000000009"]
    );
    assert!(
        w.target.as_ref().unwrap().owned,
        "the Secret is left to garbage collection"
    );
}

#[test]
fn deletion_when_the_provider_is_gone_skips_cleanup_with_a_warning() {
    let mut w = at(fresh(), RotationPhase::Verifying);
    w.provider = ProviderLookup::NotFound;
    w.resource.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(w.now));
    let d = decide(&w);
    assert_eq!(d.action, Action::DeleteStagingSecret);
    assert!(d.events.iter().any(|e| e.reason == event::CLEANUP_SKIPPED));
    w.run_until(|w| {
        w.resource
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.is_empty())
    });
    let mut w2 = fresh();
    w2.resource.metadata.finalizers = None;
    w2.resource.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(w2.now));
    assert_eq!(
        decide(&w2).action,
        Action::Wait { until: None },
        "nothing to do without the finalizer"
    );
}

#[test]
fn unmanaged_credentials_expiring_soon_are_reported() {
    let mut w = idle(fresh());
    add_foreign(
        &mut w,
        foreign("f0000000-0000-4000-8000-000000000005", "old", 10),
        "old-one",
    );
    add_foreign(
        &mut w,
        foreign("f0000000-0000-4000-8000-000000000006", "new", 700),
        "new-one",
    );
    let observed = w.observe(None);
    let d = Decision {
        action: Action::FetchCredentials,
        status: w.status(),
        events: vec![],
    };
    let r = record(&observed, &d, Outcome::Fetched(w.credentials()), w.now);
    let warnings: Vec<_> = r
        .events
        .iter()
        .filter(|e| e.reason == event::UNMANAGED_EXPIRING)
        .collect();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .message
            .contains("f0000000-0000-4000-8000-000000000005")
    );
    assert!(
        !warnings[0]
            .message
            .contains("f0000000-0000-4000-8000-000000000006")
    );
    let roles: Vec<_> = r.status.credentials.iter().map(|c| c.role).collect();
    assert_eq!(
        roles.iter().filter(|r| **r == CredentialRole::Unmanaged).count(),
        2
    );
    assert_eq!(roles.iter().filter(|r| **r == CredentialRole::Current).count(), 1);
}

#[test]
fn conditions_keep_their_transition_time_while_nothing_changes() {
    let mut w = idle(fresh());
    let d1 = decide(&w);
    w.persist(d1.status.clone());
    w.now += SignedDuration::from_hours(5);
    let d2 = decide(&w);
    assert_eq!(d1.status.conditions, d2.status.conditions);
    assert_eq!(d2.status, w.status(), "an idle pass writes nothing");
}

#[test]
fn verify_outcomes_are_recorded() {
    let w = at(fresh(), RotationPhase::Verifying);
    let observed = w.observe(None);
    let d = plan(&observed, w.now);
    let r = record(
        &observed,
        &d,
        Outcome::Checked(CheckOutcome::Authenticated),
        w.now,
    );
    let v = r.status.rotation.unwrap().verification.unwrap();
    assert_eq!((v.attempts, v.consecutive_successes), (1, 1));
    assert_eq!(v.next_attempt_at.unwrap().0, w.now + SignedDuration::from_secs(2));
    let r = record(&observed, &d, Outcome::Checked(CheckOutcome::Expired), w.now);
    let rot = r.status.rotation.unwrap();
    assert_eq!(
        rot.phase,
        RotationPhase::Abandoning,
        "Expired ends verification at once"
    );
    let v = rot.verification.unwrap();
    assert_eq!(
        (v.consecutive_successes, v.last_result.as_deref()),
        (0, Some("Expired"))
    );
    let _ = WorkloadKind::Deployment;
}

#[test]
fn a_lost_staging_secret_abandons_the_attempt() {
    let mut w = at(fresh(), RotationPhase::Verifying);
    w.staging = None;
    let d = decide(&w);
    assert_eq!(d.action, Action::UpdateStatus(StatusChange::Abandon));
    assert_eq!(
        d.status.rotation.unwrap().abandon_reason.as_deref(),
        Some("StagingSecretLost")
    );
    w.run_until(|w| w.status().rotation.is_none());
    assert_eq!(w.revoked.len(), 1, "the unreachable credential is revoked");
    assert!(w.status().failure.is_some(), "and the retry backs off");
}
