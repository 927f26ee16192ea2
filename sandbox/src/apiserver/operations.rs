//! The API verbs over the store, independent of HTTP: create, update (main resource or
//! `/status`), patch, delete (finalizers, propagation), get and list. The HTTP handlers and
//! in-process controllers (garbage collector, namespace and CRD cleanup) both call these, so every
//! write has kube-apiserver's semantics whoever makes it.
//!
//! Invariants: server-owned metadata (uid, creationTimestamp, deletionTimestamp, generation) is
//! only ever set here; `metadata.generation` moves only when something outside metadata and
//! status changes; a write that changes nothing does not bump the resourceVersion.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::Shared;
use super::defaults;
use super::fields_bridge;
use super::protobuf;
use super::resources::{Defaulting, ResourceKey, ResourceType};
use super::status::{ApiError, Cause, Details};
use super::store::{Outcome, StoredObject, Write};
use super::validation;

/// How unknown fields are treated (`fieldValidation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them with a `Warning` header (the default).
    #[default]
    Warn,
    /// Refuse the request with 400.
    Strict,
}

/// Options common to writes.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: compute, do not store.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (apply).
    pub force: bool,
    /// The request's `User-Agent`: the field manager of a non-apply write without `fieldManager`
    /// is derived from it (`kubectl/v1.33.4 (...)` → `kubectl`), as kube-apiserver does.
    pub user_agent: Option<String>,
}

impl WriteOptions {
    /// The field manager of a non-apply write.
    fn manager(&self) -> String {
        fields_bridge::manager_for(self.field_manager.as_deref(), self.user_agent.as_deref())
    }
}

/// Who records a write in `metadata.managedFields`.
#[derive(Clone, Copy, Debug)]
enum Tracking<'a> {
    /// A non-apply write by this manager: an `Update` entry.
    Update(&'a str),
    /// A server-side apply, whose managed fields are already computed.
    Applied,
}

/// A successful write.
#[derive(Debug)]
pub struct WriteResult {
    /// The object as stored (or as it would be, for dry runs).
    pub object: Arc<StoredObject>,
    /// Whether it was created (201) rather than updated (200).
    pub created: bool,
    /// Warnings for the `Warning` header.
    pub warnings: Vec<String>,
}

/// Deletion propagation (`propagationPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Delete now; the garbage collector removes dependents afterwards.
    #[default]
    Background,
    /// Keep the owner (with the `foregroundDeletion` finalizer) until its dependents are gone.
    Foreground,
    /// Keep dependents, removing their owner references.
    Orphan,
}

/// Options of a delete.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Propagation policy.
    pub propagation: Propagation,
    /// Precondition on `metadata.uid`.
    pub uid: Option<String>,
    /// Precondition on `metadata.resourceVersion`.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug)]
pub enum DeleteResult {
    /// The object is gone (last state given).
    Gone(Arc<StoredObject>),
    /// The object is terminating, waiting for finalizers.
    Pending(Arc<StoredObject>),
}

/// Patch body formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902.
    Json,
    /// RFC 7386.
    Merge,
    /// Strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// From a `Content-Type`.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Finalizer the garbage collector uses for foreground deletion.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer the garbage collector uses for orphaning deletion.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Finalizer kube-apiserver puts on a CRD being deleted until its instances are gone.
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn meta(v: &Value) -> Option<&Map<String, Value>> {
    v.get("metadata").and_then(Value::as_object)
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object)
        && let Some(m) = v.as_object_mut()
    {
        m.insert("metadata".into(), json!({}));
    }
    v.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .expect("metadata is an object")
}

fn meta_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    meta(v)
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `metadata.finalizers` as strings.
pub fn finalizers(v: &Value) -> Vec<String> {
    meta(v)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_terminating(v: &Value) -> bool {
    meta_str(v, "deletionTimestamp").is_some()
}

/// Drops empty metadata collections, as Go's `omitempty` does when kube-apiserver re-encodes.
fn tidy_metadata(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|k, val| {
            let collection = matches!(
                k.as_str(),
                "finalizers" | "labels" | "annotations" | "ownerReferences" | "managedFields"
            );
            !(collection
                && (val.is_null()
                    || val.as_array().is_some_and(Vec::is_empty)
                    || val.as_object().is_some_and(Map::is_empty)))
        });
    }
}

