//! Schema fragments shared by the custom resources: name and id patterns, CEL rules, and the
//! transforms that attach them to the generated OpenAPI schema.
//!
//! Invariant: every rule here is written so that it can be evaluated on any value the structural
//! schema admits (guards before `duration()`), keeps its estimated CEL cost bounded (every string
//! it touches has a `maxLength`), and fails with a message a user can act on.

use schemars::Schema;
use serde_json::{Value, json};

use super::duration::GO_DURATION_CEL_PATTERN;

/// A lowercase RFC 1123 subdomain (names of Secrets, Deployments, providers, ...).
pub const DNS_SUBDOMAIN_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A lowercase RFC 1123 label (namespace names).
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A GUID, as Entra writes client ids, object ids, key ids and tenant ids.
pub const GUID_PATTERN: &str =
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A tenant: a GUID or a verified domain name (`contoso.onmicrosoft.com`).
pub const TENANT_PATTERN: &str = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+)$";
/// A key of a Secret's `data`.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
/// A key of a Secret's `data`, or empty to leave the key out.
pub const OPTIONAL_SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]*$";

/// One `x-kubernetes-validations` entry.
pub(crate) struct Rule {
    rule: String,
    message: String,
    field_path: Option<String>,
}

impl Rule {
    pub(crate) fn new(rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            rule: rule.into(),
            message: message.into(),
            field_path: None,
        }
    }

    /// Reports the failure at `path` (relative to the object the rule sits on, e.g. `.renewBefore`)
    /// rather than at the object itself.
    pub(crate) fn at(mut self, path: &str) -> Self {
        self.field_path = Some(path.to_owned());
        self
    }

    fn to_json(&self) -> Value {
        let mut v = json!({ "rule": self.rule, "message": self.message });
        if let Some(path) = &self.field_path {
            v["fieldPath"] = json!(path);
        }
        v
    }
}

/// Appends `rules` to the schema's `x-kubernetes-validations`.
pub(crate) fn add_rules(schema: &mut Schema, rules: impl IntoIterator<Item = Rule>) {
    let new: Vec<Value> = rules.into_iter().map(|r| r.to_json()).collect();
    match schema.get_mut("x-kubernetes-validations") {
        Some(Value::Array(existing)) => existing.extend(new),
        _ => {
            schema.insert("x-kubernetes-validations".to_owned(), Value::Array(new));
        }
    }
}

/// CEL: `expr` (a string) is a well-formed duration.
pub(crate) fn is_duration(expr: &str) -> String {
    format!("{expr}.matches('{GO_DURATION_CEL_PATTERN}')")
}

/// The rule every duration field carries: a clear message for the common mistakes (`90d`, `1y`,
/// ISO 8601 `P90D`), instead of a regular expression.
pub(crate) fn duration_format_rule() -> Rule {
    Rule::new(
        is_duration("self"),
        "must be a duration such as 2160h, 30m or 1h30m (units h, m, s, ms; there is no day unit: 90 days is 2160h)",
    )
}

/// CEL: the duration `self` lies in `[min, max]`, written so that a malformed value (already
/// reported by [`duration_format_rule`]) does not also fail here.
pub(crate) fn duration_range_rule(what: &str, min: &str, max: &str) -> Rule {
    Rule::new(
        format!(
            "!{} || (duration(self) >= duration('{min}') && duration(self) <= duration('{max}'))",
            is_duration("self")
        ),
        format!("{what} must be between {min} and {max}"),
    )
}

/// The schema of a duration field that carries `rules` besides the format rule.
pub(crate) fn duration_schema(rules: impl IntoIterator<Item = Rule>) -> Schema {
    let mut schema = schemars::json_schema!({ "type": "string", "maxLength": 32 });
    add_rules(&mut schema, std::iter::once(duration_format_rule()).chain(rules));
    schema
}

/// CEL: exactly one of the listed optional fields of `self` is set.
pub(crate) fn exactly_one_of(fields: &[&str]) -> String {
    let list = fields
        .iter()
        .map(|f| format!("has(self.{f})"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("[{list}].filter(x, x).size() == 1")
}

/// CEL: a map of labels or annotations uses none of the operator's own keys.
pub(crate) fn no_reserved_keys_rule(what: &str) -> Rule {
    Rule::new(
        "self.all(k, !k.startsWith('secret-rotator.dev/') && !k.contains('.secret-rotator.dev/'))",
        format!("{what} under secret-rotator.dev/ are reserved for the operator"),
    )
}

/// Marks a list of conditions as a list-map keyed by `type`, so that server-side apply merges
/// entries owned by different field managers instead of replacing the list.
pub(crate) fn conditions_list_map(schema: &mut Schema) {
    schema.insert("x-kubernetes-list-type".to_owned(), json!("map"));
    schema.insert("x-kubernetes-list-map-keys".to_owned(), json!(["type"]));
}
