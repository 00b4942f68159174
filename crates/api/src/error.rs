//! What can go wrong when talking to Kie, classified the way the live service behaves.
//!
//! Read [`ApiError`] first, then [`ErrorKind::class`]: the engine decides what to do with a
//! failure (stop the run, fail one job, retry, wait) from the [`ErrorClass`] alone, and shows
//! the evidence kept here — HTTP status, body `code`, `msg`, and the raw body when it was not
//! JSON — to the user. [`CreateTaskError`] adds the one fact the no-double-charge guarantee
//! rests on: whether the task was certainly not created.
//!
//! The API key is never part of an error: it lives only in request headers, which no error
//! captures, and URLs never carry it.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Which call of the service failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateTask,
    RecordInfo,
    CreditBalance,
    DownloadUrl,
    /// Fetching a result file from the file host.
    Download,
    /// `GET /api/v1/models`: the model catalogue.
    ListModels,
    /// `GET /api/v1/models/{model}/schema`: a model's input schema.
    ModelSchema,
    /// `GET /api/v1/models/{model}/price`: a model's price.
    ModelPrice,
    /// `POST /api/file-stream-upload` on the upload host: a local file made a URL.
    Upload,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::CreateTask => "createTask",
            Operation::RecordInfo => "recordInfo",
            Operation::CreditBalance => "credit balance",
            Operation::DownloadUrl => "download-url",
            Operation::Download => "download",
            Operation::ListModels => "models list",
            Operation::ModelSchema => "model schema",
            Operation::ModelPrice => "model price",
            Operation::Upload => "file upload",
        })
    }
}

/// What the engine should do about an error; one class per row of the codes table in
/// `kie-api-notes.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 401, 402, 433: the account cannot go on. 401 stops everything; 402 and 433 stop
    /// submissions while tasks in flight are finished.
    AccountFatal,
    /// 400, 422, 501, 505: this job cannot succeed as written; other jobs go on.
    JobFatal,
    /// 422 `recordInfo is null`: the service does not know the task id.
    TaskUnknown,
    /// 429, 455, 5xx, timeouts and connection failures: worth trying again later.
    Transient,
    /// Not retried, not the account's fault: 404, an expired result URL, an answer we cannot
    /// read, a code the service never documented, a model id no URL can carry.
    Permanent,
    /// A defect on our side, such as a request without User-Agent that Cloudflare blocked.
    ClientBug,
    /// Our own side of a download failed (disk full, permission denied): no retry helps.
    Local,
}

/// An `io::Error` of our own side, kept as evidence: `io::Error` itself cannot be cloned or
/// compared, so its kind, OS code and text are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalWriteFailure {
    pub kind: std::io::ErrorKind,
    pub os_code: Option<i32>,
    pub message: String,
}

impl LocalWriteFailure {
    pub fn of(error: &std::io::Error) -> LocalWriteFailure {
        LocalWriteFailure {
            kind: error.kind(),
            os_code: error.raw_os_error(),
            message: error.to_string(),
        }
    }

    /// The error again: the OS's own when it had a code, so its kind and message follow.
    pub fn to_io_error(&self) -> std::io::Error {
        match self.os_code {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(self.kind, self.message.clone()),
        }
    }
}

impl std::fmt::Display for LocalWriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The specific failure, with what the engine needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 401: bad or missing key.
    Unauthorized,
    /// 402: not enough credits.
    InsufficientCredits,
    /// 433: the key's usage cap is reached.
    UsageCapReached,
    /// 400 or 422: the service rejected the parameters.
    InvalidRequest,
    /// 501: generation failed.
    GenerationFailed,
    /// 505: the model (feature) is disabled.
    ModelDisabled,
    /// 422 `recordInfo is null`.
    TaskUnknown,
    /// 404 from the API.
    NotFound,
    /// 429. `retry_after` is the server's Retry-After header when it sent one.
    RateLimited { retry_after: Option<Duration> },
    /// 455.
    Maintenance,
    /// 500 and other 5xx (501 and 505 aside), including proxy error pages. A 500 is sometimes
    /// a validation error in disguise (`This field is required`), hence bounded retries.
    ServerError,
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made or broke.
    Connection,
    /// HTTP 403 with `error code: 1010`: Cloudflare refused a request without a User-Agent.
    CloudflareBlocked,
    /// The file host refused the result URL (401, 403, 404, 410): it has probably expired;
    /// `download-url` hands out a fresh one.
    ResultUrlRefused,
    /// A result URL we will not fetch (not http or https).
    UnsupportedUrl,
    /// A download ended short of its announced length.
    Truncated { expected: u64, received: u64 },
    /// Writing the downloaded bytes failed on our side: the OS's error, kind and code kept,
    /// so that a full disk is told from an expired link.
    Sink(LocalWriteFailure),
    /// A code or answer the documentation does not describe. The text says what was found
    /// ("`data.models[2].taskType` is a number, expected a list of strings").
    UnexpectedAnswer(String),
    /// A model id that cannot name a URL path (`/api/v1/models/{model}/schema`): empty, or
    /// with an empty, `.` or `..` segment. Nothing was sent.
    InvalidModelId { model: String },
    /// An answer larger than `limit` bytes (`ClientConfig::max_answer_bytes`), refused on its
    /// Content-Length or cut as soon as it streamed past the limit. No answer of the service
    /// comes near that size: a broken proxy or a hostile host sent it, and the next try may
    /// reach a sound one, hence transient and retried for idempotent calls. A createTask that
    /// gets one was delivered, so its task may exist ([`TaskCreation::MayHaveBeenCreated`]).
    AnswerTooLarge { limit: u64 },
    /// A download made too little progress: no byte for `ClientConfig::download_idle_timeout`
    /// (before the headers or in the body), or less than `download_min_rate` bytes per second
    /// over a `download_rate_window`. Each such attempt was cut and the download retried from
    /// the start until `download_stall_budget` was spent; `received` and `elapsed` describe
    /// the last attempt.
    ///
    /// Transient: the host answers but serves this link too slowly. The engine should ask
    /// download-url for a fresh link **once** (it may be served from elsewhere) and download
    /// that; should it stall too, the file is left for a later run rather than retried
    /// without end, since each such call already spent up to the stall budget.
    Stalled { received: u64, elapsed: Duration },
}

