//! Request-body checks that kube-apiserver makes before storing an object: name rules, Secret
//! `data` base64, and the Go-style JSON syntax messages clients see for malformed bodies.
//!
//! Pure functions; each returns kube-apiserver's exact wording.

use serde_json::Value;

use super::resources::NameRule;
use super::status::Cause;

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// RFC 1123 subdomain: dot-separated labels, lowercase, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Validates `metadata.name` (or a `generateName` prefix when `prefix` is set); returns the causes.
pub fn validate_name(name: &str, rule: NameRule, prefix: bool) -> Vec<Cause> {
    let field = if prefix {
        "metadata.generateName"
    } else {
        "metadata.name"
    };
    let invalid = |msg: &str| Cause {
        reason: "FieldValueInvalid".into(),
        message: format!(
            "Invalid value: {}: {msg}",
            serde_json::to_string(name).unwrap_or_default()
        ),
        field: field.into(),
    };
    // A generateName prefix may end in '-' (a suffix is appended).
    let checked = if prefix {
        format!("{name}a")
    } else {
        name.to_string()
    };
    let mut causes = vec![];
    match rule {
        NameRule::Subdomain => {
            if checked.len() > 253 {
                causes.push(invalid("must be no more than 253 characters"));
            }
            if !checked.split('.').all(|l| {
                let b = l.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            }) {
                causes.push(invalid(SUBDOMAIN_MSG));
            }
        }
        NameRule::Label => {
            if checked.len() > 63 {
                causes.push(invalid("must be no more than 63 characters"));
            }
            if !is_dns1123_label(&checked[..checked.len().min(63)]) || !is_dns1123_label_chars(&checked) {
                causes.push(invalid(LABEL_MSG));
            }
        }
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                causes.push(invalid(&format!("may not be '{name}'")));
            }
            for bad in ["/", "%"] {
                if name.contains(bad) {
                    causes.push(invalid(&format!("may not contain '{bad}'")));
                }
            }
        }
    }
    causes
}

fn is_dns1123_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Checks standard base64 the way Go's decoder does; `Err(offset)` is the reported input byte.
pub fn check_base64(s: &str) -> Result<(), usize> {
    let b = s.as_bytes();
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    let mut i = 0;
    while i < b.len() && alphabet(b[i]) {
        i += 1;
    }
    let data_len = i;
    let mut pad = 0;
    while i < b.len() && b[i] == b'=' {
        pad += 1;
        i += 1;
    }
    if i < b.len() {
        return Err(if pad > 0 { data_len } else { i });
    }
    let rem = data_len % 4;
    match (rem, pad) {
        (0, 0) | (2, 2) | (3, 1) => Ok(()),
        (1, _) => Err(data_len - 1),
        _ => Err(data_len),
    }
}

