//! What the decision core needs to know about a rollout target, and when its rollout is complete.
//!
//! Invariant: a target counts as rolled out only when its controller has observed the generation
//! the operator's restart produced (or a later one), every desired replica is updated and
//! available, and no pod of an older template is left — the same test `kubectl rollout status`
//! applies. Only then may the credential those older pods held be revoked.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

use crate::api::WorkloadKind;

/// A rollout target as the shell observed it (from `apps/v1` objects, see the `from_*`
/// constructors, which do the per-kind reading).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadState {
    /// Its kind.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// `status.observedGeneration` (0 when absent).
    pub observed_generation: i64,
    /// Replicas (or scheduled daemon pods) wanted.
    pub desired: i32,
    /// Pods of any template version.
    pub total: i32,
    /// Pods of the current template.
    pub updated: i32,
    /// Pods of the current template that are available (ready for StatefulSets).
    pub available: i32,
    /// The value of the rotation's pod-template annotation (see
    /// [`crate::api::wellknown::pod_template_annotation_key`]), if any.
    pub template_version: Option<String>,
    /// Why the controller itself gave up progressing (Deployment `ProgressDeadlineExceeded`).
    pub stalled_reason: Option<String>,
    /// The workload only updates pods when someone deletes them (`OnDelete`) or keeps some on the
    /// old template (`partition`): a restart never completes on its own.
    pub manual_update: bool,
}

impl WorkloadState {
    /// Whether the rollout that produced `generation` (or a later one) has completed.
    pub fn rolled_out_since(&self, generation: i64) -> bool {
        self.generation >= generation
            && self.observed_generation >= self.generation
            && self.updated >= self.desired
            && self.available >= self.desired
            && self.total <= self.updated
    }

    /// A short human description of the rollout's progress.
    pub fn progress(&self) -> String {
        format!(
            "{} {}: {}/{} updated, {} available, {} total, generation {}/{} observed",
            self.kind.as_str(),
            self.name,
            self.updated,
            self.desired,
            self.available,
            self.total,
            self.observed_generation,
            self.generation
        )
    }

    /// Reads a Deployment.
    pub fn from_deployment(d: &Deployment, annotation_key: &str) -> Self {
        let spec = d.spec.as_ref();
        let status = d.status.clone().unwrap_or_default();
        let stalled_reason = status.conditions.as_ref().and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "Progressing" && c.status == "False")
                .map(|c| {
                    c.reason
                        .clone()
                        .unwrap_or_else(|| "ProgressDeadlineExceeded".to_owned())
                })
        });
        Self {
            kind: WorkloadKind::Deployment,
            name: d.metadata.name.clone().unwrap_or_default(),
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
            desired: spec.and_then(|s| s.replicas).unwrap_or(1),
            total: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            template_version: spec.and_then(|s| template_annotation(&s.template.metadata, annotation_key)),
            stalled_reason,
            manual_update: spec.is_some_and(|s| s.paused == Some(true)),
        }
    }

    /// Reads a StatefulSet.
    pub fn from_stateful_set(s: &StatefulSet, annotation_key: &str) -> Self {
        let spec = s.spec.as_ref();
        let status = s.status.clone().unwrap_or_default();
        let strategy = spec.and_then(|s| s.update_strategy.as_ref());
        let on_delete = strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete");
        let partitioned = strategy
            .and_then(|u| u.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .is_some_and(|p| p > 0);
        let revisions_differ = matches!(
            (&status.current_revision, &status.update_revision),
            (Some(c), Some(u)) if c != u
        );
        let updated = status.updated_replicas.unwrap_or(0);
        let total = status.replicas;
        Self {
            kind: WorkloadKind::StatefulSet,
            name: s.metadata.name.clone().unwrap_or_default(),
            generation: s.metadata.generation.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
            desired: spec.and_then(|s| s.replicas).unwrap_or(1),
            // While the revisions differ some pods may still run the old template even if the
            // counts look complete; count them as one extra pod.
            total: if revisions_differ && total <= updated {
                updated + 1
            } else {
                total
            },
            updated,
            available: status
                .ready_replicas
                .unwrap_or(0)
                .min(status.available_replicas.unwrap_or(i32::MAX)),
            template_version: spec.and_then(|s| template_annotation(&s.template.metadata, annotation_key)),
            stalled_reason: None,
            manual_update: on_delete || partitioned,
        }
    }

    /// Reads a DaemonSet.
    pub fn from_daemon_set(d: &DaemonSet, annotation_key: &str) -> Self {
        let spec = d.spec.as_ref();
        let status = d.status.clone().unwrap_or_default();
        let on_delete = spec
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|u| u.type_.as_deref())
            == Some("OnDelete");
        Self {
            kind: WorkloadKind::DaemonSet,
            name: d.metadata.name.clone().unwrap_or_default(),
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: status.observed_generation.unwrap_or(0),
            desired: status.desired_number_scheduled,
            total: status.current_number_scheduled,
            updated: status.updated_number_scheduled.unwrap_or(0),
            available: status.number_available.unwrap_or(0),
            template_version: spec.and_then(|s| template_annotation(&s.template.metadata, annotation_key)),
            stalled_reason: None,
            manual_update: on_delete,
        }
    }
}

