//! Watch streams: chunked newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`) for `?watch=true` and the legacy `/watch/` paths.
//!
//! Invariants: a watch resumes exactly after the requested resourceVersion (or gets one `ERROR`
//! 410 `Expired` event when that version has left the history window); with selectors, an object
//! that starts matching is reported `ADDED` and one that stops matching `DELETED` (its previous
//! state at the new resourceVersion), as the watch cache does; a stream only ends at its timeout,
//! on server shutdown, when its resource goes away, or when the watcher falls so far behind that
//! its buffer overflows (then with 410).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::Shared;
use super::http::{Query, Representation, parse_selectors};
use super::request::RequestAttributes;
use super::resources::ResourceType;
use super::selectors::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Change, ChangeKind, StoredObject};
use super::table;

/// Signals a listener's shutdown to the watches it serves.
#[derive(Clone, Debug)]
pub struct ServeShutdown(pub tokio::sync::watch::Receiver<bool>);

struct Filter {
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, v: &Value) -> bool {
        self.labels.matches(v) && self.fields.matches(v)
    }

    fn in_scope(&self, ns: &str) -> bool {
        self.namespace.as_deref().is_none_or(|want| want == ns)
    }

    /// The event a change produces for this watcher, if any.
    fn event(&self, change: &Change) -> Option<(&'static str, Value)> {
        if !self.in_scope(&change.namespace) {
            return None;
        }
        let cur = &change.object.value;
        let now = self.matches(cur);
        match change.kind {
            ChangeKind::Added => now.then(|| ("ADDED", cur.clone())),
            ChangeKind::Deleted => now.then(|| ("DELETED", cur.clone())),
            ChangeKind::Modified => {
                let before = change.previous.as_ref().map(|p| self.matches(&p.value));
                match (now, before) {
                    (true, Some(true)) => Some(("MODIFIED", cur.clone())),
                    (true, _) => Some(("ADDED", cur.clone())),
                    (false, Some(true)) => {
                        let mut old = change
                            .previous
                            .as_ref()
                            .map(|p| p.value.clone())
                            .unwrap_or_default();
                        if let Some(m) = old.get_mut("metadata").and_then(Value::as_object_mut) {
                            m.insert("resourceVersion".into(), json!(change.rv.to_string()));
                        }
                        Some(("DELETED", old))
                    }
                    (false, _) => None,
                }
            }
        }
    }
}

struct Renderer {
    shared: Arc<Shared>,
    rt: Arc<ResourceType>,
    repr: Representation,
}

