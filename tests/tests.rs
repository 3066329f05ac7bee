//! The integration suite: one crate, one module per area.
//!
//! Every networked test runs the simulator in-process on `127.0.0.1:0`.

mod support;

mod client_sim;
mod sim_rules;
