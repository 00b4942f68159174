//! Seeded random faults: reproducible for a seed, about the requested rate, never creating a
//! task, on the file host too.

use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie};

use crate::support::{KieCalls, sora_body};

/// The (status, code) answered to `count` createTask calls of a fresh fake.
async fn create_task_answers(
    rate: f64,
    seed: u64,
    count: usize,
) -> (Vec<(u16, Option<i64>)>, FakeKie) {
    let fake = FakeKie::builder().random_faults(rate, seed).start().await;
    let calls = KieCalls::new(&fake);
    let mut answers = Vec::new();
    for index in 0..count {
        let answer = calls
            .create_task(&sora_body(&format!("prompt {index}")))
            .await;
        answers.push((answer.status, answer.code()));
    }
    (answers, fake)
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let (first, _) = create_task_answers(0.3, 42, 60).await;
    let (second, _) = create_task_answers(0.3, 42, 60).await;
    let (other_seed, _) = create_task_answers(0.3, 43, 60).await;
    assert_eq!(first, second);
    assert_ne!(first, other_seed);
}

#[tokio::test]
async fn faults_come_at_about_the_rate_and_never_create_tasks() {
    let (answers, fake) = create_task_answers(0.25, 7, 400).await;
    let faulted = answers
        .iter()
        .filter(|answer| **answer != (200, Some(200)))
        .count();
    assert!((60..=140).contains(&faulted), "{faulted} of 400 faulted");
    let log = fake.log();
    assert_eq!(log.tasks_created(), 400 - faulted);
    assert_eq!(fake.task_ids().len(), 400 - faulted);
    // A fault created nothing: every created task matches a successful answer.
    for request in log.requests() {
        assert_eq!(
            request.created_task.is_some(),
            request.code == Some(200),
            "{request:?}"
        );
    }
    // The mix: envelope 500 and 455, non-JSON 502, and 429.
    let kinds: std::collections::BTreeSet<_> = answers.iter().copied().collect();
    for kind in [
        (200, Some(500)),
        (200, Some(455)),
        (502, None),
        (429, Some(429)),
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn each_endpoint_draws_its_own_sequence() {
    // Interleaving other calls does not change the faults createTask sees.
    let (alone, _) = create_task_answers(0.3, 5, 30).await;
    let fake = FakeKie::builder().random_faults(0.3, 5).start().await;
    let calls = KieCalls::new(&fake);
    let mut interleaved = Vec::new();
    for index in 0..30 {
        calls.credit().await;
        let answer = calls
            .create_task(&sora_body(&format!("prompt {index}")))
            .await;
        interleaved.push((answer.status, answer.code()));
    }
    assert_eq!(alone, interleaved);
}

#[tokio::test]
async fn the_file_host_answers_503_at_random() {
    let fake = FakeKie::builder().random_faults(0.5, 3).start().await;
    let calls = KieCalls::new(&fake);
    // Get one successful task through the faults.
    let mut task_id = None;
    for index in 0..50 {
        let answer = calls.create_task(&sora_body(&format!("p{index}"))).await;
        if answer.code() == Some(200) {
            task_id = Some(answer.task_id());
            break;
        }
    }
    let task_id = task_id.expect("one createTask got through");
    let mut urls = Vec::new();
    for _ in 0..100 {
        let answer = calls.record_info(&task_id).await;
        if answer.state() == "success" {
            urls = crate::support::result_urls(&answer, "resultUrls");
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(urls.len(), 1);
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(calls.download(&urls[0]).await.0);
    }
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|status| *status == 200 || *status == 503)
    );
    assert_eq!(fake.log().count(Endpoint::Files), 40);
}
