//! Answers no honest server sends: endless, oversized, trickling, silent.
//!
//! Read `hostile_server.rs` first: it writes these answers by hand on loopback. Each test
//! lowers the client's cap to 64 KiB and its download timeouts to milliseconds, so that a
//! correct client ends it in well under a second; [`bounded`] ends it anyway, failing,
//! when the client would read or wait for ever. Assertions are on error kinds and on the
//! server's request count, never on the clock.

use std::future::Future;
use std::time::Duration;

use sora_batch_api::{ClientConfig, ErrorClass, ErrorKind, TaskCreation, TaskId};

use crate::hostile_server::{Behaviour, HostileServer};
use crate::support::{client_with, config_for, seed_request};

/// Far beyond what any of these tests needs when the client is right.
const GUARD: Duration = Duration::from_secs(10);

/// The answer cap in these tests: small, so that reaching it takes no time.
const CAP: u64 = 64 * 1024;

/// `call`'s output, or a failure naming `what` if it has not returned within [`GUARD`].
async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, call).await {
        Ok(output) => output,
        Err(_) => panic!("{what} never returned: the client read or waited without bound"),
    }
}

fn capped_config(server: &HostileServer) -> ClientConfig {
    let mut config = config_for(&server.base_url());
    config.max_answer_bytes = CAP;
    config
}

