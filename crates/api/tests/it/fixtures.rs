//! Every body in `fixtures/api` served verbatim and read by the client.

use serde_json::Value;
use sora_batch_api::registry;
use sora_batch_api::wire::{JsonString, TaskState};
use sora_batch_api::{Client, ErrorKind, TaskId};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{client_with, config_for, fixture, seed_request};

#[test]
fn the_seed_request_round_trips_exactly() {
    let original: Value =
        serde_json::from_str(&fixture("seed-create-task-request.json")).expect("parses");
    let request = seed_request();
    let reserialized = serde_json::to_value(&request).expect("serializes");
    assert_eq!(reserialized, original);
    insta::assert_json_snapshot!("seed_request_reserialized", request);
}

#[test]
fn the_registry_completes_the_seed_prompt_into_the_seed_body() {
    let seed = seed_request();
    let spec = registry::lookup(&seed.model).expect("sora 2 text to video is registered");
    let mut input = serde_json::Map::new();
    input.insert("prompt".into(), seed.input["prompt"].clone());
    assert!(spec.validate_input(&input).is_empty());
    spec.complete_input(&mut input);
    assert_eq!(input, seed.input);
}

/// Serves `body` with `status` on every path, then runs `call` against it.
async fn serve(status: u16, body: &str, content_type: &str) -> (MockServer, Client) {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), content_type),
        )
        .mount(&server)
        .await;
    let client = client_with(config_for(&server.uri()));
    (server, client)
}

#[tokio::test]
async fn success_bodies_are_understood() {
    let (_server, client) = serve(
        200,
        &fixture("seed-create-task-response.json"),
        "application/json",
    )
    .await;
    let task = client
        .create_task(&seed_request())
        .await
        .expect("the seed answer is a success");
    assert_eq!(task.as_str(), "281e5b0*********************f39b9");

    let (_server, client) = serve(
        200,
        &fixture("seed-record-info-response.json"),
        "application/json",
    )
    .await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(record.state, TaskState::Waiting);
    let param = record
        .param
        .parsed()
        .expect("param is a JSON string holding JSON");
    assert_eq!(param["model"], "sora-2-text-to-video");
    assert_eq!(param["input"]["n_frames"], "10");
    assert_eq!(record.create_time, Some(1_757_584_164_490));
    insta::assert_debug_snapshot!("seed_record_info", record);

    let (_server, client) = serve(
        200,
        &fixture("live-record-success-watermark.json"),
        "application/json",
    )
    .await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(record.state, TaskState::Success);
    assert!(record.state.is_terminal());
    assert_eq!(record.result_urls().len(), 1);
    let result = record.result_json.parsed().expect("resultJson parsed");
    assert_eq!(result.result_watermark_urls.as_ref().map(Vec::len), Some(1));
    assert_eq!(record.credits_consumed, Some(30.0));
    assert_eq!(record.generation_millis(), Some(131_122));

    let (_server, client) = serve(200, &fixture("live-record-fail.json"), "application/json").await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(record.state, TaskState::Fail);
    assert_eq!(
        record.fail_code.as_deref(),
        Some("501"),
        "an integer failCode is kept as text"
    );
    assert_eq!(
        record.result_json,
        JsonString::Absent,
        "an empty resultJson is absent"
    );
    assert_eq!(record.credits_consumed, Some(0.0));
    assert!(
        record
            .fail_msg
            .as_deref()
            .is_some_and(|m| m.contains("moderation"))
    );

    let (_server, client) = serve(
        200,
        &fixture("live-record-unknown-state.json"),
        "application/json",
    )
    .await;
    let record = client
        .record_info(&task)
        .await
        .expect("an unknown state is not an error");
    assert_eq!(record.state, TaskState::Unknown("paused".into()));
    assert!(!record.state.is_terminal());
    assert_eq!(record.fail_code.as_deref(), None);
    assert_eq!(
        record.create_time,
        Some(1_757_584_164_490),
        "a numeric string is read"
    );

    let (_server, client) = serve(
        200,
        &fixture("live-credit-balance.json"),
        "application/json",
    )
    .await;
    assert_eq!(client.credit_balance().await.expect("parses"), 1250.5);

    let (_server, client) =
        serve(200, &fixture("live-download-url.json"), "application/json").await;
    let fresh = client
        .download_url("https://file.aiquickdraw.com/old.mp4")
        .await
        .expect("parses");
    assert!(fresh.starts_with("https://tempfile.aiquickdraw.com/"));
}

