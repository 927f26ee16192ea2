//! The demo's timeline: what changed since the last look, as readable steps. Each
//! [`Observation`] (the rotation's status, the Deployment's rollout counts, the keys at Entra and
//! what every replica holds) goes in; the steps it reveals come out: a rotation starts, a key is
//! minted, each verification probe, verified, written into the Secret, the Deployment restarted
//! and rolling out, the overlap, the revocation, done.
//!
//! Invariant: pure (state and observation in, entries out), and every step is reported once, in
//! the order the operator takes them, however the observations are spaced. Keys appear only by
//! their hint and the first block of their key id.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use super::render::{clock, hint, short_id, span};
use crate::{
    api::{ClientSecretRotationStatus, RotationPhase, RotationProgress, RotationReason, wellknown},
    rotation::verification::REQUIRED_SUCCESSES,
};

/// A key (password credential) of the application at Entra.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntraKey {
    /// Entra's `keyId`.
    pub key_id: String,
    /// Entra's public hint: the first three characters of the secret.
    pub hint: String,
    /// End of validity.
    pub expires_at: Timestamp,
    /// Removed (`removePassword`).
    pub revoked: bool,
}

/// A secret a replica holds, by its hint, and whether Entra accepts it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The secret's first three characters.
    pub hint: String,
    /// Whether it authenticates at Entra now.
    pub authenticates: bool,
}

/// What one replica of the Deployment holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    /// Replica (pod) name.
    pub replica: String,
    /// `running`, `pending`, `terminating`, ...
    pub phase: &'static str,
    /// The secret in its environment variable (frozen when the container started).
    pub env: Option<Held>,
    /// The secret in its mounted file (kubelet refreshes it after the Secret changes).
    pub file: Option<Held>,
}

/// The Deployment's rollout, as `kubectl rollout status` reads it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RolloutCounts {
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.replicas` (old and new).
    pub replicas: i32,
    /// `status.updatedReplicas`.
    pub updated: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.observedGeneration`: counts describe this generation of the spec.
    pub observed_generation: i64,
}

/// One look at the world.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// Now (the operator's clock).
    pub now: Timestamp,
    /// The rotation's status.
    pub status: Option<&'a ClientSecretRotationStatus>,
    /// The Deployment's rollout.
    pub rollout: Option<RolloutCounts>,
    /// The application's keys at Entra.
    pub keys: &'a [EntraKey],
    /// The Deployment's replicas.
    pub replicas: &'a [Holding],
}

/// Kinds of step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Setting the stage.
    Setup,
    /// A key was minted.
    Minted,
    /// A verification probe.
    Probe,
    /// Verified.
    Verified,
    /// Written into the Secret.
    Written,
    /// A workload was restarted.
    Restarted,
    /// Rollout progress.
    Rollout,
    /// The overlap started.
    Overlap,
    /// A key was revoked.
    Revoked,
    /// A rotation finished.
    Done,
    /// Something went wrong (and is retried).
    Warning,
}

impl Tag {
    /// The word printed for the step.
    pub fn word(self) -> &'static str {
        match self {
            Tag::Setup => "set-up",
            Tag::Minted => "minted",
            Tag::Probe => "probe",
            Tag::Verified => "verified",
            Tag::Written => "written",
            Tag::Restarted => "restarted",
            Tag::Rollout => "rollout",
            Tag::Overlap => "overlap",
            Tag::Revoked => "revoked",
            Tag::Done => "done",
            Tag::Warning => "warning",
        }
    }
}

/// One thing to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A rotation begins.
    Heading {
        /// When.
        at: Timestamp,
        /// What.
        text: String,
    },
    /// A step.
    Step {
        /// When it was seen.
        at: Timestamp,
        /// Its kind.
        tag: Tag,
        /// What happened.
        text: String,
    },
    /// Indented detail lines under a label.
    Detail {
        /// The label (`Entra`, `replicas`).
        label: &'static str,
        /// The lines.
        lines: Vec<String>,
    },
}

