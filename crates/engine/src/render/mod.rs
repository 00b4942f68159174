//! The batch's report for people and CI, rendered from the [`Report`] document.
//!
//! Read [`markdown`] (the summary `report.md`), [`step_summary`] (its head for
//! `$GITHUB_STEP_SUMMARY`, bounded under GitHub's 1 MiB, with no local links), [`html`]
//! (`report.html`, a self-contained gallery that works opened from disk, with a grid view
//! of the matrix) and [`junit`] (one testcase per job). Each is a pure function of the report: what a run wrote to
//! `report.json` can be rendered again at any time, and tests snapshot the output.
//! [`write_batch_reports`] puts `report.json`, `report.md` and `report.html` into a batch
//! folder, and [`reports_fingerprint`] tells whether those already show a run's outcome, so
//! that a run that changed nothing does not rewrite them (for 100,000 jobs they are 176 MB).

pub mod html;
pub mod junit;
pub mod markdown;
mod matrix_grid;
pub mod step_summary;

use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::durable::{self, hex, sync_folder};
use crate::job::{JobState, TaskId};
use crate::report::{JobReport, REPORT_JSON_FILE_NAME, REPORT_VERSION, Report};
use crate::run::RunOutcome;

/// The file names of the rendered reports in a batch folder.
pub const REPORT_MD_FILE_NAME: &str = "report.md";
pub const REPORT_HTML_FILE_NAME: &str = "report.html";
/// The digest of what the batch folder's reports show, written after them.
pub const REPORTS_FINGERPRINT_FILE_NAME: &str = ".reports-fingerprint";

/// A report file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct ReportWriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Writes `report.json`, `report.md` and `report.html` into `folder`, each atomically: a
/// reader (or a CI cache) sees the previous file or the new one, never half of one.
///
/// `fingerprint` ([`reports_fingerprint`] of the run they show) is recorded last, and the
/// previous one removed first, so that it never vouches for reports half rewritten.
pub fn write_batch_reports(
    folder: &Path,
    report: &Report,
    fingerprint: &str,
) -> Result<(), ReportWriteError> {
    let fingerprint_path = folder.join(REPORTS_FINGERPRINT_FILE_NAME);
    let removed = match std::fs::remove_file(&fingerprint_path) {
        // Durably gone before any report changes: a power cut must not leave the old
        // fingerprint vouching for a mix of old and new reports.
        Ok(()) => sync_folder(folder),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    };
    removed.map_err(|source| ReportWriteError {
        path: fingerprint_path,
        source,
    })?;
    // The reports' renames are durable before the fingerprint that vouches for them.
    write_reports(folder, report)?;
    write_atomically(folder, REPORTS_FINGERPRINT_FILE_NAME, |out| {
        writeln!(out, "{fingerprint}")
    })?;
    sync_folder(folder).map_err(|source| ReportWriteError {
        path: folder.to_owned(),
        source,
    })?;
    Ok(())
}

/// Writes `report.json`, `report.md` and `report.html` into `folder`, each atomically, and
/// makes their renames durable. Without a fingerprint: [`write_batch_reports`] adds one for
/// a batch folder's own reports; `sora-batch report` writes a combined one elsewhere.
pub fn write_reports(folder: &Path, report: &Report) -> Result<(), ReportWriteError> {
    write_atomically(folder, REPORT_JSON_FILE_NAME, |out| {
        serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
        out.write_all(b"\n")
    })?;
    write_atomically(folder, REPORT_MD_FILE_NAME, |out| {
        stream(out, |text| markdown::write(report, text))
    })?;
    write_atomically(folder, REPORT_HTML_FILE_NAME, |out| {
        stream(out, |text| html::write(report, text))
    })?;
    sync_folder(folder).map_err(|source| ReportWriteError {
        path: folder.to_owned(),
        source,
    })
}

