//! Authentication and authorization, as kube-apiserver configures them on a kubeadm-style cluster:
//!
//! * **Authentication** of bearer tokens: the [`ADMIN_TOKEN`] (user
//!   `kubernetes-admin` in `system:masters`), static tokens registered with
//!   [`ApiServer::add_token`](super::ApiServer::add_token), and service-account JWTs issued by
//!   the TokenRequest API ([`service_account`]). A request without credentials is
//!   `system:anonymous` (unless anonymous auth is switched off); a presented token that is not
//!   accepted gets 401 `Unauthorized` and is never downgraded to anonymous.
//! * **Authorization**: `system:masters` bypasses everything; anyone else gets what the RBAC
//!   objects in the store grant ([`rbac`]), starting from the bootstrap roles ([`bootstrap`]);
//!   a denial is a 403 with kube-apiserver's message.
//! * **Endpoints** of these subsystems (`endpoints`): TokenRequest, SelfSubjectAccessReview,
//!   SelfSubjectRulesReview, SubjectAccessReview, SelfSubjectReview, TokenReview, and the OIDC
//!   issuer discovery documents (`/.well-known/openid-configuration`, `/openid/v1/jwks`).
//! * **Impersonation** ([`impersonation`]): `kubectl --as`, checked against RBAC like any request.
//! * **Coverage** ([`coverage`]): test support that compares what a user did (from the access
//!   log) with what a set of RBAC manifests grants.
//!
//! # Issuer
//!
//! The service-account issuer defaults to [`DEFAULT_ISSUER`]
//! (`https://kubernetes.default.svc.cluster.local`, kubeadm's default), not the serving URL: the
//! serving URL changes with every `serve` on port 0, and an external verifier (the Entra
//! emulator's federated credentials) must keep trusting tokens across restarts. The discovery
//! document's `jwks_uri` is the configured one, else `http://<Host of the request>/openid/v1/jwks`
//! (kube-apiserver derives it from its external address the same way).
//!
//! Invariant: every request is authenticated exactly once, before faults and authorization; the
//! decision code ([`rbac`], [`service_account`]) is pure and takes `now` as an argument; token
//! values are never stored (static tokens are kept as SHA-256 digests) nor logged.

pub mod bootstrap;
pub mod coverage;
pub(crate) mod endpoints;
pub mod impersonation;

pub mod rbac;
pub mod service_account;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::request::{ADMIN_TOKEN, RequestAttributes, UserInfo};
use super::resources::ResourceKey;
use super::status::ApiError;
use super::{ApiServer, ApiServerBuilder, Shared};
use rbac::{AuthzRequest, Decision, Policy, RBAC_GROUP};
use service_account::{ServiceAccountClaims, SigningKey, TokenRejection, TokenSpec};

/// The default service-account issuer (kubeadm's `--service-account-issuer`).
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The in-cluster API server URL, accepted as an audience by default too.
pub const IN_CLUSTER_AUDIENCE: &str = "https://kubernetes.default.svc";
/// Default TokenRequest lifetime (`expirationSeconds`).
pub const DEFAULT_TOKEN_SECONDS: i64 = 3600;
/// Shortest TokenRequest lifetime kube-apiserver accepts.
pub const MIN_TOKEN_SECONDS: i64 = 600;

/// Authentication settings of an [`ApiServerBuilder`].
#[derive(Clone, Debug)]
pub(crate) struct AuthOptions {
    pub(crate) issuer: String,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) api_audiences: Option<Vec<String>>,
    pub(crate) anonymous: bool,
}

impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            issuer: DEFAULT_ISSUER.into(),
            jwks_uri: None,
            api_audiences: None,
            anonymous: true,
        }
    }
}

impl ApiServerBuilder {
    /// The service-account issuer URL (`iss` of issued tokens, `issuer` of the discovery
    /// document). Default [`DEFAULT_ISSUER`].
    pub fn service_account_issuer(mut self, issuer: &str) -> Self {
        self.auth.issuer = issuer.trim_end_matches('/').to_string();
        self
    }

    /// The `jwks_uri` the discovery document advertises. Default: `http://<Host>/openid/v1/jwks`
    /// of the discovery request.
    pub fn service_account_jwks_uri(mut self, uri: &str) -> Self {
        self.auth.jwks_uri = Some(uri.to_string());
        self
    }

    /// Audiences a service-account token must carry one of to authenticate here
    /// (`--api-audiences`). Default: the issuer and [`IN_CLUSTER_AUDIENCE`].
    pub fn api_audiences(mut self, audiences: &[&str]) -> Self {
        self.auth.api_audiences = Some(audiences.iter().map(|a| a.to_string()).collect());
        self
    }

