//! An in-memory Kubernetes API server with kube-apiserver's semantics, served as an axum
//! [`Router`] over a shared store: in-process through [`ApiServer::client`] (a real
//! `kube::Client`), or on a TCP port through [`ApiServer::serve`] for kubectl and subprocesses.
//!
//! Layout: [`store`] holds objects and change history; [`resources`] is the table of kinds;
//! [`operations`] implements the verbs; `http` is the thin HTTP shell (with [`request`] as the one
//! place that extracts request attributes); `watch`, `discovery`, `openapi` and `table` render
//! their endpoints; `collector` is the background garbage collector and namespace/CRD cleanup;
//! [`auth`] authenticates (bearer tokens, service-account JWTs) and authorizes (RBAC) every
//! request; [`faults`] injects failures and latency; [`admin`] is the `/_sandbox` HTTP admin API;
//! `tls` serves HTTPS ([`ApiServer::serve_tls`]), which kubectl needs to send its credentials.
//!
//! Stop and restart: [`ServingHandle::shutdown`] ends a listener (and its watches); calling
//! [`ApiServer::serve`] / [`ApiServer::serve_tls`] again, even on the same address, serves the same
//! objects, tokens, signing key and serving certificate, so clients and watchers reconnect.
//!
//! Invariant: the store is independent of any listener or runtime: [`ApiServer::serve`] can be
//! called again after [`ServingHandle::shutdown`], from another runtime, on the same objects.
//!
//! The field semantics (CRD structural schemas, strategic merge patch, server-side apply and
//! managedFields) are pure libraries: [`schema`], [`patch`], [`fieldmanager`], over [`shape`],
//! [`field_errors`] and [`json_value`]; [`fields_bridge`] is the one place the verbs call them.

pub mod admin;
pub mod auth;
pub mod defaults;
pub mod faults;
pub mod field_errors;
pub mod fieldmanager;
pub mod fields_bridge;
pub mod json_value;
pub mod operations;
pub mod patch;
pub mod protobuf;
pub mod request;
pub mod resources;
pub mod schema;
pub mod selectors;
pub mod shape;
pub mod status;
pub mod store;
pub mod validation;

mod collector;
mod crd;
mod discovery;
mod http;
mod jsonpath;
mod openapi;
#[cfg(test)]
mod recordings;
mod scale;
mod table;
mod tls;
mod watch;
pub mod workloads;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use axum::Router;
use jiff::Timestamp;
use serde_json::Value;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use auth::coverage::{CoverageReport, Permission};
pub use auth::rbac::{Decision, Policy};
pub use faults::{FaultAction, FaultError, FaultRule};
pub use operations::{
    DeleteOptions, DeleteResult, FieldValidation, PatchType, Propagation, WriteOptions, WriteResult,
};
pub use request::{ADMIN_TOKEN, ADMIN_USER, AccessRecord, RequestAttributes, UserInfo};
pub use resources::{ResourceKey, ResourceType};
pub use status::ApiError;
pub use store::{Change, ChangeKind, StoredObject};

use request::AccessLog;
use resources::Registry;
use store::{Store, StoreLimits};

/// The Kubernetes version the server reports (kubectl's dispatcher picks its client from it).
pub const GIT_VERSION: &str = "v1.33.4";

/// Source of "now" for timestamps (injected so tests can fix time).
pub type ClockFn = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Tunables of an [`ApiServer`].
#[derive(Clone)]
pub struct ApiServerBuilder {
    history: usize,
    watch_buffer: usize,
    bookmark_interval: Duration,
    watch_timeout: (Duration, Duration),
    access_log_capacity: usize,
    max_body_bytes: usize,
    clock: ClockFn,
    workloads: Option<workloads::SimulatorConfig>,
    auth: auth::AuthOptions,
    fault_seed: Option<u64>,
}

