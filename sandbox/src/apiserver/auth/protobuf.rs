//! Decoding of the protobuf bodies client-go sends to the review and TokenRequest endpoints
//! (`Content-Type: application/vnd.kubernetes.protobuf`; kubectl's `auth can-i`, `auth whoami`
//! and `create token` send nothing else and do not fall back to JSON). Answers stay JSON, which
//! those clients accept.
//!
//! The envelope is kube's `runtime.Unknown` after the 4-byte magic `k8s\0`: field 1 `typeMeta`
//! (`apiVersion` 1, `kind` 2), field 2 `raw` (the object). Only the `spec` fields of the kinds
//! served here are read, by their field numbers in `k8s.io/api/{authentication,authorization}`'s
//! `generated.proto`.
//!
//! Invariant: malformed input is an error, never a panic; unknown fields are skipped.

use serde_json::{Map, Value, json};

/// The protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut out = vec![];
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let (number, wire) = (tag >> 3, tag & 7);
        let field = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            2 => {
                let len = varint(buf, &mut pos)? as usize;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated field")?;
                let bytes = &buf[pos..end];
                pos = end;
                Field::Bytes(bytes)
            }
            1 => {
                pos += 8;
                continue;
            }
            5 => {
                pos += 4;
                continue;
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        out.push((number, field));
    }
    if pos > buf.len() {
        return Err("truncated fixed-width field".into());
    }
    Ok(out)
}

/// How a field of a message becomes JSON.
enum Kind {
    Str,
    Strings,
    Int,
    Message(&'static [(u64, &'static str, Kind)]),
}

const RESOURCE_ATTRIBUTES: &[(u64, &str, Kind)] = &[
    (1, "namespace", Kind::Str),
    (2, "verb", Kind::Str),
    (3, "group", Kind::Str),
    (4, "version", Kind::Str),
    (5, "resource", Kind::Str),
    (6, "subresource", Kind::Str),
    (7, "name", Kind::Str),
];
const NON_RESOURCE_ATTRIBUTES: &[(u64, &str, Kind)] = &[(1, "path", Kind::Str), (2, "verb", Kind::Str)];
const SELF_ACCESS_SPEC: &[(u64, &str, Kind)] = &[
    (1, "resourceAttributes", Kind::Message(RESOURCE_ATTRIBUTES)),
    (2, "nonResourceAttributes", Kind::Message(NON_RESOURCE_ATTRIBUTES)),
];
const ACCESS_SPEC: &[(u64, &str, Kind)] = &[
    (1, "resourceAttributes", Kind::Message(RESOURCE_ATTRIBUTES)),
    (2, "nonResourceAttributes", Kind::Message(NON_RESOURCE_ATTRIBUTES)),
    (3, "user", Kind::Str),
    (4, "groups", Kind::Strings),
    (6, "uid", Kind::Str),
];
const RULES_SPEC: &[(u64, &str, Kind)] = &[(1, "namespace", Kind::Str)];
const TOKEN_REVIEW_SPEC: &[(u64, &str, Kind)] = &[(1, "token", Kind::Str), (2, "audiences", Kind::Strings)];
const BOUND_OBJECT: &[(u64, &str, Kind)] = &[
    (1, "kind", Kind::Str),
    (2, "apiVersion", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
];
const TOKEN_REQUEST_SPEC: &[(u64, &str, Kind)] = &[
    (1, "audiences", Kind::Strings),
    (4, "expirationSeconds", Kind::Int),
    (3, "boundObjectRef", Kind::Message(BOUND_OBJECT)),
];

fn str_of(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "invalid UTF-8 in a string field".to_string())
}

fn message(buf: &[u8], schema: &[(u64, &str, Kind)]) -> Result<Value, String> {
    let mut out = Map::new();
    for (number, field) in fields(buf)? {
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        match (kind, field) {
            (Kind::Str, Field::Bytes(b)) => {
                out.insert(name.to_string(), json!(str_of(b)?));
            }
            (Kind::Strings, Field::Bytes(b)) => {
                let list = out.entry(name.to_string()).or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(str_of(b)?));
                }
            }
            (Kind::Int, Field::Varint(v)) => {
                out.insert(name.to_string(), json!(v as i64));
            }
            (Kind::Message(inner), Field::Bytes(b)) => {
                out.insert(name.to_string(), message(b, inner)?);
            }
            _ => return Err(format!("field {name} has the wrong wire type")),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body of `kind` into the JSON object the endpoints read
/// (`apiVersion`, `kind`, `spec`).
pub fn decode(kind: &str, body: &[u8]) -> Result<Value, String> {
    let envelope = body.strip_prefix(MAGIC).ok_or("missing the k8s protobuf magic")?;
    let mut api_version = String::new();
    let mut found_kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, field) in fields(envelope)? {
        match (number, field) {
            (1, Field::Bytes(type_meta)) => {
                for (n, f) in fields(type_meta)? {
                    match (n, f) {
                        (1, Field::Bytes(b)) => api_version = str_of(b)?,
                        (2, Field::Bytes(b)) => found_kind = str_of(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
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
