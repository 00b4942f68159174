//! The HTTP transport: the only code in sora-batch that speaks to Kie.
//!
//! Read [`Client`] first. Each call makes requests, classifies the answer by the rule of the
//! live service (success is HTTP 2xx **and** body `code` 200; otherwise the body's code
//! decides when there is one, the HTTP status when not) and, for idempotent calls, retries
//! under [`RetryPolicy`]. [`Client::create_task`] makes exactly one request and reports
//! whether a task may exist after a failure; deciding to send it again is the engine's job.
//! The catalogue calls ([`Client::list_models`] and the others) are in [`crate::catalogue`],
//! on the same transport.
//!
//! The key travels only in the `Authorization` header of requests to the API's base URL.
//! Result files are fetched by a second HTTP client that has no key at all, so no redirect,
//! URL or host mix-up can hand it to a file host.
//!
//! TLS trusts the system's certificate store (rustls-platform-verifier), or, when
//! `SSL_CERT_FILE` names a PEM file, exactly the authorities in that file, on every platform
//! ([`ClientConfig::trusted_certificates`]). A request that cannot reach the API host is
//! classified by its cause (`transport_error`): an untrusted certificate, a refusing proxy,
//! a name that does not resolve or a refused connection, before the host ever answered, is
//! [`ErrorKind::Misconfigured`] and not retried.
//!
//! Nothing the network sends is trusted to be small or quick. Every answer read into memory
//! is read as a stream up to [`ClientConfig::max_answer_bytes`] (`read_capped`), and a
//! download is cut when it falls silent or below a progress floor ([`Client::download`]):
//! what a hostile or broken host can cost is bounded in memory and in time.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::catalogue::CataloguePacer;
use crate::error::{
    ApiError, CertificateProblem, ClientBuildError, CreateTaskError, ErrorKind, LocalWriteFailure,
    Misconfiguration, Operation, ProxyFailure, TaskCreation, causes, chain_text,
};
use crate::pacing::{RetryPacer, Unpaced};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::wire::{
    CreateTaskData, CreateTaskRequest, DownloadUrlRequest, Envelope, RecordInfo, parse_credits,
};

/// The service's base URL when none is given.
pub const DEFAULT_BASE_URL: &str = "https://api.kie.ai";

/// Cloudflare answers a request without User-Agent with a 403; every request carries this.
pub const USER_AGENT: &str = concat!("sora-batch/", env!("CARGO_PKG_VERSION"));

/// The default of [`ClientConfig::max_answer_bytes`]: 8 MiB.
///
/// The largest answers the service gives are recordInfo's: the request echoed in `param`
/// (a prompt of a few KiB) and the result URLs twice (`resultJson` and `response`), about
/// 200 bytes each. A task with a thousand outputs stays under half a MiB; 8 MiB leaves that
/// room many times over while keeping what one call can hold small.
pub const DEFAULT_MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// Of a file host's error page only the first words are kept as evidence (the status
/// decides what the error is): no more than this is read of it.
const MAX_ERROR_PAGE_BYTES: u64 = 64 * 1024;

/// An API key. It cannot be printed: `Debug` shows a placeholder and there is no `Display`.
#[derive(Clone)]
pub struct ApiKey(HeaderValue);

impl ApiKey {
    /// Checks that the key can travel in a header; surrounding whitespace (a newline pasted
    /// with it) is dropped.
    pub fn new(key: &str) -> Result<Self, ClientBuildError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(ClientBuildError::InvalidApiKey);
        }
        let mut header = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| ClientBuildError::InvalidApiKey)?;
        // Keeps the value out of hyper's and reqwest's own debug output.
        header.set_sensitive(true);
        Ok(ApiKey(header))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A task id as the service issued it: an opaque string.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    pub fn new(id: impl Into<String>) -> Self {
        TaskId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where and how to talk to the service.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: Url,
    /// The file upload host ([`crate::upload::DEFAULT_UPLOAD_URL`] unless set): the only
    /// other host that is sent the key.
    pub upload_url: Url,
    pub user_agent: String,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole API call's answer. The service answers in well under a second when
    /// healthy; a long wait is a stall worth retrying (or, for createTask, reporting).
    pub request_timeout: Duration,
    /// The most bytes read into memory for one answer: API answers (download-url's
    /// included) and a file host's error pages, which are read up to the smaller of this and
    /// 64 KiB and then cut without error. An API answer that announces more in its
    /// Content-Length is refused before a byte of it is read; one that streams more is cut
    /// as soon as it crosses the cap. Both are [`ErrorKind::AnswerTooLarge`]. Default
    /// [`DEFAULT_MAX_ANSWER_BYTES`]. Result files are not held in memory and not capped.
    pub max_answer_bytes: u64,
    /// Longest silence in a download, waiting for the headers or for the next byte, before
    /// the attempt is cut as stalled and retried from the start.
    pub download_idle_timeout: Duration,
    /// The progress floor, in bytes per second, averaged over `download_rate_window`: an
    /// attempt that receives less than `download_min_rate × download_rate_window` bytes in
    /// a window is cut as stalled. There is no bound on a whole download (files are large
    /// and links may be slow); this is what stops a host that trickles a byte at a time.
    /// Zero (here or in the window) turns the floor off.
    pub download_min_rate: u64,
    /// The window over which `download_min_rate` is averaged.
    pub download_rate_window: Duration,
    /// The time one [`Client::download`] may spend on attempts that stalled, and on the
    /// waits after them, before it gives up with [`ErrorKind::Stalled`]. The last attempt
    /// may start just before the budget is spent, so a call can spend up to one attempt
    /// more: an idle timeout or a rate window.
    pub download_stall_budget: Duration,
    /// The least time between the end of one catalogue request (list, schema, price) and the
    /// start of the next, across every clone of a [`Client`]. The service allows these calls
    /// 1 request per second per account and refuses the excess with code 429; counting from
    /// the end of the previous request, not its start, keeps them a full second apart *as
    /// the service sees them*, whatever the network's delays. Default 1 s.
    pub catalogue_interval: Duration,
    /// A PEM file of the certificate authorities to trust, instead of the system's store,
    /// for the API, upload and file hosts alike: for a proxy that re-signs TLS traffic, or
    /// a service of one's own. Default: the `SSL_CERT_FILE` environment variable, as
    /// OpenSSL and curl read it (on Linux rustls-platform-verifier reads it too; here it
    /// also holds on macOS and Windows, and a file that cannot be used is an error rather
    /// than an empty store).
    pub trusted_certificates: Option<PathBuf>,
    pub retry: RetryPolicy,
    pub download_retry: RetryPolicy,
}

