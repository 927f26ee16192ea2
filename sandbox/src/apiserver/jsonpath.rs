//! The JSONPath subset CRD `additionalPrinterColumns` use: `.a.b`, `.a[0]`, `.a[*].b`,
//! `.a[?(@.k=="v")].b`, optionally wrapped in `{}`.
//!
//! Pure: evaluates a path against JSON and returns every match (unparseable paths match nothing).

use serde_json::Value;

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(String, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let p = path.trim();
    let p = p.strip_prefix('{').and_then(|s| s.strip_suffix('}')).unwrap_or(p);
    let p = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = p.chars().collect();
    let mut steps = vec![];
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if !name.is_empty() {
                    steps.push(Step::Field(name));
                }
            }
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if inner == "*" {
                    steps.push(Step::All);
                } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|s| s.strip_suffix(')')) {
                    let (k, v) = f.split_once("==")?;
                    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
                    steps.push(Step::Filter(k.trim().to_string(), v.to_string()));
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                    steps.push(Step::Field(q.to_string()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Every value `path` selects in `v`.
pub fn evaluate<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let Some(steps) = parse(path) else { return vec![] };
    let mut cur = vec![v];
    for step in &steps {
        let mut next = vec![];
        for c in cur {
            match step {
                Step::Field(f) => next.extend(c.get(f.as_str())),
                Step::Index(n) => next.extend(c.get(*n)),
                Step::All => match c {
                    Value::Array(a) => next.extend(a.iter()),
                    Value::Object(m) => next.extend(m.values()),
                    _ => {}
                },
                Step::Filter(k, want) => {
                    if let Value::Array(a) = c {
                        next.extend(a.iter().filter(|e| match e.get(k.as_str()) {
                            Some(Value::String(s)) => s == want,
                            Some(other) => want.as_str() == other.to_string().as_str(),
                            None => false,
                        }));
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_the_printer_column_subset() {
        let v = json!({"spec": {"size": 3, "tags": ["a", "b"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}]}});
        assert_eq!(evaluate(&v, ".spec.size"), vec![&json!(3)]);
        assert_eq!(evaluate(&v, "{.spec.tags[1]}"), vec![&json!("b")]);
        assert_eq!(evaluate(&v, ".spec.tags[*]").len(), 2);
        assert_eq!(
            evaluate(&v, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![&json!("True")]
        );
        assert!(evaluate(&v, ".spec.missing").is_empty());
        assert!(evaluate(&v, "spec(").is_empty());
    }
}
