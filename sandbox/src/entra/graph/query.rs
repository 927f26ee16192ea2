//! OData query options the emulator understands: `$select`, `$filter` (`<property> eq '<value>'`)
//! and the presence of `$expand` (which only changes the throttling cost).
//!
//! Invariant: an option the emulator cannot honour is an error, never silently ignored, so a
//! client relying on it learns at once.

use http::StatusCode;
use serde_json::{Map, Value};

use super::error::GraphError;
use crate::entra::directory::ObjectKind;
use crate::entra::protocol::graph::BAD_REQUEST_CODE;

/// The parsed query options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Query {
    pub(crate) select: Option<Vec<String>>,
    pub(crate) filter: Option<Filter>,
    pub(crate) expand: bool,
}

/// `$filter=<property> eq '<value>'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) property: String,
    pub(crate) value: String,
}

/// Properties the emulator filters on.
const FILTERABLE: [&str; 3] = ["appId", "id", "displayName"];

/// Parses a raw query string.
pub(crate) fn parse(raw: Option<&str>, kind: ObjectKind) -> Result<Query, GraphError> {
    let mut q = Query::default();
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "$select" => {
                q.select = Some(
                    value
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                );
            }
            "$filter" => q.filter = Some(parse_filter(&value, kind)?),
            "$expand" => q.expand = true,
            _ => {}
        }
    }
    Ok(q)
}

fn parse_filter(expr: &str, kind: ObjectKind) -> Result<Filter, GraphError> {
    let unsupported = |property: &str| {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified for property '{property}' of resource '{}'.",
                kind.type_name().trim_start_matches("microsoft.graph.")
            ),
        )
    };
    let expr = expr.trim();
    let mut parts = expr.splitn(3, char::is_whitespace);
    let (Some(property), Some(op), Some(literal)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported(expr));
    };
    if !op.eq_ignore_ascii_case("eq") || !FILTERABLE.contains(&property) {
        return Err(unsupported(property));
    }
    let literal = literal.trim();
    let value = literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .filter(|v| !v.replace("''", "").contains('\''))
        .ok_or_else(|| unsupported(property))?;
    Ok(Filter {
        property: property.to_owned(),
        value: value.replace("''", "'"),
    })
}

impl Filter {
    /// Whether a rendered object matches (`appId` and `id` compare case-insensitively, as GUIDs).
    pub(crate) fn matches(&self, object: &Map<String, Value>) -> bool {
        let Some(Value::String(actual)) = object.get(&self.property) else {
            return false;
        };
        if self.property == "displayName" {
            actual == &self.value
        } else {
            actual.eq_ignore_ascii_case(&self.value)
        }
    }
}

/// Applies `$select` to a rendered object; unknown properties are a 400, as in Graph.
pub(crate) fn select(
    object: Map<String, Value>,
    select: Option<&[String]>,
    kind: ObjectKind,
) -> Result<Map<String, Value>, GraphError> {
    let Some(select) = select else { return Ok(object) };
    let mut out = Map::new();
    for name in select {
        match object.get(name) {
            Some(v) => {
                out.insert(name.clone(), v.clone());
            }
            None => {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    BAD_REQUEST_CODE,
                    format!(
                        "Could not find a property named '{name}' on type '{}'.",
                        kind.type_name()
                    ),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const A: ObjectKind = ObjectKind::Application;

    #[test]
    fn parses_select_filter_and_expand() {
        let q = parse(
            Some("$select=id,appId&$filter=appId%20eq%20'46e6'&$expand=owners"),
            A,
        )
        .unwrap();
        assert_eq!(q.select, Some(vec!["id".to_owned(), "appId".to_owned()]));
        assert_eq!(
            q.filter,
            Some(Filter {
                property: "appId".into(),
                value: "46e6".into()
            })
        );
        assert!(q.expand);
        let q = parse(Some("%24filter=displayName+eq+'it''s'"), A).unwrap();
        assert_eq!(q.filter.unwrap().value, "it's");
    }

    #[test]
    fn unsupported_filters_are_400() {
        for f in [
            "startswith(appId,'x')",
            "signInAudience eq 'x'",
            "appId ne 'x'",
            "appId eq x",
            "appId eq 'a'b'",
        ] {
            let err = parse(Some(&format!("$filter={f}")), A).unwrap_err();
            assert_eq!(
                (err.status, err.code.as_str()),
                (StatusCode::BAD_REQUEST, "Request_UnsupportedQuery"),
                "{f}"
            );
        }
    }

    #[test]
    fn select_keeps_requested_properties_and_refuses_unknown_ones() {
        let obj = json!({"id": "1", "appId": "2", "displayName": "x"})
            .as_object()
            .unwrap()
            .clone();
        let sel = vec!["appId".to_owned(), "id".to_owned()];
        assert_eq!(
            Value::Object(select(obj.clone(), Some(&sel), A).unwrap()),
            json!({"appId": "2", "id": "1"})
        );
        let err = select(obj, Some(&["nope".to_owned()]), A).unwrap_err();
        assert_eq!(
            err.message,
            "Could not find a property named 'nope' on type 'microsoft.graph.application'."
        );
    }

    #[test]
    fn filter_matches_guids_case_insensitively() {
        let obj = json!({"appId": "ABC"}).as_object().unwrap().clone();
        assert!(
            Filter {
                property: "appId".into(),
                value: "abc".into()
            }
            .matches(&obj)
        );
        assert!(
            !Filter {
                property: "id".into(),
                value: "abc".into()
            }
            .matches(&obj)
        );
    }
}