impl std::fmt::Debug for ApiServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServerBuilder")
            .field("history", &self.history)
            .field("watch_buffer", &self.watch_buffer)
            .field("bookmark_interval", &self.bookmark_interval)
            .field("watch_timeout", &self.watch_timeout)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Default for ApiServerBuilder {
    fn default() -> Self {
        ApiServerBuilder {
            history: 5_000,
            watch_buffer: 4_096,
            bookmark_interval: Duration::from_secs(60),
            watch_timeout: (Duration::from_secs(300), Duration::from_secs(600)),
            access_log_capacity: 200_000,
            max_body_bytes: 3 * 1024 * 1024,
            clock: Arc::new(Timestamp::now),
            workloads: Some(workloads::SimulatorConfig::default()),
            auth: auth::AuthOptions::default(),
            fault_seed: None,
        }
    }
}

impl ApiServerBuilder {
    /// Changes kept per resource for watch resumption (older versions get 410 Expired).
    pub fn watch_history(mut self, changes: usize) -> Self {
        self.history = changes.max(1);
        self
    }

    /// Events buffered per live watch; a watcher that falls further behind gets 410 and is closed.
    pub fn watch_buffer(mut self, events: usize) -> Self {
        self.watch_buffer = events.max(1);
        self
    }

    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Range of the random timeout of watches that give no `timeoutSeconds`.
    pub fn default_watch_timeout(mut self, min: Duration, max: Duration) -> Self {
        self.watch_timeout = (min, max.max(min));
        self
    }

    /// Records kept in the access log (oldest dropped first).
    pub fn access_log_capacity(mut self, records: usize) -> Self {
        self.access_log_capacity = records.max(1);
        self
    }

    /// Largest request body accepted (413 above).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Source of the current time.
    pub fn clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Runs the workload simulator (the default) or not: without it Deployments, StatefulSets
    /// and DaemonSets keep the status clients write, as with no controller-manager.
    pub fn workload_simulator(mut self, enabled: bool) -> Self {
        self.workloads = enabled.then(|| self.workloads.take().unwrap_or_default());
        self
    }

    /// Runs the workload simulator with this timing and cluster shape.
    pub fn workload_config(mut self, config: workloads::SimulatorConfig) -> Self {
        self.workloads = Some(config);
        self
    }

    /// Builds the server, with namespaces `default`, `kube-system`, `kube-public` and
    /// `kube-node-lease`, and the bootstrap RBAC policy ([`auth::bootstrap`]).
    pub fn build(self) -> ApiServer {
        let simulator = self.workloads.clone().map(workloads::Simulator::new);
        let shared = Arc::new(Shared {
            store: Store::new(StoreLimits {
                history: self.history,
                watch_buffer: self.watch_buffer,
            }),
            registry: RwLock::new(Registry::with_builtins()),
            crd_schemas: Mutex::new(HashMap::new()),
            access_log: AccessLog::new(self.access_log_capacity),
            collector: Mutex::new(None),
            watch_epoch: tokio::sync::watch::channel(0).0,
            simulator,
            auth: auth::AuthState::default(),
            faults: faults::Faults::new(self.fault_seed),
            serving_cert: Default::default(),
            options: self,
        });
        let server = ApiServer { shared };
        let ns = server
            .resource("", "v1", "namespaces")
            .expect("namespaces are built in");
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body =
                serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            server
                .shared
                .create(
                    &ns,
                    "",
                    body,
                    &WriteOptions {
                        field_manager: Some("kube-apiserver".into()),
                        ..Default::default()
                    },
                )
                .expect("creating the initial namespaces cannot fail");
        }
        let bootstrap = [
            ("clusterroles", auth::bootstrap::cluster_roles()),
            ("clusterrolebindings", auth::bootstrap::cluster_role_bindings()),
        ];
        for (plural, objects) in bootstrap {
            let rt = server
                .resource(auth::rbac::RBAC_GROUP, "v1", plural)
                .expect("RBAC kinds are built in");
            for body in objects {
                let opts = WriteOptions {
                    field_manager: Some("kube-apiserver".into()),
                    ..Default::default()
                };
                server
                    .shared
                    .create(&rt, "", body, &opts)
                    .expect("creating the bootstrap RBAC policy cannot fail");
            }
        }
        server.ensure_collector();
        server
    }
}