impl ClientConfig {
    /// Sets the upload host (`KIE_UPLOAD_URL`), checked like the base URL.
    pub fn with_upload_url(mut self, upload_url: &str) -> Result<Self, ClientBuildError> {
        self.upload_url = ClientConfig::new(upload_url)?.base_url;
        Ok(self)
    }

    pub fn new(base_url: &str) -> Result<Self, ClientBuildError> {
        let invalid = |reason: &str| ClientBuildError::InvalidBaseUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parsed = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a base URL has no query or fragment"));
        }
        // A base URL with a path prefix keeps it: `https://proxy/kie` + `api/v1/...`.
        parsed = with_trailing_slash(parsed);
        let upload_url = Url::parse(crate::upload::DEFAULT_UPLOAD_URL)
            .map_err(|e| invalid(&format!("the default upload URL: {e}")))?;
        Ok(ClientConfig {
            base_url: parsed,
            upload_url: with_trailing_slash(upload_url),
            user_agent: USER_AGENT.to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
            // The download limits must never cut a healthy slow link, only a dead or
            // hostile one. 30 s without a single byte is far beyond the pauses of a live
            // connection, whose lost segments are sent again within a second or two. The
            // floor, 8 KiB/s (64 kbit/s) averaged over a whole minute, is what a 256 kbit/s
            // link, a small fraction of any broadband or 3G connection, gives each of the
            // engine's four parallel downloads (its default); the minute smooths out TCP's
            // slow start, a Wi-Fi hand-over and congestion dips. Below it a 20 MB video
            // would take over 40 minutes: cutting and retrying (possibly from another edge
            // of the CDN) is the better bet. The budget, 4 minutes, lets about eight
            // silent attempts or four trickling ones go by, so a stalled file costs at most
            // about 5 minutes before the engine hears of it, instead of the 12 it took when
            // only a per-read timeout of 60 s applied.
            download_idle_timeout: Duration::from_secs(30),
            download_min_rate: 8 * 1024,
            download_rate_window: Duration::from_secs(60),
            download_stall_budget: Duration::from_secs(240),
            catalogue_interval: Duration::from_secs(1),
            trusted_certificates: std::env::var_os("SSL_CERT_FILE")
                .filter(|path| !path.is_empty())
                .map(PathBuf::from),
            retry: RetryPolicy::default(),
            download_retry: RetryPolicy::for_downloads(),
        })
    }
}

/// `url` with a path that ends in `/`, so that joining a relative path keeps its prefix.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let with_slash = format!("{}/", url.path());
        url.set_path(&with_slash);
    }
    url
}

/// Receives a download's bytes. A download that fails part-way is retried from the start,
/// so the sink is told to discard what it had before each attempt.
pub trait DownloadSink {
    /// Forget everything written so far.
    fn restart(&mut self) -> impl Future<Output = std::io::Result<()>> + Send;
    fn write_chunk(&mut self, chunk: &[u8]) -> impl Future<Output = std::io::Result<()>> + Send;
}

impl DownloadSink for Vec<u8> {
    async fn restart(&mut self) -> std::io::Result<()> {
        self.clear();
        Ok(())
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadSummary {
    pub bytes: u64,
    pub content_type: Option<String>,
    pub attempts: u32,
}

/// A client of Kie's jobs API. Cheap to clone; clones share connections and the pacing of
/// the catalogue calls.
#[derive(Debug, Clone)]
pub struct Client {
    api: reqwest::Client,
    files: reqwest::Client,
    key: ApiKey,
    config: ClientConfig,
    /// The proxy requests to the API host go through, from the environment: named in
    /// errors, so that a refusal is blamed on the right machine.
    api_proxy: Option<String>,
    /// Whether the API host has answered anything yet, shared by clones. Until it has, a
    /// failure to reach it is a misconfiguration; after, the network's passing trouble.
    api_answered: Arc<AtomicBool>,
    pub(crate) catalogue_pacer: CataloguePacer,
}

/// A task the service accepted: its id, and the `recordId` newer answers carry beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTask {
    /// What the task is polled by.
    pub task_id: TaskId,
    /// Kept for reference; never polled by.
    pub record_id: Option<String>,
}

/// The answer to one request, read whole.
pub(crate) struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    pub(crate) body: String,
}

