//! The spending cap with models that have no price: a job of unknown cost goes alone, its
//! charge prices the jobs like it, and a cost that cannot become known stops submissions.
//!
//! Read `mod.rs` for [`Batch`] and `crate::scripted` first. The jobs here use a model
//! locked without a price rule (Kie's price text stated none a program can apply), so the
//! cap has only what the run learns to go on.

use sora_batch_engine::job::{Credits, JobState};
use sora_batch_engine::models::ModelBook;
use sora_batch_engine::run::{RunEvent, RunJob, StopReason};

use super::{Batch, LONG_DEADLINE, options, outcome_of};
use crate::scripted::{Call, Create, Poll, ScriptedService, task_id};
use crate::support::locked_model;

/// Jobs of a model without a price, differing only in their prompts: one price class.
fn unpriced_jobs(ids: &[&str]) -> Vec<RunJob> {
    let mut yaml = String::from(
        "version: 1\nname: unpriced\nmodel: acme/new-video-model\ndefaults:\n  duration: \"5\"\njobs:\n",
    );
    for id in ids {
        yaml.push_str(&format!("  - id: {id}\n    prompt: {id}\n"));
    }
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "prompt": {"type": "string"},
            "duration": {"type": "string", "enum": ["5", "10"]}
        },
        "required": ["prompt"]
    });
    let book = ModelBook::built_in().with_locked([locked_model(
        "acme/new-video-model",
        Some(schema),
        None,
    )]);
    let manifest = match sora_batch_engine::load_str_with("manifest.yaml", &yaml, &book) {
        Ok(loaded) => loaded.manifest,
        Err(errors) => panic!("the test's manifest does not load:\n{errors}"),
    };
    let jobs: Vec<RunJob> = manifest
        .jobs
        .into_iter()
        .map(|job| RunJob::from_manifest(job, &manifest.prices))
        .collect();
    assert!(
        jobs.iter().all(|job| job.estimated_credits.is_none()),
        "no price is known for these jobs"
    );
    jobs
}

#[tokio::test(start_paused = true)]
async fn under_a_cap_an_unpriced_job_goes_alone_and_its_charge_prices_the_rest() {
    let batch = Batch::new();
    let jobs = unpriced_jobs(&["a", "b", "c", "d", "e"]);
    let service = ScriptedService::new();
    for id in ["a", "b", "c", "d", "e"] {
        service.poll(&task_id(id, 1), [Poll::Succeed { credits: 30.0 }]);
    }

    let outcome = batch
        .run(
            &jobs,
            &service,
            options(|o| {
                o.max_credits = Some(Credits(100.0));
                o.concurrency = 10;
            }),
        )
        .await;

    let created = service.created();
    assert_eq!(created, ["a", "b", "c"], "{:#?}", service.calls());
    // `a` went alone: nothing else was sent before its charge was known.
    let calls = service.calls();
    let first_poll = calls
        .iter()
        .position(|call| matches!(call, Call::RecordInfo { .. }))
        .expect("a's task was polled");
    let creates_before_charge = calls[..first_poll]
        .iter()
        .filter(|call| matches!(call, Call::CreateTask { .. }))
        .count();
    assert_eq!(creates_before_charge, 1, "{calls:#?}");
    assert_eq!(
        outcome.stop,
        Some(StopReason::SpendingCap {
            max_credits: Credits(100.0),
            committed: Credits(90.0),
            next: Credits(30.0),
        })
    );
    let charged: f64 = outcome
        .jobs
        .iter()
        .filter_map(|job| job.credits.map(|credits| credits.0))
        .sum();
    assert!(charged <= 100.0, "charged {charged} under a cap of 100");
}

