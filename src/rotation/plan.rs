//! [`plan`]: the pure decision function. Observed state and the current time in, one next step out.
//!
//! The order of the checks is the policy, top to bottom:
//! 1. deletion (finalizer cleanup), then the finalizer itself;
//! 2. a spec the schema should have refused, then tenancy — both block without side effects;
//! 3. `suspend` — status only;
//! 4. orphans, whenever the provider's list is at hand;
//! 5. the rotation in flight, phase by phase;
//! 6. otherwise: adoption on day one, the target Secret's health, requests, the renewal time, and
//!    the daily credential inventory — or wait until the earliest of those is due.

use jiff::Timestamp;

use super::{
    conditions::{self, Health},
    decision::{
        Action, Decision, EventRecord, EventType, RevokeReason, SecretValue, SecretWrite, StatusChange,
        ValueSource, WorkloadRef,
    },
    inventory, marker,
    observed::{Observed, SecretObservation},
    schedule::{
        self, CAPACITY_RECHECK, INVENTORY_REFRESH, REVOKED_MEMORY, REVOKED_MEMORY_ENTRIES,
        ROLLOUT_STALL_AFTER, Timing, after, floor,
    },
    tenancy, verification,
};
use crate::{
    api::{
        ClientSecretRotationSpec, ClientSecretRotationStatus, CredentialOrigin, CredentialRecord,
        DeletionPolicy, Directory, FailureRecord, RolledTarget, RotationPhase, RotationProgress,
        RotationReason, VerificationProgress,
        wellknown::{self, event, reason},
    },
    provider::{ApplicationCredentials, Credential, MintRequest},
};

/// Decides the next step for the rotation in `observed` at time `now`.
pub fn plan(observed: &Observed, now: Timestamp) -> Decision {
    let mut planner = Planner::new(observed, floor(now));
    let action = planner.decide();
    planner.finish(action)
}

pub(super) struct Planner<'a> {
    pub(super) o: &'a Observed,
    pub(super) now: Timestamp,
    pub(super) status: ClientSecretRotationStatus,
    pub(super) events: Vec<EventRecord>,
    pub(super) health: Health,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) uid: String,
}

impl<'a> Planner<'a> {
    pub(super) fn new(o: &'a Observed, now: Timestamp) -> Self {
        let meta = &o.resource.metadata;
        Self {
            o,
            now,
            status: o.resource.status.clone().unwrap_or_default(),
            events: Vec::new(),
            health: Health::default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
        }
    }

