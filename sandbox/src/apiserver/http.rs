//! The HTTP shell: one dispatcher for every request. It extracts the request attributes (the seam
//! where authentication and authorization plug in), routes to discovery, OpenAPI or a resource
//! verb, renders the answer, and records it in the access log.
//!
//! Invariant: no verb logic lives here; handlers only parse HTTP into calls to [`super::operations`]
//! and render their results or [`ApiError`]s as kube-apiserver does.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::auth::endpoints::Endpoint;
use super::operations::{
    DeleteOptions, DeleteResult, FieldValidation, PatchType, Propagation, WriteOptions, WriteResult,
    decode_request_object,
};
use super::request::{RequestAttributes, bearer_token};
use super::resources::ResourceType;
use super::selectors::{self, FieldSelector, LabelSelector};
use super::status::{ApiError, Details, success_status};
use super::store::StoredObject;
use super::{Shared, admin, auth, discovery, openapi, scale, table, watch};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

pub(crate) fn header_value_for_token(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"))
}

async fn dispatch(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    if admin::is_admin_path(req.uri().path()) {
        return admin::handle(shared, req).await;
    }
    let mut attrs = RequestAttributes::from_request(&req);
    let response = match authorize(&shared, &mut attrs, req.headers()).await {
        Ok(()) => match Endpoint::of(&attrs) {
            Some(endpoint) => endpoint.serve(&shared, &attrs, req).await,
            None => route(&shared, &attrs, req).await,
        }
        .unwrap_or_else(IntoResponse::into_response),
        Err(e) => e.into_response(),
    };
    shared.access_log.record(&attrs, response.status().as_u16());
    response
}

/// Authentication (401), impersonation, injected faults, then authorization (403); sets `attrs.user`.
async fn authorize(
    shared: &Shared,
    attrs: &mut RequestAttributes,
    headers: &http::HeaderMap,
) -> Result<(), ApiError> {
    auth::gate(shared, attrs, bearer_token(headers), headers).await
}

/// Parsed query string (last value wins).
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        Query(
            url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }
    pub(crate) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true") | Some("1"))
    }
}

/// What representation the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Representation {
    /// The object or list itself.
    Full,
    /// `as=Table`.
    Table,
    /// `as=PartialObjectMetadata(List)`.
    Metadata,
}

fn representation(req_accept: Option<&str>) -> Representation {
    let Some(accept) = req_accept else {
        return Representation::Full;
    };
    // The first acceptable alternative wins; kubectl lists Table first and plain JSON last.
    for alt in accept.split(',') {
        let alt = alt.trim();
        if alt.contains("as=Table") {
            return Representation::Table;
        }
        if alt.contains("as=PartialObjectMetadata") {
            return Representation::Metadata;
        }
        if alt.starts_with("application/json")
            || alt.starts_with("*/*")
            || alt.starts_with("application/yaml")
        {
            return Representation::Full;
        }
    }
    Representation::Full
}

pub(crate) fn json_response(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    bytes_response(code, serde_json::to_vec(body).unwrap_or_default(), warnings)
}

fn bytes_response(code: StatusCode, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut resp = (code, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

pub(crate) async fn read_body(shared: &Shared, body: Body) -> Result<bytes::Bytes, ApiError> {
    let limit = shared.options.max_body_bytes;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))
}

