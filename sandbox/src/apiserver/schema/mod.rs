//! CRD structural schemas: compile a version's `openAPIV3Schema` once ([`StructuralSchema`]),
//! then for each request decode the custom resource (prune unknown fields, drop non-nullable
//! nulls, apply defaults: [`StructuralSchema::decode`]), validate it with kube-apiserver's
//! messages ([`StructuralSchema::validate_custom_resource`], rendered by
//! [`crate::apiserver::field_errors::invalid_status`]) and hand its merge semantics to server-side
//! apply ([`StructuralSchema::type_shape`]). [`CompiledCrd`] does the same for a whole
//! `CustomResourceDefinition`, with its own validation errors.
//!
//! ```
//! use sandbox::apiserver::schema::{FieldValidation, StructuralSchema};
//! use serde_json::json;
//!
//! let schema = StructuralSchema::compile(&json!({
//!     "type": "object",
//!     "properties": {"spec": {"type": "object", "required": ["size"],
//!         "properties": {"size": {"type": "integer", "minimum": 1, "default": 1}}}},
//! }), "openAPIV3Schema").unwrap().for_kind("example.com", "v1", "Widget");
//!
//! let body = json!({"apiVersion": "example.com/v1", "kind": "Widget",
//!                   "metadata": {"name": "w", "namespace": "ns"}, "spec": {"extra": true}});
//! let decoded = schema.decode(body.clone(), FieldValidation::Warn).unwrap();
//! assert_eq!(decoded.object["spec"], json!({"size": 1}));
//! assert_eq!(decoded.warnings, vec!["unknown field \"spec.extra\""]);
//! assert!(schema.validate_custom_resource(&decoded.object, None, true).is_empty());
//!
//! let strict = schema.decode(body, FieldValidation::Strict).unwrap_err();
//! assert_eq!(strict["message"],
//!     "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.extra\"");
//! ```
//!
//! Invariant: a `StructuralSchema` only exists for a schema that passed the structural checks,
//! so decoding and validation never meet a schema they cannot interpret.

pub mod cel;
pub mod formats;
pub mod node;
pub mod object_meta;
pub mod prune;
pub mod structural;
pub mod validate;

use serde_json::{Value, json};

pub use self::cel::RootVars;
pub use self::node::SchemaNode;
pub use self::object_meta::{NameRule, validate_object_meta};
use crate::apiserver::field_errors::{FieldError, invalid_status, simple_status};
use crate::apiserver::json_value::go_quote;
use crate::apiserver::shape::{ObjectShape, TypeShape};

/// How unknown fields in a request are treated (`fieldValidation` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Dropped silently.
    Ignore,
    /// Dropped with a `Warning` header per field (the default).
    #[default]
    Warn,
    /// Refused with 400.
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter (absent means `Warn`); an unknown value is the 400 `Status`
    /// kube-apiserver answers.
    pub fn from_query(v: Option<&str>) -> Result<FieldValidation, Value> {
        match v {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(simple_status(
                400,
                "BadRequest",
                &format!("fieldValidation must be one of Ignore, Warn, or Strict, got {other}"),
            )),
        }
    }
}

/// A `Warning` header value (`299 - "unknown field \"spec.extra\""`).
pub fn warning_header_value(text: &str) -> String {
    format!("299 - {}", go_quote(text))
}

/// A decoded custom resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// The object after pruning, null-dropping and defaulting.
    pub object: Value,
    /// Warnings to send (each one `Warning` header, see [`warning_header_value`]), e.g.
    /// `unknown field "spec.extra"`.
    pub warnings: Vec<String>,
}

/// A compiled structural schema of one CRD version.
#[derive(Clone, Debug)]
pub struct StructuralSchema {
    root: SchemaNode,
    shape: TypeShape,
    vars: RootVars,
    version: String,
}

