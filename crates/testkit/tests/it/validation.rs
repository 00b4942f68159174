//! createTask's strictness: omitted Sora 2 fields, wrong values, malformed bodies, other
//! models passed through, disabled models. None of the refused requests creates a task.

use serde_json::json;
use sora_batch_testkit::{FakeKie, MAX_PROMPT_CHARS};

use crate::support::{KieCalls, sora_body};

#[tokio::test]
async fn an_omitted_sora_field_is_this_field_is_required() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    for field in ["prompt", "aspect_ratio", "n_frames", "remove_watermark"] {
        let mut body = sora_body("incomplete");
        body["input"]
            .as_object_mut()
            .expect("input object")
            .remove(field);
        let answer = calls.create_task(&body).await;
        assert_eq!((answer.status, answer.code()), (200, Some(500)), "{field}");
        assert_eq!(answer.msg(), "This field is required", "{field}");
    }
    assert_eq!(fake.log().tasks_created(), 0);
}

#[tokio::test]
async fn stable_models_take_no_remove_watermark_and_image_models_need_one_image() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let stable = json!({"model": "sora-2-text-to-video-stable", "input": {
        "prompt": "stable", "aspect_ratio": "portrait", "n_frames": "15"
    }});
    assert_eq!(calls.create_task(&stable).await.code(), Some(200));

    let mut image = sora_body("image");
    image["model"] = "sora-2-image-to-video".into();
    assert_eq!(calls.create_task(&image).await.code(), Some(500));
    image["input"]["image_urls"] = json!(["https://example.invalid/a.png"]);
    assert_eq!(calls.create_task(&image).await.code(), Some(200));
    image["input"]["image_urls"] = json!(["https://a.invalid/1.png", "https://a.invalid/2.png"]);
    assert_eq!(calls.create_task(&image).await.code(), Some(422));
}

#[tokio::test]
async fn wrong_values_are_422_and_create_nothing() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let too_long = "x".repeat(MAX_PROMPT_CHARS + 1);
    for (field, value) in [
        ("aspect_ratio", json!("square")),
        ("n_frames", json!(10)),
        ("n_frames", json!("20")),
        ("remove_watermark", json!("false")),
        ("prompt", json!(too_long)),
    ] {
        let mut body = sora_body("bad value");
        body["input"][field] = value;
        let answer = calls.create_task(&body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (200, Some(422)),
            "{field}: {answer:?}"
        );
        assert!(!answer.msg().is_empty());
    }
    let mut longest = sora_body("");
    longest["input"]["prompt"] = "é".repeat(MAX_PROMPT_CHARS).into();
    assert_eq!(
        calls.create_task(&longest).await.code(),
        Some(200),
        "the limit counts characters"
    );
    assert_eq!(fake.log().tasks_created(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_422_not_a_crash() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    for body in [
        "{ not json",
        "",
        "[]",
        r#"{"input": {}}"#,
        r#"{"model": 7, "input": {}}"#,
        r#"{"model": "sora-2-text-to-video"}"#,
        r#"{"model": "sora-2-text-to-video", "input": "a cat"}"#,
        "\u{0}\u{1}binary",
    ] {
        let answer = calls.create_task_raw(body).await;
        assert_eq!((answer.status, answer.code()), (200, Some(422)), "{body:?}");
    }
    let log = fake.log();
    assert_eq!(log.tasks_created(), 0);
    assert_eq!(log.create_task_bodies().len(), 8);
    // The fake still works after hostile input.
    assert_eq!(
        calls.create_task(&sora_body("after")).await.code(),
        Some(200)
    );
}

#[tokio::test]
async fn other_models_of_the_jobs_api_pass_through() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let body = json!({"model": "veo3-fast", "input": {"prompt": "a dog", "whatever": [1, 2]}});
    let answer = calls.create_task(&body).await;
    assert_eq!(answer.code(), Some(200));
    let task = fake.task(&answer.task_id()).expect("task");
    assert_eq!(task.model, "veo3-fast");
    assert_eq!(task.request, body);
}

#[tokio::test]
async fn a_disabled_model_is_505() {
    let fake = FakeKie::builder()
        .disable_model("sora-2-pro-text-to-video")
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let mut body = sora_body("pro");
    body["model"] = "sora-2-pro-text-to-video".into();
    assert_eq!(calls.create_task(&body).await.code(), Some(505));
    assert_eq!(fake.log().tasks_created(), 0);
}

#[tokio::test]
async fn an_image_model_refuses_a_file_url_the_upload_host_did_not_issue_or_forgot() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let with_image = |url: &str| {
        json!({"model": "kling-2.6/image-to-video", "input": {
            "prompt": "the sea", "image_urls": [url], "sound": false, "duration": "5"
        }})
    };
    let stranger = calls
        .create_task(&with_image("https://example.com/cat.png"))
        .await;
    assert_eq!(stranger.code(), Some(422));
    assert!(
        stranger.msg().contains("input.image_urls[0]"),
        "{}",
        stranger.msg()
    );

    let form = reqwest::multipart::Form::new()
        .text("uploadPath", "sora-batch")
        .text("fileName", "cat.png")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\n".to_vec()).file_name("cat.png"),
        );
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/file-stream-upload", fake.upload_base_url()))
        .bearer_auth("any key")
        .multipart(form)
        .send()
        .await
        .expect("the upload host answers")
        .json()
        .await
        .expect("JSON");
    let url = answer["data"]["downloadUrl"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(calls.create_task(&with_image(&url)).await.code(), Some(200));
    fake.forget_uploads();
    assert_eq!(calls.create_task(&with_image(&url)).await.code(), Some(422));
    assert_eq!(fake.log().tasks_created(), 1);
}
