//! Injected faults (each kind, their order and lifetime, Slow's side effects) and the
//! per-endpoint rate limit.

use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::support::{KieCalls, client_builder, sora_body};

#[tokio::test]
async fn injected_codes_answer_in_http_200_and_create_nothing() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    fake.inject(Endpoint::CreateTask, Fault::usage_cap(), Times::Once);
    fake.inject(Endpoint::CreateTask, Fault::maintenance(), Times::Once);
    fake.inject(Endpoint::CreateTask, Fault::model_disabled(), Times::Once);
    fake.inject(
        Endpoint::CreateTask,
        Fault::insufficient_credits(),
        Times::Once,
    );
    fake.inject(Endpoint::CreateTask, Fault::unauthorized(), Times::Once);
    fake.inject(
        Endpoint::CreateTask,
        Fault::generation_failed(),
        Times::Once,
    );
    fake.inject(Endpoint::CreateTask, Fault::server_error(), Times::Once);
    fake.inject(Endpoint::CreateTask, Fault::bad_request("bad"), Times::Once);
    fake.inject(
        Endpoint::CreateTask,
        Fault::validation("invalid"),
        Times::Once,
    );
    fake.inject(Endpoint::CreateTask, Fault::FieldRequired, Times::Once);

    let mut codes = Vec::new();
    for _ in 0..10 {
        let answer = calls.create_task(&sora_body("faulted")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.data(), &serde_json::Value::Null);
        codes.push(answer.code().unwrap_or(0));
    }
    // First in, first out.
    assert_eq!(codes, [433, 455, 505, 402, 401, 501, 500, 400, 422, 500]);
    assert_eq!(fake.log().tasks_created(), 0);
    // The queue is used up: the next one goes through.
    assert_eq!(
        calls.create_task(&sora_body("fine")).await.code(),
        Some(200)
    );
}

#[tokio::test]
async fn field_required_fault_has_the_live_message() {
    let fake = FakeKie::start().await;
    fake.inject(Endpoint::CreateTask, Fault::FieldRequired, Times::Once);
    let answer = KieCalls::new(&fake).create_task(&sora_body("x")).await;
    assert_eq!(
        (answer.code(), answer.msg()),
        (Some(500), "This field is required")
    );
}

#[tokio::test]
async fn faults_apply_only_to_their_endpoint_for_their_count() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("polled").await;
    fake.inject(Endpoint::RecordInfo, Fault::maintenance(), Times::Next(2));
    assert_eq!(calls.credit().await.code(), Some(200));
    assert_eq!(calls.record_info(&task_id).await.code(), Some(455));
    assert_eq!(calls.record_info(&task_id).await.code(), Some(455));
    let answer = calls.record_info(&task_id).await;
    assert_eq!(answer.code(), Some(200));
    // Faulted polls did not advance the task: this is its first answered poll.
    assert_eq!(answer.state(), "waiting");
}

#[tokio::test]
async fn always_faults_last_until_cleared() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    fake.inject(Endpoint::Credit, Fault::maintenance(), Times::Always);
    for _ in 0..3 {
        assert_eq!(calls.credit().await.code(), Some(455));
    }
    fake.clear_faults();
    assert_eq!(calls.credit().await.code(), Some(200));
}

#[tokio::test]
async fn rate_limited_and_retry_after_are_http_429() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    fake.inject(Endpoint::CreateTask, Fault::RateLimited, Times::Once);
    fake.inject(
        Endpoint::CreateTask,
        Fault::RetryAfter { secs: 7 },
        Times::Once,
    );
    let plain = calls.create_task(&sora_body("a")).await;
    assert_eq!((plain.status, plain.code()), (429, Some(429)));
    assert!(plain.headers.get("retry-after").is_none());
    let with_retry_after = calls.create_task(&sora_body("a")).await;
    assert_eq!(with_retry_after.status, 429);
    assert_eq!(
        with_retry_after
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let log = fake.log();
    assert_eq!(log.rate_limited(), 2);
    assert_eq!(log.tasks_created(), 0);
}