#[tokio::test]
async fn error_bodies_are_classified_with_their_evidence() {
    let cases: &[(&str, u16, &str, ErrorKind)] = &[
        (
            "live-401-in-http-200.json",
            200,
            "application/json",
            ErrorKind::Unauthorized,
        ),
        (
            "live-402-insufficient-credits.json",
            200,
            "application/json",
            ErrorKind::InsufficientCredits,
        ),
        (
            "live-433-usage-cap.json",
            200,
            "application/json",
            ErrorKind::UsageCapReached,
        ),
        (
            "live-500-field-required.json",
            200,
            "application/json",
            ErrorKind::ServerError,
        ),
        (
            "live-429-rate-limited.json",
            429,
            "application/json",
            ErrorKind::RateLimited { retry_after: None },
        ),
        (
            "live-455-maintenance.json",
            200,
            "application/json",
            ErrorKind::Maintenance,
        ),
        (
            "live-505-model-disabled.json",
            200,
            "application/json",
            ErrorKind::ModelDisabled,
        ),
        (
            "cloudflare-403-1010.txt",
            403,
            "text/plain",
            ErrorKind::CloudflareBlocked,
        ),
        ("proxy-502.html", 502, "text/html", ErrorKind::ServerError),
    ];
    let mut rendered = String::new();
    for (name, status, content_type, expected) in cases {
        let (_server, client) = serve(*status, &fixture(name), content_type).await;
        let error = client
            .create_task(&seed_request())
            .await
            .expect_err("an error body is not a success")
            .error;
        assert_eq!(&error.kind, expected, "{name}");
        assert_eq!(error.attempts, 1, "createTask is sent once: {name}");
        rendered.push_str(&format!("{name}\n  {error}\n"));
    }
    // The record-info-null answer comes to recordInfo, which tries a few times first.
    let (server, client) = serve(
        200,
        &fixture("live-record-info-null.json"),
        "application/json",
    )
    .await;
    let error = client
        .record_info(&TaskId::new("no-such-task"))
        .await
        .expect_err("unknown task");
    assert_eq!(error.kind, ErrorKind::TaskUnknown);
    let requests = server.received_requests().await.expect("recording is on");
    assert_eq!(requests.len() as u32, error.attempts);
    rendered.push_str(&format!("live-record-info-null.json\n  {error}\n"));
    insta::assert_snapshot!("error_bodies_rendered", rendered);
}

#[tokio::test]
async fn the_message_is_read_from_msg_or_message() {
    let (_server, client) =
        serve(200, &fixture("live-433-usage-cap.json"), "application/json").await;
    let error = client
        .create_task(&seed_request())
        .await
        .expect_err("433")
        .error;
    assert_eq!(
        error.service_message(),
        Some("The usage limit of this API key has been reached.")
    );
    assert_eq!(error.code, Some(433));
    assert_eq!(error.http_status, Some(200));
}

#[tokio::test]
async fn a_proxy_page_is_kept_as_text() {
    let (_server, client) = serve(502, &fixture("proxy-502.html"), "text/html").await;
    let error = client
        .create_task(&seed_request())
        .await
        .expect_err("502")
        .error;
    assert!(
        error
            .raw_body
            .as_deref()
            .is_some_and(|b| b.contains("502 Bad Gateway"))
    );
    assert_eq!(error.code, None);
}

