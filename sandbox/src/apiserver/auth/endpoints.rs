//! The HTTP endpoints of authentication and authorization that are not stored resources:
//!
//! | Method + path | What |
//! |---|---|
//! | `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` | TokenRequest (`authentication.k8s.io/v1`) |
//! | `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews` | may I? (`kubectl auth can-i`) |
//! | `POST /apis/authorization.k8s.io/v1/selfsubjectrulesreviews` | what may I do in a namespace? (`kubectl auth can-i --list`) |
//! | `POST /apis/authorization.k8s.io/v1/subjectaccessreviews` | may they? |
//! | `POST /apis/authentication.k8s.io/v1/selfsubjectreviews` | who am I? (`kubectl auth whoami`) |
//! | `POST /apis/authentication.k8s.io/v1/tokenreviews` | whose token is this? |
//! | `GET /.well-known/openid-configuration`, `GET /openid/v1/jwks` | OIDC issuer discovery |
//! | `GET /healthz`, `/livez`, `/readyz` | `ok` |
//!
//! Invariant: these requests were authenticated and authorized like any other before they get
//! here (the reviews need `create` on their resource, the discovery documents `get` on their
//! path); they never touch the store except to read ServiceAccounts and bound objects.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::rbac::{self, AuthzRequest, PolicyRule};
use super::service_account::{ObjectClaim, TokenSpec};
use super::{DEFAULT_TOKEN_SECONDS, MIN_TOKEN_SECONDS};
use crate::apiserver::Shared;
use crate::apiserver::http::{json_response, read_body};
use crate::apiserver::protobuf;
use crate::apiserver::request::{RequestAttributes, UserInfo, bearer_token};
use crate::apiserver::resources::ResourceKey;
use crate::apiserver::status::{ApiError, Cause, Details};

const AUTHN: &str = "authentication.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";

/// An endpoint served here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    TokenRequest,
    SelfSubjectAccessReview,
    SelfSubjectRulesReview,
    SubjectAccessReview,
    SelfSubjectReview,
    TokenReview,
    OpenIdConfiguration,
    Jwks,
    Health,
}

/// Resources these endpoints add to discovery: (group, plural, kind).
const VIRTUAL_RESOURCES: &[(&str, &str, &str)] = &[
    (AUTHN, "selfsubjectreviews", "SelfSubjectReview"),
    (AUTHN, "tokenreviews", "TokenReview"),
    (AUTHZ, "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    (AUTHZ, "selfsubjectrulesreviews", "SelfSubjectRulesReview"),
    (AUTHZ, "subjectaccessreviews", "SubjectAccessReview"),
];

/// Whether `group/version` is served only by these endpoints.
pub(crate) fn is_virtual_group(group: &str, version: &str) -> bool {
    version == "v1" && (group == AUTHN || group == AUTHZ)
}

/// Discovery's group order with the review groups where kube-apiserver lists them (after
/// `events.k8s.io`).
pub(crate) fn with_virtual_groups(mut groups: Vec<String>) -> Vec<String> {
    let at = groups
        .iter()
        .position(|g| g == "events.k8s.io")
        .map_or(0, |i| i + 1);
    for (i, g) in [AUTHN, AUTHZ].iter().enumerate() {
        if !groups.iter().any(|x| x == g) {
            groups.insert(at + i, g.to_string());
        }
    }
    groups
}

/// The create-only review resources of `group/version` in `APIResourceList` form.
pub(crate) fn virtual_resources(group: &str, version: &str) -> Vec<Value> {
    if version != "v1" {
        return vec![];
    }
    VIRTUAL_RESOURCES
        .iter()
        .filter(|(g, _, _)| *g == group)
        .map(|(_, plural, kind)| {
            json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": false,
                "kind": kind, "verbs": ["create"]})
        })
        .collect()
}

/// Subresources served here for a stored resource (`serviceaccounts/token`).
pub(crate) fn virtual_subresources(group: &str, version: &str, plural: &str) -> Vec<Value> {
    if group.is_empty() && version == "v1" && plural == "serviceaccounts" {
        vec![
            json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
            "group": AUTHN, "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}),
        ]
    } else {
        vec![]
    }
}

