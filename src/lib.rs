//! secret-rotator: rotates OAuth client secrets before they expire, with zero downtime.

pub mod api;
pub mod cli;
pub mod clock;
pub mod controller;
pub mod metrics;
pub mod provider;
pub mod rotation;
mod rotation_feed;
