//! Local files in a run: uploaded before the createTask of the first job that names them,
//! once however many jobs do, reused from the journal by later runs while the host still
//! serves them; a job whose file cannot be uploaded is not submitted and leaves no intent.

use std::path::Path;
use std::sync::Arc;

use sora_batch_api::ErrorKind;
use sora_batch_engine::job::JobState;
use sora_batch_engine::manifest::Manifest;
use sora_batch_engine::run::{RunEvent, RunJob, RunOptions};

use super::{Batch, options, outcome_of};
use crate::scripted::{Call, ScriptedService, upload_url};

const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
];
const JPEG: &[u8] = &[
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01,
];

/// A manifest of Kling image-to-video jobs `(id, image)` beside `refs/a.png` and
/// `refs/b.png` (a JPEG) in `folder`.
fn manifest(folder: &Path, jobs: &[(&str, &str)]) -> Manifest {
    std::fs::create_dir_all(folder.join("refs")).expect("refs");
    if !folder.join("refs/a.png").exists() {
        std::fs::write(folder.join("refs/a.png"), PNG).expect("a.png");
    }
    std::fs::write(folder.join("refs/b.png"), JPEG).expect("b.png");
    let mut yaml = String::from(
        "version: 1\nname: uploads\nmodel: kling-2.6/image-to-video\ndefaults:\n  sound: false\njobs:\n",
    );
    for (id, image) in jobs {
        yaml.push_str(&format!(
            "  - {{id: {id}, prompt: {id}, image_urls: [./refs/{image}]}}\n"
        ));
    }
    std::fs::write(folder.join("batch.yaml"), yaml).expect("the manifest");
    match sora_batch_engine::load(&folder.join("batch.yaml")) {
        Ok(loaded) => loaded.manifest,
        Err(errors) => panic!("the test's manifest does not load:\n{errors}"),
    }
}

fn run_parts(manifest: Manifest, concurrency: usize) -> (Vec<RunJob>, RunOptions) {
    let files = Arc::new(manifest.local_files.clone());
    let jobs = manifest
        .jobs
        .into_iter()
        .map(|job| RunJob::from_manifest(job, &manifest.prices))
        .collect();
    let options = options(|options| {
        options.concurrency = concurrency;
        options.local_files = files;
    });
    (jobs, options)
}

