//! Integration tests of the operator: the real controller, in-process, with a real `kube::Client`
//! to the sandbox API server and the real Graph client over HTTP to the Entra emulator.

mod support;

mod adoption;
mod capacity;
mod crash_safety;
mod failures;
mod happy_path;
mod leader_election;
mod metrics;
mod requests;
mod restart;
mod run_command;
mod scope;
mod shell;
mod sign_in;
mod tenancy;
mod zero_downtime;
