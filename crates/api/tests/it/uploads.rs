//! The stream upload against the fake's upload host: a file becomes a URL the host serves,
//! the key goes to that host (and to no other than it and the API host), and the host's
//! refusals are errors that say so.

use sora_batch_api::{ErrorClass, FileUpload, Operation};
use sora_batch_testkit::{FakeKie, STREAM_UPLOAD_PATH};

use crate::support::{SENTINEL_KEY, client_with, config_for};

/// A 1×1 PNG: real bytes of the format the file's name says.
const ONE_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x02, 0x00,
    0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];

fn png_upload(name: &str) -> FileUpload {
    FileUpload {
        bytes: bytes::Bytes::from_static(ONE_PIXEL_PNG),
        file_name: name.to_owned(),
        upload_path: "sora-batch/inputs".to_owned(),
        mime_type: "image/png".to_owned(),
    }
}

fn client_of(fake: &FakeKie) -> sora_batch_api::Client {
    let config = config_for(&fake.base_url())
        .with_upload_url(&fake.upload_base_url())
        .expect("the fake's upload URL is valid");
    client_with(config)
}

#[tokio::test]
async fn an_uploaded_file_is_served_at_the_url_the_host_answers_with() {
    let fake = FakeKie::builder().api_key(SENTINEL_KEY).start().await;
    let client = client_of(&fake);

    let uploaded = client
        .upload_file(&png_upload("0a1b2c.png"))
        .await
        .expect("the upload succeeds");

    assert!(
        uploaded.url.starts_with(&fake.upload_base_url()),
        "{uploaded:?}"
    );
    assert_eq!(uploaded.file_name.as_deref(), Some("0a1b2c.png"));
    assert_eq!(uploaded.size, Some(ONE_PIXEL_PNG.len() as u64));
    assert!(fake.serves_upload(&uploaded.url));
    let served = reqwest::get(&uploaded.url).await.expect("the host answers");
    assert_eq!(
        served
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("image/png")
    );
    assert_eq!(
        served.bytes().await.expect("a body").as_ref(),
        ONE_PIXEL_PNG
    );

    let uploads = fake.uploads();
    let stored: Vec<_> = uploads.iter().filter(|r| r.stored_a_file()).collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].path, STREAM_UPLOAD_PATH);
    assert_eq!(stored[0].upload_path.as_deref(), Some("sora-batch/inputs"));
    assert_eq!(
        stored[0].authorization.as_deref(),
        Some(format!("Bearer {SENTINEL_KEY}").as_str()),
        "the upload host takes the API key"
    );
    assert!(
        !fake.log().authorization_sent_to_files(),
        "the result file host never sees the key"
    );

    fake.forget_uploads();
    assert!(!fake.serves_upload(&uploaded.url));
    let gone = reqwest::get(&uploaded.url).await.expect("the host answers");
    assert_eq!(gone.status().as_u16(), 404);
}

#[tokio::test]
async fn the_same_name_uploads_again_without_harm() {
    let fake = FakeKie::start().await;
    let client = client_of(&fake);
    let first = client.upload_file(&png_upload("same.png")).await;
    let second = client.upload_file(&png_upload("same.png")).await;
    assert_eq!(
        first.expect("first").url,
        second.expect("second").url,
        "an upload is idempotent by name"
    );
}

#[tokio::test]
async fn a_refused_key_is_an_authentication_error_and_not_retried() {
    let fake = FakeKie::builder().api_key("sk-another-key").start().await;
    let client = client_of(&fake);

    let error = client
        .upload_file(&png_upload("a.png"))
        .await
        .expect_err("the key is refused");

    assert_eq!(error.operation, Operation::Upload);
    assert_eq!(error.code, Some(401));
    assert_eq!(error.kind, sora_batch_api::ErrorKind::Unauthorized);
    assert_eq!(error.class(), ErrorClass::AccountFatal);
    assert_eq!(fake.uploads().len(), 1, "not retried");
    assert!(!error.to_string().contains(SENTINEL_KEY));
}

#[tokio::test]
async fn an_upload_path_with_slashes_at_its_ends_is_refused_before_sending() {
    let fake = FakeKie::start().await;
    let client = client_of(&fake);
    let mut upload = png_upload("a.png");
    upload.upload_path = "/inputs/".to_owned();

    let error = client.upload_file(&upload).await.expect_err("refused");

    assert!(error.to_string().contains("upload path"), "{error}");
    assert!(fake.uploads().is_empty());
}

#[tokio::test]
async fn whether_a_file_is_still_served_is_asked_without_the_key() {
    let fake = FakeKie::builder().api_key(SENTINEL_KEY).start().await;
    let client = client_of(&fake);
    let uploaded = client
        .upload_file(&png_upload("still-there.png"))
        .await
        .expect("the upload succeeds");
    assert!(client.upload_still_served(&uploaded.url).await);
    fake.forget_uploads();
    assert!(!client.upload_still_served(&uploaded.url).await);
    assert!(!client.upload_still_served("not a url").await);
    assert!(!client.upload_still_served("ftp://x/a.png").await);
    let asked: Vec<_> = fake
        .uploads()
        .into_iter()
        .filter(|request| request.method == "HEAD")
        .collect();
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|request| request.authorization.is_none()));
}
