//! ControllerRevisions of StatefulSets and DaemonSets: one per distinct pod template, named
//! `<owner>-<hash>`, numbered in order of use, trimmed to `revisionHistoryLimit`.
//!
//! Invariant: pure bookkeeping; the revision in use by the current template always has the
//! highest number, and revisions still used by replicas are never trimmed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::deployment::parse_template;
use super::hash::revision_hash;
use super::kubelet::PodTemplate;

/// One ControllerRevision as the simulator remembers it.
#[derive(Clone, Debug)]
pub struct RevisionSim {
    /// `<owner>-<hash>`.
    pub name: String,
    /// Hash of the template.
    pub hash: String,
    /// Revision number.
    pub revision: i64,
    /// The pod template.
    pub template: Value,
    /// The template as the kubelet reads it.
    pub parsed: Arc<PodTemplate>,
}

/// What a reconcile of a controller whose history is ControllerRevisions (StatefulSet,
/// DaemonSet) decided.
#[derive(Clone, Debug)]
pub struct RevisionedOutcome {
    /// Every revision that remains.
    pub revisions: Vec<RevisionSim>,
    /// Revisions trimmed by `revisionHistoryLimit`.
    pub removed_revisions: Vec<String>,
    /// The status to store.
    pub status: Value,
    /// When to reconcile again on its own.
    pub next_wake: Option<Duration>,
}

/// The revision of `template`, added (or renumbered, for a rollback) as the newest.
pub fn current(revisions: &mut Vec<RevisionSim>, owner: &str, template: &Value) -> usize {
    let hash = revision_hash(template);
    let max = revisions.iter().map(|r| r.revision).max().unwrap_or(0);
    match revisions.iter().position(|r| r.hash == hash) {
        Some(i) => {
            if revisions[i].revision < max {
                revisions[i].revision = max + 1;
            }
            i
        }
        None => {
            revisions.push(RevisionSim {
                name: format!("{owner}-{hash}"),
                hash,
                revision: max + 1,
                template: template.clone(),
                parsed: parse_template(template),
            });
            revisions.len() - 1
        }
    }
}

/// Drops the oldest revisions beyond `keep` that are not in `in_use`; returns their names.
pub fn trim(revisions: &mut Vec<RevisionSim>, keep: usize, in_use: &BTreeSet<String>) -> Vec<String> {
    let mut candidates: Vec<(i64, String)> = revisions
        .iter()
        .filter(|r| !in_use.contains(&r.name))
        .map(|r| (r.revision, r.name.clone()))
        .collect();
    candidates.sort();
    let excess = revisions.len().saturating_sub(keep.max(in_use.len()));
    let removed: Vec<String> = candidates.into_iter().take(excess).map(|(_, n)| n).collect();
    revisions.retain(|r| !removed.contains(&r.name));
    removed
}

/// Which kind owns a revision (they label it differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// StatefulSet (`controller.kubernetes.io/hash`).
    StatefulSet,
    /// DaemonSet (`controller-revision-hash`).
    DaemonSet,
}

/// The ControllerRevision object for `rev`, owned by the workload.
pub fn object(owner: Owner, name: &str, namespace: &str, uid: &str, rev: &RevisionSim) -> Value {
    let mut labels = rev
        .template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    let (kind, hash_label) = match owner {
        Owner::StatefulSet => ("StatefulSet", "controller.kubernetes.io/hash"),
        Owner::DaemonSet => ("DaemonSet", "controller-revision-hash"),
    };
    if let Some(l) = labels.as_object_mut() {
        l.insert(hash_label.into(), json!(rev.hash));
    }
    let mut template = rev.template.clone();
    if let Some(t) = template.as_object_mut() {
        t.insert("$patch".into(), json!("replace"));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": rev.name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid,
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "data": {"spec": {"template": template}},
        "revision": rev.revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(image: &str) -> Value {
        json!({"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": image}]}})
    }

    #[test]
    fn revisions_are_numbered_reused_on_rollback_and_trimmed() {
        let mut revs = vec![];
        let a = current(&mut revs, "db", &t("a"));
        assert_eq!(revs[a].revision, 1);
        assert!(revs[a].name.starts_with("db-"));
        let b = current(&mut revs, "db", &t("b"));
        assert_eq!(revs[b].revision, 2);
        assert_eq!(current(&mut revs, "db", &t("b")), b);
        let a_again = current(&mut revs, "db", &t("a"));
        assert_eq!(a_again, a);
        assert_eq!(revs[a].revision, 3);
        current(&mut revs, "db", &t("c"));
        let in_use: BTreeSet<String> = [revs[a].name.clone()].into();
        let removed = trim(&mut revs, 2, &in_use);
        assert_eq!(removed.len(), 1);
        assert_eq!(revs.len(), 2);
        assert!(revs.iter().any(|r| r.revision == 3));
    }

    #[test]
    fn objects_are_owned_and_labelled() {
        let mut revs = vec![];
        let i = current(&mut revs, "db", &t("a"));
        let o = object(Owner::StatefulSet, "db", "ns", "u1", &revs[i]);
        assert_eq!(
            o["metadata"]["labels"]["controller.kubernetes.io/hash"],
            json!(revs[i].hash)
        );
        assert_eq!(o["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        assert_eq!(o["revision"], 1);
        assert_eq!(o["data"]["spec"]["template"]["$patch"], "replace");
        let o = object(Owner::DaemonSet, "agent", "ns", "u2", &revs[i]);
        assert!(o["metadata"]["labels"].get("controller-revision-hash").is_some());
    }
}
