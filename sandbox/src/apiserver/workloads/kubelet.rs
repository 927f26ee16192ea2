//! What a kubelet does with the Secrets a pod template references: resolve environment variables
//! (`env[].valueFrom.secretKeyRef`, `envFrom[].secretRef`) when a container starts, and the files
//! of `secret` and `projected` volumes when the pod is set up and again whenever it resyncs.
//!
//! Invariants: resolution is pure (Secrets come from a [`SecretSource`]); a required Secret or
//! key that is missing stops the start with kubelet's reason (`ContainerCreating` for volumes,
//! `CreateContainerConfigError` for env) and a message that names the Secret and key, never a
//! value; values are only ever held as [`SecretSlice`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, KeyToPath, PodTemplateSpec, Volume};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::Value;

/// The decoded `data` of a Secret.
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// Where Secrets come from (the store, or a map in tests).
pub trait SecretSource {
    /// The data of Secret `name` in `namespace`, if it exists.
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretData>>;
}

impl SecretSource for BTreeMap<(String, String), Arc<SecretData>> {
    fn secret(&self, namespace: &str, name: &str) -> Option<Arc<SecretData>> {
        self.get(&(namespace.to_string(), name.to_string())).cloned()
    }
}

/// A key of a Secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKeyRef {
    /// Secret name.
    pub secret: String,
    /// Key in its `data`.
    pub key: String,
}

/// A value a container holds, and the Secret key it came from (`None`: a literal env value).
#[derive(Clone)]
pub struct Held {
    /// Where it came from.
    pub source: Option<SecretKeyRef>,
    /// The value.
    pub value: SecretSlice<u8>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("source", &self.source)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.value.expose_secret() == other.value.expose_secret()
    }
}

fn held(source: Option<SecretKeyRef>, bytes: &[u8]) -> Held {
    Held {
        source,
        value: SecretSlice::from(bytes.to_vec()),
    }
}

/// Why a replica's containers could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartError {
    /// The waiting reason kubelet reports (`ContainerCreating`, `CreateContainerConfigError`).
    pub reason: &'static str,
    /// kubelet's message (names Secrets and keys, never values).
    pub message: String,
}

/// The files of one mounted volume: path inside the volume → value.
pub type VolumeFiles = BTreeMap<String, Held>;

/// One container's view of its Secrets after start.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerValues {
    /// Container name.
    pub name: String,
    /// Environment, frozen at start (a later definition of a name wins, as in kubelet).
    pub env: BTreeMap<String, Held>,
    /// Files of `subPath` mounts: full path → value, frozen at start.
    pub frozen_files: BTreeMap<String, Held>,
    /// Live mounts: (volume name, mount path).
    pub live_mounts: Vec<(String, String)>,
}

/// What a replica holds once started: its Secret volumes (refreshable) and containers.
#[derive(Clone, Debug, PartialEq)]
pub struct Started {
    /// Secret-backed volumes by name.
    pub volumes: BTreeMap<String, VolumeFiles>,
    /// Containers in template order.
    pub containers: Vec<ContainerValues>,
}

/// The parts of a pod template the simulated kubelet acts on.
#[derive(Clone, Debug)]
pub struct PodTemplate {
    spec: PodTemplateSpec,
    secrets: BTreeSet<String>,
}

/// A pod template that does not have the shape of a `PodTemplateSpec`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid pod template: {0}")]
pub struct TemplateError(pub String);

fn join(dir: &str, file: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), file.trim_start_matches('/'))
}

