//! The CI job's summary (`$GITHUB_STEP_SUMMARY`): what report.md says first, bounded so
//! that GitHub shows it whatever the batch's size.
//!
//! Read [`write`]. GitHub refuses a step's summary over 1 MiB, and report.md grows by a line
//! per job (a few thousand jobs reach the limit), so the summary is: the verdict, the counts
//! and credits, the failures (at most [`MAX_FAILURES`]), the first jobs (at most
//! [`MAX_JOBS`]), then how many more report.md lists. Every cell is cut to a few hundred
//! characters and the whole is held under [`MAX_BYTES`] whatever the jobs' texts hold.
//!
//! The summary page is not the batch folder: a relative link to a video would be dead
//! there, so files are named, not linked, and text that Markdown would make a link
//! (`[x](y)`) is escaped. The one link is to the run's artifacts page
//! ([`artifacts_url`]), where the videos and report.html are when the workflow uploads
//! the batch folder.

use std::fmt::Write as _;
use std::time::Duration;

use super::markdown::{cell, state_mark, write_counts};
use super::{duration_text, input_text, job_label, prompt, reason, seconds_text, shortened};
use crate::job::JobState;
use crate::report::{JobReport, Report};

/// The most bytes one summary takes: a quarter of GitHub's 1 MiB per step, leaving room
/// for what other commands of the same step write there.
pub const MAX_BYTES: usize = 256 * 1024;

/// The most failures listed; the others are counted.
pub const MAX_FAILURES: usize = 50;

/// The most jobs listed; the others are counted.
pub const MAX_JOBS: usize = 200;

/// Room kept for the lines that count what was left out.
const TAIL_BYTES: usize = 1024;

/// How many characters of a text a cell shows.
const ID_CHARS: usize = 120;
const REASON_CHARS: usize = 300;
const PROMPT_CHARS: usize = 80;
const OPTION_CHARS: usize = 24;
const FILE_CHARS: usize = 80;
/// The most files named in one job's row.
const FILES_NAMED: usize = 3;

/// What the summary says beyond the report: how the run ended, and where its files are.
#[derive(Debug, Clone, Default)]
pub struct SummaryContext {
    /// One sentence: how the run ended (`Every job succeeded and is downloaded.`).
    pub verdict: Option<String>,
    /// The run's artifacts page ([`artifacts_url`]), when known.
    pub artifacts_url: Option<String>,
}

/// The artifacts page of a GitHub Actions run, from the `GITHUB_SERVER_URL`,
/// `GITHUB_REPOSITORY` and `GITHUB_RUN_ID` it runs with; `None` when one of them is not
/// what GitHub sets (an `http(s)` URL, `owner/name`, a number), so that no text from the
/// environment lands in a link unchecked.
pub fn artifacts_url(server_url: &str, repository: &str, run_id: &str) -> Option<String> {
    let server_url = server_url.trim_end_matches('/');
    let host = server_url
        .strip_prefix("https://")
        .or_else(|| server_url.strip_prefix("http://"))?;
    let url_safe = |c: char| c.is_ascii_alphanumeric() || "-._~:/%".contains(c);
    let name_safe = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
    let (owner, name) = repository.split_once('/')?;
    let valid = !host.is_empty()
        && host.chars().all(url_safe)
        && !owner.is_empty()
        && !name.is_empty()
        && owner.chars().all(name_safe)
        && name.chars().all(name_safe)
        && !run_id.is_empty()
        && run_id.chars().all(|c| c.is_ascii_digit());
    valid.then(|| format!("{server_url}/{repository}/actions/runs/{run_id}#artifacts"))
}

pub fn render(report: &Report, context: &SummaryContext) -> String {
    let mut out = String::new();
    write(report, context, &mut out);
    out
}

/// Writes the step summary into `out`: at most [`MAX_BYTES`] bytes.
pub fn write(report: &Report, context: &SummaryContext, out: &mut impl std::fmt::Write) {
    let mut text = String::new();
    write_head(report, context, &mut text);

    let failures: Vec<&JobReport> = report
        .jobs
        .iter()
        .filter(|job| job.state == JobState::Failed)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(text, "## Failures ({})\n", failures.len());
        text.push_str("| job | reason |\n|---|---|\n");
        let listed = push_rows(
            &mut text,
            failures
                .iter()
                .take(MAX_FAILURES)
                .map(|job| failure_row(job)),
            MAX_BYTES / 4,
        );
        if listed < failures.len() {
            let _ = writeln!(
                text,
                "\n…and {} more failure{} in report.md{}.",
                failures.len() - listed,
                if failures.len() - listed == 1 {
                    ""
                } else {
                    "s"
                },
                where_report_is(context)
            );
        }
        text.push('\n');
    }

    let _ = writeln!(text, "## Jobs\n");
    text.push_str(
        "| job | state | aspect | secs | credits | time | file or reason | prompt |\n\
         |---|---|---|---:|---:|---:|---|---|\n",
    );
    let listed = push_rows(
        &mut text,
        report.jobs.iter().take(MAX_JOBS).map(job_row),
        MAX_BYTES - TAIL_BYTES,
    );
    if listed < report.jobs.len() {
        let _ = writeln!(
            text,
            "\n…and {} more job{} in report.md{}.",
            report.jobs.len() - listed,
            if report.jobs.len() - listed == 1 {
                ""
            } else {
                "s"
            },
            where_report_is(context)
        );
    }
    if !report.orphaned.is_empty() {
        let _ = writeln!(
            text,
            "\n{} job{} of earlier versions of the manifest (files kept) in report.md.",
            report.orphaned.len(),
            if report.orphaned.len() == 1 { "" } else { "s" }
        );
    }
    let _ = out.write_str(&text);
}

