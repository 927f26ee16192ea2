//! Decoding of the protobuf request bodies client-go sends (`Content-Type:
//! application/vnd.kubernetes.protobuf`) into the JSON the rest of the server works on. Answers
//! stay JSON, which those clients accept.
//!
//! The envelope is kube's `runtime.Unknown` after the 4-byte magic `k8s\0`: field 1 `typeMeta`
//! (`apiVersion` 1, `kind` 2), field 2 `raw` (the object). The object is read with a schema
//! table per kind ([`reviews`] for the review and TokenRequest endpoints, [`objects`] for the
//! built-in kinds `kubectl create` sends), by the field numbers of `k8s.io/api`'s
//! `generated.proto`. Kinds without a table are refused by the caller with a 415.
//!
//! Invariant: malformed input is an error, never a panic; unknown fields are skipped.

pub mod objects;
pub mod reviews;

use base64::Engine;
use serde_json::{Map, Value, json};

/// The protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Whether a `Content-Type` names the protobuf media type.
pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or("").trim() == PROTOBUF
}

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
    /// `string`; kept even when empty.
    Str,
    /// `string` that Go omits from JSON when empty (`omitempty`).
    OptStr,
    /// `repeated string`.
    Strings,
    /// An integer.
    Int,
    /// A `*bool` (present only when set).
    Bool,
    /// `map<string, string>`.
    StrMap,
    /// `map<string, bytes>` (base64 in JSON).
    BytesMap,
    /// A nested message.
    Message(Schema),
    /// `repeated` nested messages.
    Messages(Schema),
}

/// A message's fields: number, JSON name, and how to read it.
type Schema = &'static [(u64, &'static str, Kind)];

fn str_of(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| "invalid UTF-8 in a string field".to_string())
}

/// One `map<string, V>` entry: key 1, value 2.
fn map_entry(buf: &[u8]) -> Result<(String, &[u8]), String> {
    let (mut key, mut value) = (String::new(), &[][..]);
    for (number, field) in fields(buf)? {
        match (number, field) {
            (1, Field::Bytes(b)) => key = str_of(b)?,
            (2, Field::Bytes(b)) => value = b,
            _ => return Err("malformed map entry".into()),
        }
    }
    Ok((key, value))
}

fn message(buf: &[u8], schema: Schema) -> Result<Value, String> {
    let mut out = Map::new();
    for (number, field) in fields(buf)? {
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = name.to_string();
        match (kind, field) {
            (Kind::Str, Field::Bytes(b)) => {
                out.insert(name, json!(str_of(b)?));
            }
            (Kind::OptStr, Field::Bytes(b)) => {
                if !b.is_empty() {
                    out.insert(name, json!(str_of(b)?));
                }
            }
            (Kind::Strings, Field::Bytes(b)) => push(&mut out, name, json!(str_of(b)?)),
            (Kind::Int, Field::Varint(v)) => {
                out.insert(name, json!(v as i64));
            }
            (Kind::Bool, Field::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::StrMap, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                insert_entry(&mut out, name, k, json!(str_of(v)?));
            }
            (Kind::BytesMap, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(v);
                insert_entry(&mut out, name, k, json!(encoded));
            }
            (Kind::Message(inner), Field::Bytes(b)) => {
                out.insert(name, message(b, inner)?);
            }
            (Kind::Messages(inner), Field::Bytes(b)) => push(&mut out, name, message(b, inner)?),
            _ => return Err(format!("field {name} has the wrong wire type")),
        }
    }
    Ok(Value::Object(out))
}

fn push(out: &mut Map<String, Value>, name: String, item: Value) {
    if let Some(a) = out.entry(name).or_insert_with(|| json!([])).as_array_mut() {
        a.push(item);
    }
}

fn insert_entry(out: &mut Map<String, Value>, name: String, key: String, value: Value) {
    if let Some(m) = out.entry(name).or_insert_with(|| json!({})).as_object_mut() {
        m.insert(key, value);
    }
}

/// The envelope's `apiVersion`, `kind` and raw object bytes.
fn envelope(body: &[u8]) -> Result<(String, String, &[u8]), String> {
    let envelope = body.strip_prefix(MAGIC).ok_or("missing the k8s protobuf magic")?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, field) in fields(envelope)? {
        match (number, field) {
            (1, Field::Bytes(type_meta)) => {
                for (n, f) in fields(type_meta)? {
                    match (n, f) {
                        (1, Field::Bytes(b)) => api_version = str_of(b)?,
                        (2, Field::Bytes(b)) => kind = str_of(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    Ok((api_version, kind, raw))
}
