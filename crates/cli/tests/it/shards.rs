//! A batch split into shards run at once on one account: the shards share the account's
//! limits (no 429 from a fake that enforces them across all clients), `plan --shard` shows a
//! shard's part, and `report` makes one gallery and one JUnit file over every shard's folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sora_batch_testkit::junit_schema::assert_valid_junit;
use sora_batch_testkit::{Endpoint, FakeKie, Schedule};

use crate::run_support::{
    Finished, Harness, Running, fast_run, manifest_with_jobs, numbered_jobs, parse_json, read,
};

/// Fast polling and retries, but the account's figures left to sora-batch's defaults
/// (concurrency 4, createTask 20 per 10 s, recordInfo 8 per s), which shards divide.
const DEFAULT_LIMITS_RUN: &str = "run:
  timeout: 2m
  poll: {first_after: 20ms, min_interval: 10ms, max_interval: 100ms, typical_generation: 30ms}
  retry: {base_delay: 5ms, max_delay: 50ms, rate_limit_window: 100ms, maintenance_delay: 10ms}
";

fn shard_folder(harness: &Harness, k: u32) -> PathBuf {
    harness.dir.path().join(format!("shard-{k}-of-3"))
}

fn run_shard(harness: &Harness, k: u32) -> Running {
    let mut command = harness.command(&["run"]);
    command
        .arg(harness.manifest_path())
        .arg("--shard")
        .arg(format!("{k}/3"))
        .arg("--out")
        .arg(shard_folder(harness, k));
    Running::start(command)
}

fn journal_of(folder: &Path) -> Vec<Value> {
    String::from_utf8_lossy(&read(&folder.join("journal.jsonl")))
        .lines()
        .map(|line| parse_json(line.as_bytes(), "a journal line"))
        .collect()
}

/// `(started, ended)` of the folder's run, from its journal.
fn run_span(folder: &Path) -> (i64, i64) {
    let journal = journal_of(folder);
    let at = |kind: &str| {
        journal
            .iter()
            .find(|record| record["type"] == kind)
            .and_then(|record| record["at_ms"].as_i64())
            .unwrap_or_else(|| panic!("{} has no {kind} record", folder.display()))
    };
    (at("run_started"), at("run_ended"))
}

fn report_command(harness: &Harness, folders: &[PathBuf], extra: &[&str]) -> Finished {
    let mut command = harness.command(&["report"]);
    command.arg(harness.manifest_path());
    for folder in folders {
        command.arg("--out").arg(folder);
    }
    command.args(extra);
    Harness::finish(command)
}

