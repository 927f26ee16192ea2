//! One simulated replica (a pod) and its lifecycle: created → started (Secrets resolved, env
//! frozen) → ready → terminating → gone, with the detours a real pod takes: waiting on a missing
//! Secret (`CreateContainerConfigError` / `ContainerCreating`, retried), crash-looping, and never
//! becoming ready.
//!
//! Invariants: [`Replica::advance`] is pure (time and Secrets are arguments) and idempotent for a
//! given `now`; a replica holds Secret values only while its containers exist (running,
//! crash-looping between restarts, or terminating); mounted Secret volumes change only at a
//! scheduled resync, env values only at a container (re)start.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::config::{Behaviour, RolloutMode};
use super::kubelet::{PodTemplate, SecretSource, StartError, Started};

/// Where a replica runs, for kinds that give replicas an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// A Deployment's replica (no identity).
    None,
    /// A StatefulSet ordinal.
    Ordinal(u32),
    /// A DaemonSet's node.
    Node(String),
}

/// The lifecycle phase of a replica.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Created, containers not started yet (or waiting on a Secret: `waiting` is set).
    Pending {
        /// When it tries to start.
        start_at: Duration,
        /// Why it could not start the last time it tried.
        waiting: Option<StartError>,
    },
    /// Containers running; ready once `ready_at` has passed (unless the rollout stalls).
    Running {
        /// When readiness is due.
        ready_at: Duration,
        /// Since when it is ready.
        ready_since: Option<Duration>,
    },
    /// Containers crash and are restarted.
    CrashLoop {
        /// Next restart.
        restart_at: Duration,
    },
    /// Being replaced or removed; gone at `gone_at`.
    Terminating {
        /// End of the termination grace.
        gone_at: Duration,
    },
}

/// A simulated pod.
#[derive(Clone, Debug)]
pub struct Replica {
    /// Pod-like name.
    pub name: String,
    /// Template revision: pod-template-hash (Deployment) or ControllerRevision name.
    pub revision: String,
    /// Identity (ordinal, node).
    pub slot: Slot,
    /// The template it was created from.
    pub template: Arc<PodTemplate>,
    /// Creation, simulator time.
    pub created_at: Duration,
    /// Creation, wall clock.
    pub created_wall: Timestamp,
    /// Last container start, wall clock.
    pub started_wall: Option<Timestamp>,
    /// Phase.
    pub phase: Phase,
    /// Container restarts.
    pub restarts: u32,
    /// Secret values held since the last container start.
    pub held: Option<Started>,
    /// When mounted Secret volumes resync next.
    pub refresh_at: Option<Duration>,
}

/// Context of one [`Replica::advance`] step.
pub struct Step<'a> {
    /// Simulator time.
    pub now: Duration,
    /// Wall clock.
    pub wall: Timestamp,
    /// Namespace (where Secrets are looked up).
    pub namespace: &'a str,
    /// Behaviour in force for the workload.
    pub behaviour: &'a Behaviour,
    /// Secrets.
    pub secrets: &'a dyn SecretSource,
    /// `minReadySeconds` of the workload.
    pub min_ready: Duration,
}

impl Replica {
    /// A new replica that starts after the behaviour's start delay.
    pub fn new(
        name: String,
        revision: String,
        slot: Slot,
        template: Arc<PodTemplate>,
        step: &Step<'_>,
    ) -> Self {
        Replica {
            name,
            revision,
            slot,
            template,
            created_at: step.now,
            created_wall: step.wall,
            started_wall: None,
            phase: Phase::Pending {
                start_at: step.now + step.behaviour.start_after,
                waiting: None,
            },
            restarts: 0,
            held: None,
            refresh_at: None,
        }
    }

    /// Whether it is ready.
    pub fn is_ready(&self) -> bool {
        matches!(
            self.phase,
            Phase::Running {
                ready_since: Some(_),
                ..
            }
        )
    }

    /// Whether it has been ready for `min_ready` at `now`.
    pub fn is_available(&self, now: Duration, min_ready: Duration) -> bool {
        matches!(self.phase, Phase::Running { ready_since: Some(since), .. } if now >= since + min_ready)
    }

    /// Whether it is being removed.
    pub fn is_terminating(&self) -> bool {
        matches!(self.phase, Phase::Terminating { .. })
    }

    /// Whether its containers exist, i.e. it holds Secret values.
    pub fn holds_values(&self) -> bool {
        self.held.as_ref().is_some_and(|h| !h.containers.is_empty())
    }

    /// Starts terminating (no-op when already terminating).
    pub fn terminate(&mut self, now: Duration, grace: Duration) {
        if !self.is_terminating() {
            self.phase = Phase::Terminating { gone_at: now + grace };
        }
    }

