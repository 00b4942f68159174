//! What can go wrong when talking to Kie, classified the way the live service behaves.
//!
//! Read [`ApiError`] first, then [`ErrorKind::class`]: the engine decides what to do with a
//! failure (stop the run, fail one job, retry, wait) from the [`ErrorClass`] alone, and shows
//! the evidence kept here — HTTP status, body `code`, `msg`, and the raw body when it was not
//! JSON — to the user. [`CreateTaskError`] adds the one fact the no-double-charge guarantee
//! rests on: whether the task was certainly not created.
//!
//! A failure to reach the service at all is told apart by its cause ([`Misconfiguration`]):
//! an untrusted certificate, a proxy that refuses, a name that does not resolve, a host that
//! refuses connections. Before the API host has ever answered, these mean the way to it is
//! misconfigured ([`ErrorClass::Configuration`]: no retry helps); once it has answered, the
//! same failures are the network's passing trouble and stay transient — except a refused
//! certificate, which no retry can make trusted.
//!
//! The API key is never part of an error: it lives only in request headers, which no error
//! captures, and URLs never carry it. Nor is a proxy's password: proxies are named by scheme,
//! host and port only.

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
    /// The way to the service is misconfigured: an untrusted certificate, a refusing proxy,
    /// a host name that does not resolve or a host that refuses connections (see
    /// [`Misconfiguration`]). No retry helps; the user must fix the configuration.
    Configuration,
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
    /// The host could not be reached because of how this machine is set up to reach it:
    /// see [`Misconfiguration`]. Nothing was sent. Only before the API host ever answered,
    /// or for a refused certificate; the same failures later are [`ErrorKind::Connection`].
    Misconfigured(Misconfiguration),
}

/// Why a host could not be reached, when the cause is one the user can fix and a retry
/// cannot: each names its cause and the remedy in its text ([`fmt::Display`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misconfiguration {
    /// The host's TLS certificate was refused.
    Certificate {
        host: String,
        problem: CertificateProblem,
    },
    /// The proxy the environment names for the host (`HTTPS_PROXY`, `HTTP_PROXY`,
    /// `ALL_PROXY`) could not be used. `proxy` is its scheme, host and port, never its
    /// credentials.
    Proxy {
        proxy: String,
        host: String,
        failure: ProxyFailure,
    },
    /// The host's name does not resolve (DNS).
    NameNotResolved { host: String },
    /// Nothing accepts connections at the host's address and port.
    ConnectionRefused { host: String, port: u16 },
    /// The network or the host is unreachable: no route to it.
    NoRoute { host: String },
}

/// What is wrong with a TLS certificate, as rustls found it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Not signed by an authority this machine trusts: a self-signed certificate, or a
    /// proxy that re-signs TLS traffic with its own authority.
    UnknownIssuer,
    Expired,
    NotValidYet,
    /// Valid, but for other names than the host's.
    WrongName,
    Revoked,
    /// Anything else rustls refused, in its words.
    Other(String),
}

/// How a proxy failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyFailure {
    /// Nothing accepts connections at the proxy's address: it is not running there.
    Refused,
    /// The proxy's name does not resolve.
    NameNotResolved,
    /// The proxy answered, and would not pass the connection on: it wants credentials
    /// (407), forbids the host (403), or could not reach it. `detail` is the transport's
    /// own account of it, or the HTTP status line.
    Rejected { detail: String },
}

/// Where each remedy points: the proxy settings reqwest reads.
const PROXY_VARIABLES: &str = "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY";

