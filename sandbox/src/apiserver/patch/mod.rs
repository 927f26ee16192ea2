//! Patches: which `PATCH` content types a resource accepts, and strategic merge patch
//! ([`strategic`]) as kube-apiserver applies it to built-in kinds.
//!
//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902) need no kind knowledge: apply them with
//! the workspace's `json-patch` crate (`json_patch::merge`, `json_patch::patch`). A failed JSON
//! patch (`test` op included) is answered with [`invalid_patch_status`].
//!
//! Invariant: every error carries the `Status` body kube-apiserver would send.

pub mod strategic;

use serde_json::{Value, json};

pub use self::strategic::strategic_merge_patch;
use crate::apiserver::field_errors::simple_status;

/// A `PATCH` content type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json` (built-in kinds only).
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply; the body may be JSON or YAML).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Some(match media.as_str() {
            "application/json-patch+json" => PatchType::Json,
            "application/merge-patch+json" => PatchType::Merge,
            "application/strategic-merge-patch+json" => PatchType::StrategicMerge,
            "application/apply-patch+yaml" => PatchType::Apply,
            _ => return None,
        })
    }

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// The patch types a resource accepts, in the order kube-apiserver lists them: custom resources
/// do not accept strategic merge patch (there are no patch strategies in a CRD schema).
pub fn accepted_patch_types(is_custom_resource: bool) -> &'static [PatchType] {
    if is_custom_resource {
        &[PatchType::Json, PatchType::Merge, PatchType::Apply]
    } else {
        &[
            PatchType::Json,
            PatchType::Merge,
            PatchType::StrategicMerge,
            PatchType::Apply,
        ]
    }
}

/// The patch type to use for a `PATCH` with `content_type`, or the 415 `UnsupportedMediaType`
/// `Status` to answer (e.g. a strategic merge patch sent to a custom resource).
///
/// ```
/// use sandbox::apiserver::patch::{PatchType, patch_type_for};
///
/// assert_eq!(patch_type_for("application/merge-patch+json", true), Ok(PatchType::Merge));
/// let status = patch_type_for("application/strategic-merge-patch+json", true).unwrap_err();
/// assert_eq!(status["code"], 415);
/// ```
pub fn patch_type_for(content_type: &str, is_custom_resource: bool) -> Result<PatchType, Value> {
    let accepted = accepted_patch_types(is_custom_resource);
    match PatchType::from_content_type(content_type) {
        Some(p) if accepted.contains(&p) => Ok(p),
        _ => {
            let list: Vec<&str> = accepted.iter().map(|p| p.media_type()).collect();
            Err(simple_status(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: {}",
                    list.join(", ")
                ),
            ))
        }
    }
}

/// The 422 kube-apiserver answers when a JSON patch cannot be applied (a failed `test`, a path
/// that does not exist): a generic message and empty details, as recorded in
/// `secret-patch-json-test-fails`.
pub fn invalid_patch_status() -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid",
        "details": {},
        "code": 422,
    })
}

/// Why a patch could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// A malformed patch (400 `BadRequest`), e.g. `invalid patch format of retainKeys`.
    #[error("{0}")]
    BadRequest(String),
    /// A patch kube-apiserver refuses as unprocessable (422, generic message), e.g. lists of lists.
    #[error("{0}")]
    Invalid(String),
    /// A patch the merge code chokes on (500 with the raw message, as kube-apiserver answers), e.g.
    /// an unknown `$patch` directive or a list item without its merge key.
    #[error("{0}")]
    Internal(String),
}

impl PatchError {
    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::Invalid(_) => 422,
            PatchError::Internal(_) => 500,
        }
    }

    /// The `Status` body.
    pub fn status(&self) -> Value {
        match self {
            PatchError::BadRequest(m) => simple_status(400, "BadRequest", m),
            PatchError::Invalid(_) => invalid_patch_status(),
            PatchError::Internal(m) => {
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": m, "code": 500})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::recordings::exchange;

    #[test]
    fn content_types() {
        let cases = [
            ("application/json-patch+json", Some(PatchType::Json)),
            (
                "application/merge-patch+json; charset=utf-8",
                Some(PatchType::Merge),
            ),
            (
                "Application/Strategic-Merge-Patch+JSON",
                Some(PatchType::StrategicMerge),
            ),
            ("application/apply-patch+yaml", Some(PatchType::Apply)),
            ("application/json", None),
        ];
        for (ct, want) in cases {
            assert_eq!(PatchType::from_content_type(ct), want, "{ct}");
        }
    }

    #[test]
    fn custom_resources_refuse_strategic_merge_patch() {
        assert_eq!(
            patch_type_for("application/strategic-merge-patch+json", false),
            Ok(PatchType::StrategicMerge)
        );
        let s = patch_type_for("application/strategic-merge-patch+json", true).unwrap_err();
        assert_eq!(s["reason"], "UnsupportedMediaType");
        assert_eq!(
            s["message"],
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        );
        assert!(patch_type_for("text/plain", false).is_err());
    }

    #[test]
    fn json_patch_failures_match_the_recordings() {
        for case in ["secret-patch-json-test-fails", "secret-patch-json-bad-path"] {
            let ex = exchange(case);
            let mut doc = json!({"metadata": {"labels": {"app": "a"}}});
            let patch: json_patch::Patch = serde_json::from_value(ex.request_body().clone()).unwrap();
            assert!(json_patch::patch(&mut doc, &patch).is_err(), "{case}");
            assert_eq!(&invalid_patch_status(), ex.response_body(), "{case}");
        }
    }
}