    /// A Secret it mounts changed: its volumes resync after the sync delay.
    pub fn secret_changed(&mut self, secret: &str, now: Duration, delay: Duration) {
        if self.held.is_some() && self.template.volume_uses(secret) {
            let at = now + delay;
            self.refresh_at = Some(self.refresh_at.map_or(at, |r| r.min(at)));
        }
    }

    /// A Secret it needs appeared or changed: a replica waiting on it retries now.
    pub fn retry_start(&mut self, now: Duration) {
        if let Phase::Pending {
            start_at,
            waiting: Some(_),
        } = &mut self.phase
        {
            *start_at = (*start_at).min(now);
        }
    }

    fn start_containers(&mut self, step: &Step<'_>) {
        let started = match &self.held {
            // A restart keeps the pod's volumes and recreates its containers.
            Some(held) => self
                .template
                .restart(step.namespace, &held.volumes, step.secrets)
                .map(|containers| Started {
                    volumes: held.volumes.clone(),
                    containers,
                }),
            None => self.template.start(step.namespace, step.secrets),
        };
        match started {
            Ok(started) => {
                self.held = Some(started);
                self.started_wall = Some(step.wall);
                self.phase = if step.behaviour.rollout == RolloutMode::Fail {
                    Phase::CrashLoop {
                        restart_at: step.now + step.behaviour.crash_restart_after,
                    }
                } else {
                    Phase::Running {
                        ready_at: step.now + step.behaviour.ready_after,
                        ready_since: None,
                    }
                };
            }
            Err(e) => {
                // Containers that fail to be created hold nothing; a pod whose volumes could not
                // be set up has no containers at all.
                if e.reason == "ContainerCreating" {
                    self.held = None;
                } else if let Some(h) = &mut self.held {
                    h.containers.clear();
                }
                self.phase = Phase::Pending {
                    start_at: step.now + step.behaviour.crash_restart_after,
                    waiting: Some(e),
                };
            }
        }
    }

    /// Advances the lifecycle to `step.now`. Returns `false` once the replica is gone.
    pub fn advance(&mut self, step: &Step<'_>) -> bool {
        // Bounded: each transition moves a due time into the future or settles.
        for _ in 0..8 {
            let before = self.phase.clone();
            match self.phase.clone() {
                Phase::Pending { start_at, .. } if step.now >= start_at => self.start_containers(step),
                Phase::Running {
                    ready_at,
                    ready_since: None,
                } if step.now >= ready_at && step.behaviour.rollout != RolloutMode::Stall => {
                    self.phase = Phase::Running {
                        ready_at,
                        ready_since: Some(step.now),
                    };
                }
                Phase::CrashLoop { restart_at } if step.now >= restart_at => {
                    self.restarts += 1;
                    self.start_containers(step);
                }
                Phase::Terminating { gone_at } if step.now >= gone_at => {
                    self.held = None;
                    return false;
                }
                _ => {}
            }
            if self.phase == before {
                break;
            }
        }
        if let Some(at) = self.refresh_at
            && step.now >= at
        {
            self.refresh_at = None;
            if let Some(held) = &mut self.held {
                held.volumes = self
                    .template
                    .refresh_volumes(step.namespace, &held.volumes, step.secrets);
            }
        }
        true
    }

