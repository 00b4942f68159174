//! The cli's integration tests: the built `sora-batch` binary run as a user would run it.
//! One binary, a module per command, helpers in [`support`].

mod help;
mod plan;
mod schema;
mod support;
mod validate;