#[tokio::test]
async fn an_endless_record_info_answer_is_cut_at_the_cap_retried_and_given_up() {
    let server = HostileServer::start(Behaviour::EndlessJson).await;
    let client = client_with(capped_config(&server));
    let error = bounded(
        "recordInfo",
        client.record_info(&TaskId::new("0123456789abcdef0123456789abcdef")),
    )
    .await
    .expect_err("an endless answer holds no record");
    assert_eq!(error.kind, ErrorKind::AnswerTooLarge { limit: CAP });
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.http_status, Some(200));
    let max_attempts = client.config().retry.max_attempts;
    assert_eq!(error.attempts, max_attempts, "retried under the policy");
    assert_eq!(server.requests(), max_attempts as usize, "then given up");
    let shown = error.to_string();
    assert!(
        shown.starts_with("recordInfo: answer larger than 65536 bytes [HTTP 200]"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_endless_create_task_answer_may_have_created_the_task() {
    let server = HostileServer::start(Behaviour::EndlessJson).await;
    let client = client_with(capped_config(&server));
    let failure = bounded("createTask", client.create_task(&seed_request()))
        .await
        .expect_err("an endless answer holds no task id");
    assert_eq!(failure.error.kind, ErrorKind::AnswerTooLarge { limit: CAP });
    // The request reached the service and its answer began with success: a task may exist.
    assert_eq!(failure.creation, TaskCreation::MayHaveBeenCreated);
    assert_eq!(failure.error.attempts, 1);
    assert_eq!(server.requests(), 1, "createTask is never retried");
}

#[tokio::test]
async fn a_content_length_over_the_cap_is_refused_before_reading() {
    // Headers announcing a terabyte, then silence: a client that started reading would
    // wait for bytes that never come, far past the guard.
    let server = HostileServer::start(Behaviour::SilentAfterHeaders {
        content_length: 1 << 40,
    })
    .await;
    let mut config = capped_config(&server);
    config.request_timeout = Duration::from_secs(60);
    let client = client_with(config);
    let error = bounded(
        "download-url",
        client.download_url("http://127.0.0.1:9/r/x/0.mp4"),
    )
    .await
    .expect_err("refused");
    assert_eq!(error.kind, ErrorKind::AnswerTooLarge { limit: CAP });
    assert_eq!(error.http_status, Some(200));
    let max_attempts = client.config().retry.max_attempts;
    assert_eq!(error.attempts, max_attempts);
    assert_eq!(server.requests(), max_attempts as usize);
}

#[tokio::test]
async fn an_answer_of_exactly_the_cap_is_read_and_one_byte_more_is_not() {
    // JSON allows trailing whitespace: the same balance, padded to any length.
    let padded = |length: u64| {
        let mut body = br#"{"code":200,"msg":"success","data":42}"#.to_vec();
        body.resize(usize::try_from(length).expect("a small length"), b' ');
        body
    };
    for chunked in [false, true] {
        let fits = HostileServer::start(Behaviour::Whole {
            status: 200,
            body: padded(CAP),
            chunked,
        })
        .await;
        let client = client_with(capped_config(&fits));
        let balance = bounded("credit balance", client.credit_balance())
            .await
            .expect("an answer of exactly the cap is read");
        assert_eq!(balance, 42.0);

        let over = HostileServer::start(Behaviour::Whole {
            status: 200,
            body: padded(CAP + 1),
            chunked,
        })
        .await;
        let client = client_with(capped_config(&over));
        let error = bounded("credit balance", client.credit_balance())
            .await
            .expect_err("one byte over the cap");
        assert_eq!(
            error.kind,
            ErrorKind::AnswerTooLarge { limit: CAP },
            "chunked: {chunked}"
        );
    }
}

#[tokio::test]
async fn an_endless_error_page_from_the_file_host_is_not_read_whole() {
    let server = HostileServer::start(Behaviour::EndlessBody { status: 503 }).await;
    let client = client_with(capped_config(&server));
    let mut bytes = Vec::new();
    let error = bounded(
        "download",
        client.download(&server.url("/r/task/0.mp4"), &mut bytes),
    )
    .await
    .expect_err("503 for ever");
    // The status decides; the page's first words are kept as evidence.
    assert_eq!(error.kind, ErrorKind::ServerError);
    assert_eq!(error.http_status, Some(503));
    assert!(
        error
            .raw_body
            .as_deref()
            .is_some_and(|body| body.starts_with("hostile"))
    );
    let attempts = client.config().download_retry.server_error_attempts;
    assert_eq!(error.attempts, attempts);
    assert_eq!(server.requests(), attempts as usize);
    assert!(bytes.is_empty());
}

/// A config for the stall tests: only the stall budget can end the retries.
fn stall_config(server: &HostileServer) -> ClientConfig {
    let mut config = capped_config(server);
    config.download_retry.max_attempts = 50;
    config.download_stall_budget = Duration::from_secs(1);
    config
}

#[tokio::test]
async fn a_trickling_file_host_is_cut_below_the_rate_floor_and_reported_stalled() {
    // About 50 bytes per second, never silent for long: the per-read timeout of old never
    // fired on it, and a million bytes would take five hours.
    let server = HostileServer::start(Behaviour::Trickle {
        content_length: 1_000_000,
        interval: Duration::from_millis(20),
    })
    .await;
    let mut config = stall_config(&server);
    config.download_idle_timeout = Duration::from_secs(2);
    config.download_min_rate = 1_000;
    config.download_rate_window = Duration::from_millis(200);
    let client = client_with(config);
    let mut bytes = Vec::new();
    let error = bounded(
        "download",
        client.download(&server.url("/r/task/0.mp4"), &mut bytes),
    )
    .await
    .expect_err("too slow to finish");
    let ErrorKind::Stalled { received, .. } = error.kind else {
        panic!("a stall, not {:?}", error.kind);
    };
    assert!(
        received > 0,
        "bytes came: the floor cut it, not the silence"
    );
    assert_eq!(error.class(), ErrorClass::Transient);
    assert!(
        (2..50).contains(&error.attempts),
        "retried from the start, then ended by the stall budget: {} attempts",
        error.attempts
    );
    assert_eq!(server.requests(), error.attempts as usize);
    assert!(
        error
            .to_string()
            .starts_with("download: the file host stalled")
    );
}

#[tokio::test]
async fn a_file_host_silent_after_its_headers_is_cut_by_the_idle_timeout() {
    let server = HostileServer::start(Behaviour::SilentAfterHeaders {
        content_length: 1_000_000,
    })
    .await;
    let mut config = stall_config(&server);
    config.download_idle_timeout = Duration::from_millis(100);
    // A window far longer than the test: only the idle timeout can cut this download.
    config.download_rate_window = Duration::from_secs(3600);
    let client = client_with(config);
    let mut bytes = Vec::new();
    let error = bounded(
        "download",
        client.download(&server.url("/r/task/0.mp4"), &mut bytes),
    )
    .await
    .expect_err("nothing ever comes");
    assert!(
        matches!(error.kind, ErrorKind::Stalled { received: 0, .. }),
        "{:?}",
        error.kind
    );
    assert!((2..50).contains(&error.attempts), "{}", error.attempts);
    assert_eq!(server.requests(), error.attempts as usize);
}

#[tokio::test]
async fn a_file_host_that_never_answers_is_cut_by_the_idle_timeout() {
    let server = HostileServer::start(Behaviour::NeverAnswers).await;
    let mut config = stall_config(&server);
    config.download_idle_timeout = Duration::from_millis(100);
    config.download_rate_window = Duration::from_secs(3600);
    let client = client_with(config);
    let mut bytes = Vec::new();
    let error = bounded(
        "download",
        client.download(&server.url("/r/task/0.mp4"), &mut bytes),
    )
    .await
    .expect_err("no answer ever comes");
    assert!(
        matches!(error.kind, ErrorKind::Stalled { received: 0, .. }),
        "{:?}",
        error.kind
    );
    assert!((2..50).contains(&error.attempts), "{}", error.attempts);
    assert_eq!(server.requests(), error.attempts as usize);
}