async fn route(shared: &Arc<Shared>, attrs: &RequestAttributes, req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path().to_string();
    if !attrs.resource_request {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Err(ApiError::method_not_allowed());
        }
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(String::from);
        return match discovery::handle(shared, &path, host.as_deref())
            .or_else(|| openapi::handle(shared, &path))
        {
            Some(v) => Ok(json_response(StatusCode::OK, &v, &[])),
            None => Err(ApiError::no_such_resource()),
        };
    }
    let rt = shared
        .registry()
        .get(&attrs.api_group, &attrs.api_version, &attrs.resource)
        .ok_or_else(ApiError::no_such_resource)?;
    let subresource = match attrs.subresource.as_str() {
        "" => None,
        "status" if rt.status_subresource => Some("status"),
        "scale" if rt.scale_subresource => Some("scale"),
        _ => return Err(ApiError::no_such_resource()),
    };
    if !rt.namespaced && !attrs.namespace.is_empty() && rt.plural != "namespaces" {
        return Err(ApiError::no_such_resource());
    }
    // NB: a list or watch pinned by a name field selector carries that name but is no object path.
    let names_object = !matches!(attrs.verb.as_str(), "list" | "watch");
    if rt.namespaced && attrs.namespace.is_empty() && !attrs.name.is_empty() && names_object {
        return Err(ApiError::no_such_resource());
    }
    let query = Query::parse(req.uri().query());
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let repr = representation(accept.as_deref());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let shutdown = req.extensions().get::<watch::ServeShutdown>().cloned();
    let ns = attrs.namespace.as_str();
    let name = attrs.name.as_str();
    let write_opts = || WriteOptions {
        dry_run: query.get("dryRun") == Some("All"),
        field_manager: query.get("fieldManager").map(String::from),
        field_validation: match query.get("fieldValidation") {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        },
        force: query.flag("force"),
        user_agent: user_agent.clone(),
    };
    if subresource == Some("scale") {
        let body = read_body(shared, req.into_body()).await?;
        let patch_type = PatchType::from_content_type(&content_type);
        let scale = scale::handle(
            shared,
            &rt,
            ns,
            name,
            &attrs.verb,
            patch_type,
            &body,
            &write_opts(),
        )?;
        return Ok(json_response(StatusCode::OK, &scale, &[]));
    }
    match attrs.verb.as_str() {
        "get" => {
            let obj = shared.get(&rt, ns, name)?;
            Ok(render_one(shared, &rt, &obj, repr))
        }
        "list" => list(shared, &rt, ns, &query, repr),
        "watch" => watch::handle(shared.clone(), rt, attrs, &query, repr, shutdown),
        "create" => {
            if !name.is_empty() || (rt.namespaced && ns.is_empty()) {
                return Err(ApiError::method_not_allowed());
            }
            let body = read_body(shared, req.into_body()).await?;
            let obj = decode_request_object(&rt, &body, &content_type)?;
            let r = shared.create(&rt, ns, obj, &write_opts())?;
            Ok(render_write(shared, &rt, r))
        }
        "update" => {
            let body = read_body(shared, req.into_body()).await?;
            let obj = decode_request_object(&rt, &body, &content_type)?;
            let r = shared.update(&rt, ns, name, obj, subresource, &write_opts())?;
            Ok(render_write(shared, &rt, r))
        }
        "patch" => {
            let patch_type = PatchType::from_content_type(&content_type).ok_or_else(|| {
                ApiError::unsupported_media_type(&[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                    "application/strategic-merge-patch+json",
                ])
            })?;
            let body = read_body(shared, req.into_body()).await?;
            let r = shared.patch(&rt, ns, name, patch_type, &body, subresource, &write_opts())?;
            Ok(render_write(shared, &rt, r))
        }
        "delete" => {
            let body = read_body(shared, req.into_body()).await?;
            let opts = delete_options(&query, &body)?;
            match shared.delete(&rt, ns, name, &opts)? {
                DeleteResult::Pending(o) => {
                    Ok(json_response(StatusCode::OK, &shared.present(&rt, &o.value), &[]))
                }
                DeleteResult::Gone(o) => {
                    let mut d = Details::named(name, &rt.group, &rt.plural);
                    d.uid = o.uid().map(String::from);
                    Ok(json_response(StatusCode::OK, &success_status(d), &[]))
                }
            }
        }
        "deletecollection" => {
            let body = read_body(shared, req.into_body()).await?;
            let opts = delete_options(&query, &body)?;
            delete_collection(shared, &rt, ns, &query, &opts)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let policy = query.get("propagationPolicy").map(String::from).or_else(|| {
        parsed
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .map(String::from)
    });
    let orphan = query
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| parsed.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Background"), _) | (None, _) => Propagation::Background,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
            )));
        }
    };
    let dry_run = query.get("dryRun") == Some("All")
        || parsed
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        uid: parsed
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        resource_version: parsed
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
        dry_run,
    })
}

fn render_write(shared: &Shared, rt: &ResourceType, r: WriteResult) -> Response {
    let code = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(code, &shared.present(rt, &r.object.value), &r.warnings)
}

fn partial_metadata(v: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": v.get("metadata").cloned().unwrap_or(json!({}))})
}