/// Whether two objects differ outside `metadata` and `status` (what moves `generation`),
/// compared in place.
// NB: this runs on every write; copying both objects to compare them dominated write costs.
fn differs_outside_meta_and_status(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a != b;
    };
    let outside = |m: &Map<String, Value>| {
        m.iter()
            .filter(|(k, _)| k.as_str() != "metadata" && k.as_str() != "status")
            .count()
    };
    outside(a) != outside(b)
        || a.iter()
            .filter(|(k, _)| k.as_str() != "metadata" && k.as_str() != "status")
            .any(|(k, v)| b.get(k) != Some(v))
}

/// The internal type name kube-apiserver uses in conversion errors (`core.Secret`).
fn internal_type(rt: &ResourceType) -> String {
    let pkg = match rt.group.as_str() {
        "" => "core".to_string(),
        g if rt.is_custom() => g.to_string(),
        g => g.split('.').next().unwrap_or(g).to_string(),
    };
    format!("{pkg}.{}", rt.kind)
}

fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s: String = s.chars().take(70).collect();
    s
}

/// Parses a create or update body of `content_type` into an object of `rt`'s kind: JSON, YAML, or
/// protobuf for the built-in kinds [`protobuf::objects`] reads; any other media type is kube-apiserver's
/// 415 (which it also answers for protobuf bodies of custom resources).
pub fn decode_request_object(rt: &ResourceType, body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    match media_type {
        "" | "application/json" | "*/*" => decode_object(rt, body, false),
        "application/yaml" | "application/apply-patch+yaml" | "text/yaml" => decode_object(rt, body, true),
        protobuf::PROTOBUF if !rt.is_custom() && protobuf::objects::supported(&rt.group, &rt.kind) => {
            let value = protobuf::objects::decode(&rt.group, &rt.kind, body)
                .map_err(|e| {
                    ApiError::bad_request(format!(
                        "the body of the request could not be decoded as protobuf: {e}"
                    ))
                })?
                .unwrap_or_default();
            check_kind(rt, &value, body)?;
            Ok(value)
        }
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
        ])),
    }
}

/// Parses a request body into an object of `rt`'s kind: JSON (or YAML for YAML content types),
/// with kube-apiserver's 400 messages for malformed bodies and mismatched kinds.
pub fn decode_object(rt: &ResourceType, body: &[u8], yaml: bool) -> Result<Value, ApiError> {
    let value: Value = if yaml {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("error converting YAML to JSON: invalid UTF-8"))?;
        serde_saphyr::from_str::<Value>(text)
            .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))?
    } else {
        serde_json::from_slice(body).map_err(|_| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: {} ({})",
                rt.kind,
                validation::go_json_syntax_error(body),
                excerpt(body)
            ))
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }} ({})",
            rt.kind,
            match value {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                _ => "null",
            },
            excerpt(body)
        )));
    }
    check_kind(rt, &value, body)?;
    Ok(value)
}

fn check_kind(rt: &ResourceType, value: &Value, body: &[u8]) -> Result<(), ApiError> {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Object 'Kind' is missing in '{}'",
            String::from_utf8_lossy(body)
        )));
    }
    let (group, version) = super::resources::split_api_version(api_version);
    if kind == rt.kind && group == rt.group && !version.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {}: converting ({version}.{kind}) to ({}): unknown conversion",
        rt.kind,
        internal_type(rt)
    )))
}

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generate_suffix() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..5)
        .map(|_| GENERATE_CHARS[rng.random_range(0..GENERATE_CHARS.len())] as char)
        .collect()
}

/// Where a write lands.
fn object_namespace(rt: &ResourceType, namespace: &str) -> String {
    if rt.namespaced {
        namespace.to_string()
    } else {
        String::new()
    }
}