impl Endpoint {
    /// The endpoint a request is for, if any.
    pub(crate) fn of(a: &RequestAttributes) -> Option<Self> {
        if !a.resource_request {
            return match a.path.trim_end_matches('/') {
                "/.well-known/openid-configuration" => Some(Endpoint::OpenIdConfiguration),
                "/openid/v1/jwks" => Some(Endpoint::Jwks),
                "/healthz" | "/livez" | "/readyz" => Some(Endpoint::Health),
                _ => None,
            };
        }
        if a.api_version != "v1" {
            return None;
        }
        match (a.api_group.as_str(), a.resource.as_str(), a.subresource.as_str()) {
            ("", "serviceaccounts", "token") if !a.namespace.is_empty() => Some(Endpoint::TokenRequest),
            (AUTHZ, "selfsubjectaccessreviews", "") => Some(Endpoint::SelfSubjectAccessReview),
            (AUTHZ, "selfsubjectrulesreviews", "") => Some(Endpoint::SelfSubjectRulesReview),
            (AUTHZ, "subjectaccessreviews", "") => Some(Endpoint::SubjectAccessReview),
            (AUTHN, "selfsubjectreviews", "") => Some(Endpoint::SelfSubjectReview),
            (AUTHN, "tokenreviews", "") => Some(Endpoint::TokenReview),
            _ => None,
        }
    }

    /// Serves the request.
    pub(crate) async fn serve(
        self,
        shared: &Arc<Shared>,
        attrs: &RequestAttributes,
        req: Request,
    ) -> Result<Response, ApiError> {
        match self {
            Endpoint::OpenIdConfiguration | Endpoint::Jwks | Endpoint::Health => {
                if attrs.verb != "get" && attrs.verb != "head" {
                    return Err(ApiError::method_not_allowed());
                }
                return Ok(match self {
                    Endpoint::OpenIdConfiguration => {
                        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
                        json_response(StatusCode::OK, &openid_configuration(shared, host), &[])
                    }
                    Endpoint::Jwks => {
                        let mut r = json_response(StatusCode::OK, &shared.signing_key()?.jwks(), &[]);
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/jwk-set+json"),
                        );
                        r
                    }
                    _ => {
                        let mut r = (StatusCode::OK, "ok").into_response();
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/plain; charset=utf-8"),
                        );
                        r
                    }
                });
            }
            _ => {}
        }
        if attrs.verb != "create" || (self != Endpoint::TokenRequest && !attrs.namespace.is_empty()) {
            return Err(ApiError::method_not_allowed());
        }
        let token = bearer_token(req.headers()).map(String::from);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_string();
        let body = read_body(shared, req.into_body()).await?;
        let (kind, group) = match self {
            Endpoint::TokenRequest => ("TokenRequest", AUTHN),
            Endpoint::SelfSubjectAccessReview => ("SelfSubjectAccessReview", AUTHZ),
            Endpoint::SelfSubjectRulesReview => ("SelfSubjectRulesReview", AUTHZ),
            Endpoint::SubjectAccessReview => ("SubjectAccessReview", AUTHZ),
            Endpoint::SelfSubjectReview => ("SelfSubjectReview", AUTHN),
            _ => ("TokenReview", AUTHN),
        };
        let input: Value = if content_type.starts_with(protobuf::PROTOBUF) {
            protobuf::reviews::decode(kind, &body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body of the request could not be decoded as protobuf: {e}"
                ))
            })?
        } else if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            })?
        };
        if let Some(k) = input.get("kind").and_then(Value::as_str)
            && !k.is_empty()
            && k != kind
        {
            return Err(ApiError::bad_request(format!(
                "the object provided is unrecognized (must be of type {kind}): kind {k} does not match"
            )));
        }
        let spec = input.get("spec").cloned().unwrap_or(json!({}));
        let status = match self {
            Endpoint::TokenRequest => return token_request(shared, attrs, &spec),
            Endpoint::SelfSubjectAccessReview => access_review(shared, &attrs.user, &spec, kind)?,
            Endpoint::SubjectAccessReview => {
                let user = UserInfo {
                    name: str_of(&spec, "user"),
                    uid: str_of(&spec, "uid"),
                    groups: strings_of(&spec, "groups"),
                    extra: Default::default(),
                };
                access_review(shared, &user, &spec, kind)?
            }
            Endpoint::SelfSubjectRulesReview => rules_review(shared, &attrs.user, &spec),
            Endpoint::SelfSubjectReview => json!({"userInfo": user_info(&attrs.user)}),
            _ => token_review(shared, &spec, token.as_deref()),
        };
        let mut out = Map::new();
        out.insert("kind".into(), json!(kind));
        out.insert("apiVersion".into(), json!(format!("{group}/v1")));
        out.insert("metadata".into(), json!({"creationTimestamp": null}));
        if self != Endpoint::SelfSubjectReview {
            out.insert("spec".into(), spec);
        }
        out.insert("status".into(), status);
        Ok(json_response(StatusCode::CREATED, &Value::Object(out), &[]))
    }
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// The OIDC discovery document.
fn openid_configuration(shared: &Shared, host: Option<&str>) -> Value {
    let o = &shared.options.auth;
    let jwks_uri = o
        .jwks_uri
        .clone()
        .unwrap_or_else(|| format!("http://{}/openid/v1/jwks", host.unwrap_or("127.0.0.1")));
    json!({
        "issuer": o.issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

fn user_info(u: &UserInfo) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), json!(u.name));
    if !u.uid.is_empty() {
        m.insert("uid".into(), json!(u.uid));
    }
    m.insert("groups".into(), json!(u.groups));
    if !u.extra.is_empty() {
        m.insert("extra".into(), json!(u.extra));
    }
    Value::Object(m)
}