/// A digest of everything [`Report::of_run`] takes from a run, and so of everything the
/// batch folder's reports show: this program's version, the manifest's name and path as
/// given, and each job's identity (its key stands for its exact request), state, task,
/// files, failure, charge, duration and matrix values, and the orphaned jobs.
pub fn reports_fingerprint(
    manifest_name: &str,
    manifest_as_given: &str,
    outcome: &RunOutcome,
) -> String {
    let mut digest = FieldDigest::default();
    digest.text(env!("CARGO_PKG_VERSION"));
    digest.number(u64::from(REPORT_VERSION));
    digest.text(manifest_name);
    digest.text(manifest_as_given);
    digest.number(outcome.jobs.len() as u64);
    for job in &outcome.jobs {
        digest.text(job.id.as_str());
        digest.text(job.key.as_str());
        digest.number(u64::from(job.take));
        digest.optional_text(job.task_id.as_ref().map(TaskId::as_str));
        digest.text(job.state.as_str());
        digest.number(job.files.len() as u64);
        for file in &job.files {
            digest.text(&file.path);
            digest.text(&file.url);
            digest.text(&file.sha256);
            digest.number(file.bytes);
        }
        digest.optional_text(job.fail_code.as_deref());
        digest.optional_text(job.fail_msg.as_deref());
        digest.optional_number(job.credits.map(|credits| credits.0.to_bits()));
        digest.optional_number(job.generation_ms);
        digest.number(job.matrix.iter().count() as u64);
        for (name, value) in job.matrix.iter() {
            digest.text(name);
            digest.text(value);
        }
    }
    digest.number(outcome.orphaned.len() as u64);
    for orphan in &outcome.orphaned {
        digest.text(orphan.id.as_str());
        digest.text(orphan.key.as_str());
        digest.optional_text(orphan.task_id.as_ref().map(TaskId::as_str));
        digest.number(orphan.files.len() as u64);
        for file in &orphan.files {
            digest.text(file);
        }
    }
    digest.finish()
}

/// SHA-256 over fields, each length-prefixed so that no two sequences of fields collide.
/// Fields gather in a buffer hashed in large pieces: a million small updates cost more than
/// the hashing.
#[derive(Default)]
struct FieldDigest {
    hasher: Sha256,
    pending: Vec<u8>,
}

impl FieldDigest {
    const FLUSH_AT: usize = 1 << 16;

    fn bytes(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= Self::FLUSH_AT {
            self.hasher.update(&self.pending);
            self.pending.clear();
        }
    }

    fn text(&mut self, text: &str) {
        self.number(text.len() as u64);
        self.bytes(text.as_bytes());
    }

    fn number(&mut self, number: u64) {
        self.bytes(&number.to_le_bytes());
    }

    fn optional_text(&mut self, text: Option<&str>) {
        match text {
            Some(text) => {
                self.bytes(&[1]);
                self.text(text);
            }
            None => self.bytes(&[0]),
        }
    }

    fn optional_number(&mut self, number: Option<u64>) {
        match number {
            Some(number) => {
                self.bytes(&[1]);
                self.number(number);
            }
            None => self.bytes(&[0]),
        }
    }

    fn finish(mut self) -> String {
        self.hasher.update(&self.pending);
        hex(&self.hasher.finalize())
    }
}

/// The batch folder's three reports are there and were written for `fingerprint`.
///
/// Each must be a regular file in the folder, and the fingerprint is not read through a
/// link: a report that is a link to something else is not the batch's, so the reports are
/// written again and the renames replace the links.
pub fn reports_are_current(folder: &Path, fingerprint: &str) -> bool {
    let recorded = durable::open_in_folder(
        &folder.join(REPORTS_FINGERPRINT_FILE_NAME),
        std::fs::OpenOptions::new().read(true),
    )
    .and_then(|mut file| {
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).map(|_| text)
    });
    recorded.is_ok_and(|recorded| recorded.trim() == fingerprint)
        && [
            REPORT_JSON_FILE_NAME,
            REPORT_MD_FILE_NAME,
            REPORT_HTML_FILE_NAME,
        ]
        .iter()
        .all(|name| std::fs::symlink_metadata(folder.join(name)).is_ok_and(|m| m.is_file()))
}

/// Runs a renderer that writes text into `out`, keeping the first I/O error it met.
fn stream<W: io::Write>(
    out: &mut W,
    render: impl FnOnce(&mut TextToBytes<'_, W>),
) -> io::Result<()> {
    let mut text = TextToBytes { out, error: None };
    render(&mut text);
    match text.error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// `fmt::Write` over an `io::Write`: the renderers write text, files take bytes.
struct TextToBytes<'a, W: io::Write + ?Sized> {
    out: &'a mut W,
    error: Option<io::Error>,
}

impl<W: io::Write + ?Sized> std::fmt::Write for TextToBytes<'_, W> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.out.write_all(text.as_bytes()).map_err(|error| {
            self.error = Some(error);
            std::fmt::Error
        })
    }
}

/// [`durable::write_atomically`], its error as a report's.
fn write_atomically(
    folder: &Path,
    name: &str,
    contents: impl FnOnce(&mut BufWriter<std::fs::File>) -> io::Result<()>,
) -> Result<PathBuf, ReportWriteError> {
    durable::write_atomically(folder, name, contents).map_err(|error| ReportWriteError {
        path: error.path,
        source: error.source,
    })
}