impl Shared {
    fn storage_api_version(&self, rt: &ResourceType) -> String {
        match &rt.origin {
            super::resources::Origin::Custom { storage_version, .. } => {
                format!("{}/{storage_version}", rt.group)
            }
            super::resources::Origin::BuiltIn => rt.api_version(),
        }
    }

    /// Shapes an object as the served version presents it (apiVersion of that version).
    pub(crate) fn present(&self, rt: &ResourceType, v: &Value) -> Value {
        let mut out = v.clone();
        if let Some(m) = out.as_object_mut() {
            m.insert("apiVersion".into(), json!(rt.api_version()));
            m.insert("kind".into(), json!(rt.kind));
        }
        out
    }

    /// Kind, apiVersion and Secret-specific checks shared by every write path.
    fn normalize_body(&self, rt: &ResourceType, body: &mut Value) -> Result<(), ApiError> {
        if let Some(m) = body.as_object_mut() {
            m.insert("apiVersion".into(), json!(self.storage_api_version(rt)));
            m.insert("kind".into(), json!(rt.kind));
        }
        if rt.defaulting == Defaulting::Secret {
            validation::check_secret_data(body).map_err(|e| {
                ApiError::bad_request(format!(
                    "Secret in version \"v1\" cannot be handled as a Secret: {e}"
                ))
            })?;
            defaults::fold_string_data(body);
        }
        Ok(())
    }

