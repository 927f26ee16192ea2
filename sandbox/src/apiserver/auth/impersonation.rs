//! User impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the `Impersonate-User`,
//! `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>` headers, as
//! kube-apiserver's impersonation filter handles them. The authenticated user needs the
//! `impersonate` verb on `users` (or on `serviceaccounts` in the namespace, for
//! `system:serviceaccount:<ns>:<name>`), `groups`, `uids` and
//! `userextras/<key>` in the core group, each checked against RBAC; the request then runs as the
//! impersonated user, with `system:authenticated` (and a service account's groups) added as
//! kube-apiserver adds them.
//!
//! Invariant: a request with impersonation headers either runs as exactly the requested user or is
//! refused (403, or 400 for groups without a user); it never runs as the caller.

use std::collections::BTreeMap;

use http::HeaderMap;

use super::rbac::{self, AuthzRequest, forbidden_message};
use super::{UserInfo, service_account_groups};
use crate::apiserver::status::ApiError;

/// The identity a request asks to act as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Impersonation {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Group` (repeatable).
    pub groups: Vec<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Extra-<key>` (repeatable), keys lower-cased and percent-decoded.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// The impersonation a request's headers ask for, `None` when they ask for none; 400 when they
/// name groups, a uid or extras without a user.
pub fn requested(headers: &HeaderMap) -> Result<Option<Impersonation>, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect()
    };
    let user = values("impersonate-user").into_iter().next();
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix("impersonate-extra-")
            && let Ok(v) = value.to_str()
        {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .to_lowercase();
            extra.entry(key).or_default().push(v.to_string());
        }
    }
    let Some(user) = user else {
        if groups.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(None);
        }
        return Err(ApiError::bad_request(
            "requested impersonation of groups, a uid or extras without impersonating a user",
        ));
    };
    Ok(Some(Impersonation {
        user,
        groups,
        uid,
        extra,
    }))
}

/// One permission impersonating needs: `impersonate` on `resource` (`users`, `groups`,
/// `serviceaccounts`, `uids`, `userextras/<key>`) named `name`, in `namespace` for service accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Resource, with a subresource after `/` for extras.
    pub resource: String,
    /// The impersonated value.
    pub name: String,
    /// Namespace (service accounts only).
    pub namespace: String,
}

impl Impersonation {
    /// The permissions the caller needs, in the order kube-apiserver checks them.
    pub fn checks(&self) -> Vec<Check> {
        let mut out = vec![];
        let check = |resource: &str, name: &str, namespace: &str| Check {
            resource: resource.into(),
            name: name.into(),
            namespace: namespace.into(),
        };
        match rbac::parse_service_account_user(&self.user) {
            Some((ns, name)) => out.push(check("serviceaccounts", name, ns)),
            None => out.push(check("users", &self.user, "")),
        }
        out.extend(self.groups.iter().map(|g| check("groups", g, "")));
        if let Some(uid) = &self.uid {
            out.push(check("uids", uid, ""));
        }
        for (key, values) in &self.extra {
            out.extend(values.iter().map(|v| check(&format!("userextras/{key}"), v, "")));
        }
        out
    }

    /// The user the request then runs as.
    pub fn user_info(&self) -> UserInfo {
        let mut groups = self.groups.clone();
        if let Some((ns, _)) = rbac::parse_service_account_user(&self.user)
            && groups.is_empty()
        {
            groups = service_account_groups(ns);
        }
        if self.user != "system:anonymous" && !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        UserInfo {
            name: self.user.clone(),
            uid: self.uid.clone().unwrap_or_default(),
            groups,
            extra: self.extra.clone().into_iter().collect(),
        }
    }
}

/// Checks every permission with `allowed` (the caller's RBAC decision for one request); the
/// impersonated user, or the 403 for the first permission refused.
pub fn authorize(
    caller: &UserInfo,
    wanted: &Impersonation,
    mut allowed: impl FnMut(&AuthzRequest<'_>) -> rbac::Decision,
) -> Result<UserInfo, ApiError> {
    for check in wanted.checks() {
        let (resource, subresource) = check.resource.split_once('/').unwrap_or((&check.resource, ""));
        let a = AuthzRequest {
            user: caller,
            verb: "impersonate",
            resource_request: true,
            api_group: "",
            resource,
            subresource,
            namespace: &check.namespace,
            name: &check.name,
            path: "",
        };
        if let rbac::Decision::Deny(reason) = allowed(&a) {
            return Err(ApiError::new(
                403,
                "Forbidden",
                forbidden_message(&a, &reason),
                None,
            ));
        }
    }
    Ok(wanted.user_info())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn no_headers_no_impersonation() {
        assert_eq!(requested(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn groups_without_a_user_are_refused() {
        let e = requested(&headers(&[("impersonate-group", "devs")])).unwrap_err();
        assert_eq!(e.code, 400);
    }

    #[test]
    fn service_accounts_get_their_groups_and_are_checked_in_their_namespace() {
        let wanted = requested(&headers(&[("impersonate-user", "system:serviceaccount:ops:bot")]))
            .unwrap()
            .unwrap();
        assert_eq!(
            wanted.checks(),
            vec![Check {
                resource: "serviceaccounts".into(),
                name: "bot".into(),
                namespace: "ops".into()
            }]
        );
        let user = wanted.user_info();
        assert_eq!(user.name, "system:serviceaccount:ops:bot");
        assert_eq!(
            user.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ops",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn users_groups_and_extras_are_each_checked() {
        let wanted = requested(&headers(&[
            ("impersonate-user", "alice"),
            ("impersonate-group", "devs"),
            ("impersonate-group", "ops"),
            ("impersonate-extra-scopes", "view"),
        ]))
        .unwrap()
        .unwrap();
        let resources: Vec<_> = wanted
            .checks()
            .into_iter()
            .map(|c| (c.resource, c.name))
            .collect();
        assert_eq!(
            resources,
            vec![
                ("users".to_string(), "alice".to_string()),
                ("groups".into(), "devs".into()),
                ("groups".into(), "ops".into()),
                ("userextras/scopes".into(), "view".into()),
            ]
        );
        assert_eq!(
            wanted.user_info().groups,
            vec!["devs", "ops", "system:authenticated"]
        );
    }

    #[test]
    fn the_first_refused_permission_is_the_403() {
        let caller = UserInfo {
            name: "bob".into(),
            ..Default::default()
        };
        let wanted = requested(&headers(&[
            ("impersonate-user", "alice"),
            ("impersonate-group", "admins"),
        ]))
        .unwrap()
        .unwrap();
        let e = authorize(&caller, &wanted, |a| {
            if a.resource == "users" {
                rbac::Decision::Allow(String::new())
            } else {
                rbac::Decision::Deny(String::new())
            }
        })
        .unwrap_err();
        assert_eq!(e.code, 403);
        assert!(
            e.message.contains(
                "User \"bob\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope"
            ),
            "{}",
            e.message
        );
        let ok = authorize(&caller, &wanted, |_| rbac::Decision::Allow(String::new())).unwrap();
        assert_eq!(ok.name, "alice");
    }
}
