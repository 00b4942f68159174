//! Symbolic links planted inside a batch folder: sora-batch never follows one out of it.
//!
//! A linked journal refuses the folder before anything is sent (exit 2, the message names
//! the link); a linked `.lock` creates nothing where it points; a video or report name
//! planted as a link is replaced by the run's own file, on a first run and on a resume, and
//! whatever the link pointed at keeps its bytes. Unix only: that is where links are planted
//! with `symlink`.

use std::path::{Path, PathBuf};

use sora_batch_testkit::FakeKie;

use crate::run_support::{
    Harness, fast_run, manifest_with_jobs, numbered_jobs, quick_schedule, read, write,
};

/// The message of a refused link.
const REFUSED: &str = "is a symbolic link; sora-batch does not follow links inside a batch folder";

/// A folder beside the batch folder, standing for anywhere outside it.
fn outside(harness: &Harness) -> PathBuf {
    let folder = harness.dir.path().join("outside");
    if let Err(error) = std::fs::create_dir_all(&folder) {
        panic!("cannot create {}: {error}", folder.display());
    }
    folder
}

fn plant_link(target: &Path, link: &Path) {
    if let Some(parent) = link.parent()
        && let Err(error) = std::fs::create_dir_all(parent)
    {
        panic!("cannot create {}: {error}", parent.display());
    }
    match std::fs::remove_file(link) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot remove {}: {error}", link.display()),
    }
    if let Err(error) = std::os::unix::fs::symlink(target, link) {
        panic!(
            "cannot link {} to {}: {error}",
            link.display(),
            target.display()
        );
    }
}

/// Panics unless `path` is a regular file (not a link).
fn assert_regular_file(path: &Path) {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) => assert!(
            metadata.is_file(),
            "{} is not a regular file: {:?}",
            path.display(),
            metadata.file_type()
        ),
        Err(error) => panic!("{}: {error}", path.display()),
    }
}

#[test]
fn a_journal_planted_as_a_link_is_refused_and_nothing_is_sent() {
    for target_exists in [true, false] {
        let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
        harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
        let target = outside(&harness).join("journal.jsonl");
        if target_exists {
            write(&target, b"");
        }
        let journal = harness.out().join("journal.jsonl");
        plant_link(&target, &journal);

        let refused = harness.run(&[]);

        refused.assert_code(2, "a batch folder whose journal is a link");
        assert!(
            refused
                .stderr
                .contains(&format!("{} {REFUSED}", journal.display())),
            "{}",
            refused.stderr
        );
        let log = harness.fake.log();
        assert!(log.requests().is_empty(), "requests were sent: {log:#?}");
        if target_exists {
            assert_eq!(read(&target), b"", "the link's target was written to");
        } else {
            assert!(!target.exists(), "the link's target was created");
        }
    }
}

#[test]
fn a_lock_file_planted_as_a_dangling_link_creates_nothing_outside() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    let target = outside(&harness).join("lock");
    plant_link(&target, &harness.out().join(".lock"));

    harness
        .run(&[])
        .assert_code(0, "a run beside a linked .lock");

    assert!(!target.exists(), "the lock was taken through the link");
    harness.assert_all_videos_complete(2);
}

#[test]
fn a_video_or_report_planted_as_a_link_is_replaced_and_its_target_kept() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    let outside = outside(&harness);
    let video = harness.out().join("job-01.mp4");
    let report = harness.out().join("report.json");

    // Before the first run: the links are where the run's files go.
    write(&outside.join("video"), b"precious video");
    write(&outside.join("report"), b"precious report");
    plant_link(&outside.join("video"), &video);
    plant_link(&outside.join("report"), &report);
    harness
        .run(&[])
        .assert_code(0, "a first run over planted links");
    assert_eq!(read(&outside.join("video")), b"precious video");
    assert_eq!(read(&outside.join("report")), b"precious report");
    assert_regular_file(&video);
    assert_regular_file(&report);
    harness.assert_all_videos_complete(2);

    // On a resume: the recorded video and the current report, each replaced by a link to
    // an identical copy outside. Neither is trusted through the link.
    let created = harness.fake.log().tasks_created();
    let video_copy = outside.join("copy.mp4");
    let report_copy = outside.join("copy-report.json");
    let video_bytes = read(&video);
    let report_bytes = read(&report);
    write(&video_copy, &video_bytes);
    write(&report_copy, &report_bytes);
    plant_link(&video_copy, &video);
    plant_link(&report_copy, &report);
    harness
        .run(&[])
        .assert_code(0, "a resume over planted links");
    assert_regular_file(&video);
    assert_regular_file(&report);
    assert_eq!(read(&video_copy), video_bytes);
    assert_eq!(read(&report_copy), report_bytes);
    assert_eq!(
        harness.fake.log().tasks_created(),
        created,
        "a replaced file is fetched again, never paid for again"
    );
    harness.assert_all_videos_complete(2);
}
