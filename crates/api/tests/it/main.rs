//! The api crate against the fake Kie service: one test binary, a module per area.
//!
//! Every test talks HTTP on loopback to `sora-batch-testkit`'s fake, which behaves like the
//! live service in `kie-api-notes.md`, and asserts on the fake's request log rather than on
//! the clock.

mod classification;
mod create_task;
mod downloads;
mod fixtures;
mod retries;
mod secrets;
mod support;