impl StructuralSchema {
    /// Compiles `open_api_v3_schema`; errors are the CRD validation errors, reported under
    /// `error_path` (e.g. `spec.versions[0].schema.openAPIV3Schema`).
    pub fn compile(
        open_api_v3_schema: &Value,
        error_path: &str,
    ) -> Result<StructuralSchema, Vec<FieldError>> {
        let errors = structural::check(open_api_v3_schema, error_path);
        if !errors.is_empty() {
            return Err(errors);
        }
        let root = SchemaNode::parse(open_api_v3_schema);
        let mut shape = root.type_shape();
        if let TypeShape::Object(o) = &mut shape {
            add_resource_fields(o);
        }
        Ok(StructuralSchema {
            root,
            shape,
            vars: RootVars::default(),
            version: String::new(),
        })
    }

    /// The same schema bound to the resource type it describes (used by root CEL rules and in
    /// decoding errors).
    pub fn for_kind(mut self, group: &str, version: &str, kind: &str) -> StructuralSchema {
        self.vars = RootVars {
            api_version: if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            },
            api_group: group.to_string(),
            kind: kind.to_string(),
        };
        self.version = version.to_string();
        self
    }

    /// The root schema node.
    pub fn root(&self) -> &SchemaNode {
        &self.root
    }

    /// Merge semantics for server-side apply: list types and keys, map types, with `apiVersion`,
    /// `kind` and `metadata` (as `ObjectMeta`) at the root.
    pub fn type_shape(&self) -> &TypeShape {
        &self.shape
    }

    /// Removes unknown fields, returning their paths sorted (`spec.extra`, `metadata.bogus`).
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        let mut pruned = Vec::new();
        prune::prune(object, &self.root, true, "", &mut pruned);
        pruned.sort();
        pruned.dedup();
        pruned
    }

    /// Applies `default`s (including inside objects that defaults create).
    pub fn apply_defaults(&self, object: &mut Value) {
        prune::apply_defaults(object, &self.root);
    }

    /// What kube-apiserver does to a custom resource it decodes (from a request or from
    /// storage): prune unknown fields, drop `null`s of non-nullable fields, apply defaults.
    /// Returns the pruned paths.
    pub fn normalize(&self, object: &mut Value) -> Vec<String> {
        let pruned = self.prune(object);
        prune::drop_non_nullable_nulls(object, &self.root);
        self.apply_defaults(object);
        pruned
    }

    /// Decodes a request body: [`normalize`](Self::normalize), then reports unknown fields per
    /// `validation` (warnings, or the 400 `Status` of `cr-create-unknown-field-strict`).
    pub fn decode(&self, mut body: Value, validation: FieldValidation) -> Result<Decoded, Value> {
        let pruned = self.normalize(&mut body);
        self.report_unknown_fields(body, &pruned, validation)
    }

    /// Prepares a server-side apply configuration for a custom resource: unknown fields are
    /// pruned and reported per `validation`, like [`decode`](Self::decode), but nothing is
    /// defaulted and `null`s stay (an applier must not come to own defaults, and `null` means
    /// "unset" in an apply).
    pub fn prune_applied(&self, mut applied: Value, validation: FieldValidation) -> Result<Decoded, Value> {
        let pruned = self.prune(&mut applied);
        self.report_unknown_fields(applied, &pruned, validation)
    }

    /// `object` with its `pruned` (unknown) fields reported per `validation`: as warnings, not at
    /// all, or as the 400 `Status` of a strict decoding failure.
    fn report_unknown_fields(
        &self,
        object: Value,
        pruned: &[String],
        validation: FieldValidation,
    ) -> Result<Decoded, Value> {
        let messages: Vec<String> = pruned
            .iter()
            .map(|p| format!("unknown field {}", go_quote(p)))
            .collect();
        match validation {
            FieldValidation::Strict if !messages.is_empty() => Err(self.strict_decoding_status(&messages)),
            FieldValidation::Ignore => Ok(Decoded {
                object,
                warnings: Vec::new(),
            }),
            _ => Ok(Decoded {
                object,
                warnings: messages,
            }),
        }
    }

    /// The 400 for a strict decoding failure:
    /// `Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.extra"`.
    pub fn strict_decoding_status(&self, messages: &[String]) -> Value {
        let kind = &self.vars.kind;
        simple_status(
            400,
            "BadRequest",
            &format!(
                "{kind} in version {} cannot be handled as a {kind}: strict decoding error: {}",
                go_quote(&self.version),
                messages.join(", ")
            ),
        )
    }

    /// Validates a decoded object against the schema (types, formats, enums, bounds,
    /// `required`, list-type invariants, CEL rules with `oldSelf` on update). `old` is the
    /// stored object on update; unchanged values are not re-validated (ratcheting).
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
        validate::validate(&self.root, object, old, Some(&self.vars))
    }

    /// Everything kube-apiserver checks on a custom resource: `metadata` (name a DNS subdomain,
    /// namespace present iff `namespaced`, labels, annotations, finalizers, owner references),
    /// then [`validate`](Self::validate). CEL rules are skipped (with kube-apiserver's "some
    /// validation rules were not checked" error) when a blocking error was found.
    pub fn validate_custom_resource(
        &self,
        object: &Value,
        old: Option<&Value>,
        namespaced: bool,
    ) -> Vec<FieldError> {
        let mut errors = validate_object_meta(object, namespaced, NameRule::DnsSubdomain);
        let schema_errors = validate::validate_after(&self.root, object, old, Some(&self.vars), &errors);
        errors.extend(schema_errors);
        errors
    }

    /// The 422 `Status` for `errors` about object `name` of this schema's kind.
    pub fn invalid_status(&self, name: &str, errors: &[FieldError]) -> Value {
        invalid_status(&self.vars.api_group, &self.vars.kind, name, errors)
    }
}

