//! The cli's integration tests: the built `sora-batch` binary run as a user would run it.
//! One binary, a module per command, helpers in [`support`]; the end-to-end tests of `run`
//! (against the fake Kie service) are the `run_*` modules, with their helpers in
//! [`run_support`].

mod completions;
mod gallery;
mod help;
mod local_files;
mod models;
mod plan;
mod progress;
mod run_basics;
mod run_faults;
mod run_kill;
#[cfg(unix)]
mod run_links;
mod run_misconfigured;
mod run_money;
mod run_outputs;
mod run_reports;
mod run_resume;
mod run_rows;
mod run_support;
mod run_timing;
mod run_upgrade;
mod schema;
mod shards;
mod support;
mod validate;
mod workflow;
