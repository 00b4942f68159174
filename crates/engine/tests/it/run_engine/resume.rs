//! Resuming: what a second run over the same batch folder sends, for each thing the journal
//! can say of a job. The rows of the resume decision table of `docs/journal.md`, one test
//! each: pending, submitted, timed out, succeeded (files intact, missing, altered, behind an
//! expired link), failed (by the service, or unknown to it), uncertain, orphaned, new.
//!
//! Read `mod.rs` for [`Batch`] first. Each row's journal is made by running the engine with
//! a script, never written by hand; the second run's calls are then asserted exactly.

use std::time::Duration;

use sora_batch_api::{ErrorKind, TaskId};
use sora_batch_engine::job::JobState;
use sora_batch_engine::journal::Phase;
use sora_batch_engine::run::{RunEvent, StopReason};

use super::{Batch, job, jobs, options, outcome_of, sha256_hex};
use crate::scripted::{
    Call, Create, Fetch, Happened, Poll, ScriptedService, file_bytes, fresh_url, result_url,
    submitted, task_id,
};

/// A batch of `ids` run once with a healthy service: every job succeeded and downloaded.
async fn finished_batch(ids: &[&str]) -> Batch {
    let batch = Batch::new();
    let service = ScriptedService::new();
    let outcome = batch.run(&jobs(ids), &service, options(|_| {})).await;
    assert!(outcome.jobs.iter().all(|job| job.is_complete()));
    batch
}

fn create(prompt: &str) -> Call {
    Call::CreateTask {
        prompt: prompt.to_owned(),
        model: "sora-2-text-to-video".to_owned(),
    }
}

fn poll(task_id: &str) -> Call {
    Call::RecordInfo {
        task_id: task_id.to_owned(),
    }
}

fn download(url: &str) -> Call {
    Call::Download {
        url: url.to_owned(),
    }
}

/// The journal of `id`'s `downloaded` records agrees with the file in the folder.
fn assert_file_matches_journal(batch: &Batch, id: &str) {
    let jobs = jobs(&[id]);
    let bytes = std::fs::read(batch.file(&format!("{id}.mp4"))).expect("the file is there");
    let downloaded = batch.records_of_type(job(&jobs, id), "downloaded");
    let last = downloaded.last().expect("a downloaded record");
    assert_eq!(last["sha256"], sha256_hex(&bytes), "{id}");
    assert_eq!(last["bytes"], bytes.len(), "{id}");
}

