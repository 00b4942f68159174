//! Idempotent calls retry transient failures, back off, honour rate limits, and stop.
//!
//! Timing is read from the fake's request log (when each request arrived), never from sleeps
//! in the test: the assertions are lower bounds that the policy guarantees.

use std::time::Duration;

use sora_batch_api::{ErrorKind, RetryPolicy};
use sora_batch_testkit::{Endpoint, FakeKie, Fault, LoggedRequest, Times};

use crate::support::{client_for, client_with, config_for, seed_request};

fn gaps(requests: &[&LoggedRequest]) -> Vec<Duration> {
    requests
        .windows(2)
        .map(|pair| pair[1].received_at.duration_since(pair[0].received_at))
        .collect()
}

#[tokio::test]
async fn transient_failures_are_retried_with_growing_waits_until_the_bound() {
    let fake = FakeKie::start().await;
    let policy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(1),
        maintenance_delay: Duration::ZERO,
        ..RetryPolicy::default()
    };
    let mut config = config_for(&fake.base_url());
    config.retry = policy.clone();
    let client = client_with(config);
    fake.inject(Endpoint::Credit, Fault::maintenance(), Times::Always);

    let error = client
        .credit_balance()
        .await
        .expect_err("always in maintenance");
    assert_eq!(error.kind, ErrorKind::Maintenance);
    assert_eq!(error.attempts, 5);
    let log = fake.log();
    let requests = log.requests_to(Endpoint::Credit);
    assert_eq!(requests.len(), 5, "bounded: exactly max_attempts requests");
    for (index, gap) in gaps(&requests).into_iter().enumerate() {
        let attempt = index as u32 + 1;
        assert!(
            gap >= policy.min_exponential_delay(attempt),
            "wait after attempt {attempt} was {gap:?}"
        );
    }
    assert!(policy.min_exponential_delay(4) >= policy.min_exponential_delay(1) * 8);
}

#[tokio::test]
async fn a_call_succeeds_after_a_few_transient_failures() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    fake.inject(Endpoint::Credit, Fault::server_error(), Times::Once);
    fake.inject(
        Endpoint::Credit,
        Fault::NonJson {
            status: 502,
            body: "<html>bad gateway</html>".into(),
        },
        Times::Once,
    );
    let balance = client.credit_balance().await.expect("third time lucky");
    assert!(balance > 0.0);
    assert_eq!(fake.log().count(Endpoint::Credit), 3);
}

#[tokio::test]
async fn server_errors_get_only_a_few_tries() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    fake.inject(Endpoint::Credit, Fault::FieldRequired, Times::Always);
    let error = client.credit_balance().await.expect_err("always 500");
    assert_eq!(error.kind, ErrorKind::ServerError);
    let bound = client.config().retry.server_error_attempts as usize;
    assert_eq!(fake.log().count(Endpoint::Credit), bound);
}

#[tokio::test]
async fn a_429_waits_out_a_full_window() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let window = client.config().retry.rate_limit_window;
    fake.inject(Endpoint::Credit, Fault::RateLimited, Times::Once);
    client
        .credit_balance()
        .await
        .expect("succeeds after the window");
    let log = fake.log();
    let requests = log.requests_to(Endpoint::Credit);
    assert_eq!(requests.len(), 2);
    assert!(
        gaps(&requests)[0] >= window,
        "waited {:?}",
        gaps(&requests)[0]
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    assert!(client.config().retry.rate_limit_window < Duration::from_secs(1));
    fake.inject(Endpoint::Credit, Fault::RetryAfter { secs: 1 }, Times::Once);
    client
        .credit_balance()
        .await
        .expect("succeeds after Retry-After");
    let log = fake.log();
    let requests = log.requests_to(Endpoint::Credit);
    assert_eq!(requests.len(), 2);
    assert!(gaps(&requests)[0] >= Duration::from_secs(1));
}

