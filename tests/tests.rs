//! The integration suite: one crate, one module per area.
//!
//! Every networked test runs the simulator in-process on `127.0.0.1:0`.

mod support;

mod binary;
mod client_sim;
mod operator;
mod resilience;
mod run;
mod sim_rules;
mod terminal;