fn add_resource_fields(o: &mut ObjectShape) {
    o.fields.entry("apiVersion".into()).or_insert(TypeShape::Scalar);
    o.fields.entry("kind".into()).or_insert(TypeShape::Scalar);
    o.fields
        .insert("metadata".into(), crate::apiserver::shape::builtin::object_meta());
}

/// One served version of a CRD.
#[derive(Clone, Debug)]
pub struct CrdVersion {
    /// The version name, e.g. `v1`.
    pub name: String,
    /// `served`.
    pub served: bool,
    /// `storage`.
    pub storage: bool,
    /// Whether `subresources.status` is set.
    pub status_subresource: bool,
    /// `subresources.scale`, as given.
    pub scale_subresource: Option<Value>,
    /// `additionalPrinterColumns`, as given.
    pub printer_columns: Vec<Value>,
    /// The compiled schema, bound to the CRD's group, this version and its kind.
    pub schema: StructuralSchema,
}

/// A validated and compiled `CustomResourceDefinition` (apiextensions.k8s.io/v1).
#[derive(Clone, Debug)]
pub struct CompiledCrd {
    /// `spec.group`.
    pub group: String,
    /// `spec.names.kind`.
    pub kind: String,
    /// `spec.names.listKind` (defaulted to `<kind>List`).
    pub list_kind: String,
    /// `spec.names.plural`.
    pub plural: String,
    /// `spec.names.singular` (defaulted to the lowercased kind).
    pub singular: String,
    /// `spec.names.shortNames`.
    pub short_names: Vec<String>,
    /// `spec.names.categories`.
    pub categories: Vec<String>,
    /// `spec.scope == Namespaced`.
    pub namespaced: bool,
    /// The versions, in CRD order.
    pub versions: Vec<CrdVersion>,
}

