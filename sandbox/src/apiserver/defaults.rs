//! Built-in defaulting: the fields kube-apiserver fills in on every write of a built-in kind
//! (Deployment strategy, pod-template container defaults, Secret type, Namespace phase, ...), and
//! the status a status-bearing kind starts with.
//!
//! Pure functions over JSON; CRD schema defaulting lives with the schema library, not here.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::resources::Defaulting;

fn obj(v: &mut Value) -> Option<&mut Map<String, Value>> {
    v.as_object_mut()
}

fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

fn child<'a>(m: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    if !m.get(key).is_some_and(Value::is_object) {
        m.insert(key.to_string(), json!({}));
    }
    m.get_mut(key)
        .and_then(Value::as_object_mut)
        .expect("just inserted an object")
}

/// Folds Secret `stringData` into base64 `data` (stringData wins) and removes it.
pub fn fold_string_data(secret: &mut Value) {
    let Some(m) = obj(secret) else { return };
    let Some(Value::Object(string_data)) = m.remove("stringData") else {
        return;
    };
    let data = child(m, "data");
    for (k, v) in string_data {
        if let Value::String(s) = v {
            data.insert(
                k,
                json!(base64::engine::general_purpose::STANDARD.encode(s.as_bytes())),
            );
        }
    }
}

fn default_pod_template(spec: &mut Map<String, Value>) {
    let template = child(spec, "template");
    let pod = child(template, "spec");
    set_default(pod, "restartPolicy", json!("Always"));
    set_default(pod, "terminationGracePeriodSeconds", json!(30));
    set_default(pod, "dnsPolicy", json!("ClusterFirst"));
    set_default(pod, "securityContext", json!({}));
    set_default(pod, "schedulerName", json!("default-scheduler"));
    for list in ["containers", "initContainers"] {
        if let Some(Value::Array(cs)) = pod.get_mut(list) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                set_default(c, "resources", json!({}));
                set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
                set_default(c, "terminationMessagePolicy", json!("File"));
                let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
                let tag = image
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .split_once(':')
                    .map(|(_, t)| t.to_string());
                let policy = if image.contains('@') || tag.as_deref().is_some_and(|t| t != "latest") {
                    "IfNotPresent"
                } else {
                    "Always"
                };
                set_default(c, "imagePullPolicy", json!(policy));
                if let Some(Value::Array(ports)) = c.get_mut("ports") {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                    }
                }
            }
        }
    }
}

/// A stable address in kubeadm's default service range (10.96.0.0/12) for a Service name: the
/// sandbox has no allocator, and kube-apiserver keeps an allocated address for the Service's life.
fn cluster_ip(name: &str) -> String {
    let h = name
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
    format!("10.96.{}.{}", (h >> 8) % 256, (h % 254) + 1)
}

/// Applies a kind's defaults to an object about to be stored.
pub fn apply(defaulting: Defaulting, object: &mut Value) {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(m) = obj(object) else { return };
    match defaulting {
        Defaulting::None => {}
        Defaulting::Secret => {
            set_default(m, "type", json!("Opaque"));
        }
        Defaulting::Namespace => {
            let meta = child(m, "metadata");
            child(meta, "labels").insert("kubernetes.io/metadata.name".into(), json!(name));
            child(m, "spec");
            let status = child(m, "status");
            set_default(status, "phase", json!("Active"));
        }
        Defaulting::Deployment => {
            let spec = child(m, "spec");
            set_default(spec, "replicas", json!(1));
            let strategy = child(spec, "strategy");
            set_default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = child(strategy, "rollingUpdate");
                set_default(ru, "maxUnavailable", json!("25%"));
                set_default(ru, "maxSurge", json!("25%"));
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            default_pod_template(spec);
        }
        Defaulting::StatefulSet => {
            let spec = child(m, "spec");
            set_default(spec, "replicas", json!(1));
            set_default(spec, "podManagementPolicy", json!("OrderedReady"));
            let strategy = child(spec, "updateStrategy");
            set_default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                set_default(child(strategy, "rollingUpdate"), "partition", json!(0));
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(
                spec,
                "persistentVolumeClaimRetentionPolicy",
                json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
            );
            default_pod_template(spec);
        }
        Defaulting::DaemonSet => {
            let spec = child(m, "spec");
            let strategy = child(spec, "updateStrategy");
            set_default(strategy, "type", json!("RollingUpdate"));
            if strategy.get("type") == Some(&json!("RollingUpdate")) {
                let ru = child(strategy, "rollingUpdate");
                set_default(ru, "maxUnavailable", json!(1));
                set_default(ru, "maxSurge", json!(0));
            }
            set_default(spec, "revisionHistoryLimit", json!(10));
            default_pod_template(spec);
        }
        Defaulting::ReplicaSet => {
            let spec = child(m, "spec");
            set_default(spec, "replicas", json!(1));
            default_pod_template(spec);
        }
        Defaulting::Service => {
            let spec = child(m, "spec");
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            set_default(spec, "internalTrafficPolicy", json!("Cluster"));
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            set_default(spec, "ipFamilies", json!(["IPv4"]));
            if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
                let ip = cluster_ip(&name);
                set_default(spec, "clusterIP", json!(ip));
            }
            if let Some(ip) = spec.get("clusterIP").cloned() {
                set_default(spec, "clusterIPs", json!([ip]));
            }
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    set_default(port, "protocol", json!("TCP"));
                    if let Some(p) = port.get("port").cloned() {
                        set_default(port, "targetPort", p);
                    }
                }
            }
            set_default(child(m, "status"), "loadBalancer", json!({}));
        }
        Defaulting::CoreEvent => {
            set_default(m, "source", json!({}));
            set_default(m, "firstTimestamp", Value::Null);
            set_default(m, "lastTimestamp", Value::Null);
            set_default(m, "eventTime", Value::Null);
            set_default(m, "reportingComponent", json!(""));
            set_default(m, "reportingInstance", json!(""));
        }
        Defaulting::EventsEvent => {
            set_default(m, "eventTime", Value::Null);
            set_default(m, "deprecatedSource", json!({}));
            set_default(m, "deprecatedFirstTimestamp", Value::Null);
            set_default(m, "deprecatedLastTimestamp", Value::Null);
        }
        Defaulting::Crd => {
            let spec = child(m, "spec");
            let kind = spec
                .get("names")
                .and_then(|n| n.get("kind"))
                .and_then(Value::as_str)
                .map(String::from);
            let names = child(spec, "names");
            if let Some(kind) = kind {
                set_default(names, "listKind", json!(format!("{kind}List")));
                set_default(names, "singular", json!(kind.to_lowercase()));
            }
            set_default(child(spec, "conversion"), "strategy", json!("None"));
            let storage: Vec<Value> = spec
                .get("versions")
                .and_then(Value::as_array)
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v.get("storage") == Some(&json!(true)))
                        .filter_map(|v| v.get("name").cloned())
                        .collect()
                })
                .unwrap_or_default();
            let status = child(m, "status");
            set_default(status, "conditions", Value::Null);
            set_default(status, "acceptedNames", json!({"plural": "", "kind": ""}));
            set_default(status, "storedVersions", Value::Array(storage));
        }
    }
}

