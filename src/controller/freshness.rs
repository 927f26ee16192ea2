//! Which copy of a rotation a pass starts from. The watch cache lags the operator's own writes: a
//! pass started right after another pass ended (by a Secret or workload event) could see the status
//! from before the last write and repeat a step that was already taken (a second mint). So the
//! operator remembers the `resourceVersion` of its last write per rotation, and starts from the
//! cached copy only when it carries that version; otherwise it reads the rotation from the API
//! server.
//!
//! Invariant: a pass never plans from a status older than the operator's own last write.

use std::{collections::HashMap, sync::Mutex};

use kube::{Api, ResourceExt, runtime::reflector::ObjectRef};

use super::Error;
use crate::api::ClientSecretRotation;

/// The last written `resourceVersion` of each rotation.
#[derive(Debug, Default)]
pub struct Freshness {
    written: Mutex<HashMap<ObjectRef<ClientSecretRotation>, String>>,
}

impl Freshness {
    /// Remembers a write whose answer was `written`.
    pub fn wrote(&self, written: &ClientSecretRotation) {
        if let Some(rv) = written.resource_version() {
            self.written
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(ObjectRef::from_obj(written), rv);
        }
    }

    /// Forgets a rotation (it is gone).
    pub fn forget(&self, rotation: &ObjectRef<ClientSecretRotation>) {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(rotation);
    }

    /// The copy to start from: `cached` when it is at least as new as the last write, otherwise a
    /// fresh read (`None` when the rotation is gone).
    pub async fn current(
        &self,
        api: &Api<ClientSecretRotation>,
        cached: &ClientSecretRotation,
    ) -> Result<Option<ClientSecretRotation>, Error> {
        let key = ObjectRef::from_obj(cached);
        let last = self
            .written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        match last {
            None => return Ok(Some(cached.clone())),
            Some(rv) if Some(&rv) == cached.metadata.resource_version.as_ref() => {
                return Ok(Some(cached.clone()));
            }
            Some(_) => {}
        }
        let fresh = api
            .get_opt(&cached.name_any())
            .await
            .map_err(|e| Error::read(format!("ClientSecretRotation {key}"), e))?;
        match &fresh {
            Some(f) => self.wrote(f),
            None => self.forget(&key),
        }
        Ok(fresh)
    }
}
