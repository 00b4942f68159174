//! `sora-batch run` again on the same batch folder: only what is left is done. A finished
//! batch costs zero requests; an edited prompt one new task; a deleted, altered or expired
//! video is fetched again without a new task; a timed-out task and a batch stopped by the
//! account (402) are collected by the next run without paying twice.

use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Fault, Schedule, Times};

use crate::run_support::{
    Harness, fast_run, file_names, manifest_with_jobs, numbered_jobs, quick_schedule, read,
    sha256_hex, write,
};

#[test]
fn a_finished_batch_run_again_makes_zero_requests() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(4), &fast_run(2, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let after_first = harness.fake.log().requests().len();
    let report_before = harness.report();

    let again = harness.run(&[]);

    again.assert_code(0, "second run");
    assert_eq!(
        harness.fake.log().requests().len(),
        after_first,
        "the second run sent requests: {:#?}",
        &harness.fake.log().requests()[after_first..]
    );
    assert_eq!(harness.report()["jobs"], report_before["jobs"]);
    harness.assert_all_videos_complete(4);
}

#[test]
fn an_edited_prompt_makes_exactly_one_new_task() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    let mut jobs = numbered_jobs(3);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let created_before = harness.fake.log().tasks_created();
    assert_eq!(created_before, 3);

    jobs[1].1 = "A paper boat made of newspaper drifts down a sunny street".to_owned();
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "run after the edit");

    let log = harness.fake.log();
    let bodies = log.create_task_bodies();
    assert_eq!(bodies.len(), 4, "one new createTask: {bodies:#?}");
    assert_eq!(
        bodies[3]["input"]["prompt"],
        "A paper boat made of newspaper drifts down a sunny street"
    );
    assert_eq!(log.tasks_created(), 4);
    harness.assert_all_videos_complete(3);
    // The edited job's old video is an orphan's: reported, and kept.
    let report = harness.report();
    let orphaned = report["orphaned"].as_array().cloned().unwrap_or_default();
    assert_eq!(orphaned.len(), 1, "{report:#}");
}

#[test]
fn a_deleted_or_altered_video_is_fetched_again_without_a_new_task() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(3), &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let before = harness.fake.log();

    std::fs::remove_file(harness.out().join("job-01.mp4")).unwrap_or_else(|e| panic!("{e}"));
    let altered_path = harness.out().join("job-02.mp4");
    let mut altered = read(&altered_path);
    altered[100] ^= 0xff;
    write(&altered_path, &altered);

    harness.run(&[]).assert_code(0, "run after the damage");

    let log = harness.fake.log();
    let new = &log.requests()[before.requests().len()..];
    assert_eq!(
        log.count(Endpoint::CreateTask),
        before.count(Endpoint::CreateTask)
    );
    assert_eq!(
        log.count(Endpoint::RecordInfo),
        before.count(Endpoint::RecordInfo)
    );
    assert_eq!(
        new.iter()
            .filter(|request| request.endpoint == Some(Endpoint::Files))
            .count(),
        2,
        "{new:#?}"
    );
    assert_eq!(new.len(), 2, "only the two files: {new:#?}");
    harness.assert_all_videos_complete(3);
}

#[test]
fn an_expired_result_url_is_replaced_through_download_url() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let before = harness.fake.log();
    harness.fake.expire_result_urls();
    std::fs::remove_file(harness.out().join("job-02.mp4")).unwrap_or_else(|e| panic!("{e}"));

    harness
        .run(&[])
        .assert_code(0, "run after the link expired");

    let log = harness.fake.log();
    assert_eq!(log.count(Endpoint::DownloadUrl), 1);
    assert_eq!(
        log.count(Endpoint::CreateTask),
        before.count(Endpoint::CreateTask)
    );
    assert_eq!(
        log.count(Endpoint::RecordInfo),
        before.count(Endpoint::RecordInfo)
    );
    harness.assert_all_videos_complete(2);
    assert!(!log.authorization_sent_to_files());
}

