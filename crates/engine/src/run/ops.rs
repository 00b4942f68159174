//! The run's I/O: createTask, recordInfo and downloads as futures, each journaled in the
//! order the never-pay-twice rule needs.
//!
//! Read [`create`] first: its intent is durable before the request leaves, and its outcome
//! (task id, certainly nothing created, or uncertain) is durable before the coordinator
//! hears of it. [`poll`] asks for a task's record; [`download`] streams a result file into
//! the batch folder and journals it once it is complete under its final name. Each future
//! ends in an [`Arrival`] for the coordinator, which alone decides what happens next. All of
//! them talk to the service through [`TaskService`].

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use sora_batch_api::wire::{CreateTaskRequest, RecordInfo};
use sora_batch_api::{
    ApiError, CreateTaskError, ErrorClass, ErrorKind, RetryPacer as _, TaskCreation,
};
use tokio::time::Instant;

use super::TaskService;
use super::limiter::SharedLimiter;
use super::uploads::{UploadFailure, Uploads};
use crate::batch::{self, FileSink};
use crate::job::{JobId, JobKey, TaskId};
use crate::journal::{DownloadedFile, JournalError, JournalWriter, Record};

/// What came back to the coordinator.
#[derive(Debug)]
pub(super) enum Arrival {
    Created {
        job: usize,
        result: Result<TaskId, CreateTaskError>,
        /// When the create limiter let the call through, when the request actually left
        /// (after the intent was made durable), and when its answer came (before the
        /// outcome was made durable).
        granted_at: Instant,
        sent_at: Instant,
        answered_at: Instant,
    },
    /// A task's record, or why it could not be had. Keyed by the task, not by who asked:
    /// a record pushed by the service (a callback receiver) arrives the same way as one
    /// this run polled for, and the coordinator handles both alike.
    Record {
        task_id: TaskId,
        result: Result<RecordInfo, ApiError>,
    },
    Downloaded {
        job: usize,
        index: usize,
        result: Result<DownloadedFile, DownloadFailure>,
    },
    /// The job's local files could not be uploaded: nothing was journaled or sent for it.
    UploadFailed { job: usize, failure: UploadFailure },
    /// The createTask was not sent after all: submissions had stopped while its intent was
    /// being made durable. Its `not_created` record is durable.
    Withdrawn { job: usize },
    /// The journal could not take a record the guarantee needs: the run stops. `creating`
    /// names the job whose createTask this was, if it was one.
    JournalFailed {
        creating: Option<usize>,
        error: JournalError,
    },
}

/// Why a result file is not in the batch folder.
#[derive(Debug)]
pub(super) enum DownloadFailure {
    /// Our side: the batch folder could not take the file (a full disk, a read-only file
    /// system, permissions). No later attempt in this run can do better.
    Local { path: PathBuf, error: io::Error },
    /// The file host or the service; the next run tries again.
    Remote(String),
    /// The way to the file host or the service is misconfigured (its certificate is not
    /// trusted): the run stops, as for the API host.
    Misconfigured(String),
    /// The result can never be fetched (a URL that is not http or https, even after asking
    /// download-url for a fresh one): the job fails with this reason rather than being
    /// outstanding on every later run.
    Unusable(String),
}

/// What a createTask needs of its job.
#[derive(Debug, Clone)]
pub(super) struct Submission {
    pub job: usize,
    pub id: JobId,
    pub key: JobKey,
    pub take: u32,
    pub request: CreateTaskRequest,
}

