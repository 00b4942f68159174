//! The account: the credit endpoint, charging at creation, 402 when credits run out, and
//! submissions working again after a top-up.

use sora_batch_testkit::FakeKie;

use crate::support::{KieCalls, sora_body};

#[tokio::test]
async fn credit_endpoint_reports_the_balance() {
    let fake = FakeKie::builder().credits(95.0).start().await;
    let calls = KieCalls::new(&fake);
    let answer = calls.credit().await;
    assert_eq!(
        (answer.status, answer.code(), answer.msg()),
        (200, Some(200), "success")
    );
    assert_eq!(answer.data(), 95);
    fake.set_credits(12.5);
    assert_eq!(calls.credit().await.data(), 12.5);
}

#[tokio::test]
async fn credits_running_out_is_402_and_tasks_resume_after_a_top_up() {
    let fake = FakeKie::builder()
        .credits(70.0)
        .price_per_task(30.0)
        .start()
        .await;
    let calls = KieCalls::new(&fake);
    calls.create_ok("one").await;
    calls.create_ok("two").await;
    assert_eq!(fake.credits(), 10.0);

    let refused = calls.create_task(&sora_body("three")).await;
    assert_eq!((refused.status, refused.code()), (200, Some(402)));
    assert_eq!(
        refused.msg(),
        "The current credits are insufficient. Please top up."
    );
    assert_eq!(fake.log().tasks_created(), 2);
    assert_eq!(fake.credits(), 10.0, "a refused task costs nothing");

    fake.set_credits(30.0);
    calls.create_ok("three").await;
    assert_eq!(fake.credits(), 0.0);
    let log = fake.log();
    assert_eq!(log.tasks_created(), 3);
    assert_eq!(log.created_per_prompt().get("three"), Some(&1));
    assert_eq!(log.answered_code(402), 1);
}
