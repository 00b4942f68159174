//! Transport and envelope: Cloudflare's User-Agent check, authentication answered in HTTP
//! 200, unexpected routes, and what the log records of each request.

use sora_batch_testkit::{Endpoint, FakeKie, Server};

use crate::support::{KieCalls, USER_AGENT, client_without_user_agent, sora_body};

#[tokio::test]
async fn no_user_agent_is_cloudflare_403_1010_before_anything_else() {
    let fake = FakeKie::builder().api_key("right").start().await;
    // Without a User-Agent, even a wrong key and a broken body get Cloudflare's answer.
    let mut calls = KieCalls::with_client(&fake, client_without_user_agent());
    calls.authorization = Some("Bearer wrong".to_owned());
    let answer = calls.create_task_raw("{ not json").await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body, "error code: 1010");
    assert!(
        answer
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/plain")),
        "{answer:?}"
    );
    let credit = calls.credit().await;
    assert_eq!(
        (credit.status, credit.body.as_str()),
        (403, Some("error code: 1010"))
    );

    let log = fake.log();
    assert_eq!(log.requests_without_user_agent(), 2);
    assert_eq!(log.tasks_created(), 0);
    assert_eq!(log.requests()[0].code, None);
}

#[tokio::test]
async fn empty_user_agent_counts_as_missing() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::with_client(
        &fake,
        crate::support::client_builder()
            .user_agent("")
            .build()
            .expect("client"),
    );
    assert_eq!(calls.credit().await.status, 403);
    assert_eq!(fake.log().requests_without_user_agent(), 1);
}

#[tokio::test]
async fn missing_authorization_is_401_in_http_200() {
    let fake = FakeKie::start().await;
    let mut calls = KieCalls::new(&fake);
    calls.authorization = None;
    let answer = calls.create_task(&sora_body("no key")).await;
    assert_eq!((answer.status, answer.code()), (200, Some(401)));
    assert!(answer.msg().starts_with("Unauthorized"), "{answer:?}");
    calls.authorization = Some("Bearer ".to_owned());
    assert_eq!(calls.credit().await.code(), Some(401));
    calls.authorization = Some("Basic abc".to_owned());
    assert_eq!(calls.credit().await.code(), Some(401));
    assert_eq!(fake.log().tasks_created(), 0);
}

#[tokio::test]
async fn any_bearer_is_accepted_without_a_configured_key() {
    let fake = FakeKie::start().await;
    let mut calls = KieCalls::new(&fake);
    calls.authorization = Some("Bearer whatever".to_owned());
    assert_eq!(calls.credit().await.code(), Some(200));
}

#[tokio::test]
async fn wrong_key_is_401_and_the_right_key_works() {
    let fake = FakeKie::builder().api_key("right").start().await;
    let mut calls = KieCalls::new(&fake);
    calls.authorization = Some("Bearer wrong".to_owned());
    let refused = calls.create_task(&sora_body("wrong key")).await;
    assert_eq!((refused.status, refused.code()), (200, Some(401)));
    assert_eq!(calls.record_info("abc").await.code(), Some(401));
    calls.authorization = Some("Bearer right".to_owned());
    assert_eq!(
        calls.create_task(&sora_body("right key")).await.code(),
        Some(200)
    );
    assert_eq!(fake.log().created_per_prompt().len(), 1);
}

#[tokio::test]
async fn unexpected_routes_are_404_and_logged() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let response = calls
        .client
        .get(format!("{}/api/v1/jobs/listTasks", fake.base_url()))
        .header("authorization", "Bearer k")
        .send()
        .await
        .expect("an answer");
    let answer = crate::support::into_answer(response).await;
    assert_eq!((answer.status, answer.code()), (404, Some(404)));
    assert_eq!(answer.msg(), "Not Found");
    // The right path with the wrong method is unexpected too.
    let wrong_method = calls
        .client
        .get(format!("{}/api/v1/jobs/createTask", fake.base_url()))
        .send()
        .await
        .expect("an answer");
    assert_eq!(wrong_method.status().as_u16(), 404);
    let files_answer = calls
        .client
        .get(format!("{}/favicon.ico", fake.files_base_url()))
        .send()
        .await
        .expect("an answer");
    assert_eq!(files_answer.status().as_u16(), 404);

    let log = fake.log();
    let unexpected = log.unexpected();
    assert_eq!(unexpected.len(), 3);
    assert_eq!(unexpected[0].path, "/api/v1/jobs/listTasks");
    assert_eq!(unexpected[0].endpoint, None);
    assert_eq!(unexpected[2].server, Server::Files);
}

#[tokio::test]
async fn the_log_keeps_method_path_query_headers_body_and_answer() {
    let fake = FakeKie::start().await;
    let calls = KieCalls::new(&fake);
    let task_id = calls.create_ok("logged").await;
    calls.record_info(&task_id).await;

    let log = fake.log();
    let create = &log.requests_to(Endpoint::CreateTask)[0];
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/api/v1/jobs/createTask")
    );
    assert_eq!(create.server, Server::Api);
    assert_eq!((create.status, create.code), (200, Some(200)));
    assert_eq!(create.created_task.as_deref(), Some(task_id.as_str()));
    assert_eq!(create.header("User-Agent"), Some(USER_AGENT));
    assert_eq!(log.create_task_bodies(), [sora_body("logged")]);
    let poll = &log.requests_to(Endpoint::RecordInfo)[0];
    assert_eq!(
        poll.query.as_deref(),
        Some(format!("taskId={task_id}").as_str())
    );
    assert!(poll.received_at >= create.received_at);
    assert_eq!(
        log.header_values("authorization"),
        ["Bearer test-key", "Bearer test-key"]
    );
    assert_eq!(log.header_values("user-agent").len(), 2);
    assert_eq!(log.count(Endpoint::RecordInfo), 1);
    assert_eq!(log.count(Endpoint::Credit), 0);
}