/// One createTask, journaled: intent durable before sending, outcome durable after. The
/// job's local files are uploaded first (their URLs put in the request); a job whose files
/// cannot be had is not journaled at all, as nothing was sent for it.
pub(super) fn create(
    service: Arc<dyn TaskService>,
    uploads: Arc<Uploads>,
    journal: JournalWriter,
    clock: Clock,
    submissions_open: Arc<AtomicBool>,
    submission: Submission,
    granted_at: Instant,
) -> BoxFuture<'static, Arrival> {
    Box::pin(async move {
        let Submission {
            job,
            id,
            key,
            take,
            request,
        } = submission;
        let request = match uploads
            .prepare(&request, service.as_ref(), &journal, &|| clock.now_ms())
            .await
        {
            Ok(Some(prepared)) => prepared,
            Ok(None) => request,
            Err(UploadFailure::Journal(error)) => {
                return Arrival::JournalFailed {
                    creating: Some(job),
                    error,
                };
            }
            Err(failure) => return Arrival::UploadFailed { job, failure },
        };
        // Uploads can take a while: a run that stopped submitting meanwhile journals nothing
        // for this job (no intent, so no outcome to write either).
        if !submissions_open.load(Ordering::SeqCst) {
            return Arrival::Withdrawn { job };
        }
        let intent = Record::Intent {
            key: key.clone(),
            id,
            take,
            model: request.model.clone(),
            at_ms: clock.now_ms(),
        };
        if let Err(error) = journal.append_durable(&intent).await {
            return Arrival::JournalFailed {
                creating: Some(job),
                error,
            };
        }
        // The run may have stopped submitting (a refused key, a full disk, an interrupt)
        // while the intent was fsynced: then nothing may be sent, and paid for, after all.
        if !submissions_open.load(Ordering::SeqCst) {
            let withdrawn = Record::NotCreated {
                key,
                error: "not sent: the run had stopped submitting".into(),
                code: None,
                job_failed: false,
                at_ms: clock.now_ms(),
            };
            return match journal.append_durable(&withdrawn).await {
                Ok(()) => Arrival::Withdrawn { job },
                Err(error) => Arrival::JournalFailed {
                    creating: Some(job),
                    error,
                },
            };
        }
        let sent_at = clock.now();
        let result = service.create_task(&request).await;
        let answered_at = clock.now();
        let outcome = match &result {
            Ok(task_id) => Record::Submitted {
                key,
                task_id: task_id.clone(),
                at_ms: clock.now_ms(),
            },
            Err(failure) if failure.creation == TaskCreation::NotCreated => Record::NotCreated {
                key,
                error: failure.error.to_string(),
                code: failure.error.code,
                job_failed: condemns_job(&failure.error),
                at_ms: clock.now_ms(),
            },
            Err(failure) => Record::Uncertain {
                key,
                error: failure.to_string(),
                at_ms: clock.now_ms(),
            },
        };
        if let Err(error) = journal.append_durable(&outcome).await {
            return Arrival::JournalFailed {
                creating: Some(job),
                error,
            };
        }
        Arrival::Created {
            job,
            result,
            granted_at,
            sent_at,
            answered_at,
        }
    })
}

/// One recordInfo of `task_id`, whose first request the coordinator let through
/// `poll_limiter` at `granted_at`; the client retries transient trouble itself, each retry through the same
/// limiter.
pub(super) fn poll(
    service: Arc<dyn TaskService>,
    poll_limiter: SharedLimiter,
    task_id: TaskId,
    granted_at: Instant,
) -> BoxFuture<'static, Arrival> {
    Box::pin(async move {
        // The request leaves when this future first runs, which a busy machine can put
        // milliseconds after the limiter let it through: it counts from now, or the next
        // window's requests would meet it inside the service's window.
        poll_limiter.sent_later(granted_at, Instant::now());
        let result = service.record_info(&task_id, &poll_limiter).await;
        Arrival::Record { task_id, result }
    })
}

/// What a download needs of its job.
#[derive(Debug, Clone)]
pub(super) struct Fetch {
    pub job: usize,
    pub index: usize,
    pub key: JobKey,
    pub url: String,
    /// The file's name without its extension, which its bytes decide.
    pub file_stem: String,
}

/// Result file `fetch.index` of a job into the batch folder at `root`, journaled once it
/// is complete under its final name.
pub(super) fn download(
    service: Arc<dyn TaskService>,
    poll_limiter: SharedLimiter,
    journal: JournalWriter,
    clock: Clock,
    root: PathBuf,
    fetch: Fetch,
) -> BoxFuture<'static, Arrival> {
    Box::pin(async move {
        let Fetch {
            job,
            index,
            key,
            url,
            file_stem,
        } = fetch;
        let result = fetch_file(service.as_ref(), &poll_limiter, &root, &url, &file_stem)
            .await
            .map(|done| DownloadedFile {
                path: done.file_name,
                url,
                sha256: done.sha256,
                bytes: done.bytes,
                modified_ns: done.modified_ns,
                media_type: Some(done.media_type),
            });
        if let Ok(file) = &result {
            let record = Record::downloaded(key, index, file, clock.now_ms());
            if let Err(error) = journal.append_durable(&record).await {
                return Arrival::JournalFailed {
                    creating: None,
                    error,
                };
            }
        }
        Arrival::Downloaded { job, index, result }
    })
}

