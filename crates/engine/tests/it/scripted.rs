//! A scripted [`TaskService`]: the run tested without HTTP, on tokio's paused clock.
//!
//! Read [`ScriptedService`] first. A test tells it what the service answers: createTask by
//! the job's prompt, recordInfo by task id, downloads by URL. Anything not scripted answers
//! like a healthy service: createTask accepts (task ids `task-<prompt>-<n>`), a task succeeds
//! at its first poll with one result file, a file downloads, the balance is ample. Every call
//! it receives goes on a [`Timeline`], in order and stamped with tokio's (paused) time,
//! beside the run's own [`RunEvent`]s ([`Recorder`]), so that a test asserts on exactly what
//! was sent to the service and when, relative to what the run knew.
//!
//! Two things about the engine shape what this double can promise:
//! - the journal's writer is an OS thread that tokio cannot see, so while the run waits for an
//!   fsync the paused clock jumps from timer to timer: a task that answers "running" can be
//!   polled for an hour of tokio's time, up to its deadline, within one fsync. Time alone
//!   therefore orders nothing between two jobs. A script that needs an order waits for an
//!   event of the run instead: a createTask answered only after it ([`Create::After`]), a
//!   task running until it ([`Poll::RunningUntil`]). Tests whose tasks must still be running
//!   after such a wait give them a deadline of days, out of reach of these jumps. A poll is
//!   never held open: the run's wake-up time computed when it launched a poll is the task's
//!   deadline, and the clock would jump straight to it during the next fsync;
//! - errors are the api crate's own ([`api_error`]), with the evidence the live service's
//!   answers carry.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{Value, json};
use sora_batch_api::wire::{CreateTaskRequest, RecordInfo};
use sora_batch_api::{
    ApiError, CreateTaskError, DownloadSink, DownloadSummary, ErrorKind, FileUpload,
    LocalWriteFailure, Operation, RetryPacer, TaskCreation, TaskId, UploadedFile,
};
use sora_batch_engine::batch::FileSink;
use sora_batch_engine::job::Credits;
use sora_batch_engine::run::{Interrupt, Reporter, RunEvent, TaskService};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// The id the script gives the `n`th task (from 1) created for `prompt`.
pub fn task_id(prompt: &str, n: u32) -> String {
    format!("task-{prompt}-{n}")
}

/// The one result URL of a task that succeeds without a scripted URL.
pub fn result_url(task_id: &str) -> String {
    format!("https://files.test/{task_id}.mp4")
}

/// The URL the upload host serves an uploaded file named `file_name` at.
pub fn upload_url(file_name: &str) -> String {
    format!("https://uploads.test/sora-batch/{file_name}")
}

/// The fresh link download-url hands out for `url`.
pub fn fresh_url(url: &str) -> String {
    format!("{url}?fresh=1")
}

/// What the file at `url` holds unless scripted otherwise.
pub fn file_bytes(url: &str) -> Vec<u8> {
    format!("mp4 bytes of {url}").into_bytes()
}

/// A test's question about the run's events.
pub type EventMatcher = Arc<dyn Fn(&RunEvent) -> bool + Send + Sync>;

/// `RunEvent::Submitted` of job `id`.
pub fn submitted(id: &'static str) -> EventMatcher {
    Arc::new(
        move |event| matches!(event, RunEvent::Submitted { id: job, .. } if job.as_str() == id),
    )
}

/// `RunEvent::NotSubmitted` of job `id`.
pub fn not_submitted(id: &'static str) -> EventMatcher {
    Arc::new(
        move |event| matches!(event, RunEvent::NotSubmitted { id: job, .. } if job.as_str() == id),
    )
}

/// `RunEvent::DownloadFailed` of job `id`.
pub fn download_failed(id: &'static str) -> EventMatcher {
    Arc::new(
        move |event| matches!(event, RunEvent::DownloadFailed { id: job, .. } if job.as_str() == id),
    )
}

/// `RunEvent::SubmissionsStopped`.
pub fn submissions_stopped() -> EventMatcher {
    Arc::new(|event| matches!(event, RunEvent::SubmissionsStopped { .. }))
}

