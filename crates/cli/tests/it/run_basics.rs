//! `sora-batch run` end to end, the plain cases: the seed example's exact body, concurrency
//! and rate limits, the missing key, and what `status` and `task` show after a run.
//!
//! Every test runs the built binary against a [`FakeKie`] in this process and asserts on the
//! fake's request log and on the batch folder; helpers are in [`crate::run_support`].

use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Schedule};

use crate::run_support::{
    Harness, fast_run, manifest_with_jobs, numbered_jobs, parse_json, quick_schedule, read,
    sha256_hex,
};
use crate::support::repository_root;

#[test]
fn the_seed_example_sends_the_vendor_pages_exact_body_and_its_video_lands_complete() {
    let harness = Harness::start(FakeKie::builder());
    let classroom =
        String::from_utf8_lossy(&read(&repository_root().join("manifests/classroom.yaml")))
            .into_owned();
    // The same job, on a fast clock.
    harness.write_manifest(&format!("{}\n{}", classroom.trim_end(), fast_run(1, "30s")));

    harness.run(&[]).assert_code(0, "the seed example");

    let log = harness.fake.log();
    let expected = parse_json(
        &read(&repository_root().join("fixtures/api/seed-create-task-request.json")),
        "the seed page's request",
    );
    assert_eq!(log.create_task_bodies(), vec![expected]);
    assert_eq!(log.tasks_created(), 1);
    harness.assert_all_videos_complete(1);

    let report = harness.report();
    let job = &report["jobs"][0];
    assert_eq!(job["id"], "professor");
    assert_eq!(job["files"][0]["path"], "professor.mp4");
    let Some(task_id) = job["task_id"].as_str() else {
        panic!("no task id in {report:#}");
    };
    let bytes = read(&harness.out().join("professor.mp4"));
    assert_eq!(bytes, harness.fake.expected_file_bytes(task_id, 0));
    assert_eq!(job["files"][0]["sha256"], sha256_hex(&bytes));
    assert!(log.unexpected().is_empty(), "{:#?}", log.unexpected());
    assert!(!log.authorization_sent_to_files());
}

#[test]
fn never_more_tasks_in_flight_than_the_concurrency() {
    let harness = Harness::start(FakeKie::builder().schedule(Schedule::Polls {
        waiting: 1,
        queuing: 1,
        generating: 2,
    }));
    let jobs = numbered_jobs(12);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));

    harness.run(&[]).assert_code(0, "12 jobs, 3 at a time");

    let log = harness.fake.log();
    assert!(
        log.max_in_flight() <= 3,
        "{} tasks in flight at once",
        log.max_in_flight()
    );
    assert!(log.max_in_flight() >= 2, "the run did work concurrently");
    harness.assert_each_prompt_created_once(12);
    harness.assert_all_videos_complete(12);
}

#[test]
fn the_concurrency_flag_overrides_the_manifest() {
    let harness = Harness::start(FakeKie::builder().schedule(Schedule::Polls {
        waiting: 1,
        queuing: 0,
        generating: 2,
    }));
    let jobs = numbered_jobs(6);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(6, "30s")));

    harness
        .run(&["--concurrency", "1"])
        .assert_code(0, "--concurrency 1");

    assert_eq!(harness.fake.log().max_in_flight(), 1);
    harness.assert_each_prompt_created_once(6);
}

#[test]
fn under_the_services_rate_limits_everything_completes_and_nothing_is_submitted_twice() {
    // The manifest's client-side limits (20 createTask per s, 50 recordInfo per s) are
    // above the fake's, so the service's 429s really happen.
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(quick_schedule())
            .rate_limit(Endpoint::CreateTask, 5, Duration::from_millis(500))
            .rate_limit(Endpoint::RecordInfo, 10, Duration::from_millis(500)),
    );
    let jobs = numbered_jobs(16);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(8, "30s")));

    harness.run(&[]).assert_code(0, "rate-limited batch");

    let log = harness.fake.log();
    assert!(
        log.rate_limited() > 0,
        "the fake's rate limit was never hit"
    );
    harness.assert_each_prompt_created_once(16);
    harness.assert_all_videos_complete(16);
}

#[test]
fn a_missing_api_key_exits_2_naming_the_variable_and_sends_nothing() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));

    let mut command = harness.run_command(&[]);
    command.env_remove("KIE_API_KEY");
    let finished = Harness::finish(command);

    finished.assert_code(2, "no KIE_API_KEY");
    assert!(
        finished.stderr.contains("KIE_API_KEY"),
        "stderr: {}",
        finished.stderr
    );
    assert!(harness.fake.log().requests().is_empty());

    // An empty value is no key either.
    let mut command = harness.run_command(&[]);
    command.env("KIE_API_KEY", "");
    Harness::finish(command).assert_code(2, "an empty KIE_API_KEY");
    assert!(harness.fake.log().requests().is_empty());
}

