//! Helpers shared by the integration tests.

pub mod crd_validation;
