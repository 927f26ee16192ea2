//! The operator-wide caps on rotations in flight (start to promotion) and rollouts in flight
//! (promotion to completion), counted from the rotation index (the watch cache plus the operator's
//! own writes), so a backlog of due rotations cannot hammer Graph or restart every workload at once.
//!
//! A rotation that finds no free slot waits in a queue per cap ([`CapacityGate::wait`]); each slot
//! a rotation gives back ([`CapacityGate::moved`]) wakes the longest-waiting rotation of that cap
//! at once (through [`CapacityGate::wakeups`], a trigger of the controller) instead of leaving it to
//! its periodic re-check.
//!
//! Invariants: a pass that may take a slot holds the gate from the moment it counts until its
//! status write is done (see [`CapacityGate::offer`]), so two concurrent passes never both take the
//! last slot. Wake-ups are hints: a woken rotation plans again and may wait again; a lost wake-up
//! costs at most the re-check interval (`CAPACITY_RECHECK`), never a slot.

use std::collections::VecDeque;
use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc};

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
    waiting: std::sync::Mutex<Waiting>,
    wake: mpsc::UnboundedSender<ObjectRef<ClientSecretRotation>>,
    wakeups: std::sync::Mutex<Option<mpsc::UnboundedReceiver<ObjectRef<ClientSecretRotation>>>>,
}

/// Which cap a waiting rotation needs a slot of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The rotation cap (start to promotion).
    Rotation,
    /// The rollout cap (promotion to completion).
    Rollout,
}

impl Slot {
    /// The slot a rotation waiting for capacity in `phase` needs: a rotation slot to start one
    /// (no rotation in flight), a rollout slot to promote a verified secret.
    pub fn needed_in(phase: Option<RotationPhase>) -> Self {
        match phase {
            Some(RotationPhase::Verified) => Slot::Rollout,
            _ => Slot::Rotation,
        }
    }
}

/// The rotations waiting for a slot, per cap, longest-waiting first.
#[derive(Debug, Default)]
struct Waiting {
    rotation: VecDeque<ObjectRef<ClientSecretRotation>>,
    rollout: VecDeque<ObjectRef<ClientSecretRotation>>,
}

impl Waiting {
    fn queue(&mut self, slot: Slot) -> &mut VecDeque<ObjectRef<ClientSecretRotation>> {
        match slot {
            Slot::Rotation => &mut self.rotation,
            Slot::Rollout => &mut self.rollout,
        }
    }
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
        let (wake, wakeups) = mpsc::unbounded_channel();
        Self {
            max_rotations,
            max_rollouts,
            gate: Arc::default(),
            waiting: Default::default(),
            wake,
            wakeups: std::sync::Mutex::new(Some(wakeups)),
        }
    }

    /// The rotations to reconcile because a slot they wait for was given back. Taken once, by the
    /// controller that owns this gate.
    pub fn wakeups(&self) -> Option<mpsc::UnboundedReceiver<ObjectRef<ClientSecretRotation>>> {
        self.wakeups.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Records that `me` found no free `slot` and waits for one.
    pub fn wait(&self, me: &ObjectRef<ClientSecretRotation>, slot: Slot) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let queue = waiting.queue(slot);
        if !queue.contains(me) {
            queue.push_back(me.clone());
        }
    }

    /// Records that `me` moved from phase `from` to `to` (`None`: no rotation in flight, or the
    /// resource is gone): a slot it took leaves the queue, a slot it gave back wakes the
    /// longest-waiting rotation of that cap.
    pub fn moved(
        &self,
        me: &ObjectRef<ClientSecretRotation>,
        from: Option<RotationPhase>,
        to: Option<RotationPhase>,
    ) {
        let held = |p: Option<RotationPhase>, slot: Slot| match slot {
            Slot::Rotation => p.is_some_and(holds_rotation_slot),
            Slot::Rollout => p.is_some_and(holds_rollout_slot),
        };
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        for slot in [Slot::Rotation, Slot::Rollout] {
            let queue = waiting.queue(slot);
            match (held(from, slot), held(to, slot)) {
                (false, true) => queue.retain(|r| r != me),
                (true, false) => {
                    if let Some(next) = queue.pop_front() {
                        // NB: the receiver lives as long as the controller; after shutdown there
                        // is nobody left to wake.
                        let _ = self.wake.send(next);
                    }
                }
                _ => {}
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str) -> ObjectRef<ClientSecretRotation> {
        ObjectRef::new(name).within("team")
    }

    fn woken(rx: &mut mpsc::UnboundedReceiver<ObjectRef<ClientSecretRotation>>) -> Vec<String> {
        let mut out = vec![];
        while let Ok(r) = rx.try_recv() {
            out.push(r.name);
        }
        out
    }

    #[test]
    fn a_given_back_rotation_slot_wakes_the_longest_waiting_rotation_only() {
        let gate = CapacityGate::new(1, 1);
        let mut rx = gate.wakeups().unwrap();
        assert!(gate.wakeups().is_none(), "taken once");
        gate.wait(&r("b"), Slot::Rotation);
        gate.wait(&r("c"), Slot::Rotation);
        gate.wait(&r("b"), Slot::Rotation);
        // `a` moves on from verification to its rollout: its rotation slot is free again.
        gate.moved(
            &r("a"),
            Some(RotationPhase::Verified),
            Some(RotationPhase::RollingOut),
        );
        assert_eq!(woken(&mut rx), ["b"]);
        gate.moved(&r("b"), None, Some(RotationPhase::Pending));
        assert_eq!(woken(&mut rx), Vec::<String>::new());
        gate.moved(&r("b"), Some(RotationPhase::Abandoning), None);
        assert_eq!(woken(&mut rx), ["c"]);
        gate.moved(&r("c"), Some(RotationPhase::Verifying), None);
        assert_eq!(woken(&mut rx), Vec::<String>::new(), "nobody left waiting");
    }

    #[test]
    fn rollout_slots_wake_rotations_waiting_to_promote() {
        let gate = CapacityGate::new(0, 1);
        let mut rx = gate.wakeups().unwrap();
        gate.wait(&r("v"), Slot::needed_in(Some(RotationPhase::Verified)));
        gate.wait(&r("idle"), Slot::needed_in(None));
        gate.moved(
            &r("a"),
            Some(RotationPhase::RollingOut),
            Some(RotationPhase::Retiring),
        );
        assert_eq!(woken(&mut rx), ["v"]);
    }

    #[test]
    fn a_rotation_that_took_its_slot_otherwise_leaves_the_queue() {
        let gate = CapacityGate::new(1, 1);
        let mut rx = gate.wakeups().unwrap();
        gate.wait(&r("b"), Slot::Rotation);
        gate.wait(&r("c"), Slot::Rotation);
        gate.moved(&r("b"), None, Some(RotationPhase::Pending));
        gate.moved(&r("a"), Some(RotationPhase::Pending), None);
        assert_eq!(woken(&mut rx), ["c"]);
    }

    #[test]
    fn deleting_a_rotation_in_flight_gives_its_slot_back() {
        let gate = CapacityGate::new(1, 1);
        let mut rx = gate.wakeups().unwrap();
        gate.wait(&r("b"), Slot::Rotation);
        gate.moved(&r("a"), Some(RotationPhase::Verifying), None);
        assert_eq!(woken(&mut rx), ["b"]);
    }
}
