//! secret-rotator: rotates OAuth client secrets before they expire, with zero downtime.

pub mod clock;
pub mod provider;
