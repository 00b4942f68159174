//! The service a run talks to, as a trait: Kie's jobs API in production, a script in tests.
//!
//! Read [`TaskService`]. The run's operations (`ops.rs`) are written against it, never
//! against `api::Client` directly, so that the engine's scheduling, journaling and money
//! rules can be tested on tokio's paused clock with a scripted service: no HTTP, no sleeps.
//! Each method keeps the contract of the [`Client`] method of the same name; in particular
//! `create_task` sends at most one request and says whether a task may exist after a failure.

use futures::future::BoxFuture;
use sora_batch_api::wire::{CreateTaskRequest, RecordInfo};
use sora_batch_api::{
    ApiError, Client, CreateTaskError, DownloadSummary, FileUpload, RetryPacer, TaskId,
    UploadedFile,
};

use crate::batch::FileSink;
use crate::job::Credits;

/// What a run needs of the service. Object safe: the run holds an `Arc<dyn TaskService>`.
pub trait TaskService: Send + Sync + 'static {
    /// One createTask: never retried here, see [`Client::create_task`].
    fn create_task<'a>(
        &'a self,
        request: &'a CreateTaskRequest,
    ) -> BoxFuture<'a, Result<TaskId, CreateTaskError>>;

    /// The task's record (recordInfo), retried as the client's policy says, each retry
    /// waiting for `pacer` (the run's poll limiter): the caller paced the first request.
    fn record_info<'a>(
        &'a self,
        task_id: &'a TaskId,
        pacer: &'a dyn RetryPacer,
    ) -> BoxFuture<'a, Result<RecordInfo, ApiError>>;

    /// The account's balance.
    fn credit_balance(&self) -> BoxFuture<'_, Result<Credits, ApiError>>;

    /// A fresh link for a result URL whose link expired (download-url), each retry paced
    /// like recordInfo's.
    fn download_url<'a>(
        &'a self,
        url: &'a str,
        pacer: &'a dyn RetryPacer,
    ) -> BoxFuture<'a, Result<String, ApiError>>;

    /// Streams the file at `url` into `sink`; a write that fails on our side is
    /// `ErrorKind::Sink` with the OS's error.
    fn download<'a>(
        &'a self,
        url: &'a str,
        sink: &'a mut FileSink,
    ) -> BoxFuture<'a, Result<DownloadSummary, ApiError>>;

    /// Uploads a local file named as an input (Kie's stream upload, retried as the client's
    /// policy says: an upload is idempotent by name) and returns the URL it is served at.
    fn upload_file<'a>(
        &'a self,
        file: &'a FileUpload,
    ) -> BoxFuture<'a, Result<UploadedFile, ApiError>>;

    /// Whether the upload host still serves an uploaded file at `url` (without the key).
    fn upload_still_served<'a>(&'a self, url: &'a str) -> BoxFuture<'a, bool>;
}

impl TaskService for Client {
    fn create_task<'a>(
        &'a self,
        request: &'a CreateTaskRequest,
    ) -> BoxFuture<'a, Result<TaskId, CreateTaskError>> {
        Box::pin(Client::create_task(self, request))
    }

    fn record_info<'a>(
        &'a self,
        task_id: &'a TaskId,
        pacer: &'a dyn RetryPacer,
    ) -> BoxFuture<'a, Result<RecordInfo, ApiError>> {
        Box::pin(Client::record_info_paced(self, task_id, pacer))
    }

    fn credit_balance(&self) -> BoxFuture<'_, Result<Credits, ApiError>> {
        Box::pin(async move { Client::credit_balance(self).await.map(Credits) })
    }

    fn download_url<'a>(
        &'a self,
        url: &'a str,
        pacer: &'a dyn RetryPacer,
    ) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(Client::download_url_paced(self, url, pacer))
    }

    fn download<'a>(
        &'a self,
        url: &'a str,
        sink: &'a mut FileSink,
    ) -> BoxFuture<'a, Result<DownloadSummary, ApiError>> {
        Box::pin(Client::download(self, url, sink))
    }

    fn upload_file<'a>(
        &'a self,
        file: &'a FileUpload,
    ) -> BoxFuture<'a, Result<UploadedFile, ApiError>> {
        Box::pin(Client::upload_file(self, file))
    }

    fn upload_still_served<'a>(&'a self, url: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(Client::upload_still_served(self, url))
    }
}
