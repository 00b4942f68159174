//! What stops a run, and what it still does then: the spending cap, a refused key (401), an
//! exhausted account (402, 433), a misconfigured way to the service (certificate, proxy,
//! DNS, a refused connection), a full disk.
//!
//! Read `mod.rs` for [`Batch`] and `crate::scripted` for the service's scripts first. Each
//! test asserts on the calls the service received (which jobs were sent, what was polled or
//! downloaded after the run learned why it must stop) and on the journal's records.

use sora_batch_api::{CertificateProblem, ErrorKind, Misconfiguration};
use sora_batch_engine::job::{Credits, JobState};
use sora_batch_engine::journal::Phase;
use sora_batch_engine::run::StopReason;

use super::{Batch, LONG_DEADLINE, job, jobs, options, outcome_of, sha256_hex};
use crate::scripted::{
    Call, Create, Fetch, Poll, ScriptedService, download_failed, file_bytes, not_submitted,
    result_url, submissions_stopped, submitted, task_id,
};

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test(start_paused = true)]
async fn the_spending_cap_lets_through_only_the_jobs_it_covers() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b", "c", "d", "e"]);
    assert!(
        jobs.iter()
            .all(|job| job.estimated_credits == Some(Credits(30.0))),
        "the built-in price of a 10-second clip is what the cap counts here"
    );
    let service = ScriptedService::new();

    // Room for all five at once: only the cap can hold any back.
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

    assert_eq!(sorted(service.created()), ["a", "b", "c"]);
    assert_eq!(
        outcome.stop,
        Some(StopReason::SpendingCap {
            max_credits: Credits(100.0),
            committed: Credits(90.0),
            next: Credits(30.0),
        })
    );
    for id in ["a", "b", "c"] {
        assert_eq!(
            batch.record_types(job(&jobs, id)),
            ["intent", "submitted", "finished", "downloaded"],
            "{id}"
        );
        assert!(outcome_of(&outcome, id).is_complete(), "{id}");
    }
    for id in ["d", "e"] {
        assert!(!batch.knows(job(&jobs, id)), "{id} was never sent");
        assert_eq!(outcome_of(&outcome, id).state, JobState::Pending);
    }
}

#[tokio::test(start_paused = true)]
async fn the_spending_cap_counts_what_tasks_really_cost_not_their_estimates() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b", "c", "d"]);
    let service = ScriptedService::new();
    // Estimated at 30, charged 50: after two tasks 100 is spent, though 60 was estimated.
    for id in ["a", "b", "c", "d"] {
        service.poll(&task_id(id, 1), [Poll::Succeed { credits: 50.0 }]);
    }

    // One at a time, so each submission is decided knowing the charges before it.
    let outcome = batch
        .run(
            &jobs,
            &service,
            options(|o| {
                o.max_credits = Some(Credits(100.0));
                o.concurrency = 1;
            }),
        )
        .await;

    assert_eq!(service.created(), ["a", "b"]);
    assert_eq!(
        outcome.stop,
        Some(StopReason::SpendingCap {
            max_credits: Credits(100.0),
            committed: Credits(100.0),
            // a's charge prices the jobs like it: c is estimated at 50, not its price of 30.
            next: Credits(50.0),
        })
    );
    for id in ["a", "b"] {
        let finished = batch.records_of_type(job(&jobs, id), "finished");
        assert_eq!(finished.len(), 1, "{id}");
        assert_eq!(finished[0]["credits"], 50.0, "{id}: the charge is recorded");
    }
    for id in ["c", "d"] {
        assert!(!batch.knows(job(&jobs, id)), "{id} was never sent");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_key_on_create_task_stops_every_call_at_once() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let service = ScriptedService::new();
    // `a`'s task runs on: a run that kept going would poll it again and again.
    service.poll(&task_id("a", 1), [Poll::Running]);
    // Answered once `a` is submitted, so that the 401 meets a task in flight.
    service.create(
        "b",
        [Create::After(
            submitted("a"),
            Box::new(Create::NotCreated(ErrorKind::Unauthorized)),
        )],
    );

    let outcome = batch
        .run(&jobs, &service, options(|o| o.task_timeout = LONG_DEADLINE))
        .await;

    assert_eq!(sorted(service.created()), ["a", "b"], "no retry of b");
    assert_eq!(
        service.calls_later_than(&not_submitted("b")),
        [],
        "nothing is sent once the 401 is known"
    );
    match &outcome.stop {
        Some(StopReason::Unauthorized { message }) => assert!(message.contains("401"), "{message}"),
        other => panic!("expected a stop for the refused key, got {other:?}"),
    }
    let b = job(&jobs, "b");
    assert_eq!(batch.record_types(b), ["intent", "not_created"]);
    assert_eq!(
        batch.records_of_type(b, "not_created")[0]["job_failed"],
        false,
        "the key was refused, not the job"
    );
    assert_eq!(batch.history(b).phase, Phase::Pending);
    assert_eq!(outcome_of(&outcome, "b").state, JobState::Pending);
    assert_eq!(batch.record_types(job(&jobs, "a")), ["intent", "submitted"]);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Running);
}

