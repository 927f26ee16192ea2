//! Fields an endpoint resets: `.status` on the main resource of a kind with a status subresource,
//! everything but `.status` (or `.spec` and some metadata for built-ins) on `/status`. A write
//! cannot change them and does not come to own them.
//!
//! Invariant: `filter` and `restore` agree, so a writer never owns a field whose value it could not
//! set.

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, PathElement};
use crate::apiserver::json_value::{get_path, set_path, take_path};
use crate::apiserver::shape::builtin::BuiltinKind;

/// Which fields a request may not change.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ResetFields {
    /// Everything is writable.
    #[default]
    None,
    /// These paths (object keys) keep their live value.
    Paths(Vec<Vec<String>>),
    /// Only these paths are writable; everything else keeps its live value (custom resources'
    /// `/status`, where even metadata changes are dropped).
    AllExcept(Vec<Vec<String>>),
}

fn owned(paths: &[&[&str]]) -> Vec<Vec<String>> {
    paths
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect()
}

fn elements(path: &[String]) -> Vec<PathElement> {
    path.iter().map(|s| PathElement::Field(s.clone())).collect()
}

impl ResetFields {
    /// The reset fields of a built-in kind for a request on `subresource` (`None` = main resource).
    pub fn for_builtin(kind: &BuiltinKind, subresource: Option<&str>) -> ResetFields {
        let paths = match subresource {
            Some("status") => kind.status_reset,
            _ => kind.main_reset,
        };
        if paths.is_empty() {
            ResetFields::None
        } else {
            ResetFields::Paths(owned(paths))
        }
    }

    /// The reset fields of a custom resource whose version has (or has not) a status subresource.
    pub fn for_custom_resource(status_subresource: bool, subresource: Option<&str>) -> ResetFields {
        match subresource {
            Some("status") => ResetFields::AllExcept(vec![vec!["status".into()]]),
            _ if status_subresource => ResetFields::Paths(vec![vec!["status".into()]]),
            _ => ResetFields::None,
        }
    }

    /// `set` without the paths this request may not own.
    pub fn filter(&self, set: &FieldSet) -> FieldSet {
        match self {
            ResetFields::None => set.clone(),
            ResetFields::Paths(paths) => {
                let mut ignored = FieldSet::new();
                for p in paths {
                    ignored.insert(&elements(p));
                }
                set.recursive_difference(&ignored)
            }
            ResetFields::AllExcept(keep) => {
                let mut out = FieldSet::new();
                for p in keep {
                    let pe = elements(p);
                    if set.has(&pe) {
                        out.insert(&pe);
                    }
                    if let Some(sub) = set.subtree(&pe) {
                        out = out.union(&rooted_at(&pe, sub.clone()));
                    }
                }
                out
            }
        }
    }

    /// Puts the live values back into `new` for every path this request may not change (removing
    /// them from `new` when the live object has none).
    pub fn restore(&self, live: Option<&Value>, new: &mut Value) {
        match self {
            ResetFields::None => {}
            ResetFields::Paths(paths) => {
                for p in paths {
                    match live.and_then(|l| get_path(l, p)) {
                        Some(v) => set_path(new, p, v.clone()),
                        None => {
                            take_path(new, p);
                        }
                    }
                }
            }
            ResetFields::AllExcept(keep) => {
                let mut out = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
                for p in keep {
                    match get_path(new, p) {
                        Some(v) => set_path(&mut out, p, v.clone()),
                        None => {
                            take_path(&mut out, p);
                        }
                    }
                }
                // The caller's managed fields, not the live ones, describe the result.
                if let Some(mf) = new.get("metadata").and_then(|m| m.get("managedFields")).cloned() {
                    set_path(&mut out, &["metadata".into(), "managedFields".into()], mf);
                } else {
                    take_path(&mut out, &["metadata".into(), "managedFields".into()]);
                }
                *new = out;
            }
        }
    }
}

fn rooted_at(prefix: &[PathElement], sub: FieldSet) -> FieldSet {
    let mut s = sub;
    for pe in prefix.iter().rev() {
        let mut parent = FieldSet::new();
        parent.insert_child(pe.clone(), s);
        s = parent;
    }
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apiserver::shape::builtin::builtin_kind;

    fn set(v: Value) -> FieldSet {
        FieldSet::from_fields_v1(&v).unwrap()
    }

    #[test]
    fn filter_cases() {
        let s = set(
            json!({"f:spec": {"f:a": {}}, "f:status": {"f:phase": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}),
        );
        let cases = vec![
            ("none", ResetFields::None, s.to_fields_v1()),
            (
                "main resource drops status",
                ResetFields::for_custom_resource(true, None),
                json!({"f:spec": {"f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}),
            ),
            (
                "no status subresource keeps all",
                ResetFields::for_custom_resource(false, None),
                s.to_fields_v1(),
            ),
            (
                "custom resource status keeps only status",
                ResetFields::for_custom_resource(true, Some("status")),
                json!({"f:status": {"f:phase": {}}}),
            ),
            (
                "deployment status drops spec and labels",
                ResetFields::for_builtin(builtin_kind("apps", "Deployment").unwrap(), Some("status")),
                json!({"f:status": {"f:phase": {}}}),
            ),
        ];
        for (name, r, want) in cases {
            assert_eq!(r.filter(&s).to_fields_v1(), want, "{name}");
        }
        assert_eq!(
            ResetFields::for_builtin(builtin_kind("", "Secret").unwrap(), None),
            ResetFields::None
        );
    }

    #[test]
    fn restore_cases() {
        let live = json!({"metadata": {"name": "w", "labels": {"a": "1"}}, "spec": {"size": 1}, "status": {"phase": "Old"}});
        let new = json!({"metadata": {"name": "w", "labels": {"a": "2"}}, "spec": {"size": 9}, "status": {"phase": "New"}});

        let mut main = new.clone();
        ResetFields::for_custom_resource(true, None).restore(Some(&live), &mut main);
        assert_eq!(main["status"], json!({"phase": "Old"}));
        assert_eq!(main["spec"], json!({"size": 9}));

        let mut status = new.clone();
        ResetFields::for_custom_resource(true, Some("status")).restore(Some(&live), &mut status);
        assert_eq!(
            status,
            json!({"metadata": {"name": "w", "labels": {"a": "1"}}, "spec": {"size": 1}, "status": {"phase": "New"}})
        );

        let mut created = new;
        ResetFields::for_custom_resource(true, None).restore(None, &mut created);
        assert!(created.get("status").is_none(), "status dropped on create");
    }
}
