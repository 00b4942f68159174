//! Models of the built-in snapshot on createTask: each input held to the model's schema like
//! the live service holds it (500 "This field is required" for an absent required or
//! defaulted field, 422 naming the field for a bad value), each task charged by the model's
//! price rule, and what a test sets instead: a charge, result files, a text result.

use std::time::Duration;

use serde_json::{Value, json};
use sora_batch_testkit::{Charge, FakeKie, MODEL_CHOSEN_SECONDS};

use crate::support::{KieCalls, result_urls};

fn kling(prompt: &str) -> Value {
    json!({"model": "kling-2.6/text-to-video", "input": {
        "prompt": prompt, "sound": false, "aspect_ratio": "16:9", "duration": "5"
    }})
}

fn seedance_mini(duration: i64) -> Value {
    json!({"model": "bytedance/seedance-2-mini", "input": {
        "prompt": "a kite over dunes", "generate_audio": false, "resolution": "480p",
        "aspect_ratio": "16:9", "duration": duration, "nsfw_checker": false
    }})
}

#[tokio::test]
async fn an_absent_field_the_schema_requires_or_defaults_is_this_field_is_required() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    // Kling 2.6 requires `sound` (no default); `duration` has a default Kie does not apply.
    for field in ["sound", "duration", "prompt"] {
        let mut body = kling("a lantern");
        body["input"]
            .as_object_mut()
            .expect("input object")
            .remove(field);
        let answer = calls.create_task(&body).await;
        assert_eq!((answer.status, answer.code()), (200, Some(500)), "{field}");
        assert_eq!(answer.msg(), "This field is required", "{field}");
    }
    // Kling 3.0's `multi_shots` has a default and is required all the same.
    let kling_3 = json!({"model": "kling-3.0/video", "input": {
        "prompt": "a lantern", "sound": false, "duration": "5", "aspect_ratio": "16:9",
        "mode": "std", "multi_prompt": []
    }});
    assert_eq!(calls.create_task(&kling_3).await.code(), Some(500));
    assert_eq!(fake.log().tasks_created(), 0);
    assert_eq!(
        calls.create_task(&kling("a lantern")).await.code(),
        Some(200)
    );
}

#[tokio::test]
async fn a_bad_value_is_422_naming_the_field_and_creates_nothing() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    for (field, value) in [
        ("duration", json!(5)),
        ("duration", json!("7")),
        ("sound", json!("false")),
        ("aspect_ratio", json!("4:3")),
        ("soundtrack", json!(true)),
    ] {
        let mut body = kling("a lantern");
        body["input"][field] = value;
        let answer = calls.create_task(&body).await;
        assert_eq!(
            (answer.status, answer.code()),
            (200, Some(422)),
            "{field}: {answer:?}"
        );
        assert!(answer.msg().contains(field), "{field}: {}", answer.msg());
    }
    // Out of range, for an integer field.
    let answer = calls.create_task(&seedance_mini(99)).await;
    assert_eq!(answer.code(), Some(422));
    assert!(answer.msg().contains("duration"), "{}", answer.msg());
    assert_eq!(fake.log().tasks_created(), 0);
}

#[tokio::test]
async fn a_model_the_test_serves_is_held_to_the_schema_it_serves() {
    let openapi = json!({"openapi": "3.1.0", "paths": {"/api/v1/jobs/createTask": {"post": {
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"input": {
                "type": "object", "required": ["prompt"], "additionalProperties": false,
                "properties": {
                    "prompt": {"type": "string"},
                    "style": {"type": "string", "enum": ["ink", "oil"], "default": "ink"}
                }
            }}
        }}}}
    }}}});
    let fake = FakeKie::builder()
        .catalogue_model(
            json!({"model": "example/painter", "taskType": ["text-to-image"]}),
            openapi,
            "2 credits per image",
        )
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let body = |input: Value| json!({"model": "example/painter", "input": input});
    assert_eq!(
        calls
            .create_task(&body(json!({"prompt": "a heron"})))
            .await
            .code(),
        Some(500),
        "the default is not applied"
    );
    assert_eq!(
        calls
            .create_task(&body(json!({"prompt": "a heron", "style": "pastel"})))
            .await
            .code(),
        Some(422)
    );
    assert_eq!(
        calls
            .create_task(&body(json!({"prompt": "a heron", "style": "oil"})))
            .await
            .code(),
        Some(200)
    );
}