/// State shared by the router, the collector and every handle.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) registry: RwLock<Registry>,
    /// Compiled CRD schemas by CRD name, with the spec they were compiled from (see
    /// `Shared::validate_crd`).
    pub(crate) crd_schemas: Mutex<HashMap<String, (Value, Arc<schema::CompiledCrd>)>>,
    pub(crate) access_log: AccessLog,
    pub(crate) options: ApiServerBuilder,
    collector: Mutex<Option<JoinHandle<()>>>,
    /// Bumped by [`ApiServer::drop_watches`]; every live watch ends when it changes.
    pub(crate) watch_epoch: tokio::sync::watch::Sender<u64>,
    /// The workload simulator, unless disabled.
    simulator: Option<Arc<workloads::Simulator>>,
    pub(crate) auth: auth::AuthState,
    pub(crate) faults: faults::Faults,
    pub(crate) serving_cert: std::sync::OnceLock<Result<tls::ServingCert, String>>,
}

impl Shared {
    /// Now, as kube-apiserver writes timestamps (RFC 3339, seconds).
    pub(crate) fn now_string(&self) -> String {
        format_timestamp((self.options.clock)())
    }

    pub(crate) fn now(&self) -> Timestamp {
        (self.options.clock)()
    }

    pub(crate) fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// RFC 3339 with second precision, as `metav1.Time` serialises.
pub fn format_timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// An in-memory Kubernetes API server. Cheap to clone; clones share one store.
#[derive(Clone)]
pub struct ApiServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("resource_version", &self.shared.store.current_rv())
            .finish()
    }
}

impl Default for ApiServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiServer {
    /// A server with default options.
    pub fn new() -> Self {
        ApiServerBuilder::default().build()
    }

    /// Options.
    pub fn builder() -> ApiServerBuilder {
        ApiServerBuilder::default()
    }

    /// Starts the background collector (garbage collection, namespace and CRD cleanup) on the
    /// current tokio runtime if it is not running there; no-op outside a runtime.
    fn ensure_collector(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if let Some(sim) = &self.shared.simulator {
            sim.ensure_running(&self.shared);
        }
        let mut slot = self.shared.collector.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let weak: Weak<Shared> = Arc::downgrade(&self.shared);
        *slot = Some(handle.spawn(collector::run(weak)));
    }

    /// The HTTP router (a `tower::Service`); every request goes through one dispatcher.
    pub fn router(&self) -> Router {
        self.ensure_collector();
        http::router(self.shared.clone())
    }

    /// An in-process `kube::Client` authenticated as the administrator (`system:masters`),
    /// default namespace `default`. Must be called inside a tokio runtime.
    pub fn client(&self) -> kube::Client {
        self.client_with_token(ADMIN_TOKEN)
    }

    /// An in-process `kube::Client` presenting `token` as its bearer token (e.g. a
    /// [`ApiServer::service_account_token`] or an [`ApiServer::add_token`] token), subject to
    /// authentication and RBAC like any client.
    pub fn client_with_token(&self, token: &str) -> kube::Client {
        let value = http::header_value_for_token(token);
        let service = tower::ServiceBuilder::new()
            .map_request(move |mut req: ::http::Request<kube::client::Body>| {
                req.headers_mut()
                    .insert(::http::header::AUTHORIZATION, value.clone());
                req
            })
            .service(self.router());
        kube::Client::new(service, "default")
    }

