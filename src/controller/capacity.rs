//! The operator-wide caps on rotations in flight (start to promotion) and rollouts in flight
//! (promotion to completion), counted from the rotation index (the watch cache plus the operator's
//! own writes), so a backlog of due rotations cannot hammer Graph or restart every workload at once.
//!
//! Invariant: a pass that may take a slot holds the gate from the moment it counts until its status
//! write is done (see [`CapacityGate::offer`]), so two concurrent passes never both take the last
//! slot.

use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::index::RotationIndex;
use crate::{
    api::{ClientSecretRotation, RotationPhase},
    rotation::{Capacity, holds_rollout_slot, holds_rotation_slot},
};

/// Counts slots and serialises the passes that may take one.
#[derive(Debug)]
pub struct CapacityGate {
    max_rotations: usize,
    max_rollouts: usize,
    gate: Arc<Mutex<()>>,
}

/// Capacity offered to one plan, with the gate held while a slot may be taken.
pub struct Offer {
    /// What the plan may do.
    pub capacity: Capacity,
    /// Held until the plan's status is persisted (dropped at once when nothing can be taken).
    pub guard: Option<OwnedMutexGuard<()>>,
}

impl CapacityGate {
    /// Caps of `max_rotations` and `max_rollouts` (0 means no cap).
    pub fn new(max_rotations: usize, max_rollouts: usize) -> Self {
        Self {
            max_rotations,
            max_rollouts,
            gate: Arc::default(),
        }
    }

    /// The capacity for `me`, currently in `phase`. Takes the gate when `me` could take a slot it
    /// does not hold yet.
    pub async fn offer(
        &self,
        index: &RotationIndex,
        me: &ObjectRef<ClientSecretRotation>,
        phase: Option<RotationPhase>,
    ) -> Offer {
        let holds_rotation = phase.is_some_and(holds_rotation_slot);
        let holds_rollout = phase.is_some_and(holds_rollout_slot);
        // Idle rotations may start one; rotations before promotion may start a rollout.
        let may_take = !holds_rollout;
        let guard = if may_take {
            Some(self.gate.clone().lock_owned().await)
        } else {
            None
        };
        let (rotations, rollouts) = index.slots_held(me);
        let capacity = Capacity {
            rotation_slot: holds_rotation || self.max_rotations == 0 || rotations < self.max_rotations,
            rollout_slot: holds_rollout || self.max_rollouts == 0 || rollouts < self.max_rollouts,
        };
        Offer { capacity, guard }
    }
}