/// What a kind's strategy sets on a new object after defaulting, so after the creator's fields
/// are recorded and owned by nobody (`PrepareForCreate`): a Namespace's `kubernetes` finalizer.
pub fn prepare_for_create(defaulting: Defaulting, object: &mut Value) {
    if defaulting == Defaulting::Namespace
        && let Some(m) = obj(object)
    {
        set_default(child(m, "spec"), "finalizers", json!(["kubernetes"]));
    }
}

/// What a kind's strategy keeps from the stored object on update (`PrepareForUpdate`): a
/// Namespace's `spec.finalizers`, which only namespace finalization changes.
pub fn prepare_for_update(defaulting: Defaulting, old: &Value, new: &mut Value) {
    if defaulting == Defaulting::Namespace
        && let Some(m) = obj(new)
    {
        let spec = child(m, "spec");
        match old.pointer("/spec/finalizers") {
            Some(f) => spec.insert("finalizers".into(), f.clone()),
            None => spec.remove("finalizers"),
        };
    }
}

/// The status a kind with a status subresource starts with on create (`None`: no status at all).
pub fn initial_status(defaulting: Defaulting) -> Option<Value> {
    match defaulting {
        Defaulting::Deployment => Some(json!({})),
        Defaulting::StatefulSet => Some(json!({"replicas": 0, "availableReplicas": 0})),
        Defaulting::DaemonSet => Some(json!({
            "currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0
        })),
        Defaulting::ReplicaSet => Some(json!({"replicas": 0})),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_match_kube_apiserver() {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"replicas": 2, "selector": {},
            "template": {"spec": {"containers": [{"name": "c", "image": "example"}, {"name": "d", "image": "r/x:1.0"}]}}}});
        apply(Defaulting::Deployment, &mut d);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["replicas"], 2);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "Always"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][1]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["schedulerName"],
            "default-scheduler"
        );
    }

    #[test]
    fn namespace_finalizers_are_set_on_create_and_kept_on_update() {
        let mut ns = json!({"metadata": {"name": "team-a"}});
        apply(Defaulting::Namespace, &mut ns);
        assert_eq!(
            ns["spec"],
            json!({}),
            "not a defaulted field the creator would own"
        );
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
        prepare_for_create(Defaulting::Namespace, &mut ns);
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        let mut put = json!({"metadata": {"name": "team-a"}, "spec": {"finalizers": []}});
        prepare_for_update(Defaulting::Namespace, &ns, &mut put);
        assert_eq!(put["spec"]["finalizers"], json!(["kubernetes"]));
    }

    #[test]
    fn string_data_is_folded_into_data() {
        let mut s = json!({"data": {"a": "eA=="}, "stringData": {"k": "v", "a": "y"}});
        fold_string_data(&mut s);
        assert_eq!(s, json!({"data": {"a": "eQ==", "k": "dg=="}}));
    }
}