#[test]
fn three_shards_at_once_keep_to_the_accounts_limits_and_report_as_one() {
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(Schedule::Polls {
                waiting: 0,
                queuing: 0,
                generating: 1,
            })
            // The live account's limits, counted over every client of the fake together.
            .rate_limit(Endpoint::CreateTask, 20, Duration::from_secs(10))
            .rate_limit(Endpoint::RecordInfo, 10, Duration::from_secs(1)),
    );
    // More jobs than the account takes in one createTask window: undivided, the shards
    // would send them at once (and poll at 3 x 8 per second).
    let jobs = 24;
    harness.write_manifest(&manifest_with_jobs(
        &numbered_jobs(jobs),
        DEFAULT_LIMITS_RUN,
    ));
    let running: Vec<Running> = (1..=3).map(|k| run_shard(&harness, k)).collect();
    for (k, shard) in (1..=3).zip(running) {
        shard
            .wait()
            .assert_code(0, &format!("shard {k}/3 finishes"));
    }
    let folders: Vec<PathBuf> = (1..=3).map(|k| shard_folder(&harness, k)).collect();
    let spans: Vec<(i64, i64)> = folders.iter().map(|folder| run_span(folder)).collect();
    // The premise: the three ran at the same time (each began before any other ended).
    for (started, _) in &spans {
        assert!(
            spans.iter().all(|(_, ended)| started < ended),
            "the shards did not overlap: {spans:?}"
        );
    }
    let log = harness.fake.log();
    assert_eq!(
        log.rate_limited(),
        0,
        "no request over the account's limits ({} createTask, {} recordInfo)",
        log.count(Endpoint::CreateTask),
        log.count(Endpoint::RecordInfo)
    );
    harness.assert_each_prompt_created_once(jobs);

    // One report over the three folders, written beside them.
    let site = harness.dir.path().join("site");
    let junit = harness.dir.path().join("junit.xml");
    let shard_reports: Vec<Vec<u8>> = folders
        .iter()
        .map(|folder| read(&folder.join("report.json")))
        .collect();
    let requests_before = harness.fake.log().requests().len();
    let finished = report_command(
        &harness,
        &folders,
        &[
            "--report-dir",
            site.to_str().expect("utf-8 path"),
            "--junit",
            junit.to_str().expect("utf-8 path"),
        ],
    );
    finished.assert_code(0, "report over the three shards");
    assert!(
        finished
            .stdout
            .contains("24 jobs over 3 folders: 24 succeeded"),
        "{}",
        finished.stdout
    );
    assert_eq!(
        harness.fake.log().requests().len(),
        requests_before,
        "report makes no call"
    );

    let report = parse_json(&read(&site.join("report.json")), "the combined report.json");
    assert_eq!(report["summary"]["total"], 24, "{report:#}");
    assert_eq!(report["summary"]["succeeded"], 24);
    let html = String::from_utf8_lossy(&read(&site.join("report.html"))).into_owned();
    assert_eq!(html.matches("<video ").count(), 24, "one player per job");
    assert!(site.join("report.md").is_file());
    for job in report["jobs"].as_array().into_iter().flatten() {
        let path = job["files"][0]["path"].as_str().unwrap_or_default();
        assert!(path.starts_with("../shard-"), "linked where it is: {path}");
        let video = site.join(path);
        assert_eq!(
            read(&video),
            harness
                .fake
                .expected_file_bytes(job["task_id"].as_str().unwrap_or_default(), 0),
            "{path} is the job's video"
        );
        assert!(
            html.contains(&format!("src=\"{path}\"")),
            "{path} in the gallery"
        );
    }
    for (folder, before) in folders.iter().zip(&shard_reports) {
        assert_eq!(
            &read(&folder.join("report.json")),
            before,
            "{} keeps its own report",
            folder.display()
        );
    }

    let xml = String::from_utf8_lossy(&read(&junit)).into_owned();
    assert_valid_junit(&xml);
    assert_eq!(xml.matches("<testcase ").count(), 24);
    assert!(
        !xml.contains("<failure") && !xml.contains("<skipped"),
        "{xml}"
    );
    // The batch took from the first shard's start to the last one's end.
    let first_start = spans.iter().map(|(started, _)| *started).min().unwrap_or(0);
    let last_end = spans.iter().map(|(_, ended)| *ended).max().unwrap_or(0);
    let wall_ms = last_end - first_start;
    let suite_time = format!(" time=\"{}.{:03}\" ", wall_ms / 1000, wall_ms % 1000);
    assert!(xml.contains(&suite_time), "{suite_time} in {xml}");
}

