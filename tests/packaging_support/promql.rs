//! PromQL checks: an expression parses, and which metric names it reads.

use std::collections::BTreeSet;

use promql_parser::parser::{self, Expr};

/// Parses `expr`, with a message naming `context` when it does not parse.
pub fn parse(expr: &str, context: &str) -> Expr {
    parser::parse(expr).unwrap_or_else(|e| panic!("{context}: PromQL does not parse: {e}\n{expr}"))
}

/// Every metric name selected anywhere in `expr` (by name or by a `__name__` matcher).
pub fn metric_names(expr: &Expr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect(expr, &mut out);
    out
}

fn selector_names(vs: &parser::VectorSelector, out: &mut BTreeSet<String>) {
    if let Some(name) = &vs.name {
        out.insert(name.clone());
    }
    for m in vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten())
    {
        if m.name == "__name__" {
            out.insert(m.value.clone());
        }
    }
}

fn collect(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::Aggregate(a) => {
            collect(&a.expr, out);
            if let Some(p) = &a.param {
                collect(p, out);
            }
        }
        Expr::Unary(u) => collect(&u.expr, out),
        Expr::Binary(b) => {
            collect(&b.lhs, out);
            collect(&b.rhs, out);
        }
        Expr::Paren(p) => collect(&p.expr, out),
        Expr::Subquery(s) => collect(&s.expr, out),
        Expr::VectorSelector(vs) => selector_names(vs, out),
        Expr::MatrixSelector(ms) => selector_names(&ms.vs, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// A selector: its metric name (if any) and its label matchers as (label, value) pairs.
pub type Selector = (Option<String>, Vec<(String, String)>);

/// Every selector in `expr`: its metric name and its label matchers as (label, value) pairs.
pub fn selectors_of(expr: &Expr) -> Vec<Selector> {
    let mut out = Vec::new();
    walk_selectors(expr, &mut out);
    out
}

fn push_selector(vs: &parser::VectorSelector, out: &mut Vec<Selector>) {
    let matchers = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    out.push((vs.name.clone(), matchers));
}

fn walk_selectors(expr: &Expr, out: &mut Vec<Selector>) {
    match expr {
        Expr::Aggregate(a) => {
            walk_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                walk_selectors(p, out);
            }
        }
        Expr::Unary(u) => walk_selectors(&u.expr, out),
        Expr::Binary(b) => {
            walk_selectors(&b.lhs, out);
            walk_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => walk_selectors(&p.expr, out),
        Expr::Subquery(s) => walk_selectors(&s.expr, out),
        Expr::VectorSelector(vs) => push_selector(vs, out),
        Expr::MatrixSelector(ms) => push_selector(&ms.vs, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk_selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Replaces Grafana's template variables with values PromQL accepts, so dashboard queries can be
/// parsed: `$__rate_interval` and friends become a duration, other variables a plain word.
pub fn substitute_grafana_variables(expr: &str) -> String {
    let mut s = expr.to_owned();
    for interval in ["$__rate_interval", "$__interval", "$__range"] {
        s = s.replace(interval, "5m");
    }
    let re = regex::Regex::new(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?").unwrap();
    re.replace_all(&s, "var").into_owned()
}
