//! The batch's report for people and CI, rendered from the [`Report`] document.
//!
//! Read [`markdown`] (the summary `report.md`, also fit for `$GITHUB_STEP_SUMMARY`), [`html`]
//! (`report.html`, a self-contained gallery that works opened from disk) and [`junit`] (one
//! testcase per job). Each is a pure function of the report: what a run wrote to
//! `report.json` can be rendered again at any time, and tests snapshot the output.
//! [`write_batch_reports`] puts `report.json`, `report.md` and `report.html` into a batch
//! folder.

pub mod html;
pub mod junit;
pub mod markdown;

use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::report::{JobReport, JobState, REPORT_JSON_FILE_NAME, Report};

/// The file names of the rendered reports in a batch folder.
pub const REPORT_MD_FILE_NAME: &str = "report.md";
pub const REPORT_HTML_FILE_NAME: &str = "report.html";

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct ReportWriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The reports written into a batch folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenReports {
    pub json: PathBuf,
    /// `report.md`'s text, for a CI step summary.
    pub markdown: String,
}

/// Writes `report.json`, `report.md` and `report.html` into `folder`, each atomically: a
/// reader (or a CI cache) sees the previous file or the new one, never half of one.
pub fn write_batch_reports(
    folder: &Path,
    report: &Report,
) -> Result<WrittenReports, ReportWriteError> {
    let json = write_atomically(folder, REPORT_JSON_FILE_NAME, |out| {
        serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
        out.write_all(b"\n")
    })?;
    let markdown = markdown::render(report);
    write_atomically(folder, REPORT_MD_FILE_NAME, |out| {
        out.write_all(markdown.as_bytes())
    })?;
    let page = html::render(report);
    write_atomically(folder, REPORT_HTML_FILE_NAME, |out| {
        out.write_all(page.as_bytes())
    })?;
    crate::journal::sync_folder(folder).map_err(|source| ReportWriteError {
        path: folder.to_owned(),
        source,
    })?;
    Ok(WrittenReports { json, markdown })
}

/// Writes `name` in `folder` through a hidden partial file, fsynced and renamed into place.
fn write_atomically(
    folder: &Path,
    name: &str,
    contents: impl FnOnce(&mut BufWriter<std::fs::File>) -> io::Result<()>,
) -> Result<PathBuf, ReportWriteError> {
    let final_path = folder.join(name);
    let partial = folder.join(format!(".{name}.partial"));
    let written = (|| {
        // Buffered: serde writes token by token, and a syscall per token made a
        // 100,000-job report take seconds.
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial)?);
        contents(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, &final_path)
    })();
    written.map_err(|source| ReportWriteError {
        path: final_path.clone(),
        source,
    })?;
    Ok(final_path)
}

/// A job's input field as short text: strings as they are, other values as JSON.
fn input_text(job: &JobReport, name: &str) -> Option<String> {
    match job.input.get(name)? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn prompt(job: &JobReport) -> &str {
    job.input
        .get("prompt")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

/// A generation time for people: `2m11s`, `42.0s`.
pub fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// Why a job is not a success, in a few words, for people.
fn reason(job: &JobReport) -> Option<String> {
    match job.state {
        JobState::Succeeded => None,
        JobState::Failed => Some(match (&job.fail_msg, &job.fail_code) {
            (Some(message), Some(code)) => format!("{message} (code {code})"),
            (Some(message), None) => message.clone(),
            (None, Some(code)) => format!("failed with code {code}"),
            (None, None) => "failed".to_owned(),
        }),
        JobState::TimedOut => Some("past its deadline; the next run polls it again".to_owned()),
        JobState::Uncertain => Some(
            "its createTask may have reached the service; resubmitted only with --resubmit-uncertain"
                .to_owned(),
        ),
        JobState::Running => Some("still generating; run again to collect".to_owned()),
        JobState::Pending => Some("not submitted yet".to_owned()),
    }
}

/// Jobs that a further run would still work on.
fn outstanding(report: &Report) -> u64 {
    let summary = &report.summary;
    summary.running + summary.timed_out + summary.uncertain + summary.pending
}
