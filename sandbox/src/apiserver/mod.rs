//! The in-memory Kubernetes API server. These modules hold its pure field-semantics libraries
//! (see [`fieldmanager`] for how a handler chains them).

pub mod field_errors;
pub mod fieldmanager;
pub mod json_value;
pub mod patch;
pub mod schema;
pub mod shape;

#[cfg(test)]
mod recordings;