    /// Whether requests without credentials are served as `system:anonymous` (default true, as
    /// `--anonymous-auth`); when false they get 401.
    pub fn anonymous_auth(mut self, enabled: bool) -> Self {
        self.auth.anonymous = enabled;
        self
    }
}

/// Authentication state shared by every request.
#[derive(Default)]
pub(crate) struct AuthState {
    /// Static tokens by SHA-256 digest.
    static_tokens: RwLock<HashMap<[u8; 32], UserInfo>>,
    /// Generated on first use (RSA key generation is slow in debug builds).
    signing_key: OnceLock<Result<SigningKey, String>>,
    /// Signature checks already done, by token digest (the claims are re-checked every time).
    verified: Mutex<HashMap<[u8; 32], ServiceAccountClaims>>,
    /// The parsed RBAC objects, with the stamp of the store contents they were parsed from.
    policy: Mutex<Option<(PolicyStamp, Arc<Policy>)>>,
}

/// (object count, highest resourceVersion) of each RBAC collection.
type PolicyStamp = Vec<(usize, u64)>;

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// 401 `Unauthorized`, exactly as kube-apiserver answers it.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized", None)
}

/// The groups of a service account's user.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".into(),
    ]
}

impl UserInfo {
    /// The user a token of ServiceAccount `namespace/name` authenticates as (no uid or extra).
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            name: rbac::service_account_user(namespace, name),
            groups: service_account_groups(namespace),
            ..Default::default()
        }
    }
}

const RBAC_KEYS: [&str; 4] = ["clusterroles", "clusterrolebindings", "roles", "rolebindings"];

impl Shared {
    pub(crate) fn signing_key(&self) -> Result<&SigningKey, ApiError> {
        self.auth
            .signing_key
            .get_or_init(SigningKey::generate)
            .as_ref()
            .map_err(|e| ApiError::internal(e.clone()))
    }

    pub(crate) fn api_audiences(&self) -> Vec<String> {
        let o = &self.options.auth;
        o.api_audiences
            .clone()
            .unwrap_or_else(|| vec![o.issuer.clone(), IN_CLUSTER_AUDIENCE.to_string()])
    }

