//! Schemas of the review and TokenRequest bodies client-go sends as protobuf (kubectl's `auth
//! can-i`, `auth whoami` and `create token` send nothing else and do not fall back to JSON). Only
//! the `spec` fields of the kinds served are read, by their field numbers in
//! `k8s.io/api/{authentication,authorization}`'s `generated.proto`.

use serde_json::{Value, json};

use super::{Field, Kind, Schema, envelope, fields, message};

const RESOURCE_ATTRIBUTES: Schema = &[
    (1, "namespace", Kind::Str),
    (2, "verb", Kind::Str),
    (3, "group", Kind::Str),
    (4, "version", Kind::Str),
    (5, "resource", Kind::Str),
    (6, "subresource", Kind::Str),
    (7, "name", Kind::Str),
];
const NON_RESOURCE_ATTRIBUTES: Schema = &[(1, "path", Kind::Str), (2, "verb", Kind::Str)];
const SELF_ACCESS_SPEC: Schema = &[
    (1, "resourceAttributes", Kind::Message(RESOURCE_ATTRIBUTES)),
    (2, "nonResourceAttributes", Kind::Message(NON_RESOURCE_ATTRIBUTES)),
];
const ACCESS_SPEC: Schema = &[
    (1, "resourceAttributes", Kind::Message(RESOURCE_ATTRIBUTES)),
    (2, "nonResourceAttributes", Kind::Message(NON_RESOURCE_ATTRIBUTES)),
    (3, "user", Kind::Str),
    (4, "groups", Kind::Strings),
    (6, "uid", Kind::Str),
];
const RULES_SPEC: Schema = &[(1, "namespace", Kind::Str)];
const TOKEN_REVIEW_SPEC: Schema = &[(1, "token", Kind::Str), (2, "audiences", Kind::Strings)];
const BOUND_OBJECT: Schema = &[
    (1, "kind", Kind::Str),
    (2, "apiVersion", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
];
const TOKEN_REQUEST_SPEC: Schema = &[
    (1, "audiences", Kind::Strings),
    (4, "expirationSeconds", Kind::Int),
    (3, "boundObjectRef", Kind::Message(BOUND_OBJECT)),
];

/// Decodes a protobuf review or TokenRequest body of `kind` into the JSON object the endpoints
/// read (`apiVersion`, `kind`, `spec`).
pub fn decode(kind: &str, body: &[u8]) -> Result<Value, String> {
    let (api_version, found_kind, raw) = envelope(body)?;
    let schema = match kind {
        "SelfSubjectAccessReview" => SELF_ACCESS_SPEC,
        "SubjectAccessReview" => ACCESS_SPEC,
        "SelfSubjectRulesReview" => RULES_SPEC,
        "TokenReview" => TOKEN_REVIEW_SPEC,
        "TokenRequest" => TOKEN_REQUEST_SPEC,
        _ => &[],
    };
    let mut spec = json!({});
    for (number, field) in fields(raw)? {
        if let (2, Field::Bytes(b)) = (number, field) {
            spec = message(b, schema)?;
        }
    }
    Ok(json!({"apiVersion": api_version, "kind": found_kind, "spec": spec}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::protobuf::MAGIC;

    /// What kubectl 1.33 sent for `kubectl auth can-i list secrets -n team`.
    const CAN_I: &[u8] = b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12=\n\x10\n\x00\x12\x00\x1a\x00\"\x00*\x002\x008\x00B\x00\x12\x1f\n\x1d\n\x04team\x12\x04list\x1a\x00\"\x00*\x07secrets2\x00:\x00\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00\"\x00";

    #[test]
    fn decodes_kubectls_self_subject_access_review() {
        let v = decode("SelfSubjectAccessReview", CAN_I).unwrap();
        assert_eq!(v["apiVersion"], "authorization.k8s.io/v1");
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
        assert_eq!(
            v["spec"]["resourceAttributes"],
            json!({"namespace": "team", "verb": "list", "group": "", "version": "", "resource": "secrets", "subresource": "", "name": ""})
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        assert!(decode("SelfSubjectAccessReview", b"{}").is_err());
        assert!(decode("SelfSubjectAccessReview", &CAN_I[..40]).is_err());
        assert!(decode("SelfSubjectAccessReview", b"k8s\x00\x0a\xff").is_err());
    }

    #[test]
    fn token_requests_keep_repeated_and_integer_fields() {
        // spec { audiences: "a", audiences: "b", expirationSeconds: 3600 }
        let spec = [b"\x0a\x01a\x0a\x01b\x20".as_slice(), &[0x90, 0x1c]].concat();
        let raw = [&[0x12, spec.len() as u8][..], &spec].concat();
        let body = [MAGIC, &[0x12, raw.len() as u8], &raw].concat();
        let v = decode("TokenRequest", &body).unwrap();
        assert_eq!(
            v["spec"],
            json!({"audiences": ["a", "b"], "expirationSeconds": 3600})
        );
    }
}
