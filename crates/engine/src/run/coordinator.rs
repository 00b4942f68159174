//! The coordinator: one task that owns all of a run's state and decides what happens next.
//!
//! Read [`Coordinator::drive`], then [`Coordinator::step`]. The coordinator launches the
//! operations of `ops.rs` within the budgets (tasks at once, the spending cap, the two rate
//! limiters, download slots) and handles what they bring back ([`Arrival`]s). It decides;
//! it does no I/O of its own but for the journal records of facts that can be learned again
//! (a task's final state, a deadline passed), which it appends without waiting.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Instant;

use super::budgets::{Slots, Spend, SpendingCap};
use super::limiter::{SharedLimiter, SlidingWindowLimiter};
use super::ops::{self, Arrival, Clock, DownloadFailure, Fetch, Submission};
use super::polling::PollPlanner;
use super::state::{JobSlot, Stage};
use super::uploads::Uploads;
use super::{Interrupt, Reporter, RunEvent, RunOptions, StopReason, TaskService};
use crate::batch;
use crate::job::{Credits, TaskId};
use crate::journal::{JournalError, JournalWriter, Record};
use crate::prices::PriceClass;

pub(super) struct Coordinator {
    pub root: PathBuf,
    pub jobs: Vec<JobSlot>,
    pub service: Arc<dyn TaskService>,
    pub uploads: Arc<Uploads>,
    pub options: RunOptions,
    pub reporter: Arc<dyn Reporter>,
    pub journal: JournalWriter,
    pub clock: Clock,
    pub pending: VecDeque<usize>,
    pub downloads: VecDeque<(usize, usize)>,
    pub downloads_running: usize,
    pub slots: Slots,
    pub cap: SpendingCap,
    /// The jobs in `Stage::Polling`, by task: where a task's record is taken to.
    pub polling: HashMap<TaskId, usize>,
    pub create_limiter: SlidingWindowLimiter,
    /// Shared with the client's retries of recordInfo and download-url.
    pub poll_limiter: SharedLimiter,
    /// One per timing class of the batch; a job's `timing` is its index here.
    pub planners: Vec<PollPlanner>,
    /// createTasks launched and not yet answered (or failed to journal).
    pub creating: usize,
    pub submissions_stopped: bool,
    /// False once a stop other than the spending cap's: shared with createTasks whose intent
    /// is being written, one that finds it false sends nothing.
    pub submissions_open: Arc<AtomicBool>,
    pub draining: bool,
    pub stop_reason: Option<StopReason>,
    pub journal_failure: Option<JournalError>,
    pub unknown_states_seen: BTreeSet<String>,
    /// Models the service answered it does not offer: their jobs are not submitted.
    pub unavailable_models: BTreeSet<String>,
    /// Charges of finished tasks of unknown price, by class: the estimate of the others.
    pub learned_prices: HashMap<PriceClass, Credits>,
    pub ops: FuturesUnordered<BoxFuture<'static, Arrival>>,
}

impl Coordinator {
    pub fn emit(&self, event: RunEvent) {
        self.reporter.on_event(&event);
    }

    /// The main loop: launch what the budgets allow, then wait for an arrival, a due time
    /// or an interrupt.
    pub async fn drive(&mut self, mut interrupts: tokio::sync::watch::Receiver<Interrupt>) {
        let mut interrupts_open = true;
        let mut settling = false;
        let mut settle_deadline: Option<Instant> = None;
        let mut hurrying = false;
        let mut hurry_deadline: Option<Instant> = None;
        loop {
            if self.draining && !settling {
                settling = true;
                // `None` when out of range: calls under way are then waited for as long
                // as they take.
                settle_deadline = self.clock.now().checked_add(self.options.settle_time);
            }
            if hurrying && self.creating == 0 {
                // Every createTask sent has its answer recorded; the rest can be redone.
                break;
            }
            let wake_at = self.step(self.clock.now());
            if self.ops.is_empty() && (self.draining || wake_at.is_none()) {
                break;
            }
            let deadline = match (settle_deadline, hurry_deadline) {
                (Some(settle), Some(hurry)) => Some(settle.min(hurry)),
                (settle, hurry) => settle.or(hurry),
            };
            let sleep_until = match (wake_at, deadline) {
                (Some(wake), Some(deadline)) => Some(wake.min(deadline)),
                (wake, deadline) => wake.or(deadline),
            };
            tokio::select! {
                Some(arrival) = self.ops.next(), if !self.ops.is_empty() => self.handle(arrival),
                () = sleep_until_or_forever(sleep_until) => {
                    if deadline.is_some_and(|deadline| self.clock.now() >= deadline) {
                        // Calls that have not settled are abandoned; the journal already says
                        // what is known of them (an intent without outcome is uncertain).
                        break;
                    }
                }
                changed = interrupts.changed(), if interrupts_open => {
                    let interrupt = match changed {
                        Ok(()) => *interrupts.borrow(),
                        Err(_) => {
                            interrupts_open = false;
                            Interrupt::None
                        }
                    };
                    if interrupt >= Interrupt::Stop {
                        self.stop_with(StopReason::Interrupted);
                    }
                    if interrupt == Interrupt::Hurry && !hurrying {
                        hurrying = true;
                        hurry_deadline = self.clock.now().checked_add(self.options.hurry_time);
                        self.emit(RunEvent::Hurrying {
                            creates_in_flight: self.creating,
                            within: self.options.hurry_time,
                        });
                    }
                }
            }
        }
    }

