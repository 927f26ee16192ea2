//! Field-level validation errors and the `Status` bodies kube-apiserver builds from them.
//!
//! A [`FieldError`] is apimachinery's `field.Error`: a type (`FieldValueInvalid`, ...), the field
//! path (`spec.size`, or `<nil>` for the object as a whole), the offending value and a detail.
//! [`invalid_status`] renders a list of them as the 422 `Invalid` `Status` exactly as the real
//! server does (same aggregation, de-duplication and Go value formatting), e.g.
//! `Widget.conformance.example.com "w2" is invalid: [spec.color: Unsupported value: "green": ...]`.
//!
//! Invariant: rendering is deterministic and never panics, whatever the bad value.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value, json};

use super::json_value::{go_number, go_quote, go_sharp_v};

/// What kind of problem a field has; `reason()` is the `StatusCause.reason` string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `FieldValueNotFound`
    NotFound,
    /// `FieldValueRequired`
    Required,
    /// `FieldValueDuplicate`
    Duplicate,
    /// `FieldValueInvalid`
    Invalid,
    /// `FieldValueNotSupported`
    NotSupported,
    /// `FieldValueForbidden`
    Forbidden,
    /// `FieldValueTooLong`
    TooLong,
    /// `FieldValueTooMany`
    TooMany,
    /// `InternalError`
    Internal,
    /// `FieldValueTypeInvalid`
    TypeInvalid,
}

impl ErrorType {
    /// The machine-readable cause reason (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// Parses a cause reason as written in CRD `x-kubernetes-validations[].reason`.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Some(match reason {
            "FieldValueNotFound" => ErrorType::NotFound,
            "FieldValueRequired" => ErrorType::Required,
            "FieldValueDuplicate" => ErrorType::Duplicate,
            "FieldValueInvalid" => ErrorType::Invalid,
            "FieldValueNotSupported" => ErrorType::NotSupported,
            "FieldValueForbidden" => ErrorType::Forbidden,
            "FieldValueTooLong" => ErrorType::TooLong,
            "FieldValueTooMany" => ErrorType::TooMany,
            "InternalError" => ErrorType::Internal,
            "FieldValueTypeInvalid" => ErrorType::TypeInvalid,
            _ => return None,
        })
    }

    /// The human label that starts the message (`Invalid value`, `Required value`, ...).
    pub fn label(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }
}

/// The value a field error quotes.
#[derive(Clone, Debug, PartialEq)]
pub enum BadValue {
    /// Not printed at all (CEL rule failures, `Required`, `Forbidden`, ...).
    Omitted,
    /// Printed the Go way: strings quoted, numbers plain, `null` for null.
    Value(Value),
}

/// One field-level validation error (apimachinery's `field.Error`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The error type.
    pub error_type: ErrorType,
    /// The field path, e.g. `spec.size`; `<nil>` for the whole object.
    pub field: String,
    /// The value quoted in the message.
    pub bad_value: BadValue,
    /// Free text after the value.
    pub detail: String,
}

/// The field path kube-apiserver prints for "no particular field".
pub const NIL_FIELD: &str = "<nil>";

