//! The reconcile pass, exactly as the decision core's contract describes it
//! ([`crate::rotation`]): gather → plan → persist the plan's status (before acting: it records the
//! intent the action depends on) → publish its events → act → record the outcome → persist →
//! publish → again, at most `max_steps_per_pass` times; then requeue exactly when the core says
//! the next thing is due, or only on a watch event.
//!
//! Invariants:
//! * nothing is polled while nothing is due: a pass that ends in `Wait`/`Blocked` requeues at the
//!   core's time (or never), so an idle rotation costs no Graph call and no API request;
//! * a status write that fails ends the pass before the action (the error backs off); a step that
//!   fails is recorded by the core and backs off in status;
//! * a credential list fetched in a pass is used by the next plan only, and dropped after a mint
//!   or a revoke;
//! * every line logged during a pass carries the rotation's `namespace` and `name` (the
//!   `reconcile` span) and, once known, its `rotation` number; lines logged while a step runs and
//!   is recorded also carry the `step` (the `step` span). Steps and passes are timed into the
//!   metrics however they end;
//! * every status write reports the phase change to the capacity gate, and a plan that waits for
//!   a slot joins its queue, so a slot given back wakes a waiting rotation at once.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use kube::{Api, ResourceExt, runtime::controller::Action as Requeue, runtime::reflector::ObjectRef};
use tracing::Instrument;

use super::{Context, Error, act, capacity::Slot, events, gather, hooks::Point, status};
use crate::{
    api::{
        ClientSecretRotation, ClientSecretRotationStatus,
        wellknown::{condition, reason},
    },
    rotation::{Action, plan, record},
};

/// Slack added to a requeue so the pass after it sees the due time as reached (the core works in
/// whole seconds; timers never fire early, clocks may disagree by a little).
const REQUEUE_SLACK: Duration = Duration::from_millis(200);

/// Reconciles one rotation.
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        namespace = cached.metadata.namespace.as_deref().unwrap_or_default(),
        name = cached.metadata.name.as_deref().unwrap_or_default(),
        rotation = tracing::field::Empty,
    )
)]
pub async fn reconcile(cached: Arc<ClientSecretRotation>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let _timer = ctx.metrics.time_reconcile();
    let result = reconcile_timed(cached, &ctx).await;
    ctx.metrics.reconciled(result.is_ok());
    result
}

async fn reconcile_timed(cached: Arc<ClientSecretRotation>, ctx: &Arc<Context>) -> Result<Requeue, Error> {
    let me = ObjectRef::from_obj(&*cached);
    ctx.providers_ready().await?;
    let api: Api<ClientSecretRotation> = Api::namespaced(
        ctx.client.clone(),
        &cached.namespace().ok_or(Error::MissingObjectKey)?,
    );
    let Some(mut rotation) = ctx.freshness.current(&api, &cached).await? else {
        ctx.metrics.rotations.deleted(&cached);
        return Ok(Requeue::await_change());
    };
    let result = pass(ctx, &me, &mut rotation).await;
    let mut errors = ctx.errors.lock().unwrap_or_else(|e| e.into_inner());
    match result {
        Ok(requeue) => {
            errors.remove(&me);
            Ok(requeue)
        }
        Err(e) => {
            *errors.entry(me).or_default() += 1;
            Err(e)
        }
    }
}

/// What the controller does after a pass failed on the Kubernetes API itself: retry with an
/// exponential backoff per rotation.
pub fn error_policy(cached: Arc<ClientSecretRotation>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let me = ObjectRef::from_obj(&*cached);
    let n = ctx
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&me)
        .copied()
        .unwrap_or(1);
    let delay = ctx.error_delay(n);
    tracing::warn!(
        namespace = me.namespace.as_deref().unwrap_or_default(),
        name = %me.name,
        error = %error,
        reason = error.label(),
        retry_in = ?delay,
        "reconcile failed"
    );
    Requeue::requeue(delay)
}

fn requeue_at(ctx: &Context, at: Option<Timestamp>) -> Requeue {
    match at {
        None => Requeue::await_change(),
        Some(at) => {
            let now = ctx.clock.now();
            let wait = if at > now {
                at.duration_since(now).unsigned_abs()
            } else {
                Duration::ZERO
            };
            Requeue::requeue(wait + REQUEUE_SLACK)
        }
    }
}

/// Whether a status says a due step waits for a slot of the operator-wide caps.
fn waits_for_capacity(status: &ClientSecretRotationStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == condition::ROTATING && c.reason == reason::WAITING_FOR_CAPACITY)
}

async fn pass(
    ctx: &Context,
    me: &ObjectRef<ClientSecretRotation>,
    rotation: &mut ClientSecretRotation,
) -> Result<Requeue, Error> {
    let mut credentials = None;
    for _ in 0..ctx.config.max_steps_per_pass.max(1) {
        let mut gathered = gather::gather(ctx, rotation, credentials.take()).await?;
        let observed = &gathered.observed;
        let decision = plan(observed, ctx.clock.now());
        let number = decision
            .status
            .rotation
            .as_ref()
            .map_or(decision.status.rotation_count, |r| r.id);
        if number > 0 {
            tracing::Span::current().record("rotation", number);
        }
        if Some(&decision.status) != observed.resource.status.as_ref() {
            let before = rotation.phase();
            *rotation = status::persist(ctx, rotation, &decision.status).await?;
            ctx.capacity.moved(me, before, rotation.phase());
        }
        if waits_for_capacity(&decision.status) {
            ctx.capacity.wait(me, Slot::needed_in(rotation.phase()));
        }
        // A slot this plan took is on record now.
        drop(gathered.guard.take());
        events::publish(ctx, rotation, &decision.events).await;
        tracing::debug!(step = decision.action.step(), "planned");
        match &decision.action {
            Action::Wait { until } => return Ok(requeue_at(ctx, *until)),
            Action::Blocked { reason, retry_at, .. } => {
                tracing::debug!(reason, "blocked");
                return Ok(requeue_at(ctx, *retry_at));
            }
            Action::UpdateStatus(_) => continue,
            _ => {}
        }
        let step = decision.action.step();
        let gone = async {
            ctx.hook(me, Point::BeforeAction(step)).await;
            let acted = {
                let _timer = ctx.metrics.time_step(step);
                act::act(ctx, rotation, &gathered, &decision.action, &mut credentials).await
            };
            ctx.hook(me, Point::AfterAction(step)).await;
            if acted.gone {
                ctx.capacity.moved(me, rotation.phase(), None);
                ctx.freshness.forget(me);
                ctx.metrics.rotations.deleted(rotation);
                return Ok::<_, Error>(true);
            }
            if let Some(written) = acted.rotation {
                // Keep the status this pass persisted: a metadata write answers with the whole
                // object.
                *rotation = written;
            }
            let recorded = record(observed, &decision, acted.outcome, ctx.clock.now());
            if Some(&recorded.status) != rotation.status.as_ref() {
                let before = rotation.phase();
                *rotation = status::persist(ctx, rotation, &recorded.status).await?;
                ctx.capacity.moved(me, before, rotation.phase());
            }
            events::publish(ctx, rotation, &recorded.events).await;
            Ok(false)
        }
        .instrument(tracing::info_span!("step", step))
        .await?;
        if gone {
            return Ok(Requeue::await_change());
        }
    }
    // Bounded: yield to other rotations and come back at once.
    Ok(Requeue::requeue(Duration::ZERO))
}
