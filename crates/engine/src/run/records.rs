//! Tasks' records: what the coordinator does with a task's state, however it arrived.
//!
//! Read [`Coordinator::handle_record`]. A record is taken to the job that holds its task
//! (`Coordinator::polling`, keyed by task id), so the same handling serves a record this
//! run polled for and one a second source delivers (a callback receiver): such a source
//! only needs to hand [`super::ops::Arrival::Record`]s to the coordinator. A final record
//! is journaled, frees the job's slot, teaches the poll planner of the job's timing class
//! its generation time and queues the result files for download. A record of a task still
//! running teaches the planner too: that the task takes longer than its age.

use std::time::Duration;

use sora_batch_api::wire::{RecordInfo, TaskState};
use sora_batch_api::{ApiError, ErrorClass, ErrorKind};

use super::coordinator::Coordinator;
use super::state::Stage;
use super::uploads::UploadFailure;
use super::{RunEvent, StopReason};
use crate::job::{Credits, TASK_UNKNOWN_REASON};
use crate::journal::Record;

impl Coordinator {
    /// A job whose local files could not be uploaded: nothing was sent for it, and it
    /// stays pending. The client already retried the upload as its policy says, so it is
    /// not tried again in this run; a refused key or a misconfigured way to the upload host
    /// stops submissions as it would for the API.
    pub(super) fn upload_failed(&mut self, index: usize, failure: UploadFailure) {
        self.creating = self.creating.saturating_sub(1);
        self.release_slot(index);
        self.jobs[index].stage = Stage::Pending {
            not_before: self.clock.now(),
        };
        let id = self.jobs[index].job.id.clone();
        self.emit(RunEvent::NotSubmitted {
            id,
            message: failure.to_string(),
            job_failed: false,
        });
        if let UploadFailure::Api { error, .. } = &failure
            && let Some(reason) = StopReason::of_error(error)
        {
            self.pending.push_front(index);
            self.stop_for(reason);
        }
    }

    /// A task's record, whether this run polled for it or not.
    pub(super) fn handle_record(&mut self, index: usize, result: Result<RecordInfo, ApiError>) {
        let now = self.clock.now();
        let id = self.jobs[index].job.id.clone();
        let record = match result {
            Ok(record) => record,
            Err(error) => return self.handle_record_error(index, error),
        };
        let Some(polling) = self.jobs[index].stage.polling_mut() else {
            return;
        };
        if polling.last_state.as_ref() != Some(&record.state) {
            // A known state is a plain enum value: no string kept per job.
            polling.last_state = Some(record.state.clone());
            self.emit(RunEvent::StateChanged {
                id,
                state: record.state.clone(),
            });
        }
        if let TaskState::Unknown(name) = &record.state
            && self.unknown_states_seen.insert(name.clone())
        {
            self.emit(RunEvent::Warning {
                message: format!(
                    "the service reported an undocumented task state {name:?}; \
                     treating it as running until the task's deadline"
                ),
            });
        }
        let timing = self.jobs[index].timing;
        if record.state.is_terminal() {
            self.finish(index, &record);
        } else if let Some(polling) = self.jobs[index].stage.polling_mut() {
            let elapsed = self.clock.since_ms(polling.submitted_at_ms);
            polling.seen_running_at = elapsed;
            let (polls, next_early) = (polling.polls, polling.next_early);
            // A task still running at its age is evidence too: the belief may move first.
            self.refresh_planner(timing, now);
            let next = self.planners[timing].next_poll(elapsed, polls, next_early);
            if let Some(polling) = self.jobs[index].stage.polling_mut() {
                polling.next_poll_at = now + next.wait;
                polling.next_early = next.next_early;
            }
        }
    }

    /// Updates the belief of timing class `timing` when it is due, from the class's tasks
    /// still being polled: each takes longer than its age when a poll last saw it running
    /// (not its age now: it may have finished since).
    fn refresh_planner(&mut self, timing: usize, now: tokio::time::Instant) {
        if !self.planners[timing].needs_refresh(now) {
            return;
        }
        let running: Vec<Duration> = self
            .polling
            .values()
            .filter(|index| self.jobs[**index].timing == timing)
            .filter_map(|index| self.jobs[*index].stage.polling())
            .map(|polling| polling.seen_running_at)
            .collect();
        self.planners[timing].refresh(now, &running);
    }