#[tokio::test(start_paused = true)]
async fn a_failed_unpriced_task_prices_nothing_and_the_next_still_goes_alone() {
    let batch = Batch::new();
    let jobs = unpriced_jobs(&["a", "b", "c", "d"]);
    let service = ScriptedService::new();
    // `a` fails, refunded (creditsConsumed 0): that is no price for the others.
    service.poll(
        &task_id("a", 1),
        [Poll::Fail {
            code: 500,
            msg: "upstream failure",
        }],
    );
    for id in ["b", "c", "d"] {
        service.poll(&task_id(id, 1), [Poll::Succeed { credits: 40.0 }]);
    }

    let outcome = batch
        .run(
            &jobs,
            &service,
            options(|o| {
                o.max_credits = Some(Credits(100.0));
                o.concurrency = 10;
            }),
        )
        .await;

    // a alone (fails), b alone (40 learned), then c (80); d would make 120.
    assert_eq!(service.created(), ["a", "b", "c"], "{:#?}", service.calls());
    let calls = service.calls();
    let creates_before = |polls: usize| {
        let nth_poll = calls
            .iter()
            .enumerate()
            .filter(|(_, call)| matches!(call, Call::RecordInfo { .. }))
            .nth(polls - 1)
            .map_or(calls.len(), |(position, _)| position);
        calls[..nth_poll]
            .iter()
            .filter(|call| matches!(call, Call::CreateTask { .. }))
            .count()
    };
    assert_eq!(creates_before(1), 1, "a went alone: {calls:#?}");
    assert_eq!(
        creates_before(2),
        2,
        "b went alone after a's failure: {calls:#?}"
    );
    assert!(matches!(outcome.stop, Some(StopReason::SpendingCap { .. })));
    let learned: Vec<_> = service
        .events()
        .into_iter()
        .filter_map(|event| match event {
            RunEvent::PriceLearned { id, credits, .. } => Some((id.as_str().to_owned(), credits)),
            _ => None,
        })
        .collect();
    assert_eq!(learned, [("b".to_owned(), Credits(40.0))]);
}

#[tokio::test(start_paused = true)]
async fn a_success_reported_as_free_prices_nothing_and_the_next_still_goes_alone() {
    let batch = Batch::new();
    let jobs = unpriced_jobs(&["a", "b", "c", "d"]);
    let service = ScriptedService::new();
    // `a` succeeds with creditsConsumed 0: taken for a price, it would let every other job
    // of its class through the cap as free.
    service.poll(&task_id("a", 1), [Poll::Succeed { credits: 0.0 }]);
    for id in ["b", "c", "d"] {
        service.poll(&task_id(id, 1), [Poll::Succeed { credits: 40.0 }]);
    }

    let outcome = batch
        .run(
            &jobs,
            &service,
            options(|o| {
                o.max_credits = Some(Credits(100.0));
                o.concurrency = 10;
            }),
        )
        .await;

    // a alone (free, no price), b alone (40 learned), then c (80); d would make 120.
    assert_eq!(service.created(), ["a", "b", "c"], "{:#?}", service.calls());
    assert!(matches!(outcome.stop, Some(StopReason::SpendingCap { .. })));
}

#[tokio::test(start_paused = true)]
async fn under_a_cap_an_unpriced_job_whose_cost_cannot_be_known_stops_submissions() {
    let batch = Batch::new();
    let jobs = unpriced_jobs(&["a", "b", "c"]);
    let service = ScriptedService::new();
    service.create(
        "a",
        [Create::MayHaveBeenCreated(
            sora_batch_api::ErrorKind::Timeout,
        )],
    );

    let outcome = batch
        .run(
            &jobs,
            &service,
            options(|o| {
                o.max_credits = Some(Credits(1000.0));
                o.concurrency = 10;
                o.task_timeout = LONG_DEADLINE;
            }),
        )
        .await;

    assert_eq!(service.created(), ["a"], "{:#?}", service.calls());
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Uncertain);
    assert!(
        matches!(
            &outcome.stop,
            Some(StopReason::UnknownCost { job, .. }) if job.as_str() == "a"
        ),
        "{:?}",
        outcome.stop
    );
    for id in ["b", "c"] {
        assert_eq!(outcome_of(&outcome, id).state, JobState::Pending);
    }
}

#[tokio::test(start_paused = true)]
async fn without_a_cap_unpriced_jobs_are_not_held_back() {
    let batch = Batch::new();
    let jobs = unpriced_jobs(&["a", "b", "c"]);
    let service = ScriptedService::new();

    let outcome = batch
        .run(&jobs, &service, options(|o| o.concurrency = 10))
        .await;

    let calls = service.calls();
    let first_poll = calls
        .iter()
        .position(|call| matches!(call, Call::RecordInfo { .. }))
        .expect("tasks were polled");
    let creates_before_poll = calls[..first_poll]
        .iter()
        .filter(|call| matches!(call, Call::CreateTask { .. }))
        .count();
    assert_eq!(creates_before_poll, 3, "{calls:#?}");
    assert!(outcome.stop.is_none());
}