/// An `ApiError` of `operation` and `kind`, with the body code and message Kie sends for it.
///
/// The api crate keeps `ApiError::new` to itself. A [`Client`] refuses a result URL that is
/// not http(s) before it makes any request, so that refusal is taken as the seed and its
/// public fields are set: no socket is opened.
pub fn api_error(operation: Operation, kind: ErrorKind) -> ApiError {
    let (code, msg) = match kind {
        ErrorKind::Unauthorized => (Some(401), Some("You do not have access permissions")),
        ErrorKind::InsufficientCredits => (Some(402), Some("Credits insufficient")),
        ErrorKind::UsageCapReached => (Some(433), Some("Usage cap reached")),
        ErrorKind::TaskUnknown => (Some(422), Some("recordInfo is null")),
        ErrorKind::ServerError => (Some(500), Some("Server error")),
        _ => (None, None),
    };
    let mut error = ApiError::new(operation, kind);
    error.code = code;
    error.msg = msg.map(str::to_owned);
    error.http_status = Some(200);
    error
}

/// The OS's own "No space left on device" (ENOSPC), as a failed write of a download.
pub fn disk_full() -> ErrorKind {
    ErrorKind::Sink(LocalWriteFailure::of(&std::io::Error::from_raw_os_error(
        28,
    )))
}

/// A createTask answer.
#[derive(Clone)]
pub enum Create {
    /// A task id, `task-<prompt>-<n>`.
    Accept,
    /// The service answered with an error: certainly no task.
    NotCreated(ErrorKind),
    /// No trustworthy answer after sending: a task may exist.
    MayHaveBeenCreated(ErrorKind),
    /// The answer, given only once the run has reported a matching event: a slow service.
    After(EventMatcher, Box<Create>),
}

/// A recordInfo answer. The last one of a task's script repeats.
#[derive(Clone)]
pub enum Poll {
    /// `generating`.
    Running,
    /// `generating` until the run has reported a matching event; the next answers after.
    RunningUntil(EventMatcher),
    /// `success` with one result file ([`result_url`]), charged `credits`.
    Succeed {
        credits: f64,
    },
    /// `fail`, with Kie's failCode and failMsg, charged nothing.
    Fail {
        code: i64,
        msg: &'static str,
    },
    Error(ErrorKind),
}

/// A download answer, by URL; once a URL's answers are used up, it downloads.
#[derive(Clone)]
pub enum Fetch {
    Bytes(Vec<u8>),
    /// The file host refused the link (expired).
    Refused,
    /// `written` bytes reach the sink, then the disk is full.
    DiskFull {
        written: Vec<u8>,
    },
    /// A URL the client will not fetch (not http or https).
    Unsupported,
    /// The host sent too little for too long, on every attempt the client made.
    Stalled,
}

/// A call the service received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CreditBalance,
    CreateTask {
        prompt: String,
        model: String,
    },
    RecordInfo {
        task_id: String,
    },
    DownloadUrl {
        url: String,
    },
    Download {
        url: String,
    },
    /// A local file uploaded under this name.
    Upload {
        file_name: String,
    },
}

/// What happened, in order: a call received by the service or an event of the run.
#[derive(Debug, Clone)]
pub enum Happened {
    Call(Call),
    Event(RunEvent),
}

/// One entry of the timeline, at tokio's time since the timeline began.
#[derive(Debug, Clone)]
pub struct Entry {
    pub at: Duration,
    pub what: Happened,
}

/// Calls and events in the order they happened. Shared by the service and its recorder.
#[derive(Clone)]
pub struct Timeline {
    started: Instant,
    entries: Arc<Mutex<Vec<Entry>>>,
    changed: Arc<Notify>,
}

