//! The testkit's integration tests: a reqwest client against a running [`FakeKie`], one
//! module per area of behaviour, helpers in `support`.
//!
//! [`FakeKie`]: sora_batch_testkit::FakeKie

mod account;
mod catalogue;
mod faults;
mod files;
mod lifecycle;
mod models;
mod random_faults;
mod support;
mod transport;
mod validation;
