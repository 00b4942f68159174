//! How a run looks on stderr: one line per thing worth knowing, as the engine's events come.
//!
//! Read [`LineReporter`]. By default it tells what finished, failed, was downloaded or needs
//! attention; `-v` adds submissions and state changes; `-q` keeps only problems. Lines are
//! plain text, fit for CI logs.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use sora_batch_engine::run::{Reporter, RunEvent};

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Detail {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug)]
pub struct LineReporter {
    detail: Detail,
    /// Keeps lines whole when events come from several threads.
    stderr: Mutex<()>,
}

impl LineReporter {
    pub fn new(detail: Detail) -> Self {
        LineReporter {
            detail,
            stderr: Mutex::new(()),
        }
    }

    fn line(&self, least_detail: Detail, text: &str) {
        if self.detail < least_detail {
            return;
        }
        let _guard = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn duration_text(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

fn credits_text(credits: Option<f64>) -> String {
    match credits {
        Some(c) if c.fract() == 0.0 => format!(", {c:.0} credits"),
        Some(c) => format!(", {c} credits"),
        None => String::new(),
    }
}

fn bytes_text(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

impl Reporter for LineReporter {
    fn on_event(&self, event: &RunEvent) {
        match event {
            RunEvent::Started {
                total,
                already_done,
                to_submit,
                to_poll,
                to_download,
                uncertain,
                orphaned,
            } => {
                let mut parts = vec![format!("{total} jobs")];
                if *already_done > 0 {
                    parts.push(format!("{already_done} already done"));
                }
                parts.push(format!("{to_submit} to submit"));
                if *to_poll > 0 {
                    parts.push(format!("{to_poll} submitted earlier to collect"));
                }
                if *to_download > 0 {
                    parts.push(format!("{to_download} to download again"));
                }
                self.line(Detail::Normal, &parts.join(", "));
                if !uncertain.is_empty() {
                    self.line(
                        Detail::Quiet,
                        &format!(
                            "warning: {} uncertain job(s) may already be charged and are not resubmitted \
                             without --resubmit-uncertain: {}",
                            uncertain.len(),
                            uncertain.join(", ")
                        ),
                    );
                }
                if !orphaned.is_empty() {
                    self.line(
                        Detail::Normal,
                        &format!(
                            "note: {} job(s) of an earlier version of the manifest are no longer in it \
                             (their files are kept): {}",
                            orphaned.len(),
                            orphaned.join(", ")
                        ),
                    );
                }
            }
            RunEvent::Submitted { id, task_id } => {
                self.line(
                    Detail::Verbose,
                    &format!("submitted  {id} (task {task_id})"),
                );
            }
            RunEvent::NotSubmitted {
                id,
                message,
                job_failed: true,
            } => self.line(Detail::Quiet, &format!("failed     {id}: {message}")),
            RunEvent::NotSubmitted {
                id,
                message,
                job_failed: false,
            } => self.line(Detail::Verbose, &format!("not sent   {id}: {message}")),
            RunEvent::Uncertain { id, message } => self.line(
                Detail::Quiet,
                &format!(
                    "uncertain  {id}: {message}; not resubmitted without --resubmit-uncertain"
                ),
            ),
            RunEvent::StateChanged { id, state } => {
                self.line(Detail::Verbose, &format!("{state:<10} {id}"));
            }
            RunEvent::Finished {
                id,
                success: true,
                credits,
                generation,
                ..
            } => {
                let took = generation
                    .map(|g| format!(" in {}", duration_text(g)))
                    .unwrap_or_default();
                self.line(
                    Detail::Normal,
                    &format!("succeeded  {id}{took}{}", credits_text(*credits)),
                );
            }
            RunEvent::Finished {
                id,
                success: false,
                message,
                ..
            } => self.line(
                Detail::Quiet,
                &format!(
                    "failed     {id}: {}",
                    message.as_deref().unwrap_or("the service failed the task")
                ),
            ),
            RunEvent::Downloaded {
                file_name, bytes, ..
            } => self.line(
                Detail::Normal,
                &format!("downloaded {file_name} ({})", bytes_text(*bytes)),
            ),
            RunEvent::DownloadFailed { id, message } => self.line(
                Detail::Quiet,
                &format!("download failed for {id}: {message}; the next run fetches it again"),
            ),
            RunEvent::TimedOut { id, task_id } => self.line(
                Detail::Quiet,
                &format!("timed out  {id} (task {task_id}); the next run polls it again"),
            ),
            RunEvent::SubmissionsStopped { reason } => {
                self.line(Detail::Quiet, &format!("no more submissions: {reason}"));
            }
            RunEvent::Warning { message } => {
                self.line(Detail::Quiet, &format!("warning: {message}"));
            }
        }
    }
}
