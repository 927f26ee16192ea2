//! Request attributes: the one place that turns an HTTP request into what authentication,
//! authorization and auditing care about (user, verb, API group, resource, subresource,
//! namespace, name), following kube-apiserver's `RequestInfo` rules, plus the access log.
//!
//! Invariant: every request the server answers is described by exactly one [`RequestAttributes`]
//! and recorded once in the [`AccessLog`] with the status code it got.

use std::sync::Mutex;

use http::{Method, Request};

/// The well-known bearer token of the sandbox's administrator.
pub const ADMIN_TOKEN: &str = "sandbox-admin-token";
/// The user name the admin token authenticates as.
pub const ADMIN_USER: &str = "kubernetes-admin";

/// Who is asking: what an authenticator decided (kube-apiserver's `user.Info`).
///
/// NB: holds no credential; the bearer token is read from the request by [`bearer_token`] and
/// never stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name (`system:anonymous` without credentials, "" when authentication failed).
    pub name: String,
    /// UID (service accounts: the ServiceAccount's uid), or "".
    pub uid: String,
    /// Groups.
    pub groups: Vec<String>,
    /// Extra attributes (service-account tokens: `authentication.kubernetes.io/credential-id`).
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// A user with groups (no uid, no extra).
    pub fn new(name: &str, groups: &[&str]) -> Self {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    /// `system:anonymous` in `system:unauthenticated`: a request without credentials.
    pub fn anonymous() -> Self {
        Self::new("system:anonymous", &["system:unauthenticated"])
    }

    /// The administrator the [`ADMIN_TOKEN`] authenticates as.
    pub fn admin() -> Self {
        Self::new(ADMIN_USER, &["system:masters", "system:authenticated"])
    }
}

/// The bearer token of a request's `Authorization` header, as kube-apiserver's bearer-token
/// authenticator reads it: `Some("")` for a `Bearer` header without a token (refused with 401),
/// `None` when there is no bearer header (anonymous).
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let mut parts = value.trim().splitn(2, ' ');
    let scheme = parts.next()?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(parts.next().unwrap_or("").trim())
}

/// What a request asks for, in authorization terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAttributes {
    /// The user: anonymous as parsed; set by authentication before authorization.
    pub user: UserInfo,
    /// Whether the path names a resource (vs `/version`, `/apis`, `/openapi/...`).
    pub resource_request: bool,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection; for
    /// non-resource requests the lowercase HTTP method.
    pub verb: String,
    /// API group ("" for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource (`status`), or "".
    pub subresource: String,
    /// Namespace, or "".
    pub namespace: String,
    /// Object name, or "".
    pub name: String,
    /// Request path.
    pub path: String,
}

/// The name a field selector requires exactly (`metadata.name=<n>` or `==`), if it is a valid
/// path segment.
fn field_selector_name(query: &str) -> Option<String> {
    let selector = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "fieldSelector")
        .map(|(_, v)| v.into_owned())?;
    selector.split(',').find_map(|term| {
        let (field, value) = term
            .split_once("==")
            .or_else(|| term.split_once('=').filter(|(f, _)| !f.ends_with('!')))?;
        let value = value.trim();
        (field.trim() == "metadata.name"
            && !value.is_empty()
            && value != "."
            && value != ".."
            && !value.contains(['/', '%']))
        .then(|| value.to_string())
    })
}

fn query_flag(query: &str, key: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == key && (v == "true" || v == "1"))
}

