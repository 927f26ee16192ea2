//! `metadata.managedFields`: decoding the entries into per-manager field sets, and encoding them
//! back sorted the way kube-apiserver sorts them (operation, time, manager, subresource,
//! apiVersion), with `time` at seconds precision.
//!
//! Invariant: an entry is identified by (manager, operation, subresource) for `Apply` and by
//! (manager, operation, apiVersion, subresource) for `Update`, like kube-apiserver's manager
//! identifiers; entries with an empty field set are never encoded.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::fieldpath::FieldSet;

/// Whether an entry records an apply or another write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
    /// Any other write (create, update, merge/JSON/strategic patch).
    Update,
}

impl Operation {
    /// `"Apply"` or `"Update"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedFieldsEntry {
    /// The field manager, e.g. `kubectl` or `Python-urllib`.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: Operation,
    /// The API version of the request that set the fields, e.g. `apps/v1`.
    pub api_version: String,
    /// When the entry last changed (seconds precision).
    pub time: Option<Timestamp>,
    /// The subresource written (`status`), empty for the main resource.
    pub subresource: String,
    /// The fields owned.
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    /// Whether `other` is the same manager identity (what decides which entry a write updates).
    pub fn same_identity(&self, other: &ManagedFieldsEntry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How a conflict message names this manager: `"alpha"`, `"kubectl-client-side-apply" using
    /// apps/v1`, `"ctrl" with subresource "status"`.
    pub fn describe(&self) -> String {
        let mut s = crate::apiserver::json_value::go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                crate::apiserver::json_value::go_quote(&self.subresource)
            ));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The JSON form. NB: an empty manager (a write without `fieldManager` from a client sending
    /// no `User-Agent`) is omitted, as Go's `omitempty` does.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.manager.is_empty() {
            m.insert("manager".into(), json!(self.manager));
        }
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = self.time {
            m.insert("time".into(), json!(format_time(t)));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }
}

/// `metav1.Time` rendering: RFC 3339, seconds precision, `Z`.
pub fn format_time(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Truncates a timestamp to the seconds managed fields keep.
pub fn truncate_to_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

/// Why `managedFields` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error decoding managed fields: {0}")]
pub struct DecodeError(pub String);

/// Decodes an object's `metadata.managedFields`; absent or `null` is no entry. Entries with the
/// same identity are merged.
pub fn decode(object: &Value) -> Result<Vec<ManagedFieldsEntry>, DecodeError> {
    let Some(raw) = object.get("metadata").and_then(|m| m.get("managedFields")) else {
        return Ok(Vec::new());
    };
    decode_list(raw)
}

/// Decodes a `managedFields` list.
pub fn decode_list(raw: &Value) -> Result<Vec<ManagedFieldsEntry>, DecodeError> {
    let items = match raw {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(DecodeError("managedFields must be a list".into())),
    };
    let mut out: Vec<ManagedFieldsEntry> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(DecodeError(format!("entry {i} must be an object")));
        };
        let string = |k: &str| -> Result<String, DecodeError> {
            match m.get(k) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(DecodeError(format!("entry {i}: {k} must be a string"))),
            }
        };
        let operation = match string("operation")?.as_str() {
            "Apply" => Operation::Apply,
            // NB: an empty entry (`managedFields: [{}]`) is how clients clear managed fields; it
            // decodes to an Update entry owning nothing, which is then dropped.
            "Update" | "" => Operation::Update,
            other => return Err(DecodeError(format!("entry {i}: unsupported operation {other:?}"))),
        };
        let fields_type = string("fieldsType")?;
        if !fields_type.is_empty() && fields_type != "FieldsV1" {
            return Err(DecodeError(format!(
                "entry {i}: unsupported fieldsType {fields_type:?}"
            )));
        }
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => FieldSet::from_fields_v1(v).map_err(|e| DecodeError(format!("entry {i}: {e}")))?,
        };
        let time = match string("time")?.as_str() {
            "" => None,
            t => Some(
                t.parse::<Timestamp>()
                    .map_err(|e| DecodeError(format!("entry {i}: invalid time {t:?}: {e}")))?,
            ),
        };
        let entry = ManagedFieldsEntry {
            manager: string("manager")?,
            operation,
            api_version: string("apiVersion")?,
            time,
            subresource: string("subresource")?,
            fields,
        };
        match out.iter_mut().find(|e| e.same_identity(&entry)) {
            Some(existing) => {
                existing.fields = existing.fields.union(&entry.fields);
                existing.time = existing.time.max(entry.time);
            }
            None => out.push(entry),
        }
    }
    Ok(out)
}

