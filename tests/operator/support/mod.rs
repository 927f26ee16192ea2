//! Shared test support: the world (sandbox API server, Entra emulator, in-process operator), the
//! workload stand-in, and the operator as a process.

#![allow(dead_code)]

pub mod hooks;
pub mod metrics;
pub mod process;
pub mod workloads;
pub mod world;