    /// The next time after `now` something happens to it on its own (`None`: nothing scheduled).
    pub fn next_event(&self, now: Duration, behaviour: &Behaviour, min_ready: Duration) -> Option<Duration> {
        let phase = match &self.phase {
            // A waiting replica retries when a Secret changes, and also periodically (kubelet
            // backs off and retries).
            Phase::Pending { start_at, .. } => Some(*start_at),
            Phase::Running {
                ready_since: None, ..
            } if behaviour.rollout == RolloutMode::Stall => None,
            Phase::Running {
                ready_at,
                ready_since: None,
            } => Some(*ready_at),
            Phase::Running {
                ready_since: Some(since),
                ..
            } => Some(*since + min_ready),
            Phase::CrashLoop { restart_at } => Some(*restart_at),
            Phase::Terminating { gone_at } => Some(*gone_at),
        };
        [phase, self.refresh_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// Replica counts of a set of replicas at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Not terminating (what `status.replicas` counts).
    pub live: i32,
    /// Ready.
    pub ready: i32,
    /// Ready for `minReadySeconds`.
    pub available: i32,
    /// Terminating.
    pub terminating: i32,
}

impl Counts {
    /// Counts `replicas` at `now`.
    pub fn of<'a>(
        replicas: impl IntoIterator<Item = &'a Replica>,
        now: Duration,
        min_ready: Duration,
    ) -> Self {
        let mut c = Counts::default();
        for r in replicas {
            if r.is_terminating() {
                c.terminating += 1;
                continue;
            }
            c.live += 1;
            if r.is_ready() {
                c.ready += 1;
            }
            if r.is_available(now, min_ready) {
                c.available += 1;
            }
        }
        c
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;

    fn add(self, o: Counts) -> Counts {
        Counts {
            live: self.live + o.live,
            ready: self.ready + o.ready,
            available: self.available + o.available,
            terminating: self.terminating + o.terminating,
        }
    }
}

/// Indexes of the live replicas to remove first when scaling down, as the ReplicaSet
/// controller ranks pods: not started before crash-looping before not ready before ready, the
/// most recently ready and the newest first.
pub fn removal_order(replicas: &[Replica]) -> Vec<usize> {
    let rank = |r: &Replica| match &r.phase {
        Phase::Pending { .. } => (0, Duration::ZERO),
        Phase::CrashLoop { .. } => (1, Duration::ZERO),
        Phase::Running {
            ready_since: None, ..
        } => (2, Duration::ZERO),
        Phase::Running {
            ready_since: Some(s), ..
        } => (3, Duration::MAX - *s),
        Phase::Terminating { .. } => (4, Duration::ZERO),
    };
    let mut idx: Vec<usize> = (0..replicas.len())
        .filter(|i| !replicas[*i].is_terminating())
        .collect();
    idx.sort_by_key(|i| {
        let r = &replicas[*i];
        let (class, age) = rank(r);
        (class, age, std::cmp::Reverse(r.created_at))
    });
    idx
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::super::config::{Knobs, SimulatorConfig};
    use super::super::kubelet::{SecretData, container_files};
    use super::*;

    type Secrets = BTreeMap<(String, String), Arc<SecretData>>;

    fn secrets(token: Option<&str>) -> Secrets {
        token
            .map(|t| {
                (
                    ("ns".to_string(), "s".to_string()),
                    Arc::new(BTreeMap::from([("token".to_string(), t.as_bytes().to_vec())])),
                )
            })
            .into_iter()
            .collect()
    }

    fn template() -> Arc<PodTemplate> {
        Arc::new(
            PodTemplate::parse(&json!({"spec": {
                "containers": [{"name": "c", "image": "i",
                    "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}],
                    "volumeMounts": [{"name": "v", "mountPath": "/m"}]}],
                "volumes": [{"name": "v", "secret": {"secretName": "s"}}]}}))
            .unwrap(),
        )
    }

    fn behaviour(mode: RolloutMode) -> Behaviour {
        Knobs {
            rollout: Some(mode),
            ..Default::default()
        }
        .resolve(&Knobs::default(), &SimulatorConfig::default())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn step<'a>(now: u64, b: &'a Behaviour, s: &'a Secrets) -> Step<'a> {
        Step {
            now: ms(now),
            wall: Timestamp::UNIX_EPOCH,
            namespace: "ns",
            behaviour: b,
            secrets: s,
            min_ready: Duration::ZERO,
        }
    }

    fn env(r: &Replica) -> String {
        let held = r.held.as_ref().unwrap();
        String::from_utf8(held.containers[0].env["T"].value.expose_secret().to_vec()).unwrap()
    }

    fn file(r: &Replica) -> String {
        let held = r.held.as_ref().unwrap();
        let files = container_files(&held.containers[0], &held.volumes);
        String::from_utf8(files[0].1.value.expose_secret().to_vec()).unwrap()
    }

    #[test]
    fn starts_then_becomes_ready_on_schedule() {
        let b = behaviour(RolloutMode::Normal);
        let s = secrets(Some("v1"));
        let mut r = Replica::new("r".into(), "h".into(), Slot::None, template(), &step(0, &b, &s));
        assert!(r.advance(&step(10, &b, &s)));
        assert!(!r.holds_values());
        assert_eq!(r.next_event(ms(10), &b, Duration::ZERO), Some(ms(50)));
        r.advance(&step(50, &b, &s));
        assert!(r.holds_values() && !r.is_ready());
        assert_eq!(env(&r), "v1");
        assert_eq!(r.next_event(ms(50), &b, Duration::ZERO), Some(ms(150)));
        r.advance(&step(150, &b, &s));
        assert!(r.is_ready() && r.is_available(ms(150), Duration::ZERO));
        assert!(!r.is_available(ms(150), ms(10)));
    }

    #[test]
    fn env_is_frozen_and_volumes_refresh_after_the_sync_delay() {
        let b = behaviour(RolloutMode::Normal);
        let s1 = secrets(Some("v1"));
        let mut r = Replica::new("r".into(), "h".into(), Slot::None, template(), &step(0, &b, &s1));
        r.advance(&step(200, &b, &s1));
        let s2 = secrets(Some("v2"));
        r.secret_changed("s", ms(300), b.volume_sync_delay);
        r.secret_changed("unrelated", ms(300), Duration::ZERO);
        assert_eq!(r.refresh_at, Some(ms(300) + b.volume_sync_delay));
        r.advance(&step(400, &b, &s2));
        assert_eq!(file(&r), "v1");
        r.advance(&step(1300, &b, &s2));
        assert_eq!(file(&r), "v2");
        assert_eq!(env(&r), "v1");
    }

    #[test]
    fn a_missing_secret_keeps_it_waiting_until_the_secret_appears() {
        let b = behaviour(RolloutMode::Normal);
        let none = secrets(None);
        let mut r = Replica::new(
            "r".into(),
            "h".into(),
            Slot::None,
            template(),
            &step(0, &b, &none),
        );
        r.advance(&step(100, &b, &none));
        match &r.phase {
            Phase::Pending { waiting: Some(e), .. } => assert_eq!(e.reason, "ContainerCreating"),
            other => panic!("{other:?}"),
        }
        assert!(!r.holds_values());
        let s = secrets(Some("v1"));
        r.retry_start(ms(120));
        r.advance(&step(120, &b, &s));
        assert!(r.holds_values());
        assert_eq!(env(&r), "v1");
    }

    #[test]
    fn stall_never_readies_and_recovers_when_lifted() {
        let stall = behaviour(RolloutMode::Stall);
        let s = secrets(Some("v1"));
        let mut r = Replica::new(
            "r".into(),
            "h".into(),
            Slot::None,
            template(),
            &step(0, &stall, &s),
        );
        r.advance(&step(50, &stall, &s));
        r.advance(&step(10_000, &stall, &s));
        assert!(r.holds_values() && !r.is_ready());
        assert_eq!(r.next_event(ms(10_000), &stall, Duration::ZERO), None);
        let normal = behaviour(RolloutMode::Normal);
        r.advance(&step(10_001, &normal, &s));
        assert!(
            r.is_ready(),
            "overdue readiness arrives as soon as the stall is lifted"
        );
    }

    #[test]
    fn fail_crash_loops_re_reading_env_and_recovers_when_lifted() {
        let fail = behaviour(RolloutMode::Fail);
        let s1 = secrets(Some("v1"));
        let mut r = Replica::new(
            "r".into(),
            "h".into(),
            Slot::None,
            template(),
            &step(0, &fail, &s1),
        );
        r.advance(&step(50, &fail, &s1));
        assert!(matches!(r.phase, Phase::CrashLoop { .. }));
        assert_eq!(env(&r), "v1");
        let s2 = secrets(Some("v2"));
        r.advance(&step(550, &fail, &s2));
        assert_eq!(r.restarts, 1);
        assert_eq!(env(&r), "v2", "a restarted container reads env again");
        assert!(!r.is_ready());
        let normal = behaviour(RolloutMode::Normal);
        r.advance(&step(1050, &normal, &s2));
        assert!(matches!(r.phase, Phase::Running { .. }));
        r.advance(&step(1150, &normal, &s2));
        assert!(r.is_ready());
    }

    #[test]
    fn terminating_replicas_hold_values_until_gone() {
        let b = behaviour(RolloutMode::Normal);
        let s = secrets(Some("v1"));
        let mut r = Replica::new("r".into(), "h".into(), Slot::None, template(), &step(0, &b, &s));
        r.advance(&step(200, &b, &s));
        r.terminate(ms(200), b.terminate_after);
        assert!(r.advance(&step(220, &b, &s)));
        assert!(r.holds_values() && r.is_terminating() && !r.is_ready());
        assert!(!r.advance(&step(250, &b, &s)));
        assert!(!r.holds_values());
    }

    #[test]
    fn removal_prefers_unstarted_then_unready_then_recently_ready() {
        let b = behaviour(RolloutMode::Normal);
        let s = secrets(Some("v1"));
        let mk = |name: &str, created: u64| {
            Replica::new(
                name.into(),
                "h".into(),
                Slot::None,
                template(),
                &step(created, &b, &s),
            )
        };
        let mut ready_old = mk("ready-old", 0);
        ready_old.advance(&step(50, &b, &s));
        ready_old.advance(&step(150, &b, &s));
        let mut ready_new = mk("ready-new", 100);
        ready_new.advance(&step(150, &b, &s));
        ready_new.advance(&step(250, &b, &s));
        let mut running = mk("running", 200);
        running.advance(&step(260, &b, &s));
        let pending = mk("pending", 300);
        let mut gone = mk("terminating", 0);
        gone.terminate(ms(0), ms(1000));
        let all = vec![ready_old, gone, running, pending, ready_new];
        let order: Vec<&str> = removal_order(&all)
            .into_iter()
            .map(|i| all[i].name.as_str())
            .collect();
        assert_eq!(order, vec!["pending", "running", "ready-new", "ready-old"]);
        let c = Counts::of(&all, ms(260), Duration::ZERO);
        assert_eq!(
            c,
            Counts {
                live: 4,
                ready: 2,
                available: 2,
                terminating: 1
            }
        );
    }
}