#[tokio::test(start_paused = true)]
async fn insufficient_credits_stop_submissions_and_tasks_in_flight_are_still_collected() {
    exhausted_account_stops_submissions_only(ErrorKind::InsufficientCredits, "402").await;
}

#[tokio::test(start_paused = true)]
async fn a_reached_usage_cap_stops_submissions_and_tasks_in_flight_are_still_collected() {
    exhausted_account_stops_submissions_only(ErrorKind::UsageCapReached, "433").await;
}

/// Three jobs sent at once, the third refused with `kind`: the fourth is never sent, and the
/// first two, still running when the refusal comes, are polled to the end and downloaded.
async fn exhausted_account_stops_submissions_only(kind: ErrorKind, code: &str) {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b", "c", "d"]);
    let service = ScriptedService::new();
    for id in ["a", "b"] {
        service.poll(
            &task_id(id, 1),
            [
                Poll::RunningUntil(submissions_stopped()),
                Poll::Succeed { credits: 30.0 },
            ],
        );
    }
    service.create("c", [Create::NotCreated(kind)]);

    let outcome = batch
        .run(
            &jobs,
            &service,
            options(|o| {
                o.concurrency = 3;
                o.task_timeout = LONG_DEADLINE;
            }),
        )
        .await;

    assert_eq!(sorted(service.created()), ["a", "b", "c"]);
    let later = service.calls_later_than(&submissions_stopped());
    assert!(
        !later
            .iter()
            .any(|call| matches!(call, Call::CreateTask { .. })),
        "no createTask after the {code}: {later:?}"
    );
    let after = service.calls_after(&submissions_stopped());
    for id in ["a", "b"] {
        // Its task was running until the stop: the poll that saw it succeed came after.
        let task = task_id(id, 1);
        assert!(
            after.contains(&Call::RecordInfo {
                task_id: task.clone()
            }),
            "{id} is polled after the {code}: {after:?}"
        );
        assert!(
            after.contains(&Call::Download {
                url: result_url(&task)
            }),
            "{id} is downloaded after the {code}: {after:?}"
        );
        assert_eq!(
            batch.record_types(job(&jobs, id)),
            ["intent", "submitted", "finished", "downloaded"],
            "{id}"
        );
        assert!(outcome_of(&outcome, id).is_complete(), "{id}");
    }
    match &outcome.stop {
        Some(StopReason::AccountExhausted { message }) => {
            assert!(message.contains(code), "{message}");
        }
        other => panic!("expected a stop for the exhausted account, got {other:?}"),
    }
    let c = job(&jobs, "c");
    assert_eq!(batch.record_types(c), ["intent", "not_created"]);
    assert_eq!(batch.history(c).phase, Phase::Pending);
    assert_eq!(outcome_of(&outcome, "c").state, JobState::Pending);
    assert!(!batch.knows(job(&jobs, "d")), "d was never sent");
    assert_eq!(outcome_of(&outcome, "d").state, JobState::Pending);
}

#[tokio::test(start_paused = true)]
async fn a_full_disk_stops_the_run_and_the_next_run_downloads_without_paying_again() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let url_a = result_url(&task_id("a", 1));
    let url_b = result_url(&task_id("b", 1));
    let service = ScriptedService::new();
    // `a` succeeds once `b` is submitted, so that both are paid for when the disk fills;
    // `b` runs on, so that a run that went on would poll it again.
    service.poll(
        &task_id("a", 1),
        [
            Poll::RunningUntil(submitted("b")),
            Poll::Succeed { credits: 30.0 },
        ],
    );
    service.poll(&task_id("b", 1), [Poll::Running]);
    service.fetch(
        &url_a,
        [Fetch::DiskFull {
            written: b"the first bytes of a".to_vec(),
        }],
    );

    let outcome = batch
        .run(&jobs, &service, options(|o| o.task_timeout = LONG_DEADLINE))
        .await;

    match &outcome.stop {
        Some(StopReason::LocalFailure {
            path,
            kind,
            message,
        }) => {
            assert_eq!(path, &batch.file("a.mp4"));
            assert_eq!(*kind, Some(std::io::ErrorKind::StorageFull));
            assert!(message.contains("No space left on device"), "{message}");
        }
        other => panic!("expected a stop for the full disk, got {other:?}"),
    }
    assert_eq!(sorted(service.created()), ["a", "b"]);
    assert_eq!(
        service.calls_later_than(&download_failed("a")),
        [],
        "nothing is sent once the disk is full: b is not polled again"
    );
    assert!(
        !batch.file("a.mp4").exists(),
        "no file under the final name"
    );
    assert_eq!(batch.partial_files(), Vec::<String>::new());
    assert_eq!(
        batch.record_types(job(&jobs, "a")),
        ["intent", "submitted", "finished"],
        "no downloaded record for a file that is not there"
    );
    assert_eq!(batch.record_types(job(&jobs, "b")), ["intent", "submitted"]);
    assert!(!outcome_of(&outcome, "a").is_complete());

    // Space again: the next run fetches what was paid for, and pays for nothing.
    let healthy = ScriptedService::new();
    let outcome = batch.run(&jobs, &healthy, options(|_| {})).await;

    assert_eq!(healthy.created(), Vec::<String>::new());
    assert_eq!(healthy.polled(), [task_id("b", 1)]);
    assert_eq!(sorted(healthy.downloaded()), [url_a.clone(), url_b]);
    assert_eq!(outcome.stop, None);
    for id in ["a", "b"] {
        assert!(outcome_of(&outcome, id).is_complete(), "{id}");
    }
    let bytes = std::fs::read(batch.file("a.mp4")).expect("a.mp4 is there now");
    assert_eq!(bytes, file_bytes(&url_a));
    let downloaded = batch.records_of_type(job(&jobs, "a"), "downloaded");
    assert_eq!(downloaded.len(), 1);
    assert_eq!(downloaded[0]["sha256"], sha256_hex(&bytes));
    assert_eq!(downloaded[0]["bytes"], bytes.len());
}

