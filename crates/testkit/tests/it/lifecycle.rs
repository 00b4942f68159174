//! Task lifecycle: state walks under each schedule, what recordInfo reports, failures,
//! unknown tasks, unknown states and the in-flight count.

use std::time::Duration;

use serde_json::Value;
use sora_batch_testkit::{Endpoint, FakeKie, Schedule};

use crate::support::{KieCalls, result_urls, sora_body};

#[tokio::test]
async fn polls_schedule_walks_waiting_queuing_generating_success() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Polls {
            waiting: 2,
            queuing: 1,
            generating: 2,
        })
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("a cat on a skateboard").await;

    let (states, terminal) = calls
        .poll_until_terminal(&task_id, 10, Duration::ZERO)
        .await;

    assert_eq!(
        states,
        [
            "waiting",
            "waiting",
            "queuing",
            "generating",
            "generating",
            "success"
        ]
    );
    assert_eq!(terminal.data()["taskId"], task_id.as_str());
    assert_eq!(terminal.data()["model"], "sora-2-text-to-video");
    assert_eq!(
        fake.task(&task_id).map(|task| task.state),
        Some("success".to_owned())
    );
    assert!(fake.log().unexpected().is_empty());
}

#[tokio::test]
async fn default_schedule_is_one_waiting_poll_then_one_generating_poll() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("default").await;
    let (states, _) = calls.poll_until_terminal(&task_id, 5, Duration::ZERO).await;
    assert_eq!(states, ["waiting", "generating", "success"]);
}

#[tokio::test]
async fn elapsed_schedule_walks_the_states_by_the_clock() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Elapsed {
            // Windows of 150 ms: wide enough to be seen by polls 5 ms apart on a busy machine.
            waiting: Duration::from_millis(150),
            queuing: Duration::from_millis(150),
            total: Duration::from_millis(450),
        })
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("a slow sunset").await;

    let (states, terminal) = calls
        .poll_until_terminal(&task_id, 1000, Duration::from_millis(5))
        .await;

    let mut distinct = states.clone();
    distinct.dedup();
    assert_eq!(
        distinct,
        ["waiting", "queuing", "generating", "success"],
        "{states:?}"
    );
    let create_time = terminal.data()["createTime"].as_i64().expect("createTime");
    let complete_time = terminal.data()["completeTime"]
        .as_i64()
        .expect("completeTime");
    // completeTime is createTime + total, whenever the poll noticed it.
    assert_eq!(complete_time - create_time, 450, "{terminal:?}");
}

#[tokio::test]
async fn elapsed_tasks_finish_without_being_polled() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Elapsed {
            waiting: Duration::ZERO,
            queuing: Duration::ZERO,
            total: Duration::from_millis(50),
        })
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("unpolled").await;
    assert_eq!(fake.log().max_in_flight(), 1);
    for _ in 0..200 {
        if fake.in_flight() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(fake.in_flight(), 0);
    assert_eq!(
        fake.task(&task_id).map(|task| task.state),
        Some("success".to_owned())
    );
}

#[tokio::test]
async fn record_info_reports_param_and_result_json_as_json_strings() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Polls {
            waiting: 1,
            queuing: 0,
            generating: 0,
        })
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let mut body = sora_body("strings all the way down");
    body["callBackUrl"] = "https://example.invalid/hook".into();
    let task_id = calls.create_task(&body).await.task_id();

    let waiting = calls.record_info(&task_id).await;
    assert_eq!(waiting.state(), "waiting");
    for field in [
        "resultJson",
        "failCode",
        "failMsg",
        "costTime",
        "completeTime",
        "creditsConsumed",
    ] {
        assert_eq!(
            waiting.data()[field],
            Value::Null,
            "{field} before terminal"
        );
    }
    let param: Value = serde_json::from_str(
        waiting.data()["param"]
            .as_str()
            .expect("param is a JSON string"),
    )
    .expect("param parses");
    assert_eq!(param, body, "param is the whole createTask request");
    assert!(waiting.data()["createTime"].is_i64());

    let success = calls.record_info(&task_id).await;
    assert_eq!(success.state(), "success");
    let urls = result_urls(&success, "resultUrls");
    assert_eq!(urls.len(), 1);
    assert!(urls[0].starts_with(&fake.files_base_url()), "{urls:?}");
    assert_eq!(success.data()["creditsConsumed"], 30);
    assert!(success.data()["costTime"].is_i64());
    let task = fake.task(&task_id).expect("the task exists");
    assert_eq!(
        task.callback_url.as_deref(),
        Some("https://example.invalid/hook")
    );
    assert_eq!(task.result_urls, urls);
    assert_eq!(task.credits_consumed, Some(30.0));
}

#[tokio::test]
async fn removed_watermark_adds_watermark_urls_beside_result_urls() {
    let fake = FakeKie::builder().result_urls_per_task(2).start().await;
    let calls = KieCalls::new(&fake);
    let mut body = sora_body("no watermark");
    body["input"]["remove_watermark"] = true.into();
    let task_id = calls.create_task(&body).await.task_id();
    let (_, success) = calls.poll_until_terminal(&task_id, 5, Duration::ZERO).await;
    assert_eq!(result_urls(&success, "resultUrls").len(), 2);
    assert_eq!(result_urls(&success, "resultWaterMarkUrls").len(), 2);

    let plain = calls.create_ok("with watermark").await;
    let (_, success) = calls.poll_until_terminal(&plain, 5, Duration::ZERO).await;
    let result: Value = serde_json::from_str(
        success.data()["resultJson"]
            .as_str()
            .expect("resultJson string"),
    )
    .expect("resultJson parses");
    assert!(result.get("resultWaterMarkUrls").is_none());
}

