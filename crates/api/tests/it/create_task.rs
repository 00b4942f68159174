//! createTask: the seed body on the wire, and what a failure says about a possible task.

use std::time::Duration;

use serde_json::Value;
use sora_batch_api::{ErrorKind, TaskCreation};
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::support::{SENTINEL_KEY, client_for, client_with, config_for, fixture, seed_request};

#[tokio::test]
async fn the_seed_example_goes_out_as_the_seed_body() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let task = client.create_task(&seed_request()).await.expect("created");
    assert_eq!(fake.task_ids(), vec![task.to_string()]);
    let log = fake.log();
    let expected: Value =
        serde_json::from_str(&fixture("seed-create-task-request.json")).expect("parses");
    assert_eq!(log.create_task_bodies(), vec![expected]);
    let request = &log.requests()[0];
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {SENTINEL_KEY}").as_str())
    );
    assert_eq!(
        request.header("user-agent"),
        Some(sora_batch_api::USER_AGENT)
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn call_back_url_is_sent_only_when_set() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let mut request = seed_request();
    client.create_task(&request).await.expect("created");
    request.call_back_url = Some("https://example.com/hook".into());
    client.create_task(&request).await.expect("created");
    let bodies = fake.log().create_task_bodies();
    assert!(bodies[0].get("callBackUrl").is_none());
    assert_eq!(bodies[1]["callBackUrl"], "https://example.com/hook");
}

#[tokio::test]
async fn an_error_code_means_certainly_not_created() {
    let fake = FakeKie::builder()
        .credits(10.0)
        .price_per_task(30.0)
        .start()
        .await;
    let client = client_for(&fake);
    let failure = client
        .create_task(&seed_request())
        .await
        .expect_err("no credits");
    assert_eq!(failure.error.kind, ErrorKind::InsufficientCredits);
    assert_eq!(failure.creation, TaskCreation::NotCreated);
    assert!(fake.task_ids().is_empty());
    fake.set_credits(100.0);
    client
        .create_task(&seed_request())
        .await
        .expect("created after a top-up");
}

#[tokio::test]
async fn a_refused_connection_means_certainly_not_created() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let client = client_with(config_for(&format!("http://{address}")));
    let failure = client
        .create_task(&seed_request())
        .await
        .expect_err("nothing listens");
    assert_eq!(
        failure.error.kind,
        ErrorKind::Misconfigured(sora_batch_api::Misconfiguration::ConnectionRefused {
            host: "127.0.0.1".into(),
            port: address.port(),
        })
    );
    assert_eq!(failure.creation, TaskCreation::NotCreated);
}

#[tokio::test]
async fn a_timeout_after_sending_may_have_created_the_task() {
    let fake = FakeKie::start().await;
    let mut config = config_for(&fake.base_url());
    config.request_timeout = Duration::from_millis(300);
    let client = client_with(config);
    fake.inject(
        Endpoint::CreateTask,
        Fault::Slow {
            delay: Duration::from_secs(3),
        },
        Times::Once,
    );
    let failure = client
        .create_task(&seed_request())
        .await
        .expect_err("too slow");
    assert_eq!(failure.error.kind, ErrorKind::Timeout);
    assert_eq!(failure.creation, TaskCreation::MayHaveBeenCreated);
    assert_eq!(
        fake.task_ids().len(),
        1,
        "the service did create it: the uncertainty is real"
    );
    assert_eq!(fake.log().count(Endpoint::CreateTask), 1, "never retried");
}

#[tokio::test]
async fn a_proxy_error_page_may_hide_a_created_task() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    fake.inject(
        Endpoint::CreateTask,
        Fault::NonJson {
            status: 502,
            body: "<html>502 Bad Gateway</html>".into(),
        },
        Times::Once,
    );
    let failure = client.create_task(&seed_request()).await.expect_err("502");
    assert_eq!(failure.error.kind, ErrorKind::ServerError);
    assert_eq!(failure.creation, TaskCreation::MayHaveBeenCreated);
    assert!(
        failure
            .to_string()
            .ends_with("the task may have been created")
    );
}

#[tokio::test]
async fn create_task_is_never_retried_by_the_client() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    for fault in [
        Fault::server_error(),
        Fault::maintenance(),
        Fault::RateLimited,
    ] {
        fake.inject(Endpoint::CreateTask, fault, Times::Always);
        let failure = client
            .create_task(&seed_request())
            .await
            .expect_err("faulty");
        assert_eq!(failure.error.attempts, 1);
        assert_eq!(failure.creation, TaskCreation::NotCreated);
        fake.clear_faults();
    }
    assert_eq!(fake.log().count(Endpoint::CreateTask), 3);
}

#[tokio::test]
async fn the_record_id_is_kept_and_the_task_polled_by_its_task_id() {
    let fake = FakeKie::start().await;
    let client = client_for(&fake);
    let created = client
        .create_task_with_record_id(&seed_request())
        .await
        .expect("created");
    assert!(
        created.record_id.is_some(),
        "the fake sends one, like the service"
    );
    let mut record = client.record_info(&created.task_id).await.expect("polled");
    while !record.state.is_terminal() {
        assert_eq!(record.success_flag, Some(0), "running");
        record = client.record_info(&created.task_id).await.expect("polled");
    }
    assert_eq!(record.success_flag, Some(1));
    assert!(
        record.response.parsed().is_some(),
        "`response` beside `resultJson`"
    );
    assert_eq!(record.result_urls().len(), 1);
    let log = fake.log();
    for poll in log.requests_to(Endpoint::RecordInfo) {
        assert_eq!(
            poll.query_parameter("taskId"),
            Some(created.task_id.as_str()),
            "never polled by recordId"
        );
    }
}
