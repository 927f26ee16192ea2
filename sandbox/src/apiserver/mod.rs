//! The in-memory Kubernetes API server's pure libraries: what kube-apiserver decides about an object
//! given the request, without HTTP, storage or clocks.
//!
//! * [`schema`]: CRD structural schemas (pruning, defaulting, validation with kube-apiserver's
//!   messages, CEL rules), CRD validation, and `metadata` validation for every kind.
//! * [`patch`]: strategic merge patch and the `PATCH` content types a resource accepts.
//! * [`fieldmanager`]: server-side apply and `metadata.managedFields`.
//! * [`shape`]: merge semantics (list types, map types, patch merge keys) shared by the above,
//!   including the built-in kinds' table ([`shape::builtin`]).
//! * [`field_errors`]: field-level errors and the `Status` bodies built from them.
//! * [`json_value`]: JSON equality and Go renderings as kube-apiserver uses them.
//!
//! # How a handler chains them (kube-apiserver's order)
//!
//! For a kind, build an [`fieldmanager::ObjectKind`]: `ObjectKind::builtin(builtin_kind(group,
//! kind)?, api_version)` or, for a custom resource, `ObjectKind::custom(api_version, kind,
//! version.schema.type_shape())` from a [`schema::CompiledCrd`]. The request's
//! [`fieldmanager::Request`] carries the manager (`fieldManager` query parameter, else
//! [`fieldmanager::manager_from_user_agent`]), the subresource, the reset fields
//! ([`fieldmanager::ResetFields::for_builtin`] / [`fieldmanager::ResetFields::for_custom_resource`])
//! and `now`.
//!
//! * **create / `PUT` / merge or JSON patch / strategic merge patch**:
//!   1. [`fieldmanager::validate_write_options`] (`CreateOptions`, `UpdateOptions`, `PatchOptions`).
//!   2. Build the new object: the body, or the patch applied to the live object
//!      (`json_patch::merge`, `json_patch::patch` (a failure answers
//!      [`patch::invalid_patch_status`]), [`patch::strategic_merge_patch`] after
//!      [`patch::patch_type_for`] refused it for custom resources).
//!   3. Decode: custom resources through [`schema::StructuralSchema::decode`] (prune, drop nulls,
//!      default; `Warning` headers via [`schema::warning_header_value`], or the strict 400);
//!      built-ins through their own defaulting (a Secret's `stringData` folded into `data`).
//!   4. [`fieldmanager::update`]: managed fields recorded, reset fields restored.
//!   5. Validate: [`schema::StructuralSchema::validate_custom_resource`] (with the live object
//!      as `old` on update) or [`schema::validate_object_meta`] for built-ins; a 422 renders
//!      with [`field_errors::invalid_status`].
//!   6. If [`fieldmanager::Written::changed`] is false, answer with the live object untouched;
//!      otherwise do the server's bookkeeping (uid, `creationTimestamp`, `generation`,
//!      `resourceVersion`) and store.
//! * **server-side apply** (`application/apply-patch+yaml`):
//!   1. [`fieldmanager::validate_write_options`] with `is_apply` (a missing `fieldManager` is the
//!      recorded 422), then [`fieldmanager::parse_apply_body`].
//!   2. Custom resources: [`schema::StructuralSchema::prune_applied`] (unknown fields reported,
//!      nothing defaulted).
//!   3. [`fieldmanager::applied_resource_version`] is a precondition against the live object.
//!   4. [`fieldmanager::apply`]: 409 conflicts (render [`fieldmanager::ApplyError::status`]) or
//!      the merged object.
//!   5. Decode the result (custom resources: [`schema::StructuralSchema::normalize`]; Secrets:
//!      `stringData` into `data`), then [`fieldmanager::restore_timestamps_if_unchanged`]
//!      against the live object: `false` means nothing to store (re-applying is a no-op).
//!   6. Validate and store as above (201 when it created the object).
//!
//! All of it is synchronous, deterministic and takes `now` as an argument.

pub mod field_errors;
pub mod fieldmanager;
pub mod json_value;
pub mod patch;
pub mod schema;
pub mod shape;

#[cfg(test)]
mod recordings;