/// The Go `encoding/json` syntax error for a body that does not parse, e.g.
/// `invalid character 'n' looking for beginning of object key string`.
pub fn go_json_syntax_error(body: &[u8]) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        ObjKeyOrEnd,
        ObjKey,
        ObjColon,
        ObjCommaOrEnd,
        ArrValueOrEnd,
        ArrCommaOrEnd,
    }
    let desc = |c: u8| -> String {
        match c {
            b'\'' => "'\\''".into(),
            b'"' => "'\"'".into(),
            c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
            c => format!("'\\x{c:02x}'"),
        }
    };
    let mut stack: Vec<Ctx> = vec![];
    let mut i = 0;
    let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let mut expect_value = true;
    loop {
        while i < body.len() && ws(body[i]) {
            i += 1;
        }
        if i >= body.len() {
            return "unexpected end of JSON input".into();
        }
        let c = body[i];
        if expect_value {
            match c {
                b'{' => {
                    stack.push(Ctx::ObjKeyOrEnd);
                    expect_value = false;
                    i += 1;
                }
                b'[' => {
                    stack.push(Ctx::ArrValueOrEnd);
                    i += 1;
                    while i < body.len() && ws(body[i]) {
                        i += 1;
                    }
                    if i < body.len() && body[i] == b']' {
                        stack.pop();
                        i += 1;
                        expect_value = false;
                        if stack.is_empty() {
                            return trailing(body, i, desc);
                        }
                        advance_after_value(&mut stack);
                    }
                }
                b'"' => {
                    match skip_string(body, i) {
                        Some(n) => i = n,
                        None => return "unexpected end of JSON input".into(),
                    }
                    expect_value = false;
                    if stack.is_empty() {
                        return trailing(body, i, desc);
                    }
                    advance_after_value(&mut stack);
                }
                c if c == b'-' || c.is_ascii_digit() || c.is_ascii_alphabetic() => {
                    let start = i;
                    while i < body.len()
                        && (body[i].is_ascii_alphanumeric() || matches!(body[i], b'-' | b'+' | b'.'))
                    {
                        i += 1;
                    }
                    let lit = &body[start..i];
                    if let Some(err) = literal_error(lit, &desc) {
                        return err;
                    }
                    expect_value = false;
                    if stack.is_empty() {
                        return trailing(body, i, desc);
                    }
                    advance_after_value(&mut stack);
                }
                c => return format!("invalid character {} looking for beginning of value", desc(c)),
            }
            continue;
        }
        let top = *stack.last().expect("inside a container");
        match (top, c) {
            (Ctx::ObjKeyOrEnd, b'}') | (Ctx::ObjCommaOrEnd, b'}') | (Ctx::ArrCommaOrEnd, b']') => {
                stack.pop();
                i += 1;
                if stack.is_empty() {
                    return trailing(body, i, desc);
                }
                advance_after_value(&mut stack);
            }
            (Ctx::ObjKeyOrEnd | Ctx::ObjKey, b'"') => {
                match skip_string(body, i) {
                    Some(n) => i = n,
                    None => return "unexpected end of JSON input".into(),
                }
                *stack.last_mut().expect("non-empty") = Ctx::ObjColon;
            }
            (Ctx::ObjKeyOrEnd | Ctx::ObjKey, c) => {
                return format!(
                    "invalid character {} looking for beginning of object key string",
                    desc(c)
                );
            }
            (Ctx::ObjColon, b':') => {
                i += 1;
                expect_value = true;
            }
            (Ctx::ObjColon, c) => return format!("invalid character {} after object key", desc(c)),
            (Ctx::ObjCommaOrEnd, b',') => {
                i += 1;
                *stack.last_mut().expect("non-empty") = Ctx::ObjKey;
            }
            (Ctx::ObjCommaOrEnd, c) => {
                return format!("invalid character {} after object key:value pair", desc(c));
            }
            (Ctx::ArrCommaOrEnd, b',') => {
                i += 1;
                expect_value = true;
            }
            (Ctx::ArrCommaOrEnd, c) => return format!("invalid character {} after array element", desc(c)),
            (Ctx::ArrValueOrEnd, _) => expect_value = true,
        }
    }

    fn literal_error(lit: &[u8], desc: &impl Fn(u8) -> String) -> Option<String> {
        let expected: &[u8] = match lit[0] {
            b't' => b"true",
            b'f' => b"false",
            b'n' => b"null",
            b'-' | b'0'..=b'9' => return None,
            c => {
                return Some(format!(
                    "invalid character {} looking for beginning of value",
                    desc(c)
                ));
            }
        };
        let name = std::str::from_utf8(expected).unwrap_or("");
        for (k, want) in expected.iter().enumerate() {
            match lit.get(k) {
                Some(got) if got == want => continue,
                Some(got) => {
                    return Some(format!(
                        "invalid character {} in literal {name} (expecting {})",
                        desc(*got),
                        desc(*want)
                    ));
                }
                None => return Some("unexpected end of JSON input".into()),
            }
        }
        (lit.len() > expected.len()).then(|| {
            format!(
                "invalid character {} after top-level value",
                desc(lit[expected.len()])
            )
        })
    }
    fn advance_after_value(stack: &mut [Ctx]) {
        if let Some(top) = stack.last_mut() {
            *top = match *top {
                Ctx::ObjColon => Ctx::ObjCommaOrEnd,
                Ctx::ArrValueOrEnd | Ctx::ArrCommaOrEnd => Ctx::ArrCommaOrEnd,
                other => other,
            };
        }
    }
    fn skip_string(body: &[u8], start: usize) -> Option<usize> {
        let mut i = start + 1;
        while i < body.len() {
            match body[i] {
                b'\\' => i += 2,
                b'"' => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }
    fn trailing(body: &[u8], mut i: usize, desc: impl Fn(u8) -> String) -> String {
        while i < body.len() && matches!(body[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        if i < body.len() {
            format!("invalid character {} after top-level value", desc(body[i]))
        } else {
            "unexpected end of JSON input".into()
        }
    }
}

/// Secret `data` values that are not valid base64: the 400 message kube-apiserver gives.
pub fn check_secret_data(object: &Value) -> Result<(), String> {
    if let Some(data) = object.get("data").and_then(Value::as_object) {
        for v in data.values() {
            match v {
                Value::String(s) => {
                    if let Err(at) = check_base64(s) {
                        return Err(format!("illegal base64 data at input byte {at}"));
                    }
                }
                Value::Null => {}
                _ => {
                    return Err(
                        "json: cannot unmarshal into Go struct field Secret.data of type []uint8".into(),
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc1123() {
        assert!(validate_name("example.com", NameRule::Subdomain, false).is_empty());
        let c = validate_name("Bad_Name", NameRule::Subdomain, false);
        assert_eq!(c.len(), 1);
        assert!(
            c[0].message
                .starts_with("Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain")
        );
        assert!(!validate_name("a.b", NameRule::Label, false).is_empty());
        assert!(validate_name("web-", NameRule::Subdomain, true).is_empty());
        assert!(validate_name("system:admin", NameRule::PathSegment, false).is_empty());
        assert!(!validate_name("a/b", NameRule::PathSegment, false).is_empty());
    }

    #[test]
    fn base64_errors_report_go_offsets() {
        assert_eq!(check_base64("dg=="), Ok(()));
        assert_eq!(check_base64(""), Ok(()));
        assert_eq!(check_base64("%%%"), Err(0));
        assert_eq!(check_base64("dg%="), Err(2));
    }

    #[test]
    fn json_syntax_errors_read_like_go() {
        assert_eq!(
            go_json_syntax_error(b"{not json"),
            "invalid character 'n' looking for beginning of object key string"
        );
        assert_eq!(
            go_json_syntax_error(b"{\"a\" 1}"),
            "invalid character '1' after object key"
        );
        assert_eq!(
            go_json_syntax_error(b"{\"a\":1 2}"),
            "invalid character '2' after object key:value pair"
        );
        assert_eq!(go_json_syntax_error(b"{\"a\":"), "unexpected end of JSON input");
        assert_eq!(
            go_json_syntax_error(b"x"),
            "invalid character 'x' looking for beginning of value"
        );
    }
}