/// A rotation the operator gave up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Abandoned {
    /// The operator's rotation number.
    pub id: i64,
    /// Why, as the status's failure says (`reason: message`).
    pub why: String,
}

/// A rotation that finished with its new key in the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completed {
    /// The operator's rotation number.
    pub id: i64,
    /// Why it started.
    pub reason: RotationReason,
    /// From its start to its end.
    pub took: SignedDuration,
}

#[derive(Clone, Debug)]
struct Key {
    key_id: String,
    hint: String,
}

/// What has been said about the rotation in flight.
#[derive(Clone, Debug)]
struct InFlight {
    id: i64,
    reason: RotationReason,
    started_at: Timestamp,
    /// The key the Secret held when the rotation started.
    previous: Option<Key>,
    minted: Option<(Key, Timestamp)>,
    probes: i32,
    verified: bool,
    written: bool,
    restarted: BTreeSet<(String, i64)>,
    rollout_done: bool,
    overlap: bool,
}

/// The timeline's memory.
#[derive(Clone, Debug)]
pub struct Timeline {
    start: Timestamp,
    secret: String,
    in_flight: Option<InFlight>,
    completed: Vec<Completed>,
    abandoned: Vec<Abandoned>,
    revoked: BTreeSet<String>,
    degraded: Option<String>,
    last_rollout: Option<RolloutCounts>,
}

fn reason_words(reason: RotationReason) -> &'static str {
    match reason {
        RotationReason::Initial => "initial: the Secret holds no key yet",
        RotationReason::Scheduled => "scheduled: the current key reached its renewal time",
        RotationReason::Manual => "requested with secret-rotator rotate",
        RotationReason::Emergency => "emergency: the current key is revoked as soon as the new one is written",
        RotationReason::CredentialMissing => "the current key disappeared from the application",
        RotationReason::TargetSecretMissing => "the Secret was deleted",
        RotationReason::SecretNotRecognized => "the Secret holds a value that matches no key",
    }
}

fn probe_words(last: Option<&str>, in_a_row: i32) -> String {
    match last {
        Some("Authenticated") => format!("authenticated ({in_a_row} in a row)"),
        Some("NotAccepted") => "not accepted yet (Entra is still propagating the new key)".to_owned(),
        Some("Expired") => "expired".to_owned(),
        Some(other) => format!("failed: {other}"),
        None => "sent".to_owned(),
    }
}

fn phase_at_least_verified(phase: RotationPhase) -> bool {
    matches!(
        phase,
        RotationPhase::Verified | RotationPhase::RollingOut | RotationPhase::Retiring
    )
}