impl fmt::Display for Misconfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misconfiguration::Certificate { host, problem } => match problem {
                CertificateProblem::UnknownIssuer => write!(
                    f,
                    "the TLS certificate of {host} is not signed by an authority this machine \
                     trusts (unknown issuer); if a proxy or firewall re-signs TLS traffic, trust \
                     its CA certificate: add it to the system's certificate store, or set \
                     SSL_CERT_FILE to a PEM file holding it"
                ),
                CertificateProblem::Expired => write!(
                    f,
                    "the TLS certificate of {host} has expired (or this machine's clock is \
                     wrong); check the clock, and whether a proxy intercepts TLS"
                ),
                CertificateProblem::NotValidYet => write!(
                    f,
                    "the TLS certificate of {host} is not valid yet: this machine's clock is \
                     probably wrong"
                ),
                CertificateProblem::WrongName => write!(
                    f,
                    "the TLS certificate presented for {host} is for another name; check the \
                     base URL, and whether a proxy intercepts TLS"
                ),
                CertificateProblem::Revoked => {
                    write!(f, "the TLS certificate of {host} has been revoked")
                }
                CertificateProblem::Other(detail) => write!(
                    f,
                    "the TLS certificate of {host} was refused ({detail}); the system's \
                     certificate store or SSL_CERT_FILE decides which authorities are trusted"
                ),
            },
            Misconfiguration::Proxy {
                proxy,
                host,
                failure,
            } => match failure {
                ProxyFailure::Refused => write!(
                    f,
                    "the proxy {proxy} refused the connection to it (is it running?); check \
                     {PROXY_VARIABLES}"
                ),
                ProxyFailure::NameNotResolved => write!(
                    f,
                    "the name of the proxy {proxy} does not resolve; check {PROXY_VARIABLES}"
                ),
                ProxyFailure::Rejected { detail } => write!(
                    f,
                    "the proxy {proxy} would not pass the connection on to {host} ({detail}); \
                     check the proxy's address and credentials in {PROXY_VARIABLES}"
                ),
            },
            Misconfiguration::NameNotResolved { host } => write!(
                f,
                "the host name {host} does not resolve (DNS); check the base URL and this \
                 machine's network"
            ),
            Misconfiguration::ConnectionRefused { host, port } => write!(
                f,
                "{host}:{port} refused the connection (nothing listens there); check the base \
                 URL, and whether this network needs a proxy ({PROXY_VARIABLES})"
            ),
            Misconfiguration::NoRoute { host } => write!(
                f,
                "no route to {host}: the network or the host is unreachable; check this \
                 machine's network"
            ),
        }
    }
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
            ErrorKind::Misconfigured(_) => ErrorClass::Configuration,
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
            ErrorKind::Misconfigured(problem) => format!("cannot connect: {problem}"),
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
        // A misconfiguration names its cause already; the transport's words ("error
        // sending request") would only bury it. They stay in `source()` and in `-v` logs.
        if let Some(source) = &self.source
            && !matches!(self.kind, ErrorKind::Misconfigured(_))
        {
            write!(f, ": {}", chain_text(source.as_ref()))?;
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

/// An error and its causes in one line, `outer: inner: innermost`, each said once: the
/// transport's outer words alone ("error sending request") hide what happened ("Connection
/// reset by peer"). A cause inside an `io::Error` is reached through `get_ref`, since
/// `io::Error::source` skips it.
pub(crate) fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for link in causes(error) {
        let text = link.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// `error` and every cause under it, outermost first, including the error an `io::Error`
/// wraps (which `io::Error::source` skips).
pub(crate) fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(
        Some(error),
        |&current: &&'a (dyn StdError + 'static)| match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(wrapped) => Some(wrapped as &(dyn StdError + 'static)),
            None => current.source(),
        },
    )
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
    /// `SSL_CERT_FILE` (or [`crate::ClientConfig::trusted_certificates`]) names a file that
    /// cannot be read or holds no PEM certificate.
    #[error(
        "SSL_CERT_FILE names {path}, which {reason}; point it at a PEM file of the \
         certificate authorities to trust, or unset it to use the system's store"
    )]
    CertificateFile { path: String, reason: String },
    #[error("could not set up the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}

impl ClientBuildError {
    /// Whether the user's setup, rather than the arguments, is at fault: the trusted
    /// certificates, or a TLS setup that found none on this machine.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            ClientBuildError::CertificateFile { .. } | ClientBuildError::Http(_)
        )
    }
}