    fn handle_record_error(&mut self, index: usize, error: ApiError) {
        let now = self.clock.now();
        let id = self.jobs[index].job.id.clone();
        match error.class() {
            ErrorClass::TaskUnknown => {
                let Some(task_id) = self.jobs[index].stage.task_id().cloned() else {
                    return;
                };
                self.leave_polling(
                    index,
                    Stage::Failed {
                        task_id: Some(task_id.clone()),
                    },
                );
                self.jobs[index].fail_msg = Some(TASK_UNKNOWN_REASON.into());
                let record = Record::TaskUnknown {
                    key: self.jobs[index].job.key.clone(),
                    task_id,
                    at_ms: self.clock.now_ms(),
                };
                self.release_slot(index);
                self.append(&record);
                self.emit(RunEvent::Finished {
                    id,
                    success: false,
                    message: Some(TASK_UNKNOWN_REASON.into()),
                    credits: None,
                    generation: None,
                });
            }
            ErrorClass::AccountFatal if error.kind == ErrorKind::Unauthorized => {
                self.stop_with(StopReason::Unauthorized {
                    message: error.to_string(),
                });
            }
            ErrorClass::Configuration => {
                self.stop_with(StopReason::Misconfigured {
                    message: error.to_string(),
                });
            }
            _ => {
                // Transient trouble survived the client's own retries: try this task again
                // later; its deadline bounds how long.
                if let ErrorKind::RateLimited { .. } = error.kind {
                    self.poll_limiter.back_off(now);
                }
                if let Some(polling) = self.jobs[index].stage.polling_mut() {
                    polling.next_poll_at = now + self.options.poll.max_interval;
                }
                self.emit(RunEvent::Warning {
                    message: format!("{id}: {error}"),
                });
            }
        }
    }

    fn finish(&mut self, index: usize, record: &RecordInfo) {
        let Some(task_id) = self.jobs[index].stage.task_id().cloned() else {
            return;
        };
        let generation_ms = record.generation_millis();
        let timing = self.jobs[index].timing;
        if let Some(millis) = generation_ms {
            self.planners[timing].observe(Duration::from_millis(millis));
        }
        let result_urls = record.result_urls().to_vec();
        // A text model's result comes in the record itself (`resultObject`), not as a file.
        let text_result = match result_urls.is_empty() {
            true => record.text_result().cloned(),
            false => None,
        };
        let succeeded = record.state == TaskState::Success
            && (!result_urls.is_empty() || text_result.is_some());
        let fail_msg = if succeeded {
            None
        } else if record.state == TaskState::Success {
            Some("the task succeeded without result URLs or a text result".to_owned())
        } else {
            Some(
                record
                    .fail_msg
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "the service failed the task without a message".into()),
            )
        };
        let fail_code = if record.state == TaskState::Success {
            None
        } else {
            record.fail_code.as_deref().map(str::to_owned)
        };
        let stage = if succeeded {
            Stage::Succeeded {
                task_id: task_id.clone(),
            }
        } else {
            Stage::Failed {
                task_id: Some(task_id.clone()),
            }
        };
        self.leave_polling(index, stage);
        self.refresh_planner(timing, self.clock.now());
        let slot = &mut self.jobs[index];
        slot.generation_ms = generation_ms;
        slot.credits = record.credits_consumed.map(Credits);
        slot.result_urls = result_urls;
        slot.text_result = text_result.filter(|_| succeeded);
        slot.fail_code = fail_code;
        slot.fail_msg = fail_msg;
        self.learn_price_now(index);
        let slot = &mut self.jobs[index];
        let journal_record = Record::Finished {
            key: slot.job.key.clone(),
            task_id,
            success: succeeded,
            result_urls: slot.result_urls.clone(),
            fail_code: slot.fail_code.clone(),
            fail_msg: slot.fail_msg.clone(),
            credits: slot.credits,
            generation_ms,
            text_result: slot.text_result.clone(),
            at_ms: self.clock.now_ms(),
        };
        let event = RunEvent::Finished {
            id: slot.job.id.clone(),
            success: succeeded,
            message: slot.fail_msg.clone(),
            credits: slot.credits,
            generation: generation_ms.map(Duration::from_millis),
        };
        if succeeded {
            // Files already in the folder (recorded by an earlier run of this task, or by
            // `recover`) are kept; only the others are fetched.
            let missing: Vec<usize> = slot.missing_files().collect();
            self.downloads.extend(
                missing
                    .into_iter()
                    .map(|result_index| (index, result_index)),
            );
        }
        self.release_slot(index);
        self.append(&journal_record);
        self.emit(event);
    }

    /// A succeeded task whose result can never be fetched: the job fails with `reason`,
    /// journaled, so that later runs do not count it as outstanding for ever. The charge
    /// stays recorded; `--retry-failed` submits it again.
    pub(super) fn fail_unusable(&mut self, index: usize, reason: String) {
        let Stage::Succeeded { task_id } = &self.jobs[index].stage else {
            return;
        };
        let task_id = task_id.clone();
        let slot = &mut self.jobs[index];
        slot.stage = Stage::Failed {
            task_id: Some(task_id.clone()),
        };
        slot.fail_msg = Some(format!("the result cannot be downloaded: {reason}"));
        let record = Record::Finished {
            key: slot.job.key.clone(),
            task_id,
            success: false,
            result_urls: slot.result_urls.clone(),
            fail_code: None,
            fail_msg: slot.fail_msg.clone(),
            credits: slot.credits,
            generation_ms: slot.generation_ms,
            text_result: slot.text_result.clone(),
            at_ms: self.clock.now_ms(),
        };
        let event = RunEvent::ResultUnusable {
            id: slot.job.id.clone(),
            message: slot.fail_msg.clone().unwrap_or_default(),
        };
        self.append(&record);
        self.emit(event);
    }
}