#[tokio::test(start_paused = true)]
async fn resume_submits_a_pending_job() {
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let first = ScriptedService::new();
    first.create("a", [Create::NotCreated(ErrorKind::InsufficientCredits)]);
    batch.run(&jobs, &first, options(|_| {})).await;
    assert_eq!(batch.history(job(&jobs, "a")).phase, Phase::Pending);

    let second = ScriptedService::new();
    let outcome = batch.run(&jobs, &second, options(|_| {})).await;

    let task = task_id("a", 1);
    assert_eq!(
        second.calls(),
        [
            Call::CreditBalance,
            create("a"),
            poll(&task),
            download(&result_url(&task))
        ]
    );
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(
        batch.record_types(job(&jobs, "a")),
        [
            "intent",
            "not_created",
            "intent",
            "submitted",
            "finished",
            "downloaded"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn resume_polls_a_submitted_job_and_never_submits_it_again() {
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let first = ScriptedService::new();
    // Interrupted the moment its task id is known: the journal says submitted, nothing more.
    let outcome = batch
        .run_interrupted(&jobs, &first, options(|_| {}), submitted("a"))
        .await;
    assert_eq!(outcome.stop, Some(StopReason::Interrupted));
    assert_eq!(first.polled(), Vec::<String>::new());
    assert_eq!(batch.record_types(job(&jobs, "a")), ["intent", "submitted"]);
    assert_eq!(batch.history(job(&jobs, "a")).phase, Phase::Submitted);

    let second = ScriptedService::new();
    let outcome = batch.run(&jobs, &second, options(|_| {})).await;

    let task = task_id("a", 1);
    assert_eq!(second.calls(), [poll(&task), download(&result_url(&task))]);
    assert!(outcome_of(&outcome, "a").is_complete());
}

#[tokio::test(start_paused = true)]
async fn a_task_past_its_deadline_times_out_and_the_next_run_polls_it_again() {
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let task = task_id("a", 1);
    let timeout = Duration::from_secs(10 * 60);
    let first = ScriptedService::new();
    first.poll(&task, [Poll::Running]);

    let outcome = batch
        .run(&jobs, &first, options(|o| o.task_timeout = timeout))
        .await;

    assert_eq!(outcome.stop, None);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::TimedOut);
    assert_eq!(first.created(), ["a"]);
    let polls: Vec<Duration> = first
        .timeline()
        .into_iter()
        .filter(|entry| matches!(entry.what, Happened::Call(Call::RecordInfo { .. })))
        .map(|entry| entry.at)
        .collect();
    assert!(polls.len() >= 2, "polled while running: {polls:?}");
    assert!(
        polls.iter().all(|at| *at < timeout),
        "never polled past the deadline: {polls:?}"
    );
    assert!(first.timeline().iter().any(|entry| matches!(
        &entry.what,
        Happened::Event(RunEvent::TimedOut { id, .. }) if id.as_str() == "a"
    )));
    let a = job(&jobs, "a");
    assert_eq!(batch.record_types(a), ["intent", "submitted", "timed_out"]);
    assert_eq!(batch.history(a).phase, Phase::TimedOut);
    let submitted_at = batch.records_of_type(a, "submitted")[0]["at_ms"]
        .as_i64()
        .expect("at_ms");
    let timed_out_at = batch.records_of_type(a, "timed_out")[0]["at_ms"]
        .as_i64()
        .expect("at_ms");
    let waited = timed_out_at - submitted_at;
    assert!(
        (600_000..605_000).contains(&waited),
        "timed out {waited} ms after its submission, for a 10-minute deadline"
    );

    // The service finished it meanwhile: polled, never submitted again.
    let second = ScriptedService::new();
    let outcome = batch.run(&jobs, &second, options(|_| {})).await;

    assert_eq!(second.calls(), [poll(&task), download(&result_url(&task))]);
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(
        batch.record_types(a),
        ["intent", "submitted", "timed_out", "finished", "downloaded"]
    );
}

#[tokio::test(start_paused = true)]
async fn resume_makes_no_call_for_a_succeeded_job_whose_files_are_intact() {
    let batch = finished_batch(&["a", "b"]).await;
    let jobs = jobs(&["a", "b"]);
    let journal_before = batch.records(job(&jobs, "a")).len();

    for verify_files in [false, true] {
        let service = ScriptedService::new();
        let outcome = batch
            .run(&jobs, &service, options(|o| o.verify_files = verify_files))
            .await;

        assert_eq!(service.calls(), [], "verify_files: {verify_files}");
        assert!(outcome.jobs.iter().all(|job| job.is_complete()));
    }
    assert_eq!(batch.records(job(&jobs, "a")).len(), journal_before);
}

#[tokio::test(start_paused = true)]
async fn resume_downloads_a_missing_file_again_and_nothing_else() {
    let batch = finished_batch(&["a"]).await;
    let jobs = jobs(&["a"]);
    std::fs::remove_file(batch.file("a.mp4")).expect("the file is removed");

    let service = ScriptedService::new();
    let outcome = batch.run(&jobs, &service, options(|_| {})).await;

    let url = result_url(&task_id("a", 1));
    assert_eq!(service.calls(), [download(&url)]);
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(
        std::fs::read(batch.file("a.mp4")).expect("a.mp4 is back"),
        file_bytes(&url)
    );
    assert_eq!(
        batch.records_of_type(job(&jobs, "a"), "downloaded").len(),
        2
    );
    assert_file_matches_journal(&batch, "a");
}

#[tokio::test(start_paused = true)]
async fn resume_downloads_an_altered_file_again_and_nothing_else() {
    let batch = finished_batch(&["a"]).await;
    let jobs = jobs(&["a"]);
    let url = result_url(&task_id("a", 1));
    // Same size, other bytes: only its checksum tells it apart.
    let mut altered = file_bytes(&url);
    altered[0] ^= 0xff;
    std::fs::write(batch.file("a.mp4"), &altered).expect("the file is altered");

    let service = ScriptedService::new();
    let outcome = batch.run(&jobs, &service, options(|_| {})).await;

    assert_eq!(service.calls(), [download(&url)]);
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(
        std::fs::read(batch.file("a.mp4")).expect("a.mp4 is there"),
        file_bytes(&url)
    );
    assert_file_matches_journal(&batch, "a");
}

#[tokio::test(start_paused = true)]
async fn resume_asks_for_a_fresh_link_when_the_recorded_one_is_refused() {
    let batch = finished_batch(&["a"]).await;
    let jobs = jobs(&["a"]);
    std::fs::remove_file(batch.file("a.mp4")).expect("the file is removed");
    let url = result_url(&task_id("a", 1));

    let service = ScriptedService::new();
    service.fetch(&url, [Fetch::Refused]);
    let outcome = batch.run(&jobs, &service, options(|_| {})).await;

    assert_eq!(
        service.calls(),
        [
            download(&url),
            Call::DownloadUrl { url: url.clone() },
            download(&fresh_url(&url)),
        ]
    );
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(
        std::fs::read(batch.file("a.mp4")).expect("a.mp4 is back"),
        file_bytes(&fresh_url(&url))
    );
    assert_file_matches_journal(&batch, "a");
}

#[tokio::test(start_paused = true)]
async fn resume_leaves_a_failed_job_alone_unless_asked_to_retry_it() {
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let a = job(&jobs, "a");
    let first = ScriptedService::new();
    let moderation = "Your prompt was flagged by the content moderation system.";
    first.poll(
        &task_id("a", 1),
        [Poll::Fail {
            code: 501,
            msg: moderation,
        }],
    );
    let outcome = batch.run(&jobs, &first, options(|_| {})).await;
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Failed);
    assert_eq!(batch.record_types(a), ["intent", "submitted", "finished"]);
    assert_eq!(batch.history(a).phase, Phase::Failed);

    let second = ScriptedService::new();
    let outcome = batch.run(&jobs, &second, options(|_| {})).await;

    assert_eq!(second.calls(), []);
    let failed = outcome_of(&outcome, "a");
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.fail_msg.as_deref(), Some(moderation));

    let third = ScriptedService::new();
    let outcome = batch
        .run(&jobs, &third, options(|o| o.retry_failed = true))
        .await;

    assert_eq!(third.created(), ["a"]);
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(batch.history(a).intents, 2);
}

