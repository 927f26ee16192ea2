//! Reading rendered manifests: YAML streams, `kubectl kustomize`, lookups by kind and name, and
//! RBAC reduced to what it grants.

use std::collections::BTreeSet;

use serde_json::Value;

use super::kubectl;

/// The documents of a YAML stream (empty documents skipped).
pub fn parse_stream(text: &str, context: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap_or_else(|e| panic!("{context}: not a YAML stream: {e}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// `kubectl kustomize <dir>` (kustomize is built into kubectl), as documents and as text.
pub fn kustomize(relative_dir: &str) -> (Vec<Value>, String) {
    let dir = super::repo_path(relative_dir);
    let kubectl = kubectl::binary();
    let out = std::process::Command::new(&kubectl)
        .arg("kustomize")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} (kubectl is needed to render {relative_dir}): {e}",
                kubectl.display()
            )
        });
    assert!(
        out.status.success(),
        "kubectl kustomize {relative_dir} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("kustomize prints UTF-8");
    (parse_stream(&text, relative_dir), text)
}

/// `kind/namespace/name` of a document, for messages.
pub fn id(doc: &Value) -> String {
    format!(
        "{}/{}/{}",
        doc["kind"].as_str().unwrap_or("?"),
        doc["metadata"]["namespace"].as_str().unwrap_or(""),
        doc["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Every document of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The one document of `kind` named `name`.
pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} named {name}, found {}; documents: {:?}",
        found.len(),
        docs.iter().map(id).collect::<Vec<_>>()
    );
    found[0]
}

/// One permission: (API group, resource, verb, resource name or empty for all).
pub type Grant = (String, String, String, String);

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// What the rules of a Role or ClusterRole grant, one entry per (group, resource, verb, name).
pub fn grants(role: &Value) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        let names = strings(&rule["resourceNames"]);
        let names = if names.is_empty() {
            vec![String::new()]
        } else {
            names
        };
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        out.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    out
}

/// The RBAC objects of a manifest set, reduced to what they mean: for each role its kind,
/// namespace, name and grants; for each binding its kind, namespace, name, role and subjects.
/// Labels, comments and the grouping of rules do not count.
pub fn rbac_summary(docs: &[Value]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let ns = doc["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        match kind {
            "Role" | "ClusterRole" => {
                for (g, r, v, n) in grants(doc) {
                    out.insert(format!("{kind} {ns}/{name}: {g}/{r} {v} {n}"));
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                let role = &doc["roleRef"];
                let mut subjects: Vec<String> = doc["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        format!(
                            "{}:{}/{}",
                            s["kind"].as_str().unwrap_or_default(),
                            s["namespace"].as_str().unwrap_or_default(),
                            s["name"].as_str().unwrap_or_default()
                        )
                    })
                    .collect();
                subjects.sort();
                out.insert(format!(
                    "{kind} {ns}/{name} -> {} {} for {}",
                    role["kind"].as_str().unwrap_or_default(),
                    role["name"].as_str().unwrap_or_default(),
                    subjects.join(",")
                ));
            }
            _ => {}
        }
    }
    out
}
