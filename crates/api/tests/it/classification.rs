//! Each code of the table in `kie-api-notes.md`, answered by the fake, classified as documented.

use sora_batch_api::{ErrorClass, ErrorKind, TaskCreation, TaskId};
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::support::{client_for, client_with, config_for, seed_request};

#[tokio::test]
async fn every_code_of_the_table_is_classified_as_documented() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let cases: Vec<(&str, Fault, ErrorKind, ErrorClass)> = vec![
        (
            "400",
            Fault::bad_request("input.aspect_ratio is invalid"),
            ErrorKind::InvalidRequest,
            ErrorClass::JobFatal,
        ),
        (
            "401",
            Fault::unauthorized(),
            ErrorKind::Unauthorized,
            ErrorClass::AccountFatal,
        ),
        (
            "402",
            Fault::insufficient_credits(),
            ErrorKind::InsufficientCredits,
            ErrorClass::AccountFatal,
        ),
        (
            "404",
            Fault::Code {
                code: 404,
                msg: "Not Found".into(),
            },
            ErrorKind::NotFound,
            ErrorClass::Permanent,
        ),
        (
            "422",
            Fault::validation("model is not published"),
            ErrorKind::InvalidRequest,
            ErrorClass::JobFatal,
        ),
        (
            "429",
            Fault::RateLimited,
            ErrorKind::RateLimited { retry_after: None },
            ErrorClass::Transient,
        ),
        (
            "433",
            Fault::usage_cap(),
            ErrorKind::UsageCapReached,
            ErrorClass::AccountFatal,
        ),
        (
            "455",
            Fault::maintenance(),
            ErrorKind::Maintenance,
            ErrorClass::Transient,
        ),
        (
            "500",
            Fault::server_error(),
            ErrorKind::ServerError,
            ErrorClass::Transient,
        ),
        (
            "500 disguised",
            Fault::FieldRequired,
            ErrorKind::ServerError,
            ErrorClass::Transient,
        ),
        (
            "501",
            Fault::generation_failed(),
            ErrorKind::GenerationFailed,
            ErrorClass::JobFatal,
        ),
        (
            "505",
            Fault::model_disabled(),
            ErrorKind::ModelDisabled,
            ErrorClass::JobFatal,
        ),
        (
            "403 1010",
            Fault::Cloudflare1010,
            ErrorKind::CloudflareBlocked,
            ErrorClass::ClientBug,
        ),
        (
            "418 undocumented",
            Fault::Code {
                code: 418,
                msg: "teapot".into(),
            },
            ErrorKind::UnexpectedAnswer("undocumented code 418".into()),
            ErrorClass::Permanent,
        ),
    ];
    let mut table = String::from("code | kind | class | creation\n");
    for (label, fault, kind, class) in cases {
        fake.inject(Endpoint::CreateTask, fault, Times::Once);
        let failure = client
            .create_task(&seed_request())
            .await
            .expect_err("an injected fault is not a success");
        assert_eq!(failure.error.kind, kind, "{label}");
        // Only a disabled model, or one the service says is not published or paused, holds
        // back the other jobs of the model.
        assert_eq!(
            failure.error.model_unavailable(),
            label == "505" || label == "422",
            "{label}"
        );
        assert_eq!(failure.error.class(), class, "{label}");
        assert_eq!(
            failure.creation,
            TaskCreation::NotCreated,
            "{label}: the service answered"
        );
        table.push_str(&format!(
            "{label} | {:?} | {:?} | {:?}\n",
            failure.error.kind, class, failure.creation
        ));
    }
    assert!(fake.task_ids().is_empty(), "no fault created a task");
    assert!(fake.log().unexpected().is_empty());
    insta::assert_snapshot!("codes_table", table);
}

#[tokio::test]
async fn an_unknown_task_id_is_task_unknown_after_a_few_tries() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let error = client
        .record_info(&TaskId::new("0123456789abcdef0123456789abcdef"))
        .await
        .expect_err("the fake does not know this task");
    assert_eq!(error.kind, ErrorKind::TaskUnknown);
    assert_eq!(error.class(), ErrorClass::TaskUnknown);
    assert_eq!(error.service_message(), Some("recordInfo is null"));
    let policy = client.config().retry.clone();
    assert_eq!(
        fake.log().count(Endpoint::RecordInfo) as u32,
        policy.task_unknown_attempts
    );
    assert_eq!(error.attempts, policy.task_unknown_attempts);
}

#[tokio::test]
async fn a_request_without_user_agent_is_named_as_our_bug() {
    let fake = FakeKie::start().await;
    let mut config = config_for(&fake.base_url());
    config.user_agent = String::new();
    let client = client_with(config);
    let failure = client
        .create_task(&seed_request())
        .await
        .expect_err("Cloudflare refuses it");
    assert_eq!(failure.error.kind, ErrorKind::CloudflareBlocked);
    assert_eq!(failure.error.http_status, Some(403));
    assert!(failure.error.to_string().contains("bug in sora-batch"));
    assert_eq!(fake.log().requests_without_user_agent(), 1);
}

#[tokio::test]
async fn a_bad_key_is_a_401_inside_http_200() {
    let fake = FakeKie::builder().api_key("the-right-key").start().await;
    let client = client_for(&fake);
    let failure = client
        .create_task(&seed_request())
        .await
        .expect_err("wrong key");
    assert_eq!(failure.error.kind, ErrorKind::Unauthorized);
    assert_eq!(failure.error.http_status, Some(200));
    assert_eq!(failure.error.code, Some(401));
    let error = client.credit_balance().await.expect_err("wrong key");
    assert_eq!(error.kind, ErrorKind::Unauthorized);
    assert_eq!(error.attempts, 1, "401 is never retried");
}

#[tokio::test]
async fn a_missing_input_field_is_the_disguised_500() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let mut request = seed_request();
    request.input.remove("n_frames");
    let failure = client
        .create_task(&request)
        .await
        .expect_err("the service fills no defaults");
    assert_eq!(failure.error.kind, ErrorKind::ServerError);
    assert_eq!(
        failure.error.service_message(),
        Some("This field is required")
    );
    assert_eq!(failure.creation, TaskCreation::NotCreated);
    assert!(fake.task_ids().is_empty());
}