impl ErrorKind {
    pub fn class(&self) -> ErrorClass {
        match self {
            ErrorKind::Unauthorized
            | ErrorKind::InsufficientCredits
            | ErrorKind::UsageCapReached => ErrorClass::AccountFatal,
            ErrorKind::InvalidRequest | ErrorKind::GenerationFailed | ErrorKind::ModelDisabled => {
                ErrorClass::JobFatal
            }
            ErrorKind::TaskUnknown => ErrorClass::TaskUnknown,
            ErrorKind::RateLimited { .. }
            | ErrorKind::Maintenance
            | ErrorKind::ServerError
            | ErrorKind::Timeout
            | ErrorKind::Connection
            | ErrorKind::Truncated { .. }
            | ErrorKind::AnswerTooLarge { .. }
            | ErrorKind::Stalled { .. } => ErrorClass::Transient,
            ErrorKind::NotFound
            | ErrorKind::ResultUrlRefused
            | ErrorKind::UnsupportedUrl
            | ErrorKind::UnexpectedAnswer(_)
            | ErrorKind::InvalidModelId { .. } => ErrorClass::Permanent,
            ErrorKind::CloudflareBlocked => ErrorClass::ClientBug,
            ErrorKind::Sink(_) => ErrorClass::Local,
        }
    }

    fn describe(&self) -> String {
        match self {
            ErrorKind::Unauthorized => "the API key was refused (401)".into(),
            ErrorKind::InsufficientCredits => "the account's credits are insufficient (402)".into(),
            ErrorKind::UsageCapReached => "the API key's usage cap is reached (433)".into(),
            ErrorKind::InvalidRequest => "the service rejected the request's parameters".into(),
            ErrorKind::GenerationFailed => "generation failed (501)".into(),
            ErrorKind::ModelDisabled => "the model is disabled on the service (505)".into(),
            ErrorKind::TaskUnknown => "task unknown to the service".into(),
            ErrorKind::NotFound => "not found (404)".into(),
            ErrorKind::RateLimited {
                retry_after: Some(wait),
            } => format!("rate limited (429, retry after {} s)", wait.as_secs()),
            ErrorKind::RateLimited { retry_after: None } => "rate limited (429)".into(),
            ErrorKind::Maintenance => "the service is under maintenance (455)".into(),
            ErrorKind::ServerError => "server error".into(),
            ErrorKind::Timeout => "no answer in time".into(),
            ErrorKind::Connection => "connection failed".into(),
            ErrorKind::CloudflareBlocked => {
                "Cloudflare blocked the request (403, error code 1010: \
                 a request without User-Agent; this is a bug in sora-batch)"
                    .into()
            }
            ErrorKind::ResultUrlRefused => "the file host refused the result URL (expired?)".into(),
            ErrorKind::UnsupportedUrl => "the result URL is not http or https".into(),
            ErrorKind::Truncated { expected, received } => {
                format!("download ended after {received} of {expected} bytes")
            }
            ErrorKind::Sink(failure) => format!("could not write the download: {failure}"),
            ErrorKind::UnexpectedAnswer(what) => format!("unexpected answer: {what}"),
            ErrorKind::InvalidModelId { model } => format!(
                "the model id {model:?} cannot be put in a URL path \
                 (it is empty, or has an empty, `.` or `..` segment)"
            ),
            ErrorKind::AnswerTooLarge { limit } => format!("answer larger than {limit} bytes"),
            ErrorKind::Stalled { received, elapsed } => format!(
                "the file host stalled: {received} bytes in {:.1} s of the last attempt",
                elapsed.as_secs_f64()
            ),
        }
    }
}