/// Counts of replicas by the key in their environment: `Ab3…×3, Xy9…×1`.
fn holdings_by_key(replicas: &[Holding]) -> String {
    let mut counts: Vec<(String, usize)> = vec![];
    for r in replicas {
        if let Some(held) = &r.env {
            match counts.iter_mut().find(|(h, _)| *h == held.hint) {
                Some((_, n)) => *n += 1,
                None => counts.push((held.hint.clone(), 1)),
            }
        }
    }
    if counts.is_empty() {
        return "no replica holds a key yet".to_owned();
    }
    counts
        .iter()
        .map(|(h, n)| format!("{}×{n}", hint(h)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per replica: name, phase, and the key in its environment and its file.
pub fn replica_lines(replicas: &[Holding]) -> Vec<String> {
    if replicas.is_empty() {
        return vec!["none".to_owned()];
    }
    let width = replicas.iter().map(|r| r.replica.len()).max().unwrap_or(0);
    let held = |h: &Option<Held>| match h {
        Some(h) if h.authenticates => format!("{} ✓", hint(&h.hint)),
        Some(h) => format!("{} ✗", hint(&h.hint)),
        None => "-     ".to_owned(),
    };
    replicas
        .iter()
        .map(|r| {
            format!(
                "{:width$}  {:<11}  env {}  file {}",
                r.replica,
                r.phase,
                held(&r.env),
                held(&r.file)
            )
        })
        .collect()
}

impl Timeline {
    /// A timeline whose times count from `start`, about the Secret `secret` (`namespace/name`).
    pub fn new(start: Timestamp, secret: &str) -> Self {
        Self {
            start,
            secret: secret.to_owned(),
            in_flight: None,
            completed: vec![],
            abandoned: vec![],
            revoked: BTreeSet::new(),
            degraded: None,
            last_rollout: None,
        }
    }

    /// The rotations the operator gave up (their key never reached the Secret), oldest first.
    pub fn abandoned(&self) -> &[Abandoned] {
        &self.abandoned
    }

    /// The rotations that finished with their new key in the Secret, oldest first.
    pub fn completed(&self) -> &[Completed] {
        &self.completed
    }

    /// The keys at Entra, one line each, with their role for the rotation.
    pub fn key_lines(&self, o: &Observation<'_>) -> Vec<String> {
        let current = o.status.and_then(|s| s.current.as_ref()).map(|c| c.key_id.as_str());
        let previous = o.status.and_then(|s| s.previous.as_ref()).map(|c| c.key_id.as_str());
        let in_flight = o
            .status
            .and_then(|s| s.rotation.as_ref())
            .and_then(|r| r.credential.as_ref())
            .map(|c| c.key_id.as_str());
        let mut lines: Vec<String> = o
            .keys
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| {
                let role = match Some(k.key_id.as_str()) {
                    id if id == current => "current",
                    id if id == previous => "previous",
                    id if id == in_flight => "new",
                    _ => "other",
                };
                format!(
                    "{} keyId {}  {:<8}  expires in {}",
                    hint(&k.hint),
                    short_id(&k.key_id),
                    role,
                    span(k.expires_at.duration_since(o.now))
                )
            })
            .collect();
        let revoked = o.keys.iter().filter(|k| k.revoked).count();
        if revoked > 0 {
            lines.push(format!("{revoked} revoked"));
        }
        lines
    }

    /// What `o` reveals since the last observation.
    pub fn observe(&mut self, o: &Observation<'_>) -> Vec<Entry> {
        let mut out = vec![];
        let Some(status) = o.status else {
            return out;
        };
        self.revocations(o, &mut out);
        self.completion(o, status, &mut out);
        self.degradation(o, status, &mut out);
        if let Some(r) = &status.rotation {
            self.progress(o, status, r, &mut out);
        }
        out
    }

    fn step(out: &mut Vec<Entry>, at: Timestamp, tag: Tag, text: String) {
        out.push(Entry::Step { at, tag, text });
    }

    fn revocations(&mut self, o: &Observation<'_>, out: &mut Vec<Entry>) {
        for k in o.keys.iter().filter(|k| k.revoked) {
            if self.revoked.insert(k.key_id.clone()) {
                Self::step(
                    out,
                    o.now,
                    Tag::Revoked,
                    format!(
                        "key {} (keyId {}) removed at Entra: it no longer authenticates",
                        hint(&k.hint),
                        short_id(&k.key_id)
                    ),
                );
            }
        }
    }

    fn completion(&mut self, o: &Observation<'_>, status: &ClientSecretRotationStatus, out: &mut Vec<Entry>) {
        let Some(f) = &self.in_flight else { return };
        if status.rotation.as_ref().is_some_and(|r| r.id == f.id) {
            return;
        }
        let Some(f) = self.in_flight.take() else { return };
        let current = status.current.as_ref();
        let succeeded = f
            .minted
            .as_ref()
            .zip(current)
            .is_some_and(|((m, _), c)| m.key_id == c.key_id);
        if !succeeded {
            let why = status
                .failure
                .as_ref()
                .map(|x| format!("{}: {}", x.reason, x.message))
                .unwrap_or_else(|| "no reason recorded".to_owned());
            Self::step(
                out,
                o.now,
                Tag::Warning,
                format!(
                    "rotation {} was abandoned ({why}); consumers keep their key and the operator retries with a new one",
                    f.id
                ),
            );
            self.abandoned.push(Abandoned { id: f.id, why });
            return;
        }
        let took = o.now.duration_since(f.started_at);
        let mut text = format!(
            "rotation {} took {}: the Secret holds {}",
            f.id,
            span(took),
            hint(&f.minted.as_ref().map(|(m, _)| m.hint.clone()).unwrap_or_default())
        );
        match &status.renewal_time {
            Some(next) => text.push_str(&format!(
                "; next rotation at {} (in {})",
                clock(self.start, next.0),
                span(next.0.duration_since(o.now))
            )),
            None => text.push_str("; no rotation scheduled"),
        }
        Self::step(out, o.now, Tag::Done, text);
        out.push(Entry::Detail {
            label: "Entra",
            lines: self.key_lines(o),
        });
        out.push(Entry::Detail {
            label: "replicas",
            lines: replica_lines(o.replicas),
        });
        self.completed.push(Completed {
            id: f.id,
            reason: f.reason,
            took,
        });
    }

    fn degradation(&mut self, o: &Observation<'_>, status: &ClientSecretRotationStatus, out: &mut Vec<Entry>) {
        let degraded = status
            .conditions
            .iter()
            .find(|c| c.type_ == wellknown::condition::DEGRADED && c.status == "True")
            .map(|c| format!("{}: {}", c.reason, c.message));
        if degraded != self.degraded {
            match &degraded {
                Some(text) => Self::step(out, o.now, Tag::Warning, format!("Degraded {text}")),
                None => Self::step(out, o.now, Tag::Done, "no longer degraded".to_owned()),
            }
            self.degraded = degraded;
        }
    }

    fn progress(
        &mut self,
        o: &Observation<'_>,
        status: &ClientSecretRotationStatus,
        r: &RotationProgress,
        out: &mut Vec<Entry>,
    ) {
        if self.in_flight.as_ref().map(|f| f.id) != Some(r.id) {
            out.push(Entry::Heading {
                at: o.now,
                text: format!("rotation {} · {}", r.id, reason_words(r.reason)),
            });
            self.in_flight = Some(InFlight {
                id: r.id,
                reason: r.reason,
                started_at: r.started_at.0,
                previous: status.current.as_ref().map(|c| Key {
                    key_id: c.key_id.clone(),
                    hint: c.hint.clone().unwrap_or_default(),
                }),
                minted: None,
                probes: 0,
                verified: false,
                written: false,
                restarted: BTreeSet::new(),
                rollout_done: false,
                overlap: false,
            });
            self.last_rollout = None;
        }
        let secret = self.secret.clone();
        let Some(f) = self.in_flight.as_mut() else { return };

        if let (Some(c), None) = (&r.credential, &f.minted) {
            let key = Key {
                key_id: c.key_id.clone(),
                hint: c.hint.clone().unwrap_or_default(),
            };
            let lifetime = c
                .starts_at
                .as_ref()
                .map(|s| span(c.expires_at.0.duration_since(s.0)))
                .map(|l| format!(", lifetime {l}"))
                .unwrap_or_default();
            Self::step(
                out,
                o.now,
                Tag::Minted,
                format!(
                    "key {} (keyId {}) at Entra, valid until {}{lifetime}",
                    hint(&key.hint),
                    short_id(&key.key_id),
                    clock(self.start, c.expires_at.0)
                ),
            );
            f.minted = Some((key, o.now));
        }

        if let Some(v) = &r.verification
            && v.attempts > f.probes
        {
            f.probes = v.attempts;
            Self::step(
                out,
                o.now,
                Tag::Probe,
                format!(
                    "{}: sign-in as the application with the new key: {}",
                    v.attempts,
                    probe_words(v.last_result.as_deref(), v.consecutive_successes)
                ),
            );
        }

        if phase_at_least_verified(r.phase) && !f.verified {
            f.verified = true;
            let after_mint = f
                .minted
                .as_ref()
                .map(|(_, at)| format!(", {} after minting", span(o.now.duration_since(*at))))
                .unwrap_or_default();
            Self::step(
                out,
                o.now,
                Tag::Verified,
                format!(
                    "after {} probes ({REQUIRED_SUCCESSES} successes in a row){after_mint}",
                    f.probes.max(REQUIRED_SUCCESSES)
                ),
            );
        }

        if !f.written
            && let (Some((m, _)), Some(c)) = (&f.minted, &status.current)
            && m.key_id == c.key_id
        {
            f.written = true;
            let previous = match &f.previous {
                Some(p) => format!("; the previous key {} stays valid", hint(&p.hint)),
                None => String::new(),
            };
            Self::step(
                out,
                o.now,
                Tag::Written,
                format!("Secret {secret} now holds {}{previous}", hint(&m.hint)),
            );
        }

        for t in &r.rolled_targets {
            if f.restarted.insert((t.name.clone(), t.generation)) {
                Self::step(
                    out,
                    o.now,
                    Tag::Restarted,
                    format!(
                        "{} {} (generation {}): its new replicas read the new key",
                        t.kind.as_str(),
                        t.name,
                        t.generation
                    ),
                );
            }
        }

        // Counts of an older generation (before the restart was seen by the Deployment
        // controller) say nothing about this rollout.
        let restarted_generation = f.restarted.iter().map(|(_, g)| *g).max();
        let current_counts = o
            .rollout
            .filter(|c| restarted_generation.is_some_and(|g| c.observed_generation >= g));
        if r.phase == RotationPhase::RollingOut
            && current_counts.is_some()
            && current_counts != self.last_rollout
        {
            if let Some(c) = current_counts {
                Self::step(
                    out,
                    o.now,
                    Tag::Rollout,
                    format!(
                        "{}/{} updated, {} ready, {} running · replicas hold {}",
                        c.updated,
                        c.desired,
                        c.ready,
                        c.replicas,
                        holdings_by_key(o.replicas)
                    ),
                );
            }
            self.last_rollout = current_counts;
        }

        if r.rollout_completed_at.is_some() && !f.rollout_done {
            f.rollout_done = true;
            let new = f.minted.as_ref().map(|(m, _)| hint(&m.hint)).unwrap_or_default();
            Self::step(
                out,
                o.now,
                Tag::Rollout,
                format!("complete: every replica runs with {new}"),
            );
            out.push(Entry::Detail {
                label: "replicas",
                lines: replica_lines(o.replicas),
            });
        }

        if r.phase == RotationPhase::Retiring && !f.overlap {
            f.overlap = true;
            if let (Some(after), Some(p)) = (&r.revoke_after, &f.previous) {
                Self::step(
                    out,
                    o.now,
                    Tag::Overlap,
                    format!(
                        "the previous key {} stays valid until {} (overlap, for consumers not restarted), then it is revoked",
                        hint(&p.hint),
                        clock(self.start, after.0)
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    use super::*;
    use crate::api::{CredentialOrigin, CredentialRecord, RolledTarget, VerificationProgress, WorkloadKind};

    fn t(s: i64) -> Timestamp {
        "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_secs(s)
    }

    fn record(key: &str, hint: &str, start: i64) -> CredentialRecord {
        CredentialRecord {
            key_id: key.into(),
            hint: Some(hint.into()),
            origin: CredentialOrigin::Minted,
            rotation: None,
            starts_at: Some(Time(t(start))),
            expires_at: Time(t(start + 60)),
            promoted_at: None,
        }
    }

    fn rotation(id: i64, phase: RotationPhase) -> RotationProgress {
        RotationProgress {
            id,
            reason: if id == 1 {
                RotationReason::Initial
            } else {
                RotationReason::Scheduled
            },
            emergency: false,
            phase,
            started_at: Time(t(30)),
            display_name: format!("secret-rotator #{id}"),
            credential: None,
            verification: None,
            version: None,
            rolled_targets: vec![],
            rollout_started_at: None,
            rollout_completed_at: None,
            revoke_after: None,
            abandon_reason: None,
            abandon_message: None,
        }
    }

    fn key(id: &str, hint: &str, revoked: bool) -> EntraKey {
        EntraKey {
            key_id: id.into(),
            hint: hint.into(),
            expires_at: t(90),
            revoked,
        }
    }

    fn holding(name: &str, hint: &str) -> Holding {
        let held = Some(Held {
            hint: hint.into(),
            authenticates: true,
        });
        Holding {
            replica: name.into(),
            phase: "running",
            env: held.clone(),
            file: held,
        }
    }

    fn texts(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e {
                Entry::Heading { text, .. } => format!("# {text}"),
                Entry::Step { tag, text, .. } => format!("{} {text}", tag.word()),
                Entry::Detail { label, lines } => format!("  {label}: {}", lines.join(" | ")),
            })
            .collect()
    }

    /// Replays a scheduled rotation from `old` (hint `Old`) to `new` (hint `New`) and returns
    /// every line, with the status at each step.
    #[test]
    fn a_scheduled_rotation_reads_step_by_step() {
        let mut tl = Timeline::new(t(0), "demo/creds");
        let old = "11111111-0000-0000-0000-000000000000";
        let new = "22222222-0000-0000-0000-000000000000";
        let mut status = ClientSecretRotationStatus {
            current: Some(record(old, "Old", 0)),
            rotation_count: 1,
            ..Default::default()
        };
        let keys_before = [key(old, "Old", false)];
        let keys_both = [key(old, "Old", false), key(new, "New", false)];
        let keys_after = [key(old, "Old", true), key(new, "New", false)];
        let old_replicas = [holding("web-a", "Old"), holding("web-b", "Old")];
        let new_replicas = [holding("web-c", "New"), holding("web-d", "New")];
        let mut lines = vec![];
        let mut look = |tl: &mut Timeline, now: i64, status: &ClientSecretRotationStatus, keys, replicas, rollout| {
            let o = Observation {
                now: t(now),
                status: Some(status),
                rollout,
                keys,
                replicas,
            };
            lines.extend(texts(&tl.observe(&o)));
        };
        // Idle: nothing to say.
        look(&mut tl, 10, &status, &keys_before, &old_replicas, None);
        // Started, minted.
        let mut r = rotation(2, RotationPhase::Pending);
        status.rotation_count = 2;
        status.rotation = Some(r.clone());
        look(&mut tl, 30, &status, &keys_before, &old_replicas, None);
        r.phase = RotationPhase::Verifying;
        r.credential = Some(record(new, "New", 30));
        r.verification = Some(VerificationProgress {
            started_at: Time(t(30)),
            deadline: Time(t(630)),
            attempts: 1,
            consecutive_successes: 0,
            next_attempt_at: None,
            last_result: Some("NotAccepted".into()),
        });
        status.rotation = Some(r.clone());
        look(&mut tl, 31, &status, &keys_both, &old_replicas, None);
        // The same status again: nothing new.
        look(&mut tl, 32, &status, &keys_both, &old_replicas, None);
        // Two probes at once, then verified and written in one go.
        let v = r.verification.as_mut().unwrap();
        v.attempts = 4;
        v.consecutive_successes = 3;
        v.last_result = Some("Authenticated".into());
        r.phase = RotationPhase::RollingOut;
        r.rolled_targets = vec![RolledTarget {
            kind: WorkloadKind::Deployment,
            name: "web".into(),
            generation: 3,
        }];
        status.current = Some(record(new, "New", 30));
        status.previous = Some(record(old, "Old", 0));
        status.rotation = Some(r.clone());
        let rollout = Some(RolloutCounts {
            desired: 2,
            replicas: 3,
            updated: 1,
            ready: 2,
            observed_generation: 3,
        });
        // The Deployment controller has not seen the restart yet: nothing to say about it.
        let stale = Some(RolloutCounts {
            observed_generation: 2,
            ..rollout.unwrap()
        });
        look(&mut tl, 40, &status, &keys_both, &old_replicas, stale);
        look(&mut tl, 41, &status, &keys_both, &old_replicas, rollout);
        r.rollout_completed_at = Some(Time(t(44)));
        r.phase = RotationPhase::Retiring;
        r.revoke_after = Some(Time(t(54)));
        status.rotation = Some(r.clone());
        look(&mut tl, 44, &status, &keys_both, &new_replicas, rollout);
        // Revoked and finished in one look.
        status.rotation = None;
        status.previous = None;
        status.renewal_time = Some(Time(t(60)));
        look(&mut tl, 55, &status, &keys_after, &new_replicas, None);
        let expected = [
            "# rotation 2 · scheduled: the current key reached its renewal time",
            "minted key New… (keyId 22222222) at Entra, valid until 01:30, lifetime 1m",
            "probe 1: sign-in as the application with the new key: not accepted yet (Entra is still propagating the new key)",
            "probe 4: sign-in as the application with the new key: authenticated (3 in a row)",
            "verified after 4 probes (3 successes in a row), 9.0s after minting",
            "written Secret demo/creds now holds New…; the previous key Old… stays valid",
            "restarted Deployment web (generation 3): its new replicas read the new key",
            "rollout 1/2 updated, 2 ready, 3 running · replicas hold Old…×2",
            "rollout complete: every replica runs with New…",
            "  replicas: web-c  running      env New… ✓  file New… ✓ | web-d  running      env New… ✓  file New… ✓",
            "overlap the previous key Old… stays valid until 00:54 (overlap, for consumers not restarted), then it is revoked",
            "revoked key Old… (keyId 11111111) removed at Entra: it no longer authenticates",
            "done rotation 2 took 25s: the Secret holds New…; next rotation at 01:00 (in 5.0s)",
            "  Entra: New… keyId 22222222  current   expires in 35s | 1 revoked",
            "  replicas: web-c  running      env New… ✓  file New… ✓ | web-d  running      env New… ✓  file New… ✓",
        ];
        assert_eq!(lines, expected);
        assert_eq!(
            tl.completed(),
            [Completed {
                id: 2,
                reason: RotationReason::Scheduled,
                took: SignedDuration::from_secs(25)
            }]
        );
    }

    #[test]
    fn an_abandoned_rotation_is_not_counted_and_degradation_is_reported_once() {
        let mut tl = Timeline::new(t(0), "demo/creds");
        let old = "11111111-0000-0000-0000-000000000000";
        let mut status = ClientSecretRotationStatus {
            current: Some(record(old, "Old", 0)),
            rotation_count: 2,
            rotation: Some(RotationProgress {
                credential: Some(record("33333333-0000-0000-0000-000000000000", "Bad", 30)),
                ..rotation(2, RotationPhase::Verifying)
            }),
            conditions: vec![Condition {
                type_: "Degraded".into(),
                status: "True".into(),
                reason: "VerificationTimedOut".into(),
                message: "never authenticated".into(),
                last_transition_time: Time(t(0)),
                observed_generation: None,
            }],
            ..Default::default()
        };
        let keys = [key(old, "Old", false)];
        fn o<'a>(status: &'a ClientSecretRotationStatus, keys: &'a [EntraKey]) -> Observation<'a> {
            Observation {
                now: t(40),
                status: Some(status),
                rollout: None,
                keys,
                replicas: &[],
            }
        }
        let first = texts(&tl.observe(&o(&status, &keys)));
        assert!(first.iter().any(|l| l == "warning Degraded VerificationTimedOut: never authenticated"));
        assert!(texts(&tl.observe(&o(&status, &keys))).is_empty(), "said once");
        status.rotation = None;
        let after = texts(&tl.observe(&o(&status, &keys)));
        assert!(after[0].starts_with("warning rotation 2 was abandoned"), "{after:?}");
        assert!(tl.completed().is_empty());
        assert_eq!(
            tl.abandoned(),
            [Abandoned {
                id: 2,
                why: "no reason recorded".into()
            }]
        );
    }
}
