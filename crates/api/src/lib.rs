//! Kie.ai's jobs API for sora-batch: wire types, the model registry and the HTTP transport.
//!
//! Start with [`Client`]: one method per call of the service (createTask, recordInfo, the
//! credit balance, download-url, and a streaming download of a result file). Its errors are
//! [`ApiError`]s, classified by [`ErrorClass`] after the codes table of the live service;
//! [`Client::create_task`] alone also says whether a task may exist after a failure
//! ([`TaskCreation`]), which the engine's never-pay-twice guarantee rests on.
//!
//! [`registry`] describes the models sora-batch validates before spending money (the Sora 2
//! family); [`wire`] mirrors the service's JSON exactly. [`catalogue`] is Kie's catalogue of
//! the jobs API's models: [`Client::list_models`], [`Client::model_schema`] (a model's input
//! JSON Schema, `$ref`s inlined) and [`Client::model_price`], paced to the service's limit of
//! one such call per second; [`price_text::parse`] reads the price's prose into a
//! [`snapshot::PriceRule`] where it states one. A caller's rate limiter paces the client's
//! own retries of recordInfo and download-url through a [`RetryPacer`].
//!
//! **Architecture invariant:** this crate knows nothing of manifests, journals, files on disk
//! or terminals. It is the only code that speaks HTTP to Kie.

pub mod catalogue;
mod client;
mod error;
mod pacing;
pub mod price_text;
pub mod registry;
mod retry;
pub mod snapshot;
pub mod upload;
pub mod wire;

pub use catalogue::{ModelFilter, ModelInput, ModelList, ModelPrice, ModelSchema, ModelSummary};
pub use client::{
    ApiKey, Client, ClientConfig, CreatedTask, DEFAULT_BASE_URL, DEFAULT_MAX_ANSWER_BYTES,
    DownloadSink, DownloadSummary, TaskId, USER_AGENT,
};
pub use error::{
    ApiError, CertificateProblem, ClientBuildError, CreateTaskError, ErrorClass, ErrorKind,
    LocalWriteFailure, Misconfiguration, Operation, ProxyFailure, TaskCreation,
};
pub use pacing::{RetryPacer, Unpaced};
pub use retry::RetryPolicy;
pub use upload::{DEFAULT_UPLOAD_URL, FileUpload, UploadedFile};