fn invalid(kind: &str, group: &str, name: &str, field: &str, value: &str, detail: &str) -> ApiError {
    ApiError::invalid(
        &format!("{kind}.{group}"),
        group,
        kind,
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value}: {detail}"),
            field: field.into(),
        }],
    )
}

fn access_review(shared: &Shared, user: &UserInfo, spec: &Value, kind: &str) -> Result<Value, ApiError> {
    let resource = spec.get("resourceAttributes").filter(|v| v.is_object());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| v.is_object());
    if resource.is_some() == non_resource.is_some() {
        let detail = if resource.is_some() {
            "cannot be specified in combination with resourceAttributes"
        } else {
            "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        };
        let field = if resource.is_some() {
            "spec.nonResourceAttributes"
        } else {
            "spec.resourceAttributes"
        };
        return Err(invalid(kind, AUTHZ, "", field, "\"null\"", detail));
    }
    let attrs = resource.or(non_resource).cloned().unwrap_or_default();
    let (verb, group, res, sub, ns, name, path) = (
        str_of(&attrs, "verb"),
        str_of(&attrs, "group"),
        str_of(&attrs, "resource"),
        str_of(&attrs, "subresource"),
        str_of(&attrs, "namespace"),
        str_of(&attrs, "name"),
        str_of(&attrs, "path"),
    );
    let request = AuthzRequest {
        user,
        verb: &verb,
        resource_request: resource.is_some(),
        api_group: &group,
        resource: &res,
        subresource: &sub,
        namespace: &ns,
        name: &name,
        path: &path,
    };
    let decision = rbac::authorize(&shared.rbac_policy(), &request);
    let mut status = Map::new();
    status.insert("allowed".into(), json!(decision.allowed()));
    if !decision.reason().is_empty() {
        status.insert("reason".into(), json!(decision.reason()));
    }
    Ok(Value::Object(status))
}

fn rule_json(r: &PolicyRule) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

fn rules_review(shared: &Shared, user: &UserInfo, spec: &Value) -> Value {
    let ns = str_of(spec, "namespace");
    let (rules, errors) = shared.rbac_policy().rules_for(user, &ns);
    let resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| r.non_resource_urls.is_empty())
        .map(rule_json)
        .collect();
    let non_resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.non_resource_urls.is_empty())
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}

