//! The HTTP transport: the only code in sora-batch that speaks to Kie.
//!
//! Read [`Client`] first. Each call makes requests, classifies the answer by the rule of the
//! live service (success is HTTP 2xx **and** body `code` 200; otherwise the body's code
//! decides when there is one, the HTTP status when not) and, for idempotent calls, retries
//! under [`RetryPolicy`]. [`Client::create_task`] makes exactly one request and reports
//! whether a task may exist after a failure; deciding to send it again is the engine's job.
//!
//! The key travels only in the `Authorization` header of requests to the API's base URL.
//! Result files are fetched by a second HTTP client that has no key at all, so no redirect,
//! URL or host mix-up can hand it to a file host.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::error::{
    ApiError, ClientBuildError, CreateTaskError, ErrorKind, LocalWriteFailure, Operation,
    TaskCreation,
};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::wire::{
    CreateTaskData, CreateTaskRequest, DownloadUrlRequest, Envelope, RecordInfo, parse_credits,
};

/// The service's base URL when none is given.
pub const DEFAULT_BASE_URL: &str = "https://api.kie.ai";

/// Cloudflare answers a request without User-Agent with a 403; every request carries this.
pub const USER_AGENT: &str = concat!("sora-batch/", env!("CARGO_PKG_VERSION"));

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
    pub user_agent: String,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole API call's answer. The service answers in well under a second when
    /// healthy; a long wait is a stall worth retrying (or, for createTask, reporting).
    pub request_timeout: Duration,
    /// Longest silence while a download streams. There is no bound on a whole download:
    /// files are large and links may be slow, but a stalled one is cut and retried.
    pub download_read_timeout: Duration,
    pub retry: RetryPolicy,
    pub download_retry: RetryPolicy,
}

impl ClientConfig {
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
        if !parsed.path().ends_with('/') {
            let with_slash = format!("{}/", parsed.path());
            parsed.set_path(&with_slash);
        }
        Ok(ClientConfig {
            base_url: parsed,
            user_agent: USER_AGENT.to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            download_read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            download_retry: RetryPolicy::for_downloads(),
        })
    }
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

/// A client of Kie's jobs API. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct Client {
    api: reqwest::Client,
    files: reqwest::Client,
    key: ApiKey,
    config: ClientConfig,
}

/// The answer to one request, read whole.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: String,
}

impl Client {
    pub fn new(config: ClientConfig, key: ApiKey) -> Result<Self, ClientBuildError> {
        // reqwest is built without a default crypto provider (ring is lighter to build than
        // aws-lc-rs); it must be installed once per process. A second install fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let api = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(ClientBuildError::Http)?;
        let files = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.download_read_timeout)
            .build()
            .map_err(ClientBuildError::Http)?;
        Ok(Client {
            api,
            files,
            key,
            config,
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Submits one task: exactly one request, never retried here.
    ///
    /// On failure, [`CreateTaskError::creation`] says whether a task may exist. The service
    /// has no idempotency key and no way to list tasks, so a task whose id is lost cannot be
    /// found again: only a [`TaskCreation::NotCreated`] failure may be sent again safely.
    pub async fn create_task(
        &self,
        request: &CreateTaskRequest,
    ) -> Result<TaskId, CreateTaskError> {
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
                Ok(created) if !created.task_id.trim().is_empty() => Ok(TaskId(created.task_id)),
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
        let operation = Operation::RecordInfo;
        let query = [("taskId", task_id.as_str())];
        self.with_retries(operation, || async {
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
        let operation = Operation::DownloadUrl;
        let request = DownloadUrlRequest {
            url: result_url.to_owned(),
        };
        self.with_retries(operation, || async {
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
        loop {
            match self.download_once(&parsed, sink).await {
                Ok((bytes, content_type)) => {
                    return Ok(DownloadSummary {
                        bytes,
                        content_type,
                        attempts: attempt,
                    });
                }
                Err(mut error) => match policy.delay_before_retry(&error.kind, attempt) {
                    Some(wait) => {
                        tracing::debug!(%error, attempt, ?wait, "download failed; retrying");
                        tokio::time::sleep(wait).await;
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

    async fn download_once<S: DownloadSink + Send>(
        &self,
        url: &Url,
        sink: &mut S,
    ) -> Result<(u64, Option<String>), ApiError> {
        let operation = Operation::Download;
        let sink_error = |e: std::io::Error| {
            ApiError::new(operation, ErrorKind::Sink(LocalWriteFailure::of(&e)))
        };
        sink.restart().await.map_err(sink_error)?;
        let response = self
            .files
            .get(url.clone())
            .send()
            .await
            .map_err(|e| transport_error(operation, e))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after_of(response.headers());
            let body = response.text().await.unwrap_or_default();
            let kind = match status.as_u16() {
                401 | 403 | 404 | 410 => ErrorKind::ResultUrlRefused,
                429 => ErrorKind::RateLimited { retry_after },
                500..=599 => ErrorKind::ServerError,
                other => ErrorKind::UnexpectedAnswer(format!("HTTP {other} from the file host")),
            };
            let mut error = ApiError::new(operation, kind).with_raw_body(&body);
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
        let mut received: u64 = 0;
        let mut chunks = response.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| transport_error(operation, e))?;
            sink.write_chunk(&chunk).await.map_err(sink_error)?;
            received += chunk.len() as u64;
        }
        if let Some(expected) = expected.filter(|expected| *expected != received) {
            return Err(ApiError::new(
                operation,
                ErrorKind::Truncated { expected, received },
            ));
        }
        Ok((received, content_type))
    }

    /// Runs `attempt` until it succeeds or the retry policy gives up.
    async fn with_retries<T, F, Fut>(
        &self,
        operation: Operation,
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
                        tracing::debug!(%operation, %error, attempt, ?wait, "retrying");
                        tokio::time::sleep(wait).await;
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

    /// One request to the API host with the key; the answer read whole.
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
            .map_err(|e| transport_error(operation, e))?;
        let status = response.status();
        let retry_after = retry_after_of(response.headers());
        let body = response
            .text()
            .await
            .map_err(|e| transport_error(operation, e))?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

fn retry_after_of(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

fn transport_error(operation: Operation, error: reqwest::Error) -> ApiError {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connection
    };
    // Only a failure to connect proves the request never left; a timeout or reset after
    // connecting may have delivered it.
    let not_sent = error.is_connect();
    let mut api_error = ApiError::new(operation, kind).with_source(error.without_url());
    api_error.request_not_sent = not_sent;
    api_error
}

/// Success is HTTP 2xx and body code 200: then `data` is returned. Otherwise the body's code
/// decides when the body is a JSON envelope with one, the HTTP status when not.
fn classify(operation: Operation, answer: &Answer) -> Result<Value, ApiError> {
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
