//! Result files: streamed from the file host, without the key, fresh links when expired.

use sora_batch_api::wire::TaskState;
use sora_batch_api::{Client, ErrorKind, TaskId, USER_AGENT};
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Schedule, Times};

use crate::support::{SENTINEL_KEY, client_for, seed_request};

/// Submits the seed request and polls until the task is final. The fake's schedule counts
/// polls, so no clock is involved.
async fn finished_task(fake: &FakeKie, client: &Client) -> (TaskId, Vec<String>) {
    let task = client.create_task(&seed_request()).await.expect("created");
    for _ in 0..20 {
        let record = client.record_info(&task).await.expect("polled");
        if record.state == TaskState::Success {
            return (task, record.result_urls().to_vec());
        }
        assert!(
            !record.state.is_terminal(),
            "unexpected failure: {record:?}"
        );
    }
    panic!(
        "task never finished; fake log: {:?}",
        fake.log().requests().len()
    );
}

#[tokio::test]
async fn result_files_arrive_whole_and_without_the_key() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Polls {
            waiting: 1,
            queuing: 1,
            generating: 1,
        })
        .result_urls_per_task(2)
        .file_size(300_000)
        .start()
        .await;
    let client = client_for(&fake);
    let (task, urls) = finished_task(&fake, &client).await;
    assert_eq!(urls.len(), 2);
    for (index, url) in urls.iter().enumerate() {
        assert!(
            url.starts_with(&fake.files_base_url()),
            "files live on the second host"
        );
        let mut bytes = Vec::new();
        let summary = client.download(url, &mut bytes).await.expect("downloaded");
        assert_eq!(bytes, fake.expected_file_bytes(task.as_str(), index));
        assert_eq!(summary.bytes, 300_000);
        assert_eq!(summary.attempts, 1);
    }
    let log = fake.log();
    assert!(!log.authorization_sent_to_files());
    assert_eq!(log.count(Endpoint::Files), 2);
    assert_eq!(log.requests_without_user_agent(), 0);
    assert!(
        log.header_values("user-agent")
            .iter()
            .all(|ua| ua == USER_AGENT)
    );
    let bearer = format!("Bearer {SENTINEL_KEY}");
    let api_requests = log
        .requests()
        .iter()
        .filter(|r| r.endpoint != Some(Endpoint::Files));
    for request in api_requests {
        assert_eq!(request.header("authorization"), Some(bearer.as_str()));
    }
}

#[tokio::test]
async fn an_expired_url_is_refused_and_download_url_gives_a_fresh_one() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let (task, urls) = finished_task(&fake, &client).await;
    fake.expire_result_urls();
    let mut bytes = Vec::new();
    let error = client
        .download(&urls[0], &mut bytes)
        .await
        .expect_err("expired");
    assert_eq!(error.kind, ErrorKind::ResultUrlRefused);
    assert_eq!(error.attempts, 1, "a refusal is not retried");
    let fresh = client.download_url(&urls[0]).await.expect("fresh link");
    assert_ne!(fresh, urls[0]);
    client
        .download(&fresh, &mut bytes)
        .await
        .expect("the fresh link works");
    assert_eq!(bytes, fake.expected_file_bytes(task.as_str(), 0));
    assert!(!fake.log().authorization_sent_to_files());
}

#[tokio::test]
async fn a_flaky_file_host_is_retried_from_the_start() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let (task, urls) = finished_task(&fake, &client).await;
    fake.inject(
        Endpoint::Files,
        Fault::NonJson {
            status: 503,
            body: "upstream busy".into(),
        },
        Times::Next(3),
    );
    let mut bytes = b"left over from an earlier attempt".to_vec();
    let summary = client
        .download(&urls[0], &mut bytes)
        .await
        .expect("retried");
    assert_eq!(summary.attempts, 4);
    assert_eq!(bytes, fake.expected_file_bytes(task.as_str(), 0));
}

#[tokio::test]
async fn only_http_urls_are_fetched() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let mut bytes = Vec::new();
    for url in ["file:///etc/passwd", "not a url", "ftp://example.com/x.mp4"] {
        let error = client.download(url, &mut bytes).await.expect_err("refused");
        assert_eq!(error.kind, ErrorKind::UnsupportedUrl);
    }
    assert!(fake.log().requests().is_empty());
}

#[tokio::test]
async fn a_failing_sink_stops_the_download_at_once() {
    struct FullDisk;
    impl sora_batch_api::DownloadSink for FullDisk {
        async fn restart(&mut self) -> std::io::Result<()> {
            Ok(())
        }
        async fn write_chunk(&mut self, _chunk: &[u8]) -> std::io::Result<()> {
            // ENOSPC, as the OS reports a full disk.
            Err(std::io::Error::from_raw_os_error(28))
        }
    }
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let (_task, urls) = finished_task(&fake, &client).await;
    let error = client
        .download(&urls[0], &mut FullDisk)
        .await
        .expect_err("disk full");
    let ErrorKind::Sink(failure) = &error.kind else {
        panic!("a sink failure, not {:?}", error.kind);
    };
    // The OS's error survives, so the engine can tell a full disk from an expired link.
    assert_eq!(failure.kind, std::io::ErrorKind::StorageFull);
    assert_eq!(failure.os_code, Some(28));
    assert_eq!(
        failure.to_io_error().kind(),
        std::io::ErrorKind::StorageFull
    );
    assert!(
        error.to_string().contains("No space left on device"),
        "{error}"
    );
    assert_eq!(error.attempts, 1, "no retry helps a full disk");
}