/// Title, verdict, totals and where the files are: a few hundred bytes whatever the
/// report holds.
fn write_head(report: &Report, context: &SummaryContext, text: &mut String) {
    let _ = writeln!(
        text,
        "# sora-batch: {}\n",
        cell(&shortened(&report.name, ID_CHARS))
    );
    if let Some(verdict) = &context.verdict {
        let _ = writeln!(text, "**{}**\n", cell(&shortened(verdict, REASON_CHARS)));
    }
    let summary = &report.summary;
    let _ = writeln!(
        text,
        "Manifest `{}` · {} job{} · {} credits charged\n",
        shortened(&report.manifest, REASON_CHARS).replace('`', "'"),
        summary.total,
        if summary.total == 1 { "" } else { "s" },
        summary.credits,
    );
    if let Some(url) = &context.artifacts_url {
        let _ = writeln!(
            text,
            "Videos, the `report.html` gallery and `report.md` are in [the run's artifacts]({url}) when the workflow uploads the batch folder.\n"
        );
    }
    write_counts(report, text);
}

/// Appends `rows` while the text stays under `budget` bytes; returns how many it appended.
fn push_rows(text: &mut String, rows: impl Iterator<Item = String>, budget: usize) -> usize {
    let mut listed = 0;
    for row in rows {
        if text.len() + row.len() > budget {
            break;
        }
        text.push_str(&row);
        listed += 1;
    }
    listed
}

fn where_report_is(context: &SummaryContext) -> String {
    match &context.artifacts_url {
        Some(url) => format!(" (in [the run's artifacts]({url}))"),
        None => " (in the batch folder)".to_owned(),
    }
}

fn failure_row(job: &JobReport) -> String {
    format!(
        "| {} | {} |\n",
        cell(&shortened(&job_label(job), ID_CHARS)),
        cell(&shortened(&reason(job).unwrap_or_default(), REASON_CHARS)),
    )
}

fn job_row(job: &JobReport) -> String {
    let outcome = if job.files.is_empty() {
        cell(&shortened(&reason(job).unwrap_or_default(), REASON_CHARS))
    } else {
        // Named, not linked: the summary page is not the batch folder.
        let mut named: Vec<String> = job
            .files
            .iter()
            .take(FILES_NAMED)
            .map(|file| format!("`{}`", shortened(&file.path, FILE_CHARS).replace('`', "'")))
            .collect();
        if job.files.len() > FILES_NAMED {
            named.push(format!("+{}", job.files.len() - FILES_NAMED));
        }
        named.join(" ").replace('|', "\\|")
    };
    let option = |text: Option<String>| cell(&shortened(&text.unwrap_or_default(), OPTION_CHARS));
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        cell(&shortened(&job_label(job), ID_CHARS)),
        state_mark(job.state),
        option(input_text(job, "aspect_ratio")),
        option(seconds_text(job)),
        job.credits.map(|c| c.to_string()).unwrap_or_default(),
        job.duration_ms
            .map(|ms| duration_text(Duration::from_millis(ms)))
            .unwrap_or_default(),
        outcome,
        cell(&shortened(prompt(job), PROMPT_CHARS)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifacts_link_is_built_only_from_what_github_sets() {
        assert_eq!(
            artifacts_url("https://github.com", "acme/videos", "1234").as_deref(),
            Some("https://github.com/acme/videos/actions/runs/1234#artifacts")
        );
        assert_eq!(
            artifacts_url("https://ghe.example:8443/", "a.b/c-d_e", "7").as_deref(),
            Some("https://ghe.example:8443/a.b/c-d_e/actions/runs/7#artifacts")
        );
        for (server, repository, run) in [
            ("", "acme/videos", "1"),
            ("ftp://github.com", "acme/videos", "1"),
            ("https://", "acme/videos", "1"),
            ("https://github.com) [x](y", "acme/videos", "1"),
            ("https://github.com", "acme", "1"),
            ("https://github.com", "acme/vid eos", "1"),
            ("https://github.com", "acme/videos/extra", "1"),
            ("https://github.com", "acme/videos", ""),
            ("https://github.com", "acme/videos", "12a"),
        ] {
            assert_eq!(
                artifacts_url(server, repository, run),
                None,
                "{server} {repository} {run}"
            );
        }
    }

    #[test]
    fn text_written_as_a_link_stays_text_on_the_summary_page() {
        assert_eq!(
            cell("see [the video](clip.mp4) | <b>"),
            "see \\[the video\\](clip.mp4) \\| &lt;b&gt;"
        );
    }
}