    fn check_namespace_accepts_writes(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        if !rt.namespaced {
            return Ok(());
        }
        let ns = self.store.get(&ResourceKey::new("", "namespaces"), "", namespace);
        match ns {
            None => Err(ApiError::not_found("", "namespaces", namespace)),
            Some(ns) if is_terminating(&ns.value) => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} \"{}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                    super::status::qualified(&rt.plural, &rt.group),
                    name,
                ),
                Some(Details {
                    kind: Some(rt.plural.clone()),
                    group: (!rt.group.is_empty()).then(|| rt.group.clone()),
                    causes: vec![Cause {
                        reason: "NamespaceTerminating".into(),
                        message: format!("namespace {namespace} is being terminated"),
                        field: "metadata.namespace".into(),
                    }],
                    ..Default::default()
                }),
            )),
            Some(_) => Ok(()),
        }
    }

    /// Unknown fields a decode pruned, reported per `fieldValidation`: `Warning`s (the default),
    /// nothing (`Ignore`) or kube-apiserver's strict-decoding 400 (`Strict`).
    fn schema_warnings(
        &self,
        rt: &ResourceType,
        outcome: fields_bridge::SchemaOutcome,
        validation_mode: FieldValidation,
    ) -> Result<Vec<String>, ApiError> {
        if outcome.pruned.is_empty() {
            return Ok(vec![]);
        }
        let fields: Vec<String> = outcome
            .pruned
            .iter()
            .map(|p| fields_bridge::unknown_field_warning(p))
            .collect();
        match validation_mode {
            FieldValidation::Ignore => Ok(vec![]),
            FieldValidation::Warn => Ok(fields),
            FieldValidation::Strict => Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                rt.kind,
                rt.version,
                rt.kind,
                fields.join(", ")
            ))),
        }
    }

    /// Creates an object (POST to a collection).
    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        fields_bridge::validate_write_options("CreateOptions", opts.field_manager.as_deref(), None, false)?;
        let manager = opts.manager();
        self.create_tracked(rt, namespace, body, opts, Tracking::Update(&manager), vec![])
    }

    /// Creates an object, its managed fields recorded per `tracking`; `warnings` are carried into
    /// the result.
    fn create_tracked(
        &self,
        rt: &ResourceType,
        namespace: &str,
        mut body: Value,
        opts: &WriteOptions,
        tracking: Tracking<'_>,
        mut warnings: Vec<String>,
    ) -> Result<WriteResult, ApiError> {
        self.normalize_body(rt, &mut body)?;
        let namespace = object_namespace(rt, namespace);
        let now_ts = self.now();
        let now = super::format_timestamp(now_ts);
        {
            let m = meta_mut(&mut body);
            if rt.namespaced {
                match m.get("namespace").and_then(Value::as_str) {
                    Some(ns) if !ns.is_empty() && ns != namespace => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ));
                    }
                    _ => {}
                }
                m.insert("namespace".into(), json!(namespace));
            } else {
                m.remove("namespace");
            }
            for k in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "selfLink",
            ] {
                m.remove(k);
            }
            let name = m.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            if name.is_empty()
                && let Some(prefix) = m
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
            {
                let prefix = prefix.to_string();
                let causes = validation::validate_name(&prefix, rt.name_rule, true);
                if !causes.is_empty() {
                    return Err(ApiError::invalid(
                        &rt.qualified_kind(),
                        &rt.group,
                        &rt.kind,
                        "",
                        causes,
                    ));
                }
                m.insert("name".into(), json!(format!("{prefix}{}", generate_suffix())));
            }
        }
        // Decoding a custom resource prunes unknown fields (warnings, or the strict 400) and
        // applies its schema's defaults, before any admission or validation.
        let schema = fields_bridge::process_custom_resource(rt, &mut body);
        warnings.extend(self.schema_warnings(rt, schema, opts.field_validation)?);
        let name = meta_str(&body, "name").unwrap_or("").to_string();
        self.check_namespace_accepts_writes(rt, &namespace, &name)?;
        if name.is_empty() {
            return Err(ApiError::invalid(
                &rt.qualified_kind(),
                &rt.group,
                &rt.kind,
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        }
        let causes = validation::validate_name(&name, rt.name_rule, false);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                &rt.qualified_kind(),
                &rt.group,
                &rt.kind,
                &name,
                causes,
            ));
        }
        // Built-in defaulting belongs to decoding too: the creator owns the defaulted fields.
        defaults::apply(rt.defaulting, &mut body);
        tidy_metadata(&mut body);
        if let Tracking::Update(manager) = tracking {
            body = fields_bridge::track_update(rt, None, body, manager, None, now_ts);
        }
        // PrepareForCreate: server-owned metadata, the status a kind starts with (re-defaulted,
        // since the creator may not set it) and what the kind's strategy adds; owned by nobody.
        {
            let m = meta_mut(&mut body);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now));
            if rt.generation {
                m.insert("generation".into(), json!(1));
            }
        }
        if rt.status_subresource {
            let obj = body.as_object_mut().expect("decoded objects are JSON objects");
            match defaults::initial_status(rt.defaulting) {
                Some(s) => {
                    obj.insert("status".into(), s);
                }
                None => {
                    obj.remove("status");
                }
            }
        }
        defaults::prepare_for_create(rt.defaulting, &mut body);
        defaults::apply(rt.defaulting, &mut body);
        tidy_metadata(&mut body);
        if rt.defaulting == Defaulting::Crd {
            self.validate_crd(&body, None)?;
        }
        fields_bridge::validate(rt, &body, None)?;
        let key = rt.key();
        let outcome = self.store.mutate(
            &key,
            &namespace,
            &name,
            opts.dry_run,
            |current, _| match current {
                Some(_) => Err(ApiError::already_exists(&rt.group, &rt.plural, &name)),
                None => Ok(Write::Create(body)),
            },
        )?;
        let object = outcome
            .object()
            .cloned()
            .ok_or_else(|| ApiError::internal("create stored nothing"))?;
        if rt.defaulting == Defaulting::Crd && !opts.dry_run {
            self.establish_crd(&name)?;
        }
        Ok(WriteResult {
            object,
            created: true,
            warnings,
        })
    }

    /// The decision for replacing `old` by `new` (main resource or a subresource), the write
    /// recorded in managed fields per `tracking`.
    #[allow(clippy::too_many_arguments)]
    fn decide_update(
        &self,
        rt: &ResourceType,
        old: &StoredObject,
        mut new: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
        tracking: Tracking<'_>,
        now: Timestamp,
        warnings: &mut Vec<String>,
    ) -> Result<Write, ApiError> {
        let name = meta_str(&old.value, "name").unwrap_or("").to_string();
        // A resourceVersion in the body is an optimistic-concurrency precondition.
        if let Some(rv) = meta_str(&new, "resourceVersion")
            && rv != old.rv.to_string()
        {
            return Err(ApiError::conflict_modified(&rt.group, &rt.plural, &name));
        }
        self.normalize_body(rt, &mut new)?;
        let schema = fields_bridge::process_custom_resource(rt, &mut new);
        warnings.extend(self.schema_warnings(rt, schema, opts.field_validation)?);
        // What this endpoint may not change keeps its stored value: `.status` on the main
        // resource, everything but `.status` (built-ins: spec and labels) on `/status`.
        fields_bridge::reset(rt, subresource, &old.value, &mut new);
        {
            let old_meta = meta(&old.value).cloned().unwrap_or_default();
            let m = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
                "name",
            ] {
                match old_meta.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            if !m.contains_key("managedFields")
                && let Some(mf) = old_meta.get("managedFields")
            {
                m.insert("managedFields".into(), mf.clone());
            }
            m.insert("resourceVersion".into(), json!(old.rv.to_string()));
        }
        defaults::apply(rt.defaulting, &mut new);
        tidy_metadata(&mut new);
        if rt.defaulting == Defaulting::Crd {
            self.validate_crd(&new, Some(&old.value))?;
        }
        if rt.generation && differs_outside_meta_and_status(&new, &old.value) {
            let g = meta(&old.value)
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if let Tracking::Update(manager) = tracking {
            new = fields_bridge::track_update(rt, Some(&old.value), new, manager, subresource, now);
        }
        defaults::prepare_for_update(rt.defaulting, &old.value, &mut new);
        tidy_metadata(&mut new);
        fields_bridge::validate(rt, &new, Some(&old.value))?;
        if !fields_bridge::changed(&old.value, &mut new) {
            return Ok(Write::Unchanged);
        }
        if is_terminating(&new) && finalizers(&new).is_empty() && rt.defaulting != Defaulting::Namespace {
            return Ok(Write::Delete(Some(new)));
        }
        Ok(Write::Update(new))
    }

    /// Replaces an object (PUT), or its status with `subresource = Some("status")`.
    pub fn update(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let namespace = object_namespace(rt, namespace);
        if let Some(body_name) = meta_str(&body, "name")
            && body_name != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced
            && let Some(ns) = meta_str(&body, "namespace")
            && ns != namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        fields_bridge::validate_write_options("UpdateOptions", opts.field_manager.as_deref(), None, false)?;
        let manager = opts.manager();
        let now = self.now();
        let mut warnings = vec![];
        let outcome = self.store.mutate(
            &rt.key(),
            &namespace,
            name,
            opts.dry_run,
            |current, _| match current {
                None => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
                Some(old) => self.decide_update(
                    rt,
                    old,
                    body,
                    subresource,
                    opts,
                    Tracking::Update(&manager),
                    now,
                    &mut warnings,
                ),
            },
        )?;
        self.after_write(rt, &outcome, opts.dry_run)?;
        let object = outcome
            .object()
            .cloned()
            .ok_or_else(|| ApiError::internal("update stored nothing"))?;
        Ok(WriteResult {
            object,
            created: false,
            warnings,
        })
    }

    /// Patches an object (or its status).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        body: &[u8],
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<WriteResult, ApiError> {
        let namespace = object_namespace(rt, namespace);
        let now = self.now();
        if patch_type == PatchType::Apply {
            return self.apply(rt, &namespace, name, body, subresource, opts, now);
        }
        fields_bridge::validate_write_options("PatchOptions", opts.field_manager.as_deref(), None, false)?;
        let manager = opts.manager();
        if patch_type == PatchType::Strategic && rt.is_custom() {
            return Err(ApiError::unsupported_media_type(&[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
            ]));
        }
        let patch: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
        let mut warnings = vec![];
        let outcome = self
            .store
            .mutate(&rt.key(), &namespace, name, opts.dry_run, |current, _| {
                let Some(old) = current else {
                    return Err(ApiError::not_found(&rt.group, &rt.plural, name));
                };
                let mut patched = old.value.clone();
                match patch_type {
                    PatchType::Json => {
                        apply_json_patch_request(&mut patched, &patch)?;
                    }
                    PatchType::Merge => json_patch::merge(&mut patched, &patch),
                    PatchType::Strategic => {
                        patched = fields_bridge::strategic_merge_patch(rt, &old.value, &patch)?
                    }
                    PatchType::Apply => unreachable!("handled above"),
                }
                if !patched.is_object() {
                    return Err(ApiError::bad_request("the patched object is not a JSON object"));
                }
                // A patch that does not touch resourceVersion must not trip the precondition.
                let patched_rv = meta_str(&patched, "resourceVersion").map(String::from);
                if patched_rv.is_none() {
                    meta_mut(&mut patched).insert("resourceVersion".into(), json!(old.rv.to_string()));
                }
                if meta_str(&patched, "name") != Some(name) {
                    return Err(ApiError::bad_request(format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        meta_str(&patched, "name").unwrap_or("")
                    )));
                }
                self.decide_update(
                    rt,
                    old,
                    patched,
                    subresource,
                    opts,
                    Tracking::Update(&manager),
                    now,
                    &mut warnings,
                )
            })?;
        self.after_write(rt, &outcome, opts.dry_run)?;
        let object = outcome
            .object()
            .cloned()
            .ok_or_else(|| ApiError::internal("patch stored nothing"))?;
        Ok(WriteResult {
            object,
            created: false,
            warnings,
        })
    }

    /// Server-side apply: creates the object when absent (not through a subresource), otherwise
    /// merges the applied configuration into it atomically; conflicts with other managers are a
    /// 409 unless `force`, and an apply that changes nothing stores nothing.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        body: &[u8],
        subresource: Option<&str>,
        opts: &WriteOptions,
        now: Timestamp,
    ) -> Result<WriteResult, ApiError> {
        fields_bridge::validate_write_options("PatchOptions", opts.field_manager.as_deref(), None, true)?;
        let manager = opts.field_manager.clone().unwrap_or_default();
        let prepared = fields_bridge::prepare_apply(rt, body, opts.field_validation)?;
        let mut applied = prepared.applied;
        match meta_str(&applied, "name") {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            Some(_) => {}
            None => {
                meta_mut(&mut applied).insert("name".into(), json!(name));
            }
        }
        if rt.namespaced
            && let Some(ns) = meta_str(&applied, "namespace")
            && ns != namespace
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        // NB: the live object is read outside the store's lock only to choose between create and
        // update; a create that loses a race to another create retries as an update, and an
        // update whose object vanished retries as a create.
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            if self.store.get(&rt.key(), namespace, name).is_none() {
                if subresource.is_some() {
                    return Err(ApiError::not_found(&rt.group, &rt.plural, name));
                }
                if fields_bridge::applied_resource_version(&applied).is_some() {
                    return Err(ApiError::conflict_modified(&rt.group, &rt.plural, name));
                }
                let created =
                    fields_bridge::server_side_apply(rt, None, &applied, &manager, opts.force, None, now)?;
                match self.create_tracked(
                    rt,
                    namespace,
                    created,
                    opts,
                    Tracking::Applied,
                    prepared.warnings.clone(),
                ) {
                    Err(e) if e.code == 409 && e.reason == "AlreadyExists" => continue,
                    other => return other,
                }
            }
            let mut warnings = prepared.warnings.clone();
            let mut vanished = false;
            let outcome = self
                .store
                .mutate(&rt.key(), namespace, name, opts.dry_run, |current, _| {
                    let Some(old) = current else {
                        vanished = true;
                        return Ok(Write::Unchanged);
                    };
                    if let Some(rv) = fields_bridge::applied_resource_version(&applied)
                        && rv != old.rv.to_string()
                    {
                        return Err(ApiError::conflict_modified(&rt.group, &rt.plural, name));
                    }
                    let mut merged = fields_bridge::server_side_apply(
                        rt,
                        Some(&old.value),
                        &applied,
                        &manager,
                        opts.force,
                        subresource,
                        now,
                    )?;
                    meta_mut(&mut merged).insert("resourceVersion".into(), json!(old.rv.to_string()));
                    self.decide_update(
                        rt,
                        old,
                        merged,
                        subresource,
                        opts,
                        Tracking::Applied,
                        now,
                        &mut warnings,
                    )
                })?;
            if vanished {
                continue;
            }
            self.after_write(rt, &outcome, opts.dry_run)?;
            let object = outcome
                .object()
                .cloned()
                .ok_or_else(|| ApiError::internal("apply stored nothing"))?;
            return Ok(WriteResult {
                object,
                created: false,
                warnings,
            });
        }
        Err(ApiError::conflict_modified(&rt.group, &rt.plural, name))
    }

    /// Deletes an object: immediately, or by marking it terminating while finalizers remain.
    pub fn delete(
        &self,
        rt: &ResourceType,
        namespace: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteResult, ApiError> {
        let namespace = object_namespace(rt, namespace);
        let now = self.now_string();
        let outcome = self.store.mutate(&rt.key(), &namespace, name, opts.dry_run, |current, _| {
            let Some(old) = current else {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            };
            if let Some(uid) = &opts.uid {
                let actual = old.uid().unwrap_or("");
                if uid != actual {
                    return Err(ApiError::conflict(
                        &rt.group,
                        &rt.plural,
                        name,
                        &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"),
                    ));
                }
            }
            if let Some(rv) = &opts.resource_version
                && *rv != old.rv.to_string() {
                    return Err(ApiError::conflict(
                        &rt.group,
                        &rt.plural,
                        name,
                        &format!(
                            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                            old.rv
                        ),
                    ));
                }
            let mut new = old.value.clone();
            let mut fins = finalizers(&new);
            let mut add = |f: &str| {
                if !fins.iter().any(|x| x == f) {
                    fins.push(f.to_string());
                }
            };
            match opts.propagation {
                Propagation::Foreground => add(FOREGROUND_FINALIZER),
                Propagation::Orphan => add(ORPHAN_FINALIZER),
                Propagation::Background => {}
            }
            if rt.defaulting == Defaulting::Crd {
                add(CRD_CLEANUP_FINALIZER);
            }
            let namespace_pending = rt.defaulting == Defaulting::Namespace
                && new.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
            if fins.is_empty() && !namespace_pending {
                return Ok(Write::Delete(None));
            }
            {
                let m = meta_mut(&mut new);
                if !fins.is_empty() {
                    m.insert("finalizers".into(), json!(fins));
                }
                if !m.contains_key("deletionTimestamp") {
                    m.insert("deletionTimestamp".into(), json!(now));
                    if rt.defaulting != Defaulting::Namespace && rt.defaulting != Defaulting::Crd {
                        m.insert("deletionGracePeriodSeconds".into(), json!(0));
                    }
                    if let Some(g) = m.get("generation").and_then(Value::as_i64)
                        && g > 0 && rt.is_custom() {
                            m.insert("generation".into(), json!(g + 1));
                        }
                }
            }
            match rt.defaulting {
                Defaulting::Namespace => {
                    if let Some(s) = new.get_mut("status").and_then(Value::as_object_mut) {
                        s.insert("phase".into(), json!("Terminating"));
                    }
                }
                Defaulting::Crd => set_condition(
                    &mut new,
                    "Terminating",
                    "True",
                    "InstanceDeletionPending",
                    "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
                    &now,
                ),
                _ => {}
            }
            if new == old.value { Ok(Write::Unchanged) } else { Ok(Write::Update(new)) }
        })?;
        self.after_write(rt, &outcome, opts.dry_run)?;
        match outcome {
            Outcome::Deleted(o) => Ok(DeleteResult::Gone(o)),
            Outcome::Updated(o) | Outcome::Created(o) | Outcome::Unchanged(Some(o)) => {
                Ok(DeleteResult::Pending(o))
            }
            Outcome::Unchanged(None) => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
        }
    }

    /// Follow-up of a committed write: CRD (re)registration.
    fn after_write(&self, rt: &ResourceType, outcome: &Outcome, dry_run: bool) -> Result<(), ApiError> {
        if dry_run {
            return Ok(());
        }
        if rt.defaulting == Defaulting::Crd {
            match outcome {
                Outcome::Updated(o) => self.register_crd(&o.value),
                Outcome::Deleted(o) => self.unregister_crd(&o.value),
                _ => {}
            }
        }
        Ok(())
    }

    /// One object, as the served version presents it.
    pub fn get(&self, rt: &ResourceType, namespace: &str, name: &str) -> Result<Arc<StoredObject>, ApiError> {
        let namespace = object_namespace(rt, namespace);
        self.store
            .get(&rt.key(), &namespace, name)
            .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
    }
}