#[test]
fn a_task_past_its_deadline_exits_5_and_the_next_run_collects_it_without_resubmitting() {
    // Each task takes 1.5 s on the service; the first run allows 200 ms.
    let harness = Harness::start(FakeKie::builder().schedule(Schedule::Elapsed {
        waiting: Duration::from_millis(50),
        queuing: Duration::from_millis(50),
        total: Duration::from_millis(1500),
    }));
    let jobs = numbered_jobs(2);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(2, "200ms")));

    let first = harness.run(&[]);

    first.assert_code(5, "tasks past their deadline");
    let report = harness.report();
    assert_eq!(report["summary"]["timed_out"], 2, "{report:#}");
    assert!(
        first.stderr.contains("run the same command again"),
        "{}",
        first.stderr
    );
    assert_eq!(harness.fake.log().tasks_created(), 2);
    let journal = harness.journal();
    assert_eq!(
        journal
            .iter()
            .filter(|record| record["type"] == "timed_out")
            .count(),
        2
    );

    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(2, "30s")));
    harness
        .run(&[])
        .assert_code(0, "the next run, with time enough");

    let log = harness.fake.log();
    assert_eq!(
        log.count(Endpoint::CreateTask),
        2,
        "no task was resubmitted"
    );
    harness.assert_each_prompt_created_once(2);
    harness.assert_all_videos_complete(2);
}

#[test]
fn insufficient_credits_mid_batch_exit_3_finish_the_tasks_in_flight_and_a_top_up_completes_the_rest()
 {
    // Credits for two tasks; the third createTask meets a 402.
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(Schedule::Polls {
                waiting: 1,
                queuing: 1,
                generating: 1,
            })
            .price_per_task(30.0)
            .credits(60.0),
    );
    let jobs = numbered_jobs(5);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));

    let first = harness.run(&[]);

    first.assert_code(3, "out of credits");
    let log = harness.fake.log();
    assert_eq!(log.tasks_created(), 2);
    assert_eq!(
        log.answered_code(402),
        1,
        "one 402, then no more submissions"
    );
    let report = harness.report();
    assert_eq!(report["summary"]["succeeded"], 2, "{report:#}");
    assert_eq!(report["summary"]["pending"], 3, "{report:#}");
    // The two tasks in flight were finished and downloaded.
    for job in report["jobs"].as_array().into_iter().flatten() {
        if job["state"] == "succeeded" {
            let task_id = job["task_id"].as_str().unwrap_or_default();
            let path = job["files"][0]["path"].as_str().unwrap_or_default();
            let bytes = read(&harness.out().join(path));
            assert_eq!(bytes, harness.fake.expected_file_bytes(task_id, 0));
            assert_eq!(job["files"][0]["sha256"], sha256_hex(&bytes));
        }
    }

    harness.fake.set_credits(1_000.0);
    harness.run(&[]).assert_code(0, "after the top-up");

    harness.assert_each_prompt_created_once(5);
    harness.assert_all_videos_complete(5);
}

#[test]
fn a_paid_video_the_file_host_refuses_is_fetched_by_the_next_run_without_a_new_task() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness.fake.inject(
        Endpoint::Files,
        Fault::NonJson {
            status: 503,
            body: "<html>503</html>".to_owned(),
        },
        Times::Always,
    );

    let first = harness.run(&[]);

    first.assert_code(5, "succeeded but not downloaded");
    assert!(first.stderr.contains("not downloaded"), "{}", first.stderr);
    let report = harness.report();
    assert_eq!(report["summary"]["succeeded"], 2, "{report:#}");
    assert!(
        file_names(&harness.out())
            .iter()
            .all(|name| !name.ends_with(".mp4") && !name.ends_with(".partial")),
        "{:?}",
        file_names(&harness.out())
    );
    let before = harness.fake.log();

    harness.fake.clear_faults();
    harness.run(&[]).assert_code(0, "the file host is back");

    let log = harness.fake.log();
    assert_eq!(log.count(Endpoint::CreateTask), 2);
    assert_eq!(
        log.count(Endpoint::RecordInfo),
        before.count(Endpoint::RecordInfo)
    );
    harness.assert_all_videos_complete(2);
}

#[test]
fn every_result_url_of_a_task_becomes_a_numbered_file() {
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(quick_schedule())
            .result_urls_per_task(2),
    );
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness.run(&[]).assert_code(0, "two files per task");
    let names: Vec<String> = file_names(&harness.out())
        .into_iter()
        .filter(|name| name.ends_with(".mp4"))
        .collect();
    assert_eq!(
        names,
        ["job-01-2.mp4", "job-01.mp4", "job-02-2.mp4", "job-02.mp4"]
    );
    harness.assert_all_videos_complete(2);

    // The second file of one job goes missing: only it is fetched again.
    let before = harness.fake.log().requests().len();
    std::fs::remove_file(harness.out().join("job-02-2.mp4")).unwrap_or_else(|e| panic!("{e}"));
    harness.run(&[]).assert_code(0, "run after the loss");
    let log = harness.fake.log();
    let new = &log.requests()[before..];
    assert_eq!(new.len(), 1, "{new:#?}");
    assert_eq!(new[0].endpoint, Some(Endpoint::Files));
    harness.assert_all_videos_complete(2);
}

