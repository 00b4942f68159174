//! Kie.ai's jobs API for sora-batch: wire types, the model registry and the HTTP transport.
//!
//! Start with [`Client`]: one method per call of the service (createTask, recordInfo, the
//! credit balance, download-url, and a streaming download of a result file). Its errors are
//! [`ApiError`]s, classified by [`ErrorClass`] after the codes table of the live service;
//! [`Client::create_task`] alone also says whether a task may exist after a failure
//! ([`TaskCreation`]), which the engine's never-pay-twice guarantee rests on.
//!
//! [`registry`] describes the models sora-batch validates before spending money (the Sora 2
//! family); [`wire`] mirrors the service's JSON exactly.
//!
//! **Architecture invariant:** this crate knows nothing of manifests, journals, files on disk
//! or terminals. It is the only code that speaks HTTP to Kie.

mod client;
mod error;
pub mod registry;
mod retry;
pub mod snapshot;
pub mod wire;

pub use client::{
    ApiKey, Client, ClientConfig, DEFAULT_BASE_URL, DEFAULT_MAX_ANSWER_BYTES, DownloadSink,
    DownloadSummary, TaskId, USER_AGENT,
};
pub use error::{
    ApiError, ClientBuildError, CreateTaskError, ErrorClass, ErrorKind, LocalWriteFailure,
    Operation, TaskCreation,
};
pub use retry::RetryPolicy;
