//! One module per command; each has a `run(args, output)` that returns an
//! [`crate::exit::Outcome`]. `run`, `status` and `task` join them with the run issue.

pub mod plan;
pub mod schema;
pub mod validate;
