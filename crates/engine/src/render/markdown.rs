//! `report.md`: a summary table and one line per job, in GitHub-flavoured Markdown.
//!
//! Read [`render`]. Totals first, then the jobs, failures with the service's own words,
//! videos linked relative to the batch folder (where report.md is). A CI job's summary page
//! gets [`super::step_summary`] instead: the same head, bounded, with no local links.

use std::time::Duration;

use super::{
    duration_text, input_text, job_label, outstanding, prompt, reason, seconds_text, shortened,
};
use crate::job::JobState;
use crate::report::Report;

/// How many characters of a prompt a table cell shows.
const PROMPT_CHARS: usize = 80;

pub(super) fn state_mark(state: JobState) -> &'static str {
    match state {
        JobState::Succeeded => "✅ succeeded",
        JobState::Failed => "❌ failed",
        JobState::TimedOut => "⏱️ timed out",
        JobState::Uncertain => "⚠️ uncertain",
        JobState::Running => "⏳ running",
        JobState::Pending => "… pending",
    }
}

/// Makes text safe inside a Markdown table cell: one line, no unescaped pipes.
pub(super) fn cell(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut escaped = String::with_capacity(one_line.len());
    for c in one_line.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            // A prompt's `[text](url)` would be a link in the step summary, its `*` or `_`
            // emphasis, its backticks code: the cell shows the characters written.
            '\\' | '|' | '[' | ']' | '*' | '_' | '`' | '~' => {
                escaped.push('\\');
                escaped.push(c);
            }
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Links in a Markdown cell: spaces and parentheses would end the link target.
fn link_target(path: &str) -> String {
    path.replace(' ', "%20")
        .replace('(', "%28")
        .replace(')', "%29")
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    write(report, &mut out);
    out
}

/// Writes `report.md` into `out` as it goes: for a large batch the page is tens of
/// megabytes, better streamed to its file than held whole. Errors of `out` are its own to
/// keep (see `render::write_batch_reports`).
pub fn write(report: &Report, out: &mut impl std::fmt::Write) {
    let summary = &report.summary;
    let _ = writeln!(out, "# sora-batch: {}\n", cell(&report.name));
    let _ = writeln!(
        out,
        "Manifest `{}` · {} job{} · {} credits charged\n",
        report.manifest.replace('`', "'"),
        summary.total,
        if summary.total == 1 { "" } else { "s" },
        summary.credits,
    );
    write_counts(report, out);
    let _ = out.write_str("## Jobs\n\n");
    let _ = out
        .write_str("| job | state | aspect | secs | credits | time | video or reason | prompt |\n");
    let _ = out.write_str("|---|---|---|---:|---:|---:|---|---|\n");
    for job in &report.jobs {
        let id = job_label(job);
        let outcome = if job.files.is_empty() {
            reason(job).map(|r| cell(&r)).unwrap_or_default()
        } else {
            job.files
                .iter()
                .map(|file| format!("[{}]({})", cell(&file.path), link_target(&file.path)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&id),
            state_mark(job.state),
            cell(&input_text(job, "aspect_ratio").unwrap_or_default()),
            cell(&seconds_text(job).unwrap_or_default()),
            job.credits.map(|c| c.to_string()).unwrap_or_default(),
            job.duration_ms
                .map(|ms| duration_text(Duration::from_millis(ms)))
                .unwrap_or_default(),
            outcome,
            cell(&shortened(prompt(job), PROMPT_CHARS)),
        );
    }
    if !report.orphaned.is_empty() {
        let _ = out.write_str("\n## No longer in the manifest\n\n");
        for orphan in &report.orphaned {
            let files = if orphan.files.is_empty() {
                "no files".to_owned()
            } else {
                orphan.files.join(", ")
            };
            let _ = writeln!(out, "- `{}` (files kept: {})", orphan.id, files);
        }
    }
}

/// The counts by state, and what to do about outstanding and uncertain jobs.
pub(super) fn write_counts(report: &Report, out: &mut impl std::fmt::Write) {
    let summary = &report.summary;
    let _ = out.write_str("| succeeded | failed | timed out | uncertain | running | pending |\n");
    let _ = out.write_str("|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        summary.succeeded,
        summary.failed,
        summary.timed_out,
        summary.uncertain,
        summary.running,
        summary.pending
    );
    let waiting = outstanding(report);
    if waiting > 0 {
        let _ = writeln!(
            out,
            "**{waiting} job{} outstanding:** run the same command again to collect {}.\n",
            if waiting == 1 { " is" } else { "s are" },
            if waiting == 1 { "it" } else { "them" }
        );
    }
    if summary.uncertain > 0 {
        let _ = out.write_str(
            "Uncertain jobs may already be charged: their createTask may have reached the \
             service without its answer reaching us. They are resubmitted only with \
             `--resubmit-uncertain`.\n\n",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_in_their_column() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(cell("<script> &lt;"), "&lt;script&gt; &amp;lt;");
        assert_eq!(
            cell("[win](https://x) *now* `x` a_b ~c~ \\"),
            "\\[win\\](https://x) \\*now\\* \\`x\\` a\\_b \\~c\\~ \\\\"
        );
        assert_eq!(shortened("one two three", 7), "one tw…");
        assert_eq!(link_target("my video (1).mp4"), "my%20video%20%281%29.mp4");
    }
}
