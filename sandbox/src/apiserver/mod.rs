//! The in-memory Kubernetes API server's pure libraries: what kube-apiserver decides about an object
//! given the request, without HTTP, storage or clocks.
//!
//! * [`schema`]: CRD structural schemas (pruning, defaulting, validation with kube-apiserver's
//!   messages, CEL rules) and their merge semantics.
//! * [`patch`]: strategic merge patch and patch content types.
//! * [`fieldmanager`]: server-side apply and `metadata.managedFields`.
//! * [`shape`]: merge semantics (list types, map types, patch merge keys) shared by the above,
//!   including the built-in kinds' table.
//! * [`field_errors`]: field-level errors and the `Status` bodies built from them.

pub mod field_errors;
pub mod fieldmanager;
pub mod json_value;
pub mod patch;
pub mod schema;
pub mod shape;

#[cfg(test)]
mod recordings;