/// Sorts entries as kube-apiserver encodes them: `Apply` before `Update`, then oldest first, then
/// by manager, subresource and apiVersion.
pub fn sort(entries: &mut [ManagedFieldsEntry]) {
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| {
                let secs = |t: Option<Timestamp>| t.map_or(0, |t| t.as_second());
                secs(p.time).cmp(&secs(q.time))
            })
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.subresource.cmp(&q.subresource))
            .then_with(|| p.api_version.cmp(&q.api_version))
    });
}

/// The `managedFields` JSON list (sorted, empty sets dropped); `None` when nothing is left.
pub fn encode(entries: &[ManagedFieldsEntry]) -> Option<Value> {
    let mut kept: Vec<ManagedFieldsEntry> =
        entries.iter().filter(|e| !e.fields.is_empty()).cloned().collect();
    if kept.is_empty() {
        return None;
    }
    sort(&mut kept);
    Some(Value::Array(
        kept.iter().map(ManagedFieldsEntry::to_json).collect(),
    ))
}

/// Writes `entries` into `object.metadata.managedFields` (removing the key when empty).
pub fn set_on_object(object: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Some(obj) = object.as_object_mut() else { return };
    let encoded = encode(entries);
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else { return };
    match encoded {
        Some(list) => {
            meta.insert("managedFields".into(), list);
        }
        None => {
            meta.remove("managedFields");
        }
    }
}

/// Removes `metadata.managedFields` from an object.
pub fn strip_from_object(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
}

/// The most `Update` entries kept; older ones are merged into `ancient-changes`.
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Merges the oldest `Update` entries into one `ancient-changes` entry per API version until at
/// most [`MAX_UPDATE_MANAGERS`] remain, as kube-apiserver does.
pub fn cap_update_managers(entries: &mut Vec<ManagedFieldsEntry>) {
    let count = entries
        .iter()
        .filter(|e| e.operation == Operation::Update)
        .count();
    if count <= MAX_UPDATE_MANAGERS {
        return;
    }
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].operation == Operation::Update)
        .collect();
    updaters.sort_by(|&a, &b| {
        let secs = |i: usize| entries[i].time.map_or(0, |t| t.as_second());
        secs(a)
            .cmp(&secs(b))
            .then_with(|| entries[a].manager.cmp(&entries[b].manager))
    });
    let mut remaining = count;
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut drop = vec![false; entries.len()];
    for &i in &updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        match first_of_version
            .iter()
            .find(|(v, _)| *v == version)
            .map(|(_, b)| *b)
        {
            Some(bucket) => {
                entries[bucket].manager = ANCIENT_CHANGES.into();
                entries[bucket].subresource.clear();
                entries[bucket].fields = entries[bucket].fields.union(&entries[i].fields);
                entries[bucket].time = entries[i].time;
                drop[i] = true;
                remaining -= 1;
            }
            None => first_of_version.push((version, i)),
        }
    }
    let mut idx = 0;
    entries.retain(|_| {
        let keep = !drop[idx];
        idx += 1;
        keep
    });
}

