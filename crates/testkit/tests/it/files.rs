//! The file host: result files with deterministic bytes on the second server, expiry and
//! download-url, faults on downloads, and the key never going there.

use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Fault, Server, Times};

use crate::support::{KieCalls, result_urls, sora_body};

async fn finished_task(fake: &FakeKie, calls: &KieCalls, prompt: &str) -> (String, Vec<String>) {
    let task_id = calls.create_ok(prompt).await;
    let (_, success) = calls.poll_until_terminal(&task_id, 5, Duration::ZERO).await;
    let urls = result_urls(&success, "resultUrls");
    assert!(
        urls.iter()
            .all(|url| url.starts_with(&fake.files_base_url()))
    );
    (task_id, urls)
}

#[tokio::test]
async fn result_files_live_on_the_second_server_with_deterministic_bytes() {
    let fake = FakeKie::builder()
        .file_size(10_000)
        .result_urls_per_task(2)
        .start()
        .await;
    assert_ne!(fake.base_url(), fake.files_base_url());
    let calls = KieCalls::new(&fake);
    let (task_id, urls) = finished_task(&fake, &calls, "downloadable").await;
    assert_eq!(urls.len(), 2);

    for (index, url) in urls.iter().enumerate() {
        let (status, content_type, bytes) = calls.download(url).await;
        assert_eq!(status, 200);
        assert_eq!(content_type.as_deref(), Some("video/mp4"));
        assert_eq!(bytes.len(), 10_000);
        assert_eq!(&bytes[4..8], b"ftyp");
        assert_eq!(bytes, fake.expected_file_bytes(&task_id, index));
    }
    assert_ne!(
        fake.expected_file_bytes(&task_id, 0),
        fake.expected_file_bytes(&task_id, 1)
    );
    let log = fake.log();
    assert_eq!(log.count(Endpoint::Files), 2);
    assert!(
        log.requests_to(Endpoint::Files)
            .iter()
            .all(|r| r.server == Server::Files)
    );
    assert!(!log.authorization_sent_to_files());
    assert!(log.unexpected().is_empty());
}

#[tokio::test]
async fn content_length_is_sent() {
    let fake = FakeKie::builder().file_size(1234).start().await;
    let calls = KieCalls::new(&fake);
    let (_, urls) = finished_task(&fake, &calls, "length").await;
    let response = calls.client.get(&urls[0]).send().await.expect("answer");
    assert_eq!(response.content_length(), Some(1234));
}

#[tokio::test]
async fn watermark_urls_serve_the_same_bytes() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let mut body = sora_body("watermarks");
    body["input"]["remove_watermark"] = true.into();
    let task_id = calls.create_task(&body).await.task_id();
    let (_, success) = calls.poll_until_terminal(&task_id, 5, Duration::ZERO).await;
    let plain = result_urls(&success, "resultUrls");
    let watermarked = result_urls(&success, "resultWaterMarkUrls");
    assert_ne!(plain, watermarked);
    let (_, _, plain_bytes) = calls.download(&plain[0]).await;
    let (status, _, watermarked_bytes) = calls.download(&watermarked[0]).await;
    assert_eq!(status, 200);
    assert_eq!(plain_bytes, watermarked_bytes);
}

#[tokio::test]
async fn expired_urls_are_403_and_download_url_gives_a_fresh_working_one() {
    let fake = FakeKie::builder().file_size(2048).start().await;
    let calls = KieCalls::new(&fake);
    let (task_id, urls) = finished_task(&fake, &calls, "expiring").await;
    fake.expire_result_urls();

    let (status, _, _) = calls.download(&urls[0]).await;
    assert_eq!(status, 403);
    // recordInfo keeps reporting the recorded (now expired) URL.
    let again = calls.record_info(&task_id).await;
    assert_eq!(result_urls(&again, "resultUrls"), urls);

    let fresh = calls.download_url(&urls[0]).await;
    assert_eq!((fresh.status, fresh.code()), (200, Some(200)));
    let fresh_url = fresh.data().as_str().expect("data is the URL").to_owned();
    assert_ne!(fresh_url, urls[0]);
    let (status, _, bytes) = calls.download(&fresh_url).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, fake.expected_file_bytes(&task_id, 0));

    // Expiring again expires the fresh one too.
    fake.expire_result_urls();
    assert_eq!(calls.download(&fresh_url).await.0, 403);
}

#[tokio::test]
async fn download_url_refuses_what_is_not_a_result_of_the_account() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    assert_eq!(
        calls
            .download_url("https://example.invalid/x.mp4")
            .await
            .code(),
        Some(422)
    );
    let unknown = format!("{}/r/0123/0.mp4?token=abc", fake.files_base_url());
    assert_eq!(calls.download_url(&unknown).await.code(), Some(422));
    let forged = format!("{}/r/0123/0.mp4?token=forged", fake.files_base_url());
    assert_eq!(calls.download(&forged).await.0, 403);
}

#[tokio::test]
async fn faults_apply_to_the_file_host() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let (task_id, urls) = finished_task(&fake, &calls, "flaky cdn").await;
    fake.inject(
        Endpoint::Files,
        Fault::NonJson {
            status: 503,
            body: "<html>503</html>".to_owned(),
        },
        Times::Once,
    );
    assert_eq!(calls.download(&urls[0]).await.0, 503);
    fake.inject(
        Endpoint::Files,
        Fault::Slow {
            delay: Duration::from_millis(50),
        },
        Times::Once,
    );
    let (status, _, bytes) = calls.download(&urls[0]).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, fake.expected_file_bytes(&task_id, 0));
}

#[tokio::test]
async fn authorization_sent_to_the_file_host_is_noticed() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let (_, urls) = finished_task(&fake, &calls, "leaky").await;
    assert!(!fake.log().authorization_sent_to_files());
    calls
        .client
        .get(&urls[0])
        .bearer_auth("test-key")
        .send()
        .await
        .expect("answer");
    assert!(fake.log().authorization_sent_to_files());
}

#[tokio::test]
async fn given_file_content_is_served_for_every_result() {
    let video = b"\0\0\0\x18ftypmp42 a real video would be here".to_vec();
    let fake = FakeKie::builder()
        .file_content(video.clone())
        .file_size(10)
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    for prompt in ["first", "second"] {
        let (task_id, urls) = finished_task(&fake, &calls, prompt).await;
        let (status, _, bytes) = calls.download(&urls[0]).await;
        assert_eq!(status, 200);
        assert_eq!(bytes, video);
        assert_eq!(fake.expected_file_bytes(&task_id, 0), video);
    }
}
