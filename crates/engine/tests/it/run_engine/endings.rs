//! How a run ends a job or itself early without losing what was paid for: a result that can
//! never be fetched fails its job (once, after asking for a fresh link), and an interrupt
//! that hurries the run still records the createTasks already sent.
//!
//! Read `mod.rs` for [`Batch`] and `crate::scripted` for the service's scripts first.

use std::sync::Arc;

use sora_batch_engine::job::JobState;
use sora_batch_engine::journal::Phase;
use sora_batch_engine::run::{Interrupt, RunEvent, StopReason};

use super::{Batch, LONG_DEADLINE, job, jobs, options, outcome_of};
use crate::scripted::{
    Call, Create, EventMatcher, Fetch, Poll, ScriptedService, fresh_url, result_url, submitted,
    task_id,
};

/// `RunEvent::Hurrying`, whatever it counts.
fn hurrying() -> EventMatcher {
    Arc::new(|event| matches!(event, RunEvent::Hurrying { .. }))
}

#[tokio::test(start_paused = true)]
async fn a_result_that_can_never_be_fetched_fails_its_job_after_one_fresh_link() {
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let service = ScriptedService::new();
    let url = result_url(&task_id("a", 1));
    // A `file:` URL, say: neither it nor the fresh link the service hands out is http(s).
    service
        .fetch(&url, [Fetch::Unsupported])
        .fetch(&fresh_url(&url), [Fetch::Unsupported]);

    let outcome = batch.run(&jobs, &service, options(|_| {})).await;

    assert_eq!(
        service.calls(),
        [
            Call::CreditBalance,
            Call::CreateTask {
                prompt: "a".into(),
                model: "sora-2-text-to-video".into(),
            },
            Call::RecordInfo {
                task_id: task_id("a", 1),
            },
            Call::Download { url: url.clone() },
            Call::DownloadUrl { url: url.clone() },
            Call::Download {
                url: fresh_url(&url),
            },
        ]
    );
    let a = outcome_of(&outcome, "a");
    assert_eq!(a.state, JobState::Failed, "{a:#?}");
    let reason = a.fail_msg.clone().unwrap_or_default();
    assert!(reason.contains("cannot be downloaded"), "{reason}");
    assert!(
        !a.is_outstanding(),
        "a job that can never finish is not outstanding"
    );
    assert_eq!(batch.history(job(&jobs, "a")).phase, Phase::Failed);
    assert!(
        batch.partial_files().is_empty(),
        "{:?}",
        batch.partial_files()
    );

    // The next run leaves it alone: nothing is fetched, asked or paid for again.
    let again = ScriptedService::new();
    let outcome = batch.run(&jobs, &again, options(|_| {})).await;
    assert_eq!(again.calls(), []);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Failed);
}

#[tokio::test(start_paused = true)]
async fn a_hurried_run_waits_for_the_create_tasks_already_sent_and_no_more() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let service = ScriptedService::new();
    // `a` is running and stays so; `b`'s createTask is on the wire when the user hurries
    // the run (at `a`'s submission), and its answer comes only then: after the interrupt,
    // since the run records it (an fsync) before it hears of it.
    service.poll(&task_id("a", 1), [Poll::Running]);
    service.create(
        "b",
        [Create::After(submitted("a"), Box::new(Create::Accept))],
    );

    let outcome = batch
        .run_sending(
            &jobs,
            &service,
            options(|o| {
                o.concurrency = 2;
                o.task_timeout = LONG_DEADLINE;
                // No deadline at all (out of range): while the journal fsyncs, the paused
                // clock would jump straight to any (see `crate::scripted`). The test is about
                // what the run waits for, not how long.
                o.hurry_time = std::time::Duration::MAX;
                o.settle_time = std::time::Duration::MAX;
            }),
            submitted("a"),
            Interrupt::Hurry,
        )
        .await;

    assert_eq!(outcome.stop, Some(StopReason::Interrupted));
    let waited_for: Vec<usize> = service
        .timeline()
        .into_iter()
        .filter_map(|entry| match entry.what {
            crate::scripted::Happened::Event(RunEvent::Hurrying {
                creates_in_flight, ..
            }) => Some(creates_in_flight),
            _ => None,
        })
        .collect();
    assert_eq!(
        waited_for,
        [1],
        "the run says how many answers it waits for"
    );
    // The answer that came is recorded: `b` is running with its task, not uncertain.
    let b = outcome_of(&outcome, "b");
    assert_eq!(b.state, JobState::Running, "{b:#?}");
    assert_eq!(
        b.task_id.as_ref().map(|task| task.as_str().to_owned()),
        Some(task_id("b", 1))
    );
    assert_eq!(batch.history(job(&jobs, "b")).phase, Phase::Submitted);
    // Nothing is polled, fetched or submitted once the run hurries.
    assert_eq!(service.calls_after(&hurrying()), []);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Running);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_download_is_tried_once_through_a_fresh_link_then_left_for_the_next_run() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let service = ScriptedService::new();
    let stalls = result_url(&task_id("a", 1));
    let recovers = result_url(&task_id("b", 1));
    service
        .fetch(&stalls, [Fetch::Stalled])
        .fetch(&fresh_url(&stalls), [Fetch::Stalled])
        .fetch(&recovers, [Fetch::Stalled]);

    let outcome = batch.run(&jobs, &service, options(|_| {})).await;

    let downloads: Vec<Call> = service
        .calls()
        .into_iter()
        .filter(|call| matches!(call, Call::Download { .. } | Call::DownloadUrl { .. }))
        .collect();
    for url in [&stalls, &recovers] {
        let asked_fresh = downloads
            .iter()
            .filter(|call| matches!(call, Call::DownloadUrl { url: asked } if asked == url))
            .count();
        assert_eq!(asked_fresh, 1, "one fresh link for {url}: {downloads:#?}");
    }
    // The fresh link of `b` worked; `a` is left for the next run, not failed.
    let a = outcome_of(&outcome, "a");
    assert_eq!(a.state, JobState::Succeeded);
    assert!(a.is_outstanding() && a.files.is_empty(), "{a:#?}");
    assert!(outcome_of(&outcome, "b").is_complete());
    assert!(
        batch.partial_files().is_empty(),
        "{:?}",
        batch.partial_files()
    );
}

#[tokio::test(start_paused = true)]
async fn a_model_the_service_no_longer_offers_stops_its_jobs_with_one_message() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b", "c"]);
    let service = ScriptedService::new();
    service.create(
        "a",
        [Create::NotCreated(sora_batch_api::ErrorKind::ModelDisabled)],
    );

    let outcome = batch
        .run(&jobs, &service, options(|o| o.concurrency = 1))
        .await;

    assert_eq!(service.created(), ["a"], "one refusal is enough to know");
    for id in ["a", "b", "c"] {
        assert_eq!(outcome_of(&outcome, id).state, JobState::Pending, "{id}");
    }
    let warnings: Vec<String> = service
        .timeline()
        .into_iter()
        .filter_map(|entry| match entry.what {
            crate::scripted::Happened::Event(RunEvent::Warning { message })
                if message.contains("does not offer the model") =>
            {
                Some(message)
            }
            _ => None,
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("3 job(s)"), "{}", warnings[0]);
    // Not a failure of the job: the journal keeps it pending for a later run.
    assert_eq!(batch.history(job(&jobs, "a")).phase, Phase::Pending);
}
