//! Whether a `ClientSecretRotation` may use the provider it references.
//!
//! Invariant: a rotation gets the provider's identity only if
//! * the provider is an `IdentityProvider` in the rotation's own namespace, or
//! * it is a `ClusterIdentityProvider` one of whose grants matches the rotation's namespace (by
//!   name, or by the namespace's labels) and, when the grant lists applications, names the
//!   rotation's application (by the client id or object id written in the rotation's spec).
//!
//! Anything else is a [`Denial`] with a stable reason, never a panic. What the shell must fetch:
//! the referenced provider (from the rotation's namespace for `IdentityProvider`), and the labels
//! of the rotation's namespace when the provider is cluster-scoped.

use std::collections::BTreeMap;

use kube::core::{Selector, SelectorExt};

use crate::api::{
    ApplicationSpec, ClusterIdentityProviderSpec, Directory, Grant, IdentityProviderSpec, ProviderKind,
    ProviderRef, wellknown::reason,
};

/// The provider a rotation references, as the shell found it.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderLookup {
    /// No provider of that kind and name exists (for `IdentityProvider`: in the rotation's
    /// namespace).
    NotFound,
    /// The `IdentityProvider`, with the namespace it was found in.
    Namespaced {
        /// Its namespace.
        namespace: String,
        /// Its spec.
        spec: IdentityProviderSpec,
    },
    /// The `ClusterIdentityProvider`.
    Cluster {
        /// Its spec.
        spec: ClusterIdentityProviderSpec,
    },
}

impl ProviderLookup {
    /// The tenant, cloud and endpoints, when the provider was found.
    pub fn directory(&self) -> Option<&Directory> {
        match self {
            ProviderLookup::NotFound => None,
            ProviderLookup::Namespaced { spec, .. } => Some(&spec.directory),
            ProviderLookup::Cluster { spec } => Some(&spec.directory),
        }
    }
}

/// Why a rotation may not use its provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denial {
    /// Stable condition reason ([`reason::PROVIDER_NOT_FOUND`], ...).
    pub reason: &'static str,
    /// For humans.
    pub message: String,
}

/// Authorizes a rotation in `namespace` referencing `provider_ref`, for `application`.
/// `namespace_labels` are the labels of `namespace` (`None` when the shell could not read them).
pub fn authorize<'a>(
    namespace: &str,
    provider_ref: &ProviderRef,
    application: &ApplicationSpec,
    provider: &'a ProviderLookup,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Result<&'a Directory, Denial> {
    let kind = match provider_ref.kind {
        ProviderKind::IdentityProvider => "IdentityProvider",
        ProviderKind::ClusterIdentityProvider => "ClusterIdentityProvider",
    };
    let not_found = || Denial {
        reason: reason::PROVIDER_NOT_FOUND,
        message: match provider_ref.kind {
            ProviderKind::IdentityProvider => {
                format!(
                    "IdentityProvider {:?} not found in namespace {namespace:?}",
                    provider_ref.name
                )
            }
            ProviderKind::ClusterIdentityProvider => {
                format!("ClusterIdentityProvider {:?} not found", provider_ref.name)
            }
        },
    };
    match (provider_ref.kind, provider) {
        (_, ProviderLookup::NotFound) => Err(not_found()),
        (
            ProviderKind::IdentityProvider,
            ProviderLookup::Namespaced {
                namespace: found_in,
                spec,
            },
        ) => {
            if found_in != namespace {
                return Err(Denial {
                    reason: reason::PROVIDER_NOT_ALLOWED,
                    message: format!(
                        "IdentityProvider {:?} is in namespace {found_in:?}; a rotation may only use an IdentityProvider of its own namespace {namespace:?}",
                        provider_ref.name
                    ),
                });
            }
            Ok(&spec.directory)
        }
        (ProviderKind::ClusterIdentityProvider, ProviderLookup::Cluster { spec }) => {
            authorize_cluster(namespace, &provider_ref.name, application, spec, namespace_labels)
                .map(|()| &spec.directory)
        }
        // The shell looked up the wrong kind: treat as absent rather than guess.
        _ => Err(Denial {
            reason: reason::PROVIDER_NOT_FOUND,
            message: format!(
                "{kind} {:?} not found (a provider of another kind was supplied)",
                provider_ref.name
            ),
        }),
    }
}