/// Applies an RFC 6902 patch the way kube-apiserver (evanphx/json-patch) does. NB: there a `test`
/// for `null` succeeds on a missing path, which kube-runtime's finalizer helper relies on
/// (`test /metadata/finalizers == null` before adding the first finalizer).
pub fn apply_json_patch(doc: &mut Value, ops: &json_patch::Patch) -> Result<(), json_patch::PatchError> {
    for op in &ops.0 {
        if let json_patch::PatchOperation::Test(t) = op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none_or(Value::is_null)
        {
            continue;
        }
        json_patch::patch(doc, std::slice::from_ref(op))?;
    }
    Ok(())
}

/// Applies the body of a `application/json-patch+json` request to `doc`, answering as
/// kube-apiserver does: a body that is not a JSON patch is a 400, a patch that does not apply the
/// 422 `Invalid`.
pub fn apply_json_patch_request(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    apply_json_patch(doc, &ops).map_err(|_| {
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            Some(Details::default()),
        )
    })
}

/// Sets (or replaces by type) a condition in `status.conditions`, keeping `lastTransitionTime`
/// when the status does not change.
pub fn set_condition(object: &mut Value, type_: &str, status: &str, reason: &str, message: &str, now: &str) {
    let Some(obj) = object.as_object_mut() else { return };
    if !obj.get("status").is_some_and(Value::is_object) {
        obj.insert("status".into(), json!({}));
    }
    let st = obj
        .get_mut("status")
        .and_then(Value::as_object_mut)
        .expect("status is an object");
    if !st.get("conditions").is_some_and(Value::is_array) {
        st.insert("conditions".into(), json!([]));
    }
    let conds = st
        .get_mut("conditions")
        .and_then(Value::as_array_mut)
        .expect("conditions is an array");
    let existing = conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_));
    let transition = match &existing {
        Some(c) if c.get("status").and_then(Value::as_str) == Some(status) => {
            c.get("lastTransitionTime").cloned().unwrap_or(json!(now))
        }
        _ => json!(now),
    };
    let cond = json!({"type": type_, "status": status, "lastTransitionTime": transition, "reason": reason, "message": message});
    match existing {
        Some(c) => *c = cond,
        None => conds.push(cond),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_moves_only_on_changes_outside_metadata_and_status() {
        let a = json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"replicas": 1}, "status": {"r": 1}});
        let mut b = a.clone();
        b["metadata"]["labels"]["a"] = json!("2");
        b["status"]["r"] = json!(2);
        assert!(!differs_outside_meta_and_status(&a, &b));
        b["spec"]["replicas"] = json!(2);
        assert!(differs_outside_meta_and_status(&a, &b));
        let mut c = a.clone();
        c["data"] = json!({"k": "v"});
        assert!(
            differs_outside_meta_and_status(&a, &c),
            "an added top-level field"
        );
        assert!(
            differs_outside_meta_and_status(&c, &a),
            "a removed top-level field"
        );
        assert!(!differs_outside_meta_and_status(&json!(1), &json!(1)));
        assert!(differs_outside_meta_and_status(&json!(1), &json!({})));
    }
}
