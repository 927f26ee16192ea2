//! Shared test support: the world (sandbox API server, Entra emulator, in-process operator) and
//! the workload stand-in.

#![allow(dead_code)]

pub mod hooks;
pub mod metrics;
pub mod workloads;
pub mod world;