fn refused_connection() -> ErrorKind {
    ErrorKind::Misconfigured(Misconfiguration::ConnectionRefused {
        host: "api.kie.ai".into(),
        port: 443,
    })
}

fn untrusted_certificate() -> ErrorKind {
    ErrorKind::Misconfigured(Misconfiguration::Certificate {
        host: "api.kie.ai".into(),
        problem: CertificateProblem::UnknownIssuer,
    })
}

fn misconfiguration_message(stop: Option<&StopReason>) -> &str {
    match stop {
        Some(StopReason::Misconfigured { message }) => message,
        other => panic!("expected a stop for the misconfiguration, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_misconfigured_way_to_the_service_stops_the_run_before_anything_is_sent() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let service = ScriptedService::new();
    service.fail_balance(refused_connection());

    let outcome = batch.run(&jobs, &service, options(|_| {})).await;

    assert_eq!(
        service.calls(),
        [Call::CreditBalance],
        "the first call only"
    );
    let message = misconfiguration_message(outcome.stop.as_ref());
    assert!(message.contains("refused the connection"), "{message}");
    for id in ["a", "b"] {
        assert!(!batch.knows(job(&jobs, id)), "{id} was never sent");
        assert_eq!(outcome_of(&outcome, id).state, JobState::Pending);
    }
}

#[tokio::test(start_paused = true)]
async fn a_certificate_refused_on_create_task_stops_every_call_at_once() {
    let batch = Batch::new();
    let jobs = jobs(&["a", "b"]);
    let service = ScriptedService::new();
    service.poll(&task_id("a", 1), [Poll::Running]);
    service.create(
        "b",
        [Create::After(
            submitted("a"),
            Box::new(Create::NotCreated(untrusted_certificate())),
        )],
    );

    let outcome = batch
        .run(&jobs, &service, options(|o| o.task_timeout = LONG_DEADLINE))
        .await;

    assert_eq!(sorted(service.created()), ["a", "b"], "no retry of b");
    assert_eq!(
        service.calls_later_than(&not_submitted("b")),
        [],
        "nothing is sent once the certificate is refused"
    );
    let message = misconfiguration_message(outcome.stop.as_ref());
    assert!(message.contains("unknown issuer"), "{message}");
    let b = job(&jobs, "b");
    assert_eq!(batch.record_types(b), ["intent", "not_created"]);
    assert_eq!(outcome_of(&outcome, "b").state, JobState::Pending);
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Running);
}

#[tokio::test(start_paused = true)]
async fn a_misconfiguration_met_while_polling_stops_the_run_and_a_passing_failure_does_not() {
    // A connection that failed after the host had answered: the task is polled again.
    let batch = Batch::new();
    let jobs = jobs(&["a"]);
    let service = ScriptedService::new();
    service.poll(
        &task_id("a", 1),
        [
            Poll::Error(ErrorKind::Connection),
            Poll::Succeed { credits: 30.0 },
        ],
    );
    let outcome = batch.run(&jobs, &service, options(|_| {})).await;
    assert_eq!(outcome.stop, None);
    assert!(outcome_of(&outcome, "a").is_complete());

    // A certificate refused while polling: nothing more is asked.
    let batch = Batch::new();
    let service = ScriptedService::new();
    service.poll(&task_id("a", 1), [Poll::Error(untrusted_certificate())]);
    let outcome = batch
        .run(&jobs, &service, options(|o| o.task_timeout = LONG_DEADLINE))
        .await;
    misconfiguration_message(outcome.stop.as_ref());
    assert_eq!(service.polled(), [task_id("a", 1)], "polled once");
    assert_eq!(outcome_of(&outcome, "a").state, JobState::Running);
}