impl PodTemplate {
    /// Reads a workload's `spec.template`.
    pub fn parse(template: &Value) -> Result<Self, TemplateError> {
        let spec: PodTemplateSpec =
            serde_json::from_value(template.clone()).map_err(|e| TemplateError(e.to_string()))?;
        let mut secrets = BTreeSet::new();
        if let Some(pod) = &spec.spec {
            for c in &pod.containers {
                for e in c.env_from.iter().flatten() {
                    if let Some(s) = &e.secret_ref {
                        secrets.insert(s.name.clone());
                    }
                }
                for e in c.env.iter().flatten() {
                    if let Some(r) = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) {
                        secrets.insert(r.name.clone());
                    }
                }
            }
            for v in pod.volumes.iter().flatten() {
                if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
                    secrets.insert(s);
                }
                for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
                    if let Some(s) = &src.secret {
                        secrets.insert(s.name.clone());
                    }
                }
            }
        }
        Ok(PodTemplate { spec, secrets })
    }

    /// Names of every Secret the template references.
    pub fn secrets(&self) -> &BTreeSet<String> {
        &self.secrets
    }

    fn containers(&self) -> &[Container] {
        self.spec
            .spec
            .as_ref()
            .map(|p| p.containers.as_slice())
            .unwrap_or(&[])
    }

    fn volumes(&self) -> &[Volume] {
        self.spec
            .spec
            .as_ref()
            .and_then(|p| p.volumes.as_deref())
            .unwrap_or(&[])
    }

    /// Whether a Secret-backed volume of this template uses Secret `name`.
    pub fn volume_uses(&self, name: &str) -> bool {
        self.volumes().iter().any(|v| {
            v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(name)
                || v.projected
                    .iter()
                    .flat_map(|p| p.sources.iter().flatten())
                    .any(|s| s.secret.as_ref().is_some_and(|s| s.name == name))
        })
    }

    /// Sets up volumes and starts containers: resolves every Secret reference now.
    pub fn start(&self, namespace: &str, secrets: &dyn SecretSource) -> Result<Started, StartError> {
        let mut volumes = BTreeMap::new();
        for v in self.volumes() {
            if let Some(files) = resolve_volume(namespace, v, secrets)? {
                volumes.insert(v.name.clone(), files);
            }
        }
        let mut containers = vec![];
        for c in self.containers() {
            containers.push(start_container(namespace, c, &volumes, secrets)?);
        }
        Ok(Started { volumes, containers })
    }

    /// Restarts containers (a crash-loop restart): env is resolved again, volumes stay.
    pub fn restart(
        &self,
        namespace: &str,
        volumes: &BTreeMap<String, VolumeFiles>,
        secrets: &dyn SecretSource,
    ) -> Result<Vec<ContainerValues>, StartError> {
        self.containers()
            .iter()
            .map(|c| start_container(namespace, c, volumes, secrets))
            .collect()
    }

    /// A kubelet resync: the Secret volumes with their current content. A volume whose Secret or
    /// key has gone keeps its previous content (kubelet fails the update and leaves the files).
    pub fn refresh_volumes(
        &self,
        namespace: &str,
        current: &BTreeMap<String, VolumeFiles>,
        secrets: &dyn SecretSource,
    ) -> BTreeMap<String, VolumeFiles> {
        let mut out = current.clone();
        for v in self.volumes() {
            if let Ok(Some(files)) = resolve_volume(namespace, v, secrets) {
                out.insert(v.name.clone(), files);
            }
        }
        out
    }
}

fn not_found(secret: &str) -> String {
    format!("secret \"{secret}\" not found")
}

