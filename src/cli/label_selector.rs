//! Parsing a label selector given on the command line (`run --selector`), in the syntax kubectl's
//! `-l` accepts: comma-separated requirements `key`, `!key`, `key=value`, `key==value`,
//! `key!=value`, `key in (a,b)` and `key notin (a,b)`.
//!
//! Invariant: a selector that parses is valid for the API server (keys and values follow the
//! label syntax), so a typo fails at start with a message instead of a watch that errors forever.

use std::collections::BTreeSet;

use kube::core::{Expression, Selector};

/// Why a selector does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid label selector {selector:?}: {problem} (examples: `team=payments`, `tier in (prod,staging)`, `!legacy`)"
)]
pub struct SelectorError {
    /// The selector as given.
    pub selector: String,
    /// What is wrong.
    pub problem: String,
}

/// Parses `input`; `None` when it is empty (every object matches).
pub fn parse(input: &str) -> Result<Option<Selector>, SelectorError> {
    let fail = |problem: String| SelectorError {
        selector: input.to_owned(),
        problem,
    };
    if input.trim().is_empty() {
        return Ok(None);
    }
    let mut expressions = vec![];
    for requirement in split_requirements(input).map_err(fail)? {
        expressions.push(requirement_of(requirement.trim()).map_err(fail)?);
    }
    Ok(Some(expressions.into_iter().collect()))
}

/// Splits at the commas outside parentheses.
fn split_requirements(input: &str) -> Result<Vec<&str>, String> {
    let mut parts = vec![];
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1).ok_or("unbalanced parentheses")?,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".to_owned());
    }
    parts.push(&input[start..]);
    Ok(parts)
}

fn requirement_of(r: &str) -> Result<Expression, String> {
    if r.is_empty() {
        return Err("an empty requirement (a stray comma?)".to_owned());
    }
    if let Some(key) = r.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(key_of(key.trim())?));
    }
    if let Some(open) = r.find('(') {
        let close = r
            .strip_suffix(')')
            .ok_or_else(|| format!("{r:?}: a set must end with ')'"))?;
        let mut head = r[..open].split_whitespace();
        let (key, op) = match (head.next(), head.next(), head.next()) {
            (Some(key), Some(op), None) => (key, op),
            _ => {
                return Err(format!(
                    "{r:?}: expected `key in (values)` or `key notin (values)`"
                ));
            }
        };
        let values: BTreeSet<String> = close[open + 1..]
            .split(',')
            .map(|v| value_of(v.trim()))
            .collect::<Result<_, _>>()?;
        if values.iter().all(String::is_empty) && close[open + 1..].trim().is_empty() {
            return Err(format!("{r:?}: a set needs at least one value"));
        }
        let key = key_of(key)?;
        return match op {
            "in" => Ok(Expression::In(key, values)),
            "notin" => Ok(Expression::NotIn(key, values)),
            other => Err(format!("{r:?}: unknown operator {other:?} (use `in` or `notin`)")),
        };
    }
    if let Some((key, value)) = r.split_once("!=") {
        return Ok(Expression::NotEqual(key_of(key.trim())?, value_of(value.trim())?));
    }
    if let Some((key, value)) = r.split_once("==").or_else(|| r.split_once('=')) {
        return Ok(Expression::Equal(key_of(key.trim())?, value_of(value.trim())?));
    }
    if r.contains(['<', '>']) {
        return Err(format!(
            "{r:?}: `<` and `>` are not label selector operators here"
        ));
    }
    Ok(Expression::Exists(key_of(r)?))
}

/// A name segment: at most 63 characters, alphanumerics, `-`, `_` and `.` inside, alphanumerics at
/// both ends.
fn is_name(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// A DNS subdomain (the optional prefix of a key).
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && label.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

fn key_of(key: &str) -> Result<String, String> {
    let valid = match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_name(name),
        None => is_name(key),
    };
    if valid {
        Ok(key.to_owned())
    } else {
        Err(format!(
            "{key:?} is not a label key (at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric, optionally after a DNS prefix and '/')"
        ))
    }
}

fn value_of(value: &str) -> Result<String, String> {
    if value.is_empty() || is_name(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a label value (at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::core::SelectorExt;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn kubectl_syntax_parses_and_matches_like_kubernetes() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
        let cases: &[Case] = &[
            ("team=payments", &[("team", "payments")], true),
            ("team==payments", &[("team", "other")], false),
            ("team!=payments", &[], true),
            ("team", &[("team", "")], true),
            ("!legacy", &[("legacy", "yes")], false),
            ("tier in (prod, staging)", &[("tier", "staging")], true),
            ("tier notin (prod)", &[("tier", "prod")], false),
            (
                "secret-rotator.dev/shard=a, tier in (prod)",
                &[("secret-rotator.dev/shard", "a"), ("tier", "prod")],
                true,
            ),
            ("a=b,c", &[("a", "b")], false),
        ];
        for (input, on, want) in cases {
            let selector = parse(input).unwrap().unwrap();
            assert_eq!(selector.matches(&labels(on)), *want, "{input} on {on:?}");
        }
    }

    #[test]
    fn parses_to_the_text_the_api_server_gets() {
        let text = |s: &str| parse(s).unwrap().unwrap().to_string();
        assert_eq!(text(" team = payments "), "team=payments");
        assert_eq!(text("tier in (staging,prod)"), "tier in (prod,staging)");
        assert_eq!(text("!legacy,env!=dev"), "!legacy,env!=dev");
    }

    #[test]
    fn empty_selects_everything() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("  ").unwrap(), None);
    }

    #[test]
    fn mistakes_are_refused_with_the_reason() {
        for (input, says) in [
            ("team=pay ments", "not a label value"),
            ("-team=a", "not a label key"),
            ("a=b,", "empty requirement"),
            ("tier in prod", "not a label key"),
            ("tier in (prod", "unbalanced"),
            ("tier within (prod)", "unknown operator"),
            ("tier in ()", "at least one value"),
            ("replicas>3", "not label selector operators"),
            ("Example.com/a=b", "not a label key"),
        ] {
            let error = parse(input).unwrap_err();
            assert!(
                error.to_string().contains(says),
                "{input}: {error} does not say {says:?}"
            );
        }
    }
}