fn render_one(shared: &Shared, rt: &ResourceType, obj: &StoredObject, repr: Representation) -> Response {
    match repr {
        Representation::Full => json_response(StatusCode::OK, &shared.present(rt, &obj.value), &[]),
        Representation::Metadata => json_response(StatusCode::OK, &partial_metadata(&obj.value), &[]),
        Representation::Table => {
            let t = table::render(
                shared,
                rt,
                std::slice::from_ref(&obj.value),
                json!({"resourceVersion": obj.rv.to_string()}),
                "Metadata",
            );
            json_response(StatusCode::OK, &t, &[])
        }
    }
}

/// The selectors of a list or watch request (400 with kube-apiserver's messages when malformed).
pub(crate) fn parse_selectors(
    rt: &ResourceType,
    query: &Query,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = selectors::parse_label_selector(query.get("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields =
        selectors::parse_field_selector(query.get("fieldSelector").unwrap_or(""), |l| rt.field_path(l))
            .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

fn encode_continue(rv: u64, start: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start});
    base64::engine::general_purpose::STANDARD.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(token))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_string();
    Ok((rv, start))
}

/// The continue-token start key of an object: `/<name>\0` inside a namespace, `/<ns>/<name>\0`
/// across namespaces, as etcd keys relative to the listed prefix.
fn start_key(in_namespace: bool, ns: &str, name: &str) -> String {
    if in_namespace || ns.is_empty() {
        format!("/{name}\u{0}")
    } else {
        format!("/{ns}/{name}\u{0}")
    }
}

fn parse_start_key(in_namespace: bool, ns: &str, start: &str) -> (String, String) {
    let s = start.trim_start_matches('/').trim_end_matches('\u{0}');
    if in_namespace {
        (ns.to_string(), s.to_string())
    } else {
        match s.split_once('/') {
            Some((n, name)) => (n.to_string(), name.to_string()),
            None => (String::new(), s.to_string()),
        }
    }
}

/// Checks `resourceVersion`/`resourceVersionMatch` of a list against what the store can serve.
fn check_list_rv(shared: &Shared, rt: &ResourceType, query: &Query) -> Result<(), ApiError> {
    let Some(rv) = query.get("resourceVersion") else {
        if query.get("resourceVersionMatch").is_some() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        return Ok(());
    };
    let rv: u64 = rv
        .parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
    let current = shared.store.current_rv();
    match query.get("resourceVersionMatch") {
        Some("Exact") if rv != current => {
            if rv > current {
                Err(too_large(rv, current))
            } else {
                Err(ApiError::expired(
                    rv,
                    shared.store.oldest_resumable(&rt.key()).max(current),
                ))
            }
        }
        Some("NotOlderThan") | None if rv > current => Err(too_large(rv, current)),
        Some("Exact") | Some("NotOlderThan") | None => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch: Unsupported value: \"{other}\": supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}

fn too_large(rv: u64, current: u64) -> ApiError {
    ApiError::new(
        504,
        "Timeout",
        format!("Timeout: Too large resource version: {rv}, current: {current}"),
        Some(Details {
            causes: vec![super::status::Cause {
                reason: "ResourceVersionTooLarge".into(),
                message: "Too large resource version".into(),
                field: String::new(),
            }],
            retry_after_seconds: Some(1),
            ..Default::default()
        }),
    )
}

fn list(
    shared: &Shared,
    rt: &ResourceType,
    ns: &str,
    query: &Query,
    repr: Representation,
) -> Result<Response, ApiError> {
    let (labels, fields) = parse_selectors(rt, query)?;
    check_list_rv(shared, rt, query)?;
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let in_namespace = !ns.is_empty();
    let namespace = in_namespace.then_some(ns);
    let (token_rv, after) = match query.get("continue") {
        Some(token) => {
            let (rv, start) = decode_continue(token)?;
            let after = parse_start_key(in_namespace, ns, &start);
            if rv < shared.store.oldest_resumable(&rt.key()) {
                // The snapshot the token continues is gone; offer an inconsistent continuation.
                let mut e = ApiError::new(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    None,
                );
                e.continue_token = Some(encode_continue(shared.store.current_rv(), &start));
                return Err(e);
            }
            (Some(rv), Some(after))
        }
        None => (None, None),
    };
    let filter = |v: &Value| labels.matches(v) && fields.matches(v);
    let page = match (fields.pinned_name(), namespace.or((!rt.namespaced).then_some(""))) {
        // A field selector on the name with a known namespace is a direct lookup.
        (Some(name), Some(ns)) if after.is_none() => {
            let items = shared
                .store
                .get(&rt.key(), ns, name)
                .filter(|o| filter(&o.value))
                .into_iter()
                .collect();
            super::store::ListPage {
                items,
                rv: shared.store.current_rv(),
                next: None,
                remaining: 0,
            }
        }
        _ => shared
            .store
            .list(&rt.key(), namespace, after.as_ref(), limit, filter),
    };
    let list_rv = token_rv.unwrap_or(page.rv);
    let mut list_meta = serde_json::Map::new();
    list_meta.insert("resourceVersion".into(), json!(list_rv.to_string()));
    if let Some((next_ns, next_name)) = &page.next {
        list_meta.insert(
            "continue".into(),
            json!(encode_continue(
                list_rv,
                &start_key(in_namespace, next_ns, next_name)
            )),
        );
        if labels.is_empty() && fields.is_empty() {
            list_meta.insert("remainingItemCount".into(), json!(page.remaining));
        }
    }
    let list_meta = Value::Object(list_meta);
    match repr {
        Representation::Table => {
            let values: Vec<Value> = page.items.iter().map(|o| o.value.clone()).collect();
            let include = query.get("includeObject").unwrap_or("Metadata");
            Ok(json_response(
                StatusCode::OK,
                &table::render(shared, rt, &values, list_meta, include),
                &[],
            ))
        }
        Representation::Metadata => {
            let items: Vec<Value> = page.items.iter().map(|o| partial_metadata(&o.value)).collect();
            let body = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "items": items});
            Ok(json_response(StatusCode::OK, &body, &[]))
        }
        Representation::Full => Ok(bytes_response(
            StatusCode::OK,
            serialize_list(shared, rt, &list_meta, &page.items),
            &[],
        )),
    }
}