#[test]
fn report_takes_only_this_batchs_folders_and_never_writes_into_one() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(4), &fast_run(2, "30s")));
    let folders: Vec<PathBuf> = (1..=2)
        .map(|k| harness.dir.path().join(format!("part-{k}")))
        .collect();
    for (k, folder) in (1..=2).zip(&folders) {
        let mut command = harness.command(&["run"]);
        command
            .arg(harness.manifest_path())
            .arg("--shard")
            .arg(format!("{k}/2"))
            .arg("--out")
            .arg(folder);
        Harness::finish(command).assert_code(0, "a shard runs");
    }
    let refused = |folders: &[PathBuf], extra: &[&str], expected: &str| {
        let finished = report_command(&harness, folders, extra);
        finished.assert_code(2, expected);
        assert!(finished.stderr.contains(expected), "{}", finished.stderr);
    };
    let missing = harness.dir.path().join("part-9");
    refused(
        &[folders[0].clone(), missing],
        &[],
        "there is no batch folder at",
    );
    let plain = harness.dir.path().join("plain");
    std::fs::create_dir(&plain).expect("creates a folder");
    refused(
        &[folders[0].clone(), plain],
        &[],
        "is not a batch folder: it has no journal.jsonl",
    );
    refused(
        &[folders[0].clone(), folders[0].clone()],
        &[],
        "is given twice",
    );
    refused(
        &folders,
        &["--report-dir", folders[0].to_str().expect("utf-8 path")],
        "it is a batch folder",
    );

    // A batch folder of another manifest.
    let other = Harness::start(FakeKie::builder());
    other.write_manifest(&manifest_with_jobs(
        &[("x".into(), "Another batch entirely".into())],
        &fast_run(1, "30s"),
    ));
    other.run(&[]).assert_code(0, "the other batch runs");
    refused(
        &[folders[0].clone(), other.out()],
        &[],
        "is not a batch folder of",
    );

    // Only one shard's folder: the other's jobs are pending, and the user is told why.
    let site = harness.dir.path().join("site");
    let finished = report_command(
        &harness,
        &folders[..1],
        &["--report-dir", site.to_str().expect("utf-8 path")],
    );
    finished.assert_code(0, "one shard's report");
    assert!(
        finished.stderr.contains("no folder of shard 2/2 was given"),
        "{}",
        finished.stderr
    );
    let report = parse_json(&read(&site.join("report.json")), "report.json");
    assert_eq!(report["summary"]["total"], 4);
    assert!(
        report["summary"]["pending"].as_u64().unwrap_or(0) > 0,
        "{report:#}"
    );
    assert!(!site.join("journal.jsonl").exists());
}

#[test]
fn plan_shows_a_shards_part_of_the_account() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(6), DEFAULT_LIMITS_RUN));
    let plan = |extra: &[&str]| {
        let mut command = harness.command(&["plan"]);
        command.arg(harness.manifest_path()).args(extra);
        let finished = Harness::finish(command);
        finished.assert_code(0, "plan");
        finished.stdout
    };
    assert!(
        plan(&[]).contains("limits: 4 tasks at once, createTask 20 per 10s, recordInfo 8 per 1s\n"),
        "{}",
        plan(&[])
    );
    let table = plan(&["--shard", "2/3"]);
    assert!(
        table.contains(
            "limits: 1 task at once, createTask 6 per 10s, recordInfo 2 per 1s (shard 2/3"
        ),
        "{table}"
    );
    assert!(
        table.contains("-shard-2-of-3"),
        "the shard's folder: {table}"
    );
    let json = parse_json(
        plan(&["--shard", "2/3", "--json"]).as_bytes(),
        "plan --json",
    );
    assert_eq!(json["limits"]["shard"], "2/3");
    assert_eq!(json["limits"]["concurrency"], 1);
    assert_eq!(json["limits"]["create_limit"]["requests"], 6);
    assert_eq!(json["limits"]["poll_limit"]["requests"], 2);
    let in_shard = json["summary"]["total"].as_u64().unwrap_or(0);
    assert!(in_shard < 6, "only the shard's jobs: {json:#}");

    // What the manifest sets is the shard's own.
    harness.write_manifest(&manifest_with_jobs(
        &numbered_jobs(6),
        "run:\n  concurrency: 5\n  create_limit: {requests: 9}\n",
    ));
    let table = plan(&["--shard", "2/3"]);
    assert!(
        table.contains("limits: 5 tasks at once, createTask 9 per 10s, recordInfo 2 per 1s"),
        "{table}"
    );
}