#[tokio::test]
async fn tasks_are_charged_by_the_rule_of_the_input_as_sent() {
    let fake = FakeKie::builder().credits(1000.0).start().await;
    let calls = KieCalls::new(&fake);
    let mut with_sound = kling("loud");
    with_sound["input"]["sound"] = json!(true);
    let bodies = [
        kling("quiet"),
        with_sound,
        seedance_mini(5),
        seedance_mini(-1),
    ];
    let mut charges = Vec::new();
    for body in &bodies {
        let task_id = calls.create_task(body).await.task_id();
        let (_, done) = calls
            .poll_until_terminal(&task_id, 10, Duration::ZERO)
            .await;
        charges.push(done.data()["creditsConsumed"].as_f64().unwrap_or(-1.0));
    }
    let expected = [55.0, 110.0, 3.8 * 5.0, 3.8 * MODEL_CHOSEN_SECONDS];
    for (charge, expected) in charges.iter().zip(expected) {
        assert!((charge - expected).abs() < 1e-9, "{charges:?}");
    }
    let total: f64 = expected.iter().sum();
    assert!((fake.charged_credits() - total).abs() < 1e-9);
    assert!((fake.credits() - (1000.0 - total)).abs() < 1e-9);
}

#[tokio::test]
async fn a_set_charge_replaces_the_rule_and_an_unreported_one_is_never_said() {
    let fake = FakeKie::builder()
        .charge("kling-2.6/text-to-video", Charge::PerTask(70.0))
        .charge("bytedance/seedance-2-mini", Charge::Unreported(25.0))
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let kling_task = calls.create_task(&kling("a new price")).await.task_id();
    let (_, done) = calls
        .poll_until_terminal(&kling_task, 10, Duration::ZERO)
        .await;
    assert_eq!(done.data()["creditsConsumed"], json!(70));

    let mini_task = calls.create_task(&seedance_mini(5)).await.task_id();
    let (_, done) = calls
        .poll_until_terminal(&mini_task, 10, Duration::ZERO)
        .await;
    assert_eq!(done.data()["state"], "success");
    assert!(
        done.data().get("creditsConsumed").is_none(),
        "no creditsConsumed at all: {:?}",
        done.data()
    );
    assert_eq!(fake.task(&mini_task).map(|task| task.price), Some(25.0));
    assert!((fake.charged_credits() - 95.0).abs() < 1e-9);
}

#[tokio::test]
async fn a_models_result_files_and_text_results_are_what_the_test_set() {
    let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3];
    let jpg = vec![0xff, 0xd8, 0xff, 0xe0, 4, 5, 6];
    let fake = FakeKie::builder()
        .model_result_files("nano-banana-2", vec![png.clone(), jpg.clone()])
        .model_text_result("example/captioner", json!({"caption": "a cat"}))
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let banana = json!({"model": "nano-banana-2", "input": {
        "prompt": "a pear", "aspect_ratio": "1:1", "resolution": "1K", "output_format": "png"
    }});
    let task_id = calls.create_task(&banana).await.task_id();
    let (_, done) = calls
        .poll_until_terminal(&task_id, 10, Duration::ZERO)
        .await;
    assert_eq!(done.data()["creditsConsumed"], json!(8));
    let urls = result_urls(&done, "resultUrls");
    assert_eq!(urls.len(), 2);
    for (url, expected) in urls.iter().zip([&png, &jpg]) {
        let (status, _, bytes) = calls.download(url).await;
        assert_eq!((status, &bytes), (200, expected));
    }

    let text =
        json!({"model": "example/captioner", "input": {"image_url": "https://x.invalid/a.png"}});
    let task_id = calls.create_task(&text).await.task_id();
    let (_, done) = calls
        .poll_until_terminal(&task_id, 10, Duration::ZERO)
        .await;
    assert_eq!(
        done.data()["response"],
        json!({"resultObject": {"caption": "a cat"}})
    );
    let result_json: Value =
        serde_json::from_str(done.data()["resultJson"].as_str().unwrap_or("null"))
            .expect("resultJson is JSON");
    assert_eq!(result_json["resultObject"]["caption"], "a cat");
    assert!(result_json.get("resultUrls").is_none());
}
