//! A step hook that freezes the operator at one chosen point (once armed), and tells the test it
//! got there, so the test can kill the operator exactly there.

use std::sync::{
    Mutex,
    atomic::{AtomicBool, Ordering},
};

use kube::runtime::reflector::ObjectRef;
use secret_rotator::{
    api::ClientSecretRotation,
    controller::{Point, StepHook},
};
use tokio::sync::Notify;

/// Freezes the pass that reaches `point` (after [`StopAt::arm`]).
pub struct StopAt {
    point: Point,
    armed: AtomicBool,
    reached: Notify,
    hit: Mutex<bool>,
}

impl StopAt {
    /// A hook for `point`, not armed yet.
    pub fn new(point: Point) -> Self {
        Self {
            point,
            armed: AtomicBool::new(false),
            reached: Notify::new(),
            hit: Mutex::new(false),
        }
    }

    /// From now on, the first pass that reaches the point freezes there.
    pub fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until a pass froze at the point.
    pub async fn reached(&self) {
        loop {
            let notified = self.reached.notified();
            if *self.hit.lock().unwrap() {
                return;
            }
            notified.await;
        }
    }
}

#[async_trait::async_trait]
impl StepHook for StopAt {
    async fn reached(&self, _rotation: &ObjectRef<ClientSecretRotation>, point: Point) {
        if point == self.point && self.armed.swap(false, Ordering::SeqCst) {
            *self.hit.lock().unwrap() = true;
            self.reached.notify_waiters();
            // Frozen until the operator is killed.
            futures::future::pending::<()>().await;
        }
    }
}
