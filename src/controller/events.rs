//! Publishing the core's [`EventRecord`]s as Kubernetes Events (events.k8s.io/v1) about the
//! rotation, through kube-runtime's recorder (which folds repeats into a series), and into the log.
//!
//! Invariant: best effort: a failed Event write is logged and never fails the pass (the status is
//! the record that matters). Messages come from the core and never hold a secret value.

use kube::{
    Resource,
    runtime::events::{Event, EventType as KubeEventType},
};

use super::Context;
use crate::{
    api::ClientSecretRotation,
    rotation::{EventRecord, EventType},
};

/// Publishes `events` about `rotation`.
pub async fn publish(ctx: &Context, rotation: &ClientSecretRotation, events: &[EventRecord]) {
    if events.is_empty() {
        return;
    }
    let reference = rotation.object_ref(&());
    for e in events {
        match e.type_ {
            EventType::Normal => tracing::info!(reason = e.reason, action = e.action, "{}", e.message),
            EventType::Warning => tracing::warn!(reason = e.reason, action = e.action, "{}", e.message),
        }
        let event = Event {
            type_: match e.type_ {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: e.reason.to_owned(),
            note: Some(truncate(&e.message)),
            action: e.action.to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, reason = e.reason, "could not publish an Event");
        }
    }
}

/// events.k8s.io limits `note` to 1 kB.
fn truncate(message: &str) -> String {
    const MAX: usize = 1024;
    if message.len() <= MAX {
        return message.to_owned();
    }
    let mut end = MAX - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}