fn template_annotation(
    meta: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
    key: &str,
) -> Option<String> {
    meta.as_ref()?.annotations.as_ref()?.get(key).cloned()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStatus, StatefulSetSpec, StatefulSetStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn state(
        generation: i64,
        observed: i64,
        desired: i32,
        total: i32,
        updated: i32,
        available: i32,
    ) -> WorkloadState {
        WorkloadState {
            kind: WorkloadKind::Deployment,
            name: "web".into(),
            generation,
            observed_generation: observed,
            desired,
            total,
            updated,
            available,
            template_version: None,
            stalled_reason: None,
            manual_update: false,
        }
    }

    #[test]
    fn completion_table() {
        let cases = [
            ("complete", state(3, 3, 3, 3, 3, 3), 3, true),
            (
                "controller has not seen the new generation",
                state(3, 2, 3, 3, 3, 3),
                3,
                false,
            ),
            ("old pods still running", state(3, 3, 3, 4, 3, 3), 3, false),
            ("not all updated", state(3, 3, 3, 3, 2, 3), 3, false),
            ("updated but not available", state(3, 3, 3, 3, 3, 2), 3, false),
            ("older than our restart", state(2, 2, 3, 3, 3, 3), 3, false),
            ("a later change also completed", state(5, 5, 3, 3, 3, 3), 3, true),
            ("scaled to zero", state(3, 3, 0, 0, 0, 0), 3, true),
        ];
        for (name, s, since, want) in cases {
            assert_eq!(s.rolled_out_since(since), want, "{name}");
        }
    }

    #[test]
    fn reads_deployments_and_stateful_sets() {
        let d = Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(4),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(2),
                template: k8s_openapi::api::core::v1::PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        annotations: Some([("k".to_string(), "v1".to_string())].into()),
                        ..Default::default()
                    }),
                    spec: None,
                },
                ..Default::default()
            }),
            status: Some(DeploymentStatus {
                observed_generation: Some(4),
                replicas: Some(3),
                updated_replicas: Some(2),
                available_replicas: Some(2),
                ..Default::default()
            }),
        };
        let s = WorkloadState::from_deployment(&d, "k");
        assert_eq!(s.template_version.as_deref(), Some("v1"));
        assert!(!s.rolled_out_since(4), "one old pod left");

        let sts = StatefulSet {
            metadata: ObjectMeta {
                name: Some("db".into()),
                generation: Some(2),
                ..Default::default()
            },
            spec: Some(StatefulSetSpec {
                replicas: Some(2),
                ..Default::default()
            }),
            status: Some(StatefulSetStatus {
                observed_generation: Some(2),
                replicas: 2,
                updated_replicas: Some(2),
                ready_replicas: Some(2),
                available_replicas: Some(2),
                current_revision: Some("db-1".into()),
                update_revision: Some("db-2".into()),
                ..Default::default()
            }),
        };
        let s = WorkloadState::from_stateful_set(&sts, "k");
        assert!(!s.rolled_out_since(2), "revisions still differ");
    }
}