#[tokio::test(start_paused = true)]
async fn a_task_the_service_does_not_know_fails_its_job_and_is_never_resubmitted() {
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let a = job(&jobs, "a");
    let first = ScriptedService::new();
    // 422 `recordInfo is null`: the service has no such task.
    first.poll(&task_id("a", 1), [Poll::Error(ErrorKind::TaskUnknown)]);

    let outcome = batch.run(&jobs, &first, options(|_| {})).await;

    assert_eq!(first.created(), ["a"]);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Failed);
    assert_eq!(
        batch.record_types(a),
        ["intent", "submitted", "task_unknown"]
    );
    assert_eq!(batch.history(a).phase, Phase::TaskUnknown);

    let second = ScriptedService::new();
    let outcome = batch.run(&jobs, &second, options(|_| {})).await;

    assert_eq!(second.calls(), []);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Failed);
}

#[tokio::test(start_paused = true)]
async fn an_uncertain_create_task_is_never_sent_again_unless_the_user_asks() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let a = job(&jobs, "a");
    let first = ScriptedService::new();
    // Sent, and no answer came back: a task may exist and be charged.
    first.create("a", [Create::MayHaveBeenCreated(ErrorKind::Timeout)]);

    let outcome = batch.run(&jobs, &first, options(|_| {})).await;

    assert_eq!(outcome.stop, None);
    assert_eq!(first.created().iter().filter(|p| *p == "a").count(), 1);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Uncertain);
    assert!(first.timeline().iter().any(|entry| matches!(
        &entry.what,
        Happened::Event(RunEvent::Uncertain { id, .. }) if id.as_str() == "a"
    )));
    assert!(
        outcome_of(&outcome, "b").is_complete(),
        "the rest of the batch goes on"
    );
    assert_eq!(batch.record_types(a), ["intent", "uncertain"]);
    assert_eq!(batch.history(a).phase, Phase::Uncertain);

    let second = ScriptedService::new();
    let outcome = batch.run(&jobs, &second, options(|_| {})).await;

    assert_eq!(
        second.calls(),
        [],
        "nothing to do without resubmit_uncertain"
    );
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Uncertain);
    assert_eq!(batch.record_types(a), ["intent", "uncertain"]);

    let third = ScriptedService::new();
    let outcome = batch
        .run(&jobs, &third, options(|o| o.resubmit_uncertain = true))
        .await;

    assert_eq!(third.created(), ["a"]);
    assert!(outcome_of(&outcome, "a").is_complete());
    assert_eq!(batch.history(a).intents, 2);
}

#[tokio::test(start_paused = true)]
async fn resume_reports_a_job_gone_from_the_manifest_as_orphaned_and_keeps_its_files() {
    let batch = finished_batch(&["a", "b"]).await;
    let all = jobs(&["a", "b"]);
    let kept = std::fs::read(batch.file("b.mp4")).expect("b.mp4 is there");

    let service = ScriptedService::new();
    let outcome = batch.run(&jobs(&["a"]), &service, options(|_| {})).await;

    assert_eq!(service.calls(), []);
    assert_eq!(outcome.orphaned.len(), 1, "{:?}", outcome.orphaned);
    let orphan = &outcome.orphaned[0];
    assert_eq!(orphan.id.as_str(), "b");
    assert_eq!(orphan.key, job(&all, "b").key);
    assert_eq!(orphan.task_id, Some(TaskId::new(task_id("b", 1))));
    assert_eq!(orphan.files, ["b.mp4"]);
    assert_eq!(
        std::fs::read(batch.file("b.mp4")).expect("b.mp4 is kept"),
        kept
    );
}

#[tokio::test(start_paused = true)]
async fn resume_submits_a_job_new_to_the_manifest_and_only_that_one() {
    let batch = finished_batch(&["a"]).await;

    let service = ScriptedService::new();
    let outcome = batch
        .run(&jobs(&["a", "n"]), &service, options(|_| {}))
        .await;

    let task = task_id("n", 1);
    assert_eq!(
        service.calls(),
        [
            Call::CreditBalance,
            create("n"),
            poll(&task),
            download(&result_url(&task))
        ]
    );
    assert!(outcome.jobs.iter().all(|job| job.is_complete()));
}