fn not_submitted_messages(service: &ScriptedService) -> Vec<String> {
    service
        .events()
        .into_iter()
        .filter_map(|event| match event {
            RunEvent::NotSubmitted { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn jobs_sharing_a_file_upload_it_once_and_a_later_run_reuses_it() {
    let source = tempfile::tempdir().expect("a folder");
    let batch = Batch::new();
    let manifest = manifest(
        source.path(),
        &[("one", "a.png"), ("two", "a.png"), ("three", "b.png")],
    );
    let names: Vec<String> = manifest.local_files.keys().cloned().collect();
    let (jobs, options) = run_parts(manifest, 3);
    let service = ScriptedService::new();
    let outcome = batch.run(&jobs, &service, options).await;
    for id in ["one", "two", "three"] {
        assert_eq!(outcome_of(&outcome, id).state, JobState::Succeeded, "{id}");
    }
    let mut uploaded = service.uploaded();
    uploaded.sort();
    assert_eq!(uploaded, names, "each file once, named by its content");
    assert!(uploaded.iter().any(|name| name.ends_with(".jpg")));
    // Every upload came before the createTask of a job that names it.
    let calls = service.calls();
    let first_create = calls
        .iter()
        .position(|call| matches!(call, Call::CreateTask { .. }))
        .expect("a createTask");
    let uploads_before = calls[..first_create]
        .iter()
        .filter(|call| matches!(call, Call::Upload { .. }))
        .count();
    assert!(uploads_before >= 1, "{calls:#?}");

    // A later run with a new job of the same file: the journaled URL serves it.
    let manifest = manifest_again(source.path());
    let (jobs, options) = run_parts(manifest, 3);
    let again = ScriptedService::new();
    let outcome = batch.run(&jobs, &again, options).await;
    assert_eq!(outcome_of(&outcome, "four").state, JobState::Succeeded);
    assert_eq!(
        again.uploaded(),
        Vec::<String>::new(),
        "reused from the journal"
    );
    assert_eq!(
        again.created().len(),
        1,
        "the finished jobs are not submitted again"
    );
}

fn manifest_again(folder: &Path) -> Manifest {
    manifest(
        folder,
        &[
            ("one", "a.png"),
            ("two", "a.png"),
            ("three", "b.png"),
            ("four", "a.png"),
        ],
    )
}

#[tokio::test(start_paused = true)]
async fn a_file_the_host_forgot_is_uploaded_again() {
    let source = tempfile::tempdir().expect("a folder");
    let batch = Batch::new();
    let (jobs, options) = run_parts(manifest(source.path(), &[("one", "a.png")]), 1);
    let service = ScriptedService::new();
    batch.run(&jobs, &service, options).await;
    assert_eq!(service.uploaded().len(), 1);

    let (jobs, options) = run_parts(
        manifest(source.path(), &[("one", "a.png"), ("two", "a.png")]),
        1,
    );
    let again = ScriptedService::new();
    again.forget_uploads();
    let outcome = batch.run(&jobs, &again, options).await;
    assert_eq!(outcome_of(&outcome, "two").state, JobState::Succeeded);
    assert_eq!(again.uploaded().len(), 1, "uploaded again");
    assert_eq!(again.created().len(), 1, "only the new job");
    assert!(upload_url(&again.uploaded()[0]).starts_with("https://uploads.test/"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_upload_leaves_its_job_pending_with_no_intent_and_says_why() {
    let source = tempfile::tempdir().expect("a folder");
    let batch = Batch::new();
    let (jobs, options) = run_parts(manifest(source.path(), &[("one", "a.png")]), 1);
    let service = ScriptedService::new();
    service.fail_uploads([ErrorKind::ServerError]);
    let outcome = batch.run(&jobs, &service, options).await;
    assert_eq!(outcome_of(&outcome, "one").state, JobState::Pending);
    assert!(service.created().is_empty(), "nothing was submitted");
    assert!(!batch.knows(&jobs[0]), "no intent: nothing was sent");
    let messages = not_submitted_messages(&service);
    assert!(
        messages
            .iter()
            .any(|message| message.contains("not submitted: uploading ./refs/a.png failed")),
        "{messages:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_key_on_the_upload_host_stops_submissions() {
    let source = tempfile::tempdir().expect("a folder");
    let batch = Batch::new();
    let (jobs, options) = run_parts(
        manifest(source.path(), &[("one", "a.png"), ("two", "b.png")]),
        1,
    );
    let service = ScriptedService::new();
    service.fail_uploads([ErrorKind::Unauthorized]);
    let outcome = batch.run(&jobs, &service, options).await;
    assert!(service.created().is_empty());
    assert_eq!(
        service.uploaded().len(),
        1,
        "no second upload after a refused key"
    );
    assert!(outcome.stop.is_some(), "{:?}", outcome.stop);
}

#[tokio::test(start_paused = true)]
async fn a_file_changed_since_the_manifest_was_read_is_not_sent() {
    let source = tempfile::tempdir().expect("a folder");
    let batch = Batch::new();
    let (jobs, options) = run_parts(manifest(source.path(), &[("one", "a.png")]), 1);
    std::fs::write(source.path().join("refs/a.png"), JPEG).expect("new bytes");
    let service = ScriptedService::new();
    let outcome = batch.run(&jobs, &service, options).await;
    assert_eq!(outcome_of(&outcome, "one").state, JobState::Pending);
    assert!(service.uploaded().is_empty() && service.created().is_empty());
    assert!(
        not_submitted_messages(&service)
            .iter()
            .any(|message| message.contains("changed since the manifest was read")),
    );
}