    /// The RBAC objects currently stored, parsed (re-parsed only when they changed: every write
    /// raises the highest resourceVersion of its collection, every delete lowers its count).
    pub(crate) fn rbac_policy(&self) -> Arc<Policy> {
        let collections: Vec<_> = RBAC_KEYS
            .iter()
            .map(|plural| self.store.all(&ResourceKey::new(RBAC_GROUP, plural), None))
            .collect();
        let stamp: PolicyStamp = collections
            .iter()
            .map(|c| (c.len(), c.iter().map(|o| o.rv).max().unwrap_or(0)))
            .collect();
        let mut cache = self.auth.policy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, p)) = cache.as_ref()
            && *s == stamp
        {
            return p.clone();
        }
        let policy = Arc::new(Policy::from_objects(
            collections.iter().flatten().map(|o| &o.value),
        ));
        *cache = Some((stamp, policy.clone()));
        policy
    }

    /// Authenticates a request's bearer token for this API server (see the module docs).
    pub(crate) fn authenticate(&self, token: Option<&str>) -> Result<UserInfo, ApiError> {
        self.authenticate_for(token, &self.api_audiences())
            .map(|(u, _)| u)
    }

    /// Authenticates a bearer token for a set of audiences; returns the user and the audiences
    /// the token is good for (for tokens that carry none, the API server's, when they intersect).
    pub(crate) fn authenticate_for(
        &self,
        token: Option<&str>,
        audiences: &[String],
    ) -> Result<(UserInfo, Vec<String>), ApiError> {
        let Some(token) = token else {
            return if self.options.auth.anonymous {
                Ok((UserInfo::anonymous(), audiences.to_vec()))
            } else {
                Err(unauthorized())
            };
        };
        if token.is_empty() {
            return Err(unauthorized());
        }
        let d = digest(token);
        let fixed = if token == ADMIN_TOKEN {
            Some(UserInfo::admin())
        } else {
            self.auth
                .static_tokens
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&d)
                .cloned()
        };
        if let Some(user) = fixed {
            // Tokens that carry no audience are good for the API server's audiences only.
            let api = self.api_audiences();
            let accepted: Vec<String> = audiences.iter().filter(|a| api.contains(a)).cloned().collect();
            return if accepted.is_empty() {
                Err(unauthorized())
            } else {
                Ok((user, accepted))
            };
        }
        if token.split('.').count() != 3 {
            return Err(unauthorized());
        }
        let claims = self
            .verify_service_account_token(token, &d, audiences)
            .map_err(|e| {
                tracing::debug!(reason = %e, "service-account token refused");
                unauthorized()
            })?;
        let mut user = UserInfo {
            name: claims.sub.clone(),
            uid: claims.kubernetes.serviceaccount.uid.clone(),
            groups: service_account_groups(&claims.kubernetes.namespace),
            ..Default::default()
        };
        user.extra.insert(
            "authentication.kubernetes.io/credential-id".into(),
            vec![format!("JTI={}", claims.jti)],
        );
        let accepted = claims
            .aud
            .iter()
            .filter(|a| audiences.contains(a))
            .cloned()
            .collect();
        Ok((user, accepted))
    }

    fn verify_service_account_token(
        &self,
        token: &str,
        d: &[u8; 32],
        audiences: &[String],
    ) -> Result<ServiceAccountClaims, AuthFailure> {
        let issuer = &self.options.auth.issuer;
        let now = self.now();
        let cached = self
            .auth
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(d)
            .cloned();
        let claims = match cached {
            Some(c) => {
                service_account::check_claims(&c, issuer, audiences, now)?;
                c
            }
            None => {
                let key = self
                    .signing_key()
                    .map_err(|_| AuthFailure::Token(TokenRejection::Signature))?;
                let c = key.verify(token, issuer, audiences, now)?;
                let mut cache = self.auth.verified.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= 10_000 {
                    cache.clear();
                }
                cache.insert(*d, c.clone());
                c
            }
        };
        // Bound tokens die with their ServiceAccount (and bound object): look them up.
        let k = &claims.kubernetes;
        let sa = self
            .store
            .get(
                &ResourceKey::new("", "serviceaccounts"),
                &k.namespace,
                &k.serviceaccount.name,
            )
            .ok_or(AuthFailure::Gone("serviceaccount"))?;
        if sa.uid() != Some(k.serviceaccount.uid.as_str()) {
            return Err(AuthFailure::Gone("serviceaccount uid"));
        }
        if let Some((kind, obj)) = claims.bound_object() {
            let (plural, ns) = match kind {
                "Secret" => ("secrets", k.namespace.as_str()),
                "Pod" => ("pods", k.namespace.as_str()),
                _ => ("nodes", ""),
            };
            let live = self.store.get(&ResourceKey::new("", plural), ns, &obj.name);
            if live.as_ref().and_then(|o| o.uid()) != Some(obj.uid.as_str()) {
                return Err(AuthFailure::Gone("bound object"));
            }
        }
        Ok(claims)
    }

    /// The authorization decision for a request.
    pub(crate) fn authorize_request(&self, attrs: &RequestAttributes) -> Decision {
        self.decide(&AuthzRequest::of(attrs))
    }

    /// The authorization decision for one request's attributes.
    fn decide(&self, a: &AuthzRequest<'_>) -> Decision {
        if a.user.groups.iter().any(|g| g == rbac::MASTERS_GROUP) {
            return Decision::Allow(String::new());
        }
        rbac::authorize(&self.rbac_policy(), a)
    }

    /// Issues a service-account token (the TokenRequest API and
    /// [`ApiServer::service_account_token`]).
    pub(crate) fn issue_token(&self, spec: &TokenSpec) -> Result<(String, ServiceAccountClaims), ApiError> {
        let claims = service_account::claims_for(spec, self.now(), &uuid::Uuid::new_v4().to_string());
        let token = self.signing_key()?.sign(&claims).map_err(ApiError::internal)?;
        Ok((token, claims))
    }
}

