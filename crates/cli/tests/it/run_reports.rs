//! What a run leaves for people and CI: report.md, report.html, JUnit, the step summary; and
//! a batch split into shards, each in its own folder, summed again by `status`.

use serde_json::Value;
use sora_batch_testkit::FakeKie;

use crate::run_support::{Harness, fast_run, manifest_with_jobs, numbered_jobs, parse_json};

#[test]
fn a_run_writes_its_reports_junit_and_the_step_summary() {
    let harness = Harness::start(FakeKie::builder().fail_prompts_containing(
        "number 2 ",
        "400",
        "flagged by moderation",
    ));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(3), &fast_run(2, "30s")));
    let junit = harness.dir.path().join("junit.xml");
    let summary = harness.dir.path().join("step-summary.md");
    std::fs::write(&summary, "# earlier steps\n").expect("writes");
    let mut command = harness.run_command(&["--junit", junit.to_str().expect("utf-8 path")]);
    command.env("GITHUB_STEP_SUMMARY", &summary);
    Harness::finish(command).assert_code(1, "one job is refused");

    let out = harness.out();
    let markdown = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(markdown.contains("| 2 | 1 | 0 | 0 | 0 | 0 |"), "{markdown}");
    assert!(markdown.contains("[job-01.mp4](job-01.mp4)"));
    assert!(markdown.contains("flagged by moderation (code 400)"));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert_eq!(html.matches("<video ").count(), 2);

    let step = std::fs::read_to_string(&summary).expect("step summary");
    assert!(
        step.starts_with("# earlier steps\n"),
        "appended, not replaced"
    );
    // The summary page is not the batch folder: videos are named, never linked there.
    assert!(step.contains("`job-01.mp4`"), "{step}");
    assert!(!step.contains("]("), "no link without GitHub's run: {step}");
    assert!(step.contains("**❌ 1 job failed;"), "the verdict: {step}");
    assert!(step.contains("| 2 | 1 | 0 | 0 | 0 | 0 |"), "{step}");
    assert!(step.contains("flagged by moderation (code 400)"), "{step}");

    let xml = std::fs::read_to_string(&junit).expect("junit.xml");
    sora_batch_testkit::junit_schema::assert_valid_junit(&xml);
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert!(xml.contains("name=\"job-02\""));
    // The suite lasts as long as the run did, as its journal records it.
    let journal = harness.journal();
    let at = |kind: &str| {
        journal
            .iter()
            .find(|record| record["type"] == kind)
            .and_then(|record| record["at_ms"].as_i64())
            .unwrap_or_else(|| panic!("the journal has a {kind} record: {journal:?}"))
    };
    let wall_ms = at("run_ended") - at("run_started");
    let suite_time = format!(" time=\"{}.{:03}\" ", wall_ms / 1000, wall_ms % 1000);
    assert!(
        xml.contains(&format!("skipped=\"0\"{suite_time}file=")),
        "{xml}"
    );
}

/// Under GitHub Actions, the step summary links to the run's artifacts page, where the
/// uploaded batch folder holds the videos and the gallery.
#[test]
fn the_step_summary_links_to_the_runs_artifacts_under_github_actions() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    let summary = harness.dir.path().join("step-summary.md");
    let mut command = harness.run_command(&[]);
    command
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/videos")
        .env("GITHUB_RUN_ID", "987654");
    Harness::finish(command).assert_code(0, "every job succeeds");
    let step = std::fs::read_to_string(&summary).expect("step summary");
    let link = "](https://github.com/acme/videos/actions/runs/987654#artifacts)";
    assert!(step.contains(link), "{step}");
    assert_eq!(
        step.matches("](").count(),
        step.matches(link).count(),
        "{step}"
    );
    assert!(
        step.contains("**✅ Every job succeeded and is downloaded.**"),
        "{step}"
    );
}

#[test]
fn shards_run_apart_and_status_sums_their_folders() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(8), &fast_run(3, "30s")));
    let folders: Vec<_> = (1..=2)
        .map(|k| harness.dir.path().join(format!("shard-{k}")))
        .collect();
    let mut per_shard = Vec::new();
    for (k, folder) in (1..=2).zip(&folders) {
        let mut command = harness.command(&["run"]);
        command
            .arg(harness.manifest_path())
            .arg("--shard")
            .arg(format!("{k}/2"))
            .arg("--out")
            .arg(folder);
        Harness::finish(command).assert_code(0, "a shard runs on its own");
        let report = parse_json(
            &std::fs::read(folder.join("report.json")).expect("report.json"),
            "report.json",
        );
        per_shard.push(report["summary"]["total"].as_u64().unwrap_or(0));
    }
    assert_eq!(
        per_shard.iter().sum::<u64>(),
        8,
        "the shards cover the batch: {per_shard:?}"
    );
    assert!(per_shard.iter().all(|n| *n > 0), "{per_shard:?}");
    harness.assert_each_prompt_created_once(8);

    let before = harness.fake.log().requests().len();
    let mut status = harness.command(&["status"]);
    status.arg(harness.manifest_path()).arg("--json");
    for folder in &folders {
        status.arg("--out").arg(folder);
    }
    let finished = Harness::finish(status);
    finished.assert_code(0, "status of both shards");
    let summed: Value = parse_json(&finished.stdout_bytes, "status --json");
    assert_eq!(summed["summary"]["succeeded"], 8, "{summed:#}");
    assert_eq!(summed["summary"]["pending"], 0);
    assert_eq!(
        harness.fake.log().requests().len(),
        before,
        "status makes no call"
    );
}

#[test]
fn a_run_that_changes_nothing_leaves_the_reports_as_they_are() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness.run(&[]).assert_code(0, "both jobs succeed");
    let out = harness.out();
    let reports = ["report.json", "report.md", "report.html"];
    let written_at = || -> Vec<std::time::SystemTime> {
        reports
            .iter()
            .map(|name| {
                std::fs::metadata(out.join(name))
                    .and_then(|metadata| metadata.modified())
                    .expect("a report with a modification time")
            })
            .collect()
    };
    let first = written_at();
    assert!(out.join(".reports-fingerprint").is_file());

    harness.run(&[]).assert_code(0, "nothing left to do");
    assert_eq!(
        written_at(),
        first,
        "the same outcome: the reports are kept"
    );

    std::fs::remove_file(out.join("report.html")).expect("removes");
    harness.run(&[]).assert_code(0, "nothing left to do");
    assert!(
        out.join("report.html").is_file(),
        "a missing report is written again"
    );

    // A third job changes what the reports show: all three are rewritten.
    let kept = written_at();
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(3), &fast_run(2, "30s")));
    harness.run(&[]).assert_code(0, "the new job succeeds");
    let rewritten = written_at();
    assert!(rewritten.iter().zip(&kept).all(|(new, old)| new > old));
    assert_eq!(harness.report()["jobs"].as_array().map(Vec::len), Some(3));
}