/// A job's input field as short text: strings as they are, other values as JSON.
pub fn input_text(job: &JobReport, name: &str) -> Option<String> {
    match job.input.get(name)? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The names under which models take the length of a clip in seconds: `n_frames` for the
/// Sora 2 family, `duration` for the others (Kling, Seedance, Wan, Hailuo, Grok Imagine).
pub const SECONDS_FIELDS: [&str; 2] = ["n_frames", "duration"];

/// The clip's length in seconds as the job asks for it, whatever its model calls the field.
pub fn seconds_text(job: &JobReport) -> Option<String> {
    SECONDS_FIELDS.iter().find_map(|name| input_text(job, name))
}

/// The job's prompt, empty when it has none.
pub fn prompt(job: &JobReport) -> &str {
    job.input
        .get("prompt")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
}

/// `text` on one line, cut to `max_chars` characters with `…` when longer. Reads no more
/// of `text` than it keeps: a prompt of a megabyte costs what its first words do.
pub fn shortened(text: &str, max_chars: usize) -> String {
    let mut words = text
        .split_whitespace()
        .flat_map(|word| std::iter::once(None).chain(word.chars().map(Some)));
    // `None` marks the start of a word: a space, but before the first word.
    let mut one_line: Vec<char> = Vec::new();
    for mark in words.by_ref() {
        match mark {
            None if one_line.is_empty() => {}
            None => one_line.push(' '),
            Some(c) => one_line.push(c),
        }
        if one_line.len() > max_chars {
            one_line.truncate(max_chars.saturating_sub(1));
            one_line.push('…');
            return one_line.into_iter().collect();
        }
    }
    one_line.into_iter().collect()
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
/// Escapes the five characters markup gives a meaning to; `apostrophe` is the entity for
/// `'` (`&#39;` for HTML, `&apos;` for XML).
fn escape_markup(text: &str, apostrophe: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apostrophe),
            c => out.push(c),
        }
    }
    out
}

/// A job as people name it: its id, and which take when the request has several.
fn job_label(job: &JobReport) -> String {
    if job.take > 1 {
        format!("{} (take {})", job.id.as_str(), job.take)
    } else {
        job.id.as_str().to_owned()
    }
}

fn outstanding(report: &Report) -> u64 {
    let summary = &report.summary;
    summary.running + summary.timed_out + summary.uncertain + summary.pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Summary;

    /// A file on a full disk.
    struct FullDisk;

    impl io::Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn empty_report() -> Report {
        Report {
            version: REPORT_VERSION,
            name: "empty".into(),
            manifest: "empty.yaml".into(),
            summary: Summary::default(),
            jobs: Vec::new(),
            estimated_credits: None,
            unpriced_jobs: 0,
            orphaned: Vec::new(),
            expected_wall_ms: None,
            expected_from: Vec::new(),
        }
    }

    #[test]
    fn a_report_streamed_onto_a_full_disk_fails_with_the_disk_error() {
        let report = empty_report();
        for streamed in [
            stream(&mut FullDisk, |text| markdown::write(&report, text)),
            stream(&mut FullDisk, |text| html::write(&report, text)),
        ] {
            let error = streamed.expect_err("nothing can be written");
            assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        }
    }

    /// A report or the fingerprint replaced by a link (to a copy outside the folder) makes
    /// the reports not current: they are written again, and the renames replace the links.
    #[cfg(unix)]
    #[test]
    fn reports_behind_a_link_are_not_current_and_are_written_again() {
        let report = empty_report();
        for linked in [REPORT_JSON_FILE_NAME, REPORTS_FINGERPRINT_FILE_NAME] {
            let folder = tempfile::tempdir().expect("temp dir");
            let outside = tempfile::tempdir().expect("temp dir");
            write_batch_reports(folder.path(), &report, "fp").expect("writes");
            assert!(reports_are_current(folder.path(), "fp"));
            let path = folder.path().join(linked);
            let copy = outside.path().join(linked);
            std::fs::copy(&path, &copy).expect("copies");
            std::fs::remove_file(&path).expect("removes");
            std::os::unix::fs::symlink(&copy, &path).expect("plants");
            let before = std::fs::read(&copy).expect("reads");
            assert!(
                !reports_are_current(folder.path(), "fp"),
                "{linked} behind a link was trusted"
            );
            write_batch_reports(folder.path(), &report, "fp").expect("writes again");
            assert!(reports_are_current(folder.path(), "fp"));
            let metadata = std::fs::symlink_metadata(&path).expect("exists");
            assert!(metadata.is_file(), "{linked} is a regular file again");
            assert_eq!(std::fs::read(&copy).expect("reads"), before);
        }
    }

    #[test]
    fn a_streamed_report_is_the_rendered_one() {
        let report = empty_report();
        let mut bytes = Vec::new();
        stream(&mut bytes, |text| html::write(&report, text)).expect("writes");
        assert_eq!(String::from_utf8(bytes).ok(), Some(html::render(&report)));
    }
}
