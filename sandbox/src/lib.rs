//! The sandbox: stand-ins for the two services secret-rotator talks to, as real HTTP servers.
//!
//! * [`apiserver`]: an in-memory Kubernetes API server that unmodified kube-rs clients and `kubectl`
//!   use without knowing.
//! * [`entra`]: an emulator of the Microsoft Entra token endpoint and the Microsoft Graph calls the
//!   operator makes.
//!
//! Production code never depends on anything here except through the real protocols.

pub mod apiserver;
pub mod entra;
pub mod kubectl;
mod rsa_key;