/// A text model's result (`resultObject`) saved as `<stem>.json` in the batch folder at
/// `root`, then journaled like a downloaded file (with no URL): the same guarantees, no
/// network.
pub(super) fn save_text(
    journal: JournalWriter,
    clock: Clock,
    root: PathBuf,
    fetch: Fetch,
    result: serde_json::Value,
) -> BoxFuture<'static, Arrival> {
    Box::pin(async move {
        let Fetch {
            job,
            index,
            key,
            url,
            file_stem,
        } = fetch;
        let path = root.join(format!(
            "{file_stem}.{}",
            crate::media::Media::TEXT.extension
        ));
        let saved = tokio::task::spawn_blocking(move || {
            batch::save_text_result(&root, &file_stem, &result)
        })
        .await
        .map_err(io::Error::other)
        .and_then(|saved| saved);
        let result = match saved {
            Ok(done) => Ok(DownloadedFile {
                path: done.file_name,
                url,
                sha256: done.sha256,
                bytes: done.bytes,
                modified_ns: done.modified_ns,
                media_type: Some(done.media_type),
            }),
            Err(error) => Err(DownloadFailure::Local { path, error }),
        };
        if let Ok(file) = &result {
            let record = Record::downloaded(key, index, file, clock.now_ms());
            if let Err(error) = journal.append_durable(&record).await {
                return Arrival::JournalFailed {
                    creating: None,
                    error,
                };
            }
        }
        Arrival::Downloaded { job, index, result }
    })
}

/// Downloads one result file into the batch folder; a refused (expired) URL is replaced
/// by a fresh one from download-url. A failure to write is told apart from the host's.
/// download-url is an API call like recordInfo: its requests, first and retries, go through
/// `poll_limiter`.
async fn fetch_file(
    service: &dyn TaskService,
    poll_limiter: &SharedLimiter,
    root: &Path,
    url: &str,
    file_stem: &str,
) -> Result<batch::CompletedFile, DownloadFailure> {
    // The extension is not known before the bytes are: errors name the file as its URL
    // suggests it will be called.
    let guessed = crate::media::Media::from_url(url).map_or("mp4", |media| media.extension);
    let path = root.join(format!("{file_stem}.{guessed}"));
    let local = |error: io::Error| DownloadFailure::Local {
        path: path.clone(),
        error,
    };
    let mut sink = FileSink::create(root, file_stem).await.map_err(local)?;
    let mut fetched_from = url.to_owned();
    let mut outcome = service.download(url, &mut sink).await;
    // An expired link, one this client will not fetch, or a host that stalled: the service
    // may hand out another (download-url), once.
    let unsupported = matches!(&outcome, Err(error) if error.kind == ErrorKind::UnsupportedUrl);
    if let Err(error) = &outcome
        && (unsupported
            || matches!(
                error.kind,
                ErrorKind::ResultUrlRefused | ErrorKind::Stalled { .. }
            ))
    {
        poll_limiter.permit().await;
        match service.download_url(url, poll_limiter).await {
            Ok(fresh) => {
                outcome = service.download(&fresh, &mut sink).await;
                fetched_from = fresh;
            }
            Err(fresh_error) => {
                sink.discard().await;
                let reason = format!("{error}; and no fresh link: {fresh_error}");
                return Err(if unsupported {
                    DownloadFailure::Unusable(reason)
                } else {
                    DownloadFailure::Remote(reason)
                });
            }
        }
    }
    match outcome {
        Ok(_) => sink.complete(&fetched_from).await.map_err(local),
        Err(error) => {
            sink.discard().await;
            match &error.kind {
                ErrorKind::Sink(failure) => Err(local(failure.to_io_error())),
                ErrorKind::UnsupportedUrl => Err(DownloadFailure::Unusable(format!(
                    "{error} (also the fresh link from download-url)"
                ))),
                ErrorKind::Misconfigured(_) => {
                    Err(DownloadFailure::Misconfigured(error.to_string()))
                }
                _ => Err(DownloadFailure::Remote(error.to_string())),
            }
        }
    }
}

/// 400, 422, 501 and the like: the service refused this job as written. A client bug
/// (Cloudflare's 1010) or an unreadable answer also ends the job rather than looping. A
/// model the service does not offer ([`ApiError::model_unavailable`]) is not the job's fault.
pub(super) fn condemns_job(error: &ApiError) -> bool {
    matches!(
        error.class(),
        ErrorClass::JobFatal | ErrorClass::Permanent | ErrorClass::ClientBug
    ) && !error.model_unavailable()
}

/// The run's one clock: tokio's monotonic time, which tests pause and advance, and the
/// wall time derived from it for the journal's `at_ms` and the ages of tasks submitted by
/// earlier runs. Nothing in the run reads the system clock but [`Clock::start`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    started: Instant,
    started_ms: i64,
}

impl Clock {
    pub fn start() -> Clock {
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Clock {
            started: Instant::now(),
            started_ms,
        }
    }

    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.started_ms.saturating_add(elapsed)
    }

    /// How long ago `at_ms` (milliseconds since the epoch) was; zero for a time ahead.
    pub fn since_ms(&self, at_ms: i64) -> std::time::Duration {
        std::time::Duration::from_millis(
            u64::try_from(self.now_ms().saturating_sub(at_ms)).unwrap_or(0),
        )
    }
}