/// Serialises a list straight from the stored objects, without building a JSON tree of the list.
/// Built-in kinds' items omit `kind`/`apiVersion`, as kube-apiserver's typed lists do.
fn serialize_list(
    shared: &Shared,
    rt: &ResourceType,
    list_meta: &Value,
    items: &[Arc<StoredObject>],
) -> Vec<u8> {
    let _ = shared;
    let mut out = Vec::with_capacity(64 + items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    let _ = serde_json::to_writer(&mut out, &rt.list_kind);
    out.extend_from_slice(b",\"apiVersion\":");
    let _ = serde_json::to_writer(&mut out, &rt.api_version());
    out.extend_from_slice(b",\"metadata\":");
    let _ = serde_json::to_writer(&mut out, list_meta);
    out.extend_from_slice(b",\"items\":[");
    let api_version = Value::String(rt.api_version());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        let mut first = true;
        let Some(map) = item.value.as_object() else {
            continue;
        };
        for (k, v) in map {
            let v = match k.as_str() {
                "kind" | "apiVersion" if !rt.is_custom() => continue,
                "apiVersion" => &api_version,
                _ => v,
            };
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut out, k);
            out.push(b':');
            let _ = serde_json::to_writer(&mut out, v);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

fn delete_collection(
    shared: &Shared,
    rt: &ResourceType,
    ns: &str,
    query: &Query,
    opts: &DeleteOptions,
) -> Result<Response, ApiError> {
    let (labels, fields) = parse_selectors(rt, query)?;
    let namespace = (!ns.is_empty()).then_some(ns);
    let page = shared.store.list(&rt.key(), namespace, None, None, |v| {
        labels.matches(v) && fields.matches(v)
    });
    let mut deleted = vec![];
    for item in &page.items {
        let (ins, iname) = super::store::key_of(&item.value);
        match shared.delete(rt, &ins, &iname, opts) {
            Ok(DeleteResult::Gone(o)) | Ok(DeleteResult::Pending(o)) => deleted.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list_meta = json!({"resourceVersion": shared.store.current_rv().to_string()});
    Ok(bytes_response(
        StatusCode::OK,
        serialize_list(shared, rt, &list_meta, &deleted),
        &[],
    ))
}