/// A failed call, with the evidence of what the service said.
#[derive(Debug)]
pub struct ApiError {
    pub operation: Operation,
    pub kind: ErrorKind,
    /// The HTTP status of the last answer, when there was one.
    pub http_status: Option<u16>,
    /// The `code` of the body, when the body was JSON with one.
    pub code: Option<i64>,
    /// The service's `msg` (or `message`).
    pub msg: Option<String>,
    /// The body as text when it was not JSON (a proxy page, Cloudflare), cut to a few KiB.
    pub raw_body: Option<String>,
    /// How many requests were made for this call, retries included.
    pub attempts: u32,
    /// Transport-level failures only: whether the request certainly never reached the server
    /// (the connection could not be established).
    pub(crate) request_not_sent: bool,
    pub(crate) source: Option<Box<dyn StdError + Send + Sync>>,
}

/// Raw bodies are kept for diagnosis, not archived: beyond this they are cut.
const MAX_RAW_BODY_CHARS: usize = 2048;

impl ApiError {
    /// An error of `kind` from `operation`, with no evidence from the service yet: for the
    /// client, and for test doubles of the service that must fail the way it does.
    pub fn new(operation: Operation, kind: ErrorKind) -> Self {
        ApiError {
            operation,
            kind,
            http_status: None,
            code: None,
            msg: None,
            raw_body: None,
            attempts: 1,
            request_not_sent: false,
            source: None,
        }
    }

    pub(crate) fn with_raw_body(mut self, body: &str) -> Self {
        let trimmed = body.trim();
        if !trimmed.is_empty() {
            let mut kept: String = trimmed.chars().take(MAX_RAW_BODY_CHARS).collect();
            if kept.len() < trimmed.len() {
                kept.push('…');
            }
            self.raw_body = Some(kept);
        }
        self
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn class(&self) -> ErrorClass {
        self.kind.class()
    }

    /// The service's own words, when it gave any: the message to show a user for a job that
    /// failed.
    pub fn service_message(&self) -> Option<&str> {
        self.msg.as_deref().filter(|m| !m.trim().is_empty())
    }

    /// The service does not offer the requested model (now): a 505 "model disabled", or a
    /// 400/422 saying "not published" or "paused", as withdrawn models answer
    /// (`kie-api-notes.md`). Every job of that model would get the same answer.
    pub fn model_unavailable(&self) -> bool {
        if self.kind == ErrorKind::ModelDisabled {
            return true;
        }
        let said = self
            .service_message()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        self.kind == ErrorKind::InvalidRequest
            && (said.contains("not published") || said.contains("paused"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.operation, self.kind.describe())?;
        match (self.code, self.service_message()) {
            (Some(code), Some(msg)) => write!(f, " (code {code}: {msg})")?,
            (Some(code), None) => write!(f, " (code {code})")?,
            (None, Some(msg)) => write!(f, " ({msg})")?,
            (None, None) => {}
        }
        if let Some(status) = self.http_status {
            write!(f, " [HTTP {status}]")?;
        }
        if let Some(body) = &self.raw_body {
            write!(f, ": {}", text_excerpt(body))?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// A one-line, tag-free excerpt of a raw body, so that a proxy's HTML page reads as its
/// words ("502 Bad Gateway cloudflare") rather than as markup.
fn text_excerpt(body: &str) -> String {
    const MAX_EXCERPT_CHARS: usize = 160;
    let mut text = String::new();
    let mut inside_tag = false;
    for character in body.chars() {
        match character {
            '<' => inside_tag = true,
            '>' if inside_tag => {
                inside_tag = false;
                text.push(' ');
            }
            _ if inside_tag => {}
            _ => text.push(character),
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut excerpt = words.join(" ");
    if excerpt.chars().count() > MAX_EXCERPT_CHARS {
        excerpt = excerpt.chars().take(MAX_EXCERPT_CHARS).collect();
        excerpt.push('…');
    }
    excerpt
}

/// Whether a failed createTask may have left a paid task behind on the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskCreation {
    /// The service answered with an error, or the request never left: no task exists, and
    /// sending the request again cannot pay twice.
    NotCreated,
    /// The request was sent and no trustworthy answer came back (timeout, reset, a proxy's
    /// error page): a task may exist and may be charged. Sending again could pay twice.
    MayHaveBeenCreated,
}

/// A createTask that did not return a task id.
#[derive(Debug)]
pub struct CreateTaskError {
    pub creation: TaskCreation,
    pub error: ApiError,
}

impl fmt::Display for CreateTaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if self.creation == TaskCreation::MayHaveBeenCreated {
            f.write_str("; the task may have been created")?;
        }
        Ok(())
    }
}

impl StdError for CreateTaskError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

/// Why a [`crate::Client`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientBuildError {
    #[error("invalid base URL {url:?}: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("the API key is empty or contains characters an HTTP header cannot carry")]
    InvalidApiKey,
    #[error("could not set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}