#[test]
fn a_job_dropped_from_the_manifest_is_reported_orphaned_and_its_file_kept() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    let mut jobs = numbered_jobs(3);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let before = harness.fake.log().requests().len();

    jobs.remove(0);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "run without job-01");

    assert_eq!(harness.fake.log().requests().len(), before);
    let report = harness.report();
    assert_eq!(report["summary"]["total"], 2, "{report:#}");
    assert_eq!(report["orphaned"][0]["id"], "job-01", "{report:#}");
    assert!(harness.out().join("job-01.mp4").exists());
}

#[test]
fn a_failed_job_is_resubmitted_only_with_retry_failed() {
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(quick_schedule())
            .fail_prompts_containing("number 2 ", "400", "Content moderation"),
    );
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));

    let first = harness.run(&[]);
    first.assert_code(1, "one job failed");
    let report = harness.report();
    assert_eq!(report["jobs"][1]["state"], "failed");
    assert_eq!(report["jobs"][1]["fail_msg"], "Content moderation");
    assert_eq!(report["jobs"][1]["fail_code"], "400");

    let before = harness.fake.log().requests().len();
    harness.run(&[]).assert_code(1, "the same command again");
    assert_eq!(
        harness.fake.log().requests().len(),
        before,
        "nothing resubmitted"
    );

    harness
        .run(&["--retry-failed"])
        .assert_code(1, "resubmitted; fails again");
    let per_prompt = harness.fake.log().created_per_prompt();
    let counts: Vec<usize> = per_prompt.values().copied().collect();
    assert_eq!(counts, [1, 2], "{per_prompt:#?}");
}

#[test]
fn a_file_with_its_recorded_size_and_time_is_trusted_unless_verify_files_is_given() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(1), &fast_run(1, "30s")));
    harness.run(&[]).assert_code(0, "the job succeeds");
    let video = harness.out().join("job-01.mp4");
    let original = read(&video);
    let recorded_time = std::fs::metadata(&video)
        .and_then(|metadata| metadata.modified())
        .expect("a modification time");

    // Same size, other bytes, and the recorded time put back (as `cp -p` of another file
    // with that very time would): only hashing can tell.
    let mut altered = original.clone();
    for byte in &mut altered {
        *byte = byte.wrapping_add(1);
    }
    write(&video, &altered);
    std::fs::File::options()
        .write(true)
        .open(&video)
        .and_then(|file| file.set_modified(recorded_time))
        .expect("sets the time back");
    let downloads = || harness.fake.log().count(Endpoint::Files);
    let before = downloads();

    harness.run(&[]).assert_code(0, "taken as intact");
    assert_eq!(downloads(), before, "not read, not fetched again");
    assert_eq!(read(&video), altered);

    harness
        .run(&["--verify-files"])
        .assert_code(0, "hashed, found altered, fetched again");
    assert_eq!(downloads(), before + 1);
    assert_eq!(read(&video), original);
}

#[test]
fn a_lost_journal_beside_paid_work_is_refused_and_recover_lets_the_next_run_pay_nothing() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(3), &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let videos_before: Vec<Vec<u8>> = ["job-01.mp4", "job-02.mp4", "job-03.mp4"]
        .iter()
        .map(|name| read(&harness.out().join(name)))
        .collect();
    std::fs::remove_file(harness.out().join("journal.jsonl")).unwrap_or_else(|e| panic!("{e}"));
    let requests_before = harness.fake.log().requests().len();

    let refused = harness.run(&[]);

    refused.assert_code(2, "a run beside paid work without a journal");
    assert!(
        refused.stderr.contains("has no journal") && refused.stderr.contains("sora-batch recover"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        harness.fake.log().requests().len(),
        requests_before,
        "nothing is sent"
    );

    let recovered = Harness::finish({
        let mut command = harness.command(&["recover"]);
        command
            .arg(harness.manifest_path())
            .arg("--out")
            .arg(harness.out());
        command
    });
    recovered.assert_code(0, "recover");
    assert!(
        recovered.stderr.contains("3 task(s)") && recovered.stderr.contains("3 file(s) kept"),
        "{}",
        recovered.stderr
    );

    harness.run(&[]).assert_code(0, "run after recover");

    assert_eq!(
        harness.fake.log().tasks_created(),
        3,
        "no job paid for twice"
    );
    let after: Vec<Vec<u8>> = ["job-01.mp4", "job-02.mp4", "job-03.mp4"]
        .iter()
        .map(|name| read(&harness.out().join(name)))
        .collect();
    assert_eq!(
        after, videos_before,
        "the paid-for videos are kept as they were"
    );
    harness.assert_all_videos_complete(3);
}
