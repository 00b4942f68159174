//! The engine of sora-batch: manifests in, jobs, runs and reports out.
//!
//! Start with [`manifest::load`], which turns a YAML manifest into a [`manifest::Manifest`]:
//! every [`manifest::Job`] expanded, validated against what the [`models::ModelBook`] knows
//! of its model, and given its stable [`manifest::JobKey`] and file-safe [`manifest::JobId`].
//! Problems come
//! back as [`diagnostic::Diagnostic`]s that render like rustc's. [`report::Report`] is the
//! `report.json` / `plan --json` document; [`prices`] estimates what a batch will cost;
//! [`schema`] generates the manifest's JSON Schema.
//!
//! [`run::run_batch`] is the main job: it takes a batch's jobs to downloaded, checksummed
//! videos in a [`batch::BatchFolder`], writing every step to the [`journal`] first so that a
//! killed run resumes without paying twice.
//!
//! **Architecture invariant:** the engine never prints and never parses flags. It returns
//! values and diagnostics; the cli decides what reaches a terminal.

pub mod batch;
pub mod canonical;
pub mod combined;
pub mod diagnostic;
pub mod durable;
pub mod job;
pub mod journal;
pub mod local_files;
pub mod lockfile;
pub mod manifest;
pub mod media;
pub mod models;
pub mod prices;
pub mod recover;
pub mod rekey;
pub mod render;
pub mod report;
pub mod run;
pub mod schema;
pub mod session;
pub mod settings;
pub mod shard;
pub mod timing;

pub use diagnostic::{Diagnostic, Severity};
pub use manifest::{
    Job, JobId, JobKey, Loaded, Manifest, ManifestErrors, RunSettings, load, load_str,
    load_str_with, load_with,
};