fn authorize_cluster(
    namespace: &str,
    provider: &str,
    application: &ApplicationSpec,
    spec: &ClusterIdentityProviderSpec,
    namespace_labels: Option<&BTreeMap<String, String>>,
) -> Result<(), Denial> {
    let mut namespace_matched = false;
    let mut labels_missing = false;
    for grant in &spec.grants {
        match grant_matches_namespace(grant, namespace, namespace_labels) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(LabelsMissing) => {
                labels_missing = true;
                continue;
            }
        }
        namespace_matched = true;
        if grant_allows_application(grant, application) {
            return Ok(());
        }
    }
    if namespace_matched {
        let app = application
            .client_id
            .as_deref()
            .or(application.object_id.as_deref())
            .unwrap_or("<none>");
        return Err(Denial {
            reason: reason::APPLICATION_NOT_ALLOWED,
            message: format!(
                "ClusterIdentityProvider {provider:?} does not let namespace {namespace:?} rotate application {app}"
            ),
        });
    }
    if labels_missing {
        return Err(Denial {
            reason: reason::NAMESPACE_UNKNOWN,
            message: format!(
                "the labels of namespace {namespace:?} could not be read to match the grants of ClusterIdentityProvider {provider:?}"
            ),
        });
    }
    Err(Denial {
        reason: reason::PROVIDER_NOT_ALLOWED,
        message: format!("ClusterIdentityProvider {provider:?} grants no access to namespace {namespace:?}"),
    })
}

struct LabelsMissing;