fn start_container(
    namespace: &str,
    c: &Container,
    volumes: &BTreeMap<String, VolumeFiles>,
    secrets: &dyn SecretSource,
) -> Result<ContainerValues, StartError> {
    let config_error = |message: String| StartError {
        reason: "CreateContainerConfigError",
        message,
    };
    let mut env: BTreeMap<String, Held> = BTreeMap::new();
    for from in c.env_from.iter().flatten() {
        let Some(r) = &from.secret_ref else { continue };
        let prefix = from.prefix.as_deref().unwrap_or("");
        match secrets.secret(namespace, &r.name) {
            Some(data) => {
                for (k, v) in data.iter() {
                    let source = SecretKeyRef {
                        secret: r.name.clone(),
                        key: k.clone(),
                    };
                    env.insert(format!("{prefix}{k}"), held(Some(source), v));
                }
            }
            None if r.optional == Some(true) => {}
            None => return Err(config_error(not_found(&r.name))),
        }
    }
    for e in c.env.iter().flatten() {
        if let Some(r) = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) {
            let optional = r.optional == Some(true);
            match secrets.secret(namespace, &r.name) {
                Some(data) => match data.get(&r.key) {
                    Some(v) => {
                        let source = SecretKeyRef {
                            secret: r.name.clone(),
                            key: r.key.clone(),
                        };
                        env.insert(e.name.clone(), held(Some(source), v));
                    }
                    None if optional => {}
                    None => {
                        return Err(config_error(format!(
                            "couldn't find key {} in Secret {namespace}/{}",
                            r.key, r.name
                        )));
                    }
                },
                None if optional => {}
                None => return Err(config_error(not_found(&r.name))),
            }
        } else if let Some(value) = &e.value {
            env.insert(e.name.clone(), held(None, value.as_bytes()));
        }
    }
    let mut frozen_files = BTreeMap::new();
    let mut live_mounts = vec![];
    for m in c.volume_mounts.iter().flatten() {
        let Some(files) = volumes.get(&m.name) else {
            continue;
        };
        match m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            None => live_mounts.push((m.name.clone(), m.mount_path.clone())),
            Some(sub) => {
                // NB: a subPath mount is a bind mount of what the file was at start; the
                // kubelet's atomic volume updates never reach it.
                let sub = sub.trim_matches('/');
                for (path, value) in files {
                    if path == sub {
                        frozen_files.insert(m.mount_path.clone(), value.clone());
                    } else if let Some(rest) = path.strip_prefix(&format!("{sub}/")) {
                        frozen_files.insert(join(&m.mount_path, rest), value.clone());
                    }
                }
            }
        }
    }
    Ok(ContainerValues {
        name: c.name.clone(),
        env,
        frozen_files,
        live_mounts,
    })
}