impl Client {
    pub fn new(config: ClientConfig, key: ApiKey) -> Result<Self, ClientBuildError> {
        // reqwest is built without a default crypto provider (ring is lighter to build than
        // aws-lc-rs); it must be installed once per process. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let trusted = match &config.trusted_certificates {
            Some(path) => Some(read_trusted_certificates(path)?),
            None => None,
        };
        let trusting = |builder: reqwest::ClientBuilder| match &trusted {
            Some(certificates) => builder.tls_certs_only(certificates.iter().cloned()),
            None => builder,
        };
        let api = trusting(reqwest::Client::builder())
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(ClientBuildError::Http)?;
        // No read timeout here: `download_once` applies its own idle timeout and progress
        // floor, which also cover the wait for the headers.
        let files = trusting(reqwest::Client::builder())
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(ClientBuildError::Http)?;
        let catalogue_pacer = CataloguePacer::new(config.catalogue_interval);
        Ok(Client {
            api,
            files,
            key,
            api_proxy: proxy_for(&config.base_url),
            api_answered: Arc::new(AtomicBool::new(false)),
            config,
            catalogue_pacer,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The HTTP client for uploads: no overall timeout (each upload sets one by its size).
    pub(crate) fn upload_http(&self) -> &reqwest::Client {
        &self.files
    }

    /// The Authorization header's value, for the API and upload hosts only.
    pub(crate) fn key_header(&self) -> HeaderValue {
        self.key.0.clone()
    }

    /// Submits one task: exactly one request, never retried here.
    ///
    /// On failure, [`CreateTaskError::creation`] says whether a task may exist. The service
    /// has no idempotency key and no way to list tasks, so a task whose id is lost cannot be
    /// found again: only a [`TaskCreation::NotCreated`] failure may be sent again safely.
    /// An answer over [`ClientConfig::max_answer_bytes`] came after the request was
    /// delivered, so it leaves [`TaskCreation::MayHaveBeenCreated`].
    pub async fn create_task(
        &self,
        request: &CreateTaskRequest,
    ) -> Result<TaskId, CreateTaskError> {
        self.create_task_with_record_id(request)
            .await
            .map(|created| created.task_id)
    }

    /// [`Client::create_task`], keeping the `recordId` of the answer beside the task id.
    /// Exactly one request, never retried, with the same [`TaskCreation`] on failure: a
    /// `recordId` missing or of an odd shape never fails the answer of a created task.
    pub async fn create_task_with_record_id(
        &self,
        request: &CreateTaskRequest,
    ) -> Result<CreatedTask, CreateTaskError> {
        let operation = Operation::CreateTask;
        let answer = match self
            .send_api(
                operation,
                Method::POST,
                "api/v1/jobs/createTask",
                &[],
                Some(request),
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                let creation = if error.request_not_sent {
                    TaskCreation::NotCreated
                } else {
                    TaskCreation::MayHaveBeenCreated
                };
                return Err(CreateTaskError { creation, error });
            }
        };
        match classify(operation, &answer) {
            Ok(data) => match serde_json::from_value::<CreateTaskData>(data) {
                Ok(created) if !created.task_id.trim().is_empty() => Ok(CreatedTask {
                    task_id: TaskId(created.task_id),
                    record_id: created.record_id,
                }),
                // The service said yes without a usable id: a task exists that we cannot name.
                _ => Err(CreateTaskError {
                    creation: TaskCreation::MayHaveBeenCreated,
                    error: ApiError::new(
                        operation,
                        ErrorKind::UnexpectedAnswer("success without a taskId".into()),
                    )
                    .with_raw_body(&answer.body),
                }),
            },
            Err(error) => {
                let creation = creation_after_answer(&answer, &error);
                Err(CreateTaskError { creation, error })
            }
        }
    }

    /// One task's record. Retried while transient; `recordInfo is null` is retried a few
    /// times too, since a task created a moment ago may not be visible yet.
    pub async fn record_info(&self, task_id: &TaskId) -> Result<RecordInfo, ApiError> {
        self.record_info_paced(task_id, &Unpaced).await
    }

    /// [`Client::record_info`] with every retry paced by `pacer`: the caller's limiter
    /// counts the retries as the service does (the first request is the caller's to pace).
    pub async fn record_info_paced(
        &self,
        task_id: &TaskId,
        pacer: &dyn RetryPacer,
    ) -> Result<RecordInfo, ApiError> {
        let operation = Operation::RecordInfo;
        let query = [("taskId", task_id.as_str())];
        self.with_paced_retries(operation, pacer, || async {
            let answer = self
                .send_api::<()>(
                    operation,
                    Method::GET,
                    "api/v1/jobs/recordInfo",
                    &query,
                    None,
                )
                .await?;
            let data = classify(operation, &answer)?;
            serde_json::from_value::<RecordInfo>(data).map_err(|e| {
                ApiError::new(
                    operation,
                    ErrorKind::UnexpectedAnswer(format!("record not understood: {e}")),
                )
                .with_raw_body(&answer.body)
            })
        })
        .await
    }

    /// The account's remaining credits.
    pub async fn credit_balance(&self) -> Result<f64, ApiError> {
        let operation = Operation::CreditBalance;
        self.with_retries(operation, || async {
            let answer = self
                .send_api::<()>(operation, Method::GET, "api/v1/chat/credit", &[], None)
                .await?;
            let data = classify(operation, &answer)?;
            parse_credits(&data).ok_or_else(|| {
                ApiError::new(
                    operation,
                    ErrorKind::UnexpectedAnswer("the balance is not a number".into()),
                )
                .with_raw_body(&answer.body)
            })
        })
        .await
    }

    /// A fresh link (valid about 20 minutes) for a result URL that expired or was refused.
    pub async fn download_url(&self, result_url: &str) -> Result<String, ApiError> {
        self.download_url_paced(result_url, &Unpaced).await
    }

    /// [`Client::download_url`] with every retry paced by `pacer`, as
    /// [`Client::record_info_paced`].
    pub async fn download_url_paced(
        &self,
        result_url: &str,
        pacer: &dyn RetryPacer,
    ) -> Result<String, ApiError> {
        let operation = Operation::DownloadUrl;
        let request = DownloadUrlRequest {
            url: result_url.to_owned(),
        };
        self.with_paced_retries(operation, pacer, || async {
            let answer = self
                .send_api(
                    operation,
                    Method::POST,
                    "api/v1/common/download-url",
                    &[],
                    Some(&request),
                )
                .await?;
            let data = classify(operation, &answer)?;
            match data {
                Value::String(url) if !url.trim().is_empty() => Ok(url),
                _ => Err(ApiError::new(
                    operation,
                    ErrorKind::UnexpectedAnswer("no URL in the answer".into()),
                )
                .with_raw_body(&answer.body)),
            }
        })
        .await
    }

    /// Streams a result file into `sink`, retrying transient failures from the start.
    ///
    /// No key is sent: result files live on other hosts. A refusal (401, 403, 404, 410) is
    /// [`ErrorKind::ResultUrlRefused`], not retried: the link has likely expired, and
    /// [`Client::download_url`] gives a fresh one.
    ///
    /// An attempt that falls silent for [`ClientConfig::download_idle_timeout`] or below the
    /// progress floor ([`ClientConfig::download_min_rate`] over
    /// [`ClientConfig::download_rate_window`]) is cut and retried from the start. Stalled
    /// attempts, and the waits after them, may take [`ClientConfig::download_stall_budget`]
    /// in all (plus the one attempt under way when it ran out); then the call fails with
    /// [`ErrorKind::Stalled`]. With the defaults a stalled file costs at most about 5
    /// minutes.
    pub async fn download<S: DownloadSink + Send>(
        &self,
        url: &str,
        sink: &mut S,
    ) -> Result<DownloadSummary, ApiError> {
        let operation = Operation::Download;
        let parsed = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| ApiError::new(operation, ErrorKind::UnsupportedUrl))?;
        let policy = &self.config.download_retry;
        let mut attempt = 1;
        // Time spent on attempts that stalled and on the waits after them. Other failures
        // are bounded by the retry policy's attempts and fail fast; a stall is slow by
        // nature, so its time is bounded too.
        let mut stalled_for = Duration::ZERO;
        loop {
            let attempt_started = Instant::now();
            match self.download_once(&parsed, sink).await {
                Ok((bytes, content_type)) => {
                    return Ok(DownloadSummary {
                        bytes,
                        content_type,
                        attempts: attempt,
                    });
                }
                Err(mut error) => {
                    let stalled = matches!(error.kind, ErrorKind::Stalled { .. });
                    if stalled {
                        stalled_for += attempt_started.elapsed();
                    }
                    let retry = policy
                        .delay_before_retry(&error.kind, attempt)
                        .filter(|wait| {
                            !stalled || stalled_for + *wait < self.config.download_stall_budget
                        });
                    match retry {
                        Some(wait) => {
                            tracing::debug!(%error, attempt, ?wait, "download failed; retrying");
                            if stalled {
                                stalled_for += wait;
                            }
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        None => {
                            error.attempts = attempt;
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// One attempt: the request, then the body into `sink` under the idle timeout and the
    /// progress floor.
    async fn download_once<S: DownloadSink + Send>(
        &self,
        url: &Url,
        sink: &mut S,
    ) -> Result<(u64, Option<String>), ApiError> {
        let operation = Operation::Download;
        let idle_timeout = self.config.download_idle_timeout;
        let sink_error = |e: std::io::Error| {
            ApiError::new(operation, ErrorKind::Sink(LocalWriteFailure::of(&e)))
        };
        sink.restart().await.map_err(sink_error)?;
        let started = Instant::now();
        let stalled = |received: u64| {
            ApiError::new(
                operation,
                ErrorKind::Stalled {
                    received,
                    elapsed: started.elapsed(),
                },
            )
        };
        // A host that accepts the connection and never answers is as stalled as one that
        // stops in the middle of the body.
        let mut response =
            match tokio::time::timeout(idle_timeout, self.files.get(url.clone()).send()).await {
                Ok(sent) => sent.map_err(|e| self.other_transport_error(operation, url, e))?,
                Err(_) => return Err(stalled(0)),
            };
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after_of(response.headers());
            // The status decides the error; the page is only evidence. Whatever arrived
            // before the cap, the end of the page or the idle timeout is kept, and a page
            // that breaks off is no worse evidence for it.
            let mut page = Vec::new();
            let cap = self.config.max_answer_bytes.min(MAX_ERROR_PAGE_BYTES);
            let _ = tokio::time::timeout(idle_timeout, read_capped(&mut response, cap, &mut page))
                .await;
            let kind = match status.as_u16() {
                401 | 403 | 404 | 410 => ErrorKind::ResultUrlRefused,
                429 => ErrorKind::RateLimited { retry_after },
                500..=599 => ErrorKind::ServerError,
                other => ErrorKind::UnexpectedAnswer(format!("HTTP {other} from the file host")),
            };
            let mut error = ApiError::new(operation, kind).with_raw_body(&text_of(&page));
            error.http_status = Some(status.as_u16());
            return Err(error);
        }
        let expected = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Past the headers, a stall keeps the status as evidence that the host did answer.
        let stalled = |received: u64| {
            let mut error = stalled(received);
            error.http_status = Some(status.as_u16());
            error
        };
        let mut received: u64 = 0;
        let mut last_byte = Instant::now();
        let mut floor = ProgressFloor::new(
            self.config.download_min_rate,
            self.config.download_rate_window,
            last_byte,
        );
        loop {
            let idle_deadline = last_byte + idle_timeout;
            let deadline = floor
                .window_end()
                .map_or(idle_deadline, |end| end.min(idle_deadline));
            let next = tokio::time::timeout_at(deadline, response.chunk()).await;
            let now = Instant::now();
            match next {
                Ok(Ok(Some(chunk))) if !chunk.is_empty() => {
                    received += chunk.len() as u64;
                    sink.write_chunk(&chunk).await.map_err(sink_error)?;
                    let written = Instant::now();
                    // A slow disk is not the host's fault: the clocks that judge the host
                    // stop while the sink writes.
                    floor.postpone(written - now);
                    last_byte = written;
                }
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None)) => break,
                Ok(Err(e)) => return Err(self.other_transport_error(operation, url, e)),
                Err(_) if now >= idle_deadline => return Err(stalled(received)),
                // The window ended first: the floor judges it below.
                Err(_) => {}
            }
            if !floor.holds(Instant::now(), received) {
                return Err(stalled(received));
            }
        }
        if let Some(expected) = expected.filter(|expected| *expected != received) {
            return Err(ApiError::new(
                operation,
                ErrorKind::Truncated { expected, received },
            ));
        }
        Ok((received, content_type))
    }

    /// A failed request to the API host, classified by its cause.
    fn api_transport_error(&self, operation: Operation, error: reqwest::Error) -> ApiError {
        let url = &self.config.base_url;
        transport_error(
            operation,
            error,
            &Destination {
                host: host_of(url),
                port: url.port_or_known_default().unwrap_or(443),
                proxy: self.api_proxy.clone(),
                answered_before: self.api_answered.load(Ordering::SeqCst),
            },
        )
    }

    /// A failed request to a host other than the API's (a file host, the upload host), or an
    /// answer that broke off. File hosts change from file to file and are reached only
    /// after the API host answered: only a refused certificate is a misconfiguration there;
    /// being unable to connect is the host's passing trouble.
    pub(crate) fn other_transport_error(
        &self,
        operation: Operation,
        url: &Url,
        error: reqwest::Error,
    ) -> ApiError {
        transport_error(
            operation,
            error,
            &Destination {
                host: host_of(url),
                port: url.port_or_known_default().unwrap_or(443),
                proxy: None,
                answered_before: true,
            },
        )
    }

    /// Runs `attempt` until it succeeds or the retry policy gives up.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        operation: Operation,
        attempt_fn: F,
    ) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        self.with_paced_retries(operation, &Unpaced, attempt_fn)
            .await
    }

    /// [`Client::with_retries`], asking `pacer` before every retry (after the policy's wait)
    /// and telling it of every 429.
    async fn with_paced_retries<T, F, Fut>(
        &self,
        operation: Operation,
        pacer: &dyn RetryPacer,
        attempt_fn: F,
    ) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let policy = &self.config.retry;
        let mut attempt = 1;
        loop {
            match attempt_fn().await {
                Ok(value) => return Ok(value),
                Err(mut error) => match policy.delay_before_retry(&error.kind, attempt) {
                    Some(wait) => {
                        if let ErrorKind::RateLimited { .. } = error.kind {
                            pacer.rate_limited();
                        }
                        tracing::debug!(%operation, %error, attempt, ?wait, "retrying");
                        tokio::time::sleep(wait).await;
                        pacer.permit().await;
                        attempt += 1;
                    }
                    None => {
                        error.attempts = attempt;
                        return Err(error);
                    }
                },
            }
        }
    }

    /// One request to `path` (relative to the base URL) on the API host with the key; the
    /// answer read whole.
    async fn send_api<B: serde::Serialize + ?Sized>(
        &self,
        operation: Operation,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Answer, ApiError> {
        let url = self.config.base_url.join(path).map_err(|e| {
            ApiError::new(
                operation,
                ErrorKind::UnexpectedAnswer(format!("bad URL: {e}")),
            )
        })?;
        self.send_api_url(operation, method, url, query, body).await
    }

    /// One request to `url`, which must be on the API host (it carries the key); the answer
    /// read whole.
    pub(crate) async fn send_api_url<B: serde::Serialize + ?Sized>(
        &self,
        operation: Operation,
        method: Method,
        url: Url,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<Answer, ApiError> {
        let mut request = self
            .api
            .request(method, url)
            .header(AUTHORIZATION, self.key.0.clone());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.api_transport_error(operation, e))?;
        self.api_answered(operation, &response)?;
        self.read_answer(operation, response).await
    }

    /// The API host answered: from now on, failing to reach it is passing trouble. Unless
    /// the answer is a plain-HTTP proxy's own refusal (407), not the host's.
    fn api_answered(
        &self,
        operation: Operation,
        response: &reqwest::Response,
    ) -> Result<(), ApiError> {
        if response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED
            && let Some(proxy) = &self.api_proxy
        {
            return Err(ApiError::new(
                operation,
                ErrorKind::Misconfigured(Misconfiguration::Proxy {
                    proxy: proxy.clone(),
                    host: host_of(&self.config.base_url),
                    failure: ProxyFailure::Rejected {
                        detail: "407 Proxy Authentication Required".into(),
                    },
                }),
            ));
        }
        self.api_answered.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Reads an answer of the API or upload host whole, within
    /// [`ClientConfig::max_answer_bytes`].
    pub(crate) async fn read_answer(
        &self,
        operation: Operation,
        mut response: reqwest::Response,
    ) -> Result<Answer, ApiError> {
        // Once the answer has begun, failing to read it is never a misconfiguration.
        let url = response.url().clone();
        let status = response.status();
        let retry_after = retry_after_of(response.headers());
        let cap = self.config.max_answer_bytes;
        let too_large = |prefix: &[u8]| {
            let mut error = ApiError::new(operation, ErrorKind::AnswerTooLarge { limit: cap })
                .with_raw_body(&text_of(prefix));
            error.http_status = Some(status.as_u16());
            error
        };
        // Refused on its word: nothing of an answer announced beyond the cap is read, and
        // dropping the response closes the connection rather than draining it.
        if response.content_length().is_some_and(|length| length > cap) {
            return Err(too_large(&[]));
        }
        let mut body = Vec::new();
        let fill = read_capped(&mut response, cap, &mut body)
            .await
            .map_err(|e| self.other_transport_error(operation, &url, e))?;
        if fill == Fill::OverCap {
            return Err(too_large(&body));
        }
        let body = String::from_utf8(body)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// How a [`read_capped`] read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fill {
    /// The whole body, within the cap.
    Whole,
    /// The body went on past the cap; reading stopped there.
    OverCap,
}

/// Appends `response`'s body to `body` as it streams in, stopping as soon as it would pass
/// `cap` bytes: a body that never ends costs `cap` bytes of memory, not all there is.
///
/// `body` is the caller's so that what arrived survives a timeout around this future.
async fn read_capped(
    response: &mut reqwest::Response,
    cap: u64,
    body: &mut Vec<u8>,
) -> Result<Fill, reqwest::Error> {
    while let Some(chunk) = response.chunk().await? {
        let room = usize::try_from(cap.saturating_sub(body.len() as u64)).unwrap_or(usize::MAX);
        if chunk.len() > room {
            // The part that fits is kept as evidence of what the answer was.
            body.extend_from_slice(&chunk[..room]);
            return Ok(Fill::OverCap);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fill::Whole)
}

/// Enough of a body's start, as text, for [`ApiError::with_raw_body`], which keeps 2048
/// characters: at most 4 bytes each in UTF-8.
fn text_of(body: &[u8]) -> String {
    const EVIDENCE_BYTES: usize = 4 * 2048;
    String::from_utf8_lossy(&body[..body.len().min(EVIDENCE_BYTES)]).into_owned()
}

/// The progress floor of one download attempt: at least `min_bytes` must arrive in every
/// window of `window`, counted from when the body begins.
///
/// Windows follow each other rather than slide: the floor is judged once a window has
/// passed, so a short pause inside one costs nothing as long as the window's total is
/// enough, and a trickle is cut at the end of the first window it fails.
#[derive(Debug)]
struct ProgressFloor {
    /// `None` when the floor is off (a zero rate or window).
    window: Option<Duration>,
    min_bytes: u64,
    window_start: Instant,
    received_at_start: u64,
}

impl ProgressFloor {
    fn new(min_rate: u64, window: Duration, now: Instant) -> ProgressFloor {
        let min_bytes = u128::from(min_rate) * window.as_millis() / 1000;
        ProgressFloor {
            window: Some(window).filter(|w| !w.is_zero() && min_rate > 0),
            min_bytes: u64::try_from(min_bytes).unwrap_or(u64::MAX),
            window_start: now,
            received_at_start: 0,
        }
    }

    /// When the current window ends, if the floor is on.
    fn window_end(&self) -> Option<Instant> {
        self.window.map(|window| self.window_start + window)
    }

    /// Moves the current window later by `by`: time that does not count against the host.
    fn postpone(&mut self, by: Duration) {
        self.window_start += by;
    }

    /// Whether the download keeps to the floor at `now`, `received` bytes in. When a window
    /// has ended with enough in it, the next one begins.
    fn holds(&mut self, now: Instant, received: u64) -> bool {
        match self.window_end() {
            Some(end) if now >= end => {
                if received.saturating_sub(self.received_at_start) < self.min_bytes {
                    return false;
                }
                self.window_start = now;
                self.received_at_start = received;
                true
            }
            _ => true,
        }
    }
}

fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Where a failed request was going, for [`transport_error`].
struct Destination {
    host: String,
    port: u16,
    /// The proxy the request went through, as [`proxy_for`] names it.
    proxy: Option<String>,
    /// Whether the host had answered before: then failing to reach it is passing trouble.
    answered_before: bool,
}

/// A request that got no answer, classified by its cause, found by type along the error's
/// chain (reqwest, hyper, the tunnel through a proxy, rustls), never by its words.
fn transport_error(operation: Operation, error: reqwest::Error, to: &Destination) -> ApiError {
    let kind = transport_failure_kind(&error, to);
    tracing::debug!(%operation, cause = %chain_text(&error), ?kind, "no answer");
    // Only a failure to connect proves the request never left; a timeout or reset after
    // connecting may have delivered it. A TLS handshake is part of connecting.
    let not_sent = error.is_connect();
    let mut api_error = ApiError::new(operation, kind).with_source(error.without_url());
    api_error.request_not_sent = not_sent;
    api_error
}

fn transport_failure_kind(error: &reqwest::Error, to: &Destination) -> ErrorKind {
    let host = || to.host.clone();
    // No retry makes a refused certificate trusted, whenever it comes.
    if let Some(problem) = certificate_problem(error) {
        return ErrorKind::Misconfigured(Misconfiguration::Certificate {
            host: host(),
            problem,
        });
    }
    if error.is_timeout() {
        return ErrorKind::Timeout;
    }
    if !error.is_connect() || to.answered_before {
        return ErrorKind::Connection;
    }
    let io_kinds: Vec<std::io::ErrorKind> = causes(error)
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind)
        .collect();
    let refused = io_kinds.contains(&std::io::ErrorKind::ConnectionRefused);
    let no_route = io_kinds.iter().any(|kind| {
        matches!(
            kind,
            std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable
        )
    });
    let problem = match &to.proxy {
        // The proxy is the first hop: whatever failed before a TLS handshake with the host
        // failed there (its address, its name, or its answer to CONNECT).
        Some(proxy) => Misconfiguration::Proxy {
            proxy: proxy.clone(),
            host: host(),
            failure: if error.is_dns() {
                ProxyFailure::NameNotResolved
            } else if refused {
                ProxyFailure::Refused
            } else {
                ProxyFailure::Rejected {
                    detail: innermost_text(error),
                }
            },
        },
        None if error.is_dns() => Misconfiguration::NameNotResolved { host: host() },
        None if refused => Misconfiguration::ConnectionRefused {
            host: host(),
            port: to.port,
        },
        None if no_route => Misconfiguration::NoRoute { host: host() },
        None => return ErrorKind::Connection,
    };
    ErrorKind::Misconfigured(problem)
}

/// What rustls found wrong with the host's certificate, if that is why the request failed.
fn certificate_problem(error: &reqwest::Error) -> Option<CertificateProblem> {
    use rustls::CertificateError as Refused;
    let refused = causes(error).find_map(|cause| match cause.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(refused)) => Some(refused),
        _ => None,
    })?;
    Some(match refused {
        Refused::UnknownIssuer => CertificateProblem::UnknownIssuer,
        Refused::Expired | Refused::ExpiredContext { .. } => CertificateProblem::Expired,
        Refused::NotValidYet | Refused::NotValidYetContext { .. } => {
            CertificateProblem::NotValidYet
        }
        Refused::NotValidForName | Refused::NotValidForNameContext { .. } => {
            CertificateProblem::WrongName
        }
        Refused::Revoked => CertificateProblem::Revoked,
        other => CertificateProblem::Other(other.to_string()),
    })
}

/// The deepest cause's words: what actually happened, as evidence in a message.
fn innermost_text(error: &(dyn StdError + 'static)) -> String {
    causes(error)
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

/// The proxy reqwest sends requests to `url` through, as the environment says
/// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, read by the very matcher reqwest
/// uses), named by scheme, host and port: never its credentials.
fn proxy_for(url: &Url) -> Option<String> {
    let uri = url.as_str().parse::<http::Uri>().ok()?;
    let intercept = hyper_util::client::proxy::matcher::Matcher::from_env().intercept(&uri)?;
    let proxy = intercept.uri();
    let scheme = proxy.scheme_str().unwrap_or("http");
    let host = proxy.host()?;
    Some(match proxy.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// The certificates of the PEM file at `path`, for [`ClientConfig::trusted_certificates`].
fn read_trusted_certificates(
    path: &std::path::Path,
) -> Result<Vec<reqwest::Certificate>, ClientBuildError> {
    let refused = |reason: String| ClientBuildError::CertificateFile {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| refused(format!("cannot be read ({e})")))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| refused(format!("is not a PEM file of certificates ({e})")))?;
    if certificates.is_empty() {
        return Err(refused("holds no PEM certificate".into()));
    }
    Ok(certificates)
}

/// Success is HTTP 2xx and body code 200: then `data` is returned. Otherwise the body's code
/// decides when the body is a JSON envelope with one, the HTTP status when not.
pub(crate) fn classify(operation: Operation, answer: &Answer) -> Result<Value, ApiError> {
    let envelope = serde_json::from_str::<Envelope>(&answer.body).ok();
    let status = answer.status.as_u16();
    let body_code = envelope.as_ref().and_then(|e| e.code);
    if answer.status.is_success() && body_code == Some(200) {
        return Ok(envelope.map(|e| e.data).unwrap_or(Value::Null));
    }
    let msg = envelope.as_ref().and_then(|e| e.msg.clone());
    let kind = match body_code.filter(|code| *code != 200) {
        Some(code) => kind_of_code(code, msg.as_deref(), answer.retry_after),
        None if status == 403 && answer.body.contains("1010") => ErrorKind::CloudflareBlocked,
        None if answer.status.is_success() => ErrorKind::UnexpectedAnswer(if envelope.is_some() {
            "no code in the answer".into()
        } else {
            "the answer is not JSON".into()
        }),
        None => kind_of_code(i64::from(status), msg.as_deref(), answer.retry_after),
    };
    let mut error = ApiError::new(operation, kind);
    error.http_status = Some(status);
    error.code = body_code;
    error.msg = msg;
    if envelope.is_none() {
        error = error.with_raw_body(&answer.body);
    }
    Err(error)
}

/// The codes table of `kie-api-notes.md`.
fn kind_of_code(code: i64, msg: Option<&str>, retry_after: Option<Duration>) -> ErrorKind {
    match code {
        400 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Unauthorized,
        402 => ErrorKind::InsufficientCredits,
        404 => ErrorKind::NotFound,
        422 if msg.is_some_and(|m| m.to_ascii_lowercase().contains("recordinfo is null")) => {
            ErrorKind::TaskUnknown
        }
        422 => ErrorKind::InvalidRequest,
        429 => ErrorKind::RateLimited { retry_after },
        433 => ErrorKind::UsageCapReached,
        455 => ErrorKind::Maintenance,
        501 => ErrorKind::GenerationFailed,
        505 => ErrorKind::ModelDisabled,
        500..=599 => ErrorKind::ServerError,
        other => ErrorKind::UnexpectedAnswer(format!("undocumented code {other}")),
    }
}

/// After an answer that is not a success: was a task possibly created?
///
/// When the service itself answered with an error code, or Cloudflare or the rate limiter
/// turned the request away, no task exists. An error page from a proxy in front of the
/// service (5xx without a JSON body) may hide a task the service did create, and so may a
/// 2xx whose body we cannot read.
fn creation_after_answer(answer: &Answer, error: &ApiError) -> TaskCreation {
    let service_answered = error.code.is_some();
    let turned_away = matches!(
        error.kind,
        ErrorKind::CloudflareBlocked | ErrorKind::RateLimited { .. }
    );
    let proxy_client_error = error.raw_body.is_some() && answer.status.is_client_error();
    if service_answered || turned_away || proxy_client_error {
        TaskCreation::NotCreated
    } else {
        TaskCreation::MayHaveBeenCreated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("valid status"),
            retry_after: None,
            body: body.to_owned(),
        }
    }

    #[test]
    fn success_needs_both_http_2xx_and_code_200() {
        let ok = classify(
            Operation::CreditBalance,
            &answer(200, r#"{"code":200,"msg":"success","data":5}"#),
        );
        assert_eq!(ok.ok(), Some(Value::from(5)));
        let disguised = classify(
            Operation::CreateTask,
            &answer(
                200,
                r#"{"code":401,"msg":"Unauthorized – Authentication failed."}"#,
            ),
        );
        assert_eq!(
            disguised.map_err(|e| e.kind).err(),
            Some(ErrorKind::Unauthorized)
        );
        let contradictory = classify(
            Operation::CreateTask,
            &answer(500, r#"{"code":200,"msg":"ok"}"#),
        );
        assert_eq!(
            contradictory.map_err(|e| e.kind).err(),
            Some(ErrorKind::ServerError)
        );
    }

    #[test]
    fn the_progress_floor_judges_whole_windows() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut floor = ProgressFloor::new(100, 10 * second, start);
        assert_eq!(floor.window_end(), Some(start + 10 * second));
        // Inside a window nothing is judged, however little has come yet.
        assert!(floor.holds(start + 9 * second, 0));
        // A window with enough in it: the next one begins where it was judged.
        assert!(floor.holds(start + 10 * second, 1000));
        assert_eq!(floor.window_end(), Some(start + 20 * second));
        // Time postponed (the sink writing) does not count against the host.
        floor.postpone(5 * second);
        assert!(floor.holds(start + 20 * second, 1000));
        assert!(!floor.holds(start + 25 * second, 1999));
        // A zero rate or window turns the floor off.
        assert_eq!(ProgressFloor::new(0, 10 * second, start).window_end(), None);
        assert_eq!(
            ProgressFloor::new(100, Duration::ZERO, start).window_end(),
            None
        );
    }

    /// What a request to `url` through `proxy` fails with, classified as for the API host.
    async fn through_proxy(proxy: &str, answered_before: bool) -> ErrorKind {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(proxy).expect("a proxy URL"))
            .build()
            .expect("a client");
        let error = client
            .get("https://127.0.0.1:9/api/v1/chat/credit")
            .send()
            .await
            .expect_err("the proxy refuses");
        assert!(error.is_connect(), "{error:?}");
        transport_failure_kind(
            &error,
            &Destination {
                host: "127.0.0.1".into(),
                port: 9,
                proxy: Some(proxy.to_owned()),
                answered_before,
            },
        )
    }

    fn proxy_failure(kind: ErrorKind) -> ProxyFailure {
        match kind {
            ErrorKind::Misconfigured(Misconfiguration::Proxy { failure, .. }) => failure,
            other => panic!("not a proxy failure: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_proxy_that_refuses_the_tunnel_is_blamed_with_its_words() {
        for (status, words) in [(407, "proxy authorization required"), (403, "unsuccessful")] {
            let proxy = sora_batch_testkit::RefusingProxy::start(status).await;
            match proxy_failure(through_proxy(&proxy.url(), false).await) {
                ProxyFailure::Rejected { detail } => {
                    assert!(detail.contains(words), "{status}: {detail}");
                }
                other => panic!("{status}: {other:?}"),
            }
            assert_eq!(proxy.connections(), 1);
            // Once the API host has answered through it, a refusal is passing trouble.
            assert_eq!(
                through_proxy(&proxy.url(), true).await,
                ErrorKind::Connection
            );
        }
    }

    #[tokio::test]
    async fn a_proxy_where_nothing_listens_is_told_from_one_that_refuses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let address = listener.local_addr().expect("address");
        drop(listener);
        let kind = through_proxy(&format!("http://{address}"), false).await;
        assert_eq!(proxy_failure(kind.clone()), ProxyFailure::Refused);
        let text = ApiError::new(Operation::CreditBalance, kind).to_string();
        assert!(
            text.contains(&format!("the proxy http://{address} refused")),
            "{text}"
        );
        assert!(text.contains("HTTPS_PROXY"), "{text}");
    }

    #[test]
    fn the_key_is_never_printed() {
        let key = ApiKey::new("sk-sentinel-0123").expect("valid key");
        assert!(!format!("{key:?}").contains("sentinel"));
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("bad\nkey").is_err());
    }

    #[test]
    fn base_urls_keep_their_path_prefix() {
        let config = ClientConfig::new("http://127.0.0.1:9/kie").expect("valid");
        assert_eq!(
            config
                .base_url
                .join("api/v1/jobs/createTask")
                .expect("joins")
                .as_str(),
            "http://127.0.0.1:9/kie/api/v1/jobs/createTask"
        );
        assert!(ClientConfig::new("ftp://x").is_err());
        assert!(ClientConfig::new("not a url").is_err());
    }
}
