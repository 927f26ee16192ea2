//! CustomResourceDefinition lifecycle: validating a CRD, establishing it (conditions and accepted
//! names, as kube-apiserver's establishing controller does), and serving or withdrawing its
//! resource in the registry.
//!
//! Invariant: a CRD's resource is in the registry exactly while the CRD object exists, with the
//! served versions, scope, subresources and columns of its latest spec.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Shared;
use super::field_errors::FieldError;
use super::fields_bridge;
use super::operations::set_condition;
use super::resources::{self, ResourceKey};
use super::schema::{CompiledCrd, crd_invalid_status};
use super::status::ApiError;
use super::store::Write;

const CRD_GROUP: &str = "apiextensions.k8s.io";
/// The field manager of the status kube-apiserver's establishing controller writes.
const ESTABLISHING_MANAGER: &str = "kube-apiserver";

fn crd_key() -> ResourceKey {
    ResourceKey::new(CRD_GROUP, "customresourcedefinitions")
}

impl Shared {
    /// Validates a CRD as kube-apiserver does on create and update (structural schemas, CEL rules,
    /// names, versions; `spec.group` immutable) and returns its compiled schemas, or the 422.
    ///
    /// NB: compiling is the expensive part, so the result is cached per CRD name with the spec it
    /// was compiled from: registering the stored CRD afterwards reuses it, and each CRD spec is
    /// compiled once, never per request.
    pub(crate) fn validate_crd(
        &self,
        crd: &Value,
        old: Option<&Value>,
    ) -> Result<Arc<CompiledCrd>, ApiError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(old) = old {
            let group = |v: &Value| {
                v.pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            if group(old) != group(crd) {
                let error = FieldError::invalid("spec.group", json!(group(crd)), "field is immutable");
                return Err(ApiError::from_status(&crd_invalid_status(name, &[error])));
            }
        }
        self.compiled_crd(crd)
    }

    /// The compiled schemas of `crd`, from the cache when its spec has not changed.
    fn compiled_crd(&self, crd: &Value) -> Result<Arc<CompiledCrd>, ApiError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let spec = crd.get("spec").cloned().unwrap_or(Value::Null);
        {
            let cache = self.crd_schemas.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((cached_spec, compiled)) = cache.get(&name)
                && *cached_spec == spec
            {
                return Ok(compiled.clone());
            }
        }
        let compiled = Arc::new(fields_bridge::compile_crd(crd)?);
        self.crd_schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, (spec, compiled.clone()));
        Ok(compiled)
    }

    /// Marks a freshly created CRD established (NamesAccepted, Established, acceptedNames) and serves
    /// its resource, as a separate status write by the server itself.
    pub(crate) fn establish_crd(&self, name: &str) -> Result<(), ApiError> {
        let now_ts = self.now();
        let now = super::format_timestamp(now_ts);
        let crd_type = self
            .registry()
            .get(CRD_GROUP, "v1", "customresourcedefinitions")
            .ok_or_else(|| ApiError::internal("customresourcedefinitions are not served"))?;
        let outcome = self.store.mutate(&crd_key(), "", name, false, |current, _| {
            let Some(cur) = current else {
                return Ok(Write::Unchanged);
            };
            let mut crd = cur.value.clone();
            let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
            set_condition(
                &mut crd,
                "NamesAccepted",
                "True",
                "NoConflicts",
                "no conflicts found",
                &now,
            );
            set_condition(
                &mut crd,
                "Established",
                "True",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                &now,
            );
            if let Some(st) = crd.get_mut("status").and_then(Value::as_object_mut) {
                st.insert("acceptedNames".into(), names);
            }
            // The establishing controller's status write is recorded like any other.
            let crd = fields_bridge::track_update(
                &crd_type,
                Some(&cur.value),
                crd,
                ESTABLISHING_MANAGER,
                Some("status"),
                now_ts,
            );
            Ok(Write::Update(crd))
        })?;
        if let Some(o) = outcome.object() {
            self.register_crd(&o.value);
        }
        Ok(())
    }

    /// Serves (or re-serves, after an update) a CRD's resource.
    pub(crate) fn register_crd(&self, crd: &Value) {
        let compiled = match self.compiled_crd(crd) {
            Ok(c) => c,
            Err(e) => {
                // NB: unreachable for stored CRDs, which passed the same compilation on write.
                tracing::warn!(error = %e, "stored CRD does not compile; not serving it");
                return;
            }
        };
        let Ok(types) = resources::from_crd(crd, &compiled) else {
            return;
        };
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut reg = self.registry.write().unwrap_or_else(|e| e.into_inner());
        reg.remove_crd(name);
        for t in types {
            reg.insert(t);
        }
    }

    /// Withdraws a deleted CRD's resource and drops its storage.
    pub(crate) fn unregister_crd(&self, crd: &Value) {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let group = crd.pointer("/spec/group").and_then(Value::as_str).unwrap_or("");
        let plural = crd
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or("");
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove_crd(name);
        self.crd_schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.store.drop_resource(&ResourceKey::new(group, plural));
    }
}