    fn spec(&self) -> &'a ClientSecretRotationSpec {
        &self.o.resource.spec
    }

    fn generation(&self) -> Option<i64> {
        self.o.resource.metadata.generation
    }

    fn finish(mut self, action: Action) -> Decision {
        if let Action::Blocked { reason, message, .. } = &action {
            let already = conditions::get(&self.status.conditions, wellknown::condition::DEGRADED)
                .is_some_and(|c| c.status == "True" && c.reason == *reason && c.message == *message);
            if !already {
                self.warn(event::BLOCKED, "Blocked", message.clone());
            }
            self.health.blocked = Some((reason, message.clone()));
        }
        if let Some(credentials) = &self.o.credentials {
            // Roles as of the status about to be persisted (an adoption changes them).
            self.absorb(credentials);
        }
        let generation = self.generation();
        self.status.observed_generation = generation;
        let secret_name = &self.o.resource.spec.secret.name;
        conditions::update(&mut self.status, secret_name, &self.health, generation, self.now);
        Decision {
            action,
            status: self.status,
            events: self.events,
        }
    }

    pub(super) fn note(&mut self, reason: &'static str, action: &'static str, message: String) {
        self.events.push(EventRecord {
            type_: EventType::Normal,
            reason,
            action,
            message,
        });
    }

    pub(super) fn warn(&mut self, reason: &'static str, action: &'static str, message: String) {
        self.events.push(EventRecord {
            type_: EventType::Warning,
            reason,
            action,
            message,
        });
    }

    fn block(&mut self, reason: &'static str, message: String) -> Action {
        Action::Blocked {
            reason,
            message,
            retry_at: None,
        }
    }

    /// `action`, unless a failed step is backing off: then wait for the retry time. A spec change
    /// (new generation) retries at once.
    fn effect(&mut self, action: Action) -> Action {
        if let Some(f) = &self.status.failure
            && f.next_retry_time.0 > self.now
            && f.observed_generation == self.generation()
        {
            return Action::Wait {
                until: Some(f.next_retry_time.0),
            };
        }
        action
    }

    fn decide(&mut self) -> Action {
        let meta = &self.o.resource.metadata;
        if self.namespace.is_empty() || self.name.is_empty() || self.uid.is_empty() {
            return self.block(
                reason::INVALID_SPEC,
                "the resource has no namespace, name or uid".to_owned(),
            );
        }
        self.prune_revoked();
        let deleting = meta.deletion_timestamp.is_some();
        self.health.deleting = deleting;
        self.health.suspended = self.spec().suspend && !deleting;
        if deleting {
            return self.deletion();
        }
        if !self.has_finalizer() {
            return self.effect(Action::AddFinalizer);
        }
        let timing = match Timing::from_spec(self.spec()) {
            Ok(t) => t,
            Err(e) => return self.block(reason::INVALID_SPEC, e.to_string()),
        };
        let directory = match self.authorize() {
            Ok(d) => d.clone(),
            Err(d) => return self.block(d.reason, d.message),
        };
        self.refresh_renewal(&timing);
        if self.spec().suspend {
            return Action::Wait { until: None };
        }
        if let Some(action) = self.orphan_cleanup() {
            return action;
        }
        if let Some(rotation) = self.status.rotation.clone() {
            return self.progress(rotation, &timing, &directory);
        }
        self.idle(&timing)
    }

    fn has_finalizer(&self) -> bool {
        self.o
            .resource
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == wellknown::FINALIZER))
    }

    fn authorize(&self) -> Result<&'a Directory, tenancy::Denial> {
        tenancy::authorize(
            &self.namespace,
            &self.spec().provider_ref,
            &self.spec().application,
            &self.o.provider,
            self.o.namespace_labels.as_ref(),
        )
    }

    pub(super) fn inventory(&self) -> inventory::Context<'_> {
        inventory::Context::of(&self.namespace, &self.name, &self.status, self.o)
    }

    fn absorb(&mut self, credentials: &ApplicationCredentials) {
        let summary = self.inventory().summarize(credentials);
        self.status.credentials = summary;
        self.status.client_id = Some(credentials.client_id.clone());
    }

    fn prune_revoked(&mut self) {
        let horizon = self.now - REVOKED_MEMORY;
        self.status.recently_revoked.retain(|r| r.revoked_at.0 > horizon);
        let excess = self
            .status
            .recently_revoked
            .len()
            .saturating_sub(REVOKED_MEMORY_ENTRIES);
        self.status.recently_revoked.drain(..excess);
    }

    fn recently_revoked(&self, key_id: &str) -> bool {
        self.inventory().recently_revoked(key_id)
    }

    fn refresh_renewal(&mut self, timing: &Timing) {
        self.status.renewal_time = self.status.current.as_ref().map(|c| {
            timing
                .renewal_time(
                    c.starts_at.as_ref().map(|t| t.0),
                    c.expires_at.0,
                    &self.uid,
                    c.rotation.unwrap_or(0),
                )
                .into()
        });
    }

    fn orphan_cleanup(&mut self) -> Option<Action> {
        let credentials = self.o.credentials.as_ref()?;
        let key_id = self.inventory().orphans(credentials).first()?.key_id.clone();
        Some(self.effect(Action::Revoke {
            key_id,
            why: RevokeReason::Orphan,
        }))
    }

    /// The value of a request annotation that has not been handled yet.
    fn new_request(&self, annotation: &str, handled: &Option<String>) -> Option<String> {
        let value = self.o.resource.metadata.annotations.as_ref()?.get(annotation)?;
        (!value.is_empty() && handled.as_deref() != Some(value.as_str())).then(|| value.clone())
    }

    fn staging_holds(&self, key_id: &str) -> bool {
        self.o
            .staging
            .as_ref()
            .is_some_and(|s| s.has_value && s.key_id().is_some_and(|k| k.eq_ignore_ascii_case(key_id)))
    }

    /// Whether the target Secret holds `record` under the client-secret key: by the operator's
    /// annotation, or, for a Secret written elsewhere (adoption), by the hint.
    fn target_holds(&self, record: &CredentialRecord) -> bool {
        let Some(t) = &self.o.target else { return false };
        if !t.has_value {
            return false;
        }
        match t.key_id() {
            Some(k) => k.eq_ignore_ascii_case(&record.key_id),
            None => record.hint.is_some() && t.value_hint == record.hint,
        }
    }

    // ---------------------------------------------------------------- idle

    fn idle(&mut self, timing: &Timing) -> Action {
        let Some(current) = self.status.current.clone() else {
            return self.initialize(timing);
        };
        match &self.o.target {
            Some(t) if t.has_value => {
                if !self.target_holds(&current) {
                    return self.block(
                        reason::TARGET_SECRET_CONFLICT,
                        format!(
                            "Secret {:?} no longer holds credential {} that the operator wrote; another tool may be writing it",
                            self.spec().secret.name,
                            current.key_id
                        ),
                    );
                }
            }
            _ => return self.start(RotationReason::TargetSecretMissing, None),
        }
        if let Some(credentials) = &self.o.credentials {
            let settled = current
                .promoted_at
                .as_ref()
                .or(current.starts_at.as_ref())
                .is_none_or(|t| t.0 + REVOKED_MEMORY <= self.now);
            let listed = credentials
                .credentials
                .iter()
                .any(|c| c.key_id.eq_ignore_ascii_case(&current.key_id));
            if settled && !listed {
                return self.start(RotationReason::CredentialMissing, None);
            }
        }
        if let Some(token) = self.new_request(
            wellknown::ANNOTATION_EMERGENCY_ROTATE,
            &self.status.handled_emergency_request,
        ) {
            return self.start(RotationReason::Emergency, Some(token));
        }
        if let Some(token) =
            self.new_request(wellknown::ANNOTATION_ROTATE, &self.status.handled_rotate_request)
        {
            return self.start(RotationReason::Manual, Some(token));
        }
        let renewal = self.status.renewal_time.as_ref().map_or(self.now, |t| t.0);
        if self.now >= renewal {
            return self.start(RotationReason::Scheduled, None);
        }
        if self.o.staging.is_some() {
            return self.effect(Action::DeleteStagingSecret);
        }
        let inventory_due = self
            .status
            .credentials_observed_at
            .as_ref()
            .map_or(self.now, |t| after(t.0, INVENTORY_REFRESH));
        if self.now >= inventory_due && self.o.credentials.is_none() {
            return self.effect(Action::FetchCredentials);
        }
        let until = if inventory_due > self.now {
            renewal.min(inventory_due)
        } else {
            renewal
        };
        Action::Wait { until: Some(until) }
    }

    fn initialize(&mut self, timing: &Timing) -> Action {
        let target = match &self.o.target {
            Some(t) if t.has_value => t.clone(),
            _ => return self.start(RotationReason::Initial, None),
        };
        let Some(credentials) = self.o.credentials.clone() else {
            return self.effect(Action::FetchCredentials);
        };
        let find = |key: &str| {
            credentials
                .credentials
                .iter()
                .find(|c| c.key_id.eq_ignore_ascii_case(key))
                .cloned()
        };
        if let Some(key) = target.key_id() {
            return match find(key) {
                Some(c) => self.adopt(&c, &target, &credentials, timing),
                None => self.start(RotationReason::CredentialMissing, None),
            };
        }
        if let Some(key) = self.spec().secret.adopt_key_id.clone() {
            return match find(&key) {
                Some(c) => self.adopt(&c, &target, &credentials, timing),
                None => self.block(
                    reason::ADOPTION_FAILED,
                    format!("credential {key} from spec.secret.adoptKeyId is not on the application"),
                ),
            };
        }
        let Some(hint) = target.value_hint.clone() else {
            return self.start(RotationReason::SecretNotRecognized, None);
        };
        let matches: Vec<&Credential> = credentials
            .credentials
            .iter()
            .filter(|c| {
                c.hint.as_deref() == Some(hint.as_str())
                    && c.end > self.now
                    && !self.recently_revoked(&c.key_id)
            })
            .collect();
        match matches.as_slice() {
            [one] => {
                let one = (*one).clone();
                self.adopt(&one, &target, &credentials, timing)
            }
            [] => {
                self.warn(
                    event::ROTATION_REQUESTED,
                    "Adopt",
                    format!(
                        "Secret {:?} holds a secret that matches no valid credential of the application; minting a new one",
                        self.spec().secret.name
                    ),
                );
                self.start(RotationReason::SecretNotRecognized, None)
            }
            many => {
                let keys: Vec<&str> = many.iter().map(|c| c.key_id.as_str()).collect();
                self.block(
                    reason::ADOPTION_AMBIGUOUS,
                    format!(
                        "{} credentials of the application share the hint of the secret in Secret {:?} ({}); set spec.secret.adoptKeyId to the right one",
                        many.len(),
                        self.spec().secret.name,
                        keys.join(", ")
                    ),
                )
            }
        }
    }

    fn adopt(
        &mut self,
        credential: &Credential,
        target: &SecretObservation,
        credentials: &ApplicationCredentials,
        timing: &Timing,
    ) -> Action {
        let rotation = marker::rotation_of(credential.display_name.as_deref(), &self.namespace, &self.name);
        let origin = if rotation.is_some() {
            CredentialOrigin::Minted
        } else {
            CredentialOrigin::Adopted
        };
        let highest_marked = credentials
            .credentials
            .iter()
            .filter_map(|c| marker::rotation_of(c.display_name.as_deref(), &self.namespace, &self.name))
            .max()
            .unwrap_or(0);
        self.status.rotation_count = self
            .status
            .rotation_count
            .max(rotation.unwrap_or(0))
            .max(target.rotation().unwrap_or(0))
            .max(highest_marked);
        self.status.current = Some(CredentialRecord {
            key_id: credential.key_id.clone(),
            hint: credential.hint.clone(),
            origin,
            rotation,
            starts_at: credential.start.map(|t| floor(t).into()),
            expires_at: floor(credential.end).into(),
            promoted_at: None,
        });
        self.refresh_renewal(timing);
        let whose = match origin {
            CredentialOrigin::Minted => "minted earlier by this rotation",
            CredentialOrigin::Adopted => {
                "minted elsewhere; it will be left to expire after the first rotation"
            }
        };
        self.note(
            event::ADOPTED,
            "Adopt",
            format!(
                "adopted credential {} ({whose}) from Secret {:?}",
                credential.key_id,
                self.spec().secret.name
            ),
        );
        Action::UpdateStatus(StatusChange::Adopt {
            key_id: credential.key_id.clone(),
        })
    }

    /// Starts a rotation, recording the request `token` it answers (if any) in the same write.
    fn start(&mut self, why: RotationReason, token: Option<String>) -> Action {
        if let Some(f) = &self.status.failure
            && f.next_retry_time.0 > self.now
            && f.observed_generation == self.generation()
        {
            return Action::Wait {
                until: Some(f.next_retry_time.0),
            };
        }
        if why != RotationReason::Emergency && !self.o.capacity.rotation_slot {
            self.health.waiting_for_capacity = true;
            return Action::Wait {
                until: Some(after(self.now, CAPACITY_RECHECK)),
            };
        }
        match (why, token) {
            (RotationReason::Emergency, Some(t)) => self.status.handled_emergency_request = Some(t),
            (RotationReason::Manual, Some(t)) => self.status.handled_rotate_request = Some(t),
            _ => {}
        }
        let id = self.status.rotation_count + 1;
        self.status.rotation_count = id;
        self.status.rotation = Some(RotationProgress {
            id,
            reason: why,
            emergency: why == RotationReason::Emergency,
            phase: RotationPhase::Pending,
            started_at: self.now.into(),
            display_name: marker::display_name(&self.namespace, &self.name, id),
            credential: None,
            verification: None,
            version: None,
            rolled_targets: vec![],
            rollout_started_at: None,
            rollout_completed_at: None,
            revoke_after: None,
            abandon_reason: None,
            abandon_message: None,
        });
        let message = match why {
            RotationReason::Emergency => format!(
                "emergency rotation {id} started: the previous credential will be revoked as soon as the new one is verified and written, without waiting for rollouts or the overlap"
            ),
            _ => format!("rotation {id} started ({why:?})"),
        };
        if why == RotationReason::Emergency {
            self.warn(event::ROTATION_STARTED, "StartRotation", message);
        } else {
            self.note(event::ROTATION_STARTED, "StartRotation", message);
        }
        Action::UpdateStatus(StatusChange::StartRotation { id, reason: why })
    }

    // ---------------------------------------------------------------- rotation in flight

    fn progress(&mut self, mut rot: RotationProgress, timing: &Timing, directory: &Directory) -> Action {
        if let Some(token) = self.new_request(
            wellknown::ANNOTATION_EMERGENCY_ROTATE,
            &self.status.handled_emergency_request,
        ) && rot.phase != RotationPhase::Abandoning
        {
            self.status.handled_emergency_request = Some(token);
            rot.emergency = true;
            self.warn(
                event::ROTATION_STARTED,
                "Emergency",
                format!(
                    "emergency requested during rotation {}: the previous credential will be revoked as soon as the new one is written, without waiting for rollouts or the overlap",
                    rot.id
                ),
            );
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::Emergency);
        }
        match rot.phase {
            RotationPhase::Pending => self.pending(rot, timing),
            RotationPhase::Verifying => self.verifying(rot, timing),
            RotationPhase::Verified => self.verified(rot, timing, directory),
            RotationPhase::RollingOut => self.rolling_out(rot, directory),
            RotationPhase::Retiring => self.retiring(rot, timing, directory),
            RotationPhase::Abandoning => self.abandoning(rot, timing),
        }
    }

    fn pending(&mut self, mut rot: RotationProgress, timing: &Timing) -> Action {
        // Crash between staging and status: the staging Secret already holds this rotation's
        // credential. Record it instead of minting again.
        if let Some(st) = &self.o.staging
            && st.has_value
            && st.rotation() == Some(rot.id)
            && let Some(key) = st.key_id()
        {
            let key = key.to_owned();
            rot.credential = Some(CredentialRecord {
                key_id: key.clone(),
                hint: st.hint().map(str::to_owned),
                origin: CredentialOrigin::Minted,
                rotation: Some(rot.id),
                starts_at: st.starts_at().map(|t| floor(t).into()),
                expires_at: st
                    .expires_at()
                    .map_or_else(|| after(self.now, timing.lifetime), floor)
                    .into(),
                promoted_at: None,
            });
            rot.phase = RotationPhase::Verifying;
            rot.verification = Some(new_verification(self.now, timing));
            self.note(
                event::MINTED,
                "RecordMinted",
                format!("recorded credential {key} found in the staging Secret"),
            );
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::RecordMinted { key_id: key });
        }
        if self.o.credentials.is_none() {
            return self.effect(Action::FetchCredentials);
        }
        let request = MintRequest {
            display_name: rot.display_name.clone(),
            start: None,
            end: after(self.now, timing.lifetime),
        };
        self.effect(Action::Mint {
            rotation: rot.id,
            request,
            staging_secret: wellknown::staging_secret_name(&self.name),
        })
    }

    fn verifying(&mut self, mut rot: RotationProgress, timing: &Timing) -> Action {
        let Some(credential) = rot.credential.clone() else {
            rot.phase = RotationPhase::Pending;
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::Refresh);
        };
        if !self.staging_holds(&credential.key_id) {
            return self.abandon(
                rot,
                "StagingSecretLost",
                format!(
                    "the staging Secret no longer holds credential {}",
                    credential.key_id
                ),
            );
        }
        let v = rot
            .verification
            .get_or_insert_with(|| new_verification(self.now, timing))
            .clone();
        if verification::is_verified(&v) {
            rot.phase = RotationPhase::Verified;
            self.note(
                event::VERIFIED,
                "Verify",
                format!(
                    "credential {} authenticated {} times in a row",
                    credential.key_id, v.consecutive_successes
                ),
            );
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::RecordVerified);
        }
        if verification::timed_out(&v, self.now) {
            return self.abandon(
                rot,
                reason::VERIFICATION_TIMED_OUT,
                format!(
                    "credential {} did not authenticate within verifyTimeout ({} attempts, last result {})",
                    credential.key_id,
                    v.attempts,
                    v.last_result.as_deref().unwrap_or("none")
                ),
            );
        }
        self.status.rotation = Some(rot);
        if let Some(next) = verification::next_check_at(&v)
            && next > self.now
        {
            return Action::Wait { until: Some(next) };
        }
        Action::Verify {
            key_id: credential.key_id,
        }
    }

    fn verified(&mut self, rot: RotationProgress, timing: &Timing, directory: &Directory) -> Action {
        let Some(credential) = rot.credential.clone() else {
            return self.abandon(
                rot,
                "StagingSecretLost",
                "the verified credential is not recorded".to_owned(),
            );
        };
        // Crash between the write and status: the target already holds the new credential.
        if self
            .o
            .target
            .as_ref()
            .and_then(|t| t.key_id())
            .is_some_and(|k| k.eq_ignore_ascii_case(&credential.key_id))
        {
            self.status.rotation = Some(rot);
            promote(&mut self.status, Some(timing), &self.uid, self.now);
            self.note(
                event::PROMOTED,
                "RecordPromoted",
                format!(
                    "recorded credential {} found in Secret {:?}",
                    credential.key_id,
                    self.spec().secret.name
                ),
            );
            return Action::UpdateStatus(StatusChange::RecordPromoted {
                key_id: credential.key_id,
            });
        }
        if !self.staging_holds(&credential.key_id) {
            return self.abandon(
                rot,
                "StagingSecretLost",
                format!(
                    "the staging Secret no longer holds credential {}",
                    credential.key_id
                ),
            );
        }
        if !rot.emergency && !self.o.capacity.rollout_slot {
            self.health.waiting_for_capacity = true;
            return Action::Wait {
                until: Some(after(self.now, CAPACITY_RECHECK)),
            };
        }
        let Some(client_id) = self.client_id() else {
            return self.effect(Action::FetchCredentials);
        };
        let current = SecretValue {
            key_id: credential.key_id.clone(),
            hint: credential.hint.clone(),
            from: ValueSource::Staging,
        };
        let previous = self
            .status
            .current
            .clone()
            .filter(|c| c.expires_at.0 > self.now && self.target_holds(c))
            .map(|c| SecretValue {
                key_id: c.key_id,
                hint: c.hint,
                from: ValueSource::TargetCurrent,
            });
        let write = self.secret_write(&credential, rot.id, current, previous, client_id, directory);
        self.effect(Action::WriteSecret(write))
    }

    fn client_id(&self) -> Option<String> {
        self.spec()
            .application
            .client_id
            .clone()
            .or_else(|| self.status.client_id.clone())
    }

    /// The target Secret's content with `credential` current, and `previous` under the
    /// previous-secret key when that key is configured.
    fn secret_write(
        &self,
        credential: &CredentialRecord,
        rotation: i64,
        current: SecretValue,
        previous: Option<SecretValue>,
        client_id: String,
        directory: &Directory,
    ) -> SecretWrite {
        let spec = &self.spec().secret;
        let previous = previous.filter(|_| spec.keys.previous_client_secret.is_some());
        let mut labels = spec.labels.clone();
        labels.insert(
            wellknown::LABEL_MANAGED.into(),
            wellknown::LABEL_MANAGED_VALUE.into(),
        );
        labels.insert(wellknown::LABEL_ROLE.into(), wellknown::ROLE_TARGET.into());
        let mut annotations = spec.annotations.clone();
        annotations.insert(wellknown::ANNOTATION_KEY_ID.into(), credential.key_id.clone());
        annotations.insert(wellknown::ANNOTATION_ROTATION.into(), rotation.to_string());
        annotations.insert(
            wellknown::ANNOTATION_EXPIRES_AT.into(),
            rfc3339(credential.expires_at.0),
        );
        annotations.insert(
            wellknown::ANNOTATION_VERSION.into(),
            wellknown::secret_version(&credential.key_id),
        );
        if let Some(hint) = &credential.hint {
            annotations.insert(wellknown::ANNOTATION_HINT.into(), hint.clone());
        }
        if let Some(p) = &previous {
            annotations.insert(wellknown::ANNOTATION_PREVIOUS_KEY_ID.into(), p.key_id.clone());
        }
        SecretWrite {
            name: spec.name.clone(),
            keys: spec.keys.clone(),
            current,
            previous,
            client_id,
            tenant_id: directory.tenant_id.clone(),
            expires_at: credential.expires_at.0,
            labels,
            annotations,
        }
    }

    /// Rewrites the target Secret with only the current credential (drops the previous value).
    fn current_only_write(&self, directory: &Directory) -> Option<SecretWrite> {
        let current = self.status.current.clone()?;
        let client_id = self.client_id()?;
        let value = SecretValue {
            key_id: current.key_id.clone(),
            hint: current.hint.clone(),
            from: ValueSource::TargetCurrent,
        };
        Some(self.secret_write(
            &current,
            current.rotation.unwrap_or(0),
            value,
            None,
            client_id,
            directory,
        ))
    }

    fn rolling_out(&mut self, mut rot: RotationProgress, directory: &Directory) -> Action {
        if self.o.staging.is_some() {
            return self.effect(Action::DeleteStagingSecret);
        }
        let Some(version) = rot.version.clone().or_else(|| {
            self.status
                .current
                .as_ref()
                .map(|c| wellknown::secret_version(&c.key_id))
        }) else {
            return self.abandon(
                rot,
                "StagingSecretLost",
                "no current credential after promotion".to_owned(),
            );
        };
        if rot.emergency
            && let Some(action) = self.emergency_retire(directory)
        {
            return action;
        }
        let recorded = |rot: &RotationProgress, kind, name: &str| {
            rot.rolled_targets
                .iter()
                .any(|t| t.kind == kind && t.name == name)
        };
        // Crash between the patch and status: templates already carry the version.
        let found: Vec<RolledTarget> = self
            .o
            .workloads
            .iter()
            .filter(|w| {
                !recorded(&rot, w.kind, &w.name) && w.template_version.as_deref() == Some(version.as_str())
            })
            .map(|w| RolledTarget {
                kind: w.kind,
                name: w.name.clone(),
                generation: w.generation,
            })
            .collect();
        if !found.is_empty() {
            rot.rolled_targets.extend(found);
            rot.rollout_started_at.get_or_insert(self.now.into());
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::RecordRolledOut);
        }
        let mut pending: Vec<WorkloadRef> = self
            .o
            .workloads
            .iter()
            .filter(|w| !recorded(&rot, w.kind, &w.name))
            .map(|w| WorkloadRef {
                kind: w.kind,
                name: w.name.clone(),
            })
            .collect();
        if !pending.is_empty() {
            pending.sort();
            pending.dedup();
            return self.effect(Action::Rollout {
                annotation_key: wellknown::pod_template_annotation_key(&self.name),
                version,
                targets: pending,
            });
        }
        let incomplete: Vec<&super::rollout::WorkloadState> = rot
            .rolled_targets
            .iter()
            .filter_map(|t| {
                self.o
                    .workloads
                    .iter()
                    .find(|w| w.kind == t.kind && w.name == t.name)
                    .filter(|w| !w.rolled_out_since(t.generation))
            })
            .collect();
        if incomplete.is_empty() {
            rot.rollout_completed_at = Some(self.now.into());
            let overlap = Timing::from_spec(self.spec())
                .map(|t| t.overlap)
                .unwrap_or_default();
            rot.revoke_after = Some(
                if rot.emergency {
                    self.now
                } else {
                    after(self.now, overlap)
                }
                .into(),
            );
            rot.phase = RotationPhase::Retiring;
            let targets = rot.rolled_targets.len();
            self.note(
                event::ROLLOUT_COMPLETE,
                "Rollout",
                format!("{targets} rollout target(s) finished rolling out; consumers use the new credential"),
            );
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::RolloutComplete);
        }
        let stall_at = after(
            rot.rollout_started_at.as_ref().map_or(self.now, |t| t.0),
            ROLLOUT_STALL_AFTER,
        );
        let stalled: Vec<String> = incomplete
            .iter()
            .filter(|w| w.stalled_reason.is_some() || w.manual_update || self.now >= stall_at)
            .map(|w| match (&w.stalled_reason, w.manual_update) {
                (Some(r), _) => format!("{} ({r})", w.progress()),
                (None, true) => format!("{} (updates only when pods are deleted by hand)", w.progress()),
                (None, false) => w.progress(),
            })
            .collect();
        if !stalled.is_empty() {
            let message = format!(
                "rollout not finished; the previous credential stays valid until it is: {}",
                stalled.join("; ")
            );
            let already = conditions::get(&self.status.conditions, wellknown::condition::DEGRADED)
                .is_some_and(|c| c.reason == reason::ROLLOUT_STALLED && c.message == message);
            if !already {
                self.warn(event::ROLLOUT_STALLED, "Rollout", message.clone());
            }
            self.health.stalled = Some(message);
            return Action::Wait { until: None };
        }
        Action::Wait {
            until: Some(stall_at),
        }
    }

    /// Emergency: drop the previous value from the target Secret, then revoke the previous
    /// credential (or say it cannot be), before any rollout.
    fn emergency_retire(&mut self, directory: &Directory) -> Option<Action> {
        let previous = self.status.previous.clone()?;
        if self
            .o
            .target
            .as_ref()
            .and_then(|t| t.previous_key_id())
            .is_some_and(|k| k.eq_ignore_ascii_case(&previous.key_id))
            && let Some(write) = self.current_only_write(directory)
        {
            return Some(self.effect(Action::WriteSecret(write)));
        }
        Some(self.retire_previous(previous, RevokeReason::Emergency))
    }

    /// Revokes `previous` if the operator minted it, otherwise lets it go with a warning.
    fn retire_previous(&mut self, previous: CredentialRecord, why: RevokeReason) -> Action {
        if previous.origin == CredentialOrigin::Adopted {
            self.warn(
                event::PREVIOUS_LEFT_TO_EXPIRE,
                "Revoke",
                format!(
                    "previous credential {} was not minted by secret-rotator: it is not revoked and stays valid until {}{}",
                    previous.key_id,
                    rfc3339(previous.expires_at.0),
                    if why == RevokeReason::Emergency { "; revoke it by hand if it leaked" } else { "" }
                ),
            );
            self.status.previous = None;
            return Action::UpdateStatus(StatusChange::ReleasePrevious);
        }
        if self.recently_revoked(&previous.key_id) {
            self.status.previous = None;
            return Action::UpdateStatus(StatusChange::Refresh);
        }
        self.effect(Action::Revoke {
            key_id: previous.key_id,
            why,
        })
    }

    fn retiring(&mut self, mut rot: RotationProgress, timing: &Timing, directory: &Directory) -> Action {
        if self.o.staging.is_some() {
            return self.effect(Action::DeleteStagingSecret);
        }
        let recorded = |kind, name: &str| {
            rot.rolled_targets
                .iter()
                .any(|t| t.kind == kind && t.name == name)
        };
        if self.o.workloads.iter().any(|w| !recorded(w.kind, &w.name)) {
            // A workload appeared (a selector matched it) after the rollout completed: its pods
            // may hold the previous credential. Roll it too before revoking anything.
            rot.phase = RotationPhase::RollingOut;
            rot.rollout_completed_at = None;
            rot.revoke_after = None;
            self.status.rotation = Some(rot);
            return Action::UpdateStatus(StatusChange::ResumeRollout);
        }
        let Some(previous) = self.status.previous.clone() else {
            return self.complete(rot, timing);
        };
        let revoke_after = rot.revoke_after.as_ref().map_or(self.now, |t| t.0);
        if self.now < revoke_after {
            return Action::Wait {
                until: Some(revoke_after),
            };
        }
        if self
            .o
            .target
            .as_ref()
            .and_then(|t| t.previous_key_id())
            .is_some_and(|k| k.eq_ignore_ascii_case(&previous.key_id))
            && let Some(write) = self.current_only_write(directory)
        {
            return self.effect(Action::WriteSecret(write));
        }
        self.retire_previous(previous, RevokeReason::Previous)
    }

    fn complete(&mut self, rot: RotationProgress, timing: &Timing) -> Action {
        self.status.rotation = None;
        self.status.last_rotation_time = Some(self.now.into());
        self.status.failure = None;
        self.refresh_renewal(timing);
        let current = self.status.current.as_ref().map_or_else(String::new, |c| {
            format!(
                "; credential {} is current until {}",
                c.key_id,
                rfc3339(c.expires_at.0)
            )
        });
        self.note(
            event::ROTATED,
            "Complete",
            format!("rotation {} complete{current}", rot.id),
        );
        Action::UpdateStatus(StatusChange::Complete)
    }

    /// Gives up on the rotation in flight before it reached consumers.
    fn abandon(&mut self, mut rot: RotationProgress, why: &str, message: String) -> Action {
        rot.phase = RotationPhase::Abandoning;
        rot.abandon_reason = Some(why.to_owned());
        rot.abandon_message = Some(message.clone());
        self.warn(
            if why == reason::VERIFICATION_TIMED_OUT { event::VERIFICATION_TIMED_OUT } else { event::STEP_FAILED },
            "Abandon",
            format!("rotation {} abandoned: {message}; its credential is revoked and the rotation retried with backoff", rot.id),
        );
        self.status.rotation = Some(rot);
        Action::UpdateStatus(StatusChange::Abandon)
    }

    fn abandoning(&mut self, rot: RotationProgress, _timing: &Timing) -> Action {
        if let Some(c) = &rot.credential
            && !self.recently_revoked(&c.key_id)
        {
            // Cleanup is not held back by the backoff of the failure that caused it, only by
            // failures of the revocation itself.
            if self.status.failure.as_ref().is_some_and(|f| f.step == "Revoke") {
                return self.effect(Action::Revoke {
                    key_id: c.key_id.clone(),
                    why: RevokeReason::Abandoned,
                });
            }
            return Action::Revoke {
                key_id: c.key_id.clone(),
                why: RevokeReason::Abandoned,
            };
        }
        if let Some(st) = &self.o.staging
            && (st.rotation() == Some(rot.id)
                || rot
                    .credential
                    .as_ref()
                    .is_some_and(|c| st.key_id() == Some(c.key_id.as_str())))
        {
            return Action::DeleteStagingSecret;
        }
        let attempts = self.status.failure.as_ref().map_or(0, |f| f.attempts) + 1;
        let why = rot
            .abandon_reason
            .clone()
            .unwrap_or_else(|| reason::STEP_FAILED.to_owned());
        self.status.failure = Some(FailureRecord {
            step: "Verify".to_owned(),
            reason: why,
            message: rot.abandon_message.clone().unwrap_or_default(),
            attempts,
            last_failure_time: self.now.into(),
            next_retry_time: schedule::BACKOFF.next_retry(self.now, attempts, None).into(),
            observed_generation: self.generation(),
            retryable: true,
        });
        self.status.rotation = None;
        Action::UpdateStatus(StatusChange::Abandoned)
    }

    // ---------------------------------------------------------------- deletion

    fn deletion(&mut self) -> Action {
        if !self.has_finalizer() {
            return Action::Wait { until: None };
        }
        let provider_usable = match self.authorize() {
            Ok(_) => match &self.status.failure {
                Some(f) if !f.retryable && matches!(f.step.as_str(), "FetchCredentials" | "Revoke") => {
                    Err(format!("{} failed for good: {}", f.step, f.message))
                }
                _ => Ok(()),
            },
            Err(d) => Err(d.message),
        };
        match provider_usable {
            Ok(()) => {
                if let Some(action) = self.deletion_revocations() {
                    return action;
                }
            }
            Err(why) => {
                let skipped = "CleanupSkipped";
                if self.status.failure.as_ref().is_none_or(|f| f.reason != skipped) {
                    self.warn(
                        event::CLEANUP_SKIPPED,
                        "Cleanup",
                        format!("credentials minted for this rotation were not revoked ({why}); they expire on their own"),
                    );
                    // Remember that the warning was given, so it is given once.
                    self.status.failure = Some(FailureRecord {
                        step: "Cleanup".to_owned(),
                        reason: skipped.to_owned(),
                        message: why,
                        attempts: 1,
                        last_failure_time: self.now.into(),
                        next_retry_time: self.now.into(),
                        observed_generation: self.generation(),
                        retryable: false,
                    });
                }
            }
        }
        if self.o.staging.is_some() {
            return Action::DeleteStagingSecret;
        }
        if self.spec().deletion_policy == DeletionPolicy::Retain
            && self.o.target.as_ref().is_some_and(|t| t.owned)
        {
            self.note(
                event::SECRET_RELEASED,
                "Cleanup",
                format!(
                    "Secret {:?} is kept (deletionPolicy Retain)",
                    self.spec().secret.name
                ),
            );
            return Action::ReleaseTargetSecret;
        }
        Action::RemoveFinalizer
    }

    fn deletion_revocations(&mut self) -> Option<Action> {
        let Some(credentials) = self.o.credentials.clone() else {
            return Some(self.effect(Action::FetchCredentials));
        };
        let present = |p: &Self, key: &str| {
            credentials
                .credentials
                .iter()
                .any(|c| c.key_id.eq_ignore_ascii_case(key))
                && !p.recently_revoked(key)
        };
        if let Some(rot) = &self.status.rotation
            && matches!(
                rot.phase,
                RotationPhase::Pending
                    | RotationPhase::Verifying
                    | RotationPhase::Verified
                    | RotationPhase::Abandoning
            )
            && let Some(c) = &rot.credential
            && present(self, &c.key_id)
        {
            let key_id = c.key_id.clone();
            return Some(self.effect(Action::Revoke {
                key_id,
                why: RevokeReason::Abandoned,
            }));
        }
        if let Some(st) = &self.o.staging
            && let Some(key) = st.key_id()
            && self
                .status
                .current
                .as_ref()
                .is_none_or(|c| !c.key_id.eq_ignore_ascii_case(key))
            && self
                .status
                .previous
                .as_ref()
                .is_none_or(|c| !c.key_id.eq_ignore_ascii_case(key))
            && present(self, key)
            && credentials.credentials.iter().any(|c| {
                c.key_id.eq_ignore_ascii_case(key)
                    && marker::rotation_of(c.display_name.as_deref(), &self.namespace, &self.name).is_some()
            })
        {
            // A staged credential that never reached the target Secret.
            let key_id = key.to_owned();
            return Some(self.effect(Action::Revoke {
                key_id,
                why: RevokeReason::Abandoned,
            }));
        }
        if let Some(orphan) = self.inventory().orphans(&credentials).first() {
            let key_id = orphan.key_id.clone();
            return Some(self.effect(Action::Revoke {
                key_id,
                why: RevokeReason::Orphan,
            }));
        }
        if self.spec().deletion_policy == DeletionPolicy::Revoke {
            for c in [self.status.previous.clone(), self.status.current.clone()]
                .into_iter()
                .flatten()
            {
                if c.origin == CredentialOrigin::Minted && present(self, &c.key_id) {
                    return Some(self.effect(Action::Revoke {
                        key_id: c.key_id,
                        why: RevokeReason::Deletion,
                    }));
                }
            }
        }
        None
    }
}