    /// Everything stops: no submissions, no new polls or downloads; calls under way settle.
    pub fn stop_with(&mut self, reason: StopReason) {
        self.stop_submissions(reason);
        self.draining = true;
    }

    /// [`Self::stop_with`] or [`Self::stop_submissions`], as `reason` calls for.
    pub(super) fn stop_for(&mut self, reason: StopReason) {
        if reason.stops_everything() {
            self.stop_with(reason);
        } else {
            self.stop_submissions(reason);
        }
    }

    /// No more submissions in this run; tasks in flight are still finished and downloaded.
    pub(super) fn stop_submissions(&mut self, reason: StopReason) {
        // A createTask the spending cap admitted is within the cap: it still goes. Any other
        // stop (a refused key, an exhausted account, a full disk, an interrupt) withdraws
        // those whose intent is still being written: sending them would be wasted, or paid
        // for without a way to record it.
        if !matches!(reason, StopReason::SpendingCap { .. }) {
            self.submissions_open.store(false, Ordering::SeqCst);
        }
        if !self.submissions_stopped {
            self.submissions_stopped = true;
            self.emit(RunEvent::SubmissionsStopped {
                reason: reason.to_string(),
                run_stops: reason.stops_everything(),
            });
        }
        if self.stop_reason.is_none() {
            self.stop_reason = Some(reason);
        }
    }

    /// Launches everything the budgets allow at `now`; returns when something may become
    /// launchable next, or `None` when nothing will without an arrival first.
    fn step(&mut self, now: Instant) -> Option<Instant> {
        if self.draining {
            return None;
        }
        let mut wake: Option<Instant> = None;
        let mut wake_at = |at: Instant| {
            wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
        };

        // Only the tasks being polled are looked at (at most `concurrency` of them), not the
        // whole batch: a step runs on every arrival, and a scan of 100,000 jobs each time
        // made a batch's cost grow with the square of its size.
        let mut due: Vec<(i64, usize)> = Vec::new();
        let mut expired: Vec<usize> = Vec::new();
        for &index in self.polling.values() {
            let Some(polling) = self.jobs[index].stage.polling() else {
                continue;
            };
            if polling.poll_in_flight {
                continue;
            }
            // Deadlines first, so that a timed-out task is not polled again in this run.
            if now >= polling.deadline {
                expired.push(index);
            } else if polling.next_poll_at <= now {
                due.push((polling.submitted_at_ms, index));
                wake_at(polling.deadline);
            } else {
                wake_at(polling.next_poll_at);
                wake_at(polling.deadline);
            }
        }
        expired.sort_unstable();
        for index in expired {
            self.time_out(index);
        }

        if !self.submissions_stopped {
            self.submit(now, &mut wake_at);
        }

        // Polls: due tasks, those most likely finished (submitted longest ago) first.
        due.sort_unstable();
        for (_, index) in due {
            if !self.poll_limiter.try_acquire(now) {
                wake_at(self.poll_limiter.next_free_at(now));
                break;
            }
            self.launch_poll(index, now);
        }

        while self.downloads_running < self.options.download_concurrency.max(1) {
            let Some((job, result_index)) = self.downloads.pop_front() else {
                break;
            };
            self.launch_download(job, result_index);
        }
        wake
    }