#[tokio::test]
async fn non_json_and_cloudflare_faults_are_text() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    fake.inject(Endpoint::RecordInfo, Fault::bad_gateway_html(), Times::Once);
    fake.inject(
        Endpoint::RecordInfo,
        Fault::NonJson {
            status: 504,
            body: "<html>Gateway Timeout</html>".to_owned(),
        },
        Times::Once,
    );
    fake.inject(Endpoint::RecordInfo, Fault::Cloudflare1010, Times::Once);
    let bad_gateway = calls.record_info("x").await;
    assert_eq!(bad_gateway.status, 502);
    assert!(
        bad_gateway
            .body
            .as_str()
            .is_some_and(|html| html.contains("502 Bad Gateway"))
    );
    assert!(
        bad_gateway
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/html"))
    );
    let timeout = calls.record_info("x").await;
    assert_eq!(
        (timeout.status, timeout.body.as_str()),
        (504, Some("<html>Gateway Timeout</html>"))
    );
    let cloudflare = calls.record_info("x").await;
    assert_eq!(
        (cloudflare.status, cloudflare.body.as_str()),
        (403, Some("error code: 1010"))
    );
    assert_eq!(fake.log().requests_to(Endpoint::RecordInfo)[0].code, None);
}

#[tokio::test]
async fn a_slow_create_task_still_creates_the_task_when_the_client_gives_up() {
    let fake = FakeKie::start().await;
    fake.inject(
        Endpoint::CreateTask,
        Fault::Slow {
            delay: Duration::from_millis(1500),
        },
        Times::Once,
    );
    let impatient_client = client_builder()
        .timeout(Duration::from_millis(200))
        .build()
        .expect("client");
    let calls = KieCalls::with_client(&fake, impatient_client);
    let outcome = calls.try_create_task(&sora_body("slow")).await;
    let error = outcome.expect_err("the client times out");
    assert!(error.is_timeout(), "{error:?}");

    // The service did its work: the task exists, is charged, and the client lost its id.
    let log = fake.log();
    assert_eq!(log.tasks_created(), 1);
    assert_eq!(log.created_per_prompt().get("slow"), Some(&1));
    assert_eq!(fake.task_ids().len(), 1);
    assert_eq!(fake.credits(), 1_000_000.0 - 30.0);
}

#[tokio::test]
async fn a_slow_answer_arrives_for_a_patient_client() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    fake.inject(
        Endpoint::Credit,
        Fault::Slow {
            delay: Duration::from_millis(100),
        },
        Times::Once,
    );
    let started = std::time::Instant::now();
    assert_eq!(calls.credit().await.code(), Some(200));
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn rate_limit_answers_the_excess_429_and_creates_nothing_for_it() {
    let fake = FakeKie::builder()
        .rate_limit(Endpoint::CreateTask, 3, Duration::from_secs(60))
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let mut statuses = Vec::new();
    for index in 0..5 {
        let answer = calls.create_task(&sora_body(&format!("p{index}"))).await;
        statuses.push((answer.status, answer.code()));
    }
    assert_eq!(
        statuses,
        [
            (200, Some(200)),
            (200, Some(200)),
            (200, Some(200)),
            (429, Some(429)),
            (429, Some(429)),
        ]
    );
    // Other endpoints have their own budget.
    assert_eq!(calls.credit().await.code(), Some(200));
    let log = fake.log();
    assert_eq!(log.tasks_created(), 3);
    assert_eq!(log.rate_limited(), 2);
    assert_eq!(log.created_per_prompt().get("p3"), None);
    assert!(
        log.requests()[3]
            .headers
            .iter()
            .any(|(name, _)| name == "user-agent")
    );
}

#[tokio::test]
async fn rate_limit_window_slides() {
    let window = Duration::from_millis(150);
    let fake = FakeKie::builder()
        .rate_limit(Endpoint::Credit, 2, window)
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    assert_eq!(calls.credit().await.status, 200);
    assert_eq!(calls.credit().await.status, 200);
    assert_eq!(calls.credit().await.status, 429);
    // Wait until the window has passed, then the budget is back.
    let mut recovered = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if calls.credit().await.status == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered);
}