#[tokio::test]
async fn hostile_bodies_give_errors_not_panics() {
    let bodies: &[(u16, &str)] = &[
        (200, ""),
        (200, "null"),
        (200, "[]"),
        (200, r#"{"code":"200","data":{"taskId":7}}"#),
        (
            200,
            r#"{"code":200,"data":{"taskId":"x","state":42,"param":"{not json","resultJson":[1]}}"#,
        ),
        (
            200,
            r#"{"code":200,"data":{"taskId":"x","state":"success","resultJson":"{\"resultUrls\":\"nope\"}"}}"#,
        ),
        (200, &"[".repeat(10_000)),
        (200, r#"{"code":99999999999999999999999}"#),
        (201, "\u{0}\u{1}binary"),
    ];
    for (status, body) in bodies {
        let (_server, client) = serve(*status, body, "application/json").await;
        let created = client.create_task(&seed_request()).await;
        let polled = client.record_info(&TaskId::new("x")).await;
        let balance = client.credit_balance().await;
        let fresh = client.download_url("https://example.invalid/x").await;
        // None of these answers carries a task id, a balance and a link at once: whatever
        // each call makes of them, not every call can have succeeded.
        assert!(
            created.is_err() || polled.is_err() || balance.is_err() || fresh.is_err(),
            "{status} {body:.60}"
        );
        if !body.contains("\"taskId\":\"x\"") {
            assert!(created.is_err(), "no task id in {body:.60}");
        }
    }
}

#[tokio::test]
async fn newer_task_fields_are_read() {
    let (_server, client) = serve(
        200,
        &fixture("live-create-task-record-id.json"),
        "application/json",
    )
    .await;
    let created = client
        .create_task_with_record_id(&seed_request())
        .await
        .expect("the answer is a success");
    assert_eq!(created.task_id.as_str(), "task_kling-2.6_1765432100000");
    assert_eq!(
        created.record_id.as_deref(),
        Some("7c1d4e9a2b3f4c5d8e6f7a8b9c0d1e2f"),
        "kept, though tasks are polled by taskId"
    );
    let task = created.task_id;

    let (_server, client) = serve(
        200,
        &fixture("live-record-success-response.json"),
        "application/json",
    )
    .await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(record.state, TaskState::Success);
    assert_eq!(record.success_flag, Some(1));
    assert_eq!(
        record.result_urls(),
        ["https://tempfile.aiquickdraw.com/k/1765432211000-boat.mp4"]
    );
    assert!(
        record.response.parsed().is_some(),
        "`response` is an object"
    );
    assert_eq!(record.credits_consumed, Some(55.0));
    assert_eq!(record.text_result(), None);

    let (_server, client) = serve(
        200,
        &fixture("live-record-success-flag-only.json"),
        "application/json",
    )
    .await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(
        record.state,
        TaskState::Fail,
        "no state: successFlag 3 says fail"
    );
    assert!(record.state.is_terminal());
    assert_eq!(record.fail_code.as_deref(), Some("500"));
    assert_eq!(record.credits_consumed, Some(0.0));
    assert!(record.result_urls().is_empty());

    let (_server, client) = serve(
        200,
        &fixture("live-record-text-result.json"),
        "application/json",
    )
    .await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(record.state, TaskState::Success);
    assert_eq!(
        record.text_result(),
        Some(&serde_json::json!({
            "caption": "A cat asleep on a windowsill",
            "tags": ["cat", "window"]
        }))
    );
    assert!(
        record.result_urls().is_empty(),
        "a text result has no files"
    );
    assert_eq!(record.credits_consumed, Some(3.0), "a float: `3.0`");

    let (_server, client) = serve(
        200,
        &fixture("live-record-music-items.json"),
        "application/json",
    )
    .await;
    let record = client.record_info(&task).await.expect("parses");
    assert_eq!(
        record.result_urls(),
        [
            "https://tempfile.aiquickdraw.com/m/a1.mp3",
            "https://tempfile.aiquickdraw.com/m/a2.mp3"
        ],
        "per-item audio_url, in order"
    );
    assert_eq!(record.credits_consumed, Some(12.5));
    assert_eq!(record.generation_millis(), Some(90_000));
}