/// A fresh verification record.
pub(super) fn new_verification(now: Timestamp, timing: &Timing) -> VerificationProgress {
    verification::start(now, timing.verify_timeout)
}

/// Makes the verified credential of the rotation in flight current (and the current one
/// previous); the rotation moves on to its rollouts.
pub(super) fn promote(
    status: &mut ClientSecretRotationStatus,
    timing: Option<&Timing>,
    uid: &str,
    now: Timestamp,
) {
    let Some(rot) = status.rotation.as_mut() else {
        return;
    };
    let Some(mut new) = rot.credential.clone() else {
        return;
    };
    new.promoted_at = Some(now.into());
    rot.version = Some(wellknown::secret_version(&new.key_id));
    rot.phase = RotationPhase::RollingOut;
    let old = status
        .current
        .take()
        .filter(|c| !c.key_id.eq_ignore_ascii_case(&new.key_id));
    if old.is_some() {
        status.previous = old;
    }
    if let Some(timing) = timing {
        status.renewal_time = Some(
            timing
                .renewal_time(
                    new.starts_at.as_ref().map(|t| t.0),
                    new.expires_at.0,
                    uid,
                    new.rotation.unwrap_or(0),
                )
                .into(),
        );
    }
    status.current = Some(new);
}

/// RFC 3339 with whole seconds, as Kubernetes writes times.
pub fn rfc3339(t: Timestamp) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%SZ", floor(t)).unwrap_or_else(|_| t.to_string())
}