#[tokio::test]
async fn fail_prompts_end_in_fail_with_zero_credits_and_are_refunded() {
    let fake = FakeKie::builder()
        .credits(100.0)
        .fail_prompts_containing("forbidden", "400", "Content moderation rejected the prompt")
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let first = calls.create_ok("a forbidden scene").await;
    let second = calls.create_ok("another forbidden scene").await;
    assert_eq!(fake.credits(), 40.0, "charged at creation");

    let mut fail_codes = Vec::new();
    for task_id in [&first, &second] {
        let (states, terminal) = calls.poll_until_terminal(task_id, 5, Duration::ZERO).await;
        assert_eq!(states.last().map(String::as_str), Some("fail"));
        assert_eq!(
            terminal.data()["failMsg"],
            "Content moderation rejected the prompt"
        );
        assert_eq!(terminal.data()["creditsConsumed"], 0);
        assert_eq!(terminal.data()["resultJson"], Value::Null);
        assert!(terminal.data()["completeTime"].is_i64());
        fail_codes.push(terminal.data()["failCode"].clone());
    }
    // The live service sends failCode sometimes as a string, sometimes as an integer.
    assert!(fail_codes.contains(&Value::from("400")), "{fail_codes:?}");
    assert!(fail_codes.contains(&Value::from(400)), "{fail_codes:?}");
    assert_eq!(fake.credits(), 100.0, "refunded when the tasks failed");
    assert_eq!(
        fake.task(&first).and_then(|task| task.fail_code),
        Some("400".to_owned())
    );
}

#[tokio::test]
async fn unknown_task_is_recordinfo_is_null_in_http_200() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let answer = calls.record_info("0123456789abcdef0123456789abcdef").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.code(), Some(422));
    assert_eq!(answer.msg(), "recordInfo is null");
    assert_eq!(answer.data(), &Value::Null);
}

#[tokio::test]
async fn unknown_state_is_reported_after_waiting() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Polls {
            waiting: 1,
            queuing: 1,
            generating: 1,
        })
        .unknown_state("pending_review", 2)
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("mysterious").await;
    let (states, _) = calls
        .poll_until_terminal(&task_id, 10, Duration::ZERO)
        .await;
    assert_eq!(
        states,
        [
            "waiting",
            "pending_review",
            "pending_review",
            "queuing",
            "generating",
            "success"
        ]
    );
}

#[tokio::test]
async fn task_ids_are_unique_lowercase_hex_in_creation_order() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let mut created = Vec::new();
    for index in 0..5 {
        created.push(calls.create_ok(&format!("prompt {index}")).await);
    }
    assert_eq!(fake.task_ids(), created);
    for task_id in &created {
        assert_eq!(task_id.len(), 32);
        assert!(
            task_id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
    let mut deduplicated = created.clone();
    deduplicated.sort();
    deduplicated.dedup();
    assert_eq!(deduplicated.len(), created.len());
    let log = fake.log();
    assert_eq!(log.tasks_created(), 5);
    assert_eq!(log.created_task_ids(), created);
    assert_eq!(log.created_per_prompt().get("prompt 3"), Some(&1));
    assert_eq!(log.count(Endpoint::CreateTask), 5);
}

#[tokio::test]
async fn max_in_flight_counts_tasks_not_yet_terminal_at_each_creation() {
    let fake = FakeKie::builder()
        .schedule(Schedule::Polls {
            waiting: 0,
            queuing: 0,
            generating: 0,
        })
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let first = calls.create_ok("one").await;
    let second = calls.create_ok("two").await;
    let third = calls.create_ok("three").await;
    assert_eq!(fake.log().max_in_flight(), 3);
    // Polling reveals the terminal state: those tasks leave the in-flight set.
    for task_id in [&first, &second, &third] {
        calls.poll_until_terminal(task_id, 1, Duration::ZERO).await;
    }
    assert_eq!(fake.in_flight(), 0);
    calls.create_ok("four").await;
    calls.create_ok("five").await;
    assert_eq!(fake.in_flight(), 2);
    assert_eq!(fake.log().max_in_flight(), 3);
}

#[tokio::test]
async fn log_normal_schedule_gives_each_task_its_own_duration() {
    let fake = FakeKie::builder()
        .schedule(Schedule::LogNormal {
            median: Duration::from_millis(60),
            sigma: 0.3,
            seed: 11,
        })
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("realistic").await;
    let (_, terminal) = calls
        .poll_until_terminal(&task_id, 500, Duration::from_millis(5))
        .await;
    let generation_ms = terminal.data()["completeTime"].as_i64().unwrap_or(0)
        - terminal.data()["createTime"].as_i64().unwrap_or(0);
    assert!((10..=400).contains(&generation_ms), "{generation_ms}");
}
