//! Label and field selectors: parsing (with kube-apiserver's error messages) and matching.
//!
//! Pure code: a selector is parsed once per request and matched against JSON objects; the error
//! strings are the ones `k8s.io/apimachinery` produces, because clients show them to users.

use std::collections::BTreeSet;

use serde_json::Value;

/// One label requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `key=v`, `key==v`, `key in (a,b)`.
    In(String, BTreeSet<String>),
    /// `key!=v`, `key notin (a,b)`.
    NotIn(String, BTreeSet<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
    /// `key>n`.
    Gt(String, i64),
    /// `key<n`.
    Lt(String, i64),
}

/// A parsed label selector (all requirements must hold; empty matches everything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector(pub Vec<Requirement>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    End,
}

impl Tok {
    fn literal(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Not => "!".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::NotEq => "!=".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::End => "".into(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(input: &str) -> Vec<Tok> {
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if is_special(c) {
            let mut s = String::from(c);
            let mut j = i + 1;
            while j < chars.len() && is_special(chars[j]) {
                let mut candidate = s.clone();
                candidate.push(chars[j]);
                if ["==", "!="].contains(&candidate.as_str()) {
                    s = candidate;
                    j += 1;
                } else {
                    break;
                }
            }
            out.push(match s.as_str() {
                "=" => Tok::Eq,
                "==" => Tok::DoubleEq,
                "!=" => Tok::NotEq,
                "!" => Tok::Not,
                ">" => Tok::Gt,
                "<" => Tok::Lt,
                "(" => Tok::Open,
                ")" => Tok::Close,
                _ => Tok::Comma,
            });
            i = j;
            continue;
        }
        let mut s = String::new();
        while i < chars.len() && !chars[i].is_whitespace() && !is_special(chars[i]) {
            s.push(chars[i]);
            i += 1;
        }
        out.push(match s.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident(s),
        });
    }
    out.push(Tok::End);
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }
    /// In value position keywords are plain identifiers.
    fn next_value(&mut self) -> Tok {
        match self.next() {
            Tok::In => Tok::Ident("in".into()),
            Tok::NotIn => Tok::Ident("notin".into()),
            t => t,
        }
    }
}

fn key_token(t: &Tok) -> Option<String> {
    match t {
        Tok::Ident(s) => Some(s.clone()),
        Tok::In => Some("in".into()),
        Tok::NotIn => Some("notin".into()),
        _ => None,
    }
}

/// Parses a label selector (`labelSelector=` query value).
pub fn parse_label_selector(input: &str) -> Result<LabelSelector, String> {
    let mut p = Parser {
        toks: lex(input),
        pos: 0,
    };
    let mut reqs = vec![];
    loop {
        match p.peek().clone() {
            Tok::End => return Ok(LabelSelector(reqs)),
            Tok::Ident(_) | Tok::Not | Tok::In | Tok::NotIn => {
                reqs.push(parse_requirement(&mut p)?);
                match p.next() {
                    Tok::End => return Ok(LabelSelector(reqs)),
                    Tok::Comma => {
                        let t = p.peek().clone();
                        if key_token(&t).is_none() && t != Tok::Not {
                            return Err(format!("found '{}', expected: identifier after ','", t.literal()));
                        }
                    }
                    t => {
                        return Err(format!(
                            "found '{}', expected: ',' or 'end of string'",
                            t.literal()
                        ));
                    }
                }
            }
            t => {
                return Err(format!(
                    "found '{}', expected: !, identifier, or 'end of string'",
                    t.literal()
                ));
            }
        }
    }
}

fn parse_requirement(p: &mut Parser) -> Result<Requirement, String> {
    let mut negated = false;
    if *p.peek() == Tok::Not {
        p.next();
        negated = true;
    }
    let t = p.next();
    let key = key_token(&t).ok_or_else(|| format!("found '{}', expected: identifier", t.literal()))?;
    validate_label_key(&key)?;
    if matches!(p.peek(), Tok::End | Tok::Comma) {
        return Ok(if negated {
            Requirement::DoesNotExist(key)
        } else {
            Requirement::Exists(key)
        });
    }
    if negated {
        return Err(format!(
            "found '{}', expected: ',' or 'end of string'",
            p.peek().literal()
        ));
    }
    let op = p.next();
    match op {
        Tok::Eq | Tok::DoubleEq | Tok::NotEq => {
            let v = match p.next_value() {
                Tok::Ident(s) => s,
                Tok::End | Tok::Comma => {
                    p.pos -= 1;
                    String::new()
                }
                t => return Err(format!("found '{}', expected: identifier", t.literal())),
            };
            validate_label_value(&v)?;
            let set = BTreeSet::from([v]);
            Ok(if op == Tok::NotEq {
                Requirement::NotIn(key, set)
            } else {
                Requirement::In(key, set)
            })
        }
        Tok::In | Tok::NotIn => {
            let t = p.next();
            if t != Tok::Open {
                return Err(format!("found '{}', expected: '('", t.literal()));
            }
            let mut set = BTreeSet::new();
            loop {
                match p.next_value() {
                    Tok::Ident(s) => {
                        validate_label_value(&s)?;
                        set.insert(s);
                    }
                    Tok::Close => break,
                    Tok::Comma => {
                        set.insert(String::new());
                        continue;
                    }
                    t => {
                        return Err(format!(
                            "found '{}', expected: ',', ')' or identifier",
                            t.literal()
                        ));
                    }
                }
                match p.next() {
                    Tok::Comma => continue,
                    Tok::Close => break,
                    t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                }
            }
            Ok(if op == Tok::In {
                Requirement::In(key, set)
            } else {
                Requirement::NotIn(key, set)
            })
        }
        Tok::Gt | Tok::Lt => {
            let t = p.next_value();
            let Tok::Ident(s) = &t else {
                return Err(format!("found '{}', expected: identifier", t.literal()));
            };
            let n: i64 = s
                .parse()
                .map_err(|_| "for 'Gt', 'Lt' operators, the value must be an integer".to_string())?;
            Ok(if op == Tok::Gt {
                Requirement::Gt(key, n)
            } else {
                Requirement::Lt(key, n)
            })
        }
        t => Err(format!(
            "found '{}', expected: [!= = == > < in notin]",
            t.literal()
        )),
    }
}