impl Renderer {
    fn line(&self, type_: &str, object: &Value) -> Bytes {
        let object = match self.repr {
            Representation::Full => self.shared.present(&self.rt, object),
            Representation::Metadata => {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": object.get("metadata").cloned().unwrap_or(json!({}))})
            }
            Representation::Table => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(json!(""));
                table::render(
                    &self.shared,
                    &self.rt,
                    std::slice::from_ref(object),
                    json!({"resourceVersion": rv}),
                    "Metadata",
                )
            }
        };
        let mut out = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = match self.repr {
            Representation::Full => (self.rt.kind.clone(), self.rt.api_version()),
            _ => ("PartialObjectMetadata".to_string(), "meta.k8s.io/v1".to_string()),
        };
        let mut out = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": metadata}}))
            .unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

fn error_line(e: &ApiError) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": "ERROR", "object": e.to_status()})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

/// Starts a watch response.
pub(crate) fn handle(
    shared: Arc<Shared>,
    rt: Arc<ResourceType>,
    attrs: &RequestAttributes,
    query: &Query,
    repr: Representation,
    shutdown: Option<ServeShutdown>,
) -> Result<Response, ApiError> {
    let (labels, fields) = parse_selectors(&rt, query)?;
    let filter = Filter {
        namespace: (!attrs.namespace.is_empty()).then(|| attrs.namespace.clone()),
        labels,
        fields,
    };
    let send_initial = query.flag("sendInitialEvents");
    if send_initial && query.get("resourceVersionMatch") != Some("NotOlderThan") {
        return Err(ApiError::new(
            422,
            "Invalid",
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            None,
        ));
    }
    let since = match query.get("resourceVersion") {
        _ if send_initial => None,
        None | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let bookmarks = query.flag("allowWatchBookmarks");
    let timeout = match query.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()) {
        Some(t) => Duration::from_secs(t),
        None => {
            let (min, max) = shared.options.watch_timeout;
            let span = max.saturating_sub(min).as_millis() as u64;
            min + Duration::from_millis(if span == 0 {
                0
            } else {
                rand::rng().random_range(0..=span)
            })
        }
    };
    let renderer = Renderer {
        shared: shared.clone(),
        rt: rt.clone(),
        repr,
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let start = shared.store.watch(&rt.key(), since);
    let epoch = shared.watch_epoch.subscribe();
    let bookmark_interval = shared.options.bookmark_interval;
    tokio::spawn(async move {
        let start = match start {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Ok(error_line(&e))).await;
                return;
            }
        };
        let mut last_rv = start.rv;
        for obj in &start.snapshot {
            if filter.in_scope(obj_ns(obj))
                && filter.matches(&obj.value)
                && tx.send(Ok(renderer.line("ADDED", &obj.value))).await.is_err()
            {
                return;
            }
        }
        for change in &start.replay {
            if let Some((t, v)) = filter.event(change)
                && tx.send(Ok(renderer.line(t, &v))).await.is_err()
            {
                return;
            }
        }
        if send_initial && tx.send(Ok(renderer.bookmark(start.rv, true))).await.is_err() {
            return;
        }
        run(
            renderer,
            filter,
            start.receiver,
            tx,
            timeout,
            bookmarks.then_some(bookmark_interval),
            epoch,
            shutdown,
            &mut last_rv,
        )
        .await;
    });
    let mut resp = Response::new(Body::from_stream(ReceiverStream::new(rx)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

fn obj_ns(o: &StoredObject) -> &str {
    o.value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

#[allow(clippy::too_many_arguments)]
async fn run(
    renderer: Renderer,
    filter: Filter,
    mut receiver: broadcast::Receiver<Arc<Change>>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    timeout: Duration,
    bookmarks: Option<Duration>,
    mut epoch: tokio::sync::watch::Receiver<u64>,
    shutdown: Option<ServeShutdown>,
    last_rv: &mut u64,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut shutdown = shutdown.map(|s| s.0);
    let mut tick = tokio::time::interval(bookmarks.unwrap_or(Duration::from_secs(3600)));
    tick.tick().await;
    loop {
        let stopping = async {
            match shutdown.as_mut() {
                Some(s) => {
                    let _ = s.wait_for(|v| *v).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = epoch.changed() => return,
            _ = stopping => return,
            _ = tick.tick(), if bookmarks.is_some() => {
                // Every change up to the store's current version is already in our receiver: drain
                // it, then the bookmark can claim that version.
                let current = renderer.shared.store.current_rv();
                loop {
                    match receiver.try_recv() {
                        Ok(change) => {
                            if !deliver(&renderer, &filter, &tx, &change, last_rv).await {
                                return;
                            }
                        }
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(broadcast::error::TryRecvError::Lagged(_)) => {
                            lagged(&renderer, &tx, *last_rv).await;
                            return;
                        }
                        Err(broadcast::error::TryRecvError::Closed) => return,
                    }
                }
                *last_rv = (*last_rv).max(current);
                if tx.send(Ok(renderer.bookmark(*last_rv, false))).await.is_err() {
                    return;
                }
            }
            r = receiver.recv() => match r {
                Ok(change) => {
                    if !deliver(&renderer, &filter, &tx, &change, last_rv).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    lagged(&renderer, &tx, *last_rv).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

async fn deliver(
    renderer: &Renderer,
    filter: &Filter,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    change: &Change,
    last_rv: &mut u64,
) -> bool {
    *last_rv = (*last_rv).max(change.rv);
    match filter.event(change) {
        Some((t, v)) => tx.send(Ok(renderer.line(t, &v))).await.is_ok(),
        None => true,
    }
}

async fn lagged(renderer: &Renderer, tx: &mpsc::Sender<Result<Bytes, std::io::Error>>, last_rv: u64) {
    let oldest = renderer.shared.store.current_rv();
    let _ = tx.send(Ok(error_line(&ApiError::expired(last_rv, oldest)))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::ResourceKey;
    use crate::apiserver::selectors::parse_label_selector;

    fn stored(rv: u64, group: &str) -> Arc<StoredObject> {
        Arc::new(StoredObject {
            rv,
            value: json!({"metadata": {"name": "o", "namespace": "ns", "resourceVersion": rv.to_string(), "labels": {"group": group}}}),
        })
    }

    fn change(kind: ChangeKind, rv: u64, now: &str, before: Option<&str>) -> Change {
        Change {
            rv,
            kind,
            key: ResourceKey::new("", "secrets"),
            namespace: "ns".into(),
            name: "o".into(),
            object: stored(rv, now),
            previous: before.map(|b| stored(rv - 1, b)),
        }
    }

    #[test]
    fn selector_transitions_become_added_and_deleted() {
        let f = Filter {
            namespace: Some("ns".into()),
            labels: parse_label_selector("group=a").unwrap(),
            fields: Default::default(),
        };
        let kind = |c: &Change| {
            f.event(c).map(|(t, v)| {
                (
                    t,
                    v["metadata"]["labels"]["group"].as_str().unwrap().to_string(),
                    v["metadata"]["resourceVersion"].clone(),
                )
            })
        };
        assert_eq!(
            kind(&change(ChangeKind::Added, 5, "a", None)),
            Some(("ADDED", "a".into(), json!("5")))
        );
        assert_eq!(kind(&change(ChangeKind::Added, 5, "b", None)), None);
        assert_eq!(
            kind(&change(ChangeKind::Modified, 6, "a", Some("a"))),
            Some(("MODIFIED", "a".into(), json!("6")))
        );
        assert_eq!(
            kind(&change(ChangeKind::Modified, 6, "a", Some("b"))),
            Some(("ADDED", "a".into(), json!("6")))
        );
        // Leaving the selector: the previous state, at the new resourceVersion.
        assert_eq!(
            kind(&change(ChangeKind::Modified, 7, "b", Some("a"))),
            Some(("DELETED", "a".into(), json!("7")))
        );
        assert_eq!(kind(&change(ChangeKind::Modified, 7, "b", Some("c"))), None);
        assert_eq!(
            kind(&change(ChangeKind::Deleted, 8, "a", Some("a"))),
            Some(("DELETED", "a".into(), json!("8")))
        );
        let other_ns = Filter {
            namespace: Some("other".into()),
            labels: Default::default(),
            fields: Default::default(),
        };
        assert!(other_ns.event(&change(ChangeKind::Added, 5, "a", None)).is_none());
    }
}