    /// Submissions, as many as the slots, the spending cap and the create limiter allow.
    fn submit(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        // Summed once per step, then kept up to date with each submission.
        let mut spend: Option<Spend> = None;
        while self.slots.free() {
            let ready = |index: &usize| match self.jobs[*index].stage {
                Stage::Pending { not_before } => not_before <= now,
                _ => true,
            };
            let Some(position) = self.pending.iter().position(ready) else {
                let earliest = self
                    .pending
                    .iter()
                    .filter_map(|i| match self.jobs[*i].stage {
                        Stage::Pending { not_before } => Some(not_before),
                        _ => None,
                    });
                if let Some(earliest) = earliest.min() {
                    wake_at(earliest);
                }
                return;
            };
            let next = self.estimate_of(&self.jobs[self.pending[position]]);
            if let Some(max_credits) = self.cap.max_credits {
                let spend = spend.get_or_insert_with(|| self.spend());
                // A task whose cost is unknown may take all that is left under the cap:
                // nothing more goes until its charge is known, and nothing at all when it
                // cannot become known in this run.
                if let Some(job) = spend.unknown_for_good.clone() {
                    self.stop_submissions(StopReason::UnknownCost { max_credits, job });
                    return;
                }
                if spend.unknown_resolving > 0 {
                    return;
                }
                if let Err(reason) = self.cap.admits(spend.committed, next) {
                    self.stop_submissions(reason);
                    return;
                }
            }
            if !self.create_limiter.try_acquire(now) {
                wake_at(self.create_limiter.next_free_at(now));
                return;
            }
            if let Some(index) = self.pending.remove(position) {
                self.launch_create(index, now);
                if let Some(spend) = spend.as_mut() {
                    match next {
                        Some(next) => spend.committed += next,
                        None => spend.unknown_resolving += 1,
                    }
                }
            }
        }
    }

    fn launch_create(&mut self, index: usize, granted_at: Instant) {
        let slot = &mut self.jobs[index];
        slot.stage = Stage::Creating;
        slot.create_attempts += 1;
        self.creating += 1;
        if !slot.holds_slot {
            slot.holds_slot = true;
            self.slots.take();
        }
        let submission = Submission {
            job: index,
            id: slot.job.id.clone(),
            key: slot.job.key.clone(),
            take: slot.job.take,
            request: slot.job.request.clone(),
        };
        self.ops.push(ops::create(
            self.service.clone(),
            self.uploads.clone(),
            self.journal.clone(),
            self.clock,
            self.submissions_open.clone(),
            submission,
            granted_at,
        ));
    }

    fn launch_poll(&mut self, index: usize, granted_at: Instant) {
        let Some(polling) = self.jobs[index].stage.polling_mut() else {
            return;
        };
        polling.poll_in_flight = true;
        polling.polls += 1;
        let task_id = polling.task_id.clone();
        self.ops.push(ops::poll(
            self.service.clone(),
            self.poll_limiter.clone(),
            task_id,
            granted_at,
        ));
    }

    fn launch_download(&mut self, index: usize, result_index: usize) {
        let slot = &self.jobs[index];
        // A text result has no URL: it is written from the record (`url` stays empty).
        let (url, text_result) = match (slot.result_urls.get(result_index), &slot.text_result) {
            (Some(url), _) => (url.clone(), None),
            (None, Some(text)) if result_index == 0 => (String::new(), Some(text.clone())),
            (None, _) => return,
        };
        self.downloads_running += 1;
        let fetch = Fetch {
            job: index,
            index: result_index,
            key: slot.job.key.clone(),
            url,
            file_stem: batch::result_file_stem(&slot.job.id, result_index),
        };
        self.emit(RunEvent::Downloading {
            id: slot.job.id.clone(),
            file_name: fetch.file_stem.clone(),
        });
        let (journal, root) = (self.journal.clone(), self.root.clone());
        self.ops.push(match text_result {
            Some(text) => ops::save_text(journal, self.clock, root, fetch, text),
            None => ops::download(
                self.service.clone(),
                self.poll_limiter.clone(),
                journal,
                self.clock,
                root,
                fetch,
            ),
        });
    }

    /// The service does not offer `model`: its jobs are no longer submitted in this run (they
    /// stay pending), with one message for all of them, not one failure each.
    pub(super) fn stop_model(&mut self, model: &str, message: &str) {
        if !self.unavailable_models.insert(model.to_owned()) {
            return;
        }
        let jobs = &self.jobs;
        let before = self.pending.len();
        self.pending
            .retain(|index| jobs[*index].job.request.model != model);
        let held_back = before - self.pending.len() + 1;
        self.emit(RunEvent::Warning {
            message: format!(
                "the service does not offer the model {model} now ({message}): its {held_back} \
                 job(s) not yet submitted stay pending; change their model or remove them"
            ),
        });
    }