fn is_dns_label_like(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn validate_label_key(key: &str) -> Result<(), String> {
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.is_empty() || !crate::apiserver::validation::is_dns1123_subdomain(prefix) {
                return Err(format!(
                    "invalid label key \"{key}\": prefix part must be a lowercase RFC 1123 subdomain"
                ));
            }
            name
        }
        None => key,
    };
    if !is_dns_label_like(name) {
        return Err(format!(
            "invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ));
    }
    Ok(())
}

fn validate_label_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_dns_label_like(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value: \"{v}\": at key: must be no more than 63 characters and consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

impl LabelSelector {
    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::In(k, set) => get(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => get(k).is_none_or(|v| !set.contains(v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::Gt(k, n) => get(k).and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => get(k).and_then(|v| v.parse::<i64>().ok()).is_some_and(|v| v < *n),
        })
    }
}

/// One field requirement, already resolved to a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    /// Dotted JSON path (`metadata.name`, `involvedObject.kind`).
    pub path: String,
    /// Expected value.
    pub value: String,
    /// `!=` instead of `=`.
    pub negated: bool,
}

/// A parsed field selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(pub Vec<FieldRequirement>);

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push('\\');
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    if escaped {
        cur.push('\\');
    }
    out.push(cur);
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses a field selector; `resolve` maps a field label to a JSON path, or `None` when the kind
/// does not support that label (400 `field label not supported: <label>`).
pub fn parse_field_selector(
    input: &str,
    resolve: impl Fn(&str) -> Option<String>,
) -> Result<FieldSelector, String> {
    let mut reqs = vec![];
    if input.trim().is_empty() {
        return Ok(FieldSelector(reqs));
    }
    for term in split_unescaped(input, ',') {
        if term.is_empty() {
            continue;
        }
        let (label, value, negated) = if let Some((l, v)) = term.split_once("!=") {
            (l, v, true)
        } else if let Some((l, v)) = term.split_once("==") {
            (l, v, false)
        } else if let Some((l, v)) = term.split_once('=') {
            (l, v, false)
        } else {
            return Err(format!("invalid selector: '{input}'; can't understand '{term}'"));
        };
        let label = label.trim();
        let path = resolve(label).ok_or_else(|| format!("field label not supported: {label}"))?;
        reqs.push(FieldRequirement {
            path,
            value: unescape(value),
            negated,
        });
    }
    Ok(FieldSelector(reqs))
}

/// The string form of a field for field-selector matching ("" when absent).
pub fn field_value(object: &Value, path: &str) -> String {
    let mut cur = object;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

impl FieldSelector {
    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object satisfies every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        self.0
            .iter()
            .all(|r| (field_value(object, &r.path) == r.value) != r.negated)
    }

    /// The exact `metadata.name` this selector pins, if any (lets lists skip a scan).
    pub fn pinned_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.path == "metadata.name" && !r.negated)
            .map(|r| r.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "a", "labels": labels}, "type": "Opaque"})
    }

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let o = obj(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web,db)", true),
            ("app notin (web,db)", false),
            ("app,tier", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier=back", false),
            ("n>4", true),
            ("n<4", false),
            ("missing", false),
            (" app = web ", true),
        ];
        for (sel, want) in cases {
            assert_eq!(parse_label_selector(sel).unwrap().matches(&o), want, "{sel}");
        }
    }

    #[test]
    fn label_selector_errors_are_kubernetes_messages() {
        assert_eq!(
            parse_label_selector("==bad").unwrap_err(),
            "found '==', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            parse_label_selector("a=b c").unwrap_err(),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert!(
            parse_label_selector("a in b")
                .unwrap_err()
                .contains("expected: '('")
        );
        assert!(parse_label_selector("a=b,").is_err());
    }

    #[test]
    fn field_selectors_resolve_labels_and_match() {
        let resolve = |l: &str| match l {
            "metadata.name" | "type" => Some(l.to_string()),
            _ => None,
        };
        let s = parse_field_selector("metadata.name=a,type!=kubernetes.io/tls", resolve).unwrap();
        assert!(s.matches(&obj(json!({}))));
        assert_eq!(s.pinned_name(), Some("a"));
        assert_eq!(
            parse_field_selector("data.k=v", resolve).unwrap_err(),
            "field label not supported: data.k"
        );
        assert!(
            parse_field_selector("nonsense", resolve)
                .unwrap_err()
                .starts_with("invalid selector")
        );
    }
}
