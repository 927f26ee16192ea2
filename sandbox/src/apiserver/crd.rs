//! CustomResourceDefinition lifecycle: validating a CRD, establishing it (conditions and accepted
//! names, as kube-apiserver's establishing controller does), and serving or withdrawing its
//! resource in the registry.
//!
//! Invariant: a CRD's resource is in the registry exactly while the CRD object exists, with the
//! served versions, scope, subresources and columns of its latest spec.

use serde_json::{Value, json};

use super::Shared;
use super::operations::set_condition;
use super::resources::{self, ResourceKey};
use super::status::{ApiError, Cause};
use super::store::Write;

const CRD_QUALIFIED_KIND: &str = "CustomResourceDefinition.apiextensions.k8s.io";
const CRD_GROUP: &str = "apiextensions.k8s.io";

fn crd_key() -> ResourceKey {
    ResourceKey::new(CRD_GROUP, "customresourcedefinitions")
}

impl Shared {
    /// Checks the parts of a CRD spec the server relies on; 422 with causes otherwise.
    pub(crate) fn validate_crd(&self, crd: &Value, old: Option<&Value>) -> Result<(), ApiError> {
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
        let (group, plural, kind, scope) = (
            s("/spec/group"),
            s("/spec/names/plural"),
            s("/spec/names/kind"),
            s("/spec/scope"),
        );
        let mut causes = vec![];
        let required = |field: &str| Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: field.into(),
        };
        if group.is_empty() {
            causes.push(required("spec.group"));
        }
        if plural.is_empty() {
            causes.push(required("spec.names.plural"));
        }
        if kind.is_empty() {
            causes.push(required("spec.names.kind"));
        }
        if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
                field: "metadata.name".into(),
            });
        }
        if scope != "Namespaced" && scope != "Cluster" {
            causes.push(Cause {
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
                ),
                field: "spec.scope".into(),
            });
        }
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if versions.is_empty() {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: \"null\": must have exactly one version marked as storage version"
                    .into(),
                field: "spec.versions".into(),
            });
        } else if versions
            .iter()
            .filter(|v| v.get("storage") == Some(&json!(true)))
            .count()
            != 1
        {
            causes.push(Cause {
                reason: "FieldValueInvalid".into(),
                message:
                    "Invalid value: \"versions\": must have exactly one version marked as storage version"
                        .into(),
                field: "spec.versions".into(),
            });
        }
        if let Some(old) = old {
            let was = |p: &str| old.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
            if was("/spec/group") != group {
                causes.push(Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!("Invalid value: \"{group}\": field is immutable"),
                    field: "spec.group".into(),
                });
            }
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                CRD_QUALIFIED_KIND,
                CRD_GROUP,
                "CustomResourceDefinition",
                name,
                causes,
            ))
        }
    }

    /// Marks a freshly created CRD established (NamesAccepted, Established, acceptedNames) and serves
    /// its resource, as a separate status write by the server itself.
    pub(crate) fn establish_crd(&self, name: &str) -> Result<(), ApiError> {
        let now = self.now_string();
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
            Ok(Write::Update(crd))
        })?;
        if let Some(o) = outcome.object() {
            self.register_crd(&o.value);
        }
        Ok(())
    }

    /// Serves (or re-serves, after an update) a CRD's resource.
    pub(crate) fn register_crd(&self, crd: &Value) {
        let Ok(types) = resources::from_crd(crd) else {
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
        self.store.drop_resource(&ResourceKey::new(group, plural));
    }
}