/// Why a well-formed service-account token did not authenticate.
#[derive(Debug, thiserror::Error)]
enum AuthFailure {
    #[error(transparent)]
    Token(#[from] TokenRejection),
    #[error("the token's {0} no longer exists")]
    Gone(&'static str),
}

/// 403 `Forbidden` for a denied request, with kube-apiserver's message and details.
pub fn forbidden(attrs: &RequestAttributes, reason: &str) -> ApiError {
    let a = AuthzRequest::of(attrs);
    let message = rbac::forbidden_message(&a, reason);
    let details = if attrs.resource_request {
        super::status::Details {
            name: (!attrs.name.is_empty()).then(|| attrs.name.clone()),
            group: (!attrs.api_group.is_empty()).then(|| attrs.api_group.clone()),
            kind: Some(attrs.resource.clone()),
            ..Default::default()
        }
    } else {
        super::status::Details::default()
    };
    ApiError::new(403, "Forbidden", message, Some(details))
}

/// The authentication + authorization gate every non-admin request passes: sets `attrs.user`
/// (the impersonated user when the headers ask for one and RBAC allows it), then applies injected
/// faults, then RBAC.
pub(crate) async fn gate(
    shared: &Shared,
    attrs: &mut RequestAttributes,
    token: Option<&str>,
    headers: &http::HeaderMap,
) -> Result<(), ApiError> {
    attrs.user = match shared.authenticate(token) {
        Ok(u) => u,
        Err(e) => {
            attrs.user = UserInfo::default();
            return Err(e);
        }
    };
    if let Some(wanted) = impersonation::requested(headers)? {
        attrs.user = impersonation::authorize(&attrs.user, &wanted, |a| shared.decide(a))?;
    }
    let fired = shared.faults.evaluate(attrs);
    if !fired.latency.is_zero() {
        tokio::time::sleep(fired.latency).await;
    }
    if let Some(e) = fired.failure {
        return Err(e);
    }
    match shared.authorize_request(attrs) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(reason) => Err(forbidden(attrs, &reason)),
    }
}

impl ApiServer {
    /// Registers a static bearer token (like a `--token-auth-file` line) for `user` in `groups`
    /// (`system:authenticated` is added). Replaces an earlier registration of the same token.
    pub fn add_token(&self, token: &str, user: &str, groups: &[&str]) {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        let info = UserInfo {
            name: user.into(),
            groups,
            ..Default::default()
        };
        self.shared
            .auth
            .static_tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest(token), info);
    }

    /// Forgets a static token; returns whether it was registered.
    pub fn remove_token(&self, token: &str) -> bool {
        self.shared
            .auth
            .static_tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(token))
            .is_some()
    }

    /// Issues a token for ServiceAccount `namespace/name`, as the TokenRequest API does:
    /// `audiences` empty means the API server's audiences; `ttl` is the lifetime (no minimum
    /// here, unlike the HTTP API). 404 if the ServiceAccount does not exist.
    pub fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        audiences: &[&str],
        ttl: Duration,
    ) -> Result<SecretString, ApiError> {
        let sa = self
            .shared
            .store
            .get(&ResourceKey::new("", "serviceaccounts"), namespace, name)
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let audiences = if audiences.is_empty() {
            self.shared.api_audiences()
        } else {
            audiences.iter().map(|a| a.to_string()).collect()
        };
        let spec = TokenSpec {
            issuer: self.shared.options.auth.issuer.clone(),
            namespace: namespace.into(),
            name: name.into(),
            uid: sa.uid().unwrap_or_default().into(),
            audiences,
            expiration_seconds: ttl.as_secs().max(1) as i64,
            bound: None,
        };
        self.shared.issue_token(&spec).map(|(t, _)| SecretString::from(t))
    }

    /// Binds `system:anonymous` to `cluster-admin` (ClusterRoleBinding
    /// `sandbox:anonymous-admin`), as an insecure development cluster would.
    ///
    /// NB: kubectl (client-go's kubeconfig loader) sends a kubeconfig user's credentials only to
    /// TLS servers, so against [`ApiServer::serve`]'s plain-HTTP listener kubectl is always
    /// `system:anonymous`; tests that drive kubectl as an administrator call this.
    pub fn allow_anonymous_admin(&self) {
        let g = rbac::RBAC_GROUP;
        let Some(rt) = self.resource(g, "v1", "clusterrolebindings") else {
            return;
        };
        if self.get(&rt, "", "sandbox:anonymous-admin").is_some() {
            return;
        }
        let body = serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "sandbox:anonymous-admin"},
            "roleRef": {"apiGroup": g, "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": g, "kind": "User", "name": "system:anonymous"}],
        });
        // NB: creating a fixed, valid object can only fail if it already exists (checked above).
        let _ = self.create(&rt, "", body, "sandbox");
    }

    /// The service-account issuer URL.
    pub fn service_account_issuer(&self) -> String {
        self.shared.options.auth.issuer.clone()
    }

    /// The audiences a service-account token must carry one of to authenticate here.
    pub fn api_audiences(&self) -> Vec<String> {
        self.shared.api_audiences()
    }

    /// The JWKS of the service-account signing key (what `/openid/v1/jwks` serves).
    pub fn service_account_jwks(&self) -> Result<Value, ApiError> {
        Ok(self.shared.signing_key()?.jwks())
    }

    /// The RBAC objects currently in the store, parsed.
    pub fn rbac_policy(&self) -> Policy {
        (*self.shared.rbac_policy()).clone()
    }

    /// Whether `user` may do what `attrs` describes (its `user` field is ignored), as the server
    /// would decide it: system:masters bypass, then RBAC.
    pub fn authorize(&self, user: &UserInfo, attrs: &RequestAttributes) -> Decision {
        let mut attrs = attrs.clone();
        attrs.user = user.clone();
        self.shared.authorize_request(&attrs)
    }
}
