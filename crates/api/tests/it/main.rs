//! The api crate against the fake Kie service: one test binary, a module per area.
//!
//! Every test talks HTTP on loopback to `sora-batch-testkit`'s fake, which behaves like the
//! live service in `kie-api-notes.md`, and asserts on the fake's request log rather than on
//! the clock. `hostile` is the exception: answers no honest server sends (endless,
//! oversized, trickling, silent) come from the raw HTTP/1.1 server of `hostile_server`;
//! `misconfigured` puts the testkit's TLS front (HTTPS with a certificate made in the test)
//! before the fake, or points the client where nothing answers.

mod catalogue;
mod classification;
mod create_task;
mod downloads;
mod fixtures;
mod hostile;
mod hostile_server;
mod misconfigured;
mod retries;
mod secrets;
mod support;
mod uploads;
