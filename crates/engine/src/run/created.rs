//! A createTask's answer: what the coordinator does with it.
//!
//! Read [`Coordinator::handle_created`]. A task id starts the job's polling (its age counted
//! from the task's creation); a failure leaves the job uncertain, failed, pending for a
//! retry, or stops submissions, as the error says. The createTask itself, and the journal
//! records that make its outcome durable first, are in `ops.rs`.

use std::time::Duration;

use sora_batch_api::{CreateTaskError, ErrorKind, TaskCreation};
use tokio::time::Instant;

use super::coordinator::Coordinator;
use super::ops::condemns_job;
use super::state::{Polling, Stage};
use super::{RunEvent, StopReason};
use crate::job::{Credits, TaskId};

impl Coordinator {
    /// The answer to job `index`'s createTask, the task created about `created_at` (by our
    /// clock) when there is one.
    pub(super) fn handle_created(
        &mut self,
        index: usize,
        result: Result<TaskId, CreateTaskError>,
        created_at: Instant,
    ) {
        let now = self.clock.now();
        let id = self.jobs[index].job.id.clone();
        let failure = match result {
            Ok(task_id) => {
                self.polling.insert(task_id.clone(), index);
                // The task's age counts from its creation, not from when its id was durable
                // (an fsync later): polls planned for an age come at that age.
                let age = now.saturating_duration_since(created_at);
                let first = self.planners[self.jobs[index].timing].next_poll(age, 0, 0);
                self.jobs[index].stage = Stage::Polling(Polling {
                    task_id: task_id.clone(),
                    submitted_at_ms: self
                        .clock
                        .now_ms()
                        .saturating_sub(i64::try_from(age.as_millis()).unwrap_or(0)),
                    deadline: now + self.options.task_timeout,
                    next_poll_at: now + first.wait,
                    polls: 0,
                    next_early: first.next_early,
                    seen_running_at: Duration::ZERO,
                    poll_in_flight: false,
                    last_state: None,
                });
                self.emit(RunEvent::Submitted { id, task_id });
                return;
            }
            Err(failure) => failure,
        };
        if failure.creation == TaskCreation::MayHaveBeenCreated {
            // The slot is released. A task it may have created has no id we could poll, so
            // holding the slot bounds nothing we can observe; it only starved the rest of the
            // batch (with `concurrency` uncertain outcomes — one proxy error page at
            // concurrency 1 — the run ended with every other job still pending). The next
            // run does not count uncertain jobs against `concurrency` either.
            self.release_slot(index);
            let message = failure.to_string();
            let slot = &mut self.jobs[index];
            slot.stage = Stage::Uncertain;
            slot.fail_msg = Some(message.clone());
            self.emit(RunEvent::Uncertain { id, message });
            return;
        }
        let error = failure.error;
        let message = error.to_string();
        self.release_slot(index);
        if error.model_unavailable() {
            self.jobs[index].stage = Stage::Pending {
                not_before: self.clock.now(),
            };
            let model = self.jobs[index].job.request.model.clone();
            self.stop_model(&model, &message);
            return;
        }
        if condemns_job(&error) {
            let slot = &mut self.jobs[index];
            slot.stage = Stage::Failed { task_id: None };
            slot.fail_code = error.code.map(|c| c.to_string());
            slot.fail_msg = Some(error.service_message().unwrap_or(&message).to_owned());
            slot.credits = Some(Credits::ZERO);
            self.emit(RunEvent::NotSubmitted {
                id,
                message,
                job_failed: true,
            });
            return;
        }
        // Not created and not the job's fault: it waits for a later attempt or run.
        let attempts = self.jobs[index].create_attempts;
        self.jobs[index].stage = Stage::Pending { not_before: now };
        self.emit(RunEvent::NotSubmitted {
            id,
            message: message.clone(),
            job_failed: false,
        });
        // A refused key, an exhausted account or a misconfigured way to the service.
        if let Some(reason) = StopReason::of_error(&error) {
            self.pending.push_front(index);
            return self.stop_for(reason);
        }
        if let ErrorKind::RateLimited { .. } = error.kind {
            self.create_limiter.back_off(now);
        }
        // Out of tries, the job is left pending for the next run.
        let retry = self
            .options
            .create_retry
            .delay_before_retry(&error.kind, attempts);
        if let Some(wait) = retry {
            self.jobs[index].stage = Stage::Pending {
                not_before: now + wait,
            };
            self.pending.push_back(index);
        }
    }
}