/// The manager name old updates are merged into.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, op: Operation, secs: i64) -> ManagedFieldsEntry {
        let mut fields = FieldSet::new();
        fields.insert(&[super::super::fieldpath::PathElement::Field(manager.into())]);
        ManagedFieldsEntry {
            manager: manager.into(),
            operation: op,
            api_version: "v1".into(),
            time: Some(Timestamp::from_second(secs).unwrap()),
            subresource: String::new(),
            fields,
        }
    }

    #[test]
    fn decode_encode_round_trip_of_a_recording() {
        let obj = json!({"metadata": {"managedFields": [
            {"manager": "ctrl", "operation": "Apply", "apiVersion": "conformance.example.com/v1", "time": "2026-11-22T11:42:46Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:phase": {}}}, "subresource": "status"},
            {"manager": "Python-urllib", "operation": "Update", "apiVersion": "conformance.example.com/v1", "time": "2026-11-22T11:42:46Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {".": {}, "f:size": {}}}},
        ]}});
        let entries = decode(&obj).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(encode(&entries).unwrap(), obj["metadata"]["managedFields"]);
    }

    #[test]
    fn an_empty_manager_is_omitted_and_read_back() {
        let nameless = entry("", Operation::Update, 10);
        let json = nameless.to_json();
        assert!(json.get("manager").is_none(), "{json}");
        let back = decode_list(&json!([json])).unwrap();
        assert_eq!(back, vec![nameless]);
    }

    #[test]
    fn sort_order() {
        let mut es = vec![
            entry("b", Operation::Update, 10),
            entry("a", Operation::Update, 20),
            entry("z", Operation::Apply, 30),
            entry("c", Operation::Update, 10),
        ];
        sort(&mut es);
        let names: Vec<&str> = es.iter().map(|e| e.manager.as_str()).collect();
        assert_eq!(names, vec!["z", "b", "c", "a"]);
    }

    #[test]
    fn decode_errors() {
        let bad = [
            json!({"metadata": {"managedFields": {}}}),
            json!({"metadata": {"managedFields": [{"operation": "Patch"}]}}),
            json!({"metadata": {"managedFields": [{"operation": "Apply", "fieldsType": "FieldsV2"}]}}),
            json!({"metadata": {"managedFields": [{"operation": "Apply", "fieldsV1": {"q:x": {}}}]}}),
            json!({"metadata": {"managedFields": [{"operation": "Apply", "time": "yesterday"}]}}),
        ];
        for b in bad {
            assert!(decode(&b).is_err(), "{b}");
        }
    }

    #[test]
    fn describe_managers() {
        let mut e = entry("alpha", Operation::Apply, 0);
        assert_eq!(e.describe(), "\"alpha\"");
        e.subresource = "status".into();
        assert_eq!(e.describe(), "\"alpha\" with subresource \"status\"");
        let u = entry("kubectl-client-side-apply", Operation::Update, 0);
        assert_eq!(u.describe(), "\"kubectl-client-side-apply\" using v1");
    }

    #[test]
    fn caps_update_managers() {
        let mut es: Vec<ManagedFieldsEntry> = (0..12)
            .map(|i| entry(&format!("m{i:02}"), Operation::Update, i))
            .collect();
        es.push(entry("applier", Operation::Apply, 0));
        cap_update_managers(&mut es);
        let updates: Vec<&ManagedFieldsEntry> =
            es.iter().filter(|e| e.operation == Operation::Update).collect();
        assert_eq!(updates.len(), MAX_UPDATE_MANAGERS);
        let ancient = es.iter().find(|e| e.manager == ANCIENT_CHANGES).unwrap();
        assert_eq!(ancient.fields.paths().len(), 3, "three oldest merged");
        assert!(es.iter().any(|e| e.manager == "applier"));
    }

    #[test]
    fn time_is_truncated_to_seconds() {
        let t: Timestamp = "2026-11-22T11:42:39.987Z".parse().unwrap();
        assert_eq!(format_time(t), "2026-11-22T11:42:39Z");
    }
}
