//! The CI job's summary: bounded under GitHub's 1 MiB whatever the batch, and with no link
//! that would be dead on the summary page.

use sora_batch_engine::render::step_summary::{
    self, MAX_BYTES, MAX_FAILURES, MAX_JOBS, SummaryContext,
};
use sora_batch_engine::report::Report;
use sora_batch_engine::session::{Verdict, verdict_sentence};

use crate::render::report_with_every_state;

/// GitHub refuses a step summary above this.
const GITHUB_LIMIT: usize = 1024 * 1024;

const ARTIFACTS: &str = "https://github.com/acme/videos/actions/runs/42#artifacts";

fn context(artifacts_url: Option<&str>) -> SummaryContext {
    SummaryContext {
        verdict: Some("❌ 2,000 jobs failed; every other job succeeded and is downloaded.".into()),
        artifacts_url: artifacts_url.map(str::to_owned),
    }
}

/// A report of `jobs` jobs of a subject × model matrix, every tenth refused, the others
/// succeeded with a video; `text` ends each prompt and failure message.
pub(crate) fn large_report(jobs: usize, text: &str) -> Report {
    report_failing(jobs, 10, text)
}

/// [`large_report`] with every `failing_every`th job refused.
fn report_failing(jobs: usize, failing_every: usize, text: &str) -> Report {
    let jobs: Vec<serde_json::Value> = (0..jobs)
        .map(|index| {
            let id = format!("subject-{}-model-{}", index / 4, index % 4);
            let failed = index % failing_every == failing_every.min(3) % failing_every;
            serde_json::json!({
                "id": id,
                "key": format!("{index:064x}"),
                "take": 1,
                "model": "sora-2-text-to-video",
                "input": {
                    "prompt": format!("Subject {} in front of a screen, {text}", index / 4),
                    "aspect_ratio": "landscape",
                    "n_frames": "10",
                    "remove_watermark": true
                },
                "task_id": format!("task-{index}"),
                "state": if failed { "failed" } else { "succeeded" },
                "files": if failed { serde_json::json!([]) } else { serde_json::json!([{
                    "path": format!("{id}.mp4"),
                    "url": format!("https://file.example/{id}.mp4"),
                    "sha256": "ab".repeat(32),
                    "bytes": 1_000_000,
                    "media_type": "video/mp4"
                }]) },
                "fail_code": if failed { serde_json::json!("400") } else { serde_json::Value::Null },
                "fail_msg": if failed { serde_json::json!(format!("flagged by moderation: {text}")) } else { serde_json::Value::Null },
                "credits": if failed { 0 } else { 30 },
                "duration_ms": 131_122,
                "matrix": {"subject": format!("Subject {}", index / 4), "model": format!("model {}", index % 4)}
            })
        })
        .collect();
    let mut report: Report = serde_json::from_value(serde_json::json!({
        "version": 1,
        "name": "big",
        "manifest": "manifests/big.yaml",
        "summary": {"total": 0, "succeeded": 0, "failed": 0, "timed_out": 0, "uncertain": 0,
                    "running": 0, "pending": 0, "credits": 0},
        "jobs": jobs
    }))
    .expect("a valid report");
    report.summary = sora_batch_engine::report::Summary::of(&report.jobs);
    report
}

/// Every Markdown link target in `text` (an escaped `\](` is text, not a link).
fn link_targets(text: &str) -> Vec<&str> {
    text.match_indices("](")
        .filter(|(at, _)| !text[..*at].ends_with('\\'))
        .map(|(at, _)| {
            let rest = &text[at + 2..];
            &rest[..rest.find(')').unwrap_or(rest.len())]
        })
        .collect()
}

/// The rows of the summary's jobs table.
fn job_rows(summary: &str) -> usize {
    summary.matches(" | ✅ succeeded |").count() + summary.matches(" | ❌ failed |").count()
}

/// The rows of the summary's failures table.
fn failure_rows(summary: &str) -> usize {
    let failures = summary.split("## Jobs").next().unwrap_or_default();
    failures.matches("| flagged by moderation").count()
}