impl Timeline {
    fn new() -> Timeline {
        Timeline {
            started: Instant::now(),
            entries: Arc::new(Mutex::new(Vec::new())),
            changed: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.entries
            .lock()
            .expect("the timeline's lock is only poisoned by a test that already failed")
    }

    fn push(&self, what: Happened) {
        let at = self.started.elapsed();
        self.lock().push(Entry { at, what });
        self.changed.notify_waiters();
    }

    pub fn entries(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    fn has_event(&self, matcher: &EventMatcher) -> bool {
        self.lock()
            .iter()
            .any(|entry| matches!(&entry.what, Happened::Event(event) if matcher(event)))
    }

    async fn wait_for(&self, matcher: &EventMatcher) {
        loop {
            // Registered before the check, so that an event between the two is not missed.
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.has_event(matcher) {
                return;
            }
            notified.await;
        }
    }
}

/// The run's reporter in tests: every event on the service's timeline; optionally, the
/// interrupt (SIGINT) sent the moment an event matches.
pub struct Recorder {
    timeline: Timeline,
    interrupt: Option<(EventMatcher, watch::Sender<Interrupt>, Interrupt)>,
}

impl Reporter for Recorder {
    fn on_event(&self, event: &RunEvent) {
        self.timeline.push(Happened::Event(event.clone()));
        if let Some((matcher, stop, interrupt)) = &self.interrupt
            && matcher(event)
        {
            // The run holds the receiver until it returns; a send after that changes nothing.
            let _ = stop.send(*interrupt);
        }
    }
}

#[derive(Default)]
struct Script {
    creates: HashMap<String, VecDeque<Create>>,
    tasks_created: HashMap<String, u32>,
    /// By task id: the answers and how many were given.
    polls: HashMap<String, (Vec<Poll>, usize)>,
    fetches: HashMap<String, VecDeque<Fetch>>,
    /// What the balance call fails with, if it does.
    balance_error: Option<ErrorKind>,
    /// What the next uploads fail with, in order; then they succeed.
    upload_errors: VecDeque<ErrorKind>,
    /// Whether the upload host has forgotten every file uploaded so far.
    uploads_forgotten: bool,
}

/// The scripted service. One per run: its timeline is that run's.
pub struct ScriptedService {
    timeline: Timeline,
    script: Mutex<Script>,
}

impl ScriptedService {
    pub fn new() -> Arc<ScriptedService> {
        Arc::new(ScriptedService {
            timeline: Timeline::new(),
            script: Mutex::new(Script::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.script
            .lock()
            .expect("the script's lock is only poisoned by a test that already failed")
    }

    /// The answers to the createTasks of the job whose prompt is `prompt`, in order.
    pub fn create(&self, prompt: &str, answers: impl IntoIterator<Item = Create>) -> &Self {
        self.lock()
            .creates
            .entry(prompt.to_owned())
            .or_default()
            .extend(answers);
        self
    }

    /// The answers to the polls of `task_id`, in order; the last one repeats.
    pub fn poll(&self, task_id: &str, answers: impl IntoIterator<Item = Poll>) -> &Self {
        let answers: Vec<Poll> = answers.into_iter().collect();
        assert!(
            answers
                .last()
                .is_some_and(|last| !matches!(last, Poll::RunningUntil(_))),
            "a task's script ends with the answer it keeps giving"
        );
        self.lock().polls.insert(task_id.to_owned(), (answers, 0));
        self
    }

    /// The answers to downloads of `url`, in order; then it downloads.
    pub fn fetch(&self, url: &str, answers: impl IntoIterator<Item = Fetch>) -> &Self {
        self.lock()
            .fetches
            .entry(url.to_owned())
            .or_default()
            .extend(answers);
        self
    }

    /// The next uploads fail with these, in order.
    pub fn fail_uploads(&self, kinds: impl IntoIterator<Item = ErrorKind>) -> &Self {
        self.lock().upload_errors.extend(kinds);
        self
    }

    /// The upload host no longer serves the files uploaded so far.
    pub fn forget_uploads(&self) -> &Self {
        self.lock().uploads_forgotten = true;
        self
    }

    /// The names of the files uploaded, in order.
    pub fn uploaded(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Upload { file_name } => Some(file_name),
                _ => None,
            })
            .collect()
    }

    /// The balance call (the run's first) fails with `kind`.
    pub fn fail_balance(&self, kind: ErrorKind) -> &Self {
        self.lock().balance_error = Some(kind);
        self
    }

    /// The reporter to give the run: its events go on this service's timeline.
    pub fn recorder(&self) -> Recorder {
        Recorder {
            timeline: self.timeline.clone(),
            interrupt: None,
        }
    }

    /// A reporter that also interrupts the run (`stop`) at the first event `when` matches.
    pub fn interrupting_recorder(
        &self,
        when: EventMatcher,
        stop: watch::Sender<Interrupt>,
    ) -> Recorder {
        self.recorder_sending(when, stop, Interrupt::Stop)
    }

    /// A reporter that sends `interrupt` to the run at the first event `when` matches.
    pub fn recorder_sending(
        &self,
        when: EventMatcher,
        stop: watch::Sender<Interrupt>,
        interrupt: Interrupt,
    ) -> Recorder {
        Recorder {
            timeline: self.timeline.clone(),
            interrupt: Some((when, stop, interrupt)),
        }
    }

    pub fn timeline(&self) -> Vec<Entry> {
        self.timeline.entries()
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.timeline
            .entries()
            .into_iter()
            .filter_map(|entry| match entry.what {
                Happened::Call(call) => Some(call),
                Happened::Event(_) => None,
            })
            .collect()
    }

    /// Every event the run reported, in order.
    pub fn events(&self) -> Vec<RunEvent> {
        self.timeline
            .entries()
            .into_iter()
            .filter_map(|entry| match entry.what {
                Happened::Event(event) => Some(event),
                Happened::Call(_) => None,
            })
            .collect()
    }

    /// The prompts of the createTasks received, in order.
    pub fn created(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::CreateTask { prompt, .. } => Some(prompt),
                _ => None,
            })
            .collect()
    }

    /// The task ids of the recordInfos received, in order.
    pub fn polled(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::RecordInfo { task_id } => Some(task_id),
                _ => None,
            })
            .collect()
    }

    /// The URLs of the downloads received, in order.
    pub fn downloaded(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                Call::Download { url } => Some(url),
                _ => None,
            })
            .collect()
    }

    /// The calls received after the first event `matcher` matches, in order.
    pub fn calls_after(&self, matcher: &EventMatcher) -> Vec<Call> {
        let entries = self.timeline.entries();
        let Some(position) = entries
            .iter()
            .position(|entry| matches!(&entry.what, Happened::Event(event) if matcher(event)))
        else {
            panic!("the run never reported the event; timeline: {entries:#?}")
        };
        entries[position..]
            .iter()
            .filter_map(|entry| match &entry.what {
                Happened::Call(call) => Some(call.clone()),
                Happened::Event(_) => None,
            })
            .collect()
    }

    /// The calls received at a later time than the first event `matcher` matches.
    ///
    /// This service answers at once, so a call the run had launched before it learned of
    /// the event reaches it at that very time (calls under way settle); a call made at a
    /// later time was launched after the run knew.
    pub fn calls_later_than(&self, matcher: &EventMatcher) -> Vec<Call> {
        let entries = self.timeline.entries();
        let Some(position) = entries
            .iter()
            .position(|entry| matches!(&entry.what, Happened::Event(event) if matcher(event)))
        else {
            panic!("the run never reported the event; timeline: {entries:#?}")
        };
        let at = entries[position].at;
        entries[position..]
            .iter()
            .filter(|entry| entry.at > at)
            .filter_map(|entry| match &entry.what {
                Happened::Call(call) => Some(call.clone()),
                Happened::Event(_) => None,
            })
            .collect()
    }

    fn call(&self, call: Call) {
        self.timeline.push(Happened::Call(call));
    }

    /// The next poll answer of `task_id`: the script moves on, but for a task running until
    /// an event that has not happened yet.
    fn next_poll(&self, task_id: &str) -> Poll {
        let mut script = self.lock();
        let Some((answers, given)) = script.polls.get_mut(task_id) else {
            return Poll::Succeed { credits: 30.0 };
        };
        loop {
            let answer = answers[(*given).min(answers.len() - 1)].clone();
            match answer {
                Poll::RunningUntil(matcher) if !self.timeline.has_event(&matcher) => {
                    return Poll::Running;
                }
                // The event happened: this poll already gets the answer after it.
                Poll::RunningUntil(_) => *given += 1,
                answer => {
                    *given += 1;
                    return answer;
                }
            }
        }
    }
}