impl CompiledCrd {
    /// Validates a CRD object the way kube-apiserver validates a create (names, group, scope,
    /// versions, one storage version, structural schemas, CEL rules) and compiles its schemas.
    /// Errors render with [`crd_invalid_status`].
    pub fn compile(crd: &Value) -> Result<CompiledCrd, Vec<FieldError>> {
        let mut errs = Vec::new();
        let str_at = |v: &Value, p: &[&str]| -> String {
            let mut cur = v;
            for k in p {
                cur = cur.get(*k).unwrap_or(&Value::Null);
            }
            cur.as_str().unwrap_or("").to_string()
        };
        let list_at = |v: &Value, p: &[&str]| -> Vec<String> {
            let mut cur = v;
            for k in p {
                cur = cur.get(*k).unwrap_or(&Value::Null);
            }
            cur.as_array()
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                .unwrap_or_default()
        };
        let name = str_at(crd, &["metadata", "name"]);
        let group = str_at(crd, &["spec", "group"]);
        let plural = str_at(crd, &["spec", "names", "plural"]);
        let kind = str_at(crd, &["spec", "names", "kind"]);
        let scope = str_at(crd, &["spec", "scope"]);

        if group.is_empty() {
            errs.push(FieldError::required("spec.group", ""));
        } else if !group.contains('.') {
            errs.push(FieldError::invalid(
                "spec.group",
                json!(group),
                "should be a domain with at least one dot",
            ));
        } else {
            for m in object_meta::dns1123_subdomain(&group) {
                errs.push(FieldError::invalid("spec.group", json!(group), m));
            }
        }
        if plural.is_empty() {
            errs.push(FieldError::required("spec.names.plural", ""));
        } else {
            for m in object_meta::dns1123_label(&plural) {
                errs.push(FieldError::invalid("spec.names.plural", json!(plural), m));
            }
        }
        if kind.is_empty() {
            errs.push(FieldError::required("spec.names.kind", ""));
        }
        if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
            errs.push(FieldError::invalid(
                "metadata.name",
                json!(name),
                "must be spec.names.plural+\".\"+spec.group",
            ));
        }
        match scope.as_str() {
            "Namespaced" | "Cluster" => {}
            "" => errs.push(FieldError::required("spec.scope", "")),
            other => errs.push(FieldError::not_supported(
                "spec.scope",
                json!(other),
                &["Cluster".to_string(), "Namespaced".to_string()],
            )),
        }

        let raw_versions = crd
            .get("spec")
            .and_then(|s| s.get("versions"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if raw_versions
            .iter()
            .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .count()
            != 1
        {
            errs.push(FieldError::invalid(
                "spec.versions",
                Value::Array(raw_versions.clone()),
                "must have exactly one version marked as storage version",
            ));
        }
        let mut versions = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (i, v) in raw_versions.iter().enumerate() {
            let vname = str_at(v, &["name"]);
            let vpath = format!("spec.versions[{i}]");
            if vname.is_empty() {
                errs.push(FieldError::required(format!("{vpath}.name"), ""));
            } else {
                for m in object_meta::dns1123_label(&vname) {
                    errs.push(FieldError::invalid(format!("{vpath}.name"), json!(vname), m));
                }
                if seen.contains(&vname) {
                    errs.push(FieldError::duplicate(format!("{vpath}.name"), json!(vname)));
                }
                seen.push(vname.clone());
            }
            let Some(schema) = v.get("schema").and_then(|s| s.get("openAPIV3Schema")) else {
                errs.push(FieldError::required(
                    format!("{vpath}.schema.openAPIV3Schema"),
                    "schemas are required",
                ));
                continue;
            };
            match StructuralSchema::compile(schema, &format!("{vpath}.schema.openAPIV3Schema")) {
                Ok(s) => versions.push(CrdVersion {
                    name: vname.clone(),
                    served: v.get("served").and_then(Value::as_bool).unwrap_or(false),
                    storage: v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                    status_subresource: v.get("subresources").and_then(|s| s.get("status")).is_some(),
                    scale_subresource: v.get("subresources").and_then(|s| s.get("scale")).cloned(),
                    printer_columns: v
                        .get("additionalPrinterColumns")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default(),
                    schema: s.for_kind(&group, &vname, &kind),
                }),
                Err(e) => errs.extend(e),
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let singular = match str_at(crd, &["spec", "names", "singular"]) {
            s if s.is_empty() => kind.to_lowercase(),
            s => s,
        };
        let list_kind = match str_at(crd, &["spec", "names", "listKind"]) {
            s if s.is_empty() => format!("{kind}List"),
            s => s,
        };
        Ok(CompiledCrd {
            group,
            list_kind,
            plural,
            singular,
            short_names: list_at(crd, &["spec", "names", "shortNames"]),
            categories: list_at(crd, &["spec", "names", "categories"]),
            namespaced: scope == "Namespaced",
            kind,
            versions,
        })
    }

    /// The version named `name`.
    pub fn version(&self, name: &str) -> Option<&CrdVersion> {
        self.versions.iter().find(|v| v.name == name)
    }
}

/// The 422 `Status` for an invalid CRD named `name`.
pub fn crd_invalid_status(name: &str, errors: &[FieldError]) -> Value {
    invalid_status("apiextensions.k8s.io", "CustomResourceDefinition", name, errors)
}

#[cfg(test)]
mod tests;