    pub(super) fn release_slot(&mut self, index: usize) {
        let slot = &mut self.jobs[index];
        if slot.holds_slot {
            slot.holds_slot = false;
            self.slots.give_back();
        }
    }

    /// Leaves `Stage::Polling` for `stage`, and the polled set with it.
    pub(super) fn leave_polling(&mut self, index: usize, stage: Stage) {
        if let Some(task_id) = self.jobs[index].stage.task_id() {
            self.polling.remove(task_id);
        }
        self.jobs[index].stage = stage;
    }

    fn time_out(&mut self, index: usize) {
        let Some(polling) = self.jobs[index].stage.polling() else {
            return;
        };
        let task_id = polling.task_id.clone();
        self.leave_polling(
            index,
            Stage::TimedOut {
                task_id: task_id.clone(),
            },
        );
        let slot = &self.jobs[index];
        let record = Record::TimedOut {
            key: slot.job.key.clone(),
            task_id: task_id.clone(),
            at_ms: self.clock.now_ms(),
        };
        let id = slot.job.id.clone();
        // Not released: the service may still be running the task, and `concurrency`
        // bounds what runs there. A later result is collected by the next run.
        self.append(&record);
        self.emit(RunEvent::TimedOut { id, task_id });
    }

    pub(super) fn append(&mut self, record: &Record) {
        if let Err(error) = self.journal.append(record) {
            self.fail_journal(error);
        }
    }

    fn fail_journal(&mut self, error: JournalError) {
        if self.journal_failure.is_none() {
            self.stop_with(StopReason::LocalFailure {
                path: error.path().to_owned(),
                kind: error.io_error().map(std::io::Error::kind),
                message: error.to_string(),
            });
            self.journal_failure = Some(error);
        }
    }

    fn handle(&mut self, arrival: Arrival) {
        match arrival {
            Arrival::Withdrawn { job } => {
                self.creating = self.creating.saturating_sub(1);
                self.release_slot(job);
                self.jobs[job].stage = Stage::Pending {
                    not_before: self.clock.now(),
                };
                self.pending.push_front(job);
            }
            Arrival::UploadFailed { job, failure } => self.upload_failed(job, failure),
            Arrival::JournalFailed { creating, error } => {
                if creating.is_some() {
                    self.creating = self.creating.saturating_sub(1);
                }
                self.fail_journal(error);
            }
            Arrival::Created {
                job,
                result,
                granted_at,
                sent_at,
                answered_at,
            } => {
                // The request left only after its intent was fsynced, which takes a varying
                // time: count it from when it left, or the next window's burst can reach the
                // service inside this one's window and meet a 429.
                self.create_limiter.sent_later(granted_at, sent_at);
                self.creating = self.creating.saturating_sub(1);
                // The service created the task between the request and its answer.
                self.handle_created(job, result, sent_at + (answered_at - sent_at) / 2);
            }
            Arrival::Record { task_id, result } => {
                if let Some(&index) = self.polling.get(&task_id) {
                    if let Some(polling) = self.jobs[index].stage.polling_mut() {
                        polling.poll_in_flight = false;
                    }
                    self.handle_record(index, result);
                }
            }
            Arrival::Downloaded { job, index, result } => {
                self.downloads_running = self.downloads_running.saturating_sub(1);
                let id = self.jobs[job].job.id.clone();
                match result {
                    Ok(file) => {
                        let event = RunEvent::Downloaded {
                            id,
                            file_name: file.path.clone(),
                            bytes: file.bytes,
                        };
                        self.jobs[job].files.insert(index, file);
                        self.emit(event);
                    }
                    Err(DownloadFailure::Remote(message)) => {
                        self.emit(RunEvent::DownloadFailed { id, message });
                    }
                    Err(DownloadFailure::Misconfigured(message)) => {
                        self.stop_with(StopReason::Misconfigured { message });
                    }
                    Err(DownloadFailure::Unusable(reason)) => self.fail_unusable(job, reason),
                    Err(DownloadFailure::Local { path, error }) => {
                        let message = format!("cannot write {}: {error}", path.display());
                        self.emit(RunEvent::DownloadFailed { id, message });
                        // The batch folder cannot take files: nothing more may be paid for
                        // in this run, whatever its outcome would be.
                        self.stop_with(StopReason::LocalFailure {
                            path,
                            kind: Some(error.kind()),
                            message: error.to_string(),
                        });
                    }
                }
            }
        }
    }
}

async fn sleep_until_or_forever(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}