fn project(
    namespace: &str,
    volume: &str,
    secret: &str,
    items: Option<&[KeyToPath]>,
    optional: bool,
    secrets: &dyn SecretSource,
    files: &mut VolumeFiles,
) -> Result<(), StartError> {
    let mount_error = |message: String| StartError {
        reason: "ContainerCreating",
        message: format!("MountVolume.SetUp failed for volume \"{volume}\" : {message}"),
    };
    let Some(data) = secrets.secret(namespace, secret) else {
        return if optional {
            Ok(())
        } else {
            Err(mount_error(not_found(secret)))
        };
    };
    let source = |key: &str| {
        Some(SecretKeyRef {
            secret: secret.to_string(),
            key: key.to_string(),
        })
    };
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data.iter() {
                files.insert(k.clone(), held(source(k), v));
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        files.insert(item.path.clone(), held(source(&item.key), v));
                    }
                    None if optional => {}
                    None => {
                        return Err(mount_error(format!(
                            "references non-existent secret key: {}",
                            item.key
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// The files of a Secret-backed volume (`None` for other volume types).
fn resolve_volume(
    namespace: &str,
    v: &Volume,
    secrets: &dyn SecretSource,
) -> Result<Option<VolumeFiles>, StartError> {
    if let Some(s) = &v.secret {
        let mut files = VolumeFiles::new();
        let name = s.secret_name.as_deref().unwrap_or("");
        project(
            namespace,
            &v.name,
            name,
            s.items.as_deref(),
            s.optional == Some(true),
            secrets,
            &mut files,
        )?;
        return Ok(Some(files));
    }
    if let Some(p) = &v.projected {
        let sources: Vec<_> = p
            .sources
            .iter()
            .flatten()
            .filter_map(|s| s.secret.as_ref())
            .collect();
        if sources.is_empty() {
            return Ok(None);
        }
        let mut files = VolumeFiles::new();
        for s in sources {
            project(
                namespace,
                &v.name,
                &s.name,
                s.items.as_deref(),
                s.optional == Some(true),
                secrets,
                &mut files,
            )?;
        }
        return Ok(Some(files));
    }
    Ok(None)
}

/// The files a container sees: its live mounts over the current volumes, then its frozen
/// `subPath` files. Each entry: (full path, value, refreshes in place).
pub fn container_files<'a>(
    c: &'a ContainerValues,
    volumes: &'a BTreeMap<String, VolumeFiles>,
) -> Vec<(String, &'a Held, bool)> {
    let mut out = vec![];
    for (volume, mount_path) in &c.live_mounts {
        if let Some(files) = volumes.get(volume) {
            for (path, value) in files {
                out.push((join(mount_path, path), value, true));
            }
        }
    }
    for (path, value) in &c.frozen_files {
        out.push((path.clone(), value, false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets(entries: &[(&str, &[(&str, &str)])]) -> BTreeMap<(String, String), Arc<SecretData>> {
        entries
            .iter()
            .map(|(name, data)| {
                (
                    ("ns".to_string(), name.to_string()),
                    Arc::new(
                        data.iter()
                            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                            .collect(),
                    ),
                )
            })
            .collect()
    }

    fn value(h: &Held) -> String {
        String::from_utf8(h.value.expose_secret().to_vec()).unwrap()
    }

    fn template(pod: Value) -> PodTemplate {
        PodTemplate::parse(&json!({"metadata": {"labels": {"app": "x"}}, "spec": pod})).unwrap()
    }

    #[test]
    fn env_and_env_from_resolve_with_later_definitions_winning() {
        let t = template(json!({"containers": [{"name": "c", "image": "i",
        "envFrom": [{"secretRef": {"name": "s1"}, "prefix": "P_"}],
        "env": [
            {"name": "P_a", "value": "literal"},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "password"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}}
        ]}]}));
        assert_eq!(
            t.secrets().iter().cloned().collect::<Vec<_>>(),
            vec!["absent", "s1", "s2"]
        );
        let s = secrets(&[
            ("s1", &[("a", "1"), ("b", "2")]),
            ("s2", &[("password", "hunter2")]),
        ]);
        let started = t.start("ns", &s).unwrap();
        let env = &started.containers[0].env;
        assert_eq!(value(&env["P_a"]), "literal");
        assert_eq!(env["P_a"].source, None);
        assert_eq!(value(&env["P_b"]), "2");
        assert_eq!(value(&env["PASSWORD"]), "hunter2");
        assert_eq!(
            env["PASSWORD"].source,
            Some(SecretKeyRef {
                secret: "s2".into(),
                key: "password".into()
            })
        );
        assert!(!env.contains_key("OPT"));
    }

    #[test]
    fn missing_required_secrets_and_keys_stop_the_start() {
        let t = template(json!({"containers": [{"name": "c", "image": "i",
            "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]}]}));
        let err = t.start("ns", &secrets(&[])).unwrap_err();
        assert_eq!(err.reason, "CreateContainerConfigError");
        assert_eq!(err.message, "secret \"s\" not found");
        let err = t.start("ns", &secrets(&[("s", &[("other", "x")])])).unwrap_err();
        assert_eq!(err.message, "couldn't find key password in Secret ns/s");
        let t = template(
            json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "s"}}]}]}),
        );
        assert!(t.start("ns", &secrets(&[])).is_err());
        let t = template(json!({"containers": [{"name": "c", "image": "i"}],
            "volumes": [{"name": "creds", "secret": {"secretName": "s", "items": [{"key": "k", "path": "f"}]}}]}));
        let err = t.start("ns", &secrets(&[("s", &[("x", "1")])])).unwrap_err();
        assert_eq!(err.reason, "ContainerCreating");
        assert_eq!(
            err.message,
            "MountVolume.SetUp failed for volume \"creds\" : references non-existent secret key: k"
        );
        let t = template(json!({"containers": [{"name": "c", "image": "i"}],
            "volumes": [{"name": "creds", "secret": {"secretName": "s", "optional": true}}]}));
        assert!(t.start("ns", &secrets(&[])).is_ok());
    }

    #[test]
    fn volumes_mount_items_projections_and_sub_paths() {
        let t = template(json!({
        "containers": [{"name": "c", "image": "i", "volumeMounts": [
            {"name": "all", "mountPath": "/etc/all"},
            {"name": "some", "mountPath": "/etc/some/"},
            {"name": "proj", "mountPath": "/etc/proj"},
            {"name": "all", "mountPath": "/app/token", "subPath": "token"}
        ]}],
        "volumes": [
            {"name": "all", "secret": {"secretName": "s1"}},
            {"name": "some", "secret": {"secretName": "s1", "items": [{"key": "token", "path": "nested/tok"}]}},
            {"name": "proj", "projected": {"sources": [
                {"secret": {"name": "s1", "items": [{"key": "token", "path": "t1"}]}},
                {"secret": {"name": "s2"}},
                {"configMap": {"name": "cm"}}
            ]}},
            {"name": "scratch", "emptyDir": {}}
        ]}));
        assert!(t.volume_uses("s2") && !t.volume_uses("s3"));
        let s = secrets(&[
            ("s1", &[("token", "v1"), ("other", "o")]),
            ("s2", &[("cert", "c")]),
        ]);
        let started = t.start("ns", &s).unwrap();
        assert_eq!(started.volumes.len(), 3);
        let files: BTreeMap<String, (String, bool)> =
            container_files(&started.containers[0], &started.volumes)
                .into_iter()
                .map(|(p, v, live)| (p, (value(v), live)))
                .collect();
        let expect = |p: &str| files.get(p).cloned();
        assert_eq!(expect("/etc/all/token"), Some(("v1".into(), true)));
        assert_eq!(expect("/etc/all/other"), Some(("o".into(), true)));
        assert_eq!(expect("/etc/some/nested/tok"), Some(("v1".into(), true)));
        assert_eq!(expect("/etc/proj/t1"), Some(("v1".into(), true)));
        assert_eq!(expect("/etc/proj/cert"), Some(("c".into(), true)));
        assert_eq!(expect("/app/token"), Some(("v1".into(), false)));
        assert_eq!(files.len(), 6);
    }

    #[test]
    fn refresh_updates_volumes_but_not_env_or_sub_paths_and_keeps_content_of_deleted_secrets() {
        let t = template(json!({
            "containers": [{"name": "c", "image": "i",
                "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "token"}}}],
                "volumeMounts": [{"name": "v", "mountPath": "/m"}, {"name": "v", "mountPath": "/sub", "subPath": "token"}]}],
            "volumes": [{"name": "v", "secret": {"secretName": "s1"}}]}));
        let before = secrets(&[("s1", &[("token", "old")])]);
        let started = t.start("ns", &before).unwrap();
        let after = secrets(&[("s1", &[("token", "new")])]);
        let volumes = t.refresh_volumes("ns", &started.volumes, &after);
        let c = &started.containers[0];
        let files: BTreeMap<String, String> = container_files(c, &volumes)
            .into_iter()
            .map(|(p, v, _)| (p, value(v)))
            .collect();
        assert_eq!(files["/m/token"], "new");
        assert_eq!(files["/sub"], "old");
        assert_eq!(value(&c.env["T"]), "old");
        let gone = t.refresh_volumes("ns", &volumes, &secrets(&[]));
        assert_eq!(value(&gone["v"]["token"]), "new");
    }

    #[test]
    fn held_values_never_show_in_debug_output() {
        let t = template(json!({"containers": [{"name": "c", "image": "i",
            "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "token"}}}]}]}));
        let started = t
            .start("ns", &secrets(&[("s1", &[("token", "sup3r-s3cret")])]))
            .unwrap();
        let debug = format!("{started:?}");
        assert!(!debug.contains("sup3r-s3cret"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn malformed_templates_are_errors() {
        assert!(PodTemplate::parse(&json!({"spec": {"containers": "nope"}})).is_err());
        assert!(PodTemplate::parse(&json!({})).is_ok());
    }
}