fn token_review(shared: &Shared, spec: &Value, _caller_token: Option<&str>) -> Value {
    let token = str_of(spec, "token");
    let requested = strings_of(spec, "audiences");
    let api = shared.api_audiences();
    let audiences = if requested.is_empty() { api } else { requested };
    match shared.authenticate_for(Some(token.as_str()).filter(|t| !t.is_empty()), &audiences) {
        Ok((user, accepted)) if !user.groups.iter().any(|g| g == "system:unauthenticated") => json!({
            "authenticated": true,
            "user": user_info(&user),
            "audiences": accepted,
        }),
        _ => json!({"user": {}, "error": "[invalid bearer token, token lookup failed]"}),
    }
}

fn token_request(shared: &Shared, attrs: &RequestAttributes, spec: &Value) -> Result<Response, ApiError> {
    let (ns, name) = (attrs.namespace.as_str(), attrs.name.as_str());
    let sa = shared
        .store
        .get(&ResourceKey::new("", "serviceaccounts"), ns, name)
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let mut audiences = strings_of(spec, "audiences");
    if audiences.is_empty() {
        audiences = shared.api_audiences();
    }
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_TOKEN_SECONDS,
        Some(v) => v.as_i64().ok_or_else(|| {
            ApiError::bad_request("TokenRequest in version \"v1\" cannot be handled as a TokenRequest: spec.expirationSeconds must be an integer")
        })?,
    };
    if expiration < MIN_TOKEN_SECONDS {
        return Err(invalid(
            "TokenRequest",
            AUTHN,
            name,
            "spec.expirationSeconds",
            &expiration.to_string(),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > 1 << 32 {
        return Err(invalid(
            "TokenRequest",
            AUTHN,
            name,
            "spec.expirationSeconds",
            &expiration.to_string(),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let bound = match spec.get("boundObjectRef").filter(|v| v.is_object()) {
        None => None,
        Some(r) => Some(bound_object(shared, ns, name, r)?),
    };
    let token_spec = TokenSpec {
        issuer: shared.options.auth.issuer.clone(),
        namespace: ns.into(),
        name: name.into(),
        uid: sa.uid().unwrap_or_default().into(),
        audiences: audiences.clone(),
        expiration_seconds: expiration,
        bound,
    };
    let (token, claims) = shared.issue_token(&token_spec)?;
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map(crate::apiserver::format_timestamp)
        .unwrap_or_default();
    let mut out_spec = spec.clone();
    out_spec["audiences"] = json!(audiences);
    out_spec["expirationSeconds"] = json!(expiration);
    if out_spec.get("boundObjectRef").is_none() {
        out_spec["boundObjectRef"] = Value::Null;
    }
    let body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok(json_response(StatusCode::CREATED, &body, &[]))
}

/// Resolves a TokenRequest's `boundObjectRef` (Pod, Secret or Node) to the live object.
fn bound_object(shared: &Shared, ns: &str, sa: &str, r: &Value) -> Result<(String, ObjectClaim), ApiError> {
    let kind = str_of(r, "kind");
    let name = str_of(r, "name");
    let (plural, scope_ns) = match kind.as_str() {
        "Secret" => ("secrets", ns),
        "Pod" => ("pods", ns),
        "Node" => ("nodes", ""),
        _ => {
            return Err(invalid(
                "TokenRequest",
                AUTHN,
                sa,
                "spec.boundObjectRef.kind",
                &format!("\"{kind}\""),
                "supported values: \"Pod\", \"Secret\", \"Node\"",
            ));
        }
    };
    let live = shared
        .store
        .get(&ResourceKey::new("", plural), scope_ns, &name)
        .ok_or_else(|| ApiError::not_found("", plural, &name))?;
    let uid = live.uid().unwrap_or_default().to_string();
    if let Some(want) = r.get("uid").and_then(Value::as_str)
        && !want.is_empty()
        && want != uid
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {plural} \"{name}\": the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
            Some(Details::named(&name, "", plural)),
        ));
    }
    Ok((kind, ObjectClaim { name, uid }))
}
