//! The engine's integration tests: one binary, a module per area, helpers in [`support`].

mod errors;
mod examples;
mod expansion;
mod fuzz;
mod gallery;
mod identity;
mod limits;
mod local_inputs;
mod model_inputs;
mod properties;
mod render;
mod rows;
mod run_engine;
mod schema;
mod schema_agreement;
mod scripted;
mod sharding;
mod step_summary;
mod support;