#[test]
fn the_summary_of_a_20000_job_batch_fits_under_githubs_limit() {
    let report = large_report(20_000, "smiling, confetti falls and the audience applauds");
    let markdown = report.clone();
    let full = sora_batch_engine::render::markdown::render(&markdown);
    assert!(
        full.len() > GITHUB_LIMIT,
        "report.md alone would not fit: {}",
        full.len()
    );

    let summary = step_summary::render(&report, &context(None));
    assert!(summary.len() <= MAX_BYTES, "{} bytes", summary.len());
    assert!(summary.len() < GITHUB_LIMIT);
    assert!(
        summary.contains("| 18000 | 2000 | 0 | 0 | 0 | 0 |"),
        "{summary}"
    );
    assert!(summary.contains("540000 credits charged"), "{summary}");
    assert!(
        summary.contains("2,000 jobs failed"),
        "the verdict: {summary}"
    );
    assert!(summary.contains("## Failures (2000)"), "{summary}");
    assert_eq!(failure_rows(&summary), MAX_FAILURES, "{summary}");
    assert!(
        summary.contains(&format!(
            "…and {} more failures in report.md (in the batch folder).",
            2000 - MAX_FAILURES
        )),
        "{summary}"
    );
    assert_eq!(job_rows(&summary), MAX_JOBS);
    assert!(
        summary.contains("| subject-0-model-0 | ✅ succeeded |"),
        "the first jobs"
    );
    assert!(
        summary.contains(&format!(
            "…and {} more jobs in report.md (in the batch folder).",
            20_000 - MAX_JOBS
        )),
        "{summary}"
    );
    assert_eq!(
        link_targets(&summary),
        Vec::<&str>::new(),
        "no link without the artifacts page"
    );
}

/// Texts of any length (a prompt of a megabyte, a failure message as long) are cut, and
/// when even cut rows would pass the bound (every job failed, with four-byte characters),
/// fewer jobs are listed.
#[test]
fn huge_texts_are_cut_and_the_summary_keeps_its_bound() {
    let report = report_failing(300, 1, &"🎬🎥 ".repeat(300_000));
    let summary = step_summary::render(&report, &context(Some(ARTIFACTS)));
    assert!(summary.len() <= MAX_BYTES, "{} bytes", summary.len());
    let failures = failure_rows(&summary);
    assert!(
        failures > 0 && failures <= MAX_FAILURES,
        "{failures} failures listed"
    );
    assert!(
        summary.contains(&format!(
            "…and {} more failures in report.md",
            300 - failures
        )),
        "{summary}"
    );
    let listed = job_rows(&summary);
    assert!(listed > 0 && listed < MAX_JOBS, "{listed} jobs listed");
    assert!(
        summary.contains(&format!("…and {} more jobs in report.md", 300 - listed)),
        "{summary}"
    );
}

#[test]
fn a_small_batch_lists_every_job_and_every_failure() {
    let report = large_report(40, "a short prompt");
    let summary = step_summary::render(&report, &context(None));
    for job in &report.jobs {
        assert!(
            summary.contains(&format!("| {} |", job.id)),
            "{} is listed: {summary}",
            job.id
        );
    }
    assert_eq!(failure_rows(&summary), 4, "{summary}");
    assert!(!summary.contains("more"), "nothing left out: {summary}");
}

/// Videos are named, not linked: a relative link is dead on the summary page. The one
/// link, when GitHub's variables give it, is to the run's artifacts page.
#[test]
fn the_only_link_is_to_the_runs_artifacts() {
    let mut report = report_with_every_state();
    // A prompt written as a Markdown link shows as text, not as a link.
    report.jobs[2].input.insert(
        "prompt".into(),
        serde_json::json!("see [the video](done.mp4) and ![x](y.png)"),
    );
    let without = step_summary::render(&report, &SummaryContext::default());
    assert_eq!(link_targets(&without), Vec::<&str>::new(), "{without}");
    assert!(
        without.contains("`done.mp4`"),
        "the video is named: {without}"
    );
    assert!(!without.contains("artifacts"), "{without}");

    let with = step_summary::render(
        &report,
        &SummaryContext {
            verdict: Some(verdict_sentence(
                Verdict::WorkOutstanding,
                None,
                &report.summary,
            )),
            artifacts_url: Some(ARTIFACTS.into()),
        },
    );
    let targets = link_targets(&with);
    assert!(!targets.is_empty(), "{with}");
    assert!(
        targets.iter().all(|target| *target == ARTIFACTS),
        "{targets:?}"
    );
    insta::assert_snapshot!(with);
}
