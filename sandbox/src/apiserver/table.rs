//! The `Table` representation (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`) that
//! `kubectl get` prints: a Name column, then a CRD's `additionalPrinterColumns`, or `Age` when a
//! kind declares none.
//!
//! Pure rendering; ages are computed from the server clock.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Shared;
use super::jsonpath;
use super::resources::ResourceType;

const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// `kubectl`'s human-readable age (`5m10s`, `3h`, `12d`), as `duration.HumanDuration` formats it.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        let y = d / 365;
        if d % 365 == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{}d", d % 365)
        }
    } else {
        format!("{}y", d / 365)
    }
}

fn age(now: Timestamp, value: Option<&Value>) -> Value {
    match value
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
    {
        Some(t) => json!(human_duration(now.as_second() - t.as_second())),
        None => json!("<unknown>"),
    }
}

fn cell(now: Timestamp, type_: &str, values: Vec<&Value>) -> Value {
    let Some(first) = values.first() else {
        return Value::Null;
    };
    match type_ {
        "date" => age(now, Some(first)),
        "integer" | "number" | "boolean" => (*first).clone(),
        _ => match first {
            Value::String(s) => json!(s),
            Value::Null => Value::Null,
            _ => {
                let parts: Vec<String> = values
                    .iter()
                    .map(|v| v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))
                    .collect();
                json!(parts.join(","))
            }
        },
    }
}

/// A `Table` of `items`.
pub fn render(
    shared: &Shared,
    rt: &ResourceType,
    items: &[Value],
    list_meta: Value,
    include_object: &str,
) -> Value {
    let now = shared.now();
    let mut columns = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}),
    ];
    let custom = !rt.printer_columns.is_empty();
    for c in &rt.printer_columns {
        columns.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    if !custom {
        columns.push(json!({"name": "Age", "type": "date", "format": "", "description": AGE_DESCRIPTION, "priority": 0}));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut cells = vec![item.pointer("/metadata/name").cloned().unwrap_or(Value::Null)];
            if custom {
                for c in &rt.printer_columns {
                    cells.push(cell(now, &c.type_, jsonpath::evaluate(item, &c.json_path)));
                }
            } else {
                cells.push(age(now, item.pointer("/metadata/creationTimestamp")));
            }
            let mut row = json!({"cells": cells});
            match include_object {
                "None" => {}
                "Object" => row["object"] = shared.present(rt, item),
                _ => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                        "metadata": item.get("metadata").cloned().unwrap_or(json!({}))})
                }
            }
            row
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (130, "2m10s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (9 * 3600, "9h"),
            (3 * 86400, "3d"),
            (3 * 86400 + 3600, "3d1h"),
            (40 * 86400, "40d"),
            (-5, "<invalid>"),
        ];
        for (s, want) in cases {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }
}