/// A recordInfo `data` as Kie sends it, for a task created at a fixed time that takes 100 s.
fn record_info(task_id: &str, answer: &Poll) -> Result<RecordInfo, ApiError> {
    const CREATED_AT_MS: i64 = 1_757_584_164_490;
    const GENERATION_MS: i64 = 100_000;
    let running = json!({
        "taskId": task_id,
        "model": "sora-2-text-to-video",
        "state": "generating",
        "param": "{}",
        "resultJson": "",
        "failCode": null,
        "failMsg": null,
        "costTime": null,
        "completeTime": null,
        "createTime": CREATED_AT_MS,
    });
    let data = match answer {
        Poll::Running | Poll::RunningUntil(_) => running,
        Poll::Succeed { credits } => {
            let result = json!({ "resultUrls": [result_url(task_id)] }).to_string();
            json!({
                "taskId": task_id,
                "model": "sora-2-text-to-video",
                "state": "success",
                "param": "{}",
                "resultJson": result,
                "failCode": null,
                "failMsg": null,
                "costTime": 100,
                "completeTime": CREATED_AT_MS + GENERATION_MS,
                "createTime": CREATED_AT_MS,
                "creditsConsumed": credits,
            })
        }
        Poll::Fail { code, msg } => json!({
            "taskId": task_id,
            "model": "sora-2-text-to-video",
            "state": "fail",
            "param": "{}",
            "resultJson": "",
            "failCode": code,
            "failMsg": msg,
            "costTime": null,
            "completeTime": CREATED_AT_MS + GENERATION_MS,
            "createTime": CREATED_AT_MS,
            "creditsConsumed": 0,
        }),
        Poll::Error(kind) => return Err(api_error(Operation::RecordInfo, kind.clone())),
    };
    Ok(serde_json::from_value::<RecordInfo>(data).expect("a recordInfo of Kie's shape"))
}

