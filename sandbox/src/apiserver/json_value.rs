//! How kube-apiserver looks at JSON values: equality (numbers compare by value, so `1` equals `1.0`),
//! the total order structured-merge-diff uses for set members, and the Go renderings (`%v`, `%q`,
//! `%#v`) that end up inside error messages.
//!
//! Invariant: every function here is pure and total: any `serde_json::Value` is accepted.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Whether two JSON values are equal the way kube-apiserver compares them: numbers by numeric value
/// (`1 == 1.0`), objects regardless of key order, arrays element by element.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| json_eq(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn number_eq(x: &Number, y: &Number) -> bool {
    match (x.as_i64(), y.as_i64()) {
        (Some(l), Some(r)) => l == r,
        _ => match (x.as_u64(), y.as_u64()) {
            (Some(l), Some(r)) => l == r,
            _ => x.as_f64() == y.as_f64(),
        },
    }
}

/// The total order structured-merge-diff puts on values (numbers < strings < booleans < lists <
/// maps < null), used to sort set members and `k:` keys.
pub fn json_cmp(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(l), Some(r)) = (x.as_i64(), y.as_i64()) {
                l.cmp(&r)
            } else {
                let (l, r) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
                l.partial_cmp(&r).unwrap_or(Ordering::Equal)
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let c = json_cmp(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            // Maps compare by their sorted (key, value) pairs.
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|l, r| l.0.cmp(r.0));
            ys.sort_by(|l, r| l.0.cmp(r.0));
            for ((lk, lv), (rk, rv)) in xs.iter().zip(&ys) {
                let c = lk.cmp(rk).then_with(|| json_cmp(lv, rv));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// The JSON type name kube-openapi reports for a value (`"string"`, `"integer"`, `"number"`, ...).
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `%q` rendering of a string (double quotes, Go escapes).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` rendering of a float64 (shortest representation, exponent form from 1e+06 / below
/// 1e-04, e.g. `1.5`, `100000`, `1e+06`).
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Shortest round-trip digits via Rust's `{:e}` formatting: "d.ddde±x".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        // Plain decimal notation without trailing zeros.
        let s = format!("{f}");
        s
    }
}

/// Go's `%v` rendering of a JSON number as it would be decoded into unstructured content
/// (`int64` when integral in the source, `float64` otherwise).
pub fn go_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go's `%#v` rendering of unstructured content, as field errors print compound bad values
/// (`map[string]interface {}{"a":1}`, `[]interface {}{"x"}`).
pub fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_sharp_v).collect();
            format!("[]interface {{}}{{{}}}", inner.join(", "))
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", go_quote(k), go_sharp_v(&map[k.as_str()])))
                .collect();
            format!("map[string]interface {{}}{{{}}}", inner.join(", "))
        }
    }
}

/// Structured-merge-diff's `value.ToString` (JSON for strings, numbers, booleans; used when a path
/// element is printed, e.g. `[type="Ready"]`).
pub fn smd_to_string(v: &Value) -> String {
    match v {
        Value::Number(n) => go_number(n),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Removes and returns `obj[path]` for a path of object keys; `None` when any step is missing.
pub fn take_path(obj: &mut Value, path: &[String]) -> Option<Value> {
    let (last, parents) = path.split_last()?;
    let mut cur = obj;
    for p in parents {
        cur = cur.as_object_mut()?.get_mut(p)?;
    }
    cur.as_object_mut()?.remove(last)
}

/// `obj[path]` for a path of object keys.
pub fn get_path<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// Sets `obj[path] = value`, creating intermediate objects; gives up silently when a non-object is
/// in the way (the caller's object then keeps its shape).
pub fn set_path(obj: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *obj = value;
        return;
    };
    let mut cur = obj;
    for p in parents {
        let Some(map) = cur.as_object_mut() else { return };
        cur = map
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if let Some(map) = cur.as_object_mut() {
        map.insert(last.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!({"a": [1, 2]}), &json!({"a": [1.0, 2]})));
        assert!(!json_eq(&json!(1), &json!("1")));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn order_is_numbers_strings_bools_lists_maps_null() {
        let mut vals = vec![
            json!(null),
            json!({}),
            json!([]),
            json!(true),
            json!("a"),
            json!(2),
            json!(1.5),
        ];
        vals.sort_by(json_cmp);
        assert_eq!(
            vals,
            vec![
                json!(1.5),
                json!(2),
                json!("a"),
                json!(true),
                json!([]),
                json!({}),
                json!(null)
            ]
        );
    }

    #[test]
    fn go_renderings() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456789.0, "1.23456789e+08"),
            (-2.25, "-2.25"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(*f), *want, "{f}");
        }
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(go_quote("héllo"), "\"héllo\"");
        assert_eq!(
            go_sharp_v(&json!({"b": 1, "a": ["x"]})),
            r#"map[string]interface {}{"a":[]interface {}{"x"}, "b":1}"#
        );
        assert_eq!(smd_to_string(&json!("Ready")), "\"Ready\"");
        assert_eq!(smd_to_string(&json!(80)), "80");
    }

    #[test]
    fn paths() {
        let mut v = json!({"a": {"b": 1}});
        assert_eq!(get_path(&v, &["a".into(), "b".into()]), Some(&json!(1)));
        set_path(&mut v, &["x".into(), "y".into()], json!(2));
        assert_eq!(v, json!({"a": {"b": 1}, "x": {"y": 2}}));
        assert_eq!(take_path(&mut v, &["a".into(), "b".into()]), Some(json!(1)));
        assert_eq!(v, json!({"a": {}, "x": {"y": 2}}));
        assert_eq!(take_path(&mut v, &["nope".into(), "b".into()]), None);
    }
}