#[test]
fn status_shows_the_states_from_the_journal_without_the_network() {
    let harness = Harness::start(FakeKie::builder().fail_prompts_containing(
        "number 3 ",
        "400",
        "Content moderation",
    ));
    let jobs = numbered_jobs(3);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));

    // Before any run (an empty batch folder, as a fresh CI cache restores it): everything
    // pending, and the status command needs no key. A folder that is not there at all is a
    // typo (see `help.rs`).
    std::fs::create_dir_all(harness.out()).unwrap_or_else(|e| panic!("{e}"));
    let mut command = harness.command(&["status"]);
    command
        .arg(harness.manifest_path())
        .arg("--out")
        .arg(harness.out())
        .arg("--json")
        .env_remove("KIE_API_KEY");
    let before = Harness::finish(command);
    before.assert_code(0, "status before the run");
    let before = parse_json(&before.stdout_bytes, "status --json");
    assert_eq!(before["summary"]["pending"], 3);

    harness
        .run(&[])
        .assert_code(1, "a batch with one failed job");
    let requests_after_run = harness.fake.log().requests().len();

    let status = harness.status_json();
    assert_eq!(harness.fake.log().requests().len(), requests_after_run);
    assert_eq!(status["summary"]["total"], 3);
    assert_eq!(status["summary"]["succeeded"], 2);
    assert_eq!(status["summary"]["failed"], 1);
    let states: Vec<(String, String)> = status["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|job| {
            (
                job["id"].as_str().unwrap_or_default().to_owned(),
                job["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            ("job-01".to_owned(), "succeeded".to_owned()),
            ("job-02".to_owned(), "succeeded".to_owned()),
            ("job-03".to_owned(), "failed".to_owned()),
        ]
    );
    let failed = &status["jobs"][2];
    assert_eq!(failed["fail_msg"], "Content moderation");
    // status agrees with the run's own report on every job.
    assert_eq!(status["jobs"], harness.report()["jobs"]);
}

#[test]
fn task_prints_the_services_record_of_one_task() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(1), &fast_run(1, "30s")));
    harness.run(&[]).assert_code(0, "one job");
    let task_id = harness
        .fake
        .task_ids()
        .into_iter()
        .next()
        .unwrap_or_default();
    let before = harness.fake.log().requests().len();

    let json = Harness::finish(harness.command(&["task", &task_id, "--json"]));
    json.assert_code(0, "task --json");
    let record = parse_json(&json.stdout_bytes, "task --json");
    assert_eq!(record["taskId"], task_id.as_str());
    assert_eq!(record["state"], "success");

    let readable = Harness::finish(harness.command(&["task", &task_id]));
    readable.assert_code(0, "task");
    assert!(readable.stdout.contains(&task_id), "{}", readable.stdout);
    assert!(readable.stdout.contains("success"), "{}", readable.stdout);

    // One recordInfo each, nothing else.
    let log = harness.fake.log();
    let new: Vec<_> = log.requests()[before..].iter().collect();
    assert_eq!(new.len(), 2, "{new:#?}");
    assert!(
        new.iter()
            .all(|request| request.endpoint == Some(Endpoint::RecordInfo))
    );
}

#[test]
fn the_client_side_limits_keep_the_run_under_the_services_limits() {
    // The service allows 5 createTask and 10 recordInfo per 500 ms; the manifest asks the
    // client for 4 and 8, the same margins as the defaults (18 and 8 against 20 and 10).
    // A burst let through at a window's start reaches the service a varying time later (a
    // createTask only after its intent's fsync): the limiters must allow for that.
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(Schedule::Polls {
                waiting: 1,
                queuing: 1,
                generating: 1,
            })
            .rate_limit(Endpoint::CreateTask, 5, Duration::from_millis(500))
            .rate_limit(Endpoint::RecordInfo, 10, Duration::from_millis(500)),
    );
    let run_section = fast_run(8, "30s")
        .replace(
            "create_limit: {requests: 20, per: 1s}",
            "create_limit: {requests: 4, per: 500ms}",
        )
        .replace(
            "poll_limit: {requests: 50, per: 1s}",
            "poll_limit: {requests: 8, per: 500ms}",
        );
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(12), &run_section));

    harness.run(&[]).assert_code(0, "a batch inside the limits");

    let log = harness.fake.log();
    let refused: Vec<_> = log
        .requests()
        .iter()
        .filter(|request| request.status == 429)
        .map(|request| request.endpoint)
        .collect();
    assert!(
        refused.is_empty(),
        "the service refused requests: {refused:?}"
    );
    harness.assert_each_prompt_created_once(12);
    harness.assert_all_videos_complete(12);
}

#[test]
fn without_out_the_batch_folder_is_beside_the_manifest_and_a_second_run_resumes_there() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    let run = || {
        let mut command = harness.command(&["run"]);
        command.arg(harness.manifest_path());
        Harness::finish(command)
    };
    run().assert_code(0, "both jobs succeed");
    let folder = harness.dir.path().join("out").join("e2e");
    assert!(folder.join("job-01.mp4").is_file() && folder.join("job-02.mp4").is_file());
    let created = harness.fake.log().tasks_created();
    assert_eq!(created, 2);

    run().assert_code(0, "nothing left to do");
    assert_eq!(
        harness.fake.log().tasks_created(),
        created,
        "the second run found the first one's journal"
    );
}

#[test]
fn a_broken_manifest_over_an_existing_batch_folder_changes_nothing_in_it() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(1), &fast_run(1, "30s")));
    harness.run(&[]).assert_code(0, "the job succeeds");
    let journal_before = read(&harness.out().join("journal.jsonl"));

    // The folder exists, so the run locks it and reads its journal while the manifest
    // loads; the manifest's error still ends the run before anything is sent or written.
    harness.write_manifest("version: 1\nname: e2e\njobs: [{prompt: 42}]\nmodle: x\n");
    let finished = harness.run(&[]);
    finished.assert_code(2, "the manifest is broken");
    assert_eq!(read(&harness.out().join("journal.jsonl")), journal_before);
    assert_eq!(harness.fake.log().tasks_created(), 1);
}
