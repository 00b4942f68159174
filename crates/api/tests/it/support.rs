//! Shared helpers: a client wired to a fake, on a fast retry clock, with a sentinel key.

use std::time::Duration;

use sora_batch_api::{ApiKey, Client, ClientConfig, RetryPolicy};
use sora_batch_testkit::FakeKie;

/// A key that must never show up in anything a test can see.
pub const SENTINEL_KEY: &str = "sk-SENTINEL-7f3a9c2e-do-not-print";

/// The live policy's rules on a clock 100 times faster, so retry tests take milliseconds.
pub fn fast_policy() -> RetryPolicy {
    RetryPolicy::default().scaled(0.01)
}

pub fn config_for(base_url: &str) -> ClientConfig {
    let mut config = ClientConfig::new(base_url).expect("the fake's URL is valid");
    config.retry = fast_policy();
    config.download_retry = RetryPolicy::for_downloads().scaled(0.01);
    config.request_timeout = Duration::from_secs(5);
    config
}

pub fn client_for(fake: &FakeKie) -> Client {
    client_with(config_for(&fake.base_url()))
}

pub fn client_with(config: ClientConfig) -> Client {
    Client::new(config, ApiKey::new(SENTINEL_KEY).expect("valid key")).expect("client builds")
}

pub fn seed_request() -> sora_batch_api::wire::CreateTaskRequest {
    let text = std::fs::read_to_string(fixture_path("seed-create-task-request.json"))
        .expect("seed fixture exists");
    serde_json::from_str(&text).expect("seed request parses")
}

pub fn fixture_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/api")
        .join(name)
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture exists")
}