    /// Serves on `addr` (e.g. `127.0.0.1:0`) until the handle is shut down.
    pub async fn serve(&self, addr: impl ToSocketAddrs) -> io::Result<ServingHandle> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let router = self
            .router()
            .layer(axum::Extension(watch::ServeShutdown(stop_rx.clone())));
        let mut stop = stop_rx;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(ServingHandle {
            local_addr,
            stop: stop_tx,
            task: Some(task),
            ca_pem: None,
        })
    }

    /// A kubeconfig for `server_url` (`http://127.0.0.1:PORT`) with a bearer token.
    pub fn kubeconfig(server_url: &str, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: {server_url}\ncontexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    namespace: default\n    user: sandbox\ncurrent-context: sandbox\npreferences: {{}}\nusers:\n- name: sandbox\n  user:\n    token: {token}\n"
        )
    }

    /// Writes [`ApiServer::kubeconfig`] to `path`.
    pub fn write_kubeconfig(path: impl AsRef<Path>, server_url: &str, token: &str) -> io::Result<()> {
        std::fs::write(path, Self::kubeconfig(server_url, token))
    }

    /// The workload simulator: replicas and the Secret values they hold, behaviour knobs,
    /// pause/resume.
    pub fn workloads(&self) -> workloads::Workloads {
        workloads::Workloads::new(self.shared.simulator.clone())
    }

    /// Every request served so far (bounded), oldest first.
    pub fn access_log(&self) -> Vec<AccessRecord> {
        self.shared.access_log.snapshot()
    }

    /// Forgets the access log.
    pub fn clear_access_log(&self) {
        self.shared.access_log.clear()
    }

    /// Test knob: forgets all watch history, so resuming from any earlier version gets 410 Expired.
    pub fn compact_history(&self) {
        self.shared.store.compact()
    }

    /// Test knob: ends every live watch stream (as a dropped connection would).
    pub fn drop_watches(&self) {
        self.shared.watch_epoch.send_modify(|e| *e += 1);
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.current_rv()
    }

    /// Every committed change from now on (unbounded; keep up with it).
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Arc<Change>> {
        self.shared.store.subscribe()
    }

    /// A served resource by group, version and plural (or singular/short name).
    pub fn resource(&self, group: &str, version: &str, name: &str) -> Option<Arc<ResourceType>> {
        self.shared.registry().resolve(group, version, name)
    }

    /// A served resource by `apiVersion` and `kind`.
    pub fn resource_for_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.shared.registry().by_kind(api_version, kind)
    }

    /// One object, as stored.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Option<Value> {
        self.shared
            .get(rt, namespace, name)
            .ok()
            .map(|o| self.shared.present(rt, &o.value))
    }

    /// All objects of a resource (optionally in one namespace), in key order.
    pub fn list(&self, rt: &ResourceType, namespace: Option<&str>) -> Vec<Value> {
        self.shared
            .store
            .all(&rt.key(), namespace)
            .iter()
            .map(|o| self.shared.present(rt, &o.value))
            .collect()
    }

    /// Creates an object as a controller would (full create semantics).
    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        object: Value,
        manager: &str,
    ) -> Result<Value, ApiError> {
        let opts = WriteOptions {
            field_manager: Some(manager.into()),
            ..Default::default()
        };
        let mut object = object;
        if let Some(m) = object.as_object_mut() {
            m.entry("apiVersion")
                .or_insert_with(|| Value::String(rt.api_version()));
            m.entry("kind").or_insert_with(|| Value::String(rt.kind.clone()));
        }
        self.shared
            .create(rt, namespace, object, &opts)
            .map(|r| self.shared.present(rt, &r.object.value))
    }

    /// Read-modify-write of an object (or, with `status_only`, its status) as a controller would,
    /// retrying on conflicts; `modify` returns `false` to leave the object alone.
    pub fn modify(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        manager: &str,
        status_only: bool,
        mut modify: impl FnMut(&mut Value) -> bool,
    ) -> Result<Value, ApiError> {
        let opts = WriteOptions {
            field_manager: Some(manager.into()),
            ..Default::default()
        };
        loop {
            let current = self.shared.get(rt, namespace, name)?;
            let mut next = current.value.clone();
            if !modify(&mut next) {
                return Ok(self.shared.present(rt, &current.value));
            }
            let sub = status_only.then_some("status");
            match self.shared.update(rt, namespace, name, next, sub, &opts) {
                Err(e) if e.code == 409 && e.reason == "Conflict" => continue,
                other => return other.map(|r| self.shared.present(rt, &r.object.value)),
            }
        }
    }

    /// Deletes an object as a controller would.
    pub fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteResult, ApiError> {
        self.shared.delete(rt, namespace, name, opts)
    }
}

/// A running listener. Dropping it without [`ServingHandle::shutdown`] stops it abruptly.
#[derive(Debug)]
pub struct ServingHandle {
    local_addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    /// The CA of an HTTPS listener ([`ApiServer::serve_tls`]); `None` for plain HTTP.
    ca_pem: Option<String>,
}

impl ServingHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT`, or `https://...` for [`ApiServer::serve_tls`].
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// Stops accepting connections, ends live watches served through this listener and waits
    /// (up to 10 s) for in-flight requests.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for ServingHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
