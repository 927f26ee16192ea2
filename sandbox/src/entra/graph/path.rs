//! Parsing Graph request paths into the operations the emulator serves.
//!
//! Invariant: parsing is total: every path yields a [`GraphRoute`] or a [`PathError`] naming the
//! first segment Graph would not understand; nothing here touches state.

use percent_encoding::percent_decode_str;

use crate::entra::directory::{ObjectKey, ObjectKind};

/// What a Graph path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GraphRoute {
    /// `/{set}`.
    Collection(ObjectKind),
    /// `/{set}/{id}` or `/{set}(appId='…')`.
    Object(ObjectKind, ObjectKey),
    /// `…/addPassword`.
    AddPassword(ObjectKind, ObjectKey),
    /// `…/removePassword`.
    RemovePassword(ObjectKind, ObjectKey),
    /// `/policies/defaultAppManagementPolicy`.
    DefaultAppManagementPolicy,
}

/// A path Graph would reject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not under `/v1.0/`.
    Version,
    /// A segment that names nothing.
    Segment(String),
}

/// Parses a request path (percent-encoded, as on the wire).
pub(crate) fn parse(path: &str) -> Result<GraphRoute, PathError> {
    let decoded = percent_decode_str(path).decode_utf8_lossy();
    let rest = decoded.strip_prefix("/v1.0/").ok_or(PathError::Version)?;
    let rest = rest.trim_end_matches('/');
    let mut segments = rest.split('/');
    let first = segments.next().unwrap_or_default();
    if first == "policies" {
        return match (segments.next(), segments.next()) {
            (Some("defaultAppManagementPolicy"), None) => Ok(GraphRoute::DefaultAppManagementPolicy),
            (Some(s), _) => Err(PathError::Segment(s.to_owned())),
            (None, _) => Err(PathError::Segment(first.to_owned())),
        };
    }
    let (set, key_in_parens) = match first.split_once('(') {
        Some((set, rest)) => (set, Some(rest)),
        None => (first, None),
    };
    let kind = match set {
        "applications" => ObjectKind::Application,
        "servicePrincipals" => ObjectKind::ServicePrincipal,
        _ => return Err(PathError::Segment(first.to_owned())),
    };
    let key = match key_in_parens {
        Some(inner) => Some(parse_key(inner).ok_or_else(|| PathError::Segment(first.to_owned()))?),
        None => None,
    };
    let key = match key {
        Some(k) => Some(k),
        None => match segments.next() {
            Some(id) if !id.is_empty() => Some(ObjectKey::Id(id.to_owned())),
            _ => None,
        },
    };
    let Some(key) = key else {
        return Ok(GraphRoute::Collection(kind));
    };
    match (segments.next(), segments.next()) {
        (None, _) => Ok(GraphRoute::Object(kind, key)),
        (Some(action), None) => match action.rsplit('.').next().unwrap_or(action) {
            // NB: OData allows the namespace-qualified form (`microsoft.graph.addPassword`).
            "addPassword" => Ok(GraphRoute::AddPassword(kind, key)),
            "removePassword" => Ok(GraphRoute::RemovePassword(kind, key)),
            _ => Err(PathError::Segment(action.to_owned())),
        },
        (Some(_), Some(s)) => Err(PathError::Segment(s.to_owned())),
    }
}

/// `appId='…')` or `'…')` (the object id in key form).
fn parse_key(inner: &str) -> Option<ObjectKey> {
    let inner = inner.strip_suffix(')')?;
    let (name, value) = match inner.split_once('=') {
        Some((name, value)) => (Some(name.trim()), value.trim()),
        None => (None, inner.trim()),
    };
    let value = value.strip_prefix('\'')?.strip_suffix('\'')?.to_owned();
    match name {
        Some("appId") => Some(ObjectKey::AppId(value)),
        Some("id") | None => Some(ObjectKey::Id(value)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ObjectKind = ObjectKind::Application;
    const S: ObjectKind = ObjectKind::ServicePrincipal;

    fn id(s: &str) -> ObjectKey {
        ObjectKey::Id(s.into())
    }
    fn app_id(s: &str) -> ObjectKey {
        ObjectKey::AppId(s.into())
    }

    #[test]
    fn parses_every_served_form() {
        assert_eq!(parse("/v1.0/applications"), Ok(GraphRoute::Collection(A)));
        assert_eq!(parse("/v1.0/servicePrincipals/"), Ok(GraphRoute::Collection(S)));
        assert_eq!(parse("/v1.0/applications/x"), Ok(GraphRoute::Object(A, id("x"))));
        assert_eq!(
            parse("/v1.0/applications(appId='x')"),
            Ok(GraphRoute::Object(A, app_id("x")))
        );
        assert_eq!(
            parse("/v1.0/applications(appId=%27x%27)"),
            Ok(GraphRoute::Object(A, app_id("x")))
        );
        assert_eq!(
            parse("/v1.0/applications('x')"),
            Ok(GraphRoute::Object(A, id("x")))
        );
        assert_eq!(
            parse("/v1.0/applications/x/addPassword"),
            Ok(GraphRoute::AddPassword(A, id("x")))
        );
        assert_eq!(
            parse("/v1.0/servicePrincipals(appId='x')/removePassword"),
            Ok(GraphRoute::RemovePassword(S, app_id("x")))
        );
        assert_eq!(
            parse("/v1.0/applications/x/microsoft.graph.addPassword"),
            Ok(GraphRoute::AddPassword(A, id("x")))
        );
        assert_eq!(
            parse("/v1.0/policies/defaultAppManagementPolicy"),
            Ok(GraphRoute::DefaultAppManagementPolicy)
        );
    }

    #[test]
    fn rejects_what_graph_rejects() {
        assert_eq!(parse("/beta/applications"), Err(PathError::Version));
        assert_eq!(parse("/v1.0/users"), Err(PathError::Segment("users".into())));
        assert_eq!(
            parse("/v1.0/applications/x/owners"),
            Err(PathError::Segment("owners".into()))
        );
        assert_eq!(
            parse("/v1.0/applications(foo='x')"),
            Err(PathError::Segment("applications(foo='x')".into()))
        );
        assert_eq!(
            parse("/v1.0/applications/x/addPassword/y"),
            Err(PathError::Segment("y".into()))
        );
    }
}
