//! Tests of the decision core: named table cases for each state and transition, crash points,
//! and simulations over years of simulated time.

mod plan_table;
mod simulation;
mod world;