#[tokio::test]
async fn the_services_own_rate_limit_is_survived() {
    let fake = FakeKie::builder()
        .rate_limit(Endpoint::Credit, 2, Duration::from_millis(200))
        .start()
        .await;
    let client = client_for(&fake);
    for _ in 0..5 {
        client
            .credit_balance()
            .await
            .expect("every call gets through in the end");
    }
    let log = fake.log();
    assert!(log.rate_limited() > 0, "the limit was met");
    assert_eq!(log.count(Endpoint::Credit), 5 + log.rate_limited());
}

#[tokio::test]
async fn fatal_answers_are_not_retried() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    for fault in [
        Fault::unauthorized(),
        Fault::insufficient_credits(),
        Fault::Cloudflare1010,
    ] {
        fake.inject(Endpoint::DownloadUrl, fault, Times::Once);
        let error = client
            .download_url("http://127.0.0.1:9/r/x/0.mp4")
            .await
            .expect_err("fatal");
        assert_eq!(error.attempts, 1);
    }
    assert_eq!(fake.log().count(Endpoint::DownloadUrl), 3);
}

/// A pacer that lets one request through per `spacing` and counts what it was asked.
struct SpacedPacer {
    spacing: Duration,
    state: std::sync::Mutex<(Option<tokio::time::Instant>, u32, u32)>,
}

impl SpacedPacer {
    fn new(spacing: Duration) -> SpacedPacer {
        SpacedPacer {
            spacing,
            state: std::sync::Mutex::new((None, 0, 0)),
        }
    }

    /// Permits granted, and 429s reported.
    fn counts(&self) -> (u32, u32) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.1, state.2)
    }
}

impl sora_batch_api::RetryPacer for SpacedPacer {
    fn permit(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let at = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = tokio::time::Instant::now();
                let at = state.0.map_or(now, |last| (last + self.spacing).max(now));
                state.0 = Some(at);
                state.1 += 1;
                at
            };
            tokio::time::sleep_until(at).await;
        })
    }

    fn rate_limited(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.2 += 1;
    }
}

#[tokio::test]
async fn paced_calls_ask_the_pacer_before_every_retry() {
    let fake = FakeKie::start().await;
    let mut config = config_for(&fake.base_url());
    // Retries the policy alone would send a millisecond apart.
    config.retry.base_delay = Duration::from_millis(1);
    config.retry.rate_limit_window = Duration::from_millis(1);
    let client = client_with(config);
    let task = client.create_task(&seed_request()).await.expect("created");
    let spacing = Duration::from_millis(150);
    let pacer = SpacedPacer::new(spacing);
    fake.inject(Endpoint::RecordInfo, Fault::server_error(), Times::Once);
    fake.inject(Endpoint::RecordInfo, Fault::RateLimited, Times::Once);
    client
        .record_info_paced(&task, &pacer)
        .await
        .expect("the third request gets the record");
    // The first request is the caller's to pace; each retry waited for a permit.
    assert_eq!(pacer.counts(), (2, 1), "permits asked, 429s reported");
    let log = fake.log();
    let requests = log.requests_to(Endpoint::RecordInfo);
    assert_eq!(requests.len(), 3);
    // The permits were `spacing` apart, so the retries reached the service about that far
    // apart (the fake's log holds when each arrived, a few milliseconds after it left);
    // unpaced, they would have come a millisecond apart.
    assert!(
        gaps(&requests)[1] >= spacing * 2 / 3,
        "the retries came {:?} apart",
        gaps(&requests)[1]
    );

    fake.inject(Endpoint::DownloadUrl, Fault::server_error(), Times::Once);
    // The second answer refuses the URL (it is no result of this account): not retried.
    let refused = client
        .download_url_paced("http://127.0.0.1:9/r/x/0.mp4", &pacer)
        .await
        .expect_err("not a result URL");
    assert_eq!(refused.attempts, 2);
    assert_eq!(pacer.counts(), (3, 1), "download-url's retry was paced too");
}
