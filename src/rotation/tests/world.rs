//! An in-memory world for the decision core: a fake Entra application, fake Secrets and fake
//! workloads whose pods remember which credential they started with, plus `pass`, a reference
//! implementation of the shell contract in the module docs of `crate::rotation`, with optional
//! crashes at every point the contract names.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{
    api::{
        ApplicationSpec, ClientSecretRotation, ClientSecretRotationSpec, ClientSecretRotationStatus,
        Directory, GoDuration, IdentityProviderSpec, ProviderAuth, ProviderRef, RolledTarget, RolloutTarget,
        TargetSecretSpec, WorkloadIdentity, WorkloadKind, wellknown,
    },
    provider::{ApplicationCredentials, CheckOutcome, Credential},
    rotation::{
        Action, Capacity, Decision, EventRecord, Observed, Outcome, ProviderLookup, RevokeReason,
        SecretObservation, StepFailure, ValueSource, WorkloadState, plan, record, staging_metadata,
    },
};

pub const NS: &str = "team-a";
pub const NAME: &str = "my-app";
pub const UID: &str = "5f0c8a61-0000-4000-8000-000000000001";
pub const APP: &str = "46e6adf4-0000-4b60-9390-0ba6fb00bf6b";
pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const SECRET: &str = "my-app-credentials";

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn spec() -> ClientSecretRotationSpec {
    ClientSecretRotationSpec {
        provider_ref: ProviderRef {
            kind: Default::default(),
            name: "entra".into(),
        },
        application: ApplicationSpec {
            client_id: Some(APP.into()),
            ..Default::default()
        },
        secret: TargetSecretSpec {
            name: SECRET.into(),
            ..Default::default()
        },
        lifetime: GoDuration::from("2160h"),
        renew_before: None,
        renew_before_percentage: None,
        overlap: GoDuration::from("1h"),
        verify_timeout: GoDuration::from("10m"),
        rollout_targets: vec![RolloutTarget {
            kind: WorkloadKind::Deployment,
            name: Some("web".into()),
            selector: None,
        }],
        suspend: false,
        deletion_policy: Default::default(),
    }
}

pub fn resource(spec: ClientSecretRotationSpec) -> ClientSecretRotation {
    let mut r = ClientSecretRotation::new(NAME, spec);
    r.metadata.namespace = Some(NS.into());
    r.metadata.uid = Some(UID.into());
    r.metadata.generation = Some(1);
    r.metadata.finalizers = Some(vec![wellknown::FINALIZER.into()]);
    r
}

pub fn provider() -> ProviderLookup {
    ProviderLookup::Namespaced {
        namespace: NS.into(),
        spec: IdentityProviderSpec {
            directory: Directory {
                tenant_id: TENANT.into(),
                cloud: Default::default(),
                endpoints: None,
            },
            auth: ProviderAuth {
                workload_identity: Some(WorkloadIdentity {
                    client_id: APP.into(),
                    service_account_name: "rotator".into(),
                    audience: "api://AzureADTokenExchange".into(),
                }),
                client_secret: None,
                client_certificate: None,
            },
        },
    }
}

/// A credential at the fake provider, with its secret and when it was created.
#[derive(Clone, Debug)]
pub struct FakeCredential {
    pub credential: Credential,
    pub secret: String,
    pub created: Timestamp,
}

#[derive(Clone, Debug, Default)]
pub struct FakeSecret {
    pub annotations: BTreeMap<String, String>,
    pub data: BTreeMap<String, String>,
    pub owned: bool,
}