fn grant_matches_namespace(
    grant: &Grant,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> Result<bool, LabelsMissing> {
    if grant
        .namespaces
        .as_ref()
        .is_some_and(|names| names.iter().any(|n| n == namespace))
    {
        return Ok(true);
    }
    let Some(selector) = &grant.namespace_selector else {
        return Ok(false);
    };
    // An invalid selector (e.g. `In` without values) matches nothing rather than everything.
    let Ok(selector) = Selector::try_from(selector.clone()) else {
        return Ok(false);
    };
    if selector.selects_all() {
        return Ok(true);
    }
    let labels = labels.ok_or(LabelsMissing)?;
    Ok(selector.matches(labels))
}

fn grant_allows_application(grant: &Grant, application: &ApplicationSpec) -> bool {
    let Some(allowed) = &grant.application_ids else {
        return true;
    };
    let named = [application.client_id.as_deref(), application.object_id.as_deref()];
    allowed
        .iter()
        .any(|id| named.iter().flatten().any(|n| n.eq_ignore_ascii_case(id)))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    use super::*;
    use crate::api::{ClusterProviderAuth, ManagedIdentityAuth, ProviderAuth, WorkloadIdentity};

    const APP: &str = "46e6adf4-0000-4b60-9390-0ba6fb00bf6b";
    const OTHER_APP: &str = "11111111-0000-4b60-9390-0ba6fb00bf6b";

    fn directory() -> Directory {
        Directory {
            tenant_id: "contoso.onmicrosoft.com".into(),
            cloud: Default::default(),
            endpoints: None,
        }
    }

    fn cluster(grants: Vec<Grant>) -> ProviderLookup {
        ProviderLookup::Cluster {
            spec: ClusterIdentityProviderSpec {
                directory: directory(),
                auth: ClusterProviderAuth {
                    workload_identity: None,
                    client_secret: None,
                    client_certificate: None,
                    managed_identity: Some(ManagedIdentityAuth::default()),
                },
                grants,
            },
        }
    }

    fn namespaced(ns: &str) -> ProviderLookup {
        ProviderLookup::Namespaced {
            namespace: ns.into(),
            spec: IdentityProviderSpec {
                directory: directory(),
                auth: ProviderAuth {
                    workload_identity: Some(WorkloadIdentity {
                        client_id: APP.into(),
                        service_account_name: "rotator".into(),
                        audience: "api://AzureADTokenExchange".into(),
                    }),
                    client_secret: None,
                    client_certificate: None,
                },
            },
        }
    }

    fn by_name(kind: ProviderKind) -> ProviderRef {
        ProviderRef {
            kind,
            name: "entra".into(),
        }
    }

    fn app(client_id: &str) -> ApplicationSpec {
        ApplicationSpec {
            client_id: Some(client_id.into()),
            ..Default::default()
        }
    }

    fn selector(labels: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: None,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn authorization_table() {
        use ProviderKind::*;
        let team = labels(&[("team", "a")]);
        let other_team = labels(&[("team", "b")]);
        let grant_names = Grant {
            namespaces: Some(vec!["team-a".into()]),
            ..Default::default()
        };
        let grant_labels = Grant {
            namespace_selector: Some(selector(&[("team", "a")])),
            ..Default::default()
        };
        let grant_app = Grant {
            namespaces: Some(vec!["team-a".into()]),
            application_ids: Some(vec![APP.to_uppercase()]),
            ..Default::default()
        };
        let grant_everyone = Grant {
            namespace_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        let grant_expr = Grant {
            namespace_selector: Some(LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "team".into(),
                    operator: "In".into(),
                    values: Some(vec!["a".into(), "b".into()]),
                }]),
            }),
            ..Default::default()
        };
        type Case<'a> = (
            &'a str,
            ProviderKind,
            ProviderLookup,
            &'a str,
            Option<&'a BTreeMap<String, String>>,
            Result<(), &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "namespaced provider in own namespace",
                IdentityProvider,
                namespaced("team-a"),
                APP,
                None,
                Ok(()),
            ),
            (
                "namespaced provider missing",
                IdentityProvider,
                ProviderLookup::NotFound,
                APP,
                None,
                Err(reason::PROVIDER_NOT_FOUND),
            ),
            (
                "namespaced provider of another namespace",
                IdentityProvider,
                namespaced("team-b"),
                APP,
                None,
                Err(reason::PROVIDER_NOT_ALLOWED),
            ),
            (
                "cluster provider missing",
                ClusterIdentityProvider,
                ProviderLookup::NotFound,
                APP,
                None,
                Err(reason::PROVIDER_NOT_FOUND),
            ),
            (
                "kind mismatch",
                ClusterIdentityProvider,
                namespaced("team-a"),
                APP,
                None,
                Err(reason::PROVIDER_NOT_FOUND),
            ),
            (
                "cluster provider without grants",
                ClusterIdentityProvider,
                cluster(vec![]),
                APP,
                Some(&team),
                Err(reason::PROVIDER_NOT_ALLOWED),
            ),
            (
                "granted by name",
                ClusterIdentityProvider,
                cluster(vec![grant_names.clone()]),
                APP,
                None,
                Ok(()),
            ),
            (
                "granted by labels",
                ClusterIdentityProvider,
                cluster(vec![grant_labels.clone()]),
                APP,
                Some(&team),
                Ok(()),
            ),
            (
                "labels do not match",
                ClusterIdentityProvider,
                cluster(vec![grant_labels.clone()]),
                APP,
                Some(&other_team),
                Err(reason::PROVIDER_NOT_ALLOWED),
            ),
            (
                "labels needed but unknown",
                ClusterIdentityProvider,
                cluster(vec![grant_labels]),
                APP,
                None,
                Err(reason::NAMESPACE_UNKNOWN),
            ),
            (
                "match expressions",
                ClusterIdentityProvider,
                cluster(vec![grant_expr]),
                APP,
                Some(&team),
                Ok(()),
            ),
            (
                "empty selector matches every namespace",
                ClusterIdentityProvider,
                cluster(vec![grant_everyone]),
                APP,
                None,
                Ok(()),
            ),
            (
                "application granted (case-insensitive)",
                ClusterIdentityProvider,
                cluster(vec![grant_app.clone()]),
                APP,
                None,
                Ok(()),
            ),
            (
                "application not granted",
                ClusterIdentityProvider,
                cluster(vec![grant_app.clone()]),
                OTHER_APP,
                None,
                Err(reason::APPLICATION_NOT_ALLOWED),
            ),
            (
                "a second grant allows it",
                ClusterIdentityProvider,
                cluster(vec![grant_app, grant_names]),
                OTHER_APP,
                None,
                Ok(()),
            ),
        ];
        for (name, kind, lookup, client_id, ns_labels, want) in cases {
            let got = authorize("team-a", &by_name(kind), &app(client_id), &lookup, ns_labels);
            match (got, want) {
                (Ok(dir), Ok(())) => assert_eq!(dir.tenant_id, "contoso.onmicrosoft.com", "{name}"),
                (Err(d), Err(reason)) => {
                    assert_eq!(d.reason, reason, "{name}: {}", d.message);
                    assert!(!d.message.is_empty());
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn object_ids_match_grants_too() {
        let grant = Grant {
            namespaces: Some(vec!["team-a".into()]),
            application_ids: Some(vec![APP.into()]),
            ..Default::default()
        };
        let spec = ApplicationSpec {
            object_id: Some(APP.into()),
            ..Default::default()
        };
        let lookup = cluster(vec![grant]);
        assert!(
            authorize(
                "team-a",
                &by_name(ProviderKind::ClusterIdentityProvider),
                &spec,
                &lookup,
                None
            )
            .is_ok()
        );
    }
}