impl RequestAttributes {
    /// Parses a request the way kube-apiserver's `RequestInfoFactory` does.
    pub fn from_request<B>(req: &Request<B>) -> Self {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("");
        let mut attrs = RequestAttributes {
            user: UserInfo::anonymous(),
            resource_request: false,
            verb: req.method().as_str().to_lowercase(),
            api_group: String::new(),
            api_version: String::new(),
            resource: String::new(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
            path: path.clone(),
        };
        let parts: Vec<&str> = path
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        let rest: &[&str] = match parts.as_slice() {
            ["api", version, rest @ ..] => {
                attrs.api_version = version.to_string();
                rest
            }
            ["apis", group, version, rest @ ..] => {
                attrs.api_group = group.to_string();
                attrs.api_version = version.to_string();
                rest
            }
            _ => return attrs,
        };
        if rest.is_empty() {
            return attrs;
        }
        attrs.resource_request = true;
        let mut rest = rest.to_vec();
        let mut is_watch_path = false;
        if rest.first() == Some(&"watch") {
            is_watch_path = true;
            rest.remove(0);
        }
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            attrs.namespace = rest[1].to_string();
            if rest.len() > 2 && !["status", "finalize"].contains(&rest[2]) {
                rest.drain(..2);
            }
        }
        attrs.resource = rest.first().map(|s| s.to_string()).unwrap_or_default();
        attrs.name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
        attrs.subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
        if attrs.resource == "namespaces" && rest.len() >= 2 {
            // `/api/v1/namespaces/<name>[/status]` names the namespace itself.
            attrs.namespace = String::new();
        }
        let has_name = !attrs.name.is_empty();
        attrs.verb = match *req.method() {
            // NB: as in RequestInfo, `watch=true` only makes a collection GET a watch; a GET that
            // names an object stays `get`.
            Method::GET | Method::HEAD if has_name => "get",
            Method::GET | Method::HEAD if query_flag(query, "watch") => "watch",
            Method::GET | Method::HEAD => "list",
            Method::POST => "create",
            Method::PUT => "update",
            Method::PATCH => "patch",
            Method::DELETE if has_name => "delete",
            Method::DELETE => "deletecollection",
            _ => "unknown",
        }
        .to_string();
        if !has_name && (attrs.verb == "list" || attrs.verb == "watch" || is_watch_path) {
            // A list or watch pinned to one name by `fieldSelector=metadata.name=<n>` is authorized
            // as a request for that name (so `resourceNames` rules apply), as kube-apiserver does.
            attrs.name = field_selector_name(query).unwrap_or_default();
        }
        if is_watch_path {
            attrs.verb = "watch".into();
        }
        attrs
    }
}

/// One served request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// Verb.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// User name.
    pub user: String,
    /// HTTP status code returned.
    pub code: u16,
    /// Whether it was a resource request (false for discovery/openapi/version).
    pub resource_request: bool,
}

/// The per-request access log, bounded (oldest records dropped first).
#[derive(Debug)]
pub struct AccessLog {
    records: Mutex<std::collections::VecDeque<AccessRecord>>,
    capacity: usize,
}

impl AccessLog {
    /// An empty log keeping at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        AccessLog {
            records: Mutex::new(Default::default()),
            capacity,
        }
    }

    /// Records a served request.
    pub fn record(&self, attrs: &RequestAttributes, code: u16) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() >= self.capacity {
            records.pop_front();
        }
        records.push_back(AccessRecord {
            verb: attrs.verb.clone(),
            group: attrs.api_group.clone(),
            resource: attrs.resource.clone(),
            subresource: attrs.subresource.clone(),
            namespace: attrs.namespace.clone(),
            name: attrs.name.clone(),
            user: attrs.user.name.clone(),
            code,
            resource_request: attrs.resource_request,
        });
    }

    /// A copy of the records, oldest first.
    pub fn snapshot(&self) -> Vec<AccessRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Forgets all records.
    pub fn clear(&self) {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: Method, uri: &str) -> RequestAttributes {
        RequestAttributes::from_request(&Request::builder().method(method).uri(uri).body(()).unwrap())
    }

    #[test]
    fn resource_paths_parse_like_request_info() {
        let a = attrs(Method::GET, "/api/v1/namespaces/ns/secrets/s1");
        assert_eq!(
            (
                a.verb.as_str(),
                a.resource.as_str(),
                a.namespace.as_str(),
                a.name.as_str()
            ),
            ("get", "secrets", "ns", "s1")
        );
        let a = attrs(Method::GET, "/apis/apps/v1/namespaces/ns/deployments?watch=true");
        assert_eq!((a.verb.as_str(), a.api_group.as_str()), ("watch", "apps"));
        let a = attrs(Method::PATCH, "/apis/g/v1/namespaces/ns/widgets/w/status");
        assert_eq!((a.verb.as_str(), a.subresource.as_str()), ("patch", "status"));
        let a = attrs(Method::GET, "/api/v1/namespaces/ns");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "ns", "")
        );
        let a = attrs(Method::PUT, "/api/v1/namespaces/ns/status");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.subresource.as_str()),
            ("namespaces", "ns", "status")
        );
        let a = attrs(Method::GET, "/api/v1/watch/namespaces/ns/secrets");
        assert_eq!((a.verb.as_str(), a.resource.as_str()), ("watch", "secrets"));
        let a = attrs(Method::DELETE, "/api/v1/namespaces/ns/secrets");
        assert_eq!(a.verb, "deletecollection");
        let a = attrs(Method::GET, "/api/v1/secrets");
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("list", ""));
        assert!(!attrs(Method::GET, "/apis/apps/v1").resource_request);
    }
}
