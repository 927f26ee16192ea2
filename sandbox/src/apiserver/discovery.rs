//! Discovery documents: `/version`, `/api`, `/apis`, `/api/v1`, `/apis/<g>`, `/apis/<g>/<v>`, in
//! the legacy formats (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`) that kubectl
//! falls back to and kube's discovery reads.
//!
//! Pure rendering of the registry: what is listed is exactly what is served.

use serde_json::{Value, json};

use super::auth::endpoints;
use super::resources::Registry;
use super::{GIT_VERSION, Shared};

/// Answers a discovery path, or `None` when the path is not a discovery document.
pub fn handle(shared: &Shared, path: &str, host: Option<&str>) -> Option<Value> {
    let reg = shared.registry();
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        ["version"] => Some(version()),
        ["api"] => Some(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host.unwrap_or("127.0.0.1:6443")}],
        })),
        ["api", "v1"] => Some(resource_list(&reg, "", "v1")),
        ["apis"] => {
            let groups: Vec<Value> = endpoints::with_virtual_groups(reg.groups())
                .iter()
                .filter_map(|g| group(&reg, g))
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["apis", g] => group(&reg, g).map(|mut v| {
            v["kind"] = json!("APIGroup");
            v["apiVersion"] = json!("v1");
            v
        }),
        ["apis", g, v] => (reg.versions_of(g).iter().any(|x| x == v) || endpoints::is_virtual_group(g, v))
            .then(|| resource_list(&reg, g, v)),
        _ => None,
    }
}

fn version() -> Value {
    let minor = GIT_VERSION
        .trim_start_matches('v')
        .split('.')
        .nth(1)
        .unwrap_or("33");
    json!({
        "major": "1",
        "minor": minor,
        "emulationMajor": "1",
        "emulationMinor": minor,
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": (minor.parse::<u32>().unwrap_or(33) - 1).to_string(),
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn group(reg: &Registry, g: &str) -> Option<Value> {
    let mut versions = reg.versions_of(g);
    if versions.is_empty() && endpoints::is_virtual_group(g, "v1") {
        versions.push("v1".into());
    }
    let first = versions.first()?;
    let gv = |v: &str| json!({"groupVersion": format!("{g}/{v}"), "version": v});
    Some(json!({
        "name": g,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": gv(first),
    }))
}

fn resource_list(reg: &Registry, g: &str, v: &str) -> Value {
    let mut types: Vec<_> = reg
        .all()
        .filter(|t| t.group == g && t.version == v)
        .cloned()
        .collect();
    types.sort_by(|a, b| a.plural.cmp(&b.plural));
    let mut resources = vec![];
    for t in types {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs,
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        r["storageVersionHash"] = json!(t.storage_version_hash());
        resources.push(r);
        resources.extend(endpoints::virtual_subresources(&t.group, &t.version, &t.plural));
        if t.scale_subresource {
            resources.push(json!({
                "name": format!("{}/scale", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    resources.extend(endpoints::virtual_resources(g, v));
    let group_version = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}