impl FakeSecret {
    fn observe(&self, value_key: &str, with_hint: bool) -> SecretObservation {
        let value = self.data.get(value_key).filter(|v| !v.is_empty());
        SecretObservation {
            annotations: self.annotations.clone(),
            owned: self.owned,
            has_value: value.is_some(),
            value_hint: if with_hint {
                value.map(|v| v.chars().take(3).collect())
            } else {
                None
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct FakePod {
    pub generation: i64,
    /// The secret value it read at start (the app's view).
    pub secret: Option<String>,
    pub ready_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct FakeWorkload {
    pub kind: WorkloadKind,
    pub name: String,
    pub generation: i64,
    pub template: BTreeMap<String, String>,
    pub replicas: i32,
    pub pods: Vec<FakePod>,
    /// Pods are replaced one per tick (10 s); `stuck` stops the rollout.
    pub stuck: bool,
}

impl FakeWorkload {
    pub fn state(&self, now: Timestamp) -> WorkloadState {
        let updated = self
            .pods
            .iter()
            .filter(|p| p.generation == self.generation)
            .count() as i32;
        let available = self
            .pods
            .iter()
            .filter(|p| p.generation == self.generation && p.ready_at <= now)
            .count() as i32;
        WorkloadState {
            kind: self.kind,
            name: self.name.clone(),
            generation: self.generation,
            observed_generation: self.generation,
            desired: self.replicas,
            total: self.pods.len() as i32,
            updated,
            available,
            template_version: self
                .template
                .get(&wellknown::pod_template_annotation_key(NAME))
                .cloned(),
            stalled_reason: None,
            manual_update: false,
        }
    }

    pub fn converged(&self) -> bool {
        self.pods.iter().all(|p| p.generation == self.generation)
    }
}

/// Where a pass may die.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Before the plan's status is persisted.
    BeforePlanStatus,
    /// After the plan's status, before the effect.
    BeforeEffect,
    /// Between the mint and the staging write.
    BetweenMintAndStage,
    /// After the effect, before its outcome is persisted.
    BeforeRecord,
}

pub struct World {
    pub now: Timestamp,
    pub resource: ClientSecretRotation,
    pub provider: ProviderLookup,
    pub app: Vec<FakeCredential>,
    pub revoked: Vec<(String, Timestamp, RevokeReason)>,
    pub minted: u32,
    pub propagation: SignedDuration,
    pub staging: Option<FakeSecret>,
    pub target: Option<FakeSecret>,
    pub workloads: Vec<FakeWorkload>,
    pub capacity: Capacity,
    pub events: Vec<EventRecord>,
    pub actions: Vec<(Timestamp, String)>,
    /// Probability that a provider call fails transiently.
    pub provider_flakiness: f64,
    /// Probability of a crash at each crash point.
    pub crash_rate: f64,
    pub rng: StdRng,
    pub crashes: u32,
    pub emergency_revoked: Vec<String>,
    /// Every secret value the fake provider ever handed out.
    pub secrets_issued: Vec<String>,
}

impl World {
    pub fn new(now: Timestamp, spec: ClientSecretRotationSpec, seed: u64) -> Self {
        let workloads = spec
            .rollout_targets
            .iter()
            .filter_map(|t| t.name.clone().map(|n| (t.kind, n)))
            .map(|(kind, name)| FakeWorkload {
                kind,
                name,
                generation: 1,
                template: BTreeMap::new(),
                replicas: 3,
                pods: (0..3)
                    .map(|_| FakePod {
                        generation: 1,
                        secret: None,
                        ready_at: now,
                    })
                    .collect(),
                stuck: false,
            })
            .collect();
        Self {
            now,
            resource: resource(spec),
            provider: provider(),
            app: vec![],
            revoked: vec![],
            minted: 0,
            propagation: SignedDuration::from_secs(20),
            staging: None,
            target: None,
            workloads,
            capacity: Capacity::default(),
            events: vec![],
            actions: vec![],
            provider_flakiness: 0.0,
            crash_rate: 0.0,
            rng: StdRng::seed_from_u64(seed),
            crashes: 0,
            emergency_revoked: vec![],
            secrets_issued: vec![],
        }
    }

    pub fn status(&self) -> ClientSecretRotationStatus {
        self.resource.status.clone().unwrap_or_default()
    }

    /// Persists a status the way the API server would: through JSON, times at whole seconds.
    pub fn persist(&mut self, status: ClientSecretRotationStatus) {
        let json = serde_json::to_string(&status).expect("status serializes");
        let back: ClientSecretRotationStatus = serde_json::from_str(&json).expect("status deserializes");
        self.resource.status = Some(back);
    }

    pub fn credentials(&self) -> ApplicationCredentials {
        ApplicationCredentials {
            client_id: APP.into(),
            object_id: "7bec5fd1-0000-474c-a6ca-5492082c6a9b".into(),
            credentials: self.app.iter().map(|c| c.credential.clone()).collect(),
        }
    }

    pub fn observe(&self, credentials: Option<ApplicationCredentials>) -> Observed {
        let keys = &self.resource.spec.secret.keys;
        Observed {
            resource: self.resource.clone(),
            provider: self.provider.clone(),
            namespace_labels: None,
            credentials,
            staging: self
                .staging
                .as_ref()
                .map(|s| s.observe(&keys.client_secret, false)),
            target: self.target.as_ref().map(|s| s.observe(&keys.client_secret, true)),
            workloads: self.workloads.iter().map(|w| w.state(self.now)).collect(),
            capacity: self.capacity,
        }
    }

    fn crash(&mut self, point: Crash) -> bool {
        if self.crash_rate > 0.0 && self.rng.random_bool(self.crash_rate) {
            self.crashes += 1;
            self.actions.push((self.now, format!("crash {point:?}")));
            return true;
        }
        false
    }

    fn flaky(&mut self) -> Option<StepFailure> {
        (self.provider_flakiness > 0.0 && self.rng.random_bool(self.provider_flakiness)).then(|| {
            StepFailure {
                reason: "ProviderUnavailable".into(),
                message: "503 from the fake provider".into(),
                transient: true,
                retry_after: None,
            }
        })
    }

    /// One reconcile pass. Returns when to requeue (`None`: on events only) and whether it crashed.
    pub fn pass(&mut self) -> (Option<Timestamp>, bool) {
        let mut credentials: Option<ApplicationCredentials> = None;
        for _ in 0..32 {
            let observed = self.observe(credentials.clone());
            let decision = plan(&observed, self.now);
            if self.crash(Crash::BeforePlanStatus) {
                return (Some(self.now), true);
            }
            if Some(&decision.status) != observed.resource.status.as_ref() {
                self.persist(decision.status.clone());
            }
            self.events.extend(decision.events.iter().cloned());
            if !matches!(decision.action, Action::Wait { .. } | Action::UpdateStatus(_)) {
                self.actions.push((self.now, format!("{:?}", decision.action)));
            }
            let outcome = match &decision.action {
                Action::Wait { .. } | Action::Blocked { .. } => {
                    return (decision.action.requeue_at(self.now), false);
                }
                Action::UpdateStatus(_) => continue,
                _ => {
                    if self.crash(Crash::BeforeEffect) {
                        return (Some(self.now), true);
                    }
                    match self.perform(&decision, &mut credentials) {
                        Some(o) => o,
                        None => return (Some(self.now), true),
                    }
                }
            };
            if self.crash(Crash::BeforeRecord) {
                return (Some(self.now), true);
            }
            let recorded = record(&observed, &decision, outcome, self.now);
            self.persist(recorded.status);
            self.events.extend(recorded.events);
        }
        (Some(self.now), false)
    }

    /// One plan → persist → act → record step (no crashes). `credentials` is the list carried
    /// within the pass.
    pub fn step(&mut self, credentials: &mut Option<ApplicationCredentials>) -> Decision {
        let observed = self.observe(credentials.clone());
        let decision = plan(&observed, self.now);
        self.persist(decision.status.clone());
        self.events.extend(decision.events.iter().cloned());
        if matches!(
            decision.action,
            Action::Wait { .. } | Action::Blocked { .. } | Action::UpdateStatus(_)
        ) {
            return decision;
        }
        let outcome = self.perform(&decision, credentials).expect("no crash in step");
        let recorded = record(&observed, &decision, outcome, self.now);
        self.persist(recorded.status);
        self.events.extend(recorded.events);
        decision
    }

    /// Steps (advancing time when the core waits, and letting workloads progress) until `done`.
    pub fn run_until(&mut self, done: impl Fn(&World) -> bool) {
        let mut credentials = None;
        for _ in 0..10_000 {
            if done(self) {
                return;
            }
            let d = self.step(&mut credentials);
            if let Action::Wait { until } | Action::Blocked { retry_at: until, .. } = d.action {
                credentials = None;
                let mut next = until.unwrap_or(self.now + SignedDuration::from_secs(10));
                if self.rolling() {
                    next = next.min(self.now + SignedDuration::from_secs(10));
                }
                self.now = next.max(self.now + SignedDuration::from_secs(1));
                self.tick_workloads();
            }
        }
        panic!("condition not reached by {}", self.now);
    }

    /// Performs an action; `None` when the pass died in the middle of it.
    fn perform(&mut self, d: &Decision, credentials: &mut Option<ApplicationCredentials>) -> Option<Outcome> {
        let now = self.now;
        let value_key = self.resource.spec.secret.keys.client_secret.clone();
        Some(match &d.action {
            Action::AddFinalizer => {
                self.resource
                    .metadata
                    .finalizers
                    .get_or_insert_default()
                    .push(wellknown::FINALIZER.into());
                Outcome::Done
            }
            Action::RemoveFinalizer => {
                self.resource.metadata.finalizers = Some(vec![]);
                Outcome::Done
            }
            Action::FetchCredentials => match self.flaky() {
                Some(f) => Outcome::Failed(f),
                None => {
                    let c = self.credentials();
                    *credentials = Some(c.clone());
                    Outcome::Fetched(c)
                }
            },
            Action::Mint {
                rotation, request, ..
            } => {
                *credentials = None;
                if let Some(f) = self.flaky() {
                    return Some(Outcome::Failed(f));
                }
                self.minted += 1;
                let n = self.minted;
                let secret = format!("{:03}{}", n % 1000, "~secret-value-".repeat(2)) + &n.to_string();
                let credential = Credential {
                    key_id: format!("00000000-0000-4000-8000-{n:012}"),
                    display_name: Some(request.display_name.clone()),
                    hint: Some(secret.chars().take(3).collect()),
                    start: Some(now),
                    end: request.end,
                };
                self.app.push(FakeCredential {
                    credential: credential.clone(),
                    secret: secret.clone(),
                    created: now,
                });
                if self.crash(Crash::BetweenMintAndStage) {
                    return None;
                }
                let (_, annotations) = staging_metadata(*rotation, &credential);
                self.staging = Some(FakeSecret {
                    annotations,
                    data: BTreeMap::from([(value_key.clone(), secret)]),
                    owned: true,
                });
                Outcome::Minted(credential)
            }
            Action::Verify { key_id } => {
                let staged = self
                    .staging
                    .as_ref()
                    .filter(|s| s.annotations.get(wellknown::ANNOTATION_KEY_ID) == Some(key_id));
                let Some(secret) = staged.and_then(|s| s.data.get(&value_key)).cloned() else {
                    return Some(Outcome::Failed(StepFailure {
                        reason: "SecretContentMismatch".into(),
                        message: "staging Secret does not hold the credential".into(),
                        transient: true,
                        retry_after: None,
                    }));
                };
                if let Some(f) = self.flaky() {
                    return Some(Outcome::Failed(f));
                }
                Outcome::Checked(self.check(&secret))
            }
            Action::WriteSecret(w) => {
                let read = |world: &World, v: &crate::rotation::SecretValue| -> Option<String> {
                    let (secret, annotation) = match v.from {
                        ValueSource::Staging => (world.staging.as_ref()?, wellknown::ANNOTATION_KEY_ID),
                        ValueSource::TargetCurrent => (world.target.as_ref()?, wellknown::ANNOTATION_KEY_ID),
                        ValueSource::TargetPrevious => {
                            (world.target.as_ref()?, wellknown::ANNOTATION_PREVIOUS_KEY_ID)
                        }
                    };
                    let key = match v.from {
                        ValueSource::TargetPrevious => {
                            world.resource.spec.secret.keys.previous_client_secret.clone()?
                        }
                        _ => value_key.clone(),
                    };
                    let value = secret.data.get(&key)?.clone();
                    let matches = match secret.annotations.get(annotation) {
                        Some(k) => k == &v.key_id,
                        None => v.hint.as_ref().is_some_and(|h| value.starts_with(h.as_str())),
                    };
                    matches.then_some(value)
                };
                let Some(current) = read(self, &w.current) else {
                    return Some(Outcome::Failed(StepFailure {
                        reason: "SecretContentMismatch".into(),
                        message: "source Secret does not hold the expected credential".into(),
                        transient: true,
                        retry_after: None,
                    }));
                };
                let previous = w.previous.as_ref().and_then(|p| read(self, p));
                let keys = &w.keys;
                let mut data = BTreeMap::from([(keys.client_secret.clone(), current)]);
                for (k, v) in [
                    (&keys.client_id, w.client_id.clone()),
                    (&keys.tenant_id, w.tenant_id.clone()),
                    (&keys.expires_at, crate::rotation::plan::rfc3339(w.expires_at)),
                ] {
                    if !k.is_empty() {
                        data.insert(k.clone(), v);
                    }
                }
                if let (Some(k), Some(p)) = (&keys.previous_client_secret, previous) {
                    data.insert(k.clone(), p);
                }
                self.target = Some(FakeSecret {
                    annotations: w.annotations.clone(),
                    data,
                    owned: true,
                });
                Outcome::Done
            }
            Action::Rollout {
                annotation_key,
                version,
                targets,
            } => {
                let mut patched = vec![];
                for t in targets {
                    if let Some(w) = self
                        .workloads
                        .iter_mut()
                        .find(|w| w.kind == t.kind && w.name == t.name)
                    {
                        if w.template.get(annotation_key) != Some(version) {
                            w.template.insert(annotation_key.clone(), version.clone());
                            w.generation += 1;
                        }
                        patched.push(RolledTarget {
                            kind: w.kind,
                            name: w.name.clone(),
                            generation: w.generation,
                        });
                    }
                }
                Outcome::RolledOut {
                    patched,
                    failure: None,
                }
            }
            Action::Revoke { key_id, why } => {
                *credentials = None;
                if let Some(f) = self.flaky() {
                    return Some(Outcome::Failed(f));
                }
                if *why == RevokeReason::Emergency {
                    self.emergency_revoked.push(key_id.clone());
                }
                if *why == RevokeReason::Previous {
                    self.check_safe_to_revoke_previous(d, key_id);
                }
                if let Some(pos) = self.app.iter().position(|c| &c.credential.key_id == key_id) {
                    self.app.remove(pos);
                    self.revoked.push((key_id.clone(), now, *why));
                }
                Outcome::Done
            }
            Action::DeleteStagingSecret => {
                self.staging = None;
                Outcome::Done
            }
            Action::ReleaseTargetSecret => {
                if let Some(t) = self.target.as_mut() {
                    t.owned = false;
                }
                Outcome::Done
            }
            Action::Wait { .. } | Action::Blocked { .. } | Action::UpdateStatus(_) => Outcome::Done,
        })
    }

    pub fn check(&self, secret: &str) -> CheckOutcome {
        match self.app.iter().find(|c| c.secret == secret) {
            None => CheckOutcome::NotAccepted,
            Some(c) if self.now < c.created + self.propagation => CheckOutcome::NotAccepted,
            Some(c) if c.credential.end <= self.now => CheckOutcome::Expired,
            Some(_) => CheckOutcome::Authenticated,
        }
    }

    /// The workload controllers: replace one old pod per workload (10 s per step).
    pub fn tick_workloads(&mut self) {
        let now = self.now;
        let value_key = self.resource.spec.secret.keys.client_secret.clone();
        let current = self.target.as_ref().and_then(|t| t.data.get(&value_key)).cloned();
        for w in &mut self.workloads {
            if w.stuck {
                continue;
            }
            if let Some(pod) = w.pods.iter_mut().find(|p| p.generation != w.generation) {
                *pod = FakePod {
                    generation: w.generation,
                    secret: current.clone(),
                    ready_at: now + SignedDuration::from_secs(5),
                };
            }
        }
    }

    pub fn rolling(&self) -> bool {
        self.workloads.iter().any(|w| !w.stuck && !w.converged())
    }

    /// The credential a secret value belongs to.
    pub fn key_of(&self, secret: &str) -> Option<String> {
        self.app
            .iter()
            .find(|c| c.secret == secret)
            .map(|c| c.credential.key_id.clone())
    }

    pub fn target_secret(&self) -> Option<String> {
        let key = &self.resource.spec.secret.keys.client_secret;
        self.target.as_ref().and_then(|t| t.data.get(key)).cloned()
    }

    /// Asserts that no secret value ever reached the status, an event or an action's Debug form.
    pub fn assert_no_secret_leaked(&self) {
        let status = serde_json::to_string(&self.status()).unwrap();
        for secret in &self.secrets_issued {
            assert!(
                !status.contains(secret.as_str()),
                "a secret value is in the status"
            );
            assert!(
                !self.events.iter().any(|e| e.message.contains(secret.as_str())),
                "a secret value is in an event"
            );
            assert!(
                !self.actions.iter().any(|(_, a)| a.contains(secret.as_str())),
                "a secret value is in an action"
            );
        }
    }

    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.resource
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(key.into(), value.into());
    }

    /// The previous credential goes only after every rollout completed, the overlap passed, and
    /// no pod holds it.
    fn check_safe_to_revoke_previous(&self, d: &Decision, key_id: &str) {
        let rot = d
            .status
            .rotation
            .as_ref()
            .expect("previous revoked outside a rotation");
        let done: Option<&Time> = rot.rollout_completed_at.as_ref();
        let done = done.unwrap_or_else(|| {
            panic!(
                "previous {key_id} revoked at {} before the rollout completed",
                self.now
            )
        });
        let overlap = self.resource.spec.overlap.to_signed().unwrap();
        assert!(
            self.now >= done.0 + overlap,
            "previous {key_id} revoked at {}, overlap after {} not over",
            self.now,
            done.0
        );
        let secret = self
            .app
            .iter()
            .find(|c| c.credential.key_id == key_id)
            .map(|c| c.secret.clone());
        for w in &self.workloads {
            assert!(
                w.converged(),
                "previous {key_id} revoked at {} while {} is rolling out",
                self.now,
                w.name
            );
            assert!(
                w.pods.iter().all(|p| p.secret.is_none() || p.secret != secret),
                "previous {key_id} revoked at {} while a pod of {} holds it",
                self.now,
                w.name
            );
        }
    }
}