impl FieldError {
    fn new(
        error_type: ErrorType,
        field: impl Into<String>,
        bad_value: BadValue,
        detail: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let field = if field.is_empty() {
            NIL_FIELD.to_string()
        } else {
            field
        };
        FieldError {
            error_type,
            field,
            bad_value,
            detail: detail.into(),
        }
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, BadValue::Value(value), detail)
    }

    /// `Invalid value: <detail>` (no value printed; what CEL rule failures use).
    pub fn invalid_omit_value(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, BadValue::Omitted, detail)
    }

    /// `Required value[: <detail>]`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, BadValue::Omitted, detail)
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, BadValue::Omitted, detail)
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: Value) -> Self {
        Self::new(ErrorType::Duplicate, field, BadValue::Value(value), "")
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: Value, valid: &[String]) -> Self {
        let detail = if valid.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = valid.iter().map(|v| go_quote(v)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, BadValue::Value(value), detail)
    }

    /// `Invalid value: <value>: <detail>` with reason `FieldValueTypeInvalid`.
    pub fn type_invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::TypeInvalid, field, BadValue::Value(value), detail)
    }

    /// `Too long: may not be more than <max> bytes`.
    pub fn too_long(field: impl Into<String>, value: Value, max: Option<u64>) -> Self {
        let detail = match max {
            Some(1) => "may not be more than 1 byte".to_string(),
            Some(m) => format!("may not be more than {m} bytes"),
            None => "value is too long".to_string(),
        };
        Self::new(ErrorType::TooLong, field, BadValue::Value(value), detail)
    }

    /// `Too many: <actual>: must have at most <max> items`.
    pub fn too_many(field: impl Into<String>, actual: Option<u64>, max: Option<u64>) -> Self {
        let detail = match max {
            Some(1) => "must have at most 1 item".to_string(),
            Some(m) => format!("must have at most {m} items"),
            None => "has too many items".to_string(),
        };
        let bad = actual.map_or(BadValue::Omitted, |a| BadValue::Value(json!(a)));
        Self::new(ErrorType::TooMany, field, bad, detail)
    }

    /// An error of any type (e.g. from a CEL rule's `reason`).
    pub fn of_type(
        error_type: ErrorType,
        field: impl Into<String>,
        bad_value: BadValue,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(error_type, field, bad_value, detail)
    }

    /// The message without the field (`StatusCause.message`), e.g. `Invalid value: 0: spec.size in
    /// body should be greater than or equal to 1`.
    pub fn body(&self) -> String {
        let label = self.error_type.label();
        let omit_value = matches!(
            self.error_type,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal
        );
        let mut s = match (&self.bad_value, omit_value) {
            (_, true) | (BadValue::Omitted, _) => label.to_string(),
            (BadValue::Value(v), false) => format!("{label}: {}", render_bad_value(v)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The `StatusCause` object (`reason`, `message`, `field`).
    pub fn cause(&self) -> Value {
        json!({"reason": self.error_type.reason(), "message": self.body(), "field": self.field})
    }
}

fn render_bad_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        compound => go_sharp_v(compound),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// apimachinery's `ErrorList.ToAggregate().Error()`: one message as is, several de-duplicated and
/// wrapped in `[a, b]`.
pub fn aggregate_message(errors: &[FieldError]) -> String {
    let mut seen = HashSet::new();
    let mut msgs = Vec::new();
    for e in errors {
        let m = e.to_string();
        if seen.insert(m.clone()) {
            msgs.push(m);
        }
    }
    match msgs.len() {
        0 => String::new(),
        1 => msgs.remove(0),
        _ => format!("[{}]", msgs.join(", ")),
    }
}

/// The `metav1.Status` for a 422 `Invalid` answer about object `name` of kind `kind` in API group
/// `group` (empty for the core group), e.g. for `cr-create-invalid-fields`:
///
/// ```
/// use sandbox::apiserver::field_errors::{FieldError, invalid_status};
/// use serde_json::json;
///
/// let errs = vec![FieldError::required("spec.size", "")];
/// let status = invalid_status("conformance.example.com", "Widget", "w3", &errs);
/// assert_eq!(status["code"], 422);
/// assert_eq!(
///     status["message"],
///     "Widget.conformance.example.com \"w3\" is invalid: spec.size: Required value"
/// );
/// assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueRequired");
/// ```
pub fn invalid_status(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Value {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let message = if errors.is_empty() {
        format!("{qualified} {} is invalid", go_quote(name))
    } else {
        format!(
            "{qualified} {} is invalid: {}",
            go_quote(name),
            aggregate_message(errors)
        )
    };
    let mut details = Map::new();
    if !name.is_empty() {
        details.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        details.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        details.insert("kind".into(), json!(kind));
    }
    details.insert(
        "causes".into(),
        Value::Array(errors.iter().map(FieldError::cause).collect()),
    );
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Invalid",
        "details": details,
        "code": 422,
    })
}

/// A `Status` body for a plain error without details (`BadRequest`, `UnsupportedMediaType`, ...).
pub fn simple_status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_apimachinery() {
        let cases: Vec<(&str, FieldError, &str)> = vec![
            (
                "enum",
                FieldError::not_supported("spec.color", json!("green"), &["red".into(), "blue".into()]),
                r#"Unsupported value: "green": supported values: "red", "blue""#,
            ),
            (
                "required",
                FieldError::required("spec.size", ""),
                "Required value",
            ),
            (
                "required with detail",
                FieldError::required("fieldManager", "is required for apply patch"),
                "Required value: is required for apply patch",
            ),
            (
                "type",
                FieldError::type_invalid(
                    "spec.size",
                    json!("string"),
                    "spec.size in body must be of type integer: \"string\"",
                ),
                r#"Invalid value: "string": spec.size in body must be of type integer: "string""#,
            ),
            (
                "int value",
                FieldError::invalid("spec.size", json!(0), "x"),
                "Invalid value: 0: x",
            ),
            (
                "null value",
                FieldError::invalid("", Value::Null, "x"),
                "Invalid value: null: x",
            ),
            (
                "cel",
                FieldError::invalid_omit_value("spec", "sizes above 5 must be red"),
                "Invalid value: sizes above 5 must be red",
            ),
            (
                "forbidden",
                FieldError::forbidden("spec.x", "nope"),
                "Forbidden: nope",
            ),
            (
                "too long",
                FieldError::too_long("spec.name", json!("abc"), Some(2)),
                "Too long: may not be more than 2 bytes",
            ),
            (
                "too many",
                FieldError::too_many("spec.tags", Some(3), Some(2)),
                "Too many: 3: must have at most 2 items",
            ),
            (
                "too many one",
                FieldError::too_many("spec.tags", Some(3), Some(1)),
                "Too many: 3: must have at most 1 item",
            ),
            (
                "duplicate",
                FieldError::duplicate("spec.c[1]", json!({"type": "A"})),
                r#"Duplicate value: map[string]interface {}{"type":"A"}"#,
            ),
        ];
        for (name, err, want) in cases {
            assert_eq!(err.body(), want, "{name}");
        }
        assert_eq!(FieldError::invalid("", Value::Null, "x").field, "<nil>");
    }

    #[test]
    fn aggregate_dedups_and_brackets() {
        let a = FieldError::required("a", "");
        let b = FieldError::required("b", "");
        assert_eq!(aggregate_message(std::slice::from_ref(&a)), "a: Required value");
        assert_eq!(
            aggregate_message(&[a.clone(), b, a]),
            "[a: Required value, b: Required value]"
        );
    }

    #[test]
    fn status_for_core_kind_has_no_group() {
        let s = invalid_status(
            "",
            "Secret",
            "Bad_Name",
            &[FieldError::invalid("metadata.name", json!("Bad_Name"), "x")],
        );
        assert_eq!(
            s["message"],
            "Secret \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": x"
        );
        assert!(s["details"].get("group").is_none());
        assert_eq!(s["details"]["kind"], "Secret");
    }
}