fn create_result(prompt: &str, answer: Create, created: u32) -> Result<TaskId, CreateTaskError> {
    match answer {
        Create::Accept => Ok(TaskId::new(task_id(prompt, created))),
        Create::NotCreated(kind) => Err(CreateTaskError {
            creation: TaskCreation::NotCreated,
            error: api_error(Operation::CreateTask, kind),
        }),
        Create::MayHaveBeenCreated(kind) => Err(CreateTaskError {
            creation: TaskCreation::MayHaveBeenCreated,
            error: api_error(Operation::CreateTask, kind),
        }),
        Create::After(_, answer) => create_result(prompt, *answer, created),
    }
}

fn sink_error(error: std::io::Error) -> ApiError {
    api_error(
        Operation::Download,
        ErrorKind::Sink(LocalWriteFailure::of(&error)),
    )
}

impl TaskService for ScriptedService {
    fn upload_file<'a>(
        &'a self,
        file: &'a FileUpload,
    ) -> BoxFuture<'a, Result<UploadedFile, ApiError>> {
        self.call(Call::Upload {
            file_name: file.file_name.clone(),
        });
        let failure = {
            let mut script = self.lock();
            let failure = script.upload_errors.pop_front();
            if failure.is_none() {
                script.uploads_forgotten = false;
            }
            failure
        };
        if let Some(kind) = failure {
            let error = api_error(Operation::Upload, kind);
            return Box::pin(async move { Err(error) });
        }
        let uploaded = UploadedFile {
            url: upload_url(&file.file_name),
            file_name: Some(file.file_name.clone()),
            size: Some(file.bytes.len() as u64),
            mime_type: Some(file.mime_type.clone()),
            uploaded_at: None,
            expires_at: None,
        };
        Box::pin(async move { Ok(uploaded) })
    }

    fn upload_still_served<'a>(&'a self, url: &'a str) -> BoxFuture<'a, bool> {
        let served = url.starts_with(&upload_url("")) && !self.lock().uploads_forgotten;
        Box::pin(async move { served })
    }

    fn create_task<'a>(
        &'a self,
        request: &'a CreateTaskRequest,
    ) -> BoxFuture<'a, Result<TaskId, CreateTaskError>> {
        let prompt = request
            .input
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.call(Call::CreateTask {
            prompt: prompt.clone(),
            model: request.model.clone(),
        });
        let answer = {
            let mut script = self.lock();
            script
                .creates
                .get_mut(&prompt)
                .and_then(VecDeque::pop_front)
                .unwrap_or(Create::Accept)
        };
        Box::pin(async move {
            let mut final_answer = answer;
            while let Create::After(matcher, then) = final_answer {
                self.timeline.wait_for(&matcher).await;
                final_answer = *then;
            }
            let created = {
                let mut script = self.lock();
                let count = script.tasks_created.entry(prompt.clone()).or_default();
                if matches!(final_answer, Create::Accept) {
                    *count += 1;
                }
                *count
            };
            create_result(&prompt, final_answer, created)
        })
    }

    // A scripted answer is the call's final one (the client's retries are the api crate's,
    // tested there against the fake): the pacer is never asked.
    fn record_info<'a>(
        &'a self,
        task_id: &'a TaskId,
        _pacer: &'a dyn RetryPacer,
    ) -> BoxFuture<'a, Result<RecordInfo, ApiError>> {
        self.call(Call::RecordInfo {
            task_id: task_id.as_str().to_owned(),
        });
        let result = record_info(task_id.as_str(), &self.next_poll(task_id.as_str()));
        Box::pin(async move { result })
    }

    fn credit_balance(&self) -> BoxFuture<'_, Result<Credits, ApiError>> {
        self.call(Call::CreditBalance);
        let answer = match self.lock().balance_error.clone() {
            Some(kind) => Err(api_error(Operation::CreditBalance, kind)),
            None => Ok(Credits(1_000_000.0)),
        };
        Box::pin(async move { answer })
    }

    fn download_url<'a>(
        &'a self,
        url: &'a str,
        _pacer: &'a dyn RetryPacer,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        self.call(Call::DownloadUrl {
            url: url.to_owned(),
        });
        let fresh = fresh_url(url);
        Box::pin(async move { Ok(fresh) })
    }

    fn download<'a>(
        &'a self,
        url: &'a str,
        sink: &'a mut FileSink,
    ) -> BoxFuture<'a, Result<DownloadSummary, ApiError>> {
        self.call(Call::Download {
            url: url.to_owned(),
        });
        let answer = self
            .lock()
            .fetches
            .get_mut(url)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| Fetch::Bytes(file_bytes(url)));
        Box::pin(async move {
            match answer {
                Fetch::Bytes(bytes) => {
                    sink.restart().await.map_err(sink_error)?;
                    sink.write_chunk(&bytes).await.map_err(sink_error)?;
                    Ok(DownloadSummary {
                        bytes: bytes.len() as u64,
                        content_type: Some("video/mp4".to_owned()),
                        attempts: 1,
                    })
                }
                Fetch::Refused => {
                    let mut error = api_error(Operation::Download, ErrorKind::ResultUrlRefused);
                    error.http_status = Some(403);
                    Err(error)
                }
                Fetch::DiskFull { written } => {
                    sink.restart().await.map_err(sink_error)?;
                    sink.write_chunk(&written).await.map_err(sink_error)?;
                    Err(api_error(Operation::Download, disk_full()))
                }
                Fetch::Unsupported => {
                    Err(api_error(Operation::Download, ErrorKind::UnsupportedUrl))
                }
                Fetch::Stalled => Err(api_error(
                    Operation::Download,
                    ErrorKind::Stalled {
                        received: 1,
                        elapsed: std::time::Duration::from_secs(60),
                    },
                )),
            }
        })
    }
}
