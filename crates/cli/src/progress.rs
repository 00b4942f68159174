//! How a run looks on stderr, as the engine's events come.
//!
//! Read [`ProgressReporter`]. Every event worth knowing becomes a line ([`describe`]): by
//! default what finished, failed, was downloaded or needs attention; `-v` adds submissions
//! and state changes; `-q` keeps only problems. On a terminal the lines scroll above a live
//! bar (done/total, in flight, failed, credits, ETA from the generation times observed in
//! the batch); elsewhere (CI logs, pipes) a status line with the same figures is written
//! every [`STATUS_LINE_EVERY`] while the run lasts.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sora_batch_engine::job::Credits;
use sora_batch_engine::render::duration_text;
use sora_batch_engine::run::{Reporter, RunEvent};

/// How often a status line is written when stderr is not a terminal.
pub const STATUS_LINE_EVERY: Duration = Duration::from_secs(30);

/// How much to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Detail {
    Quiet,
    Normal,
    Verbose,
}

fn credits_text(credits: Option<Credits>) -> String {
    credits.map_or_else(String::new, |c| format!(", {c} credits"))
}

/// Ids as a comma-separated list.
fn id_list(ids: &[sora_batch_engine::job::JobId]) -> String {
    ids.iter()
        .map(sora_batch_engine::job::JobId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A size for people, in binary units (the unit models' file limits are read in): `619 B`,
/// `2.9 MiB`. `plan`'s upload list and the run's lines say sizes alike.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The lines an event deserves, each with the least detail that shows it.
pub fn describe(event: &RunEvent) -> Vec<(Detail, String)> {
    let one = |detail: Detail, text: String| vec![(detail, text)];
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
            let mut lines = vec![(Detail::Normal, parts.join(", "))];
            if !uncertain.is_empty() {
                lines.push((
                    Detail::Quiet,
                    format!(
                        "warning: {} uncertain job(s) may already be charged and are not \
                         resubmitted without --resubmit-uncertain: {}",
                        uncertain.len(),
                        id_list(uncertain)
                    ),
                ));
            }
            if !orphaned.is_empty() {
                lines.push((
                    Detail::Normal,
                    format!(
                        "note: {} job(s) of an earlier version of the manifest are no longer \
                         in it (their files are kept): {}",
                        orphaned.len(),
                        id_list(orphaned)
                    ),
                ));
            }
            lines
        }
        RunEvent::Submitted { id, task_id } => {
            one(Detail::Verbose, format!("submitted  {id} (task {task_id})"))
        }
        RunEvent::NotSubmitted {
            id,
            message,
            job_failed: true,
        } => one(Detail::Quiet, format!("failed     {id}: {message}")),
        RunEvent::NotSubmitted {
            id,
            message,
            job_failed: false,
        } => one(Detail::Verbose, format!("not sent   {id}: {message}")),
        RunEvent::Uncertain { id, message } => one(
            Detail::Quiet,
            format!("uncertain  {id}: {message}; not resubmitted without --resubmit-uncertain"),
        ),
        RunEvent::Hurrying {
            creates_in_flight,
            within,
        } => one(
            Detail::Quiet,
            if *creates_in_flight == 0 {
                "interrupted again: no createTask awaits an answer; stopping now".to_owned()
            } else {
                format!(
                    "interrupted again: waiting up to {} for the answers to {creates_in_flight} \
                     createTask(s) already sent, so that their tasks are recorded \
                     (interrupt once more to exit at once; they would be uncertain)",
                    duration_text(*within)
                )
            },
        ),
        RunEvent::StateChanged { id, state } => {
            one(Detail::Verbose, format!("{:<10} {id}", state.as_str()))
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
            one(
                Detail::Normal,
                format!("succeeded  {id}{took}{}", credits_text(*credits)),
            )
        }
        RunEvent::Finished {
            id,
            success: false,
            message,
            ..
        } => one(
            Detail::Quiet,
            format!(
                "failed     {id}: {}",
                message.as_deref().unwrap_or("the service failed the task")
            ),
        ),
        RunEvent::PriceLearned {
            id,
            credits,
            recorded,
        } => one(
            Detail::Normal,
            format!(
                "price      {id} {} {credits} credits: the jobs like it (same model and \
                 inputs but the prompt) are estimated at that",
                if *recorded { "was charged" } else { "cost" }
            ),
        ),
        RunEvent::Downloaded {
            file_name, bytes, ..
        } => one(
            Detail::Normal,
            format!("downloaded {file_name} ({})", bytes_text(*bytes)),
        ),
        RunEvent::Uploaded { file, name, bytes } => one(
            Detail::Normal,
            format!("uploaded   {file} ({}) as {name}", bytes_text(*bytes)),
        ),
        RunEvent::Downloading { id, file_name } => {
            one(Detail::Verbose, format!("downloading {file_name} ({id})"))
        }
        RunEvent::ResultUnusable { id, message } => {
            one(Detail::Quiet, format!("failed     {id}: {message}"))
        }
        RunEvent::DownloadFailed { id, message } => one(
            Detail::Quiet,
            format!("download failed for {id}: {message}; the next run fetches it again"),
        ),
        RunEvent::TimedOut { id, task_id } => one(
            Detail::Quiet,
            format!("timed out  {id} (task {task_id}); the next run polls it again"),
        ),
        // A stop of everything is said once, by the summary at the end, a moment later.
        RunEvent::SubmissionsStopped {
            run_stops: true, ..
        } => Vec::new(),
        RunEvent::SubmissionsStopped { reason, .. } => {
            one(Detail::Quiet, format!("no more submissions: {reason}"))
        }
        RunEvent::Warning { message } => one(Detail::Quiet, format!("warning: {message}")),
    }
}

/// The figures of a run so far, from its events.
#[derive(Debug)]
struct Tally {
    total: u64,
    done: u64,
    in_flight: u64,
    /// Result files being downloaded now.
    downloading: u64,
    failed: u64,
    credits: Credits,
    /// Generation times seen in this run, for the ETA.
    generation_ms: Vec<u64>,
    last_status_line: Instant,
}

impl Tally {
    fn count(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Started {
                total,
                already_done,
                to_poll,
                ..
            } => {
                self.total = *total as u64;
                self.done = *already_done as u64;
                self.in_flight = *to_poll as u64;
            }
            RunEvent::Submitted { .. } => self.in_flight += 1,
            RunEvent::NotSubmitted {
                job_failed: true, ..
            } => {
                self.done += 1;
                self.failed += 1;
            }
            RunEvent::Uncertain { .. } => self.done += 1,
            RunEvent::Finished {
                success,
                credits,
                generation,
                ..
            } => {
                self.done += 1;
                self.in_flight = self.in_flight.saturating_sub(1);
                if !success {
                    self.failed += 1;
                }
                self.credits += credits.unwrap_or(Credits::ZERO);
                if let Some(generation) = generation {
                    self.generation_ms
                        .push(u64::try_from(generation.as_millis()).unwrap_or(u64::MAX));
                }
            }
            RunEvent::TimedOut { .. } => {
                self.done += 1;
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            RunEvent::Downloading { .. } => self.downloading += 1,
            RunEvent::Downloaded { .. } | RunEvent::DownloadFailed { .. } => {
                self.downloading = self.downloading.saturating_sub(1);
            }
            RunEvent::ResultUnusable { .. } => {
                self.downloading = self.downloading.saturating_sub(1);
                self.failed += 1;
            }
            _ => {}
        }
    }

    /// Remaining jobs in waves of `concurrency`, each about a median generation long.
    fn eta(&self, concurrency: u64) -> Option<Duration> {
        if self.generation_ms.is_empty() {
            return None;
        }
        let mut sorted = self.generation_ms.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let remaining = self.total.saturating_sub(self.done);
        let waves = remaining.div_ceil(concurrency.max(1));
        Some(Duration::from_millis(median.saturating_mul(waves)))
    }

    fn figures(&self, concurrency: u64) -> String {
        let mut text = format!("{} in flight", self.in_flight);
        // What the run may be waiting for once nothing is generating: a slow file host.
        if self.downloading > 0 {
            text.push_str(&format!(" · {} downloading", self.downloading));
        }
        text.push_str(&format!(
            " · {} failed · {} credits",
            self.failed, self.credits
        ));
        if let Some(eta) = self.eta(concurrency).filter(|_| self.done < self.total) {
            text.push_str(&format!(" · ETA {}", duration_text(eta)));
        }
        text
    }
}

/// Shows a run's events: lines, and a live bar on a terminal or status lines elsewhere.
#[derive(Debug)]
pub struct ProgressReporter {
    detail: Detail,
    concurrency: u64,
    tally: Mutex<Tally>,
    /// On a terminal only.
    bar: Option<ProgressBar>,
}

impl ProgressReporter {
    /// `on_terminal`: stderr is a terminal (live bar); `color`: the bar may use colour.
    pub fn new(detail: Detail, concurrency: u64, on_terminal: bool, color: bool) -> Self {
        let bar = (on_terminal && detail > Detail::Quiet).then(|| {
            let template = if color {
                "{spinner:.cyan} {elapsed:>4} [{bar:30.cyan/blue}] {pos}/{len} done · {msg}"
            } else {
                "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} done · {msg}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
                .with_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ProgressReporter {
            detail,
            concurrency,
            tally: Mutex::new(Tally {
                total: 0,
                done: 0,
                in_flight: 0,
                failed: 0,
                credits: Credits::ZERO,
                downloading: 0,
                generation_ms: Vec::new(),
                last_status_line: Instant::now(),
            }),
            bar,
        }
    }

    fn write_line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        }
    }

    fn status_line(&self, tally: &Tally) -> String {
        format!(
            "[{}/{} done] {}",
            tally.done,
            tally.total,
            tally.figures(self.concurrency)
        )
    }

    /// Clears the bar when the run is over; the run's summary follows.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for ProgressReporter {
    fn on_event(&self, event: &RunEvent) {
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        tally.count(event);
        for (least, text) in describe(event) {
            if self.detail >= least {
                self.write_line(&text);
            }
        }
        match &self.bar {
            Some(bar) => {
                bar.set_length(tally.total);
                bar.set_position(tally.done);
                bar.set_message(tally.figures(self.concurrency));
            }
            None => {
                if self.detail > Detail::Quiet
                    && tally.last_status_line.elapsed() >= STATUS_LINE_EVERY
                {
                    tally.last_status_line = Instant::now();
                    let line = self.status_line(&tally);
                    self.write_line(&line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_counts_waves_of_the_median_generation_time() {
        let mut tally = Tally {
            total: 10,
            done: 2,
            in_flight: 4,
            downloading: 0,
            failed: 1,
            credits: Credits(30.0),
            generation_ms: vec![100_000, 120_000, 140_000],
            last_status_line: Instant::now(),
        };
        // 8 left, 4 at a time: two waves of the 120 s median.
        assert_eq!(tally.eta(4), Some(Duration::from_secs(240)));
        assert_eq!(
            tally.figures(4),
            "4 in flight · 1 failed · 30 credits · ETA 4m00s"
        );
        tally.done = 10;
        assert_eq!(tally.figures(4), "4 in flight · 1 failed · 30 credits");
        // A file host that keeps the run waiting shows.
        tally.count(&RunEvent::Downloading {
            id: serde_json::from_str("\"a\"").expect("an id"),
            file_name: "a.mp4".into(),
        });
        assert_eq!(
            tally.figures(4),
            "4 in flight · 1 downloading · 1 failed · 30 credits"
        );
    }
}
